"""The propose (and decide) path's cost per proposal on PostgreSQL, in process (ADR 0041).

The real `Handlers` on a real `SqlDatabase` (no HTTP, so the figures are the handler's and
the store's): `--proposals` new receipts (a new merchant each, as bench/run.py's default
mix) submitted `--concurrency` at a time, then (with `--decide`) each approved. For each
phase it prints the client's CPU (this process, from /proc), the PostgreSQL backends' CPU
(the pool's connections, from /proc), and PostgreSQL's transactions per operation
(pg_stat_database), on a freshly migrated database of its own that is dropped on exit.

Meant for A/B runs of two source trees in the same session (the machine is shared, so
CPU per operation is the figure to compare, not wall time):

    PYTHONPATH=/path/to/a/src .venv/bin/python bench/propose_cpu.py
    PYTHONPATH=/path/to/b/src .venv/bin/python bench/propose_cpu.py

Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.database import run_migrations
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import ReceiptAttachmentData

TENANT = "bench"
AGENT = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))
REVIEWER = Principal(subject="kari", tenant_id=TENANT, roles=frozenset({"reviewer"}))
TICKS = os.sysconf("SC_CLK_TCK")


def receipt(number: int, nonce: str) -> ReceiptAttachmentData:
    return ReceiptAttachmentData(
        merchant_name=f"Merchant {nonce} {number}",
        amount=Decimal(100 + number % 900) + Decimal("0.50"),
        date=dt.date(2026, 11, 1) + dt.timedelta(days=number % 28),
        vat_rate=Decimal("25"),
        account_code="6540",
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def backends(admin: psycopg.Connection[Any], dbname: str) -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (dbname,),
    ).fetchall()
    return [pid for (pid,) in rows]


def transactions(admin: psycopg.Connection[Any], dbname: str) -> tuple[int, int]:
    admin.execute("SELECT pg_stat_clear_snapshot()")
    row = admin.execute(
        "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s", (dbname,)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def phase(
    name: str,
    count: int,
    concurrency: int,
    step: Any,
    admin: psycopg.Connection[Any],
    dbname: str,
) -> dict[str, float]:
    pool = backends(admin, dbname)
    before_pg = {pid: cpu_seconds(pid) for pid in pool}
    before_tx = transactions(admin, dbname)
    before_cpu = cpu_seconds(os.getpid())
    started = time.perf_counter()
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            await step(number)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    client = cpu_seconds(os.getpid()) - before_cpu
    # An idle backend flushes its statistics within PGSTAT_IDLE_INTERVAL (10 s).
    await asyncio.sleep(11)
    after_tx = transactions(admin, dbname)
    server = sum(cpu_seconds(pid) - before_pg.get(pid, 0.0) for pid in backends(admin, dbname))
    result = {
        "per_s": count / wall,
        "client_ms": 1000 * client / count,
        "postgres_ms": 1000 * server / count,
        "commits": (after_tx[0] - before_tx[0]) / count,
        "rollbacks": (after_tx[1] - before_tx[1]) / count,
    }
    print(
        f"{name:8} {count} at {concurrency}: {result['per_s']:7.0f}/s  client "
        f"{result['client_ms']:.3f} CPU-ms  postgres {result['postgres_ms']:.3f} CPU-ms  "
        f"commits {result['commits']:.2f}  rollbacks {result['rollbacks']:.2f} per operation",
        flush=True,
    )
    return result


async def run(settings: argparse.Namespace) -> None:
    nonce = secrets.token_hex(3)
    dbname = f"{settings.prefix}_{nonce}"
    base = settings.url.rstrip("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        try:
            url = f"{base}/{dbname}"
            run_migrations(url)
            database = SqlDatabase(
                url,
                pool_size=settings.concurrency,
                max_overflow=0,
                group_writers=settings.group_writers,
            )
            try:
                handlers = Handlers(
                    database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer()
                )
                ids: list[Any] = []

                async def propose(number: int) -> None:
                    submitted = await handlers.submit(
                        SubmitEvent(
                            principal=AGENT,
                            type="ReceiptAttachmentProposed",
                            data=receipt(number, nonce),
                        )
                    )
                    ids.append(submitted.stream_id)

                async def approve(number: int) -> None:
                    await handlers.approve(
                        ApproveProposal(principal=REVIEWER, proposal_id=ids[number])
                    )

                # Warm-up: the pool's connections opened, caches filled, plans prepared.
                await phase(
                    "warm-up", settings.warmup, settings.concurrency, propose, admin, dbname
                )
                warm = len(ids)
                # As autovacuum would, but now: a plan chosen before the first ANALYZE (the
                # duplicate read walking the tenant's proposals, ADR 0039) would make
                # PostgreSQL's CPU a matter of when autovacuum came by.
                with psycopg.connect(url, autocommit=True) as analyze:
                    analyze.execute("ANALYZE")
                await phase(
                    "propose", settings.proposals, settings.concurrency, propose, admin, dbname
                )
                if settings.decide:
                    del ids[:warm]
                    await phase(
                        "decide", settings.proposals, settings.concurrency, approve, admin, dbname
                    )
            finally:
                await database.dispose()
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--prefix", default="bench_propose_cpu")
    parser.add_argument("--proposals", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--group-writers",
        type=int,
        default=2,
        help="new proposals' writes in flight per process, batched behind them (ADR 0053); "
        "0 writes each alone",
    )
    parser.add_argument("--decide", action="store_true", help="also approve each proposal")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
