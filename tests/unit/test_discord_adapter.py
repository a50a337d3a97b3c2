"""The Discord adapter offline: hikari-shaped events (stand-ins and Mock(spec=hikari.…)
interactions), a REST double recording calls, a fetcher double, on the memory Harness with
the in-test extractor double of test_conversation."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import hikari
import pytest

from bookkeeper.adapters.discord import (
    DiscordBot,
    DiscordHandler,
    custom_id,
    parse_corrections,
    parse_users,
)
from bookkeeper.adapters.discord.notifier import MAX_PIECES, pieces
from bookkeeper.adapters.discord.reviews import ReviewSubscriber
from bookkeeper.adapters.fetch import FetchRefused
from bookkeeper.application import messages as m
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import UnitOfWork
from bookkeeper.application.queries import Queries
from bookkeeper.domain.events import ReceiptAttachmentData, Status
from bookkeeper.settings import SettingsError, load_settings
from tests.fakes.discord import Rest, decided, interaction, refusal
from tests.unit.external_doubles import PDF, reviewer
from tests.unit.external_doubles import receipt as bare_receipt
from tests.unit.test_conversation import Chat, extraction

INVOICES, REVIEW, DM = 1001, 1002, 1003
KARI, OLA, STRANGER, PER = 11, 22, 33, 44
CDN = "https://cdn.discordapp.com/attachments/1/2/kvittering.pdf"


class Fetcher:
    def __init__(self, error: Exception | None = None) -> None:
        self.urls: list[str] = []
        self.error = error

    async def fetch(self, url: str) -> tuple[bytes, str]:
        self.urls.append(url)
        if self.error is not None:
            raise self.error
        return PDF, "application/pdf"


class Bot:
    def __init__(
        self,
        fetcher: Fetcher | None = None,
        merchant: str = "Rimi",
        *,
        journal: list[str] | None = None,
        broken: bool = False,
        subscribe: bool = False,
    ) -> None:
        self.chat = Chat(extraction(merchant))
        h = self.chat.harness
        self.rest = Rest()
        self.fetcher = fetcher or Fetcher()
        self.queries = Queries(h.uow_factory, RoleAuthorizer())
        handlers = h.handlers
        if journal is not None:  # decisions through slow storage that notes each unit
            slow = SlowStorage(h.uow_factory, journal, 0.2)
            handlers = Handlers(slow, h.clock, h.ids, RoleAuthorizer())
        if broken:  # decisions through storage that fails unexpectedly
            handlers = Handlers(BrokenStorage(), h.clock, h.ids, RoleAuthorizer())
        self.handler = DiscordHandler(
            rest=self.rest,
            conversation=self.chat.service,
            handlers=handlers,
            queries=Queries(h.uow_factory, RoleAuthorizer()),
            authorizer=RoleAuthorizer(),
            fetcher=self.fetcher,
            tenant="acme",
            users=parse_users(
                [f"{KARI}=kari:reviewer", f"{OLA}=ola:agent", f"{PER}=per:accountant"]
            ),
            invoices_channel=INVOICES,
            review_channel=REVIEW,
        )
        self.reviews = ReviewSubscriber(self.handler, self.queries, now=h.clock.now)
        if subscribe:
            h.dispatcher.subscribe(self.reviews)

    async def post(
        self, user: int, text: str = "", *, channel: int = INVOICES, files: int = 0
    ) -> Any:
        attachments = [
            SimpleNamespace(url=CDN, filename=f"kvittering{i}.pdf") for i in range(files)
        ]
        message = SimpleNamespace(
            id=777,
            content=text,
            attachments=attachments,
            author=SimpleNamespace(id=user),
            guild_id=None if channel == DM else 9,
        )
        event = SimpleNamespace(is_human=True, channel_id=channel, message=message)
        await self.handler.on_message(event)
        return event

    async def document(self, user: int = OLA) -> uuid.UUID:
        await self.post(user, files=1)
        [proposal_id] = self.handler.threads
        return proposal_id

    async def events(self, type_: str) -> list[Any]:
        return await self.chat.events(type_)


def button(user: int, action: str, proposal_id: uuid.UUID, journal: list[str] | None = None) -> Any:
    pressed = interaction(
        hikari.ComponentInteraction,
        user=user,
        custom_id=custom_id(action, proposal_id),
        channel=REVIEW,
        journal=journal,
    )
    return SimpleNamespace(interaction=pressed)


def modal(user: int, action: str, proposal_id: uuid.UUID, **values: str) -> Any:
    submitted = interaction(
        hikari.ModalInteraction,
        user=user,
        custom_id=custom_id(action, proposal_id),
        channel=REVIEW,
        components=[
            SimpleNamespace(components=[SimpleNamespace(custom_id=k, value=v)])
            for k, v in values.items()
        ],
    )
    return SimpleNamespace(interaction=submitted)


def response(event: Any) -> tuple[str, dict[str, Any]]:
    return decided(event.interaction)


def refused(event: Any) -> str:
    return refusal(event.interaction)


# --- messages -----------------------------------------------------------------------------


async def test_an_attachment_gets_a_thread_the_proposal_and_a_review_request() -> None:
    bot = Bot()
    await bot.post(OLA, files=1)

    assert bot.fetcher.urls == [CDN]
    name, args, kwargs = bot.rest.calls[0]
    assert name == "create_message_thread" and args == (INVOICES, 777, "kvittering0.pdf")
    assert kwargs["auto_archive_duration"] == dt.timedelta(days=1)
    [(proposal_id, thread)] = bot.handler.threads.items()
    [reply] = bot.rest.messages(thread)
    assert "Kvittering fra Rimi: 1 234,50 kr, konto 5990, mva 15 %." in reply
    assert "Venter på godkjenning." in reply
    [proposed] = await bot.events("ReceiptAttachmentProposed")
    assert proposed.actor == "human:ola" and proposed.stream_id == proposal_id
    assert proposed.metadata["source"]["channel"] == "discord"
    assert proposed.metadata["source"]["channelId"] == f"discord:{thread}"
    # The review request carries the three buttons with the proposal id.
    [request] = bot.rest.messages(REVIEW)
    assert request.startswith("Til godkjenning: ") and "Rimi" in request
    assert "Konto 5990, mva 15 %. Foreslått av ola." in request
    # The score with the Norwegian decimal comma, as the web page writes it.
    assert re.search(r"^Sikkerhet \d,\d\d\.$", request, re.MULTILINE), request
    assert str(proposal_id) in request
    [row] = next(kw["components"] for n, a, kw in bot.rest.calls if a[0] == REVIEW)
    ids = [c.custom_id for c in row.components]
    assert ids == [f"bk:{a}:{proposal_id}" for a in ("approve", "reject", "correct")]


#: A merchant name a document (or a model reading it) may carry: a masked link, a spoiler
#: that hides part of the name, bold, code, a heading and a role mention.
HOSTILE_MERCHANT = "# Rimi ||skjult|| **AS** `x` [Betal her](https://evil.example/pay) <@&42>"


async def test_what_a_document_says_is_shown_as_text_not_as_discord_markdown() -> None:
    """The bot's messages quote merchant names, suppliers and descriptions from the
    documents: Discord would render a masked link (a phishing link in the bot's voice, in
    the review channel), hide a spoiler from the reviewer, or make a heading of them
    (probe4). Every character Discord reads as markdown is escaped; what is shown reads
    as written."""
    bot = Bot(merchant=HOSTILE_MERCHANT)
    await bot.post(OLA, files=1)
    [(proposal_id, thread)] = bot.handler.threads.items()
    [reply] = bot.rest.messages(thread)
    [request] = bot.rest.messages(REVIEW)
    for text in (reply, request):
        assert "[Betal her](" not in text and "||skjult||" not in text and "**AS**" not in text
        assert "<@&42>" not in text and "`x`" not in text
        assert r"\[Betal her\]" in text and r"\|\|skjult\|\|" in text, text
        unescaped = re.sub(r"\\(.)", r"\1", text)
        assert HOSTILE_MERCHANT in unescaped
    assert f"Forslag {proposal_id}" in request  # still found after a restart
    approve = button(KARI, "approve", proposal_id)
    await bot.handler.on_interaction(approve)
    decided_text, _ = response(approve)  # the review message as decided
    assert decided_text.startswith("Godkjent av kari: ")
    assert "[Betal her](" not in decided_text and r"\[Betal her\]" in decided_text


async def test_a_refused_url_is_answered_and_nothing_is_proposed() -> None:
    bot = Bot(Fetcher(FetchRefused("evil.example is not an allowed host")))
    await bot.post(OLA, files=1)
    [answer] = bot.rest.messages(INVOICES)
    assert "Kunne ikke lese kvittering0.pdf" in answer and "evil.example" in answer
    assert await bot.events("ReceiptAttachmentProposed") == []
    assert not any(n == "create_message_thread" for n, _, _ in bot.rest.calls)


async def test_a_dm_question_is_answered_in_place() -> None:
    bot = Bot()
    await bot.post(OLA, "Hva er saldoen?", channel=DM)
    [answer] = bot.rest.messages(DM)
    assert "Driftskonto (12345678903): 15 234,50 kr" in answer
    [event] = await bot.events("BalanceQueried")
    assert event.actor == "human:ola" and event.metadata["source"] == "discord"


async def test_a_dm_from_an_unmapped_user_is_refused_and_reads_nothing() -> None:
    """Anyone who shares a server with the bot can DM it: a stranger's question or file
    gets a sentence, never the tenant's data, and nothing is recorded or proposed."""
    bot = Bot()
    await bot.post(STRANGER, "Hva er saldoen?", channel=DM)
    await bot.post(STRANGER, files=1, channel=DM)
    answers = bot.rest.messages(DM)
    assert answers == [m.text("dm_unknown_user", m.NORWEGIAN)] * 2
    assert not any("Driftskonto" in answer or "15 234" in answer for answer in answers)
    assert await bot.events("BalanceQueried") == []
    assert await bot.events("ReceiptAttachmentProposed") == []
    assert bot.fetcher.urls == []  # the stranger's file was not even fetched


