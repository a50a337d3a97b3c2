"""What became of a document sent in, asked in the chat ("er kvitteringen fra Adobe
godkjent?", "hva venter på godkjenning", "is the Adobe receipt approved?"): answered from
the proposals, newest first, by the merchant the question names, and recorded as
LedgerQueried (question "proposals"). A walk found these answered "Det kan jeg ikke svare
på" (no intent knew them), and "status på adobe-fakturaen" with the supplier invoices."""

from __future__ import annotations

import uuid

import pytest

from bookkeeper.application.commands import RejectProposal
from bookkeeper.application.conversation import intent_of
from bookkeeper.domain.events import LedgerQueriedData
from tests.unit.external_doubles import PDF, reviewer
from tests.unit.test_conversation import Chat, extraction


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("er kvitteringen fra Adobe godkjent?", "proposal_status"),
        ("status på kvitteringen fra adobe", "proposal_status"),
        ("hva er status på adobe-fakturaen", "proposal_status"),
        ("har adobe-kvitteringen blitt bokført", "proposal_status"),
        ("is the adobe receipt approved", "proposal_status"),
        ("hva venter på godkjenning", "proposal_status"),
        ("pending approvals", "proposal_status"),
        ("hvilke kvitteringer er avvist?", "proposal_status"),
        # The others keep theirs.
        ("hvilke fakturaer er ubetalt", "supplier_invoices"),
        ("leverandørfakturaer", "supplier_invoices"),
        ("hva mangler kvittering", "missing_receipts"),
        ("kan du godkjenne kvitteringen fra Adobe?", None),  # an order, told so
    ],
)
def test_status_questions_are_read_as_such(text: str, intent: str | None) -> None:
    assert intent_of(text) == intent


async def two_documents() -> tuple[Chat, uuid.UUID, uuid.UUID]:
    """Adobe's receipt approved by Kari, Rimi's awaiting approval."""
    chat = Chat(extraction("Adobe Systems Software Ireland Ltd"))
    [adobe] = await chat.say("", PDF)
    chat.extractor.extraction = extraction("Rimi")
    [rimi] = await chat.say("", PDF + b" ")
    await chat.harness.approve(adobe.proposal_id)
    return chat, adobe.proposal_id, rimi.proposal_id


async def test_is_the_receipt_from_adobe_approved_names_adobes_status_only() -> None:
    chat, _, _ = await two_documents()
    [reply] = await chat.say("er kvitteringen fra Adobe godkjent?")
    assert reply.text.splitlines() == [
        "Dokumenter (1):",
        "  Utlegg fra Adobe Systems Software Ireland Ltd (1 234,50 kr): "
        "godkjent av kari, ikke bokført ennå",
    ]
    [event] = await chat.events("LedgerQueried")
    assert event.id == reply.event_id and event.actor == "human:ola"
    assert event.data == LedgerQueriedData(question="proposals", count=1)

    await chat.harness.executor.run_once()
    [english] = await chat.say("is the adobe receipt booked yet?")
    assert english.text.splitlines()[1].endswith("approved by kari and booked")


async def test_what_waits_for_approval_is_the_pending_documents() -> None:
    chat, _, rimi = await two_documents()
    [reply] = await chat.say("hva venter på godkjenning")
    assert reply.text.splitlines() == [
        "Dokumenter (1):",
        "  Kvittering fra Rimi (1 234,50 kr): venter på godkjenning",
    ]
    await chat.harness.handlers.reject(
        RejectProposal(principal=reviewer(), proposal_id=rimi, reason="privat kjøp")
    )
    [none] = await chat.say("hva venter på godkjenning?")
    assert none.text == "Ingen dokumenter venter på godkjenning."
    [rejected] = await chat.say("hvilke kvitteringer er avvist?")
    assert rejected.text.splitlines()[1:] == [
        "  Kvittering fra Rimi (1 234,50 kr): avvist av kari: «privat kjøp»"
    ]


async def test_a_merchant_with_no_document_is_said_so() -> None:
    chat, _, _ = await two_documents()
    [reply] = await chat.say("er fakturaen fra Elkjøp godkjent?")
    assert reply.text == "Jeg finner ingen kvittering eller faktura fra «elkjøp» blant de siste."


async def test_is_the_voucher_from_adobe_booked_is_a_status_question() -> None:
    """«er bilaget fra Adobe bokført?» listed the latest journal entries ("bilaget")."""
    assert intent_of("er bilaget fra Adobe bokført?") == "proposal_status"
    assert intent_of("vis de siste 5 bilagene") == "journal"


@pytest.mark.parametrize(
    "text",
    [
        "hvem godkjente kvitteringen fra Adobe?",
        "hva skjedde med kvitteringen fra adobe",
        "what happened to my receipt?",
        "har du fått kvitteringen?",
        "did you get my receipt",
        "er kvitteringa frå Adobe godkjend?",  # Nynorsk
        "hvorfor ble kvitteringen avvist?",
    ],
)
def test_what_became_of_it_asked_with_verbs(text: str) -> None:
    assert intent_of(text) == "proposal_status"


async def test_why_was_the_receipt_rejected_names_the_reason() -> None:
    chat, _, rimi = await two_documents()
    await chat.harness.handlers.reject(
        RejectProposal(principal=reviewer(), proposal_id=rimi, reason="privat kjøp")
    )
    [why] = await chat.say("hvorfor ble kvitteringen avvist?")
    assert "Kvittering fra Rimi (1 234,50 kr): avvist av kari: «privat kjøp»" in why.text
    [what] = await chat.say("what happened to my receipt?")
    assert what.text.splitlines()[1:] == [
        '  Receipt from Rimi (1 234,50 kr): rejected by kari: "privat kjøp"',
        "  Expense from Adobe Systems Software Ireland Ltd (1 234,50 kr): "
        "approved by kari, not yet booked",
    ]
