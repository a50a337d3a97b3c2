"""The `patterns` projection on SQL (applied merchant patterns), in the unit of work's
transaction; its upsert and its read per tenant are hot statements (ADR 0008)."""

from __future__ import annotations

from functools import cache
from typing import Final

import msgspec
from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.schema import patterns
from bookkeeper.adapters.sql.session import AnyRow, Hot, Transaction, aware, hot_dialect, utc
from bookkeeper.application.ports import PatternView


class PatternStatements:
    """The projection's fixed statements, built once per dialect so their compiled forms
    stay cached."""

    def __init__(self, dialect: str) -> None:
        compile_for = hot_dialect(dialect)
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        pt = patterns
        upsert = insert(pt)
        self.upsert = Hot(
            upsert.values(
                {c.name: bindparam(c.name, type_=c.type) for c in pt.c}
            ).on_conflict_do_update(
                index_elements=[pt.c.tenant_id, pt.c.merchant_key],
                set_={c.name: upsert.excluded[c.name] for c in pt.c if not c.primary_key},
            ),
            compile_for,
            returns_rows=False,
        )
        self.for_tenant = Hot(
            select(pt).where(pt.c.tenant_id == bindparam("tenant_id")).order_by(pt.c.merchant_key),
            compile_for,
        )
        # TRUNCATE is transactional on PostgreSQL and far cheaper than DELETE for a replay.
        self.clear: Executable = (
            text("TRUNCATE patterns") if dialect == "postgresql" else delete(pt)
        )


@cache
def statements_for(dialect: str) -> PatternStatements:
    """The pattern statements of a dialect (built on first use, then shared)."""
    return PatternStatements(dialect)


COLUMNS: Final = tuple(c.name for c in patterns.c)


def pattern_view(row: AnyRow) -> PatternView:
    """A pattern from a row of the table's columns, in their order."""
    values = dict(zip(COLUMNS, row, strict=True))
    values["applied_at"] = utc(values["applied_at"])
    return PatternView(**values)


class SqlPatterns:
    """The PatternProjection port on the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)

    async def upsert(self, view: PatternView) -> None:
        values = msgspec.structs.asdict(view)
        values["applied_at"] = aware(view.applied_at)
        await self._tx.rows(self._sql.upsert, values)

    async def for_tenant(self, tenant_id: str) -> list[PatternView]:
        rows = await self._tx.rows(self._sql.for_tenant, {"tenant_id": tenant_id})
        return [pattern_view(row) for row in rows]

    async def clear(self) -> None:
        await self._tx.execute(self._sql.clear)
