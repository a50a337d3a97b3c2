"""Rebuild every projection from the event log (`bookkeeper replay`)."""

from __future__ import annotations

import uuid
from collections import defaultdict

import msgspec

from bookkeeper.application.ports import PatternView, RecordedEvent, UnitOfWorkFactory
from bookkeeper.application.projections import fold_proposal, pattern_from


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    proposals: int
    patterns: int


async def rebuild_projections(uow_factory: UnitOfWorkFactory, batch: int = 5000) -> ReplayReport:
    """Clear the projections and fold the whole log into them again, in one transaction."""
    streams: dict[uuid.UUID, list[RecordedEvent]] = defaultdict(list)
    count = 0
    async with uow_factory() as uow:
        after = 0
        while True:
            page = await uow.events.read_all(after_position=after, limit=batch)
            for event in page:
                streams[event.stream_id].append(event)
            count += len(page)
            if len(page) < batch:
                break
            after = page[-1].position
        await uow.proposals.clear()
        await uow.patterns.clear()
        patterns: list[PatternView] = []
        proposals = 0
        for events in streams.values():
            view = fold_proposal(events)
            if view is None:
                continue
            proposals += 1
            await uow.proposals.upsert(view)
            pattern = pattern_from(view, events)
            if pattern is not None:
                patterns.append(pattern)
        # The latest applied pattern for a merchant wins, as it did live.
        patterns.sort(key=lambda p: p.last_position)
        for pattern in patterns:
            await uow.patterns.upsert(pattern)
        await uow.commit()
    return ReplayReport(
        events=count,
        proposals=proposals,
        patterns=len({(p.tenant_id, p.merchant_key) for p in patterns}),
    )
