"""One read for concurrent misses of the same cache key (issue 14, P1; ADR 0045 addendum).

The short-lived caches of the propose path (review rules, tax rates, the bank's listing of a
receipt's window) are each read again when their entry runs out. Under load every request in
flight meets the same expired entry at once — 32 units of work per worker at the P1 bench's
load — and each read it itself: the same rows (or the same bank call) 32 times, each on its
own connection, beside the proposal's own statements. `SingleFlight.run` lets the first miss
read and the others, arriving while it reads, wait for its answer, which is what they would
have found in the cache a moment later anyway.

A read that fails or is cancelled gives its waiters nothing: each then reads itself, as
before, so a failure (and the unit of work it makes rollback-only) stays with the caller it
happened to. `forget` drops a read in flight (a change was made), so that a miss arriving
after it reads anew instead of joining a read that began before the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Concurrent reads of one key, run once (within one event loop)."""

    def __init__(self) -> None:
        #: The read in flight per key: its answer, or None when it failed.
        self._flights: dict[K, asyncio.Future[tuple[V] | None]] = {}

    async def run(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """`read()`'s answer, shared with the calls for `key` that arrive while it runs; a
        call that arrives while another's read of `key` runs waits for that answer instead
        (and reads itself if that read fails)."""
        flight = self._flights.get(key)
        if flight is not None:
            # shield: a waiter cancelled (its client gone) must not cancel the read.
            shared = await asyncio.shield(flight)
            if shared is not None:
                return shared[0]
            return await read()
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        answer: tuple[V] | None = None
        try:
            value = await read()
            answer = (value,)
            return value
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.set_result(answer)

    def forget(self, key: K | None = None) -> None:
        """Let later calls for `key` (None: every key) read anew; the calls already
        waiting still get the read they joined."""
        if key is None:
            self._flights.clear()
        else:
            self._flights.pop(key, None)
