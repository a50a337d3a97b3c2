"""The company's existing books in Fiken, read page by page (`bookkeeper import fiken`).

GET /journalEntries, /purchases and /sales through the shared FikenClient (so the same
gate: one request at a time, at most four a second, Retry-After honoured), 100 records a
page. Each page is decoded as a list of raw records and every record on its own, so one
record that breaks the contract is a `HistoryProblem` (its id and why) and the rest of the
page is still read; an answer that is not a list at all is ExternalAnswerInvalid as
anywhere else. Amounts become kroner here (øre on the wire), nothing else is interpreted:
booking them is application.fiken_import's.

Filters, as the spec documents them: journal entries and sales by `dateGe`/`dateLe` and
`lastModifiedGe`; purchases by `dateGe`/`dateLe` and `settledDateGe` (purchases have no
lastModified filter, so an incremental run asks for the ones dated since the last run and,
separately, the ones settled since it, which is when a payment was added).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import AsyncIterator, Callable, Hashable
from decimal import Decimal
from typing import Any, Final, TypeVar, cast

import msgspec

from bookkeeper.adapters.answers import decode_json
from bookkeeper.adapters.fiken import wire
from bookkeeper.adapters.fiken.client import SYSTEM, FikenClient
from bookkeeper.application.errors import ExternalNotFound
from bookkeeper.application.ports import (
    BooksAccountBalance,
    HistoryJournalEntry,
    HistoryLine,
    HistoryOrderLine,
    HistoryPage,
    HistoryPayment,
    HistoryProblem,
    HistoryQuery,
    HistoryTrade,
)

T = TypeVar("T")
R = TypeVar("R")

JOURNAL_ENTRY: Final = "journal entry"
PURCHASE: Final = "purchase"
SALE: Final = "sale"
_ID_FIELD: Final = {JOURNAL_ENTRY: "journalEntryId", PURCHASE: "purchaseId", SALE: "saleId"}
_loose = msgspec.json.Decoder(dict[str, Any])
_RAW: Final = msgspec.json.Decoder(msgspec.Raw)


class _Ids(msgspec.Struct):
    """Only a record's id, to tell a record read twice while a list moved (every other
    field is skipped unread)."""

    journalEntryId: Any = None
    purchaseId: Any = None
    saleId: Any = None


_IDS: Final = msgspec.json.Decoder(_Ids)


class NotBookable(ValueError):
    """A record whose amounts cannot be read as NOK (the message says why)."""


class FikenHistory:
    """One Fiken company's journal entries, purchases and sales, as pages of records."""

    name = SYSTEM

    def __init__(self, client: FikenClient, company_slug: str, *, page_size: int = 100) -> None:
        if not company_slug or "/" in company_slug:
            raise ValueError("a Fiken company slug is required")
        self._client = client
        self._base = f"/companies/{urllib.parse.quote(company_slug, safe='')}"
        self._page_size = page_size

    async def journal_entries(self, query: HistoryQuery) -> AsyncIterator[HistoryPage]:
        params = _dates(query)
        if query.modified_since is not None:
            params["lastModifiedGe"] = query.modified_since.isoformat()
        async for page in self._pages(
            "/journalEntries", params, JOURNAL_ENTRY, wire.JOURNAL_ENTRY, journal_entry
        ):
            yield HistoryPage(entries=page[0], problems=page[1], total=page[2])

    async def sales(self, query: HistoryQuery) -> AsyncIterator[HistoryPage]:
        params = _dates(query)
        if query.modified_since is not None:
            params["lastModifiedGe"] = query.modified_since.isoformat()
        async for page in self._pages("/sales", params, SALE, wire.SALE, sale):
            yield HistoryPage(trades=page[0], problems=page[1], total=page[2])

    async def purchases(self, query: HistoryQuery) -> AsyncIterator[HistoryPage]:
        """Dated in [start, end] (from `dated_since`, when later); then, when asked, the
        ones settled since `settled_since` that the first list did not have."""
        params = _dates(query)
        if query.dated_since is not None and query.dated_since > query.start:
            params["dateGe"] = query.dated_since.isoformat()
        seen: set[str] = set()
        async for page in self._pages("/purchases", params, PURCHASE, wire.PURCHASE, purchase):
            seen.update(trade.id for trade in page[0])
            yield HistoryPage(trades=page[0], problems=page[1], total=page[2])
        if query.settled_since is None:
            return
        settled = _dates(query)
        settled["settledDateGe"] = query.settled_since.isoformat()
        async for page in self._pages("/purchases", settled, PURCHASE, wire.PURCHASE, purchase):
            fresh = [trade for trade in page[0] if trade.id not in seen]
            seen.update(trade.id for trade in fresh)
            yield HistoryPage(trades=fresh, problems=page[1], total=None)

    async def record(self, what: str, record_id: str) -> HistoryPage | None:
        """GET /journalEntries/{id}, /purchases/{id} or /sales/{id} (the spec's
        getJournalEntry, getPurchase, getSale), decoded as one record of a list is: a
        record that breaks the contract or has no NOK amount is the page's problem. None
        on 404 (Fiken no longer has it)."""
        path, decoder, convert = _BY_ID[what]
        if not record_id.isdigit():  # Fiken's ids are integers; anything else is not there
            return None
        try:
            raw = await self._client.get_json(f"{self._base}{path}/{record_id}", _RAW)
        except ExternalNotFound:
            return None
        found = _decoded(raw, what, decoder, convert, record_id)
        if isinstance(found, HistoryProblem):
            return HistoryPage(problems=[found])
        if isinstance(found, HistoryJournalEntry):
            return HistoryPage(entries=[found])
        return HistoryPage(trades=[found])

    async def balances(self, at: dt.date) -> list[BooksAccountBalance]:
        """GET /accountBalances?date= (the spec's getAccountBalances: "closing balances
        for a given date"), every page, through the same client and gate."""
        rows = []
        async for batch, _ in self._client.pages(
            f"{self._base}/accountBalances",
            wire.ACCOUNT_BALANCES,
            {"date": at.isoformat()},
            page_size=self._page_size,
            key=_account_code,
        ):
            rows.extend(batch)
        return [
            BooksAccountBalance(code=row.code, name=row.name, balance=wire.from_ore(row.balance))
            for row in rows
            if row.code
        ]

    async def _pages(
        self,
        path: str,
        params: dict[str, str | int | bool],
        what: str,
        decoder: msgspec.json.Decoder[T],
        convert: Callable[[T], R],
    ) -> AsyncIterator[tuple[list[R], list[HistoryProblem], int | None]]:
        field = _ID_FIELD[what]

        def identity(raw: msgspec.Raw) -> Hashable | None:
            try:
                value = getattr(_IDS.decode(raw), field)
            except msgspec.DecodeError:
                return None  # not even an object: reported as the page's problem
            # Fiken's ids are integers: anything else tells no record apart (each is kept).
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        async for raws, total in self._client.pages(
            f"{self._base}{path}", wire.RAW_LIST, params, page_size=self._page_size, key=identity
        ):
            records: list[R] = []
            problems: list[HistoryProblem] = []
            for raw in raws:
                found = _decoded(raw, what, decoder, convert)
                if isinstance(found, HistoryProblem):
                    problems.append(found)
                else:
                    records.append(found)
            yield records, problems, total


