"""`bookkeeper import fiken`: what the earlier rounds left (ADR 0037 addendum "leftovers"):
a change the books back-date before the first run's start, a sale refused whose
write-off posting the books list, and what a run keeps to know the journal entries of
trades. Through the real adapter and the loopback Fiken fake, on memory, SQLite and
PostgreSQL; the trial balance balances after every run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from bookkeeper.application.books_import import BooksImport
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
from tests.integration.test_import_fiken_gaps import (  # noqa: F401
    END,
    _balances,
    _half_paid_sale,
    _sale_line,
    fiken,
)
from tests.unit.conftest import FixedClock

ZERO = Decimal(0)


async def _closing(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> dict[str, Decimal]:
    """Each account's balance at the end (the opening included), the trial balance even."""
    trial = await ledger(uow_factory, clock).trial_balance(ACCOUNTANT, START, END)
    assert trial.debit == trial.credit
    return {line.account: line.closing for line in trial.accounts}


async def test_a_change_the_books_back_date_before_the_start_reaches_the_opening(
    fiken: tuple[FakeFiken, str],  # noqa: F811
    uow_factory: UnitOfWorkFactory,
) -> None:
    """A receipt for December entered in Fiken after the first run from 1 January: the
    books' balances on 31 December change, so the next incremental run books the opening
    again (a revision): the bank opens at 39,000, not the 40,000 it had before."""
    fake, base_url = fiken
    fake.postings.extend(
        [
            (dt.date(2025, 3, 1), BANK_ACCOUNT_CODE, 4_000_000),
            (dt.date(2025, 3, 1), "2000", -4_000_000),
        ]
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert (first.problems, first.imported) == ([], 1)
        assert (await _closing(uow_factory, clock))[BANK_ACCOUNT_CODE] == Decimal("40000.00")

        fake.add_journal_entry(
            dt.date(2025, 12, 20), [("6800", 100_000), (BANK_ACCOUNT_CODE, -100_000)], "Kontor"
        )
        fake.postings.extend(
            [
                (dt.date(2025, 12, 20), "6800", 100_000),
                (dt.date(2025, 12, 20), BANK_ACCOUNT_CODE, -100_000),
            ]
        )
        clock.advance(days=2)
        again = await service.run(TENANT, START)
        assert (again.problems, again.revised) == ([], 1)
        balance = await _closing(uow_factory, clock)
        assert balance[BANK_ACCOUNT_CODE] == Decimal("39000.00")
        # Booked once: the run after finds the opening as it is.
        assert (await service.run(TENANT, START)).imported == 0
        assert await _closing(uow_factory, clock) == balance


async def test_a_sale_refused_then_fixed_is_written_off_once(
    fiken: tuple[FakeFiken, str],  # noqa: F811
    uow_factory: UnitOfWorkFactory,
) -> None:
    """A written-off sale the import refuses (a vatType it does not know) while
    /journalEntries lists the books' own write-off posting: that posting waits with the
    sale. Before, it was booked as a journal entry on the first run, and the sale, once
    fixed, booked its write-off besides: 7830 held 1,200.00 for a 600.00 loss and the
    customer owed -750.00."""
    fake, base_url = fiken
    sale, receivables = _half_paid_sale(fake, modified=dt.date(2026, 2, 2))
    fake.sales[sale].update({"writeOff": True, "settled": True, "settledDate": "2026-02-02"})
    fake.sales[sale]["lines"][0]["vatType"] = "SOMETHING_NEW"
    fake.add_journal_entry(
        dt.date(2026, 2, 2),
        [("7830", 60_000, "3"), ("2700", 15_000, "3"), (receivables, -75_000)],
        "Tap på krav",
        modified=dt.date(2026, 2, 2),
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert [(p.what, p.id) for p in first.problems] == [("sale", str(sale))]
        held = await _closing(uow_factory, clock)
        assert held.get("7830", ZERO) == 0 and held.get(receivables, ZERO) == 0

        fake.sales[sale]["lines"][0]["vatType"] = "HIGH"  # fixed (asked for again by id)
        clock.advance(days=2)
        second = await service.run(TENANT, START)
        assert second.problems == []
        balance = await _closing(uow_factory, clock)
        assert balance["7830"] == Decimal("600.00")
        assert balance[receivables] == 0
        assert balance["3000"] == Decimal("-1000.00")
        assert (await service.run(TENANT, START)).imported == 0
        assert (await service.run(TENANT, START, END)).imported == 0
        assert await _closing(uow_factory, clock) == balance


async def test_a_sale_that_breaks_the_contract_keeps_its_posting_out_until_it_is_read(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """Where /journalEntries lists the postings of sales, a sale the adapter cannot read
    (a payment without its amount) had its posting booked as a journal entry, and the sale
    once fixed besides: 3000 held -2,000.00 for a 1,000.00 sale. Its transaction is known
    from the refused record now, so its posting waits with it."""
    async with running_fake_fiken(today=dt.date(2026, 2, 26), lists_trade_postings=True) as (
        fake,
        base_url,
    ):
        fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
        customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
        sale = fake.add_sale(
            dt.date(2026, 1, 10),
            [_sale_line(100_000, 25_000)],
            customer_id=customer,
            payments=[(dt.date(2026, 1, 20), BANK_ACCOUNT_CODE, 50_000)],
            modified=dt.date(2026, 1, 20),
        )
        payment = fake.sales[sale]["salePayments"][0]
        del payment["amount"]
        clock = FixedClock(FIRST_RUN)
        async with fiken_history(base_url) as source:
            service = BooksImport(uow_factory, source, clock)
            first = await service.run(TENANT, START)
            assert [(p.what, p.id) for p in first.problems] == [("sale", str(sale))]
            assert (await _closing(uow_factory, clock)).get("3000", ZERO) == 0

            payment["amount"] = 50_000
            clock.advance(days=2)
            second = await service.run(TENANT, START)
            assert second.problems == []
            balance = await _closing(uow_factory, clock)
            assert balance["3000"] == Decimal("-1000.00")
            assert balance[BANK_ACCOUNT_CODE] == Decimal("500.00")
            assert (await service.run(TENANT, START, END)).imported == 0
            assert await _closing(uow_factory, clock) == balance


async def test_the_run_record_does_not_grow_with_the_records_read(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """A run kept every transaction it read (one per journal entry, purchase and sale) in
    its `BooksImported` record, and every run read all of them back: a company's years
    made a record of megabytes, each full run another. The keys are streams of their own
    now: the record is the same size for 3 entries or 63 (but its counts), and a later
    run still knows a sale's posting (listed again, its sale not) and a cancelled entry's
    balancing one."""
    async with running_fake_fiken(today=dt.date(2026, 2, 26), lists_trade_postings=True) as (
        fake,
        base_url,
    ):
        fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
        customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
        sale = fake.add_sale(
            dt.date(2026, 1, 10),
            [_sale_line(100_000, 25_000)],
            customer_id=customer,
            modified=dt.date(2026, 1, 10),
        )
        rent = fake.add_journal_entry(
            dt.date(2026, 1, 5), [("6300", 500_000), (BANK_ACCOUNT_CODE, -500_000)], "Husleie"
        )
        clock = FixedClock(FIRST_RUN)
        sizes = []
        async with fiken_history(base_url) as source:
            service = BooksImport(uow_factory, source, clock)
            for count in (3, 60):
                for day in range(count):
                    fake.add_journal_entry(
                        dt.date(2026, 2, 1) + dt.timedelta(days=day % 20),
                        [("6800", 1_000), (BANK_ACCOUNT_CODE, -1_000)],
                        f"Kontor {day}",
                    )
                report = await service.run(TENANT, START, END)
                assert report.problems == []
                last = await service.last_run(TENANT)
                assert last is not None
                sizes.append(len(msgspec.json.encode(last)))
            assert sizes[1] - sizes[0] < 40 and sizes[1] < 400  # its counts' digits
            balance = await _closing(uow_factory, clock)
            assert balance["3000"] == Decimal("-1000.00")
            assert balance["6800"] == Decimal("630.00")

            # Later: Fiken touches the sale's posting (not the sale) and deletes the rent.
            fake._today = dt.date(2026, 3, 4)
            posting = fake.sales[sale]["transactionId"]
            fake.trade_postings()
            fake._trade_postings[posting]["lastModifiedDate"] = "2026-03-04"
            fake.cancel_journal_entry(rent)
            clock.advance(days=4)
            later = await service.run(TENANT, START)
            assert later.problems == [] and later.same_as_trade >= 1
            after = await _closing(uow_factory, clock)
            assert after["3000"] == Decimal("-1000.00")
            assert after.get("6300", ZERO) == 0
            assert (await service.run(TENANT, START, END)).imported == 0
            assert await _closing(uow_factory, clock) == after
