"""The purge's view of the SQL document store (migration 0014): list a tenant's documents
with their retention class; purge one by recording it in `document_purges` and deleting
it in the same transaction — the trigger lets the delete through only because of that
record, and only when its retention ended before today."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import document_purges, documents
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.ports import RetainedDocument, StoredDocument

_d = documents


class SqlDocumentRetention:
    """DocumentRetentionStore on a SqlDatabase."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    async def documents(self, tenant_id: str) -> list[RetainedDocument]:
        stmt = (
            select(
                _d.c.sha256,
                _d.c.content_type,
                _d.c.filename,
                _d.c.size,
                _d.c.created_at,
                _d.c.uploaded_by,
                _d.c.retention,
            )
            .where(_d.c.tenant_id == tenant_id)
            .order_by(_d.c.created_at, _d.c.sha256)
        )
        try:
            async with self._database.engine.connect() as connection:
                rows = (await connection.execute(stmt)).all()
        except Exception as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        return [
            RetainedDocument(
                document=StoredDocument(
                    tenant_id=tenant_id,
                    sha256=row.sha256,
                    content_type=row.content_type,
                    filename=row.filename,
                    size=int(row.size),
                    created_at=row.created_at.astimezone(dt.UTC),
                    uploaded_by=row.uploaded_by,
                ),
                retention=row.retention,
            )
            for row in rows
        ]

    async def purge(
        self,
        tenant_id: str,
        sha256: str,
        *,
        financial_year: int,
        retained_until: dt.date,
        purged_at: dt.datetime,
        purged_by: str,
    ) -> bool:
        database = self._database
        await database.acquire_writer()
        try:
            async with database.engine.begin() as connection:
                row = (
                    await connection.execute(
                        select(
                            _d.c.filename,
                            _d.c.content_type,
                            _d.c.size,
                            _d.c.created_at,
                            _d.c.retention,
                        ).where(_d.c.tenant_id == tenant_id, _d.c.sha256 == sha256)
                    )
                ).first()
                if row is None:
                    return False
                await connection.execute(
                    insert(document_purges).values(
                        tenant_id=tenant_id,
                        sha256=sha256,
                        filename=row.filename,
                        content_type=row.content_type,
                        size=row.size,
                        stored_at=row.created_at.astimezone(dt.UTC),
                        retention=row.retention,
                        financial_year=financial_year,
                        retained_until=retained_until,
                        purged_at=purged_at,
                        purged_by=purged_by,
                    )
                )
                deleted = await connection.execute(
                    delete(_d).where(_d.c.tenant_id == tenant_id, _d.c.sha256 == sha256)
                )
                return deleted.rowcount == 1
        except Exception as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        finally:
            database.release_writer()
