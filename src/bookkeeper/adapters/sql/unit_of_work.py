"""The SQL unit of work: the event store and the projections on one pooled connection.

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
* Transient PostgreSQL errors (serialization_failure 40001, deadlock_detected 40P01) do not
  arise on this path: the transactions run at READ COMMITTED, take no explicit locks, and a
  unit of work appends to one stream. Were one to occur (or the connection to drop), it
  surfaces as StorageUnavailable and the whole unit of work may be retried by the caller.
* After a database error, or an append that failed half-way, the unit of work is
  rollback-only: commit() raises instead of committing what is left (on PostgreSQL a COMMIT
  after an error is silently a ROLLBACK, which a caller would take for success).

Speed: the statements of the hot paths (propose, decide, replay) are `Hot`: built once from
the Core tables and, on PostgreSQL, compiled once to SQL that runs on the pooled psycopg
connection itself. SQLAlchemy's per-execution machinery (execution context, result
wrapping, greenlet hop) costs about as much CPU as psycopg's whole round trip. On
PostgreSQL the transaction is psycopg's too: it sends BEGIN before the unit's first
statement and commit() commits on the driver, unless a statement went through SQLAlchemy
(which then owns the commit of the same transaction). A proposal is five round trips:
BEGIN, the scoring read (patterns and duplicates in one statement), the event INSERT, the
proposal upsert, COMMIT. SQLAlchemy still owns the pool and every other statement; on
SQLite everything goes through it.

Pipeline mode (BEGIN sent with the first write, the last write with COMMIT: three round
trips instead of five) was measured and left out: psycopg's pipeline machinery costs the
client more CPU than the round trips it saves, and PostgreSQL no less.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypeAlias
from typing import cast as cast_type

import msgspec
import psycopg
from psycopg.types.json import Json, Jsonb
from sqlalchemy import (
    Integer,
    Row,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ClauseElement, ColumnElement, TextClause
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.documents import SqlDocuments
from bookkeeper.adapters.sql.ledger import SqlLedger
from bookkeeper.adapters.sql.schema import events, patterns, proposals, tenant_settings
from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    DuplicateEvent,
    StorageUnavailable,
)
from bookkeeper.application.ports import (
    ApprovalCounts,
    DocumentStore,
    DuplicateProbe,
    EventFilter,
    EventStore,
    LedgerProjection,
    NewEvent,
    PatternProjection,
    PatternView,
    ProposalFilter,
    ProposalProjection,
    ProposalView,
    RecordedEvent,
    ScoringInputs,
    ScoringReads,
    TenantSettings,
)
from bookkeeper.domain.events import Status, decode_payload, encode_payload
from bookkeeper.domain.review import DEFAULT_RULES, ReviewRules

if TYPE_CHECKING:
    from bookkeeper.adapters.sql.database import SqlDatabase

log = logging.getLogger(__name__)

#: Who approves automatically (bookkeeper.application.handlers.AUTO_APPROVER); counted as
#: auto-approved by approval_counts, as the memory adapter does.
AUTO_APPROVER: Final = "system:review-rules"
#: How long a tenant's review rules are served from memory; they are read on every proposal.
RULES_TTL_SECONDS: Final = 5.0

#: A result row: a SQLAlchemy Row (SQLite) or a psycopg tuple (PostgreSQL hot path).
AnyRow: TypeAlias = Row[*tuple[Any, ...]] | tuple[Any, ...]

_STATUS: Final[dict[str | None, Status | None]] = {None: None} | {s.value: s for s in Status}
_APPROVED_STATUSES: Final = (Status.APPROVED.value, Status.EXECUTED.value, Status.FAILED.value)
_OPEN_COMPENSATION: Final = (Status.PROPOSED.value, Status.APPROVED.value, Status.EXECUTED.value)


class Hot:
    """A fixed statement of a hot path: the Core statement, and for psycopg its SQL."""

    __slots__ = ("defaults", "reads", "returns_rows", "sql", "statement")

    def __init__(
        self, statement: Executable, dialect: Dialect | None, *, returns_rows: bool = True
    ) -> None:
        self.statement = statement
        #: Known up front, so the hot path need not ask the cursor (psycopg builds its whole
        #: `description` for that).
        self.returns_rows = returns_rows
        #: A plain SELECT (possibly FOR UPDATE): it changes no row, see SqlUnitOfWork._close.
        self.reads = bool(getattr(statement, "is_select", False))
        self.sql = ""
        self.defaults: dict[str, Any] = {}
        if dialect is not None:
            compiled = cast_type(ClauseElement, statement).compile(dialect=dialect)
            self.sql = compiled.string
            # Values the statement carries itself (e.g. the literal 'REJECTED').
            self.defaults = {k: v for k, v in compiled.params.items() if v is not None}


class Statements:
    """Every fixed statement, built once per dialect so its compiled form stays cached."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        compile_for = psycopg_dialect() if dialect == "postgresql" else None  # type: ignore[no-untyped-call]

        def hot(statement: Executable, *, returns_rows: bool = True) -> Hot:
            return Hot(statement, compile_for, returns_rows=returns_rows)

        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        e = events
        # Payloads are read as JSON text and decoded straight into their Struct by msgspec;
        # on PostgreSQL the cast also skips psycopg's generic jsonb → dict parsing.
        data_text = cast(e.c.data, Text) if dialect == "postgresql" else type_coerce(e.c.data, Text)
        self.event_columns = (
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
        self.insert_columns = [c for c in e.c if c.name != "position"]
        # Explicit columns: the identity `position` must never be sent, not even as NULL.
        row = {c.name: bindparam(c.name, type_=c.type) for c in self.insert_columns}

        self.append = hot(insert(e).values(row).on_conflict_do_nothing().returning(e.c.position))
        previous = e.alias("previous")
        self.append_after = hot(
            insert(e)
            .from_select(
                [c.name for c in self.insert_columns],
                select(*(bindparam(c.name, type_=c.type) for c in self.insert_columns)).where(
                    exists().where(
                        previous.c.stream_id == bindparam("stream_id"),
                        previous.c.version == bindparam("expected_version"),
                        previous.c.tenant_id == bindparam("tenant_id"),
                    )
                ),
            )
            .on_conflict_do_nothing()
            .returning(e.c.position)
        )
        self.event_id_exists = hot(select(e.c.id).where(e.c.id == bindparam("id")))
        self.stream_head = (
            select(e.c.tenant_id, e.c.version)
            .where(e.c.stream_id == bindparam("stream_id"))
            .order_by(e.c.version.desc())
            .limit(1)
        )
        self.read_stream = hot(
            select(*self.event_columns)
            .where(e.c.stream_id == bindparam("stream_id"), e.c.tenant_id == bindparam("tenant_id"))
            .order_by(e.c.version)
        )
        # Many streams in one read (PostgreSQL; SQLite reads them one by one): the tenant of
        # each is checked on the rows.
        self.read_streams = (
            hot(
                select(*self.event_columns)
                .where(
                    e.c.stream_id
                    == any_(cast(bindparam("stream_ids"), postgresql.ARRAY(e.c.stream_id.type)))
                )
                .order_by(e.c.stream_id, e.c.version)
            )
            if dialect == "postgresql"
            else None
        )
        self.get_event = hot(
            select(*self.event_columns).where(
                e.c.id == bindparam("id"), e.c.tenant_id == bindparam("tenant_id")
            )
        )
        self.read_all = hot(
            select(*self.event_columns)
            .where(e.c.position > bindparam("after"))
            .order_by(e.c.position)
            .limit(bindparam("limit"))
        )
        # Replay's read: keyset pages of the unique (stream_id, version) index.
        by_stream = (
            select(*self.event_columns)
            .order_by(e.c.stream_id, e.c.version)
            .limit(bindparam("limit"))
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

        p = proposals
        upsert = insert(p)
        self.upsert_proposal = hot(
            upsert.values(
                {c.name: bindparam(c.name, type_=c.type) for c in p.c}
            ).on_conflict_do_update(
                index_elements=[p.c.id],
                set_={c.name: upsert.excluded[c.name] for c in p.c if c.name != "id"},
            ),
            returns_rows=False,
        )
        #: Replay's bulk upsert: one fixed statement for any number of rows (PostgreSQL;
        #: SQLite runs `upsert_proposal` as one executemany).
        self.upsert_proposals = (
            hot(_json_upsert(p, "id"), returns_rows=False) if dialect == "postgresql" else None
        )
        self.get_proposal = hot(
            select(p).where(p.c.id == bindparam("id"), p.c.tenant_id == bindparam("tenant_id"))
        )
        candidates = select(p.c.id).where(
            p.c.tenant_id == bindparam("tenant_id"),
            p.c.merchant_key == bindparam("merchant_key"),
            p.c.id != bindparam("exclude_id"),
            p.c.status != Status.REJECTED.value,
        )
        same_amount = and_(
            p.c.amount == bindparam("amount"),
            p.c.document_date.between(bindparam("date_from"), bindparam("date_to")),
        )
        order = (p.c.proposed_at, p.c.id)
        self.duplicates_by_amount = hot(candidates.where(same_amount).order_by(*order))
        self.duplicates_by_amount_or_number = hot(
            candidates.where(
                or_(p.c.document_number == bindparam("document_number"), same_amount)
            ).order_by(*order)
        )
        self.open_compensations = (
            select(p.c.id)
            .where(
                p.c.tenant_id == bindparam("tenant_id"),
                p.c.target_proposal_id == bindparam("target_id"),
                p.c.status.in_(_OPEN_COMPENSATION),
            )
            .order_by(*order)
        )
        # Due work for the executor (partial index ix_proposals_due); on PostgreSQL the rows
        # stay locked until the claim commits and other claimers skip them.
        due = (
            select(p)
            .where(
                p.c.status == Status.APPROVED.value,
                or_(p.c.next_attempt_at.is_(None), p.c.next_attempt_at <= bindparam("now")),
                or_(p.c.lease_until.is_(None), p.c.lease_until <= bindparam("now")),
            )
            .order_by(p.c.updated_at, p.c.id)
            .limit(bindparam("limit"))
        )
        self.claim_due = hot(
            due.with_for_update(skip_locked=True) if dialect == "postgresql" else due
        )
        # TRUNCATE is transactional on PostgreSQL and far cheaper than DELETE for a replay.
        self.clear_proposals: Executable = (
            text("TRUNCATE proposals") if dialect == "postgresql" else delete(p)
        )

        pt = patterns
        upsert = insert(pt)
        self.upsert_pattern = hot(
            upsert.values(
                {c.name: bindparam(c.name, type_=c.type) for c in pt.c}
            ).on_conflict_do_update(
                index_elements=[pt.c.tenant_id, pt.c.merchant_key],
                set_={c.name: upsert.excluded[c.name] for c in pt.c if not c.primary_key},
            ),
            returns_rows=False,
        )
        self.patterns_for_tenant = hot(
            select(pt).where(pt.c.tenant_id == bindparam("tenant_id")).order_by(pt.c.merchant_key)
        )
        self.clear_patterns: Executable = (
            text("TRUNCATE patterns") if dialect == "postgresql" else delete(pt)
        )

        # The propose path's two reads in one statement (one round trip, one snapshot): the
        # tenant's pattern rows (part 0) then the duplicate ids (part 1), each in the order
        # of its own statement. Columns: part, the pattern's, proposed_at, duplicate_id.
        def scoring(duplicates: Select[Any]) -> Hot:
            pattern_rows = select(
                literal_column("0", Integer).label("part"),
                *pt.c,
                cast(null(), p.c.proposed_at.type).label("proposed_at"),
                cast(null(), p.c.id.type).label("duplicate_id"),
            ).where(pt.c.tenant_id == bindparam("tenant_id"))
            duplicate_rows = duplicates.with_only_columns(
                literal_column("1", Integer),
                *(null() for _ in pt.c),
                p.c.proposed_at,
                p.c.id,
            ).order_by(None)
            return hot(
                union_all(pattern_rows, duplicate_rows).order_by(
                    "part", "merchant_key", "proposed_at", "duplicate_id"
                )
            )

        self.scoring_by_amount = scoring(candidates.where(same_amount))
        self.scoring_by_amount_or_number = scoring(
            candidates.where(or_(p.c.document_number == bindparam("document_number"), same_amount))
        )

        ts = tenant_settings
        self.review_rules = hot(
            select(ts.c.review_rules).where(ts.c.tenant_id == bindparam("tenant_id"))
        )
        upsert = insert(ts)
        self.save_review_rules = upsert.on_conflict_do_update(
            index_elements=[ts.c.tenant_id],
            set_={
                "review_rules": upsert.excluded.review_rules,
                "updated_at": upsert.excluded.updated_at,
            },
        )


def _json_upsert(table: Table, key: str) -> TextClause:
    """`INSERT … SELECT FROM json_populate_recordset(:rows) ON CONFLICT (key) DO UPDATE` for
    PostgreSQL: the rows travel as one JSON array of objects named like the columns, which
    msgspec encodes from the Structs in C, ten times cheaper than psycopg building one
    array per column; the text is fixed, so psycopg parses it once."""
    quote = postgresql.dialect().identifier_preparer.quote  # type: ignore[no-untyped-call]
    names = [quote(c.name) for c in table.c]
    columns = ", ".join(names)
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != quote(key))
    # Built from the table's own (quoted) names, never from input.
    return text(
        f"INSERT INTO {quote(table.name)} ({columns}) SELECT {columns} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{quote(table.name)}, CAST(:rows AS json)) "
        f"ON CONFLICT ({quote(key)}) DO UPDATE SET {updates}"
    )


def storage_error(error: BaseException) -> BaseException:
    """Our error for a driver or pool error: StorageUnavailable when it is about reaching
    the database (or a transient failure), the original otherwise (a bug, not a condition)."""
    if isinstance(error, PoolTimeoutError):
        return StorageUnavailable("no database connection free in time (pool exhausted)")
    if isinstance(error, DBAPIError) and (
        error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    ):
        detail = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        return StorageUnavailable(f"database unavailable: {detail}")
    if isinstance(error, OSError):
        return StorageUnavailable(f"database unavailable: {error}")
    return error


def _utc(value: dt.datetime) -> dt.datetime:
    """psycopg returns timestamptz in the session's time zone; the ports promise UTC."""
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    # psycopg would send a naive datetime as `timestamp`, which PostgreSQL then reads in
    # the session's time zone: silently wrong. Refuse it, as UtcDateTime does on SQLite.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes aware UTC times")
    return value


def _maybe_aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware(value)


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
        status=_STATUS[status],
        actor=actor,
        data=decode_payload(type_, data.encode(), schema_version),
        metadata=meta,
        parent_id=parent_id,
        correlation_id=correlation_id,
        created_at=_utc(created_at),
    )


