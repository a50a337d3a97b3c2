"""P5: `bookkeeper import events` throughput on PostgreSQL, beside a reference in the
same run.

Writes `--events` ReceiptAttachmentProposed events (one stream each, one JSON line each)
to a temporary file, then on a fresh, migrated database:

* `import (new)`: application.importing.import_events with the SQL sink — both passes
  (check every line, then write in batches), as the CLI runs it, without the replay;
* `import (again)`: the same file a second time (every id known: all skipped);
* `COPY reference`: psycopg COPY of the same rows into a table shaped like `events`
  without its indexes and constraints — the most PostgreSQL takes in here.

    .venv/bin/python bench/import_events.py --events 200000

Nothing here asserts timings; the target is ≥ 20,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import psycopg

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
for _path in (str(PROJECT_DIR), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from run import Postgres, log  # noqa: E402
from run import parse_args as run_settings  # noqa: E402

from bookkeeper.adapters.sql import SqlDatabase  # noqa: E402
from bookkeeper.adapters.sql.importing import SqlEventImport  # noqa: E402
from bookkeeper.adapters.system import UuidV7Ids  # noqa: E402
from bookkeeper.application.importing import import_events  # noqa: E402
from bookkeeper.application.ports import RecordedEvent  # noqa: E402
from bookkeeper.domain.events import ReceiptAttachmentData, Status  # noqa: E402

TARGET_PER_S = 20_000.0


def write_file(path: Path, count: int) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    encoder = msgspec.json.Encoder()
    ids = UuidV7Ids()  # as the application makes them: time-ordered
    with path.open("wb") as handle:
        for n in range(count):
            stream = ids.new_id()
            event = RecordedEvent(
                position=0,
                id=stream,
                tenant_id="bench",
                stream_id=stream,
                version=1,
                type="ReceiptAttachmentProposed",
                schema_version=1,
                status=Status.PROPOSED,
                actor="book-e",
                data=ReceiptAttachmentData(
                    merchant_name=f"Merchant {n % 5000}",
                    amount=Decimal(f"{100 + n % 900}.{n % 100:02d}"),
                    date=dt.date(2026, 1, 1) + dt.timedelta(days=n % 300),
                    vat_rate=Decimal("25"),
                    account_code="6540",
                    folio_event_id=f"ev-{n}",
                ),
                metadata={"source": {"channel": "import-bench"}},
                parent_id=None,
                correlation_id=stream,
                created_at=start + dt.timedelta(seconds=n),
            )
            handle.write(encoder.encode(event))
            handle.write(b"\n")


def lines_of(path: Path) -> Callable[[], Iterator[bytes]]:
    def open_lines() -> Iterator[bytes]:
        with path.open("rb") as handle:
            yield from handle

    return open_lines


async def timed_import(url: str, path: Path) -> tuple[float, int]:
    database = SqlDatabase(url, pool_size=2, max_overflow=0)
    try:
        started = time.perf_counter()
        report = await import_events(lines_of(path), SqlEventImport(database))
        return time.perf_counter() - started, report.imported
    finally:
        await database.dispose()


def copy_reference(url: str, path: Path) -> float:
    """COPY the same rows (as JSON text columns) into an unindexed events-shaped table."""
    decoder = msgspec.json.Decoder()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE copy_reference (id uuid, tenant_id text, stream_id uuid, version int, "
            "type text, schema_version smallint, status text, actor text, data jsonb, "
            "metadata jsonb, parent_id uuid, correlation_id uuid, created_at timestamptz)"
        )
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY copy_reference FROM STDIN") as copy,
            path.open("rb") as handle,
        ):
            for raw in handle:
                e = decoder.decode(raw)
                copy.write_row(
                    (
                        e["id"],
                        e["tenant_id"],
                        e["stream_id"],
                        e["version"],
                        e["type"],
                        e["schema_version"],
                        e["status"],
                        e["actor"],
                        msgspec.json.encode(e["data"]).decode(),
                        msgspec.json.encode(e["metadata"]).decode(),
                        e["parent_id"],
                        e["correlation_id"],
                        e["created_at"],
                    )
                )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args(argv)
    postgres = Postgres(run_settings([]))
    nonce = secrets.token_hex(3)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        write_file(path, args.events)
        log(f"wrote {args.events:,} events ({path.stat().st_size / 1e6:.0f} MB)")
        url = postgres.url(postgres.create(f"bench_import_{nonce}", stack))
        asyncio.run(_migrate(url))
        first, imported = asyncio.run(timed_import(url, path))
        again, none = asyncio.run(timed_import(url, path))
        reference = copy_reference(url, path)
    n = args.events
    print(f"\nP5 import of {n:,} events (PostgreSQL; both passes, no replay)")
    print(f"{'row':<16} | {'seconds':>7} | {'events/s':>9}")
    for name, seconds in (
        ("import (new)", first),
        ("import (again)", again),
        ("COPY reference", reference),
    ):
        print(f"{name:<16} | {seconds:>7.1f} | {n / seconds:>9,.0f}")
    print(f"imported {imported:,} then {none:,}; ratio import/COPY = {reference / first:.2f}x")
    verdict = "PASS" if n / first >= TARGET_PER_S else "MISS"
    print(f"[{verdict}] P5 >= {TARGET_PER_S:,.0f} events/s")
    return 0


async def _migrate(url: str) -> None:
    database = SqlDatabase(url, pool_size=1, max_overflow=0)
    try:
        await database.migrate()
    finally:
        await database.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
