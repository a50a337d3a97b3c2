"""The purge's view of the SQL document store (migration 0014): list a tenant's documents
with their retention class and the date of what they document; purge one by recording it
in `document_purges` and deleting it in the same transaction — the trigger lets the delete
through only because of that record, and only when the retention it computes itself from
the same booking date (migration 0026, `booked_on_sql`) ended before today and the record
says that same day."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, literal_column, select

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.proposals import (
    document_hash_sql as document_hash_sql,
)  # migration 0026
from bookkeeper.adapters.sql.schema import document_purges, documents
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.ports import RetainedDocument, StoredDocument

_d = documents


def booked_on_sql(dialect: str, tenant: str, sha256: str) -> str:
    """The date of what a document documents, as a scalar SQL subquery of `dialect`: the
    latest journal-line date of the tenant's proposals that name the document and of the
    corrections and reversals of those (a later booking only lengthens the retention);
    NULL while none is booked. `tenant` and `sha256` are SQL expressions (a column, or the
    trigger's OLD.…). The purge's listing and the DELETE trigger (migration 0026, which
    imports it so that the two judge by the same date) both use it."""
    # Every piece is the code's own SQL (column names, OLD.…), never a value from input.
    named = document_hash_sql(dialect)
    # lower() on both sides: SQLite uses the expression index only without an affinity.
    mine = f"p.tenant_id = {tenant} AND {named} = lower({sha256})"
    named_by = f"SELECT p.id FROM proposals p WHERE {mine}"  # noqa: S608
    corrections = (
        f"SELECT q.id FROM proposals q WHERE q.tenant_id = {tenant} "  # noqa: S608
        f"AND q.target_proposal_id IN ({named_by})"
    )
    return (
        f"(SELECT max(l.date) FROM journal_lines l WHERE l.tenant_id = {tenant} "  # noqa: S608
        f"AND l.proposal_id IN ({named_by} UNION ALL {corrections}))"
    )


class _Gone(Exception):
    """The document went between the purge's read and its delete (rolls the record back)."""


def _date(value: object) -> dt.date | None:
    """A date read from a raw SQL expression (SQLite gives its ISO text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


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
                literal_column(
                    booked_on_sql(self._database.dialect, "documents.tenant_id", "documents.sha256")
                ).label("booked_on"),
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
                booked_on=_date(row.booked_on),
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
                if deleted.rowcount != 1:
                    # Another purge deleted it after our read (PostgreSQL: our DELETE
                    # waited for its commit): our record would document a second
                    # deletion that never happened, in an append-only table.
                    raise _Gone
                return True
        except _Gone:
            return False
        except Exception as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        finally:
            database.release_writer()
