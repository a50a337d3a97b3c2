"""The propose path's one cache (application.ttl_cache): values kept for a while, at most so
many, concurrent misses of a key loaded once, and a change (forget, clear) never undone by
a load that began before it. Time is a fake clock: nothing here sleeps."""

from __future__ import annotations

import asyncio

import pytest

from bookkeeper.application.ttl_cache import TtlCache
from tests.unit.test_single_flight import GatedRead, started


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cache_on(clock: Clock, *, ttl: float = 5.0, size: int = 16) -> TtlCache[str, str]:
    return TtlCache(ttl, size, clock=clock)


async def loaded(cache: TtlCache[str, str], key: str, value: str | None = None) -> str:
    """`key` got or loaded at once (the value: `value`, else the key itself)."""
    read = GatedRead(key if value is None else value)
    read.gate.set()
    return await cache.get_or_load(key, read)


async def test_a_value_is_kept_until_its_ttl_ends_then_loaded_anew() -> None:
    clock = Clock()
    cache = cache_on(clock)
    read = GatedRead("rules")
    read.gate.set()
    assert await cache.get_or_load("acme", read) == "rules"
    clock.now += 4.9
    assert await cache.get_or_load("acme", read) == "rules"
    assert cache.get("acme") == "rules"
    assert read.calls == 1
    clock.now += 0.1
    assert cache.get("acme") is None
    assert await cache.get_or_load("acme", read) == "rules"
    assert read.calls == 2


async def test_the_ttl_counts_from_the_start_of_the_load() -> None:
    """What is kept is at least as fresh as the moment its load began: a slow load does not
    stretch how long it is served."""
    clock = Clock()
    cache = cache_on(clock)
    read = GatedRead("listing")
    loading = asyncio.create_task(cache.get_or_load("window", read))
    await started(read, 1)
    clock.now += 3.0  # the bank takes its time
    read.gate.set()
    assert await loading == "listing"
    clock.now += 1.9
    assert cache.get("window") == "listing"
    clock.now += 0.1
    assert cache.get("window") is None


async def test_at_most_size_values_are_kept_the_oldest_go_first() -> None:
    clock = Clock()
    cache = cache_on(clock, size=3)
    for key in ("a", "b", "c", "d"):
        await loaded(cache, key)
    assert len(cache) == 3
    assert cache.get("a") is None
    assert [cache.get(key) for key in ("b", "c", "d")] == ["b", "c", "d"]
    for number in range(100):  # many distinct keys: memory stays bounded
        await loaded(cache, f"tenant-{number}")
    assert len(cache) == 3
    assert cache.get("tenant-99") == "tenant-99"


async def test_keeping_a_value_drops_the_expired_ones_first() -> None:
    clock = Clock()
    cache = cache_on(clock, size=3)
    await loaded(cache, "a")
    await loaded(cache, "b")
    clock.now += 5.0  # a and b expire
    await loaded(cache, "c")
    assert len(cache) == 1  # not full, yet the expired ones are gone
    await loaded(cache, "d")
    await loaded(cache, "e")
    assert [cache.get(key) for key in ("c", "d", "e")] == ["c", "d", "e"]


async def test_loading_a_key_again_moves_it_to_the_newest() -> None:
    clock = Clock()
    cache = cache_on(clock, size=2)
    await loaded(cache, "a")
    clock.now += 3.0
    await loaded(cache, "b")
    clock.now += 2.0
    await loaded(cache, "a", "a again")  # expired: loaded anew, now the newest
    await loaded(cache, "c")  # full: b, now the oldest, goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("a again", None, "c")


async def test_concurrent_misses_of_one_key_load_once_and_keep_it() -> None:
    cache = cache_on(Clock())
    read = GatedRead("rates")
    misses = [asyncio.create_task(cache.get_or_load("NO", read)) for _ in range(32)]
    await started(read, 1)
    for _ in range(5):
        await asyncio.sleep(0)  # every miss joins the load in flight
    read.gate.set()
    assert await asyncio.gather(*misses) == ["rates"] * 32
    assert read.calls == 1
    assert cache.get("NO") == "rates"


