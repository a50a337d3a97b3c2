"""`bookkeeper import fiken` when the books change a record after it was imported: the
ledger follows Fiken (the changed amounts replace the imported ones, once), on memory,
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.books_import import BooksImport, summary
from bookkeeper.application.ports import Principal, UnitOfWorkFactory
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
from tests.saft_checks import check_against_trial_balance, validate
from tests.unit.conftest import FixedClock


@pytest.fixture
async def fiken() -> AsyncIterator[tuple[FakeFiken, str]]:
    async with running_fake_fiken(today=dt.date(2026, 2, 26)) as served:
        yield served


def _line(net: int, vat: int, vat_type: str = "HIGH") -> dict[str, object]:
    return {
        "description": "Rådgivning – æøå",
        "vatType": vat_type,
        "netPrice": net,
        "vat": vat,
        "account": "3000",
    }


async def test_a_sale_changed_in_fiken_after_the_import_is_booked_as_it_is_now(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
    customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
    sale = fake.add_sale(
        dt.date(2026, 2, 20),
        [_line(200_000, 50_000)],
        customer_id=customer,
        sale_number="S-1",
        modified=dt.date(2026, 2, 20),
    )
    clock = FixedClock(FIRST_RUN)
    reports = ledger(uow_factory, clock)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert (first.imported, first.problems) == (1, [])

        # Corrected in Fiken: 3,000 net, not 2,000 (and the line's VAT type stays HIGH).
        fake.sales[sale]["lines"] = [_line(300_000, 75_000)]
        fake.sales[sale]["netAmount"], fake.sales[sale]["vatAmount"] = 300_000, 75_000
        fake.sales[sale]["lastModifiedDate"] = "2026-03-03"
        clock.advance(days=7)
        second = await service.run(TENANT, START)
        assert second.problems == []
        # The held posting cancelled and the sale booked again: two entries, one revised.
        assert (second.imported, second.revised) == (2, 1)
        assert "1 imported entry changed in the books since" in "\n".join(summary(second))

        trial = await reports.trial_balance(ACCOUNTANT, START, dt.date(2026, 3, 31))
        balance = {line.account: line.balance for line in trial.accounts}
        assert trial.debit == trial.credit
        assert balance["3000"] == Decimal("-3000.00")
        assert balance["2700"] == Decimal("-750.00")
        receivable = fake.contacts[customer]["customerAccountCode"]
        assert balance[receivable] == Decimal("3750.00")
        vat = await reports.vat_report(ACCOUNTANT, 2026, 1)
        by_code = {line.vat_code: line for line in vat.lines}
        assert by_code["3"].base == Decimal("3000.00") and by_code["3"].vat == Decimal("750.00")

        # Again, and changed back: once each, never twice.
        third = await service.run(TENANT, START)
        assert third.imported == 0
        fake.sales[sale]["lines"] = [_line(200_000, 50_000)]
        fake.sales[sale]["lastModifiedDate"] = "2026-03-10"
        clock.advance(days=7)
        await service.run(TENANT, START)
        await service.run(TENANT, dt.date(2025, 1, 1))  # a full run too
        trial = await reports.trial_balance(ACCOUNTANT, START, dt.date(2026, 3, 31))
        balance = {line.account: line.balance for line in trial.accounts}
        assert balance["3000"] == Decimal("-2000.00")
        assert balance[receivable] == Decimal("2500.00")
        assert balance.get(BANK_ACCOUNT_CODE, Decimal(0)) == 0

        # Changed once more and deleted: nothing of it is left in the books.
        fake.sales[sale]["lines"] = [_line(100_000, 25_000)]
        fake.sales[sale]["deleted"] = True
        fake.sales[sale]["lastModifiedDate"] = "2026-03-20"
        clock.advance(days=14)
        await service.run(TENANT, START)
        trial = await reports.trial_balance(ACCOUNTANT, START, dt.date(2026, 3, 31))
        balance = {line.account: line.balance for line in trial.accounts}
        assert trial.debit == trial.credit
        assert [balance.get(a, Decimal(0)) for a in ("3000", "2700", receivable)] == [0, 0, 0]


async def test_a_foreign_invoice_paid_at_another_rate_leaves_no_balance_with_the_supplier(
    fiken: tuple[FakeFiken, str], audit_storage: tuple[UnitOfWorkFactory, AuditReads]
) -> None:
    """A EUR invoice booked at 11.70 and paid at 11.80 (and a USD sale paid at a better
    rate): the payment clears the supplier's (customer's) NOK balance of what it paid in
    the currency, and the difference is a currency loss (8160) or gain (8060), as Fiken
    books it — not an open balance on a settled invoice."""
    fake, base_url = fiken
    fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
    vendor = fake.add_contact("Figma, Inc.")
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
    paid = {"date": "2026-02-20", "account": BANK_ACCOUNT_CODE, "currency": "EUR"}
    # Paid in two parts: 50 EUR at 11.75, the rest (62.50 EUR) at 11.80.
    fake.purchases[invoice]["payments"].extend(
        [
            {**paid, "paymentId": 990_001, "amount": 5_000, "amountInNok": 58_750},
            {**paid, "paymentId": 990_002, "amount": 6_250, "amountInNok": 73_750},
        ]
    )
    customer = fake.add_contact("Acme Inc.", supplier=False, customer=True)
    sale = fake.add_sale(
        dt.date(2026, 2, 11),
        [
            {
                "description": "Konsulent",
                "vatType": "EXEMPT_IMPORT_EXPORT",
                "netPrice": 100_000,
                "vat": 0,
                "netPriceInCurrency": 10_000,
                "vatInCurrency": 0,
                "account": "3100",
            }
        ],
        customer_id=customer,
        modified=dt.date(2026, 2, 21),
    )
    fake.sales[sale]["currency"] = "USD"
    fake.sales[sale]["salePayments"] = [
        {
            "paymentId": 990_003,
            "date": "2026-02-21",
            "account": BANK_ACCOUNT_CODE,
            "amount": 10_000,
            "amountInNok": 102_000,
            "currency": "USD",
        }
    ]
    uow_factory, reads = audit_storage
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, clock).run(TENANT, START)
    assert report.problems == []
    books = ledger(uow_factory, clock)
    trial = await books.trial_balance(ACCOUNTANT, START, dt.date(2026, 2, 28))
    balance = {line.account: line.balance for line in trial.accounts}
    assert trial.debit == trial.credit
    assert balance[fake.contacts[vendor]["supplierAccountCode"]] == 0
    assert balance[fake.contacts[customer]["customerAccountCode"]] == 0
    # 1,316.25 booked; 587.50 + 737.50 = 1,325.00 paid: 8.75 lost.
    assert balance["8160"] == Decimal("8.75")
    # 1,000.00 booked; 1,020.00 received: 20.00 gained.
    assert balance["8060"] == Decimal("-20.00")
    assert balance[BANK_ACCOUNT_CODE] == Decimal("-1325.00") + Decimal("1020.00")
    # The SAF-T file is valid and holds the same books.
    export = SaftExport(
        reads,
        RoleAuthorizer(),
        clock,
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Fiken Demo AS", orgnr="912345678"),
    )
    file = await export.export(ACCOUNTANT, START, dt.date(2026, 2, 28))
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    before = await books.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1))
    check_against_trial_balance(root, trial, trial, START, before)


async def test_a_purchase_entered_late_is_booked_once_and_not_missed(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """A receipt registered in Fiken days after the last run, dated before that run's
    newest purchase (an everyday thing): the next incremental run books it, and a later
    full run does not book it again — with Fiken listing the purchases' postings among
    the journal entries (ADR 0044 §6) and without."""
    for lists in (False, True):
        async with running_fake_fiken(today=dt.date(2026, 2, 26), lists_trade_postings=lists) as (
            fake,
            base_url,
        ):
            fake.create_purchase(
                cash_purchase(
                    "2026-02-20",
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
            clock = FixedClock(FIRST_RUN)
            tenant = f"{TENANT}-{lists}".lower()
            who = Principal(subject="anna", tenant_id=tenant, roles=frozenset({"accountant"}))
            async with fiken_history(base_url) as source:
                service = BooksImport(uow_factory, source, clock)
                await service.run(tenant, START)
                fake._today = dt.date(2026, 3, 3)
                late = fake.create_purchase(
                    cash_purchase(
                        "2026-02-12",
                        [
                            {
                                "description": "Papir",
                                "vatType": "HIGH",
                                "netPrice": 8_000,
                                "vat": 2_000,
                                "account": "6800",
                            }
                        ],
                    )
                )
                clock.advance(days=7)
                await service.run(tenant, START)
                trial = await ledger(uow_factory, clock).trial_balance(
                    who, START, dt.date(2026, 2, 28)
                )
                balance = {line.account: line.balance for line in trial.accounts}
                assert balance.get("6800") == Decimal("80.00"), lists
                await service.run(tenant, dt.date(2025, 1, 1))
                trial = await ledger(uow_factory, clock).trial_balance(
                    who, START, dt.date(2026, 2, 28)
                )
                balance = {line.account: line.balance for line in trial.accounts}
                assert balance.get("6800") == Decimal("80.00"), lists
                # Deleted in Fiken later (Fiken keeps it, marked): its mirror is booked
                # by the next incremental run, although it is older than the mark.
                fake.purchases[late]["deleted"] = True
                clock.advance(days=7)
                await service.run(tenant, START)
                trial = await ledger(uow_factory, clock).trial_balance(
                    who, START, dt.date(2026, 2, 28)
                )
                balance = {line.account: line.balance for line in trial.accounts}
                assert balance.get("6800", Decimal(0)) == 0, lists
                assert balance["2710"] == Decimal("100.00"), lists
