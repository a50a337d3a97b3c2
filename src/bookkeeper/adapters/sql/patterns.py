"""The `patterns` projection on SQL (applied merchant patterns), in the unit of work's
transaction; its upsert, its read per tenant and the bounded candidate lookup of one
merchant are hot statements (ADR 0008, ADR 0032).

The candidate lookup (`candidate_parts`) reads a bounded number of rows through indexes
whatever the tenant's size: the key and its word prefixes by primary key (one equality
each, which every planner takes, statistics or not), the first key extending it and those
sharing its first word by a key range, and its alphabetical neighbours.
Ranges compare bytewise (COLLATE "C" on PostgreSQL, whose index is built so; SQLite's
default BINARY), so a key's extensions ("adobe" → "adobe cloud") form one contiguous range:
normalised keys hold only [0-9a-z ], and " " sorts before every other character."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, Final

import msgspec
from sqlalchemy import ColumnElement, Select, Text, bindparam, delete, select, text, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.schema import patterns
from bookkeeper.adapters.sql.session import AnyRow, Hot, Transaction, aware, hot_dialect, utc
from bookkeeper.application.ports import NEAR_PATTERN_LIMIT, PatternView
from bookkeeper.domain.patterns import MAX_KEY_PREFIXES, MIN_PREFIX_KEY, first_word, key_prefixes

#: The bind names of the key and its word prefixes (unused slots repeat the key).
_KEY_SLOTS: Final = tuple(f"key_{n}" for n in range(MAX_KEY_PREFIXES + 1))
#: Sorts right after " " (0x20) and before every character of a normalised key.
_AFTER_SPACE: Final = "!"


def candidate_parts(dialect: str) -> list[Select[Any]]:
    """The bounded parts of a merchant's candidate lookup (see the module), each a SELECT
    of the table's columns (unordered between parts; a key may come from several).
    Parameters: those of `candidate_params`."""
    pt = patterns
    ordered: ColumnElement[str] = (
        pt.c.merchant_key.collate("C") if dialect == "postgresql" else pt.c.merchant_key
    )
    tenant = pt.c.tenant_id == bindparam("tenant_id")

    def in_range(low: str, high: str) -> ColumnElement[bool]:
        return (ordered >= bindparam(low, type_=Text)) & (ordered < bindparam(high, type_=Text))

    parts: list[Select[Any]] = [
        # The key itself and the shorter keys it extends: one primary-key lookup each.
        select(pt).where(tenant, pt.c.merchant_key == bindparam(slot))
        for slot in _KEY_SLOTS
    ]
    parts += [
        # The first key that extends it by whole words (best_match takes the first).
        select(pt).where(tenant, in_range("extends_from", "extends_to")).order_by(ordered).limit(1),
        # Keys of the same first word (similarity rewards a shared first word).
        select(pt)
        .where(tenant, in_range("word_from", "word_to"))
        .order_by(ordered)
        .limit(NEAR_PATTERN_LIMIT),
        # Its alphabetical neighbours on either side.
        select(pt)
        .where(tenant, ordered > bindparam("key", type_=Text))
        .order_by(ordered)
        .limit(NEAR_PATTERN_LIMIT // 2),
        select(pt)
        .where(tenant, ordered < bindparam("key", type_=Text))
        .order_by(ordered.desc())
        .limit(NEAR_PATTERN_LIMIT // 2),
    ]
    return parts


def candidate_params(tenant_id: str, merchant_key: str) -> dict[str, Any]:
    """The bind values of `candidate_parts` for a normalised key."""
    params: dict[str, Any] = dict.fromkeys(_KEY_SLOTS, merchant_key)
    params.update(zip(_KEY_SLOTS[1:], key_prefixes(merchant_key), strict=False))
    extends = merchant_key + " "
    word = first_word(merchant_key)
    params.update(
        tenant_id=tenant_id,
        key=merchant_key,
        # Only a key of MIN_PREFIX_KEY characters is extended (same_merchant); otherwise
        # an empty range.
        extends_from=extends,
        extends_to=merchant_key + _AFTER_SPACE if len(merchant_key) >= MIN_PREFIX_KEY else extends,
        word_from=word,
        word_to=word + _AFTER_SPACE,
    )
    return params


def union_of(parts: list[Select[Any]]) -> Any:
    """The parts as one UNION ALL (each wrapped: SQLite allows no LIMIT in a compound's
    members)."""
    return union_all(*(select(*part.subquery().c) for part in parts))


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
        self.page = Hot(
            select(pt)
            .where(
                pt.c.tenant_id == bindparam("tenant_id"),
                pt.c.merchant_key > bindparam("after"),
            )
            .order_by(pt.c.merchant_key)
            .limit(bindparam("limit")),
            compile_for,
        )
        self.candidates = Hot(union_of(candidate_parts(dialect)), compile_for)
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

    async def page(self, tenant_id: str, after: str, limit: int) -> list[PatternView]:
        params = {"tenant_id": tenant_id, "after": after, "limit": limit}
        return [pattern_view(row) for row in await self._tx.rows(self._sql.page, params)]

    async def candidates(self, tenant_id: str, merchant_key: str) -> list[PatternView]:
        rows = await self._tx.rows(self._sql.candidates, candidate_params(tenant_id, merchant_key))
        return unique_patterns(pattern_view(row) for row in rows)

    async def clear(self) -> None:
        await self._tx.execute(self._sql.clear)


def unique_patterns(views: Iterable[PatternView]) -> list[PatternView]:
    """Patterns found by several parts once each, by merchant key (best_match's order)."""
    return sorted({v.merchant_key: v for v in views}.values(), key=lambda v: v.merchant_key)
