"""Learnt names on the service's SQL database (table `people_names`, migration 0025):
the NameStore of application/people.py.

One row per (tenant, subject), replaced when the person is seen under another name. Each
operation is one short transaction on its own pooled connection, never a caller's unit of
work; on SQLite it takes the database's writer turn first (as the conversation store does).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, MetaData, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import UtcDateTime

metadata = MetaData()

people_names = Table(
    "people_names",
    metadata,
    Column("tenant_id", Text(), primary_key=True),
    Column("subject", Text(), primary_key=True),
    Column("name", Text(), nullable=False),
    Column("learnt_at", UtcDateTime(), nullable=False),
    Index("ix_people_names_learnt_at", "learnt_at"),
)


class SqlNameStore:
    """The NameStore port on SQLite or PostgreSQL."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database
        self._sqlite = database.dialect == "sqlite"

    async def save(self, tenant: str, subject: str, name: str, at: dt.datetime) -> None:
        t = people_names
        insert = (sqlite.insert if self._sqlite else postgresql.insert)(t).values(
            tenant_id=tenant, subject=subject, name=name, learnt_at=at
        )
        statement = insert.on_conflict_do_update(
            index_elements=[t.c.tenant_id, t.c.subject],
            set_={"name": insert.excluded.name, "learnt_at": insert.excluded.learnt_at},
        )
        async with self._database.transaction() as connection:
            await connection.execute(statement)

    async def recent(self, limit: int) -> list[tuple[str, str, str]]:
        t = people_names
        statement = (
            select(t.c.tenant_id, t.c.subject, t.c.name)
            .order_by(t.c.learnt_at.desc(), t.c.tenant_id, t.c.subject)
            .limit(max(limit, 0))
        )
        async with self._database.transaction() as connection:
            rows = (await connection.execute(statement)).all()
        return [(r.tenant_id, r.subject, r.name) for r in rows]
