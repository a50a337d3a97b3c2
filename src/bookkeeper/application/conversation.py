"""The conversation with the agent, whatever the channel (Discord, the `bookkeeper chat`
terminal): documents in, proposals out, questions answered, and news of what became of them.

    handle(principal, channel, text, attachments)
        attachment ──▶ DocumentPipeline.process ──▶ "Kvittering fra Adobe: 199,00 kr, konto
                       6540, mva 25 %. Sikkerhet 0,95: … Godkjent automatisk; utføres nå."
        question   ──▶ keyword intent ──▶ Lookups (a query event with the user as actor)
        otherwise  ──▶ a short help text
    updates(principal, channel) ──▶ the channel's proposals whose status changed since the
                       channel was last told (approved, executed, rejected + a question
                       back, failed)
    purge(now)     ──▶ forget messages older than RETENTION (30 days); call it daily from a
                       scheduler (the executor's, later). Events and documents are kept
                       for their own retention period and are never touched here.

Every message in and out is kept in a ConversationStore (table `conversation_messages`,
migration 0007). An outgoing message about a proposal records the proposal's status as
told, so `updates` knows what the channel has heard already. The language of a reply
follows the message (bookkeeper.application.messages.detect_language); news is told in the
language the user last wrote in that channel.

Intents are keywords (offline, no model): "saldo"/"balance" → bank balances; "mangler
kvittering"/"missing receipt" → bank events without a receipt; "leverandørfaktura"/
"invoice" → supplier invoices; "mva"/"moms"/"VAT" → what the VAT return of the current
(or named: "termin 5", "forrige termin") term pays or refunds and when it is due, from the
ledger's VAT report (VatQueried); "er kvitteringen fra Adobe godkjent?"/"hva venter på
godkjenning" → what became of the documents sent in (LedgerQueried "proposals"). They are
read-only: no proposal is ever made from text.

Pattern learning (story 2) is a subscriber of its own: application/pattern_learning.py.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import difflib
import logging
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Protocol

import msgspec

from bookkeeper.application import ledger_questions as lq
from bookkeeper.application import messages as m
from bookkeeper.application.errors import (
    ApplicationError,
    ExternalError,
    Forbidden,
    NotFound,
)
from bookkeeper.application.event_log import record_alone, stamp
from bookkeeper.application.failures import explain_error, explain_failure, system_name
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.lookups import InvalidDateRange, Lookups
from bookkeeper.application.people import People
from bookkeeper.application.pipeline import DocumentPipeline, IntakeResult
from bookkeeper.application.ports import (
    AGENT,
    Authorizer,
    Clock,
    EventFilter,
    Ids,
    Intent,
    IntentClassifier,
    NewEvent,
    Principal,
    ProposalFilter,
    ProposalView,
    Purchase,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import named_counterparty
from bookkeeper.application.spending import AI_SOURCES, OSLO, SpendingService
from bookkeeper.domain import statements
from bookkeeper.domain.accounts import DEFAULT_VAT_RATE, default_account
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    IntentClassifiedData,
    JournalEntryPostedData,
    Kind,
    LedgerQueriedData,
    ProposalNotedData,
    Status,
    Step,
    VatQueriedData,
    type_name,
)
from bookkeeper.domain.ledger import (
    BIMONTHLY,
    YEARLY,
    InvalidReportPeriod,
    VatTerm,
    VatTermLength,
    company_vat_term,
    files_return_for,
    vat_term_due_next,
    vat_term_of,
)
from bookkeeper.domain.review import Outcome

log = logging.getLogger("bookkeeper.conversation")

#: How long conversation messages are kept.
RETENTION: Final = dt.timedelta(days=30)
#: Characters of a message kept and read (Discord's own limit is 2,000; a terminal has none).
MAX_MESSAGE: Final = 4000
#: Characters of a document's caption kept with its proposal (and quoted to the reviewer).
MAX_CAPTION: Final = 300
#: Characters of a note on a proposal (ProposalNoted) kept.
MAX_NOTE: Final = 500
#: Lines listed in one answer before "… and N more".
MAX_LINES: Final = 10
#: The questions about the books answered from the ledger (story 8, ledger_questions.py).
BOOKS_QUESTIONS: Final = frozenset(
    {
        "result",
        "payables",
        "receivables",
        "costs",
        "account_balance",
        "journal",
        "balance_sheet",
        "supplier_costs",
        "monthly_costs",
    }
)
#: Journal entries read at most for a question about costs by supplier (from the period's
#: start on, a page at a time); an answer that reached it says so.
SUPPLIER_SCAN: Final = 20_000
SUPPLIER_PAGE: Final = 500
#: Documents read, newest first, for "er kvitteringen fra Adobe godkjent?".
STATUS_SCAN: Final = 200
#: The proposals made from documents, and the events that propose them.
DOCUMENT_KINDS: Final = (
    Kind.RECEIPT_ATTACHMENT.value,
    Kind.INVOICE_REGISTRATION.value,
    Kind.EXPENSE_REGISTRATION.value,
)
DOCUMENT_PROPOSED: Final = tuple(type_name(Kind(k), Step.PROPOSED) for k in DOCUMENT_KINDS)
#: Days of supplier invoices read for the open ones ("hva skylder vi leverandører").
OPEN_INVOICE_DAYS: Final = 366
#: Messages of a channel read back for its state (language, proposals told about).
HISTORY_LIMIT: Final = 500
INBOUND: Final = "in"
OUTBOUND: Final = "out"
#: The statuses news is told about.
NEWS: Final = frozenset({Status.APPROVED, Status.EXECUTED, Status.REJECTED, Status.FAILED})

Attachment = tuple[bytes, str | None, str | None]
"""(content, content type or None to sniff it, file name)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _BooksQuestion:
    """A question about the books as each ledger answer reads it, built once by `_books`:
    who asks, what they wrote and what it was read as, the period it asks about (the
    default one when it names none), and how and where to answer."""

    principal: Principal
    text: str
    intent: Intent
    start: dt.date
    end: dt.date
    language: m.Language
    source: str


class ConversationMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One message in or out of a channel."""

    id: uuid.UUID
    tenant_id: str
    channel_id: str
    user: str  # the actor: human:<subject> (in) or book-e (out)
    direction: str  # "in" or "out"
    text: str
    created_at: dt.datetime
    language: str = m.NORWEGIAN
    proposal_id: uuid.UUID | None = None
    #: For an outgoing message about a proposal: its status as told.
    proposal_status: str | None = None


class ConversationStore(Protocol):
    """Where conversation messages are kept (SQL table of migration 0007, or memory).

    Each call is its own short transaction, never inside a unit of work."""

    async def add(self, messages: Sequence[ConversationMessage]) -> None:
        """Keep messages (in order)."""
        ...

    async def history(
        self, tenant_id: str, channel_id: str, limit: int = HISTORY_LIMIT
    ) -> list[ConversationMessage]:
        """The channel's latest `limit` messages, oldest first."""
        ...

    async def purge(self, before: dt.datetime) -> int:
        """Delete every tenant's messages created before `before`; how many."""
        ...


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent answers: text, and for a proposal its id, status and outcome."""

    text: str
    language: str = m.NORWEGIAN
    proposal_id: uuid.UUID | None = None
    status: str | None = None
    outcome: str | None = None
    confidence: Decimal | None = None
    #: The query event recorded to answer a question.
    event_id: uuid.UUID | None = None
    #: What the channel is told of the proposal when not just its status (a retry after
    #: a failed attempt: "APPROVED:retry:<attempt>"), kept so it is told once.
    told: str | None = None


class ConversationService:
    """Channel-agnostic: an entrypoint passes in who wrote what where, and sends the replies."""

    def __init__(
        self,
        pipeline: DocumentPipeline,
        lookups: Lookups,
        store: ConversationStore,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
        *,
        classifier: IntentClassifier | None = None,
        spending: SpendingService | None = None,
        ledger: LedgerService | None = None,
        people: People | None = None,
    ) -> None:
        self._pipeline = pipeline
        #: What people are called in the answers (events keep the principal).
        self.people = people or People()
        #: Which read-only question a message asks: keywords unless a classifier is given.
        self._classifier: IntentClassifier = classifier or KeywordClassifier()
        self._lookups = lookups
        self._store = store
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer
        #: Issue 11: spending questions are answered from the cost snapshots.
        self._spending = spending
        #: VAT questions are answered from the ledger's VAT report.
        self._ledger = ledger

    async def handle(
        self,
        principal: Principal,
        channel_id: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        source: str = "chat",
    ) -> list[Reply]:
        """Answer one message: propose from each attachment, else answer the question."""
        if principal.name:
            self.people.learn(principal.tenant_id, principal.subject, principal.name)
        await self.people.sync()
        if len(text) > MAX_MESSAGE:  # a question is short: the rest is neither kept nor read
            text = text[: MAX_MESSAGE - 1] + "…"
        history = await self._store.history(principal.tenant_id, channel_id)
        language = m.detect_language(readable(text), _last_language(history))
        inbound = self._message(
            principal.tenant_id,
            channel_id,
            principal.actor,
            INBOUND,
            _inbound_text(text, attachments),
            language,
        )
        await self._store.add([inbound])
        replies: list[Reply] = []
        caption = " ".join(readable(text).split())[:MAX_CAPTION]
        for content, content_type, filename in attachments:
            replies.append(
                await self._document(
                    principal,
                    channel_id,
                    (content, content_type, filename),
                    language,
                    source,
                    caption,
                )
            )
        if not attachments:
            about, several = _latest_document(history)
            replies.append(await self._question(principal, text, language, source, about, several))
        await self._remember(principal.tenant_id, channel_id, replies)
        return replies

    async def updates(self, principal: Principal, channel_id: str) -> list[Reply]:
        """News of the channel's proposals whose status changed since it was last told."""
        self._authorizer.check(principal, "proposals:read")
        tenant = principal.tenant_id
        history = await self._store.history(tenant, channel_id)
        language = _last_language(history)
        told: dict[uuid.UUID, str | None] = {}
        for message in history:
            if message.proposal_id is not None and message.direction == OUTBOUND:
                told[message.proposal_id] = message.proposal_status
        if not told:
            return []
        async with self._uow() as uow:
            views = [await uow.proposals.get(tenant, pid) for pid in told]
        replies = [
            _news(view, language, self.people)
            for view in views
            if view is not None and view.status in NEWS and _told_as(view) != told[view.id]
        ]
        await self._remember(tenant, channel_id, replies)
        return replies

    async def note(
        self,
        principal: Principal,
        proposal_id: uuid.UUID,
        text: str,
        *,
        source: str,
        channel_id: str,
    ) -> uuid.UUID:
        """Record what a person wrote about a proposal where its document was handed in
        (a correction in its thread) as ProposalNoted, in the proposal's correlation, the
        writer as actor: the audit trail and the proposal's page keep it, the proposal is
        unchanged. The writer may hand documents in (`events:propose`) or decide them;
        NotFound for no such proposal of the tenant. Its id."""
        try:
            self._authorizer.check(principal, "events:propose")
        except Forbidden:
            self._authorizer.check(principal, "proposals:decide")
        async with self._uow() as uow:
            view = await uow.proposals.get(principal.tenant_id, proposal_id)
        if view is None:
            raise NotFound(f"proposal {proposal_id} not found")
        event_id = self._ids.new_id()
        data = ProposalNotedData(
            proposal_id=str(proposal_id), text=text.strip()[:MAX_NOTE], channel=source
        )
        event = stamp(
            "ProposalNoted",
            data,
            event_id=event_id,
            actor=principal.actor,
            at=self._clock.now(),
            correlation_id=view.correlation_id,
            metadata={"source": {"channel": source, "channelId": channel_id}},
        )
        await record_alone(self._uow, principal.tenant_id, event)
        return event_id

    async def purge(self, now: dt.datetime) -> int:
        """Forget messages older than RETENTION; how many (for a daily scheduler job)."""
        return await self._store.purge(now - RETENTION)

    # --- documents -----------------------------------------------------------------------

    async def _document(
        self,
        principal: Principal,
        channel_id: str,
        attachment: Attachment,
        language: m.Language,
        source: str,
        caption: str = "",
    ) -> Reply:
        """Propose from one document. What its sender wrote with it (`caption`) is kept
        with the proposal's source; words against booking it as read ("privat", "ikke
        bokfør", "feil beløp") keep it from automatic approval (`has_reservation`)."""
        content, content_type, filename = attachment
        where = {"channel": source, "channelId": channel_id, "user": principal.subject}
        if caption:
            where["caption"] = caption
        try:
            result = await self._pipeline.process(
                principal,
                content,
                content_type,
                filename,
                source=where,
                reservation=caption if has_reservation(caption) else None,
            )
        except Forbidden:
            return Reply(text=m.text("forbidden", language), language=language)
        except ExternalError as error:  # the bank or the books: never their raw answer
            system = system_name(getattr(error, "system", None) or "banken", language)
            return Reply(text=m.text("lookup_failed", language, system=system), language=language)
        except (ApplicationError, DomainError) as error:
            message = explain_error(error, language)  # Norwegian words, not the record's
            return Reply(
                text=m.text(
                    "document_failed", language, filename=filename or "dokumentet", error=message
                ),
                language=language,
            )
        async with self._uow() as uow:
            view = await uow.proposals.get(principal.tenant_id, result.proposal.id)
        return _proposal_reply(result, view, language)

    # --- questions -----------------------------------------------------------------------

    async def _question(
        self,
        principal: Principal,
        text: str,
        language: m.Language,
        source: str,
        about: uuid.UUID | None = None,
        several: bool = False,
    ) -> Reply:
        """A read-only answer, if the message asks a question we answer. A message that
        orders something (approve, delete, "ignore your instructions") is told plainly that
        the chat never does that — after the answer to its question, if it asks one. The
        question is read as `readable` makes it (the message is kept as written). A
        question about "this" document ("hvorfor konto 6540?", "hva er mva her?", "er denne
        godkjent?") is answered about `about`, the channel's latest document (a Discord
        document's thread, a DM or the terminal chat it was sent in), if there is one."""
        text = readable(text)
        asked = document_question(text, several=several) if about is not None else None
        if about is not None and asked is not None:
            reply = await self._document_answer(principal, about, asked, text, language, source)
        else:
            reply = None
        if reply is None:
            reply = await self._read_only(principal, text, language, source)
        if not asks_to_act(text):
            if reply is not None:
                return reply
            if text.strip() and not _is_greeting(text):
                answer = f"{m.text('cannot_answer', language)} {m.text('help', language)}"
                return Reply(text=answer, language=language)
            return Reply(text=m.text("help", language), language=language)
        log.info("a chat message asked for an action; none taken: %.80r", text)
        if reply is None:
            answer = f"{m.text('cannot_act', language)} {m.text('help', language)}"
            return Reply(text=answer, language=language)
        return msgspec.structs.replace(
            reply, text=f"{reply.text}\n{m.text('cannot_act.short', language)}"
        )

    async def _read_only(
        self, principal: Principal, text: str, language: m.Language, source: str
    ) -> Reply | None:
        """The answer to the read-only question the message asks; None if it asks none."""
        intent = await self._classifier.classify(text)
        if intent.usage is not None:
            await self._record_classification(principal, intent)
        if intent.name in _READS_A_PERIOD:
            wrong = lq.impossible_dates(text, self._lookups.today())
            if wrong:  # "resultat 31. februar": not read as 28 February
                written, month, days = wrong[0]
                said = m.text(
                    "period.no_such_date",
                    language,
                    date=written,
                    month=m.text(f"month.{month}", language),
                    days=days,
                )
                return Reply(text=said, language=language)
        start, end = intent.start, intent.end
        if start is None and end is None and intent.name in _LOOKUPS_OVER_A_PERIOD:
            # "hvilke kvitteringer mangler for november": the month asked, not the last 30
            # days (the keywords give no dates; the model does).
            start, end = lookup_period(text, self._lookups.today()) or (None, None)
            today = self._lookups.today()
            if start is not None and end is not None and start > today:
                return _not_begun(start, end, today, language)  # was the last 30 days
        try:
            self._lookups.date_range(start, end)
        except InvalidDateRange:
            start = end = None  # a bad range asked for: the default one
        try:
            if intent.name == "balance":
                return await self._balance(principal, language, source)
            if intent.name == "missing_receipts":
                return await self._missing(principal, language, source, start, end)
            if intent.name == "supplier_invoices":
                return await self._invoices(principal, language, source, start, end)
            if intent.name == "expenses":
                return await self._invoices(principal, language, source, start, end, expenses=True)
            if intent.name == "spending" and self._spending is not None:
                return await self._spent(principal, text, intent, language, source)
            if intent.name == "vat" and self._ledger is not None:
                return await self._vat(principal, text, intent, language, source)
            if intent.name == "proposal_status":
                return await self._proposal_status(principal, text, language, source)
            if intent.name in BOOKS_QUESTIONS and self._ledger is not None:
                return await self._books(principal, text, intent, language, source)
        except Forbidden:
            return Reply(text=m.text("forbidden", language), language=language)
        except ExternalError as error:
            system = system_name(getattr(error, "system", None) or "banken", language)
            return Reply(text=m.text("lookup_failed", language, system=system), language=language)
        return None

    async def _document_answer(
        self,
        principal: Principal,
        proposal_id: uuid.UUID,
        asked: str,
        text: str,
        language: m.Language,
        source: str,
    ) -> Reply | None:
        """What a question asked where a document was handed in says about it: what it is
        and how it is proposed, and — as `asked` — why (the confidence's reasons, the
        account asked about if another), its VAT, or where it stands. Recorded as
        LedgerQueried (question "document", one listed). None when the proposal is gone
        (the question is then read as any other)."""
        self._authorizer.check(principal, "proposals:read")
        tenant = principal.tenant_id
        async with self._uow() as uow:
            view = await uow.proposals.get(tenant, proposal_id)
            proposed = await uow.events.query(tenant, EventFilter(stream_id=proposal_id, limit=1))
        if view is None:
            return None
        currency = str(view.data.get("currency") or "NOK")
        lines = [
            m.text(
                "proposal",
                language,
                kind=m.kind_word(view.kind, language, view.data),
                merchant=_merchant(view, None, language),
                amount=m.kroner(view.amount, currency),
                account=view.account_code or "?",
                vat=m.percent(view.vat_rate),
            )
        ]
        if asked == "why":
            named = lq.account_asked(text)
            if named is not None and view.account_code and named != view.account_code:
                lines.append(
                    m.text(
                        "document.other_account", language, asked=named, account=view.account_code
                    )
                )
            metadata = proposed[0].metadata if proposed else {}
            origin = _account_origin(view, metadata, language)
            if origin:
                lines.append(origin)
            reasons = _reasons(metadata, language)
            score = m.score(view.confidence, language)
            key = "confidence" if reasons else "confidence.bare"
            lines.append(m.text(key, language, reasons=reasons, score=score))
        elif asked == "vat":
            vat = view.data.get("vat_amount", view.data.get("vatAmount"))
            try:
                vat_amount = m.kroner(Decimal(str(vat)), currency) if vat is not None else None
            except ArithmeticError:
                vat_amount = None
            rate = m.percent(view.vat_rate)
            if vat_amount is not None:
                lines.append(m.text("document.vat", language, rate=rate, amount=vat_amount))
            else:
                lines.append(m.text("document.vat.rate", language, rate=rate))
        if asked in ("status", "why", "vat", "summary"):
            status = self._status_of(view, language)
            lines.append(m.text("document.status", language, status=status))
        event_id = await self._record_books(
            _BooksQuestion(
                principal=principal,
                text=text,
                intent=Intent(name="proposal_status"),
                start=self._lookups.today(),
                end=self._lookups.today(),
                language=language,
                source=source,
            ),
            LedgerQueriedData(question="document", count=1),
        )
        return Reply(
            text="\n".join(lines),
            language=language,
            event_id=event_id,
            proposal_id=view.id,
            status=view.status.value,
        )

    async def _record_classification(self, principal: Principal, intent: Intent) -> None:
        """IntentClassified: the model call that classified a message, with what it cost
        (the fourth spending source counts it as it counts DocumentExtracted)."""
        usage = intent.usage
        if usage is None:
            return
        event_id = self._ids.new_id()
        data = IntentClassifiedData(
            classifier=str(getattr(self._classifier, "name", "model"))[:100],
            intent=intent.name,
            model=usage.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
        )
        event = stamp(
            "IntentClassified",
            data,
            event_id=event_id,
            actor=principal.actor,
            at=self._clock.now(),
            correlation_id=event_id,
        )
        await record_alone(self._uow, principal.tenant_id, event)

    async def _balance(self, principal: Principal, language: m.Language, source: str) -> Reply:
        result = await self._lookups.bank_accounts(principal, source=source)
        if not result.accounts:
            lines = [m.text("balance.none", language)]
        else:
            lines = [m.text("balance.header", language, date=_date(result.as_of))]
            lines += [
                m.text(
                    "balance.line",
                    language,
                    name=a.name,
                    number=a.account_number,
                    amount=m.kroner(a.balance, a.currency),
                )
                for a in result.accounts
            ]
        return Reply(text="\n".join(lines), language=language, event_id=result.event_id)

    async def _missing(
        self,
        principal: Principal,
        language: m.Language,
        source: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> Reply:
        result = await self._lookups.missing_receipts(principal, start, end, source=source)
        span = {"start": _date(result.start), "end": _date(result.end)}
        found = result.transactions
        if not found:
            return Reply(
                text=m.text("missing.none", language, **span),
                language=language,
                event_id=result.event_id,
            )
        lines = [m.text("missing.header", language, count=len(found), **span)]
        lines += [
            m.text(
                "missing.line",
                language,
                date=_date(t.date),
                description=t.merchant_name or t.description,
                amount=m.kroner(t.amount, t.currency),
            )
            for t in found[:MAX_LINES]
        ]
        if len(found) > MAX_LINES:
            lines.append(m.text("more", language, count=len(found) - MAX_LINES))
        return Reply(text="\n".join(lines), language=language, event_id=result.event_id)

    async def _invoices(
        self,
        principal: Principal,
        language: m.Language,
        source: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        expenses: bool = False,
    ) -> Reply:
        query = self._lookups.expenses if expenses else self._lookups.supplier_invoices
        result = await query(principal, start, end, source=source)
        span = {"start": _date(result.start), "end": _date(result.end)}
        found = result.purchases
        if not found:
            return Reply(
                text=_purchases_text("none", expenses, language, **span),
                language=language,
                event_id=result.event_id,
            )
        lines = [_purchases_text("header", expenses, language, count=len(found), **span)]
        lines += [
            m.text(
                "invoices.line",
                language,
                date=_date(p.date),
                identifier=_purchase_name(p),
                amount=m.kroner(p.gross, p.currency),
                paid=m.text("paid" if p.paid else "unpaid", language),
            )
            for p in found[:MAX_LINES]
        ]
        if len(found) > MAX_LINES:
            lines.append(m.text("more", language, count=len(found) - MAX_LINES))
        return Reply(text="\n".join(lines), language=language, event_id=result.event_id)

    async def _spent(
        self,
        principal: Principal,
        text: str,
        intent: Intent,
        language: m.Language,
        source: str,
    ) -> Reply:
        """What was spent per source over the period asked (this month by default), from
        the cost snapshots; recorded as a SpendingQueried event."""
        assert self._spending is not None
        today = self._clock.now().astimezone(OSLO).date()
        start, end = intent.start, intent.end
        if start is None or end is None:
            start, end = spending_period(text, today)
        if start > today:
            return _not_begun(start, end, today, language)
        sources = intent.sources or spending_sources(text)
        totals, event_id = await self._spending.answer(
            principal, start, end, sources, source=source
        )
        span = {"start": _date(start), "end": _date(end)}
        asked = ", ".join(sources) if sources else m.text("spending.all", language)
        if not totals:
            return Reply(
                text=m.text("spending.none", language, sources=asked, **span),
                language=language,
                event_id=event_id,
            )
        lines = [m.text("spending.header", language, sources=asked, **span)]
        lines += [f"  {name}: {m.kroner(amount)}" for name, amount in totals.items()]
        if len(totals) > 1:
            total = sum(totals.values(), Decimal(0))
            lines.append(m.text("spending.total", language, amount=m.kroner(total)))
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    async def _vat(
        self,
        principal: Principal,
        text: str,
        intent: Intent,
        language: m.Language,
        source: str,
    ) -> Reply:
        """What the VAT return of the term asked pays or refunds and when it is due, from
        the ledger. A named term answers that term; otherwise the term whose return is due
        next (if one is) and the current term so far. One VatQueried event per term
        answered, in one stream."""
        assert self._ledger is not None
        today = self._clock.now().astimezone(OSLO).date()
        async with self._uow() as uow:  # the company's term: bi-monthly or yearly (ADR 0064)
            company = await uow.settings.review_rules(principal.tenant_id)
        length = company.vat_term
        try:
            terms = (
                (vat_term_of(intent.start, length),)
                if intent.start
                else vat_terms_asked(text, today, length, company.vat_registered_from)
            )
        except InvalidReportPeriod:
            return Reply(text=m.text("vat.no_term", language), language=language)
        reports = [await self._ledger.vat_report(principal, t.year, t.term) for t in terms]
        if not all(report.vat_registered for report in reports):
            # ADR 0056 addendum 4: no return to pay, no term, no deadline; nothing answered
            # from the figures, so no VatQueried is recorded. A term asked that ended before
            # the registration took effect has none either (ADR 0064, addendum).
            before = [r.registered_from for r in reports if r.registered_from is not None]
            if before:
                said = m.text("vat.before_registration", language, date=m.date_text(before[0]))
                return Reply(text=said, language=language)
            return Reply(text=m.text("vat.not_registered", language), language=language)
        first_id = self._ids.new_id()
        events: list[NewEvent] = []
        for term, report in zip(terms, reports, strict=True):
            data = VatQueriedData(
                year=term.year,
                term=term.term,
                output_vat=report.output_vat,
                input_vat=report.input_vat,
                payable=report.payable,
                due=term.due,
                **({"term_length": YEARLY} if term.length == YEARLY else {}),
            )
            events.append(
                stamp(
                    "VatQueried",
                    data,
                    event_id=first_id if not events else self._ids.new_id(),
                    actor=principal.actor,
                    at=self._clock.now(),
                    correlation_id=first_id,
                    parent_id=events[-1].id if events else None,
                    metadata={"source": source, "backend": "ledger"},
                )
            )
        async with self._uow() as uow:
            await uow.events.append(principal.tenant_id, first_id, 0, events)
            await uow.commit()
        answers = []
        for term, report in zip(terms, reports, strict=True):
            so_far = len(terms) > 1 and term.start <= today <= term.end
            yearly = term.length == YEARLY
            header = m.text(
                ("vat.year_so_far" if yearly else "vat.so_far")
                if so_far
                else ("vat.year_header" if yearly else "vat.header"),
                language,
                term=term.term,
                year=term.year,
                start=_date(term.start),
                end=_date(term.end),
            )
            if report.payable > 0:
                result = m.text("vat.pay", language, amount=m.kroner(report.payable))
            elif report.payable < 0:
                result = m.text("vat.refund", language, amount=m.kroner(-report.payable))
            else:
                result = m.text("vat.nothing", language)
            parts = m.text(
                "vat.parts",
                language,
                output=m.kroner(report.output_vat),
                input=m.kroner(report.input_vat),
            )
            due = m.text("vat.due", language, due=_date(term.due))
            answers.append(f"{header} {result} ({parts}).\n{due}")
        return Reply(text="\n".join(answers), language=language, event_id=first_id)

    # --- what became of a document ------------------------------------------------------

    async def _proposal_status(
        self, principal: Principal, text: str, language: m.Language, source: str
    ) -> Reply:
        """What became of the documents a question names (by their merchant or supplier,
        among the newest STATUS_SCAN), newest first; with no name, what waits for approval
        ("hva venter på godkjenning") or the newest documents. Recorded as LedgerQueried
        (question "proposals", the number listed)."""
        self._authorizer.check(principal, "proposals:read")
        tenant = principal.tenant_id
        lowered = lq.in_bokmal(" ".join(text.lower().split()))
        asked = _name_words(lowered)
        async with self._uow() as uow:
            if asked or not _WAITING.search(lowered):
                created = await uow.events.query(
                    tenant,
                    EventFilter(types=DOCUMENT_PROPOSED, newest_first=True, limit=STATUS_SCAN),
                )
                views = [await uow.proposals.get(tenant, e.stream_id) for e in created]
                found = [v for v in views if v is not None]
            else:  # what waits for approval: every pending document, oldest first
                found = await uow.proposals.page(
                    tenant,
                    ProposalFilter(
                        statuses=(Status.PROPOSED,), kinds=DOCUMENT_KINDS, limit=STATUS_SCAN
                    ),
                )
        scanned = bool(found)
        named = [v for v in found if asked & _name_words(named_counterparty(v) or "")]
        if asked and not named:
            found = []
        elif named:
            found = named
        elif _WAITING.search(lowered):
            found = [v for v in found if v.status is Status.PROPOSED]
        elif _WHICH.search(lowered):  # "hvilke ble avvist?": those; "er den godkjent?": all
            statuses = {st for word, sts in _STATUS_FILTER if word.search(lowered) for st in sts}
            found = [v for v in found if not statuses or v.status in statuses]
        event_id = await self._record_books(
            _BooksQuestion(
                principal=principal,
                text=text,
                intent=Intent(name="proposal_status"),
                start=self._lookups.today(),
                end=self._lookups.today(),
                language=language,
                source=source,
            ),
            LedgerQueriedData(question="proposals", count=min(len(found), MAX_LINES)),
        )
        if not found:
            if asked:
                key = "proposals.none.named"
            elif _WAITING.search(lowered):
                key = "proposals.none"
            else:
                key = "proposals.none.status" if scanned else "proposals.nothing"
            name = " ".join(w for w in lowered.split() if w.strip(_PUNCTUATION) in asked)
            reply = m.text(key, language, name=name.strip(_PUNCTUATION))
            return Reply(text=reply, language=language, event_id=event_id)
        lines = [m.text("proposals.header", language, count=len(found))]
        lines += [self._status_line(v, language) for v in found[:MAX_LINES]]
        if len(found) > MAX_LINES:
            lines.append(m.text("more", language, count=len(found) - MAX_LINES))
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    def _status_line(self, view: ProposalView, language: m.Language) -> str:
        subject = m.text(
            "subject",
            language,
            kind=m.kind_word(view.kind, language, view.data),
            merchant=_merchant(view, None, language),
            amount=m.kroner(view.amount, str(view.data.get("currency") or "NOK")),
        )
        status = self._status_of(view, language)
        return m.text("proposals.line", language, subject=subject, status=status)

    def _status_of(self, view: ProposalView, language: m.Language) -> str:
        """Where a proposal stands, in words: awaiting approval, approved or booked by
        whom, rejected by whom and why, or failed and why."""
        by = self.people.name(view.decided_by, language, tenant=view.tenant_id)
        if view.status is Status.PROPOSED:
            status = m.text("proposals.waiting", language)
        elif view.status is Status.REJECTED:
            status = m.text(
                "proposals.rejected", language, by=by, reason=view.rejection_reason or "?"
            )
        elif view.status is Status.FAILED:
            error = explain_failure(view.last_error, language, kind=view.kind)
            status = m.text("proposals.failed", language, error=error)
        elif view.status is Status.EXECUTED:
            status = m.text("proposals.executed", language, by=by)
        else:
            status = m.text("proposals.approved", language, by=by)
        return status

    # --- story 8: questions about the books, from the ledger -----------------------------

    async def _books(
        self,
        principal: Principal,
        text: str,
        intent: Intent,
        language: m.Language,
        source: str,
    ) -> Reply:
        """A question about the books (application/ledger_questions.py), answered from
        the ledger and recorded as LedgerQueried."""
        assert self._ledger is not None
        today = self._clock.now().astimezone(OSLO).date()
        start, end = lq.ledger_period(text, today)
        if intent.start is not None or intent.end is not None:
            start, end = intent.start or start, intent.end or end
            if start > end:
                start, end = lq.ledger_period("", today)
        if start > today and intent.name != "journal":
            # "1. kvartal 2027", "resultat i desember 2027": nothing to read yet.
            return _not_begun(start, end, today, language)
        ask = _BooksQuestion(
            principal=principal,
            text=text,
            intent=intent,
            start=start,
            end=end,
            language=language,
            source=source,
        )
        if intent.name == "journal":
            return await self._journal(ask)
        if intent.name in ("payables", "receivables"):
            return await self._owed(ask)
        if intent.name == "costs":
            return await self._costs(ask)
        if intent.name == "account_balance":
            return await self._account(ask)
        if intent.name == "balance_sheet":
            return await self._balance_sheet(ask)
        if intent.name == "supplier_costs":
            return await self._each_supplier(ask)
        if intent.name == "monthly_costs":
            return await self._monthly_costs(ask)
        return await self._result(ask)

    async def _each_supplier(self, ask: _BooksQuestion) -> Reply:
        """The costs of each supplier the question names, in turn ("hva har vi brukt hos
        Adobe og Telenor i år": both, each recorded), or every supplier's for none."""
        named = lq.suppliers_asked(ask.text)
        topic = ask.intent.topic
        if topic and not any(
            lq.names_supplier(topic, name) or lq.names_supplier(name, topic) for name in named
        ):
            named = [topic]  # the model's reading, when the words name another
        reply = await self._supplier_costs(ask, named or [None])
        assert reply is not None  # None only for `only_found`
        return reply

    async def _monthly_costs(self, ask: _BooksQuestion) -> Reply:
        """The income statement's operating costs (classes 4–7, without the deductible VAT)
        of each month of the period (Europe/Oslo dates; a month cut to the period), and
        their sum; recorded as LedgerQueried (monthly_costs, the sum, the months)."""
        assert self._ledger is not None
        language = ask.language
        months = lq.months_of(ask.start, ask.end)
        figures: list[tuple[dt.date, dt.date, Decimal]] = []
        for first, last in months:
            report = await self._ledger.income_statement(ask.principal, first, last)
            figures.append((first, last, report.operating_costs))
        total = sum((cost for _, _, cost in figures), Decimal("0.00"))
        span = {"start": _date(ask.start), "end": _date(ask.end)}
        event_id = await self._record_books(
            ask,
            LedgerQueriedData(
                question="monthly_costs",
                start=ask.start,
                end=ask.end,
                amount=total,
                count=len(months),
            ),
        )
        if not any(cost for _, _, cost in figures):
            text = m.text("ledger.suppliers.none", language, **span)
            return Reply(text=text, language=language, event_id=event_id)
        lines = [m.text("ledger.monthly.header", language, **span)]
        for first, _, cost in figures:
            month = m.text(f"month.{first.month}", language)
            lines.append(
                m.text(
                    "ledger.monthly.line",
                    language,
                    month=f"{month} {first.year}",
                    amount=m.kroner(cost),
                )
            )
        lines.append(m.text("ledger.costs.total", language, amount=m.kroner(total)))
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    async def _record_books(self, ask: _BooksQuestion, data: LedgerQueriedData) -> uuid.UUID:
        event_id = self._ids.new_id()
        event = stamp(
            "LedgerQueried",
            data,
            event_id=event_id,
            actor=ask.principal.actor,
            at=self._clock.now(),
            correlation_id=event_id,
            metadata={"source": ask.source, "backend": "ledger"},
        )
        await record_alone(self._uow, ask.principal.tenant_id, event)
        return event_id

    async def _result(self, ask: _BooksQuestion) -> Reply:
        assert self._ledger is not None
        start, end, language = ask.start, ask.end, ask.language
        report = await self._ledger.income_statement(ask.principal, start, end)
        span = {"start": _date(start), "end": _date(end)}
        event_id = await self._record_books(
            ask, LedgerQueriedData(question="result", start=start, end=end, amount=report.result)
        )
        if not any(group.lines for group in report.groups):
            text = m.text("ledger.result.none", language, **span)
            if lq.costs_could_be_cloud(lq.in_bokmal(" ".join(ask.text.lower().split()))):
                text += "\n" + m.text("ledger.cloud_hint", language)
            return Reply(text=text, language=language, event_id=event_id)
        verdict = "ledger.profit" if report.result > 0 else "ledger.loss"
        lines = [
            m.text("ledger.result.header", language, **span),
            m.text(
                "ledger.result.lines",
                language,
                revenue=m.kroner(report.operating_revenue),
                costs=m.kroner(report.operating_costs),
                operating=m.kroner(report.operating_result),
                financial=m.kroner(report.financial_items),
                tax=m.kroner(report.tax),
                result=m.kroner(report.result),
                verdict=m.text(verdict if report.result else "ledger.even", language),
            ),
        ]
        if lq.costs_could_be_cloud(lq.in_bokmal(" ".join(ask.text.lower().split()))):
            lines.append(m.text("ledger.cloud_hint", language))
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    async def _owed(self, ask: _BooksQuestion) -> Reply:
        """Payables (2400, credit-normal) or receivables (1500) up to the period's end; for
        payables the open supplier invoices too, overdue first."""
        assert self._ledger is not None
        question, end, language = ask.intent.name, ask.end, ask.language
        account = "2400" if question == "payables" else "1500"
        report = await self._ledger.trial_balance(ask.principal, None, end)
        balance = lq.total_of([(a.account, a.balance) for a in report.accounts], account)
        owed = -balance if question == "payables" else balance
        event_id = await self._record_books(
            ask, LedgerQueriedData(question=question, end=end, accounts=(account,), amount=owed)
        )
        key = "ledger.payables" if question == "payables" else "ledger.receivables"
        lines = [m.text(key, language, date=_date(end), amount=m.kroner(owed))]
        if question == "payables":
            lines += await self._open_invoices(ask)
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    async def _open_invoices(self, ask: _BooksQuestion) -> list[str]:
        """The unpaid supplier invoices of the last year from the books, overdue first (by
        due date), as lines; what the books could not answer, said in a line."""
        principal, language, source = ask.principal, ask.language, ask.source
        today = self._lookups.today()
        start = today - dt.timedelta(days=OPEN_INVOICE_DAYS - 1)
        try:
            result = await self._lookups.supplier_invoices(principal, start, today, source=source)
        except Forbidden:
            return []
        except ExternalError as error:
            system = system_name(getattr(error, "system", None) or "regnskapet", language)
            return [m.text("lookup_failed", language, system=system)]
        span = {"start": _date(result.start), "end": _date(result.end)}
        unpaid = [p for p in result.purchases if not p.paid and not p.deleted]
        if not unpaid:
            return [m.text("ledger.open.none", language, **span)]
        far = dt.date.max
        unpaid.sort(
            key=lambda p: (
                p.due_date is None or p.due_date >= today,
                p.due_date or far,
                p.date,
            )
        )
        lines = [m.text("ledger.open.header", language, count=len(unpaid))]
        for p in unpaid[:MAX_LINES]:
            overdue = p.due_date is not None and p.due_date < today
            lines.append(
                m.text(
                    "ledger.open.line",
                    language,
                    identifier=_purchase_name(p),
                    amount=m.kroner(p.gross, p.currency),
                    due=_date(p.due_date) if p.due_date else m.text("ledger.open.no_due", language),
                    overdue=m.text("ledger.open.overdue", language) if overdue else "",
                )
            )
        if len(unpaid) > MAX_LINES:
            lines.append(m.text("more", language, count=len(unpaid) - MAX_LINES))
        return lines

    async def _costs(self, ask: _BooksQuestion) -> Reply:
        """Costs of the account named, or of the group named (lq.TOPICS and the chart's
        names), per account over the period, with their sum."""
        assert self._ledger is not None
        start, end, language = ask.start, ask.end, ask.language
        report = await self._ledger.trial_balance(ask.principal, start, end)
        names = await self._ledger.account_names(ask.principal)
        balances = {a.account: a.balance for a in report.accounts}
        account = ask.intent.account or lq.account_asked(ask.text)
        span = {"start": _date(start), "end": _date(end)}
        if account is not None:
            word = f"konto {account}" if language == m.NORWEGIAN else f"account {account}"
            codes = [c for c in balances if c == account or lq.main_account(c) == account]
        else:
            asked = lq.topic_asked(ask.intent.topic or ask.text)
            if asked is None:
                return Reply(text=m.text("help", language), language=language)
            word, topic = asked
            codes = lq.cost_accounts(list(balances), topic, word, names)
            if topic is None and not codes:
                # No account group by that name: a supplier's, if entries name it ("hva
                # kostet AWS i oktober", "what did we spend on Adobe").
                # "hva kostet Adobe og Telenor": each named, as "brukt hos" answers.
                listed = lq.names_listed(ask.text, word)
                by_supplier = await self._supplier_costs(ask, [word, *listed[1:]], only_found=True)
                if by_supplier is not None:
                    return by_supplier
                text_ = m.text("ledger.costs.unknown", language, topic=word, **span)
                return Reply(text=text_, language=language)
        found = [(code, balances[code]) for code in codes if balances[code]]
        total = sum((amount for _, amount in found), Decimal("0.00"))
        event_id = await self._record_books(
            ask,
            LedgerQueriedData(
                question="costs",
                start=start,
                end=end,
                accounts=tuple(code for code, _ in found),
                amount=total,
            ),
        )
        if not found:
            text_ = m.text("ledger.costs.none", language, topic=word, **span)
            return Reply(text=text_, language=language, event_id=event_id)
        lines = [m.text("ledger.costs.header", language, topic=word, **span)]
        lines += [
            m.text(
                "ledger.costs.line",
                language,
                account=code,
                name=_named(names(code)),
                amount=m.kroner(amount),
            )
            for code, amount in found[:MAX_LINES]
        ]
        if len(found) > MAX_LINES:
            lines.append(m.text("more", language, count=len(found) - MAX_LINES))
        if len(found) > 1:
            lines.append(m.text("ledger.costs.total", language, amount=m.kroner(total)))
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    async def _account(self, ask: _BooksQuestion) -> Reply:
        """The ledger balance of one account: a balance-sheet account (classes 1–2) up to
        the period's end, a result account (3–8) over the period (the year so far)."""
        assert self._ledger is not None
        start, end, language = ask.start, ask.end, ask.language
        account = ask.intent.account or lq.account_asked(ask.text)
        if account is None:
            return Reply(text=m.text("ledger.account.missing", language), language=language)
        balance_sheet = statements.account_class(account) in ("1", "2", None)
        report = await self._ledger.trial_balance(
            ask.principal, None if balance_sheet else start, end
        )
        # Up to the end: the closing balance, with earlier years' result in 2050.
        pairs = [(a.account, a.closing if balance_sheet else a.balance) for a in report.accounts]
        if ":" in account:
            balance = sum((b for c, b in pairs if c == account), Decimal("0.00"))
        else:
            balance = lq.total_of(pairs, account)
        names = await self._ledger.account_names(ask.principal)
        event_id = await self._record_books(
            ask,
            LedgerQueriedData(
                question="account_balance",
                start=None if balance_sheet else start,
                end=end,
                accounts=(account,),
                amount=balance,
            ),
        )
        amount, side = lq.signed(balance, lambda key: m.text(key, language))
        values = {
            "account": account,
            "name": _named(names(account)),
            "amount": m.kroner(amount),
            "side": side,
        }
        if balance_sheet:
            text_ = m.text("ledger.account.balance", language, date=_date(end), **values)
        else:
            text_ = m.text(
                "ledger.account.period", language, start=_date(start), end=_date(end), **values
            )
        return Reply(text=text_, language=language, event_id=event_id)

    async def _balance_sheet(self, ask: _BooksQuestion) -> Reply:
        """Assets, equity and liabilities at the period's end (today by default; "i fjor":
        31.12 last year), per main account, with the result of the year not yet allocated."""
        assert self._ledger is not None
        end, language = ask.end, ask.language
        sheet = await self._ledger.balance_sheet(ask.principal, end)
        names = await self._ledger.account_names(ask.principal)
        event_id = await self._record_books(
            ask,
            LedgerQueriedData(question="balance_sheet", end=end, amount=sheet.total_assets),
        )
        date = _date(end)
        if not any(group.lines for group in sheet.groups) and not sheet.unallocated_result:
            text_ = m.text("ledger.balance.none", language, date=date)
            return Reply(text=text_, language=language, event_id=event_id)
        lines = [m.text("ledger.balance.header", language, date=date)]
        for group in sheet.groups:
            title = m.text(f"ledger.balance.{group.key}", language)
            total = group.total
            if group.key == "equityAndLiabilities":
                total = sheet.total_equity_and_liabilities
            lines.append(
                m.text("ledger.balance.group", language, title=title, amount=m.kroner(total))
            )
            by_main: dict[str, Decimal] = {}
            for line in group.lines:
                main = lq.main_account(line.account)
                by_main[main] = by_main.get(main, Decimal("0.00")) + line.amount
            shown = [(code, amount) for code, amount in sorted(by_main.items()) if amount]
            for code, amount in shown[:MAX_LINES]:
                lines.append(
                    m.text(
                        "ledger.balance.line",
                        language,
                        account=code,
                        name=_named(names(code)),
                        amount=m.kroner(amount),
                    )
                )
            if len(shown) > MAX_LINES:
                lines.append("  " + m.text("more", language, count=len(shown) - MAX_LINES))
            if group.key == "equityAndLiabilities" and sheet.unallocated_result:
                lines.append(
                    m.text(
                        "ledger.balance.result",
                        language,
                        amount=m.kroner(sheet.unallocated_result),
                    )
                )
        difference = sheet.total_assets - sheet.total_equity_and_liabilities
        if difference or sheet.unclassified:
            lines.append(
                m.text(
                    "ledger.balance.unbalanced",
                    language,
                    difference=m.kroner(difference),
                    accounts=", ".join(line.account for line in sheet.unclassified[:5]) or "–",
                )
            )
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    async def _supplier_costs(
        self,
        ask: _BooksQuestion,
        suppliers: Sequence[str | None],
        *,
        only_found: bool = False,
    ) -> Reply | None:
        """For each of `suppliers` in turn, the costs (classes 4–7, without the deductible
        VAT) of the entries dated in the period whose description names it, each listed;
        for None, every supplier's sum, largest first. The journal entries posted since the
        period's start (at most SUPPLIER_SCAN) are read once for all of them. `only_found`:
        None when no entry names the first supplier (the caller says something else)."""
        self._authorizer.check(ask.principal, "reports:read")
        found, read, capped = await self._cost_entries(ask)
        if len(suppliers) > 1 and all(suppliers):
            # "hos Bøker og Blåbær": one supplier with a joining word in its name, when an
            # entry of the period names it whole; "hos Adobe og Telenor" stays two.
            whole = lq.whole_name(ask.text, [s for s in suppliers if s])
            if whole is not None and any(lq.names_supplier(whole, f[1]) for f in found):
                suppliers = [whole]
        replies: list[Reply] = []
        for asked in suppliers:
            reply = await self._supplier_reply(
                ask, asked, found, read, capped, only_found=only_found and not replies
            )
            if reply is None:
                return None
            replies.append(reply)
        if len(replies) == 1:
            return replies[0]
        return Reply(
            text="\n\n".join(r.text for r in replies),
            language=ask.language,
            event_id=replies[0].event_id,
        )

    async def _cost_entries(
        self, ask: _BooksQuestion
    ) -> tuple[list[tuple[JournalEntryPostedData, str, Decimal, Decimal]], int, bool]:
        """The journal entries dated in the period that carry a cost, each with the supplier
        it names (a reversal its original's), its cost and VAT; how many entries were read,
        and whether SUPPLIER_SCAN stopped the reading."""
        start, end = ask.start, ask.end
        tenant = ask.principal.tenant_id
        since = dt.datetime.combine(start, dt.time(), OSLO).astimezone(dt.UTC)
        # An entry may be recorded a little before the day it is dated (a bill booked
        # ahead): a month's slack, read and then left out by its date.
        since -= dt.timedelta(days=31)
        names: dict[uuid.UUID, str] = {}
        found: list[tuple[JournalEntryPostedData, str, Decimal, Decimal]] = []
        read = 0
        after = 0
        capped = False
        async with self._uow() as uow:
            while True:
                page = await uow.events.query(
                    tenant,
                    EventFilter(
                        types=("JournalEntryPosted",),
                        created_from=since,
                        after_position=after,
                        limit=SUPPLIER_PAGE,
                    ),
                )
                for event in page:
                    data = event.data
                    if not isinstance(data, JournalEntryPostedData):
                        continue
                    name = lq.supplier_of(data)
                    reversed_id = _uuid_or_none(data.reverses_entry_id)
                    if reversed_id is not None:
                        name = names.get(reversed_id, name)  # a reversal is its original's
                    names[event.id] = name
                    if not start <= data.date <= end:
                        continue
                    cost, vat = lq.entry_cost(data)
                    if cost:  # a sale (output VAT only) is no cost
                        found.append((data, name, cost, vat))
                read += len(page)
                if len(page) < SUPPLIER_PAGE:
                    break
                if read >= SUPPLIER_SCAN:
                    capped = True
                    break
                after = page[-1].position
        return found, read, capped

    async def _supplier_reply(
        self,
        ask: _BooksQuestion,
        asked: str | None,
        found: list[tuple[JournalEntryPostedData, str, Decimal, Decimal]],
        read: int,
        capped: bool,
        *,
        only_found: bool,
    ) -> Reply | None:
        """`_supplier_costs`' answer for one supplier (None: every supplier's), from the
        entries `_cost_entries` read, recorded as a LedgerQueried."""
        start, end, language = ask.start, ask.end, ask.language
        span = {"start": _date(start), "end": _date(end)}
        if asked is not None:
            mine = [f for f in found if lq.names_supplier(asked, f[1])]
            if not mine and only_found:
                return None
            shown_name = _as_written(asked, ask.text)
            cost = sum((c for _, _, c, _ in mine), Decimal("0.00"))
            vat = sum((v for _, _, _, v in mine), Decimal("0.00"))
            event_id = await self._record_books(
                ask,
                LedgerQueriedData(
                    question="supplier_costs",
                    start=start,
                    end=end,
                    amount=cost,
                    count=len(mine),
                ),
            )
            if not mine:
                text_ = m.text("ledger.supplier.none", language, name=shown_name, **span)
                lines = [text_]
            else:
                gross = (
                    m.text("ledger.supplier.gross", language, amount=m.kroner(cost + vat))
                    if vat
                    else ""
                )
                lines = [
                    m.text(
                        "ledger.supplier.header",
                        language,
                        name=shown_name,
                        amount=m.kroner(cost),
                        gross=gross,
                        count=len(mine),
                        noun=_entries_noun(len(mine), language),
                        **span,
                    )
                ]
                mine.sort(key=lambda f: f[0].date, reverse=True)
                for data, _, amount, _ in mine[:MAX_LINES]:
                    lines.append(
                        m.text(
                            "ledger.supplier.line",
                            language,
                            date=_date(data.date),
                            description=m.dates_in_text(data.description),
                            amount=m.kroner(amount),
                        )
                    )
                if len(mine) > MAX_LINES:
                    lines.append("  " + m.text("more", language, count=len(mine) - MAX_LINES))
        else:
            totals: dict[str, tuple[str, Decimal, int]] = {}
            for _, name, amount, _ in found:
                key = " ".join(lq.supplier_words(name)) or name.casefold()
                shown, total, count = totals.get(key, (name, Decimal("0.00"), 0))
                totals[key] = (shown, total + amount, count + 1)
            ranked = sorted(
                (t for t in totals.values() if t[1]), key=lambda t: (-t[1], t[0].casefold())
            )
            cost = sum((t[1] for t in ranked), Decimal("0.00"))
            event_id = await self._record_books(
                ask,
                LedgerQueriedData(
                    question="supplier_costs",
                    start=start,
                    end=end,
                    amount=cost,
                    count=len(ranked),
                ),
            )
            if not ranked:
                lines = [m.text("ledger.suppliers.none", language, **span)]
            else:
                lines = [m.text("ledger.suppliers.header", language, **span)]
                for shown, total, count in ranked[:MAX_LINES]:
                    lines.append(
                        m.text(
                            "ledger.suppliers.line",
                            language,
                            name=shown,
                            amount=m.kroner(total),
                            count=count,
                            noun=_entries_noun(count, language),
                        )
                    )
                if len(ranked) > MAX_LINES:
                    lines.append("  " + m.text("more", language, count=len(ranked) - MAX_LINES))
                lines.append(m.text("ledger.costs.total", language, amount=m.kroner(cost)))
        if capped:
            lines.append(m.text("ledger.suppliers.capped", language, count=read))
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    async def _journal(self, ask: _BooksQuestion) -> Reply:
        """The latest journal entries (newest first): date, text, amount and who approved
        them (the proposal's decider; for a manual entry the one who posted it)."""
        language = ask.language
        self._authorizer.check(ask.principal, "reports:read")
        count = ask.intent.count or lq.entries_asked(ask.text)
        count = max(1, min(count, lq.MAX_ENTRIES))
        tenant = ask.principal.tenant_id
        async with self._uow() as uow:
            posted = await uow.events.query(
                tenant,
                EventFilter(types=("JournalEntryPosted",), newest_first=True, limit=count),
            )
            deciders: dict[uuid.UUID, str | None] = {}
            for event in posted:
                data = event.data
                if isinstance(data, JournalEntryPostedData) and data.proposal_id:
                    try:
                        pid = uuid.UUID(data.proposal_id)
                    except ValueError:
                        continue
                    view = await uow.proposals.get(tenant, pid)
                    deciders[event.id] = view.decided_by if view is not None else None
        entries = [e for e in posted if isinstance(e.data, JournalEntryPostedData)]
        event_id = await self._record_books(
            ask, LedgerQueriedData(question="journal", count=len(entries))
        )
        if not entries:
            text_ = m.text("ledger.journal.none", language)
            return Reply(text=text_, language=language, event_id=event_id)
        lines = [m.text("ledger.journal.header", language, count=len(entries))]
        for event in entries:
            data = event.data
            assert isinstance(data, JournalEntryPostedData)
            decider = deciders.get(event.id)
            if decider:
                who = m.text(
                    "ledger.journal.approved",
                    language,
                    name=self.people.name(decider, language, tenant=tenant),
                )
            else:
                who = m.text(
                    "ledger.journal.posted",
                    language,
                    name=self.people.name(event.actor, language, tenant=tenant),
                )
            lines.append(
                m.text(
                    "ledger.journal.line",
                    language,
                    date=_date(data.date),
                    description=m.dates_in_text(data.description),
                    amount=m.kroner(sum((line.debit for line in data.lines), Decimal("0.00"))),
                    who=who,
                )
            )
        return Reply(text="\n".join(lines), language=language, event_id=event_id)

    # --- memory --------------------------------------------------------------------------

    def _message(
        self,
        tenant: str,
        channel_id: str,
        user: str,
        direction: str,
        text: str,
        language: str,
        proposal_id: uuid.UUID | None = None,
        proposal_status: str | None = None,
    ) -> ConversationMessage:
        return ConversationMessage(
            id=self._ids.new_id(),
            tenant_id=tenant,
            channel_id=channel_id,
            user=user,
            direction=direction,
            text=text,
            created_at=self._clock.now(),
            language=language,
            proposal_id=proposal_id,
            proposal_status=proposal_status,
        )

    async def _remember(self, tenant: str, channel_id: str, replies: Sequence[Reply]) -> None:
        if replies:
            await self._store.add(
                [
                    self._message(
                        tenant,
                        channel_id,
                        AGENT,
                        OUTBOUND,
                        r.text,
                        r.language,
                        r.proposal_id,
                        r.told or r.status,
                    )
                    for r in replies
                ]
            )


# --- intents and texts --------------------------------------------------------------------

_INTENTS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "missing_receipts",
        (
            "mangler kvittering",
            "manglende kvittering",
            "uten kvittering",
            "kvitteringer mangler",
            "kvittering mangler",
            "missing receipt",
            "without receipt",
            "without a receipt",
            "receipts missing",
            "unreceipted",
            "udokumentert",
        ),
    ),
    ("supplier_invoices", ("leverandørfaktura", "faktura", "invoice")),
    ("balance", ("saldo", "balance", "disponibel", "på konto")),
    # Expense registrations (utlegg) a person paid and is owed.
    ("expenses", ("utlegg", "expense claim", "expense report", "reimbursement")),
    # VAT owed or refunded for a term (after the others, which keep their words).
    ("vat", ()),
    # Issue 11: spending questions (after the others, which keep their words).
    (
        "spending",
        (
            "brukte vi",
            "bruker vi",
            "brukt på",
            "kostet",
            "koster",
            "kostnad",
            "forbruk",
            "utgifter til",
            "budsjett",
            "spend",
            "spent",
            "cost",
            "budget",
        ),
    ),
)


