"""`bookkeeper export saf-t` and `export events`: files of the books, to a file or stdout.

    bookkeeper export saf-t --tenant T --from 2026-01-01 --to 2026-12-31 [--out FILE|DIR]
    bookkeeper export events [--tenant T] [--out FILE]

`export events` writes the event log (every tenant's, or one's) as the JSON Lines that
`bookkeeper import events` reads (application/exporting.py), from one snapshot of the log.

Runs the same use case as GET /exports/saf-t (application.saft) as the operator, who has
the database anyway: a principal `--user` (default `cli`) with the admin role. With --out
a directory, the file gets Skatteetaten's name inside it; the file is written beside its
destination and renamed into place, so a failed export leaves nothing half-written. The
lines read so far are shown on stderr when it is a terminal, nothing otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from bookkeeper.application.exporting import export_events
from bookkeeper.application.ports import Principal
from bookkeeper.application.saft import SaftExport, SaftFile
from bookkeeper.container import Container, migrated_database, resolve, shutdown
from bookkeeper.entrypoints.cli.arguments import iso_date, tenant_id, user_name
from bookkeeper.entrypoints.cli.progress import progress

CLI_ROLE = "admin"


def add_parser(commands: Any) -> None:
    """Register `export` (kinds `saf-t` and `events`) on the CLI's subcommands."""
    p = commands.add_parser("export", help="SAF-T for the authorities; the event log")
    kinds = p.add_subparsers(dest="export_kind", required=True, metavar="KIND")
    q = kinds.add_parser("saf-t", help="SAF-T Financial 1.30 of a period (XML)")
    q.add_argument("--tenant", type=tenant_id, required=True, help="the company to export")
    q.add_argument("--from", dest="start", required=True, type=iso_date, help="first day")
    q.add_argument("--to", dest="end", required=True, type=iso_date, help="last day")
    q.add_argument(
        "--out",
        help="a file, or a directory for Skatteetaten's name (an existing one, or one "
        "written with a trailing /, which is made)",
    )
    q.add_argument("--user", type=user_name, default="cli", help="who exports (the file's UserID)")
    q.set_defaults(run=export_saft)
    e = kinds.add_parser(
        "events", help="the event log as JSON Lines, as `bookkeeper import events` reads it"
    )
    e.add_argument("--tenant", type=tenant_id, help="one company's events (default: every one)")
    e.add_argument("--out", help="the file to write (default: stdout)")
    e.set_defaults(run=export_events_command)
    d = kinds.add_parser(
        "database",
        help="the whole database (log, policy, closed periods, credentials, documents, …) "
        "for `bookkeeper import database` into a new one",
    )
    d.add_argument("--out", required=True, help="the file to write")
    d.set_defaults(run=export_database_command)


def export_saft(args: argparse.Namespace, container: Container) -> int:
    """Write the file; print where it went (on stderr when the file went to stdout)."""
    where = asyncio.run(
        run_export(container, args.tenant, args.user, args.start, args.end, args.out, sys.stderr)
    )
    print(where, file=sys.stderr if args.out is None else sys.stdout)
    return 0


def _target(out: str, filename: str) -> Path:
    """Where the file goes: into `out` when it is a directory — an existing one, or one
    written with a trailing separator (made, with its parents: `--out ./saft/` meant a
    directory, and used to become a file named `saft`) — else `out` itself, whose
    directory must exist."""
    path = Path(out)
    if out.endswith(("/", os.sep)) or path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return path / filename
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no directory {str(path.parent)!r} to write {path.name!r} in")
    return path


def _discard(name: str) -> None:
    Path(name).unlink(missing_ok=True)


