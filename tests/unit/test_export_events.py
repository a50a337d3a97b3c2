"""export_events over the in-memory log: lines `import events` parses back to the same
events, in position order, a page a chunk, one tenant or all, from one snapshot."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from bookkeeper.adapters.memory import MemoryDatabase, MemoryEventExport, MemoryUnitOfWorkFactory
from bookkeeper.application.event_log import stamp
from bookkeeper.application.exporting import export_events
from bookkeeper.application.importing import parse_line
from bookkeeper.domain.events import BalanceQueriedData

AT = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


async def append(factory: MemoryUnitOfWorkFactory, tenant: str, n: int) -> None:
    for i in range(n):
        event = stamp(
            "BalanceQueried",
            BalanceQueriedData(accounts=(), as_of=dt.date(2026, 12, i + 1)),
            event_id=uuid.uuid4(),
            actor="human:ola",
            at=AT,
            correlation_id=uuid.uuid4(),
        )
        async with factory() as uow:
            await uow.events.append(tenant, uuid.uuid4(), 0, [event])
            await uow.commit()


async def test_lines_parse_back_to_the_log_a_page_a_chunk() -> None:
    db = MemoryDatabase()
    factory = MemoryUnitOfWorkFactory(db)
    await append(factory, "acme", 5)
    await append(factory, "globex", 2)
    await append(factory, "acme", 2)
    done: list[int] = []
    chunks = [c async for c in export_events(MemoryEventExport(db), None, done.append, page=3)]
    assert [c.count(b"\n") for c in chunks] == [3, 3, 3]
    assert done == [3, 6, 9]
    parsed = [parse_line(1, line) for c in chunks for line in c.splitlines()]
    assert parsed == [msgspec.structs.replace(e, position=0) for e in db.log]

    acme = [c async for c in export_events(MemoryEventExport(db), "acme", page=10)]
    assert len(acme) == 1
    assert {parse_line(1, line).tenant_id for line in acme[0].splitlines()} == {"acme"}
    assert acme[0].count(b"\n") == 7


async def test_an_event_appended_during_the_export_is_not_in_it() -> None:
    db = MemoryDatabase()
    factory = MemoryUnitOfWorkFactory(db)
    await append(factory, "acme", 4)
    chunks = export_events(MemoryEventExport(db), None, page=2)
    first = await anext(chunks)
    await append(factory, "acme", 1)
    rest = [c async for c in chunks]
    assert (first + b"".join(rest)).count(b"\n") == 4
    assert b"".join([c async for c in export_events(MemoryEventExport(db))]).count(b"\n") == 5


async def test_an_empty_log_is_an_empty_file() -> None:
    assert [c async for c in export_events(MemoryEventExport(MemoryDatabase()))] == []
