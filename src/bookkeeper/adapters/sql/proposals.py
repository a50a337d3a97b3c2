"""The `proposals` projection on SQL, in the unit of work's transaction.

The upsert, the reads by id, the duplicate probes and the executor's claim are hot
statements (ADR 0008); replay's bulk upsert on PostgreSQL is one fixed statement for any
number of rows (`json_upsert`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Final
from typing import cast as cast_type

import msgspec
from psycopg.types.json import Json
from sqlalchemy import (
    Integer,
    Numeric,
    Select,
    Table,
    Text,
    all_,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement, TextClause
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.event_store import statements_for as event_statements
from bookkeeper.adapters.sql.group_write import record_many_statement
from bookkeeper.adapters.sql.patterns import union_of
from bookkeeper.adapters.sql.schema import proposals
from bookkeeper.adapters.sql.session import (
    STATUS,
    AnyRow,
    Hot,
    Transaction,
    aware,
    hot_dialect,
    maybe_aware,
    unchanged,
    utc,
)
from bookkeeper.application.ports import (
    BANK_CLAIMS_LIMIT,
    DUPLICATE_LIMIT,
    ApprovalCounts,
    DuplicateProbe,
    ProposalFilter,
    ProposalView,
)
from bookkeeper.domain.events import Kind, Status

#: Who approves automatically (bookkeeper.application.handlers.AUTO_APPROVER); counted as
#: auto-approved by approval_counts, as the memory adapter does.
AUTO_APPROVER: Final = "system:review-rules"

_APPROVED_STATUSES: Final = (Status.APPROVED.value, Status.EXECUTED.value, Status.FAILED.value)
_OPEN_COMPENSATION: Final = (Status.PROPOSED.value, Status.APPROVED.value, Status.EXECUTED.value)
#: The order of open compensations: by proposal time.
DUPLICATE_ORDER: Final = (proposals.c.proposed_at, proposals.c.id)


def duplicate_parts(*, by_number: bool) -> list[Select[Any]]:
    """The bounded parts of a duplicate probe, each a SELECT of (same_number, document_date,
    id) of the tenant's other, not rejected proposals of the probe's merchant, at most
    DUPLICATE_LIMIT each: the same amount with the nearest document dates at or after the
    middle of the window, the same before it, and (`by_number`) the same document number.
    Together they hold the DUPLICATE_LIMIT first by `DuplicateProbe.order_key`; each part
    is one walk of ix_proposals_duplicate_amount / _number (migration 0013), which end in
    the id, so a LIMIT stops it whatever the number of look-alikes. Parameters: those of
    `duplicate_params`."""
    p = proposals
    mine = (
        p.c.tenant_id == bindparam("tenant_id"),
        p.c.merchant_key == bindparam("merchant_key"),
        p.c.id != bindparam("exclude_id"),
        p.c.status != Status.REJECTED.value,
    )

    def part(same_number: bool, *where: ColumnElement[bool]) -> Select[Any]:
        flag = literal_column("1" if same_number else "0", Integer).label("same_number")
        return select(flag, p.c.document_date, p.c.id).where(*mine, *where)

    same_amount = p.c.amount == bindparam("amount")
    parts = [
        part(
            False,
            same_amount,
            p.c.document_date >= bindparam("middle"),
            p.c.document_date <= bindparam("date_to"),
        )
        .order_by(p.c.document_date, p.c.id)
        .limit(DUPLICATE_LIMIT),
        part(
            False,
            same_amount,
            p.c.document_date >= bindparam("date_from"),
            p.c.document_date < bindparam("middle"),
        )
        .order_by(p.c.document_date.desc(), p.c.id.desc())
        .limit(DUPLICATE_LIMIT),
    ]
    if by_number:
        parts.append(
            part(True, p.c.document_number == bindparam("document_number"))
            .order_by(p.c.id)
            .limit(DUPLICATE_LIMIT)
        )
    return parts


def bank_event_sql(dialect: str) -> str:
    """The bank event a proposal's row names, as SQL of `dialect` (the expression of
    ix_proposals_bank_event, migration 0024, which imports it so that the two stay the
    same): a correction's changed `folioEventId`, else the receipt's corrected or own one —
    bank_claims.named_event in SQL."""
    if dialect == "postgresql":
        correction = "(data -> 'changes' ->> 'folioEventId')"
        receipt = "COALESCE(corrections ->> 'folioEventId', data ->> 'folioEventId')"
    else:
        correction = "json_extract(data, '$.changes.folioEventId')"
        receipt = (
            "COALESCE(json_extract(corrections, '$.folioEventId'), "
            "json_extract(data, '$.folioEventId'))"
        )
    return f"CASE WHEN kind = 'correction' THEN {correction} ELSE {receipt} END"


_XACT_LOCK: Final = text("SELECT pg_advisory_xact_lock(:key)")


def _advisory_key(name: str) -> int:
    """An advisory lock key: a signed 64-bit hash of `name` (namespace:tenant:id), stable
    across processes and versions (unlike Python's hash)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def bank_event_lock_key(tenant_id: str, folio_event_id: str) -> int:
    """The advisory lock key of a tenant's bank event."""
    return _advisory_key(f"bank-event:{tenant_id}:{folio_event_id}")


def purchase_lock_key(tenant_id: str, mark: str) -> int:
    """The advisory lock key of one mark of a tenant's purchase (`lock_purchase`)."""
    return _advisory_key(f"purchase:{tenant_id}:{mark}")


def compensations_lock_key(tenant_id: str, target_id: uuid.UUID) -> int:
    """The advisory lock key of the compensations of a tenant's proposal or journal entry."""
    return _advisory_key(f"compensations:{tenant_id}:{target_id}")


def bank_event_claims_statement(dialect: str) -> Select[Any]:
    """The live receipts and corrections naming a bank event (binds `tenant_id`,
    `folio_event_id`), first proposed first: one walk of ix_proposals_bank_event (migration
    0024) whatever the tenant's size, at most BANK_CLAIMS_LIMIT rows (bank_claims checks
    each row's effective event again)."""
    p = proposals
    named = literal_column(bank_event_sql(dialect), Text())
    return (
        select(p)
        .where(
            p.c.tenant_id == bindparam("tenant_id"),
            named == bindparam("folio_event_id"),
            or_(p.c.kind == Kind.RECEIPT_ATTACHMENT.value, p.c.kind == Kind.CORRECTION.value),
            or_(p.c.status == Status.APPROVED.value, p.c.status == Status.EXECUTED.value),
        )
        .order_by(*DUPLICATE_ORDER)
        .limit(BANK_CLAIMS_LIMIT)
    )


def document_hash_sql(dialect: str, proposal: str = "p") -> str:
    """The document a proposal's row names (`documentHash` of a receipt, an invoice or an
    expense), lower-case, as SQL of `dialect`: the expression of ix_proposals_document
    (migration 0026, which imports it through adapters.sql.retention) and of the same-file
    duplicate probe; `proposal` qualifies the column ("" leaves it bare)."""
    data = f"{proposal}.data" if proposal else "data"
    if dialect == "postgresql":
        return f"lower({data} ->> 'documentHash')"
    return f"lower(json_extract({data}, '$.documentHash'))"


def same_document_statement(dialect: str) -> Select[Any]:
    """The tenant's other, not rejected proposals naming a document (binds `tenant_id`,
    `document_hash`, `exclude_id`), first proposed first, at most DUPLICATE_LIMIT: a walk
    of ix_proposals_document (migration 0026) over the proposals naming that one file."""
    p = proposals
    named = literal_column(document_hash_sql(dialect, ""), Text())
    order: tuple[ColumnElement[Any], ...] = DUPLICATE_ORDER
    if dialect == "sqlite":
        # SQLite's unary + (a no-op on any value) keeps its planner from walking
        # ix_proposals_tenant_proposed, every proposal of the tenant, to skip sorting the
        # few naming this file (it has no statistics to know how many that is).
        order = (literal_column("+proposed_at"), literal_column("+id"))
    return (
        select(p.c.id)
        .where(
            p.c.tenant_id == bindparam("tenant_id"),
            # lower() on both sides, as the index's expression (SQLite uses it only so).
            named == func.lower(bindparam("document_hash", type_=Text())),
            p.c.id != bindparam("exclude_id"),
            p.c.status != Status.REJECTED.value,
        )
        .order_by(*order)
        .limit(DUPLICATE_LIMIT)
    )


def duplicate_params(tenant_id: str, probe: DuplicateProbe) -> dict[str, Any]:
    """The bind values of `duplicate_parts` (by_number when the probe has a number)."""
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "merchant_key": probe.merchant_key,
        "exclude_id": probe.exclude_id,
        "amount": probe.amount,
        "date_from": probe.date_from,
        "middle": probe.middle,
        "date_to": probe.date_to,
    }
    if probe.document_number is not None:
        params["document_number"] = probe.document_number
    return params


