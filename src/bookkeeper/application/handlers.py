"""Command handlers: one async handler per command, found through a registry.

Every handler runs in one unit of work: read what it needs, let the aggregate decide, append
the new events with the expected version (the unique (stream, version) index arbitrates
races), update the projections in the same transaction, commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

import msgspec

from bookkeeper.application import messages as m
from bookkeeper.application.bank_claims import bank_event_holders, held_event
from bookkeeper.application.commands import (
    ApproveProposal,
    Command,
    RejectProposal,
    RetryExecution,
    SubmitEvent,
)
from bookkeeper.application.errors import (
    ApplicationError,
    DuplicateEvent,
    IdempotencyConflict,
    NotFound,
)
from bookkeeper.application.event_log import chain, following, idempotent_event_id, stamp
from bookkeeper.application.ports import (
    KNOWN_SUPPLIER_LIMIT,
    Authorizer,
    BankProvider,
    BankTransaction,
    BooksProvider,
    Clock,
    DuplicateProbe,
    EventFilter,
    Ids,
    Principal,
    ProposalView,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.postings import (
    EXCHANGE_METADATA,
    exchange_in,
    exchange_of,
    posted_entry,
    reversible_entry,
)
from bookkeeper.application.projections import fold_proposal, pattern_from, pattern_of
from bookkeeper.application.spending import ExchangeRates
from bookkeeper.application.tax_rates import valid_rates
from bookkeeper.application.ttl_cache import TtlCache
from bookkeeper.domain import approval, vat_registration
from bookkeeper.domain import confidence as scoring
from bookkeeper.domain.bank_matching import Payable, check_named_payment
from bookkeeper.domain.errors import (
    BankEventTaken,
    InvalidCorrection,
    InvalidProposal,
    NokAmountMissing,
    NokAmountStale,
    NotCompensable,
)
from bookkeeper.domain.events import (
    SUBMITTABLE_TYPES,
    CorrectionData,
    Corrections,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    Kind,
    PatternSuggestionData,
    ReceiptAttachmentData,
    ReversalData,
    Status,
    Step,
    credited_invoice_of,
    event_type,
    is_credit_note,
    payload_to_builtins,
)
from bookkeeper.domain.ledger import unknown_accounts
from bookkeeper.domain.patterns import best_match, normalise_merchant
from bookkeeper.domain.proposals import (
    Proposal,
    apply_corrections,
    check_corrected_cost_account,
    check_correction_vat,
    check_document_date,
    check_text_safe,
    counterparty,
)
from bookkeeper.domain.review import (
    DEFAULT_RULES,
    CreditBeyondInvoice,
    Outcome,
    ReviewDecision,
    credit_beyond_invoice,
    decide,
)
from bookkeeper.domain.rules import (
    EXCHANGE_FROM_BANK,
    EXCHANGE_FROM_REVIEWER,
    NOK,
    Exchange,
    PurchaseData,
    exchange_for,
    foreign_currency,
    implied_exchange,
    to_nok,
)

AUTO_APPROVER = "system:review-rules"
#: Days either side of a receipt's date in which the bank event it names is looked for.
NAMED_EVENT_LOOKUP_DAYS = 45
#: How long a listing of a tenant's bank events is reused by the receipt check: the propose
#: path must not call the bank (Folio, or the sandbox's tables) once per receipt. An event
#: newer than the listing is not checked at proposal time (the executor's attach still is).
BANK_EVENTS_TTL_SECONDS = 30.0
#: Listings kept at most (tenant × window), oldest dropped first.
BANK_EVENTS_CACHE_SIZE = 256
BankSource = Callable[[], Awaitable[BankProvider]]
BooksChartSource = Callable[[], Awaitable[BooksProvider]]
#: How long a tenant's chart of accounts (from the books) is reused by the account check at
#: proposal time; a code added to the chart in Fiken is known here at most this much later.
CHART_TTL_SECONDS = 300.0
#: Tenants whose chart is kept at most, oldest dropped first.
CHART_CACHE_SIZE = 1024
#: How long a proposal or a decision waits for the books' chart when it is not kept: the
#: check is best effort, and books that hang (or queue a company's requests one at a time
#: behind executions, as Fiken's do) must not hold the intake. The read goes on after it,
#: and what it reads is kept for the requests after it.
CHART_WAIT_SECONDS = 2.0
log = logging.getLogger("bookkeeper.handlers")
PATTERN_APPLIER = "system:patterns"


class SubmitResult(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    stream_id: uuid.UUID
    correlation_id: uuid.UUID
    type: str
    status: Status | None
    confidence: scoring.Confidence | None
    decision: ReviewDecision
    replayed: bool = False
    #: The proposal's recorded warnings (metadata "warnings"): the proposer's own and the
    #: service's (a credit beyond its invoice), for the reviewer to weigh.
    warnings: tuple[str, ...] = ()


class DecisionResult(msgspec.Struct, frozen=True, kw_only=True):
    event_id: uuid.UUID
    proposal: ProposalView


#: How many of a proposer's own warnings, and how much of each, a proposal records.
MAX_WARNINGS: Final = 20
MAX_WARNING: Final = 500


def request_fingerprint(command: SubmitEvent) -> str:
    """A hash of what the request asked for, to tell a retry from a reused key."""
    body = [
        command.type,
        payload_to_builtins(command.data),
        str(command.correlation_id) if command.correlation_id else None,
        str(command.proposer_confidence) if command.proposer_confidence is not None else None,
        command.bank_transaction_verified,
    ]
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


class Handlers:
    """The application's command handlers with their collaborators."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
        *,
        bank_source: BankSource | None = None,
        exchange_rates: ExchangeRates | None = None,
        books_source: BooksChartSource | None = None,
    ) -> None:
        self._uow = uow_factory
        #: Issue 12: converts a foreign-currency document to NOK at its date's rate (None:
        #: no rate; the NOK amount is then the bank's payment or the reviewer's, ADR 0051).
        self._exchange_rates = exchange_rates
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer
        #: Opens the bank (first use) to check a receipt against the event it names; None:
        #: no check (unit tests of the handlers alone).
        self._bank_source = bank_source
        #: Opens the books (first use) to check an account code against the tenant's chart
        #: at proposal time; None: no check.
        self._books_source = books_source
        #: The charts' codes per tenant; the proposals meeting a tenant's miss while its
        #: chart is read wait for that read instead of each asking the books.
        self._charts: TtlCache[str, frozenset[str]] = TtlCache(CHART_TTL_SECONDS, CHART_CACHE_SIZE)
        #: Chart reads that requests stopped waiting for (held until they end).
        self._chart_reads: set[asyncio.Future[frozenset[str]]] = set()
        #: The bank's listings per (tenant, window); a window's listing being read: the
        #: receipts meeting its miss meanwhile wait for it instead of each asking the bank.
        self._bank_events: TtlCache[tuple[str, dt.date, dt.date], dict[str, BankTransaction]] = (
            TtlCache(BANK_EVENTS_TTL_SECONDS, BANK_EVENTS_CACHE_SIZE)
        )
        self._registry: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {
            SubmitEvent: self.submit,
            ApproveProposal: self.approve,
            RejectProposal: self.reject,
            RetryExecution: self.retry,
        }

    async def dispatch(self, command: Command) -> Any:
        """Run the handler registered for the command's type."""
        return await self._registry[type(command)](command)

    # --- POST /events -------------------------------------------------------------------

    async def submit(self, command: SubmitEvent) -> SubmitResult:
        principal = command.principal
        etype = event_type(command.type)
        if etype.name not in SUBMITTABLE_TYPES:
            raise InvalidProposal(
                f"{command.type} cannot be submitted; decisions, executions and the "
                "service's own records have their own paths"
            )
        self._authorizer.check(
            principal, "events:record-query" if etype.step is Step.QUERY else "events:propose"
        )
        if type(command.data) is not etype.payload:
            raise InvalidProposal(f"data is not a {command.type} payload")
        if isinstance(command.data, ReceiptAttachmentData):
            # Before its date is used to read the bank (ADR 0026): 9999-12-31 ± days
            # overflows; the proposal is validated in full (with the VAT rates valid on
            # that date, issue 12) when it is made.
            check_document_date(command.data)
        if command.event_id is not None:
            event_id = command.event_id
        elif command.idempotency_key is not None:
            event_id = idempotent_event_id(
                principal.tenant_id, principal.actor, command.idempotency_key
            )
        else:
            event_id = self._ids.new_id()
        fingerprint = request_fingerprint(command)
        try:
            return await self._submit(command, event_id, fingerprint)
        except DuplicateEvent:
            return await self._replay_submission(principal, event_id, fingerprint)

    async def _submit(
        self, command: SubmitEvent, event_id: uuid.UUID, fingerprint: str
    ) -> SubmitResult:
        principal = command.principal
        tenant = principal.tenant_id
        now = self._clock.now()
        etype = event_type(command.type)
        # Read before the unit of work: no transaction stays open across a remote call.
        named_event = await self._named_bank_event(tenant, command.data)
        exchange = await self._exchange(command.data)
        bank_mismatches = _named_payment_mismatches(command.data, named_event, exchange)
        if exchange is None and named_event is not None and not bank_mismatches:
            # ADR 0051: no published rate, but the bank paid the receipt in NOK.
            exchange = _paid_in_nok(command.data, named_event)
        unknown_accounts = await self._accounts_not_in_chart(tenant, command.data)
        async with self._uow() as uow:
            correlation_id = command.correlation_id or event_id
            metadata: dict[str, Any] = {"requestHash": fingerprint}
            if command.idempotency_key is not None:
                metadata["idempotencyKey"] = command.idempotency_key
            if exchange is not None:
                metadata[EXCHANGE_METADATA] = msgspec.to_builtins(exchange)
            if command.source:
                if any("\x00" in k + v for k, v in command.source.items()):
                    raise InvalidProposal("source must not contain NUL characters")
                metadata["source"] = dict(command.source)
            if command.warnings:
                # Metadata, not the payload: the event schema stays as it is (ADR 0027).
                metadata["warnings"] = list(
                    dict.fromkeys(
                        w.replace("\x00", "")[:MAX_WARNING] for w in command.warnings[:MAX_WARNINGS]
                    )
                )
            # The proposal's department (domain.approval): the proposer's attribute, never
            # the request body's word.
            department = approval.clean_department(
                principal.attributes.get(approval.DEPARTMENT_ATTRIBUTE)
            )
            if department is not None and etype.kind is not None:
                metadata[approval.DEPARTMENT_METADATA] = department

            if etype.kind is None:  # a read-only query: recorded, never reviewed
                check_text_safe(command.data)
                # Queries are never reviewed, whatever the tenant's rules: no need to read them.
                decision = decide(
                    DEFAULT_RULES,
                    kind=None,
                    score=Decimal(0),
                    approved_pattern=False,
                    duplicate_suspected=False,
                    amount=None,
                )
                metadata["review"] = _review_meta(decision)
                new = stamp(
                    etype.name,
                    command.data,
                    event_id=event_id,
                    actor=principal.actor,
                    at=now,
                    correlation_id=correlation_id,
                    metadata=metadata,
                )
                await uow.events.append(tenant, event_id, 0, [new])
                await uow.commit()
                return SubmitResult(
                    event_id=event_id,
                    stream_id=event_id,
                    correlation_id=correlation_id,
                    type=etype.name,
                    status=etype.status,
                    confidence=None,
                    decision=decision,
                )

            # Issue 12: the VAT rate is checked against the rates valid on its date.
            vat_rates = await _valid_vat_rates(uow, tenant, command.data)
            proposal = Proposal.propose(
                str(event_id),
                command.data,  # type: ignore[arg-type]
                actor=principal.actor,
                vat_rates=vat_rates,
            )
            data = proposal.effective_data  # validated and normalised
            currency = getattr(data, "currency", NOK)
            if currency != NOK and await uow.rules.currency(currency) is None:
                # The shape (three capitals) is the domain's check; which codes exist is
                # data (the currencies table): one Fiken refuses never gets that far.
                raise InvalidProposal(
                    f"currency {currency} is not an ISO 4217 currency (GET /rules/currencies)"
                )
            #: What the review rules weigh: a reversal or correction has no amount of its
            #: own but moves its target's (a correction: the larger, before or after).
            at_stake: Decimal | None = getattr(data, "amount", None)
            if isinstance(data, ReversalData | CorrectionData):
                target_correlation, entry_department, of_proposal = await self._compensation_target(
                    uow, tenant, data
                )
                at_stake = await _compensation_at_stake(uow, tenant, data)
                correlation_id = command.correlation_id or target_correlation
                if entry_department is not None:
                    # A reversal or correction belongs to its target's department (its
                    # deciders are that department's; the log's word, not the body's).
                    metadata[approval.DEPARTMENT_METADATA] = entry_department
                elif of_proposal:
                    # A proposal of no department (the agent's) is decided tenant-wide,
                    # and so is what compensates it, whoever proposes that.
                    metadata.pop(approval.DEPARTMENT_METADATA, None)
            rules = await uow.settings.review_rules(tenant)
            if not rules.vat_registered:
                # ADR 0056 addendum 4: a company outside the VAT register books no VAT.
                vat_registration.check_purchase(data)
                if isinstance(data, CorrectionData):
                    vat_registration.check_corrections(data.changes)
            context = await self._scoring_context(uow, tenant, event_id, command, data, rules)
            beyond_invoice: CreditBeyondInvoice | None = None
            if is_credit_note(data):
                # ADR 0054: the invoice it credits, when the supplier's invoice with the
                # number it names is ours; and its invoice is no duplicate of it.
                credited = await _credited_proposal(uow, tenant, event_id, data)
                if credited is not None:
                    metadata[CREDITED_PROPOSAL_METADATA] = str(credited.id)
                    beyond_invoice = await _credit_beyond_invoice(uow, tenant, credited, data)
                if beyond_invoice is not None:
                    # The amounts are a warning (what the reviewer checks); the rule's
                    # explanation only names the rule, so every surface says them once.
                    said = metadata.setdefault("warnings", [])
                    said.append(beyond_invoice.sentence)
                context = msgspec.structs.replace(
                    context,
                    duplicate_of=await _credit_notes_only(uow, tenant, context.duplicate_of),
                )
            if bank_mismatches:
                context = msgspec.structs.replace(context, bank_mismatches=bank_mismatches)
            if unknown_accounts:
                context = msgspec.structs.replace(context, unknown_accounts=unknown_accounts)
            nok_amount_missing = foreign_currency(data) if exchange is None else None
            if nok_amount_missing is not None:
                context = msgspec.structs.replace(context, nok_amount_missing=nok_amount_missing)
            elif exchange is not None:
                context = msgspec.structs.replace(context, nok_amount=exchange.nok_amount)

            def scored(
                context: scoring.ScoringContext,
            ) -> tuple[scoring.Confidence, ReviewDecision]:
                confidence = scoring.score(data, context, rules)
                return confidence, decide(
                    rules,
                    kind=etype.kind,
                    score=confidence.score,
                    approved_pattern=confidence.approved_pattern,
                    duplicate_suspected=bool(confidence.duplicate_of),
                    # In NOK (ADR 0051): a foreign-currency document's NOK amount; one
                    # without is never approved automatically (nok_amount_missing).
                    amount=exchange.nok_amount
                    if exchange is not None and foreign_currency(data) is not None
                    else at_stake,
                    bank_mismatch=bool(bank_mismatches),
                    unknown_account=bool(unknown_accounts),
                    nok_amount_missing=nok_amount_missing is not None,
                    credit_note=is_credit_note(data),
                    credit_beyond_invoice=beyond_invoice,
                    payment_account_changed=scoring.payment_account_changed(
                        context.known_payment_account, getattr(data, "payment_account", None)
                    ),
                    sender_reservation=command.reservation is not None,
                )

            confidence, decision = scored(context)
            if decision.outcome is Outcome.AUTO_APPROVED:
                # Approved automatically only as a person may approve: a receipt whose bank
                # payment another proposal holds is refused to a reviewer (409
                # bank-event-taken, ADR 0051 addendum), so it goes to one as the duplicate
                # of that proposal instead of failing at execution. The event stays locked
                # until this unit commits (PostgreSQL): a racing approval, by the rules or
                # by a person, reads this one as its holder.
                held = await _bank_event_held(uow, tenant, event_id, data)
                # The same for the purchase itself: the probes above read what was
                # committed, so receipts of one purchase proposed at the same instant
                # each found none of the others and were all approved (ADR 0053 addendum).
                earlier, same_file = await _purchase_held(uow, tenant, event_id, data, rules)
                if is_credit_note(data):
                    earlier = await _credit_notes_only(uow, tenant, earlier)
                if held or earlier or same_file:
                    context = msgspec.structs.replace(
                        context,
                        duplicate_of=tuple(dict.fromkeys((*held, *earlier, *context.duplicate_of))),
                        same_document_as=tuple(
                            dict.fromkeys((*same_file, *context.same_document_as))
                        ),
                    )
                    confidence, decision = scored(context)
            metadata["confidence"] = msgspec.to_builtins(confidence)
            metadata["review"] = _review_meta(decision)
            if decision.outcome is Outcome.AUTO_APPROVED:
                proposal.approve(actor=AUTO_APPROVER, rule=decision.rule)
            first = chain(
                proposal.pending,
                ids=self._ids,
                parent_id=None,
                correlation_id=correlation_id,
                at=now,
                first_id=event_id,
                first_metadata=metadata,
            )
            # The event, the proposal's row and the commit: one round trip on PostgreSQL.
            _, view = await uow.commit_proposal(tenant, event_id, [], first)
        return SubmitResult(
            event_id=event_id,
            stream_id=event_id,
            correlation_id=correlation_id,
            type=etype.name,
            status=view.status,
            confidence=confidence,
            decision=decision,
            warnings=_recorded_warnings(metadata),
        )

    async def _exchange(self, data: object) -> Exchange | None:
        """A foreign-currency purchase's NOK amount at the rate published for its date
        (Norges Bank); None for NOK, or when no source is configured or it cannot answer
        now (logged)."""
        currency = getattr(data, "currency", NOK)
        amount = getattr(data, "amount", None)
        day = getattr(data, "date", None)
        if (
            self._exchange_rates is None
            or currency == NOK
            or not isinstance(amount, Decimal)
            or not isinstance(day, dt.date)
        ):
            return None
        try:
            rate = await self._exchange_rates.to_nok(currency, day)
        except ApplicationError as error:
            log.warning("no %s rate for %s: %s", currency, day, error)
            return None
        return Exchange(
            currency=currency,
            amount=amount,
            nok_amount=to_nok(amount, rate.rate),
            rate=rate.rate,
            rate_date=rate.date,
        )

    async def _compensation_target(
        self, uow: UnitOfWork, tenant: str, data: ReversalData | CorrectionData
    ) -> tuple[uuid.UUID, str | None, bool]:
        """The target's correlation id, its department (a proposal's, recorded on its
        first event; a journal entry's reversed directly, ADR 0040 §4: a manual or bus
        entry, by its entry id) and whether it is a proposal; raises when the target may
        not be compensated (again)."""
        try:
            target_id = uuid.UUID(data.target_proposal_id)
        except ValueError:
            raise InvalidProposal(
                "targetProposalId must be a proposal or journal entry id (UUID)"
            ) from None
        # Until this proposal commits, another reversal or correction of the same target
        # waits here, then finds this one (PostgreSQL): two cannot both pass the check.
        await uow.proposals.lock_compensations(tenant, target_id)
        events = await uow.events.read_stream(tenant, target_id)
        target_view = fold_proposal(events)
        if target_view is None:
            entry = await reversible_entry(uow, tenant, target_id)
            if entry is None:
                raise NotFound(f"proposal or journal entry {target_id} not found")
            if isinstance(data, CorrectionData):
                raise NotCompensable(
                    f"journal entry {target_id} is reversed, not corrected: reverse it "
                    "and post the right entry",
                    current="POSTED",
                )
            if await uow.proposals.open_compensations(tenant, target_id):
                raise InvalidProposal(
                    f"journal entry {target_id} already has a reversal in progress or done"
                )
            assert isinstance(entry.data, JournalEntryPostedData)
            return entry.correlation_id, entry.data.department, False
        target = Proposal.rehydrate(str(target_id), events)
        target.ensure_compensable()
        if isinstance(data, CorrectionData):
            corrected = apply_corrections(target.effective_data, data.changes)
            check_corrected_cost_account(corrected, data.changes)
            check_correction_vat(target.effective_data, data.changes)
            try:
                # A corrected amount is booked at the published rate on it; a NOK amount
                # the bank paid or a reviewer gave was for the old amount (ADR 0051).
                exchange_for(corrected, exchange_of(events, target_id))
            except NokAmountStale:
                raise NokAmountStale(
                    f"the NOK amount of proposal {target_id} is what the bank paid or a "
                    "reviewer gave for its amount, not for the corrected one, and a "
                    "correction cannot carry a NOK amount: reverse it and propose the "
                    "document again, approved with the corrected amount's nokAmount"
                ) from None
        if earlier := await uow.proposals.open_compensations(tenant, target_id):
            # Pending, approved or executed (a rejected or failed one is no obstacle):
            # named, so that a second try is told which one and that it may be done.
            raise InvalidProposal(
                f"proposal {target_id} already has a reversal or correction in progress or "
                f"done ({earlier[0]}): see GET /proposals/{earlier[0]}"
            )
        # A proposal's reversal or correction belongs to the proposal's department, as a
        # journal entry's does: its deciders are that department's, not the corrector's.
        return target_view.correlation_id, approval.clean_department(_department(events)), True

    async def _scoring_context(
        self,
        uow: UnitOfWork,
        tenant: str,
        event_id: uuid.UUID,
        command: SubmitEvent,
        data: Any,
        rules: Any,
    ) -> scoring.ScoringContext:
        # Pattern suggestions name a merchant but are not scored against patterns.
        merchant = None if isinstance(data, PatternSuggestionData) else counterparty(data)
        match = None
        duplicates: tuple[str, ...] = ()
        if merchant:
            key = normalise_merchant(merchant)
            probe = _duplicate_probe(data, key, rules, event_id)
            # One read for both (one round trip on SQL).
            inputs = await uow.scoring.inputs(tenant, key, probe)
            patterns = [pattern_of(p) for p in inputs.patterns]
            match = best_match(merchant, patterns) if patterns else None
            duplicates = tuple(str(d) for d in inputs.duplicates)
        known_account = await _known_payment_account(uow, tenant, data)
        # The same file sent again is the same receipt, whatever its fields now say (another
        # merchant spelling, amount, date or event id): every intake proposes through here.
        same_file: tuple[str, ...] = ()
        document_hash = getattr(data, "document_hash", None)
        if isinstance(document_hash, str) and document_hash:
            found = await uow.proposals.same_document(tenant, document_hash, event_id)
            same_file = tuple(str(d) for d in found)
        return scoring.ScoringContext(
            known_payment_account=known_account,
            pattern_match=match,
            duplicate_of=duplicates,
            same_document_as=same_file,
            bank_transaction_verified=command.bank_transaction_verified,
            proposer_estimate=command.proposer_confidence,
            structured_source=command.structured_source,
        )

    async def _named_bank_event(
        self, tenant: str, data: object, *, fresh: bool = False
    ) -> BankTransaction | None:
        """The bank event a receipt names (`folioEventId`), to check the receipt against
        and to take a foreign-currency receipt's NOK amount from. A bank that cannot be
        read, or that does not list the event within NAMED_EVENT_LOOKUP_DAYS of the
        receipt's date, gives None (logged): the executor's attach is what finds an event
        that does not exist. `fresh`: listed again, not from the cache."""
        if self._bank_source is None or not isinstance(data, ReceiptAttachmentData):
            return None
        named = data.folio_event_id
        if not named:
            return None
        span = timedelta(days=NAMED_EVENT_LOOKUP_DAYS)
        try:
            listed = await self._listed_bank_events(
                tenant, data.date - span, data.date + span, fresh=fresh
            )
        except (ApplicationError, OSError) as error:
            log.warning("receipt not checked against bank event %s: %s", named, error)
            return None
        event = listed.get(named)
        if event is None:
            log.info("receipt not checked: bank event %s not listed near %s", named, data.date)
        return event

    async def _accounts_not_in_chart(self, tenant: str, data: object) -> tuple[str, ...]:
        """The proposal's account code when the tenant's chart of accounts (the books') does
        not know it: Fiken would refuse it with a 400 after approval, so it is a reason to
        review now. Best effort: books that cannot be read, or an empty chart, check
        nothing (logged); the executor still meets a refusal."""
        if isinstance(data, CorrectionData):
            data = data.changes  # the account a correction moves the cost to
        code = getattr(data, "account_code", None)
        if self._books_source is None or not isinstance(code, str) or not code.strip():
            return ()
        try:
            chart = await self._chart_within(tenant, CHART_WAIT_SECONDS)
        except TimeoutError:  # an OSError too: caught first
            log.warning(
                "account %s not checked against the chart: the books did not answer within "
                "%g s (the read goes on for later requests)",
                code,
                CHART_WAIT_SECONDS,
            )
            return ()
        except (ApplicationError, OSError) as error:
            log.warning("account %s not checked against the chart: %s", code, error)
            return ()
        if not chart:
            return ()
        return tuple(unknown_accounts([code.strip()], chart))

    async def _chart_within(self, tenant: str, seconds: float) -> frozenset[str]:
        """The tenant's chart, kept or read within `seconds` (TimeoutError after them; the
        read itself is not cancelled: it goes on, and keeps what it reads)."""
        kept = self._charts.get(tenant)
        if kept is not None:
            return kept
        read = asyncio.ensure_future(self._chart(tenant))
        self._chart_reads.add(read)
        read.add_done_callback(_chart_read_done(self._chart_reads))
        return await asyncio.wait_for(asyncio.shield(read), seconds)

    async def _chart(self, tenant: str) -> frozenset[str]:
        """The tenant's chart's account codes, read at most once per CHART_TTL_SECONDS (a
        bounded cache: see the constants) and once for the proposals that miss it at once; a
        read that fails is not kept."""
        return await self._charts.get_or_load(tenant, lambda: self._read_chart(tenant))

    async def _read_chart(self, tenant: str) -> frozenset[str]:
        """Ask the books for the tenant's chart (`_chart` keeps it)."""
        assert self._books_source is not None
        books = (await self._books_source())(tenant)
        return frozenset(account.code for account in await books.accounts())

    async def _listed_bank_events(
        self, tenant: str, start: dt.date, end: dt.date, *, fresh: bool = False
    ) -> dict[str, BankTransaction]:
        """The tenant's bank events in [start, end] by id and event id, listed at most once
        per BANK_EVENTS_TTL_SECONDS (a bounded cache: see the constants); the receipts that
        miss the same window while it is being listed share that listing (`fresh`: not
        from the cache)."""
        key = (tenant, start, end)
        if fresh:
            self._bank_events.forget(key)
        return await self._bank_events.get_or_load(key, lambda: self._list_bank_events(key))

    async def _list_bank_events(
        self, key: tuple[str, dt.date, dt.date]
    ) -> dict[str, BankTransaction]:
        """Ask the bank for a window's events (`_listed_bank_events` keeps them)."""
        tenant, start, end = key
        assert self._bank_source is not None
        bank = (await self._bank_source())(tenant)
        listed: dict[str, BankTransaction] = {}
        for event in await bank.events(start, end):
            listed.setdefault(event.id, event)
            if event.event_id:
                listed.setdefault(event.event_id, event)
        return listed

    async def _replay_submission(
        self, principal: Principal, event_id: uuid.UUID, fingerprint: str
    ) -> SubmitResult:
        """A retried submission: the original result, or a conflict if the request differs."""
        async with self._uow() as uow:
            original = await uow.events.get(principal.tenant_id, event_id)
            view = await uow.proposals.get(principal.tenant_id, event_id)
        if original is None or original.metadata.get("requestHash") != fingerprint:
            raise IdempotencyConflict(
                "this idempotency key or event id was already used for a different request"
            )
        confidence = original.metadata.get("confidence")
        return SubmitResult(
            event_id=original.id,
            stream_id=original.stream_id,
            correlation_id=original.correlation_id,
            type=original.type,
            status=view.status if view is not None else original.status,
            confidence=(
                msgspec.convert(confidence, scoring.Confidence, strict=False)
                if confidence
                else None
            ),
            decision=msgspec.convert(original.metadata["review"], ReviewDecision, strict=False),
            replayed=True,
            warnings=_recorded_warnings(original.metadata),
        )

    # --- decisions ----------------------------------------------------------------------

    async def approve(self, command: ApproveProposal) -> DecisionResult:
        self._authorizer.check(command.principal, "proposals:decide")
        principal = command.principal
        # A reviewer's account the books do not know would be approved, refused by Fiken and
        # end FAILED for good: refused now, before anything is decided (read before the
        # unit of work, as at proposal time; books that cannot be read check nothing).
        unknown = await self._accounts_not_in_chart(principal.tenant_id, command.corrections)
        #: A NOK amount found after submission (ADR 0051): see below.
        late: Exchange | None = None
        #: The account a CorrectionProposed moves the cost to, checked the same way once
        #: the proposal is known to be one (None: not yet read; see `decide`).
        changed_unknown: tuple[str, ...] | None = None

        async def decide_on(
            proposal: Proposal, uow: UnitOfWork, events: Sequence[RecordedEvent]
        ) -> dict[str, Any] | None:
            grant = None
            vat_registered = True
            if proposal.status is Status.PROPOSED:  # otherwise approve() says why not (409)
                if unknown:
                    raise InvalidCorrection(
                        f"account {', '.join(unknown)} is not in the books' chart of accounts"
                    )
                changes = _account_changes(proposal)
                if changes is not None and changed_unknown is None:
                    raise _ChartNotAsked(changes)
                if changed_unknown:
                    raise InvalidCorrection(  # the message the page shows in Norwegian
                        f"account {', '.join(changed_unknown)} is not in the books' chart of "
                        "accounts"
                    )
                _require_unread_corrected(events, command.corrections)
                rules = await uow.settings.review_rules(principal.tenant_id)
                facts = await self._approval_facts(
                    uow, principal.tenant_id, proposal, events, command.corrections, late
                )
                grant = approval.authorise_approval(rules, facts, _decider(principal))
                vat_registered = rules.vat_registered
                # After who may decide: a reviewer who may not is told that first.
                await _require_bank_event_free(
                    uow, principal.tenant_id, proposal, command.corrections
                )
            proposal.approve(
                actor=principal.actor,
                corrections=command.corrections,
                comment=command.comment,
                rule=grant.rule if grant is not None else None,
                approvals_required=grant.approvals_required if grant is not None else 1,
            )
            if not vat_registered:
                # ADR 0056 addendum 4: what would be executed, the reviewer's corrections
                # (and the VAT they imply) applied, books no VAT for a company outside the
                # VAT register. Raised before anything is recorded (no commit).
                vat_registration.check_purchase(proposal.effective_data)
            return _approval_exchange(proposal, events, command, late)

        async def decide() -> DecisionResult:
            nonlocal changed_unknown
            try:
                return await self._decide(principal, command.proposal_id, decide_on)
            except _ChartNotAsked as asked:
                # A correction's new account: the chart is asked outside the unit of work
                # (as above), only for a correction that changes the account, then decided.
                changed_unknown = await self._accounts_not_in_chart(
                    principal.tenant_id, asked.changes
                )
                return await self._decide(principal, command.proposal_id, decide_on)

        try:
            return await decide()
        except NokAmountStale:
            raise  # a NOK amount for the old amount: only the reviewer can say the new one
        except NokAmountMissing:
            # The rate source may answer now, and the card payment that was pending in the
            # document's currency may be booked in NOK by now: asked outside the unit of
            # work, only for an approval that would otherwise be refused.
            late = await self._late_exchange(principal.tenant_id, command)
            if late is None:
                raise
            return await decide()

    async def _late_exchange(self, tenant: str, command: ApproveProposal) -> Exchange | None:
        """A foreign-currency proposal's NOK amount from the rate source or its bank
        payment, asked again at approval (None: still none)."""
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant, command.proposal_id)
        if not events:
            return None
        proposal = Proposal.rehydrate(str(command.proposal_id), events)
        if proposal.data is None:
            return None
        data = apply_corrections(proposal.effective_data, command.corrections)
        exchange = await self._exchange(data)
        if exchange is None:
            # Listed again: the point is what the bank says now (booked since, in NOK).
            named_event = await self._named_bank_event(tenant, data, fresh=True)
            if named_event is not None and not _named_payment_mismatches(data, named_event, None):
                exchange = _paid_in_nok(data, named_event)
        return exchange

    async def reject(self, command: RejectProposal) -> DecisionResult:
        self._authorizer.check(command.principal, "proposals:decide")
        principal = command.principal

        async def decide_on(
            proposal: Proposal, uow: UnitOfWork, events: Sequence[RecordedEvent]
        ) -> dict[str, Any] | None:
            rule = None
            if proposal.status is Status.PROPOSED:
                rules = await uow.settings.review_rules(principal.tenant_id)
                if rules.departments:
                    facts = approval.ApprovalFacts(
                        proposed_by=proposal.proposed_by or "",
                        department=_department(events),
                    )
                    rule = approval.authorise_rejection(rules, facts, _decider(principal))
            proposal.reject(actor=principal.actor, reason=command.reason, rule=rule)
            return None

        return await self._decide(principal, command.proposal_id, decide_on)

    async def retry(self, command: RetryExecution) -> DecisionResult:
        """Send a FAILED proposal back to execution: APPROVED again with a fresh attempt
        budget (ExecutionRetried), picked up by the executor, which looks our reference up
        remotely before acting (ADR 0009 addendum). A reviewer's decision
        (`proposals:decide`); ProposalNotFailed (409) unless FAILED, NotFound for another
        tenant's."""
        self._authorizer.check(command.principal, "proposals:decide")
        principal = command.principal

        async def decide_on(
            proposal: Proposal, uow: UnitOfWork, events: Sequence[RecordedEvent]
        ) -> dict[str, Any] | None:
            proposal.retry(actor=principal.actor, comment=command.comment)
            return None

        return await self._decide(principal, command.proposal_id, decide_on)

    async def _approval_facts(
        self,
        uow: UnitOfWork,
        tenant: str,
        proposal: Proposal,
        events: Sequence[RecordedEvent],
        corrections: Corrections | None,
        late: Exchange | None = None,
    ) -> approval.ApprovalFacts:
        """What the approval rules look at: the amount at stake in NOK after the approver's
        corrections (a foreign-currency document's NOK amount: the approver's nokAmount,
        else the recorded conversion or one found since, `late`; a compensating proposal:
        its target's), who uploaded the document, the proposal's department and who
        endorsed it already."""
        assert proposal.data is not None and proposal.proposed_by is not None
        if corrections is not None and corrections.as_dict():
            data = apply_corrections(proposal.data, corrections)
        else:
            data = proposal.effective_data
        nok_amount = corrections.nok_amount if corrections is not None else None
        amount, unconverted = _at_stake_in_nok(
            data, nok_amount, exchange_of(events, uuid.UUID(proposal.id)), late
        )
        if isinstance(data, ReversalData | CorrectionData):
            amount, unconverted = await _compensation_at_stake(uow, tenant, data), None
            carried = None
        else:
            carried = _carried_in_nok(proposal, events)
        uploaded_by = None
        document_hash: str | None = getattr(data, "document_hash", None)
        if document_hash:
            document = await uow.documents.get(tenant, document_hash.lower())
            uploaded_by = document.uploaded_by if document is not None else None
        return approval.ApprovalFacts(
            proposed_by=proposal.proposed_by,
            amount=amount,
            carried=carried,
            unconverted=unconverted,
            uploaded_by=uploaded_by,
            department=_department(events),
            endorsed_by=proposal.endorsed_by,
        )

    async def _decide(
        self,
        principal: Principal,
        proposal_id: uuid.UUID,
        decide_on: Callable[
            [Proposal, UnitOfWork, Sequence[RecordedEvent]], Awaitable[dict[str, Any] | None]
        ],
    ) -> DecisionResult:
        """Decide on a proposal in one unit of work; `decide_on` records the decision and
        gives the metadata of its first event, if any."""
        tenant = principal.tenant_id
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant, proposal_id)
            if not events or event_type(events[0].type).step is not Step.PROPOSED:
                raise NotFound(f"proposal {proposal_id} not found")
            proposal = Proposal.rehydrate(str(proposal_id), events)
            metadata = await decide_on(proposal, uow, events)
            if proposal.kind is Kind.PATTERN_SUGGESTION and proposal.status is Status.APPROVED:
                # A pattern has no external side effect: approving it applies it at once.
                proposal.record_executed(actor=PATTERN_APPLIER)
            new = following(
                events,
                proposal.pending,
                ids=self._ids,
                at=self._clock.now(),
                first_metadata=metadata,
            )
            if proposal.kind is not Kind.PATTERN_SUGGESTION:
                # The event, the proposal's row and the commit: one round trip on PostgreSQL.
                recorded, view = await uow.commit_proposal(tenant, proposal_id, events, new)
                return DecisionResult(event_id=recorded[0].id, proposal=view)
            recorded = await uow.events.append(tenant, proposal_id, len(events), new)
            stream = [*events, *recorded]
            folded = fold_proposal(stream)
            assert folded is not None
            await uow.proposals.upsert(folded)
            pattern = pattern_from(folded, stream)
            if pattern is not None:
                await uow.patterns.upsert(pattern)
            await uow.commit()
        return DecisionResult(event_id=recorded[0].id, proposal=folded)


