"""Rate limiting per authenticated principal and tenant (not per IP address).

Runs after BearerAuthMiddleware, so it keys on the verified Principal: one budget per
(tenant, subject), whichever address the calls come from — an agent behind a NAT shares
nothing with its neighbours, and a token cannot spread its calls over many addresses.
Every authenticated request spends from `BOOKKEEPER_RATE_LIMIT` (default 600/minute); a
write (POST, PUT, PATCH, DELETE) also spends from the stricter
`BOOKKEEPER_RATE_LIMIT_WRITES` (default 120/minute). Either may be `off`. Over budget is a
429 problem with `Retry-After`. The
public routes (/health, the OpenAPI pages) carry no principal, so they are never counted;
unauthenticated requests are already a 401 before they get here.

The web page (/app, ADR 0040 §5) has no bearer token: its routes spend from the same
budgets through `spend_for` with the session's principal (one budget per principal across
the API and the page), and each login attempt (the pasted-token form, the OIDC callback)
spends from `BOOKKEEPER_RATE_LIMIT_LOGIN` (default 10/minute) per client address — before
anyone is known, the address is all there is to key on.

The counters are the `limits` package's sliding-window counters in process memory: O(1) per
request (two counters per key, a few microseconds), no lock shared across keys. With N
server processes each would keep its own counters (N × the setting), so with
`BOOKKEEPER_REDIS_URL` set they live in Redis instead (the `limits` library's Redis storage,
redis-py client): one budget per principal across every replica (ADR 0032). Should Redis
not answer, the request is let through and a warning logged (the limit protects; it must
not take the API down with it).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Final

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from bookkeeper.application.ports import Principal

log = logging.getLogger(__name__)

OFF: Final = "off"
DEFAULT_RATE_LIMIT: Final = "600/minute"
DEFAULT_WRITE_RATE_LIMIT: Final = "120/minute"
DEFAULT_LOGIN_RATE_LIMIT: Final = "10/minute"
WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def parse_limits(value: str) -> tuple[RateLimitItem, ...]:
    """`off` → none; else the `limits` notation, several separated by `;` (e.g.
    `600/minute;20/second`). ValueError when it cannot be read."""
    if value.strip().lower() == OFF:
        return ()
    return tuple(parse_many(value))


class RateLimitMiddleware(ASGIMiddleware):
    """429 when the caller's (tenant, subject) spent its budget; see the module doc.

    One instance serves every route (Litestar builds the stack from it), so its counters
    are shared by all routes of the app."""

    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        limit: str = DEFAULT_RATE_LIMIT,
        write_limit: str = DEFAULT_WRITE_RATE_LIMIT,
        redis_url: str | None = None,
        login_limit: str = DEFAULT_LOGIN_RATE_LIMIT,
    ) -> None:
        self._all = parse_limits(limit)
        self._writes = parse_limits(write_limit)
        self._logins = parse_limits(login_limit)
        self._limiter = SlidingWindowCounterRateLimiter(shared_storage(redis_url))

    @property
    def enabled(self) -> bool:
        return bool(self._all or self._writes)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("user")
        if isinstance(principal, Principal):
            await self.spend_for(principal, str(scope.get("method", "")))
        await next_app(scope, receive, send)

    async def spend_for(self, principal: Principal, method: str) -> None:
        """Spend one request (and one write for a writing method) of the principal's
        budget — the middleware's own step, and the web page's for its session principal;
        TooManyRequestsException over budget."""
        if not self.enabled:
            return
        # The length prefix keeps the key unambiguous whatever the names contain.
        key = f"{len(principal.tenant_id)}:{principal.tenant_id}:{principal.subject}"
        await self._spend(self._all, key)
        if method in WRITE_METHODS:
            await self._spend(self._writes, key, "w")

    async def spend_login(self, address: str) -> None:
        """Spend one login attempt of the client address (BOOKKEEPER_RATE_LIMIT_LOGIN);
        TooManyRequestsException over budget."""
        if self._logins:
            await self._spend(self._logins, address, "l")

    async def _spend(self, items: tuple[RateLimitItem, ...], key: str, kind: str = "a") -> None:
        for item in items:
            try:
                allowed = await self._limiter.hit(item, kind, key)
            except (OSError, ConnectionError, TimeoutError) as error:
                log.warning("rate limit not checked, its store did not answer: %s", error)
                return
            except Exception as error:  # redis-py's own errors (no OSError subclass)
                if type(error).__module__.split(".", 1)[0] != "redis":
                    raise
                log.warning("rate limit not checked, its store did not answer: %s", error)
                return
            if not allowed:
                stats = await self._limiter.get_window_stats(item, kind, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                what = {"w": "writes", "l": "login attempts"}.get(kind, "requests")
                who = "this address" if kind == "l" else "this caller"
                raise TooManyRequestsException(
                    f"{what} over the limit of {item} for {who}; retry in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                )


def shared_storage(redis_url: str | None) -> Storage:
    """Redis (shared by every process using it) when a URL is given, else process memory."""
    if redis_url is None:
        return MemoryStorage()
    storage = storage_from_string("async+" + redis_url, implementation="redispy")
    if not isinstance(storage, Storage):  # pragma: no cover - the scheme makes it async
        raise TypeError("the limits library gave a synchronous storage")
    return storage
