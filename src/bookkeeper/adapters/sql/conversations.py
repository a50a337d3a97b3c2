"""Conversation messages on the service's SQL database (table of migration 0007).

Each operation is one short transaction on its own pooled connection, never a caller's unit
of work. On SQLite it takes the database's writer turn first (see
`bookkeeper.adapters.sql.database`), like a unit of work, so the two queue instead of
failing with "database is locked" — and so it must not be called from inside an open unit
of work (ConversationService never does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Identity,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    delete,
    insert,
    select,
)

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import UtcDateTime
from bookkeeper.application.conversation import HISTORY_LIMIT, ConversationMessage

metadata = MetaData()

conversation_messages = Table(
    "conversation_messages",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True),
    Column("id", Uuid(), nullable=False, unique=True),
    Column("tenant_id", Text(), nullable=False),
    Column("channel_id", Text(), nullable=False),
    Column("user_actor", Text(), nullable=False),
    Column("direction", Text(), nullable=False),
    Column("text", Text(), nullable=False),
    Column("language", Text(), nullable=False),
    Column("proposal_id", Uuid(), nullable=True),
    Column("proposal_status", Text(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)


class SqlConversationStore:
    """The ConversationStore port on SQLite or PostgreSQL."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    async def add(self, messages: Sequence[ConversationMessage]) -> None:
        if not messages:
            return
        rows = [
            {
                "id": m.id,
                "tenant_id": m.tenant_id,
                "channel_id": m.channel_id,
                "user_actor": m.user,
                "direction": m.direction,
                "text": m.text.replace("\x00", ""),
                "language": m.language,
                "proposal_id": m.proposal_id,
                "proposal_status": m.proposal_status,
                "created_at": m.created_at,
            }
            for m in messages
        ]
        async with self._database.transaction() as connection:
            await connection.execute(insert(conversation_messages), rows)

    async def history(
        self, tenant_id: str, channel_id: str, limit: int = HISTORY_LIMIT
    ) -> list[ConversationMessage]:
        t = conversation_messages
        statement = (
            select(t)
            .where(t.c.tenant_id == tenant_id, t.c.channel_id == channel_id)
            .order_by(t.c.seq.desc())
            .limit(max(limit, 0))
        )
        async with self._database.transaction() as connection:
            rows = (await connection.execute(statement)).all()
        return [
            ConversationMessage(
                id=r.id,
                tenant_id=r.tenant_id,
                channel_id=r.channel_id,
                user=r.user_actor,
                direction=r.direction,
                text=r.text,
                created_at=r.created_at,
                language=r.language,
                proposal_id=r.proposal_id,
                proposal_status=r.proposal_status,
            )
            for r in reversed(rows)
        ]

    async def purge(self, before: dt.datetime) -> int:
        statement = delete(conversation_messages).where(conversation_messages.c.created_at < before)
        async with self._database.transaction() as connection:
            result = await connection.execute(statement)
        return int(result.rowcount or 0)
