"""In-memory adapters of the storage ports: the reference for the contract tests and the
fast unit tests. Transactional like the real ones: nothing is visible before commit, and
commit re-checks the expected versions so concurrent units of work conflict the same way.
Like the SQL unit of work, a unit hands the events it committed to `after_commit` when it
ends (a failure there is logged by "bookkeeper.dispatch", never raised).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import msgspec

from bookkeeper.adapters.credentials.memory import MemoryCredentialsState, MemoryCredentialsStore
from bookkeeper.adapters.memory_costs import MemoryCostSnapshots
from bookkeeper.adapters.memory_ledger import LedgerState, MemoryLedger
from bookkeeper.adapters.memory_rules import MemoryRules, RulesState
from bookkeeper.application.errors import ConcurrencyConflict, DuplicateEvent
from bookkeeper.application.ports import (
    BANK_CLAIMS_LIMIT,
    DUPLICATE_LIMIT,
    AfterCommit,
    ApprovalCounts,
    CostSnapshotProjection,
    CredentialsStore,
    DocumentStore,
    DuplicateProbe,
    EventFilter,
    EventStore,
    LedgerProjection,
    NewEvent,
    PatternProjection,
    PatternView,
    ProposalFilter,
    ProposalProjection,
    ProposalView,
    RecordedEvent,
    RulesStore,
    ScoringInputs,
    ScoringReads,
    StoredDocument,
    TenantSettings,
    TrackingStore,
    append_each,
)
from bookkeeper.application.projections import commit_proposal_in_turn
from bookkeeper.domain.events import Kind, Status
from bookkeeper.domain.review import DEFAULT_RULES, ReviewRules

#: Where a failed hand-over of committed events is logged (as by the SQL unit of work).
dispatch_log = logging.getLogger("bookkeeper.dispatch")


@dataclass
class MemoryDatabase:
    """The shared state behind every in-memory unit of work."""

    log: list[RecordedEvent] = field(default_factory=list)
    by_id: dict[uuid.UUID, RecordedEvent] = field(default_factory=dict)
    streams: dict[uuid.UUID, list[RecordedEvent]] = field(default_factory=dict)
    proposals: dict[uuid.UUID, ProposalView] = field(default_factory=dict)
    patterns: dict[tuple[str, str], PatternView] = field(default_factory=dict)
    rules: dict[str, ReviewRules] = field(default_factory=dict)
    ledger: LedgerState = field(default_factory=LedgerState)
    last_position: int = 0
    #: Stored files by (tenant, sha256): metadata and content.
    documents: dict[tuple[str, str], tuple[StoredDocument, bytes]] = field(default_factory=dict)
    #: Proposals claimed by an open unit of work (claim_due), as FOR UPDATE SKIP LOCKED.
    claimed: dict[uuid.UUID, object] = field(default_factory=dict)
    #: Tracking positions by subscriber (0 when absent).
    tracking: dict[str, int] = field(default_factory=dict)
    #: Subscribers an open unit of work has advanced, as the row lock of SQL's UPDATE: the
    #: owning unit, and what is set when it ends (another unit's advance waits for it).
    tracking_locks: dict[str, tuple[object, asyncio.Event]] = field(default_factory=dict)
    #: Issue 12: tax rates, currencies and closed periods (adapters/memory_rules.py).
    rules_state: RulesState = field(default_factory=RulesState)
    #: Issue 14: the tenants' own credentials (adapters/credentials/memory.py).
    credentials: MemoryCredentialsState = field(default_factory=MemoryCredentialsState)

    def next_position(self) -> int:
        """Positions are taken at append time, like a database sequence: gaps are possible."""
        self.last_position += 1
        return self.last_position


@dataclass
class _StagedAppend:
    tenant_id: str
    stream_id: uuid.UUID
    expected_version: int
    events: Sequence[NewEvent]


class MemoryEventStore:
    def __init__(self, db: MemoryDatabase, uow: MemoryUnitOfWork) -> None:
        self._db = db
        self._uow = uow

    def _stream(self, stream_id: uuid.UUID) -> list[RecordedEvent]:
        committed = list(self._db.streams.get(stream_id, []))
        return committed + [e for e in self._uow.staged_events if e.stream_id == stream_id]

    async def append(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> list[RecordedEvent]:
        self._check_staged(tenant_id, stream_id, expected_version, events)
        recorded = [
            RecordedEvent(
                position=self._db.next_position(),
                id=e.id,
                tenant_id=tenant_id,
                stream_id=stream_id,
                version=expected_version + i + 1,
                type=e.type,
                schema_version=e.schema_version,
                status=e.status,
                actor=e.actor,
                data=e.data,
                metadata=dict(e.metadata),
                parent_id=e.parent_id,
                correlation_id=e.correlation_id,
                created_at=e.created_at,
            )
            for i, e in enumerate(events)
        ]
        self._uow.appends.append(_StagedAppend(tenant_id, stream_id, expected_version, events))
        self._uow.staged_events.extend(recorded)
        return recorded

    async def append_first(
        self, items: Sequence[tuple[str, uuid.UUID, NewEvent]]
    ) -> list[RecordedEvent | None]:
        return await append_each(
            self, [(tenant, stream, 0, event) for tenant, stream, event in items]
        )

    async def append_many(
        self, items: Sequence[tuple[str, uuid.UUID, int, NewEvent]]
    ) -> list[RecordedEvent | None]:
        return await append_each(self, items)

    def _check_staged(
        self, tenant_id: str, stream_id: uuid.UUID, expected: int, events: Sequence[NewEvent]
    ) -> None:
        for event in events:
            if event.id in self._db.by_id or any(e.id == event.id for e in self._uow.staged_events):
                raise DuplicateEvent(event.id)
        stream = self._stream(stream_id)
        if len(stream) != expected or any(e.tenant_id != tenant_id for e in stream):
            raise ConcurrencyConflict(stream_id, expected)

    async def read_stream(self, tenant_id: str, stream_id: uuid.UUID) -> list[RecordedEvent]:
        return [e for e in self._stream(stream_id) if e.tenant_id == tenant_id]

    async def read_streams(
        self, streams: Sequence[tuple[str, uuid.UUID]]
    ) -> dict[uuid.UUID, list[RecordedEvent]]:
        return {stream: await self.read_stream(tenant, stream) for tenant, stream in streams}

    def _visible(self) -> list[RecordedEvent]:
        """The committed log plus this unit's own uncommitted events, as SQL shows them."""
        if not self._uow.staged_events:
            return self._db.log
        return sorted([*self._db.log, *self._uow.staged_events], key=lambda e: e.position)

    async def get(self, tenant_id: str, event_id: uuid.UUID) -> RecordedEvent | None:
        found = self._db.by_id.get(event_id) or next(
            (e for e in self._uow.staged_events if e.id == event_id), None
        )
        return found if found is not None and found.tenant_id == tenant_id else None

    async def query(self, tenant_id: str, where: EventFilter) -> list[RecordedEvent]:
        result: list[RecordedEvent] = []
        visible = self._visible()
        for e in reversed(visible) if where.newest_first else visible:
            if len(result) >= where.limit:
                break
            if e.tenant_id != tenant_id or e.position <= where.after_position:
                continue
            if where.until_position is not None and e.position > where.until_position:
                continue
            if where.types and e.type not in where.types:
                continue
            if where.statuses and e.status not in where.statuses:
                continue
            if where.actor is not None and e.actor != where.actor:
                continue
            if where.correlation_id is not None and e.correlation_id != where.correlation_id:
                continue
            if where.stream_id is not None and e.stream_id != where.stream_id:
                continue
            if where.created_from is not None and e.created_at < where.created_from:
                continue
            if where.created_to is not None and e.created_at >= where.created_to:
                continue
            result.append(e)
        return result

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return [e for e in self._visible() if e.position > after_position][:limit]

    async def read_by_stream(
        self, *, after: tuple[uuid.UUID, int] | None = None, limit: int = 1000
    ) -> list[RecordedEvent]:
        ordered = sorted(self._visible(), key=lambda e: (e.stream_id, e.version))
        if after is not None:
            ordered = [e for e in ordered if (e.stream_id, e.version) > after]
        return ordered[: max(limit, 0)]