def intent_of(text: str) -> str | None:
    """The question a message asks (a keyword intent), or None. Words a typo away from a
    keyword ("kvitering", "saldoenn") are read as the keyword when nothing matched as
    written; Nynorsk words as their Bokmål form (ledger_questions.NYNORSK)."""
    lowered = lq.in_bokmal(" ".join(readable(text).lower().split()))
    found = _keyword_intent(lowered)
    if found is None:
        corrected = _corrected(lowered)
        if corrected != lowered:
            found = _keyword_intent(corrected)
    return found


def _keyword_intent(lowered: str) -> str | None:
    for intent, phrases in _INTENTS[:1]:  # missing receipts keep their words ("bilag")
        if any(phrase in lowered for phrase in phrases) or (
            _MISSING_WORDS.search(lowered) and _RECEIPT_WORDS.search(lowered)
        ):
            return intent
    # What became of a document: before the supplier invoices' "faktura" (ADR 0061).
    if _asks_status(lowered):
        return "proposal_status"
    if _WHICH_ACCOUNT.search(lowered):
        # "hvilken konto bruker vi (for X)?": the books' accounts for X (the costs answer
        # names them), not the cloud spending its "bruker vi" read as, even for a source.
        return "costs"
    if spending_sources(lowered) and lq.supplier_asked(lowered):
        return "spending"  # "hva har vi brukt hos Anthropic": the cost snapshots'
    if spending_sources(lowered) and _SOURCE_BILL.search(lowered) and not _OWE.search(lowered):
        return "spending"  # "what is our cloud bill", "skyregningen": not the payables'
    # Story 8: the books themselves, before "saldo" (the bank) and the cost snapshots.
    books = lq.ledger_intent(
        lowered,
        vat=_VAT_WORDS.search(lowered) is not None,
        sources=bool(spending_sources(lowered)),
    )
    if books is not None:
        return books
    for intent, phrases in _INTENTS:
        if any(phrase in lowered for phrase in phrases):
            return intent
        if intent == "missing_receipts" and (
            _MISSING_WORDS.search(lowered) and _RECEIPT_WORDS.search(lowered)
        ):
            return intent  # "vis kvitteringer som mangler", "receipts we are missing"
        if intent == "vat" and _VAT_WORDS.search(lowered):
            return intent
        if intent == "balance" and _BALANCE_WORDS.search(lowered):
            return intent  # "hvor mye penger har vi", "how much money do we have"
    return None


