"""Per-tenant settings on SQL (`tenant_settings`): the review rules, read on every proposal
(a hot statement) and served from a short-lived cache shared by the database's units of
work (`RulesCache`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Final

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from bookkeeper.adapters.sql.schema import tenant_settings
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect
from bookkeeper.application.single_flight import SingleFlight
from bookkeeper.domain.review import DEFAULT_RULES, ReviewRules

#: How long a tenant's review rules are served from memory; they are read on every proposal.
RULES_TTL_SECONDS: Final = 5.0


class SettingsStatements:
    """The settings' fixed statements, built once per dialect so their compiled forms stay
    cached."""

    def __init__(self, dialect: str) -> None:
        ts = tenant_settings
        self.review_rules = Hot(
            select(ts.c.review_rules).where(ts.c.tenant_id == bindparam("tenant_id")),
            hot_dialect(dialect),
            standalone=True,  # a plain read (ADR 0041): no BEGIN for a cache miss
        )
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        upsert = insert(ts)
        self.save_review_rules = upsert.on_conflict_do_update(
            index_elements=[ts.c.tenant_id],
            set_={
                "review_rules": upsert.excluded.review_rules,
                "updated_at": upsert.excluded.updated_at,
            },
        )


@cache
def statements_for(dialect: str) -> SettingsStatements:
    """The settings statements of a dialect (built on first use, then shared)."""
    return SettingsStatements(dialect)


class RulesCache:
    """Review rules per tenant, kept a few seconds: they are read on every proposal, and a
    change made elsewhere (another process) may take that long to be seen."""

    def __init__(self, ttl: float = RULES_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[float, ReviewRules]] = {}
        self._flights: SingleFlight[str, ReviewRules] = SingleFlight()

    def get(self, tenant_id: str) -> ReviewRules | None:
        entry = self._entries.get(tenant_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, tenant_id: str, rules: ReviewRules) -> None:
        self._entries[tenant_id] = (time.monotonic() + self._ttl, rules)

    async def read_once(
        self, tenant_id: str, read: Callable[[], Awaitable[ReviewRules]]
    ) -> ReviewRules:
        """`read()`'s rules, kept; the misses of the same tenant while it reads wait for
        them instead of reading the same row each (single_flight)."""

        async def read_and_keep() -> ReviewRules:
            rules = await read()
            self.put(tenant_id, rules)
            return rules

        return await self._flights.run(tenant_id, read_and_keep)

    def forget(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)
        self._flights.forget(tenant_id)


class SqlTenantSettings:
    """The TenantSettings port on the unit of work's transaction, through a RulesCache."""

    def __init__(self, tx: Transaction, cache: RulesCache) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)
        self._cache = cache

    async def review_rules(self, tenant_id: str) -> ReviewRules:
        cached = self._cache.get(tenant_id)
        if cached is not None:
            return cached

        async def read() -> ReviewRules:
            rows = await self._tx.rows(self._sql.review_rules, {"tenant_id": tenant_id})
            return msgspec.convert(rows[0][0], ReviewRules) if rows else DEFAULT_RULES

        return await self._cache.read_once(tenant_id, read)

    async def save_review_rules(self, tenant_id: str, rules: ReviewRules, now: dt.datetime) -> None:
        """Store a tenant's rules (not part of the port yet; for the CLI and tests)."""
        await self._tx.execute(
            self._sql.save_review_rules,
            {"tenant_id": tenant_id, "review_rules": msgspec.to_builtins(rules), "updated_at": now},
        )
        self._cache.forget(tenant_id)
