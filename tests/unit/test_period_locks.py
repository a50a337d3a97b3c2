"""Closed periods and locked VAT terms hold for every kind of posting (ADR 0040 addendum):
an executed document, a reversal, a correction (also one that changes the document date),
a bus entry and a manual entry. An automatic posting is moved to the first open day and
says why; a manual one is refused (409). A locked term's VAT report and a closed period's
trial balance never change after the lock — for any sequence (the hypothesis test)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.event_log import posting_id
from bookkeeper.application.ledger import LedgerService, VatReport
from bookkeeper.application.ports import Principal
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import JournalEntryPostedData, PeriodChangedData, Status
from bookkeeper.domain.rules import PeriodClosed, VatTermLocked
from tests.unit.conftest import credit, debit, principal
from tests.unit.external_doubles import TENANT, Harness, correction, expense, reversal

ACCOUNTANT = principal("anna", "accountant")
READER = principal("rita", "reviewer")
BUS = Principal(
    subject="system:bus",
    tenant_id=TENANT,
    roles=frozenset({"system"}),
    attributes={"approval_limit": "100000"},
)
#: The harness's clock: the day compensations are executed (VAT term 6 of 2026).
TODAY = dt.date(2026, 11, 20)
OCTOBER = dt.date(2026, 10, 5)  # term 5
NOVEMBER = dt.date(2026, 11, 5)  # term 6, today's


def services(h: Harness) -> tuple[RulesService, LedgerService]:
    return (
        RulesService(h.uow_factory, h.clock, RoleAuthorizer()),
        LedgerService(h.uow_factory, h.clock, UuidV7Ids(), RoleAuthorizer()),
    )


async def executed(h: Harness, data: object) -> uuid.UUID:
    pid = await h.approved(data)
    await h.executor.run_once()
    assert (await h.view(pid)).status is Status.EXECUTED
    return pid


async def entry_of(h: Harness, stream: uuid.UUID) -> JournalEntryPostedData:
    [event] = await h.stream(stream)
    assert isinstance(event.data, JournalEntryPostedData)
    return event.data


async def balances(h: Harness, start: dt.date, end: dt.date) -> dict[str, Decimal]:
    async with h.uow_factory() as uow:
        totals = await uow.ledger.trial_balance(TENANT, start, end)
    return {t.account: t.balance for t in totals if t.balance}


async def vat(h: Harness, year: int, term: int) -> VatReport:
    return await services(h)[1].vat_report(READER, year, term)


# --- reversals ------------------------------------------------------------------------------


async def test_a_reversal_of_an_entry_in_todays_locked_term_posts_after_the_term() -> None:
    h = Harness()
    rules, _ = services(h)
    target = await executed(h, expense(date=NOVEMBER, document_number="K-1"))
    await rules.lock_vat_term(ACCOUNTANT, 2026, 6)  # reported early, today is in it
    reported = await vat(h, 2026, 6)
    assert reported.input_vat == Decimal("48.00")

    pid = await executed(h, reversal(target))

    mirrored = await entry_of(h, posting_id(pid))
    assert mirrored.date == dt.date(2027, 1, 1)  # the first day of the next open term
    assert mirrored.description.endswith(
        "(reversering datert 2027-01-01: opprinnelig dato 2026-11-05 i lukket MVA-termin 2026-6)"
    )
    assert await vat(h, 2026, 6) == reported
    assert (await vat(h, 2027, 1)).input_vat == Decimal("-48.00")


async def test_a_reversal_of_an_entry_in_a_locked_past_term_is_dated_today_and_says_so() -> None:
    h = Harness()
    rules, _ = services(h)
    target = await executed(h, expense(date=OCTOBER, document_number="K-1"))
    await rules.lock_vat_term(ACCOUNTANT, 2026, 5)
    reported = await vat(h, 2026, 5)

    pid = await executed(h, reversal(target))

    mirrored = await entry_of(h, posting_id(pid))
    assert mirrored.date == TODAY
    assert mirrored.description.endswith(
        "(reversering datert 2026-11-20: opprinnelig dato 2026-10-05 i lukket MVA-termin 2026-5)"
    )
    assert await vat(h, 2026, 5) == reported


async def test_a_reversal_of_an_open_entry_is_dated_today_without_a_note() -> None:
    h = Harness()
    target = await executed(h, expense(date=OCTOBER, document_number="K-1"))
    pid = await executed(h, reversal(target))
    mirrored = await entry_of(h, posting_id(pid))
    assert mirrored.date == TODAY and mirrored.description == "Reversering: " + (
        (await entry_of(h, posting_id(target))).description
    )


# --- corrections that change the document date ---------------------------------------------


async def test_a_dated_correction_posts_the_reversal_on_the_original_and_the_entry_on_the_new_date() -> (  # noqa: E501
    None
):
    h = Harness()
    target = await executed(h, expense(date=OCTOBER, document_number="K-1"))
    pid = await executed(h, correction(target, date=NOVEMBER))

    reversed_entry = await entry_of(h, posting_id(pid, "reversal"))
    corrected = await entry_of(h, posting_id(pid))
    assert reversed_entry.date == OCTOBER
    assert "korrigering datert opprinnelig dato 2026-10-05: perioden er åpen" in (
        reversed_entry.description
    )
    assert corrected.date == NOVEMBER
    assert corrected.description.endswith("(dokumentdato korrigert, var 2026-10-05)")
    # The cost left October's term and is in November's.
    assert await balances(h, dt.date(2026, 9, 1), dt.date(2026, 10, 31)) == {}
    assert (await balances(h, NOVEMBER, NOVEMBER))["7140"] == Decimal("400.00")


async def test_a_dated_correction_into_a_locked_term_posts_in_the_first_open_one() -> None:
    h = Harness()
    rules, _ = services(h)
    target = await executed(h, expense(date=OCTOBER, document_number="K-1"))
    await rules.lock_vat_term(ACCOUNTANT, 2026, 5)
    reported = await vat(h, 2026, 5)
    before = await balances(h, dt.date(2026, 9, 1), dt.date(2026, 10, 31))

    pid = await executed(h, correction(target, date=dt.date(2026, 9, 30)))

    reversed_entry = await entry_of(h, posting_id(pid, "reversal"))
    corrected = await entry_of(h, posting_id(pid))
    assert reversed_entry.date == TODAY
    assert "opprinnelig dato 2026-10-05 i lukket MVA-termin 2026-5" in reversed_entry.description
    assert corrected.date == dt.date(2026, 11, 1)
    assert "(dokumentdato 2026-09-30, MVA-termin 2026-5 låst)" in corrected.description
    assert await vat(h, 2026, 5) == reported
    assert await balances(h, dt.date(2026, 9, 1), dt.date(2026, 10, 31)) == before


async def test_a_dated_correction_into_a_closed_month_posts_on_the_next_open_day() -> None:
    h = Harness()
    rules, _ = services(h)
    target = await executed(h, expense(date=OCTOBER, document_number="K-1"))
    await rules.close_period(ACCOUNTANT, dt.date(2026, 11, 1), dt.date(2026, 11, 30))

    pid = await executed(h, correction(target, date=NOVEMBER))

    reversed_entry = await entry_of(h, posting_id(pid, "reversal"))
    corrected = await entry_of(h, posting_id(pid))
    assert reversed_entry.date == OCTOBER  # open: the error is taken back where it was
    assert corrected.date == dt.date(2026, 12, 1)
    assert "(dokumentdato 2026-11-05, periode 2026-11 lukket)" in corrected.description
    assert await balances(h, dt.date(2026, 11, 1), dt.date(2026, 11, 30)) == {}


# --- year-end, the bus and manual entries ---------------------------------------------------


async def test_a_closed_year_takes_nothing_and_a_locked_term_after_it_moves_vat_further() -> None:
    h = Harness()
    rules, ledger = services(h)
    await rules.close_period(ACCOUNTANT, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    await rules.lock_vat_term(ACCOUNTANT, 2026, 1)
    lines = [
        debit("6300", "1000.00", vat_code="1", vat_part="base"),
        debit("2710", "250.00", vat_code="1", vat_part="tax"),
        credit("1920", "1250.00"),
    ]
    with pytest.raises(PeriodClosed, match="2025"):
        await ledger.post_manual(ACCOUNTANT, dt.date(2025, 12, 31), "Husleie", lines)
    with pytest.raises(VatTermLocked, match="2026-1"):
        await ledger.post_manual(ACCOUNTANT, dt.date(2026, 1, 2), "Husleie", lines)
    # The bus's invoice of New Year's Eve: past the year and the locked term, saying both.
    command = RecordJournalEntry(
        date=dt.date(2025, 12, 31),
        description="Faktura 7",
        lines=tuple(lines),
        source="invoicing",
        entry_id=uuid.uuid4(),
    )
    posted = await ledger.record(BUS, command)
    assert posted.entry.date == dt.date(2026, 3, 1)
    assert posted.entry.description == (
        "Faktura 7 (dokumentdato 2025-12-31, periode 2025 lukket; MVA-termin 2026-1 låst)"
    )
    # Without VAT lines only the closed year holds it.
    salary = RecordJournalEntry(
        date=dt.date(2025, 12, 31),
        description="Lønn",
        lines=(debit("5000", "10.00"), credit("1920", "10.00")),
        source="payroll",
        entry_id=uuid.uuid4(),
    )
    assert (await ledger.record(BUS, salary)).entry.date == dt.date(2026, 1, 1)
    assert await balances(h, dt.date(2025, 1, 1), dt.date(2025, 12, 31)) == {}
    assert (await vat(h, 2026, 1)).lines == []


# --- the invariant ----------------------------------------------------------------------------

#: Document dates up to the clock's day (a document is not dated in the future).
DAYS = st.dates(dt.date(2026, 7, 1), TODAY)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("expense"), DAYS),
        st.tuples(st.just("manual"), DAYS, st.booleans()),
        st.tuples(st.just("bus"), DAYS),
        st.tuples(st.just("reverse"), st.integers(0, 9)),
        st.tuples(st.just("correct"), st.integers(0, 9), st.one_of(st.none(), DAYS)),
        st.tuples(st.just("correct"), st.integers(0, 9), DAYS),
        st.tuples(st.just("close"), st.integers(7, 12)),
        st.tuples(st.just("lock"), st.integers(4, 6)),
    ),
    min_size=1,
    max_size=12,
)


def _month(month: int, year: int = 2026) -> tuple[dt.date, dt.date]:
    start = dt.date(year, month, 1)
    end = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(DAYS, min_size=1, max_size=3), OPERATIONS)
async def test_a_locked_terms_vat_and_a_closed_periods_balances_never_change(
    first: list[dt.date], then: list[tuple[object, ...]]
) -> None:
    operations: list[tuple[object, ...]] = [("expense", day) for day in first] + then
    h = Harness()
    rules, ledger = services(h)
    executed_ids: list[uuid.UUID] = []
    locked: dict[tuple[int, int], VatReport] = {}
    closed: dict[tuple[dt.date, dt.date], dict[str, Decimal]] = {}

    async def check() -> None:
        for (year, term), report in locked.items():
            assert await vat(h, year, term) == report, (year, term)
        for (start, end), before in closed.items():
            assert await balances(h, start, end) == before, (start, end)

    for number, operation in enumerate(operations):
        kind = operation[0]
        try:
            if kind == "expense":
                day = operation[1]
                assert isinstance(day, dt.date)
                pid = await h.approved(expense(date=day, document_number=f"K-{number}"))
                await h.executor.run_once()
                executed_ids.append(pid)
            elif kind == "manual" or kind == "bus":
                day = operation[1]
                assert isinstance(day, dt.date)
                with_vat = kind == "bus" or bool(operation[2])
                lines = (
                    (
                        debit("6300", "100.00", vat_code="1", vat_part="base"),
                        debit("2710", "25.00", vat_code="1", vat_part="tax"),
                        credit("1920", "125.00"),
                    )
                    if with_vat
                    else (debit("5000", "125.00"), credit("1920", "125.00"))
                )
                if kind == "manual":
                    await ledger.post_manual(ACCOUNTANT, day, f"Bilag {number}", lines)
                else:
                    await ledger.record(
                        BUS,
                        RecordJournalEntry(
                            date=day,
                            description=f"Faktura {number}",
                            lines=lines,
                            source="invoicing",
                            entry_id=uuid.uuid4(),
                        ),
                    )
            elif kind in ("reverse", "correct"):
                index = operation[1]
                assert isinstance(index, int)
                if not executed_ids:
                    continue
                target = executed_ids[index % len(executed_ids)]
                if kind == "reverse":
                    data: object = reversal(target)
                elif operation[2] is None:
                    data = correction(target, account_code="7100")
                else:
                    data = correction(target, date=operation[2])
                await h.approved(data)
                await h.executor.run_once()
            elif kind == "close":
                month = operation[1]
                assert isinstance(month, int)
                start, end = _month(month)
                await rules.close_period(ACCOUNTANT, start, end)
                closed.setdefault((start, end), await balances(h, start, end))
            else:
                term = operation[1]
                assert isinstance(term, int)
                await rules.lock_vat_term(ACCOUNTANT, 2026, term)
                locked.setdefault((2026, term), await vat(h, 2026, term))
        except DomainError:
            pass  # refused (a manual entry into a closed period, an overlap …): nothing posted
        await check()


async def test_closing_and_reopening_is_recorded_in_the_tenants_log() -> None:
    """The table of closed periods holds what is closed now: a reported term unlocked,
    posted into and locked again — or a month reopened for a late entry — left no trace
    in the log of who opened it, and when. Each close and reopening is an event, by its
    actor, in the tenant's log (and nowhere else)."""
    h = Harness()
    rules, _ = services(h)
    admin = principal("ada", "admin")
    await rules.lock_vat_term(ACCOUNTANT, 2026, 5)
    await rules.lock_vat_term(ACCOUNTANT, 2026, 5)  # already locked: nothing new
    h.clock.advance(minutes=5)
    assert await rules.reopen(admin, "vat-term", dt.date(2026, 9, 1))
    assert not await rules.reopen(admin, "vat-term", dt.date(2026, 9, 1))  # not locked now
    h.clock.advance(minutes=5)
    await rules.close_period(ACCOUNTANT, dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    async with h.uow_factory() as uow:
        logged = await uow.events.read_all(after_position=0, limit=100)
    term5 = PeriodChangedData(
        kind="vat-term", name="2026-5", start=dt.date(2026, 9, 1), end=dt.date(2026, 10, 31)
    )
    october = PeriodChangedData(
        kind="period", name="2026-10", start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31)
    )
    assert [(e.tenant_id, e.type, e.actor, e.data) for e in logged] == [
        (TENANT, "PeriodClosed", "human:anna", term5),
        (TENANT, "PeriodReopened", "human:ada", term5),
        (TENANT, "PeriodClosed", "human:anna", october),
    ]