async def test_a_stranger_in_the_invoices_channel_still_hands_in_as_an_agent() -> None:
    """The invoices channel's members are the company's (Discord's permissions decide who
    is in it): an unmapped member still hands in documents there, as `discord:<id>`."""
    bot = Bot()
    await bot.post(STRANGER, files=1)
    [event] = await bot.events("ReceiptAttachmentProposed")
    assert event.actor == "human:discord:33"


async def test_other_channels_and_bots_are_ignored() -> None:
    bot = Bot()
    await bot.post(OLA, "Hva er saldoen?", channel=4242)
    event = SimpleNamespace(is_human=False, channel_id=DM, message=None)
    await bot.handler.on_message(event)
    assert bot.rest.calls == []


# --- review -------------------------------------------------------------------------------


async def test_approve_by_a_mapped_reviewer_records_the_reviewer_and_edits_the_message() -> None:
    bot = Bot()
    proposal_id = await bot.document()
    event = button(KARI, "approve", proposal_id)
    await bot.handler.on_interaction(event)

    text, kwargs = response(event)
    assert kwargs["components"] == []
    assert text.startswith("Godkjent av kari: ")
    [approved] = await bot.events("ReceiptAttachmentApproved")
    assert approved.actor == "human:kari" and approved.stream_id == proposal_id


