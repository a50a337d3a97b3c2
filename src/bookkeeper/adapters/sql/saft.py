"""The SAF-T export's reads (AuditReads) on SQLite and PostgreSQL.

An export reads for as long as its client downloads, so it does not use a unit of work
(on SQLite a unit of work holds the process's write turn): it opens its own connection
and one read-only transaction, which is what makes the file consistent — the totals in
GeneralLedgerEntries are read before the lines, and must still match them at the end.

* PostgreSQL: REPEATABLE READ, READ ONLY — one snapshot for every statement.
* SQLite (WAL): a deferred BEGIN; the first SELECT fixes the snapshot, and writers carry
  on meanwhile. An in-memory database has one shared connection, so there the export
  takes the write turn for its duration (tests and demos only).

Lines are read in (date, position, line_no) keyset pages over `ix_journal_lines_period`
(migration 0008), each joined to its event (the actor) and its proposal (the supplier; a
reversal's through the proposal it compensates). Balances come from `ledger_daily`. On
PostgreSQL the pages are read through psycopg's own cursor on the snapshot's connection
(`_driver_rows`): SQLAlchemy's per-row result processing cost more than the read itself.

The customer a line names lives in its JournalEntryPosted event (the line's `party`), not
in `journal_lines` (no migration): a page's receivables lines look their entries' events
up in one query, and the customer master data reads the events that name a party (a
JSONB path test on PostgreSQL, a text search on SQLite) and sums their receivables lines.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, Final

import msgspec
import psycopg
from sqlalchemy import (
    Column,
    Integer,
    PrimaryKeyConstraint,
    Select,
    Table,
    Text,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.sql.database import _READ_ONLY, SqlDatabase
from bookkeeper.adapters.sql.ledger import journal_lines, ledger_daily
from bookkeeper.adapters.sql.schema import Amount, events, metadata, proposals
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.postings import EXCHANGE_METADATA, exchange_in
from bookkeeper.application.saft import (
    AccountBalances,
    AuditLine,
    AuditSnapshot,
    BalanceOnAccount,
    CustomerBalance,
    EntryTotals,
    Grouping,
    LineKey,
    PartyFolder,
    PartyLine,
    SupplierBalance,
    customer_folder,
    customers_folded,
    is_payables,
    is_receivables,
    merge_suppliers,
    supplier_folder,
    supplier_id_of,
    suppliers_folded,
    with_party,
)
from bookkeeper.domain import money
from bookkeeper.domain.events import JournalEntryPostedData, decode_payload
from bookkeeper.domain.ledger import CUSTOMER, SUPPLIER
from bookkeeper.domain.rules import NOK

saft_grouping = Table(
    "saft_grouping",
    metadata,
    Column("tenant_id", Text(), nullable=False),
    Column("first_account", Integer(), nullable=False),
    Column("last_account", Integer(), nullable=False),
    Column("grouping_category", Text(), nullable=False),
    Column("grouping_code", Text(), nullable=False),
    PrimaryKeyConstraint("tenant_id", "first_account", "last_account", name="pk_saft_grouping"),
)

DEFAULT_TENANT: Final = "*"
_ZERO: Final = Decimal("0.00")
_JOURNAL_ENTRY_POSTED: Final = "JournalEntryPosted"
#: A constant jsonpath (PostgreSQL): an entry with a line that names a party.
_PARTY_PATH: Final = "'$.lines[*].party'::jsonpath"
#: Events that name a party, read per page (keyset on position) and folded as they come.
PARTY_PAGE: Final = 2000
#: At most this many receivables/payables lines' parties are kept for the line pages
#: (about 20 MB); a ledger with more sales than that looks each page's up instead.
LINE_PARTIES_KEPT: Final = 100_000

_jl, _ld = journal_lines, ledger_daily
_proposal = proposals.alias("proposal")
_target = proposals.alias("target")
_event = events.alias("entry_event")
#: A reversal's own proposal names no merchant; the proposal it compensates does.
_merchant_key = func.coalesce(_proposal.c.merchant_key, _target.c.merchant_key)
_merchant_name = func.coalesce(_proposal.c.merchant_name, _target.c.merchant_name)
#: The seller's organisation number the (compensated) proposal's document carries.
_org_number = func.coalesce(
    _proposal.c.data["merchantOrgNumber"].as_string(),
    _proposal.c.data["supplierOrgNumber"].as_string(),
    _target.c.data["merchantOrgNumber"].as_string(),
    _target.c.data["supplierOrgNumber"].as_string(),
)


#: The proposal whose stream records the conversion of a foreign-currency document a line
#: was booked from (ADR 0051): the purchase's own; a reversal's or correction's target's
#: (its own payload has no currency). NULL for a NOK line — the most — so that only the
#: few foreign ones are looked up.
_currency = func.coalesce(
    _proposal.c.data["currency"].as_string(), _target.c.data["currency"].as_string()
)


def _with_proposals(stmt: Select[Any]) -> Select[Any]:
    return stmt.select_from(
        _jl.outerjoin(_proposal, _proposal.c.id == _jl.c.proposal_id).outerjoin(
            _target, _target.c.id == _proposal.c.target_proposal_id
        )
    )


class SqlAuditSnapshot:
    """AuditSnapshot on one connection inside one read-only transaction."""

    def __init__(self, connection: AsyncConnection, tenant_id: str) -> None:
        self._connection = connection
        self._tenant = tenant_id
        #: (kind, party id) of each receivables or payables line that names its party, by
        #: (entry id, line no), once the party lines are read: `lines` needs no lookup
        #: then (None: not read, or more than LINE_PARTIES_KEPT of them).
        self._line_parties: dict[tuple[Any, int], tuple[str, str]] | None = None
        #: The customers and suppliers folded from the party lines, for which period.
        self._party_folds: tuple[tuple[dt.date, dt.date], PartyFolder, PartyFolder] | None = None
        self._postgres = connection.dialect.name == "postgresql"
        #: supplier_id_of by merchant key: a page names the same few merchants again.
        self._supplier_ids: dict[str, str] = {}

    async def _execute(self, statement: Any, params: Any = None) -> Any:
        try:
            return await self._connection.execute(statement, params)
        except Exception as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error

    async def entry_totals(self, start: dt.date, end: dt.date) -> EntryTotals:
        stmt = select(
            func.count(distinct(_jl.c.entry_id)), func.sum(_jl.c.debit), func.sum(_jl.c.credit)
        ).where(_jl.c.tenant_id == self._tenant, _jl.c.date.between(start, end))
        entries, debit, credit = (await self._execute(stmt)).one()
        return EntryTotals(entries=entries or 0, debit=debit or _ZERO, credit=credit or _ZERO)

    async def account_balances(self, start: dt.date, end: dt.date) -> list[AccountBalances]:
        before = _ld.c.date < start

        def part(column: Any, when: Any) -> Any:
            return type_coerce(func.sum(case((when, column), else_=literal(0))), Amount)

        stmt = (
            select(
                _ld.c.account,
                part(_ld.c.debit, before),
                part(_ld.c.credit, before),
                part(_ld.c.debit, ~before),
                part(_ld.c.credit, ~before),
            )
            .where(_ld.c.tenant_id == self._tenant, _ld.c.date <= end)
            .group_by(_ld.c.account)
            .order_by(_ld.c.account)
        )
        return [
            AccountBalances(
                account=account,
                opening_debit=_money(od),
                opening_credit=_money(oc),
                debit=_money(d),
                credit=_money(c),
            )
            for account, od, oc, d, c in await self._execute(stmt)
        ]

    async def suppliers(self, start: dt.date, end: dt.date) -> list[SupplierBalance]:
        named = suppliers_folded((await self._folded_parties(start, end))[1])
        return merge_suppliers(await self._executed_suppliers(start, end), named)

    async def _executed_suppliers(self, start: dt.date, end: dt.date) -> list[SupplierBalance]:
        """The merchants of executed proposals, with their balances on payables."""
        amount = _jl.c.debit - _jl.c.credit
        stmt = (
            _with_proposals(
                select(
                    _merchant_key,
                    func.max(_merchant_name),
                    func.max(_org_number),
                    _jl.c.account,
                    type_coerce(
                        func.sum(case((_jl.c.date < start, amount), else_=literal(0))), Amount
                    ),
                    type_coerce(func.sum(amount), Amount),
                )
            )
            .where(
                _jl.c.tenant_id == self._tenant,
                _jl.c.date <= end,
                _jl.c.proposal_id.is_not(None),
                _merchant_key.is_not(None),
            )
            .group_by(_merchant_key, _jl.c.account)
        )
        found: dict[str, SupplierBalance] = {}
        for key, name, org, account, opening, closing in await self._execute(stmt):
            supplier = found.get(key)
            org = org.replace(" ", "")[:35] if isinstance(org, str) and org.strip() else None
            if supplier is None:
                supplier = found[key] = SupplierBalance(
                    supplier_id=supplier_id_of(key),
                    name=name or key,
                    balances=[],
                    registration_number=org,
                )
            elif org is not None and supplier.registration_number is None:
                supplier = found[key] = msgspec.structs.replace(supplier, registration_number=org)
            if is_payables(account):
                supplier.balances.append(
                    BalanceOnAccount(
                        account=account, opening=_money(opening), closing=_money(closing)
                    )
                )
        for supplier in found.values():
            supplier.balances.sort(key=lambda b: b.account)
        return sorted(found.values(), key=lambda s: s.supplier_id)

    async def _posted(
        self, condition: Any
    ) -> AsyncIterator[tuple[uuid.UUID, int, JournalEntryPostedData]]:
        """The tenant's JournalEntryPosted events that meet `condition`, decoded, in log
        order, read PARTY_PAGE at a time (a ledger full of sales has one per sale)."""
        e = events
        after = 0
        while True:
            stmt = (
                select(e.c.stream_id, e.c.position, e.c.data, e.c.schema_version)
                .where(
                    e.c.tenant_id == self._tenant,
                    e.c.type == _JOURNAL_ENTRY_POSTED,
                    e.c.position > after,
                    condition,
                )
                .order_by(e.c.position)
                .limit(PARTY_PAGE)
            )
            rows = (await self._execute(stmt)).all()
            for stream_id, position, data, version in rows:
                payload = decode_payload(_JOURNAL_ENTRY_POSTED, data, version)
                if isinstance(payload, JournalEntryPostedData):
                    yield stream_id, position, payload
            if len(rows) < PARTY_PAGE:
                return
            after = rows[-1][1]

    def _names_a_party(self) -> Any:
        if self._connection.dialect.name == "postgresql":
            return func.jsonb_path_exists(events.c.data, literal_column(_PARTY_PATH))
        return func.instr(events.c.data, literal('"party"')) > 0

    async def _folded_parties(
        self, start: dt.date, end: dt.date
    ) -> tuple[PartyFolder, PartyFolder]:
        """The customers and the suppliers of the lines of the tenant's entries dated on
        or before `end` that name a party, folded as the events stream in, once per
        snapshot and period; also which payables or receivables line names whom (while
        there are at most LINE_PARTIES_KEPT), so `lines` needs no lookup."""
        if self._party_folds is not None and self._party_folds[0] == (start, end):
            return self._party_folds[1], self._party_folds[2]
        customers, suppliers = customer_folder(start, end), supplier_folder(start, end)
        named: dict[tuple[Any, int], tuple[str, str]] | None = {}
        async for stream_id, position, entry in self._posted(self._names_a_party()):
            if entry.date > end:
                continue
            for number, line in enumerate(entry.lines, start=1):
                party = line.party
                if party is None or party.kind not in (CUSTOMER, SUPPLIER):
                    continue
                if named is not None and _owes(party.kind, line.account):
                    named[(stream_id, number)] = (party.kind, party.id)
                    if len(named) > LINE_PARTIES_KEPT:
                        named = None
                folded = PartyLine(
                    date=entry.date,
                    position=position,
                    account=line.account,
                    debit=money.round_kr(line.debit),
                    credit=money.round_kr(line.credit),
                    party_id=party.id,
                    name=party.name,
                    org_number=party.org_number,
                    kind=party.kind,
                )
                (customers if party.kind == CUSTOMER else suppliers).add(folded)
        self._party_folds = ((start, end), customers, suppliers)
        self._line_parties = named
        return customers, suppliers

    async def customers(self, start: dt.date, end: dt.date) -> list[CustomerBalance]:
        return customers_folded((await self._folded_parties(start, end))[0])

    async def _parties_of_lines(
        self, entry_ids: set[Any]
    ) -> dict[tuple[Any, int], tuple[str, str]]:
        """(kind, party id) of each payables or receivables line of these entries that
        names its counterparty, by (entry id, line no)."""
        if self._line_parties is not None:
            return self._line_parties
        if not entry_ids:
            return {}
        e = events
        stmt = select(e.c.stream_id, e.c.data, e.c.schema_version).where(
            e.c.tenant_id == self._tenant,
            e.c.type == _JOURNAL_ENTRY_POSTED,
            e.c.stream_id.in_(sorted(entry_ids)),
            self._names_a_party(),
        )
        found: dict[tuple[Any, int], tuple[str, str]] = {}
        for stream_id, data, version in await self._execute(stmt):
            payload = decode_payload(_JOURNAL_ENTRY_POSTED, data, version)
            if not isinstance(payload, JournalEntryPostedData):
                continue
            for number, line in enumerate(payload.lines, start=1):
                party = line.party
                if party is not None and _owes(party.kind, line.account):
                    found[(stream_id, number)] = (party.kind, party.id)
        return found

    async def vat_codes(self, start: dt.date, end: dt.date) -> list[str]:
        stmt = (
            select(_jl.c.vat_code)
            .where(
                _jl.c.tenant_id == self._tenant,
                _jl.c.date.between(start, end),
                _jl.c.vat_code.is_not(None),
            )
            .distinct()
            .order_by(_jl.c.vat_code)
        )
        return list((await self._execute(stmt)).scalars())

    async def groupings(self) -> list[Grouping]:
        g = saft_grouping
        stmt = (
            select(g.c.first_account, g.c.last_account, g.c.grouping_category, g.c.grouping_code)
            .where(or_(g.c.tenant_id == self._tenant, g.c.tenant_id == DEFAULT_TENANT))
            # The tenant's own rows first: they win a tie with a default of the same width.
            .order_by(case((g.c.tenant_id == DEFAULT_TENANT, 1), else_=0), g.c.first_account)
        )
        return [
            Grouping(first=first, last=last, category=category, code=code)
            for first, last, category, code in await self._execute(stmt)
        ]

    async def lines(
        self, start: dt.date, end: dt.date, after: LineKey | None, limit: int
    ) -> list[AuditLine]:
        postgres = self._postgres
        stmt = _with_proposals(
            select(
                # PostgreSQL: an entry's id and posting time as text, made objects once per
                # entry below (its lines share them): psycopg's UUID and timestamptz loaders
                # cost more per row than the rest of the line.
                cast(_jl.c.entry_id, Text()) if postgres else _jl.c.entry_id,
                _jl.c.line_no,
                _jl.c.position,
                _jl.c.date,
                _jl.c.account,
                _jl.c.debit,
                _jl.c.credit,
                _jl.c.description,
                _jl.c.entry_description,
                _jl.c.vat_code,
                _jl.c.vat_part,
                _jl.c.source,
                _posted_text if postgres else _jl.c.posted_at,
                _event.c.actor,
                _merchant_key,
                self._exchange_owner(),
            )
        ).outerjoin(
            _event,
            and_(
                _event.c.stream_id == _jl.c.entry_id,
                _event.c.type == _JOURNAL_ENTRY_POSTED,
            ),
        )
        stmt = stmt.where(_jl.c.tenant_id == self._tenant, _jl.c.date.between(start, end))
        if after is not None:
            stmt = stmt.where(tuple_(_jl.c.date, _jl.c.position, _jl.c.line_no) > tuple_(*after))
        stmt = stmt.order_by(_jl.c.date, _jl.c.position, _jl.c.line_no).limit(max(limit, 0))
        rows = await (self._driver_rows(stmt) if postgres else self._execute(stmt))
        page: list[AuditLine] = []
        append = page.append
        #: (index in the page, the proposal whose stream records the conversion) of each
        #: line booked from a foreign-currency document.
        foreign: list[tuple[int, Any]] = []
        supplier_ids = self._supplier_ids
        # An entry's lines share their id and posting time: convert them once per entry.
        last_entry: Any = None
        last_posted: Any = None
        entry_uuid = _NIL
        posted_utc = _EPOCH
        for (
            entry_key,
            line_no,
            position,
            date,
            account,
            debit,
            credit,
            description,
            entry_description,
            vat_code,
            vat_part,
            source,
            posted_at,
            actor,
            key,
            owner,
        ) in rows:
            if entry_key != last_entry:
                last_entry = entry_key
                entry_uuid = uuid.UUID(entry_key) if isinstance(entry_key, str) else entry_key
            if posted_at != last_posted:
                last_posted, posted_utc = posted_at, _utc(posted_at)
            supplier_id = None
            if key is not None:
                supplier_id = supplier_ids.get(key)
                if supplier_id is None:
                    supplier_id = supplier_ids[key] = supplier_id_of(key)
            append(
                AuditLine(
                    entry_id=entry_uuid,
                    line_no=line_no,
                    position=position,
                    date=date,
                    account=account,
                    debit=debit,
                    credit=credit,
                    description=description,
                    entry_description=entry_description,
                    vat_code=vat_code,
                    vat_part=vat_part,
                    source=source,
                    posted_at=posted_utc,
                    actor=actor or "unknown",
                    supplier_id=supplier_id,
                )
            )
            if owner is not None:
                foreign.append((len(page) - 1, owner))
        if foreign:
            page = await self._with_exchanges(page, foreign)
        # Only receivables lines carry a CustomerID, and payables lines a SupplierID; a
        # line's party (its entry's event) says whose, unless an executed purchase did.
        parties = self._line_parties
        if parties is None:
            parties = await self._parties_of_lines(
                {
                    line.entry_id
                    for line in page
                    if is_receivables(line.account)
                    or (is_payables(line.account) and line.supplier_id is None)
                }
            )
        if not parties:
            return page
        return [with_party(line, parties.get((line.entry_id, line.line_no))) for line in page]

    async def _with_exchanges(
        self, page: list[AuditLine], foreign: list[tuple[int, Any]]
    ) -> list[AuditLine]:
        """The page with the conversion of each foreign-currency line's document: the
        newest `exchange` its proposal's stream records (exchange_of), read in one query
        for the page's few foreign-currency proposals."""
        owners = {_as_uuid(owner) for _, owner in foreign}
        e = events
        stmt = (
            select(e.c.stream_id, e.c.metadata)
            .where(
                e.c.tenant_id == self._tenant,
                e.c.stream_id.in_(sorted(owners)),
                self._names_an_exchange(),
            )
            .order_by(e.c.position)
        )
        recorded: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for stream_id, meta in await self._execute(stmt):
            recorded.setdefault(_as_uuid(stream_id), []).append(meta or {})
        exchanges = {owner: exchange_in(found, owner) for owner, found in recorded.items()}
        page = list(page)
        for index, owner in foreign:
            exchange = exchanges.get(_as_uuid(owner))
            if exchange is not None:
                page[index] = msgspec.structs.replace(page[index], exchange=exchange)
        return page

    def _names_an_exchange(self, table: Any = events) -> Any:
        """An event whose metadata records a conversion (EXCHANGE_METADATA)."""
        if self._postgres:
            return func.jsonb_exists(table.c.metadata, literal(EXCHANGE_METADATA))
        return func.json_extract(table.c.metadata, f"$.{EXCHANGE_METADATA}").is_not(None)

    def _exchange_owner(self) -> Any:
        """The stream recording the conversion of a line's foreign-currency document: its
        proposal's (by _currency), or the entry's own when it has no proposal and its
        event records one (an imported entry, ADR 0056 addendum: Fiken's amounts in the
        currency; a sale or payment from the bus in another currency, ADR 0020
        addendum); NULL for the rest."""
        own = and_(_jl.c.proposal_id.is_(None), self._names_an_exchange(_event))
        return case(
            (_currency != NOK, func.coalesce(_proposal.c.target_proposal_id, _proposal.c.id)),
            (own, _jl.c.entry_id),
            else_=None,
        )

    async def _driver_rows(self, statement: Any) -> list[tuple[Any, ...]]:
        """PostgreSQL: the statement's rows straight from psycopg (on this connection, in
        its transaction), as plain tuples — without SQLAlchemy's result machinery, which
        costs more per row than reading it (ADR 0020, addendum of issue 14). The columns
        need no result processing there; the entry's id and posting time come as text
        and `lines` makes them objects once per entry. A driver error is translated by
        storage_error, as SQLAlchemy's would be (StorageUnavailable when the database
        cannot serve; any other error raised as psycopg raised it)."""
        compiled = statement.compile(dialect=self._connection.dialect)
        sql = str(compiled)
        try:
            raw = await self._connection.get_raw_connection()
            driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            async with driver.cursor() as cursor:
                await cursor.execute(sql, compiled.params)
                return await cursor.fetchall()
        except psycopg.Error as error:
            translated = storage_error(DBAPIError.instance(sql, None, error, psycopg.Error))
            if isinstance(translated, DBAPIError):
                raise
            raise translated from error


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NIL: Final = uuid.UUID(int=0)
#: PostgreSQL: a line's posting time as ISO text in UTC (microseconds kept).
_posted_text = func.to_char(
    func.timezone("UTC", _jl.c.posted_at), literal('YYYY-MM-DD"T"HH24:MI:SS.US')
)


