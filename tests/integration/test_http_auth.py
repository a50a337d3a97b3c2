"""HTTP authentication: every API route needs a valid bearer token; the actor and tenant
come from it and from nowhere else."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bookkeeper.adapters.auth.local_jwt import LocalJwtIssuer
from tests.http_helpers import (
    API,
    TENANT,
    Api,
    FixedClock,
    bearer,
    pattern,
    submission,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": "bookkeeper-local",
        "aud": "bookkeeper",
        "sub": "book-e",
        "tenant": TENANT,
        "roles": ["agent"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return claims


def _hs256_with_public_key(api: Api) -> str:
    """The algorithm-confusion attack: HMAC keyed with the server's public key."""
    public_pem = (
        api.container.signing_key()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _issuer(api: Api, **kwargs: Any) -> LocalJwtIssuer:
    options: dict[str, Any] = {
        "issuer": "bookkeeper-local",
        "audience": "bookkeeper",
        "clock": FixedClock(dt.datetime.now(dt.UTC)),
    }
    options.update(kwargs)
    key = options.pop("key", api.container.signing_key())
    return LocalJwtIssuer(key, **options)


def _bad_tokens(api: Api) -> dict[str, str]:
    key = api.container.signing_key()
    hour = dt.timedelta(hours=1)
    two_hours_ago = FixedClock(dt.datetime.now(dt.UTC) - 2 * hour)
    return {
        "garbage": "not-a-jwt",
        "expired": _issuer(api, clock=two_hours_ago).mint("book-e", TENANT, ["agent"], hour),
        "wrong audience": _issuer(api, audience="someone-else").mint(
            "book-e", TENANT, ["agent"], hour
        ),
        "wrong issuer": _issuer(api, issuer="evil").mint("book-e", TENANT, ["agent"], hour),
        "other key": _issuer(api, key=Ed25519PrivateKey.generate()).mint(
            "book-e", TENANT, ["agent"], hour
        ),
        "alg none": jwt.encode(_claims(), None, algorithm="none"),
        "HS256 with the public key": _hs256_with_public_key(api),
        "embedded jwk": jwt.encode(
            _claims(),
            key,
            algorithm="EdDSA",
            headers={"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
        ),
        "no tenant": jwt.encode(
            {k: v for k, v in _claims().items() if k != "tenant"}, key, algorithm="EdDSA"
        ),
        "not yet valid": _issuer(api, clock=FixedClock(dt.datetime.now(dt.UTC) + hour)).mint(
            "book-e", TENANT, ["agent"], hour
        ),
        "missing exp": jwt.encode(
            {k: v for k, v in _claims().items() if k != "exp"}, key, algorithm="EdDSA"
        ),
        "valid for centuries": _issuer(api).mint(
            "book-e", TENANT, ["agent"], dt.timedelta(days=300 * 365)
        ),
        "bad signature": _flip_signature(jwt.encode(_claims(), key, algorithm="EdDSA")),
        **{
            f"{name} header": jwt.encode(_claims(), key, algorithm="EdDSA", headers={name: value})
            for name, value in (
                ("jku", "https://evil.example/jwks"),
                ("x5u", "https://evil.example/cert.pem"),
                ("x5c", ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
            )
        },
    }


def _flip_signature(token: str) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


BAD_TOKEN_NAMES = [
    "garbage",
    "expired",
    "wrong audience",
    "wrong issuer",
    "other key",
    "alg none",
    "HS256 with the public key",
    "embedded jwk",
    "no tenant",
    "not yet valid",
    "missing exp",
    "valid for centuries",
    "bad signature",
    "jku header",
    "x5u header",
    "x5c header",
]


def _assert_401(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.json()
    assert body["status"] == 401
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    return body


async def test_no_token_is_401_with_www_authenticate(api: Api) -> None:
    body = _assert_401(await api.client.get(f"{API}/events"))
    assert body["code"] == "unauthorized"


async def test_other_scheme_is_401(api: Api) -> None:
    response = await api.client.get(
        f"{API}/events", headers={"Authorization": "Basic Ym9vay1lOnNlY3JldA=="}
    )
    _assert_401(response)


@pytest.mark.parametrize("name", BAD_TOKEN_NAMES)
async def test_untrustworthy_tokens_are_401(api: Api, name: str) -> None:
    token = _bad_tokens(api)[name]
    body = _assert_401(await api.client.get(f"{API}/events", headers=bearer(token)))
    assert body["code"] == "invalid-token"
    assert (
        'error="invalid_token"'
        in (await api.client.get(f"{API}/patterns", headers=bearer(token))).headers[
            "www-authenticate"
        ]
    )
    assert token not in json.dumps(body)


async def test_expired_token_says_so(api: Api) -> None:
    token = _bad_tokens(api)["expired"]
    body = _assert_401(await api.client.get(f"{API}/events", headers=bearer(token)))
    assert "expired" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/events"),
        ("GET", "/events"),
        ("GET", "/events/0192f0d4-0000-7000-8000-000000000000"),
        ("POST", "/events/0192f0d4-0000-7000-8000-000000000000/approve"),
        ("POST", "/events/0192f0d4-0000-7000-8000-000000000000/reject"),
        ("GET", "/proposals"),
        ("GET", "/proposals/0192f0d4-0000-7000-8000-000000000000"),
        ("GET", "/correlations/0192f0d4-0000-7000-8000-000000000000"),
        ("GET", "/patterns"),
        ("GET", "/reports/approval-rate"),
    ],
)
async def test_every_api_route_needs_a_token(api: Api, method: str, path: str) -> None:
    _assert_401(await api.client.request(method, API + path))


async def test_authentication_comes_before_the_body(api: Api) -> None:
    response = await api.client.post(f"{API}/events", content=b"{not json")
    _assert_401(response)


async def test_health_and_openapi_need_no_token(api: Api) -> None:
    assert (await api.client.get("/health")).status_code == 200
    assert (await api.client.get("/schema/openapi.json")).status_code == 200


async def test_actor_comes_from_the_token(api: Api) -> None:
    created = await api.propose("PatternSuggested", pattern())
    person = await api.submit(
        "PatternSuggested", pattern("Kiwi"), headers=api.headers("kari", "accountant")
    )
    assert person.status_code == 201, person.text
    events = (await api.client.get(f"{API}/events", headers=api.viewer)).json()["items"]
    actors = {e["id"]: e["actor"] for e in events}
    assert actors[created["eventId"]] == "book-e"
    assert actors[person.json()["eventId"]] == "human:kari"


async def test_tenant_comes_from_the_token(api: Api) -> None:
    await api.propose("PatternSuggested", pattern())
    mine = (await api.client.get(f"{API}/events", headers=api.viewer)).json()["items"]
    theirs = (await api.client.get(f"{API}/events", headers=api.foreigner)).json()["items"]
    assert len(mine) == 1
    assert theirs == []


async def test_a_role_without_the_grant_is_403(api: Api) -> None:
    response = await api.client.post(
        f"{API}/events",
        json=submission("PatternSuggested", pattern()),
        headers=api.viewer,
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_token_without_roles_can_read_nothing(api: Api) -> None:
    response = await api.client.get(f"{API}/events", headers=api.headers("nobody"))
    assert response.status_code == 403
