"""Step 2's bookkeeping: one attempt in progress, the guard every remote call of it passes,
and what the remote side did (or already had) for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.execution.claims import Claim
from bookkeeper.application.execution.policy import LeaseLost
from bookkeeper.application.ports import Clock
from bookkeeper.domain.events import Status

T = TypeVar("T")


@dataclass
class Acted:
    """What the remote side did (or already had) for one attempt."""

    external_ids: dict[str, str]
    reconciled: bool = False
    #: Alerts to raise with the record: (code, severity, message).
    alerts: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Attempt:
    """One attempt in progress: its claim, and the guard every remote call passes."""

    claim: Claim
    clock: Clock
    margin: dt.timedelta
    reconciled: bool = False
    #: Until when the attempt holds its lease: the claim's, moved on by each heartbeat.
    lease_until: dt.datetime = field(init=False)
    #: Why the attempt may no longer act (its lease was taken over, or could not be
    #: renewed in time); None while it holds the lease.
    lost: str | None = None
    #: The attempt ended because the tenant's books or bank were unavailable or rate
    #: limited (issue 14): the tenant's other claims of the pass wait instead of queueing.
    unavailable: ExternalUnavailable | None = None

    def __post_init__(self) -> None:
        self.lease_until = self.claim.lease_until

    @property
    def reconcile(self) -> bool:
        """An earlier attempt may have reached the remote side: look before creating."""
        return self.claim.attempt > 1

    def guard(self) -> None:
        """Right before a remote call: only APPROVED is executed, and only under our lease."""
        if self.claim.status is not Status.APPROVED:  # pragma: no cover - claims are APPROVED
            raise AssertionError(f"proposal {self.claim.proposal_id} is not APPROVED")
        if self.lost is not None:
            raise LeaseLost(self.lost)
        if self.clock.now() >= self.lease_until - self.margin:
            raise LeaseLost(
                f"the lease of attempt {self.claim.attempt} of {self.claim.proposal_id} "
                f"ends at {self.lease_until.isoformat()}"
            )

    async def call(self, remote: Callable[[], Awaitable[T]]) -> T:
        self.guard()
        return await remote()
