"""VAT questions in the conversation, Norwegian and English ("hvor mye mva skal vi betale",
"mva for termin 5", "what VAT do we owe"): answered from the ledger's VAT report of the
named term, or, when none is named, of the term whose return is due next and the current
term so far (what each return pays or refunds, and when it is due), recorded as VatQueried
with the asker as actor. They used to get the help text, and then the current term alone,
which on 20 November is not what is paid on 10 December."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.memory_conversations import MemoryConversationStore
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application import messages as m
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.conversation import ConversationService, intent_of, vat_terms_asked
from bookkeeper.application.ledger import LedgerService
from bookkeeper.domain.events import VatQueriedData
from bookkeeper.domain.ledger import vat_term_due_next
from tests.unit.conftest import credit, debit, principal
from tests.unit.test_conversation import Chat

D = Decimal
TODAY = dt.date(2026, 11, 20)  # the harness clock: term 6 of 2026
ACCOUNTANT = principal("anna", "accountant")


async def vat_chat() -> Chat:
    """A chat over books with a sale and a purchase in term 6 and a purchase in term 5."""
    chat = Chat()
    h = chat.harness
    ledger = LedgerService(h.uow_factory, h.clock, UuidV7Ids(), RoleAuthorizer())
    await ledger.post_manual(
        ACCOUNTANT,
        dt.date(2026, 11, 2),
        "Salg",
        [
            debit("1500", "1250.00"),
            credit("3000", "1000.00", vat_code="3", vat_part="base"),
            credit("2700", "250.00", vat_code="3", vat_part="tax"),
        ],
    )
    for day in (dt.date(2026, 11, 3), dt.date(2026, 10, 15)):
        await ledger.post_manual(
            ACCOUNTANT,
            day,
            "Adobe",
            [
                debit("6540", "159.20", vat_code="1", vat_part="base"),
                debit("2710", "39.80", vat_code="1", vat_part="tax"),
                credit("1920", "199.00"),
            ],
        )
    old = chat.service
    chat.service = ConversationService(
        old._pipeline,
        old._lookups,
        MemoryConversationStore(),
        h.uow_factory,
        h.clock,
        h.ids,
        RoleAuthorizer(),
        ledger=ledger,
    )
    return chat


SO_FAR_NB = (
    "Hittil i termin 6 2026 (01.11.2026 – 31.12.2026): å betale 210,20 kr "
    "(utgående mva 250,00 kr, inngående mva 39,80 kr).\nFristen er 10.02.2027."
)
TERM_5_NB = (
    "Mva for termin 5 2026 (01.09.2026 – 31.10.2026): til gode 39,80 kr "
    "(utgående mva 0,00 kr, inngående mva 39,80 kr).\nFristen er 10.12.2026."
)
SO_FAR_EN = (
    "So far in term 6 2026 (01.11.2026 – 31.12.2026): to pay 210,20 kr "
    "(output VAT 250,00 kr, input VAT 39,80 kr).\nDue 10.02.2027."
)
TERM_5_EN = (
    "VAT for term 5 2026 (01.09.2026 – 31.10.2026): to get back 39,80 kr "
    "(output VAT 0,00 kr, input VAT 39,80 kr).\nDue 10.12.2026."
)
DUE_AND_SO_FAR_NB = f"{TERM_5_NB}\n{SO_FAR_NB}"
DUE_AND_SO_FAR_EN = f"{TERM_5_EN}\n{SO_FAR_EN}"


@pytest.mark.parametrize(
    ("question", "expected", "language"),
    [
        ("hvor mye mva skal vi betale?", DUE_AND_SO_FAR_NB, "nb"),
        ("Hvor mye er skyldig mva nå", DUE_AND_SO_FAR_NB, "nb"),
        ("mva-oppgjør", DUE_AND_SO_FAR_NB, "nb"),
        ("Hva blir momsen denne terminen?", DUE_AND_SO_FAR_NB, "nb"),
        ("mva for termin 5", TERM_5_NB, "nb"),
        ("hva skal vi betale i merverdiavgift for 5. termin 2026?", TERM_5_NB, "nb"),
        ("mva forrige termin", TERM_5_NB, "nb"),
        ("what VAT do we owe?", DUE_AND_SO_FAR_EN, "en"),
        ("How much VAT is due for term 5?", TERM_5_EN, "en"),
        ("what was the VAT last term", TERM_5_EN, "en"),
    ],
)
async def test_a_vat_question_is_answered_from_the_terms_vat_report(
    question: str, expected: str, language: str
) -> None:
    chat = await vat_chat()
    [reply] = await chat.say(question)
    assert (reply.text, reply.language) == (expected, language)
    events = await chat.events("VatQueried")
    # One event per term answered, one due date per term.
    assert len(events) == expected.count("Fristen er") + expected.count("Due ")
    assert events[0].id == reply.event_id
    for event in events:
        assert event.actor == "human:ola" and isinstance(event.data, VatQueriedData)
        assert event.metadata["source"] == "chat"


async def test_the_query_events_hold_each_terms_figures_and_due_date() -> None:
    chat = await vat_chat()
    await chat.say("hvor mye mva skal vi betale?")
    due, current = await chat.events("VatQueried")
    assert due.data == VatQueriedData(
        year=2026,
        term=5,
        output_vat=D("0.00"),
        input_vat=D("39.80"),
        payable=D("-39.80"),
        due=dt.date(2026, 12, 10),
    )
    assert current.data == VatQueriedData(
        year=2026,
        term=6,
        output_vat=D("250.00"),
        input_vat=D("39.80"),
        payable=D("210.20"),
        due=dt.date(2027, 2, 10),
    )
    assert current.parent_id == due.id and current.correlation_id == due.id


async def test_a_named_term_is_recorded_once() -> None:
    chat = await vat_chat()
    await chat.say("mva for termin 6")
    [event] = await chat.events("VatQueried")
    assert isinstance(event.data, VatQueriedData) and event.data.term == 6


async def test_a_term_that_does_not_exist_is_explained_and_not_recorded() -> None:
    chat = await vat_chat()
    [reply] = await chat.say("mva for termin 7")
    assert reply.text == "Mva-terminene er 1–6 (to måneder hver)."
    assert await chat.events("VatQueried") == []


async def test_without_permission_the_answer_is_forbidden_not_a_crash() -> None:
    chat = await vat_chat()
    chat.user = principal("nobody", "nobody")
    [reply] = await chat.say("what VAT do we owe?")
    assert reply.text == m.text("forbidden", m.ENGLISH)
    assert await chat.events("VatQueried") == []


@pytest.mark.parametrize(
    "text", ["private invoices", "elevator balance", "hva brukte vi på AI", "vis saldo"]
)
def test_vat_is_a_whole_word_and_the_other_questions_keep_theirs(text: str) -> None:
    assert intent_of(text) != "vat"


def _terms(text: str, today: dt.date) -> list[tuple[int, int]]:
    return [(t.year, t.term) for t in vat_terms_asked(text, today)]


def test_unnamed_the_terms_asked_are_the_one_due_next_and_the_current_one() -> None:
    assert _terms("hvor mye mva?", TODAY) == [(2026, 5), (2026, 6)]
    assert _terms("hvor mye mva?", dt.date(2026, 12, 6)) == [(2026, 5), (2026, 6)]
    assert _terms("hvor mye mva?", dt.date(2026, 12, 10)) == [(2026, 5), (2026, 6)]
    # Past term 5's due date only the current term is left to answer.
    assert _terms("hvor mye mva?", dt.date(2026, 12, 11)) == [(2026, 6)]
    # Term 6 is due in February of the next year; term 3 on 31 August.
    assert _terms("hvor mye mva?", dt.date(2027, 1, 5)) == [(2026, 6), (2027, 1)]
    assert _terms("hvor mye mva?", dt.date(2026, 8, 31)) == [(2026, 3), (2026, 4)]
    assert _terms("hvor mye mva?", dt.date(2026, 9, 1)) == [(2026, 4), (2026, 5)]


def test_a_named_term_is_the_only_term_asked() -> None:
    assert _terms("mva termin 2 2025", TODAY) == [(2025, 2)]
    assert _terms("mva forrige termin", dt.date(2027, 1, 5)) == [(2026, 6)]
    assert _terms("mva for termin 6", TODAY) == [(2026, 6)]


def test_a_year_named_without_a_term_is_that_years_terms() -> None:
    """probe4: "mva for 2025" and "hva skylder vi i mva i fjor?" were answered with this
    year's terms (the year counted only beside a term number)."""
    whole_2025 = [(2025, term) for term in range(1, 7)]
    assert _terms("mva for 2025", TODAY) == whole_2025
    assert _terms("hva skylder vi i mva i fjor?", TODAY) == whole_2025
    assert _terms("VAT last year", TODAY) == whole_2025
    assert _terms("mva termin 3 i fjor", TODAY) == [(2025, 3)]
    # This year: its terms so far.
    assert _terms("mva for 2026", TODAY) == [(2026, term) for term in range(1, 7)]
    assert _terms("mva for 2026", dt.date(2026, 3, 5)) == [(2026, 1), (2026, 2)]


