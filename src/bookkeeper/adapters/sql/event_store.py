"""The SQL event store: the append-only `events` table, in the unit of work's transaction.

Semantics are those of `bookkeeper.adapters.memory` (the contract tests hold both to them);
the differences are only in how they are reached:

* Appends never take a table lock. `INSERT … ON CONFLICT DO NOTHING RETURNING position`
  lets the unique indexes on `id` and `(stream_id, version)` arbitrate concurrent writers:
  a conflicting row is simply not inserted (PostgreSQL first waits for the other writer's
  transaction), no error aborts the transaction, and a follow-up lookup of the event id tells
  a retried event (DuplicateEvent) from a stale expected version (ConcurrencyConflict).
* An append with expected_version > 0 inserts only if the stream's event at exactly that
  version exists for the tenant (`INSERT … SELECT … WHERE EXISTS`, still one round trip),
  so a too-high expected version cannot leave a gap.
* A unit of work appends to one stream, so no deadlock or serialization failure arises.
* An append that failed half-way makes the transaction rollback-only.

The store keeps what it appended (`appended`) for its unit of work, which hands the events
it committed over after commit (see unit_of_work).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Final

import msgspec
from sqlalchemy import Text, any_, bindparam, cast, exists, select, text, tuple_, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement, TextClause
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.schema import events
from bookkeeper.adapters.sql.session import (
    STATUS,
    AnyRow,
    Hot,
    Transaction,
    aware,
    hot_dialect,
    utc,
)
from bookkeeper.application.errors import ApplicationError, ConcurrencyConflict, DuplicateEvent
from bookkeeper.application.ports import EventFilter, NewEvent, RecordedEvent, append_each
from bookkeeper.domain.events import decode_payload, encode_payload


class EventStatements:
    """The event store's fixed statements, built once per dialect so their compiled forms
    stay cached."""

    def __init__(self, dialect: str) -> None:
        compile_for = hot_dialect(dialect)

        def hot(
            statement: Executable,
            *,
            standalone: bool = False,
            binary: Iterable[str] = (),
            keep_cursor: bool = False,
        ) -> Hot:
            return Hot(
                statement,
                compile_for,
                standalone=standalone,
                binary=binary,
                keep_cursor=keep_cursor,
            )

        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        e = events
        # Payloads are read as JSON text and decoded straight into their Struct by msgspec;
        # on PostgreSQL the cast also skips psycopg's generic jsonb → dict parsing.
        data_text = cast(e.c.data, Text) if dialect == "postgresql" else type_coerce(e.c.data, Text)
        self.columns = (
            e.c.position,
            e.c.id,
            e.c.tenant_id,
            e.c.stream_id,
            e.c.version,
            e.c.type,
            e.c.schema_version,
            e.c.status,
            e.c.actor,
            data_text,
            e.c["metadata"],
            e.c.parent_id,
            e.c.correlation_id,
            e.c.created_at,
        )
        insert_columns = [c for c in e.c if c.name != "position"]
        # Explicit columns: the identity `position` must never be sent, not even as NULL.
        row = {c.name: bindparam(c.name, type_=c.type) for c in insert_columns}

        # The appends and the id and event lookups return one row (or none): each pooled
        # connection keeps their cursors (session.Hot.keep_cursor).
        self.append = hot(
            insert(e).values(row).on_conflict_do_nothing().returning(e.c.position),
            keep_cursor=True,
        )
        previous = e.alias("previous")
        self.append_after = hot(
            insert(e)
            .from_select(
                [c.name for c in insert_columns],
                select(*(bindparam(c.name, type_=c.type) for c in insert_columns)).where(
                    exists().where(
                        previous.c.stream_id == bindparam("stream_id"),
                        previous.c.version == bindparam("expected_version"),
                        previous.c.tenant_id == bindparam("tenant_id"),
                    )
                ),
            )
            .on_conflict_do_nothing()
            .returning(e.c.position),
            keep_cursor=True,
        )
        # Many streams' first events in one statement (append_first). PostgreSQL: one
        # INSERT … SELECT FROM unnest (`_unnest_insert`). SQLite: an executemany that
        # SQLAlchemy sends as multi-row INSERT … VALUES (insertmanyvalues).
        self.append_first: Hot | None = None
        self.append_first_many: Executable | None = None
        if dialect == "postgresql":
            self.append_first = hot(
                _unnest_insert(
                    _FIRST_ARRAYS,
                    version="1",
                    # An id already in the log (a redelivery, the common duplicate) never
                    # reaches the insert, so it takes no position: ON CONFLICT would skip
                    # it only after its position was drawn, a hole the bus-publisher
                    # must wait out (ADR 0030). Only a race between replicas still does.
                    where="NOT EXISTS (SELECT 1 FROM events taken WHERE taken.id = b.id)",
                ),
                # The arrays in binary (see Hot.binary).
                binary=[name for name, _ in _FIRST_ARRAYS],
            )
        else:
            self.append_first_many = (
                insert(e)
                .values({c.name: bindparam(c.name, type_=c.type) for c in insert_columns})
                .on_conflict_do_nothing()
                .returning(e.c.id, e.c.position)
            )
        # One event on each of many streams at their expected versions (append_many,
        # issue 14): append_after's existence check per row, one statement (PostgreSQL).
        self.append_many: Hot | None = None
        if dialect == "postgresql":
            self.append_many = hot(
                _unnest_insert(
                    _MANY_ARRAYS,
                    version="b.expected + 1",
                    where=(
                        "(b.expected = 0 OR EXISTS (SELECT 1 FROM events p "
                        "WHERE p.stream_id = b.stream_id AND p.version = b.expected "
                        "AND p.tenant_id = b.tenant_id)) "
                        # As append_first: an id or a version already in the log takes no
                        # position (ON CONFLICT would skip it after drawing one, ADR 0030).
                        "AND NOT EXISTS (SELECT 1 FROM events taken WHERE taken.id = b.id "
                        "OR (taken.stream_id = b.stream_id AND taken.version = b.expected + 1))"
                    ),
                ),
                binary=[name for name, _ in _MANY_ARRAYS],
            )
        # Plain reads of committed rows: they may run before the unit's transaction opens
        # (ADR 0041; the decide path reads its stream, a refused append its id).
        self.id_exists = hot(
            select(e.c.id).where(e.c.id == bindparam("id")), standalone=True, keep_cursor=True
        )
        self.stream_head = (
            select(e.c.tenant_id, e.c.version)
            .where(e.c.stream_id == bindparam("stream_id"))
            .order_by(e.c.version.desc())
            .limit(1)
        )
        self.read_stream = hot(
            select(*self.columns)
            .where(e.c.stream_id == bindparam("stream_id"), e.c.tenant_id == bindparam("tenant_id"))
            .order_by(e.c.version),
            standalone=True,
        )
        # Many streams in one read (PostgreSQL; SQLite reads them one by one): the tenant of
        # each is checked on the rows.
        self.read_streams = (
            hot(
                select(*self.columns)
                .where(
                    e.c.stream_id
                    == any_(cast(bindparam("stream_ids"), postgresql.ARRAY(e.c.stream_id.type)))
                )
                .order_by(e.c.stream_id, e.c.version)
            )
            if dialect == "postgresql"
            else None
        )
        self.get = hot(
            select(*self.columns).where(
                e.c.id == bindparam("id"), e.c.tenant_id == bindparam("tenant_id")
            ),
            standalone=True,
            keep_cursor=True,
        )
        self.read_all = hot(
            select(*self.columns)
            .where(e.c.position > bindparam("after"))
            .order_by(e.c.position)
            .limit(bindparam("limit"))
        )
        # Replay's read: keyset pages of the unique (stream_id, version) index.
        by_stream = (
            select(*self.columns).order_by(e.c.stream_id, e.c.version).limit(bindparam("limit"))
        )
        self.read_by_stream_first = hot(by_stream)
        self.read_by_stream = hot(
            by_stream.where(
                tuple_(e.c.stream_id, e.c.version)
                > tuple_(
                    bindparam("after_stream", type_=e.c.stream_id.type),
                    bindparam("after_version", type_=e.c.version.type),
                )
            )
        )


#: append_first's columns on PostgreSQL, each sent as one array of the batch's values
#: (JSON as text, cast to jsonb in the statement; the version is always 1).
_FIRST_ARRAYS: Final = (
    ("id", "uuid"),
    ("tenant_id", "text"),
    ("stream_id", "uuid"),
    ("type", "text"),
    ("schema_version", "smallint"),
    ("status", "text"),
    ("actor", "text"),
    ("data", "text"),
    ("metadata", "text"),
    ("parent_id", "uuid"),
    ("correlation_id", "uuid"),
    ("created_at", "timestamptz"),
)
#: append_many's: append_first's and each stream's expected version.
_MANY_ARRAYS: Final = (*_FIRST_ARRAYS, ("expected", "int4"))
_JSON: Final = msgspec.json.Encoder()


def _unnest_insert(arrays: Sequence[tuple[str, str]], *, version: str, where: str) -> TextClause:
    """A multi-row append on PostgreSQL: INSERT … SELECT FROM unnest(<one array per column>)
    of the batch `b`, in the given order, at `version`, of the rows `where` admits: a fixed
    text psycopg prepares once, whatever the batch's size."""
    names = ", ".join(name for name, _ in arrays)
    casts = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in arrays)
    columns = ", ".join(name for name, _ in _FIRST_ARRAYS)
    values = ", ".join(
        f"CAST(b.{name} AS jsonb)" if name in ("data", "metadata") else f"b.{name}"
        for name, _ in _FIRST_ARRAYS
    )
    return text(
        f"INSERT INTO events ({columns}, version) "  # noqa: S608 (fixed names)
        f"SELECT {values}, {version} FROM unnest({casts}) WITH ORDINALITY AS b({names}, n) "
        f"WHERE {where} ORDER BY b.n ON CONFLICT DO NOTHING RETURNING id, position"
    )


