"""The sandbox books: a `Books` that behaves like Fiken, kept in the local database.

It follows Fiken's rules where our adapters could break them, so that a flow that works on
the sandbox works on Fiken: ids are numeric strings; a purchase is `supplier` (with an
existing supplier) or `cash_purchase`, in a three-letter currency, with purchase VAT types
only, paid from a payment account; our reference is stored with the purchase and found
again by `find_purchase(reference, date)`; attachments must be PDF or image files; a
deleted purchase is kept, marked deleted (deleting it twice is refused, as a second
reversal would be); a general journal entry must balance. Refusals are ExternalRejected,
unknown ids ExternalNotFound (system "sandbox-books").

Account balances are derived from what was registered: each purchase line debits its
account (net) and the input VAT account of its VAT type, and credits the payment account
(paid) or the supplier's sub-ledger account (gross); journal lines post as Fiken describes
them (net on debit lines with a VAT code, gross on credit lines). A deleted purchase counts
until the day it was deleted, when its reversal is posted.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections import defaultdict
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.adapters.sandbox.seed import BOOKS, books_seed
from bookkeeper.adapters.sandbox.store import NewFile, NewObject, SandboxStore, new_file_id
from bookkeeper.application.errors import ExternalNotFound, ExternalRejected
from bookkeeper.application.ports import (
    BooksAccount,
    BooksAccountBalance,
    BooksBankAccount,
    BooksCompany,
    BooksJournalEntry,
    Clock,
    Contact,
    JournalEntryLineOut,
    NewJournalEntry,
    NewPurchase,
    Purchase,
)
from bookkeeper.domain import money

SYSTEM: Final = "sandbox-books"
PURCHASE_KINDS: Final = frozenset({"supplier", "cash_purchase"})
#: Fiken's vatType names that a purchase line may carry (docs/integrations.md).
PURCHASE_VAT_TYPES: Final = frozenset(
    {
        "NONE",
        "HIGH",
        "MEDIUM",
        "RAW_FISH",
        "LOW",
        "HIGH_DIRECT",
        "HIGH_BASIS",
        "MEDIUM_DIRECT",
        "MEDIUM_BASIS",
        "NONE_IMPORT_BASIS",
        "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
        "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE",
        "LOW_FOREIGN_SERVICE_DEDUCTIBLE",
        "LOW_FOREIGN_SERVICE_NONDEDUCTIBLE",
        "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_DEDUCTIBLE",
        "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE",
    }
)
#: Input VAT account per purchase VAT type (anything else with VAT posts to 2710).
INPUT_VAT_ACCOUNT: Final = {"HIGH": "2710", "MEDIUM": "2711", "RAW_FISH": "2711", "LOW": "2713"}
#: Reverse charge by vatType (ADR 0047, 0056): (percent, the deduction's account or None:
#: the cost takes the VAT). The sandbox posts the VAT the buyer calculates, as Fiken does.
REVERSE_CHARGE_VAT: Final[dict[str, tuple[Decimal, str | None]]] = {
    "HIGH_FOREIGN_SERVICE_DEDUCTIBLE": (Decimal("25"), "2710"),
    "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE": (Decimal("25"), None),
    "LOW_FOREIGN_SERVICE_DEDUCTIBLE": (Decimal("12"), "2713"),
    "LOW_FOREIGN_SERVICE_NONDEDUCTIBLE": (Decimal("12"), None),
    "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_DEDUCTIBLE": (Decimal("25"), "2710"),
    "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE": (Decimal("25"), None),
}
#: Journal VAT codes: rate and the VAT account, input (debit) and output (credit).
VAT_CODES: Final[dict[int, tuple[Decimal, str]]] = {
    1: (Decimal("0.25"), "2710"),
    14: (Decimal("0.25"), "2710"),
    11: (Decimal("0.15"), "2711"),
    15: (Decimal("0.15"), "2711"),
    12: (Decimal("0.1111"), "2711"),
    13: (Decimal("0.12"), "2713"),
    3: (Decimal("0.25"), "2700"),
    31: (Decimal("0.15"), "2700"),
    32: (Decimal("0.1111"), "2700"),
    33: (Decimal("0.12"), "2700"),
}
#: Fiken takes attachments with these endings only; the Fiken adapter adds one from the
#: content type to a name without it.
ATTACHMENT_EXTENSIONS: Final = frozenset({".pdf", ".png", ".jpeg", ".jpg", ".gif"})
EXTENSION_OF_TYPE: Final = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
}
CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
#: What the Fiken adapter accepts as our reference (it must survive in a description).
REFERENCE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{2,63}")
#: Purchases' transaction ids are their ids shifted into a range of their own.
TRANSACTION_OFFSET: Final = 500_000_000

OSLO: Final = ZoneInfo("Europe/Oslo")

_ORE = Decimal("0.01")


def _kroner(value: Decimal) -> Decimal:
    """Rounded to øre, as Fiken stores integer øre."""
    return value.quantize(_ORE, rounding=ROUND_HALF_UP)


def _whole_ore(amount: Decimal, what: str) -> None:
    """Fiken keeps integer øre and silently drops fractions; the Fiken adapter refuses them."""
    if not amount.is_finite() or amount * 100 != (amount * 100).to_integral_value():
        raise _rejected(f"{what} {amount} kr is not a whole number of øre")


def _normalised(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _rejected(message: str) -> ExternalRejected:
    return ExternalRejected(message, system=SYSTEM, status=400)


def _not_found(message: str) -> ExternalNotFound:
    return ExternalNotFound(message, system=SYSTEM, status=404)


class _StoredPurchase(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase as the sandbox keeps it: what was sent, plus Fiken's own fields."""

    purchase: NewPurchase
    gross: Decimal
    deleted: bool = False
    deleted_on: dt.date | None = None
    deletion_description: str | None = None


