"""The product stories 1–4 (docs/product.md) end to end through the Discord handlers.

Offline, on the production container over embedded SQLite (a temporary data dir, the
sandbox bank and books, the offline extractor, the real clock): hikari-shaped message
events whose attachments the fetcher double serves (generated PDFs of tests/documents.py),
Mock(spec=hikari.…) button and modal interactions by mapped Discord users, and a REST double
recording the threads, messages and components the handler creates. Between steps the
executor runs and `post_updates()` tells each thread its news, as the bot's loop does.
Assertions are on what was posted AND on what was recorded (events, proposals, ledger,
sandbox Folio/Fiken objects), with the SQL helpers of test_stories.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hikari
import pytest

from bookkeeper.adapters.discord import DiscordHandler, custom_id, parse_users
from bookkeeper.adapters.discord.reviews import ReviewSubscriber
from bookkeeper.adapters.extraction import ocr
from bookkeeper.adapters.sandbox.seed import bank_seed
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.ports import Principal
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.domain.events import decode_payload
from bookkeeper.entrypoints.serve import REVIEWS_FOLLOW_SECONDS, follow_reviews, open_services
from tests.documents import ruter_ticket, telenor_invoice
from tests.fakes.discord import Rest, decided, interaction, refusal
from tests.http_helpers import pattern, sqlite_container
from tests.integration.test_stories import (
    ADOBE_VOEC,
    ELKJOP_ORG,
    TENANT,
    card_purchase,
    card_receipt,
    kr,
    postings,
    proposal,
    rows,
    stream,
)
from tests.polling import polls

INVOICES, REVIEW = 1001, 1002
KARI, OLA, PER = 11, 22, 44
CDN = "https://cdn.discordapp.com/attachments/1001/{n}/{name}"


class Fetcher:
    """The SafeFetcher double: serves the bytes registered for a CDN URL."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.urls: list[str] = []

    def serve(self, file: Path) -> str:
        url = CDN.format(n=len(self.files) + 1, name=file.name)
        self.files[url] = file.read_bytes()
        return url

    async def fetch(self, url: str) -> tuple[bytes, str]:
        self.urls.append(url)
        return self.files[url], "application/pdf"


