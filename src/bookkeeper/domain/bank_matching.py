"""Which bank event pays a document.

A receipt is matched to the card payment it records: money out of exactly the document's
gross amount, in its currency, within WINDOW_DAYS days of its date, from the same merchant
(by the event's merchant name or its description, compared as merchant patterns are, or
the bank's brand leading the document's name: "Vy" pays "Vygruppen AS"; either side of a
card descriptor's '*', "PAYPAL *ADOBESYSTEM"; initials, "AWS EMEA"). A receipt in
another currency is paid from a NOK account too: by its merchant, in the window, at its
published NOK gross give or take CURRENCY_SHARE, or, with no rate, the amounts not
compared (the bank's kroner then become its NOK amount, ADR 0051). Among
several such events the one without attachments comes first (a receipt is missing there),
then the nearest date, then the lowest id, so the choice does not depend on the bank's order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import Final, Protocol, TypeVar

import msgspec

from bookkeeper.domain.money import kroner_text
from bookkeeper.domain.patterns import (
    NEAR_MATCH_THRESHOLD,
    normalise_merchant,
    same_merchant,
    similarity,
)

#: Days either side of the document date in which a bank event may be its payment.
WINDOW_DAYS: Final = 3
#: A bank's brand ("Vy", "SAS") leading a document's name needs this many letters.
MIN_BRAND = 2
#: Initials standing for a name ("AWS" for Amazon Web Services) need this many letters.
MIN_INITIALS = 3


class BankEvent(Protocol):
    """What matching reads of a bank event (a booked transaction or a pending one);
    amounts are negative for money out."""

    @property
    def id(self) -> str: ...

    @property
    def date(self) -> dt.date: ...

    @property
    def amount(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def merchant_name(self) -> str | None: ...

    @property
    def attachments(self) -> Collection[object]: ...


E = TypeVar("E", bound=BankEvent)


class Payable(msgspec.Struct, frozen=True, kw_only=True):
    """The document to find the payment of: its gross amount (positive), currency, date
    and merchant name."""

    gross: Decimal
    currency: str
    date: dt.date
    merchant: str
    #: A foreign-currency document's gross in NOK at the published rate, when known: what
    #: a payment from a NOK account is compared with (ADR 0051).
    nok_gross: Decimal | None = None


def window(date: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day (inclusive) on which the payment of a document of `date` may
    have been made."""
    days = dt.timedelta(days=WINDOW_DAYS)
    return date - days, date + days


def merchant_matches(key: str, event: BankEvent) -> bool:
    """True when the event's merchant name or description names the merchant of the
    normalised `key`: the same merchant, or a near match."""
    for name in (event.merchant_name, event.description):
        for other in bank_names(name or ""):
            if (
                same_merchant(key, other)
                or similarity(key, other) >= NEAR_MATCH_THRESHOLD
                or _brand_leads(key, other)
                or _initials(key, other)
            ):
                return True
    return False


def bank_names(name: str) -> list[str]:
    """The normalised names a bank's merchant text may give its merchant by: the whole
    text, and on either side of a card descriptor's '*' ("ADOBE *CREATIVE CLOUD" names
    Adobe before it; a payment facilitator's "PAYPAL *ADOBESYSTEM", "NETS*REMA 1000",
    "Vipps*Ruter", "SQ *BAKERIET" name the merchant after it), each without a web
    address's leading "www" ("WWW.FINN.NO" is Finn.no)."""
    names: list[str] = []
    for part in (name, *name.split("*")):
        words = normalise_merchant(part).split()
        if words and words[0] == "www":
            words = words[1:]
        key = " ".join(words)
        if key and key not in names:
            names.append(key)
    return names


def _initials(a: str, b: str) -> bool:
    """True when one key's first word is the initials of the other's leading words, three
    letters or more: the bank's "aws" and the receipt's "amazon web services emea"."""
    for short, long_ in ((a, b), (b, a)):
        first = short.split(" ", 1)[0]
        words = long_.split()
        if (
            len(first) >= MIN_INITIALS
            and first.isalpha()
            and len(words) >= len(first)
            and "".join(w[0] for w in words[: len(first)]) == first
        ):
            return True
    return False


def _brand_leads(a: str, b: str) -> bool:
    """True when one key's first word begins the other's first word, and has at least
    MIN_BRAND letters: the bank's "vy" and the receipt's "vygruppen", "sas" and "sas
    scandinavian airlines". Short names that patterns would not trust (MIN_PREFIX_KEY)
    are enough here, beside an amount and a date that agree."""
    first_a, first_b = a.split(" ", 1)[0], b.split(" ", 1)[0]
    short, long_ = (first_a, first_b) if len(first_a) <= len(first_b) else (first_b, first_a)
    return len(short) >= MIN_BRAND and long_.startswith(short)