class SandboxBooks:
    """One tenant's sandbox books."""

    name = "sandbox"

    def __init__(self, store: SandboxStore, tenant_id: str, clock: Clock) -> None:
        self._store = store
        self._tenant = tenant_id
        self._clock = clock

    async def _ready(self) -> None:
        await self._store.seed_once(
            self._tenant, BOOKS, lambda: books_seed(self._tenant), self._clock.now()
        )

    # --- company and chart ------------------------------------------------------------------

    async def company_key(self) -> str | None:
        """A sandbox company is its tenant's own."""
        return None

    async def company(self) -> BooksCompany:
        await self._ready()
        stored = await self._store.get(self._tenant, BOOKS, "company", "company")
        if stored is None:  # the seed always has one; a hand-edited table may not
            raise _not_found("the sandbox books have no company")
        return msgspec.convert(stored.data, BooksCompany)

    async def accounts(self) -> list[BooksAccount]:
        await self._ready()
        found = await self._store.find(self._tenant, BOOKS, "account")
        return sorted((msgspec.convert(o.data, BooksAccount) for o in found), key=lambda a: a.code)

    async def bank_accounts(self) -> list[BooksBankAccount]:
        await self._ready()
        found = await self._store.find(self._tenant, BOOKS, "bank_account")
        return [msgspec.convert(o.data, BooksBankAccount) for o in found]

    async def account_balances(self, date: dt.date) -> list[BooksAccountBalance]:
        await self._ready()
        names = {a.code: a.name for a in await self.accounts()}
        names |= {b.account_code: b.name for b in await self.bank_accounts()}
        for contact in await self._contacts():
            if contact.supplier_account_code:
                names[contact.supplier_account_code] = contact.name
        totals: dict[str, Decimal] = defaultdict(Decimal)
        supplier_codes = await self._supplier_codes()
        for _, stored in await self._stored_purchases(None, date):
            if stored.deleted_on is not None and stored.deleted_on <= date:
                continue  # reversed by then
            for account, amount in _purchase_postings(stored, supplier_codes):
                totals[account] += amount
        for entry in await self._journal_entries(date):
            for account, amount in _journal_postings(entry.lines):
                totals[account] += amount
        codes = sorted(set(names) | set(totals))
        return [
            BooksAccountBalance(
                code=code,
                name=names.get(code) or names.get(code.split(":", 1)[0], code),
                balance=_kroner(totals.get(code, Decimal(0))),
            )
            for code in codes
            if code in totals or ":" not in code
        ]

    # --- contacts ---------------------------------------------------------------------------

    async def _contacts(self) -> list[Contact]:
        found = await self._store.find(self._tenant, BOOKS, "contact")
        return [_contact(o.id, o.data) for o in found]

    async def _supplier_names(self) -> dict[str, str]:
        return {c.id: c.name for c in await self._contacts()}

    async def _supplier_codes(self) -> dict[str, str]:
        return {c.id: c.supplier_account_code or "2400" for c in await self._contacts()}

    async def find_supplier(self, organization_number: str | None, name: str) -> Contact | None:
        await self._ready()
        number = "".join(_normalised(organization_number).split()) or None
        if number:
            by_number = await self._store.find(self._tenant, BOOKS, "contact", reference=number)
            if by_number:
                return _contact(by_number[0].id, by_number[0].data)
        name = _normalised(name)
        if not name:
            return None
        for contact in await self._contacts():
            # A contact of the same name but another organisation number is another company.
            if contact.name == name and (
                not number or contact.organization_number in (None, number)
            ):
                return contact
        return None

    async def create_supplier(self, name: str, organization_number: str | None) -> Contact:
        await self._ready()
        name = _normalised(name)
        number = "".join(_normalised(organization_number).split()) or None
        if not name:
            raise _rejected("a contact needs a name")
        if number is not None and not re.fullmatch(r"\d{9}", number):
            raise _rejected(f"organization number {number!r} is not 9 digits")
        data = {"name": name, "organization_number": number}
        contact_id = await self._store.add(
            self._tenant,
            BOOKS,
            NewObject(kind="contact", reference=number, data=data),
            self._clock.now(),
        )
        return _contact(contact_id, data)

    # --- purchases --------------------------------------------------------------------------

    async def create_purchase(self, purchase: NewPurchase) -> str:
        await self._ready()
        await self._check_purchase(purchase)
        gross = sum((_kroner(line.net) + _kroner(line.vat) for line in purchase.lines), Decimal(0))
        stored = _StoredPurchase(purchase=purchase, gross=gross)
        return await self._store.add(
            self._tenant,
            BOOKS,
            NewObject(
                kind="purchase",
                reference=purchase.reference,
                date=purchase.date,
                data=msgspec.to_builtins(stored),
            ),
            self._clock.now(),
        )

    async def _check_purchase(self, purchase: NewPurchase) -> None:
        if purchase.kind not in PURCHASE_KINDS:
            raise _rejected(f"kind must be supplier or cash_purchase, not {purchase.kind!r}")
        if not CURRENCY.fullmatch(purchase.currency):
            raise _rejected(f"currency {purchase.currency!r} is not a three-letter code")
        if not purchase.lines:
            raise _rejected("a purchase needs at least one line")
        if purchase.currency != "NOK" and any(
            line.net_nok is None or line.vat_nok is None for line in purchase.lines
        ):
            # Fiken would convert at a rate of its own; the sandbox has none, and never
            # books currency amounts as if they were NOK (ADR 0051).
            raise _rejected(f"a {purchase.currency} purchase needs its lines' NOK amounts")
        if not REFERENCE.fullmatch(purchase.reference):
            raise _rejected(f"unusable reference {purchase.reference!r}")
        for line in purchase.lines:
            _whole_ore(line.net, "net")
            _whole_ore(line.vat, "VAT")
            if line.vat_type not in PURCHASE_VAT_TYPES:
                raise _rejected(f"vatType {line.vat_type!r} is not valid on a purchase")
            if not line.account:
                raise _rejected("every purchase line needs an account")
        if purchase.kind == "supplier":
            if purchase.supplier_id is None:
                raise _rejected("a supplier purchase needs a supplierId")
            if await self._store.get(self._tenant, BOOKS, "contact", purchase.supplier_id) is None:
                raise _rejected(f"no contact {purchase.supplier_id}")
        if purchase.paid and not purchase.payment_account:
            raise _rejected("a paid purchase needs a paymentAccount")

    async def _stored_purchases(
        self, start: dt.date | None, end: dt.date | None
    ) -> list[tuple[str, _StoredPurchase]]:
        found = await self._store.find(self._tenant, BOOKS, "purchase", start=start, end=end)
        return [(o.id, _decode_purchase(o.data)) for o in found]

    async def find_purchase(self, reference: str, date: dt.date) -> Purchase | None:
        await self._ready()
        found = await self._store.find(
            self._tenant, BOOKS, "purchase", reference=reference, start=date, end=date
        )
        candidates = [(o.id, _decode_purchase(o.data)) for o in found]
        if not candidates:
            return None
        # A live purchase wins over one that was deleted (and perhaps registered again).
        candidates.sort(key=lambda c: c[1].deleted)
        purchase_id, stored = candidates[0]
        return await self._purchase(purchase_id, stored)

    async def purchases(
        self, start: dt.date, end: dt.date, kind: str | None = None
    ) -> list[Purchase]:
        await self._ready()
        found = [
            (purchase_id, stored)
            for purchase_id, stored in await self._stored_purchases(start, end)
            if kind is None or stored.purchase.kind == kind
        ]
        found.sort(key=lambda item: (item[1].purchase.date, int(item[0])))
        files = await self._store.files(
            self._tenant, BOOKS, "purchase", [purchase_id for purchase_id, _ in found]
        )
        names: dict[str, list[str]] = defaultdict(list)
        for file in files:
            names[file.owner_id].append(file.filename)
        suppliers = await self._supplier_names()
        return [_purchase(pid, stored, tuple(names[pid]), suppliers) for pid, stored in found]

    async def _purchase(self, purchase_id: str, stored: _StoredPurchase) -> Purchase:
        files = await self._store.files(self._tenant, BOOKS, "purchase", [purchase_id])
        return _purchase(
            purchase_id,
            stored,
            tuple(f.filename for f in files),
            await self._supplier_names(),
        )

    async def attach_to_purchase(
        self, purchase_id: str, filename: str, content: bytes, content_type: str
    ) -> None:
        await self._ready()
        filename = _attachment_name(filename, content_type)
        if not content:
            raise _rejected("the file is empty")
        if await self._store.get(self._tenant, BOOKS, "purchase", purchase_id) is None:
            raise _not_found(f"no purchase {purchase_id}")
        await self._store.add_file(
            self._tenant,
            BOOKS,
            NewFile(
                id=new_file_id(),
                owner_kind="purchase",
                owner_id=purchase_id,
                filename=filename,
                content_type=content_type,
                content=content,
            ),
            self._clock.now(),
        )

    async def delete_purchase(self, purchase_id: str, description: str) -> None:
        await self._ready()
        description = _normalised(description) or "Reversert"
        today = self._clock.now().astimezone(OSLO).date()

        def mark_deleted(data: dict[str, Any]) -> dict[str, Any]:
            stored = _decode_purchase(data)
            if stored.deleted:
                raise _rejected(f"purchase {purchase_id} is deleted already")
            deleted = msgspec.structs.replace(
                stored, deleted=True, deleted_on=today, deletion_description=description
            )
            result: dict[str, Any] = msgspec.to_builtins(deleted)
            return result

        if (
            await self._store.update(self._tenant, BOOKS, "purchase", purchase_id, mark_deleted)
            is None
        ):
            raise _not_found(f"no purchase {purchase_id}")

    # --- journal entries ----------------------------------------------------------------------

    async def create_journal_entry(self, entry: NewJournalEntry) -> str:
        await self._ready()
        _check_journal_entry(entry)
        return await self._store.add(
            self._tenant,
            BOOKS,
            NewObject(
                kind="journal_entry",
                reference=entry.reference,
                date=entry.date,
                data=msgspec.to_builtins(entry),
            ),
            self._clock.now(),
        )

    async def find_journal_entry(self, reference: str, date: dt.date) -> BooksJournalEntry | None:
        await self._ready()
        found = await self._store.find(
            self._tenant, BOOKS, "journal_entry", reference=reference, start=date, end=date
        )
        if not found:
            return None
        files = await self._store.files(self._tenant, BOOKS, "journal_entry", [found[0].id])
        return BooksJournalEntry(id=found[0].id, attachments=tuple(f.filename for f in files))

    async def attach_to_journal_entry(
        self, entry_id: str, filename: str, content: bytes, content_type: str
    ) -> None:
        """As Fiken's POST /journalEntries/{id}/attachments: the file kept with the entry."""
        await self._ready()
        filename = _attachment_name(filename, content_type)
        if not content:
            raise _rejected("the file is empty")
        if await self._store.get(self._tenant, BOOKS, "journal_entry", entry_id) is None:
            raise _not_found(f"no journal entry {entry_id}")
        await self._store.add_file(
            self._tenant,
            BOOKS,
            NewFile(
                id=new_file_id(),
                owner_kind="journal_entry",
                owner_id=entry_id,
                filename=filename,
                content_type=content_type,
                content=content,
            ),
            self._clock.now(),
        )

    async def _journal_entries(self, until: dt.date) -> list[NewJournalEntry]:
        found = await self._store.find(self._tenant, BOOKS, "journal_entry", end=until)
        return [msgspec.convert(o.data, NewJournalEntry, strict=False) for o in found]