async def _loading_with_a_waiter(
    read: GatedRead,
) -> tuple[TtlCache[str, str], asyncio.Task[str], asyncio.Task[str]]:
    """A load of "NO" under way (held at its gate) and a second miss waiting for it."""
    cache = cache_on(Clock())
    leader = asyncio.create_task(cache.get_or_load("NO", read))
    await started(read, 1)
    waiter = asyncio.create_task(cache.get_or_load("NO", read))
    await asyncio.sleep(0)  # it joins the load in flight
    return cache, leader, waiter


async def test_a_failed_load_keeps_nothing_and_leaves_its_waiter_to_load_itself() -> None:
    read = GatedRead("rates")
    read.fail = ConnectionError("database gone")
    cache, leader, waiter = await _loading_with_a_waiter(read)
    read.gate.set()
    with pytest.raises(ConnectionError):
        await leader  # the failure stays with the caller it happened to
    assert await waiter == "rates"
    assert read.calls == 2
    assert cache.get("NO") == "rates"  # the waiter's own load is kept


async def test_a_cancelled_load_leaves_its_waiter_to_load_itself() -> None:
    read = GatedRead("rates")
    cache, leader, waiter = await _loading_with_a_waiter(read)
    leader.cancel()
    await started(read, 2)
    read.gate.set()
    assert await waiter == "rates"
    assert leader.cancelled()
    assert cache.get("NO") == "rates"


async def test_a_cancelled_waiter_does_not_cancel_the_load() -> None:
    read = GatedRead("rates")
    cache, leader, waiter = await _loading_with_a_waiter(read)
    waiter.cancel()
    read.gate.set()
    assert await leader == "rates"
    assert waiter.cancelled()
    assert cache.get("NO") == "rates"


async def test_forget_during_a_load_lets_later_misses_load_anew() -> None:
    """The load that began before the change still answers the calls that joined it, but
    its value is never kept: not even when it ends after the load that followed the change
    (a stale value would otherwise be served for a whole TTL)."""
    cache = cache_on(Clock())
    before, after = GatedRead("old"), GatedRead("new")
    first = asyncio.create_task(cache.get_or_load("acme", before))
    await started(before, 1)
    joined = asyncio.create_task(cache.get_or_load("acme", before))
    await asyncio.sleep(0)
    cache.forget("acme")  # the rules were changed in this process
    later = asyncio.create_task(cache.get_or_load("acme", after))
    await started(after, 1)
    after.gate.set()
    assert await later == "new"
    before.gate.set()  # the older load ends last
    assert (await first, await joined) == ("old", "old")
    assert cache.get("acme") == "new"
    assert (before.calls, after.calls) == (1, 1)


async def test_a_load_that_began_before_forget_keeps_nothing() -> None:
    cache = cache_on(Clock())
    before = GatedRead("old")
    first = asyncio.create_task(cache.get_or_load("acme", before))
    await started(before, 1)
    cache.forget("acme")
    before.gate.set()
    assert await first == "old"
    assert cache.get("acme") is None
    assert await loaded(cache, "acme", "new") == "new"


async def test_clear_drops_every_value_and_every_load_in_flight() -> None:
    cache = cache_on(Clock())
    await loaded(cache, "a")
    await loaded(cache, "b")
    before = GatedRead("old c")
    first = asyncio.create_task(cache.get_or_load("c", before))
    await started(before, 1)
    cache.clear()  # a rate was changed in this process
    assert (cache.get("a"), cache.get("b"), len(cache)) == (None, None, 0)
    after = GatedRead("new c")
    later = asyncio.create_task(cache.get_or_load("c", after))
    await started(after, 1)  # not joined to the load from before the clear
    before.gate.set()
    after.gate.set()
    assert (await first, await later) == ("old c", "new c")
    assert cache.get("c") == "new c"


def test_a_cache_needs_a_positive_ttl_and_size() -> None:
    with pytest.raises(ValueError, match="ttl above 0"):
        TtlCache(0, 4)
    with pytest.raises(ValueError, match="ttl above 0"):
        TtlCache(5.0, 0)