class MemoryProposals:
    def __init__(self, db: MemoryDatabase, uow: MemoryUnitOfWork) -> None:
        self._db = db
        self._uow = uow

    async def upsert(self, view: ProposalView) -> None:
        self._uow.staged_proposals[view.id] = view

    async def upsert_many(self, views: Sequence[ProposalView]) -> None:
        for view in views:
            self._uow.staged_proposals[view.id] = view

    async def get(self, tenant_id: str, proposal_id: uuid.UUID) -> ProposalView | None:
        found = self._uow.staged_proposals.get(proposal_id) or self._db.proposals.get(proposal_id)
        return found if found is not None and found.tenant_id == tenant_id else None

    async def page(self, tenant_id: str, where: ProposalFilter) -> list[ProposalView]:
        rows = sorted(
            (
                v
                for v in self._db.proposals.values()
                if v.tenant_id == tenant_id
                and v.last_position > where.after_position
                and (where.until_position is None or v.last_position <= where.until_position)
                and (not where.statuses or v.status in where.statuses)
                and (not where.kinds or v.kind in where.kinds)
            ),
            key=lambda v: v.last_position,
        )
        return rows[: where.limit]

    async def settled_data(
        self, tenant_id: str, kind: str, merchant_key: str, limit: int
    ) -> list[dict[str, Any]]:
        return self._settled(tenant_id, kind, lambda v: v.merchant_key == merchant_key, limit)

    async def settled_data_of_org(
        self, tenant_id: str, kind: str, org_number: str, limit: int
    ) -> list[dict[str, Any]]:
        return self._settled(tenant_id, kind, lambda v: v.org_number == org_number, limit)

    def _settled(
        self, tenant_id: str, kind: str, supplier: Callable[[ProposalView], bool], limit: int
    ) -> list[dict[str, Any]]:
        settled = (Status.APPROVED, Status.EXECUTED)
        rows = sorted(
            (
                v
                for v in self._db.proposals.values()
                if v.tenant_id == tenant_id
                and v.kind == kind
                and v.status in settled
                and supplier(v)
            ),
            key=lambda v: v.last_position,
            reverse=True,
        )
        return [{**v.data, **(v.corrections or {})} for v in rows[: max(limit, 0)]]

    async def find_duplicates(self, tenant_id: str, probe: DuplicateProbe) -> list[uuid.UUID]:
        found: list[tuple[tuple[int, int, int, int], uuid.UUID]] = []
        for v in self._db.proposals.values():
            if v.tenant_id != tenant_id or v.id == probe.exclude_id or v.status is Status.REJECTED:
                continue
            if v.merchant_key != probe.merchant_key:
                continue
            same_doc = (
                probe.document_number is not None and v.document_number == probe.document_number
            )
            same_amount = (
                v.amount == probe.amount
                and v.document_date is not None
                and probe.date_from <= v.document_date <= probe.date_to
            )
            if same_doc or same_amount:
                found.append((probe.order_key(same_doc, v.document_date, v.id), v.id))
        return [proposal_id for _, proposal_id in sorted(found)[:DUPLICATE_LIMIT]]

    async def same_document(
        self, tenant_id: str, document_hash: str, exclude_id: uuid.UUID
    ) -> list[uuid.UUID]:
        wanted = document_hash.lower()
        found = sorted(
            (v.proposed_at, v.id)
            for v in self._db.proposals.values()
            if v.tenant_id == tenant_id
            and v.id != exclude_id
            and v.status is not Status.REJECTED
            and isinstance(named := v.data.get("documentHash"), str)
            and named.lower() == wanted
        )
        return [proposal_id for _, proposal_id in found[:DUPLICATE_LIMIT]]

    async def lock_purchase(self, tenant_id: str, marks: Sequence[str]) -> None:
        return None  # as lock_bank_event: one process, the tests' store

    async def lock_bank_event(self, tenant_id: str, folio_event_id: str) -> None:
        return None  # one process; the executor's re-check covers its interleavings

    async def bank_event_claims(self, tenant_id: str, folio_event_id: str) -> list[ProposalView]:
        found = [
            v
            for v in self._db.proposals.values()
            if v.tenant_id == tenant_id
            and v.kind in (Kind.RECEIPT_ATTACHMENT.value, Kind.CORRECTION.value)
            and v.status in (Status.APPROVED, Status.EXECUTED)
            and folio_event_id
            in (
                v.data.get("folioEventId"),
                (v.corrections or {}).get("folioEventId"),
                (v.data.get("changes") or {}).get("folioEventId"),
            )
        ]
        found.sort(key=lambda v: (v.proposed_at, v.id))
        return found[:BANK_CLAIMS_LIMIT]

    async def lock_compensations(self, tenant_id: str, target_id: uuid.UUID) -> None:
        return None  # one process: a unit's check and its commit do not interleave

    async def open_compensations(self, tenant_id: str, target_id: uuid.UUID) -> list[uuid.UUID]:
        return [
            v.id
            for v in self._db.proposals.values()
            if v.tenant_id == tenant_id
            and v.target_proposal_id == target_id
            and v.status in (Status.PROPOSED, Status.APPROVED, Status.EXECUTED)
        ]

    async def approval_counts(
        self, tenant_id: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[ApprovalCounts]:
        counts: dict[str, dict[str, int]] = {}
        for v in self._db.proposals.values():
            if v.tenant_id != tenant_id:
                continue
            if (start is not None and v.proposed_at < start) or (
                end is not None and v.proposed_at >= end
            ):
                continue
            c = counts.setdefault(
                v.kind,
                dict.fromkeys(
                    (
                        "proposed",
                        "approved",
                        "auto_approved",
                        "rejected",
                        "pending",
                        "executed",
                        "failed",
                    ),
                    0,
                ),
            )
            c["proposed"] += 1
            if v.status in (Status.APPROVED, Status.EXECUTED, Status.FAILED):
                c["approved"] += 1
                if v.decision_rule is not None and v.decided_by == "system:review-rules":
                    c["auto_approved"] += 1
            c["rejected"] += v.status is Status.REJECTED
            c["pending"] += v.status is Status.PROPOSED
            c["executed"] += v.status is Status.EXECUTED
            c["failed"] += v.status is Status.FAILED
        return [ApprovalCounts(kind=k, **c) for k, c in sorted(counts.items())]

    async def claim_due(
        self, now: dt.datetime, limit: int, exclude_tenants: Sequence[str] = ()
    ) -> list[ProposalView]:
        views = {**self._db.proposals, **self._uow.staged_proposals}
        excluded = frozenset(exclude_tenants)
        due = sorted(
            (
                v
                for v in views.values()
                if v.status is Status.APPROVED
                and v.tenant_id not in excluded
                and (v.next_attempt_at is None or v.next_attempt_at <= now)
                and (v.lease_until is None or v.lease_until <= now)
                and self._db.claimed.get(v.id, self._uow) is self._uow
            ),
            key=lambda v: (v.updated_at, v.id),
        )[: max(limit, 0)]
        for view in due:  # locked until this unit of work ends, skipped by the others
            self._db.claimed[view.id] = self._uow
        return due

    async def renew_lease(
        self, tenant_id: str, proposal_id: uuid.UUID, attempt: int, lease_until: dt.datetime
    ) -> bool:
        view = self._uow.staged_proposals.get(proposal_id) or self._db.proposals.get(proposal_id)
        if (
            view is None
            or view.tenant_id != tenant_id
            or view.status is not Status.APPROVED
            or view.attempts != attempt
            or view.lease_until is None
        ):
            return False
        self._uow.staged_proposals[proposal_id] = msgspec.structs.replace(
            view, lease_until=lease_until
        )
        return True

    async def clear(self) -> None:
        self._uow.clear_proposals = True


class MemoryPatterns:
    def __init__(self, db: MemoryDatabase, uow: MemoryUnitOfWork) -> None:
        self._db = db
        self._uow = uow

    async def upsert(self, view: PatternView) -> None:
        self._uow.staged_patterns[(view.tenant_id, view.merchant_key)] = view

    async def for_tenant(self, tenant_id: str) -> list[PatternView]:
        return sorted(
            (p for p in self._db.patterns.values() if p.tenant_id == tenant_id),
            key=lambda p: p.merchant_key,
        )

    async def page(self, tenant_id: str, after: str, limit: int) -> list[PatternView]:
        return [p for p in await self.for_tenant(tenant_id) if p.merchant_key > after][:limit]

    async def candidates(self, tenant_id: str, merchant_key: str) -> list[PatternView]:
        # Every pattern of the tenant: the reference answer the bounded SQL lookups
        # approximate for near matches.
        return await self.for_tenant(tenant_id)

    async def clear(self) -> None:
        self._uow.clear_patterns = True


class MemoryScoring:
    """The propose path's reads, composed from the two projections."""

    def __init__(self, proposals: ProposalProjection, patterns: PatternProjection) -> None:
        self._proposals = proposals
        self._patterns = patterns

    async def inputs(
        self, tenant_id: str, merchant_key: str, probe: DuplicateProbe | None
    ) -> ScoringInputs:
        return ScoringInputs(
            patterns=await self._patterns.candidates(tenant_id, merchant_key),
            duplicates=(
                [] if probe is None else await self._proposals.find_duplicates(tenant_id, probe)
            ),
        )


class MemorySettings:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def review_rules(self, tenant_id: str) -> ReviewRules:
        return self._db.rules.get(tenant_id, DEFAULT_RULES)

    async def save_review_rules(self, tenant_id: str, rules: ReviewRules, now: dt.datetime) -> None:
        self._db.rules[tenant_id] = rules


class MemoryDocuments:
    """Files by content hash, staged like everything else until commit."""

    def __init__(self, db: MemoryDatabase, uow: MemoryUnitOfWork) -> None:
        self._db = db
        self._uow = uow

    def _find(self, tenant_id: str, sha256: str) -> tuple[StoredDocument, bytes] | None:
        key = (tenant_id, sha256)
        return self._uow.staged_documents.get(key) or self._db.documents.get(key)

    async def put(
        self,
        tenant_id: str,
        content: bytes,
        content_type: str,
        filename: str,
        now: dt.datetime,
        *,
        uploaded_by: str | None = None,
    ) -> tuple[StoredDocument, bool]:
        sha256 = hashlib.sha256(content).hexdigest()
        found = self._find(tenant_id, sha256)
        if found is not None:
            return found[0], False
        document = StoredDocument(
            tenant_id=tenant_id,
            sha256=sha256,
            content_type=content_type,
            filename=filename,
            size=len(content),
            created_at=now,
            uploaded_by=uploaded_by,
        )
        self._uow.staged_documents[(tenant_id, sha256)] = (document, bytes(content))
        return document, True

    async def get(self, tenant_id: str, sha256: str) -> StoredDocument | None:
        found = self._find(tenant_id, sha256)
        return found[0] if found is not None else None

    async def content(self, tenant_id: str, sha256: str) -> bytes | None:
        found = self._find(tenant_id, sha256)
        return found[1] if found is not None else None

    async def read(
        self, tenant_id: str, sha256: str, *, max_size: int | None = None
    ) -> tuple[StoredDocument, bytes] | None:
        found = self._find(tenant_id, sha256)
        if found is None or (max_size is not None and found[0].size > max_size):
            return None
        return found

    async def read_many(
        self, keys: Sequence[tuple[str, str]], *, max_size: int
    ) -> dict[tuple[str, str], tuple[StoredDocument, bytes]]:
        found = {key: await self.read(*key, max_size=max_size) for key in keys}
        return {key: document for key, document in found.items() if document is not None}


class MemoryTracking:
    """Tracking positions, staged until commit. An advance holds the subscriber until its
    unit of work ends, as PostgreSQL's row lock does: another unit's advance of the same
    subscriber waits, then compares with what was committed."""

    def __init__(self, db: MemoryDatabase, uow: MemoryUnitOfWork) -> None:
        self._db = db
        self._uow = uow

    def _current(self, subscriber: str) -> int:
        staged = self._uow.staged_tracking.get(subscriber)
        return staged if staged is not None else self._db.tracking.get(subscriber, 0)

    async def position(self, subscriber: str) -> int:
        return self._current(subscriber)

    async def advance(self, subscriber: str, expected: int, position: int) -> bool:
        locks = self._db.tracking_locks
        while (held := locks.get(subscriber)) is not None and held[0] is not self._uow:
            await held[1].wait()
        if self._current(subscriber) != expected:
            return False
        if held is None:
            locks[subscriber] = (self._uow, asyncio.Event())
        self._uow.staged_tracking[subscriber] = position
        return True

    async def all(self) -> dict[str, int]:
        return dict(sorted((self._db.tracking | self._uow.staged_tracking).items()))

    async def horizon(self) -> tuple[int, int] | None:
        return None  # positions are taken at commit here: no hole fills later

    async def settled(self) -> int | None:
        return None  # positions are taken at commit here, in order

    async def head(self) -> int:
        return self._db.log[-1].position if self._db.log else 0


class MemoryUnitOfWork:
    def __init__(self, db: MemoryDatabase, after_commit: AfterCommit | None = None) -> None:
        self._db = db
        self._after_commit = after_commit
        #: Events of the commits so far, in commit order, to hand over on leaving.
        self._committed: list[RecordedEvent] = []
        self.appends: list[_StagedAppend] = []
        self.staged_events: list[RecordedEvent] = []
        self.staged_proposals: dict[uuid.UUID, ProposalView] = {}
        self.staged_patterns: dict[tuple[str, str], PatternView] = {}
        self.clear_proposals = False
        self.clear_patterns = False
        self.staged_documents: dict[tuple[str, str], tuple[StoredDocument, bytes]] = {}
        self.staged_tracking: dict[str, int] = {}
        self.events: EventStore = MemoryEventStore(db, self)
        self.proposals: ProposalProjection = MemoryProposals(db, self)
        self.patterns: PatternProjection = MemoryPatterns(db, self)
        self.settings: TenantSettings = MemorySettings(db)
        self.scoring: ScoringReads = MemoryScoring(self.proposals, self.patterns)
        self._ledger = MemoryLedger(db.ledger)
        self.ledger: LedgerProjection = self._ledger
        self.documents: DocumentStore = MemoryDocuments(db, self)
        self.tracking: TrackingStore = MemoryTracking(db, self)
        self.rules: RulesStore = MemoryRules(db.rules_state)
        #: ADR 0040 §6: the cost snapshots, folded from the committed log (the reference).
        self.costs: CostSnapshotProjection = MemoryCostSnapshots(db.log)
        self._credentials = MemoryCredentialsStore(db.credentials)

    @property
    def credentials(self) -> CredentialsStore:
        """Issue 14: the tenants' own credentials, staged until commit (ADR 0044 §1)."""
        return self._credentials

    async def __aenter__(self) -> Self:
        self._committed = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._reset()
        committed, self._committed = self._committed, []
        if committed and self._after_commit is not None:
            try:
                await self._after_commit(committed)
            except Exception:
                dispatch_log.exception(
                    "handing over %d committed events failed (they stay committed)",
                    len(committed),
                )

    def _reset(self) -> None:
        self.appends.clear()
        self.staged_events.clear()
        self.staged_proposals.clear()
        self.staged_patterns.clear()
        self.clear_proposals = self.clear_patterns = False
        self._ledger.discard()
        self.staged_documents.clear()
        for claimed in [pid for pid, owner in self._db.claimed.items() if owner is self]:
            del self._db.claimed[claimed]
        self.staged_tracking.clear()
        self._credentials.discard()
        locks = self._db.tracking_locks
        for subscriber in [s for s, (owner, _) in locks.items() if owner is self]:
            locks.pop(subscriber)[1].set()

    async def commit(self) -> None:
        # Runs without an await, so it is atomic with respect to other tasks.
        db = self._db
        seen: set[uuid.UUID] = set()
        lengths: dict[uuid.UUID, int] = {}
        for staged in self.appends:
            for event in staged.events:
                if event.id in db.by_id or event.id in seen:
                    self._reset()
                    raise DuplicateEvent(event.id)
                seen.add(event.id)
            length = lengths.get(staged.stream_id, len(db.streams.get(staged.stream_id, [])))
            if length != staged.expected_version:
                self._reset()
                raise ConcurrencyConflict(staged.stream_id, staged.expected_version)
            lengths[staged.stream_id] = length + len(staged.events)
        for stored in self.staged_events:
            db.log.append(stored)
            db.by_id[stored.id] = stored
            db.streams.setdefault(stored.stream_id, []).append(stored)
        db.log.sort(key=lambda e: e.position)
        if self.clear_proposals:
            db.proposals.clear()
        if self.clear_patterns:
            db.patterns.clear()
        for pid, view in self.staged_proposals.items():
            db.proposals[pid] = view
        for key, pattern in self.staged_patterns.items():
            db.patterns[key] = pattern
        self._ledger.apply()
        for key, document in self.staged_documents.items():
            db.documents.setdefault(key, document)
        db.tracking.update(self.staged_tracking)
        self._credentials.apply()
        self._committed.extend(self.staged_events)
        self._reset()

    async def commit_proposal(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        existing: Sequence[RecordedEvent],
        events: Sequence[NewEvent],
    ) -> tuple[list[RecordedEvent], ProposalView]:
        return await commit_proposal_in_turn(self, tenant_id, stream_id, existing, events)


class MemoryUnitOfWorkFactory:
    """Callable that opens a unit of work on one shared in-memory database."""

    def __init__(
        self, db: MemoryDatabase | None = None, after_commit: AfterCommit | None = None
    ) -> None:
        self.db = db or MemoryDatabase()
        self.after_commit = after_commit

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.db, self.after_commit)


class MemoryEventExport:
    """EventExport over the in-memory log: the committed events as they are when the first
    page is asked for (a copy, so appends meanwhile are not in it), by position."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def pages(self, tenant_id: str | None, page: int) -> AsyncIterator[list[RecordedEvent]]:
        snapshot = sorted(
            (e for e in self._db.log if tenant_id is None or e.tenant_id == tenant_id),
            key=lambda e: e.position,
        )
        size = max(page, 1)
        for start in range(0, len(snapshot), size):
            yield snapshot[start : start + size]