class Discord:
    """The handler on the production container, the executor and the doubles."""

    def __init__(self, container: Container, data_dir: Path) -> None:
        self.container = container
        self.data_dir = data_dir
        self.rest = Rest()
        self.fetcher = Fetcher()
        self.message_ids = 700

    async def start(self) -> None:
        c = self.container
        # What `serve` builds (entrypoints/serve.py), with the subscribers registered.
        services = await open_services(c)
        await services.database.migrate()
        self.services = services
        self.handlers = services.handlers
        self.executor = await resolve(c.executor)
        self.queries = services.queries
        self.handler = DiscordHandler(
            rest=self.rest,
            conversation=services.conversation,
            handlers=self.handlers,
            queries=self.queries,
            authorizer=await resolve(c.authorizer),
            fetcher=self.fetcher,
            tenant=TENANT,
            users=parse_users(
                [f"{KARI}=kari:reviewer", f"{OLA}=ola:agent", f"{PER}=per:accountant"]
            ),
            invoices_channel=INVOICES,
            review_channel=REVIEW,
        )

    async def post(
        self, user: int, text: str = "", *, channel: int = INVOICES, file: Path | None = None
    ) -> int:
        """A message (with `file` as its attachment); the channel the answer went to."""
        self.message_ids += 1
        attachments = []
        if file is not None:
            url = self.fetcher.serve(file)
            attachments.append(SimpleNamespace(url=url, filename=file.name))
        message = SimpleNamespace(
            id=self.message_ids,
            content=text,
            attachments=attachments,
            author=SimpleNamespace(id=user),
            guild_id=9,
        )
        before = len(self.rest.threads())
        await self.handler.on_message(
            SimpleNamespace(is_human=True, channel_id=channel, message=message)
        )
        threads = self.rest.threads()
        if file is not None and channel == INVOICES:
            assert len(threads) == before + 1 and threads[-1][:2] == (INVOICES, message.id)
            return max(self.handler.threads.values())
        return channel

    async def press(self, user: int, action: str, proposal_id: Any) -> Any:
        pressed = interaction(
            hikari.ComponentInteraction,
            user=user,
            custom_id=custom_id(action, uuid.UUID(str(proposal_id))),
            channel=REVIEW,
        )
        await self.handler.on_interaction(SimpleNamespace(interaction=pressed))
        return pressed

    async def submit(self, user: int, action: str, proposal_id: Any, **values: str) -> Any:
        submitted = interaction(
            hikari.ModalInteraction,
            user=user,
            custom_id=custom_id(action, uuid.UUID(str(proposal_id))),
            channel=REVIEW,
            components=[
                SimpleNamespace(components=[SimpleNamespace(custom_id=k, value=v)])
                for k, v in values.items()
            ],
        )
        await self.handler.on_interaction(SimpleNamespace(interaction=submitted))
        return submitted

    async def execute_and_tell(self) -> int:
        """The bot's loop: the executor until idle, then each thread's news."""
        for _ in range(10):
            report = await self.executor.run_once()
            if report.claimed < self.executor.policy.batch_size:
                break
        return await self.handler.post_updates()

    async def learn(self, merchant: str, account: str) -> None:
        """A human-confirmed pattern: proposed by per, approved by kari."""
        per = Principal(subject="per", tenant_id=TENANT, roles=frozenset({"accountant"}))
        kari = Principal(subject="kari", tenant_id=TENANT, roles=frozenset({"reviewer"}))
        data = decode_payload("PatternSuggested", pattern(merchant, account, "25"), 1)
        result = await self.handlers.submit(
            SubmitEvent(principal=per, type="PatternSuggested", data=data)
        )
        await self.handlers.approve(ApproveProposal(principal=kari, proposal_id=result.stream_id))


@pytest.fixture
async def discord(tmp_path: Path) -> AsyncIterator[Discord]:
    data_dir = tmp_path / "data"
    container = sqlite_container(data_dir, executor=True)
    container.clock.reset_override()  # the real clock, as the sandbox seeds today
    bot = Discord(container, data_dir)
    await bot.start()
    try:
        yield bot
    finally:
        await shutdown(container)


def updated(stand_in: Any) -> str:
    text, kwargs = decided(stand_in)
    assert kwargs["components"] == []
    return text


def refused(stand_in: Any) -> str:
    return refusal(stand_in)


def review_request(bot: Discord, proposal_id: str) -> str:
    """The one review request of a proposal, with its Godkjenn / Avvis / Korriger buttons."""
    requests = [
        (args[1], kw["components"])
        for n, args, kw in bot.rest.calls
        if n == "create_message" and args[0] == REVIEW and proposal_id in args[1]
    ]
    [(text, [row])] = requests
    assert [(c.custom_id, c.label) for c in row.components] == [
        (f"bk:approve:{proposal_id}", "Godkjenn"),
        (f"bk:reject:{proposal_id}", "Avvis"),
        (f"bk:correct:{proposal_id}", "Korriger"),
    ]
    assert text.startswith("Til godkjenning: ")
    return str(text)


