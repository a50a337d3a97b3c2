"""The Discord conversation and review, independent of the gateway (tested offline).

    invoices channel / DM ──▶ on_message
        attachment ──▶ SafeFetcher (Discord CDN only) ──▶ a thread on the message (guild
                       channels; a DM answers in place) ──▶ ConversationService.handle
                       (source "discord", channel "discord:<thread id>") ──▶ replies in the
                       thread; a proposal awaiting review ──▶ post_review_request
        question   ──▶ ConversationService.handle ──▶ replies in place
    review channel ──▶ on_interaction
        Godkjenn / Avvis / Korriger buttons (custom ids `bk:<action>:<proposal id>`), and
        Prøv igjen on a proposal whose execution FAILED (back to execution, as REST's
        POST /events/{id}/retry and the page's button);
        Avvis asks the reason and Korriger the account and VAT rate in a modal (prefilled
        from what was posted, no storage read before the modal). The Discord user must map
        to a principal allowed `proposals:decide` in the tenant (checked in memory, answered
        at once); a decision is acknowledged at once with a deferred update, then run, then
        the message is edited, so slow storage never shows "interaction failed". The
        handlers' ABAC refuses self-approval and approval of one's own document: those
        answers are ephemeral follow-ups, saying why.
    every proposal that needs review, whatever its channel (HTTP, the page, the bus, a
    pattern suggestion) ──▶ ReviewSubscriber (adapters/discord/reviews.py) ──▶
        post_review_request; every decision, wherever made ──▶ update_review edits the
        review message (`rest.edit_message`).
    post_updates() ──▶ ConversationService.updates of every channel the bot answered in
                       (kept in memory; `recover` rebuilds it from the proposals' source
                       metadata, channel id "discord:<id>", after a restart).

`rest` is hikari's RESTClient (GatewayBot.rest); tests pass a recording double.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

import hikari
import msgspec

from bookkeeper.adapters.discord.notifier import discord_escaped, pieces
from bookkeeper.adapters.fetch import FetchError
from bookkeeper.application import messages as m
from bookkeeper.application.commands import ApproveProposal, RejectProposal, RetryExecution
from bookkeeper.application.conversation import (
    ConversationService,
    Reply,
    reads_as_correction,
    recorded_reasons,
)
from bookkeeper.application.errors import ApplicationError, Forbidden
from bookkeeper.application.failures import explain_error, explain_failure
from bookkeeper.application.handlers import DecisionResult, Handlers
from bookkeeper.application.people import People, clean_name
from bookkeeper.application.ports import (
    AGENT,
    Authorizer,
    EventFilter,
    Principal,
    ProposalView,
    RecordedEvent,
)
from bookkeeper.application.queries import Queries
from bookkeeper.domain.approval import OwnDocumentApprovalNotAllowed, SecondApproverRequired
from bookkeeper.domain.errors import DomainError, SelfApprovalNotAllowed
from bookkeeper.domain.events import Corrections, Status
from bookkeeper.domain.numerals import parse_written_amount, parse_written_rate
from bookkeeper.domain.vat_registration import VAT_REGISTRATION_SIGNAL

log = logging.getLogger("bookkeeper.discord")

SOURCE: Final = "discord"
#: Discord's limit on a message's content.
MAX_CONTENT: Final = 2000
#: Discord's limit on a thread name.
MAX_THREAD_NAME: Final = 100
APPROVE: Final = "approve"
REJECT: Final = "reject"
CORRECT: Final = "correct"
#: A FAILED proposal's button: back to execution (POST /events/{id}/retry, the page's
#: "Prøv igjen"), a reviewer's decision as the others.
RETRY: Final = "retry"
REJECT_MODAL: Final = "reject-modal"
CORRECT_MODAL: Final = "correct-modal"
PREFIX: Final = "bk"
ACCOUNT_INPUT: Final = "account"
VAT_INPUT: Final = "vat"
#: ADR 0051: a foreign-currency document's amount in NOK, when it has none.
NOK_INPUT: Final = "nok"
#: ADR 0056 addendum: a purchase's reverse charge ("ja" / "nei"), as the web page's checkbox.
REVERSE_CHARGE_INPUT: Final = "reverse_charge"
#: The proposals whose reverse charge the modal offers: purchases.
_PURCHASE_KINDS: Final = frozenset(
    {"receipt_attachment", "invoice_registration", "expense_registration"}
)
REASON_INPUT: Final = "reason"
#: Characters of a correction written in a document's thread handed on to its review.
MAX_NOTE: Final = 500
#: Reasons against a proposal shown in its review request, and how much of each.
MAX_CONCERNS: Final = 4
MAX_CONCERN_LENGTH: Final = 200


class DiscordUser(msgspec.Struct, frozen=True, kw_only=True):
    """A mapped Discord user: the principal's subject and roles in the bot's tenant."""

    subject: str
    roles: frozenset[str]


class ReviewContent(msgspec.Struct, frozen=True, kw_only=True):
    """What a proposal's review message says beyond its state, from its proposed event."""

    #: Its warnings, then its confidence's reasons against it (the weightiest first).
    concerns: tuple[str, ...] = ()
    #: What its sender wrote with the document (the chat's caption), if anything.
    caption: str | None = None
    #: Proposed for a company outside the VAT register (ADR 0056 addendum 4).
    outside_vat_register: bool = False