_PROPOSAL_COLUMNS: Final = tuple(c.name for c in proposals.c)
_PROPOSAL_TIMES: Final = (
    "proposed_at",
    "updated_at",
    "decided_at",
    "next_attempt_at",
    "lease_until",
)
_PROPOSAL_JSON: Final = ("data", "corrections", "external_ids")
_PATTERN_COLUMNS: Final = tuple(c.name for c in patterns.c)
#: Where the pattern's columns end in a scoring row (after `part`).
_PATTERN_END: Final = 1 + len(_PATTERN_COLUMNS)


_JSON_ENCODER: Final = msgspec.json.Encoder()


def _proposal_values(view: ProposalView) -> dict[str, Any]:
    """A view as the bind values of `upsert_proposal` through SQLAlchemy (SQLite)."""
    values = msgspec.structs.asdict(view)
    values["status"] = view.status.value
    for name in _PROPOSAL_TIMES:
        values[name] = _maybe_aware(values[name])
    return values


def _proposal(row: AnyRow) -> ProposalView:
    values = dict(zip(_PROPOSAL_COLUMNS, row, strict=True))
    values["status"] = _STATUS[values["status"]]
    for name in _PROPOSAL_TIMES:
        if values[name] is not None:
            values[name] = _utc(values[name])
    return ProposalView(**values)