#: Which account something is booked on ("hvilken konto bruker vi for programvare?",
#: "hvilke kontoer brukes til reise", "which account do we use for software"): the
#: account question, answered from the books.
_WHICH_ACCOUNT: Final = re.compile(
    r"\b(?:hvilken|hvilke|hvilket|hva slags|which|what)\s+(?:konto\w*|accounts?)\s+"
    r"(?:\w+\s+){0,2}?(?:bruker|brukes|brukte|bruke|brukt|use|uses|used|using)\b"
)
#: A bill of a spending source ("our cloud bill", "skyregningen", "AI-regningen"): the cost
#: snapshots' question, not the suppliers' bills (the payables), unless what we owe.
_SOURCE_BILL: Final = re.compile(r"\b(?:regning\w*|bills?)\b|\w+-?regning\w*")
_OWE: Final = re.compile(
    r"\b(skylder|skyldig|owe|owes|owed|ubetalt\w*|unpaid|forfalt\w*|overdue)\b"
)


#: The bank's balance asked without "saldo"/"balance": money or cash we have, what is in
#: the bank or on the bank account, the bank holding. Money asked about with a spending
#: word after it is a spending question ("hvor mye penger brukte vi på AI").
_BALANCE_WORDS: Final = re.compile(
    r"\b(?:hvor mye|how much)\s+(?:penger|pengar|money|cash)\b"
    r"(?!.*\b(?:brukt\w*|brukte|bruker|betalt\w*|kost\w*|spen[dt]\w*|paid|cost\w*)\b)"
    r"|\b(?:i|in|på|on)\s+(?:banken|bankkonto\w*|(?:the|our)\s+bank(?:\s+accounts?)?)\b"
    r"|\bbank\s*(?:beholdning\w*|innskudd\w*|balances?)\b|\bkontantbeholdning\w*"
    r"|\bhow much (?:do we have|have we got)\b|\bhvor mye har vi igjen\b"
)