def nearest_duplicates(
    probe: DuplicateProbe, rows: Iterable[tuple[Any, dt.date | None, uuid.UUID]]
) -> list[uuid.UUID]:
    """The DUPLICATE_LIMIT first of the parts' rows (same_number, document_date, id) by
    `DuplicateProbe.order_key`, each id once (at its best)."""
    best: dict[uuid.UUID, tuple[int, int, int, int]] = {}
    for same_number, document_date, proposal_id in rows:
        key = probe.order_key(bool(same_number), document_date, proposal_id)
        if proposal_id not in best or key < best[proposal_id]:
            best[proposal_id] = key
    return [i for _, i in sorted((k, i) for i, k in best.items())[:DUPLICATE_LIMIT]]


def json_upsert(table: Table, key: str) -> TextClause:
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


class ProposalStatements:
    """The projection's fixed statements, built once per dialect so their compiled forms
    stay cached."""

    def __init__(self, dialect: str) -> None:
        compile_for = hot_dialect(dialect)

        def hot(
            statement: Executable,
            *,
            returns_rows: bool = True,
            standalone: bool = False,
            keep_cursor: bool = False,
        ) -> Hot:
            return Hot(
                statement,
                compile_for,
                returns_rows=returns_rows,
                standalone=standalone,
                keep_cursor=keep_cursor,
            )

        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        p = proposals
        upsert = insert(p)
        self.upsert = hot(
            upsert.values(
                {c.name: bindparam(c.name, type_=c.type) for c in p.c}
            ).on_conflict_do_update(
                index_elements=[p.c.id],
                set_={c.name: upsert.excluded[c.name] for c in p.c if c.name != "id"},
            ),
            returns_rows=False,
        )
        #: A proposal's new event and its view in one statement (PostgreSQL; ADR 0041):
        #: `WITH appended AS (<the event store's append> RETURNING position) INSERT INTO
        #: proposals … SELECT …, appended.position FROM appended ON CONFLICT (id) DO
        #: UPDATE … RETURNING last_position`. The view is written only if the event was
        #: (an id or version taken: no row, nothing written, as `append`), and its
        #: last_position is the position the event got. `record` starts a stream (the
        #: event store's `append`), `record_after` continues one (`append_after`).
        self.record: Hot | None = None
        self.record_after: Hot | None = None
        self.record_many: Hot | None = None
        if dialect == "postgresql":
            appends = event_statements(dialect)
            # One row back (last_position): each connection keeps their cursors.
            self.record = hot(_recording(appends.append.statement), keep_cursor=True)
            self.record_after = hot(_recording(appends.append_after.statement), keep_cursor=True)
            #: `record` for many new proposals in one statement (group_write, ADR 0053).
            self.record_many = hot(record_many_statement(), keep_cursor=True)
        #: Replay's bulk upsert: one fixed statement for any number of rows (PostgreSQL;
        #: SQLite runs `upsert` as one executemany).
        self.upsert_many = (
            hot(json_upsert(p, "id"), returns_rows=False) if dialect == "postgresql" else None
        )
        self.get = hot(
            select(p).where(p.c.id == bindparam("id"), p.c.tenant_id == bindparam("tenant_id")),
            standalone=True,  # a plain read (ADR 0041)
            keep_cursor=True,  # one row
        )
        #: The holders of a bank event (ADR 0051 addendum), a plain read.
        self.bank_event_claims = hot(bank_event_claims_statement(dialect), standalone=True)
        self.duplicates_by_amount = hot(union_of(duplicate_parts(by_number=False)))
        self.duplicates_by_amount_or_number = hot(union_of(duplicate_parts(by_number=True)))
        self.same_document = hot(same_document_statement(dialect))
        self.open_compensations = (
            select(p.c.id)
            .where(
                p.c.tenant_id == bindparam("tenant_id"),
                p.c.target_proposal_id == bindparam("target_id"),
                p.c.status.in_(_OPEN_COMPENSATION),
            )
            .order_by(*DUPLICATE_ORDER)
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
        # The same, leaving out the tenants an executor's pass is still working for (its
        # refill, issue 14): a list on PostgreSQL, a JSON array on SQLite.
        self.dialect = dialect
        if dialect == "postgresql":
            others = p.c.tenant_id != all_(bindparam("exclude", type_=postgresql.ARRAY(Text())))
        else:
            listed: Select[Any] = select(literal_column("value")).select_from(
                func.json_each(bindparam("exclude"))
            )
            others = p.c.tenant_id.not_in(listed.scalar_subquery())
        due_elsewhere = due.where(others)
        self.claim_due_excluding = hot(
            due_elsewhere.with_for_update(skip_locked=True)
            if dialect == "postgresql"
            else due_elsewhere
        )
        # The executor's heartbeat (ADR 0026): only the attempt that holds the lease renews
        # it; on PostgreSQL a claim in progress holds the row, so this waits for it and then
        # finds another attempt.
        self.renew_lease = hot(
            update(p)
            .where(
                p.c.id == bindparam("proposal_id"),
                p.c.tenant_id == bindparam("tenant"),
                p.c.status == Status.APPROVED.value,
                p.c.attempts == bindparam("attempt"),
                p.c.lease_until.is_not(None),
            )
            .values(lease_until=bindparam("renewed_until", type_=p.c.lease_until.type))
            .returning(p.c.id)
        )
        # TRUNCATE is transactional on PostgreSQL and far cheaper than DELETE for a replay.
        self.clear: Executable = (
            text("TRUNCATE proposals") if dialect == "postgresql" else delete(p)
        )


#: The bind names of a view's columns in `record` (the event's own take the plain names).
VIEW_PREFIX: Final = "p_"


def _recording(append: Executable) -> Executable:
    """`ProposalStatements.record`: an event's append (INSERT … RETURNING position) as a
    CTE, and the proposal's upsert fed by it (PostgreSQL)."""
    p = proposals
    appended = cast_type(Any, append).cte("appended")

    def value(column: Any) -> Any:
        if column.name == "last_position":
            return appended.c.position
        param = bindparam(VIEW_PREFIX + column.name, type_=column.type)
        # psycopg's dialect casts every bind but a numeric one; a NULL without a type
        # would be text in a SELECT list, which no numeric column takes.
        return cast(param, column.type) if isinstance(column.type, Numeric) else param

    upsert = postgresql.insert(p).from_select(
        [c.name for c in p.c], select(*(value(c) for c in p.c)).select_from(appended)
    )
    return (
        upsert.on_conflict_do_update(
            index_elements=[p.c.id],
            set_={c.name: upsert.excluded[c.name] for c in p.c if c.name != "id"},
        )
        .returning(p.c.last_position)
        .add_cte(appended)
    )


@cache
def statements_for(dialect: str) -> ProposalStatements:
    """The proposal statements of a dialect (built on first use, then shared)."""
    return ProposalStatements(dialect)


_COLUMNS: Final = tuple(c.name for c in proposals.c)
_TIMES: Final = (
    "proposed_at",
    "updated_at",
    "decided_at",
    "next_attempt_at",
    "lease_until",
)
_JSON: Final = ("data", "corrections", "external_ids")
_JSON_ENCODER: Final = msgspec.json.Encoder()


def _values(view: ProposalView) -> dict[str, Any]:
    """A view as the bind values of `upsert` through SQLAlchemy (SQLite)."""
    values = msgspec.structs.asdict(view)
    values["status"] = view.status.value
    for name in _TIMES:
        values[name] = maybe_aware(values[name])
    return values


def _proposal(row: AnyRow) -> ProposalView:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["status"] = STATUS[values["status"]]
    for name in _TIMES:
        if values[name] is not None:
            values[name] = utc(values[name])
    return ProposalView(**values)


class SqlProposals:
    """The ProposalProjection port on the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)

    async def upsert(self, view: ProposalView) -> None:
        await self._tx.rows(self._sql.upsert, self.bind(view))

    def bind(self, view: ProposalView, prefix: str = "") -> dict[str, Any]:
        """A view as the bind values of `upsert` (`record`: with VIEW_PREFIX)."""
        values = msgspec.structs.asdict(view)
        values["status"] = view.status.value
        for name in _TIMES:
            values[name] = maybe_aware(values[name])
        json = self._tx.json
        for name in _JSON:
            if values[name] is not None:
                values[name] = json(values[name])
        if prefix:
            return {prefix + name: value for name, value in values.items()}
        return values

    async def upsert_many(self, views: Sequence[ProposalView]) -> None:
        # One row per id, the last view of it (an upsert may touch a row only once).
        latest = {view.id: view for view in views}
        if not latest:
            return
        if self._sql.upsert_many is None:
            await self._tx.execute(
                self._sql.upsert.statement, [_values(view) for view in latest.values()]
            )
            return
        for view in latest.values():
            for name in _TIMES:
                maybe_aware(getattr(view, name))  # a naive time would be read as local
        rows = Json(_JSON_ENCODER.encode(list(latest.values())), dumps=unchanged)
        await self._tx.rows(self._sql.upsert_many, {"rows": rows})

    async def get(self, tenant_id: str, proposal_id: uuid.UUID) -> ProposalView | None:
        rows = await self._tx.rows(self._sql.get, {"id": proposal_id, "tenant_id": tenant_id})
        return _proposal(rows[0]) if rows else None

    async def page(self, tenant_id: str, where: ProposalFilter) -> list[ProposalView]:
        p = proposals
        stmt: Select[Any] = select(p).where(
            p.c.tenant_id == tenant_id, p.c.last_position > where.after_position
        )
        if where.until_position is not None:
            stmt = stmt.where(p.c.last_position <= where.until_position)
        if where.statuses:
            stmt = stmt.where(p.c.status.in_([s.value for s in where.statuses]))
        if where.kinds:
            stmt = stmt.where(p.c.kind.in_(where.kinds))
        stmt = stmt.order_by(p.c.last_position).limit(max(where.limit, 0))
        return [_proposal(row) for row in await self._tx.execute(stmt)]

    async def find_duplicates(self, tenant_id: str, probe: DuplicateProbe) -> list[uuid.UUID]:
        params = duplicate_params(tenant_id, probe)
        if probe.document_number is None:
            stmt = self._sql.duplicates_by_amount
        else:
            stmt = self._sql.duplicates_by_amount_or_number
        rows = await self._tx.rows(stmt, params)
        return nearest_duplicates(probe, ((r[0], r[1], r[2]) for r in rows))

    async def same_document(
        self, tenant_id: str, document_hash: str, exclude_id: uuid.UUID
    ) -> list[uuid.UUID]:
        params = {"tenant_id": tenant_id, "document_hash": document_hash, "exclude_id": exclude_id}
        return [row[0] for row in await self._tx.rows(self._sql.same_document, params)]

    async def settled_data(
        self, tenant_id: str, kind: str, merchant_key: str, limit: int
    ) -> list[dict[str, Any]]:
        return await self._settled(tenant_id, kind, proposals.c.merchant_key == merchant_key, limit)

    async def settled_data_of_org(
        self, tenant_id: str, kind: str, org_number: str, limit: int
    ) -> list[dict[str, Any]]:
        return await self._settled(tenant_id, kind, proposals.c.org_number == org_number, limit)

    async def _settled(
        self, tenant_id: str, kind: str, supplier: ColumnElement[bool], limit: int
    ) -> list[dict[str, Any]]:
        """The data (with corrections) of the supplier's newest approved or executed
        proposals of `kind`, newest first, at most `limit` (by name or by org. no.)."""
        p = proposals
        stmt = (
            select(p.c.data, p.c.corrections)
            .where(
                p.c.tenant_id == tenant_id,
                supplier,
                p.c.kind == kind,
                p.c.status.in_((Status.APPROVED.value, Status.EXECUTED.value)),
            )
            .order_by(p.c.last_position.desc())
            .limit(max(limit, 0))
        )
        rows = await self._tx.execute(stmt)
        return [{**(row.data or {}), **(row.corrections or {})} for row in rows]

    async def lock_bank_event(self, tenant_id: str, folio_event_id: str) -> None:
        await self._xact_lock(bank_event_lock_key(tenant_id, folio_event_id))

    async def lock_purchase(self, tenant_id: str, marks: Sequence[str]) -> None:
        # In the keys' order: two units locking overlapping marks never wait for each other.
        for key in sorted({purchase_lock_key(tenant_id, mark) for mark in marks}):
            await self._xact_lock(key)

    async def _xact_lock(self, key: int) -> None:
        # Through SQLAlchemy: it opens the unit's transaction, which holds the lock until
        # the unit commits (SQLite: the write turn serialises units already).
        if self._tx.dialect == "postgresql":
            await self._tx.execute(_XACT_LOCK, {"key": key})

    async def bank_event_claims(self, tenant_id: str, folio_event_id: str) -> list[ProposalView]:
        # On the execute path of every receipt (ADR 0051 addendum): a hot statement, read
        # outside a transaction (ADR 0041) — no BEGIN and no ROLLBACK round trips.
        params = {"tenant_id": tenant_id, "folio_event_id": folio_event_id}
        return [_proposal(row) for row in await self._tx.rows(self._sql.bank_event_claims, params)]

    async def lock_compensations(self, tenant_id: str, target_id: uuid.UUID) -> None:
        # The proposal is then written and committed in the same unit, so a racing
        # proposal waits and reads this one.
        await self._xact_lock(compensations_lock_key(tenant_id, target_id))

    async def open_compensations(self, tenant_id: str, target_id: uuid.UUID) -> list[uuid.UUID]:
        result = await self._tx.execute(
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
            for row in await self._tx.execute(stmt)
        ]

    async def claim_due(
        self, now: dt.datetime, limit: int, exclude_tenants: Sequence[str] = ()
    ) -> list[ProposalView]:
        params: dict[str, Any] = {"now": aware(now), "limit": max(limit, 0)}
        if not exclude_tenants:
            rows = await self._tx.rows(self._sql.claim_due, params)
        else:
            excluded = list(exclude_tenants)
            params["exclude"] = (
                excluded
                if self._sql.dialect == "postgresql"
                else msgspec.json.encode(excluded).decode()
            )
            rows = await self._tx.rows(self._sql.claim_due_excluding, params)
        return [_proposal(row) for row in rows]

    async def renew_lease(
        self, tenant_id: str, proposal_id: uuid.UUID, attempt: int, lease_until: dt.datetime
    ) -> bool:
        rows = await self._tx.rows(
            self._sql.renew_lease,
            {
                "proposal_id": proposal_id,
                "tenant": tenant_id,
                "attempt": attempt,
                "renewed_until": aware(lease_until),
            },
        )
        return bool(rows)

    async def clear(self) -> None:
        await self._tx.execute(self._sql.clear)
