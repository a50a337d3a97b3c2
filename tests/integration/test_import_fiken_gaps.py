"""`bookkeeper import fiken` where the books hold more than a posting and its payments: a
payment removed in Fiken after an import, a payment's fee, a cash purchase paid in another
currency at another rate than its lines, and a sale written off (tapsføring). Through the
real adapter and the loopback Fiken fake, on memory, SQLite and PostgreSQL; the trial
balance balances after every run and a second run writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.books_import import BooksImport, BooksRangeRefused, summary
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
from tests.saft_checks import check_against_trial_balance, validate
from tests.unit.conftest import FixedClock

END = dt.date(2026, 3, 31)


@pytest.fixture
async def fiken() -> AsyncIterator[tuple[FakeFiken, str]]:
    async with running_fake_fiken(today=dt.date(2026, 2, 26)) as served:
        yield served


async def _balances(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, Decimal]:
    trial = await ledger(uow_factory, clock).trial_balance(ACCOUNTANT, START, END)
    assert trial.debit == trial.credit
    return {line.account: line.balance for line in trial.accounts}


def _invoice(fake: FakeFiken, supplier: int, net: int, vat: int) -> int:
    return fake.create_purchase(
        {
            "date": "2026-02-10",
            "kind": "supplier",
            "paid": False,
            "currency": "NOK",
            "supplierId": supplier,
            "identifier": "F-77",
            "lines": [
                {
                    "description": "Leie",
                    "vatType": "HIGH",
                    "netPrice": net,
                    "vat": vat,
                    "account": "6300",
                }
            ],
        }
    )


def _sale_line(net: int, vat: int) -> dict[str, object]:
    return {
        "description": "Rådgivning",
        "vatType": "HIGH",
        "netPrice": net,
        "vat": vat,
        "account": "3000",
    }


def _half_paid_sale(fake: FakeFiken, *, modified: dt.date) -> tuple[int, str]:
    """Konkurs AS's invoice of 10 January, 1,250.00 (1,000.00 + 25 % VAT), 500.00 of it
    paid on 20 January: the sale's id and the customer's receivables account."""
    fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
    customer = fake.add_contact("Konkurs AS", supplier=False, customer=True)
    receivables: str = fake.contacts[customer]["customerAccountCode"]
    sale = fake.add_sale(
        dt.date(2026, 1, 10),
        [_sale_line(100_000, 25_000)],
        customer_id=customer,
        payments=[(dt.date(2026, 1, 20), BANK_ACCOUNT_CODE, 50_000)],
        modified=modified,
    )
    return sale, receivables


async def test_a_payment_removed_in_fiken_is_cancelled_by_the_next_run(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
    supplier = fake.add_contact("Kontor AS")
    payables = fake.contacts[supplier]["supplierAccountCode"]
    invoice = _invoice(fake, supplier, 80_000, 20_000)
    fake.pay_purchase(invoice, dt.date(2026, 2, 15), BANK_ACCOUNT_CODE, 40_000)
    fake.pay_purchase(invoice, dt.date(2026, 2, 20), BANK_ACCOUNT_CODE, 60_000)
    customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
    receivables = fake.contacts[customer]["customerAccountCode"]
    sale = fake.add_sale(
        dt.date(2026, 2, 11),
        [_sale_line(200_000, 50_000)],
        customer_id=customer,
        payments=[
            (dt.date(2026, 2, 16), BANK_ACCOUNT_CODE, 100_000),
            (dt.date(2026, 2, 21), BANK_ACCOUNT_CODE, 150_000),
        ],
        modified=dt.date(2026, 2, 21),
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert first.problems == []
        balance = await _balances(uow_factory, clock)
        assert (balance[payables], balance[receivables]) == (0, 0)

        # Both second payments were registered by mistake and removed in Fiken.
        fake.purchases[invoice]["payments"].pop()
        fake.sales[sale]["salePayments"].pop()
        fake.sales[sale]["lastModifiedDate"] = "2026-03-02"
        clock.advance(days=3)
        second = await service.run(TENANT, START)
        assert second.problems == []
        balance = await _balances(uow_factory, clock)
        assert balance[payables] == Decimal("-600.00")  # 1,000.00 owed, 400.00 paid
        assert balance[receivables] == Decimal("1500.00")  # 2,500.00 billed, 1,000.00 in
        assert balance[BANK_ACCOUNT_CODE] == Decimal("1000.00") - Decimal("400.00")
        assert second.removed == 2
        assert "2 imported payments no longer in the books: cancelled" in summary(second)

        # Once: the next runs (incremental and full) write nothing more.
        assert (await service.run(TENANT, START)).imported == 0
        fake.sales[sale]["lastModifiedDate"] = "2026-03-03"
        assert (await service.run(TENANT, dt.date(2025, 1, 1))).imported == 0
        assert (await _balances(uow_factory, clock))[payables] == Decimal("-600.00")

        # Registered again (the same payment in Fiken): booked again, once.
        fake.pay_purchase(invoice, dt.date(2026, 2, 20), BANK_ACCOUNT_CODE, 60_000)
        third = await service.run(TENANT, START)
        assert third.imported == 1
        assert (await service.run(TENANT, START)).imported == 0
        balance = await _balances(uow_factory, clock)
        assert balance[payables] == 0
        assert balance[BANK_ACCOUNT_CODE] == Decimal("1000.00") - Decimal("1000.00")


async def test_a_payments_fee_is_booked_as_a_bank_charge(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
    supplier = fake.add_contact("Kontor AS")
    payables = fake.contacts[supplier]["supplierAccountCode"]
    invoice = _invoice(fake, supplier, 80_000, 20_000)
    fake.pay_purchase(invoice, dt.date(2026, 2, 15), BANK_ACCOUNT_CODE, 100_000)
    fake.purchases[invoice]["payments"][0]["fee"] = 2_500
    customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
    receivables = fake.contacts[customer]["customerAccountCode"]
    sale = fake.add_sale(
        dt.date(2026, 2, 11),
        [_sale_line(200_000, 50_000)],
        customer_id=customer,
        payments=[(dt.date(2026, 2, 16), BANK_ACCOUNT_CODE, 250_000)],
    )
    fake.sales[sale]["salePayments"][0]["fee"] = 1_000
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        report = await service.run(TENANT, START)
        assert report.problems == []
        balance = await _balances(uow_factory, clock)
        # The invoices are settled; the fees (25.00 and 10.00) are bank charges the bank
        # account paid besides: 1,000.00 + 25.00 out, 2,500.00 - 10.00 in.
        assert (balance[payables], balance[receivables]) == (0, 0)
        assert balance["7770"] == Decimal("35.00")
        assert balance[BANK_ACCOUNT_CODE] == Decimal("2490.00") - Decimal("1025.00")
        assert (await service.run(TENANT, START)).imported == 0


async def test_a_foreign_cash_purchase_credits_the_bank_what_it_paid(
    fiken: tuple[FakeFiken, str], audit_storage: tuple[UnitOfWorkFactory, AuditReads]
) -> None:
    """A EUR receipt whose lines Fiken converted at 10.00 (1,000.00 NOK for 100 EUR) and the
    bank paid 1,020.00 NOK for (paymentAmountInNok): the bank is credited 1,020.00, and the
    20.00 is a realised currency loss (8160), not an amount the bank never paid."""
    fake, base_url = fiken
    uow_factory, reads = audit_storage
    fake.create_purchase(
        cash_purchase(
            "2026-02-12",
            [
                {
                    "description": "Hotell Berlin",
                    "vatType": "HIGH",
                    "netPrice": 80_000,
                    "vat": 20_000,
                    "netPriceInCurrency": 8_000,
                    "vatInCurrency": 2_000,
                    "account": "6540",
                }
            ],
            currency="EUR",
            paymentAmountInNok=102_000,
        )
    )
    fake.create_purchase(  # and one paid at a better rate: 1,000 NOK lines, 990 paid
        cash_purchase(
            "2026-02-13",
            [
                {
                    "description": "Hotell Paris",
                    "vatType": "HIGH",
                    "netPrice": 80_000,
                    "vat": 20_000,
                    "netPriceInCurrency": 8_000,
                    "vatInCurrency": 2_000,
                    "account": "6540",
                }
            ],
            currency="EUR",
            paymentAmountInNok=99_000,
        )
    )
    in_nok = fake.create_purchase(  # and one paid from a NOK account: 1,005.00
        cash_purchase(
            "2026-02-14",
            [
                {
                    "description": "Hotell Roma",
                    "vatType": "HIGH",
                    "netPrice": 80_000,
                    "vat": 20_000,
                    "netPriceInCurrency": 8_000,
                    "vatInCurrency": 2_000,
                    "account": "6540",
                }
            ],
            currency="EUR",
            paymentAmountInNok=100_500,
        )
    )
    fake.purchases[in_nok]["payments"][0].update({"currency": "NOK", "amount": 100_500})
    del fake.purchases[in_nok]["payments"][0]["amountInNok"]
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        report = await service.run(TENANT, START)
        assert report.problems == []
        assert (await service.run(TENANT, START)).imported == 0
    balance = await _balances(uow_factory, clock)
    assert balance[BANK_ACCOUNT_CODE] == Decimal("-2010.00") - Decimal("1005.00")
    assert balance["6540"] == Decimal("2400.00")
    assert balance["2710"] == Decimal("600.00")
    assert balance["8160"] == Decimal("25.00")
    assert balance["8060"] == Decimal("-10.00")
    # The SAF-T file is valid and holds the same books.
    export = SaftExport(
        reads,
        RoleAuthorizer(),
        clock,
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Fiken Demo AS", orgnr="912345678"),
    )
    books = ledger(uow_factory, clock)
    file = await export.export(ACCOUNTANT, START, END)
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    trial = await books.trial_balance(ACCOUNTANT, START, END)
    before = await books.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1))
    check_against_trial_balance(root, trial, trial, START, before)


async def test_a_sale_written_off_is_a_loss_with_its_vat_given_back(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """A 1,250.00 invoice (1,000.00 + 25 % VAT) paid 500.00 and written off in Fiken: the
    750.00 left is a loss (600.00 on 7830) and the output VAT on it (150.00) is given back,
    so the customer owes nothing in the books and the VAT return's code 3 goes down by it.
    Undone in Fiken, the write-off is cancelled too."""
    fake, base_url = fiken
    sale, receivables = _half_paid_sale(fake, modified=dt.date(2026, 1, 20))
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        await service.run(TENANT, START)
        assert (await _balances(uow_factory, clock))[receivables] == Decimal("750.00")

        fake.sales[sale].update({"writeOff": True, "settled": True, "settledDate": "2026-03-02"})
        fake.sales[sale]["lastModifiedDate"] = "2026-03-02"
        clock.advance(days=3)
        report = await service.run(TENANT, START)
        assert (report.problems, report.imported) == ([], 1)
        balance = await _balances(uow_factory, clock)
        assert balance[receivables] == 0
        assert balance["7830"] == Decimal("600.00")
        assert balance["2700"] == Decimal("-250.00") + Decimal("150.00")
        vat = await ledger(uow_factory, clock).vat_report(ACCOUNTANT, 2026, 2)
        code = {line.vat_code: line for line in vat.lines}["3"]
        assert (code.base, code.vat) == (Decimal("-600.00"), Decimal("-150.00"))
        assert (await service.run(TENANT, START)).imported == 0

        # The write-off undone in Fiken: the receivable is open again.
        fake.sales[sale].update({"writeOff": False, "settled": False})
        del fake.sales[sale]["settledDate"]
        fake.sales[sale]["lastModifiedDate"] = "2026-03-04"
        undone = await service.run(TENANT, START)
        assert undone.removed == 1
        balance = await _balances(uow_factory, clock)
        assert balance[receivables] == Decimal("750.00")
        assert balance.get("7830", Decimal(0)) == 0


def _both(fake: FakeFiken, day: dt.date, lines: list[tuple[str, int]], description: str) -> None:
    """A journal entry in the books' records and in their balances alike."""
    fake.add_journal_entry(day, lines, description, modified=day)
    fake.postings.extend((day, account, amount) for account, amount in lines)