#: "Missing" and "receipt" anywhere in one message, in either order.
_MISSING_WORDS: Final = re.compile(
    r"\b(mangl\w*|missing|uten|without|lack\w*)\b"
    r"|\b(?:no|ingen)\s+(?:kvittering\w*|receipts?|bilag\w*)\b"  # "payments with no receipt"
)
_RECEIPT_WORDS: Final = re.compile(
    r"\b(kvittering\w*|receipts?|bilag\w*|dokumentasjon\w*|documentation)\b"
)
#: A question about what became of a document sent in: a document word and a status word
#: ("er kvitteringen fra Adobe godkjent?", "status på fakturaen"), or what waits for
#: approval ("hva venter på godkjenning", "pending approvals").
_DOCUMENT_WORDS: Final = re.compile(
    r"\b(kvittering\w*|faktura\w*|receipts?|invoices?|forslag\w*|proposals?|dokument\w*|"
    r"documents?|utlegg\w*|bilaget)\b"
)
_STATUS_WORDS: Final = re.compile(
    r"\b(status|godkjent|godkjente|godkjend|avvist|avviste|avslått|bokført|bokførte|utført|"
    r"behandlet|venter|ventende|skjedde med|approved|rejected|booked|executed|processed|"
    r"pending|waiting|gått gjennom|happened to|"
    # "har du fått kvitteringen?", "did you get my receipt?": was it received
    r"(?:har|fikk) du (?:fått|mottatt)|fikk du|(?:did|have) you (?:get|got|receive|received))\b"
)
_WAITING: Final = re.compile(
    r"\b(venter på godkjenning|til godkjenning|venter på behandling|ikke godkjent ennå|"
    r"awaiting (?:approval|review)|pending (?:approvals?|reviews?)|waiting for approval|"
    r"not (?:yet )?approved)\b"
)