def _arrays(
    items: Sequence[tuple[str, uuid.UUID, NewEvent]]
    | Sequence[tuple[str, uuid.UUID, int, NewEvent]],
) -> dict[str, list[Any]]:
    """The bind values of `_unnest_insert`'s `_FIRST_ARRAYS` for (tenant, stream id, event)
    or (tenant, stream id, expected version, event) items: each column's values as one list
    (JSON as text). append_many adds the expected versions itself."""
    encode = _JSON.encode
    return {
        "id": [e.id for *_, e in items],
        "tenant_id": [t for t, *_ in items],
        "stream_id": [s for _, s, *_ in items],
        "type": [e.type for *_, e in items],
        "schema_version": [e.schema_version for *_, e in items],
        "status": [None if e.status is None else e.status.value for *_, e in items],
        "actor": [e.actor for *_, e in items],
        "data": [encode_payload(e.data).decode() for *_, e in items],
        "metadata": [encode(e.metadata).decode() for *_, e in items],
        "parent_id": [e.parent_id for *_, e in items],
        "correlation_id": [e.correlation_id for *_, e in items],
        "created_at": [aware(e.created_at) for *_, e in items],
    }


@cache
def statements_for(dialect: str) -> EventStatements:
    """The event statements of a dialect (built on first use, then shared)."""
    return EventStatements(dialect)