def test_a_term_named_by_its_ordinal_is_that_term() -> None:
    """probe4: "mva for første termin" / "VAT for the first term" were answered with the
    terms due next and current (5 and 6)."""
    assert _terms("mva for første termin", TODAY) == [(2026, 1)]
    assert _terms("how much VAT for the third term of 2025?", TODAY) == [(2025, 3)]
    assert _terms("kva er mvaen for sjette termin i fjor", TODAY) == [(2025, 6)]
    assert _terms("VAT for the sixth term", TODAY) == [(2026, 6)]


def test_the_return_due_next() -> None:
    assert vat_term_due_next(dt.date(2026, 12, 6)).due == dt.date(2026, 12, 10)  # type: ignore[union-attr]
    assert vat_term_due_next(dt.date(2026, 12, 11)) is None


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("mva i mars", [(2026, 2)]),
        ("vat for march", [(2026, 2)]),
        ("momsen for juli", [(2026, 4)]),
        ("mva i mars i fjor", [(2025, 2)]),
        ("hvor mye mva for januar og februar", [(2026, 1)]),
        ("mva for q3", [(2026, 4), (2026, 5)]),
        ("mva for 15.10.2026", [(2026, 5)]),
        # A month to pay in is the term due that month (the nearest one).
        ("hvor mye mva skal vi betale i desember", [(2026, 5)]),
        ("what VAT is due in February", [(2026, 6)]),
        ("hvor mye mva betalte vi i oktober", [(2026, 4)]),
        # Unchanged: a term, a year, nothing named.
        ("mva for termin 5", [(2026, 5)]),
        ("hvor mye mva skal vi betale", [(2026, 5), (2026, 6)]),
    ],
)
def test_a_month_named_is_the_term_it_falls_in_or_is_paid_in(
    text: str, terms: list[tuple[int, int]]
) -> None:
    """«mva i mars» was answered with the term due next and the current one (terms 5 and
    6 on 20 November), not with March's term 2."""
    assert [(t.year, t.term) for t in vat_terms_asked(text, TODAY)] == terms


async def test_the_vat_of_october_is_term_5s() -> None:
    chat = await vat_chat()
    [reply] = await chat.say("hvor mye mva var det i oktober?")
    assert reply.text.splitlines()[0].startswith("Mva for termin 5 2026 (01.09.2026 – 31.10.2026)")
    assert "inngående mva 39,80 kr" in reply.text and "termin 6" not in reply.text