async def test_a_year_closes_over_its_closed_months_and_a_month_inside_it_adds_nothing() -> None:
    """Closing the months one by one, then the year: the year absorbs the months (one
    row, one PeriodClosed); a month of the closed year closes nothing more; a period
    that cuts through a closed one is still refused; reopening the year opens it all."""
    h = Harness()
    rules, ledger = services(h)
    admin = principal("ada", "admin")
    for month in range(1, 13):
        await rules.close_period(ACCOUNTANT, *_month(month, 2025))
    year, closed_now = await rules.close_period(
        ACCOUNTANT, dt.date(2025, 1, 1), dt.date(2025, 12, 31)
    )
    assert closed_now and (year.start, year.end) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert [(p.start, p.end) for p in await rules.periods(ACCOUNTANT, "period")] == [
        (year.start, year.end)
    ]
    again, closed_now = await rules.close_period(ACCOUNTANT, *_month(3, 2025))
    assert not closed_now and again.name == year.name
    with pytest.raises(DomainError, match="overlaps"):
        await rules.close_period(ACCOUNTANT, dt.date(2025, 12, 1), dt.date(2026, 1, 31))
    with pytest.raises(PeriodClosed):
        await ledger.post_manual(
            ACCOUNTANT,
            dt.date(2025, 6, 1),
            "Bilag",
            (debit("5000", "1.00"), credit("1920", "1.00")),
        )
    async with h.uow_factory() as uow:
        logged = await uow.events.read_all(after_position=0, limit=100)
    assert [(e.type, e.data.name) for e in logged if isinstance(e.data, PeriodChangedData)][
        -2:
    ] == [("PeriodClosed", "2025-12"), ("PeriodClosed", year.name)]
    assert await rules.reopen(admin, "period", year.start)
    assert await rules.periods(ACCOUNTANT, "period") == []
