"""The SAF-T export's reads (AuditReads) on the in-memory database: the reference the SQL
adapter is tested against. A snapshot copies the tenant's committed lines when it opens,
so it stays consistent while units of work commit beside it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from bookkeeper.adapters.memory import MemoryDatabase
from bookkeeper.adapters.saft.groupings import default_groupings
from bookkeeper.application.ports import LedgerLineView, ProposalView
from bookkeeper.application.postings import exchange_of
from bookkeeper.application.saft import (
    AccountBalances,
    AuditLine,
    AuditSnapshot,
    BalanceOnAccount,
    CustomerBalance,
    EntryTotals,
    Grouping,
    LineKey,
    PartyLine,
    SupplierBalance,
    customers_of,
    is_payables,
    merge_suppliers,
    org_number_of,
    supplier_id_of,
    suppliers_of,
    with_party,
)
from bookkeeper.domain.events import JournalEntryPostedData, Party
from bookkeeper.domain.ledger import CUSTOMER, SUPPLIER
from bookkeeper.domain.rules import NOK, Exchange

_ZERO = Decimal("0.00")


class MemoryAuditSnapshot:
    def __init__(
        self,
        lines: list[AuditLine],
        merchants: dict[str, tuple[str, str | None]],
        groupings: list[Grouping],
        parties: list[PartyLine] | None = None,
        line_parties: dict[tuple[uuid.UUID, int], tuple[str, str]] | None = None,
    ) -> None:
        #: Sorted by (date, position, line_no); the supplier of an executed purchase only.
        self._lines = lines
        self._merchants = merchants  # supplier id → name, organisation number
        self._groupings = groupings
        self._parties = parties or []
        #: (kind, id) of the party each line names, by (entry id, line no).
        self._line_parties = line_parties or {}

    def _period(self, start: dt.date, end: dt.date) -> list[AuditLine]:
        return [line for line in self._lines if start <= line.date <= end]

    async def entry_totals(self, start: dt.date, end: dt.date) -> EntryTotals:
        lines = self._period(start, end)
        return EntryTotals(
            entries=len({line.entry_id for line in lines}),
            debit=sum((line.debit for line in lines), _ZERO),
            credit=sum((line.credit for line in lines), _ZERO),
        )

    async def account_balances(self, start: dt.date, end: dt.date) -> list[AccountBalances]:
        sums: dict[str, list[Decimal]] = {}
        for line in self._lines:
            if line.date > end:
                continue
            row = sums.setdefault(line.account, [_ZERO, _ZERO, _ZERO, _ZERO])
            offset = 0 if line.date < start else 2
            row[offset] += line.debit
            row[offset + 1] += line.credit
        return [
            AccountBalances(account=account, opening_debit=od, opening_credit=oc, debit=d, credit=c)
            for account, (od, oc, d, c) in sorted(sums.items())
        ]

    async def suppliers(self, start: dt.date, end: dt.date) -> list[SupplierBalance]:
        named = suppliers_of(self._parties, start, end)
        return merge_suppliers(self._executed_suppliers(start, end), named)

    def _executed_suppliers(self, start: dt.date, end: dt.date) -> list[SupplierBalance]:
        found: dict[str, dict[str, list[Decimal]]] = {}
        for line in self._lines:
            if line.supplier_id is None or line.date > end:
                continue
            accounts = found.setdefault(line.supplier_id, {})
            if not is_payables(line.account):
                continue
            row = accounts.setdefault(line.account, [_ZERO, _ZERO])
            amount = line.debit - line.credit
            if line.date < start:
                row[0] += amount
            row[1] += amount
        return [
            SupplierBalance(
                supplier_id=supplier_id,
                name=self._merchants.get(supplier_id, (supplier_id, None))[0],
                registration_number=self._merchants.get(supplier_id, (supplier_id, None))[1],
                balances=[
                    BalanceOnAccount(account=account, opening=opening, closing=closing)
                    for account, (opening, closing) in sorted(accounts.items())
                ],
            )
            for supplier_id, accounts in sorted(found.items())
        ]

    async def customers(self, start: dt.date, end: dt.date) -> list[CustomerBalance]:
        return customers_of(self._parties, start, end)

    async def vat_codes(self, start: dt.date, end: dt.date) -> list[str]:
        return sorted({line.vat_code for line in self._period(start, end) if line.vat_code})

    async def groupings(self) -> list[Grouping]:
        return list(self._groupings)

    async def lines(
        self, start: dt.date, end: dt.date, after: LineKey | None, limit: int
    ) -> list[AuditLine]:
        found = [
            line
            for line in self._period(start, end)
            if after is None or (line.date, line.position, line.line_no) > after
        ]
        return [
            with_party(line, self._line_parties.get((line.entry_id, line.line_no)))
            for line in found[: max(limit, 0)]
        ]


class MemoryAuditReads:
    """AuditReads over a MemoryDatabase (the defaults of migration 0008 as groupings,
    plus a tenant's own ranges given here)."""

    def __init__(
        self, db: MemoryDatabase, tenant_groupings: dict[str, list[Grouping]] | None = None
    ) -> None:
        self._db = db
        self._tenant_groupings = tenant_groupings or {}

    @asynccontextmanager
    async def snapshot(self, tenant_id: str) -> AsyncIterator[AuditSnapshot]:
        db = self._db
        merchants: dict[str, tuple[str, str | None]] = {}
        lines: list[AuditLine] = []
        parties: list[PartyLine] = []
        line_parties: dict[tuple[uuid.UUID, int], tuple[str, str]] = {}
        for entry_lines in list(db.ledger.entries.values()):
            for line in entry_lines:
                if line.tenant_id != tenant_id:
                    continue
                supplier = self._supplier(line)
                if supplier is not None:
                    known = merchants.get(supplier[0], (supplier[1], None))[1]
                    merchants[supplier[0]] = (supplier[1], supplier[2] or known)
                party = self._party(line)
                if party is not None:
                    parties.append(
                        PartyLine(
                            date=line.date,
                            position=line.position,
                            account=line.account,
                            debit=line.debit,
                            credit=line.credit,
                            party_id=party.id,
                            name=party.name,
                            org_number=party.org_number,
                            kind=party.kind,
                        )
                    )
                audit = self._audit_line(line, supplier[0] if supplier else None)
                if party is not None:
                    line_parties[(audit.entry_id, audit.line_no)] = (party.kind, party.id)
                lines.append(audit)
        lines.sort(key=lambda line: (line.date, line.position, line.line_no))
        groupings = [*self._tenant_groupings.get(tenant_id, []), *default_groupings()]
        yield MemoryAuditSnapshot(lines, merchants, groupings, parties, line_parties)

    def _party(self, line: LedgerLineView) -> Party | None:
        """The customer or supplier the posted event's line names (lines numbered from 1)."""
        events = self._db.streams.get(line.entry_id) or []
        data = events[0].data if events else None
        if not isinstance(data, JournalEntryPostedData) or not 0 < line.line_no <= len(data.lines):
            return None
        party = data.lines[line.line_no - 1].party
        return party if party is not None and party.kind in (CUSTOMER, SUPPLIER) else None

    def _supplier(self, line: LedgerLineView) -> tuple[str, str, str | None] | None:
        if line.proposal_id is None:
            return None
        proposal: ProposalView | None = self._db.proposals.get(line.proposal_id)
        if proposal is not None and proposal.merchant_key is None and proposal.target_proposal_id:
            proposal = self._db.proposals.get(proposal.target_proposal_id)
        if proposal is None or proposal.merchant_key is None:
            return None
        key = proposal.merchant_key
        return supplier_id_of(key), proposal.merchant_name or key, org_number_of(proposal.data)

    def _audit_line(self, line: LedgerLineView, supplier_id: str | None) -> AuditLine:
        events = self._db.streams.get(line.entry_id) or []
        actor = events[0].actor if events else "unknown"
        description = (
            events[0].data.description
            if events and hasattr(events[0].data, "description")
            else line.description
        )
        return AuditLine(
            entry_id=line.entry_id,
            line_no=line.line_no,
            position=line.position,
            date=line.date,
            account=line.account,
            debit=line.debit,
            credit=line.credit,
            description=line.description,
            entry_description=description,
            vat_code=line.vat_code,
            vat_part=line.vat_part,
            source=line.source,
            posted_at=line.posted_at,
            actor=actor,
            supplier_id=supplier_id,
            exchange=self._exchange(line),
        )

    def _exchange(self, line: LedgerLineView) -> Exchange | None:
        """The conversion of the foreign-currency document the line was booked from: the
        proposal's own, or its target's for a reversal or correction (as the SQL reads)."""
        if line.proposal_id is None:
            # An imported foreign-currency document (ADR 0056 addendum), or a sale or
            # payment from the bus in another currency: its conversion is recorded with
            # the entry's own event (none for a manual or NOK entry).
            return exchange_of(self._db.streams.get(line.entry_id) or [], line.entry_id)
        proposal = self._db.proposals.get(line.proposal_id)
        if proposal is None:
            return None
        currency = proposal.data.get("currency")
        owner = proposal.id
        if proposal.target_proposal_id is not None:
            owner = proposal.target_proposal_id
            target = self._db.proposals.get(owner)
            if currency is None and target is not None:
                currency = target.data.get("currency")
        if currency is None or currency == NOK:
            return None
        return exchange_of(self._db.streams.get(owner) or [], owner)
