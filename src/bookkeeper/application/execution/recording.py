"""Step 3, the record: an attempt's outcome appended to its proposal, in one unit of work.

A success is `…Executed {externalIds, reconciled}` together with the ledger entries the
proposal posts (ids derived from the proposal, so they cannot be posted twice) and any
alerts the action raised; a failure is `…ExecutionFailed {error, retryable, nextAttemptAt}`
with exponential back-off, or `…Failed` plus an `AlertRaised` event when no attempt is left
or the error is permanent. The outcome is appended at the version the claim left the stream
at, without reading it again: if anything was appended since, the append's expected version
refuses it, and only then is the stream read and the attempt checked to be still ours.

The successes of the tenants running at once share a unit of work (`GroupCommit`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Final

from bookkeeper.application.errors import ConcurrencyConflict, DuplicateEvent
from bookkeeper.application.event_log import alert_id, following, stamp
from bookkeeper.application.execution.attempt import Acted
from bookkeeper.application.execution.claims import Claim, append_pending, rehydrate
from bookkeeper.application.execution.policy import (
    EXECUTOR_ACTOR,
    ExecutionPolicy,
    Outcome,
    safe_error,
)
from bookkeeper.application.ledger import NEXT_OPEN, entry_event, fold_journal_entries
from bookkeeper.application.ports import (
    Clock,
    Ids,
    NewEvent,
    ProposalView,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.postings import executed_postings
from bookkeeper.application.projections import fold_proposal
from bookkeeper.application.tax_rates import batch_tax_table
from bookkeeper.domain.events import AlertRaisedData, JournalEntryPostedData, Status
from bookkeeper.domain.proposals import Proposal
from bookkeeper.domain.rules import FiscalPeriod, TaxTable

log = logging.getLogger("bookkeeper.executor")

ALERT_RAISED: Final = "AlertRaised"
#: How many units of work record executed attempts at once (each several tenants').
RECORDERS: Final = 2


class Recorder:
    """Records the outcome of attempts: successes with their ledger entries, failures with
    their back-off, and the alerts of either."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, ids: Ids, policy: ExecutionPolicy
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._policy = policy

    async def record_success(self, claim: Claim, acted: Acted) -> Outcome:
        [outcome] = await self.record_successes([(claim, acted)])
        return outcome

    async def record_successes(self, done: Sequence[tuple[Claim, Acted]]) -> list[Outcome]:
        """Record executed attempts (of different tenants) in one unit of work: each its
        `…Executed` and ledger entries, then the ledger lines and proposal views of all in
        one statement each, one commit.

        The unit's round trips do not grow with the batch (issue 14): the tenants' closed
        periods are read once (`closed_periods`, under their period locks), the
        `…Executed` events go in with one multi-row append at the versions the claims left
        (`append_many`), and the journal entries and alerts with a second one."""
        now = self._clock.now()
        outcomes: list[Outcome] = []
        async with self._uow() as uow:
            closed = await uow.rules.closed_periods(sorted({c.tenant_id for c, _ in done}))
            staged = await self._append_executed(uow, done)
            views: list[ProposalView] = []
            follow: list[tuple[str, uuid.UUID, int, NewEvent]] = []
            tables: dict[str, TaxTable] = {}  # each tenant's rates, read once per unit
            for (claim, acted), loaded in zip(done, staged, strict=True):
                if loaded is None:
                    outcomes.append(Outcome.ABANDONED)
                    continue
                events, recorded, proposal = loaded
                executed = recorded[-1]
                rates = await batch_tax_table(uow, claim.tenant_id, tables)
                entries = await self.postings(
                    uow, claim, proposal, now, rates, closed=closed[claim.tenant_id]
                )
                for entry_id, entry in entries:
                    event = await entry_event(
                        uow,
                        claim.tenant_id,
                        entry,
                        entry_id=entry_id,
                        actor=EXECUTOR_ACTOR,
                        correlation_id=claim.correlation_id,
                        parent_id=executed.id,
                        now=now,
                        into_closed=NEXT_OPEN,
                        closed=closed[claim.tenant_id],
                    )
                    follow.append((claim.tenant_id, entry_id, 0, event))
                for code, severity, message in acted.alerts:
                    follow.append(self._alert_event(claim, executed, code, severity, message, now))
                folded = fold_proposal([*events, *recorded])
                assert folded is not None
                views.append(folded)
                outcomes.append(Outcome.EXECUTED)
            if follow:
                appended = await uow.events.append_many(follow)
                for (*_, event), stored in zip(follow, appended, strict=True):
                    if stored is None:
                        # Posted (or raised) already: refused as post_entry refuses it.
                        raise DuplicateEvent(event.id)
                await fold_journal_entries(uow, [e for e in appended if e is not None])
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

    async def _append_executed(
        self, uow: UnitOfWork, done: Sequence[tuple[Claim, Acted]]
    ) -> list[tuple[list[RecordedEvent], list[RecordedEvent], Proposal] | None]:
        """Append each attempt's `…Executed` at the version its claim left the stream at,
        all in one `append_many`; one refused (something was appended since) or not ours
        by its claim's stream goes the way of `_record` (read again, checked). Per attempt
        (the stream before, the appended events, the proposal), or None when the attempt is
        no longer ours to record."""
        at = self._clock.now()
        loaded: list[tuple[list[RecordedEvent], list[RecordedEvent], Proposal] | None] = []
        batch: list[tuple[str, uuid.UUID, int, NewEvent]] = []
        fast: list[tuple[int, list[RecordedEvent], Proposal]] = []
        for index, (claim, acted) in enumerate(done):
            loaded.append(None)
            events = list(claim.stream)
            proposal = rehydrate(claim.proposal_id, events) if events else None
            if proposal is None or not _is_ours(proposal, claim):
                continue
            _executed(acted)(proposal)
            new = following(events, proposal.pending, ids=self._ids, at=at)
            if len(new) != 1:  # pragma: no cover - record_executed appends one event
                continue
            batch.append((claim.tenant_id, claim.proposal_id, len(events), new[0]))
            fast.append((index, events, proposal))
        appended = await uow.events.append_many(batch) if batch else []
        settled: set[int] = set()
        for (index, events, proposal), stored in zip(fast, appended, strict=True):
            if stored is not None:
                loaded[index] = (events, [stored], proposal)
                settled.add(index)
        for index, (claim, acted) in enumerate(done):
            if index not in settled:
                loaded[index] = await self._record(uow, claim, _executed(acted))
        return loaded

    async def postings(
        self,
        uow: UnitOfWork,
        claim: Claim,
        proposal: Proposal,
        now: dt.datetime,
        rates: TaxTable | None = None,
        *,
        closed: Sequence[FiscalPeriod] | None = None,
    ) -> list[tuple[uuid.UUID, JournalEntryPostedData]]:
        """The ledger entries the executed proposal posts, with their derived ids (`rates`:
        the tenant's tax rates as `uow` read them; None: read them now; `closed`: the
        tenant's closed periods and locked VAT terms as read in `uow`)."""
        return await executed_postings(
            uow,
            claim.tenant_id,
            claim.proposal_id,
            proposal.effective_data,
            now=now,
            payment_account=self._policy.ledger_payment_account,
            payables_account=self._policy.payables_account,
            stream=claim.stream,
            rates=rates,
            closed=closed,
        )

    async def record_failure(
        self,
        claim: Claim,
        error: BaseException,
        retryable: bool,
        retry_after: float | None,
        *,
        at_once: bool = False,
        outage: bool = False,
    ) -> Outcome:
        """Record a failed attempt: a retry after the back-off (`at_once`: due again now,
        for an attempt handed back unstarted), or FAILED with an alert when the error is
        permanent or no attempt is left (an `outage`: when the give-up time has passed);
        never raises an Exception."""
        text = safe_error(error)
        try:
            now = self._clock.now()
            next_attempt_at = (
                now if at_once else now + self._policy.backoff(claim.attempt, retry_after)
            )
            async with self._uow() as uow:
                loaded = await self._record(
                    uow,
                    claim,
                    lambda proposal: proposal.record_failure(
                        actor=EXECUTOR_ACTOR,
                        error=text,
                        retryable=retryable,
                        next_attempt_at=next_attempt_at,
                        max_attempts=self._policy.max_attempts,
                        outage=outage,
                        now=now,
                        give_up_after=self._policy.give_up_after,
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
                    # One alert per failure: after a person's retry (ADR 0009 addendum) the
                    # proposal can fail again, and its first alert's stream is taken.
                    key = str(claim.attempt) if proposal.budget_from else None
                    await self._alert(
                        uow, claim, recorded[-1], "execution-failed", "error", message, now, key
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
        proposal = rehydrate(claim.proposal_id, events) if events else None
        if proposal is not None and _is_ours(proposal, claim):
            change(proposal)
            try:
                recorded = await self._append(uow, claim.tenant_id, events, proposal)
            except ConcurrencyConflict:
                log.debug("%s changed since its claim; reading it again", claim.proposal_id)
            else:
                return events, recorded, proposal
        loaded = await self._ours(uow, claim)
        if loaded is None:
            return None
        events, proposal = loaded
        change(proposal)
        recorded = await self._append(uow, claim.tenant_id, events, proposal)
        return events, recorded, proposal

    async def _append(
        self, uow: UnitOfWork, tenant: str, events: list[RecordedEvent], proposal: Proposal
    ) -> list[RecordedEvent]:
        return await append_pending(
            uow, tenant, events, proposal.pending, ids=self._ids, at=self._clock.now()
        )

    async def _ours(
        self, uow: UnitOfWork, claim: Claim
    ) -> tuple[list[RecordedEvent], Proposal] | None:
        """The proposal, if the attempt is still ours to record (APPROVED, executing, same
        attempt); None when another executor took over after our lease ran out."""
        events = await uow.events.read_stream(claim.tenant_id, claim.proposal_id)
        proposal = rehydrate(claim.proposal_id, events)
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
        key: str | None = None,
    ) -> None:
        """Raise the alert `code` about the claim's proposal, once (once per `key`, if
        given): its stream is derived."""
        tenant, stream, expected, alert = self._alert_event(
            claim, parent, code, severity, message, now, key
        )
        await uow.events.append(tenant, stream, expected, [alert])

    @staticmethod
    def _alert_event(
        claim: Claim,
        parent: RecordedEvent,
        code: str,
        severity: str,
        message: str,
        now: dt.datetime,
        key: str | None = None,
    ) -> tuple[str, uuid.UUID, int, NewEvent]:
        """The alert `code` about the claim's proposal as an append (tenant, stream,
        expected version, event): the first event of a stream derived from the two (and
        `key`, when given)."""
        stream = alert_id(claim.proposal_id, code if key is None else f"{code}:{key}")
        alert = stamp(
            ALERT_RAISED,
            AlertRaisedData(
                severity=severity,
                code=code,
                message=message,
                proposal_id=str(claim.proposal_id),
            ),
            event_id=stream,
            actor=EXECUTOR_ACTOR,
            at=now,
            correlation_id=claim.correlation_id,
            parent_id=parent.id,
        )
        return claim.tenant_id, stream, 0, alert


def _executed(acted: Acted) -> Callable[[Proposal], None]:
    """The change that records an executed attempt on its proposal."""

    def change(proposal: Proposal) -> None:
        proposal.record_executed(
            actor=EXECUTOR_ACTOR,
            external_ids=acted.external_ids,
            reconciled=acted.reconciled,
        )

    return change


def _is_ours(proposal: Proposal, claim: Claim) -> bool:
    """Still the claim's attempt: APPROVED, executing, and no later attempt started."""
    return (
        proposal.status is Status.APPROVED
        and proposal.executing
        and proposal.attempts == claim.attempt
    )


class GroupCommit:
    """Records the successes of the tenants running at once together: a worker hands its
    executed attempt over and waits; what arrives while a unit of work is recording goes
    into the next one (up to RECORDERS units at once). If a shared unit fails, each of its
    attempts is recorded again on its own, so one bad record cannot take the others with
    it. A tenant's worker goes on with its next claim while its success waits here (issue
    14), so a unit may hold several attempts of one tenant; a pass claims a proposal once,
    so two units never record the same proposal. A unit's ledger totals are summed per
    (tenant, account, day) and added in key order, in one statement, so two units cannot
    deadlock. One per pass."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._queue: list[tuple[Claim, Acted, asyncio.Future[Outcome]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def record(self, claim: Claim, acted: Acted) -> Outcome:
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
        self, batch: list[tuple[Claim, Acted, asyncio.Future[Outcome]]]
    ) -> list[Outcome]:
        recorder = self._recorder
        try:
            return await recorder.record_successes([(c, a) for c, a, _ in batch])
        except Exception:
            if len(batch) == 1:
                raise  # the worker logs it
            log.warning("a shared record failed; recording each attempt on its own", exc_info=True)
        outcomes: list[Outcome] = []
        for claim, acted, _ in batch:
            try:
                outcomes.append(await recorder.record_success(claim, acted))
            except Exception:
                log.exception(
                    "executed %s remotely but could not record it; the next attempt reconciles",
                    claim.proposal_id,
                )
                outcomes.append(Outcome.ABANDONED)
        return outcomes
