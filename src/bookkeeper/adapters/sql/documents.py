"""The SQL document store: receipt and invoice files in the `documents` table (migration 0002).

Content-addressed per tenant: the key is (tenant, SHA-256 of the bytes), so storing a file
the tenant already has changes nothing (`INSERT … ON CONFLICT DO NOTHING`) and two tenants
uploading the same file each get their own row — one tenant can never learn, by a
"duplicate" answer, that another holds a file. Runs in the unit of work's transaction.

The reads (`get`, `content`, `read`: metadata and bytes in one statement, which the executor
uses) are hot statements: on PostgreSQL they run on the psycopg connection itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, select, text
from sqlalchemy.dialects import postgresql, sqlite

from bookkeeper.adapters.sql.schema import documents
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect
from bookkeeper.application.ports import StoredDocument

_METADATA = (
    documents.c.tenant_id,
    documents.c.sha256,
    documents.c.content_type,
    documents.c.filename,
    documents.c.size,
    documents.c.created_at,
    documents.c.uploaded_by,  # migration 0005
)
#: Where the content is in a row of _METADATA followed by the content.
_CONTENT = len(_METADATA)


def _stored(row: Any) -> StoredDocument:
    """A document from the first columns of a row (in the order of _METADATA)."""
    tenant_id, sha256, content_type, filename, size, created_at, uploaded_by = row[:_CONTENT]
    return StoredDocument(
        tenant_id=tenant_id,
        sha256=sha256,
        content_type=content_type,
        filename=filename,
        size=int(size),
        created_at=created_at if created_at.tzinfo is dt.UTC else created_at.astimezone(dt.UTC),
        uploaded_by=uploaded_by,
    )


class DocumentStatements:
    """The document reads of one dialect, as hot statements (compiled once)."""

    def __init__(self, dialect: str) -> None:
        compile_for = hot_dialect(dialect)
        d = documents
        key = (d.c.tenant_id == bindparam("tenant_id"), d.c.sha256 == bindparam("sha256"))
        # A plain read (ADR 0041): the approval path reads who uploaded the document.
        self.get = Hot(select(*_METADATA).where(*key), compile_for, standalone=True)
        self.content = Hot(select(d.c.content).where(*key), compile_for)
        # Metadata, and the bytes only when not larger than max_size (NULL otherwise).
        self.read = Hot(
            select(
                *_METADATA,
                case((d.c.size <= bindparam("max_size", type_=d.c.size.type), d.c.content)),
            ).where(*key),
            compile_for,
        )
        # Many documents in one read (PostgreSQL; SQLite reads them one by one).
        self.read_many = (
            Hot(
                text(
                    "SELECT d.tenant_id, d.sha256, d.content_type, d.filename, d.size, "
                    "d.created_at, d.uploaded_by, d.content FROM documents AS d JOIN unnest("
                    "CAST(:tenants AS text[]), CAST(:hashes AS text[])) AS k(tenant_id, sha256) "
                    "ON d.tenant_id = k.tenant_id AND d.sha256 = k.sha256 "
                    "WHERE d.size <= :max_size"
                ),
                compile_for,
            )
            if compile_for is not None
            else None
        )
        if self.read_many is not None:
            self.read_many.reads = True  # a SELECT, written as text


@cache
def _statements(dialect: str) -> DocumentStatements:
    return DocumentStatements(dialect)


class SqlDocuments:
    """DocumentStore on the unit of work's transaction (SQLAlchemy Core statements)."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = _statements(tx.dialect)

    async def put(
        self,
        tenant_id: str,
        content: bytes,
        content_type: str,
        filename: str,
        now: dt.datetime,
        *,
        uploaded_by: str | None = None,
    ) -> tuple[StoredDocument, bool]:
        sha256 = hashlib.sha256(content).hexdigest()
        insert = postgresql.insert if self._tx.dialect == "postgresql" else sqlite.insert
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
                uploaded_by=uploaded_by,
            )
            .on_conflict_do_nothing(index_elements=[documents.c.tenant_id, documents.c.sha256])
            .returning(*_METADATA)
        )
        row = (await self._tx.execute(stmt)).first()
        if row is not None:
            return _stored(row), True
        existing = await self.get(tenant_id, sha256)
        assert existing is not None  # the conflicting row is there (rows are never deleted)
        return existing, False

    async def _row(self, hot: Hot, params: dict[str, Any]) -> Any:
        rows = await self._tx.rows(hot, params)
        return rows[0] if rows else None

    async def get(self, tenant_id: str, sha256: str) -> StoredDocument | None:
        row = await self._row(self._sql.get, {"tenant_id": tenant_id, "sha256": sha256})
        return _stored(row) if row is not None else None

    async def content(self, tenant_id: str, sha256: str) -> bytes | None:
        row = await self._row(self._sql.content, {"tenant_id": tenant_id, "sha256": sha256})
        return bytes(row[0]) if row is not None else None

    async def read(
        self, tenant_id: str, sha256: str, *, max_size: int | None = None
    ) -> tuple[StoredDocument, bytes] | None:
        params = {"tenant_id": tenant_id, "sha256": sha256, "max_size": max_size}
        if max_size is None:
            params["max_size"] = 1 << 62
        row = await self._row(self._sql.read, params)
        if row is None or row[_CONTENT] is None:
            return None
        return _stored(row), bytes(row[_CONTENT])

    async def read_many(
        self, keys: Sequence[tuple[str, str]], *, max_size: int
    ) -> dict[tuple[str, str], tuple[StoredDocument, bytes]]:
        found: dict[tuple[str, str], tuple[StoredDocument, bytes]] = {}
        if self._sql.read_many is None:
            for tenant_id, sha256 in keys:
                document = await self.read(tenant_id, sha256, max_size=max_size)
                if document is not None:
                    found[(tenant_id, sha256)] = document
            return found
        if not keys:
            return found
        unique = list(dict.fromkeys(keys))
        params = {
            "tenants": [tenant for tenant, _ in unique],
            "hashes": [sha256 for _, sha256 in unique],
            "max_size": max_size,
        }
        for row in await self._tx.rows(self._sql.read_many, params):
            found[(row[0], row[1])] = (_stored(row), bytes(row[_CONTENT]))
        return found
