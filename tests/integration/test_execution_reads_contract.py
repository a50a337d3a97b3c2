"""The executor's batched reads, held alike by the memory and both SQL adapters:
`EventStore.read_streams` and `DocumentStore.read`/`read_many` (tenant-scoped, size-capped).
And, on PostgreSQL, that a read-only unit of work keeps the connection's prepared
statements (it ends with COMMIT: psycopg follows a ROLLBACK with DEALLOCATE ALL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.ports import NewEvent, UnitOfWorkFactory
from bookkeeper.domain.events import AlertRaisedData, event_type

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
SMALL = b"%PDF-1.7\n" + bytes(range(256))
LARGE = b"%PDF-1.7\n" + bytes(range(256)) * 20


def alert(stream: uuid.UUID, n: int) -> NewEvent:
    etype = event_type("AlertRaised")
    return NewEvent(
        id=uuid.uuid4(),
        type=etype.name,
        schema_version=etype.schema_version,
        status=etype.status,
        actor="system:test",
        data=AlertRaisedData(severity="info", code=f"c{n}", message=f"m{n}"),
        metadata={},
        parent_id=None,
        correlation_id=stream,
        created_at=NOW,
    )


async def test_read_streams_reads_each_tenants_streams(uow_factory: UnitOfWorkFactory) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with uow_factory() as uow:
        await uow.events.append("acme", a, 0, [alert(a, 1), alert(a, 2)])
        await uow.events.append("globex", b, 0, [alert(b, 3)])
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.events.read_streams([("acme", a), ("acme", b), ("globex", c)])
        single = await uow.events.read_stream("acme", a)
        assert await uow.events.read_streams([]) == {}
    assert set(found) == {a, b, c}
    assert found[a] == single and [e.version for e in found[a]] == [1, 2]
    assert found[b] == []  # another tenant's stream is not read
    assert found[c] == []


async def test_documents_are_read_with_their_bytes_up_to_a_size(
    uow_factory: UnitOfWorkFactory,
) -> None:
    small, large = hashlib.sha256(SMALL).hexdigest(), hashlib.sha256(LARGE).hexdigest()
    async with uow_factory() as uow:
        stored, _ = await uow.documents.put("acme", SMALL, "application/pdf", "s.pdf", NOW)
        await uow.documents.put("acme", LARGE, "application/pdf", "l.pdf", NOW)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.documents.read("acme", small) == (stored, SMALL)
        assert await uow.documents.read("acme", large, max_size=len(SMALL)) is None
        assert await uow.documents.read("globex", small) is None
        found = await uow.documents.read_many(
            [("acme", small), ("acme", large), ("globex", small), ("acme", small)],
            max_size=len(SMALL),
        )
        assert await uow.documents.read_many([], max_size=1) == {}
    assert found == {("acme", small): (stored, SMALL)}


@pytest.mark.postgres
async def test_a_read_only_unit_keeps_the_prepared_statements(postgres_url: str) -> None:
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    stream = uuid.uuid4()
    sent: list[bytes] = []
    try:
        async with database.uow_factory()() as uow:
            await uow.events.append("acme", stream, 0, [alert(stream, 1)])
            await uow.commit()
        for _ in range(8):  # past psycopg's prepare threshold (5)
            async with database.uow_factory()() as uow:
                await uow.events.read_stream("acme", stream)
        async with database.engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            prepared = await (
                await driver.execute("SELECT count(*) FROM pg_prepared_statements")
            ).fetchone()
            await driver.commit()  # a rollback would deallocate them (what this is about)
        assert prepared is not None and prepared[0] >= 1
        exec_command = psycopg.AsyncConnection._exec_command

        def spy(self: Any, command: bytes, *args: Any, **kwargs: Any) -> Any:
            sent.append(command)
            return exec_command(self, command, *args, **kwargs)

        psycopg.AsyncConnection._exec_command = spy  # type: ignore[method-assign]
        try:
            async with database.uow_factory()() as uow:
                # A standalone read (ADR 0041) runs before any transaction: nothing to end.
                await uow.events.read_stream("acme", stream)
            async with database.uow_factory()() as uow:
                await uow.events.read_all(limit=1)  # in a transaction, ended by COMMIT
            async with database.uow_factory()() as uow:  # a unit that wrote is rolled back
                await uow.events.append("acme", stream, 1, [alert(stream, 2)])
        finally:
            psycopg.AsyncConnection._exec_command = exec_command  # type: ignore[method-assign]
    finally:
        await database.dispose()
    assert sent[:2] == [b"BEGIN", b"COMMIT"]
    assert b"ROLLBACK" in sent[2:] and b"DEALLOCATE ALL" in sent[2:]
