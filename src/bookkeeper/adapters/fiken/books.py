"""The Books port on Fiken API v2, for one company.

Fiken has no idempotency keys, so every object we create carries our reference where a
later lookup can read it back (ADR 0009): a purchase in its first line's description
(`Kontorrekvisita [bk-…]`) and, when the document has no number of its own, as its
identifier; a general journal entry in its description. `find_purchase` lists the
purchases of the date and matches the reference, which is how an attempt that timed out
after Fiken committed is reconciled instead of repeated.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
import re
import urllib.parse
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import msgspec

from bookkeeper.adapters.fiken import wire
from bookkeeper.adapters.fiken.client import SYSTEM, FikenClient, QueryParams
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.ports import (
    BooksAccount,
    BooksAccountBalance,
    BooksBankAccount,
    BooksCompany,
    BooksJournalEntry,
    Contact,
    NewJournalEntry,
    NewPurchase,
    Purchase,
)
from bookkeeper.domain.text import shorten

#: File types Fiken accepts as attachments, by extension, and the extension of each type.
ATTACHMENT_EXTENSIONS: Final = frozenset({".pdf", ".png", ".jpeg", ".jpg", ".gif"})
EXTENSION_OF_TYPE: Final = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
}

#: A KID as Fiken takes it: "Number from 2 to 25 digits long".
_KID: Final = re.compile(r"[0-9]{2,25}\Z")

_log = logging.getLogger(__name__)


class FikenBooks:
    """One Fiken company's books (`company_slug`) through a shared FikenClient."""

    name = SYSTEM

    def __init__(self, client: FikenClient, company_slug: str) -> None:
        if not company_slug or "/" in company_slug:
            raise ValueError("a Fiken company slug is required")
        self._client = client
        self._slug = company_slug
        self._base = f"/companies/{urllib.parse.quote(company_slug, safe='')}"
        self._company_key = f"fiken:{company_slug}"

    # --- the company ----------------------------------------------------------------

    async def company(self) -> BooksCompany:
        company = await self._client.get_json(self._base, wire.COMPANY)
        return BooksCompany(
            slug=company.slug or self._slug,
            name=company.name,
            organization_number=company.organization_number,
            vat_type=company.vat_type,
            has_api_access=company.has_api_access,
            test_company=company.test_company,
        )

    async def company_key(self) -> str | None:
        """Tenants whose credentials name the same company share it (ADR 0047)."""
        return self._company_key

    async def accounts(self) -> list[BooksAccount]:
        accounts = await self._client.get_all(f"{self._base}/accounts", wire.ACCOUNTS)
        return [
            BooksAccount(code=account.code, name=account.name)
            for account in accounts
            if account.code  # a row without its code is no account to book to
        ]

    async def account_balances(self, date: dt.date) -> list[BooksAccountBalance]:
        balances = await self._client.get_all(
            f"{self._base}/accountBalances", wire.ACCOUNT_BALANCES, {"date": date.isoformat()}
        )
        return [
            BooksAccountBalance(code=row.code, name=row.name, balance=wire.from_ore(row.balance))
            for row in balances
            if row.code
        ]

    async def bank_accounts(self) -> list[BooksBankAccount]:
        accounts = await self._client.get_all(f"{self._base}/bankAccounts", wire.BANK_ACCOUNTS)
        return [
            BooksBankAccount(
                id=str(account.bank_account_id),
                name=account.name,
                account_code=account.account_code,
                bank_account_number=account.bank_account_number,
                inactive=account.inactive,
            )
            for account in accounts
            # Without its id or its code (what paymentAccount takes) it cannot be used.
            if account.bank_account_id is not None and account.account_code
        ]

    # --- suppliers ------------------------------------------------------------------

    async def find_supplier(self, organization_number: str | None, name: str) -> Contact | None:
        """By organisation number; else by exactly this name, unless that contact has
        another organisation number (then it is a different company)."""
        number = _organization_number(organization_number)
        if number:
            found = await self._suppliers({"organizationNumber": number})
            by_number = [c for c in found if _organization_number(c.organization_number) == number]
            if by_number:
                return _contact(_first_active(by_number))
        # As create_supplier sends it: a name beyond Fiken's limit was sent cut.
        name = wire.contact_name(name)
        if not name:
            return None
        found = await self._suppliers({"name": name})
        by_name = [
            c
            for c in found
            if " ".join(c.name.split()) == name
            and (not number or _organization_number(c.organization_number) in (None, number))
        ]
        return _contact(_first_active(by_name)) if by_name else None

    async def create_supplier(self, name: str, organization_number: str | None) -> Contact:
        """A name beyond Fiken's maxLength is cut at a word (`wire.contact_name`), as
        `find_supplier` looks it up; the organisation number, an identifier, never is."""
        name = wire.contact_name(name)
        if not name:
            raise _not_sent("a supplier needs a name")
        body = wire.ContactRequest(
            name=name,
            supplier=True,
            organization_number=_organization_number(organization_number),
        )
        contact_id = await self._client.create(f"{self._base}/contacts", msgspec.json.encode(body))
        contact = await self._client.get_json(f"{self._base}/contacts/{contact_id}", wire.CONTACT)
        if contact.contact_id is None:  # the one we asked for by its Location's id
            return _contact(contact, contact_id)
        return _contact(contact)

    async def _suppliers(self, query: QueryParams) -> list[wire.Contact]:
        found = await self._client.get_all(
            f"{self._base}/contacts", wire.CONTACTS, {**query, "supplier": True}
        )
        return [c for c in found if c.supplier and c.contact_id is not None]

    # --- purchases ------------------------------------------------------------------

    async def create_purchase(self, purchase: NewPurchase) -> str:
        body = purchase_request(purchase)
        return await self._client.create(f"{self._base}/purchases", msgspec.json.encode(body))

    async def find_purchase(self, reference: str, date: dt.date) -> Purchase | None:
        """The purchase of `date` whose first line (or identifier) carries `reference`;
        a live one before a deleted one."""
        found = await self._client.get_all(
            f"{self._base}/purchases", wire.PURCHASES, {"date": date.isoformat()}
        )
        matches = [p for p in found if p.identifier == reference or _line_reference(p) == reference]
        if not matches:
            return None
        if any(p.purchase_id is None for p in matches):
            raise ExternalAnswerInvalid(
                f"{SYSTEM}: a purchase carrying reference {reference} has no purchaseId",
                system=SYSTEM,
            )
        if len(matches) > 1:
            _log.warning("fiken: %d purchases carry reference %s", len(matches), reference)
        matches.sort(key=lambda p: (p.deleted, p.purchase_id))
        return to_purchase(matches[0])

    async def purchases(
        self, start: dt.date, end: dt.date, kind: str | None = None
    ) -> list[Purchase]:
        found = await self._client.get_all(
            f"{self._base}/purchases",
            wire.PURCHASES,
            {"dateGe": start.isoformat(), "dateLe": end.isoformat()},
        )
        return [
            to_purchase(p)
            for p in found
            if p.purchase_id is not None and (kind is None or p.kind == kind)
        ]

    async def attach_to_purchase(
        self, purchase_id: str, filename: str, content: bytes, content_type: str
    ) -> None:
        """Upload the receipt or invoice as documenting the purchase itself (attachToSale);
        Fiken wants at least one of attachToSale and attachToPayment."""
        name = attachment_name(filename, content_type)
        await self._client.request(
            "POST",
            f"{self._base}/purchases/{_numeric_id(purchase_id, 'purchase')}/attachments",
            params={"attachToSale": True, "attachToPayment": False},
            data={"filename": name},
            files={"file": (name, content, content_type)},
        )

    async def delete_purchase(self, purchase_id: str, description: str) -> None:
        description = shorten(description, wire.MAX_DESCRIPTION) or "Reversert"
        await self._client.request(
            "PATCH",
            f"{self._base}/purchases/{_numeric_id(purchase_id, 'purchase')}/delete",
            params={"description": description},
        )

    # --- journal entries --------------------------------------------------------------

    async def create_journal_entry(self, entry: NewJournalEntry) -> str:
        """The new entry's journalEntryId. The spec's Location is the "Full URL of newly
        created General Journal Entry", a resource it has no path for: when it names no
        /journalEntries/{id}, the entry is found by our reference instead."""
        body = journal_entry_request(entry)
        path = f"{self._base}/generalJournalEntries"
        segments = await self._client.create_at(path, msgspec.json.encode(body))
        if len(segments) >= 2 and segments[-2] == "journalEntries" and segments[-1].isdigit():
            return segments[-1]
        found = await self.find_journal_entry(entry.reference, entry.date)
        if found is None:
            # Created, but which entry it is cannot be told: the caller reconciles.
            raise ExternalUnavailable(
                f"{SYSTEM} POST {path} answered a Location that names no journal entry "
                f"({'/'.join(segments[-2:])}), and none carries reference {entry.reference}",
                system=SYSTEM,
            )
        return found.id

    async def find_journal_entry(self, reference: str, date: dt.date) -> BooksJournalEntry | None:
        """GET /journalEntries of `date`: the entry whose description ends in `reference`
        (Fiken's "Fri postering registrert via API: " before it); a live one first."""
        found = await self._client.get_all(
            f"{self._base}/journalEntries", wire.JOURNAL_ENTRIES, {"date": date.isoformat()}
        )
        matches = [e for e in found if wire.reference_in(e.description) == reference]
        if not matches:
            return None
        if any(e.journal_entry_id is None for e in matches):
            raise ExternalAnswerInvalid(
                f"{SYSTEM}: a journal entry carrying reference {reference} has no journalEntryId",
                system=SYSTEM,
            )
        if len(matches) > 1:
            _log.warning("fiken: %d journal entries carry reference %s", len(matches), reference)
        matches.sort(key=lambda e: (e.offset_transaction_id is not None, e.journal_entry_id))
        first = matches[0]
        names = [_attachment_file(attachment) for attachment in first.attachments]
        return BooksJournalEntry(
            id=str(first.journal_entry_id),
            cancelled=first.offset_transaction_id is not None,
            attachments=tuple(name for name in names if name),
            unnamed_attachments=names.count(None),
        )

    async def attach_to_journal_entry(
        self, entry_id: str, filename: str, content: bytes, content_type: str
    ) -> None:
        """POST /journalEntries/{id}/attachments (addAttachmentToJournalEntry): the file
        and its name as multipart form fields; the endpoint takes no query parameters."""
        name = attachment_name(filename, content_type)
        entry = _numeric_id(entry_id, "journal entry")
        await self._client.request(
            "POST",
            f"{self._base}/journalEntries/{entry}/attachments",
            data={"filename": name},
            files={"file": (name, content, content_type)},
        )