def read_review_content(event: RecordedEvent) -> ReviewContent:
    """The review content of a proposal's proposed event: one function, whichever path
    posts the review message (the review subscriber, the Discord handler's own)."""
    source = event.metadata.get("source")
    caption = source.get("caption") if isinstance(source, dict) else None
    confidence = event.metadata.get("confidence")
    reasons = confidence.get("reasons") if isinstance(confidence, dict) else None
    outside = any(
        isinstance(reason, dict) and reason.get("signal") == VAT_REGISTRATION_SIGNAL
        for reason in (reasons if isinstance(reasons, list | tuple) else ())
    )
    return ReviewContent(
        concerns=tuple(concerns(event)),
        caption=caption if isinstance(caption, str) and caption.strip() else None,
        outside_vat_register=outside,
    )


def concerns(event: RecordedEvent) -> list[str]:
    """What speaks against a proposal, as its proposed event records it: its warnings
    first (what the reviewer must check, e.g. a credit note's amount beyond its invoice's),
    then its confidence's negative reasons, the weightiest first; each once."""
    recorded = event.metadata.get("warnings")
    warnings = [w for w in recorded if isinstance(w, str)] if isinstance(recorded, list) else []
    found = [(effect, detail) for effect, detail in recorded_reasons(event.metadata) if effect < 0]
    details = [detail for _, detail in sorted(found, key=lambda pair: pair[0])]
    return list(dict.fromkeys([*warnings, *details]))


def parse_users(entries: Iterable[str]) -> dict[int, DiscordUser]:
    """`discordUserId=subject:role+role` entries (BOOKKEEPER_DISCORD_USERS) as a map."""
    users: dict[int, DiscordUser] = {}
    for entry in entries:
        user_id, _, rest = entry.partition("=")
        subject, _, roles = rest.partition(":")
        if not user_id.strip().isdigit() or not subject or not roles:
            raise ValueError(f"not a discordUserId=subject:role+role entry: {entry!r}")
        users[int(user_id)] = DiscordUser(
            subject=subject.strip(),
            roles=frozenset(r.strip() for r in roles.split("+") if r.strip()),
        )
    return users


class Fetcher(Protocol):
    """SafeFetcher: the bytes and content type of an allow-listed https URL."""

    async def fetch(self, url: str) -> tuple[bytes, str]: ...


def custom_id(action: str, proposal_id: uuid.UUID) -> str:
    return f"{PREFIX}:{action}:{proposal_id}"


def parse_custom_id(value: str) -> tuple[str, uuid.UUID] | None:
    prefix, _, rest = value.partition(":")
    action, _, raw = rest.partition(":")
    if prefix != PREFIX:
        return None
    try:
        return action, uuid.UUID(raw)
    except ValueError:
        return None


def conversation_channel(channel_id: int) -> str:
    """The conversation store's channel id of a Discord channel or thread."""
    return f"{SOURCE}:{channel_id}"


def _clip(text: str) -> str:
    """A message as it is sent to Discord: markdown escaped, within its length limit."""
    text = discord_escaped(text)
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