def _chart_read_done(
    reads: set[asyncio.Future[frozenset[str]]],
) -> Callable[[asyncio.Future[frozenset[str]]], None]:
    """Forget a chart read once it ended; its failure was the waiters' to see (or, for a
    read nobody waits for any more, logged by `_accounts_not_in_chart`'s next miss)."""

    def done(read: asyncio.Future[frozenset[str]]) -> None:
        reads.discard(read)
        if not read.cancelled():
            read.exception()  # retrieved: no "never retrieved" noise for a late failure

    return done


class _ChartNotAsked(Exception):
    """Approving a correction that changes the account needs the books' chart, which is
    read outside the unit of work: `approve` asks it and decides again."""

    def __init__(self, changes: Corrections) -> None:
        super().__init__("the books' chart is needed for the correction's account")
        self.changes = changes


def _account_changes(proposal: Proposal) -> Corrections | None:
    """A CorrectionProposed's changes when they move the cost to another account."""
    data = proposal.data
    if isinstance(data, CorrectionData) and data.changes.account_code:
        return data.changes
    return None


def _approval_exchange(
    proposal: Proposal,
    events: Sequence[RecordedEvent],
    command: ApproveProposal,
    late: Exchange | None = None,
) -> dict[str, Any] | None:
    """The metadata the approval (or endorsement) of a foreign-currency purchase records
    (ADR 0051): the reviewer's NOK amount as its exchange, or one found since submission
    (`late`). Approving one that has no NOK amount at all (no published rate, no bank
    payment, none given now or by the first approver) is refused: it could only be
    booked in its own amounts."""
    nok_amount = command.corrections.nok_amount if command.corrections is not None else None
    data = proposal.effective_data
    currency = foreign_currency(data)
    if currency is None:
        return None  # a NOK document: apply_corrections refused a nokAmount already
    assert isinstance(data, PurchaseData)
    if nok_amount is not None:
        exchange = implied_exchange(
            currency,
            data.amount,
            nok_amount,
            day=data.date,
            source=EXCHANGE_FROM_REVIEWER,
            reference=command.principal.actor,
        )
        return {EXCHANGE_METADATA: msgspec.to_builtins(exchange)}
    recorded = exchange_of(events, uuid.UUID(proposal.id))
    # A corrected amount: the published rate on it, or NokAmountStale (ADR 0051 addendum).
    holding = exchange_for(data, recorded)
    if holding is not None:
        return None if holding is recorded else {EXCHANGE_METADATA: msgspec.to_builtins(holding)}
    late = exchange_for(data, late)
    if late is not None:
        return {EXCHANGE_METADATA: msgspec.to_builtins(late)}
    if proposal.status is Status.APPROVED:
        raise NokAmountMissing(
            f"the {currency} document has no NOK amount (no exchange rate, no bank payment "
            f"in NOK): approve it with corrections.nokAmount, the amount paid in NOK"
        )
    return None