async def test_a_proposal_another_worker_made_reaches_the_review_channel_within_seconds(
    discord: Discord, tmp_path: Path
) -> None:
    """The bot runs in one worker of a serve (P7). A proposal that needs a person and was
    committed by another worker (or replica) is posted to the review channel by the bot's
    follower of the log within seconds, not at the subscriptions' next catch-up (15 s; it
    does not run here at all); posted once, though the follower may meet it again."""
    follower = follow_reviews(discord.services, ReviewSubscriber(discord.handler, discord.queries))
    other = sqlite_container(discord.data_dir)  # another worker: same database, own process state
    other.clock.reset_override()
    try:
        services = await open_services(other)
        per = Principal(subject="per", tenant_id=TENANT, roles=frozenset({"accountant"}))
        data = decode_payload("PatternSuggested", pattern("Kaffebrenneriet", "7140", "15"), 1)
        made = await services.handlers.submit(
            SubmitEvent(principal=per, type="PatternSuggested", data=data)
        )
        proposal_id = str(made.stream_id)

        def posted() -> int:
            return sum(
                1
                for n, args, _ in discord.rest.calls
                if n == "create_message" and args[0] == REVIEW and proposal_id in args[1]
            )

        for _ in polls():
            if posted():
                break
            await asyncio.sleep(REVIEWS_FOLLOW_SECONDS / 4)
        assert posted() == 1, "the review channel never saw the other worker's proposal"
        await asyncio.sleep(3 * REVIEWS_FOLLOW_SECONDS)  # the follower reads on
        assert posted() == 1
    finally:
        await follower.stop()
        await shutdown(other)


# --- story 1 ----------------------------------------------------------------------------


async def test_story_1_known_receipt_is_auto_approved_attached_and_told_in_its_thread(
    discord: Discord, tmp_path: Path
) -> None:
    await discord.learn("Adobe", "6540")
    receipt = card_receipt(tmp_path / "adobe.pdf", "Adobe", ADOBE_VOEC)
    _, gross = card_purchase("Adobe")

    thread = await discord.post(OLA, file=receipt)

    assert discord.fetcher.urls == [next(iter(discord.fetcher.files))]
    assert discord.rest.threads() == [(INVOICES, discord.message_ids, "adobe.pdf")]
    [reply] = discord.rest.messages(thread)
    assert f"Kvittering fra Adobe: {kr(gross)} kr, konto 6540, mva 25 %." in reply, reply
    assert "Godkjent automatisk; utføres nå." in reply
    assert discord.rest.messages(REVIEW) == []  # nothing to review

    assert await discord.execute_and_tell() == 1
    assert "er bokført. (6540, 25 %)" in discord.rest.messages(thread)[-1]
    assert await discord.execute_and_tell() == 0  # told once

    found = proposal(discord.data_dir, "Adobe", "receipt_attachment")
    assert found["status"] == "EXECUTED" and found["decided_by"] == "system:review-rules"
    events = stream(discord.data_dir, found["raw_id"])
    assert events[0][:2] == ("ReceiptAttachmentProposed", "human:ola")
    assert ("ReceiptAttachmentApproved", "system:review-rules", "APPROVED") in events
    assert events[-1][0] == "ReceiptAttachmentExecuted"
    source = rows(
        discord.data_dir,
        "SELECT metadata FROM events WHERE stream_id = ? ORDER BY position LIMIT 1",
        found["raw_id"],
    )
    metadata = json.loads(source[0][0])
    assert metadata["source"]["channel"] == "discord"
    assert metadata["source"]["channelId"] == f"discord:{thread}"
    vat = (gross / 5).quantize(Decimal("0.01"))
    lines = postings(discord.data_dir, found["raw_id"])
    assert ("6540", gross - vat, Decimal(0)) in lines and ("2710", vat, Decimal(0)) in lines
    adobe = [
        o.id
        for o in bank_seed(TENANT, dt.date.today()).objects
        if o.kind == "event" and o.data.get("merchant_name") == "Adobe"
    ]
    attached = rows(
        discord.data_dir,
        "SELECT owner_id FROM sandbox_files WHERE tenant_id = ? AND system = 'bank'"
        " AND filename LIKE 'bk-%'",
        TENANT,
    )
    assert attached == [(adobe[0],)]

    # Story 8 in the same thread: the books themselves, from the ledger the receipt reached.
    await discord.post(OLA, "vis de siste bilagene", channel=thread)
    listed = discord.rest.messages(thread)[-1]
    assert listed.startswith("De siste 1 bilagene:\n"), listed
    assert f": {kr(gross)} kr, godkjent av " in listed, listed
    await discord.post(OLA, "hvor mye har vi brukt på programvare i år?", channel=thread)
    costs = discord.rest.messages(thread)[-1]
    assert costs.startswith("Kostnader til programvare ") and "  6540" in costs, costs
    assert f": {kr(gross - vat)} kr" in costs, costs
    asked = rows(
        discord.data_dir,
        "SELECT actor FROM events WHERE type = 'LedgerQueried' ORDER BY position",
    )
    assert asked == [("human:ola",), ("human:ola",)]