class DiscordHandler:
    """Messages and interactions of one Discord application serving one tenant."""

    def __init__(
        self,
        *,
        rest: Any,
        conversation: ConversationService,
        handlers: Handlers,
        queries: Queries,
        authorizer: Authorizer,
        fetcher: Fetcher,
        tenant: str,
        users: Mapping[int, DiscordUser],
        invoices_channel: int | None = None,
        review_channel: int | None = None,
        people: People | None = None,
    ) -> None:
        self._rest = rest
        #: What people are called in the messages (the conversation's, unless given):
        #: Discord display names are learnt as people write and press buttons.
        self.people: People = people or getattr(conversation, "people", None) or People()
        self._conversation = conversation
        self._handlers = handlers
        self._queries = queries
        self._authorizer = authorizer
        self._fetcher = fetcher
        self.tenant = tenant
        self._users = dict(users)
        self.invoices_channel = invoices_channel
        self.review_channel = review_channel
        #: conversation channel id ("discord:<id>") ─▶ the Discord channel told its news.
        self.channels: dict[str, int] = {}
        #: proposal id ─▶ the thread (or DM channel) where its document was posted.
        self.threads: dict[uuid.UUID, int] = {}
        #: proposal id ─▶ its review request message in the review channel.
        self.reviews: dict[uuid.UUID, int] = {}
        #: proposal id ─▶ the text its review message shows now (edits only on change).
        self.review_texts: dict[uuid.UUID, str] = {}
        #: proposal id ─▶ (account, VAT rate) as posted: the Korriger modal's prefill.
        self.review_values: dict[uuid.UUID, tuple[str | None, Decimal | None]] = {}
        #: proposal id ─▶ its document's currency as posted: the modal asks for the amount
        #: in NOK unless it is known to be a NOK document (ADR 0051).
        self.review_currencies: dict[uuid.UUID, str] = {}
        #: proposal id ─▶ its reverse charge as posted, for a purchase the modal offers it
        #: on (one without VAT, or already marked; ADR 0056 addendum).
        self.review_reverse_charge: dict[uuid.UUID, bool] = {}
        #: proposal id ─▶ what its proposed event says to the reviewer (concerns, caption):
        #: read once, shown by every post and edit of its review message.
        self.review_contents: dict[uuid.UUID, ReviewContent] = {}
        self._review_lock = asyncio.Lock()

    # --- who ---------------------------------------------------------------------------

    def principal_for(self, user_id: int, who: Any = None) -> Principal:
        """A mapped user's principal; anyone else (in the invoices channel and the bot's
        threads only: a DM needs a mapped user) posts as an agent `discord:<id>`. `who`
        (the hikari member or user) gives the name people read; it is learnt."""
        user = self._users.get(int(user_id))
        name = discord_name(who)
        if user is None:
            principal = Principal(
                subject=f"discord:{int(user_id)}",
                tenant_id=self.tenant,
                roles=frozenset({"agent"}),
                name=name,
            )
        else:
            principal = Principal(
                subject=user.subject, tenant_id=self.tenant, roles=user.roles, name=name
            )
        self.people.learn(self.tenant, principal.subject, name)
        return principal

    @property
    def agent(self) -> Principal:
        return Principal(subject=AGENT, tenant_id=self.tenant, roles=frozenset({"agent"}))

    # --- messages ----------------------------------------------------------------------

    async def on_message(self, event: Any) -> None:
        """A message in the invoices channel, a document thread or a DM."""
        if not getattr(event, "is_human", True):
            return
        message = event.message
        channel_id = int(event.channel_id)
        is_dm = getattr(message, "guild_id", None) is None
        known = conversation_channel(channel_id) in self.channels
        if not (is_dm or known or channel_id == self.invoices_channel):
            return
        if is_dm and int(message.author.id) not in self._users:
            # A DM reaches the bot from anyone who shares a server with it: only a mapped
            # user speaks for the tenant there (else any stranger read its bank balance).
            log.info("Discord DM from an unmapped user %s refused", int(message.author.id))
            await self._rest.create_message(channel_id, m.text("dm_unknown_user", m.NORWEGIAN))
            return
        text = (message.content or "").strip()
        files = list(message.attachments or ())
        principal = self.principal_for(
            message.author.id, getattr(message, "member", None) or message.author
        )
        if files:
            await self._documents(event, principal, channel_id, text, files, is_dm or known)
        elif text:
            replies = await self._conversation.handle(
                principal, conversation_channel(channel_id), text, source=SOURCE
            )
            if known and await self._hand_on(principal, channel_id, text, replies):
                return
            await self._post(channel_id, replies)

    async def _hand_on(
        self, principal: Principal, channel_id: int, text: str, replies: Sequence[Reply]
    ) -> bool:
        """A correction written in a document's thread while its proposal waits for review
        ("feil, det skal være konto 6540", "dette var privat") goes to the proposal's review
        message as a reply, where the reviewer decides, and the writer is told so: it was
        answered with the help text and reached no one. A question answered, or a proposal
        decided or not posted for review here, is left to the conversation's reply."""
        if any(r.event_id is not None for r in replies) or not reads_as_correction(text):
            return False
        waiting = [pid for pid, thread in self.threads.items() if thread == channel_id]
        for proposal_id in reversed(waiting):  # the thread's latest document first
            review = self.reviews.get(proposal_id)
            if review is None or self.review_channel is None:
                continue
            try:
                view = await self._queries.proposal(self.agent, proposal_id)
            except ApplicationError:
                continue
            if view.status is not Status.PROPOSED:
                continue
            # Kept with the proposal first (its audit trail and page), then handed on.
            try:
                await self._conversation.note(
                    principal,
                    proposal_id,
                    text[:MAX_NOTE],
                    source=SOURCE,
                    channel_id=conversation_channel(channel_id),
                )
            except Exception:  # the reviewer still hears of it in Discord
                log.exception("Discord: the note on %s could not be recorded", proposal_id)
            name = self.people.name(principal.subject, tenant=self.tenant)
            note = m.text("discord.note", m.NORWEGIAN, name=name, text=text[:MAX_NOTE])
            await self._rest.create_message(self.review_channel, _clip(note), reply=review)
            english = bool(replies) and replies[0].language == m.ENGLISH
            language: m.Language = m.ENGLISH if english else m.NORWEGIAN
            said = Reply(text=m.text("discord.note_forwarded", language), language=language)
            await self._post(channel_id, [said])
            return True
        return False

    async def _documents(
        self,
        event: Any,
        principal: Principal,
        channel_id: int,
        text: str,
        files: Sequence[Any],
        in_place: bool,
    ) -> None:
        attachments: list[tuple[bytes, str | None, str | None]] = []
        for file in files:
            try:
                content, content_type = await self._fetcher.fetch(str(file.url))
            except FetchError as error:
                log.warning("could not fetch Discord attachment %s: %s", file.filename, error)
                await self._rest.create_message(
                    channel_id,
                    _clip(
                        m.text(
                            "document_failed",
                            m.NORWEGIAN,
                            filename=file.filename,
                            error=explain_error(error, m.NORWEGIAN),
                        )
                    ),
                )
                continue
            attachments.append((content, content_type or None, file.filename))
        if not attachments:
            return
        target = channel_id
        if not in_place:
            # One thread per message with documents: Discord allows one thread per message.
            name = ", ".join(name or "dokument" for _, _, name in attachments)
            thread = await self._rest.create_message_thread(
                channel_id,
                event.message,
                name[:MAX_THREAD_NAME],
                auto_archive_duration=dt.timedelta(days=1),
            )
            target = int(thread.id)
        replies = await self._conversation.handle(
            principal, conversation_channel(target), text, attachments, source=SOURCE
        )
        await self._post(target, replies)
        for reply in replies:
            if reply.proposal_id is None:
                continue
            self.threads[reply.proposal_id] = target
            if reply.status == Status.PROPOSED.value and self.review_channel is not None:
                view = await self._queries.proposal(self.agent, reply.proposal_id)
                await self.post_review_request(view)

    async def _post(self, channel_id: int, replies: Sequence[Reply]) -> None:
        self.channels[conversation_channel(channel_id)] = channel_id
        for reply in replies:
            for piece in pieces(reply.text):
                await self._rest.create_message(channel_id, piece)

    # --- review requests ---------------------------------------------------------------

    async def post_review_request(self, view: ProposalView) -> Any:
        """Post a proposal to the review channel with Godkjenn / Avvis / Korriger buttons,
        once per proposal (the direct path and the review subscriber may both ask). What
        it says is read from the proposal's own record (`review_content`), whichever path
        posts it first: its warnings, what speaks against it, its sender's caption."""
        if self.review_channel is None or view.tenant_id != self.tenant:
            return None
        await self.people.sync()
        content = await self.review_content(view.id)
        reverse = offered_reverse_charge(view)
        if reverse is False and content.outside_vat_register:
            reverse = None  # as the review page: "ja" could only be refused
        async with self._review_lock:
            if view.id in self.reviews:
                return None
            text = _clip(review_text(view, content.concerns, self.people, content.caption))
            message = await self._rest.create_message(
                self.review_channel, text, components=[_buttons(view.id)]
            )
            self.reviews[view.id] = int(message.id)
            self.review_texts[view.id] = text
            self.review_values[view.id] = (view.account_code, view.vat_rate)
            self.review_currencies[view.id] = str(view.data.get("currency") or "NOK")
            if reverse is not None:
                self.review_reverse_charge[view.id] = reverse
            return message

    async def review_content(self, proposal_id: uuid.UUID) -> ReviewContent:
        """What a proposal's review message says beyond the proposal's state, read from its
        proposed event (`read_review_content`) once and kept: the same for the first post,
        whichever path makes it, and for every edit while it waits for review. A log that
        cannot be read says nothing more (and is read again next time)."""
        known = self.review_contents.get(proposal_id)
        if known is not None:
            return known
        try:
            found = await self._queries.events(
                self.agent, EventFilter(stream_id=proposal_id, limit=1)
            )
        except Exception:
            log.exception("Discord review: the proposal %s could not be read", proposal_id)
            return ReviewContent()
        content = read_review_content(found[0]) if found else ReviewContent()
        self.review_contents[proposal_id] = content
        return content

    async def update_review(self, view: ProposalView) -> bool:
        """Edit the proposal's review message to show where it stands now (a decision made
        anywhere: here, on the page, over REST, by a rule, or the executor's outcome);
        whether the message was edited. Unknown messages and unchanged texts are left."""
        if self.review_channel is None or view.tenant_id != self.tenant:
            return False
        await self.people.sync()
        async with self._review_lock:
            message = self.reviews.get(view.id)
        if message is None:
            return False
        content = await self.review_content(view.id)
        async with self._review_lock:
            text, components = _review_state(view, self.people, content)
            if self.review_texts.get(view.id) == text:
                return False
            await self._rest.edit_message(self.review_channel, message, text, components=components)
            self.review_texts[view.id] = text
            return True

    async def recover_reviews(self, limit: int = 500) -> int:
        """Rebuild the proposal ─▶ review message map after a restart from the review
        channel's recent messages (each names its proposal: "Forslag <id>")."""
        if self.review_channel is None:
            return 0
        found = 0
        async for message in self._rest.fetch_messages(self.review_channel).limit(limit):
            match = _PROPOSAL_LINE.search(message.content or "")
            if match is None:
                continue
            proposal_id = uuid.UUID(match.group(1))
            async with self._review_lock:
                if proposal_id not in self.reviews:
                    self.reviews[proposal_id] = int(message.id)
                    self.review_texts[proposal_id] = message.content or ""
                    found += 1
        return found

    # --- interactions ------------------------------------------------------------------

    async def on_interaction(self, event: Any) -> None:
        """A button press or modal submit on a review request."""
        interaction = event.interaction
        if isinstance(interaction, hikari.ComponentInteraction):
            await self._button(interaction)
        elif isinstance(interaction, hikari.ModalInteraction):
            await self._modal(interaction)

    async def _button(self, interaction: Any) -> None:
        parsed = parse_custom_id(interaction.custom_id)
        if parsed is None:
            return
        action, proposal_id = parsed
        principal = await self._reviewer(interaction)
        if principal is None:
            return
        if action == APPROVE:
            await self._decide(
                interaction,
                lambda: self._handlers.approve(
                    ApproveProposal(principal=principal, proposal_id=proposal_id)
                ),
            )
        elif action == RETRY:
            await self._decide(
                interaction,
                lambda: self._handlers.retry(
                    RetryExecution(principal=principal, proposal_id=proposal_id)
                ),
            )
        elif action == REJECT:
            row = hikari.impl.ModalActionRowBuilder()
            row.add_text_input(
                REASON_INPUT,
                "Begrunnelse",
                style=hikari.TextInputStyle.PARAGRAPH,
                max_length=500,
            )
            await interaction.create_modal_response(
                "Avvis forslaget", custom_id(REJECT_MODAL, proposal_id), components=[row]
            )
        elif action == CORRECT:
            # A modal must be the first answer: prefilled from memory, never from storage.
            account_code, vat_rate = self.review_values.get(proposal_id, (None, None))
            account = hikari.impl.ModalActionRowBuilder()
            vat = hikari.impl.ModalActionRowBuilder()
            account.add_text_input(
                ACCOUNT_INPUT,
                "Konto (4 siffer)",
                value=account_code or hikari.UNDEFINED,
                required=False,
                max_length=4,
            )
            vat.add_text_input(
                VAT_INPUT,
                "Mva-sats i prosent (0, 12, 15 eller 25)",
                value=(
                    m.percent(vat_rate).removesuffix(" %")
                    if vat_rate is not None
                    else hikari.UNDEFINED
                ),
                required=False,
                max_length=6,
            )
            rows = [account, vat]
            currency = self.review_currencies.get(proposal_id)
            if currency != "NOK":  # foreign, or not known here (posted before a restart)
                nok = hikari.impl.ModalActionRowBuilder()
                nok.add_text_input(
                    NOK_INPUT,
                    f"Beløp i NOK (bilag i {currency or 'utenlandsk valuta'})",
                    required=False,
                    max_length=20,
                )
                rows.append(nok)
            reverse = self.review_reverse_charge.get(proposal_id)
            if reverse is not None:
                row = hikari.impl.ModalActionRowBuilder()
                row.add_text_input(
                    REVERSE_CHARGE_INPUT,
                    m.text("discord.reverse_charge_label", m.NORWEGIAN),
                    value=_yes_no(reverse),
                    required=False,
                    max_length=5,
                )
                rows.append(row)
            await interaction.create_modal_response(
                "Korriger og godkjenn", custom_id(CORRECT_MODAL, proposal_id), components=rows
            )

    async def _modal(self, interaction: Any) -> None:
        parsed = parse_custom_id(interaction.custom_id)
        if parsed is None:
            return
        action, proposal_id = parsed
        principal = await self._reviewer(interaction)
        if principal is None:
            return
        values = modal_values(interaction.components)
        if action == REJECT_MODAL:
            reason = values.get(REASON_INPUT, "").strip()
            if not reason:
                await _ephemeral(interaction, "Skriv en begrunnelse for å avvise.")
                return
            await self._decide(
                interaction,
                lambda: self._handlers.reject(
                    RejectProposal(principal=principal, proposal_id=proposal_id, reason=reason)
                ),
            )
        elif action == CORRECT_MODAL:
            try:
                corrections = parse_corrections(
                    values.get(ACCOUNT_INPUT, ""),
                    values.get(VAT_INPUT, ""),
                    values.get(NOK_INPUT, ""),
                    values.get(REVERSE_CHARGE_INPUT, ""),
                    shown_reverse_charge=self.review_reverse_charge.get(proposal_id),
                )
            except ValueError as error:
                await _ephemeral(interaction, str(error))
                return
            await self._decide(
                interaction,
                lambda: self._handlers.approve(
                    ApproveProposal(
                        principal=principal, proposal_id=proposal_id, corrections=corrections
                    )
                ),
            )

    async def _reviewer(self, interaction: Any) -> Principal | None:
        """The presser's principal if it may decide proposals; else say why, ephemerally."""
        if self.review_channel is not None and int(interaction.channel_id) != self.review_channel:
            await _ephemeral(interaction, "Godkjenning skjer i godkjenningskanalen.")
            return None
        principal = self.principal_for(
            interaction.user.id, getattr(interaction, "member", None) or interaction.user
        )
        try:
            self._authorizer.check(principal, "proposals:decide")
        except Forbidden:
            log.info("Discord user %s may not decide proposals", interaction.user.id)
            await _ephemeral(
                interaction,
                "Du har ikke tilgang til å godkjenne eller avvise bilag i denne kanalen "
                "(Discord-brukeren din er ikke koblet til en godkjenner).",
            )
            return None
        return principal

    async def _decide(
        self, interaction: Any, decision: Callable[[], Awaitable[DecisionResult]]
    ) -> None:
        """Acknowledge at once (a deferred update: Discord waits 3 s for the first answer,
        storage may not), then decide, then edit the message or say why not, ephemerally."""
        await interaction.create_initial_response(hikari.ResponseType.DEFERRED_MESSAGE_UPDATE)
        try:
            result = await decision()
        except OwnDocumentApprovalNotAllowed:
            await _followup(interaction, "Du kan ikke godkjenne et bilag du lastet opp selv.")
            return
        except SecondApproverRequired:
            await _followup(
                interaction, "Du har allerede godkjent dette; en annen godkjenner må gjøre resten."
            )
            return
        except SelfApprovalNotAllowed:
            await _followup(interaction, "Du kan ikke godkjenne ditt eget forslag.")
            return
        except (DomainError, ApplicationError) as error:
            # In words of ours, in Norwegian (application/failures.py): the domain's message
            # is the record's, in English, and a books or bank answer is never quoted.
            await _followup(interaction, f"Ikke utført: {explain_error(error, m.NORWEGIAN)}.")
            return
        except Exception:
            log.exception("Discord decision on %s failed", interaction.custom_id)
            await _followup(interaction, "Noe gikk galt; beslutningen ble ikke lagret. Prøv igjen.")
            return
        view = result.proposal
        text, components = _review_state(view, self.people, await self.review_content(view.id))
        async with self._review_lock:
            self.review_texts[view.id] = text
        if components is None:
            await interaction.edit_initial_response(text)
        else:
            await interaction.edit_initial_response(text, components=components)

    # --- news --------------------------------------------------------------------------

    async def post_updates(self) -> int:
        """Post ConversationService.updates into each known channel; how many were posted."""
        posted = 0
        for channel, target in list(self.channels.items()):
            try:
                replies = await self._conversation.updates(self.agent, channel)
                for reply in replies:
                    await self._rest.create_message(target, _clip(reply.text))
                    posted += 1
            except Exception:  # one channel's failure must not stop the others
                log.exception("could not post updates to Discord channel %s", target)
        return posted

    async def recover(self, since: dt.datetime | None = None) -> int:
        """Rebuild the proposal ↔ thread map after a restart from the proposals' source
        metadata (channel "discord", channelId "discord:<id>"); how many were found."""
        found: set[uuid.UUID] = set()
        after = 0
        while True:
            page = await self._queries.events(
                self.agent, EventFilter(created_from=since, after_position=after, limit=200)
            )
            for event in page:
                source = event.metadata.get("source")
                if not isinstance(source, dict) or source.get("channel") != SOURCE:
                    continue
                if not event.type.endswith("Proposed"):  # a proposal's first event
                    continue
                channel = str(source.get("channelId") or "")
                _, _, raw = channel.partition(":")
                if raw.isdigit():
                    self.threads[event.stream_id] = int(raw)
                    self.channels[channel] = int(raw)
                    found.add(event.stream_id)
            if len(page) < 200:
                return len(found)
            after = page[-1].position


