"""/bank and /books: read-only questions to the bank (Folio or the sandbox) and the books
(Fiken or the sandbox). Each answer is recorded as a query event, whose id it carries."""

import datetime as dt
import uuid
from typing import Annotated, Final

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from bookkeeper.application.lookups import (
    DEFAULT_DAYS,
    MAX_DAYS,
    BankAccountsResult,
    BankTransactionsResult,
    InvalidDateRange,
    Lookups,
    PurchasesResult,
)
from bookkeeper.application.ports import BankTransaction, Purchase
from bookkeeper.entrypoints.http.params import invalid_query
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import ResponseBody, amount_out

FromDate = Annotated[
    dt.date | None,
    QueryParameter(
        name="from",
        description=(
            f"First day, YYYY-MM-DD (inclusive; default {DEFAULT_DAYS - 1} days before `to`)"
        ),
    ),
]
ToDate = Annotated[
    dt.date | None,
    QueryParameter(
        name="to",
        description=(
            "Last day, YYYY-MM-DD (inclusive; default today in Norway). "
            f"A range spans at most {MAX_DAYS} days."
        ),
    ),
]

#: Problem responses of every lookup: the bank or books may refuse or be down.
RESPONSES: Final = documented(401, 403, 502, 503)


# --- wire shapes ------------------------------------------------------------------------


class BankAccountOut(ResponseBody, frozen=True, kw_only=True):
    account_number: str
    name: str
    type: str
    balance: str
    currency: str


class BankAccountsOut(ResponseBody, frozen=True, kw_only=True):
    backend: str
    query_event_id: uuid.UUID
    as_of: dt.date
    accounts: list[BankAccountOut]


class AttachmentOut(ResponseBody, frozen=True, kw_only=True):
    id: str
    filename: str | None
    mime_type: str | None


class BankTransactionOut(ResponseBody, frozen=True, kw_only=True):
    id: str
    event_id: str | None
    date: dt.date
    description: str
    amount: str
    currency: str
    merchant_name: str | None
    account_number: str | None
    complete: bool
    attachments: list[AttachmentOut]


class BankTransactionsOut(ResponseBody, frozen=True, kw_only=True):
    backend: str
    query_event_id: uuid.UUID
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    count: int
    transactions: list[BankTransactionOut]


class PurchaseOut(ResponseBody, frozen=True, kw_only=True):
    id: str
    kind: str
    date: dt.date
    identifier: str | None
    gross: str
    currency: str
    paid: bool
    deleted: bool
    supplier_id: str | None
    due_date: dt.date | None
    reference: str | None
    transaction_id: str | None
    attachments: list[str]


class PurchasesOut(ResponseBody, frozen=True, kw_only=True):
    backend: str
    query_event_id: uuid.UUID
    kind: str
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    count: int
    purchases: list[PurchaseOut]


def _transaction_out(t: BankTransaction) -> BankTransactionOut:
    return BankTransactionOut(
        id=t.id,
        event_id=t.event_id,
        date=t.date,
        description=t.description,
        amount=amount_out(t.amount),
        currency=t.currency,
        merchant_name=t.merchant_name,
        account_number=t.account_number,
        complete=t.complete,
        attachments=[
            AttachmentOut(id=a.id, filename=a.filename, mime_type=a.mime_type)
            for a in t.attachments
        ],
    )


def _transactions_out(result: BankTransactionsResult) -> BankTransactionsOut:
    return BankTransactionsOut(
        backend=result.backend,
        query_event_id=result.event_id,
        from_=result.start,
        to=result.end,
        count=len(result.transactions),
        transactions=[_transaction_out(t) for t in result.transactions],
    )


def _accounts_out(result: BankAccountsResult) -> BankAccountsOut:
    return BankAccountsOut(
        backend=result.backend,
        query_event_id=result.event_id,
        as_of=result.as_of,
        accounts=[
            BankAccountOut(
                account_number=a.account_number,
                name=a.name,
                type=a.type,
                balance=amount_out(a.balance),
                currency=a.currency,
            )
            for a in result.accounts
        ],
    )


def _purchase_out(p: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=p.id,
        kind=p.kind,
        date=p.date,
        identifier=p.identifier,
        gross=amount_out(p.gross),
        currency=p.currency,
        paid=p.paid,
        deleted=p.deleted,
        supplier_id=p.supplier_id,
        due_date=p.due_date,
        reference=p.reference,
        transaction_id=p.transaction_id,
        attachments=list(p.attachments),
    )


