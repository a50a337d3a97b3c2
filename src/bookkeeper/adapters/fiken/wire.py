"""Fiken's JSON shapes (the parts we use), amounts in øre, and our reference in descriptions.

Field names follow the OpenAPI document (camelCase). Answers are decoded leniently (unknown
fields ignored, optional ones defaulted) so that Fiken adding a field never breaks us;
requests use `omit_defaults`, so a field we have no value for is left out, not sent as null.
Amounts on the wire are integer øre ("cents"); in the ports they are Decimal kroner,
converted here exactly or not at all.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Final

import msgspec

from bookkeeper.domain import money
from bookkeeper.domain.text import shorten

#: Fiken's limit for line and journal entry descriptions (maxLength in the spec).
MAX_DESCRIPTION: Final = 200
#: Fiken's limit for a contact's name (maxLength 200, minLength 1 in the spec).
MAX_CONTACT_NAME: Final = 200
#: What Fiken puts before a general journal entry's description (counts toward the limit).
JOURNAL_PREFIX: Final = "Fri postering registrert via API: "

_REFERENCE: Final = r"[A-Za-z0-9][A-Za-z0-9_.:-]{2,63}"
_REFERENCE_ONLY: Final = re.compile(_REFERENCE)
_REFERENCE_AT_END: Final = re.compile(r"\[(" + _REFERENCE + r")\]\s*$")


# --- amounts ---------------------------------------------------------------------------


class NotWholeOre(ValueError):
    """A kroner amount that is not a whole number of øre (Fiken would drop the fraction)."""


def to_ore(amount: Decimal) -> int:
    """Kroner to integer øre, exactly: 1234.50 → 123450. Refuses fractions of an øre
    rather than rounding, since Fiken silently ignores them and the books would differ."""
    if not amount.is_finite():
        raise NotWholeOre(f"{amount} is not an amount")
    ore = amount * 100
    if ore != ore.to_integral_value():
        raise NotWholeOre(f"{amount} kr is not a whole number of øre")
    return int(ore)


def from_ore(ore: int) -> Decimal:
    """Integer øre to kroner with two decimals: 123450 → Decimal('1234.50')."""
    return money.from_ore(ore)


# --- our reference ---------------------------------------------------------------------


def is_reference(text: str) -> bool:
    """Whether `text` can be stored as a reference and parsed back (letters, digits, _.:-)."""
    return _REFERENCE_ONLY.fullmatch(text) is not None


def contact_name(name: str) -> str:
    """A contact's name as sent to Fiken and looked up again: `shorten`ed to its limit."""
    return shorten(name, MAX_CONTACT_NAME)


def with_reference(text: str, reference: str, limit: int = MAX_DESCRIPTION) -> str:
    """`text [reference]` within `limit` characters: the text is cut (at a word, with an
    ellipsis), never the reference, which must survive for a lookup to find the object
    again."""
    if not is_reference(reference):
        raise ValueError(f"unusable reference {reference!r}")
    tag = f"[{reference}]"
    room = limit - len(tag) - 1
    if room < 1:
        raise ValueError(f"reference {reference!r} does not fit in {limit} characters")
    text = shorten(text, room)
    return f"{text} {tag}" if text else tag


def without_reference(text: str | None) -> str | None:
    """A description without the reference at its end (`with_reference`'s text), or None
    when nothing is left."""
    if not text:
        return None
    return _REFERENCE_AT_END.sub("", text).strip() or None


def reference_in(text: str | None) -> str | None:
    """The reference at the end of a description (`… [bk-…]`), if there is one."""
    if not text:
        return None
    found = _REFERENCE_AT_END.search(text)
    return found.group(1) if found else None


# --- what Fiken answers ----------------------------------------------------------------


# The spec requires none of the ids, codes and slugs below in an answer (they are readOnly,
# not required): each is optional here, and a record without the one that makes it usable
# is passed over by the adapter (or, in the history, reported as a problem).


class Company(msgspec.Struct, frozen=True, rename="camel"):
    slug: str | None = None
    name: str = ""
    organization_number: str | None = None
    vat_type: str | None = None
    has_api_access: bool = True
    test_company: bool = False


class Account(msgspec.Struct, frozen=True, rename="camel"):
    code: str | None = None
    name: str = ""


class AccountBalance(msgspec.Struct, frozen=True, rename="camel"):
    code: str | None = None
    name: str = ""
    balance: int = 0


class BankAccount(msgspec.Struct, frozen=True, rename="camel"):
    bank_account_id: int | None = None
    account_code: str | None = None
    name: str = ""
    bank_account_number: str | None = None
    inactive: bool = False


class Contact(msgspec.Struct, frozen=True, rename="camel"):
    contact_id: int | None = None
    name: str = ""
    organization_number: str | None = None
    supplier_account_code: str | None = None
    supplier: bool = False
    inactive: bool = False
    customer_account_code: str | None = None


