"""The outbox executor: approved proposals carried out in Fiken and Folio exactly once.

Approved proposals are the outbox (ADR 0009). One pass (`Executor.run_once`):

1. **Claim**, in one unit of work: the due APPROVED proposals (`claim_due`: no retry time in
   the future, no running lease; locked against other claimers), each given a new attempt
   with `…ExecutionStarted {attempt, executor, leaseUntil}` appended at its expected version.
   A proposal another executor claimed first (a version conflict) is left to it. The same
   unit reads the streams, and the stored documents the actions send, each in one statement
   (documents up to `prefetch_document_bytes`; a larger one is read when it is sent).
2. **Act**, outside any transaction: the remote calls, each tagged with our reference
   `bk-<proposal id hex>`. An attempt after the first (a crash whose lease ran out, or a
   retry after a failure that may have committed remotely) first looks the reference up and
   reuses what it finds. Before every remote call the attempt checks that what it executes
   is APPROVED and that its lease still runs (with a margin): once the lease is over another
   executor may take the proposal, so this one stops and records nothing.
3. **Record**, in one unit of work: `…Executed {externalIds, reconciled}` together with the
   ledger posting (entry ids derived from the proposal, so they cannot be posted twice), or
   `…ExecutionFailed {error, retryable, nextAttemptAt}` with exponential back-off, or
   `…Failed` plus an `AlertRaised` event when no attempt is left or the error is permanent.
   The outcome is appended at the version the claim left the stream at, without reading it
   again: if anything was appended since, the append's expected version refuses it, and only
   then is the stream read and the attempt checked to be still ours. The successes of the
   tenants running at once share a unit of work (group commit; see `_Recorder`).

A crash anywhere leaves the proposal APPROVED with a lease; once the lease has run out it
is claimed again and step 2 reconciles. Proposals of one tenant run one after another
(Fiken takes one request at a time per company); up to `tenant_concurrency` tenants run at
once, and a pass claims its batch in chunks, executing one while it claims the next.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import logging
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    DuplicateEvent,
    ExternalError,
    ExternalRateLimited,
)
from bookkeeper.application.ledger import fold_journal_entries, post_entry, posting_id
from bookkeeper.application.ports import (
    BankProvider,
    Books,
    BooksProvider,
    Clock,
    Contact,
    Ids,
    NewEvent,
    NewPurchase,
    ProposalView,
    Purchase,
    PurchaseLine,
    RecordedEvent,
    StoredDocument,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import fold_proposal
from bookkeeper.domain import money
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    AlertRaisedData,
    CorrectionData,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    Kind,
    PatternSuggestionData,
    ProposalData,
    ReceiptAttachmentData,
    ReversalData,
    Status,
    Step,
    event_type,
)
from bookkeeper.domain.ledger import (
    BANK_ACCOUNT,
    SUPPLIER_PAYABLES,
    input_vat,
    mirror,
    posting_for,
)
from bookkeeper.domain.proposals import PendingEvent, Proposal, apply_corrections

log = logging.getLogger("bookkeeper.executor")

EXECUTOR_ACTOR: Final = "system:executor"
ALERT_RAISED: Final = "AlertRaised"
#: Namespace of alert stream ids derived from a proposal id (uuid5), fixed forever.
ALERT_NAMESPACE: Final = uuid.UUID("3b0f8c52-5f1e-4a0e-9d7c-6a2f1e4b8c13")
#: Reversals are dated in the company's calendar, not UTC's.
BOOKS_TIME_ZONE: Final = ZoneInfo("Europe/Oslo")
#: What the record of a reversed Folio attachment says: the API has no way to remove it.
FOLIO_KEEPS_ATTACHMENT: Final = (
    "Folio's API cannot remove an attachment: the bank event was marked incomplete and the "
    "file stays attached; remove it in Folio by hand if it must go"
)
_MAX_ERROR = 1000
#: A pass claims its batch in this many chunks, executing each while claiming the next.
CLAIM_CHUNKS: Final = 4
#: How many units of work record executed attempts at once (each several tenants').
RECORDERS: Final = 2
_MAX_DESCRIPTION = 200
_SECRETS: Final = (
    re.compile(r"(?i)(bearer\s+)[^\s,;]+"),
    re.compile(
        r"(?i)((?:access_|api[_-]?)?(?:token|key|secret|password)[\"']?\s*[=:]\s*)[^\s,;&]+"
    ),
)

T = TypeVar("T")


def reference(proposal_id: uuid.UUID) -> str:
    """Our reference of a proposal's remote objects, findable again after a crash."""
    return f"bk-{proposal_id.hex}"


def alert_stream(proposal_id: uuid.UUID, code: str) -> uuid.UUID:
    """The stream of an alert about a proposal: derived, so it is raised at most once."""
    return uuid.uuid5(ALERT_NAMESPACE, f"{proposal_id}:{code}")


def safe_error(error: BaseException) -> str:
    """An error as text fit for an event, an alert and a log line: the kind of error, its
    message, nothing that looks like a credential, at most _MAX_ERROR characters."""
    if isinstance(error, ExternalError):
        status = f" {error.status}" if error.status is not None else ""
        text = f"{error.system}{status}: {error.message}"
    elif isinstance(error, ApplicationError | DomainError):
        text = error.message
    else:
        text = f"{type(error).__name__}: {error}"
    for pattern in _SECRETS:
        text = pattern.sub(r"\1***", text)
    text = text.replace("\x00", "")
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


class ExecutionRefused(ApplicationError):
    """A prerequisite of the action is missing (no bank event, no stored document …):
    trying again will not help, so the proposal fails at once and a person is alerted."""

    code = "execution-refused"
    retryable = False


