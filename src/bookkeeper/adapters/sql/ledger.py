"""The ledger projection on SQLite and PostgreSQL: `journal_lines` and `ledger_daily`.

Migration 0003 creates the tables (and the BI views over them); they are declared here, on
the schema's `metadata`, because only this adapter uses them.

* `journal_lines`: one row per posted line, denormalised with its entry (date, position,
  source, proposal, time) so the general ledger reads one index range: (tenant, account,
  date, position, line_no), which is also the keyset order of its pages.
* `ledger_daily`: debit and credit per (tenant, account, day), added to in the same
  transaction as the lines (`INSERT … ON CONFLICT DO UPDATE SET debit = debit + excluded…`).
  The trial balance and opening balances read this table, whose size grows with accounts ×
  days rather than with lines, so they stay fast over millions of lines.

A post is idempotent by entry id without a lookup: the lines are inserted with `ON
CONFLICT (entry_id, line_no) DO NOTHING RETURNING`, and only the lines actually inserted
are added to the daily totals (on PostgreSQL a concurrent second post of the same entry
waits for the first and then inserts nothing). Each post is two statements, whatever its
size; a replay posts a whole page of entries in the same two (see `post_many`).

`vat_totals` answers base and VAT of each code as debit minus credit, the VAT on output
VAT accounts apart (a reverse-charge code has both sides; the application turns
them into the sign a VAT return shows) and the base on income accounts apart (a sale of a
code without a direction); a line with a VAT code but no part counts as base.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec
from psycopg.types.json import Json
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    bindparam,
    cast,
    delete,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.schema import Amount, UtcDateTime, metadata
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect
from bookkeeper.application.ledger import (
    LedgerPosting,
    daily_totals,
    ledger_lines,
)
from bookkeeper.application.ports import AccountTotal, LedgerLineView, VatTotal
from bookkeeper.domain.events import JournalEntryPostedData
from bookkeeper.domain.ledger import TAX, is_income_account
from bookkeeper.domain.rules import is_output_vat_account
from bookkeeper.domain.statements import YearTotal

journal_lines = Table(
    "journal_lines",
    metadata,
    Column("tenant_id", Text(), nullable=False),
    Column("entry_id", Uuid(), nullable=False),
    Column("line_no", Integer(), nullable=False),
    Column("position", BigInteger(), nullable=False),
    Column("date", Date(), nullable=False),
    Column("account", Text(), nullable=False),
    Column("debit", Amount, nullable=False),
    Column("credit", Amount, nullable=False),
    Column("description", Text(), nullable=False),
    Column("vat_code", Text(), nullable=True),
    Column("vat_part", Text(), nullable=True),
    Column("source", Text(), nullable=False),
    Column("proposal_id", Uuid(), nullable=True),
    Column("posted_at", UtcDateTime(), nullable=False),
    #: The entry's own description (a line's may differ), for the BI view.
    Column("entry_description", Text(), nullable=False),
    PrimaryKeyConstraint("entry_id", "line_no", name="pk_journal_lines"),
    Index("ix_journal_lines_account", "tenant_id", "account", "date", "position", "line_no"),
)

ledger_daily = Table(
    "ledger_daily",
    metadata,
    Column("tenant_id", Text(), nullable=False),
    Column("account", Text(), nullable=False),
    Column("date", Date(), nullable=False),
    Column("debit", Amount, nullable=False),
    Column("credit", Amount, nullable=False),
    PrimaryKeyConstraint("tenant_id", "account", "date", name="pk_ledger_daily"),
)

_LINE_COLUMNS: Final = tuple(LedgerLineView.__struct_fields__)
_ZERO: Final = Decimal("0.00")


#: PostgreSQL posts any number of lines in one statement with a constant text: the lines
#: travel as one JSON array of objects named like the columns (msgspec encodes it in C,
#: about ten times cheaper than psycopg building one array per column), and the daily
#: totals are added from what the insert returns — only the lines it actually inserted,
#: so a repeated post adds nothing. The increments are applied in key order, so that two
#: transactions touching the same days lock their rows in the same order and cannot
#: deadlock.
_POST_ARRAYS: Final = text(
    """
    WITH inserted AS (
        INSERT INTO journal_lines (
            tenant_id, entry_id, line_no, position, date, account, debit, credit,
            description, vat_code, vat_part, source, proposal_id, posted_at, entry_description
        )
        SELECT
            tenant_id, entry_id, line_no, position, date, account, debit, credit,
            description, vat_code, vat_part, source, proposal_id, posted_at, entry_description
        FROM json_populate_recordset(NULL::journal_lines, CAST(:lines AS json))
        ON CONFLICT (entry_id, line_no) DO NOTHING
        RETURNING tenant_id, account, date, debit, credit
    )
    INSERT INTO ledger_daily (tenant_id, account, date, debit, credit)
    SELECT tenant_id, account, date, sum(debit), sum(credit)
    FROM inserted
    GROUP BY tenant_id, account, date
    ORDER BY tenant_id, account, date
    ON CONFLICT (tenant_id, account, date) DO UPDATE
    SET debit = ledger_daily.debit + excluded.debit,
        credit = ledger_daily.credit + excluded.credit
    """
)
_JSON_ENCODER: Final = msgspec.json.Encoder()


def _unchanged(value: bytes) -> bytes:
    return value


class LedgerStatements:
    """The fixed statements of one dialect, built once so their compiled forms are cached."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        jl, ld = journal_lines, ledger_daily
        self.insert_lines = (
            insert(jl)
            .on_conflict_do_nothing(index_elements=[jl.c.entry_id, jl.c.line_no])
            .returning(jl.c.entry_id, jl.c.line_no)
        )
        upsert = insert(ld)
        self.add_daily = upsert.on_conflict_do_update(
            index_elements=[ld.c.tenant_id, ld.c.account, ld.c.date],
            set_={
                "debit": ld.c.debit + upsert.excluded.debit,
                "credit": ld.c.credit + upsert.excluded.credit,
            },
        )
        self.line_columns = tuple(jl.c[name] for name in _LINE_COLUMNS)
        self.opening_balance = select(func.sum(ld.c.debit), func.sum(ld.c.credit)).where(
            ld.c.tenant_id == bindparam("tenant_id"),
            ld.c.account == bindparam("account"),
            ld.c.date < bindparam("before", type_=Date()),
        )
        self.accounts_used = (
            select(ld.c.account)
            .where(ld.c.tenant_id == bindparam("tenant_id"))
            .distinct()
            .order_by(ld.c.account)
        )
        self.entry_lines = (
            select(*self.line_columns)
            .where(jl.c.tenant_id == bindparam("tenant_id"), jl.c.entry_id == bindparam("entry_id"))
            .order_by(jl.c.line_no)
        )
        # Per account too: a VAT line's tells output from input VAT (a reverse-charge code
        # has both, ADR 0047), a basis line's a sale from a purchase (addendum 4).
        self.vat_totals = (
            select(
                jl.c.vat_code,
                jl.c.vat_part,
                jl.c.account,
                func.sum(jl.c.debit),
                func.sum(jl.c.credit),
            )
            .where(
                jl.c.tenant_id == bindparam("tenant_id"),
                jl.c.vat_code.is_not(None),
                jl.c.date.between(bindparam("start", type_=Date()), bindparam("end", type_=Date())),
            )
            .group_by(jl.c.vat_code, jl.c.vat_part, jl.c.account)
        )
        self.post_arrays = _POST_ARRAYS if dialect == "postgresql" else None
        #: The same on the psycopg hot path (ADR 0008): an executed proposal posts with it.
        self.post_arrays_hot: Hot | None = None
        if dialect == "postgresql":
            self.post_arrays_hot = Hot(_POST_ARRAYS, hot_dialect(dialect), returns_rows=False)
        # TRUNCATE is transactional on PostgreSQL and far cheaper than DELETE for a replay.
        self.clear: tuple[Executable, ...] = (
            (text("TRUNCATE journal_lines, ledger_daily"),)
            if dialect == "postgresql"
            else (delete(jl), delete(ld))
        )