#: Words of a status question that name no merchant or supplier.
_NOT_NAMES: Final = frozenset(
    {"er", "is", "the", "har", "has", "have", "blitt", "been", "fra", "from", "til", "to",
     "for", "på", "on", "of", "hva", "what", "hvilke", "which", "den", "det", "de", "vi",
     "we", "our", "min", "mine", "my", "ennå", "yet", "nå", "now", "was", "were", "ble",
     "sent", "sendt", "siste", "last", "latest", "med", "with", "and", "og", "how", "hvordan",
     "går", "godkjenning", "approval", "review", "ikke", "not", "kan", "can", "you",
     "du", "ditt", "any", "noen", "all", "alle", "som", "that", "i", "in", "a", "an",
     "there", "are", "fortsatt", "still", "status", "statusen", "gikk", "went", "enda",
     "allerede", "already", "denne", "this", "forrige", "previous", "måned", "måneden",
     "month", "uke", "uken", "week", "år", "year", "today", "idag", "yesterday", "dag",
     "did", "does", "get", "got", "fikk", "bli", "vil", "will", "when", "når", "hvem", "who",
     "skjedde", "happened", "fått", "mottatt", "receive", "received", "hvorfor", "why",
     "godkjente", "avviste", "bokførte", "its", "dens"}
)  # fmt: skip


def _name_words(text: str) -> frozenset[str]:
    """The words of a merchant's name, or of a status question once its document, status
    and question words are left out ("adobe" of "er adobe-kvitteringen godkjent?")."""
    words = re.findall(r"[\wæøå]+", text.lower())
    return frozenset(
        w
        for w in words
        if len(w) >= 3
        and not w.isdigit()  # "kvitteringen på 500 kr" names an amount, not a merchant
        and w not in _NOT_NAMES
        and not _DOCUMENT_WORDS.fullmatch(w)
        and not _STATUS_WORDS.fullmatch(w)
        and w not in ("as", "asa", "ltd", "inc", "norge", "norway", "gmbh", "ab", "nok")
    )


#: A question asking which documents are in a status (not whether one is).
_WHICH: Final = re.compile(r"\b(hvilke|hvilken|which|vis|show|list\w*)\b")
_STATUS_FILTER: Final = (
    (re.compile(r"\b(avvist|avslått|rejected)\b"), (Status.REJECTED,)),
    (re.compile(r"\b(godkjent|approved)\b"), (Status.APPROVED, Status.EXECUTED)),
    (re.compile(r"\b(bokført|utført|booked|executed)\b"), (Status.EXECUTED,)),
    (re.compile(r"\b(feilet|failed)\b"), (Status.FAILED,)),
)


def _asks_status(lowered: str) -> bool:
    return _WAITING.search(lowered) is not None or (
        _DOCUMENT_WORDS.search(lowered) is not None and _STATUS_WORDS.search(lowered) is not None
    )


#: The keywords a typo is corrected to (words of five letters or more only).
_VOCABULARY: Final = (
    "kvittering", "kvitteringer", "kvitteringen", "kvitteringene", "mangler", "manglende",
    "saldo", "saldoen", "balance", "leverandørfaktura", "leverandørfakturaer", "faktura",
    "fakturaer", "invoice", "invoices", "receipt", "receipts", "missing", "utlegg",
    "disponibel", "forbruk", "budsjett", "budget", "kostnad", "merverdiavgift",
    # costs in everyday words ("kostnder i november", "utgiftr i år")
    "kostnader", "kostnadene", "utgifter", "utgiftene", "forbruket",
    # the books' questions ("hva skyldr vi", "balnsen", "resultatt")
    "skylder", "leverandører", "leverandørene", "balansen", "resultatet", "leverandørgjeld",
    "kundefordringer",
)  # fmt: skip
_PUNCTUATION: Final = "?!.,:;«»\"'()"


def _corrected(lowered: str) -> str:
    """`lowered` with each word of five letters or more that is a typo away from a keyword
    (difflib ratio ≥ 0.85) replaced by the keyword."""
    words = []
    for word in lowered.split(" "):
        core = word.strip(_PUNCTUATION)
        if len(core) >= 5 and core not in _VOCABULARY:
            close = difflib.get_close_matches(core, _VOCABULARY, n=1, cutoff=0.85)
            if close:
                word = word.replace(core, close[0])
        words.append(word)
    return " ".join(words)


#: A message asking the agent to do something it never does from text: approve, reject,
#: change, delete, execute — or to ignore its instructions. Whole words ("godkjenning",
#: "approved" are questions' words, not orders).
_ORDERS: Final = re.compile(
    r"\b(godkjenn|avvis|slett|fjern|endre|korriger|utfør|tilbakestill|overstyr|"
    r"approve|reject|delete|remove|execute|cancel|undo|override)\b"
    # Asked as a favour: "kan du godkjenne kvitteringen fra Adobe?"
    r"|\b(?:kan|kunne|vil|ville|må)\s+du\s+(?:\w+\s+)?(?:godkjenne|avvise|slette|fjerne|"
    r"endre|korrigere|utføre|bokføre|betale)\b"
    r"|\b(ignore|disregard|forget|ignorer|glem|overse)\b.{0,60}?"
    r"\b(instructions?|instruksjon\w*|instrukser|rules?|regler|regelen|prompt\w*)\b"
)
#: Words of a greeting or a plea for help: answered with the help text alone.
_GREETINGS: Final = frozenset(
    {"hei", "hallo", "heisann", "hello", "hi", "hey", "hjelp", "help", "takk", "thanks",
     "thank", "you", "god", "morgen", "good", "morning", "meg", "me", "kan", "du", "can",
     # "hva kan du?", "what can you do?", "hvordan fungerer dette?": the help is the answer
     "hva", "what", "do", "gjøre", "gjør", "hjelpe", "deg", "with", "med", "how", "does",
     "this", "work", "hvordan", "fungerer", "funker", "dette", "det", "please"}
)  # fmt: skip


#: Words a sender writes with a document against booking it as it reads: private, not to
#: be booked, wrong, already sent, returned or refunded ("privat kjøp, ikke bokfør",
#: "feil beløp", "duplikat", "personal, don't book").
_RESERVATION: Final = re.compile(
    r"\b(privat\w*|private(?:ly)?|personal|personlig\w*|"
    r"ikke (?:bokfør\w*|før\w*|registrer\w*|ta med|send\w*|betal\w*|godkjenn\w*)|"
    r"skal ikke (?:bokføres|føres|med|betales|registreres)|"
    r"ikke (?:firma|bedrift|jobb)\w*|ikke vår\w*|not ours|not (?:a )?(?:business|company|work)|"
    r"don'?t (?:book|post|pay|approve|register)|do not (?:book|post|pay|approve|register)|"
    r"feil\w*|wrong|incorrect|duplikat\w*|duplicate|dobbelt\w*|"
    r"allerede (?:sendt|levert|bokført|betalt|registrert)|"
    r"already (?:sent|booked|submitted|paid|registered)|"
    r"refundert|refunded|refusjon|returnert|returned|kreditert|credited|annullert|cancell?ed|"
    r"stemmer ikke|doesn'?t match|does not match|ignorer\w*|ignore|glem\w*|forget)\b"
)


#: What a correction of a document says besides a reservation: what it should be ("det
#: skal være konto 6540", "beløpet var 199 kr", "should be 25 % VAT").
_CORRECTION: Final = re.compile(
    r"\b(skal være|skulle vært|skulle være|burde vært|should be|should have been|egentlig|"
    r"actually|riktig\w*|correct\w*|rett (?:konto|beløp|sats|dato)|"
    # "konto 6540", and a change asked for: "endre konto til 6540", "kontoen til 6540"
    r"(?:konto|kontoen|account)(?:\s*(?:til|to|=|:))?\s+\d{4}|"
    r"\d+(?:[.,]\d+)?\s*(?:kr|nok|%)|mva|vat)\b"
)


