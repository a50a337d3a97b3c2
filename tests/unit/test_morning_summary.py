"""The next VAT due date and the summary's text (application/morning.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.event_log import scheduled_run_id, stamp
from bookkeeper.application.messages import date_text
from bookkeeper.application.morning import (
    compose_summary,
    next_vat_due,
    overdue_vat_returns,
    todays_summary,
)
from bookkeeper.domain.events import (
    CostTotal,
    JournalEntryPostedData,
    MissingReceipt,
    MorningCheckRanData,
)
from bookkeeper.domain.ledger import vat_term
from bookkeeper.domain.rules import VAT_TERM, FiscalPeriod
from tests.unit.conftest import FixedClock, credit, debit
from tests.unit.test_morning_cron import morning_check

ALL_DUES = sorted(vat_term(y, t).due for y in range(1999, 2102) for t in range(1, 7))


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_the_next_vat_due_date_is_the_first_due_date_on_or_after_the_day(day: dt.date) -> None:
    assert next_vat_due(day) == next(d for d in ALL_DUES if d >= day)


def test_known_due_dates() -> None:
    assert next_vat_due(dt.date(2026, 3, 15)) == dt.date(2026, 4, 10)  # term 1 still open
    assert next_vat_due(dt.date(2026, 4, 10)) == dt.date(2026, 4, 10)
    assert next_vat_due(dt.date(2026, 4, 11)) == dt.date(2026, 6, 10)
    assert next_vat_due(dt.date(2026, 1, 20)) == dt.date(2026, 2, 10)  # last year's term 6


def _run(**fields: object) -> MorningCheckRanData:
    base: dict[str, object] = {
        "job": "morning",
        "date": dt.date(2026, 11, 20),
        "next_vat_due": dt.date(2026, 12, 10),
        "summary": "",
    }
    base.update(fields)
    return MorningCheckRanData(**base)  # type: ignore[arg-type]


def test_the_summary_says_what_was_found_and_what_could_not_be_checked() -> None:
    text = compose_summary(
        _run(
            missing_receipts=2,
            costs_yesterday=(
                CostTotal(source="bookkeeper", currency="USD", amount=Decimal("1234.5")),
            ),
            failed_executions=("a",),
            unknown_accounts=("6301",),
        )
    )
    assert text.splitlines() == [
        "Morgensjekk 20.11.2026",
        "Manglende kvitteringer (siste 30 dager): 2",
        "Forbruk i går: bookkeeper 1 234,50 USD",
        "Forbruk denne måneden: ingenting registrert",
        "Neste mva-frist: 10.12.2026",
        "Feilede utføringer: 1, ventende over tid: 0",
        "Ukjente kontoer: 6301",
    ]
    down = compose_summary(_run(missing_receipts=None, unknown_accounts=None))
    assert "banken svarte ikke" in down and "regnskapet svarte ikke" in down


def test_the_summary_lists_the_transactions_without_a_receipt_oldest_first() -> None:
    missing = tuple(
        MissingReceipt(
            date=dt.date(2026, 11, day),
            description=f"Butikk {day}",
            amount=Decimal(f"-{day}00.50"),
            currency="EUR" if day == 3 else "NOK",
        )
        for day in range(1, 13)
    )
    lines = compose_summary(_run(missing_receipts=12, missing=missing)).splitlines()
    start = lines.index("Manglende kvitteringer (siste 30 dager): 12")
    assert lines[start + 1 : start + 4] == [
        "  - 01.11.2026 Butikk 1: -100,50 kr",
        "  - 02.11.2026 Butikk 2: -200,50 kr",
        "  - 03.11.2026 Butikk 3: -300,50 EUR",
    ]
    assert lines[start + 10] == "  - 10.11.2026 Butikk 10: -1 000,50 kr"
    assert lines[start + 11] == "  … og 2 til."
    assert lines[start + 12].startswith("Forbruk i går")


def test_a_run_recorded_before_the_list_was_kept_shows_its_count_only() -> None:
    lines = compose_summary(_run(missing_receipts=12)).splitlines()
    assert lines[1] == "Manglende kvitteringer (siste 30 dager): 12"
    assert lines[2].startswith("Forbruk i går")


async def test_the_chat_shows_todays_run_not_a_past_day_caught_up_later() -> None:
    """`bookkeeper check run --date 2026-11-18` run on the 20th, after the 20th's own
    run, records the 18th's summary today: the chat, which greets with today's summary,
    showed the 18th's (the latest recorded) instead of the 20th's."""
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock(dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC))  # 07:00 in Oslo
    for day, summary in ((dt.date(2026, 11, 20), "today"), (dt.date(2026, 11, 18), "past")):
        run_id = scheduled_run_id("acme", "morning", day)
        event = stamp(
            "MorningCheckRan",
            _run(date=day, summary=summary),
            event_id=run_id,
            actor="system:cron",
            at=clock.now(),
            correlation_id=run_id,
        )
        async with uow() as unit:
            await unit.events.append("acme", run_id, 0, [event])
            await unit.commit()
        clock.advance(hours=1)
    assert await todays_summary(uow, clock, "acme") == "today"
    assert await todays_summary(uow, clock, "globex") is None


async def test_a_reported_term_is_no_longer_the_next_vat_deadline() -> None:
    """On 3 December term 5's return (due 10 December) is the next deadline — unless it
    was reported already (its term locked, `rules lock-vat-term`): then the morning told
    people of a deadline they had met, and not of term 6's (10 February)."""
    clock = FixedClock(dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC))
    morning, uow = morning_check(clock)
    term = vat_term(2026, 5)
    async with uow() as unit:
        await unit.rules.add_period(
            FiscalPeriod(
                tenant_id="acme",
                kind=VAT_TERM,
                name="2026-5",
                start=term.start,
                end=term.end,
                closed_by="human:kari",
                closed_at=clock.now(),
            )
        )
        await unit.commit()
    dues = {o.tenant_id: o.summary for o in await morning.run()}
    assert "Neste mva-frist: 10.02.2027" in (dues["acme"] or "")
    assert "Neste mva-frist: 10.12.2026" in (dues["beta"] or "")


