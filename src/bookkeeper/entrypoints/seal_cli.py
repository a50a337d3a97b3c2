"""`bookkeeper seal` and `bookkeeper verify`: the event log's tamper evidence (ADR 0024).

    bookkeeper seal [--show] [--margin SECONDS]
    bookkeeper verify [--from-position N] [--expect SEAL_HASH] [--limit N] [--projections]

`seal` extends the hash chain over what has been committed (the serving process does the
same every SEAL_INTERVAL seconds) and prints the newest seal; `--show` only prints it.
Keep that line outside the database (print it, mail it, post it): `verify --expect` with
its seal hash then also catches a rewrite of the chain itself. `verify` recomputes the
chain and prints OK, or every position that no longer matches and what is wrong with it
(one `TAMPERED:` line each, the first --limit of them, then how many more there were and a
summary line), and exits 1. With `--projections` it then also refolds the log and compares
the read models the reports come from (journal lines, daily ledger, proposals, patterns,
cost snapshots) with it (ADR 0024 addendum 2): OK, or one `DIFFERS:` line per row that is
not what the log folds to (table, key, which columns or missing/extra), and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

from bookkeeper.adapters.sealing import sealer_for
from bookkeeper.adapters.sql.seal import SqlSealStore
from bookkeeper.application.seal import (
    DEFAULT_MARGIN,
    DEFAULT_SHOWN,
    ProjectionCheck,
    Sealer,
    Verification,
    verify,
)
from bookkeeper.container import Container, migrated_database, shutdown


def _hash(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise argparse.ArgumentTypeError(f"not a seal hash (64 hex digits): {text!r}")
    return value


def _position(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a position (1 or more): {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a count (0 or more): {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def add_parser(commands: Any) -> None:
    """Register `seal` and `verify` on the CLI's subcommands."""
    p = commands.add_parser("seal", help="extend the event log's hash chain; print the seal")
    p.add_argument("--show", action="store_true", help="only print the newest seal")
    p.add_argument(
        "--margin",
        type=_seconds,
        default=DEFAULT_MARGIN.total_seconds(),
        help="seal only events older than this many seconds (default %(default)s)",
    )
    p.set_defaults(run=seal)
    p = commands.add_parser("verify", help="check the event log against its hash chain")
    p.add_argument("--from-position", type=_position, default=1, help="start here")
    p.add_argument("--expect", type=_hash, help="a seal hash kept outside the database")
    p.add_argument(
        "--limit",
        type=_count,
        default=DEFAULT_SHOWN,
        help="print at most this many findings; the rest are counted (default %(default)s)",
    )
    p.add_argument(
        "--projections",
        action="store_true",
        help="also refold the log and compare the read models with it",
    )
    p.set_defaults(run=verify_log)


def seal(args: argparse.Namespace, container: Container) -> int:
    """Seal (unless --show) and print the newest seal."""
    line = asyncio.run(_seal(container, args.show, dt.timedelta(seconds=args.margin)))
    print(line)
    return 0


async def _seal(container: Container, show: bool, margin: dt.timedelta) -> str:
    try:
        database = await migrated_database(container)
        sealer: Sealer | None = sealer_for(database, container.clock(), margin)
        if sealer is None:
            return "no SQL database: nothing to seal"
        made = [] if show else await sealer.seal()
        latest = await sealer.latest()
        if latest is None:
            return "no seal yet"
        prefix = f"sealed {sum(s.event_count for s in made)} event(s); " if not show else ""
        return prefix + latest.describe()
    finally:
        await shutdown(container)


def verify_log(args: argparse.Namespace, container: Container) -> int:
    """Print OK, or every finding (the first --limit) and their count; exit 1 on any.
    With --projections, the same for the read models after the chain."""
    result, projections = asyncio.run(
        _verify(container, args.from_position, args.expect, args.limit, args.projections)
    )
    chain = _print_chain(result)
    if projections is None:
        return chain
    return max(chain, _print_projections(projections))


def _print_chain(result: Verification) -> int:
    if not result.ok:
        for finding in result.findings:
            print(f"TAMPERED: {finding}")
        if result.not_shown:
            print(f"… and {result.not_shown} more finding(s) not shown (--limit)")
        print(
            f"TAMPERED: {result.problems} finding(s); {result.checked} sealed event(s) "
            f"checked in {result.seals} seal(s)"
        )
        return 1
    head = result.head.describe() if result.head is not None else "no seal yet"
    print(
        f"OK: {result.checked} sealed event(s) in {result.seals} seal(s) match; "
        f"{result.unsealed} not sealed yet; {head}"
    )
    return 0


def _print_projections(check: ProjectionCheck) -> int:
    if not check.ok:
        for difference in check.differences:
            print(f"DIFFERS: {difference}")
        if check.not_shown:
            print(f"… and {check.not_shown} more difference(s) not shown (--limit)")
        print(
            f"DIFFERS: {check.problems} projection row(s) are not what the log up to "
            f"position {check.head} folds to"
        )
        return 1
    print(
        f"OK: the projections ({', '.join(check.tables)}) are what the log up to position "
        f"{check.head} folds to"
    )
    return 0


async def _verify(
    container: Container,
    start: int,
    expect: bytes | None,
    shown: int = DEFAULT_SHOWN,
    projections: bool = False,
) -> tuple[Verification, ProjectionCheck | None]:
    try:
        database = await migrated_database(container)
        from bookkeeper.adapters.sql import SqlDatabase

        if not isinstance(database, SqlDatabase):
            print("no SQL database: nothing to verify", file=sys.stderr)
            return Verification((), 0, 0, 0, None), None
        store = SqlSealStore(database)
        chain = await verify(store, from_position=start, expect=expect, shown=shown)
        if not projections:
            return chain, None
        from bookkeeper.adapters.sql.verify_projections import check_projections

        return chain, await check_projections(database, shown)
    finally:
        await shutdown(container)
