"""`bookkeeper import fiken`: what the earlier rounds left (ADR 0037 addendum "leftovers"):
a change the books back-date before the first run's start, a sale refused whose
write-off posting the books list, and what a run keeps to know the journal entries of
trades. Through the real adapter and the loopback Fiken fake, on memory, SQLite and
PostgreSQL; the trial balance balances after every run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bookkeeper.application.books_import import BooksImport
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
from tests.integration.test_import_fiken_gaps import END, _balances, _sale_line, fiken  # noqa: F401
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
