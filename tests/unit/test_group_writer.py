"""GroupWriter's queue (ADR 0053) against a stand-in session whose statements wait for the
test: who writes alone, who waits, who leads the next batch, and that neither a failed
batch nor a cancelled request loses a write or the lead."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from bookkeeper.adapters.sql.group_write import GroupWriter

SINGLE: Any = object()
MANY: Any = object()


class Database:
    """The log's unique event ids and positions; each statement waits for `release`."""

    def __init__(self) -> None:
        self.written: dict[uuid.UUID, int] = {}
        self.statements: list[tuple[str, int]] = []
        self.gates: list[asyncio.Event] = []
        self.fail_batches = False

    async def _gate(self) -> None:
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()

    def _insert(self, event_id: uuid.UUID) -> int | None:
        if event_id in self.written:
            return None
        self.written[event_id] = position = len(self.written) + 1
        return position

    async def single(self, params: dict[str, Any]) -> Sequence[tuple[Any, ...]]:
        self.statements.append(("single", 1))
        await self._gate()
        position = self._insert(params["id"])
        return [] if position is None else [(position,)]

    async def many(self, params: dict[str, Any]) -> Sequence[tuple[Any, ...]]:
        rows = msgspec.json.decode(params["rows"])
        self.statements.append(("many", len(rows)))
        await self._gate()
        if self.fail_batches:
            raise RuntimeError("the batch broke a constraint")
        written = []
        for row in sorted(rows, key=lambda r: r["n"]):
            event_id = uuid.UUID(row["id"])
            position = self._insert(event_id)
            if position is not None:
                written.append((event_id, position))
        return written

    async def release_next(self) -> None:
        """Let the oldest waiting statement finish."""
        for _ in range(200):
            await asyncio.sleep(0)
            waiting = [g for g in self.gates if not g.is_set()]
            if waiting:
                waiting[0].set()
                return
        raise AssertionError("no statement is waiting")

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)


class Session:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def write_at_once(self, hot: Any, params: dict[str, Any]) -> Sequence[Any]:
        assert hot is SINGLE
        return await self.database.single(params)

    async def write_apart(self, hot: Any, params: dict[str, Any]) -> Sequence[Any]:
        assert hot is MANY
        return await self.database.many(params)


def params(event_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {"id": event_id or uuid.uuid4(), "tenant_id": "acme"}


async def _start(
    writer: GroupWriter, database: Database, items: list[dict[str, Any]]
) -> list[asyncio.Task[Sequence[Any]]]:
    tasks = []
    for item in items:
        tasks.append(asyncio.create_task(writer.write(Session(database), item)))  # type: ignore[arg-type]
        await database.settle()
    return tasks


async def _drain(database: Database, tasks: list[asyncio.Task[Sequence[Any]]]) -> None:
    while not all(task.done() for task in tasks):
        await database.release_next()
        await database.settle()


async def test_alone_while_a_place_is_free_then_the_waiters_go_in_one_batch() -> None:
    database = Database()
    writer = GroupWriter(SINGLE, MANY, leaders=1)
    items = [params() for _ in range(6)]
    tasks = await _start(writer, database, items)
    # The first writes alone at once; the other five wait for it.
    assert database.statements == [("single", 1)]
    await _drain(database, tasks)
    assert database.statements == [("single", 1), ("many", 5)]
    assert (writer.batches, writer.batched) == (1, 5)
    results = [task.result() for task in tasks]
    assert results == [[(database.written[item["id"]],)] for item in items[:1]] + [
        ((database.written[item["id"]],),) for item in items[1:]
    ]
    assert writer._in_flight == 0


async def test_two_places_two_writes_in_flight_and_the_batch_is_bounded() -> None:
    database = Database()
    writer = GroupWriter(SINGLE, MANY, leaders=2, max_batch=3)
    tasks = await _start(writer, database, [params() for _ in range(9)])
    assert database.statements == [("single", 1), ("single", 1)]
    await _drain(database, tasks)
    assert sorted(size for kind, size in database.statements if kind == "many") == [3, 3]
    assert len(database.written) == 9
    assert writer._in_flight == 0


async def test_the_same_event_twice_in_one_batch_is_written_once() -> None:
    database = Database()
    writer = GroupWriter(SINGLE, MANY, leaders=1)
    twice = uuid.uuid4()
    tasks = await _start(writer, database, [params(), params(twice), params(), params(twice)])
    await _drain(database, tasks)
    assert database.statements == [("single", 1), ("many", 3)]
    first, second = tasks[1].result(), tasks[3].result()
    assert first == ((database.written[twice],),)
    assert second == ()  # not written: the caller finds the event taken, as alone


async def test_a_failed_batch_is_written_alone_by_each() -> None:
    database = Database()
    database.fail_batches = True
    writer = GroupWriter(SINGLE, MANY, leaders=1)
    items = [params() for _ in range(5)]
    tasks = await _start(writer, database, items)
    await _drain(database, tasks)
    assert [kind for kind, _ in database.statements].count("many") == 1
    assert [task.result() for task in tasks] == [
        [(database.written[item["id"]],)] for item in items
    ]
    assert writer.batches == 0 and writer._in_flight == 0


async def test_a_cancelled_leader_finishes_its_batch_for_the_others() -> None:
    database = Database()
    writer = GroupWriter(SINGLE, MANY, leaders=1)
    items = [params() for _ in range(5)]
    tasks = await _start(writer, database, items)
    await database.release_next()  # the first, alone
    await database.settle()
    assert database.statements[-1] == ("many", 4)
    leader = tasks[1]  # the head of the queue leads the batch
    leader.cancel()
    await database.settle()
    assert not leader.done()  # it waits for the batch, which the others depend on
    await database.release_next()
    await database.settle()
    with pytest.raises(asyncio.CancelledError):
        await leader
    for task, item in zip(tasks[2:], items[2:], strict=True):
        assert task.result() == ((database.written[item["id"]],),)
    assert items[1]["id"] in database.written  # written, as a cancelled single write may be
    assert writer._in_flight == 0


async def test_a_lead_handed_to_a_cancelled_request_passes_on() -> None:
    database = Database()
    writer = GroupWriter(SINGLE, MANY, leaders=1)
    items = [params() for _ in range(4)]
    tasks = await _start(writer, database, items)
    # The write in flight returns: the lead goes to the head of the queue, which is
    # cancelled before it can take it up.
    database.gates[0].set()
    while writer._queue[0].params is items[1]:  # noqa: ASYNC110 (one loop step at a time)
        await asyncio.sleep(0)
    tasks[1].cancel()
    await database.settle()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    await _drain(database, [tasks[0], tasks[2], tasks[3]])
    assert tasks[2].result() and tasks[3].result()
    assert writer._in_flight == 0


async def test_a_request_cancelled_in_the_queue_is_left_out() -> None:
    database = Database()
    writer = GroupWriter(SINGLE, MANY, leaders=1)
    items = [params() for _ in range(4)]
    tasks = await _start(writer, database, items)
    tasks[2].cancel()
    await database.settle()
    await _drain(database, [tasks[0], tasks[1], tasks[3]])
    assert database.statements == [("single", 1), ("many", 2)]
    assert items[2]["id"] not in database.written
    assert writer._in_flight == 0