def _decode_purchase(data: dict[str, Any]) -> _StoredPurchase:
    return msgspec.convert(data, _StoredPurchase, strict=False)


def _contact(contact_id: str, data: dict[str, Any]) -> Contact:
    """A contact; its supplier sub-ledger account is derived from its id, as Fiken numbers
    one per supplier."""
    return Contact(
        id=contact_id,
        name=data["name"],
        organization_number=data.get("organization_number"),
        supplier_account_code=f"2400:{contact_id}",
    )


def _purchase_postings(
    stored: _StoredPurchase, supplier_codes: dict[str, str]
) -> list[tuple[str, Decimal]]:
    purchase = stored.purchase
    postings: list[tuple[str, Decimal]] = []
    foreign = purchase.currency != "NOK"
    total = Decimal(0)
    for line in purchase.lines:
        # The ledger is in NOK: a foreign-currency purchase posts its lines' NOK amounts.
        net = _kroner(line.net_nok if foreign and line.net_nok is not None else line.net)
        vat = _kroner(line.vat_nok if foreign and line.vat_nok is not None else line.vat)
        if line.vat_type in REVERSE_CHARGE_VAT:
            # Owed to the supplier: the net; the buyer's VAT on 2700 and its deduction.
            percent, deduction = REVERSE_CHARGE_VAT[line.vat_type]
            calculated = vat or money.vat_of_net(net, percent)
            total += net
            postings.append((line.account, net))
            postings.append(("2700", -calculated))
            postings.append((deduction or line.account, calculated))
            continue
        total += net + vat
        postings.append((line.account, net))
        if line.vat:
            postings.append((INPUT_VAT_ACCOUNT.get(line.vat_type, "2710"), vat))
    if purchase.paid and purchase.payment_account:
        credit = purchase.payment_account
    elif purchase.supplier_id is not None:
        credit = supplier_codes.get(purchase.supplier_id, "2400")
    else:
        credit = "2400"
    postings.append((credit, -(total if foreign else stored.gross)))
    return postings


