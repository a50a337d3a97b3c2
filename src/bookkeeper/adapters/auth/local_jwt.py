"""Local-key JWTs for a single container: an Ed25519 key on disk, a minter and a verifier.

The key is generated on first start (PEM, PKCS #8, mode 0600, parent directory created)
and `bookkeeper token` mints tokens with it. The verifier implements the TokenVerifier port;
the OIDC/JWKS verifier (oidc.py) sits behind the same port; both map claims to a
Principal, ABAC attributes included, in claims.py.

What the verifier refuses (RFC 8725): any algorithm but EdDSA (so `none` and the HS256
"public key as HMAC secret" trick fail before any signature check); headers that point at
other keys (jku, jwk, x5u, x5c) or claim extensions (crit); a missing exp, iat, iss, aud,
sub or tenant claim; a wrong issuer or audience; a token that is expired or not yet valid
beyond 30 seconds of leeway; a token whose lifetime (exp − iat) exceeds the configured
maximum (24 h by default, BOOKKEEPER_JWT_MAX_LIFETIME_HOURS): a stolen token must not be
good for years. Tokens never appear in messages or logs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import stat
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from bookkeeper.adapters.auth.claims import (
    ATTRIBUTE_CLAIMS,
    principal_attributes,
    principal_from_claims,
)
from bookkeeper.adapters.auth.errors import InvalidToken, SigningKeyError
from bookkeeper.application.ports import Clock, Principal

ALGORITHM: Final = "EdDSA"
LEEWAY: Final = timedelta(seconds=30)
REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "aud", "sub", "tenant")
#: Header parameters that would let a token choose its own verification key.
FORBIDDEN_HEADERS: Final = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
ACCEPTED_TYPES: Final = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})
MAX_TOKEN_LENGTH: Final = 8192
MAX_CLAIM_LENGTH: Final = 200
MAX_ROLES: Final = 32
#: The longest lifetime (exp − iat) a local token may have unless configured otherwise:
#: `bookkeeper token`'s default, and its upper bound.
MAX_LIFETIME: Final = timedelta(hours=24)

_log = logging.getLogger(__name__)


# --- the key --------------------------------------------------------------------------


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in `path`, generated there first if the file does not exist.

    Several worker processes may start at once: the new key is written to a private
    temporary file and hard-linked into place, so exactly one key wins and the others
    read it.
    """
    try:
        return _load_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise SigningKeyError(f"cannot create {path.parent}: {error.strerror}") from None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        _write_private(temporary, pem)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _load_key(path)  # another process created it first
        except OSError:
            # A file system without hard links: fall back to an exclusive create.
            try:
                _write_private(path, pem)
            except FileExistsError:
                return _load_key(path)
    except OSError as error:
        raise SigningKeyError(f"cannot write the signing key {path}: {error.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)
    _log.info("generated a new JWT signing key in %s", path)
    return key


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _load_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise SigningKeyError(f"cannot read the signing key {path}: {error.strerror}") from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        _log.warning("the signing key %s is readable by others (mode %o)", path, mode)
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint of the key, used as `kid` (and later in a JWKS)."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- minting --------------------------------------------------------------------------


class LocalJwtIssuer:
    """Mints EdDSA-signed access tokens with the local key (`bookkeeper token`)."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
    ) -> None:
        self._key = private_key
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._kid = key_id(private_key.public_key())

    def mint(
        self,
        subject: str,
        tenant: str,
        roles: Iterable[str],
        ttl: timedelta,
        attributes: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> str:
        """A token for `subject` in `tenant` with `roles`, valid for `ttl` from now, carrying
        the ABAC `attributes` (approval_limit, department) as claims of the same names, and
        `name` (what people read, the OIDC `name` claim) when given."""
        roles = sorted(set(roles))
        attributes = dict(attributes or {})
        unknown = sorted(set(attributes) - set(ATTRIBUTE_CLAIMS))
        if unknown:
            raise ValueError(
                f"unknown attribute {', '.join(unknown)}; known: {', '.join(ATTRIBUTE_CLAIMS)}"
            )
        attributes = principal_attributes(attributes)
        _check_claim("subject", subject)
        _check_claim("tenant", tenant)
        for role in roles:
            _check_claim("role", role)
        if ttl <= timedelta(0):
            raise ValueError("the token lifetime must be positive")
        now = int(self._clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "tenant": tenant,
            "roles": roles,
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl.total_seconds()),
            "jti": uuid.uuid4().hex,
            **attributes,
        }
        if name is not None:
            _check_claim("name", name)
            claims["name"] = name
        return jwt.encode(
            claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid, "typ": "JWT"}
        )


def _check_claim(name: str, value: str) -> None:
    # The verifier's rule (claims._usable_name): a subject with a line break or another
    # control character was minted, and every request with the token then got 401.
    if not value or not value.strip() or len(value) > MAX_CLAIM_LENGTH or not value.isprintable():
        raise ValueError(f"the {name} must be 1–{MAX_CLAIM_LENGTH} printable characters")


# --- verifying ------------------------------------------------------------------------


class _Verified:
    __slots__ = ("expires_at", "principal")

    def __init__(self, principal: Principal, expires_at: float) -> None:
        self.principal = principal
        self.expires_at = expires_at


class LocalJwtVerifier:
    """Verifies tokens signed by the local key; satisfies the TokenVerifier port.

    A verified token is remembered until it expires, so the agent's long-lived token costs
    one signature check, not one per request. Only expiry can turn a verified token
    invalid later (iat and nbf only move further into the past), and that is re-checked on
    every hit.
    """

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        issuer: str,
        audience: str,
        leeway: timedelta = LEEWAY,
        max_lifetime: timedelta = MAX_LIFETIME,
        cache_size: int = 4096,
    ) -> None:
        if max_lifetime <= timedelta(0):
            raise ValueError("the longest token lifetime must be positive")
        self._key = public_key
        self._kid = key_id(public_key)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway.total_seconds()
        self._max_lifetime = max_lifetime.total_seconds()
        self._cache_size = cache_size
        self._cache: dict[str, _Verified] = {}
        self._jwt = jwt.PyJWT(options={"require": list(REQUIRED_CLAIMS)})

    @classmethod
    def for_private_key(
        cls,
        private_key: Ed25519PrivateKey,
        *,
        issuer: str,
        audience: str,
        max_lifetime: timedelta = MAX_LIFETIME,
    ) -> LocalJwtVerifier:
        """The verifier of tokens minted with `private_key`."""
        return cls(
            private_key.public_key(), issuer=issuer, audience=audience, max_lifetime=max_lifetime
        )

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; InvalidToken otherwise."""
        cached = self._cache.get(token)
        if cached is not None:
            if time.time() < cached.expires_at + self._leeway:
                return cached.principal
            self._cache.pop(token, None)
            raise InvalidToken("the token has expired")
        principal, expires_at = self._verify(token)
        if len(self._cache) >= self._cache_size:
            # Drop the oldest entry; dicts keep insertion order.
            self._cache.pop(next(iter(self._cache)), None)
        self._cache[token] = _Verified(principal, expires_at)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"the token must be signed with {ALGORITHM}")
        if FORBIDDEN_HEADERS & header.keys():
            names = ", ".join(sorted(FORBIDDEN_HEADERS & header.keys()))
            raise InvalidToken(f"the token header must not contain {names}")
        # A kid names the key that signed the token: another key's is not ours, even if
        # the signature should verify (no kid at all: a token minted by hand).
        if header.get("kid", self._kid) != self._kid:
            raise InvalidToken("the token names a key that is not ours (kid)")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES):
            raise InvalidToken("the token is not a JWT access token")
        try:
            claims = self._jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token comes from an unknown issuer") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token lacks the {error.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token signature does not verify") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        return _principal(claims, self._max_lifetime), float(claims["exp"])


def _principal(claims: dict[str, Any], max_lifetime: float) -> Principal:
    if not isinstance(claims["exp"], int | float) or isinstance(claims["exp"], bool):
        raise InvalidToken("the token is malformed")
    check_lifetime(claims, time.time(), max_lifetime)
    return principal_from_claims(claims)


def check_lifetime(claims: Mapping[str, Any], now: float, max_lifetime: float) -> None:
    """InvalidToken unless the token lives at most `max_lifetime` seconds: exp − iat, or
    exp − now when iat is missing or later than now (so neither an old nor a future `iat`
    stretches it). Both verifiers call it after the signature and `exp` were checked."""
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidToken("the token is malformed")
    if iat is None:
        start = now
    elif isinstance(iat, bool) or not isinstance(iat, int | float):
        raise InvalidToken("the token is malformed")
    else:
        start = min(float(iat), now)
    if float(exp) - start > max_lifetime:
        raise InvalidToken(
            f"the token lives longer than this service accepts (at most {max_lifetime / 3600:g} h)"
        )
