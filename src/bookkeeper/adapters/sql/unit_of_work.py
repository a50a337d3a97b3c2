"""The SQL unit of work: one transaction (session) and the stores that run on it.

Semantics are those of `bookkeeper.adapters.memory` (the contract tests hold both to them).
The transaction and the psycopg fast path are in `session`; each store owns its table's
statements (event_store, proposals, patterns, scoring, tenant_settings, documents, ledger,
tracking).

The events appended in the unit are handed over after commit: each successful `commit()`
moves what was appended since into the committed events, and on leaving `async with`,
once the connection is back in the pool and (SQLite) the writer's turn is given up, they
go to `after_commit` in commit order, if any. A failure there is logged
("bookkeeper.dispatch"), never raised: the unit's work is durable whatever the receiver
does. A unit rolled back hands over nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.costs import SqlCostSnapshots
from bookkeeper.adapters.sql.documents import SqlDocuments
from bookkeeper.adapters.sql.event_store import SqlEventStore
from bookkeeper.adapters.sql.group_write import GroupWriter
from bookkeeper.adapters.sql.ledger import SqlLedger
from bookkeeper.adapters.sql.patterns import SqlPatterns
from bookkeeper.adapters.sql.proposals import VIEW_PREFIX, SqlProposals
from bookkeeper.adapters.sql.proposals import statements_for as proposal_statements
from bookkeeper.adapters.sql.rules import SqlRules, TaxRatesCache
from bookkeeper.adapters.sql.scoring import SqlScoring
from bookkeeper.adapters.sql.session import Connector, SqlSession
from bookkeeper.adapters.sql.tenant_settings import RulesCache, SqlTenantSettings
from bookkeeper.adapters.sql.tracking import SqlTracking
from bookkeeper.application.ports import (
    AfterCommit,
    CostSnapshotProjection,
    CredentialsStore,
    DocumentStore,
    EventStore,
    LedgerProjection,
    NewEvent,
    PatternProjection,
    ProposalProjection,
    ProposalView,
    RecordedEvent,
    RulesStore,
    ScoringReads,
    TenantSettings,
    TrackingStore,
)
from bookkeeper.application.projections import commit_proposal_in_turn, fold_proposal

#: Where a failed hand-over of committed events is logged.
dispatch_log = logging.getLogger("bookkeeper.dispatch")


class UnitDatabase(Connector, Protocol):
    """What a unit of work needs of the database (SqlDatabase): a session's connector and
    the review-rules cache its units share."""

    @property
    def rules_cache(self) -> RulesCache: ...

    @property
    def tax_rates_cache(self) -> TaxRatesCache: ...

    @property
    def proposal_writer(self) -> GroupWriter | None: ...


class SqlUnitOfWork:
    """One transaction on one pooled connection, and every store on it."""

    def __init__(self, database: UnitDatabase, after_commit: AfterCommit | None = None) -> None:
        self._session = session = SqlSession(database)
        self._after_commit = after_commit
        self._events = SqlEventStore(session)
        #: Events of the commits so far, in commit order, to hand over on leaving.
        self._committed: list[RecordedEvent] = []
        self.events: EventStore = self._events
        self._proposals = SqlProposals(session)
        self._proposal_sql = proposal_statements(session.dialect)
        #: New proposals are written through it, batched while the database is busy.
        self._writer = database.proposal_writer
        self.proposals: ProposalProjection = self._proposals
        self.patterns: PatternProjection = SqlPatterns(session)
        self.settings: TenantSettings = SqlTenantSettings(session, database.rules_cache)
        self.scoring: ScoringReads = SqlScoring(session)
        self.documents: DocumentStore = SqlDocuments(session)
        self.ledger: LedgerProjection = SqlLedger(session)
        self.tracking: TrackingStore = SqlTracking(session)
        #: Issue 12: tax rates, currencies and closed periods (migration 0016).
        self.rules: RulesStore = SqlRules(session, database.tax_rates_cache)
        #: ADR 0040 §6: the cost snapshot projection (migration 0019).
        self.costs: CostSnapshotProjection = SqlCostSnapshots(session)
        self._credentials: CredentialsStore | None = None

    @property
    def credentials(self) -> CredentialsStore:
        """Issue 14: the tenants' own credentials, in this transaction (ADR 0044 §1); built
        on first use (the propose path never needs it)."""
        if self._credentials is None:
            from bookkeeper.adapters.credentials.sql import SqlCredentialsStore

            self._credentials = SqlCredentialsStore(self._session)
        return self._credentials

    async def __aenter__(self) -> Self:
        await self._session.begin()
        self._events.appended.clear()
        self._committed = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._session.end()
        finally:
            self._events.appended.clear()  # never committed: rolled back
            committed, self._committed = self._committed, []
            if committed and self._after_commit is not None:
                await _hand_over(self._after_commit, committed)

    async def commit(self) -> None:
        """Make everything done in this unit durable at once."""
        await self._session.commit()
        appended = self._events.appended
        if appended:
            self._committed.extend(appended)
            appended.clear()

    async def commit_proposal(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        existing: Sequence[RecordedEvent],
        events: Sequence[NewEvent],
    ) -> tuple[list[RecordedEvent], ProposalView]:
        """Append, upsert the proposal's view and commit (the port's promise).

        On PostgreSQL one event (a proposal, an approval, a rejection) is written with its
        view by one statement (`ProposalStatements.record`, ADR 0041): the view is folded
        from the stream with the new event at a position not yet known, and the statement
        sets last_position to the position the insert returns. While the unit's
        transaction is not open (its reads ran in autocommit) that statement is its own
        transaction: event and view are both written or neither, committed when it
        returns, and the unit has nothing left to commit. Otherwise it runs in the open
        transaction, which is then committed. Nothing inserted (the id or the version is
        taken) writes nothing and raises what `append` raises, the transaction intact.
        Several events, and SQLite, take the three steps in turn."""
        expected = len(existing)
        session = self._session
        record = self._proposal_sql.record if expected == 0 else self._proposal_sql.record_after
        if record is None or len(events) != 1:
            return await commit_proposal_in_turn(self, tenant_id, stream_id, existing, events)
        store = self._events
        (params,) = store.bind(tenant_id, stream_id, expected, events)
        # Folded at position 0: last_position, the one field a position feeds, is the
        # statement's to fill in.
        (provisional,) = store.recorded(tenant_id, stream_id, expected, events, [0])
        view = fold_proposal([*existing, provisional])
        if view is None:
            raise ValueError(f"stream {stream_id} is not a proposal")
        params |= self._proposals.bind(view, VIEW_PREFIX)
        if expected:
            params["expected_version"] = expected
        writer = self._writer
        if session.at_once and expected == 0 and writer is not None:
            rows = await writer.write(session, params)
        elif session.at_once:
            rows = await session.write_at_once(record, params)
        else:
            rows = await session.rows(record, params)
        if not rows:
            # Nothing was written, and the transaction (if open) is intact.
            raise await store.refusal(provisional.id, stream_id, expected)
        position: int = rows[0][0]
        recorded = [msgspec.structs.replace(provisional, position=position)]
        store.appended.extend(recorded)
        await self.commit()  # at once: nothing left to send; else the open transaction
        return recorded, msgspec.structs.replace(view, last_position=position)

    def rollback_only(self, error: BaseException) -> None:
        """Refuse to commit this unit of work: part of it must not become durable."""
        self._session.rollback_only(error)

    async def execute(self, statement: Executable, params: Any = None) -> Any:
        """Run one statement in this unit's transaction (through SQLAlchemy)."""
        return await self._session.execute(statement, params)


async def _hand_over(after_commit: AfterCommit, committed: list[RecordedEvent]) -> None:
    """Give the committed events to `after_commit`; its failure is logged, never raised."""
    try:
        await after_commit(committed)
    except Exception:
        dispatch_log.exception(
            "handing over %d committed events failed (they stay committed)", len(committed)
        )
