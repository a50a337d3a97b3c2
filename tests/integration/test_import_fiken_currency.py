"""ADR 0056 addendum: the SAF-T of entries imported from Fiken (`bookkeeper import fiken`)
carries a foreign-currency document's CurrencyCode, CurrencyAmount and ExchangeRate, as
the executed ones do (ADR 0051): Fiken's purchase lines give their amounts in the
currency (netPriceInCurrency, vatInCurrency) beside the NOK ones, its payments their
amount and amountInNok. On memory, SQLite and PostgreSQL, through the real adapter and
the loopback Fiken fake, valid against the SAF-T 1.30 XSD."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from xml.etree import ElementTree

import pytest

from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.books_import import BooksImport
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.saft import AuditReads, CompanySettings, SaftExport
from tests.fakes.fiken import BANK_ACCOUNT_CODE, FakeFiken, cash_purchase, running_fake_fiken
from tests.integration.test_import_fiken import (
    ACCOUNTANT,
    FIRST_RUN,
    START,
    TENANT,
    fiken_history,
    ledger,
)
from tests.saft_checks import amount_lines, check_against_trial_balance, validate
from tests.unit.conftest import FixedClock

D = Decimal
END = dt.date(2026, 2, 28)


@pytest.fixture
async def fiken() -> AsyncIterator[tuple[FakeFiken, str]]:
    async with running_fake_fiken(today=dt.date(2026, 2, 26)) as served:
        yield served


def _seed(fake: FakeFiken) -> None:
    fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats", "6540": "Inventar"})
    vendor = fake.add_contact("Figma, Inc.")
    # A EUR supplier invoice at 25 %, paid later in EUR (amountInNok the bank's NOK).
    invoice = fake.create_purchase(
        {
            "date": "2026-02-10",
            "kind": "supplier",
            "paid": False,
            "currency": "EUR",
            "supplierId": vendor,
            "identifier": "FIG-9",
            "lines": [
                {
                    "description": "Figma Professional",
                    "vatType": "HIGH",
                    "netPrice": 105_300,
                    "vat": 26_325,
                    "netPriceInCurrency": 9_000,
                    "vatInCurrency": 2_250,
                    "account": "6540",
                }
            ],
        }
    )
    fake.purchases[invoice]["payments"].append(
        {
            "paymentId": 990_001,
            "date": "2026-02-20",
            "account": BANK_ACCOUNT_CODE,
            "amount": 11_250,
            "amountInNok": 131_625,
            "currency": "EUR",
        }
    )
    # A USD card purchase of a service from abroad (reverse charge, SAF-T 86).
    card = fake.create_purchase(
        cash_purchase(
            "2026-02-12",
            [
                {
                    "description": "GitHub Team",
                    "vatType": "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
                    "netPrice": 21_000,
                    "netPriceInCurrency": 2_000,
                    "account": "6540",
                }
            ],
            currency="USD",
            paymentAmountInNok=21_000,
        )
    )
    # Paid in USD, as Fiken's payment of a foreign purchase says (the fake pays in NOK).
    fake.purchases[card]["payments"][0].update(
        {"amount": 2_000, "amountInNok": 21_000, "currency": "USD"}
    )
    # A NOK purchase: no currency in the file.
    fake.create_purchase(
        cash_purchase(
            "2026-02-14",
            [
                {
                    "description": "Skriver",
                    "vatType": "HIGH",
                    "netPrice": 40_000,
                    "vat": 10_000,
                    "account": "6540",
                }
            ],
        )
    )


def _lines(root: ElementTree.Element) -> dict[str, list[tuple[str, str, dict[str, str]]]]:
    """Per transaction description: (account, side, the amount's elements) of its lines."""
    found: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    for description, account, side, fields in amount_lines(root):
        found.setdefault(description, []).append((account or "", side, fields))
    return found


def _money(code: str, amount: str, rate: str) -> dict[str, str]:
    return {"CurrencyCode": code, "CurrencyAmount": amount, "ExchangeRate": rate}


async def test_imported_foreign_currency_lines_carry_their_currency(
    fiken: tuple[FakeFiken, str], audit_storage: tuple[UnitOfWorkFactory, AuditReads]
) -> None:
    fake, base_url = fiken
    factory, reads = audit_storage
    _seed(fake)
    async with fiken_history(base_url) as source:
        report = await BooksImport(factory, source, FixedClock(FIRST_RUN)).run(TENANT, START)
    assert report.problems == []
    export = SaftExport(
        reads,
        RoleAuthorizer(),
        FixedClock(FIRST_RUN),
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Fiken Demo AS", orgnr="912345678"),
        page_size=3,
    )
    file = await export.export(ACCOUNTANT, START, END)
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    books = ledger(factory, FixedClock(FIRST_RUN))
    period = await books.trial_balance(ACCOUNTANT, START, END)
    before = await books.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1))
    check_against_trial_balance(root, period, period, START, before)
    lines = _lines(root)

    [invoice] = [rows for text, rows in lines.items() if "FIG-9" in text and "Betaling" not in text]
    eur = "11.7"
    assert [(a.split(":")[0], side, f) for a, side, f in invoice] == [
        ("6540", "debit", {"Amount": "1053.00", **_money("EUR", "90.00", eur)}),
        ("2710", "debit", {"Amount": "263.25", **_money("EUR", "22.50", eur)}),
        ("2400", "credit", {"Amount": "1316.25", **_money("EUR", "112.50", eur)}),
    ]
    [paid] = [rows for text, rows in lines.items() if "FIG-9" in text and "Betaling" in text]
    assert sorted((side, f["CurrencyAmount"], f["Amount"]) for _, side, f in paid) == [
        ("credit", "112.50", "1316.25"),
        ("debit", "112.50", "1316.25"),
    ]
    [github] = [rows for rows in lines.values() if any("USD" in str(f) for _, _, f in rows)]
    usd = "10.5"
    assert [(a.split(":")[0], side, f) for a, side, f in github] == [
        ("6540", "debit", {"Amount": "210.00", **_money("USD", "20.00", usd)}),
        ("2700", "credit", {"Amount": "52.50", **_money("USD", "5.00", usd)}),
        ("2710", "debit", {"Amount": "52.50", **_money("USD", "5.00", usd)}),
        ("1920", "credit", {"Amount": "210.00", **_money("USD", "20.00", usd)}),
    ]
    # The NOK purchase's lines carry the Amount only.
    nok = [rows for rows in lines.values() if any(f["Amount"] == "500.00" for _, _, f in rows)]
    assert nok and all(set(f) == {"Amount"} for rows in nok for _, _, f in rows)
