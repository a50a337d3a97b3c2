"""Fiken's request limits, kept on our side: one request at a time, at most 4 per second.

Fiken allows a single concurrent request per token (more may be answered 429, and repeat
offenders are banned) and slows clients above 4 requests per second. `RequestGate` holds an
asyncio lock for a whole exchange, retries included, and spaces exchanges with a sliding
window of their completion times.

Why a sliding window and not a leaky bucket such as aiolimiter: a bucket of capacity 4 that
drains at 4/s lets a fifth request through as soon as a quarter of the first one's token has
leaked, i.e. 5 requests inside one second; the limit is about *any* one-second window.

Why completion times: the server counts arrivals, which we cannot see. Exchanges are serial,
so request i arrived at Fiken before its response reached us. Starting request i+4 no earlier
than one window after request i *completed* therefore keeps any window of the server's
arrivals at 4 or fewer, whatever the network latency.

`FikenGate` is the port (issue 14, ADR 0035): `RequestGate` keeps the limits inside one
process (the default, and all a single process or SQLite needs); `PostgresGate`
(adapters/fiken/pg_gate.py) keeps them across every replica on one PostgreSQL database. A
429 with Retry-After pauses the token (`pause`): no attempt starts before that time, and
one that would have to wait longer than it may (`attempt(max_wait=…)`) raises GatePaused
instead of sending.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

MAX_REQUESTS: Final = 4
WINDOW_SECONDS: Final = 1.0

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def token_key(token: str) -> str:
    """What a gate is keyed on: a hash of the token (hex SHA-256), never the token."""
    return hashlib.sha256(b"bookkeeper:fiken-token:" + token.encode()).hexdigest()


class GatePaused(Exception):
    """The token is paused (a 429's Retry-After) for longer than the caller may wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the token is paused for another {seconds:.1f} s")
        self.seconds = seconds


class FikenGate(Protocol):
    """The right to send requests with one Fiken token: one exchange at a time, at most
    MAX_REQUESTS in any WINDOW_SECONDS, and nothing before a 429's Retry-After has passed.

    `exclusive()` holds the token for a whole logical request (retries and back-off
    included); `attempt()` is one HTTP attempt inside it (waits for the window and any
    pause; GatePaused if the pause is longer than `max_wait`); `pause(seconds)`, inside
    `exclusive()`, makes every later holder of the token wait that long from now."""

    def exclusive(self) -> AbstractAsyncContextManager[None]: ...

    def attempt(self, max_wait: float | None = None) -> AbstractAsyncContextManager[None]: ...

    def pause(self, seconds: float) -> None: ...


#: A gate per token (`token_key(token)` chooses it): one instance per token per process.
GateFactory = Callable[[str], FikenGate]


class SlidingWindow:
    """At most `limit` events in any `window` seconds: a deque of the last events' times."""

    def __init__(self, limit: int = MAX_REQUESTS, window: float = WINDOW_SECONDS) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._stamps: collections.deque[float] = collections.deque(maxlen=limit)

    def delay(self, now: float) -> float:
        """Seconds to wait from `now` before another event fits (0 when it fits now)."""
        if len(self._stamps) < self.limit:
            return 0.0
        # The oldest of the last `limit` events must have left the window.
        return max(0.0, self._stamps[0] + self.window - now)

    def record(self, at: float) -> None:
        """Count an event at `at` (monotonic seconds, never earlier than the previous one)."""
        self._stamps.append(at)


class RequestGate:
    """Serialises exchanges with one API token and spaces them with a SlidingWindow.

    Use `async with gate.exclusive():` around a whole logical request (its retries and
    back-off sleeps included, so a 429 pauses every caller of the token), and around each
    HTTP attempt inside it `async with gate.attempt():`.

    One gate per token per process: two gates for the same token would not see each other.
    """

    def __init__(
        self,
        window: SlidingWindow | None = None,
        *,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.window = window or SlidingWindow()
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        #: No attempt starts before this (monotonic seconds): a 429's Retry-After.
        self._not_before = 0.0

    def pause(self, seconds: float) -> None:
        """No attempt starts within `seconds` from now (a 429's Retry-After)."""
        if seconds > 0:
            self._not_before = max(self._not_before, self._clock() + seconds)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the token: no other exchange starts until this block ends."""
        async with self._lock:
            yield

    @contextlib.asynccontextmanager
    async def attempt(self, max_wait: float | None = None) -> AsyncIterator[None]:
        """Wait for a free slot in the window (and the end of a pause), run one HTTP
        attempt, count its completion. GatePaused, without waiting, when the pause lasts
        longer than `max_wait`.

        The completion is counted even when the attempt failed or was cancelled: the server
        may have received the request all the same."""
        if not self._lock.locked():
            raise RuntimeError("RequestGate.attempt() outside exclusive()")
        paused = self._not_before - self._clock()
        if max_wait is not None and paused > max_wait:
            raise GatePaused(paused)
        while (wait := self._delay(self._clock())) > 0:
            await self._sleep(wait)
        try:
            yield
        finally:
            self.window.record(self._clock())

    def _delay(self, now: float) -> float:
        return max(self.window.delay(now), self._not_before - now)


def process_gates() -> GateFactory:
    """A RequestGate per token, kept for the process (never two for one token)."""
    gates: dict[str, RequestGate] = {}

    def gate(token: str) -> FikenGate:
        key = token_key(token)
        found = gates.get(key)
        if found is None:
            found = gates[key] = RequestGate()
        return found

    return gate