async def _compensation_at_stake(
    uow: UnitOfWork, tenant: str, data: ReversalData | CorrectionData
) -> Decimal | None:
    """The gross amount in NOK a reversal or correction moves, as the approval rules and
    the review rules weigh it: its target's amount, or for a correction the larger of the
    target's and the corrected one; for a journal entry reversed directly (ADR 0040 §4)
    what the entry moves. None when the target is not known."""
    target_id = uuid.UUID(data.target_proposal_id)
    target_events = await uow.events.read_stream(tenant, target_id)
    amounts: list[Decimal | None] = [None]
    if target_events and fold_proposal(target_events) is not None:
        target = Proposal.rehydrate(str(target_id), target_events)
        target_data = target.effective_data
        target_exchange = exchange_of(target_events, target_id)
        amounts = []
        for at_stake in (
            [target_data, apply_corrections(target_data, data.changes)]
            if isinstance(data, CorrectionData)
            else [target_data]
        ):
            nok, _ = _at_stake_in_nok(at_stake, None, target_exchange)
            # Executed without a conversion (before ADR 0051): booked as it reads.
            amounts.append(nok if nok is not None else getattr(at_stake, "amount", None))
    else:
        entry = await posted_entry(uow, tenant, target_id)
        if entry is not None:
            amounts = [sum((line.debit for line in entry.lines), Decimal(0))]
    known = [a for a in amounts if a is not None]
    return max(known) if known else None