async def _ephemeral(interaction: Any, text: str) -> None:
    await interaction.create_initial_response(
        hikari.ResponseType.MESSAGE_CREATE, _clip(text), flags=hikari.MessageFlag.EPHEMERAL
    )


async def _followup(interaction: Any, text: str) -> None:
    """An ephemeral answer after a deferred acknowledgement."""
    await interaction.execute(_clip(text), flags=hikari.MessageFlag.EPHEMERAL)


_PROPOSAL_LINE: Final = re.compile(
    r"^Forslag ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.M
)


def _buttons(proposal_id: uuid.UUID) -> Any:
    row = hikari.impl.MessageActionRowBuilder()
    row.add_interactive_button(
        hikari.ButtonStyle.SUCCESS, custom_id(APPROVE, proposal_id), label="Godkjenn"
    )
    row.add_interactive_button(
        hikari.ButtonStyle.DANGER, custom_id(REJECT, proposal_id), label="Avvis"
    )
    row.add_interactive_button(
        hikari.ButtonStyle.SECONDARY, custom_id(CORRECT, proposal_id), label="Korriger"
    )
    return row


def _retry_button(proposal_id: uuid.UUID) -> Any:
    row = hikari.impl.MessageActionRowBuilder()
    row.add_interactive_button(
        hikari.ButtonStyle.PRIMARY, custom_id(RETRY, proposal_id), label="Prøv igjen"
    )
    return row