def pays(event: BankEvent, document: Payable) -> bool:
    """True when the event may be the payment of the document."""
    if event.amount >= 0 or abs((event.date - document.date).days) > WINDOW_DAYS:
        return False
    paid, bank_currency = -event.amount, event.currency.upper()
    currency = document.currency.upper()
    if bank_currency == currency:
        amount_agrees = paid == document.gross
    elif currency != "NOK" and bank_currency == "NOK":
        nok = document.nok_gross
        amount_agrees = nok is None or nok * (1 - CURRENCY_SHARE) <= paid <= nok * (
            1 + CURRENCY_SHARE
        )
    else:
        amount_agrees = False
    return amount_agrees and merchant_matches(normalise_merchant(document.merchant), event)


def best_payment(events: Iterable[E], document: Payable) -> E | None:
    """The event paying the document, if any: among those that may, one without
    attachments before one with, then the nearest date, then the lowest id. A foreign
    receipt without a published rate is matched by merchant and date alone, and its NOK
    amount then comes from the payment: when the merchant has several payments without
    a receipt in the window, none is chosen (the wrong one would set a wrong amount)."""
    candidates = [e for e in events if pays(e, document)]
    if not candidates:
        return None
    unattached = [e for e in candidates if not e.attachments]
    if _amount_unknown(document, candidates) and len(unattached) > 1:
        return None
    return min(
        candidates,
        key=lambda e: (bool(e.attachments), abs((e.date - document.date).days), e.id),
    )


def _amount_unknown(document: Payable, candidates: Iterable[BankEvent]) -> bool:
    """True when the candidates were chosen without their amounts: a foreign document,
    no published NOK gross, and payments in another currency than the document's."""
    currency = document.currency.upper()
    return document.nok_gross is None and any(e.currency.upper() != currency for e in candidates)


# --- checking a receipt against the bank event it names ---------------------------------

#: A named payment may differ from the receipt's gross by this much either way (rounding).
AMOUNT_TOLERANCE: Final = Decimal("1.00")
#: ... and exceed it by up to this share: a tip added on the card terminal.
TIP_SHARE: Final = Decimal("0.20")
#: ... or differ by up to this share either way when the receipt is in another currency
#: than the bank account (exchange rate and card fees).
CURRENCY_SHARE: Final = Decimal("0.10")
#: Days either side of the receipt's date the named payment may be booked on.
CHECK_WINDOW_DAYS: Final = 7


class Mismatch(msgspec.Struct, frozen=True, kw_only=True):
    """One way a receipt disagrees with the bank event it names: `check` is "amount",
    "date" or "merchant"; `detail` says it in words a reviewer understands."""

    check: str
    detail: str


def _kr(amount: Decimal, currency: str) -> str:
    return kroner_text(amount, currency)


def check_named_payment(event: BankEvent, document: Payable) -> list[Mismatch]:
    """How the receipt `document` disagrees with `event`, the payment it names (empty: it
    agrees). Amount: money out of the gross within AMOUNT_TOLERANCE, up to TIP_SHARE more
    (a tip), or within CURRENCY_SHARE when the currencies differ; date: within
    CHECK_WINDOW_DAYS; merchant: the event's merchant name or description names it."""
    found: list[Mismatch] = []
    paid = -event.amount
    gross = document.gross
    comparable = True
    if event.currency.upper() == document.currency.upper():
        low, high = gross - AMOUNT_TOLERANCE, gross * (1 + TIP_SHARE) + AMOUNT_TOLERANCE
    elif document.currency.upper() != "NOK" and event.currency.upper() == "NOK":
        # A foreign-currency receipt paid from a NOK account (ADR 0051): its NOK gross at
        # the published rate, give or take the card's fees; without a rate the two
        # currencies' amounts say nothing about each other (the bank's NOK is the
        # document's NOK amount then, and the reviewer sees the rate it implies).
        nok = document.nok_gross
        comparable = nok is not None
        low, high = (
            (nok * (1 - CURRENCY_SHARE), nok * (1 + CURRENCY_SHARE))
            if nok
            else (Decimal(0), Decimal(0))
        )
    else:
        low, high = gross * (1 - CURRENCY_SHARE), gross * (1 + CURRENCY_SHARE)
    if event.amount >= 0 or (comparable and not low <= paid <= high):
        found.append(
            Mismatch(
                check="amount",
                detail=(
                    f"the receipt's {_kr(gross, document.currency)} does not match the bank "
                    f"event's {_kr(event.amount, event.currency)}"
                ),
            )
        )
    days = (event.date - document.date).days
    if abs(days) > CHECK_WINDOW_DAYS:
        found.append(
            Mismatch(
                check="date",
                detail=(
                    f"the receipt is dated {document.date.isoformat()}, the bank event "
                    f"{event.date.isoformat()} ({abs(days)} days apart)"
                ),
            )
        )
    if not merchant_matches(normalise_merchant(document.merchant), event):
        named = event.merchant_name or event.description or "?"
        found.append(
            Mismatch(
                check="merchant",
                detail=f"the receipt's merchant {document.merchant!r} is not the bank "
                f"event's {named!r}",
            )
        )
    return found