# --- story 2 ----------------------------------------------------------------------------


async def test_story_2_new_merchant_is_corrected_in_discord_executed_and_learned(
    discord: Discord, tmp_path: Path
) -> None:
    first = card_receipt(tmp_path / "elkjop-1.pdf", "Elkjøp", ELKJOP_ORG, 0)
    thread = await discord.post(OLA, file=first)
    [reply] = discord.rest.messages(thread)
    assert "Kvittering fra Elkjøp" in reply and "Venter på godkjenning." in reply, reply
    waiting = proposal(discord.data_dir, "Elkjøp", "receipt_attachment")
    assert waiting["status"] == "PROPOSED" and waiting["confidence"] < 0.7
    request = review_request(discord, waiting["id"])
    assert "Elkjøp" in request and "Foreslått av ola." in request, request
    assert "Sikkerhet " in request and f"Forslag {waiting['id']}" in request

    # The uploader, an agent, may not decide: refused ephemerally, nothing recorded.
    pressed = await discord.press(OLA, "approve", waiting["id"])
    assert "ikke tilgang" in refused(pressed)

    # Kari corrects the account to 6810 in the modal and so approves.
    pressed = await discord.press(KARI, "correct", waiting["id"])
    call = pressed.create_modal_response.await_args
    assert call.args[1] == f"bk:correct-modal:{waiting['id']}"
    prefilled = [
        (i.custom_id, i.value) for row in call.kwargs["components"] for i in row.components
    ]
    assert prefilled[1] == ("vat", "25") and prefilled[0][0] == "account"
    submitted = await discord.submit(KARI, "correct-modal", waiting["id"], account="6810", vat="")
    text = updated(submitted)
    assert text.startswith("Godkjent av kari (korrigert): ") and "Konto 6810, mva 25 %" in text

    assert await discord.execute_and_tell() == 1
    assert "er bokført. (6810, 25 %)" in discord.rest.messages(thread)[-1]
    done = proposal(discord.data_dir, "Elkjøp", "receipt_attachment")
    assert done["status"] == "EXECUTED" and done["decided_by"] == "human:kari"
    events = stream(discord.data_dir, done["raw_id"])
    assert ("ReceiptAttachmentApproved", "human:kari", "APPROVED") in events
    assert events[-1][0] == "ReceiptAttachmentExecuted"
    assert [t for t, _, _ in events].count("ReceiptAttachmentApproved") == 1
    assert any(a == "6810" for a, _, _ in postings(discord.data_dir, done["raw_id"]))

    # book-e suggested the pattern; the handler can put it before the reviewers too.
    suggestion = proposal(discord.data_dir, "Elkjøp", "pattern_suggestion")
    assert suggestion["status"] == "PROPOSED" and suggestion["account"] == "6810"
    assert stream(discord.data_dir, suggestion["raw_id"])[0][:2] == ("PatternSuggested", "book-e")
    view = await discord.queries.proposal(discord.handler.agent, uuid.UUID(suggestion["id"]))
    await discord.handler.post_review_request(view)
    review_request(discord, suggestion["id"])
    approved = await discord.press(KARI, "approve", suggestion["id"])
    assert updated(approved).startswith("Godkjent av kari: ")

    second = card_receipt(tmp_path / "elkjop-2.pdf", "Elkjøp", ELKJOP_ORG, 1)
    thread2 = await discord.post(OLA, file=second)
    assert thread2 != thread
    [reply] = discord.rest.messages(thread2)
    assert "konto 6810, mva 25 %." in reply and "Godkjent automatisk; utføres nå." in reply, reply
    assert await discord.execute_and_tell() == 1
    assert "er bokført. (6810, 25 %)" in discord.rest.messages(thread2)[-1]
    again = proposal(discord.data_dir, "Elkjøp", "receipt_attachment")
    assert again["count"] == 2 and again["status"] == "EXECUTED"
    assert again["decided_by"] == "system:review-rules"