# --- mapping ---------------------------------------------------------------------------


def purchase_request(purchase: NewPurchase) -> wire.PurchaseRequest:
    """The POST /purchases body: øre amounts, our reference on the first line."""
    if not purchase.lines:
        raise _not_sent("a purchase needs at least one line")
    if purchase.kid is not None and not _KID.match(purchase.kid):
        # An identifier is never cut or guessed at (the proposal refuses one since).
        raise _not_sent(f"KID {purchase.kid[:40]!r} is not 2 to 25 digits")
    foreign = purchase.currency != "NOK"
    lines = []
    for index, line in enumerate(purchase.lines):
        text = (
            _with_reference(line.description, purchase.reference)
            if index == 0
            else _trim(line.description)
        )
        net, vat = _ore(line.net), _ore(line.vat)
        # Issue 12: a foreign-currency purchase carries its NOK amounts too, when known.
        nok_net: int | None = net
        nok_vat: int | None = vat
        if foreign:
            nok_net = None if line.net_nok is None else _ore(line.net_nok)
            nok_vat = None if line.vat_nok is None else _ore(line.vat_nok)
        lines.append(
            wire.OrderLine(
                description=text,
                vat_type=line.vat_type,
                account=line.account,
                net_price=nok_net,
                vat=nok_vat,
                net_price_in_currency=net if foreign else None,
                vat_in_currency=vat if foreign else None,
            )
        )
    return wire.PurchaseRequest(
        payment_amount_in_nok=_paid_in_nok(lines) if purchase.paid and foreign else None,
        date=purchase.date,
        kind=purchase.kind,
        paid=purchase.paid,
        lines=lines,
        currency=purchase.currency,
        identifier=purchase.identifier or purchase.reference,
        due_date=purchase.due_date,
        supplier_id=(
            _numeric_id(purchase.supplier_id, "supplier")
            if purchase.supplier_id is not None
            else None
        ),
        payment_account=purchase.payment_account,
        payment_date=purchase.payment_date or (purchase.date if purchase.paid else None),
        kid=purchase.kid,
    )