def _purchase(
    purchase_id: str,
    stored: _StoredPurchase,
    attachments: tuple[str, ...],
    suppliers: Mapping[str, str],
) -> Purchase:
    """A stored purchase as Fiken lists it (its supplier named, as Fiken embeds it)."""
    purchase = stored.purchase
    supplier = suppliers.get(purchase.supplier_id or "")
    return Purchase(
        id=purchase_id,
        kind=purchase.kind,
        date=purchase.date,
        identifier=purchase.identifier,
        gross=stored.gross,
        currency=purchase.currency,
        paid=purchase.paid,
        deleted=stored.deleted,
        supplier_id=purchase.supplier_id,
        due_date=purchase.due_date,
        reference=purchase.reference,
        transaction_id=str(TRANSACTION_OFFSET + int(purchase_id)),
        attachments=attachments,
        description=supplier
        or (" ".join(purchase.lines[0].description.split()) if purchase.lines else None)
        or None,
    )


def _gross_of_debit(line: JournalEntryLineOut) -> Decimal:
    """What a line puts on the debit side: its net plus the VAT its code derives."""
    amount = _kroner(line.amount)
    if line.debit_vat_code in VAT_CODES:
        rate, _ = VAT_CODES[line.debit_vat_code]
        return amount + _kroner(amount * rate)
    return amount


