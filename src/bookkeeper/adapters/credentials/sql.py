"""Per-tenant credentials on the service's SQL database (tables of migration 0018).

`tenant_credentials` holds one row per tenant and provider, the secret only as Fernet
ciphertext; `credentials_revision` is one row whose counter is bumped in the same
transaction as every change, so a replica learns that something changed with one
single-row read (the resolver's version check) and re-reads only then.

Each operation is one short transaction on its own pooled connection, never a caller's unit
of work; on SQLite it takes the database's writer turn first (as the conversation store).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import UtcDateTime
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.credentials import StoredCredentials

metadata = MetaData()

tenant_credentials = Table(
    "tenant_credentials",
    metadata,
    Column("tenant_id", Text(), primary_key=True),
    Column("provider", Text(), primary_key=True),
    Column("company", Text(), nullable=True),
    Column("base_url", Text(), nullable=True),
    Column("ciphertext", Text(), nullable=False),
    Column("fingerprint", Text(), nullable=False),
    Column("set_by", Text(), nullable=False),
    Column("set_at", UtcDateTime(), nullable=False),
    Column("version", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
)

credentials_revision = Table(
    "credentials_revision",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("revision", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
)


class _NothingRemoved(Exception):
    """Rolls back a removal that found no row."""


def _row(row: object) -> StoredCredentials:
    return StoredCredentials(
        tenant_id=row.tenant_id,  # type: ignore[attr-defined]
        provider=row.provider,  # type: ignore[attr-defined]
        company=row.company,  # type: ignore[attr-defined]
        base_url=row.base_url,  # type: ignore[attr-defined]
        ciphertext=row.ciphertext,  # type: ignore[attr-defined]
        fingerprint=row.fingerprint,  # type: ignore[attr-defined]
        set_by=row.set_by,  # type: ignore[attr-defined]
        set_at=row.set_at,  # type: ignore[attr-defined]
        version=int(row.version),  # type: ignore[attr-defined]
    )


class SqlCredentialsStore:
    """The CredentialsStore port on SQLite or PostgreSQL."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database
        self._sqlite = database.dialect == "sqlite"

    async def get(self, tenant_id: str, provider: str) -> StoredCredentials | None:
        t = tenant_credentials
        statement = select(t).where(t.c.tenant_id == tenant_id, t.c.provider == provider)
        async with self._transaction() as connection:
            row = (await connection.execute(statement)).first()
        return None if row is None else _row(row)

    async def put(self, credentials: StoredCredentials) -> StoredCredentials:
        t = tenant_credentials
        async with self._transaction() as connection:
            # First: the revision row, which also serialises every change (row lock).
            await self._bump(connection)
            previous = (
                await connection.execute(
                    select(t.c.version).where(
                        t.c.tenant_id == credentials.tenant_id, t.c.provider == credentials.provider
                    )
                )
            ).scalar()
            version = int(previous) + 1 if previous is not None else 1
            values = {
                "company": credentials.company,
                "base_url": credentials.base_url,
                "ciphertext": credentials.ciphertext,
                "fingerprint": credentials.fingerprint,
                "set_by": credentials.set_by,
                "set_at": credentials.set_at,
                "version": version,
            }
            if previous is None:
                await connection.execute(
                    insert(t).values(
                        tenant_id=credentials.tenant_id, provider=credentials.provider, **values
                    )
                )
            else:
                await connection.execute(
                    update(t)
                    .where(
                        t.c.tenant_id == credentials.tenant_id, t.c.provider == credentials.provider
                    )
                    .values(**values)
                )
        return msgspec.structs.replace(credentials, version=version)

    async def remove(self, tenant_id: str, provider: str) -> bool:
        t = tenant_credentials
        try:
            async with self._transaction() as connection:
                await self._bump(connection)  # first, as every change (one lock order)
                result = await connection.execute(
                    delete(t).where(t.c.tenant_id == tenant_id, t.c.provider == provider)
                )
                if not result.rowcount:
                    raise _NothingRemoved  # rolls the bump back: nothing changed
        except _NothingRemoved:
            return False
        return True

    async def listing(self, tenant_id: str | None = None) -> list[StoredCredentials]:
        t = tenant_credentials
        statement = select(t).order_by(t.c.tenant_id, t.c.provider)
        if tenant_id is not None:
            statement = statement.where(t.c.tenant_id == tenant_id)
        async with self._transaction() as connection:
            rows = (await connection.execute(statement)).all()
        return [_row(row) for row in rows]

    async def revision(self) -> int:
        r = credentials_revision
        async with self._transaction() as connection:
            value = (await connection.execute(select(r.c.revision).where(r.c.id == 1))).scalar()
        return int(value or 0)

    async def tenant_count(self) -> int:
        t = tenant_credentials
        async with self._transaction() as connection:
            value = (
                await connection.execute(select(func.count(func.distinct(t.c.tenant_id))))
            ).scalar()
        return int(value or 0)

    async def rewrap(self, rewrap: Callable[[str], str]) -> int:
        t = tenant_credentials
        async with self._transaction() as connection:
            await self._bump(connection)
            rows = (
                await connection.execute(select(t.c.tenant_id, t.c.provider, t.c.ciphertext))
            ).all()
            for row in rows:
                await connection.execute(
                    update(t)
                    .where(t.c.tenant_id == row.tenant_id, t.c.provider == row.provider)
                    .values(ciphertext=rewrap(row.ciphertext))
                )
        return len(rows)

    @staticmethod
    async def _bump(connection: AsyncConnection) -> None:
        r = credentials_revision
        await connection.execute(update(r).where(r.c.id == 1).values(revision=r.c.revision + 1))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        # SQLite: every transaction takes the database's turn, as a unit of work does (an
        # in-memory database is one shared connection). Never called inside a unit of work.
        turn = self._sqlite
        if turn:
            await self._database.acquire_writer()
        try:
            async with self._database.engine.connect() as connection, connection.begin():
                yield connection
        except (DBAPIError, PoolTimeoutError, OSError) as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        finally:
            if turn:
                self._database.release_writer()
