"""What a tenant's sandbox books and bank start with, derived only from the tenant id (and,
for the bank, the day of seeding): the same tenant always gets the same company, accounts,
account numbers, merchants and amounts.

The chart of accounts holds only the handful of common Norwegian codes the product's
examples use (docs/norway.md), with names of our own: the full standard list is Regnskap
Norge's and is not shipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from stdnum.no import kontonr, orgnr

from bookkeeper.adapters.sandbox.store import NewFile, NewObject, Seed
from bookkeeper.application.event_log import sandbox_id

BOOKS: Final = "books"
BANK: Final = "bank"

#: The bank account of the books that purchases are paid from (Fiken style "1920:10001").
BOOKS_BANK_ACCOUNT_CODE: Final = "1920:10001"

CHART_OF_ACCOUNTS: Final[tuple[tuple[str, str], ...]] = (
    ("1500", "Kundefordringer"),
    ("1920", "Bankinnskudd"),
    ("2400", "Leverandørgjeld"),
    ("2700", "Utgående merverdiavgift, høy sats"),
    ("2710", "Inngående merverdiavgift, høy sats"),
    ("2711", "Inngående merverdiavgift, middels sats"),
    ("2713", "Inngående merverdiavgift, lav sats"),
    ("2740", "Oppgjørskonto merverdiavgift"),
    ("3000", "Salgsinntekt, avgiftspliktig"),
    # Sales without VAT over the bus (the example InvoiceIssued translator, ADR 0057).
    ("3100", "Salgsinntekt, avgiftsfri"),
    ("3200", "Salgsinntekt, utenfor avgiftsområdet"),
    # The default table's accounts (domain/accounts.py): a document booked by default must
    # not be held for an account the sandbox chart lacks (ADR 0028).
    ("5990", "Annen personalkostnad"),
    ("6300", "Leie av lokaler"),
    ("6420", "Leie av datasystemer og abonnementer"),
    ("6540", "Inventar og utstyr"),
    ("6551", "Datautstyr"),
    ("6552", "Programvare, anskaffelse"),
    ("6553", "Programvare, vedlikehold"),
    ("6800", "Kontorrekvisita"),
    ("6810", "Data/EDB-kostnad"),
    ("6860", "Møter, kurs og oppdatering"),
    ("6900", "Telefon"),
    ("7140", "Reisekostnad"),
    ("7350", "Representasjon, fradragsberettiget"),
    ("7360", "Representasjon, ikke fradragsberettiget"),
    ("7770", "Bank- og kortgebyrer"),
    ("7790", "Annen kostnad"),
    # A bus payment in another currency: its exchange difference (ADR 0057, addendum 2).
    ("8060", "Valutagevinst (agio)"),
    ("8160", "Valutatap (disagio)"),
)

#: Card purchases of the seeded bank: merchant, description, typical amount (kroner),
#: days before the seeding day, and whether a receipt is attached already.
CARD_EVENTS: Final[tuple[tuple[str, str, int, int, bool], ...]] = (
    ("Ruter", "Ruter billett", 42, 1, False),
    ("Rema 1000", "Rema 1000 Grünerløkka", 187, 2, False),
    ("Adobe", "Adobe Creative Cloud", 199, 4, False),
    ("Clas Ohlson", "Clas Ohlson Oslo City", 249, 7, True),
    ("Elkjøp", "Elkjøp Storo", 1990, 10, False),
    ("Vy", "Vy togbillett Oslo S–Lillehammer", 429, 14, False),
    ("Telenor", "Telenor mobilabonnement", 399, 18, True),
    ("Anthropic", "Anthropic API", 520, 21, False),
    ("Circle K", "Circle K Storo", 312, 25, False),
    ("Microsoft", "Microsoft 365 Business", 145, 29, False),
    ("Clas Ohlson", "Clas Ohlson Storo", 89, 33, False),
    ("Ruter", "Ruter 30-dagersbillett", 889, 38, True),
    ("Google Cloud", "Google Cloud Platform", 264, 44, False),
    ("Rema 1000", "Rema 1000 Torshov", 356, 51, False),
    ("Elkjøp", "Elkjøp Lørenskog", 649, 57, False),
)

#: Movements on the operational account: counterparty, description, amount, days ago.
OPERATIONAL_EVENTS: Final[tuple[tuple[str, str, int, int], ...]] = (
    ("Kunde AS", "Innbetaling faktura 1042", 12_500, 12),
    ("Gårdeier AS", "Husleie kontor", -8_500, 30),
)

CARD_OPENING_BALANCE: Final = Decimal("15000.00")
OPERATIONAL_OPENING_BALANCE: Final = Decimal("184523.40")

#: A tiny, valid PDF: the seeded receipts' content.
RECEIPT_PDF: Final = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _number(tenant_id: str, salt: str, digits: int) -> int:
    """A stable number of `digits` digits derived from the tenant id."""
    digest = hashlib.sha256(f"{tenant_id}\x00{salt}".encode()).digest()
    number: int = int.from_bytes(digest[:8], "big") % (10**digits)
    return number


def organization_number(tenant_id: str) -> str:
    """A stable, valid Norwegian organisation number (9 digits, MOD11 check digit checked by
    python-stdnum), starting with 9 so it reads like a company's."""
    salt = 0
    while True:
        body = f"9{_number(tenant_id, f'org{salt}', 7):07d}"
        found = _with_check_digit(body, orgnr.is_valid)
        if found is not None:
            return found
        salt += 1