def _pattern(row: AnyRow) -> PatternView:
    values = dict(zip(_PATTERN_COLUMNS, row, strict=True))
    values["applied_at"] = _utc(values["applied_at"])
    return PatternView(**values)


def _duplicate_params(tenant_id: str, probe: DuplicateProbe) -> dict[str, Any]:
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "merchant_key": probe.merchant_key,
        "exclude_id": probe.exclude_id,
        "amount": probe.amount,
        "date_from": probe.date_from,
        "date_to": probe.date_to,
    }
    if probe.document_number is not None:
        params["document_number"] = probe.document_number
    return params


class SqlEventStore:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._sql = uow.statements

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
        json = self._uow.json
        params = [
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
                "created_at": _aware(e.created_at),
            }
            for index, e in enumerate(events)
        ]
        if expected_version == 0:
            inserted = await self._uow.rows(self._sql.append, params[0])
        else:
            inserted = await self._uow.rows(
                self._sql.append_after, {**params[0], "expected_version": expected_version}
            )
        if not inserted:
            # Nothing was inserted, so the transaction is intact and may go on.
            raise await self._refusal(events[0].id, stream_id, expected_version)
        positions = [inserted[0][0]]
        # The first row holds version expected+1, so no other writer can take the next
        # versions (its own check would not see our uncommitted row); only a reused event
        # id can still collide.
        for event, values in zip(events[1:], params[1:], strict=True):
            inserted = await self._uow.rows(self._sql.append, values)
            if not inserted:
                error = await self._refusal(event.id, stream_id, expected_version)
                # Part of the append is in the transaction and cannot be taken back.
                self._uow.rollback_only(error)
                raise error
            positions.append(inserted[0][0])
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
                created_at=_utc(e.created_at),
            )
            for index, (e, position) in enumerate(zip(events, positions, strict=True))
        ]

    async def _refusal(
        self, event_id: uuid.UUID, stream_id: uuid.UUID, expected_version: int
    ) -> ApplicationError:
        """Why an insert was skipped: the id is taken (a retry), or the version was stale."""
        if await self._uow.rows(self._sql.event_id_exists, {"id": event_id}):
            return DuplicateEvent(event_id)
        return ConcurrencyConflict(stream_id, expected_version)

    async def _check_head(self, tenant_id: str, stream_id: uuid.UUID, expected: int) -> None:
        row = (await self._uow.execute(self._sql.stream_head, {"stream_id": stream_id})).first()
        version = 0 if row is None else row.version
        if version != expected or (row is not None and row.tenant_id != tenant_id):
            raise ConcurrencyConflict(stream_id, expected)

    async def read_stream(self, tenant_id: str, stream_id: uuid.UUID) -> list[RecordedEvent]:
        rows = await self._uow.rows(
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
        rows = await self._uow.rows(self._sql.read_streams, {"stream_ids": list(tenants)})
        for row in rows:
            if tenants[row[3]] == row[2]:  # stream_id, tenant_id
                found[row[3]].append(_recorded(row))
        return found

    async def get(self, tenant_id: str, event_id: uuid.UUID) -> RecordedEvent | None:
        rows = await self._uow.rows(self._sql.get_event, {"id": event_id, "tenant_id": tenant_id})
        return _recorded(rows[0]) if rows else None

    async def query(self, tenant_id: str, where: EventFilter) -> list[RecordedEvent]:
        e = events
        conditions: list[ColumnElement[bool]] = [
            e.c.tenant_id == tenant_id,
            e.c.position > where.after_position,
        ]
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
            select(*self._sql.event_columns)
            .where(*conditions)
            .order_by(e.c.position)
            .limit(max(where.limit, 0))
        )
        return [_recorded(row) for row in await self._uow.execute(stmt)]

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        rows = await self._uow.rows(
            self._sql.read_all, {"after": after_position, "limit": max(limit, 0)}
        )
        return [_recorded(row) for row in rows]

    async def read_by_stream(
        self, *, after: tuple[uuid.UUID, int] | None = None, limit: int = 1000
    ) -> list[RecordedEvent]:
        if after is None:
            rows = await self._uow.rows(self._sql.read_by_stream_first, {"limit": max(limit, 0)})
        else:
            rows = await self._uow.rows(
                self._sql.read_by_stream,
                {"after_stream": after[0], "after_version": after[1], "limit": max(limit, 0)},
            )
        return [_recorded(row) for row in rows]


