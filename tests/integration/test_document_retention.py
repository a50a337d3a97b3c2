"""Stored documents are as immutable as events, and `purge documents` deletes only what is
past retention (issue 12), on SQLite and PostgreSQL.

Retention is counted from the real date (the database's trigger checks it too), so the
documents here are stored at dates relative to today: 7 years ago (primary: past), last
year (primary: kept), 5 years ago as secondary (3.5 years: past), last year as secondary
(kept).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import insert, text, update

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.retention import SqlDocumentRetention
from bookkeeper.adapters.sql.schema import document_purges, documents
from bookkeeper.application.retention import Retention
from bookkeeper.domain.retention import Retention as Period
from bookkeeper.domain.retention import RetentionClass
from bookkeeper.entrypoints.cli.main import main

NOW = dt.datetime.now(dt.UTC)
TENANT = "acme"
PDF = b"%PDF-1.4 retention test "


def years_ago(years: int) -> dt.datetime:
    return NOW.replace(year=NOW.year - years, month=6, day=15, hour=12)


async def store(database: SqlDatabase, body: bytes, at: dt.datetime, kind: str = "primary") -> str:
    async with database.uow_factory()() as uow:
        document, _ = await uow.documents.put(TENANT, PDF + body, "application/pdf", "r.pdf", at)
        await uow.commit()
    if kind != "primary":  # no upload sets it yet: as an operator would, before any trigger
        async with database.engine.begin() as connection:
            if database.dialect != "postgresql":
                await connection.execute(text("DROP TRIGGER documents_no_update"))
            else:
                await connection.execute(
                    text("ALTER TABLE documents DISABLE TRIGGER documents_no_update_delete")
                )
            await connection.execute(
                update(documents)
                .where(documents.c.sha256 == document.sha256)
                .values(retention=kind)
            )
            if database.dialect == "postgresql":
                await connection.execute(
                    text("ALTER TABLE documents ENABLE ALWAYS TRIGGER documents_no_update_delete")
                )
            else:
                await connection.execute(
                    text(
                        "CREATE TRIGGER documents_no_update BEFORE UPDATE ON documents "
                        "BEGIN SELECT RAISE(ABORT, 'documents are immutable'); END"
                    )
                )
    return document.sha256


async def refused(database: SqlDatabase, sql: str, *, replica: bool = False) -> bool:
    """Whether the statement is refused by the database."""
    try:
        async with database.engine.begin() as connection:
            if replica:
                await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(text(sql))
    except Exception:
        return True
    return False


async def seeded(database: SqlDatabase) -> dict[str, str]:
    return {
        "old": await store(database, b"old", years_ago(7)),
        "young": await store(database, b"young", years_ago(1)),
        "old-secondary": await store(database, b"old2", years_ago(5), "secondary"),
        "young-secondary": await store(database, b"young2", years_ago(1), "secondary"),
    }


async def hashes(database: SqlDatabase) -> set[str]:
    async with database.engine.connect() as connection:
        return {r[0] for r in await connection.execute(text("SELECT sha256 FROM documents"))}


async def test_documents_refuse_update_and_delete(sql_database: SqlDatabase) -> None:
    docs = await seeded(sql_database)
    old = docs["old"]
    assert await refused(
        sql_database, f"UPDATE documents SET filename = 'x' WHERE sha256 = '{old}'"
    )
    assert await refused(sql_database, f"DELETE FROM documents WHERE sha256 = '{old}'")
    assert await refused(sql_database, "DELETE FROM documents")
    if sql_database.dialect == "postgresql":
        assert await refused(sql_database, "TRUNCATE documents")
        for sql in (
            f"UPDATE documents SET size = 1 WHERE sha256 = '{old}'",
            "DELETE FROM documents",
        ):
            assert await refused(sql_database, sql, replica=True)
    assert await hashes(sql_database) == set(docs.values())


async def test_purge_deletes_only_what_is_past_retention(sql_database: SqlDatabase) -> None:
    docs = await seeded(sql_database)
    retention = Retention(SqlDocumentRetention(sql_database))

    dry = await retention.purge_documents(TENANT, now=NOW, actor="test", dry_run=True)
    assert {o.sha256 for o in dry.purged} == {docs["old"], docs["old-secondary"]}
    assert await hashes(sql_database) == set(docs.values())

    report = await retention.purge_documents(TENANT, now=NOW, actor="test")
    assert {o.sha256 for o in report.purged} == {docs["old"], docs["old-secondary"]}
    assert {o.sha256 for o in report.kept} == {docs["young"], docs["young-secondary"]}
    assert report.refused == []
    young = next(o for o in report.kept if o.sha256 == docs["young"])
    assert f"financial year {NOW.year - 1}" in young.reason
    assert f"kept until {NOW.year + 4}-12-31" in young.reason
    secondary = next(o for o in report.kept if o.sha256 == docs["young-secondary"])
    assert f"kept until {NOW.year + 3}-06-30" in secondary.reason
    assert await hashes(sql_database) == {docs["young"], docs["young-secondary"]}
    async with sql_database.engine.connect() as connection:
        rows = (await connection.execute(document_purges.select())).all()
    assert {(r.sha256, r.retention, r.financial_year, r.purged_by) for r in rows} == {
        (docs["old"], "primary", NOW.year - 7, "test"),
        (docs["old-secondary"], "secondary", NOW.year - 5, "test"),
    }
    # The record of what was deleted is itself append-only.
    assert await refused(sql_database, "DELETE FROM document_purges")
    assert await refused(sql_database, "UPDATE document_purges SET purged_by = 'x'")

    # Named young documents are refused, and stay.
    again = await retention.purge_documents(
        TENANT, now=NOW, actor="test", only=[docs["young"], docs["old"]]
    )
    assert {o.sha256 for o in again.refused} == {docs["young"], docs["old"]}  # old: gone
    assert again.purged == []
    assert await hashes(sql_database) == {docs["young"], docs["young-secondary"]}


async def test_a_forged_purge_record_does_not_unlock_a_young_document(
    sql_database: SqlDatabase,
) -> None:
    """The trigger checks the retention date itself: a purge row claiming a future end of
    retention does not let the delete through."""
    docs = await seeded(sql_database)
    young = docs["young"]
    period = Period(RetentionClass.PRIMARY, NOW.year - 1)
    async with sql_database.engine.begin() as connection:
        await connection.execute(
            insert(document_purges).values(
                tenant_id=TENANT,
                sha256=young,
                filename="r.pdf",
                content_type="application/pdf",
                size=1,
                stored_at=NOW,
                retention="primary",
                financial_year=period.financial_year,
                retained_until=period.until,
                purged_at=NOW,
                purged_by="mallory",
            )
        )
    assert await refused(sql_database, f"DELETE FROM documents WHERE sha256 = '{young}'")
    assert young in await hashes(sql_database)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "data"
    directory.mkdir()
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    run_migrations(f"sqlite:///{directory / 'bookkeeper.db'}")
    return directory


def test_the_purge_command_names_what_it_kept_and_refuses_young_ones(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    async def seed() -> dict[str, str]:
        database = SqlDatabase(f"sqlite:///{data_dir / 'bookkeeper.db'}")
        try:
            return await seeded(database)
        finally:
            await database.dispose()

    docs = asyncio.run(seed())
    assert main(["purge", "documents", "--tenant", TENANT, docs["young"]]) == 1
    out = capsys.readouterr().out
    assert f"refused {docs['young']} r.pdf: primary documentation" in out
    assert "0 purged, 0 kept, 1 refused" in out

    assert main(["purge", "documents", "--tenant", TENANT]) == 0
    out = capsys.readouterr().out
    assert f"purged {docs['old']} r.pdf: past retention" in out
    assert f"kept {docs['young']} r.pdf: primary documentation" in out
    assert "2 purged, 2 kept, 0 refused" in out
    with sqlite3.connect(data_dir / "bookkeeper.db") as connection:
        left = {r[0] for r in connection.execute("SELECT sha256 FROM documents")}
    connection.close()
    assert left == {docs["young"], docs["young-secondary"]}
