"""`bookkeeper purge documents` and `bookkeeper backup` (issue 12, ADR 0030).

    bookkeeper purge documents --tenant T [--dry-run] [SHA256 ...]
    bookkeeper backup --to DIR

`purge documents` deletes the tenant's stored documents whose retention has ended (5
years after the financial year for primary documentation, 3.5 for secondary) and keeps
every younger one, printing what it purged and what it kept and why. Documents named on
the command line that are younger are refused: it says so and exits 1. The database's
triggers refuse any other delete. `--dry-run` only reports.

`backup --to DIR` makes a consistent online copy of the embedded SQLite database (the
event log, its seals, the projections and the document store) and a manifest; restore it
by copying `DIR/bookkeeper.db` into a data directory, then run `bookkeeper verify --expect
HASH` (the last seal's hash the backup printed, kept apart) and `bookkeeper replay`.
PostgreSQL: see the README (pg_dump / pg_basebackup).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.backup import BackupError, backup_sqlite, sqlite_path
from bookkeeper.adapters.sql.retention import SqlDocumentRetention
from bookkeeper.application.documents import valid_hash
from bookkeeper.application.retention import PurgeReport, Retention
from bookkeeper.container import Container, Database, migrated_database, shutdown
from bookkeeper.entrypoints.cli.arguments import tenant_id

#: The actor a purge is recorded under.
PURGE_ACTOR = "cli:purge"


def _sha256(text: str) -> str:
    value = text.strip().lower()
    if not valid_hash(value):
        raise argparse.ArgumentTypeError(f"not a SHA-256 (64 hex digits): {text!r}")
    return value


def add_parser(commands: Any) -> None:
    """Register `purge` and `backup` on the CLI's subcommands."""
    p = commands.add_parser("purge", help="delete stored documents past their retention")
    kinds = p.add_subparsers(dest="purge_kind", required=True, metavar="WHAT")
    q = kinds.add_parser(
        "documents",
        help="receipts and invoices older than 5 years after their financial year",
    )
    q.add_argument(
        "--tenant", required=True, type=tenant_id, help="the tenant whose documents are purged"
    )
    q.add_argument("--dry-run", action="store_true", help="only say what would be purged")
    q.add_argument(
        "sha256", nargs="*", type=_sha256, help="only these documents (refused if younger)"
    )
    q.set_defaults(run=purge_documents)
    p = commands.add_parser("backup", help="copy the embedded SQLite database, consistently")
    p.add_argument("--to", required=True, type=Path, help="an empty or new directory")
    p.set_defaults(run=backup)


def _fail(message: str) -> int:
    print(f"bookkeeper: error: {message}", file=sys.stderr)
    return 1


def purge_documents(args: argparse.Namespace, container: Container) -> int:
    try:
        report = asyncio.run(_purge(container, args.tenant, list(args.sha256), args.dry_run))
    except BackupError as error:
        return _fail(str(error))
    verb = "would purge" if report.dry_run else "purged"
    for outcome in report.purged:
        print(f"{verb} {outcome.describe()}")
    for outcome in report.kept:
        print(f"kept {outcome.describe()}")
    for outcome in report.refused:
        print(f"refused {outcome.describe()}")
    print(f"{len(report.purged)} {verb}, {len(report.kept)} kept, {len(report.refused)} refused")
    return 1 if report.refused else 0


async def _purge(container: Container, tenant: str, only: list[str], dry_run: bool) -> PurgeReport:
    try:
        database: Database = await migrated_database(container)
        if not isinstance(database, SqlDatabase):
            raise BackupError("no SQL database: no stored documents to purge")
        retention = Retention(SqlDocumentRetention(database))
        return await retention.purge_documents(
            tenant, now=container.clock().now(), actor=PURGE_ACTOR, only=only, dry_run=dry_run
        )
    finally:
        await shutdown(container)


def backup(args: argparse.Namespace, container: Container) -> int:
    settings = container.settings()
    try:
        source = sqlite_path(settings.database_url)
        manifest = backup_sqlite(source, args.to, container.clock().now())
    except BackupError as error:
        return _fail(str(error))
    print(
        f"backed up {manifest.events} event(s) (last position {manifest.last_position}), "
        f"{manifest.documents} document(s) and {manifest.seals} seal(s) "
        f"to {args.to / manifest.file} (sha256 {manifest.sha256})"
    )
    if manifest.last_seal_hash:
        print(
            f"last seal {manifest.last_seal_hash}: keep it apart from the copy; after a "
            f"restore, bookkeeper verify --expect {manifest.last_seal_hash}"
        )
    return 0
