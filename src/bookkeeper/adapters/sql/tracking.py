"""Tracking positions on SQL (`tracking`, migration 0009): how far each subscriber of the
log has got, in the unit of work's transaction.

`advance` is an optimistic compare-and-set, one or two hot statements: from 0 it inserts
the subscriber's row (`ON CONFLICT DO NOTHING`: a row already there is left to the UPDATE),
otherwise `UPDATE … WHERE subscriber = :s AND position = :expected`; it moved the
subscriber when a row came back. On PostgreSQL a concurrent advance of the same subscriber
waits for the first transaction and then finds its row changed (False); on SQLite units of
work are serialised anyway. Positions are not a projection: replay leaves them alone.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from bookkeeper.adapters.sql.schema import events, tracking
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect


class TrackingStatements:
    """The tracking store's fixed statements, built once per dialect so their compiled
    forms stay cached."""

    def __init__(self, dialect: str) -> None:
        compile_for = hot_dialect(dialect)
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        t = tracking
        # Not named like a column: SQLAlchemy reserves those names in an UPDATE for its SET.
        subscriber = bindparam("who", type_=t.c.subscriber.type)
        to = bindparam("to", type_=t.c.position.type)
        now = bindparam("now", type_=t.c.updated_at.type)
        self.position = Hot(select(t.c.position).where(t.c.subscriber == subscriber), compile_for)
        self.insert = Hot(
            insert(t)
            .values(subscriber=subscriber, position=to, updated_at=now)
            .on_conflict_do_nothing(index_elements=[t.c.subscriber])
            .returning(t.c.subscriber),
            compile_for,
        )
        self.update = Hot(
            update(t)
            .where(
                t.c.subscriber == subscriber,
                t.c.position == bindparam("expected", type_=t.c.position.type),
            )
            .values(position=to, updated_at=now)
            .returning(t.c.subscriber),
            compile_for,
        )
        self.all = Hot(select(t.c.subscriber, t.c.position).order_by(t.c.subscriber), compile_for)
        # The log's primary key: one step down its index.
        self.head = Hot(select(func.coalesce(func.max(events.c.position), 0)), compile_for)
        self.horizon = (
            Hot(
                text(
                    "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
                    "FROM pg_current_snapshot() AS s"
                ),
                compile_for,
            )
            if dialect == "postgresql"
            else None
        )
        if self.horizon is not None:
            self.horizon.reads = True  # a SELECT, written as text
        # The writers' floors (migration 0029): a statement of its own, before the page.
        self.settled = (
            Hot(text("SELECT events_settled_position()"), compile_for)
            if dialect == "postgresql"
            else None
        )
        if self.settled is not None:
            self.settled.reads = True


@cache
def statements_for(dialect: str) -> TrackingStatements:
    """The tracking statements of a dialect (built on first use, then shared)."""
    return TrackingStatements(dialect)


class SqlTracking:
    """The TrackingStore port on the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)

    async def position(self, subscriber: str) -> int:
        rows = await self._tx.rows(self._sql.position, {"who": subscriber})
        return int(rows[0][0]) if rows else 0

    async def advance(self, subscriber: str, expected: int, position: int) -> bool:
        now = dt.datetime.now(dt.UTC)
        moved = {"who": subscriber, "to": position, "now": now}
        if expected == 0 and await self._tx.rows(self._sql.insert, moved):
            return True
        return bool(await self._tx.rows(self._sql.update, moved | {"expected": expected}))

    async def all(self) -> dict[str, int]:
        rows = await self._tx.rows(self._sql.all, {})
        return {subscriber: int(position) for subscriber, position in rows}

    async def head(self) -> int:
        rows = await self._tx.rows(self._sql.head, {})
        return int(rows[0][0])

    async def horizon(self) -> tuple[int, int] | None:
        if self._sql.horizon is None:
            return None  # SQLite: one writer at a time; holes are settled by time
        rows = await self._tx.rows(self._sql.horizon, {})
        return int(rows[0][0]), int(rows[0][1])

    async def settled(self) -> int | None:
        if self._sql.settled is None:
            return None  # SQLite: one writer at a time, positions commit in order
        rows = await self._tx.rows(self._sql.settled, {})
        return int(rows[0][0])