async def test_the_uploader_and_proposer_may_not_approve_their_own_document() -> None:
    bot = Bot()
    proposal_id = await bot.document(PER)  # an accountant: may upload and decide
    event = button(PER, "approve", proposal_id)
    await bot.handler.on_interaction(event)
    assert "Du kan ikke godkjenne" in refused(event)
    assert await bot.events("ReceiptAttachmentApproved") == []


@pytest.mark.parametrize("user", [STRANGER, OLA])
async def test_an_unmapped_or_non_reviewer_user_is_refused(user: int) -> None:
    bot = Bot()
    proposal_id = await bot.document()
    for action in ("approve", "reject", "correct"):
        event = button(user, action, proposal_id)
        await bot.handler.on_interaction(event)
        assert "ikke tilgang" in refused(event)
        event.interaction.create_modal_response.assert_not_awaited()
    assert await bot.events("ReceiptAttachmentApproved") == []
    assert await bot.events("ReceiptAttachmentRejected") == []


async def test_correct_opens_a_modal_and_approves_with_corrections() -> None:
    bot = Bot()
    proposal_id = await bot.document()
    event = button(KARI, "correct", proposal_id)
    await bot.handler.on_interaction(event)
    call = event.interaction.create_modal_response.await_args
    assert call.args[1] == f"bk:correct-modal:{proposal_id}"
    inputs = [c for row in call.kwargs["components"] for c in row.components]
    assert [(i.custom_id, i.value) for i in inputs] == [
        ("account", "5990"),
        ("vat", "15"),
    ]

    submit = modal(KARI, "correct-modal", proposal_id, account="6540", vat="25 %")
    await bot.handler.on_interaction(submit)
    text, _ = response(submit)
    assert "(korrigert)" in text and "Konto 6540, mva 25 %" in text
    [approved] = await bot.events("ReceiptAttachmentApproved")
    assert approved.actor == "human:kari"
    assert approved.data.corrections.account_code == "6540"
    assert approved.data.corrections.vat_rate == Decimal("25")


async def test_a_malformed_correction_is_refused_ephemerally() -> None:
    bot = Bot()
    proposal_id = await bot.document()
    submit = modal(KARI, "correct-modal", proposal_id, account="65", vat="")
    await bot.handler.on_interaction(submit)
    assert "fire siffer" in refused(submit)
    assert await bot.events("ReceiptAttachmentApproved") == []


async def test_reject_asks_the_reason_then_rejects_and_the_thread_hears_of_it() -> None:
    bot = Bot()
    proposal_id = await bot.document()
    event = button(KARI, "reject", proposal_id)
    await bot.handler.on_interaction(event)
    call = event.interaction.create_modal_response.await_args
    assert call.args[1] == f"bk:reject-modal:{proposal_id}"

    submit = modal(KARI, "reject-modal", proposal_id, reason="privat kjøp")
    await bot.handler.on_interaction(submit)
    text, _ = response(submit)
    assert text.startswith("Avvist av kari") and "privat kjøp" in text
    [rejected] = await bot.events("ReceiptAttachmentRejected")
    assert rejected.actor == "human:kari"

    thread = bot.handler.threads[proposal_id]
    assert await bot.handler.post_updates() == 1
    assert "avvist av kari: «privat kjøp»" in bot.rest.messages(thread)[-1]
    assert await bot.handler.post_updates() == 0  # told once


async def test_recover_rebuilds_the_thread_map_from_the_event_metadata() -> None:
    bot = Bot()
    proposal_id = await bot.document()
    thread = bot.handler.threads[proposal_id]
    bot.handler.threads.clear()
    bot.handler.channels.clear()
    assert await bot.handler.recover() == 1
    assert bot.handler.threads == {proposal_id: thread}
    assert bot.handler.channels == {f"discord:{thread}": thread}


# --- the review channel follows the log ----------------------------------------------------


def receipt(merchant: str = "Elkjøp", document_hash: str | None = None) -> ReceiptAttachmentData:
    return bare_receipt(document_hash, merchant_name=merchant)


def review_messages(bot: Bot) -> dict[int, Any]:
    return bot.rest.stored.get(REVIEW, {})


async def test_a_proposal_from_any_channel_is_posted_once_and_a_rest_approval_edits_it() -> None:
    bot = Bot(subscribe=True)
    h = bot.chat.harness
    proposal_id = await h.propose(receipt())  # over REST / the page: not through Discord

    [message] = review_messages(bot).values()
    assert message.content.startswith("Til godkjenning: ") and "Elkjøp" in message.content
    assert f"Forslag {proposal_id}" in message.content
    [row] = message.components
    assert row.components[0].custom_id == f"bk:approve:{proposal_id}"

    # The log's catch-up hands the same events again: nothing is posted twice.
    for event in await h.all_events():
        await bot.reviews.handle(event)
    assert len(review_messages(bot)) == 1 and bot.rest.edits(REVIEW) == []

    await h.handlers.approve(ApproveProposal(principal=reviewer(), proposal_id=proposal_id))
    [(edited, text, kwargs)] = bot.rest.edits(REVIEW)
    assert edited == message.id and kwargs["components"] == []
    assert text.startswith("Godkjent av kari: ") and message.content == text


