"""VAT questions in the conversation, Norwegian and English ("hvor mye mva skal vi betale",
"mva for termin 5", "what VAT do we owe"): answered from the ledger's VAT report of the
current or named term (what the return pays or refunds, and when it is due), recorded as
VatQueried with the asker as actor. They used to get the help text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.memory_conversations import MemoryConversationStore
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application import messages as m
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.conversation import ConversationService, intent_of, vat_term_asked
from bookkeeper.application.ledger import LedgerService
from bookkeeper.domain.events import VatQueriedData
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


CURRENT_NB = (
    "Mva for termin 6 2026 (01.11.2026 – 31.12.2026): å betale 210,20 kr "
    "(utgående mva 250,00 kr, inngående mva 39,80 kr).\nFristen er 10.02.2027."
)
TERM_5_NB = (
    "Mva for termin 5 2026 (01.09.2026 – 31.10.2026): til gode 39,80 kr "
    "(utgående mva 0,00 kr, inngående mva 39,80 kr).\nFristen er 10.12.2026."
)
CURRENT_EN = (
    "VAT for term 6 2026 (01.11.2026 – 31.12.2026): to pay 210,20 kr "
    "(output VAT 250,00 kr, input VAT 39,80 kr).\nDue 10.02.2027."
)
TERM_5_EN = (
    "VAT for term 5 2026 (01.09.2026 – 31.10.2026): to get back 39,80 kr "
    "(output VAT 0,00 kr, input VAT 39,80 kr).\nDue 10.12.2026."
)


@pytest.mark.parametrize(
    ("question", "expected", "language"),
    [
        ("hvor mye mva skal vi betale?", CURRENT_NB, "nb"),
        ("Hvor mye er skyldig mva nå", CURRENT_NB, "nb"),
        ("mva-oppgjør", CURRENT_NB, "nb"),
        ("Hva blir momsen denne terminen?", CURRENT_NB, "nb"),
        ("mva for termin 5", TERM_5_NB, "nb"),
        ("hva skal vi betale i merverdiavgift for 5. termin 2026?", TERM_5_NB, "nb"),
        ("mva forrige termin", TERM_5_NB, "nb"),
        ("what VAT do we owe?", CURRENT_EN, "en"),
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
    [event] = await chat.events("VatQueried")
    assert event.actor == "human:ola" and event.id == reply.event_id
    assert isinstance(event.data, VatQueriedData)
    assert event.metadata["source"] == "chat"


async def test_the_query_event_holds_the_terms_figures_and_due_date() -> None:
    chat = await vat_chat()
    await chat.say("hvor mye mva skal vi betale?")
    [event] = await chat.events("VatQueried")
    assert event.data == VatQueriedData(
        year=2026,
        term=6,
        output_vat=D("250.00"),
        input_vat=D("39.80"),
        payable=D("210.20"),
        due=dt.date(2027, 2, 10),
    )


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


def test_the_term_asked_defaults_to_the_current_one() -> None:
    assert vat_term_asked("hvor mye mva?", TODAY).term == 6
    assert vat_term_asked("mva termin 2 2025", TODAY).start == dt.date(2025, 3, 1)
    assert vat_term_asked("mva forrige termin", dt.date(2027, 1, 5)).start == dt.date(2026, 11, 1)
