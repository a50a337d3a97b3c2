"""The Exclusive port across processes (issue 14, ADR 0043): PostgresLocks instances of
their own — as separate replicas would have — on one PostgreSQL database hold a key one
at a time, take overlapping keys without deadlocking, give up after their lock timeout,
survive a cancelled waiter, and leave no lock behind (the connection is kept, unlocked)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
import pytest

from bookkeeper.adapters.sql.advisory_locks import LOCK_NAMESPACE, PostgresLocks, lock_id
from bookkeeper.adapters.sql.urls import libpq_url
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.ports import turn_wait

pytestmark = pytest.mark.postgres

#: A deadline for what must happen (seconds), however loaded the machine.
WITHIN = 60


@contextlib.asynccontextmanager
async def replicas(
    postgres_url: str, n: int, lock_timeout: float = 60.0
) -> AsyncIterator[list[PostgresLocks]]:
    conninfo = libpq_url(postgres_url)
    made = [PostgresLocks(conninfo, lock_timeout=lock_timeout) for _ in range(n)]
    try:
        yield made
    finally:
        for locks in made:
            await locks.aclose()


async def _held_ids(postgres_url: str, *keys: str) -> list[int]:
    """The ids of these keys held in this database: the other tests (other keys, other
    databases) may hold theirs at the same time, on the other xdist worker."""
    async with await psycopg.AsyncConnection.connect(libpq_url(postgres_url)) as connection:
        cursor = await connection.execute(
            "SELECT objid::int4 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::oid AND objid::int4 = ANY(%s) AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1",
            (LOCK_NAMESPACE, [lock_id(key) for key in keys]),
        )
        return [row[0] for row in await cursor.fetchall()]


async def test_a_key_held_in_one_replica_waits_in_another_and_other_keys_do_not(
    postgres_url: str,
) -> None:
    async with replicas(postgres_url, 2) as (first, second):
        entered = asyncio.Event()
        order: list[str] = []

        async def waiter() -> None:
            async with second.hold(["b"]):
                order.append("second")

        async with first.hold(["a", "b"]):
            task = asyncio.create_task(waiter())
            async with second.hold(["c"]):  # another key: not held up
                entered.set()
            await asyncio.sleep(0.3)
            assert not task.done()
            order.append("first")
        await asyncio.wait_for(task, WITHIN)
        assert entered.is_set() and order == ["first", "second"]
        # Unlocked; the connections are kept.
        assert await _held_ids(postgres_url, "a", "b", "c") == []


async def test_overlapping_keys_in_any_order_never_deadlock(postgres_url: str) -> None:
    """Without the ascending order PostgreSQL would find a deadlock here (and fail one)."""
    async with replicas(postgres_url, 2) as (first, second):
        inside = 0

        async def run(locks: PostgresLocks, keys: list[str]) -> None:
            nonlocal inside
            for _ in range(15):
                async with locks.hold(keys):
                    inside += 1
                    assert inside == 1
                    await asyncio.sleep(0.005)
                    inside -= 1

        await asyncio.wait_for(asyncio.gather(run(first, ["x", "y"]), run(second, ["y", "x"])), 60)


async def test_a_hold_that_waits_too_long_is_unavailable_and_an_error_inside_unlocks(
    postgres_url: str,
) -> None:
    async with replicas(postgres_url, 2, lock_timeout=0.2) as (first, second):
        async with first.hold(["k"]):
            with pytest.raises(ExternalUnavailable):
                async with second.hold(["k"]):
                    pytest.fail("held twice")  # pragma: no cover
        with pytest.raises(RuntimeError):
            async with first.hold(["k"]):
                raise RuntimeError("inside")
        assert await _held_ids(postgres_url, "k") == []
        async with second.hold(["k"]):  # its dropped connection is replaced
            assert await _held_ids(postgres_url, "k") == [lock_id("k")]


async def test_a_waiter_cancelled_while_waiting_leaves_the_key_usable(postgres_url: str) -> None:
    async with replicas(postgres_url, 3) as (holder, cancelled, later):

        async def enter(locks: PostgresLocks) -> None:
            async with locks.hold(["z"]):
                pass

        async with holder.hold(["z"]):
            waiter = asyncio.create_task(enter(cancelled))
            await asyncio.sleep(0.3)
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
        await asyncio.wait_for(enter(later), WITHIN)
        await asyncio.wait_for(enter(cancelled), WITHIN)


async def test_the_wait_is_a_turn_wait(postgres_url: str) -> None:
    """A caller waiting for a key gives its executor slot back meanwhile (turn_wait)."""
    entered: list[str] = []

    @contextlib.asynccontextmanager
    async def slot_given_back() -> AsyncIterator[None]:
        entered.append("given back")
        yield
        entered.append("taken again")

    async with replicas(postgres_url, 1) as (locks,):
        token = turn_wait.set(slot_given_back)
        try:
            async with locks.hold(["t"]):
                assert entered == ["given back", "taken again"]
        finally:
            turn_wait.reset(token)