def test_a_cost_under_one_cent_is_not_shown_as_nothing_spent() -> None:
    # A quiet day of the service's own model calls costs fractions of a cent: "0,00 USD"
    # read as nothing spent, the same as a day without a single call.
    text = compose_summary(
        _run(
            costs_yesterday=(
                CostTotal(source="bookkeeper", currency="USD", amount=Decimal("0.0042")),
                CostTotal(source="google", currency="USD", amount=Decimal("0")),
            ),
            costs_month=(CostTotal(source="bookkeeper", currency="USD", amount=Decimal("0.005")),),
        )
    )
    lines = text.splitlines()
    assert "Forbruk i går: bookkeeper under 0,01 USD, google 0,00 USD" in lines
    assert "Forbruk denne måneden: bookkeeper 0,01 USD" in lines  # rounds half up


def _lock(tenant: str, year: int, number: int, at: dt.datetime) -> FiscalPeriod:
    term = vat_term(year, number)
    return FiscalPeriod(
        tenant_id=tenant,
        kind=VAT_TERM,
        name=f"{year}-{number}",
        start=term.start,
        end=term.end,
        closed_by="human:kari",
        closed_at=at,
    )


async def test_an_overdue_unreported_vat_return_is_flagged_until_its_term_is_locked() -> None:
    """On 20 November term 4's return (July–August, due 12 October: the 10th was a
    Saturday) has not been reported: the morning said only "Neste mva-frist: 10.12.2026",
    as if nothing were late. It is flagged every morning until the term is locked."""
    clock = FixedClock(dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC))
    morning, uow = morning_check(clock)
    async with uow() as unit:
        for tenant in ("acme", "beta"):  # books here since October 2025
            await _book(unit, tenant, dt.date(2025, 10, 15))
        for tenant in ("acme", "beta"):  # the terms before, reported
            for year, number in ((2025, 5), (2025, 6), (2026, 1), (2026, 2), (2026, 3)):
                await unit.rules.add_period(_lock(tenant, year, number, clock.now()))
        await unit.rules.add_period(_lock("beta", 2026, 4, clock.now()))
        await unit.commit()
    runs = {o.tenant_id: o.summary or "" for o in await morning.run()}
    term = vat_term(2026, 4)
    late = f"Mva-melding ikke levert: 01.07.2026–31.08.2026, fristen var {date_text(term.due)}"
    assert any(line.startswith(late) for line in runs["acme"].splitlines()), runs["acme"]
    assert "Neste mva-frist: 10.12.2026" in runs["acme"].splitlines()
    assert "ikke levert" not in runs["beta"]
    event = await morning.ran("acme", dt.date(2026, 11, 20))
    assert event is not None and isinstance(event.data, MorningCheckRanData)
    assert [(t.start, t.due) for t in event.data.overdue_vat] == [(term.start, term.due)]