async def test_the_opening_balance_is_imported_once_and_follows_an_earlier_start(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """What the books held before `--from` (GET /accountBalances the day before) is one
    opening entry: the 2026 trial balance opens with the bank, the share capital, the
    supplier's open invoice and 2025's result in 2050. A run from an earlier start books
    that day's opening instead and the records between, so 2026 opens the same; a run
    from a later start than that asks for no balances."""
    fake, base_url = fiken
    fake.accounts.update({"2000": "Aksjekapital"})
    supplier = fake.add_contact("Gårdeier AS")
    payables = fake.contacts[supplier]["supplierAccountCode"]
    fake.postings.extend(
        [
            (dt.date(2025, 3, 1), BANK_ACCOUNT_CODE, 4_000_000),
            (dt.date(2025, 3, 1), "2000", -1_000_000),
            (dt.date(2025, 3, 1), "3000", -3_000_000),
        ]
    )
    _both(fake, dt.date(2025, 12, 20), [("6300", 500_000), (payables, -500_000)], "Leie")
    _both(
        fake, dt.date(2026, 1, 15), [(payables, 500_000), (BANK_ACCOUNT_CODE, -500_000)], "Betalt"
    )
    clock = FixedClock(FIRST_RUN)

    async def opening_2026() -> dict[str, Decimal]:
        trial = await ledger(uow_factory, clock).trial_balance(ACCOUNTANT, START, END)
        assert trial.debit == trial.credit and trial.opening == 0 and trial.closing == 0
        return {line.account: line.opening for line in trial.accounts if line.opening}

    expected = {
        BANK_ACCOUNT_CODE: Decimal("40000.00"),
        "2000": Decimal("-10000.00"),
        "2050": Decimal("-25000.00"),  # 2025: 30,000 revenue less 5,000 rent
        payables: Decimal("-5000.00"),
    }
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert (first.problems, first.imported, first.opening_accounts) == ([], 2, 5)
        assert "opening balance before 2026-01-01: 5 accounts" in summary(first)
        assert await opening_2026() == expected
        assert (await _balances(uow_factory, clock))[payables] == Decimal("5000.00")  # paid
        assert (await service.run(TENANT, START)).imported == 0

        # From an earlier start: that day's balances, and the records after it.
        earlier = await service.run(TENANT, dt.date(2025, 7, 1))
        assert (earlier.problems, earlier.revised) == ([], 1)
        assert earlier.opening_accounts == 3
        assert await opening_2026() == expected
        asked = len([r for r in fake.requests if r.path.endswith("/accountBalances")])
        assert (await service.run(TENANT, START)).imported == 0
        assert len([r for r in fake.requests if r.path.endswith("/accountBalances")]) == asked
        assert await opening_2026() == expected

        # A range before the opening that does not reach it would book what the opening
        # holds (or, moving it, lose the days after its end): refused, nothing written.
        with pytest.raises(BooksRangeRefused, match="must reach that day"):
            await service.run(TENANT, dt.date(2025, 1, 1), dt.date(2025, 5, 31))
        assert await opening_2026() == expected


async def test_balances_that_do_not_add_up_are_reported_and_nothing_written(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    fake.postings.append((dt.date(2025, 3, 1), BANK_ACCOUNT_CODE, 4_000_000))
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, clock).run(TENANT, START)
    [problem] = report.problems
    assert (problem.what, problem.id, report.imported) == ("opening balance", "2025-12-31", 0)
    assert "do not add up" in problem.reason
    assert await _balances(uow_factory, clock) == {}


async def test_a_sale_of_nothing_is_no_problem_and_not_asked_for_again(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """An invoice at 0.00 (all discounted) is valid in Fiken: it posts nothing, and is not
    reported as refused (which made every run exit 1 and ask for it again by id)."""
    fake, base_url = fiken
    customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
    fake.add_sale(dt.date(2026, 2, 4), [_sale_line(0, 0)], customer_id=customer)
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert (first.problems, first.pending, first.imported) == ([], [], 0)
        fake.requests.clear()
        second = await service.run(TENANT, START)
        assert (second.problems, second.retried) == ([], 0)
    assert await _balances(uow_factory, clock) == {}


async def test_a_cancelled_journal_entrys_balancing_entry_is_not_booked_twice(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """Deleting a journal entry in Fiken sets its offsetTransactionId and creates the
    balancing transaction; where /journalEntries lists that one too, the import (which
    posts the cancelled entry's mirror itself) must not book it again: the rent is gone,
    not credited. Cancelled after a first import, and listed on the same day."""
    fake, base_url = fiken
    rent = fake.add_journal_entry(
        dt.date(2026, 2, 3), [("6300", 1_000_000), (BANK_ACCOUNT_CODE, -1_000_000)], "Husleie"
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        await service.run(TENANT, START)
        assert (await _balances(uow_factory, clock))["6300"] == Decimal("10000.00")

        fake._today = dt.date(2026, 3, 3)
        fake.cancel_journal_entry(rent)
        clock.advance(days=3)
        report = await service.run(TENANT, START)
        assert (report.problems, report.imported) == ([], 1)  # the mirror, once
        balance = await _balances(uow_factory, clock)
        assert balance.get("6300", Decimal(0)) == 0
        assert balance.get(BANK_ACCOUNT_CODE, Decimal(0)) == 0
        # Later runs, incremental and full, keep it so.
        await service.run(TENANT, START)
        await service.run(TENANT, dt.date(2025, 1, 1))
        assert (await _balances(uow_factory, clock)).get("6300", Decimal(0)) == 0