#: Words pointing at the document a question is asked next to: "her", "denne", "dette",
#: "den", "this" — not "denne måneden", "dette året".
_THIS_DOCUMENT: Final = re.compile(
    r"\b(?:her|denne|dette|den|this|here|this one)\b"
    r"(?!\s+(?:termin\w*|måned\w*|uke\w*|uka|året|år|kvartal\w*|perioden|month|week|"
    r"year|quarter|term|period|gangen|time|"
    # nor "den kontoen", "this supplier": another thing than the document
    r"konto\w*|account\w*|leverandør\w*|suppliers?|kunde\w*|customers?|bank\w*|"
    r"saldo\w*|balanse\w*|regnskap\w*|rapport\w*|reports?)\b)"
)
#: A document named by its kind ("kvitteringen", "the invoice"): the one handed in, when
#: the channel has one document; with several, the channel's status question lists them.
_THE_DOCUMENT: Final = re.compile(
    r"\b(?:kvitteringen|fakturaen|bilaget|dokumentet|utlegget|kreditnotaen|regningen|"
    r"the (?:receipt|invoice|document|bill|expense|credit note))\b"
)
#: The pointing words of `_THIS_DOCUMENT`, no merchant's name.
_POINTING: Final = frozenset({"her", "here", "denne", "dette", "den", "this", "one", "yet"})
_WHY: Final = re.compile(r"\b(hvorfor|why|begrunnelse\w*|begrunn\w*|forklar\w*|explain\w*)\b")
_ACCOUNT_WORD: Final = re.compile(r"\b(konto\w*|account)\b")
_WHAT_IS_IT: Final = re.compile(
    r"\b(?:hva|what)\s+(?:er|var|is|was)\s+(?:dette|denne|den|det|this|it)\s*\??$"
    r"|\b(?:hvor mye|how much)\s+(?:er|var|is|was|kostet|did)\b.*\b(?:denne|den|dette|this|it)\b"
)
#: What a correction says rather than asks ("det skal være konto 6540"): no question.
_SAYS_WHAT_IT_SHOULD_BE: Final = re.compile(
    r"\b(skal være|skulle vært|skulle være|burde vært|burde være|should be|"
    r"should have been|egentlig|actually|feil|wrong|ikke riktig|not right)\b"
)


#: A question, not a statement: a question mark, or a question word first.
_ASKS: Final = re.compile(
    r"\?|^(?:hva|hvorfor|hvilken|hvilke|hvilket|hvor|hvordan|hvem|når|er|har|ble|var|kan|"
    r"what|why|which|how|who|when|is|was|has|have|did|does|do|can)\b"
)
_AMOUNT_SAID: Final = re.compile(r"\d+(?:[.,]\d+)?\s*(?:kr|nok|%|prosent|percent)\b|\d\s*%")


def document_question(text: str, *, several: bool = False) -> str | None:
    """What a message asks about "this" document — "why" (its account or reasons: "hvorfor
    konto 6540?", "hvilken konto er denne ført på?"), "vat" ("hva er mva her?"), "status"
    ("er denne godkjent?") or "summary" ("hva er dette?", "hvor mye var den?") — or None
    when it asks nothing about it, or corrects it rather than asks (`reads_as_correction`
    hands those on to the review)."""
    lowered = lq.in_bokmal(" ".join(readable(text).lower().split()))
    if (
        not _ASKS.search(lowered)
        or has_reservation(lowered)
        or _SAYS_WHAT_IT_SHOULD_BE.search(lowered)
        or _AMOUNT_SAID.search(lowered)  # "er mva 15 % her?": what it should be
    ):
        return None
    this = _THIS_DOCUMENT.search(lowered) is not None or (
        not several and _THE_DOCUMENT.search(lowered) is not None
    )
    if _WHY.search(lowered) and this and _STATUS_WORDS.search(lowered):
        # "hvorfor ble den avvist?": where it stands says why (the rejection's reason).
        return None if _name_words(lowered) - _POINTING else "status"
    if _WHY.search(lowered) and (
        this
        or _ACCOUNT_WORD.search(lowered)
        or _VAT_WORDS.search(lowered)
        or len(lowered.split()) <= 2
    ):
        return "why"
    if not this:
        # "er kvitteringen godkjent?" names the document by its kind alone: this one.
        return None
    if _VAT_WORDS.search(lowered):
        return "vat"
    if _ACCOUNT_WORD.search(lowered):
        return "why"
    if _STATUS_WORDS.search(lowered):
        # "er kvitteringen fra Adobe godkjent?" names another: the channel's question.
        return None if _name_words(lowered) - _POINTING else "status"
    if _WHAT_IS_IT.search(lowered):
        return "summary"
    return None


def _latest_document(
    history: Sequence[ConversationMessage],
) -> tuple[uuid.UUID | None, bool]:
    """The proposal of the latest document handed in on a channel (its reply), if any,
    and whether the channel has had several."""
    sent = [
        message.proposal_id
        for message in history
        if message.direction == OUTBOUND and message.proposal_id is not None
    ]
    return (sent[-1] if sent else None), len(set(sent)) > 1


def _account_origin(
    view: ProposalView, metadata: Mapping[str, Any], language: m.Language
) -> str | None:
    """Where a proposal's account came from, in words: a correction, an approved pattern
    of the merchant, or the default table's row for the merchant's name and VAT rate
    (domain/accounts.py, as the pipeline chose it); None when none of them gave it."""
    account = view.account_code
    if account is None:
        return None
    merchant = named_counterparty(view) or m.text("unknown_merchant", language)
    if any(key in (view.corrections or {}) for key in ("account_code", "accountCode")):
        return m.text("document.account.corrected", language, account=account)
    confidence = metadata.get("confidence")
    if isinstance(confidence, dict) and (
        confidence.get("approvedPattern") or confidence.get("patternId")
    ):
        return m.text("document.account.pattern", language, account=account, merchant=merchant)
    row = default_account(named_counterparty(view), view.vat_rate or DEFAULT_VAT_RATE)
    if row.account != account:
        return None
    category = m.text(f"category.{row.category}", language)
    return m.text(
        "document.account.default",
        language,
        account=account,
        category=category,
        merchant=merchant,
        vat=m.percent(view.vat_rate),
    )


def recorded_reasons(metadata: Mapping[str, Any]) -> list[tuple[Decimal, str]]:
    """The reasons of a proposal's confidence as its proposed event's metadata recorded
    them, each as (effect, detail); what cannot be read as one is left out."""
    confidence = metadata.get("confidence")
    reasons = confidence.get("reasons") if isinstance(confidence, dict) else None
    found: list[tuple[Decimal, str]] = []
    for reason in reasons if isinstance(reasons, list | tuple) else ():
        if not isinstance(reason, dict) or not isinstance(reason.get("detail"), str):
            continue
        try:
            effect = Decimal(str(reason.get("effect")))
        except ArithmeticError:
            continue
        found.append((effect, reason["detail"]))
    return found


def _reasons(metadata: Mapping[str, Any], language: m.Language) -> str:
    """The weightiest three reasons of a proposal's confidence (its proposed event's
    metadata), in the language, joined; "" when it recorded none."""
    found = recorded_reasons(metadata)
    found.sort(key=lambda pair: abs(pair[0]), reverse=True)
    return "; ".join(m.sentence(detail, language) for _, detail in found[:3])


def reads_as_correction(text: str) -> bool:
    """Whether a message in a document's thread corrects it or speaks against booking it
    ("feil, det skal være konto 6540", "dette var privat"), not a question (the Discord
    adapter hands such a message on to the review)."""
    lowered = " ".join(readable(text).lower().split())
    return has_reservation(lowered) or _CORRECTION.search(lowered) is not None


def has_reservation(caption: str) -> bool:
    """Whether a document's caption speaks against booking it as read (`_RESERVATION`)."""
    return _RESERVATION.search(caption.lower()) is not None


def asks_to_act(text: str) -> bool:
    """Whether a message orders something the chat never does (see _ORDERS)."""
    return _ORDERS.search(" ".join(readable(text).lower().split())) is not None


#: Variation selectors (an emoji's presentation, "SALDO️"): no part of a word.
_VARIATION_SELECTORS: Final = frozenset(map(chr, range(0xFE00, 0xFE10)))


def readable(text: str) -> str:
    """A message as its words are read: compatibility forms as their letters (full-width
    "ｓａｌｄｏ", a no-break space), and the invisible format characters dropped — zero-width
    spaces and joiners, soft hyphens, byte-order marks, bidi overrides, variation
    selectors — which split a word for the keywords but not for the reader ("m\u200bva")."""
    normal = unicodedata.normalize("NFKC", text)
    return "".join(
        ch for ch in normal if unicodedata.category(ch) != "Cf" and ch not in _VARIATION_SELECTORS
    )


def _is_greeting(text: str) -> bool:
    words = re.findall(r"\w+", text.lower())
    return all(word in _GREETINGS for word in words)


#: Words of a VAT question, whole words only ("private" is not "vat"); "mva-oppgjør",
#: "mva-melding" and "skyldig mva" are found by their "mva".
_VAT_WORDS: Final = re.compile(r"\b(mva\w*|moms\w*|merverdiavgift\w*|vat)\b")
_VAT_TERM: Final = re.compile(
    r"\b(?:termin|term|periode|period)\s*(\d{1,2})\b|\b(\d)\.\s*termin"
    r"|\b(første|fyrste|andre|tredje|fjerde|femte|sjette|"
    r"first|second|third|fourth|fifth|sixth)\s+(?:termin|term)\b"
)
#: A term named by its ordinal ("første termin", "the third term").
_TERM_ORDINALS: Final = {
    "første": 1, "fyrste": 1, "first": 1, "andre": 2, "second": 2, "tredje": 3, "third": 3,
    "fjerde": 4, "fourth": 4, "femte": 5, "fifth": 5, "sjette": 6, "sixth": 6,
}  # fmt: skip
_YEAR: Final = re.compile(r"\b(20\d\d)\b")
#: A VAT question about paying or a deadline, and one about a period's VAT ("mva for").
_PAYING: Final = re.compile(r"\b(betale\w*|betalt|betalte|betales|pay|paid|due|frist\w*)\b")
_VAT_FOR: Final = re.compile(r"\b(?:mva|moms|vat)\s+(?:for|i|in|on)\b")


def vat_terms_asked(
    text: str,
    today: dt.date,
    length: VatTermLength = BIMONTHLY,
    registered_from: dt.date | None = None,
) -> tuple[VatTerm, ...]:
    """The VAT terms a question asks about: the one it names — "termin 5" / "term 5" /
    "5. termin" (of the year named, "i fjor" too, else this year), "forrige termin" /
    "last term" — or a year's terms begun by today ("mva for 2025", "i fjor"), or, when
    it names none, the term whose return is due next (while one is) and the current
    term. InvalidReportPeriod for a term outside 1–6. On the yearly term (ADR 0064) a
    term is a year: a named term is its year's, the last term last year. A company
    registered from `registered_from` has no return due for a term that ended before then
    (ADR 0064, addendum): unasked, only the current term is answered."""
    lowered = " ".join(text.lower().split())
    current = vat_term_of(today, length)
    year = lq.year_asked(text, today)
    match = _VAT_TERM.search(lowered)
    if match is not None:
        if year is None:
            bare = _YEAR.search(lowered)  # "termin 2 2025"
            year = int(bare[1]) if bare else today.year
        number = int(match[1] or match[2]) if match[3] is None else _TERM_ORDINALS[match[3]]
        return (company_vat_term(year, number, length),)
    if any(p in lowered for p in ("forrige termin", "last term", "previous term")):
        return (vat_term_of(current.start - dt.timedelta(days=1), length),)
    month = lq.month_named(text)
    if month is not None and _PAYING.search(lowered) and not _VAT_FOR.search(lowered):
        # "hvor mye mva skal vi betale i desember": the term whose return is due that
        # month (the nearest December), not the term December falls in.
        due_in = [dt.date(today.year + shift, month, 1) for shift in (-1, 0, 1)]
        nearest = min(due_in, key=lambda d: abs((d - today.replace(day=1)).days))
        due = tuple(
            t
            for t in (vat_term_of(nearest - dt.timedelta(days=d), length) for d in (31, 62, 93))
            if (t.due.year, t.due.month) == (nearest.year, month)
        )
        if due:
            return due[:1]
    asked = lq.month_or_days_asked(text, today)
    if asked is not None:  # "mva for mars", "mva i januar og februar": the terms they span
        first, last = vat_term_of(asked[0], length), vat_term_of(asked[1], length)
        spanned = [first]
        while spanned[-1].end < last.start:
            spanned.append(vat_term_of(spanned[-1].end + dt.timedelta(days=1), length))
        return tuple(spanned)
    if year is not None:  # "mva for 2025", "i fjor": the year's term(s) begun by today
        if length == YEARLY:
            return (company_vat_term(year, 1, length),)
        terms = tuple(company_vat_term(year, n, length) for n in range(1, 7))
        begun = tuple(t for t in terms if t.start <= today)
        return begun or terms[:1]
    due_next = vat_term_due_next(today, length)
    if due_next is None or not files_return_for(due_next, registered_from):
        return (current,)
    return (due_next, current)


