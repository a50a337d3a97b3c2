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
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.costs import SqlCostSnapshots
from bookkeeper.adapters.sql.documents import SqlDocuments
from bookkeeper.adapters.sql.event_store import SqlEventStore
from bookkeeper.adapters.sql.ledger import SqlLedger
from bookkeeper.adapters.sql.patterns import SqlPatterns
from bookkeeper.adapters.sql.proposals import SqlProposals
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
    PatternProjection,
    ProposalProjection,
    RecordedEvent,
    RulesStore,
    ScoringReads,
    TenantSettings,
    TrackingStore,
)

#: Where a failed hand-over of committed events is logged.
dispatch_log = logging.getLogger("bookkeeper.dispatch")


class UnitDatabase(Connector, Protocol):
    """What a unit of work needs of the database (SqlDatabase): a session's connector and
    the review-rules cache its units share."""

    @property
    def rules_cache(self) -> RulesCache: ...

    @property
    def tax_rates_cache(self) -> TaxRatesCache: ...


class SqlUnitOfWork:
    """One transaction on one pooled connection, and every store on it."""

    def __init__(self, database: UnitDatabase, after_commit: AfterCommit | None = None) -> None:
        self._session = session = SqlSession(database)
        self._after_commit = after_commit
        self._events = SqlEventStore(session)
        #: Events of the commits so far, in commit order, to hand over on leaving.
        self._committed: list[RecordedEvent] = []
        self.events: EventStore = self._events
        self.proposals: ProposalProjection = SqlProposals(session)
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
        """Issue 14: the tenants' own credentials, in this transaction (ADR 0045 §1); built
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
