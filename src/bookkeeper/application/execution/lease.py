"""The heartbeat that keeps a pass's leases while its attempts run (ADR 0026).

Leases are short (BOOKKEEPER_EXECUTOR_LEASE_SECONDS), so that after a kill -9 another
process claims the attempts of the dead one within seconds. While a pass holds claims —
the attempt under way of each tenant and the ones queued behind it — one task renews all
their leases together every `ExecutionPolicy.heartbeat_interval`, in one unit of work
(`ProposalProjection.renew_lease`: only the row of the attempt that holds the lease moves).

An attempt whose lease is not renewed is lost: another executor took the proposal over
(the renewal found another attempt), or no renewal got through before the lease's margin
(the database is unreachable). A lost attempt starts no further remote call and the
remote call under way is cancelled; it records nothing, and whoever claims the proposal
next looks its reference up first (ADR 0009), so a remote call that did land is reused.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from bookkeeper.application.execution.attempt import Attempt
from bookkeeper.application.execution.policy import ExecutionPolicy
from bookkeeper.application.ports import Clock, UnitOfWorkFactory

log = logging.getLogger("bookkeeper.executor")


class Heartbeat:
    """Renews the leases of the attempts a pass holds, and cuts short the ones it loses."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, policy: ExecutionPolicy, name: str
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._policy = policy
        self._name = name
        self._held: dict[uuid.UUID, Attempt] = {}
        self._acting: dict[uuid.UUID, asyncio.Future[Any]] = {}
        #: How many renewals got through (for tests and the log).
        self.renewals = 0

    def hold(self, attempt: Attempt) -> None:
        """Keep the attempt's lease from now until `drop`."""
        self._held[attempt.claim.proposal_id] = attempt

    def acting(self, attempt: Attempt, remote: asyncio.Future[Any]) -> None:
        """The attempt's remote calls are under way in `remote`: cancelled if it is lost."""
        self._acting[attempt.claim.proposal_id] = remote

    def drop(self, attempt: Attempt) -> None:
        """The attempt is over (recorded, abandoned or handed back): its lease is let go."""
        key = attempt.claim.proposal_id
        if self._held.get(key) is attempt:
            del self._held[key]
        self._acting.pop(key, None)

    @property
    def held(self) -> int:
        return len(self._held)

    async def run(self) -> None:
        """Renew every `heartbeat_interval` until cancelled; never raises an Exception."""
        every = self._policy.heartbeat_interval.total_seconds()
        while True:
            await asyncio.sleep(every)
            await self.beat()

    async def beat(self) -> None:
        """One renewal of every held lease, in one unit of work."""
        attempts = list(self._held.values())
        if not attempts:
            return
        until = self._clock.now() + self._policy.lease
        kept: set[uuid.UUID] = set()
        try:
            async with asyncio.timeout(self._policy.heartbeat_interval.total_seconds()):
                async with self._uow() as uow:
                    for attempt in attempts:
                        claim = attempt.claim
                        if await uow.proposals.renew_lease(
                            claim.tenant_id, claim.proposal_id, claim.attempt, until
                        ):
                            kept.add(claim.proposal_id)
                    await uow.commit()
        except Exception as error:  # the database is unreachable, or too slow
            log.warning(
                "executor %s could not renew %d leases: %s",
                self._name,
                len(attempts),
                type(error).__name__,
            )
            now = self._clock.now()
            for attempt in attempts:
                if now >= attempt.lease_until - self._policy.lease_margin:
                    self._lose(
                        attempt,
                        f"the lease of attempt {attempt.claim.attempt} of "
                        f"{attempt.claim.proposal_id} could not be renewed before "
                        f"{attempt.lease_until.isoformat()}",
                    )
            return
        self.renewals += 1
        for attempt in attempts:
            if attempt.claim.proposal_id in kept:
                attempt.lease_until = max(attempt.lease_until, until)
            else:
                self._lose(
                    attempt,
                    f"attempt {attempt.claim.attempt} of {attempt.claim.proposal_id} "
                    "was taken over (its lease ran out)",
                )

    def _lose(self, attempt: Attempt, why: str) -> None:
        log.warning("executor %s lost a lease: %s", self._name, why)
        attempt.lost = why
        key = attempt.claim.proposal_id
        remote = self._acting.get(key)
        if remote is not None and not remote.done():
            remote.cancel()
        self.drop(attempt)
