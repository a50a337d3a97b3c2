"""Bearer tokens of an external OpenID Connect issuer, verified against its published JWKS.

`OidcVerifier` satisfies the TokenVerifier port like the local-key verifier, and adds
`averify`, which the HTTP middleware awaits: only that path may fetch keys. `verify` (sync)
uses the keys already fetched and refuses a token whose key it does not have.

What it refuses (RFC 8725, as the local verifier): an algorithm outside the configured
asymmetric list (never `none`, never HS*: a JWKS `oct` key is ignored, so a public key can
never become an HMAC secret); an algorithm that does not fit the key named by `kid` (an
RS256 header on an EC key, or anything but the key's own `alg`); headers that point at other
keys (jku, jwk, x5u, x5c) or extensions (crit); a token without `kid`; a missing exp, iat,
iss, aud, sub or tenant claim; a wrong issuer or audience; a token expired, not valid yet
(nbf) or issued in the future (iat) beyond 30 seconds of leeway, measured on an injectable
wall clock; a token whose lifetime (exp − iat) exceeds the configured maximum (30 days by
default, BOOKKEEPER_OIDC_MAX_LIFETIME_HOURS: the longest access-token lifetime common
issuers offer, so an issuer misconfigured to mint tokens for years is refused). Messages
say why in words and never contain the token.

Keys. The JWKS URL is configured, or discovered once from
`{issuer}/.well-known/openid-configuration` (whose `issuer` must be ours). Both must be
https, except to a loopback host (127.0.0.0/8, ::1, localhost): that is how tests and a
local IdP run, and nothing else gets plain http. The keys are fetched on first use and
again when
- a token names a `kid` we do not have (a rotation) — at most once per cool-down (60 s), so
  a flood of made-up kids costs at most one fetch per cool-down, never one per request;
- they are older than the refresh interval (5 min), so a key the issuer removed is refused
  after the next refresh, even for tokens already remembered as verified.
Every attempt, failed or not, starts a cool-down. A failed fetch keeps the keys we have
(the issuer being briefly down must not log everybody out) and refuses only tokens that
need a key we lack, as 401. Fetches do not follow redirects, time out after 5 s (the whole
answer, not each read) and read at most 64 KiB. RSA keys shorter than 2048 bits and keys
not meant for signatures are ignored.

Claims → Principal is shared with the local verifier (claims.py): the tenant and roles
claims are configurable (e.g. `realm_access.roles` for Keycloak); one tenant per token
(a list of tenants with per-request selection is not supported).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bookkeeper.adapters import outbound
from bookkeeper.adapters.answers import is_json
from bookkeeper.adapters.auth.claims import MAX_CLAIM_LENGTH, principal_from_claims
from bookkeeper.adapters.auth.errors import InvalidToken
from bookkeeper.adapters.auth.local_jwt import (
    ACCEPTED_TYPES,
    FORBIDDEN_HEADERS,
    LEEWAY,
    MAX_TOKEN_LENGTH,
    check_lifetime,
)
from bookkeeper.adapters.outbound import AnswerTooLarge, AnswerTooSlow
from bookkeeper.application.ports import Principal

if TYPE_CHECKING:
    from bookkeeper.settings import Settings

DEFAULT_ALGORITHMS: Final = ("RS256", "ES256", "EdDSA")
#: The key each asymmetric algorithm needs: (kty, crv or None for RSA).
ALGORITHM_KEYS: Final[Mapping[str, tuple[str, frozenset[str] | None]]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
COOLDOWN: Final = timedelta(seconds=60)
REFRESH_INTERVAL: Final = timedelta(minutes=5)
FETCH_TIMEOUT: Final = timedelta(seconds=5)
MAX_DOCUMENT_BYTES: Final = 64 * 1024
MAX_KEYS: Final = 64
MIN_RSA_BITS: Final = 2048
#: The longest lifetime (exp − iat) an issuer's token may have unless configured otherwise.
MAX_LIFETIME: Final = timedelta(days=30)
REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "aud", "sub")
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"

_log = logging.getLogger(__name__)


class JwksUnavailable(Exception):
    """The issuer's discovery document or key set cannot be fetched or used."""