def _paid_in_nok(lines: list[wire.OrderLine]) -> int | None:
    """A paid foreign-currency purchase's paymentAmountInNok (which Fiken requires): what
    its lines come to in NOK; None without every line's NOK amounts (Fiken refuses it)."""
    if any(line.net_price is None or line.vat is None for line in lines):
        return None
    return sum((line.net_price or 0) + (line.vat or 0) for line in lines)


def journal_entry_request(entry: NewJournalEntry) -> wire.GeneralJournalEntryRequest:
    """The POST /generalJournalEntries body; the description leaves room for Fiken's prefix."""
    limit = wire.MAX_DESCRIPTION - len(wire.JOURNAL_PREFIX)
    try:
        description = wire.with_reference(entry.description, entry.reference, limit)
    except ValueError as error:
        raise _not_sent(str(error)) from None
    lines = [
        wire.JournalLineRequest(
            amount=_ore(line.amount),
            debit_account=line.debit_account,
            debit_vat_code=line.debit_vat_code,
            credit_account=line.credit_account,
            credit_vat_code=line.credit_vat_code,
        )
        for line in entry.lines
    ]
    return wire.GeneralJournalEntryRequest(
        journal_entries=[
            wire.JournalEntryRequest(description=description, date=entry.date, lines=lines)
        ]
    )


