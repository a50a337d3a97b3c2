"""The local-key JWT adapter: the key file, minting, and everything the verifier refuses."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key as rsa_key
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from bookkeeper.adapters.auth import local_jwt
from bookkeeper.adapters.auth.errors import InvalidToken, SigningKeyError
from bookkeeper.adapters.auth.local_jwt import (
    LocalJwtIssuer,
    LocalJwtVerifier,
    key_id,
    load_or_create_signing_key,
)
from bookkeeper.application.ports import Principal, TokenVerifier

ISSUER = "bookkeeper-local"
AUDIENCE = "bookkeeper"
HOUR = dt.timedelta(hours=1)


class Clock:
    def __init__(self, offset: dt.timedelta = dt.timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def verifier(key: Ed25519PrivateKey) -> LocalJwtVerifier:
    return LocalJwtVerifier.for_private_key(key, issuer=ISSUER, audience=AUDIENCE)


def issuer(
    key: Ed25519PrivateKey, offset: dt.timedelta = dt.timedelta(0), **kw: Any
) -> LocalJwtIssuer:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE} | kw
    return LocalJwtIssuer(key, clock=Clock(offset), **options)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    result: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "book-e",
        "tenant": "acme",
        "roles": ["agent"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j-1",
    }
    result.update(changes)
    return {k: v for k, v in result.items() if v is not None}


def signed(key: Ed25519PrivateKey, body: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(body, key, algorithm="EdDSA", headers=headers or None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the key file -------------------------------------------------------------------------


def test_the_key_is_created_private_with_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "key.pem"
    key = load_or_create_signing_key(path)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    again = load_or_create_signing_key(path)
    assert key_id(again.public_key()) == key_id(key.public_key())
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_workers_starting_at_once_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        ids.append(key_id(load_or_create_signing_key(path).public_key()))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert key_id(load_or_create_signing_key(path).public_key()) == ids[0]


def test_a_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    ec = generate_private_key(SECP256R1())
    path.write_bytes(ec.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        load_or_create_signing_key(path)


def test_a_garbage_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("hello")
    with pytest.raises(SigningKeyError):
        load_or_create_signing_key(path)


def test_an_unwritable_location_is_a_signing_key_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SigningKeyError):
        load_or_create_signing_key(blocker / "key.pem")


def test_the_key_id_is_the_rfc7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    assert (
        key_id(Ed25519PublicKey.from_public_bytes(public))
        == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    )


# --- minting and verifying ----------------------------------------------------------------


def test_a_minted_token_verifies_to_its_principal(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier
) -> None:
    token = issuer(key).mint("kari", "acme", ["reviewer", "viewer"], HOUR)
    principal = verifier.verify(token)
    assert principal == Principal(
        subject="kari", tenant_id="acme", roles=frozenset({"reviewer", "viewer"})
    )
    assert principal.actor == "human:kari"
    checked: TokenVerifier = verifier
    assert checked.verify(token) == principal


def test_a_minted_token_carries_the_agreed_claims(key: Ed25519PrivateKey) -> None:
    token = issuer(key).mint("book-e", "acme", ["agent"], HOUR)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key_id(key.public_key())
    body = jwt.decode(token, options={"verify_signature": False})
    assert set(body) == {"sub", "tenant", "roles", "iss", "aud", "iat", "nbf", "exp", "jti"}
    assert body["exp"] - body["iat"] == 3600
    assert body["roles"] == ["agent"]


@pytest.mark.parametrize(
    ("subject", "tenant", "ttl"),
    [("", "acme", HOUR), ("kari", " ", HOUR), ("kari", "acme", dt.timedelta(0))],
)
def test_minting_refuses_empty_names_and_lifetimes(
    key: Ed25519PrivateKey, subject: str, tenant: str, ttl: dt.timedelta
) -> None:
    with pytest.raises(ValueError, match="must"):
        issuer(key).mint(subject, tenant, ["viewer"], ttl)


def test_leeway_of_thirty_seconds(key: Ed25519PrivateKey, verifier: LocalJwtVerifier) -> None:
    just_expired = issuer(key, offset=-HOUR - dt.timedelta(seconds=10)).mint("a", "t", [], HOUR)
    assert verifier.verify(just_expired).subject == "a"
    expired = issuer(key, offset=-HOUR - dt.timedelta(seconds=90)).mint("a", "t", [], HOUR)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(expired)
    early = issuer(key, offset=dt.timedelta(seconds=20)).mint("a", "t", [], HOUR)
    assert verifier.verify(early).subject == "a"
    future = issuer(key, offset=dt.timedelta(minutes=5)).mint("a", "t", [], HOUR)
    with pytest.raises(InvalidToken):
        verifier.verify(future)


# --- the longest lifetime (ADR 0013 addendum) ------------------------------------------


DAY = dt.timedelta(hours=24)


def test_a_token_living_up_to_the_maximum_verifies(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier
) -> None:
    """`bookkeeper token`'s default (24 h) is the default maximum, to the second; and a
    token minted a day ago for a day is still good until its exp."""
    assert verifier.verify(issuer(key).mint("a", "t", [], DAY)).subject == "a"
    old = issuer(key, offset=-DAY + dt.timedelta(minutes=1)).mint("b", "t", [], DAY)
    assert verifier.verify(old).subject == "b"


@pytest.mark.parametrize(
    "lifetime",
    [DAY + dt.timedelta(seconds=1), dt.timedelta(days=365 * 300)],
    ids=["a second over", "centuries"],
)
def test_a_token_living_longer_than_the_maximum_is_refused(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier, lifetime: dt.timedelta
) -> None:
    token = issuer(key).mint("a", "t", [], lifetime)
    with pytest.raises(
        InvalidToken, match=r"lives longer than this service accepts \(at most 24 h\)"
    ) as error:
        verifier.verify(token)
    assert token not in str(error.value)


def test_an_old_iat_cannot_hide_a_long_life_nor_a_missing_one(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier
) -> None:
    """exp − iat counts, also when most of it has passed: a year-long token issued a year
    ago is as refused as a new one. Without iat (or exp) the token is refused anyway."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    year = 365 * 86400
    with pytest.raises(InvalidToken, match="lives longer"):
        verifier.verify(signed(key, claims(iat=now - year, nbf=now - year, exp=now + 600)))
    with pytest.raises(InvalidToken, match="iat"):
        verifier.verify(signed(key, claims(iat=None, exp=now + year)))
    with pytest.raises(InvalidToken, match="exp"):
        verifier.verify(signed(key, claims(exp=None)))


