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
not take the API down with it). "Not answering" includes a Redis that takes the connection
and says nothing (a partition, a stopped server): each question is bounded
(`STORE_TIMEOUT_SECONDS`), and after a failure the store is left alone for
`STORE_PAUSE_SECONDS` — requests pass meanwhile without waiting for it — then asked again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Final

from limits import RateLimitItem, WindowStats, parse_many
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
#: The longest one request waits for the shared store (Redis) before it is let through
#: unchecked. redis-py sets no socket timeout: a Redis that took the connection and never
#: answered held every authenticated request without end.
STORE_TIMEOUT_SECONDS: Final = 0.5
#: After the store failed, how long requests pass unchecked without asking it (so that
#: each does not wait STORE_TIMEOUT_SECONDS, nor log a warning, while it is gone).
STORE_PAUSE_SECONDS: Final = 5.0


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
        store_pause_seconds: float = STORE_PAUSE_SECONDS,
    ) -> None:
        self._all = parse_limits(limit)
        self._writes = parse_limits(write_limit)
        self._logins = parse_limits(login_limit)
        self._limiter = SlidingWindowCounterRateLimiter(shared_storage(redis_url))
        #: A store across the network (Redis), whose questions are bounded; process
        #: memory answers at once.
        self._remote = redis_url is not None
        self._store_pause_seconds = store_pause_seconds
        #: time.monotonic() before which the failed store is not asked (0: it answers).
        self._store_down_until = 0.0

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
        if self._store_down_until and time.monotonic() < self._store_down_until:
            return  # the store failed a moment ago: let through, unchecked
        for item in items:
            try:
                if self._remote:
                    async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                        stats = await self._over(item, kind, key)
                else:
                    stats = await self._over(item, kind, key)
            except (OSError, ConnectionError, TimeoutError) as error:
                self._store_failed(error)
                return
            except Exception as error:  # redis-py's own errors (no OSError subclass)
                if type(error).__module__.split(".", 1)[0] != "redis":
                    raise
                self._store_failed(error)
                return
            if self._store_down_until:
                self._store_down_until = 0.0
                log.warning("rate limits are checked again: their store answers")
            if stats is not None:
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                what = {"w": "writes", "l": "login attempts"}.get(kind, "requests")
                who = "this address" if kind == "l" else "this caller"
                raise TooManyRequestsException(
                    f"{what} over the limit of {item} for {who}; retry in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                )

    async def _over(self, item: RateLimitItem, kind: str, key: str) -> WindowStats | None:
        """Spend one of `item` for the key: None if it was in budget, else the window."""
        if await self._limiter.hit(item, kind, key):
            return None
        return await self._limiter.get_window_stats(item, kind, key)

    def _store_failed(self, error: BaseException) -> None:
        self._store_down_until = time.monotonic() + self._store_pause_seconds
        reason = str(error) or type(error).__name__  # a timeout says nothing of itself
        log.warning(
            "rate limits not checked for %.0f s, their store did not answer: %s",
            self._store_pause_seconds,
            reason,
        )


def shared_storage(redis_url: str | None) -> Storage:
    """Redis (shared by every process using it) when a URL is given, else process memory."""
    if redis_url is None:
        return MemoryStorage()
    storage = storage_from_string(
        "async+" + redis_url,
        implementation="redispy",
        # The client's own bound too, so that a connection cut off mid-answer is dropped.
        socket_timeout=STORE_TIMEOUT_SECONDS,
        socket_connect_timeout=STORE_TIMEOUT_SECONDS,
    )
    if not isinstance(storage, Storage):  # pragma: no cover - the scheme makes it async
        raise TypeError("the limits library gave a synchronous storage")
    return storage
