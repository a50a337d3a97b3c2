"""P5: `bookkeeper import fiken` throughput against the loopback Fiken fake, beside its
ceiling and a reference in the same run.

Seeds the fake with `--records` records (a third each journal entries, supplier purchases
with a payment, invoiced sales), serves it on loopback, then imports into a fresh migrated
SQLite file (PostgreSQL with `--postgres`, the bench's server):

* `import (new)`: application.books_import through the real FikenClient — one request at a
  time, at most 4 a second, 100 records a page: the ceiling is 400 records/s;
* `import (again)`: the same (every entry known: nothing written, the pages still read);
* `no gate` (reference): the same first import with Fiken's 4/s window lifted (still one
  request at a time), into a fresh database: what the mapping, writing and HTTP cost
  without the rate limit — so how far below the ceiling the rest keeps the import.

    .venv/bin/python bench/import_fiken.py --records 3000

Nothing here asserts timings.
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
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
for _path in (str(PROJECT_DIR), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.fakes.fiken import (  # noqa: E402
    BANK_ACCOUNT_CODE,
    DEFAULT_COMPANY,
    DEFAULT_TOKEN,
    FakeFiken,
    running_fake_fiken,
)

from bookkeeper.adapters.fiken import FikenClient, SlidingWindow  # noqa: E402
from bookkeeper.adapters.fiken.history import FikenHistory  # noqa: E402
from bookkeeper.adapters.sql import SqlDatabase, run_migrations  # noqa: E402
from bookkeeper.adapters.system import SystemClock  # noqa: E402
from bookkeeper.application.books_import import BooksImport  # noqa: E402

PAGE = 100
CEILING = 4 * PAGE  # records/s: 4 requests a second, 100 records a page


def seed(fake: FakeFiken, records: int) -> None:
    supplier = fake.add_contact("Leverandør AS", "913312465")
    customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
    start = dt.date(2025, 1, 1)
    for n in range(records):
        day = start + dt.timedelta(days=n % 360)
        ore = 10_000 + (n * 37) % 500_000
        if n % 3 == 0:
            fake.add_journal_entry(
                day, [("6300", ore), (BANK_ACCOUNT_CODE, -ore)], f"Postering {n}"
            )
        elif n % 3 == 1:
            purchase = fake.create_purchase(
                {
                    "date": day.isoformat(),
                    "kind": "supplier",
                    "paid": False,
                    "currency": "NOK",
                    "supplierId": supplier,
                    "identifier": f"F-{n}",
                    "lines": [
                        {
                            "description": "Varer",
                            "vatType": "HIGH",
                            "netPrice": ore,
                            "vat": ore // 4,
                            "account": "4000",
                        }
                    ],
                }
            )
            fake.pay_purchase(purchase, day, BANK_ACCOUNT_CODE, ore + ore // 4)
        else:
            fake.add_sale(
                day,
                [
                    {
                        "description": "Tjenester",
                        "vatType": "HIGH",
                        "netPrice": ore,
                        "vat": ore // 4,
                        "account": "3000",
                    }
                ],
                customer_id=customer,
                sale_number=f"S-{n}",
                payments=[(day, BANK_ACCOUNT_CODE, ore + ore // 4)],
            )


async def timed(url: str, base_url: str, *, gate: bool) -> tuple[float, int, int]:
    window = None if gate else SlidingWindow(limit=1_000_000, window=1.0)
    client = FikenClient(base_url, DEFAULT_TOKEN, window=window)
    database = SqlDatabase(url, pool_size=2, max_overflow=0)
    try:
        service = BooksImport(
            database.uow_factory(), FikenHistory(client, DEFAULT_COMPANY), SystemClock()
        )
        started = time.perf_counter()
        report = await service.run("bench", dt.date(2025, 1, 1))
        seconds = time.perf_counter() - started
        return seconds, sum(report.records.values()), report.imported
    finally:
        await client.aclose()
        await database.dispose()


async def bench(records: int, urls: list[str]) -> None:
    async with running_fake_fiken() as (fake, base_url):
        started = time.perf_counter()
        seed(fake, records)
        print(f"seeded {records:,} records in {time.perf_counter() - started:.1f} s", flush=True)
        first = await timed(urls[0], base_url, gate=True)
        requests = len(fake.requests)
        busiest = fake.max_requests_in_any_second()
        again = await timed(urls[0], base_url, gate=True)
        ungated = await timed(urls[1], base_url, gate=False)
    print(f"\nP5 import fiken of {records:,} records ({first[2]:,} entries), page {PAGE}")
    print(f"{'row':<16} | {'seconds':>7} | {'records/s':>9} | {'entries':>7}")
    for name, (seconds, read, written) in (
        ("import (new)", first),
        ("import (again)", again),
        ("no gate (ref.)", ungated),
    ):
        print(f"{name:<16} | {seconds:>7.1f} | {read / seconds:>9,.0f} | {written:>7,}")
    rate = first[1] / first[0]
    print(
        f"first run: {requests} requests, at most {busiest} in any second; "
        f"{rate / CEILING:.2f}x the ceiling of {CEILING}/s (4 req/s x {PAGE}); "
        f"{rate / (ungated[1] / ungated[0]):.2f}x the ungated reference"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=3_000)
    parser.add_argument("--postgres", action="store_true", help="the bench's PostgreSQL")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            from run import Postgres
            from run import parse_args as run_settings

            postgres = Postgres(run_settings([]))
            nonce = secrets.token_hex(3)
            urls = [
                postgres.url(postgres.create(f"bench_fiken_{nonce}_{n}", stack)) for n in (1, 2)
            ]
        else:
            urls = [f"sqlite:///{Path(tmp) / f'import-{n}.db'}" for n in (1, 2)]
        for url in urls:
            run_migrations(url)
        asyncio.run(bench(args.records, urls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