def _decoded(
    raw: msgspec.Raw,
    what: str,
    decoder: msgspec.json.Decoder[T],
    convert: Callable[[T], R],
    record_id: str | None = None,
) -> R | HistoryProblem:
    """One raw record decoded and converted, or the problem that it breaks the contract or
    has no NOK amount — under `record_id` when the caller asked for it by id, else the id
    read leniently from the record."""
    try:
        return convert(decode_json(raw, cast("type[T]", decoder.type)))
    except (msgspec.DecodeError, NotBookable) as error:
        found_id = record_id if record_id is not None else _id_of(raw, what)
        transaction = _transaction_of(raw) if what != JOURNAL_ENTRY else None
        return HistoryProblem(
            what=what, id=found_id, reason=_reason(error), transaction=transaction
        )


# --- mapping ---------------------------------------------------------------------------


def journal_entry(entry: wire.JournalEntry) -> HistoryJournalEntry:
    entry_id = _required_id(entry.journal_entry_id, "journalEntryId")
    lines = []
    for number, line in enumerate(entry.lines):
        if not line.account:
            raise NotBookable(f"lines[{number}] has no account")
        lines.append(
            HistoryLine(
                account=line.account,
                amount=wire.from_ore(line.amount),
                vat_code=line.vat_code or None,
            )
        )
    return HistoryJournalEntry(
        id=entry_id,
        date=entry.date,
        description=_strip_prefix(entry.description),
        lines=tuple(lines),
        number=None if entry.journal_entry_number is None else str(entry.journal_entry_number),
        cancelled=entry.offset_transaction_id is not None,
        modified=entry.last_modified_date,
        transaction=_transaction(entry.transaction_id),
        offset_transaction=_transaction(entry.offset_transaction_id),
    )