#: The lookups a period is asked of (the bank's and the books' lists).
_LOOKUPS_OVER_A_PERIOD: Final = frozenset({"missing_receipts", "supplier_invoices", "expenses"})
#: The questions whose answer reads a period the words may name.
_READS_A_PERIOD: Final = _LOOKUPS_OVER_A_PERIOD | BOOKS_QUESTIONS | {"spending", "vat"}
_THIS_YEAR: Final = re.compile(r"\b(i år|hittil i år|this year|so far this year)\b")


def lookup_period(text: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The period a question names as the books' questions read it (a month, this or last
    month, a quarter, a year, last year, this year), or None when it names none."""
    period = lq.ledger_period(text, today)
    if period != lq.ledger_period("", today) or _THIS_YEAR.search(lq.in_bokmal(text.lower())):
        return period
    return None


class KeywordClassifier:
    """The offline IntentClassifier: the keyword intents of `intent_of`, no dates."""

    async def classify(self, text: str) -> Intent:
        return Intent(name=intent_of(text) or "help")  # type: ignore[arg-type]


#: Words naming spending sources in a question ("AI" is every model provider).
_SOURCE_WORDS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("anthropic", ("anthropic", "claude")),
    ("google", ("google", "gemini", "vertex")),
    ("cloudflare", ("cloudflare", "workers", "pages")),
    ("bookkeeper", ("bookkeeper", "tolkning", "extraction", "egne kall")),
)
_AI_WORDS: Final = re.compile(r"\b(ai|ki|kunstig intelligens|llm|språkmodell\w*|modell\w*)\b")
#: Words naming the cloud ("what did we spend on cloud"): the cloud providers among the
#: sources, Google Cloud and Cloudflare (Anthropic's API is named by the AI words).
_CLOUD_WORDS: Final = re.compile(
    r"\b(cloud|sky|skyen|nettsky\w*|skytjeneste\w*|hosting|"
    # compounds: "skykostnader", "skyforbruket", "cloud-kostnader", "cloudkostnader"
    r"sky(?:kostnad|forbruk|utgift|regning)\w*|cloud(?!flare)\w+)\b"
)
#: The APIs we pay for ("API-kostnader", "hva kostet API-ene"): every source's calls.
_API_WORDS: Final = re.compile(r"\b(api|apis|apier|api-ene|apiene|api-kall)\b")
CLOUD_SOURCES: Final = ("google", "cloudflare")
_MONTHS: Final[dict[str, int]] = {
    name: number
    for number, names in enumerate(
        (
            ("januar", "january", "jan"),
            ("februar", "february", "feb"),
            ("mars", "march", "mar"),
            ("april", "apr"),
            ("mai", "in may"),  # "may" alone is a verb
            ("juni", "june", "jun"),
            ("juli", "july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("oktober", "october", "okt", "oct"),
            ("november", "nov"),
            ("desember", "december", "des", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_WORDS: Final = re.compile(
    r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b(?:\s+(\d{4}))?"
)


def spending_sources(text: str) -> tuple[str, ...]:
    """The sources a spending question names (none: every source)."""
    lowered = " ".join(text.lower().split())
    found: list[str] = []
    if _AI_WORDS.search(lowered):
        found += list(AI_SOURCES)
    if _CLOUD_WORDS.search(lowered):
        found += list(CLOUD_SOURCES)
    if _API_WORDS.search(lowered):
        found += [*AI_SOURCES, *CLOUD_SOURCES]
    for source, words in _SOURCE_WORDS:
        if any(re.search(rf"\b{re.escape(word)}\b", lowered) for word in words):
            found.append(source)
    return tuple(dict.fromkeys(found))


def spending_period(text: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The period a spending question names, in Norwegian or English: a month by name
    (the latest one not after today, or of the year given), this or last month, this
    year, yesterday, today, or — as `ledger_period` reads them — a year, last year, a
    quarter, a month of last year; this month by default."""
    lowered = " ".join(text.lower().split())
    month_start = today.replace(day=1)
    explicit = lq.explicit_period(text, today)  # a date, a range, the last N days, a week
    if explicit is not None:
        return explicit
    if any(p in lowered for p in ("forrige måned", "last month", "sist måned")):
        end = month_start - dt.timedelta(days=1)
        return end.replace(day=1), end
    if any(p in lowered for p in ("i går", "igår", "yesterday")):
        yesterday = today - dt.timedelta(days=1)
        return yesterday, yesterday
    if re.search(r"\b(i dag|idag|today)\b", lowered):
        return today, today
    if any(p in lowered for p in ("i år", "this year", "hittil i år", "so far this year")):
        return today.replace(month=1, day=1), today
    if lq.names_a_period(text):  # a year, last year, a quarter: as a question on the books
        return lq.ledger_period(text, today)
    if not any(p in lowered for p in ("denne måned", "this month", "måneden")):
        match = _MONTH_WORDS.search(lowered)
        if match is not None:
            month = _MONTHS[match[1]]  # "in may" is a key of its own
            year = int(match[2]) if match[2] else today.year
            if not match[2] and month > today.month:
                year -= 1
            first = dt.date(year, month, 1)
            last = first.replace(day=calendar.monthrange(year, month)[1])
            return first, min(last, today) if first <= today else last
    return month_start, today


def _not_begun(start: dt.date, end: dt.date, today: dt.date, language: m.Language) -> Reply:
    """A period asked that has not begun: said, and nothing read."""
    text = m.text("period.future", language, start=_date(start), end=_date(end), today=_date(today))
    return Reply(text=text, language=language)


def _purchase_name(purchase: Purchase) -> str:
    """How a person knows a purchase: its supplier or text, with its number when it has
    one; Fiken's id only when there is nothing else."""
    named = [part for part in (purchase.description, purchase.identifier) if part]
    return " ".join(named) if named else purchase.id


def _purchases_text(key: str, expenses: bool, language: m.Language, **values: Any) -> str:
    return m.text(f"{'expenses' if expenses else 'invoices'}.{key}", language, **values)


def _last_language(history: Sequence[ConversationMessage]) -> m.Language:
    for message in reversed(history):
        if message.direction == INBOUND:
            return m.ENGLISH if message.language == m.ENGLISH else m.NORWEGIAN
    return m.NORWEGIAN


def _inbound_text(text: str, attachments: Sequence[Attachment]) -> str:
    names = [f"[{name or 'vedlegg'}]" for _, _, name in attachments]
    return " ".join([text.strip(), *names]).strip()


def _date(value: dt.date) -> str:
    return m.date_text(value)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _entries_noun(count: int, language: m.Language) -> str:
    return m.text("ledger.entries.one" if count == 1 else "ledger.entries.many", language)


def _as_written(lowered: str, text: str) -> str:
    """`lowered` (a name read from `text` in lower case) as `text` writes it."""
    spaced = " ".join(text.split())
    at = spaced.casefold().find(lowered)
    return spaced[at : at + len(lowered)] if at >= 0 else lowered


def _named(name: str | None) -> str:
    """ " Leverandørgjeld" after an account code, or nothing when the chart has no name."""
    return f" {name}" if name else ""


def _merchant(view: ProposalView | None, result: IntakeResult | None, language: m.Language) -> str:
    name: Any = named_counterparty(view) if view is not None else None
    if not name and result is not None and result.extraction is not None:
        name = result.extraction.merchant_name
    return str(name) if name else m.text("unknown_merchant", language)


def _proposal_reply(result: IntakeResult, view: ProposalView | None, language: m.Language) -> Reply:
    proposal = result.proposal
    lines: list[str] = []
    if result.duplicate:
        lines.append(m.text("duplicate", language, id=proposal.id))
    currency = str(view.data.get("currency") or "NOK") if view is not None else "NOK"
    lines.append(
        m.text(
            "proposal",
            language,
            kind=m.kind_word(proposal.kind, language, view.data if view is not None else None),
            merchant=_merchant(view, result, language),
            amount=m.kroner(view.amount if view is not None else None, currency),
            account=(view.account_code if view is not None else None) or "?",
            vat=m.percent(view.vat_rate if view is not None else None),
        )
    )
    match = result.bank_match
    if match is not None:
        lines.append(
            m.text(
                "bank_match",
                language,
                description=match.merchant_name or match.description,
                date=_date(match.date),
                amount=m.kroner(match.amount),
            )
        )
    confidence = proposal.confidence
    if confidence is not None:
        main = sorted(confidence.reasons, key=lambda r: abs(r.effect), reverse=True)[:3]
        reasons = "; ".join(m.sentence(r.detail, language) for r in main)
        key = "confidence" if reasons else "confidence.bare"
        lines.append(
            m.text(key, language, score=m.score(confidence.score, language), reasons=reasons)
        )
    outcome = proposal.decision.outcome if proposal.decision is not None else None
    status = view.status if view is not None else proposal.status
    if result.duplicate:
        lines.append(m.text("outcome.status", language, status=m.status_word(status, language)))
    elif outcome is Outcome.AUTO_APPROVED:
        lines.append(m.text("outcome.auto", language))
    elif status is Status.PROPOSED:
        lines.append(m.text("outcome.review", language))
    else:
        lines.append(m.text("outcome.status", language, status=m.status_word(status, language)))
    # A document sent again: why the earlier one ended where it did.
    if view is not None and status is Status.REJECTED and view.rejection_reason:
        lines.append(m.text("outcome.rejected_because", language, reason=view.rejection_reason))
    elif view is not None and status is Status.FAILED:
        error = explain_failure(view.last_error, language, kind=view.kind)
        lines.append(m.text("outcome.failed_because", language, error=error))
    if result.warnings:
        warnings = "; ".join(m.sentence(w, language) for w in result.warnings)
        lines.append(m.text("warnings", language, warnings=warnings))
    return Reply(
        text="\n".join(lines),
        language=language,
        proposal_id=proposal.id,
        status=status.value,
        outcome=outcome.value if outcome is not None else None,
        confidence=confidence.score if confidence is not None else None,
    )


def _news(view: ProposalView, language: m.Language, people: People) -> Reply:
    currency = str(view.data.get("currency") or "NOK")
    subject = m.text(
        "subject",
        language,
        kind=m.kind_word(view.kind, language, view.data),
        merchant=_merchant(view, None, language),
        amount=m.kroner(view.amount, currency),
    )
    by = people.name(view.decided_by, language, tenant=view.tenant_id)
    if view.status is Status.EXECUTED:
        detail = m.text(
            "executed.detail",
            language,
            account=view.account_code or "?",
            vat=m.percent(view.vat_rate),
        )
        text = m.text("update.executed", language, subject=subject, detail=detail)
    elif view.status is Status.REJECTED:
        text = m.text(
            "update.rejected", language, subject=subject, by=by, reason=view.rejection_reason or "?"
        )
    elif view.status is Status.FAILED:
        # What went wrong, in words of our own: the raw answer stays in the event.
        error = explain_failure(view.last_error, language, kind=view.kind)
        text = m.text("update.failed", language, subject=subject, error=error)
    elif _told_as(view) != view.status.value:  # approved, an attempt failed, tried again
        reason = explain_failure(
            view.last_error, language, kind=view.kind, retry_at=view.next_attempt_at
        )
        text = m.text("update.retrying", language, subject=subject, reason=reason)
    else:
        text = m.text("update.approved", language, subject=subject, by=by)
    return Reply(
        text=text,
        language=language,
        proposal_id=view.id,
        status=view.status.value,
        told=_told_as(view),
    )


def _told_as(view: ProposalView) -> str:
    """What a channel is told of a proposal: its status, or for an approved one whose
    attempt failed and will be tried again, that (once per attempt)."""
    if view.status is Status.APPROVED and view.last_error and view.next_attempt_at:
        return f"{view.status.value}:retry:{view.attempts}"
    return view.status.value
