"""Holes in the log's positions on PostgreSQL (positions are taken at insert): a hole a
running transaction will fill is waited for; one left for good — a rolled-back append, or
a duplicate whose ON CONFLICT DO NOTHING still took a position — is gone past at once,
without waiting for the gap timeout (the snapshot's horizon says no writer can fill it)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.event_store import SqlEventStore
from bookkeeper.adapters.sql.tracking import SqlTracking
from bookkeeper.application.dispatch import Dispatcher, Subscriptions
from bookkeeper.application.errors import DuplicateEvent
from bookkeeper.application.ports import RecordedEvent, UnitOfWorkFactory
from tests.integration.builders import proposed
from tests.polling import polls

pytestmark = pytest.mark.postgres


class Recorder:
    name = "recorder"
    types = frozenset({"ReceiptAttachmentProposed"})

    def __init__(self) -> None:
        self.seen: list[int] = []

    async def handle(self, event: RecordedEvent) -> None:
        self.seen.append(event.position)


async def append(factory: UnitOfWorkFactory, stream: uuid.UUID | None = None) -> uuid.UUID:
    stream = stream or uuid.uuid4()
    async with factory() as uow:
        await uow.events.append("acme", stream, 0, [proposed(stream)])
        await uow.commit()
    return stream


async def test_holes_left_for_good_are_passed_at_once_and_open_ones_waited_for(
    postgres_database: SqlDatabase,
) -> None:
    factory = postgres_database.uow_factory()
    dispatcher = Dispatcher()
    recorder = Recorder()
    dispatcher.subscribe(recorder, in_order=True)
    # A gap timeout far beyond the test: only the horizon can settle a hole here.
    subscriptions = Subscriptions(factory, dispatcher, gap_timeout=3600)

    first = await append(factory)
    with pytest.raises(DuplicateEvent):
        await append(factory, first)  # ON CONFLICT DO NOTHING: a position taken, no row
    async with factory() as uow:  # rolled back: another position taken for nothing
        stream = uuid.uuid4()
        await uow.events.append("acme", stream, 0, [proposed(stream)])
    await append(factory)
    for _ in polls():  # another database's writer on a shared server may hold xmin
        await subscriptions.catch_up_one(recorder)
        if len(recorder.seen) == 2:
            break
        await asyncio.sleep(0.1)
    async with factory() as uow:
        positions = [e.position for e in await uow.events.read_all()]
    assert recorder.seen == positions and len(positions) == 2
    assert positions[1] - positions[0] == 3  # two holes, both passed without waiting

    slow_stream = uuid.uuid4()
    async with factory() as slow:
        await slow.events.append("acme", slow_stream, 0, [proposed(slow_stream)])
        await append(factory)  # committed after a lower position still open
        await subscriptions.catch_up_one(recorder)
        assert len(recorder.seen) == 2  # waits for the open one
        assert subscriptions.waiting_for_hole(recorder.name)
        await slow.commit()
    await subscriptions.catch_up_one(recorder)
    async with factory() as uow:
        positions = [e.position for e in await uow.events.read_all()]
    assert recorder.seen == positions and len(positions) == 4


async def test_a_hole_taken_after_the_horizon_was_read_is_waited_for(
    postgres_database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The horizon was read in one statement and the page in the next (READ COMMITTED: two
    snapshots). A writer that began between them and took a position below one committed
    before the page was read had an xid above the horizon: the hole counted as settled as
    soon as the older writers ended, while it was still open — and its events were never
    handed to the subscriber (the bus-publisher left whole batches of one replica's entries
    out of the published ledger; found by the probe2 helper)."""
    factory = postgres_database.uow_factory()
    dispatcher = Dispatcher()
    recorder = Recorder()
    dispatcher.subscribe(recorder, in_order=True)
    subscriptions = Subscriptions(factory, dispatcher, gap_timeout=3600)
    await append(factory)
    await subscriptions.catch_up_one(recorder)
    assert len(recorder.seen) == 1

    slow = factory()
    slow_stream = uuid.uuid4()
    original = SqlTracking.horizon
    hooked = True

    async def horizon_then_writers(self: SqlTracking) -> tuple[int, int] | None:
        nonlocal hooked
        found = await original(self)
        if hooked:  # between the horizon and the page: a slow writer, then a fast one
            hooked = False
            await slow.__aenter__()
            await slow.events.append("acme", slow_stream, 0, [proposed(slow_stream)])
            await append(factory)
        return found

    monkeypatch.setattr(SqlTracking, "horizon", horizon_then_writers)
    try:
        for _ in range(5):
            await subscriptions.catch_up_one(recorder)
            assert len(recorder.seen) == 1, "went past a position a running writer holds"
            await asyncio.sleep(0.2)
        assert subscriptions.waiting_for_hole(recorder.name)
        await slow.commit()
    finally:
        await slow.__aexit__(None, None, None)
    await subscriptions.catch_up_one(recorder)
    async with factory() as uow:
        positions = [e.position for e in await uow.events.read_all()]
    assert recorder.seen == positions and len(positions) == 3


async def test_a_hole_filled_just_after_the_page_was_read_is_not_gone_past(
    postgres_database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer holding the hole commits right after a page that still missed it was
    read: its position is in the log now, so the hole must not count as settled by a
    horizon read after that page (the next page has it)."""
    factory = postgres_database.uow_factory()
    dispatcher = Dispatcher()
    recorder = Recorder()
    dispatcher.subscribe(recorder, in_order=True)
    subscriptions = Subscriptions(factory, dispatcher, gap_timeout=3600)
    slow = factory()
    slow_stream = uuid.uuid4()
    await slow.__aenter__()
    try:
        await slow.events.append("acme", slow_stream, 0, [proposed(slow_stream)])
        await append(factory)
        await subscriptions.catch_up_one(recorder)
        assert recorder.seen == [] and subscriptions.waiting_for_hole(recorder.name)
        original = SqlEventStore.read_all
        hooked = True

        async def read_then_commit(self: SqlEventStore, **kw: Any) -> list[RecordedEvent]:
            nonlocal hooked
            found = await original(self, **kw)
            if hooked:
                hooked = False
                await slow.commit()
            return found

        monkeypatch.setattr(SqlEventStore, "read_all", read_then_commit)
        await subscriptions.catch_up_one(recorder)
    finally:
        await slow.__aexit__(None, None, None)
    await subscriptions.catch_up_one(recorder)
    async with factory() as uow:
        positions = [e.position for e in await uow.events.read_all()]
    assert recorder.seen == positions and len(positions) == 2