def purchase(found: wire.Purchase) -> HistoryTrade:
    supplier = found.supplier
    return HistoryTrade(
        what=PURCHASE,
        id=_required_id(found.purchase_id, "purchaseId"),
        date=found.date,
        kind=found.kind,
        lines=_order_lines(found.lines, found.currency),
        currency=found.currency,
        identifier=found.identifier,
        party_name=supplier.name if supplier and supplier.name else None,
        party_account=supplier.supplier_account_code if supplier else None,
        party_org_number=supplier.organization_number if supplier else None,
        payments=_payments(found.payments, found.currency),
        deleted=found.deleted,
        transaction=_transaction(found.transaction_id),
        reference=(
            found.identifier
            if found.identifier and found.identifier.startswith("bk-")
            else next(
                (ref for line in found.lines if (ref := wire.reference_in(line.description))),
                None,
            )
        ),
    )


def sale(found: wire.Sale) -> HistoryTrade:
    customer = found.customer
    return HistoryTrade(
        what=SALE,
        id=_required_id(found.sale_id, "saleId"),
        date=found.date,
        kind=found.kind,
        lines=_order_lines(found.lines, found.currency),
        currency=found.currency,
        identifier=found.sale_number,
        party_name=customer.name if customer and customer.name else None,
        party_account=customer.customer_account_code if customer else None,
        party_org_number=customer.organization_number if customer else None,
        payments=_payments(found.sale_payments, found.currency),
        deleted=found.deleted,
        modified=found.last_modified_date,
        transaction=_transaction(found.transaction_id),
        write_off=found.write_off,
        settled_date=found.settled_date,
    )


_BY_ID: Final[
    dict[
        str,
        tuple[
            str,
            msgspec.json.Decoder[Any],
            Callable[[Any], HistoryJournalEntry | HistoryTrade],
        ],
    ]
] = {
    JOURNAL_ENTRY: ("/journalEntries", wire.JOURNAL_ENTRY, journal_entry),
    PURCHASE: ("/purchases", wire.PURCHASE, purchase),
    SALE: ("/sales", wire.SALE, sale),
}


def _required_id(value: int | None, field: str) -> str:
    """A record's id, which the spec does not require but nothing can be imported without."""
    if value is None:
        raise NotBookable(f"the record has no {field}")
    return str(value)


def _transaction(transaction_id: int | None) -> str | None:
    return None if transaction_id is None else str(transaction_id)


def _order_lines(lines: list[wire.OrderLine], currency: str) -> tuple[HistoryOrderLine, ...]:
    """Lines in NOK: `netPrice`/`vat` are NOK øre; a foreign-currency line without them
    cannot be booked (its currency amounts would need a rate we were not told)."""
    result = []
    for number, line in enumerate(lines):
        if line.net_price is None:
            where = f"lines[{number}]"
            if currency != "NOK":
                raise NotBookable(f"{where} has no NOK amount (netPrice) for {currency}")
            raise NotBookable(f"{where} has no netPrice")
        result.append(
            HistoryOrderLine(
                description=line.description,
                account=line.account or None,
                net=wire.from_ore(line.net_price),
                vat=wire.from_ore(line.vat or 0),
                vat_type=line.vat_type,
                **_in_currency(line, currency),
            )
        )
    return tuple(result)


def _in_currency(line: wire.OrderLine, currency: str) -> dict[str, Decimal]:
    """A foreign-currency line's net and VAT in its currency, when Fiken gives them (the
    SAF-T's CurrencyAmount, ADR 0056 addendum); nothing for a NOK line."""
    if currency == "NOK" or line.net_price_in_currency is None:
        return {}
    return {
        "net_in_currency": wire.from_ore(line.net_price_in_currency),
        "vat_in_currency": wire.from_ore(line.vat_in_currency or 0),
    }


