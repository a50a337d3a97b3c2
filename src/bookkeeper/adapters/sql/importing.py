"""The EventImport port on SQL (P5, ADR 0032): one statement per batch.

PostgreSQL: the batch is COPYed into a temporary table of the transaction and moved into
`events` by one INSERT … SELECT in file order with ON CONFLICT (id) DO NOTHING.
(`json_populate_recordset` of the batch as one JSON array, replay's bulk path, was
measured first: PostgreSQL spent ~110 µs a row expanding it, five times COPY's cost.)
ADR 0039: the COPY data is formatted here as text lines (psycopg's `write_row` adapted
14 values a row, a third of the client's time), and while PostgreSQL moves one batch
into `events` (its indexes are most of the server's work) the next batch is read and
checked: the two sides work at once instead of in turn.
SQLite: an executemany of INSERT … ON CONFLICT (id) DO NOTHING.
After each batch, one query finds its first event at a version v > 1 whose stream holds no
v − 1 of the same tenant (StreamGap): the log was whole before, so every stream the batch
touched is whole after (PostgreSQL: the staged rows against `events`; SQLite: the batch's
(stream, version, tenant) as one JSON array). Each is an index probe of
uq_events_stream_version. Before it, the batch's parent ids are looked up: a parent neither
in the log nor earlier in the file is UnknownParent (the foreign key would refuse the
batch without naming the line).
Another event at a (stream, version) is a ConcurrencyConflict of that stream and the
batch's transaction is rolled back: on PostgreSQL uq_events_stream_version refuses it; on
SQLite the log's guard trigger skips it silently, so a batch that inserted fewer rows than
it holds is checked for events that are not in the log afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec
import psycopg
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import events
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.errors import ApplicationError, ConcurrencyConflict
from bookkeeper.application.importing import (
    StoredEvent,
    StreamGap,
    event_rows,
    refuse_differing,
    refuse_unknown_parents,
)
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
        try:
            async with self._database.engine.begin() as connection:
                return await self.insert_on(connection, batches)
        except ApplicationError:
            raise
        except Exception as error:
            mapped = storage_error(error)
            if mapped is error:
                raise
            raise mapped from error

    async def insert_on(
        self, connection: AsyncConnection, batches: Iterable[Sequence[RecordedEvent]]
    ) -> int:
        """`insert_all` inside a transaction the caller holds (`bookkeeper import
        database` writes the rows beside the log in the same one); the caller commits."""
        postgres = self._database.dialect == "postgresql"
        inserted = 0
        try:
            if postgres:
                return await _copy_all(connection, batches)
            for batch in batches:
                if not batch:
                    continue
                await _refuse_orphans(connection, batch)
                result = await connection.execute(_SQLITE, event_rows(batch))
                if result.rowcount < len(batch):
                    # SQLite's guard trigger (migration 0001) skips a row whose id OR
                    # whose (stream, version) is taken, silently: an event that was
                    # skipped and is not in the log lost its slot to another; one that
                    # is there must be the same event.
                    await _refuse_lost_slots(connection, batch)
                await _refuse_gaps(connection, batch)
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
        except ApplicationError:
            raise  # a bad line, read while a batch was being moved
        except Exception as error:
            mapped = storage_error(error)
            if mapped is error:
                raise
            raise mapped from error
        return inserted


async def _copy_all(connection: AsyncConnection, batches: Iterable[Sequence[RecordedEvent]]) -> int:
    """PostgreSQL: each batch COPYed into a temporary table of this transaction, then
    moved into `events` by one INSERT … SELECT in file order with ON CONFLICT (id) DO
    NOTHING, while the next batch is read (the iterator parses and checks the file); how
    many events were new. An error of the move (an earlier line) wins over one of the
    reading (a later line)."""
    raw = await connection.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    inserted = 0
    async with driver.cursor() as cursor:
        await cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS import_stage ({_STAGE_COLUMNS}) ON COMMIT DROP"
        )
        moving: asyncio.Task[int] | None = None
        iterator = iter(batches)
        try:
            while True:
                try:
                    batch = next(iterator, None)  # read while the server moves the last one
                except BaseException:
                    if moving is not None:
                        await moving  # its error (an earlier line) first
                    raise
                if moving is not None:
                    inserted += await moving
                    moving = None
                if batch is None:
                    return inserted
                if not batch:
                    continue
                async with cursor.copy(f"COPY import_stage ({_STAGE_NAMES}) FROM STDIN") as copy:
                    await copy.write(_copy_text(batch))
                moving = asyncio.ensure_future(_move(cursor, batch))
                await asyncio.sleep(0)  # the move is sent before the next batch is read
        finally:
            if moving is not None and not moving.done():
                moving.cancel()
                with contextlib.suppress(BaseException):
                    await moving


async def _move(cursor: psycopg.AsyncCursor[Any], batch: Sequence[RecordedEvent]) -> int:
    """The staged batch into `events`; how many rows were new. The stage is emptied. When
    some were skipped (their id known), KnownIdDiffers for one the log holds as another
    event."""
    parents = list({e.parent_id for e in batch if e.parent_id is not None})
    if parents:
        await cursor.execute("SELECT id FROM events WHERE id = ANY(%s)", (parents,))
        refuse_unknown_parents(batch, {row[0] for row in await cursor.fetchall()})
    await cursor.execute(_POSTGRES_MOVE)
    moved = cursor.rowcount
    await cursor.execute(_POSTGRES_GAP)
    gap = await cursor.fetchone()
    if gap is not None:
        raise StreamGap(gap[0], int(gap[1]), gap[2])
    await cursor.execute("TRUNCATE import_stage")
    if moved < len(batch):
        await cursor.execute(_STORED_BY_ID, ([event.id for event in batch],))
        refuse_differing(batch, {row[0]: tuple(row[1:]) for row in await cursor.fetchall()})
    return moved


#: COPY's text format: backslash, tab, newline and carriage return escaped in a value.
_NULL: Final = "\\N"


def _text(value: str) -> str:
    """A value in COPY's text format (most need no escape: four scans at C speed)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _copy_text(batch: Sequence[RecordedEvent]) -> bytes:
    """The batch as COPY text lines of import_stage (seq, then the event's columns)."""
    encode = _JSON.encode
    lines = []
    for seq, e in enumerate(batch):
        lines.append(
            "\t".join(
                (
                    str(seq),
                    e.id.hex,
                    _text(e.tenant_id),
                    e.stream_id.hex,
                    str(e.version),
                    _text(e.type),
                    str(e.schema_version),
                    _NULL if e.status is None else _text(e.status.value),
                    _text(e.actor),
                    _text(encode_payload(e.data).decode()),
                    _text(encode(e.metadata).decode()),
                    _NULL if e.parent_id is None else e.parent_id.hex,
                    e.correlation_id.hex,
                    e.created_at.isoformat(),
                )
            )
        )
    lines.append("")
    return "\n".join(lines).encode()


