"""`bookkeeper import events FILE.jsonl`: events recorded elsewhere into the log (P5).

    bookkeeper import events FILE.jsonl[.gz] [--no-replay]     (FILE `-`: standard input)
    bookkeeper import fiken --tenant T --from YYYY-MM-DD [--to YYYY-MM-DD] [--dry-run]

The file format and the guarantees are application.importing's: every line is checked
before anything is written (a bad line is reported with its number, exit status 1, and
the log is untouched), events whose id the log holds are skipped, and the read models are
rebuilt afterwards (unless --no-replay: then run `bookkeeper replay` before serving). The
events handled so far are shown on stderr when it is a terminal, nothing otherwise; the
summary goes to stdout.

`import fiken` brings the company's existing Fiken journal entries, purchases and sales
into the tenant's ledger as imported entries (application.books_import, ADR 0037), with
the environment's Fiken credentials (BOOKKEEPER_FIKEN_TOKEN and _COMPANY): each record
once (a second run writes nothing it wrote before), the next run asking only for what
changed since. A record that cannot be booked is listed with its id and why (exit status
1 when there were any; the others are imported). --dry-run reads and reports, writes
nothing. Entries dated in a closed period or a locked VAT term are imported at their date
all the same (the books' history, ADR 0040 addendum) and counted in the summary, per period.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from bookkeeper.application.importing import (
    MAX_LINE_BYTES,
    BadImportLine,
    ImportReport,
    import_events,
)
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.container import Container, Database, migrated_database, resolve, shutdown
from bookkeeper.entrypoints.cli.arguments import iso_date, tenant_id
from bookkeeper.entrypoints.cli.progress import progress


def add_parser(commands: Any) -> None:
    """Register `import` (with its kind `events`) on the CLI's subcommands."""
    p = commands.add_parser("import", help="bring events recorded elsewhere into the log")
    kinds = p.add_subparsers(dest="import_kind", required=True, metavar="KIND")
    q = kinds.add_parser("events", help="events from a JSON Lines file (one event a line)")
    q.add_argument(
        "file", type=Path, help="the .jsonl file (gzip-compressed too: .jsonl.gz; - for stdin)"
    )
    q.add_argument(
        "--no-replay", action="store_true", help="leave the read models to `bookkeeper replay`"
    )
    q.set_defaults(run=import_events_command)
    d = kinds.add_parser(
        "database", help="a whole database, from `bookkeeper export database`, into a new one"
    )
    d.add_argument("file", type=Path, help="the file `export database` wrote")
    d.set_defaults(run=import_database_command)
    f = kinds.add_parser(
        "fiken", help="the company's journal entries, purchases and sales from Fiken"
    )
    f.add_argument("--tenant", required=True, type=tenant_id, help="the tenant's ledger")
    f.add_argument(
        "--from", dest="start", required=True, type=iso_date, help="first day (YYYY-MM-DD)"
    )
    f.add_argument("--to", dest="end", type=iso_date, help="last day (default: no end)")
    f.add_argument("--dry-run", action="store_true", help="read and report, write nothing")
    f.set_defaults(run=import_fiken_command)


def import_fiken_command(args: argparse.Namespace, container: Container) -> int:
    """Import from Fiken; print the summary and every skipped record (status 1 if any)."""
    from bookkeeper.application.books_import import (
        BooksNotConfigured,
        BooksRangeRefused,
        summary,
    )
    from bookkeeper.application.errors import ExternalError

    if args.end is not None and args.end < args.start:
        print(f"bookkeeper: error: --to {args.end} is before --from {args.start}", file=sys.stderr)
        return 2
    try:
        report, seconds = asyncio.run(run_fiken_import(container, args))
    except (BooksNotConfigured, BooksRangeRefused) as error:
        print(f"bookkeeper: error: {error}", file=sys.stderr)
        return 2
    except ExternalError as error:
        print(f"bookkeeper: error: Fiken: {error}", file=sys.stderr)
        return 1
    lines = summary(report)
    records = sum(report.records.values())
    rate = records / seconds if seconds > 0 else 0.0
    print(f"{lines[0]} in {seconds:.1f} s ({rate:,.0f} records/s)")
    for line in lines[1:]:
        print(line, file=sys.stderr)
    return 1 if report.problems else 0


async def run_fiken_import(container: Container, args: argparse.Namespace) -> tuple[Any, float]:
    """The import with a progress bar (records read) on a terminal; report and seconds."""
    try:
        database: Database = await resolve(container.database)
        if getattr(database, "dialect", None) == "sqlite":
            await database.migrate()
        books_import = await resolve(container.books_import)
        started = time.perf_counter()
        with progress("Importing from Fiken", unit="records") as bar:

            def advance(done: int, total: int | None) -> None:
                if total is not None:
                    bar.set_total(total)
                bar.update(done)

            report = await books_import.run(
                args.tenant, args.start, args.end, dry_run=args.dry_run, progress=advance
            )
        return report, time.perf_counter() - started
    finally:
        await shutdown(container)