async def test_the_review_request_says_what_speaks_against_the_proposal() -> None:
    bot = Bot(subscribe=True)
    h = bot.chat.harness
    # The same document number twice: the second is a possible duplicate (−0,50), the
    # weightiest reason against it, shown first.
    first = await h.propose(bare_receipt(None, document_number="R-7"))
    second = await h.propose(bare_receipt(None, document_number="R-7"))
    texts = {m.content.splitlines()[-1]: m.content for m in review_messages(bot).values()}
    assert f"Forslag {first}" in texts
    repeated = texts[f"Forslag {second}"]
    concerns = [line for line in repeated.splitlines() if line.startswith("- ")]
    assert concerns and "mulig duplikat av" in concerns[0]  # the weightiest first, in Norwegian


async def test_a_rejection_elsewhere_and_the_executor_outcome_edit_the_message() -> None:
    bot = Bot(subscribe=True)
    h = bot.chat.harness
    rejected = await h.propose(receipt("Clas Ohlson"))
    approved = await h.propose(receipt("Biltema", await h.store()))
    await h.handlers.reject(
        RejectProposal(principal=reviewer(), proposal_id=rejected, reason="privat")
    )
    await h.approve(approved)
    await h.executor.run_once()

    texts = {m.content.splitlines()[-1]: m.content for m in review_messages(bot).values()}
    assert texts[f"Forslag {rejected}"].startswith("Avvist av kari")
    assert "Begrunnelse: privat" in texts[f"Forslag {rejected}"]
    executed = texts[f"Forslag {approved}"]
    assert executed.startswith("Godkjent av") and "\nUtført." in executed


async def test_a_pattern_suggestion_goes_to_the_review_channel_too() -> None:
    bot = Bot(subscribe=True)
    proposal_id = await bot.document(OLA)
    await bot.handler.on_interaction(button(KARI, "approve", proposal_id))
    [suggested] = await bot.events("PatternSuggested")

    contents = [m.content for m in review_messages(bot).values()]
    [pattern] = [c for c in contents if f"Forslag {suggested.stream_id}" in c]
    assert pattern.startswith("Til godkjenning: Forslag til mønster for Rimi")
    assert "Konto 5990" in pattern


async def test_an_auto_approved_proposal_is_not_posted() -> None:
    bot = Bot(subscribe=True)
    await bot.chat.learn("Rimi", "5990")
    posted = len(review_messages(bot))
    await bot.post(OLA, files=1)  # a known merchant: approved by the rules at once
    assert len(review_messages(bot)) == posted


async def test_other_tenants_and_old_events_are_passed_over() -> None:
    bot = Bot(subscribe=True)
    h = bot.chat.harness
    await h.propose(receipt(), tenant="other")
    assert review_messages(bot) == {}
    proposal_id = await h.propose(receipt())
    bot.handler.reviews.clear()
    bot.rest.stored.clear()
    h.clock.advance(days=31)
    [proposed] = [e for e in await h.all_events() if e.stream_id == proposal_id]
    await bot.reviews.handle(proposed)
    assert review_messages(bot) == {}


async def test_discord_down_fails_the_subscriber_so_the_log_retries_it() -> None:
    bot = Bot()
    h = bot.chat.harness
    proposal_id = await h.propose(receipt())
    [proposed] = [e for e in await h.all_events() if e.stream_id == proposal_id]
    bot.rest.error = ConnectionError("discord.com unreachable")
    with pytest.raises(ConnectionError):
        await bot.reviews.handle(proposed)
    bot.rest.error = None
    await bot.reviews.handle(proposed)
    assert len(review_messages(bot)) == 1


async def test_after_a_restart_the_review_messages_are_found_in_the_channel() -> None:
    bot = Bot(subscribe=True)
    h = bot.chat.harness
    proposal_id = await h.propose(receipt())
    [message] = review_messages(bot).values()
    bot.handler.reviews.clear()
    bot.handler.review_texts.clear()

    assert await bot.handler.recover_reviews() == 1
    assert bot.handler.reviews == {proposal_id: message.id}
    await h.approve(proposal_id)
    [(edited, _, _)] = bot.rest.edits(REVIEW)
    assert edited == message.id
    named = [m for m in review_messages(bot).values() if f"Forslag {proposal_id}" in m.content]
    assert named == [message]  # edited, not posted again


class SlowStorage:
    """A unit-of-work factory whose every unit takes `delay` seconds to open and notes it."""

    def __init__(self, inner: Any, journal: list[str], delay: float) -> None:
        self._inner = inner
        self._journal = journal
        self._delay = delay

    def __call__(self) -> Any:
        return _SlowUnit(self._inner(), self._journal, self._delay)


class _SlowUnit:
    def __init__(self, inner: Any, journal: list[str], delay: float) -> None:
        self._inner = inner
        self._journal = journal
        self._delay = delay

    async def __aenter__(self) -> UnitOfWork:
        self._journal.append("storage")
        await asyncio.sleep(self._delay)
        unit: UnitOfWork = await self._inner.__aenter__()
        return unit

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)


