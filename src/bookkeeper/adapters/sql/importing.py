"""The EventImport port on SQL (P5, ADR 0032): one statement per batch.

PostgreSQL: the batch is COPYed into a temporary table of the transaction and moved into
`events` by one INSERT … SELECT in file order with ON CONFLICT (id) DO NOTHING.
(`json_populate_recordset` of the batch as one JSON array, replay's bulk path, was
measured first: PostgreSQL spent ~110 µs a row expanding it, five times COPY's cost.)
SQLite: an executemany of INSERT … ON CONFLICT (id) DO NOTHING.
Another event at a (stream, version) is a ConcurrencyConflict of that stream and the
batch's transaction is rolled back: on PostgreSQL uq_events_stream_version refuses it; on
SQLite the log's guard trigger skips it silently, so a batch that inserted fewer rows than
it holds is checked for events that are not in the log afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec
import psycopg
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import events
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.errors import ConcurrencyConflict
from bookkeeper.application.importing import event_rows
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.domain.events import encode_payload

_COLUMNS: Final = tuple(c.name for c in events.c if c.name != "position")
_NAMES: Final = ", ".join(_COLUMNS)
_SQLITE: Final = sqlite.insert(events).on_conflict_do_nothing(index_elements=["id"])
_STREAM: Final = re.compile(r"\(stream_id, version\)=\(([0-9a-f-]{36}), (\d+)\)")


class SqlEventImport:
    """Bulk append of recorded events, skipping ids the log holds."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    async def insert_all(self, batches: Iterable[Sequence[RecordedEvent]]) -> int:
        postgres = self._database.dialect == "postgresql"
        inserted = 0
        try:
            async with self._database.engine.begin() as connection:
                for batch in batches:
                    if not batch:
                        continue
                    if postgres:
                        inserted += await _copy_in(connection, batch)
                        continue
                    result = await connection.execute(_SQLITE, event_rows(batch))
                    if result.rowcount < len(batch):
                        # SQLite's guard trigger (migration 0001) skips a row whose id OR
                        # whose (stream, version) is taken, silently: an event that was
                        # skipped and is not in the log lost its slot to another.
                        await _refuse_lost_slots(connection, batch)
                    inserted += int(result.rowcount)
        except ConcurrencyConflict:
            raise
        except (IntegrityError, psycopg.errors.UniqueViolation) as error:
            # From SQLAlchemy (wrapping the driver's) or, on the COPY path, psycopg's own.
            orig = error.orig if isinstance(error, IntegrityError) else error
            detail = getattr(getattr(orig, "diag", None), "message_detail", None) or str(orig)
            found = _STREAM.search(detail)
            if found is None:
                raise
            raise ConcurrencyConflict(uuid.UUID(found.group(1)), int(found.group(2)) - 1) from None
        except Exception as error:
            mapped = storage_error(error)
            if mapped is error:
                raise
            raise mapped from error
        return inserted


_STAGE_COLUMNS: Final = (
    "seq bigint, id uuid, tenant_id text, stream_id uuid, version integer, type text, "
    "schema_version smallint, status text, actor text, data jsonb, metadata jsonb, "
    "parent_id uuid, correlation_id uuid, created_at timestamptz"
)


async def _copy_in(connection: AsyncConnection, batch: Sequence[RecordedEvent]) -> int:
    """PostgreSQL: COPY the batch into a temporary table of this transaction, then one
    INSERT … SELECT in file order with ON CONFLICT (id) DO NOTHING; how many were new."""
    raw = await connection.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    encode = _JSON.encode
    async with driver.cursor() as cursor:
        await cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS import_stage ({_STAGE_COLUMNS}) ON COMMIT DROP"
        )
        async with cursor.copy(f"COPY import_stage ({_STAGE_NAMES}) FROM STDIN") as copy:
            for seq, e in enumerate(batch):
                await copy.write_row(
                    (
                        seq,
                        e.id,
                        e.tenant_id,
                        e.stream_id,
                        e.version,
                        e.type,
                        e.schema_version,
                        None if e.status is None else e.status.value,
                        e.actor,
                        encode_payload(e.data).decode(),
                        encode(e.metadata).decode(),
                        e.parent_id,
                        e.correlation_id,
                        e.created_at,
                    )
                )
        await cursor.execute(_POSTGRES_MOVE)
        moved = cursor.rowcount
        await cursor.execute("TRUNCATE import_stage")
    return moved


_JSON: Final = msgspec.json.Encoder()
_STAGE_NAMES: Final = "seq, " + _NAMES
_POSTGRES_MOVE: Final = (
    f"INSERT INTO events ({_NAMES}) SELECT {_NAMES} FROM import_stage "  # noqa: S608
    "ORDER BY seq ON CONFLICT (id) DO NOTHING"
)


async def _refuse_lost_slots(connection: AsyncConnection, batch: Sequence[RecordedEvent]) -> None:
    """ConcurrencyConflict (rolling the batch back) for the first event of the batch that
    is not in the log after the insert."""
    held: set[uuid.UUID] = set()
    ids = [event.id for event in batch]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        held.update(await connection.scalars(select(events.c.id).where(events.c.id.in_(chunk))))
    for event in batch:
        if event.id not in held:
            raise ConcurrencyConflict(event.stream_id, event.version - 1)
