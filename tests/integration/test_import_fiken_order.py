"""`bookkeeper import fiken` where /journalEntries lists what the import books from elsewhere:
a cancelled entry's balancing entry listed on an earlier page than the entry it cancels,
and the books' own posting of a sale's write-off. Through the real adapter and the loopback
Fiken fake, on memory, SQLite and PostgreSQL; the trial balance balances after every run,
a second run adds nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bookkeeper.application.books_import import BooksImport
from bookkeeper.application.ports import UnitOfWorkFactory
from tests.fakes.fiken import BANK_ACCOUNT_CODE, FakeFiken
from tests.integration.test_import_fiken import FIRST_RUN, START, TENANT, fiken_history
from tests.integration.test_import_fiken_gaps import _balances, _sale_line, fiken  # noqa: F401
from tests.unit.conftest import FixedClock

ZERO = Decimal(0)


async def test_a_balancing_entry_listed_before_the_entry_it_cancels_is_the_reversal(
    fiken: tuple[FakeFiken, str],  # noqa: F811
    uow_factory: UnitOfWorkFactory,
) -> None:
    """A rent deleted in Fiken after the first import: its balancing entry comes on the
    page before the rent (a page holds one entry). It is booked when read, so the rent
    read after it posts no mirror of its own: 6300 ends at 0, not -10,000."""
    fake, base_url = fiken
    rent = fake.add_journal_entry(
        dt.date(2026, 2, 3), [("6300", 1_000_000), (BANK_ACCOUNT_CODE, -1_000_000)], "Husleie"
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url, page_size=1) as source:
        service = BooksImport(uow_factory, source, clock)
        await service.run(TENANT, START)
        assert (await _balances(uow_factory, clock))["6300"] == Decimal("10000.00")

        fake._today = dt.date(2026, 3, 3)
        balancing = fake.add_journal_entry(
            dt.date(2026, 2, 3),
            [("6300", -1_000_000), (BANK_ACCOUNT_CODE, 1_000_000)],
            "Husleie (slettet)",
        )
        offset = fake.journal_entries[balancing]["transactionId"]
        fake.journal_entries[rent].update(offsetTransactionId=offset, lastModifiedDate="2026-03-03")
        fake.journal_entries[rent] = fake.journal_entries.pop(rent)  # listed after it
        clock.advance(days=3)
        report = await service.run(TENANT, START)
        assert (report.problems, report.imported) == ([], 1)  # the balancing entry, once
        balance = await _balances(uow_factory, clock)
        assert balance.get("6300", ZERO) == 0
        assert balance.get(BANK_ACCOUNT_CODE, ZERO) == 0
        # Later runs, incremental and full, keep it so and add nothing.
        assert (await service.run(TENANT, START)).imported == 0
        assert (await service.run(TENANT, START, dt.date(2026, 3, 31))).imported == 0
        assert (await _balances(uow_factory, clock)).get("6300", ZERO) == 0


async def test_a_cancelled_entry_and_its_balancing_entry_new_in_one_run(
    fiken: tuple[FakeFiken, str],  # noqa: F811
    uow_factory: UnitOfWorkFactory,
) -> None:
    """Both first read by one run, the balancing entry a page ahead: booked once each."""
    fake, base_url = fiken
    balancing = fake.add_journal_entry(
        dt.date(2026, 2, 4), [("6300", -500_000), (BANK_ACCOUNT_CODE, 500_000)], "Storno"
    )
    fake.add_journal_entry(
        dt.date(2026, 2, 3), [("6300", 500_000), (BANK_ACCOUNT_CODE, -500_000)], "Husleie"
    )
    rent = max(fake.journal_entries)
    fake.journal_entries[rent]["offsetTransactionId"] = fake.journal_entries[balancing][
        "transactionId"
    ]
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url, page_size=1) as source:
        service = BooksImport(uow_factory, source, clock)
        report = await service.run(TENANT, START)
        assert (report.problems, report.imported) == ([], 2)
        assert (await _balances(uow_factory, clock)).get("6300", ZERO) == 0
        assert (await service.run(TENANT, START)).imported == 0


async def test_the_books_own_posting_of_a_write_off_is_not_booked_twice(
    fiken: tuple[FakeFiken, str],  # noqa: F811
    uow_factory: UnitOfWorkFactory,
) -> None:
    """writeOffSale books the loss as a transaction of its own; where /journalEntries lists
    it (7830 and 2700 debited, the customer credited what was open), it is the write-off
    the import books from the sale (`writeOff: true`): 7830 holds 600.00 once, the
    customer owes nothing. Undone in Fiken (its balancing entry listed too), both go."""
    fake, base_url = fiken
    fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
    customer = fake.add_contact("Konkurs AS", supplier=False, customer=True)
    receivables = fake.contacts[customer]["customerAccountCode"]
    sale = fake.add_sale(
        dt.date(2026, 1, 10),
        [_sale_line(100_000, 25_000)],
        customer_id=customer,
        payments=[(dt.date(2026, 1, 20), BANK_ACCOUNT_CODE, 50_000)],
        modified=dt.date(2026, 1, 20),
    )
    fake.sales[sale].update({"writeOff": True, "settled": True, "settledDate": "2026-02-02"})
    posting = fake.add_journal_entry(
        dt.date(2026, 2, 2),
        [("7830", 60_000, "3"), ("2700", 15_000, "3"), (receivables, -75_000)],
        "Tap på krav",
        modified=dt.date(2026, 2, 2),
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        report = await service.run(TENANT, START)
        assert report.problems == []
        balance = await _balances(uow_factory, clock)
        assert balance[receivables] == 0
        assert balance["7830"] == Decimal("600.00")
        assert balance["2700"] == Decimal("-250.00") + Decimal("150.00")
        assert (await service.run(TENANT, START)).imported == 0
        assert (await service.run(TENANT, START, dt.date(2026, 3, 31))).imported == 0

        # Undone: the sale is open again, the posting cancelled with a balancing entry.
        fake._today = dt.date(2026, 3, 4)
        balancing = fake.add_journal_entry(
            dt.date(2026, 3, 4),
            [("7830", -60_000, "3"), ("2700", -15_000, "3"), (receivables, 75_000)],
            "Tap på krav (slettet)",
        )
        fake.journal_entries[posting].update(
            offsetTransactionId=fake.journal_entries[balancing]["transactionId"],
            lastModifiedDate="2026-03-04",
        )
        fake.journal_entries[posting] = fake.journal_entries.pop(posting)
        fake.sales[sale].update({"writeOff": False, "settled": False})
        del fake.sales[sale]["settledDate"]
        fake.sales[sale]["lastModifiedDate"] = "2026-03-04"
        clock.advance(days=3)
        undone = await service.run(TENANT, START)
        assert (undone.problems, undone.removed) == ([], 1)
        balance = await _balances(uow_factory, clock)
        assert balance[receivables] == Decimal("750.00")
        assert balance.get("7830", ZERO) == 0
        assert (await service.run(TENANT, START)).imported == 0