class OrderLine(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """A purchase line, read and written (`netPrice` or `netPriceInCurrency` is required)."""

    description: str
    vat_type: str
    net_price: int | None = None
    vat: int | None = None
    account: str | None = None
    net_price_in_currency: int | None = None
    vat_in_currency: int | None = None


class Attachment(msgspec.Struct, frozen=True, rename="camel"):
    identifier: str | None = None
    download_url: str | None = None
    comment: str | None = None
    type: str | None = None


class Payment(msgspec.Struct, frozen=True, rename="camel"):
    """A payment of a purchase or sale: `amount` in its currency, `amountInNok` when foreign."""

    date: dt.date
    account: str
    amount: int
    payment_id: int | None = None
    amount_in_nok: int | None = None
    currency: str | None = None
    fee: int | None = None


class Purchase(msgspec.Struct, frozen=True, rename="camel"):
    date: dt.date
    kind: str
    paid: bool = False
    transaction_id: int | None = None
    identifier: str | None = None
    due_date: dt.date | None = None
    lines: list[OrderLine] = []
    supplier: Contact | None = None
    currency: str = "NOK"
    purchase_attachments: list[Attachment] = []
    deleted: bool = False
    payments: list[Payment] = []
    settled_date: dt.date | None = None
    purchase_id: int | None = None


# --- what we send ----------------------------------------------------------------------


class ContactRequest(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    name: str
    supplier: bool
    organization_number: str | None = None


class PurchaseRequest(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """POST /purchases. `paid` is required although the spec's properties omit it."""

    date: dt.date
    kind: str
    paid: bool
    lines: list[OrderLine]
    currency: str
    identifier: str | None = None
    due_date: dt.date | None = None
    supplier_id: int | None = None
    payment_account: str | None = None
    payment_date: dt.date | None = None
    #: "Required when creating a purchase with payment in a foreign currency": the NOK
    #: that left the bank account, in øre.
    payment_amount_in_nok: int | None = None
    kid: str | None = None


class JournalLineRequest(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """Net amount on debit lines with a VAT code, gross on credit lines (Fiken derives VAT)."""

    amount: int
    debit_account: str | None = None
    debit_vat_code: int | None = None
    credit_account: str | None = None
    credit_vat_code: int | None = None


class JournalEntryRequest(msgspec.Struct, frozen=True, rename="camel"):
    description: str
    date: dt.date
    lines: list[JournalLineRequest]


class GeneralJournalEntryRequest(msgspec.Struct, frozen=True, rename="camel"):
    journal_entries: list[JournalEntryRequest]


COMPANY: Final = msgspec.json.Decoder(Company)
ACCOUNTS: Final = msgspec.json.Decoder(list[Account])
ACCOUNT_BALANCES: Final = msgspec.json.Decoder(list[AccountBalance])
BANK_ACCOUNTS: Final = msgspec.json.Decoder(list[BankAccount])
CONTACT: Final = msgspec.json.Decoder(Contact)
CONTACTS: Final = msgspec.json.Decoder(list[Contact])
PURCHASES: Final = msgspec.json.Decoder(list[Purchase])


# --- the books' history (`bookkeeper import fiken`) -----------------------------------


class JournalEntryLine(msgspec.Struct, frozen=True, rename="camel"):
    """A journal entry line as GET answers it: one account, the amount signed (debit
    positive, our reading: the spec documents the sign only for the write side)."""

    amount: int
    account: str | None = None
    vat_code: str | None = None


class JournalEntry(msgspec.Struct, frozen=True, rename="camel"):
    date: dt.date
    lines: list[JournalEntryLine]
    description: str = ""
    journal_entry_id: int | None = None
    journal_entry_number: int | None = None
    transaction_id: int | None = None
    offset_transaction_id: int | None = None
    created_date: dt.date | None = None
    last_modified_date: dt.date | None = None
    attachments: list[Attachment] = []


#: GET /journalEntries (a credit note found again by its reference, ADR 0054).
JOURNAL_ENTRIES: Final = msgspec.json.Decoder(list[JournalEntry])


class Sale(msgspec.Struct, frozen=True, rename="camel"):
    date: dt.date
    kind: str
    sale_id: int | None = None
    lines: list[OrderLine] = []
    currency: str = "NOK"
    sale_number: str | None = None
    customer: Contact | None = None
    sale_payments: list[Payment] = []
    net_amount: int | None = None
    vat_amount: int | None = None
    settled: bool = False
    write_off: bool = False
    deleted: bool = False
    transaction_id: int | None = None
    last_modified_date: dt.date | None = None
    settled_date: dt.date | None = None


JOURNAL_ENTRY: Final = msgspec.json.Decoder(JournalEntry)
SALE: Final = msgspec.json.Decoder(Sale)
PURCHASE: Final = msgspec.json.Decoder(Purchase)
RAW_LIST: Final = msgspec.json.Decoder(list[msgspec.Raw])
