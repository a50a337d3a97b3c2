"""The sandbox store on the service's SQL database (tables of migration 0004).

Every operation is one short transaction on its own pooled connection, never the caller's
unit of work: the sandbox stands in for a remote system, whose writes do not roll back
with ours. On SQLite each operation takes the database's writer turn first (see
`bookkeeper.adapters.sql.database`), exactly like a unit of work, so the two queue instead
of failing with "database is locked". That also means the sandbox must not be called from
inside an open unit of work on SQLite: the turn would wait for itself, and SqlDatabase
refuses that with a RuntimeError.

Seeding is race-free: the transaction that seeds first inserts a marker row, and the
unique index on (tenant, system, kind, id) lets only one such insert succeed (PostgreSQL
makes a concurrent inserter wait for the first transaction and then skip; SQLite's writer
lock serialises them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    and_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.sandbox.store import (
    FIRST_NUMBER,
    SEED_MARKER,
    Change,
    NewFile,
    NewObject,
    Seed,
    StoredFile,
    StoredObject,
)
from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import UtcDateTime
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.errors import ExternalUnavailable, StorageUnavailable

#: SqlDatabase's execution option for a deferred (read-only) BEGIN on SQLite.
_READ_ONLY = "bookkeeper_read_only"

metadata = MetaData()

sandbox_objects = Table(
    "sandbox_objects",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True),
    Column("tenant_id", Text(), nullable=False),
    Column("system", Text(), nullable=False),
    Column("kind", Text(), nullable=False),
    Column("id", Text(), nullable=False),
    Column("reference", Text(), nullable=True),
    Column("date", Date(), nullable=True),
    Column("data", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "system", "kind", "id", name="uq_sandbox_objects_key"),
    Index("ix_sandbox_objects_date", "tenant_id", "system", "kind", "date"),
    Index("ix_sandbox_objects_reference", "tenant_id", "system", "kind", "reference"),
    sqlite_autoincrement=True,
)

sandbox_files = Table(
    "sandbox_files",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True),
    Column("tenant_id", Text(), nullable=False),
    Column("system", Text(), nullable=False),
    Column("id", Text(), nullable=False),
    Column("owner_kind", Text(), nullable=False),
    Column("owner_id", Text(), nullable=False),
    Column("filename", Text(), nullable=False),
    Column("content_type", Text(), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("content", LargeBinary(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "system", "id", name="uq_sandbox_files_key"),
    Index("ix_sandbox_files_owner", "tenant_id", "system", "owner_kind", "owner_id"),
    sqlite_autoincrement=True,
)

_o = sandbox_objects.c
_f = sandbox_files.c
_OBJECT_COLUMNS = (_o.kind, _o.id, _o.reference, _o.date, _o.data, _o.created_at)
_FILE_COLUMNS = (
    _f.id,
    _f.owner_kind,
    _f.owner_id,
    _f.filename,
    _f.content_type,
    _f.size,
    _f.created_at,
)


def _builtins(data: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready data (what comes back from the column is what went in)."""
    result: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(data))
    return result


def _object(row: Any) -> StoredObject:
    kind, object_id, reference, date, data, created_at = row
    if isinstance(data, str | bytes):  # a driver that hands JSON back undecoded
        data = msgspec.json.decode(data)
    return StoredObject(
        kind=kind,
        id=object_id,
        reference=reference,
        date=date,
        data=data,
        created_at=created_at,
    )


def _file(row: Any) -> StoredFile:
    file_id, owner_kind, owner_id, filename, content_type, size, created_at = row
    return StoredFile(
        id=file_id,
        owner_kind=owner_kind,
        owner_id=owner_id,
        filename=filename,
        content_type=content_type,
        size=size,
        created_at=created_at,
    )


