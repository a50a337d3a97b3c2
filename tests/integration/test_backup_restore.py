"""`bookkeeper backup --to DIR` makes a consistent online copy of the embedded SQLite
database and its document store; restored into a fresh data directory it verifies against
its seals, replays, and equals the original (issue 12)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bookkeeper.adapters.sealing import sealer_for
from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import JournalLine
from bookkeeper.entrypoints.cli.main import main

TENANT = "acme"
ANNA = Principal(
    subject="anna",
    tenant_id=TENANT,
    roles=frozenset({"accountant"}),
    attributes={"approval_limit": "1000000"},
)
POSTGRES = os.environ.get("BOOKKEEPER_TEST_POSTGRES_URL")
#: Tables a replay rebuilds or that hold nothing of the books (compared after the replay).
SKIPPED = {"alembic_version", "sqlite_sequence"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    return monkeypatch


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted (a restored copy must hold the same)."""
    with sqlite3.connect(path) as connection:
        tables = [
            r[0]
            for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] not in SKIPPED
        ]
        content = {
            t: sorted(connection.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
            for t in tables
        }
    connection.close()
    return content


async def write(url: str, entries: int, stop: threading.Event | None = None) -> int:
    """Post entries, store documents and seal; with `stop`, go on until it is set."""
    database = SqlDatabase(url)
    ledger = LedgerService(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    written = 0
    try:
        while written < entries or (stop is not None and not stop.is_set()):
            amount = Decimal(100 + written)
            await ledger.post_manual(
                ANNA,
                dt.date(2026, 3, 1),
                f"Entry {written}",
                [
                    JournalLine(account="6300", debit=amount),
                    JournalLine(account="1920", credit=amount),
                ],
            )
            async with database.uow_factory()() as uow:
                await uow.documents.put(
                    TENANT,
                    b"%PDF-1.4 " + str(written).encode(),
                    "application/pdf",
                    "r.pdf",
                    dt.datetime.now(dt.UTC),
                )
                await uow.commit()
            written += 1
            if written % 10 == 0:
                sealer = sealer_for(database, SystemClock(), dt.timedelta(0))
                assert sealer is not None
                await sealer.seal()
            await asyncio.sleep(0)
    finally:
        await database.dispose()
    return written


def test_a_backup_taken_while_writing_restores_verifies_and_replays_equal(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    url = f"sqlite:///{live / 'bookkeeper.db'}"
    run_migrations(url)
    asyncio.run(write(url, 30))

    # The backup runs while a writer goes on posting, storing and sealing.
    stop = threading.Event()
    writer = threading.Thread(target=lambda: asyncio.run(write(url, 0, stop)))
    writer.start()
    try:
        env.setenv("BOOKKEEPER_DATA_DIR", str(live))
        assert main(["backup", "--to", str(tmp_path / "backup")]) == 0
    finally:
        stop.set()
        writer.join()
    out = capsys.readouterr().out
    assert out.startswith("backed up ")
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["events"] >= 30 and manifest["documents"] >= 30 and manifest["seals"] >= 3

    # Restore into a fresh data directory: the copy is the database as of one moment.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copyfile(tmp_path / "backup" / "bookkeeper.db", fresh / "bookkeeper.db")
    restored = dump(fresh / "bookkeeper.db")
    positions = [row[0] for row in sorted(restored["events"], key=lambda r: r[0])]
    assert positions == list(range(1, manifest["last_position"] + 1))  # no hole, no torn write
    assert len(restored["documents"]) == manifest["documents"]

    env.setenv("BOOKKEEPER_DATA_DIR", str(fresh))
    assert main(["verify"]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    # The last seal's hash, printed and in the manifest, is what a restore verifies against.
    assert f"last seal {manifest['last_seal_hash']}: keep it apart" in out
    assert main(["verify", "--expect", manifest["last_seal_hash"]]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    assert main(["verify", "--expect", "0" * 64]) == 1
    capsys.readouterr()
    assert main(["replay"]) == 0
    assert capsys.readouterr().out.startswith(f"events={manifest['events']} ")
    assert main(["verify"]) == 0
    capsys.readouterr()
    assert dump(fresh / "bookkeeper.db") == restored  # the replay rebuilt the same books

    # The original, once the writer stopped, holds the backup as its prefix.
    original = dump(live / "bookkeeper.db")
    for table in ("events", "documents", "seals", "event_chain"):
        assert set(restored[table]) <= set(original[table])
    # And a backup of the quiet original equals it.
    env.setenv("BOOKKEEPER_DATA_DIR", str(live))
    assert main(["backup", "--to", str(tmp_path / "quiet")]) == 0
    assert dump(tmp_path / "quiet" / "bookkeeper.db") == original


def test_backup_refuses_a_used_directory_and_postgres(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    run_migrations(f"sqlite:///{live / 'bookkeeper.db'}")
    env.setenv("BOOKKEEPER_DATA_DIR", str(live))
    assert main(["backup", "--to", str(tmp_path / "b")]) == 0
    assert main(["backup", "--to", str(tmp_path / "b")]) == 1
    assert "exists already" in capsys.readouterr().err
    env.setenv("BOOKKEEPER_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    assert main(["backup", "--to", str(tmp_path / "c")]) == 1
    assert "pg_dump" in capsys.readouterr().err


def test_a_postgres_dump_restored_as_the_readme_says_verifies_and_stays_guarded(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README, Retention and backups: `pg_dump --format=custom`, `createdb` +
    `pg_restore`, then `bookkeeper verify` against the last seal and `verify
    --projections`; the restored database has its guards back (documents refuse a
    delete, events an update) and takes new appends after the restored positions."""
    base = POSTGRES  # read before `env` clears the BOOKKEEPER_ variables
    tools = [shutil.which(t) for t in ("pg_dump", "pg_restore")]
    if not base or not all(tools):
        if os.environ.get("CI"):
            pytest.fail("CI needs BOOKKEEPER_TEST_POSTGRES_URL, pg_dump and pg_restore")
        pytest.skip("no PostgreSQL or no pg_dump / pg_restore")
    import subprocess
    import uuid

    import psycopg

    suffix = uuid.uuid4().hex[:10]
    names = (f"backup_src_{suffix}", f"backup_dst_{suffix}")
    admin = make_url(base)
    urls = [admin.set(database=name).render_as_string(hide_password=False) for name in names]
    plain = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        run_migrations(urls[0])
        asyncio.run(write(urls[0], 25))
        dump_file = tmp_path / "bookkeeper.dump"
        subprocess.run(["pg_dump", "--format=custom", f"--file={dump_file}", urls[0]], check=True)
        subprocess.run(["pg_restore", f"--dbname={urls[1]}", str(dump_file)], check=True)

        env.setenv("BOOKKEEPER_DATABASE_URL", urls[1])
        with psycopg.connect(urls[1]) as connection:
            row = connection.execute(
                "SELECT encode(seal_hash, 'hex') FROM seals ORDER BY number DESC LIMIT 1"
            ).fetchone()
            assert row is not None
            for statement in (
                "DELETE FROM documents",
                "UPDATE events SET actor = 'x'",
            ):
                with pytest.raises(psycopg.errors.Error):
                    connection.execute(statement)
                connection.rollback()
        assert main(["verify", "--expect", row[0]]) == 0
        assert capsys.readouterr().out.startswith("OK: 20 sealed event(s) in 2 seal(s)")
        assert main(["verify", "--projections"]) == 0
        assert "are what the log up to position 25 folds to" in capsys.readouterr().out
        asyncio.run(write(urls[1], 10))  # positions and seals go on after the restored ones
        assert main(["verify", "--expect", row[0]]) == 0
        out = capsys.readouterr().out
        assert out.startswith("OK: ") and " in 3 seal(s) match; " in out
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
