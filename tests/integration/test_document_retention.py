"""Stored documents are as immutable as events, and `purge documents` deletes only what is
past retention (issue 12), on SQLite and PostgreSQL.

Retention is counted from the end of the financial year of what a document documents —
its booking's date, found through the proposal that names it — and from the real date
(the database's trigger checks it too, migration 0026), so the documents here are booked
at dates relative to today: 7 years ago (primary: past), last year (primary: kept), 5
years ago as secondary (3.5 years: past), last year as secondary (kept).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, text, update

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.ledger import journal_lines
from bookkeeper.adapters.sql.retention import SqlDocumentRetention
from bookkeeper.adapters.sql.schema import document_purges, documents, proposals
from bookkeeper.application.retention import Retention
from bookkeeper.domain.retention import Retention as Period
from bookkeeper.domain.retention import RetentionClass
from bookkeeper.entrypoints.cli.main import main

NOW = dt.datetime.now(dt.UTC)
TENANT = "acme"
PDF = b"%PDF-1.4 retention test "


def years_ago(years: int) -> dt.datetime:
    return NOW.replace(year=NOW.year - years, month=6, day=15, hour=12)


async def book(
    database: SqlDatabase,
    sha256: str | None,
    on: dt.date,
    *,
    target: uuid.UUID | None = None,
) -> uuid.UUID:
    """A receipt proposal naming the document (or a correction of `target`) and its journal
    entry dated `on`, as the projections hold them."""
    proposal_id = uuid.uuid4()
    at = dt.datetime.combine(on, dt.time(12), dt.UTC)
    data: dict[str, object] = {"merchantName": "Kiwi", "amount": "100.00", "date": on.isoformat()}
    if sha256 is not None:
        data["documentHash"] = sha256.upper()  # as a client may send it
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(proposals).values(
                id=proposal_id,
                tenant_id=TENANT,
                kind="correction" if target else "receipt",
                type="correction" if target else "receipt_attachment",
                status="executed",
                version=3,
                correlation_id=uuid.uuid4(),
                proposed_by="test",
                proposed_at=at,
                updated_at=at,
                document_date=on,
                data=data if target is None else {"targetProposalId": str(target)},
                attempts=1,
                external_ids={},
                target_proposal_id=target,
                last_position=1,
            )
        )
        entry = uuid.uuid4()
        for line_no, (debit, credit) in enumerate(((Decimal(100), 0), (0, Decimal(100))), 1):
            await connection.execute(
                insert(journal_lines).values(
                    tenant_id=TENANT,
                    entry_id=entry,
                    line_no=line_no,
                    position=1,
                    date=on,
                    account="6800" if debit else "1920",
                    debit=debit,
                    credit=credit,
                    description="Kiwi",
                    source="proposal",
                    proposal_id=proposal_id,
                    posted_at=at,
                    entry_description="Kiwi",
                )
            )
    return proposal_id


async def store(
    database: SqlDatabase,
    body: bytes,
    at: dt.datetime,
    kind: str = "primary",
    *,
    booked: dt.date | None = None,
) -> str:
    """A document stored at `at`, booked on `booked` (default: the day it was stored)."""
    sha256 = await _store(database, body, at, kind)
    await book(database, sha256, booked or at.date())
    return sha256


async def _store(database: SqlDatabase, body: bytes, at: dt.datetime, kind: str) -> str:
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


async def forge(database: SqlDatabase, sha256: str, until: dt.date) -> None:
    """A purge record for `sha256` claiming its retention ended on `until`, written by
    hand (not by the purge)."""
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(document_purges).values(
                tenant_id=TENANT,
                sha256=sha256,
                filename="r.pdf",
                content_type="application/pdf",
                size=1,
                stored_at=NOW,
                retention="primary",
                financial_year=until.year - 5,
                retained_until=until,
                purged_at=NOW,
                purged_by="mallory",
            )
        )


async def test_a_forged_purge_record_does_not_unlock_a_young_document(
    sql_database: SqlDatabase,
) -> None:
    """The trigger computes the retention itself from the booking's date: neither a purge
    row with the document's real end of retention nor one claiming a past end (which
    unlocked any document before migration 0026) lets the delete through."""
    docs = await seeded(sql_database)
    young = docs["young"]
    await forge(sql_database, young, Period(RetentionClass.PRIMARY, NOW.year - 1).until)
    await forge(sql_database, young, dt.date(2000, 12, 31))
    assert await refused(sql_database, f"DELETE FROM documents WHERE sha256 = '{young}'")
    assert young in await hashes(sql_database)


async def test_retention_is_counted_from_the_booking_year_not_the_day_stored(
    sql_database: SqlDatabase,
) -> None:
    """Stored in December for a booking dated in January: judged by the day stored it was
    past (a year early, a breach); by the booking it is kept, and the trigger agrees. Stored
    in January for a purchase booked the December before: it goes a year sooner."""
    y = NOW.year
    early = await store(
        sql_database,
        b"dec",
        dt.datetime(y - 6, 12, 20, 12, tzinfo=dt.UTC),
        booked=dt.date(y - 5, 1, 2),
    )
    late = await store(
        sql_database,
        b"jan",
        dt.datetime(y - 5, 1, 3, 12, tzinfo=dt.UTC),
        booked=dt.date(y - 6, 12, 28),
    )
    retention = Retention(SqlDocumentRetention(sql_database))
    report = await retention.purge_documents(TENANT, now=NOW, actor="test")
    assert [o.sha256 for o in report.purged] == [late]
    assert [o.sha256 for o in report.kept] == [early]
    assert f"financial year {y - 5}): kept until {y}-12-31" in report.kept[0].reason
    assert f"financial year {y - 6}): kept until {y - 1}-12-31" in report.purged[0].reason
    # The guard judges by the booking too: a record with the day-stored end does not do.
    await forge(sql_database, early, dt.date(y - 1, 12, 31))
    assert await refused(sql_database, f"DELETE FROM documents WHERE sha256 = '{early}'")
    assert await hashes(sql_database) == {early}


async def test_the_last_day_of_the_year_and_the_first_of_the_next(
    sql_database: SqlDatabase,
) -> None:
    """Booked on 31 December six years ago: its five years ended last 31 December, it
    goes. Booked on 1 January of the next year: kept until this 31 December, refused by
    the purge and by the trigger (with the record the purge would write)."""
    y = NOW.year
    stored = dt.datetime(y - 5, 1, 5, 12, tzinfo=dt.UTC)
    last = await store(sql_database, b"31.12", stored, booked=dt.date(y - 6, 12, 31))
    first = await store(sql_database, b"1.1", stored, booked=dt.date(y - 5, 1, 1))
    retention = Retention(SqlDocumentRetention(sql_database))
    named = await retention.purge_documents(TENANT, now=NOW, actor="test", only=[first, last])
    assert [o.sha256 for o in named.purged] == [last]
    assert [o.sha256 for o in named.refused] == [first]
    assert f"kept until {y}-12-31" in named.refused[0].reason
    await forge(sql_database, first, dt.date(y, 12, 31))
    assert await refused(sql_database, f"DELETE FROM documents WHERE sha256 = '{first}'")
    assert await hashes(sql_database) == {first}


async def test_a_document_nothing_booked_refers_to_is_kept(sql_database: SqlDatabase) -> None:
    """Stored 8 years ago, named by no booked entry: no financial year, kept; named, it is
    refused; the trigger refuses it whatever the record says."""
    orphan = await _store(sql_database, b"orphan", years_ago(8), "primary")
    retention = Retention(SqlDocumentRetention(sql_database))
    report = await retention.purge_documents(TENANT, now=NOW, actor="test")
    assert report.purged == [] and [o.sha256 for o in report.kept] == [orphan]
    assert "documents nothing booked yet" in report.kept[0].reason
    named = await retention.purge_documents(TENANT, now=NOW, actor="test", only=[orphan])
    assert [o.sha256 for o in named.refused] == [orphan]
    await forge(sql_database, orphan, Period(RetentionClass.PRIMARY, NOW.year - 8).until)
    assert await refused(sql_database, f"DELETE FROM documents WHERE sha256 = '{orphan}'")
    assert await hashes(sql_database) == {orphan}


async def test_a_later_correction_of_its_booking_keeps_the_document_longer(
    sql_database: SqlDatabase,
) -> None:
    """Booked 7 years ago (past), but its booking was corrected last year: the document
    documents that correction too, and is kept five years after it."""
    y = NOW.year
    sha = await _store(sql_database, b"corrected", years_ago(7), "primary")
    original = await book(sql_database, sha, dt.date(y - 7, 3, 1))
    await book(sql_database, None, dt.date(y - 1, 3, 1), target=original)
    retention = Retention(SqlDocumentRetention(sql_database))
    report = await retention.purge_documents(TENANT, now=NOW, actor="test")
    assert report.purged == [] and [o.sha256 for o in report.kept] == [sha]
    assert f"financial year {y - 1}" in report.kept[0].reason
    await forge(sql_database, sha, Period(RetentionClass.PRIMARY, y - 7).until)
    assert await refused(sql_database, f"DELETE FROM documents WHERE sha256 = '{sha}'")


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


async def test_an_uploaded_receipt_is_judged_by_its_booking_once_executed(
    fiken_world: tuple[object, object],
) -> None:
    """End to end (POST /documents, approve, the executor against the Fiken fake): the
    purge finds the booking through the proposal that names the file — before approval
    nothing is booked and the file is kept as such; once executed, its financial year is
    the receipt's booking date's (2 March 2026), whenever the file was stored."""
    from bookkeeper.container import resolve
    from tests import documents as samples
    from tests.http_helpers import API, Api
    from tests.polling import polls

    api, _ = fiken_world
    assert isinstance(api, Api)
    content, content_type, _ = samples.kiwi_receipt()
    uploaded = await api.client.post(
        f"{API}/documents", files={"file": ("kiwi.pdf", content, content_type)}, headers=api.agent
    )
    assert uploaded.status_code == 201, uploaded.text
    proposal = uploaded.json()["proposal"]["id"]
    database = await resolve(api.container.database)
    assert isinstance(database, SqlDatabase)
    retention = Retention(SqlDocumentRetention(database))
    far = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)

    before = await retention.purge_documents("acme", now=far, actor="test", dry_run=True)
    assert before.purged == [] and len(before.kept) == 1
    assert "documents nothing booked yet" in before.kept[0].reason

    approved = await api.approve(proposal, {"corrections": {"accountCode": "7790"}})
    assert approved.status_code == 200, approved.text
    for _ in polls():
        shown = await api.client.get(f"{API}/proposals/{proposal}", headers=api.viewer)
        if shown.json()["status"] in ("EXECUTED", "FAILED"):
            break
        await asyncio.sleep(0.2)
    assert shown.json()["status"] == "EXECUTED", shown.json()

    after = await retention.purge_documents("acme", now=far, actor="test", dry_run=True)
    [outcome] = after.purged
    assert "(financial year 2026): kept until 2031-12-31" in outcome.reason
    early = dt.datetime(2031, 12, 31, 12, tzinfo=dt.UTC)
    kept = await retention.purge_documents("acme", now=early, actor="test", dry_run=True)
    assert [o.sha256 for o in kept.kept] == [outcome.sha256]


async def test_two_purges_of_one_document_leave_one_record(postgres_url: str) -> None:
    """A purge that read the document while another purge was deleting it waits on the
    row, finds nothing to delete and rolls its record back: `document_purges` documents
    one deletion, once (it is append-only: a second row could never be taken back)."""
    database = SqlDatabase(postgres_url)
    try:
        sha = await store(database, b"raced", years_ago(8))
        period = Period(RetentionClass.PRIMARY, NOW.year - 8)
        store_ = SqlDocumentRetention(database)
        async with database.engine.connect() as first:
            transaction = await first.begin()
            await first.execute(
                insert(document_purges).values(
                    tenant_id=TENANT,
                    sha256=sha,
                    filename="r.pdf",
                    content_type="application/pdf",
                    size=1,
                    stored_at=NOW,
                    retention="primary",
                    financial_year=period.financial_year,
                    retained_until=period.until,
                    purged_at=NOW,
                    purged_by="first",
                )
            )
            await first.execute(text(f"DELETE FROM documents WHERE sha256 = '{sha}'"))
            second = asyncio.ensure_future(
                store_.purge(
                    TENANT,
                    sha,
                    financial_year=period.financial_year,
                    retained_until=period.until,
                    purged_at=NOW,
                    purged_by="second",
                )
            )
            async with database.engine.connect() as watcher:
                for _ in range(200):  # until the second purge waits on the row's lock
                    waiting = await watcher.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                        )
                    )
                    found = waiting.scalar()
                    await watcher.commit()  # pg_stat_activity is fixed within a transaction
                    if found:
                        break
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail("the second purge never waited for the first")
            await transaction.commit()
        assert await second is False
        async with database.engine.connect() as connection:
            rows = (await connection.execute(document_purges.select())).all()
        assert [r.purged_by for r in rows] == ["first"]
    finally:
        await database.dispose()