_STATEMENTS: dict[str, LedgerStatements] = {}


def statements_for(dialect: str) -> LedgerStatements:
    """The ledger statements of a dialect (built on first use, then shared)."""
    found = _STATEMENTS.get(dialect)
    if found is None:
        found = _STATEMENTS[dialect] = LedgerStatements(dialect)
    return found


def _line_row(line: LedgerLineView, entry_description: str) -> dict[str, Any]:
    row = {name: getattr(line, name) for name in _LINE_COLUMNS}
    row["entry_description"] = entry_description
    return row


def _line(row: Any) -> LedgerLineView:
    return LedgerLineView(**dict(zip(_LINE_COLUMNS, row, strict=True)))


class SqlLedger:
    """The LedgerProjection port (and BulkLedger) in the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)

    async def post(
        self,
        tenant_id: str,
        entry_id: uuid.UUID,
        position: int,
        posted_at: dt.datetime,
        entry: JournalEntryPostedData,
    ) -> None:
        await self.post_many([LedgerPosting.of(tenant_id, entry_id, position, posted_at, entry)])

    async def post_many(self, postings: Sequence[LedgerPosting]) -> None:
        rows: list[dict[str, Any]] = []
        lines: dict[tuple[uuid.UUID, int], LedgerLineView] = {}
        for posting in postings:
            for line in ledger_lines(posting):
                key = (line.entry_id, line.line_no)
                if key not in lines:  # the same entry twice in one call counts once
                    lines[key] = line
                    rows.append(_line_row(line, posting.entry.description))
        if not rows:
            return
        if self._sql.post_arrays_hot is not None:
            lines_json = Json(_JSON_ENCODER.encode(rows), dumps=_unchanged)
            await self._tx.rows(self._sql.post_arrays_hot, {"lines": lines_json})
            return
        result = await self._tx.execute(self._sql.insert_lines, rows)
        inserted = [lines[(entry_id, line_no)] for entry_id, line_no in result.all()]
        if not inserted:
            return
        increments = [
            {"tenant_id": tenant, "account": account, "date": date, "debit": d, "credit": c}
            for (tenant, account, date), (d, c) in sorted(daily_totals(inserted).items())
        ]
        await self._tx.execute(self._sql.add_daily, increments)

    async def trial_balance(
        self, tenant_id: str, start: dt.date | None, end: dt.date | None
    ) -> list[AccountTotal]:
        ld = ledger_daily
        stmt = select(ld.c.account, func.sum(ld.c.debit), func.sum(ld.c.credit)).where(
            ld.c.tenant_id == tenant_id
        )
        if start is not None:
            stmt = stmt.where(ld.c.date >= start)
        if end is not None:
            stmt = stmt.where(ld.c.date <= end)
        stmt = stmt.group_by(ld.c.account).order_by(ld.c.account)
        return [
            AccountTotal(account=account, debit=debit, credit=credit)
            for account, debit, credit in await self._tx.execute(stmt)
        ]

    async def opening_balance(self, tenant_id: str, account: str, before: dt.date) -> Decimal:
        result = await self._tx.execute(
            self._sql.opening_balance,
            {"tenant_id": tenant_id, "account": account, "before": before},
        )
        debit, credit = result.one()  # NULL (None) when the account has no earlier line
        return (debit or _ZERO) - (credit or _ZERO)

    async def year_totals(
        self, tenant_id: str, start: dt.date | None, end: dt.date | None
    ) -> list[YearTotal]:
        # Grouped by account, year and whether before `start`: two sums per group, no CASE
        # per row. date_part (a double) rather than EXTRACT (a numeric on PostgreSQL 14+),
        # measured about half the cost per row; SQLite's year is strftime's.
        ld = ledger_daily
        if self._tx.dialect == "postgresql":
            year: Any = cast(func.date_part("year", ld.c.date), Integer)
        else:
            year = cast(func.strftime("%Y", ld.c.date), Integer)
        keys: list[Any] = [ld.c.account, year]
        if start is not None:
            keys.append(ld.c.date < start)
        stmt = select(*keys, func.sum(ld.c.debit), func.sum(ld.c.credit))
        stmt = stmt.where(ld.c.tenant_id == tenant_id)
        if end is not None:
            stmt = stmt.where(ld.c.date <= end)
        stmt = stmt.group_by(*keys)
        totals: dict[tuple[str, int], tuple[Decimal, Decimal, Decimal]] = {}
        for row in await self._tx.execute(stmt):
            account, year_, debit, credit = row[0], row[1], row[-2], row[-1]
            before_start = start is not None and row[2]
            key = (account, int(year_))
            before, in_debit, in_credit = totals.get(key, (_ZERO, _ZERO, _ZERO))
            if before_start:
                before += debit - credit
            else:
                in_debit += debit
                in_credit += credit
            totals[key] = (before, in_debit, in_credit)
        return [
            YearTotal(account=account, year=year_, before=before, debit=debit, credit=credit)
            for (account, year_), (before, debit, credit) in sorted(totals.items())
        ]

    async def last_date(self, tenant_id: str) -> dt.date | None:
        ld = ledger_daily
        result = await self._tx.execute(
            select(func.max(ld.c.date)).where(ld.c.tenant_id == tenant_id)
        )
        last: dt.date | None = result.scalar_one()
        return last

    async def first_date(self, tenant_id: str) -> dt.date | None:
        ld = ledger_daily
        result = await self._tx.execute(
            select(func.min(ld.c.date)).where(ld.c.tenant_id == tenant_id)
        )
        first: dt.date | None = result.scalar_one()
        return first

    async def general_ledger(
        self,
        tenant_id: str,
        account: str,
        start: dt.date | None,
        end: dt.date | None,
        after: tuple[dt.date, int, int] | None,
        limit: int,
    ) -> list[LedgerLineView]:
        jl = journal_lines
        stmt = select(*self._sql.line_columns).where(
            jl.c.tenant_id == tenant_id, jl.c.account == account
        )
        if start is not None:
            stmt = stmt.where(jl.c.date >= start)
        if end is not None:
            stmt = stmt.where(jl.c.date <= end)
        if after is not None:
            # A row-value comparison: one range of the (tenant, account, date, position,
            # line_no) index on both engines.
            stmt = stmt.where(tuple_(jl.c.date, jl.c.position, jl.c.line_no) > tuple_(*after))
        stmt = stmt.order_by(jl.c.date, jl.c.position, jl.c.line_no).limit(max(limit, 0))
        return [_line(row) for row in await self._tx.execute(stmt)]

    async def vat_totals(self, tenant_id: str, start: dt.date, end: dt.date) -> list[VatTotal]:
        result = await self._tx.execute(
            self._sql.vat_totals, {"tenant_id": tenant_id, "start": start, "end": end}
        )
        totals: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {}
        for code, part, account, debit, credit in result:
            base, vat, output, income = totals.get(code, (_ZERO, _ZERO, _ZERO, _ZERO))
            if part == TAX:
                vat += debit - credit
                if is_output_vat_account(account):
                    output += debit - credit
            else:
                base += debit - credit
                if is_income_account(account):
                    income += debit - credit
            totals[code] = (base, vat, output, income)
        return [
            VatTotal(vat_code=code, base=base, vat=vat, output=output, income=income)
            for code, (base, vat, output, income) in sorted(totals.items())
        ]

    async def accounts_used(self, tenant_id: str) -> list[str]:
        result = await self._tx.execute(self._sql.accounts_used, {"tenant_id": tenant_id})
        return list(result.scalars())

    async def entry_lines(self, tenant_id: str, entry_id: uuid.UUID) -> list[LedgerLineView]:
        result = await self._tx.execute(
            self._sql.entry_lines, {"tenant_id": tenant_id, "entry_id": entry_id}
        )
        return [_line(row) for row in result]

    async def clear(self) -> None:
        for statement in self._sql.clear:
            await self._tx.execute(statement)
