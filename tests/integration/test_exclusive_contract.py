"""The Exclusive port's contract (issue 14, ADR 0043, ADR 0047's addendum), passed by both
adapters: InProcessLocks (one process: memory, SQLite) and PostgresLocks (replicas on one
PostgreSQL database). `holders` gives callers that must exclude each other: for the
in-process adapter the callers of one instance, for PostgreSQL callers of one instance
(queued in process) and of two instances (as two replicas).

A key is held by one caller at a time and other keys are not held up; overlapping keys in
any order never deadlock; an error inside or a cancelled waiter leaves the key usable;
the same key twice is held once; the wait for a busy key gives the caller's executor slot
back (turn_wait) and takes it again before the block runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from bookkeeper.adapters.memory_locks import InProcessLocks
from bookkeeper.adapters.sql.advisory_locks import PostgresLocks
from bookkeeper.adapters.sql.urls import libpq_url
from bookkeeper.application.ports import Exclusive, turn_wait
from tests.polling import polls

#: A deadline for what must happen (seconds), however loaded the machine.
WITHIN = 60
#: How long a waiter is given to (wrongly) get in before it is checked that it did not.
A_MOMENT = 0.3


@pytest.fixture(
    params=[
        "in-process",
        pytest.param("postgres-one-process", marks=pytest.mark.postgres),
        pytest.param("postgres-replicas", marks=pytest.mark.postgres),
    ]
)
async def holders(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Exclusive, Exclusive]]:
    """Two callers' ports whose holds of one key must exclude each other."""
    if request.param == "in-process":
        locks = InProcessLocks()
        yield locks, locks
        return
    conninfo = libpq_url(request.getfixturevalue("postgres_url"))
    first = PostgresLocks(conninfo)
    second = first if request.param == "postgres-one-process" else PostgresLocks(conninfo)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def _enter(locks: Exclusive, keys: Sequence[str], inside: Callable[[], None]) -> None:
    async with locks.hold(keys):
        inside()


async def test_a_held_key_waits_for_its_holder_and_other_keys_do_not(
    holders: tuple[Exclusive, Exclusive],
) -> None:
    first, second = holders
    order: list[str] = []
    async with first.hold(["a", "b"]):
        waiter = asyncio.create_task(_enter(second, ["b"], lambda: order.append("second")))
        await asyncio.wait_for(_enter(second, ["c"], lambda: order.append("other key")), WITHIN)
        await asyncio.sleep(A_MOMENT)
        assert not waiter.done()
        order.append("first")
    await asyncio.wait_for(waiter, WITHIN)
    assert order == ["other key", "first", "second"]


async def test_overlapping_keys_in_any_order_never_deadlock(
    holders: tuple[Exclusive, Exclusive],
) -> None:
    first, second = holders
    inside = 0

    async def run(locks: Exclusive, keys: list[str]) -> None:
        nonlocal inside
        for _ in range(10):
            async with locks.hold(keys):
                inside += 1
                assert inside == 1
                await asyncio.sleep(0.002)
                inside -= 1

    await asyncio.wait_for(asyncio.gather(run(first, ["x", "y"]), run(second, ["y", "x"])), WITHIN)


async def test_an_error_inside_lets_the_keys_go(holders: tuple[Exclusive, Exclusive]) -> None:
    first, second = holders
    with pytest.raises(RuntimeError):
        async with first.hold(["k"]):
            raise RuntimeError("inside")
    entered: list[str] = []
    await asyncio.wait_for(_enter(second, ["k"], lambda: entered.append("second")), WITHIN)
    assert entered == ["second"]


async def test_a_waiter_cancelled_while_waiting_leaves_the_key_usable(
    holders: tuple[Exclusive, Exclusive],
) -> None:
    first, second = holders
    entered: list[str] = []
    async with first.hold(["z"]):
        waiter = asyncio.create_task(_enter(second, ["z"], lambda: entered.append("cancelled")))
        await asyncio.sleep(A_MOMENT)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    await asyncio.wait_for(_enter(second, ["z"], lambda: entered.append("later")), WITHIN)
    await asyncio.wait_for(_enter(first, ["z"], lambda: entered.append("holder")), WITHIN)
    assert entered == ["later", "holder"]


async def test_the_same_key_twice_is_held_once(holders: tuple[Exclusive, Exclusive]) -> None:
    """asyncio locks are not reentrant: a key taken twice by one holder would wait for
    itself for ever."""
    first, _ = holders
    entered: list[str] = []
    await asyncio.wait_for(_enter(first, ["d", "d"], lambda: entered.append("in")), WITHIN)
    assert entered == ["in"]


async def test_the_wait_for_a_busy_key_gives_the_slot_back(
    holders: tuple[Exclusive, Exclusive],
) -> None:
    """The executor sets turn_wait to give the tenant's slot back: a caller waiting for a
    held key must not keep it (a holder may wait for a slot after its Fiken turn)."""
    first, second = holders
    slot: list[str] = []

    @contextlib.asynccontextmanager
    async def slot_given_back() -> AsyncIterator[None]:
        slot.append("given back")
        try:
            yield
        finally:
            slot.append("taken again")

    async def waiter() -> None:
        turn_wait.set(slot_given_back)  # in this task's context only
        async with second.hold(["w"]):
            slot.append("inside")

    async with first.hold(["w"]):
        task = asyncio.create_task(waiter())
        for _ in polls():
            if slot:
                break
            await asyncio.sleep(0.01)
        assert slot == ["given back"]  # while it waits
    await asyncio.wait_for(task, WITHIN)
    # Given back for each wait (in process, then for the database's lock), and always
    # taken again before the block.
    assert slot[-2:] == ["taken again", "inside"]
    assert slot.count("given back") == slot.count("taken again")
