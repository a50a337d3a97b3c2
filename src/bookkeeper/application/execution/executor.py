"""The executor's loop: one pass claims what is due, carries each attempt out and records
its outcome (see the package docstring for the three steps)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from typing import Final

from bookkeeper.application.errors import ExternalError, ExternalRateLimited
from bookkeeper.application.execution.actions import Actions
from bookkeeper.application.execution.attempt import Attempt
from bookkeeper.application.execution.claims import Claim, Claimer
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
    Ids,
    UnitOfWorkFactory,
)
from bookkeeper.domain.errors import DomainError

log = logging.getLogger("bookkeeper.executor")

#: A pass claims its batch in this many chunks, executing each while claiming the next.
CLAIM_CHUNKS: Final = 4


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
        self._clock = clock
        self._policy = policy = policy or ExecutionPolicy()
        self.name = name
        self.claimer = Claimer(uow_factory, clock, ids, policy, name)
        self.actions = Actions(uow_factory, books, bank, policy)
        self.recorder = Recorder(uow_factory, clock, ids, policy)

    @property
    def policy(self) -> ExecutionPolicy:
        return self._policy

    # --- one pass -----------------------------------------------------------------------

    async def run_once(self) -> ExecutionReport:
        """Claim what is due and execute it; never raises an Exception (a BaseException —
        cancellation, a crash — goes through, leaving leases to expire).

        The batch is claimed in a few chunks: the first chunk's proposals start executing
        while the next chunk is claimed (its round trips overlap theirs). Each tenant has one
        worker, which runs the tenant's claims one after another in claim order; at most
        `tenant_concurrency` workers run at once."""
        batch = self._policy.batch_size
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
        gate = asyncio.Semaphore(self._policy.tenant_concurrency)
        group = GroupCommit(self.recorder)

        async def work(tenant: str) -> None:
            queue = queues[tenant]
            async with gate:
                while queue:
                    results.append(await self.execute(queue.popleft(), group))
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
            await group.close()
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

    async def claim(self, now: dt.datetime, limit: int | None = None) -> list[Claim]:
        """Start a new attempt of every due proposal (up to `limit`, by default the batch
        size), in one unit of work; the ones another executor took first are left out."""
        return await self.claimer.claim(now, limit)

    async def execute(self, claim: Claim, group: GroupCommit | None = None) -> tuple[Outcome, bool]:
        """Carry out one claimed attempt and record its outcome; (outcome, reconciled). A
        success is recorded through `group` (together with other tenants') if given."""
        attempt = Attempt(claim, self._clock, self._policy.lease_margin)
        recorder = self.recorder
        if claim.attempt > self._policy.max_attempts:
            # Only an attempt that never finished (a crash, a lost lease) leads here: every
            # recorded failure counts towards max_attempts. Stop instead of looping forever
            # on what may be a poison pill; the remote side may hold a partial result.
            error = ExecutionRefused(
                f"{claim.attempt - 1} attempts ended without an outcome (crashes or lost "
                f"leases); look for reference {reference(claim.proposal_id)} in the books "
                "and the bank and finish it by hand"
            )
            return await recorder.record_failure(claim, error, False, None), False
        try:
            acted = await self.actions.act(attempt)
        except LeaseLost as error:
            log.warning("executor %s abandons %s: %s", self.name, claim.proposal_id, error)
            return Outcome.ABANDONED, False
        except ExternalError as error:
            retry_after = error.retry_after if isinstance(error, ExternalRateLimited) else None
            return await recorder.record_failure(claim, error, error.retryable, retry_after), False
        except (ExecutionRefused, DomainError) as error:
            return await recorder.record_failure(claim, error, False, None), False
        except Exception as error:
            log.exception(
                "unexpected error executing %s (attempt %d)", claim.proposal_id, claim.attempt
            )
            return await recorder.record_failure(claim, error, True, None), False
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