def _purchases_out(result: PurchasesResult) -> PurchasesOut:
    return PurchasesOut(
        backend=result.backend,
        query_event_id=result.event_id,
        kind=result.kind,
        from_=result.start,
        to=result.end,
        count=len(result.purchases),
        purchases=[_purchase_out(p) for p in result.purchases],
    )


def _checked_range(
    lookups: Lookups, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The range to query, or a 400 naming the offending query parameter."""
    try:
        return lookups.date_range(start, end)
    except InvalidDateRange as error:
        raise invalid_query(error.field, error.message) from None


# --- routes -------------------------------------------------------------------------------


class BankController(Controller):
    """Read-only questions to the tenant's bank."""

    path = "/bank"
    tags = ["bank"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/accounts",
        operation_id="listBankAccounts",
        summary="Bank accounts and their balances",
        responses=RESPONSES,
    )
    async def accounts(
        self, request: AuthenticatedRequest, lookups: NamedDependency[Lookups]
    ) -> BankAccountsOut:
        """The tenant's bank accounts with their current balances (amounts as decimal
        strings), from the bank named in `backend`. Recorded as a BalanceQueried event
        (`queryEventId`). 502/503 when the bank refuses or does not answer."""
        return _accounts_out(await lookups.bank_accounts(request.user))

    @get(
        "/transactions",
        operation_id="listBankTransactions",
        summary="Booked bank transactions",
        responses=RESPONSES,
    )
    async def transactions(
        self,
        request: AuthenticatedRequest,
        lookups: NamedDependency[Lookups],
        start: FromDate = None,
        end: ToDate = None,
    ) -> BankTransactionsOut:
        """Booked transactions dated in [from, to] (default: the last 30 days), oldest
        first; money out is negative. Recorded as a TransactionsQueried event."""
        start, end = _checked_range(lookups, start, end)
        return _transactions_out(await lookups.bank_transactions(request.user, start, end))

    @get(
        "/missing-receipts",
        operation_id="listMissingReceipts",
        summary="Bank events that still lack a receipt",
        responses=RESPONSES,
    )
    async def missing_receipts(
        self,
        request: AuthenticatedRequest,
        lookups: NamedDependency[Lookups],
        start: FromDate = None,
        end: ToDate = None,
    ) -> BankTransactionsOut:
        """Bank events dated in [from, to] (default: the last 30 days) where money went out
        and no file is attached, including card purchases not booked yet (`id` is the
        event id to attach a receipt to). Recorded as a MissingReceiptsChecked event with
        those event ids."""
        start, end = _checked_range(lookups, start, end)
        return _transactions_out(await lookups.missing_receipts(request.user, start, end))


class BooksController(Controller):
    """Read-only questions to the tenant's books."""

    path = "/books"
    tags = ["books"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/supplier-invoices",
        operation_id="listSupplierInvoices",
        summary="Supplier invoices registered in the books",
        responses=RESPONSES,
    )
    async def supplier_invoices(
        self,
        request: AuthenticatedRequest,
        lookups: NamedDependency[Lookups],
        start: FromDate = None,
        end: ToDate = None,
    ) -> PurchasesOut:
        """Purchases of kind `supplier` dated in [from, to] (default: the last 30 days),
        deleted ones included and marked, with gross amounts as decimal strings. Recorded
        as a PurchasesQueried event."""
        start, end = _checked_range(lookups, start, end)
        return _purchases_out(await lookups.supplier_invoices(request.user, start, end))

    @get(
        "/expenses",
        operation_id="listExpenses",
        summary="Expenses registered in the books",
        responses=RESPONSES,
    )
    async def expenses(
        self,
        request: AuthenticatedRequest,
        lookups: NamedDependency[Lookups],
        start: FromDate = None,
        end: ToDate = None,
    ) -> PurchasesOut:
        """Purchases of kind `cash_purchase` (receipts paid at once) dated in [from, to]
        (default: the last 30 days), deleted ones included and marked. Recorded as a
        PurchasesQueried event."""
        start, end = _checked_range(lookups, start, end)
        return _purchases_out(await lookups.expenses(request.user, start, end))
