"""`bookkeeper backup`: a consistent online copy of the embedded SQLite database.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database page by page
while writers go on; a page changed during the copy makes the copy restart that step, so
the result is the database as of one moment — the event log, its hash chain, the
projections and the document store (the receipt and invoice files live in the
`documents` table, in the same database). Written to `<dir>/bookkeeper.db.partial`,
checked (`PRAGMA integrity_check`), then renamed; a `manifest.json` beside it says what it
holds. PostgreSQL is backed up with its own tools (README: pg_dump / pg_basebackup).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from sqlalchemy.engine import make_url

BACKUP_FILE: Final = "bookkeeper.db"
MANIFEST_FILE: Final = "manifest.json"
#: Pages copied per step of the backup (between steps, writers may go on).
PAGES_PER_STEP: Final = 1024


class BackupError(Exception):
    """The backup could not be made (no embedded database, a target in the way, …)."""


@dataclass(frozen=True)
class BackupManifest:
    made_at: str
    source: str
    file: str
    sha256: str
    bytes: int
    events: int
    last_position: int
    documents: int
    seals: int
    #: The newest seal's hash (hex; None when nothing is sealed yet): kept apart from the
    #: copy, `bookkeeper verify --expect` it after a restore.
    last_seal_hash: str | None = None


def sqlite_path(database_url: str) -> Path:
    """The file of an embedded SQLite database URL; BackupError for anything else."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "bookkeeper backup copies the embedded SQLite database; back up PostgreSQL "
            "with pg_dump or pg_basebackup (see the README)"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("the database is in memory: there is nothing on disk to back up")
    return Path(url.database)


def _count(connection: sqlite3.Connection, sql: str) -> int:
    row = connection.execute(sql).fetchone()
    return int(row[0] or 0) if row else 0


def backup_sqlite(source: Path, target_dir: Path, now: dt.datetime) -> BackupManifest:
    """Copy the database at `source` into `target_dir` (created; must hold no backup)."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / BACKUP_FILE
    if target.exists():
        raise BackupError(f"{target} exists already; back up into an empty directory")
    partial = target_dir / (BACKUP_FILE + ".partial")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer, pages=PAGES_PER_STEP)
            check = writer.execute("PRAGMA integrity_check").fetchone()
            if not check or check[0] != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
            events = _count(writer, "SELECT count(*) FROM events")
            last = _count(writer, "SELECT max(position) FROM events")
            documents = _count(writer, "SELECT count(*) FROM documents")
            seals = _count(writer, "SELECT count(*) FROM seals")
            newest = writer.execute(
                "SELECT seal_hash FROM seals ORDER BY number DESC LIMIT 1"
            ).fetchone()
        finally:
            writer.close()
    finally:
        reader.close()
    partial.rename(target)
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    manifest = BackupManifest(
        made_at=now.astimezone(dt.UTC).isoformat(),
        source=str(source),
        file=BACKUP_FILE,
        sha256=digest.hexdigest(),
        bytes=target.stat().st_size,
        events=events,
        last_position=last,
        documents=documents,
        seals=seals,
        last_seal_hash=bytes(newest[0]).hex() if newest else None,
    )
    (target_dir / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest
