"""The Bank port on Folio's REST API v2: accounts, balances, transactions, events, receipts.

Amounts. Folio sends decimal strings of kroner, and its spec allows only unsigned ones
(`^\\d+\\.\\d{2}$`): the direction of money is not in the amount but in who is debtor and
who is creditor. The port wants money out negative, so `_direction` decides:
  1. an amount that does carry a sign keeps it (the real API may send one; we honour it);
  2. an internal transfer (`creditorEventId`) is money in on the side whose event is the
     crediting event, and money out on the other side;
  3. our account as debtor (and not as creditor) is money out; as creditor, money in;
  4. a payment (always from `debtorAccountNumber`) or a card authorisation is money out;
  5. an event between two of our accounts (its transactions carry no creditorEventId)
     takes the sign of its booked transaction, fetched for that window only when needed;
  6. anything else cannot be told apart, and that is reported as a broken contract rather
     than guessed: a wrong sign in the books is worse than a failed sync. Except a pending
     event (no transactions yet; the spec makes card authorisation and payment optional),
     which is left out of the list: it comes back once booked, when its parties tell.

Date ranges. Folio documents no pagination (a community client advises narrowing the dates),
so a range longer than MAX_WINDOW_DAYS is fetched as calendar-month windows, one request
at a time, and merged in order with duplicates (by id) dropped.

Dates. Booked transactions carry Folio's booking date. A pending event has only a UTC time;
its date is the calendar day in Norway, which is what the bank and the books count in.

Folio answers 403 also for an event that does not exist (documented for PATCH; assumed for
the other event writes). After a 403 on an event write the adapter asks for the accounts
with the same token: if that works, the token is fine and the event is missing
(ExternalNotFound); if not, the 403 stands (ExternalAuthFailed).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import unicodedata
import urllib.parse
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable, Iterator
from decimal import Decimal
from typing import Final, TypeVar

import msgspec

from bookkeeper.adapters.folio import wire
from bookkeeper.adapters.folio.client import FolioClient
from bookkeeper.adapters.folio.wire import SYSTEM, contract_broken, parse_amount
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalError,
    ExternalNotFound,
    ExternalRejected,
)
from bookkeeper.application.ports import BankAccount, BankAttachment, BankBalance, BankTransaction

#: Ranges up to this many days go in one request; longer ones in calendar months.
MAX_WINDOW_DAYS: Final = 31
#: How far around the expected date `find_attachment` looks for the event.
FIND_ATTACHMENT_DAYS: Final = 7
#: What Folio accepts as an attachment (the spec's request body media types).
ATTACHMENT_TYPES: Final = frozenset({"application/pdf", "image/jpeg", "image/png"})
#: How many days before and after a window rule 5 looks for an event's booked transaction.
BOOKING_SLACK_DAYS: Final = 3
NORWAY: Final = zoneinfo.ZoneInfo("Europe/Oslo")
ZERO: Final = Decimal("0")

T = TypeVar("T")
_log = logging.getLogger("bookkeeper.adapters.folio")


class FolioBank:
    """One Folio company, through one API key's client (which the caller closes)."""

    name = "folio"

    def __init__(self, client: FolioClient) -> None:
        self._client = client

    # --- accounts ---------------------------------------------------------------------

    async def accounts(self) -> list[BankAccount]:
        return [
            BankAccount(
                account_number=account.account_number,
                name=account.name,
                type=account.type,
                balance=parse_amount(account.balance, f"balance of {account.account_number}"),
            )
            for account in await self._accounts()
        ]

    async def balance(self, account_number: str, date: dt.date) -> BankBalance:
        """Start- and end-of-day balance; a side Folio leaves out (the account was not open
        then) is zero, which is what the account held."""
        body = await self._client.get(
            f"/accounts/{_segment(account_number)}/balance/{date.isoformat()}",
            None,
            wire.AccountBalance,
        )
        where = f"balance of {account_number} on {date}"
        return BankBalance(
            account_number=account_number,
            date=date,
            incoming=_optional_amount(body.incoming_balance, f"incoming {where}"),
            outgoing=_optional_amount(body.outgoing_balance, f"outgoing {where}"),
        )

    # --- transactions and events --------------------------------------------------------

    async def transactions(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        """Booked transactions with a booking date in [start, end], by month windows."""
        windows = month_windows(start, end)
        if not windows:
            return []
        own = _OwnAccounts(await self._accounts())
        found: list[BankTransaction] = []
        for first, last in windows:
            body = await self._client.get(
                "/transactions",
                {**_date_params(first, last), "includeMerchants": "true"},
                wire.TransactionResponse,
            )
            merchants = {merchant.id: merchant.name for merchant in body.includes.merchants}
            found.extend(_booked(item, own, merchants) for item in body.transactions.booked)
        return _unique(found)

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        """Events (booked or pending) in [start, end], by month windows."""
        windows = month_windows(start, end)
        if not windows:
            return []
        own = _OwnAccounts(await self._accounts())
        found: list[BankTransaction] = []
        for first, last in windows:
            body = await self._events_page(first, last)
            merchants = {merchant.id: merchant.name for merchant in body.includes.merchants}
            cards = {card.id: card.account_number for card in body.includes.cards}
            booked: dict[str, BankTransaction] | None = None
            for item in body.events:
                try:
                    found.append(_event(item, own, merchants, cards, booked))
                except _Ambiguous:
                    if not item.transactions:
                        # Pending, and nothing says which way: listed again once booked.
                        _log.warning(
                            "Folio event %s: pending, direction unknown; left out", item.id
                        )
                        continue
                    if booked is not None:
                        raise
                    booked = await self._booked_by_event(first, last, own)
                    found.append(_event(item, own, merchants, cards, booked))
        return _unique(found)

    # --- receipts and completeness ------------------------------------------------------

    async def attach_receipt(
        self, event_id: str, filename: str, content: bytes, content_type: str
    ) -> str:
        """Upload the file as the raw request body (Folio takes no multipart), named by
        Content-Disposition. Sent once: after a timeout or 5xx the file may be stored, so
        the caller looks with `find_attachment` before trying again."""
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in ATTACHMENT_TYPES:
            raise ExternalRejected(
                f"Folio takes PDF, JPEG or PNG attachments, not {media_type or 'no type'}",
                system=SYSTEM,
            )
        path = f"/events/{_segment(event_id)}/attachments"
        headers = {"Content-Type": media_type, "Content-Disposition": content_disposition(filename)}
        response = await self._event_write(
            event_id,
            lambda: self._client.request(
                "POST", path, idempotent=False, content=content, headers=headers
            ),
        )
        return self._client.decode(response, wire.CreateAttachmentResponse, f"POST {path}").id

    async def find_attachment(
        self, event_id: str, filename: str, around: dt.date, *, size: int | None = None
    ) -> str | None:
        """The first attachment of the event named `filename` (or the ASCII name we would
        have sent for it) and, given `size`, whose `fileSize` is that many bytes, looking
        at events within FIND_ATTACHMENT_DAYS of `around`. The size is what Folio's
        attachment lists of the content (no hash); with the name, which carries our
        reference, it tells our file from another one uploaded under the same name. An
        attachment listed without a size is not taken for ours when a size is asked."""
        names = {filename, ascii_filename(filename)}
        span = dt.timedelta(days=FIND_ATTACHMENT_DAYS)
        body = await self._events_page(around - span, around + span)
        for event in body.events:
            if event.id == event_id:
                return next(
                    (
                        a.id
                        for a in event.attachments
                        if a.filename in names and (size is None or a.file_size == size)
                    ),
                    None,
                )
        return None

    async def mark_complete(self, event_id: str) -> None:
        await self._complete(event_id, "POST")

    async def mark_incomplete(self, event_id: str) -> None:
        await self._complete(event_id, "DELETE")

    async def annotate(self, event_id: str, note: str, around: dt.date) -> None:
        """PATCH /events/{id} with the event's note and `note` after it (ADR 0052): the
        only place Folio's API has for what a receipt's parts per VAT rate are (a ledger
        category has one VAT code). The user's own note is kept; one that already holds
        `note` is not written again (an attempt after a timeout repeats nothing)."""
        span = dt.timedelta(days=FIND_ATTACHMENT_DAYS)
        body = await self._events_page(around - span, around + span)
        existing = next((e.note or "" for e in body.events if e.id == event_id), "")
        if note in existing:
            return
        text = f"{existing.rstrip()}\n{note}" if existing.strip() else note
        path = f"/events/{_segment(event_id)}"
        content = msgspec.json.encode({"note": text})
        await self._event_write(
            event_id,
            lambda: self._client.request(
                "PATCH",
                path,
                idempotent=True,
                content=content,
                headers={"Content-Type": "application/json"},
            ),
        )

    # --- helpers ------------------------------------------------------------------------

    async def _accounts(self) -> list[wire.Account]:
        return (await self._client.get("/accounts", None, wire.AccountsResponse)).accounts

    async def _events_page(self, first: dt.date, last: dt.date) -> wire.EventsResponse:
        params = {**_date_params(first, last), "includeMerchants": "true", "includeCards": "true"}
        return await self._client.get("/events", params, wire.EventsResponse)

    async def _booked_by_event(
        self, first: dt.date, last: dt.date, own: _OwnAccounts
    ) -> dict[str, BankTransaction]:
        """The booked transactions around a window, by event id (rule 5); a few days
        wider, since an event's time and its booking date need not be the same day."""
        slack = dt.timedelta(days=BOOKING_SLACK_DAYS)
        body = await self._client.get(
            "/transactions",
            _date_params(first - slack, last + slack),
            wire.TransactionResponse,
        )
        booked: dict[str, BankTransaction] = {}
        for item in body.transactions.booked:
            if item.event_id not in booked:
                booked[item.event_id] = _booked(item, own, {})
        return booked

    async def _complete(self, event_id: str, method: str) -> None:
        path = f"/events/{_segment(event_id)}/complete"
        await self._event_write(
            event_id, lambda: self._client.request(method, path, idempotent=True)
        )

    async def _event_write(self, event_id: str, write: Callable[[], Awaitable[T]]) -> T:
        """Run a write on one event, telling "no such event" from "bad token" after a 403."""
        try:
            return await write()
        except ExternalAuthFailed as refused:
            if refused.status != 403 or not await self._token_works():
                raise
            raise ExternalNotFound(
                f"Folio has no event {event_id} for this company (403 with a working token)",
                system=SYSTEM,
                status=403,
            ) from refused

    async def _token_works(self) -> bool:
        try:
            await self._accounts()
        except ExternalAuthFailed:
            return False
        return True


# --- windows ------------------------------------------------------------------------------


def month_windows(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end] as one window when short, else as calendar months (first and last
    partial); empty when end < start."""
    if end < start:
        return []
    if (end - start).days < MAX_WINDOW_DAYS:
        return [(start, end)]
    windows = []
    cursor = start
    while cursor <= end:
        month_end = cursor.replace(day=calendar.monthrange(cursor.year, cursor.month)[1])
        last = min(month_end, end)
        windows.append((cursor, last))
        cursor = last + dt.timedelta(days=1)
    return windows


def _date_params(first: dt.date, last: dt.date) -> dict[str, str]:
    return {"startDate": first.isoformat(), "endDate": last.isoformat()}


def _unique(items: Iterable[BankTransaction]) -> list[BankTransaction]:
    """First occurrence of each id, in order (windows should not overlap; this makes sure)."""
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            unique.append(item)
    return unique


# --- mapping ------------------------------------------------------------------------------


class _Ambiguous(ExternalError):
    """Neither the amount nor the parties say which way the money went (rule 6)."""


class _OwnAccounts:
    """The company's account numbers, compared by digits (BBAN; a Norwegian IBAN reduced
    to its BBAN), mapped back to the number as /accounts spells it."""

    def __init__(self, accounts: Iterable[wire.Account]) -> None:
        self._by_key = {_account_key(a.account_number): a.account_number for a in accounts}

    def get(self, number: str | None) -> str | None:
        return self._by_key.get(_account_key(number)) if number else None


def _account_key(number: str) -> str:
    compact = "".join(ch for ch in number if ch.isalnum()).upper()
    if compact.startswith("NO") and len(compact) == 15:  # NOkk + 11-digit BBAN
        return compact[4:]
    return compact


def _direction(
    *,
    amount: str,
    where: str,
    debtor: wire.Party | None,
    creditor: wire.Party | None,
    own: _OwnAccounts,
    credited: bool | None = None,
    paid_out: bool = False,
) -> tuple[Decimal, str | None]:
    """The signed amount (negative for money out) and our account on this side, by the
    rules of the module docstring. `credited` is set for internal transfers: whether this
    side is the crediting one; `paid_out` for card authorisations and payments."""
    value = parse_amount(amount, where)
    ours_out = own.get(debtor.account_number) if debtor else None
    ours_in = own.get(creditor.account_number) if creditor else None
    if amount.lstrip().startswith(("-", "+")):
        return value, ours_out if value < 0 else ours_in
    if credited is not None:
        return (value, ours_in) if credited else (-value, ours_out)
    if ours_out and not ours_in:
        return -value, ours_out
    if ours_in and not ours_out:
        return value, ours_in
    if paid_out:
        return -value, ours_out
    raise _Ambiguous(
        f"Folio broke its API contract: cannot tell whether {where} is money in or out",
        system=SYSTEM,
    )


def _merchant(card: wire.CardAuthorization | None, merchants: dict[str, str]) -> str | None:
    """The merchant as people call it (from includes), else the terminal's name."""
    if card is None:
        return None
    return merchants.get(card.merchant_id) or card.merchant_name


def _payee(amount: Decimal, creditor: wire.Party, own: _OwnAccounts) -> str | None:
    """Whom money out went to, when that is not one of our own accounts."""
    if amount >= 0 or own.get(creditor.account_number):
        return None
    return creditor.name


def _booked(
    item: wire.Transaction, own: _OwnAccounts, merchants: dict[str, str]
) -> BankTransaction:
    transfer = item.creditor_event_id is not None
    amount, account = _direction(
        amount=item.transaction_amount.amount,
        where=f"transaction {item.id}",
        debtor=item.debtor,
        creditor=item.creditor,
        own=own,
        credited=item.event_id == item.creditor_event_id if transfer else None,
        paid_out=item.card_authorization is not None,
    )
    return BankTransaction(
        id=item.id,
        event_id=item.event_id,
        date=item.booking_date,
        description=item.description,
        amount=amount,
        currency=item.transaction_amount.currency,
        merchant_name=_merchant(item.card_authorization, merchants)
        or _payee(amount, item.creditor, own),
        account_number=account,
        complete=item.complete,
        attachments=_attachments(item.attachments),
    )


def _event(
    item: wire.Event,
    own: _OwnAccounts,
    merchants: dict[str, str],
    cards: dict[str, str],
    booked: dict[str, BankTransaction] | None = None,
) -> BankTransaction:
    """A booked event takes amount, date and description from its transactions; a pending
    one from the event (amount in the original currency, date = the day in Norway).
    `booked` (event id → booked transaction) settles the direction the parties leave open."""
    card = item.card_authorization
    paid_out = card is not None or item.payment is not None
    merchant = _merchant(card, merchants)
    if item.transactions:
        settled = booked.get(item.id) if booked is not None else None
        if settled is not None:
            amount, account = settled.amount, settled.account_number
        else:
            amount, account = _sum_transactions(item, own, paid_out)
        first = item.transactions[0]
        date, description = first.booking_date, first.description
        currency = first.transaction_amount.currency
        counterparty = _payee(amount, first.creditor, own)
    else:
        amount, account = _direction(
            amount=item.amount.amount,
            where=f"event {item.id}",
            debtor=None,
            creditor=None,
            own=own,
            paid_out=paid_out,
        )
        date = item.time.astimezone(NORWAY).date()
        currency = item.amount.currency
        counterparty = item.payment.creditor.name if item.payment else None
        description = merchant or counterparty or item.purpose or ""
    if account is None and item.payment is not None:
        account = own.get(item.payment.debtor_account_number)
    if account is None and card is not None:
        account = own.get(cards.get(card.card_id))
    return BankTransaction(
        id=item.id,
        event_id=item.id,
        date=date,
        description=description,
        amount=amount,
        currency=currency,
        merchant_name=merchant or (counterparty if amount < 0 else None),
        account_number=account,
        complete=item.complete,
        attachments=_attachments(item.attachments),
    )


def _sum_transactions(
    item: wire.Event, own: _OwnAccounts, paid_out: bool
) -> tuple[Decimal, str | None]:
    currencies = {t.transaction_amount.currency for t in item.transactions}
    if len(currencies) != 1:
        raise contract_broken(f"event {item.id} has transactions in {sorted(currencies)}")
    total, account = ZERO, None
    for transaction in item.transactions:
        amount, side = _direction(
            amount=transaction.transaction_amount.amount,
            where=f"transaction {transaction.id} of event {item.id}",
            debtor=transaction.debtor,
            creditor=transaction.creditor,
            own=own,
            paid_out=paid_out,
        )
        total += amount
        account = account or side
    return total, account


def _attachments(items: Iterable[wire.Attachment]) -> tuple[BankAttachment, ...]:
    return tuple(BankAttachment(id=a.id, filename=a.filename, mime_type=a.mime_type) for a in items)


def _optional_amount(text: str | None, where: str) -> Decimal:
    return ZERO if text is None else parse_amount(text, where)


# --- request details ------------------------------------------------------------------------


def _segment(value: str) -> str:
    """An id as one path segment, so an id can never reach another path."""
    if not value:
        raise ExternalRejected("an empty id cannot name a Folio object", system=SYSTEM)
    return urllib.parse.quote(value, safe="")


def ascii_filename(filename: str) -> str:
    """The file name as plain ASCII for `filename="…"`: accents dropped (æ → ae, ø → o),
    quotes, backslashes and other characters replaced by "_"."""
    decomposed = unicodedata.normalize("NFKD", filename.translate(_LETTERS))
    kept = "".join(_ascii_chars(decomposed))
    return kept.strip() or "receipt"


#: Letters that do not decompose into an ASCII letter and an accent.
_LETTERS: Final = str.maketrans({"æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ß": "ss"})


def _ascii_chars(text: str) -> Iterator[str]:
    for ch in text:
        if unicodedata.combining(ch):
            continue
        if ch in '"\\' or not (32 <= ord(ch) < 127):
            yield "_"
        else:
            yield ch


def content_disposition(filename: str) -> str:
    """`attachment; filename="…"`, plus RFC 6266 `filename*` when the name is not ASCII
    (header values must be ASCII; a server that reads `filename*` gets the real name)."""
    fallback = ascii_filename(filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
    return value
