"""P1 at scale: the propose path on an empty store against the same on a full one.

Issue 14 / ADR 0032: every read of the propose path is bounded by an index and a LIMIT,
so proposals per second must not fall as the tenant's data grows. This runs, in one run on
the same machine, the same proposals through the real `Handlers` on a real PostgreSQL
`SqlDatabase` (in process: no HTTP, so the difference is the store's), alternately on a
freshly migrated database holding only the 997 patterns the mix uses, and on one seeded
by SQL with `--events` events, `--patterns` applied patterns and `--lookalikes` proposals
of one merchant with one amount inside the duplicate window (the café's 45 kr coffee).
With `--vacuum` both are VACUUM ANALYZEd first (else autovacuum works through the seeded
tables during the measurement). The mix sent to both: a third the café's coffee again
(duplicates), a third merchants that have a pattern (auto-approved on both stores), a
third new merchants.

    .venv/bin/python bench/scale.py --vacuum            # defaults: 1 M events, 50 k, 5 k
    .venv/bin/python bench/scale.py --events 200000 --duration 10

Prints one row per store and the ratio full/empty; the target is a difference < 20 %.
Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import secrets
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
for _path in (str(PROJECT_DIR), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from run import Postgres, log, percentile  # noqa: E402
from run import parse_args as run_settings  # noqa: E402

from bookkeeper.adapters.sql import SqlDatabase  # noqa: E402
from bookkeeper.adapters.system import SystemClock, UuidV7Ids  # noqa: E402
from bookkeeper.application.authorization import RoleAuthorizer  # noqa: E402
from bookkeeper.application.commands import SubmitEvent  # noqa: E402
from bookkeeper.application.handlers import Handlers  # noqa: E402
from bookkeeper.application.ports import Principal  # noqa: E402
from bookkeeper.domain.events import ReceiptAttachmentData  # noqa: E402

TENANT = "bench"
DAY = dt.date(2026, 11, 20)
TARGET_DIFFERENCE = 0.20


#: The merchants of the mix that have a pattern, in both stores ("Shop 1" … "Shop 997"):
#: a proposal that matches one is auto-approved (a second event), on either store alike.
MIX_PATTERNS = 997


def seed_patterns(url: str, count: int) -> None:
    """Applied patterns "shop 1" … "shop <count>"."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO patterns SELECT %(t)s, 'shop ' || g, 'Shop ' || g, '6540', 25, "
            "gen_random_uuid(), 'human:kari', now(), g FROM generate_series(1, %(n)s) g",
            {"t": TENANT, "n": count},
        )


def seed(url: str, events: int, patterns: int, lookalikes: int) -> None:
    """The full store: events, patterns and the café's look-alike proposals, by SQL."""
    seed_patterns(url, max(patterns, MIX_PATTERNS))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (id, tenant_id, stream_id, version, type, schema_version, "
            "actor, data, metadata, correlation_id, created_at) "
            # Time-ordered ids, as the application's UUIDv7 are (random v4 ids would
            # scatter the log's unique indexes, which no store of ours does).
            "SELECT (lpad(to_hex(g), 12, '0') || '7' || substr(md5(g::text), 1, 19))::uuid, "
            "%(t)s, (lpad(to_hex(g), 12, '0') || '7' || substr(md5('s' || g), 1, 19))::uuid, 1, "
            "'ReceiptAttachmentProposed', 1, 'book-e', "
            "jsonb_build_object('merchantName', 'Seeded ' || g, 'amount', '10.00'), "
            "'{}'::jsonb, gen_random_uuid(), now() FROM generate_series(1, %(n)s) g",
            {"t": TENANT, "n": events},
        )
        conn.execute(
            "INSERT INTO proposals (id, tenant_id, kind, type, status, version, "
            "correlation_id, proposed_by, proposed_at, updated_at, merchant_key, "
            "merchant_name, amount, document_date, data, attempts, external_ids, "
            "last_position) SELECT gen_random_uuid(), %(t)s, 'receipt_attachment', "
            "'ReceiptAttachmentProposed', 'PROPOSED', 1, gen_random_uuid(), 'book-e', now(), "
            "now(), 'kaffebrenneriet', 'Kaffebrenneriet', 45.00, %(day)s, '{}'::jsonb, 0, "
            "'{}'::jsonb, g FROM generate_series(1, %(n)s) g",
            {"t": TENANT, "n": lookalikes, "day": DAY},
        )