def _carried_in_nok(proposal: Proposal, events: Sequence[RecordedEvent]) -> Decimal | None:
    """The largest gross amount in NOK the proposal carried before this decision: as it
    was proposed (at the conversion its submission recorded) and as an endorser's
    corrections left it (at the newest conversion); None when neither is known (a
    foreign-currency document never converted)."""
    assert proposal.data is not None
    proposal_id = uuid.UUID(proposal.id)
    carried: list[Decimal] = []
    for data, exchange in (
        (proposal.data, exchange_in([events[0].metadata], proposal_id)),
        (proposal.effective_data, exchange_of(events, proposal_id)),
    ):
        try:
            amount, _ = _at_stake_in_nok(data, None, exchange)
        except NokAmountStale:
            continue  # a NOK amount given for another amount says nothing of this one
        if amount is not None:
            carried.append(amount)
    return max(carried, default=None)


def _at_stake_in_nok(
    data: object,
    nok_amount: Decimal | None,
    recorded: Exchange | None,
    late: Exchange | None = None,
) -> tuple[Decimal | None, str | None]:
    """The gross amount of `data` in NOK as the approval rules weigh it, and the currency
    of a foreign-currency one whose NOK amount is not known: the reviewer's `nok_amount`,
    else the recorded conversion (at a published rate, on a corrected amount too; one the
    bank or a reviewer gave for another amount raises NokAmountStale), else `late`."""
    amount: Decimal | None = getattr(data, "amount", None)
    currency = foreign_currency(data)
    if currency is None:
        return amount, None
    if nok_amount is not None:
        return nok_amount, None
    exchange = exchange_for(data, recorded) or exchange_for(data, late)
    if exchange is None:
        return None, currency
    return exchange.nok_amount, None