class LeaseLost(ApplicationError):
    """The attempt's lease is (nearly) over: another executor may take the proposal now, so
    this one makes no further remote call and records nothing."""

    code = "lease-lost"


class ExecutionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How the executor retries, how long a claim holds, and which accounts it posts to."""

    max_attempts: int = 6
    base_delay: dt.timedelta = dt.timedelta(seconds=30)
    max_delay: dt.timedelta = dt.timedelta(hours=1)
    #: How long a claimed attempt is ours; after that it counts as crashed.
    lease: dt.timedelta = dt.timedelta(minutes=5)
    #: No remote call is started this close to the end of the lease.
    lease_margin: dt.timedelta = dt.timedelta(seconds=30)
    batch_size: int = 50
    #: How many tenants are executed at once (each tenant's proposals run one by one).
    tenant_concurrency: int = 8
    #: Documents up to this size are read with the claim (one statement for the chunk), so
    #: a pass holds at most batch_size of them; a larger one is read when it is sent.
    prefetch_document_bytes: int = 1024 * 1024
    #: The books' account expenses are paid from ("1920:10001"); unset: the first active
    #: bank account of the books. Also the ledger's credit account for paid receipts.
    payment_account: str | None = None
    payables_account: str = SUPPLIER_PAYABLES

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.batch_size < 1 or self.tenant_concurrency < 1:
            raise ValueError("max_attempts, batch_size and tenant_concurrency must be >= 1")
        if self.prefetch_document_bytes < 0:
            raise ValueError("prefetch_document_bytes must be >= 0")
        if not dt.timedelta(0) <= self.lease_margin < self.lease:
            raise ValueError("lease_margin must be shorter than the lease")

    def backoff(self, attempt: int, retry_after: float | None = None) -> dt.timedelta:
        """The wait before the attempt after `attempt`: base × 2^(attempt-1), capped, and
        never shorter than what the server asked for (Retry-After)."""
        exponent: int = min(max(attempt, 1) - 1, 30)
        delay: dt.timedelta = min(self.base_delay * (1 << exponent), self.max_delay)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, dt.timedelta(seconds=min(retry_after, 86_400)))
        return delay

    @property
    def ledger_payment_account(self) -> str:
        """The ledger account paid receipts and expenses are credited to."""
        return self.payment_account or BANK_ACCOUNT


class Outcome(enum.StrEnum):
    EXECUTED = "executed"
    RETRY = "retry"
    FAILED = "failed"
    #: Nothing recorded: the lease ran out, or recording itself failed (the lease will
    #: expire and the next attempt reconciles).
    ABANDONED = "abandoned"


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one pass did."""

    claimed: int = 0
    executed: int = 0
    retried: int = 0
    failed: int = 0
    abandoned: int = 0
    #: Executed ones whose remote object was found by reference instead of created.
    reconciled: int = 0
    #: The claim itself failed (the database was unavailable …); nothing was executed.
    claim_error: str | None = None


@dataclass(frozen=True)
class Claim:
    """One claimed attempt: what to execute, for whom, until when."""

    tenant_id: str
    proposal_id: uuid.UUID
    kind: Kind
    status: Status
    attempt: int
    lease_until: dt.datetime
    data: ProposalData
    correlation_id: uuid.UUID
    #: The proposal's stream as the claim left it (its last event is the ExecutionStarted).
    stream: tuple[RecordedEvent, ...] = field(default=(), repr=False, compare=False)
    #: The document the action sends, read with the claim (None: read it when needed).
    document: tuple[StoredDocument, bytes] | None = field(default=None, repr=False, compare=False)


@dataclass
class _Acted:
    """What the remote side did (or already had) for one attempt."""

    external_ids: dict[str, str]
    reconciled: bool = False
    #: Alerts to raise with the record: (code, severity, message).
    alerts: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class _Attempt:
    """One attempt in progress: its claim, and the guard every remote call passes."""

    claim: Claim
    clock: Clock
    margin: dt.timedelta
    reconciled: bool = False

    @property
    def reconcile(self) -> bool:
        """An earlier attempt may have reached the remote side: look before creating."""
        return self.claim.attempt > 1

    def guard(self) -> None:
        """Right before a remote call: only APPROVED is executed, and only under our lease."""
        if self.claim.status is not Status.APPROVED:  # pragma: no cover - claims are APPROVED
            raise AssertionError(f"proposal {self.claim.proposal_id} is not APPROVED")
        if self.clock.now() >= self.claim.lease_until - self.margin:
            raise LeaseLost(
                f"the lease of attempt {self.claim.attempt} of {self.claim.proposal_id} "
                f"ends at {self.claim.lease_until.isoformat()}"
            )

    async def call(self, remote: Callable[[], Awaitable[T]]) -> T:
        self.guard()
        return await remote()