async def test_a_button_is_acknowledged_before_slow_storage_is_touched() -> None:
    journal: list[str] = []
    bot = Bot(journal=journal)
    proposal_id = await bot.document()
    journal.clear()

    event = button(KARI, "approve", proposal_id, journal)
    await bot.handler.on_interaction(event)
    assert journal[0] == "create_initial_response" and "storage" in journal
    assert journal[-1] == "edit_initial_response"
    text, _ = response(event)
    assert text.startswith("Godkjent av kari")

    # The Korriger modal is the first answer too: prefilled from memory, no storage read.
    journal.clear()
    other = await bot.chat.harness.propose(receipt())
    await bot.handler.post_review_request(await bot.queries.proposal(bot.handler.agent, other))
    journal.clear()
    correct = button(KARI, "correct", other, journal)
    await bot.handler.on_interaction(correct)
    assert journal == ["create_modal_response"]


class BrokenStorage:
    """A unit-of-work factory whose units fail to open, as a locked database does."""

    def __call__(self) -> Any:
        return self

    async def __aenter__(self) -> UnitOfWork:
        raise RuntimeError("database is locked")

    async def __aexit__(self, *exc: Any) -> None:
        return None


async def test_an_unexpected_failure_is_a_sentence_not_a_failed_interaction() -> None:
    bot = Bot(broken=True)
    proposal_id = await bot.document()
    event = button(KARI, "approve", proposal_id)
    await bot.handler.on_interaction(event)
    text = refused(event)
    assert "ikke lagret" in text and "database is locked" not in text


# --- parsing, settings, the gateway bot ----------------------------------------------------


def test_user_map_and_corrections() -> None:
    users = parse_users(["11=kari:reviewer+accountant", "22=ola:agent"])
    assert users[11].subject == "kari" and users[11].roles == {"reviewer", "accountant"}
    with pytest.raises(ValueError, match="discordUserId"):
        parse_users(["kari:reviewer"])
    assert parse_corrections("", "") is None
    corrections = parse_corrections(" 6540 ", "12,0")
    assert corrections is not None and corrections.vat_rate == Decimal("12.0")
    with pytest.raises(ValueError, match="Mva"):
        parse_corrections("", "mye")


@pytest.mark.parametrize("vat", ["25 kr", "25 NOK", "25,-"])
def test_a_corrected_rate_in_kroner_is_refused_as_on_the_page(vat: str) -> None:
    # One rule for the page and the chat (domain.numerals): a rate's unit is "%".
    with pytest.raises(ValueError, match="Mva"):
        parse_corrections("", vat)
    assert parse_corrections("", "25 %") == parse_corrections("", "25")


@pytest.mark.parametrize("nok", ["452 %", "452,37%"])
def test_a_corrected_nok_amount_in_percent_is_refused_as_on_the_page(nok: str) -> None:
    with pytest.raises(ValueError, match="NOK"):
        parse_corrections("", "", nok)
    corrections = parse_corrections("", "", "452,37 kr")
    assert corrections is not None and corrections.nok_amount == Decimal("452.37")
    corrections = parse_corrections("", "", "1 234,-")
    assert corrections is not None and corrections.nok_amount == Decimal("1234")


def test_discord_settings() -> None:
    env = {
        "BOOKKEEPER_DATA_DIR": "/tmp/bk",
        "BOOKKEEPER_DISCORD_TOKEN": "secret-token",
        "BOOKKEEPER_DISCORD_TENANT": "acme",
        "BOOKKEEPER_DISCORD_INVOICES_CHANNEL": "1001",
        "BOOKKEEPER_DISCORD_REVIEW_CHANNEL": "1002",
        "BOOKKEEPER_DISCORD_USERS": "11=Kari:reviewer, 22=ola:agent+viewer",
    }
    settings = load_settings(env)
    assert settings.discord_invoices_channel == 1001 and settings.discord_review_channel == 1002
    assert settings.discord_users == ("11=Kari:reviewer", "22=ola:agent+viewer")
    assert "secret-token" not in repr(settings) and "discord_token='***'" in repr(settings)
    with pytest.raises(SettingsError, match="DISCORD_TENANT"):
        load_settings({**env, "BOOKKEEPER_DISCORD_TENANT": ""})
    with pytest.raises(SettingsError, match="DISCORD_USERS"):
        load_settings({**env, "BOOKKEEPER_DISCORD_USERS": "kari=reviewer"})
    with pytest.raises(SettingsError, match="REVIEW_CHANNEL"):
        load_settings({**env, "BOOKKEEPER_DISCORD_REVIEW_CHANNEL": "#review"})
    assert load_settings({"BOOKKEEPER_DATA_DIR": "/tmp/bk"}).discord_token is None


async def test_the_gateway_bot_wires_the_handler_and_closes_without_connecting() -> None:
    bot = Bot()
    made: list[Any] = []

    def make(rest: Any) -> DiscordHandler:
        made.append(rest)
        return bot.handler

    discord = DiscordBot("MTE.not.real", make)
    assert made == [discord.bot.rest]
    listeners = discord.bot.get_listeners(hikari.MessageCreateEvent)
    assert listeners and discord.bot.get_listeners(hikari.InteractionCreateEvent)
    await discord.close()  # never started: nothing to stop
    assert not discord.bot.is_alive