def _named_payment_mismatches(
    data: object, event: BankTransaction | None, exchange: Exchange | None
) -> tuple[str, ...]:
    """How a receipt disagrees with the bank event it names: amount (a foreign-currency
    one's at its published rate, `exchange`), date window and merchant
    (domain.bank_matching.check_named_payment); nothing without the event."""
    if event is None or not isinstance(data, ReceiptAttachmentData):
        return ()
    document = Payable(
        gross=data.amount,
        currency=data.currency,
        date=data.date,
        merchant=data.merchant_name,
        nok_gross=exchange.nok_amount if exchange is not None else None,
    )
    return tuple(m.detail for m in check_named_payment(event, document))


def _paid_in_nok(data: object, event: BankTransaction) -> Exchange | None:
    """A foreign-currency receipt's conversion by the bank transaction that paid it: the
    NOK that left the account, the rate it implies, on the transaction's date (ADR 0051).
    None unless the document is foreign and the transaction a payment out in NOK."""
    currency = foreign_currency(data)
    if currency is None or event.currency.upper() != NOK or event.amount >= 0:
        return None
    assert isinstance(data, ReceiptAttachmentData)
    return implied_exchange(
        currency,
        data.amount,
        -event.amount,
        day=event.date,
        source=EXCHANGE_FROM_BANK,
        reference=event.event_id or event.id,
    )


