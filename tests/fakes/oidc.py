"""A fake OpenID Connect issuer: a discovery document, a JWKS, key rotation, request counters.

`FakeIssuer` holds signing keys by kid and mints tokens with them; `fake.app` is the ASGI
app serving `/.well-known/openid-configuration` and `/jwks` (the discovery document names
`{base_url}/jwks`). Counters `jwks_requests` and `discovery_requests` let tests assert how
often a verifier fetched. Rotation: `add_key()` publishes a new key, `remove_key(kid)`
retires one (tokens it signed can still be minted, as an attacker holding it would).
Switches: `fail_jwks` (answer 500), `extra_jwks` (raw JWK dicts published beside the keys).

A person logs in with the authorization-code flow and PKCE (the web page, ADR 0027):
`/authorize` lets `login_claims`' person in at once (no login form) and redirects back with a
one-time code; `/token` trades the code and its S256 verifier for an access token signed by
the first key. `token_requests` counts the trades.

Serve it on loopback with `async with running_fake_issuer() as fake:` (fake.base_url is
then http://127.0.0.1:<port>, which is also the issuer), or in-process through
`httpx.ASGITransport(app=fake.app)` with any base URL.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.fakes.hostile import Misbehaviour
from tests.fakes.server import serve_in_thread

AUDIENCE = "bookkeeper"
TENANT = "acme"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def new_key(alg: str) -> PrivateKey:
    """A fresh private key for `alg` (RS256, ES256 or EdDSA)."""
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"the fake issuer has no keys for {alg}")


def public_jwk(key: PrivateKey, kid: str, alg: str) -> dict[str, Any]:
    """The public JWK of `key`, as an issuer publishes it."""
    public = key.public_key()
    jwk: dict[str, Any]
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": alg}


class FakeIssuer:
    """The state of the fake issuer: keys, counters, switches; `app` serves it."""

    def __init__(
        self, base_url: str = "https://issuer.test", *, now: Callable[[], float] = time.time
    ) -> None:
        self.base_url = base_url
        self.now = now
        self.keys: dict[str, tuple[PrivateKey, str]] = {}
        self.published: set[str] = set()
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.fail_jwks = False
        #: Broken answers on demand (tests/fakes/hostile.py).
        self.misbehave = Misbehaviour()
        self.extra_jwks: list[dict[str, Any]] = []
        #: The authorization-code flow: the client it knows, who logs in, codes given out.
        self.client_id = "bookkeeper-web"
        self.login_claims: dict[str, Any] = {"sub": "kari", "roles": ["reviewer"]}
        self.codes: dict[str, tuple[str, str]] = {}
        self.token_requests = 0

    @property
    def issuer(self) -> str:
        return self.base_url

    # --- keys ----------------------------------------------------------------------------

    def add_key(self, alg: str = "RS256", key: PrivateKey | None = None) -> str:
        """Publish a new signing key; returns its kid."""
        kid = f"k-{uuid.uuid4().hex[:12]}"
        self.keys[kid] = (key or new_key(alg), alg)
        self.published.add(kid)
        return kid

    def remove_key(self, kid: str) -> None:
        """Stop publishing `kid` (it can still sign, for tests of a retired key)."""
        self.published.discard(kid)

    def jwks(self) -> dict[str, Any]:
        keys = [public_jwk(key, kid, alg) for kid, (key, alg) in self.keys.items()]
        return {"keys": [k for k in keys if k["kid"] in self.published] + self.extra_jwks}

    # --- tokens --------------------------------------------------------------------------

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid claims for book-e in acme; a change to None drops the claim."""
        now = int(self.now())
        result: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "book-e",
            "tenant": TENANT,
            "roles": ["agent", "viewer"],
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
        }
        result.update(changes)
        return {k: v for k, v in result.items() if v is not None}

    def token(
        self,
        claims: dict[str, Any] | None = None,
        *,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """A token signed with `kid` (default: the first key) over `claims`."""
        kid = kid or next(iter(self.keys))
        key, alg = self.keys[kid]
        header: dict[str, Any] = {"kid": kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(claims or self.claims(), key, algorithm=alg, headers=header)

    # --- the HTTP side ------------------------------------------------------------------

    @property
    def app(self) -> FakeIssuer:
        """The ASGI app (the fake itself: uvicorn takes a bound method for ASGI 2)."""
        return self

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/.well-known/openid-configuration":
            self.discovery_requests += 1
            await _json(
                send,
                200,
                {
                    "issuer": self.issuer,
                    "jwks_uri": f"{self.base_url}/jwks",
                    "authorization_endpoint": f"{self.base_url}/authorize",
                    "token_endpoint": f"{self.base_url}/token",
                    "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                },
            )
        elif path == "/jwks":
            self.jwks_requests += 1
            if self.fail_jwks:
                await _json(send, 500, {"error": "down"})
            else:
                await _json(send, 200, self.jwks())
        elif path == "/authorize":
            await self._authorize(scope, send)
        elif path == "/token" and scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await self._token(urllib.parse.parse_qs(body.decode()), send)
        else:
            await _json(send, 404, {"error": "not found"})

    async def _authorize(self, scope: dict[str, Any], send: Any) -> None:
        query = {k: v[0] for k, v in urllib.parse.parse_qs(scope["query_string"].decode()).items()}
        if (
            query.get("response_type") != "code"
            or query.get("client_id") != self.client_id
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
            or not query.get("redirect_uri")
        ):
            await _json(send, 400, {"error": "invalid_request"})
            return
        code = uuid.uuid4().hex
        self.codes[code] = (query["code_challenge"], query["redirect_uri"])
        target = (
            query["redirect_uri"]
            + "?"
            + urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        )
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", target.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _token(self, form: dict[str, list[str]], send: Any) -> None:
        self.token_requests += 1
        field = {k: v[0] for k, v in form.items()}
        saved = self.codes.pop(field.get("code", ""), None)  # one use only
        verifier = field.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if (
            field.get("grant_type") != "authorization_code"
            or saved is None
            or field.get("redirect_uri") != saved[1]
            or _b64(digest) != saved[0]
        ):
            await _json(send, 400, {"error": "invalid_grant"})
            return
        token = self.token(self.claims(**self.login_claims))
        await _json(send, 200, {"access_token": token, "token_type": "Bearer", "expires_in": 600})


# --- the attack matrix (quality.md, security 2) ---------------------------------------


@functools.cache
def attacker_rsa_key() -> rsa.RSAPrivateKey:
    """An RSA key the issuer never published (made once per test session)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def attack_tokens(fake: FakeIssuer, kid: str) -> dict[str, str]:
    """Tokens that must all be refused by a verifier trusting `fake`, whose RS256 key `kid`
    is published; each is otherwise valid (claims from `fake.claims`)."""
    key, alg = fake.keys[kid]
    assert alg == "RS256"
    now = int(fake.now())
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(fake.claims()).encode())
    mac = hmac.new(public_pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    head, body, signature = fake.token(kid=kid).split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    attacker = attacker_rsa_key()

    def signed(claims: dict[str, Any] | None = None, **headers: Any) -> str:
        return fake.token(claims, kid=kid, headers=headers)

    return {
        "alg none": jwt.encode(fake.claims(), None, algorithm="none", headers={"kid": kid}),
        "HS256 keyed with the public key": f"{hs_header}.{payload}.{_b64(mac)}",
        "expired": signed(fake.claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600)),
        "not yet valid (nbf)": signed(fake.claims(nbf=now + 3600, exp=now + 7200)),
        "issued in the future (iat)": signed(fake.claims(iat=now + 3600, nbf=None, exp=now + 7200)),
        "missing exp": signed(fake.claims(exp=None)),
        "valid for centuries": signed(fake.claims(exp=now + 300 * 365 * 86400)),
        "missing tenant": signed(fake.claims(tenant=None)),
        "wrong audience": signed(fake.claims(aud="another-api")),
        "wrong issuer": signed(fake.claims(iss="https://evil.example")),
        "unknown kid": jwt.encode(
            fake.claims(), attacker, algorithm="RS256", headers={"kid": "k-unknown"}
        ),
        "another key under a known kid": jwt.encode(
            fake.claims(), attacker, algorithm="RS256", headers={"kid": kid}
        ),
        "bad signature": f"{head}.{body}.{flipped}",
        "tampered claims": f"{head}.{_b64(json.dumps(fake.claims(tenant='globex')).encode())}."
        f"{signature}",
        "jku header": signed(jku=f"{fake.base_url}/jwks"),
        "jwk header": signed(jwk=RSAAlgorithm.to_jwk(attacker.public_key(), as_dict=True)),
        "x5u header": signed(x5u="https://evil.example/cert.pem"),
        "x5c header": signed(x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        "no kid": jwt.encode(fake.claims(), key, algorithm="RS256"),
        "an algorithm not allowed (RS512)": jwt.encode(
            fake.claims(), key, algorithm="RS512", headers={"kid": kid}
        ),
        "garbage": "eyJnYXJiYWdlIjoxfQ.e30.c2lnbmF0dXJl",
    }


ATTACKS = [
    "alg none",
    "HS256 keyed with the public key",
    "expired",
    "not yet valid (nbf)",
    "issued in the future (iat)",
    "missing exp",
    "valid for centuries",
    "missing tenant",
    "wrong audience",
    "wrong issuer",
    "unknown kid",
    "another key under a known kid",
    "bad signature",
    "tampered claims",
    "jku header",
    "jwk header",
    "x5u header",
    "x5c header",
    "no kid",
    "an algorithm not allowed (RS512)",
    "garbage",
]


async def _json(send: Any, status: int, body: object) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


@contextlib.asynccontextmanager
async def running_fake_issuer() -> AsyncIterator[FakeIssuer]:
    """A FakeIssuer on a loopback port; its issuer is its base URL.

    It runs in a thread with its own event loop: Litestar's AsyncTestClient calls the app
    synchronously through a portal, blocking the test's loop while the app fetches keys.
    """
    fake = FakeIssuer()
    with serve_in_thread(fake.misbehave.wrap(fake.app)) as base_url:
        fake.base_url = base_url
        yield fake