# --- story 3 ----------------------------------------------------------------------------


async def test_story_3_supplier_invoice_in_english_is_reviewed_then_registered_in_fiken(
    discord: Discord, tmp_path: Path
) -> None:
    content, _, expected = telenor_invoice()
    path = tmp_path / "telenor-faktura.pdf"
    path.write_bytes(content)
    await discord.learn("Telenor", "6900")  # even a known supplier's invoice is reviewed

    # Per, an accountant, may upload and decide, but not approve what he uploaded.
    thread = await discord.post(PER, "Here is the Telenor invoice", file=path)
    [reply] = discord.rest.messages(thread)
    assert "Telenor Norge AS" in reply and "account 6900, VAT 25 %." in reply, reply
    assert "Awaiting review." in reply
    invoice = proposal(discord.data_dir, "Telenor", "invoice_registration")
    assert invoice["status"] == "PROPOSED"
    assert "Foreslått av per." in review_request(discord, invoice["id"])

    own = await discord.press(PER, "approve", invoice["id"])
    # He is also the proposer (human:per), so self-approval is what refuses him.
    assert refused(own) == "Du kan ikke godkjenne ditt eget forslag."
    assert proposal(discord.data_dir, "Telenor", "invoice_registration")["status"] == "PROPOSED"
    assert await discord.execute_and_tell() == 0

    approved = await discord.press(KARI, "approve", invoice["id"])
    assert updated(approved).startswith("Godkjent av kari: ")
    assert await discord.execute_and_tell() == 1
    assert "is booked. (6900, 25 %)" in discord.rest.messages(thread)[-1]

    done = proposal(discord.data_dir, "Telenor", "invoice_registration")
    assert done["status"] == "EXECUTED" and done["decided_by"] == "human:kari"
    types = [(t, a) for t, a, _ in stream(discord.data_dir, done["raw_id"])]
    assert types[0] == ("InvoiceRegistrationProposed", "human:per")
    assert ("InvoiceRegistrationApproved", "human:kari") in types
    assert types[-1][0] == "InvoiceRegistrationExecuted"
    assert not any(a == "human:per" for t, a in types if t.endswith("Approved"))
    purchases = rows(
        discord.data_dir,
        "SELECT data FROM sandbox_objects WHERE tenant_id = ? AND system = 'books'"
        " AND kind = 'purchase'",
        TENANT,
    )
    [purchase] = [json.loads(p[0])["purchase"] for p in purchases]
    assert purchase["kind"] == "supplier"
    assert purchase.get("dueDate", purchase.get("due_date")) == str(expected["due_date"])
    assert [line["vat_type"] for line in purchase["lines"]] == ["HIGH"], purchase
    files = rows(
        discord.data_dir,
        "SELECT owner_kind, content_type FROM sandbox_files"
        " WHERE tenant_id = ? AND system = 'books'",
        TENANT,
    )
    assert files == [("purchase", "application/pdf")]


# --- story 4 ----------------------------------------------------------------------------