def _attachment_name(filename: str, content_type: str) -> str:
    """The name Fiken gets: no directories, a PDF/PNG/JPEG/GIF ending (added from the
    content type when missing); other files are refused."""
    name = posixpath.basename(filename.replace("\\", "/")).strip()
    if posixpath.splitext(name)[1].lower() in ATTACHMENT_EXTENSIONS:
        return name
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in EXTENSION_OF_TYPE:
        raise _rejected(f"Fiken accepts only PDF, PNG, JPEG and GIF files, not {media_type!r}")
    return f"{name or 'bilag'}{EXTENSION_OF_TYPE[media_type]}"


def _check_journal_entry(entry: NewJournalEntry) -> None:
    if not REFERENCE.fullmatch(entry.reference):
        raise _rejected(f"unusable reference {entry.reference!r}")
    if not entry.lines:
        raise _rejected("a journal entry needs at least one line")
    debit = credit = Decimal(0)
    coded = 0
    for line in entry.lines:
        _whole_ore(line.amount, "amount")
        if line.amount <= 0:
            raise _rejected("journal line amounts must be positive")
        if line.debit_account is None and line.credit_account is None:
            raise _rejected("a journal line needs a debit or a credit account")
        if (line.debit_vat_code is not None and line.debit_account is None) or (
            line.credit_vat_code is not None and line.credit_account is None
        ):
            raise _rejected("a VAT code needs the account it belongs to")
        coded += (line.debit_vat_code is not None) + (line.credit_vat_code is not None)
        if line.debit_account is not None:
            debit += _gross_of_debit(line)
        if line.credit_account is not None:
            # A line with both accounts balances itself: the credit takes the debit's gross.
            credit += _gross_of_debit(line) if line.debit_account else _kroner(line.amount)
    # VAT is rounded per line, so a balanced entry may be off by an øre per VAT line.
    if abs(debit - credit) > _ORE * coded:
        raise _rejected(f"the journal entry does not balance: debit {debit}, credit {credit}")


def _journal_postings(lines: tuple[JournalEntryLineOut, ...]) -> list[tuple[str, Decimal]]:
    postings: list[tuple[str, Decimal]] = []
    for line in lines:
        amount = _kroner(line.amount)
        gross = _gross_of_debit(line)
        if line.debit_account is not None:
            postings.append((line.debit_account, amount))
            if line.debit_vat_code in VAT_CODES:
                postings.append((VAT_CODES[line.debit_vat_code][1], gross - amount))
        if line.credit_account is not None:
            credited = gross if line.debit_account is not None else amount
            if line.credit_vat_code in VAT_CODES:
                rate, vat_account = VAT_CODES[line.credit_vat_code]
                net = _kroner(credited / (1 + rate))
                postings.append((line.credit_account, -net))
                postings.append((vat_account, -(credited - net)))
            else:
                postings.append((line.credit_account, -credited))
    return postings