def _review_state(
    view: ProposalView, people: People, content: ReviewContent
) -> tuple[str, list[Any] | None]:
    """The review message's text for where the proposal stands, and its components: None
    keeps the buttons (still in review), [] removes them (decided), a FAILED proposal's
    is the Prøv igjen button (sent back to execution once the cause is put right). While
    it waits it says what its first post said (`content`), and who approved it first."""
    if view.status is Status.PROPOSED:
        text = review_text(view, content.concerns, people, content.caption)
        if view.endorsed_by:
            first = people.name(view.endorsed_by, tenant=view.tenant_id)
            text += f"\nFørste godkjenning gitt av {first}; venter på en godkjenner til."
        return _clip(text), None
    if view.status is Status.FAILED:
        return _clip(outcome_text(view, people)), [_retry_button(view.id)]
    return _clip(outcome_text(view, people)), []


def discord_name(who: Any) -> str | None:
    """The name Discord shows for a member or user (server nickname, else global display
    name, else user name), as one printable line; None if it has none."""
    if who is None:
        return None
    for attribute in ("display_name", "global_name", "username"):
        name = clean_name(getattr(who, attribute, None))
        if name is not None:
            return name
    return None


def modal_values(rows: Iterable[Any]) -> dict[str, str]:
    """custom_id ─▶ value of a modal's text inputs (rows of components)."""
    values: dict[str, str] = {}
    for row in rows:
        for component in getattr(row, "components", (row,)):
            key = getattr(component, "custom_id", None)
            value = getattr(component, "value", None)
            if isinstance(key, str) and isinstance(value, str):
                values[key] = value
    return values