def require_secure_url(url: str, what: str) -> str:
    """`url` if it is https, or http to a loopback host; ValueError otherwise."""
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
    if not secure or not parts.hostname or parts.username is not None or parts.fragment:
        raise ValueError(f"the {what} must be an https:// URL (http:// only to a loopback host)")
    return url


def require_discovered_url(url: str, what: str, issuer: str) -> str:
    """`url`, named by `issuer`'s discovery document, if it is as secure as the issuer:
    `require_secure_url`, and https unless the issuer itself is on loopback. Plain http to
    loopback is for a local identity provider: an https issuer's document must not send us
    (or the browser, the code and the client secret) to a port of our own host."""
    require_secure_url(url, what)
    issuer_local = is_loopback(urllib.parse.urlsplit(issuer).hostname)
    if urllib.parse.urlsplit(url).scheme != "https" and not issuer_local:
        raise ValueError(f"the {what} of an https issuer names http, not https")
    return url


def is_loopback(host: str | None) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Key:
    __slots__ = ("algorithms", "key")

    def __init__(self, key: Any, algorithms: frozenset[str]) -> None:
        self.key = key
        self.algorithms = algorithms


class _Verified:
    __slots__ = ("expires_at", "kid", "principal")

    def __init__(self, principal: Principal, expires_at: float, kid: str) -> None:
        self.principal = principal
        self.expires_at = expires_at
        self.kid = kid


