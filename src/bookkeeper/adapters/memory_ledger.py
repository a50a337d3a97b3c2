"""The ledger projection in memory: the reference the SQL adapter is tested against.

Transactional like the other in-memory projections: a unit of work stages its postings
(and a replay's clear) and `MemoryUnitOfWork.commit` applies them at once; reads inside the
unit see its own staged postings. Amounts are Decimal with two decimals, as the SQL
adapter returns them.

`vat_totals` answers base and VAT of each code as debit minus credit, and the VAT on output
VAT accounts apart (a reverse-charge code has both sides; the application turns
them into the sign a VAT return shows) and the base on income accounts apart, like the SQL
adapter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bookkeeper.application.ledger import LedgerPosting, ledger_lines
from bookkeeper.application.ports import AccountTotal, LedgerLineView, VatTotal
from bookkeeper.domain.events import JournalEntryPostedData
from bookkeeper.domain.ledger import TAX, is_income_account
from bookkeeper.domain.rules import is_output_vat_account
from bookkeeper.domain.statements import YearTotal

_ZERO = Decimal("0.00")


@dataclass
class LedgerState:
    """The committed ledger: every entry's lines, by entry id."""

    entries: dict[uuid.UUID, list[LedgerLineView]] = field(default_factory=dict)


def _sort_key(line: LedgerLineView) -> tuple[dt.date, int, int]:
    return (line.date, line.position, line.line_no)


class MemoryLedger:
    """One unit of work's view of the ledger: the committed state plus what it staged."""

    def __init__(self, state: LedgerState) -> None:
        self._state = state
        self._staged: dict[uuid.UUID, list[LedgerLineView]] = {}
        self._cleared = False

    # --- the unit of work's side --------------------------------------------------------

    def apply(self) -> None:
        """Make the staged postings (and a clear) part of the committed state."""
        if self._cleared:
            self._state.entries.clear()
        self._state.entries.update(self._staged)
        self.discard()

    def discard(self) -> None:
        """Forget what this unit staged (rollback)."""
        self._staged.clear()
        self._cleared = False

    def _has(self, entry_id: uuid.UUID) -> bool:
        return entry_id in self._staged or (not self._cleared and entry_id in self._state.entries)

    def _lines(self, tenant_id: str) -> Iterator[LedgerLineView]:
        committed = () if self._cleared else self._state.entries.values()
        for entry in (*committed, *self._staged.values()):
            for line in entry:
                if line.tenant_id == tenant_id:
                    yield line

    # --- the port -----------------------------------------------------------------------

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
        for posting in postings:
            if not self._has(posting.entry_id):
                self._staged[posting.entry_id] = ledger_lines(posting)

    async def trial_balance(
        self, tenant_id: str, start: dt.date | None, end: dt.date | None
    ) -> list[AccountTotal]:
        totals: dict[str, tuple[Decimal, Decimal]] = {}
        for line in self._lines(tenant_id):
            if (start is not None and line.date < start) or (end is not None and line.date > end):
                continue
            debit, credit = totals.get(line.account, (_ZERO, _ZERO))
            totals[line.account] = (debit + line.debit, credit + line.credit)
        return [
            AccountTotal(account=account, debit=debit, credit=credit)
            for account, (debit, credit) in sorted(totals.items())
        ]

    async def opening_balance(self, tenant_id: str, account: str, before: dt.date) -> Decimal:
        return sum(
            (
                line.debit - line.credit
                for line in self._lines(tenant_id)
                if line.account == account and line.date < before
            ),
            _ZERO,
        )

    async def year_totals(
        self, tenant_id: str, start: dt.date | None, end: dt.date | None
    ) -> list[YearTotal]:
        totals: dict[tuple[str, int], tuple[Decimal, Decimal, Decimal]] = {}
        for line in self._lines(tenant_id):
            if end is not None and line.date > end:
                continue
            key = (line.account, line.date.year)
            before, debit, credit = totals.get(key, (_ZERO, _ZERO, _ZERO))
            if start is not None and line.date < start:
                before += line.debit - line.credit
            else:
                debit += line.debit
                credit += line.credit
            totals[key] = (before, debit, credit)
        return [
            YearTotal(account=account, year=year, before=before, debit=debit, credit=credit)
            for (account, year), (before, debit, credit) in sorted(totals.items())
        ]

    async def last_date(self, tenant_id: str) -> dt.date | None:
        return max((line.date for line in self._lines(tenant_id)), default=None)

    async def first_date(self, tenant_id: str) -> dt.date | None:
        return min((line.date for line in self._lines(tenant_id)), default=None)

    async def general_ledger(
        self,
        tenant_id: str,
        account: str,
        start: dt.date | None,
        end: dt.date | None,
        after: tuple[dt.date, int, int] | None,
        limit: int,
    ) -> list[LedgerLineView]:
        lines = sorted(
            (
                line
                for line in self._lines(tenant_id)
                if line.account == account
                and (start is None or line.date >= start)
                and (end is None or line.date <= end)
                and (after is None or _sort_key(line) > after)
            ),
            key=_sort_key,
        )
        return lines[: max(limit, 0)]

    async def vat_totals(self, tenant_id: str, start: dt.date, end: dt.date) -> list[VatTotal]:
        totals: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {}
        for line in self._lines(tenant_id):
            if line.vat_code is None or not start <= line.date <= end:
                continue
            base, vat, output, income = totals.get(line.vat_code, (_ZERO, _ZERO, _ZERO, _ZERO))
            amount = line.debit - line.credit
            if line.vat_part == TAX:
                vat += amount
                if is_output_vat_account(line.account):
                    output += amount
            else:
                base += amount
                if is_income_account(line.account):
                    income += amount
            totals[line.vat_code] = (base, vat, output, income)
        return [
            VatTotal(vat_code=code, base=base, vat=vat, output=output, income=income)
            for code, (base, vat, output, income) in sorted(totals.items())
        ]

    async def accounts_used(self, tenant_id: str) -> list[str]:
        return sorted({line.account for line in self._lines(tenant_id)})

    async def entry_lines(self, tenant_id: str, entry_id: uuid.UUID) -> list[LedgerLineView]:
        lines = self._staged.get(entry_id)
        if lines is None and not self._cleared:
            lines = self._state.entries.get(entry_id)
        return [line for line in lines or () if line.tenant_id == tenant_id]

    async def clear(self) -> None:
        self._staged.clear()
        self._cleared = True