async def test_a_foreign_currency_document_is_approved_in_discord_with_its_nok_amount() -> None:
    """ADR 0051: the Korriger modal asks for the amount in NOK of a document in another
    currency (none for a NOK one), and approving with it records the reviewer's amount."""
    from tests.unit.external_doubles import agent

    bot = Bot()
    h = bot.chat.harness
    usd = bare_receipt(None, currency="USD", amount=Decimal("41.00"), vat_rate=Decimal("0"))
    result = await h.handlers.submit(
        SubmitEvent(type="ReceiptAttachmentProposed", data=usd, principal=agent())
    )
    view = await bot.queries.proposal(agent(), result.stream_id)
    await bot.handler.post_review_request(view)
    pressed = button(KARI, "correct", result.stream_id)
    await bot.handler.on_interaction(pressed)
    call = pressed.interaction.create_modal_response.await_args
    inputs = [c for row in call.kwargs["components"] for c in row.components]
    # A purchase without VAT is also offered its reverse charge (ADR 0056 addendum).
    assert [i.custom_id for i in inputs] == ["account", "vat", "nok", "reverse_charge"]
    submit = modal(KARI, "correct-modal", result.stream_id, account="", vat="", nok="452,37")
    await bot.handler.on_interaction(submit)
    [approved] = await bot.events("ReceiptAttachmentApproved")
    assert approved.data.corrections.nok_amount == Decimal("452.37")
    assert approved.metadata["exchange"]["nokAmount"] == "452.37"
    with pytest.raises(ValueError, match="NOK"):
        parse_corrections("", "", "mye")


async def test_the_korriger_modal_turns_reverse_charge_on_and_off() -> None:
    """ADR 0056 addendum: the Korriger modal offers a purchase's reverse charge ("ja" /
    "nei", prefilled as proposed) when it has no VAT or is marked, as the web page's
    checkbox; a change is sent as the correction reverseCharge, no change sends nothing."""
    from tests.unit.external_doubles import agent

    bot = Bot()
    h = bot.chat.harness

    async def posted(**fields: Any) -> tuple[uuid.UUID, list[Any]]:
        data = bare_receipt(None, **fields)
        result = await h.handlers.submit(
            SubmitEvent(type="ReceiptAttachmentProposed", data=data, principal=agent())
        )
        view = await bot.queries.proposal(agent(), result.stream_id)
        await bot.handler.post_review_request(view)
        pressed = button(KARI, "correct", result.stream_id)
        await bot.handler.on_interaction(pressed)
        call = pressed.interaction.create_modal_response.await_args
        return result.stream_id, [c for row in call.kwargs["components"] for c in row.components]

    zero = {"vat_rate": Decimal("0"), "vat_amount": Decimal("0.00")}
    plain, inputs = await posted(**zero, document_number="R-1", folio_event_id="ev-r1")
    [offered] = [i for i in inputs if i.custom_id == "reverse_charge"]
    assert offered.label == "Omvendt avgiftsplikt (ja/nei)" and offered.value == "nei"
    marked, inputs = await posted(
        **zero, document_number="R-2", folio_event_id="ev-r2", reverse_charge=True
    )
    assert [i.value for i in inputs if i.custom_id == "reverse_charge"] == ["ja"]
    _, inputs = await posted(document_number="R-3", folio_event_id="ev-r3")  # 15 %: none
    assert "reverse_charge" not in [i.custom_id for i in inputs]

    await bot.handler.on_interaction(
        modal(KARI, "correct-modal", plain, account="", vat="", reverse_charge="Ja")
    )
    await bot.handler.on_interaction(
        modal(KARI, "correct-modal", marked, account="6540", vat="0", reverse_charge="nei")
    )
    approved = {
        e.stream_id: e.data.corrections for e in await bot.events("ReceiptAttachmentApproved")
    }
    assert approved[plain].reverse_charge is True
    assert approved[marked].reverse_charge is False
    # Unchanged from the prefill: no correction of it.
    assert parse_corrections("6540", "", "", "nei", shown_reverse_charge=False) is not None
    assert parse_corrections("", "", "", "nei", shown_reverse_charge=False) is None
    with pytest.raises(ValueError, match="ja eller nei"):
        parse_corrections("", "", "", "kanskje")


async def test_people_are_named_as_discord_shows_them_and_events_keep_the_principal() -> None:
    bot = Bot()

    message = SimpleNamespace(
        id=777,
        content="",
        attachments=[SimpleNamespace(url=CDN, filename="kvittering.pdf")],
        author=SimpleNamespace(id=OLA, display_name="Ola Nordmann"),
        guild_id=9,
    )
    await bot.handler.on_message(
        SimpleNamespace(is_human=True, channel_id=INVOICES, message=message)
    )
    [(proposal_id, thread)] = bot.handler.threads.items()
    [request] = bot.rest.messages(REVIEW)
    assert "Foreslått av Ola Nordmann." in request and "human:" not in request

    event = button(KARI, "approve", proposal_id)
    event.interaction.member = SimpleNamespace(display_name="Kari (regnskap)")
    await bot.handler.on_interaction(event)
    text, _ = response(event)
    assert text.startswith("Godkjent av Kari (regnskap): ")
    [approved] = await bot.events("ReceiptAttachmentApproved")
    assert approved.actor == "human:kari"  # attribution stays exact
    await bot.handler.post_updates()
    assert "er godkjent av Kari (regnskap); utføres nå." in bot.rest.messages(thread)[-1]


def test_the_review_message_explains_a_failure_and_a_retry_never_quoting_fiken() -> None:
    from bookkeeper.adapters.discord.handler import outcome_text
    from tests.unit.test_web_failure_text import NOW, RAW, view

    failed = outcome_text(view(Status.FAILED, RAW))
    assert "Godkjent av kari: " in failed
    assert "\nFeilet: Fiken avviste kjøpet: kontoen 6540 finnes ikke i Fiken.\n" in failed
    assert "Validation" not in failed
    retrying = view(Status.APPROVED, "fiken 503: fiken POST /x answered 503", NOW.replace(minute=5))
    assert "\nForsøk 1 feilet: Fiken svarte ikke — prøver igjen kl. 14:05.\n" in outcome_text(
        retrying
    )