def _utc(value: dt.datetime | str) -> dt.datetime:
    """A posting time as UtcDateTime reads it: aware, in UTC (from _posted_text's text on
    PostgreSQL)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


def _owes(kind: str, account: str) -> bool:
    """A customer's line on receivables, or a supplier's on payables (the lines that carry
    a CustomerID or SupplierID in the file)."""
    return is_receivables(account) if kind == CUSTOMER else is_payables(account)


def _money(value: Decimal | None) -> Decimal:
    """A sum (NULL when nothing was summed) as an amount in øre."""
    return _ZERO if value is None else value.quantize(Decimal("0.01"))


class SqlAuditReads:
    """AuditReads on a SqlDatabase: each snapshot its own connection and transaction."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    @asynccontextmanager
    async def snapshot(self, tenant_id: str) -> AsyncIterator[AuditSnapshot]:
        database = self._database
        shared = database.dialect == "sqlite" and database._url.in_memory
        if shared:
            await database.acquire_writer()
        try:
            async with database.engine.connect() as connection:
                if database.dialect == "postgresql":
                    connection = await connection.execution_options(
                        isolation_level="REPEATABLE READ"
                    )
                    await connection.begin()
                    await connection.execute(text("SET TRANSACTION READ ONLY"))
                else:
                    connection = await connection.execution_options(**{_READ_ONLY: True})
                    await connection.begin()
                try:
                    yield SqlAuditSnapshot(connection, tenant_id)
                finally:
                    await connection.rollback()
        finally:
            if shared:
                database.release_writer()
