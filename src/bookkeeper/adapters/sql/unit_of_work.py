"""The SQL unit of work: one transaction (session) and the stores that run on it.

Semantics are those of `bookkeeper.adapters.memory` (the contract tests hold both to them).
The transaction and the psycopg fast path are in `session`; each store owns its table's
statements (event_store, proposals, patterns, scoring, tenant_settings, documents, ledger).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.documents import SqlDocuments
from bookkeeper.adapters.sql.event_store import SqlEventStore
from bookkeeper.adapters.sql.ledger import SqlLedger
from bookkeeper.adapters.sql.patterns import SqlPatterns
from bookkeeper.adapters.sql.proposals import SqlProposals
from bookkeeper.adapters.sql.scoring import SqlScoring
from bookkeeper.adapters.sql.session import Connector, SqlSession
from bookkeeper.adapters.sql.tenant_settings import RulesCache, SqlTenantSettings
from bookkeeper.application.ports import (
    DocumentStore,
    EventStore,
    LedgerProjection,
    PatternProjection,
    ProposalProjection,
    ScoringReads,
    TenantSettings,
)


class UnitDatabase(Connector, Protocol):
    """What a unit of work needs of the database (SqlDatabase): a session's connector and
    the review-rules cache its units share."""

    @property
    def rules_cache(self) -> RulesCache: ...


class SqlUnitOfWork:
    """One transaction on one pooled connection, and every store on it."""

    def __init__(self, database: UnitDatabase) -> None:
        self._session = session = SqlSession(database)
        self.events: EventStore = SqlEventStore(session)
        self.proposals: ProposalProjection = SqlProposals(session)
        self.patterns: PatternProjection = SqlPatterns(session)
        self.settings: TenantSettings = SqlTenantSettings(session, database.rules_cache)
        self.scoring: ScoringReads = SqlScoring(session)
        self.documents: DocumentStore = SqlDocuments(session)
        self.ledger: LedgerProjection = SqlLedger(session)

    async def __aenter__(self) -> Self:
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._session.end()

    async def commit(self) -> None:
        """Make everything done in this unit durable at once."""
        await self._session.commit()

    def rollback_only(self, error: BaseException) -> None:
        """Refuse to commit this unit of work: part of it must not become durable."""
        self._session.rollback_only(error)

    async def execute(self, statement: Executable, params: Any = None) -> Any:
        """Run one statement in this unit's transaction (through SQLAlchemy)."""
        return await self._session.execute(statement, params)
