"""A company outside the VAT register (Merverdiavgiftsregisteret): no VAT in its books.

Only a registered business charges output VAT, deducts input VAT (merverdiavgiftsloven
§ 8-1: "registrert næringsdrivende") and accounts for reverse charge in the ordinary return
(§ 3-30). A company that is not registered — the tenant's `vatRegistered` false (ADR 0056,
addendum 3; ReviewRules) — books a receipt of 1 250 kr showing 250 kr VAT as a cost of
1 250 kr, with no VAT line and no VAT code that carries VAT; it files no VAT return
(ADR 0056, addendum 4).

The rules here are what every path asks: the pipeline's proposal (`without_vat`), a
submission and an approval with a reviewer's corrections (`purchase_problem`), and a
journal entry from REST or the bus (`check_entry`). The messages are English for the
record; the messages catalogue says them in Norwegian (`refusal.not_vat_registered*`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final

from bookkeeper.domain.errors import InvalidCorrection
from bookkeeper.domain.events import (
    Corrections,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalLine,
    ReceiptAttachmentData,
)
from bookkeeper.domain.ledger import OUTPUT, InvalidJournalEntry, saft_vat_code
from bookkeeper.domain.rules import REVERSE_CHARGE

#: Why a purchase with VAT (a rate, an amount, a line at a rate, reverse charge) is refused
#: for a company outside the VAT register: the whole amount is the cost, at 0 %.
NOT_VAT_REGISTERED: Final = (
    "the company is not VAT-registered: it deducts no input VAT and accounts for no reverse "
    "charge (merverdiavgiftsloven § 8-1, § 3-30); book the whole amount as the cost at VAT "
    "rate 0, without reverse charge"
)
#: What the reviewer is told on every purchase of such a company (a confidence reason of
#: effect 0: it explains, it does not score).
NOT_VAT_REGISTERED_REASON: Final = (
    "the company is not VAT-registered: no input VAT deduction (merverdiavgiftsloven "
    "§ 8-1); the whole amount, any VAT shown included, is booked as the cost at 0 %"
)

#: What the VAT report, the morning check and the chat say instead of a term and its due
#: date: a company outside the VAT register files no VAT return (mva-melding).
#: The confidence reason a purchase of a company outside the register carries (effect 0):
#: what the review page and Discord's Korriger modal read to offer no reverse charge.
VAT_REGISTRATION_SIGNAL: Final = "vat-registration"

NO_VAT_RETURN: Final = (
    "the company is not VAT-registered: it files no VAT return (mva-melding) and has no VAT "
    "deadline"
)

#: What the VAT report says of a term that ended before the company's registration took
#: effect (ADR 0064, addendum): no return for it; its first is the term holding that day.
BEFORE_REGISTRATION: Final = (
    "the company is VAT-registered from {date}: it files no VAT return (mva-melding) for a "
    "term that ended before then"
)

_PURCHASES: Final = (ReceiptAttachmentData, InvoiceRegistrationData, ExpenseRegistrationData)
_ZERO: Final = Decimal(0)


class NotVatRegistered(InvalidCorrection):
    """A purchase with VAT, or a correction adding it, for a company that is not
    VAT-registered (422, like any refused correction)."""

    code = "not-vat-registered"


def is_purchase(data: object) -> bool:
    """Whether the payload is a purchase (receipt, invoice, expense)."""
    return isinstance(data, _PURCHASES)


def carries_vat(data: object) -> bool:
    """Whether a purchase books VAT: a rate or a VAT amount above zero, a line item at a
    rate, or reverse charge."""
    if not isinstance(data, _PURCHASES):
        return False
    if data.reverse_charge is True or data.vat_rate != _ZERO:
        return True
    if data.vat_amount is not None and data.vat_amount != _ZERO:
        return True
    items = data.line_items if isinstance(data.line_items, tuple) else ()
    return any(item.vat_rate != _ZERO for item in items)


def adds_vat(corrections: Corrections | None) -> bool:
    """Whether corrections ask for VAT: a rate or amount above zero, or reverse charge."""
    if corrections is None:
        return False
    return (
        corrections.reverse_charge is True
        or (corrections.vat_rate is not None and corrections.vat_rate != _ZERO)
        or (corrections.vat_amount is not None and corrections.vat_amount != _ZERO)
    )


def check_purchase(data: object) -> None:
    """Raise NotVatRegistered when a purchase (after any corrections) carries VAT; call
    only for a company that is not VAT-registered."""
    if carries_vat(data):
        raise NotVatRegistered(NOT_VAT_REGISTERED)


def check_corrections(corrections: Corrections | None) -> None:
    """Raise NotVatRegistered when corrections (a compensating correction's changes) add
    VAT; call only for a company that is not VAT-registered."""
    if adds_vat(corrections):
        raise NotVatRegistered(NOT_VAT_REGISTERED)


def _vat_code_carries_vat(code: str) -> bool:
    """A SAF-T code under which VAT is charged, deducted or calculated (reverse charge):
    any code with a rate above zero, and every reverse-charge code. The codes without VAT
    (0, 5, 52, 6, 7, …) are a non-registered company's to use."""
    if code in REVERSE_CHARGE:
        return True
    rate = saft_vat_code(code).rate
    return rate is not None and rate != _ZERO


def check_entry(lines: Iterable[JournalLine]) -> None:
    """Raise InvalidJournalEntry when a line of a journal entry carries a VAT code that
    charges or deducts VAT; call only for a company that is not VAT-registered. A sale
    with VAT from such a company is refused, not booked without it: VAT invoiced by one
    outside the register is owed to the state all the same (merverdiavgiftsloven § 11-3),
    so the invoice is credited and issued again without VAT."""
    for index, line in enumerate(lines):
        code = line.vat_code
        if not code or not _vat_code_carries_vat(code):
            continue
        if saft_vat_code(code).direction == OUTPUT:
            raise InvalidJournalEntry(
                f"lines[{index}]: the company is not VAT-registered, so VAT code {code} "
                "(output VAT) cannot be used: a company outside the VAT register charges no "
                "VAT, and VAT it invoiced is owed to the state all the same "
                "(merverdiavgiftsloven § 11-3); credit the invoice and issue it again "
                "without VAT"
            )
        raise InvalidJournalEntry(
            f"lines[{index}]: the company is not VAT-registered, so VAT code {code} cannot "
            "be used: it deducts no input VAT and accounts for no reverse charge "
            "(merverdiavgiftsloven § 8-1, § 3-30); book the gross amount with VAT code 0"
        )