async def run_export(
    container: Container,
    tenant: str,
    user: str,
    start: dt.date,
    end: dt.date,
    out: str | None,
    status: IO[str],
) -> str:
    """Export; the path written (or "stdout")."""
    try:
        await migrated_database(container)
        export: SaftExport = await resolve(container.saft_export)
        principal = Principal(subject=user, tenant_id=tenant, roles=frozenset({CLI_ROLE}))
        with progress("SAF-T", unit="lines", stream=status) as bar:
            file = await export.export(principal, start, end, progress=bar.update)
            where = await _write(file, out)
        return where
    finally:
        await shutdown(container)


async def _write(file: SaftFile, out: str | None) -> str:
    """Stream the file to stdout or into place under `out`; where it went."""
    target = None if out is None else _target(out, file.filename)
    return await _write_chunks(file.chunks, target, prefix=".saft-")


def export_events_command(args: argparse.Namespace, container: Container) -> int:
    """Write the log; say on stderr how many events went where."""
    target = _events_file(args.out) if args.out is not None else None
    count, where = asyncio.run(run_events_export(container, args.tenant, target, sys.stderr))
    whose = f"tenant {args.tenant}" if args.tenant is not None else "every tenant"
    print(f"exported {count:,} events ({whose}) to {where}", file=sys.stderr)
    return 0


async def run_events_export(
    container: Container, tenant: str | None, out: Path | None, status: IO[str]
) -> tuple[int, str]:
    """Export; the number of events and where they went (a path, or "stdout")."""
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.exporting import SqlEventExport

    try:
        database = await migrated_database(container)
        if not isinstance(database, SqlDatabase):
            raise TypeError("export needs the SQL database")
        done = 0

        def counted(n: int) -> None:
            nonlocal done
            done = n

        with progress("Exporting events", unit="events", stream=status) as bar:

            def advance(n: int) -> None:
                counted(n)
                bar.update(n)

            chunks = export_events(SqlEventExport(database), tenant, advance)
            where = await _write_chunks(chunks, out, prefix=".events-")
        return done, where
    finally:
        await shutdown(container)


def _events_file(out: str) -> Path:
    """The file `--out` names, checked before anything is read: not a directory, and in
    one that exists."""
    target = Path(out)
    if target.is_dir():
        raise IsADirectoryError(f"{out!r} is a directory: name the file to write")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"no directory {str(target.parent)!r} to write {target.name!r} in")
    return target


async def _write_chunks(chunks: AsyncIterator[bytes], target: Path | None, *, prefix: str) -> str:
    """Stream `chunks` to stdout, or to `target` through a file beside it renamed into
    place (a failed export leaves nothing half-written); where they went."""
    if target is None:
        sink = sys.stdout.buffer
        async for chunk in chunks:
            sink.write(chunk)
        sink.flush()
        return "stdout"
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed into place below
        dir=target.parent, prefix=prefix, suffix=".part", delete=False
    )
    try:
        with handle:
            async for chunk in chunks:
                handle.write(chunk)
        os.replace(handle.name, target)
    except BaseException:
        _discard(handle.name)
        raise
    return str(target)


def export_database_command(args: argparse.Namespace, container: Container) -> int:
    """Write the move file; say on stderr how many lines went where."""
    target = _events_file(args.out)
    lines = asyncio.run(run_database_export(container, target, sys.stderr))
    print(f"exported the database ({lines:,} lines) to {target}", file=sys.stderr)
    return 0


async def run_database_export(container: Container, out: Path, status: IO[str]) -> int:
    """Export the whole database (adapters/sql/moving.py) to `out`; the lines written."""
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.moving import export_database

    try:
        database = await migrated_database(container)
        if not isinstance(database, SqlDatabase):
            raise TypeError("export needs the SQL database")
        await database.check_schema()  # never migrated, or behind: said so
        done = 0
        with progress("Exporting the database", unit="lines", stream=status) as bar:

            def advance(n: int) -> None:
                nonlocal done
                done = n
                bar.update(n)

            await _write_chunks(export_database(database, advance), out, prefix=".database-")
        return done
    finally:
        await shutdown(container)