async def _book(unit: Any, tenant: str, day: dt.date) -> None:
    """One entry dated `day` in the tenant's ledger (a sale of 100 kroner)."""
    entry = JournalEntryPostedData(
        date=day,
        description="Salg",
        lines=(debit("1920", "100"), credit("3000", "100")),
    )
    await unit.ledger.post(tenant, uuid.uuid4(), 1, dt.datetime(2026, 11, 1, tzinfo=dt.UTC), entry)


async def test_a_company_new_here_is_not_alarmed_about_terms_before_its_books() -> None:
    """A company that started here on 8 December 2026, with nothing booked before, was
    told "Mva-melding ikke levert" for every unlocked term of the last year back to 2025
    (filed elsewhere), with no word on how to silence it. Terms that ended before its
    first event or its earliest entry are not flagged; `vatRegisteredFrom`, when set,
    bounds them instead; a term still flagged says how to lock it or set the day."""
    clock = FixedClock(dt.datetime(2026, 12, 8, 6, 0, tzinfo=dt.UTC))
    morning, uow = morning_check(clock)
    async with uow() as unit:  # beta booked a purchase of 15 July (term 4) here
        await _book(unit, "beta", dt.date(2026, 7, 15))
        await unit.commit()
    runs = {o.tenant_id: o.summary or "" for o in await morning.run()}
    assert "ikke levert" not in runs["acme"], runs["acme"]
    assert "Neste mva-frist: 10.12.2026" in runs["acme"].splitlines()
    flagged = [line for line in runs["beta"].splitlines() if "ikke levert" in line]
    assert [line.split(",")[0] for line in flagged] == [
        "Mva-melding ikke levert: 01.07.2026–31.08.2026"
    ]
    assert "lock-vat-term --year 2026 --term 4" in runs["beta"]
    assert "vatRegisteredFrom" in runs["beta"]
    # Registered from 1 March 2026 (set by the company): its terms from then on are its.
    clock.advance(days=1)
    async with uow() as unit:
        rules = await unit.settings.review_rules("acme")
        changed = msgspec.structs.replace(rules, vat_registered_from=dt.date(2026, 3, 1))
        await unit.settings.save_review_rules("acme", changed, clock.now())
        await unit.commit()
    runs = {o.tenant_id: o.summary or "" for o in await morning.run()}
    flagged = [line for line in runs["acme"].splitlines() if "ikke levert" in line]
    assert [line.split(",")[0].split(": ")[1] for line in flagged] == [
        "01.03.2026–30.04.2026",
        "01.05.2026–30.06.2026",
        "01.07.2026–31.08.2026",
    ]
    assert "lock-vat-term --year 2026 --term 2" in runs["acme"]


def test_the_overdue_returns_are_the_companys_terms_of_the_last_year_not_locked() -> None:
    day = dt.date(2026, 11, 20)
    reported = {vat_term(2026, n).start for n in (1, 3)}
    # Terms 5 and 6 of 2025 and 2 and 4 of 2026; not term 5 of 2026, not yet due.
    assert [(t.year, t.term) for t in overdue_vat_returns(day, reported)] == [
        (2025, 5),
        (2025, 6),
        (2026, 2),
        (2026, 4),
    ]
    # Registered from 1 May: no return for a term that ended before.
    registered = overdue_vat_returns(day, reported, registered_from=dt.date(2026, 5, 1))
    assert [(t.year, t.term) for t in registered] == [(2026, 4)]
    # The yearly term: 2025's return was due 10 March 2026.
    assert [t.year for t in overdue_vat_returns(dt.date(2026, 3, 11), (), "yearly")] == [2025]
    assert overdue_vat_returns(dt.date(2026, 3, 10), (), "yearly") == []
    assert overdue_vat_returns(day, {vat_term(2026, 4).start}, registered_from=day) == []