class SqlSandboxStore:
    """`SandboxStore` on the tables of migration 0004."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database
        self._sqlite = database.dialect == "sqlite"
        #: (tenant, system) pairs known to be seeded: skips the check after the first call.
        self._seeded: set[tuple[str, str]] = set()

    @asynccontextmanager
    async def _transaction(self, system: str, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """One transaction on its own connection, with the writer turn on SQLite; database
        failures become ExternalUnavailable of the sandbox system."""
        if self._sqlite:
            try:
                await self._database.acquire_writer()
            except StorageUnavailable as error:
                raise ExternalUnavailable(error.message, system=f"sandbox-{system}") from error
        try:
            async with self._database.engine.connect() as connection:
                if self._sqlite and not write:
                    await connection.execution_options(**{_READ_ONLY: True})
                async with connection.begin():
                    yield connection
        except (DBAPIError, PoolTimeoutError, OSError) as error:
            translated = storage_error(error)
            if isinstance(translated, StorageUnavailable):
                raise ExternalUnavailable(
                    f"the sandbox {system} is unavailable: {translated.message}",
                    system=f"sandbox-{system}",
                ) from error
            raise
        finally:
            if self._sqlite:
                self._database.release_writer()

    def _insert(self, table: Table) -> Any:
        if self._database.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def seed_once(
        self, tenant_id: str, system: str, seed: Callable[[], Seed], now: dt.datetime
    ) -> None:
        if (tenant_id, system) in self._seeded:
            return
        kind, marker = SEED_MARKER
        async with self._transaction(system, write=True) as connection:
            claimed = await connection.execute(
                self._insert(sandbox_objects)
                .values(
                    tenant_id=tenant_id,
                    system=system,
                    kind=kind,
                    id=marker,
                    data={},
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "system", "kind", "id"])
                .returning(_o.seq)
            )
            if claimed.first() is not None:
                planted = seed()
                for new in planted.objects:
                    await self._put(connection, tenant_id, system, new, now)
                for file in planted.files:
                    await self._put_file(connection, tenant_id, system, file, now)
        self._seeded.add((tenant_id, system))

    async def add(self, tenant_id: str, system: str, new: NewObject, now: dt.datetime) -> str:
        async with self._transaction(system, write=True) as connection:
            return await self._put(connection, tenant_id, system, new, now)

    async def _put(
        self,
        connection: AsyncConnection,
        tenant_id: str,
        system: str,
        new: NewObject,
        now: dt.datetime,
    ) -> str:
        # A numbered object is inserted under a placeholder id, then renumbered from its
        # row's sequence number in the same transaction: unique without a race.
        object_id = new.id if new.id is not None else f"new-{uuid.uuid4()}"
        result = await connection.execute(
            sandbox_objects.insert()
            .values(
                tenant_id=tenant_id,
                system=system,
                kind=new.kind,
                id=object_id,
                reference=new.reference,
                date=new.date,
                data=_builtins(new.data),
                created_at=now,
            )
            .returning(_o.seq)
        )
        seq = int(result.scalar_one())
        if new.id is None:
            object_id = str(FIRST_NUMBER + seq)
            await connection.execute(
                update(sandbox_objects).where(_o.seq == seq).values(id=object_id)
            )
        return object_id

    async def get(
        self, tenant_id: str, system: str, kind: str, object_id: str
    ) -> StoredObject | None:
        async with self._transaction(system, write=False) as connection:
            row = (
                await connection.execute(
                    select(*_OBJECT_COLUMNS).where(
                        _o.tenant_id == tenant_id,
                        _o.system == system,
                        _o.kind == kind,
                        _o.id == object_id,
                    )
                )
            ).first()
        return None if row is None else _object(row)

    async def find(
        self,
        tenant_id: str,
        system: str,
        kind: str,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        reference: str | None = None,
    ) -> list[StoredObject]:
        conditions = [_o.tenant_id == tenant_id, _o.system == system, _o.kind == kind]
        if start is not None:
            conditions.append(_o.date >= start)
        if end is not None:
            conditions.append(_o.date <= end)
        if reference is not None:
            conditions.append(_o.reference == reference)
        async with self._transaction(system, write=False) as connection:
            rows = (
                await connection.execute(
                    select(*_OBJECT_COLUMNS).where(and_(*conditions)).order_by(_o.seq)
                )
            ).all()
        return [_object(row) for row in rows]

    async def update(
        self, tenant_id: str, system: str, kind: str, object_id: str, change: Change
    ) -> StoredObject | None:
        key = and_(
            _o.tenant_id == tenant_id,
            _o.system == system,
            _o.kind == kind,
            _o.id == object_id,
        )
        async with self._transaction(system, write=True) as connection:
            # FOR UPDATE on PostgreSQL (SQLite omits it: its writer lock is held already).
            row = (
                await connection.execute(select(*_OBJECT_COLUMNS).where(key).with_for_update())
            ).first()
            if row is None:
                return None
            stored = _object(row)
            data = _builtins(change(_builtins(stored.data)))
            await connection.execute(update(sandbox_objects).where(key).values(data=data))
        return msgspec.structs.replace(stored, data=data)

    async def add_file(self, tenant_id: str, system: str, new: NewFile, now: dt.datetime) -> str:
        async with self._transaction(system, write=True) as connection:
            return await self._put_file(connection, tenant_id, system, new, now)

    async def _put_file(
        self,
        connection: AsyncConnection,
        tenant_id: str,
        system: str,
        new: NewFile,
        now: dt.datetime,
    ) -> str:
        await connection.execute(
            sandbox_files.insert().values(
                tenant_id=tenant_id,
                system=system,
                id=new.id,
                owner_kind=new.owner_kind,
                owner_id=new.owner_id,
                filename=new.filename,
                content_type=new.content_type,
                size=len(new.content),
                content=bytes(new.content),
                created_at=now,
            )
        )
        return new.id

    async def files(
        self, tenant_id: str, system: str, owner_kind: str, owner_ids: Sequence[str]
    ) -> list[StoredFile]:
        if not owner_ids:
            return []
        async with self._transaction(system, write=False) as connection:
            rows = (
                await connection.execute(
                    select(*_FILE_COLUMNS)
                    .where(
                        _f.tenant_id == tenant_id,
                        _f.system == system,
                        _f.owner_kind == owner_kind,
                        _f.owner_id.in_(list(owner_ids)),
                    )
                    .order_by(_f.seq)
                )
            ).all()
        return [_file(row) for row in rows]

    async def content(self, tenant_id: str, system: str, file_id: str) -> bytes | None:
        async with self._transaction(system, write=False) as connection:
            value = (
                await connection.execute(
                    select(_f.content).where(
                        _f.tenant_id == tenant_id, _f.system == system, _f.id == file_id
                    )
                )
            ).scalar_one_or_none()
        return None if value is None else bytes(value)