async def _valid_vat_rates(
    uow: UnitOfWork, tenant_id: str, data: object
) -> frozenset[Decimal] | None:
    """The VAT rates valid in Norway on a dated document's date, by the tenant's tax rates
    as data (application/tax_rates); None for data without a date or a VAT rate."""
    day = getattr(data, "date", None)
    if not isinstance(day, dt.date) or getattr(data, "vat_rate", None) is None:
        return None
    return await valid_rates(uow, tenant_id, day)


def _decider(principal: Principal) -> approval.Decider:
    """The principal as the approval rules see it (ABAC attributes from the token)."""
    return approval.Decider(
        actor=principal.actor,
        approval_limit=principal.attributes.get(approval.APPROVAL_LIMIT_ATTRIBUTE),
        department=principal.attributes.get(approval.DEPARTMENT_ATTRIBUTE),
        admin="admin" in principal.roles,
    )


def _department(events: Sequence[RecordedEvent]) -> str | None:
    """The department recorded on a proposal's first event, if any."""
    value = events[0].metadata.get(approval.DEPARTMENT_METADATA) if events else None
    return value if isinstance(value, str) else None


def _review_meta(decision: ReviewDecision) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(decision)
    return result


#: Where the pipeline names the fields a document did not show (pipeline.UNREAD_SOURCE_KEY).
_UNREAD_KEY = "unread"


