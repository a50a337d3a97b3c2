"""P1 beside the sealer: event appends per second with and without the sealer running.

    .venv/bin/python bench/seal.py [--writers 8] [--seconds 10] [--interval 0.5]

On a fresh PostgreSQL database (and a fresh SQLite file with --sqlite), `--writers`
concurrent tasks append one event per unit of work for `--seconds`; first alone (the
reference), then with the sealer (ADR 0024) sealing every `--interval` s beside them.
Prints appends/s alone, beside the sealer, alone again (the noise), the ratio, and how
many events the sealer sealed meanwhile.
Writers never wait for the sealer on PostgreSQL; on SQLite they share the one write turn.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import secrets
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from tests.integration.builders import proposed

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.seal import SqlSealStore
from bookkeeper.adapters.system import SystemClock
from bookkeeper.application.seal import Sealer, verify


async def _appends(database: SqlDatabase, writers: int, seconds: float) -> int:
    clock = SystemClock()
    count = 0

    async def writer() -> None:
        nonlocal count
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            event_id = uuid.uuid4()
            async with database.uow_factory()() as uow:
                event = proposed(event_id, created_at=clock.now())
                await uow.events.append("bench", event_id, 0, [event])
                await uow.commit()
            count += 1

    await asyncio.gather(*(writer() for _ in range(writers)))
    return count


async def _run(url: str, args: argparse.Namespace) -> tuple[float, float, float, int]:
    database = SqlDatabase(url, pool_size=args.writers + 2, max_overflow=4)
    try:
        await _appends(database, args.writers, 1.0)  # warm-up (pool, caches)
        alone = await _appends(database, args.writers, args.seconds) / args.seconds
        sealer = Sealer(SqlSealStore(database), SystemClock(), margin=dt.timedelta(seconds=1))
        await sealer.seal()
        stop = asyncio.Event()
        sealed = 0

        async def sealing() -> None:
            nonlocal sealed
            while not stop.is_set():
                sealed += sum(s.event_count for s in await sealer.seal())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.interval)

        runner = asyncio.create_task(sealing())
        beside = await _appends(database, args.writers, args.seconds) / args.seconds
        stop.set()
        await runner
        await asyncio.sleep(1.1)
        await sealer.seal()
        assert (await verify(SqlSealStore(database))).ok
        again = await _appends(database, args.writers, args.seconds) / args.seconds
        return alone, beside, again, sealed
    finally:
        await database.dispose()


def _postgres(args: argparse.Namespace) -> tuple[str, str]:
    name = f"bk_bench_seal_{secrets.token_hex(4)}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = args.postgres.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite", action="store_true", help="also on a SQLite file")
    args = parser.parse_args()
    rows = []
    name, url = _postgres(args)
    try:
        run_migrations(url)
        rows.append(("postgresql", *asyncio.run(_run(url, args))))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    if args.sqlite:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
            run_migrations(url)
            rows.append(("sqlite", *asyncio.run(_run(url, args))))
    print(f"{args.writers} writers, {args.seconds:g} s each, sealer every {args.interval:g} s")
    print("ratio: beside / mean(alone before, alone after); the two alone runs show the noise")
    head = f"{'engine':<12}{'alone/s':>9}{'beside/s':>10}{'again/s':>9}{'ratio':>7}{'sealed':>8}"
    print(head)
    for engine, alone, beside, again, sealed in rows:
        ratio = beside / ((alone + again) / 2)
        print(f"{engine:<12}{alone:>9.0f}{beside:>10.0f}{again:>9.0f}{ratio:>7.2f}{sealed:>8}")


if __name__ == "__main__":
    main()
