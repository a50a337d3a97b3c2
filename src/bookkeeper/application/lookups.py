"""Read-only questions to the bank and the books, each recorded as a query event.

"What is the balance?", "which transactions?", "what is missing a receipt?", "which
supplier invoices and expenses?" are answered from the tenant's bank (Folio or the sandbox)
and books (Fiken or the sandbox). A query is never reviewed, but it is logged: after the
remote read succeeded, one event (BalanceQueried, TransactionsQueried,
MissingReceiptsChecked, PurchasesQueried) is appended in a stream of its own, with the
principal as actor, in a unit of work of its own. A failed remote read records nothing and
raises its ExternalError. The remote read happens before the unit of work opens, so no
database transaction (nor SQLite's writer turn) is held while a remote system answers.

Date ranges are inclusive calendar days in Norway (Europe/Oslo): by default the last 30
days up to today, at most 366 days.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import Final
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.application.event_log import record_alone, stamp
from bookkeeper.application.ports import (
    Authorizer,
    BankAccount,
    BankProvider,
    BankTransaction,
    BooksProvider,
    Clock,
    Ids,
    Principal,
    Purchase,
    UnitOfWorkFactory,
)
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    AccountBalance,
    BalanceQueriedData,
    DateRange,
    MissingReceiptsCheckedData,
    Payload,
    PurchasesQueriedData,
    TransactionsQueriedData,
)

OSLO: Final = ZoneInfo("Europe/Oslo")
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366

SUPPLIER_INVOICES: Final = "supplier"
EXPENSES: Final = "cash_purchase"


class InvalidDateRange(DomainError):
    """The date range is reversed or longer than a query may span."""

    code = "invalid-date-range"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BankAccountsResult(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    backend: str
    as_of: dt.date
    accounts: list[BankAccount]


class BankTransactionsResult(msgspec.Struct, frozen=True, kw_only=True):
    """Booked transactions, or (missing receipts) the events that lack one."""

    event_id: uuid.UUID
    backend: str
    start: dt.date
    end: dt.date
    transactions: list[BankTransaction]


class PurchasesResult(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    backend: str
    kind: str
    start: dt.date
    end: dt.date
    purchases: list[Purchase]


#: The name bookkeeper attaches a receipt under (execution.policy.attachment_filename:
#: `bk-<proposal id in hex>.<extension>`).
_OUR_ATTACHMENT: Final = re.compile(r"bk-[0-9a-f]{32}\.[a-z0-9]+")


def needs_receipt(transaction: BankTransaction) -> bool:
    """Money went out and no receipt stands for it: no file is attached, or the event is
    marked incomplete and every file on it is one bookkeeper attached — a receipt whose
    attachment was reversed (Folio's API cannot remove a file, so the reversal marks the
    event incomplete and the file stays; the payment is unbooked again and needs its
    receipt). A file someone attached in Folio itself, complete or not, is a receipt."""
    if transaction.amount >= 0:
        return False
    if not transaction.attachments:
        return True
    return not transaction.complete and all(
        a.filename is not None and _OUR_ATTACHMENT.fullmatch(a.filename)
        for a in transaction.attachments
    )


class Lookups:
    """The read-only bank and books queries of the API (and later the bot and scheduler)."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
        books: BooksProvider,
        bank: BankProvider,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer
        self._books = books
        self._bank = bank

    def today(self) -> dt.date:
        """Today in Norway."""
        return self._clock.now().astimezone(OSLO).date()

    def date_range(self, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
        """The inclusive range to query: the given bounds, the missing ones filled in (end:
        today, start: DEFAULT_DAYS days up to the end); InvalidDateRange if reversed or
        longer than MAX_DAYS days."""
        if end is None:
            end = self.today()
        if start is None:
            start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise InvalidDateRange(f"from ({start}) is after to ({end})", field="from")
        if (end - start).days + 1 > MAX_DAYS:
            raise InvalidDateRange(
                f"the range {start}..{end} spans more than {MAX_DAYS} days", field="to"
            )
        return start, end

    async def bank_accounts(
        self, principal: Principal, *, source: str = "api"
    ) -> BankAccountsResult:
        """The bank accounts with their balances; records BalanceQueried."""
        self._authorizer.check(principal, "bank:read")
        bank = self._bank(principal.tenant_id)
        accounts = await bank.accounts()
        as_of = self.today()
        data = BalanceQueriedData(
            accounts=tuple(
                AccountBalance(
                    account=a.account_number, balance=a.balance, name=a.name, currency=a.currency
                )
                for a in accounts
            ),
            as_of=as_of,
        )
        event_id = await self._record(principal, "BalanceQueried", data, source, bank.name)
        return BankAccountsResult(
            event_id=event_id, backend=bank.name, as_of=as_of, accounts=list(accounts)
        )

    async def bank_transactions(
        self,
        principal: Principal,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        source: str = "api",
    ) -> BankTransactionsResult:
        """Booked bank transactions in the range; records TransactionsQueried."""
        self._authorizer.check(principal, "bank:read")
        start, end = self.date_range(start, end)
        bank = self._bank(principal.tenant_id)
        transactions = _by_date(await bank.transactions(start, end))
        data = TransactionsQueriedData(
            count=len(transactions), date_range=DateRange(start=start, end=end)
        )
        event_id = await self._record(principal, "TransactionsQueried", data, source, bank.name)
        return BankTransactionsResult(
            event_id=event_id, backend=bank.name, start=start, end=end, transactions=transactions
        )

    async def missing_receipts(
        self,
        principal: Principal,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        source: str = "api",
    ) -> BankTransactionsResult:
        """Bank events in the range where money went out and no receipt is attached (card
        authorisations not booked yet included: receipts attach to events); records
        MissingReceiptsChecked with their event ids."""
        self._authorizer.check(principal, "bank:read")
        start, end = self.date_range(start, end)
        bank = self._bank(principal.tenant_id)
        missing = [e for e in _by_date(await bank.events(start, end)) if needs_receipt(e)]
        data = MissingReceiptsCheckedData(
            count=len(missing), events=tuple(e.event_id or e.id for e in missing)
        )
        event_id = await self._record(principal, "MissingReceiptsChecked", data, source, bank.name)
        return BankTransactionsResult(
            event_id=event_id, backend=bank.name, start=start, end=end, transactions=missing
        )

    async def supplier_invoices(
        self,
        principal: Principal,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        source: str = "api",
    ) -> PurchasesResult:
        """Supplier invoices (purchases of kind "supplier") dated in the range."""
        return await self._purchases(principal, SUPPLIER_INVOICES, start, end, source)

    async def expenses(
        self,
        principal: Principal,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        source: str = "api",
    ) -> PurchasesResult:
        """Expenses (purchases of kind "cash_purchase") dated in the range."""
        return await self._purchases(principal, EXPENSES, start, end, source)

    async def _purchases(
        self,
        principal: Principal,
        kind: str,
        start: dt.date | None,
        end: dt.date | None,
        source: str,
    ) -> PurchasesResult:
        self._authorizer.check(principal, "books:read")
        start, end = self.date_range(start, end)
        books = self._books(principal.tenant_id)
        purchases = sorted(await books.purchases(start, end, kind), key=lambda p: (p.date, p.id))
        data = PurchasesQueriedData(
            kind=kind, count=len(purchases), date_range=DateRange(start=start, end=end)
        )
        event_id = await self._record(principal, "PurchasesQueried", data, source, books.name)
        return PurchasesResult(
            event_id=event_id,
            backend=books.name,
            kind=kind,
            start=start,
            end=end,
            purchases=purchases,
        )

    async def _record(
        self, principal: Principal, type_name: str, data: Payload, source: str, backend: str
    ) -> uuid.UUID:
        """Append the query event in a stream of its own; its id."""
        event_id = self._ids.new_id()
        event = stamp(
            type_name,
            data,
            event_id=event_id,
            actor=principal.actor,
            at=self._clock.now(),
            correlation_id=event_id,
            metadata={"source": source, "backend": backend},
        )
        await record_alone(self._uow, principal.tenant_id, event)
        return event_id


def _by_date(transactions: Sequence[BankTransaction]) -> list[BankTransaction]:
    return sorted(transactions, key=lambda t: (t.date, t.id))