async def test_a_failed_proposal_gets_a_retry_button_that_sends_it_back_to_execution() -> None:
    # REST had POST /events/{id}/retry and the page a "Prøv igjen" button; the review
    # message of a FAILED proposal lost all its buttons, so a reviewer in Discord had to
    # leave Discord to send it back once Fiken's answer was put right.
    bot = Bot(subscribe=True)
    h = bot.chat.harness
    proposal_id = await h.propose(receipt("Biltema", await h.store()))
    await h.approve(proposal_id)
    h.world.faults.fail_next(retryable=False)
    await h.executor.run_once()
    assert (await h.view(proposal_id)).status == "FAILED"

    [message] = [
        held
        for held in review_messages(bot).values()
        if held.content.endswith(f"Forslag {proposal_id}")
    ]
    assert "\nFeilet: " in message.content and "«Prøv igjen»" in message.content
    [row] = message.components
    [retry] = row.components
    assert retry.custom_id == f"bk:retry:{proposal_id}" and retry.label == "Prøv igjen"

    # Someone who may not decide is told so, and nothing happens.
    for user in (OLA, STRANGER):
        event = button(user, "retry", proposal_id)
        await bot.handler.on_interaction(event)
        assert "ikke tilgang" in refused(event)
    assert await bot.events("ReceiptAttachmentExecutionRetried") == []

    event = button(KARI, "retry", proposal_id)
    await bot.handler.on_interaction(event)
    text, kwargs = response(event)
    assert kwargs["components"] == [] and "Feilet" not in text
    [retried] = await bot.events("ReceiptAttachmentExecutionRetried")
    assert retried.actor == "human:kari" and retried.stream_id == proposal_id
    await h.executor.run_once()
    assert (await h.view(proposal_id)).status == "EXECUTED"
    assert "\nUtført." in message.content and message.components == []

    # Pressed again on a message not yet edited: said why, nothing recorded twice.
    again = button(KARI, "retry", proposal_id)
    await bot.handler.on_interaction(again)
    assert any(
        name == "execute" and "Ikke utført" in args[0]
        for name, args, _ in again.interaction.fake.answers
    )
    assert len(await bot.events("ReceiptAttachmentExecutionRetried")) == 1


async def test_a_correction_in_the_thread_reaches_the_review_message() -> None:
    # "feil, det skal være konto 6540" in a document's thread was answered with the help
    # text ("Det kan jeg ikke svare på") and reached no one: the reviewer approved as read.
    bot = Bot()
    proposal_id = await bot.document(OLA)
    [thread] = {t for t in bot.handler.threads.values()}
    review = bot.handler.reviews[proposal_id]

    await bot.post(OLA, "Feil – det skal være konto 6540, **ikke** 5990 @everyone", channel=thread)
    [(note, kwargs)] = [
        (a[1], kw) for n, a, kw in bot.rest.calls if n == "create_message" and a[0] == REVIEW
    ][1:]
    assert kwargs["reply"] == review
    assert note == (
        "ola skrev i tråden om dette forslaget: «Feil – det skal være konto 6540, "
        "\\*\\*ikke\\*\\* 5990 @everyone»"
    )
    assert "mentions_everyone" not in kwargs  # hikari sends no mention unless asked
    told = bot.rest.messages(thread)[-1]
    assert told.startswith("Jeg kan ikke endre forslaget selv, men godkjenneren har fått")
    assert "Det kan jeg ikke svare på" not in told

    # A question in the thread is answered, not handed on.
    await bot.post(OLA, "hva er saldoen?", channel=thread)
    assert bot.rest.messages(thread)[-1].startswith("Saldo per ")
    assert len(bot.rest.messages(REVIEW)) == 2

    # Once decided, a correction is no longer the reviewer's: the conversation answers.
    await bot.handler.on_interaction(button(KARI, "approve", proposal_id))
    await bot.post(OLA, "dette var privat, sorry", channel=thread)
    assert len(bot.rest.messages(REVIEW)) == 2
    assert not bot.rest.messages(thread)[-1].startswith("Jeg kan ikke endre forslaget selv")


async def test_the_review_message_says_the_same_whichever_path_posts_it_first() -> None:
    # The handler's own post (the subscriber failing or slow) carried no warning, concern
    # or caption: the reviewer approved "privat, ikke bokfør" as read.
    direct = Bot()  # no subscriber: the handler's direct post is the only one
    await direct.post(OLA, "privat, ikke bokfør", files=1)
    [posted] = direct.rest.messages(REVIEW)
    concerns = [line for line in posted.splitlines() if line.startswith("- ")]
    assert concerns and "privat, ikke bokfør" in concerns[0], posted

    subscribed = Bot(subscribe=True)  # the subscriber posts first, from the event
    await subscribed.post(OLA, "privat, ikke bokfør", files=1)
    [by_event] = subscribed.rest.messages(REVIEW)
    assert by_event.splitlines()[:-1] == posted.splitlines()[:-1]  # all but the proposal id

    # A caption with nothing against booking is shown to the reviewer too, by either path.
    plain = Bot()
    await plain.post(OLA, "Middag med kunde Equinor", files=1)
    [text] = plain.rest.messages(REVIEW)
    assert "Avsender skrev: «Middag med kunde Equinor»" in text
    [proposal_id] = plain.handler.threads
    [proposed] = [e for e in await plain.chat.harness.all_events() if e.stream_id == proposal_id]
    await plain.reviews.handle(proposed)  # the late subscriber posts nothing more
    assert plain.rest.messages(REVIEW) == [text] and plain.rest.edits(REVIEW) == []


