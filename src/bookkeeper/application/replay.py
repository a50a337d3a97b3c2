"""Rebuild every projection from the event log (`bookkeeper replay`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Final

import msgspec

from bookkeeper.application.ledger import JOURNAL_ENTRY_POSTED, fold_journal_entries
from bookkeeper.application.ports import (
    EventFilter,
    PatternView,
    ProposalView,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import fold_proposal, pattern_from
from bookkeeper.application.spending import SNAPSHOT_TYPES, put_cost_snapshots

#: Events folded between two chances for the write in flight to move on.
_CHUNK: Final = 500


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    proposals: int
    patterns: int
    journal_entries: int = 0


class _Folder:
    """Folds the proposal streams as they arrive, complete and in (stream, version) order:
    it holds one stream, the views folded since `take`, and one pattern per merchant."""

    def __init__(self) -> None:
        self._stream: list[RecordedEvent] = []
        self._views: list[ProposalView] = []
        self.proposals = 0
        #: The latest applied pattern per (tenant, merchant) by position, as live.
        self.patterns: dict[tuple[str, str], PatternView] = {}

    def add(self, events: Sequence[RecordedEvent]) -> None:
        stream = self._stream
        for event in events:
            if stream and stream[0].stream_id != event.stream_id:
                self._fold(stream)
                stream = self._stream = []
            stream.append(event)

    def finish(self) -> None:
        if self._stream:
            self._fold(self._stream)
            self._stream = []

    def take(self) -> list[ProposalView]:
        views, self._views = self._views, []
        return views

    def _fold(self, events: list[RecordedEvent]) -> None:
        view = fold_proposal(events)
        if view is None:
            return
        self.proposals += 1
        self._views.append(view)
        pattern = pattern_from(view, events)
        if pattern is not None:
            key = (pattern.tenant_id, pattern.merchant_key)
            known = self.patterns.get(key)
            if known is None or known.last_position < pattern.last_position:
                self.patterns[key] = pattern


#: The fold replay uses, for adapters that write the views their own way (the PostgreSQL
#: shadow rebuild, `bookkeeper.adapters.sql.shadow_replay`).
ProposalFolder = _Folder


async def _write(uow: UnitOfWork, views: list[ProposalView], journal: list[RecordedEvent]) -> int:
    """One page's rows: its proposal views and its journal entries (how many)."""
    if views:
        await uow.proposals.upsert_many(views)
    return await fold_journal_entries(uow, journal) if journal else 0


async def rebuild_projections(
    uow_factory: UnitOfWorkFactory,
    batch: int = 5000,
    *,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Clear the projections and fold the whole log into them again, in one transaction.

    The log is read in pages of `batch` events in (stream, version) order, so each proposal
    stream is folded as soon as its last event is read and then dropped, and each page's
    rows are written in bulk (`upsert_many`, the ledger's `post_many`): memory stays bounded
    by a page or two, the longest stream and one pattern per merchant, whatever the size of
    the log. The ledger folds the JournalEntryPosted events in page order (a posting needs
    nothing but its own event). A page's rows are written while the next page is folded:
    the unit of work never has two statements in flight (the next read waits for the
    write), but the database's work on the write overlaps the fold in Python.

    The projections are cleared first: on PostgreSQL that takes their locks (TRUNCATE) for
    the whole rebuild, so a writer either committed before (and its events are read) or
    waits for the rebuild to commit before writing its rows. `progress` hears the number of
    events read so far after each page."""
    batch = max(batch, 1)
    count = 0
    journal_entries = 0
    folder = _Folder()
    async with uow_factory() as uow:
        await uow.ledger.clear()
        await uow.proposals.clear()
        await uow.patterns.clear()
        await uow.costs.clear()  # ADR 0040 §6
        writing: asyncio.Future[int] | None = None
        try:
            page = await uow.events.read_by_stream(limit=batch)
            while True:
                count += len(page)
                if progress is not None:
                    progress(count)
                journal = [e for e in page if e.type == JOURNAL_ENTRY_POSTED]
                costs = [e for e in page if e.type in SNAPSHOT_TYPES]
                for start in range(0, len(page), _CHUNK):
                    folder.add(
                        [e for e in page[start : start + _CHUNK] if e.type != JOURNAL_ENTRY_POSTED]
                    )
                    await asyncio.sleep(0)  # let the write in flight move on
                last = len(page) < batch
                if last:
                    folder.finish()
                if writing is not None:
                    journal_entries += await writing
                    writing = None
                await put_cost_snapshots(uow, costs)  # nothing else in flight now
                views = folder.take()
                if not last:
                    after = (page[-1].stream_id, page[-1].version)
                    page = await uow.events.read_by_stream(after=after, limit=batch)
                writing = asyncio.ensure_future(_write(uow, views, journal))
                await asyncio.sleep(0)  # let it send its first statement
                if last:
                    break
            journal_entries += await writing
            writing = None
        finally:
            if writing is not None:
                # Failed meanwhile: let the write end before the unit of work rolls back.
                with contextlib.suppress(Exception):
                    await writing
        for pattern in sorted(folder.patterns.values(), key=lambda p: p.last_position):
            await uow.patterns.upsert(pattern)
        await uow.commit()
    return ReplayReport(
        events=count,
        proposals=folder.proposals,
        patterns=len(folder.patterns),
        journal_entries=journal_entries,
    )


#: Cost snapshot events read per query when the cost projection is refilled on its own.
_COST_PAGE: Final = 500


async def rebuild_cost_snapshots(uow_factory: UnitOfWorkFactory, tenants: Sequence[str]) -> int:
    """The cost snapshot projection (ADR 0040 §6) cleared and refilled from the log in one
    short transaction of its own; the number of snapshot events read.

    For the replay on PostgreSQL (ADR 0038), which rebuilds the other projections beside
    the live ones and never reads this one: its events are few (a figure per source,
    service and day) and are found through the log's (tenant, type) index, and a writer
    only upserts its rows (a stream's highest version wins), so a snapshot committed while
    this runs is kept either way."""
    read = 0
    async with uow_factory() as uow:
        await uow.costs.clear()
        for tenant in tenants:
            after = 0
            while True:
                page = await uow.events.query(
                    tenant,
                    EventFilter(types=SNAPSHOT_TYPES, after_position=after, limit=_COST_PAGE),
                )
                await put_cost_snapshots(uow, page)
                read += len(page)
                if len(page) < _COST_PAGE:
                    break
                after = page[-1].position
        await uow.commit()
    return read