async def _require_bank_event_free(
    uow: UnitOfWork, tenant: str, proposal: Proposal, corrections: Corrections | None
) -> None:
    """One bank payment is booked once (ADR 0051 addendum): a receipt (or a correction
    moving one) whose bank event another proposal holds — approved, being carried out or
    executed, not reversed — is not approved; the refusal names the other proposal."""
    data = proposal.effective_data
    if corrections is not None and corrections.as_dict():
        data = apply_corrections(data, corrections)
    named = held_event(uuid.UUID(proposal.id), data)
    if named is None:
        return
    event, exclude = named
    # Until this approval commits, another approval of the same event waits here and then
    # reads this one as a holder: two approvals cannot both pass the check (PostgreSQL).
    await uow.proposals.lock_bank_event(tenant, event)
    holders = await bank_event_holders(uow, tenant, event, exclude=exclude)
    if holders:
        raise BankEventTaken(
            m.text("refusal.bank_event_taken", m.ENGLISH, event=event, other=holders[0].id),
            current=Status.PROPOSED.value,
        )


async def _bank_event_held(
    uow: UnitOfWork, tenant: str, event_id: uuid.UUID, data: object
) -> tuple[str, ...]:
    """The proposals holding the bank event a new receipt names (bank_claims), by id;
    none for anything else. Read only for a receipt about to be approved automatically,
    under the event's lock, as a person's approval reads them (`_require_bank_event_free`)."""
    named = held_event(event_id, data) if isinstance(data, ReceiptAttachmentData) else None
    if named is None:
        return ()
    event, exclude = named
    # Held until this unit commits the proposal with its approval (two events: never the
    # one-statement write of ADR 0053, which a lock would rule out): a racing approval of
    # the event waits here, then reads this one as its holder.
    await uow.proposals.lock_bank_event(tenant, event)
    holders = await bank_event_holders(uow, tenant, event, exclude=exclude)
    return tuple(str(view.id) for view in holders)


def _duplicate_probe(
    data: Any, merchant_key: str, rules: Any, event_id: uuid.UUID
) -> DuplicateProbe | None:
    """What makes another proposal of the merchant a suspected duplicate of this one: the
    same amount within the rules' window of days, or the same document number; None for
    data without an amount and a date."""
    amount = getattr(data, "amount", None)
    date = getattr(data, "date", None)
    if amount is None or date is None:
        return None
    window = timedelta(days=rules.duplicate_window_days)
    return DuplicateProbe(
        merchant_key=merchant_key,
        amount=amount,
        date_from=date - window,
        date_to=date + window,
        document_number=getattr(data, "document_number", None)
        or getattr(data, "invoice_number", None),
        exclude_id=event_id,
    )


