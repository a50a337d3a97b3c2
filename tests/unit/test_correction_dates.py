"""A correction after the fact (story 6) posts its reversal and its corrected entry on one
date (ADR 0040, addendum): the original entry's date while its period and VAT term are
open, else the correction's date (or the first open day after it) — never the reversal in
one period and the corrected entry in another. The entries' descriptions say which date
and why."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.event_log import posting_id
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.events import JournalEntryPostedData, Status
from tests.unit.conftest import principal
from tests.unit.external_doubles import TENANT, Harness, correction, expense

ACCOUNTANT = principal("anna", "accountant")
#: The expense's document date: in VAT term 5 (September–October) of 2026.
OCTOBER = dt.date(2026, 10, 5)
#: The harness's clock: the day the correction is executed.
TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def h() -> Harness:
    return Harness()


async def executed_expense(h: Harness) -> tuple[JournalEntryPostedData, uuid.UUID]:
    target = await h.approved(expense(date=OCTOBER))
    await h.executor.run_once()
    [original] = await h.postings()
    assert original.date == OCTOBER
    return original, target


async def execute_correction(
    h: Harness, target: uuid.UUID
) -> tuple[JournalEntryPostedData, JournalEntryPostedData]:
    pid = await h.approved(correction(target, account_code="7100"))
    await h.executor.run_once()
    assert (await h.view(pid)).status is Status.EXECUTED
    [reversal] = await h.stream(posting_id(pid, "reversal"))
    [corrected] = await h.stream(posting_id(pid))
    assert isinstance(reversal.data, JournalEntryPostedData)
    assert isinstance(corrected.data, JournalEntryPostedData)
    return reversal.data, corrected.data


async def balances(h: Harness, start: dt.date, end: dt.date) -> dict[str, Decimal]:
    async with h.uow_factory() as uow:
        totals = await uow.ledger.trial_balance(TENANT, start, end)
    return {t.account: t.balance for t in totals if t.balance}


async def test_an_open_original_term_takes_both_entries_on_the_original_date(
    h: Harness,
) -> None:
    _, target = await executed_expense(h)
    before = await balances(h, dt.date(2026, 9, 1), dt.date(2026, 10, 31))

    reversal, corrected = await execute_correction(h, target)

    assert reversal.date == corrected.date == OCTOBER
    for entry in (reversal, corrected):
        assert "korrigering datert opprinnelig dato 2026-10-05: perioden er åpen" in (
            entry.description
        )
    term = await balances(h, dt.date(2026, 9, 1), dt.date(2026, 10, 31))
    # The term holds the corrected purchase once: the cost moved account, VAT not doubled.
    assert term.get("7140") is None and term["7100"] == before["7140"] == Decimal("400.00")
    assert {a: v for a, v in term.items() if a != "7100"} == {
        a: v for a, v in before.items() if a != "7140"
    }
    # Today's term carries nothing of it.
    assert await balances(h, dt.date(2026, 11, 1), dt.date(2026, 12, 31)) == {}


async def test_a_locked_vat_term_takes_both_entries_on_the_corrections_date(
    h: Harness,
) -> None:
    _, target = await executed_expense(h)
    before = await balances(h, dt.date(2026, 9, 1), dt.date(2026, 10, 31))
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    await rules.lock_vat_term(ACCOUNTANT, 2026, 5)  # its return is reported

    reversal, corrected = await execute_correction(h, target)

    assert reversal.date == corrected.date == TODAY
    for entry in (reversal, corrected):
        assert (
            "korrigering datert 2026-11-20: opprinnelig dato 2026-10-05 i lukket MVA-termin 2026-5"
        ) in entry.description
    # The reported term is as reported; today's term nets the correction: the cost moved
    # from 7140 to 7100, the VAT reversed and booked again (net nothing).
    assert await balances(h, dt.date(2026, 9, 1), dt.date(2026, 10, 31)) == before
    now = await balances(h, dt.date(2026, 11, 1), dt.date(2026, 12, 31))
    assert now == {"7140": Decimal("-400.00"), "7100": Decimal("400.00")}


async def test_a_closed_original_period_and_a_closed_today_take_the_first_open_day(
    h: Harness,
) -> None:
    _, target = await executed_expense(h)
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    await rules.close_period(ACCOUNTANT, dt.date(2026, 10, 1), dt.date(2026, 11, 30))

    reversal, corrected = await execute_correction(h, target)

    assert reversal.date == corrected.date == dt.date(2026, 12, 1)
    for entry in (reversal, corrected):
        assert (
            "korrigering datert 2026-12-01: opprinnelig dato 2026-10-05 i lukket periode"
        ) in entry.description
    # Nothing was posted into the closed period.
    entries = await h.postings()
    assert [e.date for e in entries] == [OCTOBER, dt.date(2026, 12, 1), dt.date(2026, 12, 1)]
