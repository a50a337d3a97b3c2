"""A short-lived, bounded in-process cache whose concurrent misses of one key load once.

The propose path's caches (review rules, tax rates, a receipt window's bank listing; ADR
0045 and its addenda) are all this: a value per key kept a few seconds, at most so many of
them, read once by the first miss while the misses arriving meanwhile wait for it
(`SingleFlight`, whose semantics are kept: a load that fails or is cancelled leaves each
waiter to load itself).

`forget` and `clear` (a change made in this process) let every later miss load anew: they
drop the load in flight from the single flight, and a load that began before them keeps
nothing when it ends, so what it read before the change is never served after it.

No library is used: cachetools (not a dependency) would give the TTL and the bound but not
the single flight or the forgetting of loads in flight, which are most of this.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from bookkeeper.application.single_flight import SingleFlight

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values per key, each kept `ttl` seconds from the start of the load that read it (what
    it holds is at least that fresh), at most `size` of them: keeping one drops the oldest
    kept while they have expired or there are `size`. `clock` is monotonic seconds (tests pass their
    own). Within one event loop."""

    def __init__(
        self, ttl: float, size: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl <= 0 or size < 1:
            raise ValueError(f"a cache needs a ttl above 0 and a size of 1 or more: {ttl}, {size}")
        self._ttl = ttl
        self._size = size
        self._clock = clock
        #: Per key, when its value expires (on `clock`) and the value, oldest kept first.
        self._entries: dict[K, tuple[float, V]] = {}
        self._flights: SingleFlight[K, V] = SingleFlight()
        #: Moved on by `forget` and `clear`: a load that began under an older one keeps
        #: nothing (it may have read what the change replaced).
        self._generation = 0

    def __len__(self) -> int:
        """How many values are kept (expired ones too, until they are met or pushed out)."""
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value kept for `key` while it has not expired; None otherwise."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value kept for `key`; on a miss `load()`'s, kept — shared with the misses of
        `key` that arrive while it loads (they wait for it instead of loading each)."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry[0]:
            return entry[1]
        return await self._flights.run(key, lambda: self._load_and_keep(key, load))

    async def _load_and_keep(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        generation, started = self._generation, self._clock()
        value = await load()
        if generation == self._generation:
            self._keep(key, value, started + self._ttl)
        return value

    def _keep(self, key: K, value: V, expires: float) -> None:
        entries = self._entries
        entries.pop(key, None)
        now = self._clock()
        while entries:
            oldest = next(iter(entries))
            if len(entries) < self._size and now < entries[oldest][0]:
                break
            del entries[oldest]
        entries[key] = (expires, value)

    def forget(self, key: K) -> None:
        """Drop `key`'s value: later misses of it load anew (the loads already waited for
        still answer their waiters, but keep nothing)."""
        self._generation += 1
        self._entries.pop(key, None)
        self._flights.forget(key)

    def clear(self) -> None:
        """Drop every value, as `forget` of every key."""
        self._generation += 1
        self._entries.clear()
        self._flights.forget()