def parse_jwks(document: object, algorithms: Collection[str]) -> dict[str, _Key]:
    """The usable signature keys of a JWKS document by kid; JwksUnavailable if it is not one.

    A key is skipped (not an error) when it has no kid, is meant for encryption, is
    symmetric or private, fits none of `algorithms`, or is an RSA key under 2048 bits.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksUnavailable("the JWKS document has no keys list")
    keys: dict[str, _Key] = {}
    for jwk in document["keys"][:MAX_KEYS]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_CLAIM_LENGTH or kid in keys:
            continue
        if jwk.get("use", "sig") != "sig" or "d" in jwk:
            continue
        ops = jwk.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        fitting = frozenset(alg for alg in algorithms if _fits(jwk, alg))
        if not fitting:
            continue
        try:
            public = jwt.PyJWK(jwk, algorithm=min(fitting)).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            _log.warning("ignoring the malformed JWKS key %s", kid)
            continue
        if isinstance(public, RSAPublicKey) and public.key_size < MIN_RSA_BITS:
            _log.warning("ignoring the JWKS key %s: RSA under %d bits", kid, MIN_RSA_BITS)
            continue
        keys[kid] = _Key(public, fitting)
    return keys


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    kty, curves = ALGORITHM_KEYS[alg]
    return (
        jwk.get("kty") == kty
        and (curves is None or jwk.get("crv") in curves)
        and jwk.get("alg", alg) == alg
    )


class OidcVerifier:
    """Verifies tokens of one OIDC issuer with its JWKS; satisfies the TokenVerifier port.

    `wall` (seconds since the epoch) judges exp, nbf and iat; `monotonic` times the key
    refreshes and cool-downs. `transport` replaces the network (tests).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Collection[str] = DEFAULT_ALGORITHMS,
        jwks_url: str | None = None,
        tenant_claim: str = "tenant",
        roles_claim: str = "roles",
        leeway: timedelta = LEEWAY,
        max_lifetime: timedelta = MAX_LIFETIME,
        cooldown: timedelta = COOLDOWN,
        refresh_interval: timedelta = REFRESH_INTERVAL,
        timeout: timedelta = FETCH_TIMEOUT,
        cache_size: int = 4096,
        transport: httpx.AsyncBaseTransport | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        refused = sorted(set(algorithms) - ALGORITHM_KEYS.keys())
        if refused or not algorithms:
            raise ValueError(
                f"only asymmetric algorithms may verify issuer tokens; refused: {refused}"
            )
        if max_lifetime <= timedelta(0):
            raise ValueError("the longest token lifetime must be positive")
        self._issuer = require_secure_url(issuer, "OIDC issuer")
        self._jwks_url = None if jwks_url is None else require_secure_url(jwks_url, "JWKS URL")
        self._audience = audience
        self._algorithms = frozenset(algorithms)
        self._tenant_claim = tenant_claim
        self._roles_claim = roles_claim
        self._leeway = leeway.total_seconds()
        self._max_lifetime = max_lifetime.total_seconds()
        self._cooldown = cooldown.total_seconds()
        self._refresh_interval = refresh_interval.total_seconds()
        self._timeout = timeout.total_seconds()
        self._cache_size = cache_size
        self._transport = transport
        self._wall = wall
        self._monotonic = monotonic
        self._keys: dict[str, _Key] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._cache: dict[str, _Verified] = {}
        # Times are checked below on the injected wall clock; PyJWT checks the rest.
        self._jwt = jwt.PyJWT(
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            }
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcVerifier:
        """The verifier the BOOKKEEPER_OIDC_* settings describe (the issuer must be set)."""
        if settings.oidc_issuer is None:
            raise ValueError("BOOKKEEPER_OIDC_ISSUER is not set")
        return cls(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience or settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
            jwks_url=settings.oidc_jwks_url,
            tenant_claim=settings.oidc_tenant_claim,
            roles_claim=settings.oidc_roles_claim,
            max_lifetime=timedelta(hours=settings.oidc_max_lifetime_hours),
        )

    @property
    def key_ids(self) -> frozenset[str]:
        """The kids of the keys fetched so far."""
        return frozenset(self._keys)

    # --- verifying ----------------------------------------------------------------------

    def verify(self, token: str) -> Principal:
        """The principal of a valid token, with the keys fetched so far; InvalidToken
        otherwise (also when its key has not been fetched: only `averify` fetches)."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        header = self._header(token)
        key = self._keys.get(header["kid"])
        if key is None:
            raise InvalidToken("the token was signed with an unknown key")
        return self._verify(token, header, key)

    async def averify(self, token: str) -> Principal:
        """The principal of a valid token, fetching the issuer's keys when they are due or
        the token names a new key; InvalidToken otherwise."""
        if self._refresh_due():
            await self.refresh()
        cached = self._cached(token)
        if cached is not None:
            return cached
        header = self._header(token)
        key = self._keys.get(header["kid"])
        if key is None:
            await self.refresh()
            key = self._keys.get(header["kid"])
            if key is None:
                raise InvalidToken("the token was signed with an unknown key")
        return self._verify(token, header, key)

    def _cached(self, token: str) -> Principal | None:
        hit = self._cache.get(token)
        if hit is None:
            return None
        if hit.kid in self._keys and self._wall() < hit.expires_at + self._leeway:
            return hit.principal
        # Expired, or its key is gone from the issuer's set: verify afresh (and fail).
        self._cache.pop(token, None)
        return None

    def _header(self, token: str) -> dict[str, Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        alg = header.get("alg")
        if alg not in self._algorithms:
            allowed = ", ".join(sorted(self._algorithms))
            raise InvalidToken(f"the token must be signed with one of {allowed}")
        if FORBIDDEN_HEADERS & header.keys():
            names = ", ".join(sorted(FORBIDDEN_HEADERS & header.keys()))
            raise InvalidToken(f"the token header must not contain {names}")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES):
            raise InvalidToken("the token is not a JWT access token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_CLAIM_LENGTH:
            raise InvalidToken("the token header must name its key (kid)")
        return header

    def _verify(self, token: str, header: dict[str, Any], key: _Key) -> Principal:
        alg: str = header["alg"]
        if alg not in key.algorithms:
            raise InvalidToken("the token's algorithm does not fit its key")
        try:
            claims = self._jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
            )
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
        expires_at = self._check_times(claims)
        principal = principal_from_claims(
            claims, tenant_claim=self._tenant_claim, roles_claim=self._roles_claim
        )
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)), None)  # the oldest entry
        self._cache[token] = _Verified(principal, expires_at, header["kid"])
        return principal

    def _check_times(self, claims: dict[str, Any]) -> float:
        times = {name: claims.get(name) for name in ("exp", "iat", "nbf")}
        for value in times.values():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise InvalidToken("the token is malformed")
        now = self._wall()
        exp, iat, nbf = float(claims["exp"]), float(claims["iat"]), times["nbf"]
        if exp <= now - self._leeway:
            raise InvalidToken("the token has expired")
        if nbf is not None and nbf > now + self._leeway:
            raise InvalidToken("the token is not valid yet")
        if iat > now + self._leeway:
            raise InvalidToken("the token is not valid yet (issued in the future)")
        check_lifetime(claims, now, self._max_lifetime)
        return exp

    # --- the issuer's keys --------------------------------------------------------------

    def _refresh_due(self) -> bool:
        return (
            self._fetched_at is None
            or self._monotonic() - self._fetched_at >= self._refresh_interval
        ) and not self._cooling_down()

    def _cooling_down(self) -> bool:
        return (
            self._attempted_at is not None
            and self._monotonic() - self._attempted_at < self._cooldown
        )

    async def refresh(self) -> None:
        """Fetch the issuer's keys unless an attempt was made within the cool-down; a failed
        fetch is logged and keeps the keys we have."""
        async with self._lock:
            # Callers queued behind a fetch find the cool-down running and return.
            if self._cooling_down():
                return
            self._attempted_at = self._monotonic()
            try:
                keys = await self._fetch()
            except JwksUnavailable as error:
                _log.warning("cannot refresh the keys of %s: %s", self._issuer, error)
                return
            added, removed = keys.keys() - self._keys.keys(), self._keys.keys() - keys.keys()
            if added or removed:
                _log.info(
                    "keys of %s: added %s, removed %s",
                    self._issuer,
                    sorted(added) or "none",
                    sorted(removed) or "none",
                )
            self._keys = keys
            self._fetched_at = self._attempted_at

    async def _fetch(self) -> dict[str, _Key]:
        # The whole GET, the answer's last byte included, within the timeout, and at most
        # 64 KiB of it (outbound.GuardedTransport): an issuer dripping a byte every few
        # seconds would otherwise hold the refresh lock, and every request queued behind
        # it, for hours.
        async with outbound.client(
            transport=self._transport,
            timeout=self._timeout,
            deadline=self._timeout,
            limit=MAX_DOCUMENT_BYTES,
            headers={"Accept": "application/json"},
        ) as client:
            if self._jwks_url is None:
                discovery = await self._get_json(client, self._issuer.rstrip("/") + DISCOVERY_PATH)
                if not isinstance(discovery, dict) or discovery.get("issuer") != self._issuer:
                    raise JwksUnavailable("the discovery document names another issuer")
                jwks_uri = discovery.get("jwks_uri")
                try:
                    self._jwks_url = require_discovered_url(
                        str(jwks_uri), "discovered jwks_uri", self._issuer
                    )
                except ValueError as error:
                    raise JwksUnavailable(str(error)) from None
            return parse_jwks(await self._get_json(client, self._jwks_url), self._algorithms)

    async def _get_json(self, client: httpx.AsyncClient, url: str) -> object:
        try:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise JwksUnavailable(f"GET {url} answered {response.status_code}")
                if not is_json(response.headers.get("content-type")):
                    raise JwksUnavailable(f"GET {url} answered something other than JSON")
                body = await response.aread()
        except AnswerTooLarge:
            raise JwksUnavailable(f"GET {url} answered more than 64 KiB") from None
        except AnswerTooSlow:
            raise JwksUnavailable(f"GET {url} took longer than {self._timeout:g} s") from None
        except httpx.HTTPError as error:
            raise JwksUnavailable(f"GET {url} failed: {type(error).__name__}") from None
        try:
            document: object = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise JwksUnavailable(f"GET {url} answered something other than JSON") from None
        return document