def import_events_command(args: argparse.Namespace, container: Container) -> int:
    """Import; print the summary. A bad line: its number on stderr, status 1."""
    source = EventsInput(args.file)
    if not source.stdin and not source.path.is_file():
        print(f"bookkeeper: error: {source.path}: no such file", file=sys.stderr)
        return 1
    try:
        report, seconds = asyncio.run(
            run_import(container, source, replay=not args.no_replay, status=sys.stderr)
        )
    except BadImportLine as bad:
        reason = bad.reason
        if bad.number == 1 and source.head.startswith(_DATABASE_EXPORT):
            reason = "a file of `export database`: `bookkeeper import database` reads it"
        print(f"bookkeeper: error: {source.name}:{bad.number}: {reason}", file=sys.stderr)
        return 1
    rate = report.lines / seconds if seconds > 0 else 0.0
    print(
        f"imported {report.imported:,} of {report.lines:,} events "
        f"({report.skipped:,} already in the log) in {seconds:.1f} s ({rate:,.0f}/s)"
    )
    return 0


class EventsInput:
    """What `import events` reads: the file, or standard input for `-`; decompressed as it
    is read when it starts with gzip's magic bytes (FILE.jsonl.gz, or `gzip -c … |`),
    whatever its name says. Read once, line by line, as the import reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stdin = str(path) == "-"
        self.name = "<stdin>" if self.stdin else str(path)
        #: The start of the first line read (decompressed), to name a file of another kind.
        self.head = b""

    def lines(self) -> Iterator[bytes]:
        """The lines, each cut one byte past MAX_LINE_BYTES (refused there): a line of
        gigabytes is never read whole. Compressed input that is cut off or damaged is the
        bad line where it breaks (BadImportLine), so the import writes nothing of it."""
        with self._opened() as handle:
            number = 0
            try:
                while line := handle.readline(MAX_LINE_BYTES + 1):
                    if not number:
                        self.head = line[:64]
                    number += 1
                    yield line
            except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
                raise BadImportLine(
                    number + 1, f"the gzip-compressed input is cut off or damaged here ({error})"
                ) from None

    @contextlib.contextmanager
    def _opened(self) -> Iterator[IO[bytes]]:
        with contextlib.ExitStack() as stack:
            raw: IO[bytes]
            if self.stdin:
                raw = sys.stdin.buffer
                if not hasattr(raw, "peek"):
                    raw = io.BufferedReader(cast("Any", raw))
            else:
                raw = stack.enter_context(self.path.open("rb"))
            if cast("io.BufferedReader", raw).peek(2)[:2] == _GZIP_MAGIC:
                unpacked = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
                raw = cast("IO[bytes]", unpacked)
            yield raw


_GZIP_MAGIC = b"\x1f\x8b"
_DATABASE_EXPORT = b'{"format":"bookkeeper-database"'


async def run_import(
    container: Container, source: EventsInput, *, replay: bool, status: IO[str]
) -> tuple[ImportReport, float]:
    """Import the file (then rebuild the read models); the report and the import's seconds."""
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.importing import SqlEventImport

    try:
        database: Database = await migrated_database(container)
        if not isinstance(database, SqlDatabase):
            raise TypeError("import needs the SQL database")
        show = status.isatty()

        def progress(done: int) -> None:
            if show:
                status.write(f"\rimport: {done:,} events")
                status.flush()

        started = time.perf_counter()
        report = await import_events(source.lines, SqlEventImport(database), progress)
        seconds = time.perf_counter() - started
        if show:
            status.write("\n")
        if replay and report.imported:
            await rebuild_projections(await resolve(container.uow_factory))
        return report, seconds
    finally:
        await shutdown(container)


def import_database_command(args: argparse.Namespace, container: Container) -> int:
    """Move the file in; print what was carried. A bad line: its number on stderr, status
    1; a database that cannot take it: why, status 1. Nothing is written either way."""
    from bookkeeper.adapters.sql.moving import MoveRefused

    path: Path = args.file
    if not path.is_file():
        print(f"bookkeeper: error: {path}: no such file", file=sys.stderr)
        return 1
    try:
        report, seconds = asyncio.run(run_database_import(container, path, sys.stderr))
    except BadImportLine as bad:
        print(f"bookkeeper: error: {path}:{bad.number}: {bad.reason}", file=sys.stderr)
        return 1
    except MoveRefused as refused:
        print(f"bookkeeper: error: {refused}; nothing was written", file=sys.stderr)
        return 1
    rows = ", ".join(f"{table} {count:,}" for table, count in sorted(report.rows.items()))
    print(
        f"imported {report.events.imported:,} events and {sum(report.rows.values()):,} rows "
        f"({rows or 'none'}) in {seconds:.1f} s"
    )
    return 0


async def run_database_import(
    container: Container, path: Path, status: IO[str]
) -> tuple[Any, float]:
    """Move the file into the (new, migrated) database, then rebuild the read models."""
    from bookkeeper.adapters.credentials.fernet import secret_box
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.moving import import_database

    try:
        database: Database = await migrated_database(container)
        if not isinstance(database, SqlDatabase):
            raise TypeError("import needs the SQL database")
        await database.check_schema()  # never migrated, or behind: said so
        box = secret_box(container.settings().credentials_key)
        check = None if box is None else box.decrypt
        show = status.isatty()

        def advance(done: int) -> None:
            if show:
                status.write(f"\rimport: {done:,} events")
                status.flush()

        started = time.perf_counter()
        report = await import_database(database, path, check_secret=check, progress=advance)
        seconds = time.perf_counter() - started
        if show:
            status.write("\n")
        await rebuild_projections(await resolve(container.uow_factory))
        return report, seconds
    finally:
        await shutdown(container)
