"""Ports: what the application needs from the outside, as typing.Protocols named by role."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec

from bookkeeper.domain.events import Payload, Status
from bookkeeper.domain.review import ReviewRules

# --- events -----------------------------------------------------------------------------


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event ready to be appended; the store assigns version and position."""

    id: uuid.UUID
    type: str
    schema_version: int
    status: Status | None
    actor: str
    data: Payload
    metadata: dict[str, Any]
    parent_id: uuid.UUID | None
    correlation_id: uuid.UUID
    created_at: dt.datetime


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored in the log."""

    position: int
    id: uuid.UUID
    tenant_id: str
    stream_id: uuid.UUID
    version: int
    type: str
    schema_version: int
    status: Status | None
    actor: str
    data: Payload
    metadata: dict[str, Any]
    parent_id: uuid.UUID | None
    correlation_id: uuid.UUID
    created_at: dt.datetime


class EventFilter(msgspec.Struct, frozen=True, kw_only=True):
    types: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    actor: str | None = None
    correlation_id: uuid.UUID | None = None
    stream_id: uuid.UUID | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    after_position: int = 0
    limit: int = 50


class EventStore(Protocol):
    """The append-only event log, bound to the unit of work's transaction."""

    async def append(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> list[RecordedEvent]:
        """Append to one stream at versions expected+1…; ConcurrencyConflict or DuplicateEvent."""
        ...

    async def read_stream(self, tenant_id: str, stream_id: uuid.UUID) -> list[RecordedEvent]:
        """All events of one stream of one tenant, by version (empty if none)."""
        ...

    async def get(self, tenant_id: str, event_id: uuid.UUID) -> RecordedEvent | None:
        """One event of the tenant by id."""
        ...

    async def query(self, tenant_id: str, where: EventFilter) -> list[RecordedEvent]:
        """The tenant's events matching a filter, by position, after `after_position`."""
        ...

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Every tenant's events after a position, in position order (replay, publishing)."""
        ...


# --- read models ------------------------------------------------------------------------


class ProposalView(msgspec.Struct, frozen=True, kw_only=True):
    """Current state of one proposal (the `proposals` projection)."""

    id: uuid.UUID
    tenant_id: str
    kind: str
    type: str
    status: Status
    version: int
    correlation_id: uuid.UUID
    proposed_by: str
    proposed_at: dt.datetime
    updated_at: dt.datetime
    merchant_key: str | None
    merchant_name: str | None
    amount: Decimal | None
    document_date: dt.date | None
    document_number: str | None
    account_code: str | None
    vat_rate: Decimal | None
    data: dict[str, Any]
    corrections: dict[str, Any] | None
    confidence: Decimal | None
    review_outcome: str | None
    review_band: str | None
    review_rule: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_rule: str | None
    rejection_reason: str | None
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    external_ids: dict[str, str]
    target_proposal_id: uuid.UUID | None
    last_position: int


class PatternView(msgspec.Struct, frozen=True, kw_only=True):
    """An applied merchant pattern (the `patterns` projection)."""

    tenant_id: str
    merchant_key: str
    merchant_name: str
    account_code: str
    vat_rate: Decimal
    suggestion_id: uuid.UUID
    approved_by: str
    applied_at: dt.datetime
    last_position: int


class ProposalFilter(msgspec.Struct, frozen=True, kw_only=True):
    statuses: tuple[Status, ...] = ()
    kinds: tuple[str, ...] = ()
    after_position: int = 0
    limit: int = 50


class DuplicateProbe(msgspec.Struct, frozen=True, kw_only=True):
    merchant_key: str
    amount: Decimal
    date_from: dt.date
    date_to: dt.date
    document_number: str | None
    exclude_id: uuid.UUID


class ApprovalCounts(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    proposed: int
    approved: int
    auto_approved: int
    rejected: int
    pending: int
    executed: int
    failed: int


class ProposalProjection(Protocol):
    """The `proposals` read model."""

    async def upsert(self, view: ProposalView) -> None:
        """Insert or replace one proposal's current state."""
        ...

    async def get(self, tenant_id: str, proposal_id: uuid.UUID) -> ProposalView | None:
        """One proposal of the tenant."""
        ...

    async def page(self, tenant_id: str, where: ProposalFilter) -> list[ProposalView]:
        """Proposals by last change position (keyset paging with after_position)."""
        ...

    async def find_duplicates(self, tenant_id: str, probe: DuplicateProbe) -> list[uuid.UUID]:
        """Earlier, not rejected proposals that look like the same document."""
        ...

    async def open_compensations(self, tenant_id: str, target_id: uuid.UUID) -> list[uuid.UUID]:
        """Reversals/corrections of a target that are pending, approved or executed."""
        ...

    async def approval_counts(
        self, tenant_id: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[ApprovalCounts]:
        """Counts per kind of proposals made in [start, end)."""
        ...

    async def clear(self) -> None:
        """Drop every row (before a replay)."""
        ...


class PatternProjection(Protocol):
    """The `patterns` read model."""

    async def upsert(self, view: PatternView) -> None:
        """Insert or replace the pattern of one merchant."""
        ...

    async def for_tenant(self, tenant_id: str) -> list[PatternView]:
        """All applied patterns of the tenant, by merchant."""
        ...

    async def clear(self) -> None:
        """Drop every row (before a replay)."""
        ...


class ScoringInputs(msgspec.Struct, frozen=True, kw_only=True):
    """What scoring a new proposal reads: the tenant's applied patterns (by merchant) and
    the earlier proposals that look like the same document (by proposal time)."""

    patterns: list[PatternView]
    duplicates: list[uuid.UUID]


class ScoringReads(Protocol):
    """The reads of the propose path, answered together (one round trip on SQL)."""

    async def inputs(self, tenant_id: str, probe: DuplicateProbe | None) -> ScoringInputs:
        """`patterns.for_tenant(tenant_id)` and, given a probe, `proposals.find_duplicates`
        (no duplicates without one), as of one moment."""
        ...


class TenantSettings(Protocol):
    """Per-tenant configuration kept as data."""

    async def review_rules(self, tenant_id: str) -> ReviewRules:
        """The tenant's review rules, or the defaults."""
        ...


class UnitOfWork(Protocol):
    """One transaction: the log, the projections written with it, and the commit.

    Reads inside a unit of work see its own uncommitted writes; other units see them only
    after commit."""

    events: EventStore
    proposals: ProposalProjection
    patterns: PatternProjection
    settings: TenantSettings
    scoring: ScoringReads

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make everything done in this unit durable at once."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


# --- time, ids, identity ----------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class Ids(Protocol):
    def new_id(self) -> uuid.UUID:
        """A fresh, time-ordered unique id."""
        ...


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The verified caller: who, for which tenant, with which roles and attributes."""

    subject: str
    tenant_id: str
    roles: frozenset[str]
    attributes: dict[str, str] = {}

    @property
    def actor(self) -> str:
        """The name written on events: service principals as they are, anyone else as
        human:<subject> — so no token can write as an internal actor such as the auto-approver
        (system:review-rules), whatever its subject says."""
        if self.subject in SERVICE_PRINCIPALS:
            return self.subject
        return f"human:{self.subject}"


#: Principals that act under their own name: the agent, the review bot, the scheduler.
SERVICE_PRINCIPALS = frozenset({"book-e", "review-e", "system:cron"})


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal of a valid bearer token; raises InvalidToken otherwise."""
        ...


class Authorizer(Protocol):
    def check(self, principal: Principal, action: str) -> None:
        """Return if the principal may perform `action` in its tenant; raise Forbidden if not."""
        ...