class SqlProposals:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._sql = uow.statements

    async def upsert(self, view: ProposalView) -> None:
        values = msgspec.structs.asdict(view)
        values["status"] = view.status.value
        for name in _PROPOSAL_TIMES:
            values[name] = _maybe_aware(values[name])
        json = self._uow.json
        for name in _PROPOSAL_JSON:
            if values[name] is not None:
                values[name] = json(values[name])
        await self._uow.rows(self._sql.upsert_proposal, values)

    async def upsert_many(self, views: Sequence[ProposalView]) -> None:
        # One row per id, the last view of it (an upsert may touch a row only once).
        latest = {view.id: view for view in views}
        if not latest:
            return
        if self._sql.upsert_proposals is None:
            await self._uow.execute(
                self._sql.upsert_proposal.statement,
                [_proposal_values(view) for view in latest.values()],
            )
            return
        for view in latest.values():
            for name in _PROPOSAL_TIMES:
                _maybe_aware(getattr(view, name))  # a naive time would be read as local
        rows = Json(_JSON_ENCODER.encode(list(latest.values())), dumps=_unchanged)
        await self._uow.rows(self._sql.upsert_proposals, {"rows": rows})

    async def get(self, tenant_id: str, proposal_id: uuid.UUID) -> ProposalView | None:
        rows = await self._uow.rows(
            self._sql.get_proposal, {"id": proposal_id, "tenant_id": tenant_id}
        )
        return _proposal(rows[0]) if rows else None

    async def page(self, tenant_id: str, where: ProposalFilter) -> list[ProposalView]:
        p = proposals
        stmt: Select[Any] = select(p).where(
            p.c.tenant_id == tenant_id, p.c.last_position > where.after_position
        )
        if where.statuses:
            stmt = stmt.where(p.c.status.in_([s.value for s in where.statuses]))
        if where.kinds:
            stmt = stmt.where(p.c.kind.in_(where.kinds))
        stmt = stmt.order_by(p.c.last_position).limit(max(where.limit, 0))
        return [_proposal(row) for row in await self._uow.execute(stmt)]

    async def find_duplicates(self, tenant_id: str, probe: DuplicateProbe) -> list[uuid.UUID]:
        params = _duplicate_params(tenant_id, probe)
        if probe.document_number is None:
            stmt = self._sql.duplicates_by_amount
        else:
            stmt = self._sql.duplicates_by_amount_or_number
        return [row[0] for row in await self._uow.rows(stmt, params)]

    async def open_compensations(self, tenant_id: str, target_id: uuid.UUID) -> list[uuid.UUID]:
        result = await self._uow.execute(
            self._sql.open_compensations, {"tenant_id": tenant_id, "target_id": target_id}
        )
        return list(result.scalars())

    async def approval_counts(
        self, tenant_id: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[ApprovalCounts]:
        p = proposals

        def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        approved = p.c.status.in_(_APPROVED_STATUSES)
        stmt = select(
            p.c.kind,
            func.count().label("proposed"),
            count(approved).label("approved"),
            count(
                and_(approved, p.c.decision_rule.is_not(None), p.c.decided_by == AUTO_APPROVER)
            ).label("auto_approved"),
            count(p.c.status == Status.REJECTED.value).label("rejected"),
            count(p.c.status == Status.PROPOSED.value).label("pending"),
            count(p.c.status == Status.EXECUTED.value).label("executed"),
            count(p.c.status == Status.FAILED.value).label("failed"),
        ).where(p.c.tenant_id == tenant_id)
        if start is not None:
            stmt = stmt.where(p.c.proposed_at >= start)
        if end is not None:
            stmt = stmt.where(p.c.proposed_at < end)
        stmt = stmt.group_by(p.c.kind).order_by(p.c.kind)
        return [
            ApprovalCounts(
                kind=row.kind,
                proposed=int(row.proposed),
                approved=int(row.approved),
                auto_approved=int(row.auto_approved),
                rejected=int(row.rejected),
                pending=int(row.pending),
                executed=int(row.executed),
                failed=int(row.failed),
            )
            for row in await self._uow.execute(stmt)
        ]

    async def claim_due(self, now: dt.datetime, limit: int) -> list[ProposalView]:
        rows = await self._uow.rows(
            self._sql.claim_due, {"now": _aware(now), "limit": max(limit, 0)}
        )
        return [_proposal(row) for row in rows]

    async def clear(self) -> None:
        await self._uow.execute(self._sql.clear_proposals)


class SqlPatterns:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._sql = uow.statements

    async def upsert(self, view: PatternView) -> None:
        values = msgspec.structs.asdict(view)
        values["applied_at"] = _aware(view.applied_at)
        await self._uow.rows(self._sql.upsert_pattern, values)

    async def for_tenant(self, tenant_id: str) -> list[PatternView]:
        rows = await self._uow.rows(self._sql.patterns_for_tenant, {"tenant_id": tenant_id})
        return [_pattern(row) for row in rows]

    async def clear(self) -> None:
        await self._uow.execute(self._sql.clear_patterns)


class SqlScoring:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._sql = uow.statements

    async def inputs(self, tenant_id: str, probe: DuplicateProbe | None) -> ScoringInputs:
        if probe is None:
            rows = await self._uow.rows(self._sql.patterns_for_tenant, {"tenant_id": tenant_id})
            return ScoringInputs(patterns=[_pattern(row) for row in rows], duplicates=[])
        params = _duplicate_params(tenant_id, probe)
        if probe.document_number is None:
            stmt = self._sql.scoring_by_amount
        else:
            stmt = self._sql.scoring_by_amount_or_number
        patterns_found: list[PatternView] = []
        duplicates: list[uuid.UUID] = []
        for row in await self._uow.rows(stmt, params):
            if row[0] == 0:
                patterns_found.append(_pattern(row[1:_PATTERN_END]))
            else:
                duplicates.append(row[-1])
        return ScoringInputs(patterns=patterns_found, duplicates=duplicates)


class RulesCache:
    """Review rules per tenant, kept a few seconds: they are read on every proposal, and a
    change made elsewhere (another process) may take that long to be seen."""

    def __init__(self, ttl: float = RULES_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[float, ReviewRules]] = {}

    def get(self, tenant_id: str) -> ReviewRules | None:
        entry = self._entries.get(tenant_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, tenant_id: str, rules: ReviewRules) -> None:
        self._entries[tenant_id] = (time.monotonic() + self._ttl, rules)

    def forget(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)


class SqlTenantSettings:
    def __init__(self, uow: SqlUnitOfWork, cache: RulesCache) -> None:
        self._uow = uow
        self._sql = uow.statements
        self._cache = cache

    async def review_rules(self, tenant_id: str) -> ReviewRules:
        cached = self._cache.get(tenant_id)
        if cached is not None:
            return cached
        rows = await self._uow.rows(self._sql.review_rules, {"tenant_id": tenant_id})
        rules = msgspec.convert(rows[0][0], ReviewRules) if rows else DEFAULT_RULES
        self._cache.put(tenant_id, rules)
        return rules

    async def save_review_rules(self, tenant_id: str, rules: ReviewRules, now: dt.datetime) -> None:
        """Store a tenant's rules (not part of the port yet; for the CLI and tests)."""
        await self._uow.execute(
            self._sql.save_review_rules,
            {"tenant_id": tenant_id, "review_rules": msgspec.to_builtins(rules), "updated_at": now},
        )
        self._cache.forget(tenant_id)


def _unchanged(value: Any) -> Any:
    return value


class SqlUnitOfWork:
    """One transaction on one pooled connection; see the module docstring for semantics."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database
        self.statements: Statements = database.statements
        self._connection: AsyncConnection | None = None
        #: The psycopg connection under the pooled one (PostgreSQL only).
        self._driver: psycopg.AsyncConnection[Any] | None = None
        self._rollback_only: BaseException | None = None
        #: A statement that may change rows ran since the last commit (see _close).
        self._wrote = False
        self._holds_writer_lock = False
        self._postgres = database.dialect == "postgresql"
        #: Wraps a JSON value for the hot path's driver: psycopg needs Jsonb; SQLAlchemy's
        #: JSON type serialises plain values itself.
        self.json: Any = Jsonb if self._postgres else _unchanged
        self.events: EventStore = SqlEventStore(self)
        self.proposals: ProposalProjection = SqlProposals(self)
        self.patterns: PatternProjection = SqlPatterns(self)
        self.settings: TenantSettings = SqlTenantSettings(self, database.rules_cache)
        self.scoring: ScoringReads = SqlScoring(self)
        self.documents: DocumentStore = SqlDocuments(self)
        self.ledger: LedgerProjection = SqlLedger(self)

    async def __aenter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already open")
        await self._database.acquire_writer()
        self._holds_writer_lock = True
        try:
            connection = await self._database.engine.connect()
        except BaseException as error:
            self._release()
            raise storage_error(error) from error
        try:
            if self._postgres:
                # No SQLAlchemy transaction: psycopg sends BEGIN before the unit's first
                # statement itself, and commit() commits on the driver, sparing a proposal
                # two trips through SQLAlchemy's greenlet and transaction bookkeeping. A
                # statement run through SQLAlchemy still joins (and SQLAlchemy then commits
                # or rolls back) the same transaction.
                self._driver = (await connection.get_raw_connection()).driver_connection
            else:
                await connection.begin()
        except BaseException as error:
            await connection.close()
            self._release()
            raise storage_error(error) from error
        self._connection = connection
        self._rollback_only = None
        self._wrote = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, driver = self._connection, self._driver
        self._connection = self._driver = None
        try:
            if connection is not None:
                await self._close(connection, driver)
        finally:
            self._release()

    async def _close(
        self, connection: AsyncConnection, driver: psycopg.AsyncConnection[Any] | None
    ) -> None:
        """Roll back whatever was not committed and hand the connection back to the pool."""
        try:
            if driver is not None and driver.broken:
                # Lost under the hot path, which SQLAlchemy's disconnect handling never saw.
                await connection.invalidate()
            elif (
                driver is not None
                and not self._wrote
                and self._rollback_only is None
                and driver.info.transaction_status is psycopg.pq.TransactionStatus.INTRANS
            ):
                # A read-only unit (document and stream reads, an empty claim, every GET)
                # is ended with COMMIT, which for a transaction that changed nothing is the
                # same as ROLLBACK: psycopg follows every ROLLBACK with DEALLOCATE ALL (in
                # case the transaction ran DDL that a prepared plan depends on), which costs
                # a round trip and the connection's prepared hot statements. Units of work
                # never run DDL; one that wrote, or failed, is still rolled back.
                if connection.in_transaction():
                    await connection.commit()
                else:
                    await driver.commit()
            # On PostgreSQL the hot path's transaction is one SQLAlchemy has not seen; it is
            # still rolled back, by the pool's reset-on-return, which runs whenever no
            # SQLAlchemy transaction was open at close.
            elif connection.in_transaction():
                await connection.rollback()
        except Exception:
            # The connection is broken (server gone, protocol error): the pool must not
            # hand it out again.
            log.warning("rollback failed; discarding the connection", exc_info=True)
            try:
                await connection.invalidate()
            except Exception:
                log.debug("invalidate failed", exc_info=True)
        finally:
            await connection.close()

    def _release(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            self._database.release_writer()

    async def commit(self) -> None:
        connection = self._require_connection()
        if self._rollback_only is not None:
            raise self._rollback_only
        try:
            if connection.in_transaction():
                await connection.commit()
            elif self._driver is not None:
                # Only the hot path ran (PostgreSQL): a transaction SQLAlchemy has not
                # seen, but psycopg has (a no-op when nothing was sent).
                await self._driver.commit()
            self._wrote = False
        except (DBAPIError, PoolTimeoutError, OSError, psycopg.Error) as error:
            # If the connection dropped during COMMIT the outcome is unknown; callers retry
            # with the same event ids, which makes a second attempt a harmless duplicate.
            self._rollback_only = translated = storage_error(self._as_dbapi_error(error))
            raise translated from error

    def rollback_only(self, error: BaseException) -> None:
        """Refuse to commit this unit of work: part of it must not become durable."""
        self._rollback_only = error

    async def rows(self, hot: Hot, params: dict[str, Any]) -> Sequence[AnyRow]:
        """Run a hot-path statement; its rows as tuples (column order of the statement)."""
        driver = self._driver
        if driver is None:
            result = await self.execute(hot.statement, params)
            return result.all() if result.returns_rows else []
        self._require_connection()
        if not hot.reads:
            self._wrote = True
        if hot.defaults:
            params = hot.defaults | params
        try:
            cursor = await driver.execute(hot.sql, params)
            return await cursor.fetchall() if hot.returns_rows else []
        except psycopg.Error as error:
            # On PostgreSQL the transaction is now aborted; commit must not pretend otherwise.
            self._rollback_only = translated = storage_error(self._as_dbapi_error(error, hot))
            raise translated from error

    @staticmethod
    def _as_dbapi_error(error: BaseException, hot: Hot | None = None) -> BaseException:
        """A psycopg error as the SQLAlchemy error the same failure raises on other paths."""
        if isinstance(error, psycopg.Error):
            return DBAPIError.instance(hot.sql if hot else "COMMIT", None, error, psycopg.Error)
        return error

    async def execute(self, statement: Executable, params: Any = None) -> Any:
        """Run one statement in this unit's transaction, translating driver errors."""
        connection = self._require_connection()
        if not getattr(statement, "is_select", False):
            self._wrote = True
        try:
            return await connection.execute(statement, params)
        except DBAPIError as error:
            # On PostgreSQL the transaction is now aborted; on any engine, commit is unsafe.
            self._rollback_only = translated = storage_error(error)
            raise translated from error
        except StatementError as error:
            # Raised before reaching the database (a bind value we refuse, e.g. a naive
            # datetime): surface the cause itself.
            if isinstance(error.orig, Exception):
                raise error.orig from error
            raise

    def _require_connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("use the unit of work inside `async with`")
        return self._connection