class _Recorder:
    """Records the successes of the tenants running at once together (group commit): a
    worker hands its executed attempt over and waits; what arrives while a unit of work is
    recording goes into the next one (up to RECORDERS units at once). If a shared unit
    fails, each of its attempts is recorded again on its own, so one bad record cannot
    take the others with it. A tenant has at most one attempt waiting here, so two units
    never record the same proposal; their ledger totals are added in key order, in one
    statement each, so they cannot deadlock."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._queue: list[tuple[Claim, _Acted, asyncio.Future[Outcome]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def record(self, claim: Claim, acted: _Acted) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((claim, acted, future))
        self._tasks = [task for task in self._tasks if not task.done()]
        if len(self._tasks) < RECORDERS:
            self._tasks.append(asyncio.create_task(self._drain()))
        return await future

    async def close(self) -> None:
        """Stop recording (a pass that ends early: a crash, a cancellation)."""
        running = [task for task in self._tasks if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        for _, _, future in self._queue:
            future.cancel()
        self._queue.clear()

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await self._record(batch)
            except Exception as error:  # one attempt alone: its worker logs it
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            except BaseException as error:  # a crash, or cancelled: every waiter sees it
                for _, _, future in [*batch, *self._queue]:
                    if not future.done():
                        future.set_exception(error)
                self._queue.clear()
                if isinstance(error, asyncio.CancelledError):
                    raise
                return
            for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    async def _record(
        self, batch: list[tuple[Claim, _Acted, asyncio.Future[Outcome]]]
    ) -> list[Outcome]:
        executor = self._executor
        try:
            return await executor._record_successes([(c, a) for c, a, _ in batch])
        except Exception:
            if len(batch) == 1:
                raise  # the worker logs it
            log.warning("a shared record failed; recording each attempt on its own", exc_info=True)
        outcomes: list[Outcome] = []
        for claim, acted, _ in batch:
            try:
                outcomes.append(await executor._record_success(claim, acted))
            except Exception:
                log.exception(
                    "executed %s remotely but could not record it; the next attempt reconciles",
                    claim.proposal_id,
                )
                outcomes.append(Outcome.ABANDONED)
        return outcomes


class Executor:
    """Claims due approved proposals, carries them out remotely, records the outcome."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        books: BooksProvider,
        bank: BankProvider,
        clock: Clock,
        ids: Ids,
        policy: ExecutionPolicy | None = None,
        name: str = "executor",
    ) -> None:
        self._uow = uow_factory
        self._books = books
        self._bank = bank
        self._clock = clock
        self._ids = ids
        self.policy = policy or ExecutionPolicy()
        self.name = name

    # --- one pass -----------------------------------------------------------------------

    async def run_once(self) -> ExecutionReport:
        """Claim what is due and execute it; never raises an Exception (a BaseException —
        cancellation, a crash — goes through, leaving leases to expire).

        The batch is claimed in a few chunks: the first chunk's proposals start executing
        while the next chunk is claimed (its round trips overlap theirs). Each tenant has one
        worker, which runs the tenant's claims one after another in claim order; at most
        `tenant_concurrency` workers run at once."""
        batch = self.policy.batch_size
        chunk = -(-batch // CLAIM_CHUNKS)
        try:
            claims = await self.claim(self._clock.now(), min(chunk, batch))
        except Exception as error:
            log.exception("executor %s could not claim due work", self.name)
            return ExecutionReport(claim_error=safe_error(error))
        if not claims:
            return ExecutionReport()
        results: list[tuple[Outcome, bool]] = []
        queues: dict[str, deque[Claim]] = {}
        workers: list[asyncio.Task[None]] = []
        gate = asyncio.Semaphore(self.policy.tenant_concurrency)
        recorder = _Recorder(self)

        async def work(tenant: str) -> None:
            queue = queues[tenant]
            async with gate:
                while queue:
                    results.append(await self.execute(queue.popleft(), recorder))
                # No await since the queue was found empty: a later claim of this tenant
                # starts a new worker, never a second one beside this.
                del queues[tenant]

        def dispatch(new: list[Claim]) -> None:
            for claim in new:
                queue = queues.get(claim.tenant_id)
                if queue is None:
                    queue = queues[claim.tenant_id] = deque()
                    workers.append(asyncio.create_task(work(claim.tenant_id)))
                queue.append(claim)

        def crashed() -> bool:
            return any(w.done() and not w.cancelled() and w.exception() for w in workers)

        claimed, requested = len(claims), min(chunk, batch)
        try:
            dispatch(claims)
            while len(claims) == requested and claimed < batch and not crashed():
                requested = min(chunk, batch - claimed)
                try:
                    claims = await self.claim(self._clock.now(), requested)
                except Exception:
                    log.exception("executor %s could not claim more due work", self.name)
                    break
                claimed += len(claims)
                dispatch(claims)
            await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            # Something escaped (a crash, or we were cancelled): stop the other tenants too.
            pending = [worker for worker in workers if not worker.done()]
            for worker in pending:
                worker.cancel()
            if pending:
                await asyncio.wait(pending)
            await recorder.close()
        for worker in workers:
            escaped = None if worker.cancelled() else worker.exception()
            if escaped is not None:
                raise escaped  # what stopped a tenant's run (the others were cancelled for it)
        outcomes = [outcome for outcome, _ in results]
        return ExecutionReport(
            claimed=claimed,
            executed=outcomes.count(Outcome.EXECUTED),
            retried=outcomes.count(Outcome.RETRY),
            failed=outcomes.count(Outcome.FAILED),
            abandoned=outcomes.count(Outcome.ABANDONED),
            reconciled=sum(1 for o, reconciled in results if o is Outcome.EXECUTED and reconciled),
        )

    # --- 1. claim -----------------------------------------------------------------------

    async def claim(self, now: dt.datetime, limit: int | None = None) -> list[Claim]:
        """Start a new attempt of every due proposal (up to `limit`, by default the batch
        size), in one unit of work; the ones another executor took first are left out."""
        claims: list[Claim] = []
        views: list[ProposalView] = []
        lease_until = now + self.policy.lease
        async with self._uow() as uow:
            due = await uow.proposals.claim_due(now, limit or self.policy.batch_size)
            if not due:
                return []
            streams = await uow.events.read_streams([(view.tenant_id, view.id) for view in due])
            for view in due:
                events = streams.get(view.id, [])
                proposal = _rehydrate(view.id, events)
                if proposal is None or proposal.status is not Status.APPROVED:
                    continue  # the projection was behind; only APPROVED is ever executed
                if proposal.kind is Kind.PATTERN_SUGGESTION:
                    # Applied on approval, never executed; an APPROVED one is an anomaly.
                    log.warning("pattern suggestion %s is APPROVED but not applied", view.id)
                    continue
                try:
                    data = proposal.effective_data
                except DomainError:  # corrections were checked on approval: corrupt data
                    log.exception("proposal %s cannot be executed as stored", view.id)
                    continue
                proposal.start_execution(
                    actor=EXECUTOR_ACTOR, executor=self.name, lease_until=lease_until
                )
                try:
                    recorded = await self._append(uow, view.tenant_id, events, proposal.pending)
                except (ConcurrencyConflict, DuplicateEvent):
                    log.debug("proposal %s was claimed by another executor", view.id)
                    continue
                stream = [*events, *recorded]
                folded = fold_proposal(stream)
                assert folded is not None
                views.append(folded)
                assert proposal.kind is not None and proposal.status is not None
                claims.append(
                    Claim(
                        tenant_id=view.tenant_id,
                        proposal_id=view.id,
                        kind=proposal.kind,
                        status=proposal.status,
                        attempt=proposal.attempts,
                        lease_until=lease_until,
                        data=data,
                        correlation_id=events[0].correlation_id,
                        stream=tuple(stream),
                    )
                )
            if not claims:
                return []
            await uow.proposals.upsert_many(views)
            claims = await self._with_documents(uow, claims)
            try:
                await uow.commit()
            except ConcurrencyConflict:
                # Another executor committed a claim of one of these first (possible only
                # where claim_due cannot lock): leave this batch to it, and the rest to the
                # next pass.
                log.info("executor %s lost a claim race; retrying next pass", self.name)
                return []
        return claims

    async def _with_documents(self, uow: UnitOfWork, claims: list[Claim]) -> list[Claim]:
        """The claims with the documents their actions send, read in one statement (those
        up to `prefetch_document_bytes`; a larger one is read when it is sent)."""
        limit = self.policy.prefetch_document_bytes
        keys = {c.proposal_id: (c.tenant_id, h) for c in claims if (h := _document_hash(c.data))}
        if not keys or limit <= 0:
            return claims
        found = await uow.documents.read_many(list(keys.values()), max_size=limit)
        return [
            dataclasses.replace(claim, document=found[key])
            if (key := keys.get(claim.proposal_id)) in found
            else claim
            for claim in claims
        ]

    # --- 2. act, 3. record ----------------------------------------------------------------

    async def execute(
        self, claim: Claim, recorder: _Recorder | None = None
    ) -> tuple[Outcome, bool]:
        """Carry out one claimed attempt and record its outcome; (outcome, reconciled). A
        success is recorded through `recorder` (together with other tenants') if given."""
        attempt = _Attempt(claim, self._clock, self.policy.lease_margin)
        if claim.attempt > self.policy.max_attempts:
            # Only an attempt that never finished (a crash, a lost lease) leads here: every
            # recorded failure counts towards max_attempts. Stop instead of looping forever
            # on what may be a poison pill; the remote side may hold a partial result.
            error = ExecutionRefused(
                f"{claim.attempt - 1} attempts ended without an outcome (crashes or lost "
                f"leases); look for reference {reference(claim.proposal_id)} in the books "
                "and the bank and finish it by hand"
            )
            return await self._record_failure(claim, error, False, None), False
        try:
            acted = await self._act(attempt)
        except LeaseLost as error:
            log.warning("executor %s abandons %s: %s", self.name, claim.proposal_id, error)
            return Outcome.ABANDONED, False
        except ExternalError as error:
            retry_after = error.retry_after if isinstance(error, ExternalRateLimited) else None
            return await self._record_failure(claim, error, error.retryable, retry_after), False
        except (ExecutionRefused, DomainError) as error:
            return await self._record_failure(claim, error, False, None), False
        except Exception as error:
            log.exception(
                "unexpected error executing %s (attempt %d)", claim.proposal_id, claim.attempt
            )
            return await self._record_failure(claim, error, True, None), False
        try:
            if recorder is None:
                outcome = await self._record_success(claim, acted)
            else:
                outcome = await recorder.record(claim, acted)
        except Exception:
            log.exception(
                "executed %s remotely but could not record it; the next attempt reconciles",
                claim.proposal_id,
            )
            return Outcome.ABANDONED, False
        return outcome, acted.reconciled

    async def _act(self, attempt: _Attempt) -> _Acted:
        claim = attempt.claim
        data = claim.data
        self._check_posting(claim.proposal_id, data)  # a booking we cannot post: fail first
        match data:
            case ReceiptAttachmentData():
                acted = await self._attach_receipt(attempt, claim.proposal_id, data)
            case InvoiceRegistrationData() | ExpenseRegistrationData():
                acted = await self._register_purchase(attempt, claim.proposal_id, data)
            case ReversalData():
                acted = await self._reverse(attempt, data)
            case CorrectionData():
                acted = await self._correct(attempt, data)
            case PatternSuggestionData():  # pragma: no cover - never claimed
                raise ExecutionRefused("a pattern suggestion is applied on approval")
        acted.reconciled = acted.reconciled or attempt.reconciled
        return acted

    # --- the actions ----------------------------------------------------------------------

    async def _attach_receipt(
        self,
        attempt: _Attempt,
        proposal_id: uuid.UUID,
        data: ReceiptAttachmentData,
        *,
        reference_id: uuid.UUID | None = None,
    ) -> _Acted:
        event_id = data.folio_event_id
        if not event_id:
            raise ExecutionRefused(
                "the receipt names no Folio event (folioEventId): nothing to attach it to"
            )
        document, content = await self._document(attempt.claim, data.document_hash, required=True)
        assert document is not None and content is not None
        bank = self._bank(attempt.claim.tenant_id)
        filename = _filename(reference_id or proposal_id, document)
        attachment_id: str | None = None
        if attempt.reconcile:
            attachment_id = await attempt.call(
                lambda: bank.find_attachment(event_id, filename, data.date)
            )
            attempt.reconciled = attachment_id is not None
        if attachment_id is None:
            attachment_id = await attempt.call(
                lambda: bank.attach_receipt(event_id, filename, content, document.content_type)
            )
        await attempt.call(lambda: bank.mark_complete(event_id))
        return _Acted(external_ids={"folioEventId": event_id, "folioAttachmentId": attachment_id})

    async def _register_purchase(
        self,
        attempt: _Attempt,
        proposal_id: uuid.UUID,
        data: InvoiceRegistrationData | ExpenseRegistrationData,
    ) -> _Acted:
        tenant = attempt.claim.tenant_id
        ref = reference(proposal_id)
        document, content = await self._document(attempt.claim, data.document_hash, required=False)
        books = self._books(tenant)
        existing: Purchase | None = None
        if attempt.reconcile:
            existing = await attempt.call(lambda: books.find_purchase(ref, data.date))
            if existing is not None and existing.deleted:
                raise ExecutionRefused(
                    f"Fiken purchase {existing.id} carries our reference {ref} but is deleted; "
                    "resolve it by hand before registering again"
                )
        ids: dict[str, str] = {}
        if existing is not None:
            attempt.reconciled = True
            purchase_id = existing.id
            attached = existing.attachments
            if existing.supplier_id is not None:
                ids["fikenContactId"] = existing.supplier_id
        else:
            supplier_id: str | None = None
            if isinstance(data, InvoiceRegistrationData):
                supplier = await self._supplier(attempt, books, data)
                supplier_id = ids["fikenContactId"] = supplier.id
            purchase = await self._new_purchase(attempt, books, ref, data, supplier_id)
            purchase_id = await attempt.call(lambda: books.create_purchase(purchase))
            attached = ()
        if document is not None and content is not None:
            filename = _filename(proposal_id, document)
            if filename not in attached:
                await attempt.call(
                    lambda: books.attach_to_purchase(
                        purchase_id, filename, content, document.content_type
                    )
                )
        ids["fikenPurchaseId"] = purchase_id
        return _Acted(external_ids=ids)

    async def _supplier(
        self, attempt: _Attempt, books: Books, data: InvoiceRegistrationData
    ) -> Contact:
        # Find first, always: a create that timed out may have committed.
        found = await attempt.call(
            lambda: books.find_supplier(data.supplier_org_number, data.supplier)
        )
        if found is not None:
            return found
        return await attempt.call(
            lambda: books.create_supplier(data.supplier, data.supplier_org_number)
        )

    async def _new_purchase(
        self,
        attempt: _Attempt,
        books: Books,
        ref: str,
        data: InvoiceRegistrationData | ExpenseRegistrationData,
        supplier_id: str | None,
    ) -> NewPurchase:
        lines = purchase_lines(data)
        if isinstance(data, InvoiceRegistrationData):
            return NewPurchase(
                kind="supplier",
                date=data.date,
                currency=data.currency,
                lines=lines,
                reference=ref,
                identifier=data.invoice_number,
                due_date=data.due_date,
                supplier_id=supplier_id,
                paid=False,
                kid=data.kid,
            )
        account = self.policy.payment_account
        if account is None:
            accounts = await attempt.call(books.bank_accounts)
            active = [a for a in accounts if not a.inactive]
            if not active:
                raise ExecutionRefused(
                    "the books have no active bank account to pay the expense from; "
                    "configure BOOKKEEPER_PAYMENT_ACCOUNT"
                )
            account = active[0].account_code
        return NewPurchase(
            kind="cash_purchase",
            date=data.date,
            currency=data.currency,
            lines=lines,
            reference=ref,
            identifier=data.document_number,
            paid=True,
            payment_account=account,
            payment_date=data.date,
        )

    async def _reverse(self, attempt: _Attempt, data: ReversalData) -> _Acted:
        target_id, target = await self._target(attempt.claim.tenant_id, data.target_proposal_id)
        acted = await self._undo(attempt, target_id, target, data.reason)
        return acted

    async def _undo(
        self, attempt: _Attempt, target_id: uuid.UUID, target: Proposal, reason: str
    ) -> _Acted:
        """Take back the remote effect of an executed proposal."""
        tenant = attempt.claim.tenant_id
        external = target.external_ids
        if "fikenPurchaseId" in external:
            purchase_id = external["fikenPurchaseId"]
            books = self._books(tenant)
            done = False
            if attempt.reconcile:
                target_data = target.effective_data
                date = getattr(target_data, "date", None)
                if isinstance(date, dt.date):
                    found = await attempt.call(
                        lambda: books.find_purchase(reference(target_id), date)
                    )
                    done = found is not None and found.id == purchase_id and found.deleted
                    attempt.reconciled = attempt.reconciled or done
            if not done:
                await attempt.call(
                    lambda: books.delete_purchase(purchase_id, _trim(f"Reversert: {reason}"))
                )
            return _Acted(external_ids={"reversedFikenPurchaseId": purchase_id})
        if "folioEventId" in external:
            event_id = external["folioEventId"]
            bank = self._bank(tenant)
            await attempt.call(lambda: bank.mark_incomplete(event_id))
            ids = {"folioEventId": event_id, "note": FOLIO_KEEPS_ATTACHMENT}
            if "folioAttachmentId" in external:
                ids["folioAttachmentId"] = external["folioAttachmentId"]
            message = (
                f"{FOLIO_KEEPS_ATTACHMENT} (event {event_id}, attachment "
                f"{external.get('folioAttachmentId', 'unknown')}, proposal {target_id})"
            )
            return _Acted(external_ids=ids, alerts=[("attachment-kept", "warning", message)])
        return _Acted(external_ids={})

    async def _correct(self, attempt: _Attempt, data: CorrectionData) -> _Acted:
        claim = attempt.claim
        target_id, target = await self._target(claim.tenant_id, data.target_proposal_id)
        corrected = apply_corrections(target.effective_data, data.changes)
        self._check_posting(claim.proposal_id, corrected)
        match corrected:
            case ReceiptAttachmentData():
                old_event = target.external_ids.get("folioEventId")
                if corrected.folio_event_id and corrected.folio_event_id != old_event:
                    undone = await self._undo(attempt, target_id, target, data.reason)
                    moved = await self._attach_receipt(attempt, claim.proposal_id, corrected)
                    ids = dict(moved.external_ids)
                    if old_event:
                        ids["previousFolioEventId"] = old_event
                    return _Acted(external_ids=ids, alerts=undone.alerts)
                # Only the booking changes (account, VAT …): the file stays where it is.
                return _Acted(external_ids=dict(target.external_ids))
            case InvoiceRegistrationData() | ExpenseRegistrationData():
                undone = await self._undo(attempt, target_id, target, data.reason)
                registered = await self._register_purchase(attempt, claim.proposal_id, corrected)
                return _Acted(external_ids={**undone.external_ids, **registered.external_ids})
        raise ExecutionRefused(f"a {target.kind} cannot be corrected")  # pragma: no cover

    def _check_posting(self, proposal_id: uuid.UUID, data: ProposalData) -> None:
        """Raise the DomainError (UnbalancedEntry …) recording would raise, before any
        remote call, so that an action whose posting is impossible fails untouched."""
        posting_for(
            data,
            proposal_id=str(proposal_id),
            payment_account=self.policy.ledger_payment_account,
            payables_account=self.policy.payables_account,
        )

    # --- reads for the act step -------------------------------------------------------------

    async def _target(self, tenant: str, target_ref: str) -> tuple[uuid.UUID, Proposal]:
        try:
            target_id = uuid.UUID(target_ref)
        except ValueError:
            raise ExecutionRefused(f"target {target_ref!r} is not a proposal id") from None
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant, target_id)
        target = _rehydrate(target_id, events)
        if target is None or target.status is not Status.EXECUTED:
            raise ExecutionRefused(f"target proposal {target_id} is not EXECUTED")
        return target_id, target

    async def _document(
        self, claim: Claim, sha256: str | None, *, required: bool
    ) -> tuple[StoredDocument | None, bytes | None]:
        """The stored document `sha256` of the claim's tenant: the one the claim read, or
        read now (in a read-only unit of work of its own)."""
        tenant = claim.tenant_id
        if sha256 is None:
            if required:
                raise ExecutionRefused(
                    "the proposal names no stored document (documentHash): upload the file "
                    "with POST /files first"
                )
            return None, None
        found = claim.document
        if found is None or found[0].sha256 != sha256 or found[0].tenant_id != tenant:
            async with self._uow() as uow:
                found = await uow.documents.read(tenant, sha256)
        if found is None:
            raise ExecutionRefused(
                f"document {sha256} is not stored for this tenant: upload it with POST /files"
            )
        return found

    # --- recording ----------------------------------------------------------------------

    async def _record_success(self, claim: Claim, acted: _Acted) -> Outcome:
        [outcome] = await self._record_successes([(claim, acted)])
        return outcome

    async def _record_successes(self, done: Sequence[tuple[Claim, _Acted]]) -> list[Outcome]:
        """Record executed attempts (of different tenants) in one unit of work: each its
        `…Executed` and ledger entries, then the ledger lines and proposal views of all in
        one statement each, one commit."""
        now = self._clock.now()
        outcomes: list[Outcome] = []
        async with self._uow() as uow:
            entries: list[RecordedEvent] = []
            views: list[ProposalView] = []
            for claim, acted in done:
                staged = await self._stage_success(uow, claim, acted, now, entries)
                if staged is None:
                    outcomes.append(Outcome.ABANDONED)
                    continue
                views.append(staged)
                outcomes.append(Outcome.EXECUTED)
            if entries:
                await fold_journal_entries(uow, entries)
            if views:
                await uow.proposals.upsert_many(views)
                await uow.commit()
        for (claim, acted), outcome in zip(done, outcomes, strict=True):
            if outcome is Outcome.EXECUTED:
                log.info(
                    "executed %s %s (attempt %d%s)",
                    claim.kind.value,
                    claim.proposal_id,
                    claim.attempt,
                    ", reconciled" if acted.reconciled else "",
                )
        return outcomes

    async def _stage_success(
        self,
        uow: UnitOfWork,
        claim: Claim,
        acted: _Acted,
        now: dt.datetime,
        entries: list[RecordedEvent],
    ) -> ProposalView | None:
        """Append `…Executed`, its ledger entries (added to `entries`, to be folded into the
        ledger by the caller) and alerts; the proposal's new view, or None when the attempt
        is no longer ours."""
        loaded = await self._record(
            uow,
            claim,
            lambda proposal: proposal.record_executed(
                actor=EXECUTOR_ACTOR,
                external_ids=acted.external_ids,
                reconciled=acted.reconciled,
            ),
        )
        if loaded is None:
            return None
        events, recorded, proposal = loaded
        executed = recorded[-1]
        for entry_id, entry in await self._postings(uow, claim, proposal, now):
            posted = await post_entry(
                uow,
                claim.tenant_id,
                entry,
                entry_id=entry_id,
                actor=EXECUTOR_ACTOR,
                correlation_id=claim.correlation_id,
                parent_id=executed.id,
                now=now,
                fold=False,
            )
            entries.append(posted)
        for code, severity, message in acted.alerts:
            await self._alert(uow, claim, executed, code, severity, message, now)
        folded = fold_proposal([*events, *recorded])
        assert folded is not None
        return folded

    async def _postings(
        self, uow: UnitOfWork, claim: Claim, proposal: Proposal, now: dt.datetime
    ) -> list[tuple[uuid.UUID, JournalEntryPostedData]]:
        """The ledger entries an executed proposal posts, with their derived ids."""
        data = proposal.effective_data
        pid = claim.proposal_id
        policy = self.policy
        today = now.astimezone(BOOKS_TIME_ZONE).date()

        def posting(of: ProposalData) -> JournalEntryPostedData | None:
            return posting_for(
                of,
                proposal_id=str(pid),
                payment_account=policy.ledger_payment_account,
                payables_account=policy.payables_account,
            )

        result: list[tuple[uuid.UUID, JournalEntryPostedData]] = []
        match data:
            case ReversalData() | CorrectionData():
                target_id = uuid.UUID(data.target_proposal_id)
                target_entry_id = posting_id(target_id)
                target_entry = await _posted_entry(uow, claim.tenant_id, target_entry_id)
                if target_entry is None:
                    log.warning("target %s of %s has no ledger posting to reverse", target_id, pid)
                else:
                    # A correction posts the mirror and then the corrected entry.
                    purpose = "reversal" if isinstance(data, CorrectionData) else "posting"
                    mirror_id = posting_id(pid, purpose)
                    result.append(
                        (
                            mirror_id,
                            mirror(
                                target_entry,
                                entry_id=str(target_entry_id),
                                date=today,
                                proposal_id=str(pid),
                            ),
                        )
                    )
                if isinstance(data, CorrectionData):
                    target_events = await uow.events.read_stream(claim.tenant_id, target_id)
                    target = _rehydrate(target_id, target_events)
                    assert target is not None
                    corrected = posting(apply_corrections(target.effective_data, data.changes))
                    if corrected is not None:
                        result.append((posting_id(pid), corrected))
            case _:
                entry = posting(data)
                if entry is not None:
                    result.append((posting_id(pid), entry))
        return result

    async def _record_failure(
        self,
        claim: Claim,
        error: BaseException,
        retryable: bool,
        retry_after: float | None,
    ) -> Outcome:
        text = safe_error(error)
        try:
            now = self._clock.now()
            next_attempt_at = now + self.policy.backoff(claim.attempt, retry_after)
            async with self._uow() as uow:
                loaded = await self._record(
                    uow,
                    claim,
                    lambda proposal: proposal.record_failure(
                        actor=EXECUTOR_ACTOR,
                        error=text,
                        retryable=retryable,
                        next_attempt_at=next_attempt_at,
                        max_attempts=self.policy.max_attempts,
                    ),
                )
                if loaded is None:
                    return Outcome.ABANDONED
                events, recorded, proposal = loaded
                failed = proposal.status is Status.FAILED
                if failed:
                    message = (
                        f"{claim.kind.value} {claim.proposal_id} failed after attempt "
                        f"{claim.attempt}: {text}"
                    )
                    await self._alert(
                        uow, claim, recorded[-1], "execution-failed", "error", message, now
                    )
                folded = fold_proposal([*events, *recorded])
                assert folded is not None
                await uow.proposals.upsert(folded)
                await uow.commit()
        except Exception:
            log.exception("could not record the failure of %s", claim.proposal_id)
            return Outcome.ABANDONED
        if failed:
            log.warning(
                "%s %s FAILED (attempt %d): %s",
                claim.kind.value,
                claim.proposal_id,
                claim.attempt,
                text,
            )
            return Outcome.FAILED
        log.info(
            "%s %s attempt %d failed, retrying: %s",
            claim.kind.value,
            claim.proposal_id,
            claim.attempt,
            text,
        )
        return Outcome.RETRY

    async def _record(
        self, uow: UnitOfWork, claim: Claim, change: Callable[[Proposal], None]
    ) -> tuple[list[RecordedEvent], list[RecordedEvent], Proposal] | None:
        """Append what `change` records on the proposal: (the stream before, the appended
        events, the proposal), or None when the attempt is no longer ours to record.

        The stream is the one the claim left, unless something was appended since: the
        append at the claim's version tells (ConcurrencyConflict, the transaction intact),
        and only then is the stream read again and checked with `_ours`."""
        events = list(claim.stream)
        proposal = _rehydrate(claim.proposal_id, events) if events else None
        if proposal is not None and _is_ours(proposal, claim):
            change(proposal)
            try:
                recorded = await self._append(uow, claim.tenant_id, events, proposal.pending)
            except ConcurrencyConflict:
                log.debug("%s changed since its claim; reading it again", claim.proposal_id)
            else:
                return events, recorded, proposal
        loaded = await self._ours(uow, claim)
        if loaded is None:
            return None
        events, proposal = loaded
        change(proposal)
        recorded = await self._append(uow, claim.tenant_id, events, proposal.pending)
        return events, recorded, proposal

    async def _ours(
        self, uow: UnitOfWork, claim: Claim
    ) -> tuple[list[RecordedEvent], Proposal] | None:
        """The proposal, if the attempt is still ours to record (APPROVED, executing, same
        attempt); None when another executor took over after our lease ran out."""
        events = await uow.events.read_stream(claim.tenant_id, claim.proposal_id)
        proposal = _rehydrate(claim.proposal_id, events)
        if proposal is None or not _is_ours(proposal, claim):
            log.warning(
                "attempt %d of %s is no longer ours to record (now %s, attempt %s)",
                claim.attempt,
                claim.proposal_id,
                proposal.status if proposal else None,
                proposal.attempts if proposal else None,
            )
            return None
        return events, proposal

    async def _alert(
        self,
        uow: UnitOfWork,
        claim: Claim,
        parent: RecordedEvent,
        code: str,
        severity: str,
        message: str,
        now: dt.datetime,
    ) -> None:
        stream = alert_stream(claim.proposal_id, code)
        etype = event_type(ALERT_RAISED)
        new = NewEvent(
            id=stream,
            type=etype.name,
            schema_version=etype.schema_version,
            status=etype.status,
            actor=EXECUTOR_ACTOR,
            data=AlertRaisedData(
                severity=severity,
                code=code,
                message=message,
                proposal_id=str(claim.proposal_id),
            ),
            metadata={},
            parent_id=parent.id,
            correlation_id=claim.correlation_id,
            created_at=now,
        )
        await uow.events.append(claim.tenant_id, stream, 0, [new])

    async def _append(
        self,
        uow: UnitOfWork,
        tenant: str,
        existing: Sequence[RecordedEvent],
        pending: Sequence[PendingEvent],
    ) -> list[RecordedEvent]:
        """The aggregate's pending events as stored ones, each answering its parent."""
        parent = existing[-1].id
        correlation = existing[0].correlation_id
        now = self._clock.now()
        new: list[NewEvent] = []
        for event in pending:
            event_id = self._ids.new_id()
            new.append(
                NewEvent(
                    id=event_id,
                    type=event.type,
                    schema_version=event_type(event.type).schema_version,
                    status=event.status,
                    actor=event.actor,
                    data=event.data,
                    metadata={},
                    parent_id=parent,
                    correlation_id=correlation,
                    created_at=now,
                )
            )
            parent = event_id
        return await uow.events.append(tenant, existing[0].stream_id, len(existing), new)


