"""The executor's loop: one pass claims what is due, carries each attempt out and records
its outcome (see the package docstring for the three steps)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Final

from bookkeeper.application import messages as m
from bookkeeper.application.errors import ExternalError, ExternalUnavailable
from bookkeeper.application.execution.actions import Actions
from bookkeeper.application.execution.attempt import Acted, Attempt
from bookkeeper.application.execution.claims import Claim, Claimer
from bookkeeper.application.execution.lease import Heartbeat
from bookkeeper.application.execution.policy import (
    ExecutionPolicy,
    ExecutionRefused,
    ExecutionReport,
    LeaseLost,
    Outcome,
    reference,
    safe_error,
)
from bookkeeper.application.execution.recording import GroupCommit, Recorder
from bookkeeper.application.ports import (
    BankProvider,
    BooksProvider,
    Clock,
    Exclusive,
    Ids,
    UnitOfWorkFactory,
    turn_wait,
)
from bookkeeper.domain.errors import DomainError

log = logging.getLogger("bookkeeper.executor")

#: A refill during a pass claims at most this share of the batch (issue 14, ADR 0035).
REFILL_PARTS: Final = 4
#: How long the hand-back of unstarted attempts may take at shutdown (ADR 0021).
RELEASE_SECONDS: Final = 5.0


class HandedBack(ExecutionRefused):
    """An attempt this executor claimed but gave back when it was stopped (ADR 0021)."""

    code = "handed-back"


class Deferred(ExecutionRefused):
    """An attempt not started because an earlier attempt of the same tenant in the same
    pass found its books or bank unavailable or rate limited (issue 14, ADR 0035)."""

    code = "deferred"


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
        *,
        exclusive: Exclusive,
    ) -> None:
        """`exclusive` makes a supplier's find-and-create one at a time per Fiken company
        (ADR 0043, ADR 0047): in this process (adapters/memory_locks.py, one instance
        shared by the process's executors), or across the replicas on PostgreSQL."""
        self._clock = clock
        self._uow = uow_factory
        self._policy = policy = policy or ExecutionPolicy()
        self.name = name
        self.claimer = Claimer(uow_factory, clock, ids, policy, name)
        self.actions = Actions(uow_factory, books, bank, policy, exclusive)
        self.recorder = Recorder(uow_factory, clock, ids, policy)
        #: Set by `stop`: claim nothing more, start no attempt, hand the claimed back.
        self._stopping = False

    @property
    def policy(self) -> ExecutionPolicy:
        return self._policy

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Stop taking work (ADR 0021): the running pass claims nothing more and starts no
        further attempt; the attempts it claimed and did not start are handed back (due
        again at once, for any executor), and an attempt whose remote call is cut short
        by cancellation is recorded as a retryable failure, like a timeout: the next
        attempt reconciles by reference. Attempts already under way may finish."""
        self._stopping = True

    # --- one pass -----------------------------------------------------------------------

    async def run_once(self) -> ExecutionReport:
        """Claim what is due and execute it; never raises an Exception (a BaseException —
        cancellation, a crash — goes through, leaving leases to expire).

        The batch is claimed in one unit of work (issue 14: claiming it in chunks, to start
        executing while the next chunk is claimed, now costs more round trips and smaller
        group records than it saves, ADR 0043). Each tenant has one worker, which runs the
        tenant's claims one after another in claim order; at most `tenant_concurrency`
        workers run at once."""
        if self._stopping:
            return ExecutionReport()
        batch = self._policy.batch_size
        try:
            claims = await self.claim(self._clock.now(), batch)
        except Exception as error:
            log.exception("executor %s could not claim due work", self.name)
            return ExecutionReport(claim_error=safe_error(error))
        if not claims:
            return ExecutionReport()
        results: list[tuple[Outcome, bool]] = []
        queues: dict[str, deque[Claim]] = {}
        workers: list[asyncio.Task[None]] = []
        #: The records of the attempts that acted, each finishing while its tenant goes on.
        recording: list[asyncio.Task[tuple[Outcome, bool]]] = []
        gate = asyncio.Semaphore(self._policy.tenant_concurrency)
        group = GroupCommit(self.recorder)
        #: Every tenant's queue: what is left in them at the end was never started.
        every_queue: list[deque[Claim]] = []
        #: The leases of every claim not yet over, renewed together (ADR 0026).
        heartbeat = self.heartbeat()
        attempts: dict[uuid.UUID, Attempt] = {}
        beating = asyncio.create_task(heartbeat.run())

        @contextlib.asynccontextmanager
        async def slot_given_back() -> AsyncIterator[None]:
            # Issue 14: a tenant waiting for its turn at Fiken (another replica holds the
            # token) lets another tenant have its slot meanwhile.
            gate.release()
            try:
                yield
            finally:
                await gate.acquire()

        async def work(tenant: str) -> None:
            turn_wait.set(slot_given_back)  # in this worker's context only
            queue = queues[tenant]
            async with gate:
                while queue and not self._stopping and not crashed():
                    claim = queue.popleft()
                    attempt = attempts[claim.proposal_id]
                    # Issue 14: a success is recorded while the tenant's next attempt
                    # acts (its lease stays held until then), so a group record takes
                    # several attempts of one tenant instead of one.
                    try:
                        done = await self._act_or_fail(attempt, heartbeat)
                    except BaseException:
                        heartbeat.drop(attempt)
                        raise
                    if isinstance(done, Acted):
                        recording.append(
                            asyncio.create_task(self._record_held(attempt, done, group, heartbeat))
                        )
                    else:
                        heartbeat.drop(attempt)
                        results.append(done)
                    if attempt.unavailable is not None and queue:
                        # Issue 14: the tenant's remote side is down or rate limited; its
                        # other claims wait for the same back-off instead of each trying
                        # (and timing out) here, so the tenant gives its slot back at once.
                        deferred = await self.defer(
                            queue,
                            attempt.unavailable,
                            release=lambda c: heartbeat.drop(attempts[c.proposal_id]),
                        )
                        results.extend((outcome, False) for outcome in deferred)
                # No await since the queue was found empty: a later claim of this tenant
                # starts a new worker, never a second one beside this.
                del queues[tenant]

        def dispatch(new: list[Claim]) -> None:
            for claim in new:
                queue = queues.get(claim.tenant_id)
                if queue is None:
                    queue = queues[claim.tenant_id] = deque()
                    every_queue.append(queue)
                    workers.append(asyncio.create_task(work(claim.tenant_id)))
                attempt = attempts[claim.proposal_id] = self._attempt(claim)
                heartbeat.hold(attempt)
                queue.append(claim)

        def crashed() -> bool:
            """A worker, or a record going on beside the workers, ended with an exception
            (a crash): the pass starts nothing more."""
            return any(
                t.done() and not t.cancelled() and t.exception() for t in [*workers, *recording]
            )

        claimed = len(claims)
        try:
            dispatch(claims)
            refill = -(-batch // REFILL_PARTS)
            claimed += await self._refill(workers, refill, dispatch, crashed, queues)
            await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            if not crashed() and recording:
                await asyncio.wait(recording, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            # Something escaped (a crash, or we were cancelled): stop the other tenants, and
            # the records not finished, too.
            pending = [task for task in [*workers, *recording] if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
            await group.close()
            beating.cancel()
            await asyncio.wait([beating])
            unstarted = [
                claim
                for queue in every_queue
                for claim in queue
                if attempts[claim.proposal_id].lost is None  # a lost lease is not ours to give
            ]
            for queue in every_queue:
                queue.clear()
            if unstarted:
                handed = await self.hand_back(unstarted)
                results.extend((Outcome.RETRY, False) for _ in range(handed))
        # Every task's exception is retrieved (several records may have seen one crash).
        escaped = [e for t in [*workers, *recording] if not t.cancelled() and (e := t.exception())]
        if escaped:
            raise escaped[0]  # what stopped a tenant's run (the others were cancelled for it)
        results.extend(task.result() for task in recording)
        outcomes = [outcome for outcome, _ in results]
        return ExecutionReport(
            claimed=claimed,
            executed=outcomes.count(Outcome.EXECUTED),
            retried=outcomes.count(Outcome.RETRY),
            failed=outcomes.count(Outcome.FAILED),
            abandoned=outcomes.count(Outcome.ABANDONED),
            reconciled=sum(1 for o, reconciled in results if o is Outcome.EXECUTED and reconciled),
        )

    async def _refill(
        self,
        workers: list[asyncio.Task[None]],
        chunk: int,
        dispatch: Callable[[list[Claim]], None],
        crashed: Callable[[], bool],
        working: Mapping[str, object],
    ) -> int:
        """While some tenant of the pass is still at work (a slow Fiken, a long
        Retry-After), claim what fell due meanwhile for the other tenants (`working`: the
        tenants with a worker) every `refill_interval` and dispatch it: their new work
        starts now instead of after the slowest tenant (issue 14, ADR 0035). A tenant at
        work gets nothing more in this pass, so a slow one never piles up claims (and
        leases). How many were claimed; never raises an Exception."""
        interval = self._policy.refill_interval
        if interval is None:
            return 0
        claimed = 0
        while not self._stopping and not crashed():
            pending = [worker for worker in workers if not worker.done()]
            if not pending:
                break
            await asyncio.wait(
                pending,
                timeout=interval.total_seconds(),
                return_when=asyncio.FIRST_EXCEPTION,
            )
            if self._stopping or crashed() or all(worker.done() for worker in workers):
                break
            try:
                claims = await self.claim(self._clock.now(), chunk, list(working))
            except Exception:
                log.exception("executor %s could not claim due work during a pass", self.name)
                continue
            claimed += len(claims)
            dispatch(claims)
        return claimed

    async def hand_back(self, claims: list[Claim]) -> int:
        """Give claimed, unstarted attempts back: each due again at once (a retryable
        failure with no back-off), so another executor claims it on its next pass instead
        of waiting for the lease. One on its last attempt keeps its lease instead (a
        hand-back must not fail it). How many were handed back; bounded by
        RELEASE_SECONDS, never raises an Exception."""
        error = HandedBack(m.text("refusal.handed_back", m.ENGLISH, name=self.name))
        handed = 0

        async def release() -> None:
            nonlocal handed
            for claim in claims:
                if claim.counted_attempt >= self._policy.max_attempts:
                    continue
                outcome = await self.recorder.record_failure(claim, error, True, None, at_once=True)
                handed += outcome is Outcome.RETRY

        try:
            await asyncio.wait_for(release(), RELEASE_SECONDS)
        except TimeoutError:
            log.warning("executor %s could not hand back every attempt in time", self.name)
        log.info("executor %s handed back %d unstarted attempts", self.name, handed)
        return handed

    async def defer(
        self,
        queue: deque[Claim],
        cause: ExternalUnavailable,
        release: Callable[[Claim], None] | None = None,
    ) -> list[Outcome]:
        """Take the tenant's unstarted claims out of `queue` and record each as a retryable
        failure after the back-off (at least the cause's Retry-After), without a remote
        call (`release` lets go of its lease's renewal first); one on its last attempt
        stays in the queue and is tried. The outcome of each deferred (ABANDONED if the
        record failed: its lease runs out, as after a crash)."""
        retry_after = cause.retry_after
        error = Deferred(
            m.text("refusal.deferred", m.ENGLISH, system=cause.system, error=safe_error(cause))
        )
        kept: list[Claim] = []
        deferred: list[Outcome] = []
        tenant = queue[0].tenant_id if queue else ""
        policy = self._policy
        now = self._clock.now()
        while queue:
            claim = queue.popleft()
            if (
                claim.counted_attempt >= policy.max_attempts
                if policy.give_up_after is None
                else policy.gives_up(claim.failing_since, now)
            ):
                kept.append(claim)  # a deferral would fail it: it is tried instead
                continue
            if release is not None:
                release(claim)
            deferred.append(
                await self.recorder.record_failure(claim, error, True, retry_after, outage=True)
            )
        queue.extend(kept)
        if deferred:
            log.warning(
                "executor %s deferred %d attempts of tenant %s: %s",
                self.name,
                len(deferred),
                tenant,
                safe_error(cause),
            )
        return deferred

    def heartbeat(self) -> Heartbeat:
        """A heartbeat for the leases of one pass (or one `execute`)."""
        return Heartbeat(self._uow, self._clock, self._policy, self.name)

    def _attempt(self, claim: Claim) -> Attempt:
        return Attempt(claim, self._clock, self._policy.lease_margin)

    async def claim(
        self, now: dt.datetime, limit: int | None = None, exclude_tenants: Sequence[str] = ()
    ) -> list[Claim]:
        """Start a new attempt of every due proposal (up to `limit`, by default the batch
        size; none of `exclude_tenants`), in one unit of work; the ones another executor
        took first are left out."""
        if exclude_tenants:
            return await self.claimer.claim(now, limit, exclude_tenants)
        return await self.claimer.claim(now, limit)

    async def execute(
        self,
        claim: Claim,
        group: GroupCommit | None = None,
        *,
        heartbeat: Heartbeat | None = None,
        attempt: Attempt | None = None,
    ) -> tuple[Outcome, bool]:
        """Carry out one claimed attempt and record its outcome; (outcome, reconciled). A
        success is recorded through `group` (together with other tenants') if given. The
        lease is renewed by `heartbeat` (a pass's), or by one of its own, until the
        outcome is recorded."""
        attempt = attempt or self._attempt(claim)
        if heartbeat is not None:
            heartbeat.hold(attempt)
            try:
                return await self._execute(attempt, group, heartbeat)
            finally:
                heartbeat.drop(attempt)
        own = self.heartbeat()
        own.hold(attempt)
        beating = asyncio.create_task(own.run())
        try:
            return await self._execute(attempt, group, own)
        finally:
            own.drop(attempt)
            beating.cancel()
            await asyncio.wait([beating])

    async def _acted(self, attempt: Attempt, heartbeat: Heartbeat) -> Acted:
        """The attempt's remote calls, cancelled if the heartbeat loses its lease (then
        LeaseLost)."""
        remote = asyncio.ensure_future(self.actions.act(attempt))
        heartbeat.acting(attempt, remote)
        try:
            return await remote
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if attempt.lost is not None and (task is None or not task.cancelling()):
                raise LeaseLost(attempt.lost) from None
            raise

    async def _execute(
        self, attempt: Attempt, group: GroupCommit | None, heartbeat: Heartbeat
    ) -> tuple[Outcome, bool]:
        done = await self._act_or_fail(attempt, heartbeat)
        if isinstance(done, Acted):
            return await self._record_acted(attempt.claim, done, group)
        return done

    async def _record_held(
        self, attempt: Attempt, acted: Acted, group: GroupCommit, heartbeat: Heartbeat
    ) -> tuple[Outcome, bool]:
        """Record what an attempt did, keeping its lease renewed until then."""
        try:
            return await self._record_acted(attempt.claim, acted, group)
        finally:
            heartbeat.drop(attempt)

    async def _act_or_fail(
        self, attempt: Attempt, heartbeat: Heartbeat
    ) -> Acted | tuple[Outcome, bool]:
        """The attempt's remote calls: what they did (to be recorded), or the outcome of an
        attempt that did not get that far, its failure recorded."""
        claim = attempt.claim
        recorder = self.recorder
        if claim.counted_attempt > self._policy.max_attempts:
            # Only an attempt that never finished (a crash, a lost lease) leads here: every
            # recorded failure but an outage counts towards max_attempts. Stop instead of
            # looping forever on what may be a poison pill; the remote side may hold a
            # partial result.
            error = ExecutionRefused(
                m.text(
                    "refusal.no_outcome",
                    m.ENGLISH,
                    count=claim.counted_attempt - 1,
                    reference=reference(claim.proposal_id),
                )
            )
            return await recorder.record_failure(claim, error, False, None), False
        try:
            acted = await self._acted(attempt, heartbeat)
        except asyncio.CancelledError:
            if self._stopping:
                # Cut short at shutdown: the remote call may or may not have landed, as
                # after a timeout. A retry after the back-off reconciles by reference.
                cut = ExecutionRefused(m.text("refusal.cut", m.ENGLISH, name=self.name))
                try:
                    await asyncio.wait_for(
                        recorder.record_failure(claim, cut, True, None), RELEASE_SECONDS
                    )
                except TimeoutError:
                    log.warning("could not record the cut attempt of %s", claim.proposal_id)
            raise
        except LeaseLost as error:
            log.warning("executor %s abandons %s: %s", self.name, claim.proposal_id, error)
            return Outcome.ABANDONED, False
        except ExternalError as error:
            if isinstance(error, ExternalUnavailable):
                attempt.unavailable = error
            # A 429's Retry-After, or a 5xx's (how long the outage lasts, RFC 9110).
            retry_after = error.retry_after if isinstance(error, ExternalUnavailable) else None
            # An outage is retried until the give-up time (ADR 0009 addendum): the next
            # attempt looks our reference up before acting, so trying again is safe.
            outage = isinstance(error, ExternalUnavailable) and error.retryable
            failure = recorder.record_failure(
                claim, error, error.retryable, retry_after, outage=outage
            )
            return await failure, False
        except (ExecutionRefused, DomainError) as error:
            # A refusal is for good, but for one that waits (bank_actions.BankEventBusy).
            retryable = isinstance(error, ExecutionRefused) and error.retryable
            return await recorder.record_failure(claim, error, retryable, None), False
        except Exception as error:
            log.exception(
                "unexpected error executing %s (attempt %d)", claim.proposal_id, claim.attempt
            )
            return await recorder.record_failure(claim, error, True, None), False
        return acted

    async def _record_acted(
        self, claim: Claim, acted: Acted, group: GroupCommit | None
    ) -> tuple[Outcome, bool]:
        """Record an attempt's success (through `group`, with other attempts, if given);
        ABANDONED if it cannot be recorded (the next attempt reconciles)."""
        recorder = self.recorder
        try:
            if group is None:
                outcome = await recorder.record_success(claim, acted)
            else:
                outcome = await group.record(claim, acted)
        except Exception:
            log.exception(
                "executed %s remotely but could not record it; the next attempt reconciles",
                claim.proposal_id,
            )
            return Outcome.ABANDONED, False
        return outcome, acted.reconciled