def test_the_maximum_is_configurable(key: Ed25519PrivateKey) -> None:
    week = LocalJwtVerifier.for_private_key(
        key, issuer=ISSUER, audience=AUDIENCE, max_lifetime=dt.timedelta(days=7)
    )
    assert week.verify(issuer(key).mint("a", "t", [], dt.timedelta(days=7))).subject == "a"
    with pytest.raises(InvalidToken, match=r"at most 168 h\)"):
        week.verify(issuer(key).mint("a", "t", [], dt.timedelta(days=8)))
    hour = LocalJwtVerifier.for_private_key(
        key, issuer=ISSUER, audience=AUDIENCE, max_lifetime=HOUR
    )
    with pytest.raises(InvalidToken, match=r"at most 1 h\)"):
        hour.verify(issuer(key).mint("a", "t", [], 2 * HOUR))
    with pytest.raises(ValueError, match="positive"):
        LocalJwtVerifier.for_private_key(
            key, issuer=ISSUER, audience=AUDIENCE, max_lifetime=dt.timedelta(0)
        )


def _forged_tokens(key: Ed25519PrivateKey) -> dict[str, str]:
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims()).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    valid = signed(key, claims())
    head, body, signature = valid.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    rsa = rsa_key(public_exponent=65537, key_size=2048)
    return {
        "alg none": jwt.encode(claims(), None, algorithm="none"),
        "HS256 keyed with the public key": f"{header}.{payload}.{_b64(mac)}",
        "RS256": jwt.encode(claims(), rsa, algorithm="RS256"),
        "another Ed25519 key": signed(Ed25519PrivateKey.generate(), claims()),
        "tampered signature": f"{head}.{body}.{flipped}",
        "tampered claims": f"{head}.{_b64(json.dumps(claims(tenant='globex')).encode())}."
        f"{signature}",
        "jku header": signed(key, claims(), jku="https://evil.example/jwks"),
        "jwk header": signed(key, claims(), jwk={"kty": "OKP", "crv": "Ed25519", "x": "AA"}),
        "x5u header": signed(key, claims(), x5u="https://evil.example/cert"),
        "x5c header": signed(key, claims(), x5c=["MIIB"]),
        "crit header": signed(key, claims(), crit=["exp"]),
        "not a JWT type": signed(key, claims(), typ="dpop+jwt"),
        "unknown kid": signed(key, claims(), kid="another-key"),
        "garbage": "not.a.token",
        "empty": "",
        "too long": "a" * 10_000,
    }


FORGERIES = [
    "alg none",
    "HS256 keyed with the public key",
    "RS256",
    "another Ed25519 key",
    "tampered signature",
    "tampered claims",
    "jku header",
    "jwk header",
    "x5u header",
    "x5c header",
    "crit header",
    "not a JWT type",
    "unknown kid",
    "garbage",
    "empty",
    "too long",
]