# --- helpers ------------------------------------------------------------------------------


def purchase_lines(
    data: InvoiceRegistrationData | ExpenseRegistrationData,
) -> tuple[PurchaseLine, ...]:
    """Fiken purchase lines: net and VAT per rate, as the ledger posting books them."""

    def line(
        description: str, gross: Decimal, rate: Decimal, account: str, vat: Decimal | None
    ) -> PurchaseLine:
        treatment = input_vat(rate)
        amount = money.vat_of_gross(gross, rate) if vat is None else vat
        if treatment.vat_account is None:
            amount = Decimal(0)
        return PurchaseLine(
            description=_trim(description),
            net=gross - amount,
            vat=amount,
            vat_type=treatment.fiken_vat_type,
            account=account,
        )

    if isinstance(data, InvoiceRegistrationData):
        if data.line_items:
            return tuple(
                line(
                    item.description,
                    item.amount,
                    item.vat_rate,
                    item.account_code or data.account_code,
                    None,
                )
                for item in data.line_items
            )
        number = f" {data.invoice_number}" if data.invoice_number else ""
        description = f"{data.supplier} faktura{number}"
    else:
        description = (
            data.description
            or " ".join(part for part in (data.merchant_name, data.category) if part)
            or data.employee
        )
    return (line(description, data.amount, data.vat_rate, data.account_code, data.vat_amount),)