def receipt(n: int, nonce: str) -> ReceiptAttachmentData:
    kind = n % 3
    if kind == 0:
        merchant, amount = "Kaffebrenneriet AS", Decimal("45.00")
    elif kind == 1:
        merchant, amount = f"Shop {1 + n % MIX_PATTERNS}", Decimal(100 + n % 900)
    else:
        merchant, amount = f"New {nonce} {n}", Decimal(100 + n % 900)
    return ReceiptAttachmentData(
        merchant_name=merchant,
        amount=amount,
        date=DAY,
        vat_rate=Decimal("25"),
        account_code="6540",
        folio_event_id=f"ev-{nonce}-{n}",
    )


async def measure(url: str, seconds: float, concurrency: int, nonce: str) -> dict[str, Any]:
    database = SqlDatabase(url, pool_size=concurrency, max_overflow=0)
    try:
        handlers = Handlers(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
        agent = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))
        latencies: list[float] = []
        counter = iter(range(10**9))
        warm_until = time.perf_counter() + min(2.0, seconds / 4)
        end = warm_until + seconds

        async def worker() -> None:
            while (now := time.perf_counter()) < end:
                n = next(counter)
                command = SubmitEvent(
                    type="ReceiptAttachmentProposed", data=receipt(n, nonce), principal=agent
                )
                await handlers.submit(command)
                if now >= warm_until:
                    latencies.append(time.perf_counter() - now)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await database.dispose()
    latencies.sort()
    return {
        "per_s": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--patterns", type=int, default=50_000)
    parser.add_argument("--lookalikes", type=int, default=5_000)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per store")
    parser.add_argument(
        "--vacuum", action="store_true", help="VACUUM (ANALYZE) both stores before measuring"
    )
    args = parser.parse_args(argv)
    postgres = Postgres(run_settings([]))
    nonce = secrets.token_hex(3)
    runs: dict[str, list[dict[str, Any]]] = {"empty": [], "full": []}
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for label in ("empty", "full"):
            name = postgres.create(f"bench_scale_{label}_{nonce}", stack)
            urls[label] = postgres.url(name)
            asyncio.run(_migrate(SqlDatabase(urls[label], pool_size=1, max_overflow=0)))
        seed_patterns(urls["empty"], MIX_PATTERNS)
        started = time.perf_counter()
        seed(urls["full"], args.events, args.patterns, args.lookalikes)
        log(f"seeded in {time.perf_counter() - started:.1f} s")
        if args.vacuum:
            # Else autovacuum works through the seeded tables during the measurement.
            for url in urls.values():
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("VACUUM (ANALYZE)")
            log("vacuumed and analyzed both stores")
        # Alternating, so that a change in the machine's load hits both alike.
        for n in range(args.repeat):
            for label in ("empty", "full"):
                row = asyncio.run(
                    measure(urls[label], args.duration, args.concurrency, f"{label}{n}{nonce}")
                )
                log(f"{label} #{n + 1}: {row['per_s']:,.0f}/s p99 {row['p99_ms']:.1f} ms")
                runs[label].append(row)
    rows = {label: _median(found) for label, found in runs.items()}
    print(
        f"\nP1 at scale (in process, PostgreSQL, {args.concurrency} concurrent, median of "
        f"{args.repeat}; full store: {args.events:,} events, {args.patterns:,} patterns, "
        f"{args.lookalikes:,} same-merchant same-amount proposals, "
        f"{'vacuumed and analyzed' if args.vacuum else 'not analyzed'})"
    )
    print(f"{'store':<6} | {'proposals/s':>11} | {'p50 ms':>7} | {'p99 ms':>7}")
    for label, row in rows.items():
        print(
            f"{label:<6} | {row['per_s']:>11,.0f} | {row['p50_ms']:>7.1f} | {row['p99_ms']:>7.1f}"
        )
    ratio = rows["full"]["per_s"] / rows["empty"]["per_s"]
    verdict = "PASS" if abs(1 - ratio) < TARGET_DIFFERENCE else "MISS"
    print(f"ratio full/empty = {ratio:.2f}  [{verdict}] difference < {TARGET_DIFFERENCE:.0%}")
    return 0


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


async def _migrate(database: SqlDatabase) -> None:
    try:
        await database.migrate()
    finally:
        await database.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