def _recorded(row: AnyRow) -> RecordedEvent:
    (
        position,
        event_id,
        tenant_id,
        stream_id,
        version,
        type_,
        schema_version,
        status,
        actor,
        data,
        meta,
        parent_id,
        correlation_id,
        created_at,
    ) = row
    return RecordedEvent(
        position=position,
        id=event_id,
        tenant_id=tenant_id,
        stream_id=stream_id,
        version=version,
        type=type_,
        schema_version=schema_version,
        status=STATUS[status],
        actor=actor,
        data=decode_payload(type_, data.encode(), schema_version),
        metadata=meta,
        parent_id=parent_id,
        correlation_id=correlation_id,
        created_at=utc(created_at),
    )


class SqlEventStore:
    """The EventStore port on the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)
        #: Every event appended in this transaction since the unit last committed, in
        #: order (the unit of work moves them to its committed events on commit).
        self.appended: list[RecordedEvent] = []

    async def append(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> list[RecordedEvent]:
        if not events:
            await self._check_head(tenant_id, stream_id, expected_version)
            return []
        params = self.bind(tenant_id, stream_id, expected_version, events)
        if expected_version == 0:
            inserted = await self._tx.rows(self._sql.append, params[0])
        else:
            inserted = await self._tx.rows(
                self._sql.append_after, {**params[0], "expected_version": expected_version}
            )
        if not inserted:
            # Nothing was inserted, so the transaction is intact and may go on.
            raise await self.refusal(events[0].id, stream_id, expected_version)
        positions = [inserted[0][0]]
        # The first row holds version expected+1, so no other writer can take the next
        # versions (its own check would not see our uncommitted row); only a reused event
        # id can still collide.
        for event, values in zip(events[1:], params[1:], strict=True):
            inserted = await self._tx.rows(self._sql.append, values)
            if not inserted:
                error = await self.refusal(event.id, stream_id, expected_version)
                # Part of the append is in the transaction and cannot be taken back.
                self._tx.rollback_only(error)
                raise error
            positions.append(inserted[0][0])
        recorded = self.recorded(tenant_id, stream_id, expected_version, events, positions)
        self.appended.extend(recorded)
        return recorded

    def bind(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> list[dict[str, Any]]:
        """The bind values of `append`'s inserts (`EventStatements.append`), one per event."""
        json = self._tx.json
        return [
            {
                "id": e.id,
                "tenant_id": tenant_id,
                "stream_id": stream_id,
                "version": expected_version + index + 1,
                "type": e.type,
                "schema_version": e.schema_version,
                "status": e.status.value if e.status is not None else None,
                "actor": e.actor,
                # Already JSON: msgspec.Raw passes through the JSON serializer untouched.
                "data": json(msgspec.Raw(encode_payload(e.data))),
                "metadata": json(e.metadata),
                "parent_id": e.parent_id,
                "correlation_id": e.correlation_id,
                "created_at": aware(e.created_at),
            }
            for index, e in enumerate(events)
        ]

    @staticmethod
    def recorded(
        tenant_id: str,
        stream_id: uuid.UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        positions: Sequence[int],
    ) -> list[RecordedEvent]:
        """The events as recorded at the given positions (versions expected+1…)."""
        return [
            RecordedEvent(
                position=position,
                id=e.id,
                tenant_id=tenant_id,
                stream_id=stream_id,
                version=expected_version + index + 1,
                type=e.type,
                schema_version=e.schema_version,
                status=e.status,
                actor=e.actor,
                data=e.data,
                metadata=dict(e.metadata),
                parent_id=e.parent_id,
                correlation_id=e.correlation_id,
                created_at=utc(e.created_at),
            )
            for index, (e, position) in enumerate(zip(events, positions, strict=True))
        ]

    async def append_first(
        self, items: Sequence[tuple[str, uuid.UUID, NewEvent]]
    ) -> list[RecordedEvent | None]:
        # The first of each id and of each stream goes in; a later copy in the same call is
        # not sent at all (None), as the log would refuse it.
        fresh: list[tuple[str, uuid.UUID, NewEvent]] = []
        ids: set[uuid.UUID] = set()
        streams: set[uuid.UUID] = set()
        for tenant_id, stream_id, event in items:
            if event.id in ids or stream_id in streams:
                continue
            ids.add(event.id)
            streams.add(stream_id)
            fresh.append((tenant_id, stream_id, event))
        positions: dict[uuid.UUID, int] = {}
        if fresh and self._sql.append_first is not None:
            # PostgreSQL: one statement, which leaves out the ids already in the log itself
            # (it used to take a round trip of its own to look them up, ADR 0046).
            rows = await self._tx.rows(self._sql.append_first, _arrays(fresh))
            positions = {row[0]: row[1] for row in rows}
        elif fresh:
            assert self._sql.append_first_many is not None
            params = [
                self.bind(tenant_id, stream_id, 0, [e])[0] for tenant_id, stream_id, e in fresh
            ]
            result = await self._tx.execute(self._sql.append_first_many, params)
            positions = {row[0]: row[1] for row in result.all()}
        out: list[RecordedEvent | None] = []
        recorded: list[RecordedEvent] = []
        for tenant_id, stream_id, e in items:
            position = positions.pop(e.id, None)  # pop: a later copy of the id gets None
            if position is None:
                out.append(None)
                continue
            [stored] = self.recorded(tenant_id, stream_id, 0, [e], [position])
            out.append(stored)
            recorded.append(stored)
        # In the log's order, as the unit of work hands them over after commit.
        self.appended.extend(sorted(recorded, key=lambda r: r.position))
        return out

    async def append_many(
        self, items: Sequence[tuple[str, uuid.UUID, int, NewEvent]]
    ) -> list[RecordedEvent | None]:
        if self._sql.append_many is None or len(items) < 2:
            return await append_each(self, items)
        columns = _arrays(items)
        columns["expected"] = [v for _, _, v, _ in items]
        rows = await self._tx.rows(self._sql.append_many, columns)
        positions = {row[0]: row[1] for row in rows}
        result: list[RecordedEvent | None] = []
        recorded: list[RecordedEvent] = []
        for tenant_id, stream_id, expected, e in items:
            position = positions.pop(e.id, None)  # pop: a later copy of the id gets None
            if position is None:
                result.append(None)
                continue
            [stored] = self.recorded(tenant_id, stream_id, expected, [e], [position])
            result.append(stored)
            recorded.append(stored)
        self.appended.extend(recorded)  # in the order given: the positions' order
        return result

    async def refusal(
        self, event_id: uuid.UUID, stream_id: uuid.UUID, expected_version: int
    ) -> ApplicationError:
        """Why an insert was skipped: the id is taken (a retry), or the version was stale."""
        if await self._tx.rows(self._sql.id_exists, {"id": event_id}):
            return DuplicateEvent(event_id)
        return ConcurrencyConflict(stream_id, expected_version)

    async def _check_head(self, tenant_id: str, stream_id: uuid.UUID, expected: int) -> None:
        row = (await self._tx.execute(self._sql.stream_head, {"stream_id": stream_id})).first()
        version = 0 if row is None else row.version
        if version != expected or (row is not None and row.tenant_id != tenant_id):
            raise ConcurrencyConflict(stream_id, expected)

    async def read_stream(self, tenant_id: str, stream_id: uuid.UUID) -> list[RecordedEvent]:
        rows = await self._tx.rows(
            self._sql.read_stream, {"stream_id": stream_id, "tenant_id": tenant_id}
        )
        return [_recorded(row) for row in rows]

    async def read_streams(
        self, streams: Sequence[tuple[str, uuid.UUID]]
    ) -> dict[uuid.UUID, list[RecordedEvent]]:
        found: dict[uuid.UUID, list[RecordedEvent]] = {stream: [] for _, stream in streams}
        if self._sql.read_streams is None:
            for tenant_id, stream_id in streams:
                found[stream_id] = await self.read_stream(tenant_id, stream_id)
            return found
        if not streams:
            return found
        tenants = dict((stream, tenant) for tenant, stream in streams)
        rows = await self._tx.rows(self._sql.read_streams, {"stream_ids": list(tenants)})
        for row in rows:
            if tenants[row[3]] == row[2]:  # stream_id, tenant_id
                found[row[3]].append(_recorded(row))
        return found

    async def get(self, tenant_id: str, event_id: uuid.UUID) -> RecordedEvent | None:
        rows = await self._tx.rows(self._sql.get, {"id": event_id, "tenant_id": tenant_id})
        return _recorded(rows[0]) if rows else None

    async def query(self, tenant_id: str, where: EventFilter) -> list[RecordedEvent]:
        e = events
        conditions: list[ColumnElement[bool]] = [
            e.c.tenant_id == tenant_id,
            e.c.position > where.after_position,
        ]
        if where.until_position is not None:
            conditions.append(e.c.position <= where.until_position)
        if where.types:
            conditions.append(e.c.type.in_(where.types))
        if where.statuses:
            conditions.append(e.c.status.in_([s.value for s in where.statuses]))
        if where.actor is not None:
            conditions.append(e.c.actor == where.actor)
        if where.correlation_id is not None:
            conditions.append(e.c.correlation_id == where.correlation_id)
        if where.stream_id is not None:
            conditions.append(e.c.stream_id == where.stream_id)
        if where.created_from is not None:
            conditions.append(e.c.created_at >= where.created_from)
        if where.created_to is not None:
            conditions.append(e.c.created_at < where.created_to)
        stmt = (
            select(*self._sql.columns)
            .where(*conditions)
            .order_by(e.c.position.desc() if where.newest_first else e.c.position)
            .limit(max(where.limit, 0))
        )
        return [_recorded(row) for row in await self._tx.execute(stmt)]

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        rows = await self._tx.rows(
            self._sql.read_all, {"after": after_position, "limit": max(limit, 0)}
        )
        return [_recorded(row) for row in rows]

    async def read_by_stream(
        self, *, after: tuple[uuid.UUID, int] | None = None, limit: int = 1000
    ) -> list[RecordedEvent]:
        if after is None:
            rows = await self._tx.rows(self._sql.read_by_stream_first, {"limit": max(limit, 0)})
        else:
            rows = await self._tx.rows(
                self._sql.read_by_stream,
                {"after_stream": after[0], "after_version": after[1], "limit": max(limit, 0)},
            )
        return [_recorded(row) for row in rows]
