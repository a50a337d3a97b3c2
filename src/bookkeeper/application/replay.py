"""Rebuild every projection from the event log (`bookkeeper replay`)."""

from __future__ import annotations

import uuid
from collections import defaultdict

import msgspec

from bookkeeper.application.ledger import JOURNAL_ENTRY_POSTED, fold_journal_entries
from bookkeeper.application.ports import PatternView, RecordedEvent, UnitOfWorkFactory
from bookkeeper.application.projections import fold_proposal, pattern_from


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    proposals: int
    patterns: int
    journal_entries: int = 0


async def rebuild_projections(uow_factory: UnitOfWorkFactory, batch: int = 5000) -> ReplayReport:
    """Clear the projections and fold the whole log into them again, in one transaction.

    The ledger is folded page by page as the log is read (a posting needs nothing but its
    own event), so journal entries are never all held in memory; proposal streams are
    gathered whole first, since a stream's events may lie anywhere in the log."""
    streams: dict[uuid.UUID, list[RecordedEvent]] = defaultdict(list)
    count = 0
    journal_entries = 0
    async with uow_factory() as uow:
        await uow.ledger.clear()
        after = 0
        while True:
            page = await uow.events.read_all(after_position=after, limit=batch)
            journal_entries += await fold_journal_entries(uow, page)
            for event in page:
                if event.type != JOURNAL_ENTRY_POSTED:
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
        journal_entries=journal_entries,
    )
