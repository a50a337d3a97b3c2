"""`bookkeeper import fiken` when the books change a record after it was imported: the
ledger follows Fiken (the changed amounts replace the imported ones, once), on memory,
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bookkeeper.application.books_import import BooksImport, summary
from bookkeeper.application.ports import UnitOfWorkFactory
from tests.fakes.fiken import BANK_ACCOUNT_CODE, FakeFiken, running_fake_fiken
from tests.integration.test_import_fiken import (
    ACCOUNTANT,
    FIRST_RUN,
    START,
    TENANT,
    fiken_history,
    ledger,
)
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