def to_purchase(purchase: wire.Purchase) -> Purchase:
    foreign = purchase.currency != "NOK"
    names = [_attachment_file(attachment) for attachment in purchase.purchase_attachments]
    gross = sum(_line_gross(line, foreign=foreign) for line in purchase.lines)
    return Purchase(
        id=str(purchase.purchase_id),
        kind=purchase.kind,
        date=purchase.date,
        identifier=purchase.identifier,
        gross=wire.from_ore(gross),
        currency=purchase.currency,
        paid=purchase.paid,
        deleted=purchase.deleted,
        supplier_id=(
            str(purchase.supplier.contact_id)
            if purchase.supplier and purchase.supplier.contact_id is not None
            else None
        ),
        due_date=purchase.due_date,
        reference=_line_reference(purchase),
        transaction_id=(
            str(purchase.transaction_id) if purchase.transaction_id is not None else None
        ),
        attachments=tuple(name for name in names if name),
        unnamed_attachments=names.count(None),
        description=(purchase.supplier.name if purchase.supplier else "")
        or (
            wire.without_reference(_referenced_line(purchase).description)
            if purchase.lines
            else None
        ),
    )


def _referenced_line(purchase: wire.Purchase) -> wire.OrderLine:
    """The line carrying our reference (sent first; the spec does not say the lines come
    back in the order sent), else the first line. The purchase has lines."""
    for line in purchase.lines:
        if wire.reference_in(line.description) is not None:
            return line
    return purchase.lines[0]


def _line_reference(purchase: wire.Purchase) -> str | None:
    """Our reference on any of the purchase's lines (`_referenced_line`), if one has it."""
    return wire.reference_in(_referenced_line(purchase).description) if purchase.lines else None


def attachment_name(filename: str, content_type: str) -> str:
    """A file name Fiken takes: no directories, ending in .pdf/.png/.jpeg/.jpg/.gif (added
    from the content type when missing)."""
    name = posixpath.basename(filename.replace("\\", "/")).strip()
    extension = posixpath.splitext(name)[1].lower()
    if extension in ATTACHMENT_EXTENSIONS:
        return name
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in EXTENSION_OF_TYPE:
        raise _not_sent(f"Fiken accepts only PDF, PNG, JPEG and GIF files, not {media_type!r}")
    return f"{name or 'bilag'}{EXTENSION_OF_TYPE[media_type]}"


def _attachment_file(attachment: wire.Attachment) -> str | None:
    """An attachment's file name: the last segment of its download URL when that is a file
    name Fiken takes (.pdf, .png …). The attachment schema has no name field and nothing
    says its URL ends in one: a URL ending in a file id, or none, names no file (None), and
    neither does the user-defined `identifier` (an invoice or receipt number)."""
    if not attachment.download_url:
        return None
    path = urllib.parse.urlsplit(attachment.download_url).path
    name = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])
    if posixpath.splitext(name)[1].lower() in ATTACHMENT_EXTENSIONS:
        return name
    return None


def _line_gross(line: wire.OrderLine, *, foreign: bool) -> int:
    """A line's gross in the purchase's currency. The spec asks for "either netPrice or
    netPriceInCurrency": a NOK line may come with its amounts in currency only (the
    currency being NOK), which is no line of 0 kr."""
    if foreign and line.net_price_in_currency is not None:
        return line.net_price_in_currency + (line.vat_in_currency or 0)
    if line.net_price is None and line.net_price_in_currency is not None:
        vat = line.vat if line.vat is not None else line.vat_in_currency
        return line.net_price_in_currency + (vat or 0)
    return (line.net_price or 0) + (line.vat or 0)


def _contact(contact: wire.Contact, contact_id: str | None = None) -> Contact:
    return Contact(
        id=contact_id or str(contact.contact_id),
        name=contact.name,
        organization_number=contact.organization_number,
        supplier_account_code=contact.supplier_account_code,
    )


def _first_active(contacts: Iterable[wire.Contact]) -> wire.Contact:
    """The oldest active contact, or the oldest when all are inactive."""
    return min(contacts, key=lambda c: (c.inactive, c.contact_id))


def _organization_number(value: str | None) -> str | None:
    """An organisation number without spaces ("913 312 465" → "913312465")."""
    number = "".join(value.split()) if value else ""
    return number or None


def _ore(amount: Decimal) -> int:
    try:
        return wire.to_ore(amount)
    except wire.NotWholeOre as error:
        raise _not_sent(str(error)) from None


def _numeric_id(value: str, what: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise _not_sent(f"{what} id {value!r} is not a Fiken id")
    return int(value)


def _with_reference(text: str, reference: str) -> str:
    try:
        return wire.with_reference(text, reference)
    except ValueError as error:
        raise _not_sent(str(error)) from None


def _trim(text: str) -> str:
    return shorten(text, wire.MAX_DESCRIPTION)


def _not_sent(reason: str) -> ExternalRejected:
    """A request we refuse to send because Fiken would refuse it or get it wrong."""
    return ExternalRejected(f"{SYSTEM}: not sent: {reason}", system=SYSTEM)