async def test_story_4_rejection_asks_the_thread_for_clarification_and_executes_nothing(
    discord: Discord, tmp_path: Path
) -> None:
    content, _, _ = ruter_ticket()
    path = tmp_path / "ruter.pdf"
    path.write_bytes(content)
    thread = await discord.post(OLA, file=path)
    [reply] = discord.rest.messages(thread)
    assert (
        "Ruter AS: 44,00 kr, konto 7140, mva 12 %." in reply and "Venter på godkjenning." in reply
    )
    waiting = proposal(discord.data_dir, "Ruter", "expense_registration")
    review_request(discord, waiting["id"])

    pressed = await discord.press(KARI, "reject", waiting["id"])
    assert pressed.create_modal_response.await_args.args[1] == f"bk:reject-modal:{waiting['id']}"
    empty = await discord.submit(KARI, "reject-modal", waiting["id"], reason="  ")
    assert "begrunnelse" in refused(empty)
    submitted = await discord.submit(KARI, "reject-modal", waiting["id"], reason="Privat reise?")
    text = updated(submitted)
    assert text.startswith("Avvist av kari: ") and "Begrunnelse: Privat reise?" in text

    assert await discord.execute_and_tell() == 1
    news = discord.rest.messages(thread)[-1]
    assert "ble avvist av kari: «Privat reise?». Kan du forklare" in news, news
    assert await discord.execute_and_tell() == 0  # told once

    # Ola answers in the thread; the agent replies there, and nothing is executed.
    before = len(discord.rest.messages(thread))
    await discord.post(OLA, "Det var et kundebesøk", channel=thread)
    [answer] = discord.rest.messages(thread)[before:]
    assert "kvittering" in answer  # answered in the thread, in Norwegian
    assert await discord.execute_and_tell() == 0
    rejected = proposal(discord.data_dir, "Ruter", "expense_registration")
    assert rejected["status"] == "REJECTED" and rejected["reason"] == "Privat reise?"
    events = stream(discord.data_dir, rejected["raw_id"])
    assert events[-1] == ("ExpenseRegistrationRejected", "human:kari", "REJECTED")
    assert not any("Execut" in t or "Attempt" in t for t, _, _ in events)
    assert postings(discord.data_dir, rejected["raw_id"]) == []


# --- issue 13: an iPhone photo -----------------------------------------------------------


@pytest.mark.skipif(
    not ocr.available() and os.environ.get("CI") != "true",
    reason="tesseract-ocr with Norwegian data is not installed",
)
async def test_an_iphone_heic_photo_is_accepted_stored_as_jpeg_and_read(
    discord: Discord, tmp_path: Path
) -> None:
    # What people drop in Discord: a HEIC photo of a receipt (the double serves it as
    # application/pdf, a misleading type): accepted, stored as a JPEG, read by OCR.
    import random

    from pillow_heif import register_heif_opener

    from tests.corpus.generate import LAYOUTS, photo

    register_heif_opener()
    doc = LAYOUTS["taxi"](random.Random("ocr-heic"))
    heic = tmp_path / "IMG_0042.HEIC"
    heic.write_bytes(photo(doc.pdf, 7, fmt="HEIF"))
    thread = await discord.post(OLA, file=heic)
    [reply] = discord.rest.messages(thread)
    assert f"{kr(doc.expected.gross)} kr" in reply, reply
    stored = rows(
        discord.data_dir, "SELECT content_type, filename FROM documents WHERE tenant_id = ?", TENANT
    )
    assert stored == [("image/jpeg", "IMG_0042.jpg")]


async def test_an_ehf_invoice_dropped_in_discord_is_read_from_its_xml(
    discord: Discord, tmp_path: Path
) -> None:
    # ADR 0033 addendum 6: an EHF invoice (the double serves it as application/pdf, a
    # misleading type; the bytes decide) is proposed from its elements, its embedded PDF
    # stored beside the XML as what the books attach.
    from tests.ehf_documents import ehf, tiny_pdf

    pdf = tiny_pdf("Faktura D-7")
    xml = tmp_path / "faktura-D-7.xml"
    xml.write_bytes(ehf(number="D-7", supplier="Leverandør Discord AS", pdf=pdf))
    thread = await discord.post(OLA, file=xml)
    [reply] = discord.rest.messages(thread)
    assert "1 250,00 kr" in reply, reply
    found = proposal(discord.data_dir, "Leverandør Discord", "invoice_registration")
    assert found["status"] == "PROPOSED"
    stored = rows(
        discord.data_dir,
        "SELECT content_type, filename FROM documents WHERE tenant_id = ? ORDER BY filename",
        TENANT,
    )
    assert set(stored) == {("application/xml", "faktura-D-7.xml"), ("application/pdf", "D-7.pdf")}