async def test_a_first_of_two_approvals_keeps_the_review_messages_concerns() -> None:
    # The edit after the first approval rebuilt the message without its concerns.
    from bookkeeper.domain.review import ReviewRules

    for subscribe in (False, True):
        bot = Bot(subscribe=subscribe)
        bot.chat.harness.memory.db.rules["acme"] = ReviewRules(two_approvers_above=Decimal("1000"))
        await bot.post(OLA, "feil beløp? sjekk", files=1)
        [proposal_id] = bot.handler.threads
        [posted] = bot.rest.messages(REVIEW)
        assert any(line.startswith("- ") for line in posted.splitlines()), posted

        pressed = button(KARI, "approve", proposal_id)
        await bot.handler.on_interaction(pressed)
        shown, kwargs = response(pressed)
        assert "components" not in kwargs  # still in review: the buttons stay
        # The interaction's edit, and the subscriber's edit of the message when it follows.
        for edited in [shown, *(text for _, text, _ in bot.rest.edits(REVIEW))]:
            assert "Første godkjenning gitt av kari" in edited, edited
            kept = [line for line in posted.splitlines() if line.startswith("- ")]
            assert all(line in edited.splitlines() for line in kept), edited


async def test_a_correction_in_the_thread_is_kept_with_the_proposal() -> None:
    # The note reached the review channel only: the audit trail and the page lost it.
    bot = Bot()
    proposal_id = await bot.document(OLA)
    [thread] = set(bot.handler.threads.values())
    await bot.post(OLA, "feil, det skal være konto 6540", channel=thread)
    await bot.post(OLA, "hva er saldoen?", channel=thread)  # a question is no note

    [noted] = await bot.events("ProposalNoted")
    view = await bot.chat.harness.view(proposal_id)
    assert noted.actor == "human:ola" and noted.correlation_id == view.correlation_id
    assert noted.data.proposal_id == str(proposal_id)
    assert (noted.data.text, noted.data.channel) == ("feil, det skal være konto 6540", "discord")
    assert noted.metadata["source"] == {"channel": "discord", "channelId": f"discord:{thread}"}
    assert view.status is Status.PROPOSED  # the reviewer decides

    # A stranger in the invoices channel (an agent) is recorded as who they are.
    await bot.post(STRANGER, "dette var privat", channel=thread)
    assert [e.actor for e in await bot.events("ProposalNoted")][1] == f"human:discord:{STRANGER}"


@pytest.mark.parametrize(
    "text", ["kan du endre konto til 6540?", "change the account to 6540 please", "kontoen: 6540"]
)
async def test_a_change_asked_in_the_thread_reaches_the_reviewer(text: str) -> None:
    # "kan du endre konto til 6540?" was told the chat never acts on orders, and reached
    # no one: the reviewer approved 5990.
    bot = Bot()
    proposal_id = await bot.document(OLA)
    [thread] = set(bot.handler.threads.values())
    await bot.post(OLA, text, channel=thread)
    note = bot.rest.messages(REVIEW)[-1]
    assert note.endswith(f"«{text}»"), note
    assert [e.data.text for e in await bot.events("ProposalNoted")] == [text]
    assert str(proposal_id) in bot.rest.messages(REVIEW)[0]


async def test_a_question_about_the_document_in_its_thread_is_answered_about_it() -> None:
    # "hvorfor konto 6540?" was answered with account 6540's balance in the books, "er
    # denne godkjent?" with the help text: the thread is about its document.
    bot = Bot()
    proposal_id = await bot.document(OLA)
    [thread] = set(bot.handler.threads.values())
    view = await bot.chat.harness.view(proposal_id)

    await bot.post(OLA, "hvorfor konto 6540?", channel=thread)
    why = bot.rest.messages(thread)[-1]
    assert f"Forslaget bruker konto {view.account_code}, ikke 6540." in why, why
    await bot.post(OLA, "er denne godkjent?", channel=thread)
    assert bot.rest.messages(thread)[-1].endswith("Status: venter på godkjenning.")
    await bot.post(OLA, "hva er mva her?", channel=thread)
    assert "termin" not in bot.rest.messages(thread)[-1]
    assert len(bot.rest.messages(REVIEW)) == 1  # questions, not notes for the reviewer
    assert await bot.events("ProposalNoted") == []


def test_a_long_answer_is_split_between_lines_within_discords_limit() -> None:
    # A long answer (every supplier's costs, a balance sheet) was cut at 2,000 characters.
    lines = [f"  Leverandør {n:02d} *Ærlig Øl*: 1 234,50 kr" for n in range(120)]
    sent = pieces("\n".join(lines))
    assert 1 < len(sent) <= MAX_PIECES and all(0 < len(p) <= 2000 for p in sent)
    shown = "\n".join(sent).splitlines()
    assert shown == [line.replace("*", "\\*") for line in lines]  # every line, escaped
    # One line longer than a message is cut between characters, never inside an escape.
    long = pieces("*" * 3000)
    assert all(len(p) <= 2000 and not p.endswith("\\") for p in long)
    assert "".join(long) == "\\*" * 3000
    # Beyond MAX_PIECES messages the rest is cut, and said to be.
    many = pieces("\n".join("x" * 1500 for _ in range(10)))
    assert len(many) == MAX_PIECES and many[-1].endswith("…")
