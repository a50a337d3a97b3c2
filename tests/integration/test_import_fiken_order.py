"""`bookkeeper import fiken` where /journalEntries lists what the import books from elsewhere:
a cancelled entry's balancing entry listed on an earlier page than the entry it cancels,
and the books' own posting of a sale's write-off. Through the real adapter and the loopback
Fiken fake, on memory, SQLite and PostgreSQL; the trial balance balances after every run,
a second run adds nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec

from bookkeeper.application.books_import import BooksImport
from bookkeeper.application.event_log import books_import_runs_id, stamp
from bookkeeper.application.ports import UnitOfWorkFactory
from tests.fakes.fiken import BANK_ACCOUNT_CODE, FakeFiken
from tests.integration.test_import_fiken import (
    ACCOUNTANT,
    FIRST_RUN,
    START,
    TENANT,
    fiken_history,
    ledger,
)
from tests.integration.test_import_fiken_gaps import (  # noqa: F401
    _balances,
    _half_paid_sale,
    _sale_line,
    fiken,
)
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
    async with fiken_history(base_url, page_size=1, unhurried=True) as source:
        service = BooksImport(uow_factory, source, clock)
        await service.run(TENANT, START)
        assert (await _balances(uow_factory, clock))["6300"] == Decimal("10000.00")

        fake._today = dt.date(2026, 3, 3)
        fake.cancel_journal_entry(rent)
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
    async with fiken_history(base_url, page_size=1, unhurried=True) as source:
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
    sale, receivables = _half_paid_sale(fake, modified=dt.date(2026, 1, 20))
    fake.sales[sale].update({"writeOff": True, "settled": True, "settledDate": "2026-02-02"})
    posting = fake.add_journal_entry(
        dt.date(2026, 2, 2),
        [("7830", 60_000, "3"), ("2700", 15_000, "3"), (receivables, -75_000)],
        "Tap på krav",
        modified=dt.date(2026, 2, 2),
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url, unhurried=True) as source:
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


def _balance_requests(fake: FakeFiken) -> list[str]:
    return [r.query.get("date", "") for r in fake.requests if r.path.endswith("/accountBalances")]


async def test_a_mid_year_opening_carries_only_this_years_result(
    fiken: tuple[FakeFiken, str],  # noqa: F811
    uow_factory: UnitOfWorkFactory,
) -> None:
    """From 1 March: Fiken's balances on 28 February are cumulative, so 3000 holds 2024's,
    2025's and 2026's revenue. The opening carries 2026's (10,000) on 3000 and the earlier
    years' (30,000 + 5,000) as equity on 2050: 2026's result is 10,000, not 45,000.
    Every run of that start asks for the balances (an incremental one too: a change the
    books back-date before it shows only there) and finds them unchanged."""
    fake, base_url = fiken
    fake.postings.extend(
        [
            (dt.date(2024, 6, 1), BANK_ACCOUNT_CODE, 500_000),
            (dt.date(2024, 6, 1), "3000", -500_000),
            (dt.date(2025, 3, 1), BANK_ACCOUNT_CODE, 3_000_000),
            (dt.date(2025, 3, 1), "3000", -3_000_000),
            (dt.date(2026, 2, 1), BANK_ACCOUNT_CODE, 1_000_000),
            (dt.date(2026, 2, 1), "3000", -1_000_000),
        ]
    )
    clock = FixedClock(FIRST_RUN)
    march = dt.date(2026, 3, 1)
    async with fiken_history(base_url, unhurried=True) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, march)
        assert (first.problems, first.imported) == ([], 1)
        balance = await _balances(uow_factory, clock)
        assert balance["3000"] == Decimal("-10000.00")
        assert balance["2050"] == Decimal("-35000.00")
        assert balance[BANK_ACCOUNT_CODE] == Decimal("45000.00")
        assert _balance_requests(fake) == ["2026-02-28", "2025-12-31"]

        fake.requests.clear()
        clock.advance(days=2)
        again = await service.run(TENANT, march)
        assert (again.problems, again.imported, again.known) == ([], 0, 1)
        assert _balance_requests(fake) == ["2026-02-28", "2025-12-31"]
        fake.requests.clear()
        full = await service.run(TENANT, march, dt.date(2026, 3, 31))
        assert (full.problems, full.imported, full.known) == ([], 0, 1)
        assert len(_balance_requests(fake)) == 2
        assert await _balances(uow_factory, clock) == balance

        # A run recorded before openings were booked by year (no opening_by_year): the
        # next incremental run asks (its opening is revised if it carried earlier years),
        # as every run of the start does.
        last = await service.last_run(TENANT)
        assert last is not None and last.opening_by_year
        stream = books_import_runs_id(TENANT)
        async with uow_factory() as uow:
            version = len(await uow.events.read_stream(TENANT, stream))
            older = msgspec.structs.replace(last, opening_by_year=False)
            event = stamp(
                "BooksImported",
                older,
                event_id=uuid.uuid5(stream, "older"),
                actor="system:books-import",
                at=FIRST_RUN,
                correlation_id=stream,
            )
            await uow.events.append(TENANT, stream, version, [event])
            await uow.commit()
        fake.requests.clear()
        assert (await service.run(TENANT, march)).imported == 0
        assert len(_balance_requests(fake)) == 2
        assert (await service.last_run(TENANT)).opening_by_year  # type: ignore[union-attr]


async def test_an_opening_refused_is_asked_for_again_by_the_next_incremental_run(
    fiken: tuple[FakeFiken, str],  # noqa: F811
    uow_factory: UnitOfWorkFactory,
) -> None:
    """Balances that do not add up are refused; the next incremental run asks again (and
    books them once fixed in the books), the one after finds them booked."""
    fake, base_url = fiken
    fake.postings.append((dt.date(2025, 3, 1), BANK_ACCOUNT_CODE, 4_000_000))
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url, unhurried=True) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert [p.what for p in first.problems] == ["opening balance"]
        second = await service.run(TENANT, START)
        assert [p.what for p in second.problems] == ["opening balance"]
        fake.postings.append((dt.date(2025, 3, 1), "2000", -4_000_000))
        fake.requests.clear()
        third = await service.run(TENANT, START)
        assert (third.problems, third.imported, third.pending) == ([], 1, [])
        assert _balance_requests(fake) == ["2025-12-31"]
        fake.requests.clear()
        assert (await service.run(TENANT, START)).imported == 0
        assert _balance_requests(fake) == ["2025-12-31"]
    trial = await ledger(uow_factory, clock).trial_balance(ACCOUNTANT, START, START)
    opening = {line.account: line.opening for line in trial.accounts}
    assert (opening["2000"], opening[BANK_ACCOUNT_CODE]) == (-40000, 40000)
