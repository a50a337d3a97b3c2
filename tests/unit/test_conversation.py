"""ConversationService and PatternLearner on the memory Harness, with an in-test extractor
double (a scripted Extraction) and a bank/books double that answers the lookups."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.memory_conversations import MemoryConversationStore
from bookkeeper.application import messages
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.conversation import (
    RETENTION,
    ConversationService,
    intent_of,
)
from bookkeeper.application.lookups import Lookups
from bookkeeper.application.pattern_learning import PatternLearner
from bookkeeper.application.pipeline import DocumentPipeline
from bookkeeper.application.ports import (
    BankAccount,
    BankTransaction,
    Extraction,
    IntentClassifier,
    Purchase,
)
from bookkeeper.application.spending import OSLO
from bookkeeper.domain.events import APPROVAL_TYPES, Corrections, PatternSuggestionData, Status
from tests.unit.external_doubles import PDF, Harness, agent, invoice, principal, reviewer
from tests.unit.pipeline_doubles import ExtractorDouble

DAY = dt.date(2026, 11, 20)
CHANNEL = "discord:123"


class Bank:
    """A bank that lists accounts and events (what the pipeline and the lookups read)."""

    name = "test-bank"

    def __init__(self) -> None:
        self.listed = [
            BankTransaction(
                id="tx-9",
                event_id="ev-9",
                date=DAY,
                description="RIMI MAJORSTUEN",
                amount=Decimal("-1234.50"),
                currency="NOK",
                merchant_name="Rimi",
            )
        ]

    async def accounts(self) -> list[BankAccount]:
        return [
            BankAccount(
                account_number="12345678903",
                name="Driftskonto",
                type="operating",
                balance=Decimal("15234.50"),
            )
        ]

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return [t for t in self.listed if start <= t.date <= end]

    async def transactions(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return await self.events(start, end)


class Books:
    name = "test-books"

    async def purchases(self, start: dt.date, end: dt.date, kind: str | None = None) -> list[Any]:
        return [
            Purchase(
                id="p-1",
                kind="supplier",
                date=DAY,
                identifier="F-1001",
                gross=Decimal("1250"),
                currency="NOK",
                paid=False,
                deleted=False,
            ),
            # An expense as Fiken lists it: no number, only Fiken's id and its text.
            Purchase(
                id="100052",
                kind="cash_purchase",
                date=DAY,
                identifier=None,
                gross=Decimal("89.90"),
                currency="NOK",
                paid=True,
                deleted=False,
                description="Clas Ohlson",
            ),
        ]


def extraction(merchant: str = "Kaffebrenneriet AS", **changes: Any) -> Extraction:
    fields: dict[str, Any] = {
        "extractor": "double",
        "document_type": "receipt",
        "merchant_name": merchant,
        "date": DAY,
        "currency": "NOK",
        "gross": Decimal("1234.50"),
        "vat_amount": Decimal("161.02"),
        "vat_rate": Decimal("15"),
        "confidence": Decimal("0.9"),
    }
    fields.update(changes)
    return Extraction(**fields)


def conversation_service(
    h: Harness,
    extractor: ExtractorDouble,
    bank: Bank,
    store: MemoryConversationStore,
    classifier: IntentClassifier | None = None,
) -> ConversationService:
    """The ConversationService on the Harness, with its pipeline and lookups reading the
    given extractor and bank (and a Books double)."""
    authorizer = RoleAuthorizer()
    pipeline = DocumentPipeline(
        h.documents,
        extractor,
        lambda tenant: bank,  # type: ignore[arg-type,return-value]
        h.handlers,
        h.uow_factory,
        h.clock,
        h.ids,
        authorizer,
    )
    lookups = Lookups(
        h.uow_factory,
        h.clock,
        h.ids,
        authorizer,
        lambda tenant: Books(),  # type: ignore[arg-type,return-value]
        lambda tenant: bank,  # type: ignore[arg-type,return-value]
    )
    return ConversationService(
        pipeline,
        lookups,
        store,
        h.uow_factory,
        h.clock,
        h.ids,
        authorizer,
        classifier=classifier,
    )


class Chat:
    def __init__(self, extracted: Extraction | None = None) -> None:
        self.harness = h = Harness()
        self.extractor = ExtractorDouble(extracted or extraction())
        self.bank = Bank()
        self.store = MemoryConversationStore()
        self.learner = PatternLearner(h.uow_factory, h.handlers)
        h.dispatcher.subscribe(self.learner)
        self.service = conversation_service(h, self.extractor, self.bank, self.store)
        self.user = principal("ola", "agent")

    async def say(self, text: str, *files: bytes) -> list[Any]:
        attachments = [(content, None, f"doc{i}.pdf") for i, content in enumerate(files)]
        return await self.service.handle(self.user, CHANNEL, text, attachments)

    async def events(self, type_: str) -> list[Any]:
        return [e for e in await self.harness.all_events() if e.type == type_]

    async def learn(self, merchant: str, account: str) -> None:
        suggested = await self.harness.handlers.submit(
            SubmitEvent(
                type="PatternSuggested",
                data=PatternSuggestionData(
                    merchant=merchant, account_code=account, vat_rate=Decimal("15")
                ),
                principal=agent(),
            )
        )
        await self.harness.approve(suggested.stream_id)


# --- documents ----------------------------------------------------------------------------


async def test_an_attachment_is_proposed_and_the_reply_says_what_in_norwegian() -> None:
    chat = Chat(extraction("Rimi"))
    [reply] = await chat.say("", PDF)

    assert reply.proposal_id is not None and reply.status == "PROPOSED"
    assert "Kvittering fra Rimi: 1 234,50 kr, konto 5990, mva 15 %." in reply.text
    assert "Funnet i banken: Rimi 20.11.2026 (-1 234,50 kr)." in reply.text
    # With its main reasons, and the decimal comma the Norwegian page writes ("0,95").
    assert reply.confidence is not None and "." in str(reply.confidence)
    assert f"Sikkerhet {str(reply.confidence).replace('.', ',')}: " in reply.text
    assert "Venter på godkjenning." in reply.text
    assert reply.outcome == "awaiting_review" and reply.confidence is not None
    [proposed] = await chat.events("ReceiptAttachmentProposed")
    assert proposed.actor == "human:ola" and proposed.stream_id == reply.proposal_id
    inbound, outbound = chat.store.messages
    assert (inbound.direction, inbound.user, inbound.text) == ("in", "human:ola", "[doc0.pdf]")
    assert (outbound.direction, outbound.proposal_id) == ("out", reply.proposal_id)


async def test_a_known_merchant_is_auto_approved_and_the_reply_says_so() -> None:
    chat = Chat(extraction("Rimi"))
    await chat.learn("Rimi", "5990")
    [reply] = await chat.say("Her er kvitteringen", PDF)

    assert reply.outcome == "auto_approved" and reply.status == "APPROVED"
    assert "Godkjent automatisk" in reply.text


@pytest.mark.parametrize(
    "caption",
    [
        "Privat kjøp, ikke bokfør denne!",
        "dette var feil kort, beklager",
        "allerede sendt inn forrige uke",
        "personal purchase, don't book it",
        "returned it, refunded",
    ],
)
async def test_a_caption_against_booking_the_document_keeps_it_from_automatic_approval(
    caption: str,
) -> None:
    # A known merchant's receipt sent with "privat, ikke bokfør" was approved and attached
    # at once: the caption was neither read nor kept, so no person ever saw it.
    chat = Chat(extraction("Rimi"))
    await chat.learn("Rimi", "5990")
    [reply] = await chat.say(caption, PDF)

    assert reply.outcome == "awaiting_review" and reply.status == "PROPOSED"
    [proposed] = await chat.events("ReceiptAttachmentProposed")
    assert proposed.metadata["review"]["rule"] == "sender-reservation"
    assert proposed.metadata["source"]["caption"] == caption
    said = f'the sender wrote with the document: "{caption}"'
    assert said in proposed.metadata["warnings"]
    assert "skrev med dokumentet: «" in reply.text or said in reply.text
    assert await chat.events("ReceiptAttachmentApproved") == []


async def test_a_plain_caption_is_kept_for_the_reviewer_and_approves_as_before() -> None:
    chat = Chat(extraction("Rimi"))
    await chat.learn("Rimi", "5990")
    [reply] = await chat.say("Lunsj med kunden  Hansen 🙂", PDF)
    assert reply.outcome == "auto_approved"
    [proposed] = await chat.events("ReceiptAttachmentProposed")
    assert proposed.metadata["source"]["caption"] == "Lunsj med kunden Hansen 🙂"
    assert "warnings" not in proposed.metadata


def test_a_score_is_written_with_the_languages_decimal_mark() -> None:
    assert messages.score(Decimal("0.92"), "nb") == "0,92"
    assert messages.score(Decimal("0.92"), "en") == "0.92"
    assert messages.score(Decimal("0.925"), "nb") == "0,93"  # rounded half up
    assert messages.score(Decimal("1"), "en") == "1.00"
    assert messages.score(None, "nb") == "?"


async def test_english_in_english_out() -> None:
    chat = Chat()
    [reply] = await chat.say("Here is my receipt", PDF)
    assert "Expense from Kaffebrenneriet AS: 1 234,50 kr, account 5990, VAT 15 %." in reply.text
    assert f"Confidence {reply.confidence}: " in reply.text and "Awaiting review." in reply.text
    [help_reply] = await chat.say("what can you do?")
    assert "Send a receipt" in help_reply.text


async def test_a_document_without_an_amount_is_proposed_in_review_and_the_reply_says_why() -> None:
    # Issue 13: no "nothing was proposed"; the reply says, in the user's language, what was
    # not read and that it must be corrected before approval.
    chat = Chat(extraction(gross=None))
    [reply] = await chat.say("", PDF)
    assert reply.proposal_id is not None and reply.status == "PROPOSED"
    assert "beløpet kunne ikke leses" in reply.text
    assert "no amount could be read" not in reply.text
    [english] = await Chat(extraction(gross=None)).say("Here is my receipt", PDF)
    assert "no amount could be read" in english.text


async def test_confidence_reasons_and_warnings_are_in_norwegian_by_default() -> None:
    chat = Chat(extraction("Rimi"))
    [reply] = await chat.say("", PDF)
    reasons = reply.text.split("Sikkerhet", 1)[1].split("\n", 1)[0]
    for english in ("no approved pattern", "matches", "required fields", "usual range"):
        assert english not in reasons, reasons
    [english_reply] = await Chat(extraction("Rimi")).say("Here is my receipt", PDF)
    assert "matches 15 % of" in english_reply.text


# --- questions ----------------------------------------------------------------------------


async def test_balance_question_is_answered_and_recorded_with_the_users_actor() -> None:
    chat = Chat()
    [reply] = await chat.say("Hva er saldoen?")
    assert "Driftskonto (12345678903): 15 234,50 kr" in reply.text
    [event] = await chat.events("BalanceQueried")
    assert event.actor == "human:ola" and event.id == reply.event_id
    assert event.metadata["source"] == "chat"


async def test_missing_receipts_in_english() -> None:
    chat = Chat()
    [reply] = await chat.say("Which transactions are missing receipts?")
    assert "1 transaction(s) missing a receipt" in reply.text
    assert "Rimi: -1 234,50 kr" in reply.text
    [event] = await chat.events("MissingReceiptsChecked")
    assert event.actor == "human:ola" and event.data.count == 1


async def test_supplier_invoices_and_help() -> None:
    chat = Chat()
    [reply] = await chat.say("vis leverandørfakturaer")
    assert "F-1001: 1 250,00 kr (ubetalt)" in reply.text
    # Named as a person knows it, not by Fiken's id (an outside walk saw "100052").
    assert "Clas Ohlson: 89,90 kr (betalt)" in reply.text
    assert "100052" not in reply.text
    assert len(await chat.events("PurchasesQueried")) == 1
    [help_reply] = await chat.say("hei")
    assert "Send en kvittering" in help_reply.text


def test_intents_and_language() -> None:
    assert intent_of("Hva er saldoen?") == "balance"
    assert intent_of("what is the balance") == "balance"
    assert intent_of("hva mangler kvittering") == "missing_receipts"
    assert intent_of("Any missing receipts?") == "missing_receipts"
    assert intent_of("hvilke fakturaer har vi") == "supplier_invoices"
    assert intent_of("hei") is None
    assert messages.detect_language("What is the balance?") == "en"
    assert messages.detect_language("Hva er saldoen?") == "nb"
    assert messages.detect_language("1234") == "nb"
    assert messages.kroner(Decimal("1234.5")) == "1 234,50 kr"
    assert messages.kroner(Decimal("-1234567.891")) == "-1 234 567,89 kr"
    assert messages.percent(Decimal("12.0")) == "12 %"


# --- updates ------------------------------------------------------------------------------


async def test_updates_after_approve_and_execute() -> None:
    chat = Chat()
    [reply] = await chat.say("", PDF)
    assert await chat.service.updates(chat.user, CHANNEL) == []

    await chat.harness.approve(reply.proposal_id)
    [approved] = await chat.service.updates(chat.user, CHANNEL)
    assert "godkjent av kari" in approved.text and approved.status == "APPROVED"
    assert await chat.service.updates(chat.user, CHANNEL) == []  # told once

    await chat.harness.executor.run_once()
    [executed] = await chat.service.updates(chat.user, CHANNEL)
    assert executed.status == "EXECUTED" and "er bokført. (5990, 15 %)" in executed.text


async def test_updates_after_reject_ask_back_in_the_users_language() -> None:
    chat = Chat()
    [reply] = await chat.say("Here is my receipt", PDF)
    await chat.harness.handlers.reject(
        RejectProposal(principal=reviewer(), proposal_id=reply.proposal_id, reason="privat kjøp")
    )
    [rejected] = await chat.service.updates(chat.user, CHANNEL)
    assert 'was rejected by kari: "privat kjøp"' in rejected.text
    assert "Can you clarify" in rejected.text
    other = await chat.service.updates(principal("ola", "agent"), "another-channel")
    assert other == []


async def test_a_document_sent_again_after_its_rejection_says_why_it_was_rejected() -> None:
    chat = Chat()
    [first] = await chat.say("", PDF)
    await chat.harness.handlers.reject(
        RejectProposal(principal=reviewer(), proposal_id=first.proposal_id, reason="privat kjøp")
    )
    [again] = await chat.say("", PDF)
    assert f"Dette dokumentet er sendt før (forslag {first.proposal_id})." in again.text
    assert "Status: avvist." in again.text
    assert "Begrunnelse: privat kjøp" in again.text


async def test_purge_forgets_messages_older_than_30_days() -> None:
    chat = Chat()
    await chat.say("hei")
    assert len(chat.store.messages) == 2
    now = chat.harness.clock.now()
    assert await chat.service.purge(now + RETENTION - dt.timedelta(seconds=1)) == 0
    assert await chat.service.purge(now + RETENTION + dt.timedelta(seconds=1)) == 2
    assert chat.store.messages == []


# --- pattern learning ---------------------------------------------------------------------


async def test_approval_with_corrections_suggests_a_pattern_once() -> None:
    chat = Chat()
    [first] = await chat.say("", PDF)
    await chat.harness.handlers.approve(
        ApproveProposal(
            principal=reviewer(),
            proposal_id=first.proposal_id,
            corrections=Corrections(account_code="6810"),
        )
    )
    [suggested] = await chat.events("PatternSuggested")
    assert suggested.actor == "book-e"
    assert suggested.data.merchant == "Kaffebrenneriet AS"
    assert suggested.data.account_code == "6810" and suggested.data.vat_rate == Decimal("15")
    assert suggested.data.reason == "approved by human:kari"
    assert suggested.data.source_proposal_id == str(first.proposal_id)

    # A second document of the merchant, approved while the suggestion is pending: no more.
    chat.extractor.extraction = extraction(document_number="R-2", gross=Decimal("99"))
    [second] = await chat.say("", PDF + b"\n% 2")
    await chat.harness.approve(second.proposal_id)
    assert len(await chat.events("PatternSuggested")) == 1
    # The hook running again for the same approval is idempotent too.
    assert await chat.learner.after_approval("acme", first.proposal_id) is None


async def test_no_suggestion_for_auto_approved_or_patterned_merchants() -> None:
    chat = Chat(extraction("Rimi"))
    await chat.learn("Rimi", "5990")
    [reply] = await chat.say("", PDF)
    assert reply.status == "APPROVED"
    assert await chat.learner.after_approval("acme", reply.proposal_id) is None
    suggestions = await chat.events("PatternSuggested")
    assert len(suggestions) == 1  # only the one learn() made


@pytest.mark.parametrize("status", [Status.REJECTED])
async def test_no_suggestion_from_a_rejection(status: Status) -> None:
    chat = Chat()
    [reply] = await chat.say("", PDF)
    await chat.harness.reject(reply.proposal_id)
    assert await chat.learner.after_approval("acme", reply.proposal_id) is None
    assert await chat.events("PatternSuggested") == []
    assert uuid.UUID(str(reply.proposal_id))


async def test_an_approval_wakes_the_executor_and_still_learns() -> None:
    chat = Chat()
    woken: list[int] = []
    chat.harness.dispatcher.on(APPROVAL_TYPES, lambda _event: woken.append(1))
    [reply] = await chat.say("", PDF)
    await chat.harness.approve(reply.proposal_id)
    assert woken == [1]
    assert len(await chat.events("PatternSuggested")) == 1


async def test_a_failed_execution_is_told_in_words_of_our_own_not_the_raw_answer() -> None:
    chat = Chat()
    [reply] = await chat.say("", PDF)
    await chat.harness.approve(reply.proposal_id)
    await chat.service.updates(chat.user, CHANNEL)  # told: approved
    chat.harness.world.faults.fail_next(retryable=False)
    await chat.harness.executor.run_once()
    [failed] = await chat.service.updates(chat.user, CHANNEL)
    assert failed.status == "FAILED"
    assert "kunne ikke utføres: double avviste utlegget (feilkode 400)." in failed.text
    assert "rejected" not in failed.text  # the double's own words stay in the event
    [event] = await chat.events("ExpenseRegistrationFailed")
    assert "400 rejected" in event.data.error


async def test_a_failed_attempt_is_told_once_with_when_it_is_tried_again() -> None:
    chat = Chat()
    [reply] = await chat.say("", PDF)
    await chat.harness.approve(reply.proposal_id)
    await chat.service.updates(chat.user, CHANNEL)  # told: approved
    chat.harness.world.faults.fail_next(retryable=True)
    await chat.harness.executor.run_once()
    async with chat.harness.uow_factory() as uow:
        view = await uow.proposals.get("acme", reply.proposal_id)
    assert view is not None and view.next_attempt_at is not None
    at = view.next_attempt_at.astimezone(OSLO).strftime("%H:%M")
    [retrying] = await chat.service.updates(chat.user, CHANNEL)
    assert retrying.text == (
        "Utlegg fra Kaffebrenneriet AS (1 234,50 kr) er godkjent, men ikke utført ennå: "
        f"double svarte ikke — prøver igjen kl. {at}."
    )
    assert "503" not in retrying.text
    assert await chat.service.updates(chat.user, CHANNEL) == []  # told once
    chat.harness.clock.advance(hours=2)
    await chat.harness.executor.run_once()
    [executed] = await chat.service.updates(chat.user, CHANNEL)
    assert executed.status == "EXECUTED"


def test_every_question_the_help_suggests_is_one_the_chat_answers() -> None:
    import re

    from bookkeeper.application import messages
    from bookkeeper.application.conversation import intent_of

    help_text = messages.TEXTS["help"]
    suggested = re.findall(r"«([^»]+)»", help_text["nb"]) + re.findall(
        r'"([^"]+)"', help_text["en"]
    )
    assert len(suggested) >= 12
    assert [s for s in suggested if intent_of(s) is None] == []


async def test_a_credit_note_beyond_its_invoice_is_said_once_in_the_reply() -> None:
    """The chat said only "Venter på godkjenning." of a credit note for more than its
    invoice: the warning naming both amounts is the reply's, once."""
    chat = Chat(
        extraction(
            "Telenor Norge AS",
            document_type="invoice",
            organization_number="976967631",
            document_number="K-1",
            gross=Decimal("99999.00"),
            vat_amount=Decimal("19999.80"),
            vat_rate=Decimal("25"),
            credit_note=True,
            credited_invoice="10012",
        )
    )
    await chat.harness.propose(invoice(invoice_number="10012", amount=Decimal("12345.60")))
    [reply] = await chat.say("", PDF)
    assert reply.status == "PROPOSED", reply.text
    [proposed] = [
        e
        for e in await chat.events("InvoiceRegistrationProposed")
        if e.stream_id == reply.proposal_id
    ]
    assert proposed.metadata["review"]["rule"] == "credit-beyond-invoice"
    said = "kreditnotaene på fakturaen blir 99 999,00 kr med denne, mer enn fakturaens 12 345,60 kr"
    assert reply.text.count(said) == 1, reply.text
