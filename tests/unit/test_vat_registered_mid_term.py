"""A company registered for VAT in the middle of a year (ADR 0064, addendum): no return for
a term that ended before its registration took effect — the morning check's next deadline,
the VAT report and the chat say so, instead of naming a return that does not exist."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import msgspec

from bookkeeper.application.morning import next_vat_due
from bookkeeper.domain.review import ReviewRules
from tests.unit.conftest import FixedClock
from tests.unit.test_morning_cron import morning_check
from tests.unit.test_yearly_vat_term import ACCOUNTANT, _ledger_with_sales

#: Registered in the register from 15 March 2027: term 2 (March–April) is its first.
MARCH_15 = dt.date(2027, 3, 15)


def test_no_deadline_for_a_term_that_ended_before_the_registration() -> None:
    # On 2 April term 1's return (due 10 April) would be next; the company has none.
    assert next_vat_due(dt.date(2027, 4, 2)) == dt.date(2027, 4, 12)  # 10 April: a Saturday
    assert next_vat_due(dt.date(2027, 4, 2), registered_from=MARCH_15) == dt.date(2027, 6, 10)
    # Registered from the first day of a term: the term before has no return either.
    march_1 = dt.date(2027, 3, 1)
    assert next_vat_due(dt.date(2027, 3, 5), registered_from=march_1) == dt.date(2027, 6, 10)
    # Registered on the last day of term 1: term 1's return is due.
    feb_28 = dt.date(2027, 2, 28)
    assert next_vat_due(dt.date(2027, 3, 5), registered_from=feb_28) == dt.date(2027, 4, 12)
    # A registration yet to take effect: its first term's return.
    july = dt.date(2027, 7, 1)
    assert next_vat_due(dt.date(2027, 4, 2), registered_from=july) == dt.date(2027, 10, 11)
    # The yearly term: registered during 2026, the 2026 return is due; from 2027, it is not.
    sept = dt.date(2026, 9, 1)
    feb_20 = dt.date(2027, 2, 20)
    assert next_vat_due(feb_20, length="yearly", registered_from=sept) == dt.date(2027, 3, 10)
    jan = dt.date(2027, 1, 1)
    assert next_vat_due(feb_20, length="yearly", registered_from=jan) == dt.date(2028, 3, 10)


def test_the_registration_day_is_kept_with_the_rules_and_optional() -> None:
    assert ReviewRules().vat_registered_from is None
    rules = msgspec.json.decode(b'{"vatRegisteredFrom": "2027-03-15"}', type=ReviewRules)
    assert rules.vat_registered_from == MARCH_15
    assert b'"vatRegisteredFrom":"2027-03-15"' in msgspec.json.encode(rules)


async def test_the_morning_check_names_the_first_return_after_the_registration() -> None:
    clock = FixedClock(dt.datetime(2027, 4, 2, 6, 0, tzinfo=dt.UTC))
    morning, uow = morning_check(clock)
    async with uow() as unit:
        rules = ReviewRules(vat_registered_from=MARCH_15)
        await unit.settings.save_review_rules("acme", rules, clock.now())
        await unit.commit()
    summaries = {o.tenant_id: o.summary or "" for o in await morning.run()}
    assert "Neste mva-frist: 10.06.2027" in summaries["acme"]
    assert "Neste mva-frist: 12.04.2027" in summaries["beta"]


async def test_the_vat_report_of_a_term_before_the_registration_has_no_return() -> None:
    harness, ledger = await _ledger_with_sales()  # sales on 3 Feb and 2 Nov 2026
    async with harness.uow_factory() as uow:
        rules = ReviewRules(vat_registered_from=dt.date(2026, 3, 1))
        await uow.settings.save_review_rules("acme", rules, harness.clock.now())
        await uow.commit()
    before = await ledger.vat_report(ACCOUNTANT, 2026, 1)
    assert (before.vat_registered, before.registered_from) == (False, dt.date(2026, 3, 1))
    assert (before.payable, before.lines) == (D(0), [])
    assert [line.vat_code for line in before.not_in_return] == ["3"]  # shown, not counted
    after = await ledger.vat_report(ACCOUNTANT, 2026, 6)
    assert (after.vat_registered, after.output_vat) == (True, D("250.00"))


async def test_the_chat_answers_no_return_before_the_registration() -> None:
    from tests.unit.test_conversation_vat import SO_FAR_NB, TERM_5_NB, vat_chat

    chat = await vat_chat()  # on 20 November 2026; term 5's return is due 10 December
    [reply] = await chat.say("hvor mye mva skal vi betale?")
    assert reply.text == f"{TERM_5_NB}\n{SO_FAR_NB}"
    async with chat.harness.uow_factory() as uow:
        rules = ReviewRules(vat_registered_from=dt.date(2026, 11, 1))
        await uow.settings.save_review_rules("acme", rules, chat.harness.clock.now())
        await uow.commit()
    [reply] = await chat.say("hvor mye mva skal vi betale?")
    # Term 5 ended before the registration: no return, only the current term answered.
    assert reply.text.startswith("Mva for termin 6 2026 (01.11.2026 – 31.12.2026)")
    assert "termin 5" not in reply.text
    [reply] = await chat.say("mva for termin 5")
    assert reply.text == (
        "Selskapet er mva-registrert fra 01.11.2026: det leverer ingen mva-melding for en "
        "termin som sluttet før det."
    )