def offered_reverse_charge(view: ProposalView) -> bool | None:
    """Whether the Korriger modal offers a proposal's reverse charge, and as what: a
    purchase (receipt, invoice, expense) without VAT or marked as reverse charge — its
    flag; None for anything else (a reverse charge carries no VAT of the seller's, so a
    purchase with VAT has none to turn on; ADR 0056)."""
    if view.kind not in _PURCHASE_KINDS:
        return None
    marked = view.data.get("reverseCharge") is True
    if marked or (view.vat_rate is not None and view.vat_rate == 0):
        return marked
    return None


def _yes_no(value: bool) -> str:
    return m.text("discord.yes" if value else "discord.no", m.NORWEGIAN)


def parse_reverse_charge(text: str) -> bool | None:
    """ "ja" / "nei" (also "j", "n", "yes", "no"; any case) from the modal; None when
    empty; ValueError (Norwegian) for anything else."""
    said = text.strip().casefold()
    if not said:
        return None
    if said in {m.text("discord.yes", m.NORWEGIAN), "j", "yes", "y"}:
        return True
    if said in {m.text("discord.no", m.NORWEGIAN), "n", "no"}:
        return False
    raise ValueError(m.text("discord.reverse_charge_invalid", m.NORWEGIAN))


def parse_corrections(
    account: str,
    vat: str,
    nok: str = "",
    reverse_charge: str = "",
    *,
    shown_reverse_charge: bool | None = None,
) -> Corrections | None:
    """The reviewer's corrections from the modal; ValueError (Norwegian) if malformed.
    `nok`: a foreign-currency document's amount in NOK ("1 234,56"; ADR 0051).
    `reverse_charge`: "ja" / "nei" (ADR 0056 addendum), a correction only when it differs
    from `shown_reverse_charge`, what the modal was prefilled with (as the web page sends
    a change of its checkbox only)."""
    reverse = parse_reverse_charge(reverse_charge)
    if reverse is not None and reverse == shown_reverse_charge:
        reverse = None
    # Numbers read as the web page reads them (domain.numerals.parse_written_amount and
    # parse_written_rate): "1 234,56", "1.234,56", "1234.56", "452,37 kr", "25 %"; "1e3",
    # "1_000", "1.234" (a thousand, or three decimals?) are refused (ADR 0049, round
    # three), and so is a rate in kroner or an amount in percent (ADR 0060).
    nok_amount: Decimal | None = None
    if nok.strip():
        try:
            nok_amount = parse_written_amount(nok)
        except ValueError:
            raise ValueError("Beløp i NOK må være et tall, f.eks. 452,37.") from None
        if not nok_amount.is_finite() or nok_amount <= 0:
            raise ValueError("Beløp i NOK må være større enn null.")
    account = account.strip()
    vat = vat.strip()
    if account and not (len(account) == 4 and account.isascii() and account.isdigit()):
        raise ValueError("Konto må være fire siffer, f.eks. 6540.")
    rate: Decimal | None = None
    if vat:
        try:
            rate = parse_written_rate(vat)
        except ValueError:
            raise ValueError("Mva-sats må være et tall, f.eks. 25.") from None
        if not rate.is_finite() or not 0 <= rate <= 100:
            raise ValueError("Mva-sats må være mellom 0 og 100.")
    if not account and rate is None and nok_amount is None and reverse is None:
        return None
    return Corrections(
        account_code=account or None, vat_rate=rate, nok_amount=nok_amount, reverse_charge=reverse
    )


