"""Folio REST v2 bodies as msgspec Structs, and the parsing of its decimal-string amounts.

Only the fields the adapter reads are declared (a tolerant reader: Folio may add fields);
of those, the ones the spec (tests/fakes/contracts/folio-openapi.yml) marks required are
required here too, so a body without them fails decoding and is reported as a broken
contract instead of turning into a half-empty transaction.

Amounts are strings of kroner ("1000.00"), never JSON numbers: a field typed `str` makes
msgspec refuse a number, so no amount ever passes through float.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Final

import msgspec

from bookkeeper.application.errors import ExternalAnswerInvalid, ExternalError

SYSTEM: Final = "folio"

#: The spec says `^\d+\.\d+$` (unsigned). We also accept a sign and a missing fraction, so
#: that a signed amount the real API may send is honoured rather than refused; anything
#: else ("1 000,00", "1e3", "NaN", "") is a broken contract.
_AMOUNT = re.compile(r"^[+-]?\d+(\.\d+)?$")


def contract_broken(what: str, *, status: int | None = None) -> ExternalError:
    """The error for a Folio answer that breaks its own contract.

    ExternalAnswerInvalid (ADR 0026): not retryable (asking again returns the same bytes,
    and ExternalUnavailable would have the executor retry it), and not ExternalRejected
    (that would blame our request)."""
    return ExternalAnswerInvalid(
        f"Folio broke its API contract: {what}", system=SYSTEM, status=status
    )


def parse_amount(text: str, where: str) -> Decimal:
    """A decimal-string amount as exact Decimal kroner; ExternalError if it is not one."""
    if not _AMOUNT.match(text):
        raise contract_broken(f"{where} is not a decimal amount: {text[:40]!r}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # unreachable after the regex; kept for safety
        raise contract_broken(f"{where} is not a decimal amount: {text[:40]!r}") from exc


class _Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Folio's camelCase JSON."""


class Account(_Wire, frozen=True, kw_only=True):
    account_number: str
    name: str
    type: str  # Card, Earmarks, Operational, Tax, Savings (kept open for new types)
    balance: str


class AccountsResponse(_Wire, frozen=True, kw_only=True):
    accounts: list[Account]


class AccountBalance(_Wire, frozen=True, kw_only=True):
    """Both fields are missing for a day the account was not open."""

    incoming_balance: str | None = None
    outgoing_balance: str | None = None


class Amount(_Wire, frozen=True, kw_only=True):
    """TransactionAmount (kroner of the account) and CurrencyAmount (original currency)."""

    amount: str
    currency: str


class Attachment(_Wire, frozen=True, kw_only=True):
    id: str
    mime_type: str
    filename: str | None = None
    #: The original file's size in bytes (required by the spec; None if left out).
    file_size: int | None = None


class Party(_Wire, frozen=True, kw_only=True):
    """Creditor or debtor; the account number is BBAN (or IBAN for a foreign creditor)."""

    name: str | None = None
    account_number: str | None = None


class CardAuthorization(_Wire, frozen=True, kw_only=True):
    card_id: str
    merchant_id: str
    merchant_name: str
    currency_amount: Amount


class Transaction(_Wire, frozen=True, kw_only=True):
    """A booked transaction (schema `Transaction`)."""

    id: str
    event_id: str
    description: str
    booking_date: dt.date
    transaction_amount: Amount
    creditor: Party
    debtor: Party
    attachments: list[Attachment]
    complete: bool
    creditor_event_id: str | None = None
    card_authorization: CardAuthorization | None = None


class Transactions(_Wire, frozen=True, kw_only=True):
    booked: list[Transaction]


class Merchant(_Wire, frozen=True, kw_only=True):
    id: str
    name: str


class CardInfo(_Wire, frozen=True, kw_only=True):
    id: str
    account_number: str


class TransactionIncludes(_Wire, frozen=True, kw_only=True):
    merchants: list[Merchant] = []


class TransactionResponse(_Wire, frozen=True, kw_only=True):
    """Neither property is required by the spec: a body without `transactions` is empty."""

    transactions: Transactions = msgspec.field(default_factory=lambda: Transactions(booked=[]))
    includes: TransactionIncludes = msgspec.field(default_factory=TransactionIncludes)


class TransactionOnly(_Wire, frozen=True, kw_only=True):
    """A transaction inside an event (no eventId, no card authorisation of its own)."""

    id: str
    description: str
    booking_date: dt.date
    transaction_amount: Amount
    creditor: Party
    debtor: Party


class CreditorRequired(_Wire, frozen=True, kw_only=True):
    name: str
    account_number: str


class Payment(_Wire, frozen=True, kw_only=True):
    """A payment from one of our accounts (`debtorAccountNumber`), so always money out."""

    creditor: CreditorRequired
    debtor_account_number: str


class Event(_Wire, frozen=True, kw_only=True):
    id: str
    time: dt.datetime
    amount: Amount
    transactions: list[TransactionOnly]
    attachments: list[Attachment]
    complete: bool
    card_authorization: CardAuthorization | None = None
    payment: Payment | None = None
    purpose: str | None = None
    #: The user's note on the event (PatchEvent.note), which ADR 0052 adds to.
    note: str | None = None


class EventIncludes(_Wire, frozen=True, kw_only=True):
    merchants: list[Merchant] = []
    cards: list[CardInfo] = []


class EventsResponse(_Wire, frozen=True, kw_only=True):
    events: list[Event]
    includes: EventIncludes = msgspec.field(default_factory=EventIncludes)


class CreateAttachmentResponse(_Wire, frozen=True, kw_only=True):
    id: str