def bank_account_number(tenant_id: str, kind: str) -> str:
    """A stable 11-digit account number of one of the tenant's accounts, with the MOD11
    check digit Norwegian account numbers carry (checked by python-stdnum)."""
    salt = 0
    while True:
        body = f"1{_number(tenant_id, f'account/{kind}/{salt}', 9):09d}"
        found = _with_check_digit(body, kontonr.is_valid)
        if found is not None:
            return found
        salt += 1


def _with_check_digit(body: str, is_valid: Callable[[str], bool]) -> str | None:
    """`body` and the one digit that makes it valid, or None when no digit does (MOD11's
    remainder 10)."""
    return next((body + d for d in "0123456789" if is_valid(body + d)), None)


def company_slug(tenant_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", tenant_id.lower()).strip("-")
    return f"{slug or 'tenant'}-sandbox"


def _vary(tenant_id: str, index: int, kroner: int) -> Decimal:
    """The amount of a seeded purchase: near its typical value, with øre, per tenant."""
    spread = _number(tenant_id, f"amount/{index}", 4)  # 0..9999
    factor = Decimal(85 + spread % 31) / 100  # 0.85 .. 1.15
    ore = Decimal(spread % 100) / 100
    return (Decimal(kroner) * factor).quantize(Decimal(1)) + ore


def books_seed(tenant_id: str) -> Seed:
    """The company, its chart of accounts and its bank account."""
    objects: list[NewObject] = [
        NewObject(
            kind="company",
            id="company",
            data={
                "slug": company_slug(tenant_id),
                "name": f"{tenant_id} (sandbox)",
                "organization_number": organization_number(tenant_id),
                "vat_type": "bi-monthly",
                "has_api_access": True,
                "test_company": True,
            },
        )
    ]
    objects += [
        NewObject(kind="account", id=code, data={"code": code, "name": name})
        for code, name in CHART_OF_ACCOUNTS
    ]
    objects.append(
        NewObject(
            kind="bank_account",
            id="1",
            data={
                "id": "1",
                "name": "Driftskonto",
                "account_code": BOOKS_BANK_ACCOUNT_CODE,
                "bank_account_number": bank_account_number(tenant_id, "operational"),
                "inactive": False,
            },
        )
    )
    return Seed(objects=tuple(objects))


def bank_seed(tenant_id: str, today: dt.date) -> Seed:
    """An operational and a card account and some two months of events before `today`:
    card purchases (money out, negative), a customer payment and the rent. A few card
    purchases have their receipt attached and are marked complete; most have not."""
    operational = bank_account_number(tenant_id, "operational")
    card = bank_account_number(tenant_id, "card")
    events: list[dict[str, Any]] = []
    files: list[NewFile] = []
    for index, (merchant, description, kroner, days_ago, has_receipt) in enumerate(CARD_EVENTS):
        event_id = sandbox_id(tenant_id, "bank", "event", f"card-{index}")
        events.append(
            {
                "id": event_id,
                "transaction_id": sandbox_id(tenant_id, "bank", "transaction", f"card-{index}"),
                "date": (today - dt.timedelta(days=days_ago)).isoformat(),
                "description": description,
                "amount": str(-_vary(tenant_id, index, kroner)),
                "currency": "NOK",
                "merchant_name": merchant,
                "account_number": card,
                # Card authorisations of the last two days are not booked yet.
                "booked": days_ago > 2,
                "complete": has_receipt,
            }
        )
        if has_receipt:
            slug = re.sub(r"[^a-z0-9]+", "-", merchant.lower().replace("ø", "o")).strip("-")
            files.append(
                NewFile(
                    id=sandbox_id(tenant_id, "bank", "attachment", f"card-{index}"),
                    owner_kind="event",
                    owner_id=event_id,
                    filename=f"kvittering-{slug}.pdf",
                    content_type="application/pdf",
                    content=RECEIPT_PDF,
                )
            )
    for index, (counterparty, description, kroner, days_ago) in enumerate(OPERATIONAL_EVENTS):
        events.append(
            {
                "id": sandbox_id(tenant_id, "bank", "event", f"operational-{index}"),
                "transaction_id": sandbox_id(
                    tenant_id, "bank", "transaction", f"operational-{index}"
                ),
                "date": (today - dt.timedelta(days=days_ago)).isoformat(),
                "description": description,
                "amount": str(Decimal(kroner).quantize(Decimal("0.01"))),
                "currency": "NOK",
                "merchant_name": counterparty,
                "account_number": operational,
                "booked": True,
                "complete": False,
            }
        )

    def balance(account: str, opening: Decimal) -> str:
        moved = sum(
            (Decimal(e["amount"]) for e in events if e["account_number"] == account),
            Decimal(0),
        )
        return str(opening + moved)

    objects = [
        NewObject(
            kind="account",
            id=operational,
            data={
                "account_number": operational,
                "name": "Driftskonto",
                "type": "Operational",
                "balance": balance(operational, OPERATIONAL_OPENING_BALANCE),
                "currency": "NOK",
            },
        ),
        NewObject(
            kind="account",
            id=card,
            data={
                "account_number": card,
                "name": "Kortkonto",
                "type": "Card",
                "balance": balance(card, CARD_OPENING_BALANCE),
                "currency": "NOK",
            },
        ),
    ]
    objects += [
        NewObject(
            kind="event",
            id=event["id"],
            date=dt.date.fromisoformat(event["date"]),
            data=event,
        )
        for event in sorted(events, key=lambda e: (e["date"], e["id"]))
    ]
    return Seed(objects=tuple(objects), files=tuple(files))
