"""P11: the SAF-T export of N journal lines on PostgreSQL — time and peak RSS.

    .venv/bin/python bench/saft.py --lines 1000000      # target: ≤ 60 s, ≤ 200 MB RSS

Builds a fresh database (migrated), fills `journal_lines`, `ledger_daily` and the entries'
events with COPY (a bench may skip the event path: what is measured is the export), then
runs in a child process each, so that each peak RSS is its own:

* `reference`: a plain server-side-cursor SELECT of the same lines (the actor and
  proposal joins included), rows discarded — what reading the data costs at all;
* `saft export`: SaftExport → XML bytes, written to /dev/null.

Prints one row per run: seconds, lines per second, CPU seconds of the child (user +
sys: the figure to compare on a busy machine), peak RSS (MB), output size.

For an A/B of two versions on the same data: `--keep` leaves the database (its name is
printed), `--database NAME` runs on it without building, and

    PYTHONPATH=<other>/src .venv/bin/python bench/saft.py --child export URL [OUTPUT]

runs one export of whichever code is first on the path (OUTPUT: write the file there,
to compare the bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

TENANT = "bench"
ACCOUNTS = ("6800", "6300", "7140", "6860", "4300", "3000", "1500")
LINES_PER_ENTRY = 3
NULL = "\\N"  # COPY's text format


def _url(database: str, args: argparse.Namespace) -> str:
    return f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{database}"


def build(args: argparse.Namespace, database: str) -> None:
    from bookkeeper.adapters.sql import run_migrations

    with psycopg.connect(_url("postgres", args), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    run_migrations(_url(database, args))
    entries = args.lines // LINES_PER_ENTRY
    start = dt.date(2025, 1, 1)
    posted = dt.datetime(2025, 6, 1, tzinfo=dt.UTC).isoformat()
    daily: dict[tuple[str, dt.date], list[int]] = {}
    lines, events = io.StringIO(), io.StringIO()
    for n in range(entries):
        entry = uuid.UUID(int=n + 1)
        date = start + dt.timedelta(days=n * 365 // entries)
        amount = 1000 + n % 9000  # øre
        vat = amount // 5
        account = ACCOUNTS[n % len(ACCOUNTS)]
        rows = (
            (1, account, amount, 0, "1", "base"),
            (2, "2710", vat, 0, "1", "tax"),
            (3, "2400", 0, amount + vat, None, None),
        )
        for line_no, acct, debit, credit, code, part in rows:
            lines.write(
                f"{TENANT}\t{entry}\t{line_no}\t{n + 1}\t{date}\t{acct}\t{debit / 100:.2f}\t"
                f"{credit / 100:.2f}\tBilag {n}\t{code or NULL}\t{part or NULL}\tmanual\t\\N\t"
                f"{posted}\tBilag {n}\n"
            )
            d = daily.setdefault((acct, date), [0, 0])
            d[0] += debit
            d[1] += credit
        events.write(
            f"{uuid.UUID(int=n + 1)}\t{TENANT}\t{entry}\t1\tJournalEntryPosted\t1\t\\N\tbench\t"
            f"{{}}\t{{}}\t\\N\t{entry}\t{posted}\n"
        )
    with psycopg.connect(_url(database, args)) as conn, conn.cursor() as cur:
        columns = (
            "tenant_id, entry_id, line_no, position, date, account, debit, credit, description,"
            " vat_code, vat_part, source, proposal_id, posted_at, entry_description"
        )
        with cur.copy(f"COPY journal_lines ({columns}) FROM STDIN") as copy:
            copy.write(lines.getvalue())
        with cur.copy(
            "COPY events (id, tenant_id, stream_id, version, type, schema_version, status, actor,"
            " data, metadata, parent_id, correlation_id, created_at) FROM STDIN"
        ) as copy:
            copy.write(events.getvalue())
        with cur.copy(
            "COPY ledger_daily (tenant_id, account, date, debit, credit) FROM STDIN"
        ) as copy:
            for (acct, date), (debit, credit) in daily.items():
                copy.write(f"{TENANT}\t{acct}\t{date}\t{debit / 100:.2f}\t{credit / 100:.2f}\n")
        cur.execute("ANALYZE")
        conn.commit()


async def run_export(url: str, output: str = os.devnull) -> int:
    from bookkeeper.adapters.saft.xml_writer import render
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.saft import SqlAuditReads
    from bookkeeper.adapters.system import SystemClock
    from bookkeeper.application.authorization import RoleAuthorizer
    from bookkeeper.application.ports import Principal
    from bookkeeper.application.saft import CompanySettings, SaftExport

    database = SqlDatabase(url, pool_size=1, max_overflow=0)
    export = SaftExport(
        SqlAuditReads(database),
        RoleAuthorizer(),
        SystemClock(),
        render,
        software_version="bench",
        company=CompanySettings(name="Bench AS", orgnr="923609016"),
    )
    principal = Principal(subject="bench", tenant_id=TENANT, roles=frozenset({"admin"}))
    file = await export.export(principal, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    size = 0
    with open(output, "wb") as sink:  # noqa: ASYNC230 - a local file (bench only)
        async for chunk in file.chunks:
            size += len(chunk)
            sink.write(chunk)
    await database.dispose()
    return size


def run_reference(url: str) -> int:
    count = 0
    with psycopg.connect(url) as conn, conn.cursor(name="ref") as cur:
        cur.itersize = 5000
        cur.execute(
            "SELECT jl.*, e.actor, p.merchant_key FROM journal_lines jl "
            "LEFT JOIN events e ON e.stream_id = jl.entry_id AND e.type = 'JournalEntryPosted' "
            "LEFT JOIN proposals p ON p.id = jl.proposal_id "
            "WHERE jl.tenant_id = %s ORDER BY jl.date, jl.position, jl.line_no",
            (TENANT,),
        )
        for _ in cur:
            count += 1
    return count


def child(kind: str, url: str, output: str = os.devnull) -> None:
    began = time.perf_counter()
    size = asyncio.run(run_export(url, output)) if kind == "export" else run_reference(url)
    seconds = time.perf_counter() - began
    times = os.times()
    cpu = times.user + times.system
    # VmHWM, not ru_maxrss: the latter survives execve, so it would show the parent's peak.
    status = Path("/proc/self/status").read_text()
    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    rss_mb = int(hwm.split()[1]) / 1024
    print(f"{seconds:.2f}\t{rss_mb:.0f}\t{size}\t{cpu:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", default=os.environ.get("PGPORT", "5432"))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--database", help="run on this database (built before), do not build")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--child", nargs="+", metavar="KIND URL [OUTPUT]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    database = args.database or f"bk_saft2_{secrets.token_hex(4)}"
    began = time.perf_counter()
    try:
        if not args.database:
            build(args, database)
            print(f"built {args.lines:,} lines in {time.perf_counter() - began:.1f} s")
        print(
            f"{'run':<14} {'seconds':>8} {'lines/s':>10} {'CPU s':>7} {'peak RSS MB':>12}"
            f" {'bytes':>12}"
        )
        for kind in ("reference", "export"):
            out = subprocess.run(
                [sys.executable, str(Path(__file__)), "--child", kind, _url(database, args)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            seconds, rss, size, cpu = float(out[0]), out[1], out[2], float(out[3])
            name = "reference" if kind == "reference" else "saft export"
            rate = args.lines / seconds if seconds else 0
            shown = size if kind == "export" else "-"
            print(f"{name:<14} {seconds:>8.2f} {rate:>10,.0f} {cpu:>7.2f} {rss:>12} {shown:>12}")
    finally:
        if args.keep:
            print(f"kept database {database}")
        elif not args.database:
            with psycopg.connect(_url("postgres", args), autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )


if __name__ == "__main__":
    main()