@pytest.mark.parametrize("name", FORGERIES)
def test_forged_and_foreign_tokens_are_refused(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier, name: str
) -> None:
    token = _forged_tokens(key)[name]
    with pytest.raises(InvalidToken) as error:
        verifier.verify(token)
    if token:
        assert token not in str(error.value)


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "tenant"])
def test_a_missing_required_claim_is_refused(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier, claim: str
) -> None:
    with pytest.raises(InvalidToken, match=claim):
        verifier.verify(signed(key, claims(**{claim: None})))


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"aud": ["another-api", "yet-another"]},
        {"tenant": 42},
        {"tenant": ""},
        {"sub": ""},
        {"sub": 7},
        {"roles": "admin"},
        {"roles": ["admin", 1]},
        {"exp": "tomorrow"},
        {"iat": "now"},
    ],
)
def test_wrong_claims_are_refused(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier, changes: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(signed(key, claims(**changes)))


def test_an_audience_list_containing_ours_is_accepted(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier
) -> None:
    assert verifier.verify(signed(key, claims(aud=["other", AUDIENCE]))).tenant_id == "acme"


def test_roles_are_optional(key: Ed25519PrivateKey, verifier: LocalJwtVerifier) -> None:
    assert verifier.verify(signed(key, claims(roles=None))).roles == frozenset()


# --- the cache ----------------------------------------------------------------------------


def test_a_cached_token_still_expires(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issuer(key).mint("a", "t", ["viewer"], HOUR)
    assert verifier.verify(token).subject == "a"
    later = dt.datetime.now(dt.UTC).timestamp() + 2 * 3600
    monkeypatch.setattr(local_jwt.time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_the_cache_is_bounded(key: Ed25519PrivateKey) -> None:
    verifier = LocalJwtVerifier(key.public_key(), issuer=ISSUER, audience=AUDIENCE, cache_size=3)
    tokens = [issuer(key).mint(f"user-{i}", "t", [], HOUR) for i in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._cache) == 3
    assert all(verifier.verify(t).subject == f"user-{i}" for i, t in enumerate(tokens))


def test_a_refused_token_is_not_cached(key: Ed25519PrivateKey, verifier: LocalJwtVerifier) -> None:
    token = signed(key, claims(aud="another-api"))
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verifier.verify(token)
    assert token not in verifier._cache


# --- iat, and the ABAC attributes -----------------------------------------------------------


def test_a_token_issued_in_the_future_is_refused(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier
) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify(signed(key, claims(iat=now + 3600, nbf=None, exp=now + 7200)))


def test_minted_attributes_reach_the_principal(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier
) -> None:
    token = issuer(key).mint(
        "kari", "acme", ["reviewer"], HOUR, {"approval_limit": "5000", "department": "sales"}
    )
    body = jwt.decode(token, options={"verify_signature": False})
    assert (body["approval_limit"], body["department"]) == ("5000.00", "sales")
    assert verifier.verify(token).attributes == {"approval_limit": "5000.00", "department": "sales"}
    plain = issuer(key).mint("vera", "acme", ["viewer"], HOUR)
    assert "approval_limit" not in jwt.decode(plain, options={"verify_signature": False})
    assert verifier.verify(plain).attributes == {}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"approval_limit": "a lot"}, "approval_limit"),
        ({"approval_limit": "-5"}, "approval_limit"),
        ({"department": "\n"}, "department"),
        ({"clearance": "top"}, "unknown attribute clearance"),
    ],
)
def test_minting_refuses_bad_attributes(
    key: Ed25519PrivateKey, attributes: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        issuer(key).mint("kari", "acme", ["reviewer"], HOUR, attributes)


@pytest.mark.parametrize(
    "changes",
    [{"approval_limit": "lots"}, {"approval_limit": 1.5}, {"department": ["sales"]}],
)
def test_a_token_with_unusable_attributes_is_refused(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier, changes: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken, match=r"approval_limit|department"):
        verifier.verify(signed(key, claims(**changes)))


def test_a_token_naming_our_key_or_none_is_accepted(
    key: Ed25519PrivateKey, verifier: LocalJwtVerifier
) -> None:
    """A `kid` names the key the token was signed with: ours (as minted) or none at all
    (a token minted by hand); another key's id is refused above (quality.md, security 2)."""
    ours = signed(key, claims(), kid=local_jwt.key_id(key.public_key()))
    assert verifier.verify(ours).tenant_id == "acme"
    assert verifier.verify(signed(key, claims(jti="j-2"))).tenant_id == "acme"