async def _purchase_held(
    uow: UnitOfWork, tenant: str, event_id: uuid.UUID, data: Any, rules: Any
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The proposals that make a new one a suspected duplicate — of the same merchant and
    amount or document number, and of the same file — by id, read under locks on exactly
    those marks. Read only for a proposal about to be approved automatically: until this
    unit commits it, another proposal of the same purchase about to be approved waits at
    the lock and then reads this one (PostgreSQL; SQLite's write turn serialises units of
    work already). Locks are taken in one order (`lock_purchase`), after the bank event's."""
    merchant = None if isinstance(data, PatternSuggestionData) else counterparty(data)
    probe = (
        _duplicate_probe(data, normalise_merchant(merchant), rules, event_id) if merchant else None
    )
    document_hash = getattr(data, "document_hash", None)
    if not isinstance(document_hash, str) or not document_hash:
        document_hash = None
    marks: list[str] = []
    if probe is not None:
        marks.append(f"amount:{probe.merchant_key}:{probe.amount.normalize():f}")
        if probe.document_number is not None:
            marks.append(f"number:{probe.merchant_key}:{probe.document_number}")
    if document_hash is not None:
        marks.append(f"file:{document_hash}")
    if not marks:
        return (), ()
    await uow.proposals.lock_purchase(tenant, marks)
    earlier = await uow.proposals.find_duplicates(tenant, probe) if probe is not None else []
    same = (
        await uow.proposals.same_document(tenant, document_hash, event_id)
        if document_hash is not None
        else []
    )
    return tuple(str(d) for d in earlier), tuple(str(d) for d in same)


def _require_unread_corrected(
    events: Sequence[RecordedEvent], corrections: Corrections | None
) -> None:
    """A proposal made from a document whose amount or date could not be read holds a stand-in
    for it (issue 13): it is approved only with a correction of each such field."""
    source = events[0].metadata.get("source") if events else None
    unread = str(source.get(_UNREAD_KEY, "")) if isinstance(source, dict) else ""
    given = corrections.as_dict() if corrections is not None else {}
    missing = [name for name in unread.split(",") if name and name not in given]
    if missing:
        raise InvalidProposal(
            f"{' and '.join(missing)} could not be read from the document: "
            f"approve with a corrected {' and '.join(missing)}"
        )


async def _known_payment_account(uow: UnitOfWork, tenant: str, data: object) -> str | None:
    """The payment account of the supplier's newest APPROVED or EXECUTED invoice that names
    one (issue 13), or None. The supplier is found by its organisation number when the
    invoice names one (a renamed supplier is the same supplier), else by its normalised
    name, skipping an earlier invoice of another organisation number; a bounded read
    (KNOWN_SUPPLIER_LIMIT rows on the (tenant, org number) or (tenant, merchant key) index)."""
    if not isinstance(data, InvoiceRegistrationData) or not data.payment_account:
        return None
    org = _digits(data.supplier_org_number)
    earlier: list[dict[str, Any]] = []
    if org:  # the organisation number: the same supplier under a new trade name too
        earlier = await uow.proposals.settled_data_of_org(
            tenant, Kind.INVOICE_REGISTRATION.value, org, KNOWN_SUPPLIER_LIMIT
        )
    key = normalise_merchant(data.supplier)
    if not earlier and key:  # no number, or none known under it (rows before 0020): by name
        earlier = await uow.proposals.settled_data(
            tenant, Kind.INVOICE_REGISTRATION.value, key, KNOWN_SUPPLIER_LIMIT
        )
    for known in earlier:
        account = known.get("paymentAccount")
        if not isinstance(account, str) or not account.strip():
            continue
        their_org = known.get("supplierOrgNumber")
        if org and isinstance(their_org, str) and _digits(their_org) not in ("", org):
            continue  # another company of the same name
        return account
    return None


def _digits(value: str | None) -> str:
    """The ASCII digits of an organisation number ("NO 923 609 016 MVA" → "923609016");
    other scripts' digits (str.isdigit takes "٩" and "９") are not an organisation's."""
    return "".join(ch for ch in value or "" if "0" <= ch <= "9")


#: Where a credit note's proposal records the proposal of the invoice it credits (ADR 0054).
CREDITED_PROPOSAL_METADATA: Final = "creditedProposal"


async def _credited_proposal(
    uow: UnitOfWork, tenant: str, event_id: uuid.UUID, data: InvoiceRegistrationData
) -> ProposalView | None:
    """The supplier invoice a credit note credits (ADR 0054): a proposal of this tenant,
    of the same supplier (name, and organisation number when both have one), with the
    invoice number the credit note names, not rejected and no credit note itself; the
    newest when several. None when the credit note names no number or none is found."""
    number = credited_invoice_of(data)
    if number is None:
        return None
    probe = DuplicateProbe(
        merchant_key=normalise_merchant(data.supplier),
        amount=Decimal("-1"),  # no proposal has it: only the number finds
        date_from=data.date,
        date_to=data.date,
        document_number=number.strip(),
        exclude_id=event_id,
    )
    found: list[tuple[dt.datetime, uuid.UUID, ProposalView]] = []
    for candidate in await uow.proposals.find_duplicates(tenant, probe):
        view = await uow.proposals.get(tenant, candidate)
        if (
            view is None
            or view.kind != Kind.INVOICE_REGISTRATION
            or view.status is Status.REJECTED
            or view.data.get("creditNote") is True
            or view.data.get("invoiceNumber") != number.strip()
        ):
            continue
        theirs = view.data.get("supplierOrgNumber")
        if theirs and data.supplier_org_number and theirs != data.supplier_org_number:
            continue
        found.append((view.proposed_at, view.id, view))
    return max(found, key=lambda f: f[:2])[2] if found else None


#: How many of the tenant's newest invoice proposals are searched for the earlier credit
#: notes of an invoice: one backward walk of the events' (tenant, type, position) index,
#: stopped by the limit (ADR 0032). A credit note further back is not counted.
EARLIER_CREDITS_LIMIT: Final = 200


def _recorded_warnings(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """The warnings a proposal's first event records (metadata "warnings"), as strings."""
    found = metadata.get("warnings")
    return tuple(str(w) for w in found) if isinstance(found, list) else ()


async def _credit_beyond_invoice(
    uow: UnitOfWork, tenant: str, invoice: ProposalView, data: InvoiceRegistrationData
) -> CreditBeyondInvoice | None:
    """Whether the credit note `data`, with the credit notes linked before to the same
    `invoice` (not rejected, in its currency), credits more than the invoice (ADR 0054)."""
    currency = invoice.data.get("currency") or NOK
    if invoice.amount is None or data.currency != currency:
        return None
    newest = await uow.events.query(
        tenant,
        EventFilter(
            types=("InvoiceRegistrationProposed",),
            newest_first=True,
            limit=EARLIER_CREDITS_LIMIT,
        ),
    )
    before = Decimal(0)
    for event in newest:
        if event.metadata.get(CREDITED_PROPOSAL_METADATA) != str(invoice.id):
            continue
        view = await uow.proposals.get(tenant, event.stream_id)
        if view is None or view.status is Status.REJECTED or view.amount is None:
            continue
        if (view.data.get("currency") or NOK) == currency:
            before += view.amount  # as corrected by its reviewer
    return credit_beyond_invoice(data.amount, before, invoice.amount, currency)


async def _credit_notes_only(
    uow: UnitOfWork, tenant: str, duplicates: tuple[str, ...]
) -> tuple[str, ...]:
    """Of a credit note's duplicate candidates, the credit notes: the invoice it credits
    has its supplier and often its amount, and is what it reverses, not a copy of it."""
    kept: list[str] = []
    for candidate in duplicates:
        view = await uow.proposals.get(tenant, uuid.UUID(candidate))
        if view is not None and view.data.get("creditNote") is True:
            kept.append(candidate)
    return tuple(kept)
