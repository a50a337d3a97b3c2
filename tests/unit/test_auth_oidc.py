"""The OIDC verifier against the fake issuer, in-process (httpx.ASGITransport, no sockets):
the attack matrix, key fetching with rotation and cool-down, claims → Principal, settings."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from dependency_injector import providers

from bookkeeper.adapters.auth import oidc
from bookkeeper.adapters.auth.claims import approval_limit, claim_at, principal_attributes
from bookkeeper.adapters.auth.errors import InvalidToken
from bookkeeper.adapters.auth.local_jwt import LocalJwtVerifier
from bookkeeper.adapters.auth.oidc import OidcVerifier, parse_jwks
from bookkeeper.application.ports import Principal, TokenVerifier
from bookkeeper.container import Container
from bookkeeper.settings import JWT_ALGORITHMS, Settings, SettingsError, load_settings
from tests.fakes.oidc import ATTACKS, AUDIENCE, FakeIssuer, attack_tokens, new_key, public_jwk

EPOCH = 1_800_000_000.0


class Clocks:
    """The wall clock (token times) and the monotonic clock (cool-downs), moved by hand."""

    def __init__(self) -> None:
        self.wall_now = EPOCH
        self.monotonic_now = 1_000.0

    def wall(self) -> float:
        return self.wall_now

    def monotonic(self) -> float:
        return self.monotonic_now

    def advance(self, seconds: float) -> None:
        self.wall_now += seconds
        self.monotonic_now += seconds


@pytest.fixture(scope="module")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def fake(clocks: Clocks, rsa_keys: list[rsa.RSAPrivateKey]) -> FakeIssuer:
    issuer = FakeIssuer(now=clocks.wall)
    issuer.add_key("RS256", key=rsa_keys[0])
    return issuer


def make_verifier(fake: FakeIssuer, clocks: Clocks, **options: Any) -> OidcVerifier:
    settings: dict[str, Any] = {
        "issuer": fake.issuer,
        "audience": AUDIENCE,
        "transport": httpx.ASGITransport(app=fake.app),
        "wall": clocks.wall,
        "monotonic": clocks.monotonic,
    } | options
    return OidcVerifier(**settings)


@pytest.fixture
def verifier(fake: FakeIssuer, clocks: Clocks) -> OidcVerifier:
    return make_verifier(fake, clocks)


def first_kid(fake: FakeIssuer) -> str:
    return next(iter(fake.keys))


# --- valid tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_a_valid_token_verifies_to_its_principal(
    fake: FakeIssuer, verifier: OidcVerifier, alg: str
) -> None:
    kid = fake.add_key(alg) if alg != "RS256" else first_kid(fake)
    token = fake.token(
        fake.claims(sub="kari", roles=["reviewer"], approval_limit="5000", department="sales"),
        kid=kid,
    )
    principal = await verifier.averify(token)
    assert principal == Principal(
        subject="kari",
        tenant_id="acme",
        roles=frozenset({"reviewer"}),
        attributes={"approval_limit": "5000.00", "department": "sales"},
    )
    assert principal.actor == "human:kari"
    # Once the keys are known, the synchronous port works too.
    port: TokenVerifier = verifier
    assert port.verify(token) == principal


async def test_discovery_finds_the_jwks_once(fake: FakeIssuer, verifier: OidcVerifier) -> None:
    for _ in range(3):
        await verifier.averify(fake.token())
    assert (fake.discovery_requests, fake.jwks_requests) == (1, 1)


async def test_a_configured_jwks_url_skips_discovery(fake: FakeIssuer, clocks: Clocks) -> None:
    verifier = make_verifier(fake, clocks, jwks_url=f"{fake.base_url}/jwks")
    assert (await verifier.averify(fake.token())).subject == "book-e"
    assert (fake.discovery_requests, fake.jwks_requests) == (0, 1)


async def test_the_sync_path_never_fetches(fake: FakeIssuer, verifier: OidcVerifier) -> None:
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify(fake.token())
    assert fake.jwks_requests == 0


async def test_a_verified_token_is_remembered(fake: FakeIssuer, verifier: OidcVerifier) -> None:
    token = fake.token()
    first = await verifier.averify(token)
    assert await verifier.averify(token) is first


# --- the attack matrix ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ATTACKS)
async def test_every_attack_is_refused(fake: FakeIssuer, verifier: OidcVerifier, name: str) -> None:
    token = attack_tokens(fake, first_kid(fake))[name]
    with pytest.raises(InvalidToken) as error:
        await verifier.averify(token)
    # Neither the token nor any part of it appears in what the caller is told.
    assert not any(part in error.value.message for part in token.split(".") if len(part) > 4)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("alg none", "must be signed with one of"),
        ("HS256 keyed with the public key", "must be signed with one of"),
        ("expired", "expired"),
        ("not yet valid (nbf)", "not valid yet"),
        ("issued in the future (iat)", "issued in the future"),
        ("missing exp", "'exp'"),
        ("missing tenant", "'tenant'"),
        ("wrong audience", "another audience"),
        ("wrong issuer", "unknown issuer"),
        ("unknown kid", "unknown key"),
        ("bad signature", "signature"),
        ("jku header", "jku"),
        ("x5c header", "x5c"),
        ("no kid", "kid"),
    ],
)
async def test_each_refusal_says_why(
    fake: FakeIssuer, verifier: OidcVerifier, name: str, reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason.replace("(", r"\(")):
        await verifier.averify(attack_tokens(fake, first_kid(fake))[name])


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "tenant"])
async def test_a_missing_required_claim_is_refused(
    fake: FakeIssuer, verifier: OidcVerifier, claim: str
) -> None:
    with pytest.raises(InvalidToken, match=claim):
        await verifier.averify(fake.token(fake.claims(**{claim: None})))


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"iat": "now"},
        {"nbf": "later"},
        {"sub": ""},
        {"tenant": ["acme", "globex"]},
        {"roles": "admin"},
        {"approval_limit": "lots"},
        {"approval_limit": "-1"},
        {"approval_limit": 12.5},
        {"approval_limit": "1.234"},
        {"department": "sales\nadmin"},
        {"department": ""},
    ],
)
async def test_unusable_claims_are_refused(
    fake: FakeIssuer, verifier: OidcVerifier, changes: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken):
        await verifier.averify(fake.token(fake.claims(**changes)))


async def test_the_algorithm_must_fit_the_key(fake: FakeIssuer, verifier: OidcVerifier) -> None:
    ec_kid = fake.add_key("ES256")
    forged = jwt.encode(
        fake.claims(), fake.keys[first_kid(fake)][0], algorithm="RS256", headers={"kid": ec_kid}
    )
    with pytest.raises(InvalidToken, match="does not fit its key"):
        await verifier.averify(forged)


async def test_leeway_is_thirty_seconds(
    fake: FakeIssuer, verifier: OidcVerifier, clocks: Clocks
) -> None:
    now = int(clocks.wall())
    assert await verifier.averify(fake.token(fake.claims(exp=now - 10)))
    assert await verifier.averify(fake.token(fake.claims(nbf=now + 20, iat=now + 20)))
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.averify(fake.token(fake.claims(exp=now - 40)))
    with pytest.raises(InvalidToken, match="not valid yet"):
        await verifier.averify(fake.token(fake.claims(nbf=now + 40)))


async def test_a_token_living_longer_than_the_maximum_is_refused(
    fake: FakeIssuer, verifier: OidcVerifier, clocks: Clocks
) -> None:
    """30 days by default (ADR 0013 addendum), measured exp − iat (an old iat does not
    shorten it) or from now when iat is in the future within the leeway."""
    now = int(clocks.wall())
    day = 86400
    assert await verifier.averify(fake.token(fake.claims(exp=now + 30 * day)))
    assert await verifier.averify(fake.token(fake.claims(iat=now + 20, exp=now + 30 * day)))
    for changes in (
        {"exp": now + 30 * day + 1},
        {"exp": now + 300 * 365 * day},
        {"iat": now - 365 * day, "nbf": now - 365 * day, "exp": now + 600},
    ):
        with pytest.raises(InvalidToken, match=r"lives longer .* \(at most 720 h\)"):
            await verifier.averify(fake.token(fake.claims(**changes)))
    short = make_verifier(fake, clocks, max_lifetime=dt.timedelta(hours=1))
    assert await short.averify(fake.token(fake.claims(exp=now + 3600)))
    with pytest.raises(InvalidToken, match=r"at most 1 h\)"):
        await short.averify(fake.token(fake.claims(exp=now + 3601)))


async def test_a_remembered_token_still_expires(
    fake: FakeIssuer, verifier: OidcVerifier, clocks: Clocks
) -> None:
    token = fake.token()
    await verifier.averify(token)
    clocks.wall_now += 3600  # monotonic unchanged: no refresh is due
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.averify(token)


def test_symmetric_and_unsafe_algorithms_cannot_be_configured(
    fake: FakeIssuer, clocks: Clocks
) -> None:
    for algorithms in (["none"], ["HS256"], ["RS256", "HS512"], []):
        with pytest.raises(ValueError, match="asymmetric"):
            make_verifier(fake, clocks, algorithms=algorithms)
    assert set(oidc.ALGORITHM_KEYS) == JWT_ALGORITHMS


@pytest.mark.parametrize(
    "url", ["http://issuer.example", "ftp://issuer.example", "http://10.0.0.1", "https://u@x.y"]
)
def test_the_issuer_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        OidcVerifier(issuer=url, audience=AUDIENCE)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]"])
def test_a_loopback_issuer_may_use_http(url: str) -> None:
    OidcVerifier(issuer=url, audience=AUDIENCE)


# --- keys: rotation, removal, cool-down, failures -------------------------------------------


async def test_a_new_key_is_fetched_once_after_the_cooldown(
    fake: FakeIssuer, verifier: OidcVerifier, clocks: Clocks, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    await verifier.averify(fake.token())
    new = fake.add_key("RS256", key=rsa_keys[1])
    # Within the cool-down a new kid is refused without a fetch …
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(fake.token(kid=new))
    assert fake.jwks_requests == 1
    # … and after it, fetched once and used.
    clocks.advance(61)
    for _ in range(3):
        assert (await verifier.averify(fake.token(kid=new))).subject == "book-e"
    assert fake.jwks_requests == 2
    assert verifier.key_ids == {first_kid(fake), new}


async def test_a_removed_key_is_refused_after_the_refresh(
    fake: FakeIssuer, verifier: OidcVerifier, clocks: Clocks, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    old = first_kid(fake)
    remembered = fake.token(fake.claims(exp=int(clocks.wall()) + 3600), kid=old)
    await verifier.averify(remembered)
    new = fake.add_key("RS256", key=rsa_keys[1])
    fake.remove_key(old)
    clocks.advance(301)  # the refresh interval
    assert (await verifier.averify(fake.token(kid=new))).subject == "book-e"
    assert verifier.key_ids == {new}
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(fake.token(kid=old))
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(remembered)  # remembered as valid, but its key is gone
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify(remembered)


async def test_an_unknown_kid_flood_costs_one_fetch_per_cooldown(
    fake: FakeIssuer, verifier: OidcVerifier, clocks: Clocks
) -> None:
    attacker = new_key("ES256")

    def random_kid_token() -> str:
        return jwt.encode(
            fake.claims(), attacker, algorithm="ES256", headers={"kid": uuid.uuid4().hex}
        )

    async def attempt(token: str) -> bool:
        try:
            await verifier.averify(token)
        except InvalidToken:
            return False
        return True

    # 50 at once, before any key is known: one fetch, all refused.
    results = await asyncio.gather(*(attempt(random_kid_token()) for _ in range(50)))
    assert not any(results)
    assert fake.jwks_requests == 1
    for _ in range(50):
        assert not await attempt(random_kid_token())
    assert fake.jwks_requests == 1
    clocks.advance(61)
    for _ in range(50):
        assert not await attempt(random_kid_token())
    assert fake.jwks_requests == 2
    # Valid tokens were never in question.
    assert await attempt(fake.token())


async def test_a_failed_fetch_keeps_the_keys_and_is_retried_after_the_cooldown(
    fake: FakeIssuer, verifier: OidcVerifier, clocks: Clocks, caplog: pytest.LogCaptureFixture
) -> None:
    await verifier.averify(fake.token())
    fake.fail_jwks = True
    clocks.advance(301)
    assert (await verifier.averify(fake.token())).subject == "book-e"  # stale, still ours
    assert "cannot refresh" in caplog.text
    assert fake.jwks_requests == 2
    fake.fail_jwks = False
    clocks.advance(61)
    await verifier.averify(fake.token())
    assert fake.jwks_requests == 3


async def test_without_keys_every_token_is_refused(
    fake: FakeIssuer, verifier: OidcVerifier
) -> None:
    fake.fail_jwks = True
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(fake.token())


def _transport(answers: dict[str, httpx.Response]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return answers.get(request.url.path, httpx.Response(404))

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "discovery",
    [
        {"issuer": "https://other.test", "jwks_uri": "https://issuer.test/jwks"},
        {"issuer": "https://issuer.test", "jwks_uri": "http://issuer.test/jwks"},
        # http to loopback is for a local IdP, not for an https issuer's document to send
        # the service to a port of its own host
        {"issuer": "https://issuer.test", "jwks_uri": "http://127.0.0.1:6379/jwks"},
        {"issuer": "https://issuer.test", "jwks_uri": "http://localhost/jwks"},
        {"issuer": "https://issuer.test"},
        ["not", "an", "object"],
    ],
)
async def test_a_bad_discovery_document_yields_no_keys(
    fake: FakeIssuer, clocks: Clocks, discovery: Any
) -> None:
    transport = _transport(
        {
            "/.well-known/openid-configuration": httpx.Response(200, json=discovery),
            "/jwks": httpx.Response(200, json=fake.jwks()),
        }
    )
    verifier = make_verifier(fake, clocks, transport=transport)
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(fake.token())


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(302, headers={"Location": "https://evil.example/jwks"}),
        httpx.Response(200, content=b"{" + b" " * 70_000 + b"}"),
        httpx.Response(200, content=b"<html>"),
        httpx.Response(200, json={"no": "keys"}),
    ],
)
async def test_a_bad_jwks_answer_yields_no_keys(
    fake: FakeIssuer, clocks: Clocks, answer: httpx.Response
) -> None:
    verifier = make_verifier(
        fake, clocks, jwks_url="https://issuer.test/jwks", transport=_transport({"/jwks": answer})
    )
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(fake.token())


async def test_a_jwks_that_does_not_answer_yields_no_keys(fake: FakeIssuer, clocks: Clocks) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    verifier = make_verifier(fake, clocks, transport=httpx.MockTransport(hang))
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(fake.token())


async def test_a_jwks_that_drips_its_answer_is_cut_off_by_the_timeout(
    fake: FakeIssuer, clocks: Clocks
) -> None:
    # Slowloris: each chunk comes well within a read timeout, the whole answer does not.
    # httpx times each read only; the refresh holds the lock every request queues behind.
    body = json.dumps(fake.jwks()).encode()

    class Drip(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for start in range(0, len(body), 16):
                await asyncio.sleep(0.05)
                yield body[start : start + 16]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=Drip())

    assert len(body) // 16 * 0.05 > 1.0  # the whole answer takes over a second
    verifier = make_verifier(
        fake,
        clocks,
        jwks_url="https://issuer.test/jwks",
        transport=httpx.MockTransport(handler),
        timeout=dt.timedelta(seconds=0.3),
    )
    started = time.monotonic()
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.averify(fake.token())
    assert time.monotonic() - started < 1.0


def test_only_usable_signature_keys_are_taken(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    good = public_jwk(rsa_keys[0], "good", "RS256")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ec = new_key("ES256")
    document = {
        "keys": [
            good,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "oct", "alg": "HS256"},
            {**public_jwk(rsa_keys[1], "enc", "RS256"), "use": "enc"},
            {**public_jwk(rsa_keys[1], "ops", "RS256"), "key_ops": ["encrypt"]},
            public_jwk(small, "small", "RS256"),
            {**public_jwk(rsa_keys[1], "private", "RS256"), "d": "AQAB"},
            {k: v for k, v in public_jwk(rsa_keys[1], "x", "RS256").items() if k != "kid"},
            public_jwk(ec, "es384-says-the-alg", "ES384"),
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            "not a key",
        ]
    }
    keys = parse_jwks(document, ["RS256", "ES256", "EdDSA"])
    assert set(keys) == {"good"}
    assert keys["good"].algorithms == {"RS256"}
    without_alg = {k: v for k, v in public_jwk(ec, "ec", "ES256").items() if k != "alg"}
    assert parse_jwks({"keys": [without_alg]}, ["RS256", "ES256"])["ec"].algorithms == {"ES256"}


# --- claims → Principal ---------------------------------------------------------------------


async def test_roles_and_tenant_claims_are_configurable(fake: FakeIssuer, clocks: Clocks) -> None:
    verifier = make_verifier(fake, clocks, tenant_claim="org", roles_claim="realm_access.roles")
    claims = fake.claims(tenant=None, org="acme", roles=None)
    claims["realm_access"] = {"roles": ["reviewer", "offline_access"]}
    principal = await verifier.averify(fake.token(claims))
    assert principal.tenant_id == "acme"
    assert principal.roles == {"reviewer", "offline_access"}
    with pytest.raises(InvalidToken, match="'org'"):
        await verifier.averify(fake.token(fake.claims()))


async def test_roles_are_optional(fake: FakeIssuer, verifier: OidcVerifier) -> None:
    assert (await verifier.averify(fake.token(fake.claims(roles=None)))).roles == frozenset()


def test_a_namespaced_claim_is_found_before_a_path() -> None:
    claims = {"https://bookkeeper.example/roles": ["viewer"], "a": {"b": {"c": 1}}}
    assert claim_at(claims, "https://bookkeeper.example/roles") == ["viewer"]
    assert claim_at(claims, "a.b.c") == 1
    assert claim_at(claims, "a.x.c") is None


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("5000", "5000.00"), ("5000.5", "5000.50"), ("0.01", "0.01"), (250, "250.00")],
)
def test_approval_limits_are_normalised(raw: object, normalised: str) -> None:
    assert approval_limit(raw) == normalised


@pytest.mark.parametrize("raw", ["", "1e3", "NaN", "-5", " 5", "1,000", 1.5, True, -1, 10**16])
def test_bad_approval_limits_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="approval_limit"):
        approval_limit(raw)


def test_attributes_are_optional_and_others_ignored() -> None:
    assert principal_attributes({"email": "x@y"}) == {}
    assert principal_attributes({"department": " sales "}) == {"department": "sales"}


# --- settings and the container -------------------------------------------------------------


def _env(**values: str) -> dict[str, str]:
    return {"HOME": "/tmp/h"} | {f"BOOKKEEPER_{k}": v for k, v in values.items()}


def test_settings_read_the_oidc_variables() -> None:
    settings = load_settings(
        _env(
            OIDC_ISSUER="https://id.example/realms/acme",
            OIDC_AUDIENCE="bookkeeper-api",
            OIDC_JWKS_URL="https://id.example/certs",
            JWT_ALGORITHMS="RS256, PS256",
            OIDC_TENANT_CLAIM="org",
            OIDC_ROLES_CLAIM="realm_access.roles",
        )
    )
    assert settings.oidc_issuer == "https://id.example/realms/acme"
    assert settings.oidc_audience == "bookkeeper-api"
    assert settings.oidc_jwks_url == "https://id.example/certs"
    assert settings.jwt_algorithms == ("RS256", "PS256")
    assert (settings.oidc_tenant_claim, settings.oidc_roles_claim) == ("org", "realm_access.roles")
    defaults = load_settings(_env())
    assert defaults.oidc_issuer is None
    assert defaults.jwt_algorithms == ("RS256", "ES256", "EdDSA")


@pytest.mark.parametrize(
    "env",
    [
        {"OIDC_ISSUER": "http://id.example"},
        {"OIDC_ISSUER": "https://id.example", "OIDC_JWKS_URL": "http://id.example/certs"},
        {"OIDC_JWKS_URL": "https://id.example/certs"},
        {"OIDC_ISSUER": "https://id.example", "JWT_ALGORITHMS": "RS256,HS256"},
        {"OIDC_ISSUER": "https://id.example", "JWT_ALGORITHMS": "none"},
        {"OIDC_ISSUER": "https://id.example", "JWT_ALGORITHMS": ","},
        {"OIDC_ROLES_CLAIM": "realm access"},
    ],
)
def test_unsafe_oidc_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="BOOKKEEPER_"):
        load_settings(_env(**env))


def test_loopback_issuers_may_use_http() -> None:
    settings = load_settings(_env(OIDC_ISSUER="http://127.0.0.1:9000/realms/t"))
    assert settings.oidc_issuer == "http://127.0.0.1:9000/realms/t"


def test_the_container_picks_the_verifier(tmp_path: Path) -> None:
    local = Container()
    local.settings.override(providers.Object(Settings.for_data_dir(tmp_path / "a")))
    assert isinstance(local.token_verifier(), LocalJwtVerifier)

    external = Container()
    external.settings.override(
        providers.Object(
            Settings.for_data_dir(tmp_path / "b", oidc_issuer="https://id.example/realms/acme")
        )
    )
    assert isinstance(external.token_verifier(), OidcVerifier)
    assert not (tmp_path / "b").exists()  # no local key is created to verify issuer tokens


def test_cooldown_defaults() -> None:
    assert dt.timedelta(seconds=60) == oidc.COOLDOWN
    assert dt.timedelta(seconds=30) == oidc.LEEWAY