def _filename(proposal_id: uuid.UUID, document: StoredDocument) -> str:
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
        document.content_type
    )
    if extension is None:
        raise ExecutionRefused(f"document type {document.content_type} cannot be attached")
    return f"{reference(proposal_id)}.{extension}"


def _trim(text: str) -> str:
    return text if len(text) <= _MAX_DESCRIPTION else text[: _MAX_DESCRIPTION - 1] + "…"


def _is_ours(proposal: Proposal, claim: Claim) -> bool:
    """Still the claim's attempt: APPROVED, executing, and no later attempt started."""
    return (
        proposal.status is Status.APPROVED
        and proposal.executing
        and proposal.attempts == claim.attempt
    )


def _document_hash(data: ProposalData) -> str | None:
    """The stored document an action sends (a correction's is known only when it runs)."""
    if isinstance(data, ReceiptAttachmentData | InvoiceRegistrationData | ExpenseRegistrationData):
        return data.document_hash
    return None


def _rehydrate(proposal_id: uuid.UUID, events: Sequence[RecordedEvent]) -> Proposal | None:
    if not events or event_type(events[0].type).step is not Step.PROPOSED:
        return None
    return Proposal.rehydrate(str(proposal_id), events)


async def _posted_entry(
    uow: UnitOfWork, tenant: str, entry_id: uuid.UUID
) -> JournalEntryPostedData | None:
    for event in await uow.events.read_stream(tenant, entry_id):
        if isinstance(event.data, JournalEntryPostedData):
            return event.data
    return None
