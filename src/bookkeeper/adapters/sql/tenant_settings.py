"""Per-tenant settings on SQL (`tenant_settings`): the review rules, read on every proposal
(a hot statement) and served from a short-lived cache shared by the database's units of
work (`RulesCache`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from functools import cache
from typing import Final

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from bookkeeper.adapters.sql.schema import tenant_settings
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect
from bookkeeper.application.ttl_cache import TtlCache
from bookkeeper.domain.review import DEFAULT_RULES, ReviewRules

#: How long a tenant's review rules are served from memory; they are read on every proposal.
RULES_TTL_SECONDS: Final = 5.0
#: Tenants whose rules are kept at most (the oldest go first).
RULES_CACHE_SIZE: Final = 4096


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


class RulesCache(TtlCache[str, ReviewRules]):
    """Review rules per tenant, kept a few seconds: they are read on every proposal, and a
    change made elsewhere (another process) may take that long to be seen; concurrent
    misses of a tenant read its row once."""

    def __init__(
        self,
        ttl: float = RULES_TTL_SECONDS,
        size: int = RULES_CACHE_SIZE,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl, size, clock=clock)

    read_once = TtlCache.get_or_load


class SqlTenantSettings:
    """The TenantSettings port on the unit of work's transaction, through a RulesCache."""

    def __init__(self, tx: Transaction, cache: RulesCache) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)
        self._cache = cache

    async def review_rules(self, tenant_id: str) -> ReviewRules:
        async def read() -> ReviewRules:
            rows = await self._tx.rows(self._sql.review_rules, {"tenant_id": tenant_id})
            return msgspec.convert(rows[0][0], ReviewRules) if rows else DEFAULT_RULES

        return await self._cache.get_or_load(tenant_id, read)

    async def save_review_rules(self, tenant_id: str, rules: ReviewRules, now: dt.datetime) -> None:
        """Store a tenant's rules (not part of the port yet; for the CLI and tests)."""
        await self._tx.execute(
            self._sql.save_review_rules,
            {"tenant_id": tenant_id, "review_rules": msgspec.to_builtins(rules), "updated_at": now},
        )
        self._cache.forget(tenant_id)