def _merchant(view: ProposalView) -> str:
    return (
        view.merchant_name
        or next(
            (
                str(view.data[k])
                for k in ("merchantName", "supplier", "merchant")
                if view.data.get(k)
            ),
            None,
        )
        or m.text("unknown_merchant", m.NORWEGIAN)
    )


def _subject(view: ProposalView) -> str:
    currency = str(view.data.get("currency") or "NOK")
    kind = m.kind_word(view.kind, m.NORWEGIAN, view.data)
    if view.amount is None:  # a pattern suggestion, a reversal: no amount of its own
        return f"{kind} for {_merchant(view)}"
    return m.text(
        "subject",
        m.NORWEGIAN,
        kind=kind,
        merchant=_merchant(view),
        amount=m.kroner(view.amount, currency),
    )


def _vat(view: ProposalView) -> str:
    """The VAT of a proposal as the review shows it: its rate ("25 %"), or a receipt's
    parts per rate ("15 % av 982,00 kr + 25 % av 252,00 kr", ADR 0052)."""
    items = view.data.get("lineItems")
    rates = {str(i.get("vatRate")) for i in items if isinstance(i, dict)} if items else set()
    if not isinstance(items, list | tuple) or len(rates) < 2:
        return m.percent(view.vat_rate)
    currency = str(view.data.get("currency") or "NOK")
    parts: list[str] = []
    try:
        for item in items[:MAX_CONCERNS]:
            rate, amount = Decimal(str(item["vatRate"])), Decimal(str(item["amount"]))
            parts.append(f"{m.percent(rate)} av {m.kroner(amount, currency)}")
    except (KeyError, TypeError, InvalidOperation):
        return m.percent(view.vat_rate)
    return " + ".join(parts)


