"""The SQL document store: receipt and invoice files in the `documents` table (migration 0002).

Content-addressed per tenant: the key is (tenant, SHA-256 of the bytes), so storing a file
the tenant already has changes nothing (`INSERT … ON CONFLICT DO NOTHING`) and two tenants
uploading the same file each get their own row — one tenant can never learn, by a
"duplicate" answer, that another holds a file. Runs in the unit of work's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from bookkeeper.adapters.sql.schema import documents
from bookkeeper.application.ports import StoredDocument

if TYPE_CHECKING:
    from bookkeeper.adapters.sql.unit_of_work import SqlUnitOfWork

_METADATA = (
    documents.c.tenant_id,
    documents.c.sha256,
    documents.c.content_type,
    documents.c.filename,
    documents.c.size,
    documents.c.created_at,
)


def _stored(row: Any) -> StoredDocument:
    created_at: dt.datetime = row.created_at
    return StoredDocument(
        tenant_id=row.tenant_id,
        sha256=row.sha256,
        content_type=row.content_type,
        filename=row.filename,
        size=int(row.size),
        created_at=created_at if created_at.tzinfo is dt.UTC else created_at.astimezone(dt.UTC),
    )


class SqlDocuments:
    """DocumentStore on the unit of work's connection (SQLAlchemy Core statements)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def put(
        self, tenant_id: str, content: bytes, content_type: str, filename: str, now: dt.datetime
    ) -> tuple[StoredDocument, bool]:
        sha256 = hashlib.sha256(content).hexdigest()
        insert = (
            postgresql.insert if self._uow.statements.dialect == "postgresql" else sqlite.insert
        )
        stmt = (
            insert(documents)
            .values(
                tenant_id=tenant_id,
                sha256=sha256,
                content_type=content_type,
                filename=filename,
                size=len(content),
                content=content,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[documents.c.tenant_id, documents.c.sha256])
            .returning(*_METADATA)
        )
        row = (await self._uow.execute(stmt)).first()
        if row is not None:
            return _stored(row), True
        existing = await self.get(tenant_id, sha256)
        assert existing is not None  # the conflicting row is there (rows are never deleted)
        return existing, False

    async def get(self, tenant_id: str, sha256: str) -> StoredDocument | None:
        stmt = select(*_METADATA).where(
            documents.c.tenant_id == tenant_id, documents.c.sha256 == sha256
        )
        row = (await self._uow.execute(stmt)).first()
        return _stored(row) if row is not None else None

    async def content(self, tenant_id: str, sha256: str) -> bytes | None:
        stmt = select(documents.c.content).where(
            documents.c.tenant_id == tenant_id, documents.c.sha256 == sha256
        )
        value = (await self._uow.execute(stmt)).scalar_one_or_none()
        return bytes(value) if value is not None else None
