"""Per-tenant credentials on the service's SQL database (tables of migration 0018).

`tenant_credentials` holds one row per tenant and provider, the secret only as Fernet
ciphertext; `credentials_revision` is one row whose counter is bumped in the same
transaction as every change, so a replica learns that something changed with one
single-row read (the resolver's version check) and re-reads only then.

The store runs in its unit of work's transaction (`uow.credentials`, ADR 0044 §1): a change
and the audit event the credentials service records about it are committed together, or
neither is. Every change bumps the revision row first, so every change takes the same lock
order.
"""

from __future__ import annotations

from collections.abc import Callable

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

from bookkeeper.adapters.sql.schema import UtcDateTime
from bookkeeper.adapters.sql.session import Transaction
from bookkeeper.application.ports import StoredCredentials

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
    """The CredentialsStore port on SQLite or PostgreSQL, in a unit of work's transaction."""

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction

    async def get(self, tenant_id: str, provider: str) -> StoredCredentials | None:
        t = tenant_credentials
        statement = select(t).where(t.c.tenant_id == tenant_id, t.c.provider == provider)
        row = (await self._tx.execute(statement)).first()
        return None if row is None else _row(row)

    async def put(self, credentials: StoredCredentials) -> StoredCredentials:
        t = tenant_credentials
        # First: the revision row, which also serialises every change (row lock).
        await self._bump()
        previous = (
            await self._tx.execute(
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
            await self._tx.execute(
                insert(t).values(
                    tenant_id=credentials.tenant_id, provider=credentials.provider, **values
                )
            )
        else:
            await self._tx.execute(
                update(t)
                .where(t.c.tenant_id == credentials.tenant_id, t.c.provider == credentials.provider)
                .values(**values)
            )
        return msgspec.structs.replace(credentials, version=version)

    async def remove(self, tenant_id: str, provider: str) -> bool:
        t = tenant_credentials
        await self._bump()  # first, as every change (one lock order)
        result = await self._tx.execute(
            delete(t).where(t.c.tenant_id == tenant_id, t.c.provider == provider)
        )
        # None removed: the caller does not commit, so the bump is rolled back with it.
        return bool(result.rowcount)

    async def listing(self, tenant_id: str | None = None) -> list[StoredCredentials]:
        t = tenant_credentials
        statement = select(t).order_by(t.c.tenant_id, t.c.provider)
        if tenant_id is not None:
            statement = statement.where(t.c.tenant_id == tenant_id)
        rows = (await self._tx.execute(statement)).all()
        return [_row(row) for row in rows]

    async def revision(self) -> int:
        r = credentials_revision
        value = (await self._tx.execute(select(r.c.revision).where(r.c.id == 1))).scalar()
        return int(value or 0)

    async def tenant_count(self) -> int:
        t = tenant_credentials
        value = (await self._tx.execute(select(func.count(func.distinct(t.c.tenant_id))))).scalar()
        return int(value or 0)

    async def rewrap(self, rewrap: Callable[[str], str]) -> list[StoredCredentials]:
        t = tenant_credentials
        await self._bump()
        rows = [
            _row(row)
            for row in (
                await self._tx.execute(select(t).order_by(t.c.tenant_id, t.c.provider))
            ).all()
        ]
        rewrapped: list[StoredCredentials] = []
        for row in rows:
            ciphertext = rewrap(row.ciphertext)
            await self._tx.execute(
                update(t)
                .where(t.c.tenant_id == row.tenant_id, t.c.provider == row.provider)
                .values(ciphertext=ciphertext)
            )
            rewrapped.append(msgspec.structs.replace(row, ciphertext=ciphertext))
        return rewrapped

    async def _bump(self) -> None:
        r = credentials_revision
        await self._tx.execute(update(r).where(r.c.id == 1).values(revision=r.c.revision + 1))