_STAGE_COLUMNS: Final = (
    "seq bigint, id uuid, tenant_id text, stream_id uuid, version integer, type text, "
    "schema_version smallint, status text, actor text, data jsonb, metadata jsonb, "
    "parent_id uuid, correlation_id uuid, created_at timestamptz"
)


_JSON: Final = msgspec.json.Encoder()
_STAGE_NAMES: Final = "seq, " + _NAMES
_POSTGRES_MOVE: Final = (
    f"INSERT INTO events ({_NAMES}) SELECT {_NAMES} FROM import_stage "  # noqa: S608
    "ORDER BY seq ON CONFLICT (id) DO NOTHING"
)

#: The batch's first event (in file order) at a version > 1 whose stream has no
#: version − 1 once the batch is in.
_POSTGRES_GAP: Final = (
    "SELECT s.stream_id, s.version, s.tenant_id FROM import_stage s "
    "WHERE s.version > 1 AND NOT EXISTS "
    "(SELECT 1 FROM events e WHERE e.stream_id = s.stream_id AND e.version = s.version - 1 "
    "AND e.tenant_id = s.tenant_id) ORDER BY s.seq LIMIT 1"
)
_SQLITE_GAP: Final = text(
    "SELECT j.key FROM json_each(:pairs) j "
    "WHERE json_extract(j.value, '$[1]') > 1 AND NOT EXISTS (SELECT 1 FROM events e "
    "WHERE e.stream_id = json_extract(j.value, '$[0]') "
    "AND e.version = json_extract(j.value, '$[1]') - 1 "
    "AND e.tenant_id = json_extract(j.value, '$[2]')) "
    "ORDER BY j.key LIMIT 1"
)


async def _refuse_orphans(connection: AsyncConnection, batch: Sequence[RecordedEvent]) -> None:
    """SQLite: UnknownParent for the batch's first event whose parent is neither in the
    log nor earlier in the batch (before the insert: the foreign key names no line)."""
    parents = list({e.parent_id for e in batch if e.parent_id is not None})
    held: set[uuid.UUID] = set()
    for start in range(0, len(parents), 500):
        chunk = parents[start : start + 500]
        rows = await connection.execute(select(events.c.id).where(events.c.id.in_(chunk)))
        held.update(row[0] for row in rows)
    refuse_unknown_parents(batch, held)


async def _refuse_gaps(connection: AsyncConnection, batch: Sequence[RecordedEvent]) -> None:
    """SQLite: StreamGap for the batch's first event whose stream lacks the version before
    it, of its tenant (streams are stored as 32 hex digits)."""
    pairs = _JSON.encode(
        [(event.stream_id.hex, event.version, event.tenant_id) for event in batch]
    ).decode()
    index = (await connection.execute(_SQLITE_GAP, {"pairs": pairs})).scalar()
    if index is not None:
        event = batch[int(index)]
        raise StreamGap(event.stream_id, event.version, event.tenant_id)


_STORED_BY_ID: Final = (
    "SELECT id, tenant_id, stream_id, version, type, schema_version, actor, correlation_id, "
    "data FROM events WHERE id = ANY(%s)"
)
_STORED: Final = (
    events.c.tenant_id,
    events.c.stream_id,
    events.c.version,
    events.c.type,
    events.c.schema_version,
    events.c.actor,
    events.c.correlation_id,
    events.c.data,
)


async def _refuse_lost_slots(connection: AsyncConnection, batch: Sequence[RecordedEvent]) -> None:
    """ConcurrencyConflict (rolling the batch back) for the first event of the batch that
    is not in the log after the insert; KnownIdDiffers for one the log holds as another."""
    held: dict[uuid.UUID, StoredEvent] = {}
    ids = [event.id for event in batch]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await connection.execute(select(events.c.id, *_STORED).where(events.c.id.in_(chunk)))
        held.update((row[0], tuple(row[1:])) for row in rows)
    for event in batch:
        if event.id not in held:
            raise ConcurrencyConflict(event.stream_id, event.version - 1)
    refuse_differing(batch, held)
