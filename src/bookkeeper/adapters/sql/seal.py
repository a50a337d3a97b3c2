"""The seal store on SQLite and PostgreSQL: `events` read, `event_chain` and `seals`
(migration 0011) appended (ADR 0024).

The sealer does not use a unit of work and takes no lock the writers take on PostgreSQL:
it reads committed events (READ COMMITTED; each SELECT one snapshot) and inserts a block's
chain rows in one bulk INSERT with its seal, in a short transaction of its own. Two
sealers racing for the same block collide on `event_chain`'s primary key or the seal's
number; the loser's transaction rolls back and it reports that it stored nothing.

On SQLite every writer takes the database's write turn (see database.py); the sealer
takes it too, for one block at a time, so writers wait at most one batch. Reads for
verify run in a deferred (read-only) transaction and do not take the turn, except on an
in-memory database whose one connection is shared.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    Table,
    Uuid,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.sql.database import _READ_ONLY, SqlDatabase
from bookkeeper.adapters.sql.schema import UtcDateTime, events, metadata
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.seal import ChainLink, Seal, StoredEvent

event_chain = Table(
    "event_chain",
    metadata,
    Column("position", BigInteger(), primary_key=True, autoincrement=False),
    Column("event_id", Uuid(), nullable=False),
    Column("hash", LargeBinary(), nullable=False),
)

seals = Table(
    "seals",
    metadata,
    Column("number", BigInteger(), primary_key=True, autoincrement=False),
    Column("first_position", BigInteger(), nullable=False),
    Column("last_position", BigInteger(), nullable=False),
    Column("event_count", Integer(), nullable=False),
    Column("skipped", JSON(), nullable=False),
    Column("head_hash", LargeBinary(), nullable=False),
    Column("previous_seal_hash", LargeBinary(), nullable=False),
    Column("seal_hash", LargeBinary(), nullable=False),
    Column("sealed_at", UtcDateTime(), nullable=False),
)

_e = events
_EVENT_COLUMNS = (
    _e.c.position,
    _e.c.id,
    _e.c.tenant_id,
    _e.c.stream_id,
    _e.c.version,
    _e.c.type,
    _e.c.schema_version,
    _e.c.status,
    _e.c.actor,
    _e.c.data,
    _e.c.metadata,
    _e.c.parent_id,
    _e.c.correlation_id,
    _e.c.created_at,
)
#: Seals read per page by verify.
_SEAL_PAGE = 500


def _event(row: Any) -> StoredEvent:
    return StoredEvent(*row)


def _seal(row: Any) -> Seal:
    return Seal(
        number=int(row.number),
        first_position=int(row.first_position),
        last_position=int(row.last_position),
        event_count=int(row.event_count),
        skipped=tuple(int(p) for p in row.skipped),
        head_hash=bytes(row.head_hash),
        previous_seal_hash=bytes(row.previous_seal_hash),
        sealed_at=row.sealed_at,
        seal_hash=bytes(row.seal_hash),
    )


def _link(row: Any) -> ChainLink:
    return ChainLink(int(row.position), row.event_id, bytes(row.hash))


class SqlSealStore:
    """SealStore on a SqlDatabase."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        database = self._database
        shared = database.dialect == "sqlite" and database._url.in_memory
        if shared:
            await database.acquire_writer()
        try:
            async with database.engine.connect() as connection:
                if database.dialect == "sqlite":
                    connection = await connection.execution_options(**{_READ_ONLY: True})
                await connection.begin()
                try:
                    yield connection
                finally:
                    await connection.rollback()
        except Exception as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        finally:
            if shared:
                database.release_writer()

    async def _rows(self, statement: Any) -> list[Any]:
        async with self._reading() as connection:
            return list((await connection.execute(statement)).all())

    async def latest_seal(self) -> Seal | None:
        rows = await self._rows(select(seals).order_by(seals.c.number.desc()).limit(1))
        return _seal(rows[0]) if rows else None

    async def times_after(self, position: int, limit: int) -> Sequence[tuple[int, dt.datetime]]:
        stmt = (
            select(_e.c.position, _e.c.created_at)
            .where(_e.c.position > position)
            .order_by(_e.c.position)
            .limit(limit)
        )
        return [(int(p), created_at) for p, created_at in await self._rows(stmt)]

    async def append_seal(self, links: Sequence[ChainLink], seal: Seal) -> bool:
        database = self._database
        sqlite = database.dialect == "sqlite"
        if sqlite:
            await database.acquire_writer()
        try:
            async with database.engine.begin() as connection:
                if links:
                    await connection.execute(
                        insert(event_chain),
                        [
                            {"position": x.position, "event_id": x.event_id, "hash": x.hash}
                            for x in links
                        ],
                    )
                await connection.execute(
                    insert(seals).values(
                        number=seal.number,
                        first_position=seal.first_position,
                        last_position=seal.last_position,
                        event_count=seal.event_count,
                        skipped=list(seal.skipped),
                        head_hash=seal.head_hash,
                        previous_seal_hash=seal.previous_seal_hash,
                        seal_hash=seal.seal_hash,
                        sealed_at=seal.sealed_at,
                    )
                )
        except IntegrityError:
            return False  # another sealer stored this block first
        except Exception as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        finally:
            if sqlite:
                database.release_writer()
        return True

    async def seals(self, from_position: int) -> AsyncIterator[Seal]:
        after = 0
        while True:
            stmt = (
                select(seals)
                .where(seals.c.last_position >= from_position, seals.c.number > after)
                .order_by(seals.c.number)
                .limit(_SEAL_PAGE)
            )
            page = [_seal(row) for row in await self._rows(stmt)]
            for seal in page:
                yield seal
            if len(page) < _SEAL_PAGE:
                return
            after = page[-1].number

    async def seal_before(self, position: int) -> Seal | None:
        stmt = (
            select(seals)
            .where(seals.c.last_position < position)
            .order_by(seals.c.number.desc())
            .limit(1)
        )
        rows = await self._rows(stmt)
        return _seal(rows[0]) if rows else None

    async def links_between(self, first: int, last: int) -> Sequence[ChainLink]:
        c = event_chain.c
        stmt = select(event_chain).where(c.position.between(first, last)).order_by(c.position)
        return [_link(row) for row in await self._rows(stmt)]

    async def events_between(self, first: int, last: int) -> Sequence[StoredEvent]:
        stmt = (
            select(*_EVENT_COLUMNS)
            .where(_e.c.position.between(first, last))
            .order_by(_e.c.position)
        )
        return [_event(row) for row in await self._rows(stmt)]

    async def link_of_event(self, event_id: uuid.UUID) -> ChainLink | None:
        stmt = select(event_chain).where(event_chain.c.event_id == event_id).limit(1)
        rows = await self._rows(stmt)
        return _link(rows[0]) if rows else None

    async def position_of_event(self, event_id: uuid.UUID) -> int | None:
        rows = await self._rows(select(_e.c.position).where(_e.c.id == event_id).limit(1))
        return int(rows[0][0]) if rows else None

    async def last_link_position(self) -> int | None:
        rows = await self._rows(select(func.max(event_chain.c.position)))
        return None if rows[0][0] is None else int(rows[0][0])

    async def count_after(self, position: int) -> int:
        rows = await self._rows(select(func.count()).where(_e.c.position > position))
        return int(rows[0][0])