def _payments(payments: list[wire.Payment], currency: str) -> tuple[HistoryPayment, ...]:
    result = []
    for number, payment in enumerate(payments):
        foreign = (payment.currency or currency) != "NOK"
        amount = payment.amount_in_nok if foreign else payment.amount
        if amount is None:
            raise NotBookable(f"payments[{number}] has no NOK amount (amountInNok)")
        result.append(
            HistoryPayment(
                id=None if payment.payment_id is None else str(payment.payment_id),
                date=payment.date,
                account=payment.account,
                amount=wire.from_ore(amount),
                currency=(payment.currency or currency) if foreign else None,
                amount_in_currency=wire.from_ore(payment.amount) if foreign else None,
                fee=wire.from_ore(payment.fee) if payment.fee else None,
            )
        )
    return tuple(result)


def _account_code(row: wire.AccountBalance) -> Hashable | None:
    return row.code or None


def _dates(query: HistoryQuery) -> dict[str, str | int | bool]:
    params: dict[str, str | int | bool] = {"dateGe": query.start.isoformat()}
    if query.end is not None:
        params["dateLe"] = query.end.isoformat()
    return params


def _strip_prefix(description: str) -> str:
    text = description.strip()
    if text.startswith(wire.JOURNAL_PREFIX):
        text = text[len(wire.JOURNAL_PREFIX) :].strip()
    return text


def _id_of(raw: msgspec.Raw, what: str) -> str:
    """The record's id, read leniently from a record that failed the strict decode."""
    try:
        value = _loose.decode(raw).get(_ID_FIELD[what])
    except msgspec.DecodeError:
        return "?"
    return str(value)[:40] if value is not None else "?"


def _transaction_of(raw: msgspec.Raw) -> str | None:
    """A refused purchase's or sale's transactionId, read leniently (None: none to read)."""
    try:
        value = _loose.decode(raw).get("transactionId")
    except msgspec.DecodeError:
        return None
    return str(value)[:40] if isinstance(value, int) and not isinstance(value, bool) else None


def _reason(error: Exception) -> str:
    return str(error)[:300] or type(error).__name__


class TenantBooksImport:
    """`bookkeeper import fiken` for one tenant: with the tenant's own Fiken credentials
    when it has stored them (ADR 0036), else the environment's, through the process's gate
    for the token (ADR 0035; the database gate on PostgreSQL, so an import keeps Fiken's
    limits together with every running replica). A client per run, closed after it."""

    def __init__(
        self,
        make_import: Callable[[FikenHistory], Any],
        *,
        credentials: Any,
        base_url: str,
        token: str | None,
        company: str | None,
        gates: Callable[[str], Any],
    ) -> None:
        from bookkeeper.application.credentials import FIKEN, ResolvedCredentials

        self._make_import = make_import
        self._credentials = credentials
        self._base_url = base_url
        #: The environment's Fiken (the single-company default), as the resolver's choice.
        self._environment = (
            ResolvedCredentials(
                tenant_id="*",
                provider=FIKEN,
                token=token,
                company=company,
                base_url=None,
                version=0,
            )
            if token is not None and company is not None
            else None
        )
        self._gates = gates

    async def run(self, tenant_id: str, *args: Any, **kwargs: Any) -> Any:
        from bookkeeper.adapters.tenant_backends import chosen_credentials
        from bookkeeper.application.books_import import BooksNotConfigured
        from bookkeeper.application.credentials import FIKEN

        chosen = await chosen_credentials(self._credentials, tenant_id, FIKEN, self._environment)
        if chosen is None or chosen.company is None:
            raise BooksNotConfigured(
                "importing from Fiken needs the tenant's own Fiken credentials "
                "(`bookkeeper credentials set`) or BOOKKEEPER_FIKEN_TOKEN and "
                "BOOKKEEPER_FIKEN_COMPANY"
            )
        base_url, token, company = chosen.base_url or self._base_url, chosen.token, chosen.company
        client = FikenClient(base_url, token, gate=self._gates(token))
        try:
            return await self._make_import(FikenHistory(client, company)).run(
                tenant_id, *args, **kwargs
            )
        finally:
            await client.aclose()
