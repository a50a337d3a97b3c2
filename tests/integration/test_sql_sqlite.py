"""SQLite specifics: the log refuses tampering, connections get their pragmas, and units of
work take turns so that concurrent writers never hit "database is locked".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.errors import ConcurrencyConflict
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import NewEvent, Principal
from bookkeeper.domain.events import ApprovedData, ReceiptAttachmentData, Status
from tests.integration.builders import NOW, proposed


def approved(parent: uuid.UUID) -> NewEvent:
    return NewEvent(
        id=uuid.uuid4(),
        type="ReceiptAttachmentApproved",
        schema_version=1,
        status=Status.APPROVED,
        actor="human:kari",
        data=ApprovedData(),
        metadata={},
        parent_id=parent,
        correlation_id=parent,
        created_at=NOW,
    )


async def store(database: SqlDatabase, event: NewEvent) -> None:
    async with database.uow_factory()() as uow:
        await uow.events.append("acme", event.id, 0, [event])
        await uow.commit()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET actor = 'human:mallory'",
        "UPDATE events SET data = json_set(data, '$.amount', '1.00')",
        "DELETE FROM events",
    ],
)
async def test_direct_sql_cannot_change_the_log(
    sqlite_database: SqlDatabase, sqlite_path: Path, statement: str
) -> None:
    event = proposed(uuid.uuid4())
    await store(sqlite_database, event)
    connection = sqlite3.connect(sqlite_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute(statement)
        rows = connection.execute("SELECT actor, json_extract(data, '$.amount') FROM events")
        assert rows.fetchall() == [("book-e", "199.00")]
    finally:
        connection.close()


async def test_insert_or_replace_cannot_overwrite_an_event(
    sqlite_database: SqlDatabase, sqlite_path: Path
) -> None:
    event = proposed(uuid.uuid4())
    await store(sqlite_database, event)
    connection = sqlite3.connect(sqlite_path)
    try:
        # REPLACE deletes the old row without firing DELETE triggers; the insert trigger
        # drops such a row instead. Same id, same (stream, version), same position.
        for statement in (
            "INSERT OR REPLACE INTO events SELECT position + 100, id, tenant_id, stream_id, "
            "version, type, schema_version, status, 'human:mallory', data, metadata, parent_id, "
            "correlation_id, created_at FROM events",
            "REPLACE INTO events SELECT position, lower(hex(randomblob(16))), tenant_id, "
            "stream_id, version + 1, type, schema_version, status, 'human:mallory', data, "
            "metadata, parent_id, correlation_id, created_at FROM events",
        ):
            connection.execute(statement)
            connection.commit()
        rows = connection.execute("SELECT position, actor FROM events").fetchall()
        assert rows == [(1, "book-e")]
    finally:
        connection.close()


async def test_every_connection_gets_wal_busy_timeout_and_foreign_keys(
    sqlite_database: SqlDatabase,
) -> None:
    async with sqlite_database.engine.connect() as connection:
        pragmas = [
            (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
            for name in ("journal_mode", "busy_timeout", "foreign_keys")
        ]
    assert pragmas == ["wal", 5000, 1]


async def test_a_unit_of_work_opened_inside_another_fails_fast(
    sqlite_database: SqlDatabase,
) -> None:
    factory = sqlite_database.uow_factory()
    async with factory():
        with pytest.raises(RuntimeError, match="inside another"):
            async with factory():
                pass
    async with factory() as uow:  # and the turn was given back
        assert await uow.events.read_all() == []


async def test_two_adapters_on_one_file_arbitrate_through_sqlite_locks(sqlite_url: str) -> None:
    # Two SqlDatabase objects do not share the asyncio turn: as two processes would, they
    # meet in SQLite's own write lock (BEGIN IMMEDIATE waiting up to busy_timeout).
    first = SqlDatabase(sqlite_url, pool_size=5, max_overflow=0)
    second = SqlDatabase(sqlite_url, pool_size=5, max_overflow=0)
    stream = uuid.uuid4()
    try:
        await store(first, proposed(stream))

        async def decide(database: SqlDatabase) -> str:
            async with database.uow_factory()() as uow:
                seen = await uow.events.read_stream("acme", stream)
                try:
                    await uow.events.append("acme", stream, len(seen), [approved(stream)])
                except ConcurrencyConflict:
                    return "conflict"
                await uow.commit()
            return "won" if len(seen) == 1 else "late"

        outcomes = await asyncio.gather(*(decide(db) for db in [first, second] * 10))
        assert Counter(outcomes)["won"] == 1
        assert set(outcomes) <= {"won", "late", "conflict"}
        async with first.uow_factory()() as uow:
            versions = [e.version for e in await uow.events.read_stream("acme", stream)]
        assert versions == list(range(1, len(versions) + 1))
    finally:
        await first.dispose()
        await second.dispose()


async def test_concurrent_proposals_all_go_through(sqlite_database: SqlDatabase) -> None:
    # Each handler reads (patterns, duplicates) before it writes: a deferred SQLite
    # transaction would fail its upgrade to a writer whenever another committed between.
    handlers = Handlers(sqlite_database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    agent = Principal(subject="book-e", tenant_id="acme", roles=frozenset({"agent"}))
    results = await asyncio.gather(
        *(
            handlers.submit(
                SubmitEvent(
                    principal=agent,
                    type="ReceiptAttachmentProposed",
                    data=ReceiptAttachmentData(
                        merchant_name=f"Merchant {index}",
                        amount=Decimal(100 + index),
                        date=dt.date(2026, 11, 20),
                        vat_rate=Decimal("25"),
                        account_code="6540",
                    ),
                )
            )
            for index in range(30)
        )
    )
    assert len({r.event_id for r in results}) == 30
    async with sqlite_database.engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM proposals"))).scalar_one()
    assert count == 30
