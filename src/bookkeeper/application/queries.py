"""Read-side use cases: queries over the log and the projections, always tenant-scoped."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

import msgspec

from bookkeeper.application.errors import NotFound
from bookkeeper.application.ports import (
    ApprovalCounts,
    Authorizer,
    EventFilter,
    PatternView,
    Principal,
    ProposalFilter,
    ProposalView,
    RecordedEvent,
    UnitOfWorkFactory,
)

MAX_PAGE = 200

_Page = TypeVar("_Page", EventFilter, ProposalFilter)


def clamp_limit(limit: int | None, default: int = 50) -> int:
    """Page sizes are clamped to [1, MAX_PAGE]."""
    if limit is None:
        return default
    return max(1, min(limit, MAX_PAGE))


class ApprovalRate(msgspec.Struct, frozen=True, kw_only=True):
    start: dt.datetime | None
    end: dt.datetime | None
    proposed: int
    approved: int
    auto_approved: int
    rejected: int
    pending: int
    executed: int
    failed: int
    approval_rate: Decimal | None
    auto_approval_rate: Decimal | None
    by_kind: list[ApprovalCounts]


def _settled(where: _Page, settled: int | None) -> _Page:
    """A client's page bounded where a lower position could still commit (None: no
    bound). Positions are drawn at insert, so on PostgreSQL one may commit after a higher
    one: a page past the higher one would move the client's cursor (`after` = the last
    position it got) beyond the lower one for good. A newest-first read is not resumed
    after a position and is left as it is."""
    if settled is None or getattr(where, "newest_first", False):
        return where
    if where.until_position is not None:
        settled = min(settled, where.until_position)
    return msgspec.structs.replace(where, until_position=settled)


def _ratio(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


class Queries:
    def __init__(self, uow_factory: UnitOfWorkFactory, authorizer: Authorizer) -> None:
        self._uow = uow_factory
        self._authorizer = authorizer

    async def events(
        self, principal: Principal, where: EventFilter, *, resumable: bool = False
    ) -> list[RecordedEvent]:
        """The tenant's events matching `where`. `resumable`: a page a client resumes
        after the last position it got (GET /events), stopped below any position a
        running writer holds; otherwise everything committed (a proposal's history just
        after its decision, a lookup)."""
        self._authorizer.check(principal, "events:read")
        where = msgspec.structs.replace(where, limit=clamp_limit(where.limit))
        async with self._uow() as uow:
            if resumable:
                where = _settled(where, await uow.tracking.settled())
            return await uow.events.query(principal.tenant_id, where)

    async def event(self, principal: Principal, event_id: uuid.UUID) -> RecordedEvent:
        self._authorizer.check(principal, "events:read")
        async with self._uow() as uow:
            found = await uow.events.get(principal.tenant_id, event_id)
        if found is None:
            raise NotFound(f"event {event_id} not found")
        return found

    async def correlation(
        self, principal: Principal, correlation_id: uuid.UUID
    ) -> list[RecordedEvent]:
        """The whole history of one user action in the log's order (every page of it):
        by position, as written, never by the time an event carries, which may be equal
        or skewed between writers."""
        self._authorizer.check(principal, "events:read")
        history: list[RecordedEvent] = []
        after = 0
        async with self._uow() as uow:
            while True:
                page = await uow.events.query(
                    principal.tenant_id,
                    EventFilter(
                        correlation_id=correlation_id, after_position=after, limit=MAX_PAGE
                    ),
                )
                history.extend(page)
                if len(page) < MAX_PAGE:
                    break
                after = page[-1].position
        if not history:
            raise NotFound(f"correlation {correlation_id} not found")
        return history

    async def proposals(
        self, principal: Principal, where: ProposalFilter, *, resumable: bool = False
    ) -> list[ProposalView]:
        """The tenant's proposals by last change; `resumable` as in `events` (GET
        /proposals and the review queue page after the last position they showed)."""
        self._authorizer.check(principal, "proposals:read")
        where = msgspec.structs.replace(where, limit=clamp_limit(where.limit))
        async with self._uow() as uow:
            if resumable:
                where = _settled(where, await uow.tracking.settled())
            return await uow.proposals.page(principal.tenant_id, where)

    async def proposal(self, principal: Principal, proposal_id: uuid.UUID) -> ProposalView:
        self._authorizer.check(principal, "proposals:read")
        async with self._uow() as uow:
            found = await uow.proposals.get(principal.tenant_id, proposal_id)
        if found is None:
            raise NotFound(f"proposal {proposal_id} not found")
        return found

    async def patterns(self, principal: Principal) -> list[PatternView]:
        self._authorizer.check(principal, "patterns:read")
        async with self._uow() as uow:
            return await uow.patterns.for_tenant(principal.tenant_id)

    async def pattern_page(
        self, principal: Principal, after: str = "", limit: int | None = None
    ) -> list[PatternView]:
        """A page of the tenant's applied patterns by merchant key, after `after`."""
        self._authorizer.check(principal, "patterns:read")
        async with self._uow() as uow:
            return await uow.patterns.page(principal.tenant_id, after, clamp_limit(limit))

    async def approval_rate(
        self, principal: Principal, start: dt.datetime | None, end: dt.datetime | None
    ) -> ApprovalRate:
        self._authorizer.check(principal, "reports:read")
        async with self._uow() as uow:
            by_kind = await uow.proposals.approval_counts(principal.tenant_id, start, end)
        total = {
            field: sum(getattr(c, field) for c in by_kind)
            for field in (
                "proposed",
                "approved",
                "auto_approved",
                "rejected",
                "pending",
                "executed",
                "failed",
            )
        }
        return ApprovalRate(
            start=start,
            end=end,
            **total,
            approval_rate=_ratio(total["approved"], total["approved"] + total["rejected"]),
            auto_approval_rate=_ratio(total["auto_approved"], total["approved"]),
            by_kind=by_kind,
        )
