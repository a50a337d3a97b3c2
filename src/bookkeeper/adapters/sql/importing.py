"""The EventImport port on SQL (P5, ADR 0032): one statement per batch.

PostgreSQL: the batch travels as one JSON array, expanded by `json_populate_recordset`
in file order (WITH ORDINALITY) and inserted with ON CONFLICT (id) DO NOTHING — one
round trip and one parse for thousands of events (the same path as replay's bulk upsert,
ADR 0008). SQLite: an executemany of the same INSERT … ON CONFLICT (id) DO NOTHING.
Another event at a (stream, version) is a ConcurrencyConflict of that stream and the
batch's transaction is rolled back: on PostgreSQL uq_events_stream_version refuses it; on
SQLite the log's guard trigger skips it silently, so a batch that inserted fewer rows than
it holds is checked for events that are not in the log afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Final

import msgspec
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import events
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.errors import ConcurrencyConflict
from bookkeeper.application.importing import event_rows
from bookkeeper.application.ports import RecordedEvent

_COLUMNS: Final = tuple(c.name for c in events.c if c.name != "position")
_NAMES: Final = ", ".join(_COLUMNS)
_POSTGRES: Final = text(
    f"INSERT INTO events ({_NAMES}) "  # noqa: S608 (the table's own column names)
    f"SELECT {', '.join('r.' + c for c in _COLUMNS)} "
    "FROM json_populate_recordset(NULL::events, CAST(:rows AS json)) WITH ORDINALITY AS r "
    "ORDER BY r.ordinality ON CONFLICT (id) DO NOTHING"
)
_SQLITE: Final = sqlite.insert(events).on_conflict_do_nothing(index_elements=["id"])
_STREAM: Final = re.compile(r"\(stream_id, version\)=\(([0-9a-f-]{36}), (\d+)\)")


class SqlEventImport:
    """Bulk append of recorded events, skipping ids the log holds."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    async def insert_missing(self, events: Sequence[RecordedEvent]) -> int:
        if not events:
            return 0
        rows = event_rows(events)
        try:
            async with self._database.engine.begin() as connection:
                if self._database.dialect == "postgresql":
                    payload = msgspec.json.encode(rows).decode()
                    result = await connection.execute(_POSTGRES, {"rows": payload})
                else:
                    result = await connection.execute(_SQLITE, rows)
                    if result.rowcount < len(rows):
                        # SQLite's guard trigger (migration 0001) skips a row whose id OR
                        # whose (stream, version) is taken, silently: an event that was
                        # skipped and is not in the log lost its slot to another.
                        await _refuse_lost_slots(connection, events)
                return int(result.rowcount)
        except ConcurrencyConflict:
            raise
        except IntegrityError as error:
            found = _STREAM.search(str(error.orig))
            if found is None:
                raise
            raise ConcurrencyConflict(uuid.UUID(found.group(1)), int(found.group(2)) - 1) from None
        except Exception as error:
            mapped = storage_error(error)
            if mapped is error:
                raise
            raise mapped from error


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
