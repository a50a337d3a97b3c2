"""The yearly VAT term (årstermin, ADR 0064) on the in-memory ports: a company granted it
(`vatTerm: "yearly"`) reports the calendar year in one return, due on 10 March of the next
year (the next working day when that is a day off); the VAT report, the morning check's
deadline, the chat and the term lock follow it, and the bi-monthly terms stay the default."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import msgspec
import pytest

from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.morning import next_vat_due
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.events import VatQueriedData
from bookkeeper.domain.ledger import (
    company_vat_term,
    vat_term,
    vat_term_due_next,
    vat_term_of,
    vat_term_to_show,
    vat_year,
)
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.rules import VAT_TERM, VatTermLocked
from tests.unit.conftest import FixedClock, credit, debit, principal
from tests.unit.external_doubles import Harness
from tests.unit.test_morning_cron import morning_check

ACCOUNTANT = principal("anna", "accountant")
YEARLY = ReviewRules(vat_term="yearly")


async def _yearly(harness: Harness, tenant: str = "acme") -> None:
    async with harness.uow_factory() as uow:
        await uow.settings.save_review_rules(tenant, YEARLY, harness.clock.now())
        await uow.commit()


def test_the_yearly_term_is_the_calendar_year_due_on_10_march_or_the_next_working_day() -> None:
    term = vat_year(2026)
    assert (term.start, term.end, term.due, term.length) == (
        dt.date(2026, 1, 1),
        dt.date(2026, 12, 31),
        dt.date(2027, 3, 10),  # a Wednesday
        "yearly",
    )
    assert vat_year(2028).due == dt.date(2029, 3, 12)  # 10 March 2029 is a Saturday
    assert vat_term_of(dt.date(2026, 7, 1), "yearly") == term
    assert company_vat_term(2026, 4, "yearly") == term
    assert company_vat_term(2026, 4) == vat_term(2026, 4)


def test_the_return_due_next_on_the_yearly_term() -> None:
    assert vat_term_due_next(dt.date(2026, 2, 20), "yearly") == vat_year(2025)
    assert vat_term_due_next(dt.date(2026, 3, 10), "yearly") == vat_year(2025)
    assert vat_term_due_next(dt.date(2026, 3, 11), "yearly") is None
    assert next_vat_due(dt.date(2026, 2, 20), length="yearly") == dt.date(2026, 3, 10)
    assert next_vat_due(dt.date(2026, 3, 11), length="yearly") == dt.date(2027, 3, 10)
    # Last year's return reported (its term locked): the next is this year's.
    reported = {dt.date(2025, 1, 1)}
    assert next_vat_due(dt.date(2026, 2, 20), reported, "yearly") == dt.date(2027, 3, 10)
    # The bi-monthly terms are as they were.
    assert next_vat_due(dt.date(2026, 2, 20)) == dt.date(2026, 4, 10)


def test_bimonthly_is_the_default_and_only_the_two_lengths_are_kept() -> None:
    assert ReviewRules().vat_term == "bimonthly"
    assert msgspec.json.decode(b'{"amountMin": "1"}', type=ReviewRules).vat_term == "bimonthly"
    assert msgspec.json.decode(b'{"vatTerm": "yearly"}', type=ReviewRules).vat_term == "yearly"
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"vatTerm": "monthly"}', type=ReviewRules)


async def _ledger_with_sales() -> tuple[Harness, LedgerService]:
    """A sale in February and one in November of 2026, 250 kr VAT each."""
    harness = Harness()
    ledger = LedgerService(harness.uow_factory, harness.clock, UuidV7Ids(), RoleAuthorizer())
    for day in (dt.date(2026, 2, 3), dt.date(2026, 11, 2)):
        await ledger.post_manual(
            ACCOUNTANT,
            day,
            "Salg",
            [
                debit("1500", "1250.00"),
                credit("3000", "1000.00", vat_code="3", vat_part="base"),
                credit("2700", "250.00", vat_code="3", vat_part="tax"),
            ],
        )
    return harness, ledger


async def test_the_vat_report_of_a_yearly_company_is_the_year() -> None:
    harness, ledger = await _ledger_with_sales()
    bimonthly = await ledger.vat_report(ACCOUNTANT, 2026, 6)
    assert bimonthly.output_vat == D("250.00") and bimonthly.term.due == dt.date(2027, 2, 10)
    await _yearly(harness)
    for asked in (1, 6):  # whichever term is asked, the year is the company's term
        report = await ledger.vat_report(ACCOUNTANT, 2026, asked)
        assert report.term == vat_year(2026)
        assert (report.output_vat, report.payable) == (D("500.00"), D("500.00"))
        [line] = report.lines
        assert (line.vat_code, line.base) == ("3", D("2000.00"))


async def test_the_morning_check_names_the_yearly_deadline() -> None:
    clock = FixedClock(dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC))
    morning, uow = morning_check(clock)
    async with uow() as unit:
        await unit.settings.save_review_rules("acme", YEARLY, clock.now())
        await unit.commit()
    summaries = {o.tenant_id: o.summary or "" for o in await morning.run()}
    assert "Neste mva-frist: 10.03.2027" in summaries["acme"]
    assert "Neste mva-frist: 10.12.2026" in summaries["beta"]


async def test_locking_the_yearly_term_locks_the_year() -> None:
    harness, ledger = await _ledger_with_sales()
    await _yearly(harness)
    rules = RulesService(harness.uow_factory, harness.clock, RoleAuthorizer())
    period, new = await rules.lock_vat_term(ACCOUNTANT, 2026, 1)
    assert new and (period.kind, period.name) == (VAT_TERM, "2026")
    assert (period.start, period.end) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    with pytest.raises(VatTermLocked):
        await ledger.post_manual(
            ACCOUNTANT,
            dt.date(2026, 9, 15),
            "Salg",
            [
                debit("1500", "125.00"),
                credit("3000", "100.00", vat_code="3", vat_part="base"),
                credit("2700", "25.00", vat_code="3", vat_part="tax"),
            ],
        )


async def test_the_chat_answers_for_the_year() -> None:
    from tests.unit.test_conversation_vat import vat_chat

    chat = await vat_chat()  # on 20 November 2026
    await _yearly(chat.harness)
    [reply] = await chat.say("hvor mye mva skal vi betale?")
    assert reply.text == (
        "Mva for 2026 (årstermin, 01.01.2026 – 31.12.2026): å betale 170,40 kr "
        "(utgående mva 250,00 kr, inngående mva 79,60 kr).\nFristen er 10.03.2027."
    )
    [event] = await chat.events("VatQueried")
    assert event.data == VatQueriedData(
        year=2026,
        term=1,
        output_vat=D("250.00"),
        input_vat=D("79.60"),
        payable=D("170.40"),
        due=dt.date(2027, 3, 10),
        term_length="yearly",
    )
    [reply] = await chat.say("what was the VAT last term")
    assert reply.text.startswith("VAT for 2025 (yearly term, 01.01.2025 – 31.12.2025)")
    # A year named is that year's term (probe4: both were answered for 2026).
    for asked in ("mva for 2025", "hva skylder vi i mva i fjor?"):
        [reply] = await chat.say(asked)
        assert reply.text.startswith("Mva for 2025 (årstermin, 01.01.2025 – 31.12.2025)"), asked


def test_the_term_a_report_opens_on() -> None:
    """ADR 0064 addendum 2: the ended term while its return is due, then the current one;
    an ended term before the registration has no return and is not the one shown."""
    new_year = dt.date(2027, 1, 1)
    assert vat_term_to_show(new_year) == vat_term(2026, 6)
    assert vat_term_to_show(dt.date(2027, 2, 10)) == vat_term(2026, 6)
    assert vat_term_to_show(dt.date(2027, 2, 11)) == vat_term(2027, 1)
    assert vat_term_to_show(new_year, "yearly") == vat_year(2026)
    assert vat_term_to_show(dt.date(2027, 3, 11), "yearly") == vat_year(2027)
    registered = dt.date(2027, 3, 15)
    assert vat_term_to_show(dt.date(2027, 3, 20), registered_from=registered) == vat_term(2027, 2)