def review_text(
    view: ProposalView,
    concerns: Sequence[str] = (),
    people: People | None = None,
    caption: str | None = None,
) -> str:
    """The review request: what, booked how, proposed by whom, how sure and why not more,
    and what its sender wrote with the document (`caption`) unless a concern quotes it."""
    proposer = (people or People()).name(view.proposed_by, tenant=view.tenant_id)
    lines = [
        f"Til godkjenning: {_subject(view)}",
        f"Konto {view.account_code or '?'}, mva {_vat(view)}. Foreslått av {proposer}.",
    ]
    if view.confidence is not None:
        lines.append(f"Sikkerhet {m.score(view.confidence, m.NORWEGIAN)}.")
    for concern in concerns[:MAX_CONCERNS]:
        # Written in English where they are recorded; said in Norwegian, as on the page.
        lines.append(f"- {m.sentence(concern, m.NORWEGIAN)[:MAX_CONCERN_LENGTH]}")
    if caption and not any(caption in concern for concern in concerns[:MAX_CONCERNS]):
        lines.append(f"Avsender skrev: «{caption[:MAX_CONCERN_LENGTH]}»")
    lines.append(f"Forslag {view.id}")
    return "\n".join(lines)


def outcome_text(view: ProposalView, people: People | None = None) -> str:
    """The review message after a decision (and after the executor's outcome)."""
    by = (people or People()).name(view.decided_by, tenant=view.tenant_id)
    if view.status is Status.REJECTED:
        head = f"Avvist av {by}: {_subject(view)}\nBegrunnelse: {view.rejection_reason or '?'}"
    else:
        corrected = " (korrigert)" if view.corrections else ""
        head = (
            f"Godkjent av {by}{corrected}: {_subject(view)}\n"
            f"Konto {view.account_code or '?'}, mva {_vat(view)}."
        )
        # Why it failed in words of our own; the raw answer stays in the event.
        if view.status is Status.EXECUTED:
            head += "\nUtført."
        elif view.status is Status.FAILED:
            head += f"\nFeilet: {explain_failure(view.last_error, m.NORWEGIAN, kind=view.kind)}."
            head += "\nTrykk «Prøv igjen» når feilen er rettet."
        elif view.last_error and view.next_attempt_at is not None:
            again = explain_failure(
                view.last_error, m.NORWEGIAN, kind=view.kind, retry_at=view.next_attempt_at
            )
            head += f"\nForsøk {view.attempts} feilet: {again}."
    return f"{head}\nForslag {view.id}"
