"""P2, P3, P4 benchmarks: executor overhead, projection rebuild, trial balance.

One command (`.venv/bin/python bench/accounting.py`) that, each part on fresh PostgreSQL
databases of its own (created here, dropped at the end, also on Ctrl-C and errors):

* **P2** approved proposals (made through `Handlers` + `Documents` on a real `SqlDatabase`)
  executed by `Executor.run_once()` loops, (a) against the in-process Books/Bank doubles and
  (b) against the loopback fake Folio over real HTTP; the reference is bare psycopg doing
  the same number of transactions and statements per proposal as the executor did (counted
  in the same run). (c) a short correctness run against the fake Fiken with the production
  client's limits: never two requests at once, never more than 4 in any second.
* **P3** E events (a realistic mix made by the real domain code, copied with fresh ids and
  dates) COPYed into `events`, then `rebuild_projections()`; the reference is a plain
  SELECT of the whole log streamed through psycopg and decoded.
* **P4** L journal lines in the ledger projection's tables (a sample posted through
  `SqlLedger.post`, the rest COPYed, `ledger_daily` aggregated the way the projection adds
  to it, and checked); `LedgerService.trial_balance` / `general_ledger` timed (medians),
  and `hledger balance` on the same journal exported to hledger's format as the reference.

It prints one table (id | what | measured | reference | ratio | target | met?) with notes
below, writes bench/results/accounting-<timestamp>.json, and exits 0 (1 only when a part
failed or a correctness check did not hold; a missed target is not a failure).
Not part of the test suite; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import psycopg

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
# The loopback fakes and in-memory doubles live in tests/; run.py holds the P1 helpers.
for _path in (str(PROJECT_DIR), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from run import (  # noqa: E402
    CpuMeter,
    Postgres,
    interrupts_as_keyboard_interrupt,
    log,
    loud,
    stop_process_group,
)

from bookkeeper.adapters.memory_locks import InProcessLocks  # noqa: E402
from bookkeeper.adapters.sql import SqlDatabase  # noqa: E402
from bookkeeper.adapters.sql.shadow_replay import ShadowReplay  # noqa: E402
from bookkeeper.adapters.system import SystemClock, UuidV7Ids  # noqa: E402
from bookkeeper.application.authorization import RoleAuthorizer  # noqa: E402
from bookkeeper.application.commands import SubmitEvent  # noqa: E402
from bookkeeper.application.execution import ExecutionPolicy, Executor  # noqa: E402
from bookkeeper.application.handlers import Handlers  # noqa: E402
from bookkeeper.application.ledger import LedgerService  # noqa: E402
from bookkeeper.application.ports import (  # noqa: E402
    BankProvider,
    BooksProvider,
    Principal,
    ProposalFilter,
    RecordedEvent,
)
from bookkeeper.application.queries import Queries  # noqa: E402
from bookkeeper.application.replay import rebuild_projections  # noqa: E402
from bookkeeper.domain.events import (  # noqa: E402
    JournalEntryPostedData,
    JournalLine,
    ReceiptAttachmentData,
    Status,
    decode_payload,
    encode_payload,
)
from bookkeeper.entrypoints.serve import freeze_started_heap  # noqa: E402

TARGET_P2_PER_S = 1000.0
TARGET_P3_S = 30.0
TARGET_P6_P95_MS = 5.0
TARGET_P7_RSS_MB = 300.0
TARGET_P4_TB_MS = 50.0
TARGET_P4_GL_MS = 20.0
TARGET_P4_HLEDGER_RATIO = 1000.0  # quality.md P4: >= 1,000 x `hledger balance`
FIKEN_MAX_PER_SECOND = 4
_ID_SEGMENT = re.compile(r"/\d+")

P4_TENANT = "bench"
P4_ACCOUNT = "1920"  # the bank account: in about a third of all lines
P4_YEAR = 2025


# --- results ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table."""

    id: str
    what: str
    measured: str
    reference: str = "-"
    ratio: str = "-"
    target: str = ""
    met: bool | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Part:
    """What one part measured, said and found wrong."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)
        log(f"{self.name}: {text}")

    def check(self, ok: bool, text: str) -> bool:
        """A correctness condition: noted either way, a failure when it does not hold."""
        self.note(("ok: " if ok else "CHECK FAILED: ") + text)
        if not ok:
            self.failures.append(text)
        return ok


@dataclass
class Settings:
    only: list[str]
    proposals: int
    tenants: int
    fiken_proposals: int
    document_kb: int
    events: int
    lines: int
    repeats: int
    hledger_runs: int
    profile: bool
    keep_journal: bool
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    p3_in_place: bool = False
    writer_rate: float = 20.0
    p6_samples: int = 300
    p7_seconds: float = 15.0
    p7_workers: int = 2
    p7_connections: int = 64


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def cpu_note(meter: CpuMeter, per: int, unit: str) -> str:
    cores = getattr(meter, "cores", {})
    used = ", ".join(f"{group} {value:.2f}" for group, value in cores.items())
    per_op = ", ".join(
        f"{group} {1000 * value * meter.elapsed / per:.2f}"
        for group, value in cores.items()
        if group not in ("other", "machine", "postgres (rest)") and per
    )
    return f"CPU cores used: {used}; CPU-ms per {unit}: {per_op}"


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Databases:
    """Fresh databases for one part, dropped when the part's stack unwinds."""

    def __init__(self, postgres: Postgres, nonce: str, stack: contextlib.ExitStack) -> None:
        self.postgres = postgres
        self.nonce = nonce
        self.stack = stack

    def create(self, label: str) -> tuple[str, str]:
        name = self.postgres.create(f"bench_acc_{label}_{self.nonce}", self.stack)
        return name, self.postgres.url(name)


async def open_database(url: str, stack: contextlib.AsyncExitStack, pool: int = 8) -> SqlDatabase:
    database = SqlDatabase(url, pool_size=pool, max_overflow=0)
    stack.push_async_callback(database.dispose)
    await database.migrate()
    return database


def psql_execute(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements on their own connection (autocommit); the last one's rows."""
    rows: list[tuple[Any, ...]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            cursor = conn.execute(statement)  # type: ignore[arg-type]
            rows = cursor.fetchall() if cursor.description else []
    return rows


def settle(url: str, *tables: str) -> None:
    """After a bulk load: VACUUM ANALYZE (hint bits, visibility map, statistics) and a
    CHECKPOINT, so the measurement that follows neither pays for them nor meets them."""
    psql_execute(url, *(f"VACUUM ANALYZE {table}" for table in tables), "CHECKPOINT")


DAILY_MISMATCHES = """
SELECT count(*) FROM (
    SELECT tenant_id, account, date, sum(debit) AS debit, sum(credit) AS credit
    FROM journal_lines GROUP BY tenant_id, account, date
) lines
FULL JOIN ledger_daily daily USING (tenant_id, account, date)
WHERE lines.debit IS DISTINCT FROM daily.debit OR lines.credit IS DISTINCT FROM daily.credit
"""


# =============================================================================================
# P2: executor overhead
# =============================================================================================

MERCHANTS = (
    "Kaffebrenneriet",
    "Clas Ohlson",
    "Rema 1000",
    "Ruter",
    "Elkjøp",
    "Narvesen",
    "Posten",
    "Biltema",
    "Jernia",
    "Europris",
    "Vinmonopolet",
    "Circle K",
)
PDF_HEAD = b"%PDF-1.7\n1 0 obj <<>> endobj\n"


def folio_event_id(number: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-folio-event-{number}"))


class StatementCounter:
    """Counts, while on, the statements sent through psycopg (SQLAlchemy's and the hot
    path's; an executemany counts its rows) and the transactions the client ended (a
    commit or rollback with a transaction open)."""

    def __init__(self) -> None:
        self.statements = 0
        self.commits = 0
        self.rollbacks = 0
        self._saved: list[tuple[type[Any], str, Any]] = []

    def __enter__(self) -> StatementCounter:
        counter = self
        cursor_class, connection_class = psycopg.AsyncCursor, psycopg.AsyncConnection
        execute, executemany = cursor_class.execute, cursor_class.executemany
        commit, rollback = connection_class.commit, connection_class.rollback
        idle = psycopg.pq.TransactionStatus.IDLE

        async def counted_execute(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            counter.statements += 1
            return await execute(cursor, *args, **kwargs)

        async def counted_executemany(cursor: Any, query: Any, params: Any, **kw: Any) -> Any:
            params = list(params)
            counter.statements += len(params)
            return await executemany(cursor, query, params, **kw)

        async def counted_commit(connection: Any) -> Any:
            if connection.info.transaction_status != idle:
                counter.commits += 1
            return await commit(connection)

        async def counted_rollback(connection: Any) -> Any:
            if connection.info.transaction_status != idle:
                counter.rollbacks += 1
            return await rollback(connection)

        self._saved = [
            (cursor_class, "execute", execute),
            (cursor_class, "executemany", executemany),
            (connection_class, "commit", commit),
            (connection_class, "rollback", rollback),
        ]
        cursor_class.execute = counted_execute  # type: ignore[method-assign]
        cursor_class.executemany = counted_executemany  # type: ignore[method-assign]
        connection_class.commit = counted_commit  # type: ignore[method-assign]
        connection_class.rollback = counted_rollback  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        for owner, name, original in self._saved:
            setattr(owner, name, original)

    @property
    def transactions(self) -> int:
        return self.commits + self.rollbacks


async def make_approved(
    h: Any, count: int, tenants: int, kinds: str, document_bytes: int, start: int = 0
) -> int:
    """`count` proposals through the real handlers, each with its own stored document,
    approved by a reviewer (another principal than the agent that proposed)."""
    from tests.unit.external_doubles import agent, expense, receipt

    rng = random.Random(start)
    gate = asyncio.Semaphore(6)
    approved = 0

    async def one(number: int) -> None:
        nonlocal approved
        tenant = f"t{number % tenants}"
        content = PDF_HEAD + rng.randbytes(document_bytes) + b"\n%%EOF\n"
        amount = Decimal(rng.randrange(2_000, 500_000)) / 100
        date = dt.date(2026, 1, 1) + dt.timedelta(days=number % 300)
        merchant = MERCHANTS[number % len(MERCHANTS)]
        async with gate:
            sha = await h.store(content, tenant)
            if kinds == "receipts" or number % 2 == 0:
                kind = "ReceiptAttachmentProposed"
                data = receipt(
                    sha,
                    merchant_name=merchant,
                    amount=amount,
                    date=date,
                    folio_event_id=folio_event_id(number),
                    document_number=f"R-{number}",
                    merchant_org_number="937120078",
                )
            else:
                kind = "ExpenseRegistrationProposed"
                data = expense(
                    sha,
                    merchant_name=merchant,
                    amount=amount,
                    date=date,
                    document_number=f"K-{number}",
                )
            result = await h.handlers.submit(
                SubmitEvent(type=kind, data=data, principal=agent(tenant))
            )
            if result.status is Status.PROPOSED:
                await h.approve(result.stream_id, tenant)
            approved += 1

    await asyncio.gather(*(one(n) for n in range(start, start + count)))
    return approved


async def status_counts(url: str) -> dict[str, int]:
    rows = await asyncio.to_thread(
        psql_execute, url, "SELECT status, count(*) FROM proposals GROUP BY status"
    )
    return {str(status): int(n) for status, n in rows}


async def drain(executor: Executor, limit_s: float) -> tuple[float, Counter[str], int]:
    """run_once() until nothing is claimed; (seconds, report totals, passes)."""
    totals: Counter[str] = Counter()
    passes = 0
    started = time.perf_counter()
    while True:
        report = await executor.run_once()
        passes += 1
        if report.claim_error:
            raise RuntimeError(f"the executor could not claim: {report.claim_error}")
        for name in ("claimed", "executed", "retried", "failed", "abandoned", "reconciled"):
            totals[name] += getattr(report, name)
        if report.claimed == 0:
            break
        if time.perf_counter() - started > limit_s:
            raise RuntimeError(f"the executor did not finish within {limit_s:.0f}s: {totals}")
    return time.perf_counter() - started, totals, passes


async def bare_reference(
    url: str, proposals: int, transactions: int, statements: int, concurrency: int
) -> float:
    """Bare psycopg: `transactions` transactions with `statements` statements in all, spread
    evenly over `proposals`, on `concurrency` connections (as many as the executor ran
    tenants at once). Statements alternate an INSERT into an events-like table (jsonb
    payload, RETURNING its position) and an UPDATE of a projection-like row. Seconds."""
    await asyncio.to_thread(
        psql_execute,
        url,
        "CREATE TABLE bench_ref_events (position bigint GENERATED ALWAYS AS IDENTITY "
        "PRIMARY KEY, stream_id uuid NOT NULL, version int NOT NULL, data jsonb NOT NULL, "
        "UNIQUE (stream_id, version))",
        "CREATE TABLE bench_ref_state (id int PRIMARY KEY, version int NOT NULL, "
        "data jsonb NOT NULL)",
        f"INSERT INTO bench_ref_state SELECT g, 0, '{{}}' FROM generate_series(0, {proposals}) g",
        "VACUUM ANALYZE bench_ref_state",
    )
    payload = json.dumps({"attempt": 1, "externalIds": {"folioEventId": "x"}, "pad": "y" * 120})

    def share(total: int, index: int) -> int:
        return (total * (index + 1)) // proposals - (total * index) // proposals

    async def worker(first: int) -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for index in range(first, proposals, concurrency):
                stream = uuid.uuid4()
                txs = max(1, share(transactions, index))
                sts = max(txs, share(statements, index))
                version = 0
                for tx in range(txs):
                    count = sts // txs + (1 if tx < sts % txs else 0)
                    for k in range(count):
                        if k % 2 == 0:
                            version += 1
                            cursor = await conn.execute(
                                "INSERT INTO bench_ref_events (stream_id, version, data) "
                                "VALUES (%s, %s, %s::jsonb) RETURNING position",
                                (stream, version, payload),
                            )
                            await cursor.fetchall()
                        else:
                            await conn.execute(
                                "UPDATE bench_ref_state SET version = version + 1, "
                                "data = %s::jsonb WHERE id = %s",
                                (payload, index),
                            )
                    await conn.commit()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return time.perf_counter() - started


@contextlib.contextmanager
def fake_folio_process(events: int, start: int) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The loopback fake Folio in a process of its own (its CPU is not the executor's)."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-fake-folio",
                str(events),
                "--fake-start",
                str(start),
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
            cwd=PROJECT_DIR,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line.startswith("http"):
                errors.seek(0)
                raise RuntimeError(
                    f"the fake Folio did not start: {line!r} {errors.read()[-2000:]}"
                )
            yield line, process
        finally:
            stop_process_group(process, "fake folio", grace=10)


def stop_fake_folio(process: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop the fake Folio; what it printed on its way out (requests, uploads, contract
    violations)."""
    stop_process_group(process, "fake folio", grace=10)
    assert process.stdout is not None
    with contextlib.suppress(ValueError, OSError):
        for line in process.stdout.read().splitlines():
            if line.startswith("{"):
                stats: dict[str, Any] = json.loads(line)
                return stats
    return {}


async def serve_fake_folio(events: int, start: int) -> None:
    """(--serve-fake-folio) Serve a FakeFolio knowing the bench's event ids until SIGTERM."""
    from tests.fakes.folio import FakeFolio
    from tests.fakes.server import serve

    fake = FakeFolio(seed=True)
    for number in range(start, start + events):
        fake.add_transaction(
            amount="-125.00",
            date=dt.date(2025, 3, 1),
            merchant=MERCHANTS[number % len(MERCHANTS)],
            event_id=folio_event_id(number),
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(fake.app) as url:
        print(f"{url}/v2", flush=True)
        await stop.wait()
    print(
        json.dumps(
            {
                "requests": len(fake.requests),
                "by_method": dict(Counter(r.method for r in fake.requests)),
                "uploads": len(fake.uploads),
                "completed": sum(1 for e in fake.events.values() if e.complete),
                "violations": fake.violations[:5],
                "violation_count": len(fake.violations),
            }
        ),
        flush=True,
    )


async def p2_executor_run(
    part: Part,
    settings: Settings,
    dbs: Databases,
    label: str,
    kinds: str,
    bank: str,
) -> Row:
    """One measured executor run on a fresh database, and its bare-psycopg reference."""
    from tests.unit.external_doubles import Harness, World

    n = settings.proposals
    dbname, url = dbs.create(label)
    async with contextlib.AsyncExitStack() as stack:
        database = await open_database(url, stack, pool=settings.tenants + 4)
        factory = database.uow_factory()
        world = World()
        h = Harness(uow_factory=factory, world=world, clock=SystemClock())  # type: ignore[arg-type]
        started = time.perf_counter()
        made = await make_approved(h, n, settings.tenants, kinds, settings.document_kb * 1024)
        log(f"P2 {label}: {made} approved proposals made in {time.perf_counter() - started:.1f}s")
        await asyncio.to_thread(settle, url, "events", "proposals", "documents")

        fake: subprocess.Popen[str] | None = None
        bank_provider: BankProvider = world.bank
        books_provider: BooksProvider = world.books
        roots = {"bench (executor)": os.getpid()}
        if bank == "folio":
            from tests.fakes.folio import TOKEN

            from bookkeeper.adapters.folio import folio_bank_provider

            base_url, fake = stack.enter_context(fake_folio_process(n, 0))
            # Also on the part's synchronous stack: it unwinds even when SIGTERM stops the
            # event loop before the asynchronous one could.
            dbs.stack.callback(stop_process_group, fake, "fake folio", 10)
            bank_provider, close_bank = folio_bank_provider(base_url, TOKEN)
            stack.push_async_callback(close_bank)
            roots = {"fake folio": fake.pid, **roots}
        policy = ExecutionPolicy()
        executor = Executor(
            factory,
            books_provider,
            bank_provider,
            SystemClock(),
            UuidV7Ids(),
            policy,
            name="bench",
            exclusive=InProcessLocks(),
        )
        # Backends flush their statistics when they exit: close the set-up's connections
        # first, so that `before` holds all of the set-up's transactions.
        await database.dispose()
        # As start_process does once the serve (where the executor runs) has started: the
        # heap alive now stays out of the full collections (ADR 0034; issue 14, ADR 0043).
        freeze_started_heap()
        await asyncio.sleep(0.2)
        before = await asyncio.to_thread(dbs.postgres.activity, dbname)
        profiler = cProfile.Profile() if settings.profile and bank == "doubles" else None
        with (
            CpuMeter(roots, lambda: dbs.postgres.backends(dbname)) as meter,
            StatementCounter() as counter,
        ):
            if profiler is not None:
                profiler.enable()
            elapsed, totals, passes = await drain(executor, limit_s=max(120.0, n / 10))
            if profiler is not None:
                profiler.disable()
        await database.dispose()  # its backends exit and flush their statistics
        await asyncio.sleep(0.2)
        after = await asyncio.to_thread(dbs.postgres.activity, dbname)
        statuses = await status_counts(url)
        lines = (await asyncio.to_thread(psql_execute, url, "SELECT count(*) FROM journal_lines"))[
            0
        ][0]
        mismatches = (await asyncio.to_thread(psql_execute, url, DAILY_MISMATCHES))[0][0]
        stats: dict[str, Any] = {}
        if fake is not None:
            await close_bank()
            stats = stop_fake_folio(fake)

    rate = n / elapsed
    commits = after.get("commits", 0) - before.get("commits", 0)
    rollbacks = after.get("rollbacks", 0) - before.get("rollbacks", 0)
    transactions = counter.transactions
    concurrency = min(settings.tenants, policy.tenant_concurrency)
    part.note(
        f"{label}: {n:,} proposals ({kinds}, {settings.tenants} tenants, batch "
        f"{policy.batch_size}, tenant concurrency {policy.tenant_concurrency}) executed in "
        f"{elapsed:.2f}s over {passes} run_once passes: {dict(totals)}"
    )
    part.note(
        f"{label}: per proposal {counter.statements / n:.2f} statements in "
        f"{counter.commits / n:.2f} committed + {counter.rollbacks / n:.2f} rolled-back "
        f"units of work; the server counted {commits / n:.2f} commits (psycopg adds a "
        f"DEALLOCATE ALL after each rollback) + {rollbacks / n:.2f} rollbacks; rows "
        f"inserted {(after['inserted'] - before['inserted']) / n:.2f}, updated "
        f"{(after['updated'] - before['updated']) / n:.2f}"
    )
    part.note(f"{label}: {cpu_note(meter, n, 'proposal')}")
    if profiler is not None:
        part.notes.append(f"cProfile of the {label} executor run (perturbs the timing):")
        part.notes.extend(f"    {line}" for line in profile_summary(profiler))
    part.check(
        statuses.get("EXECUTED", 0) == n and totals["executed"] == n,
        f"{label}: all {n:,} proposals EXECUTED exactly once (statuses {statuses})",
    )
    part.check(
        not world.duplicates(), f"{label}: no remote object created twice {world.duplicates()[:3]}"
    )
    part.check(
        lines > 0 and mismatches == 0,
        f"{label}: {lines:,} journal lines posted; ledger_daily equals their aggregation "
        f"({mismatches} mismatching days)",
    )
    if fake is not None:
        part.check(
            stats.get("uploads") == n and stats.get("completed", 0) >= n,
            f"{label}: the fake Folio received {stats.get('uploads')} uploads, "
            f"{stats.get('completed')} events marked complete, {stats.get('requests')} "
            f"requests {stats.get('by_method')}",
        )
        part.check(
            stats.get("violation_count", 1) == 0,
            f"{label}: the fake Folio's answers conformed to its contract "
            f"({stats.get('violation_count')} violations {stats.get('violations')})",
        )

    # The reference, on a fresh database of its own.
    _, refurl = dbs.create(f"{label}_ref")
    ref_elapsed = await bare_reference(refurl, n, transactions, counter.statements, concurrency)
    ref_rate = n / ref_elapsed
    part.note(
        f"{label} reference: bare psycopg, {transactions:,} transactions with "
        f"{counter.statements:,} INSERT/UPDATE statements for {n:,} proposals on "
        f"{concurrency} connections: {ref_elapsed:.2f}s"
    )
    what = (
        "executor, instant in-process Books/Bank doubles"
        if bank == "doubles"
        else "executor, fake Folio over loopback HTTP"
    )
    return Row(
        id=f"P2{label[-1]}",
        what=f"{what} ({n:,} {kinds}, {settings.tenants} tenants)",
        measured=f"{rate:,.0f} proposals/s",
        reference=f"bare psycopg, same tx+stmts: {ref_rate:,.0f}/s",
        ratio=f"{rate / ref_rate:.2f}x of bare",
        target=f">= {TARGET_P2_PER_S:,.0f}/s",
        met=rate >= TARGET_P2_PER_S,
        values={
            "proposals_per_s": rate,
            "reference_per_s": ref_rate,
            "seconds": elapsed,
            "statements_per_proposal": counter.statements / n,
            "transactions_per_proposal": transactions / n,
            "cpu_cores": getattr(meter, "cores", {}),
            "fake_folio": stats,
        },
    )


async def p2_fiken_limits(part: Part, settings: Settings, dbs: Databases) -> Row:
    """A short run against the fake Fiken through the production client (its limits on)."""
    from tests.fakes.fiken import DEFAULT_COMPANY, DEFAULT_TOKEN, running_fake_fiken
    from tests.unit.external_doubles import Harness, World, agent, expense, invoice

    from bookkeeper.adapters.fiken import fiken_books_provider

    n = settings.fiken_proposals
    tenants = max(1, min(3, n))
    _, url = dbs.create("p2c")
    async with contextlib.AsyncExitStack() as stack:
        database = await open_database(url, stack)
        factory = database.uow_factory()
        h = Harness(uow_factory=factory, world=World(), clock=SystemClock())  # type: ignore[arg-type]
        for number in range(n):
            tenant = f"t{number % tenants}"
            sha = await h.store(PDF_HEAD + f"fiken {number}".encode() + b"\n%%EOF\n", tenant)
            date = dt.date(2025, 11, 1) + dt.timedelta(days=number)
            if number % 2 == 0:
                kind = "InvoiceRegistrationProposed"
                data: Any = invoice(
                    sha, invoice_number=f"F-{number}", date=date, due_date=date + dt.timedelta(14)
                )
            else:
                kind = "ExpenseRegistrationProposed"
                data = expense(sha, document_number=f"K-{number}", date=date)
            result = await h.handlers.submit(
                SubmitEvent(type=kind, data=data, principal=agent(tenant))
            )
            if result.status is Status.PROPOSED:
                await h.approve(result.stream_id, tenant)
        fake, base_url = await stack.enter_async_context(running_fake_fiken())
        books, close_books = fiken_books_provider(base_url, DEFAULT_TOKEN, DEFAULT_COMPANY)
        stack.push_async_callback(close_books)
        executor = Executor(
            factory,
            books,
            World().bank,
            SystemClock(),
            UuidV7Ids(),
            ExecutionPolicy(),
            name="fiken",
            exclusive=InProcessLocks(),
        )
        elapsed, totals, _ = await drain(executor, limit_s=120)
        statuses = await status_counts(url)
        requests = len(fake.requests)
        window = fake.max_requests_in_any_second()
        violations = fake.concurrent_violations
        in_flight = fake.max_in_flight
        by_path = Counter(f"{r.method} {_ID_SEGMENT.sub('/{id}', r.path)}" for r in fake.requests)
        statuses_seen = Counter(r.status for r in fake.requests)
    part.note(
        f"P2c: {n} proposals ({tenants} tenants at once, one shared FikenClient) executed in "
        f"{elapsed:.1f}s: {dict(totals)}; {requests} requests {dict(by_path)}; answers "
        f"{dict(statuses_seen)}"
    )
    part.check(statuses.get("EXECUTED", 0) == n, f"P2c: all {n} proposals EXECUTED ({statuses})")
    ok = window <= FIKEN_MAX_PER_SECOND and violations == 0 and in_flight <= 1
    return Row(
        id="P2c",
        what=f"Fiken limits: {n} proposals on the rate-checking fake Fiken ({requests} requests)",
        measured=f"max {window}/s in any 1 s; {violations} concurrent; in flight <= {in_flight}",
        target=f"<= {FIKEN_MAX_PER_SECOND}/s, 0 concurrent",
        met=ok,
        values={
            "requests": requests,
            "max_in_any_second": window,
            "concurrent_violations": violations,
            "max_in_flight": in_flight,
            "seconds": elapsed,
        },
    )


async def run_p2(part: Part, settings: Settings, dbs: Databases) -> None:
    part.rows.append(await p2_executor_run(part, settings, dbs, "p2a", "mixed", "doubles"))
    part.rows.append(await p2_executor_run(part, settings, dbs, "p2b", "receipts", "folio"))
    if settings.fiken_proposals > 0:
        part.rows.append(await p2_fiken_limits(part, settings, dbs))


# =============================================================================================
# P3: rebuild all projections
# =============================================================================================

EVENT_COLUMNS = (
    "id",
    "tenant_id",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "status",
    "actor",
    "data",
    "metadata",
    "parent_id",
    "correlation_id",
    "created_at",
)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE = re.compile(r"(?<![\dT:-])(\d{4}-\d{2}-\d{2})(?![\dT:])")
_MARK = "\x00"


@dataclass
class Scenario:
    """One tenant's worth of business made by the real code, as COPY lines with slots."""

    lines: list[list[str]]  # literal, slot, literal, slot, ... (slots: U<n>, D<n>, T, C<n>)
    uuids: int
    dates: list[dt.date]
    events: int
    proposals: int
    patterns: int
    journal_entries: int
    journal_lines: int
    types: Counter[str]


async def build_scenario() -> Scenario:
    """Events of a realistic mix, made in memory by the handlers, the executor and the
    ledger: receipts, an invoice and an expense executed (with their JournalEntryPosted),
    one receipt executed after a failed attempt, one rejected, one still pending, a
    pattern suggestion applied, a reversal executed, a manual journal entry, a query."""
    from tests.unit.external_doubles import (
        Harness,
        agent,
        expense,
        invoice,
        principal,
        receipt,
        reversal,
    )

    from bookkeeper.domain.events import (
        AccountBalance,
        BalanceQueriedData,
        PatternSuggestionData,
    )

    h = Harness()
    sha = await h.store()
    executed = [
        await h.approved(
            receipt(
                sha,
                merchant_name=merchant,
                amount=Decimal(amount),
                folio_event_id=f"ev-{n}",
                document_number=f"R-{n}",
                merchant_org_number="937120078",
            )
        )
        for n, (merchant, amount) in enumerate(
            (("Kaffebrenneriet", "125.00"), ("Clas Ohlson", "349.90"), ("Rema 1000", "212.40"))
        )
    ]
    target = await h.approved(invoice(sha))
    executed.append(await h.approved(expense(sha)))
    await h.executor.run_once()
    h.world.faults.fail_next(operations={"attach_receipt"})
    await h.approved(
        receipt(sha, amount=Decimal("89.00"), folio_event_id="ev-9", document_number="R-9")
    )
    await h.executor.run_once()  # fails once, retry scheduled
    h.clock.advance(minutes=1)
    await h.executor.run_once()
    await h.reject(await h.propose(receipt(sha, amount=Decimal("99.00"), folio_event_id="ev-2")))
    await h.propose(expense(document_number="K-9", amount=Decimal("10.00")))
    suggested = await h.handlers.submit(
        SubmitEvent(
            type="PatternSuggested",
            data=PatternSuggestionData(
                merchant="Kaffebrenneriet", account_code="6810", vat_rate=Decimal("15")
            ),
            principal=agent(),
        )
    )
    if suggested.status is Status.PROPOSED:
        await h.approve(suggested.stream_id)
    await h.approved(reversal(target))
    await h.executor.run_once()
    service = LedgerService(h.uow_factory, h.clock, h.ids, RoleAuthorizer())
    await service.post_manual(
        principal("regnskap", "accountant"),
        dt.date(2026, 11, 19),
        "Bankgebyr november",
        [
            JournalLine(account="7770", debit=Decimal("49.00")),
            JournalLine(account="1920", credit=Decimal("49.00")),
        ],
    )
    await h.handlers.submit(
        SubmitEvent(
            type="BalanceQueried",
            data=BalanceQueriedData(
                accounts=(AccountBalance(account="1920", balance=Decimal("150000.00")),),
                as_of=dt.date(2026, 11, 19),
            ),
            principal=agent(),
        )
    )
    recorded = await h.all_events()
    return compile_scenario(recorded)


def compile_scenario(recorded: list[RecordedEvent]) -> Scenario:
    slots: dict[str, str] = {}
    dates: dict[str, int] = {}
    start = recorded[0].created_at

    def uuid_slot(value: str) -> str:
        if value not in slots:
            slots[value] = f"U{len(slots)}"
        return f"{_MARK}{slots[value]}{_MARK}"

    def date_slot(match: re.Match[str]) -> str:
        value = match.group(1)
        if value not in dates:
            dates[value] = len(dates)
        return f"{_MARK}D{dates[value]}{_MARK}"

    def json_field(raw: bytes) -> str:
        text = raw.decode().replace("\\", "\\\\")
        text = _UUID.sub(lambda m: uuid_slot(m.group(0)), text)
        return _DATE.sub(date_slot, text)

    lines: list[list[str]] = []
    types: Counter[str] = Counter()
    journal_lines = 0
    for event in recorded:
        types[event.type] += 1
        if isinstance(event.data, JournalEntryPostedData):
            journal_lines += len(event.data.lines)
        offset = int((event.created_at - start).total_seconds())
        fields = [
            uuid_slot(str(event.id)),
            f"{_MARK}T{_MARK}",
            uuid_slot(str(event.stream_id)),
            str(event.version),
            event.type,
            str(event.schema_version),
            event.status.value if event.status is not None else "\\N",
            event.actor,
            json_field(encode_payload(event.data)),
            json_field(msgspec.json.encode(event.metadata)),
            uuid_slot(str(event.parent_id)) if event.parent_id else "\\N",
            uuid_slot(str(event.correlation_id)),
            f"{_MARK}C{offset}{_MARK}",
        ]
        lines.append(("\t".join(fields) + "\n").split(_MARK))
    proposal_types = {t for t in types if t.endswith("Proposed") or t == "PatternSuggested"}
    return Scenario(
        lines=lines,
        uuids=len(slots),
        dates=[dt.date.fromisoformat(d) for d in dates],
        events=len(recorded),
        proposals=sum(types[t] for t in proposal_types),
        patterns=types["PatternApplied"],
        journal_entries=types["JournalEntryPosted"],
        journal_lines=journal_lines,
        types=types,
    )


def scenario_copies(scenario: Scenario, events: int, tenants: int) -> Iterator[tuple[bytes, int]]:
    """COPY text for `events` events: copies of the scenario with fresh ids (UUIDv7 of the
    copy's time), dates moved back by up to four years, one tenant per copy in turn; the
    last copy is cut short (its trailing events are simply not there yet). Chunks of
    (bytes, events in them)."""
    copies = -(-events // scenario.events)
    span = dt.timedelta(days=4 * 365)
    first = dt.datetime(2022, 11, 20, tzinfo=dt.UTC)
    rng = random.Random(3)
    left = events
    chunk: list[str] = []
    in_chunk = 0
    for copy in range(copies):
        at = first + span * copy / copies
        ms = int(at.timestamp() * 1000)
        values: dict[str, str] = {"T": f"tenant-{copy % tenants:03d}"}
        for n in range(scenario.uuids):
            values[f"U{n}"] = str(
                uuid.UUID(
                    int=(ms << 80) | (0x7 << 76) | (n << 64) | (0b10 << 62) | rng.getrandbits(62)
                )
            )
        shift = dt.timedelta(days=(copies - 1 - copy) * (4 * 365) // copies)
        for n, date in enumerate(scenario.dates):
            values[f"D{n}"] = (date - shift).isoformat()
        for pieces in scenario.lines[: min(left, scenario.events)]:
            parts = pieces[:]
            for i in range(1, len(parts), 2):
                slot = parts[i]
                if slot[0] == "C":
                    parts[i] = (at + dt.timedelta(seconds=int(slot[1:]))).isoformat()
                else:
                    parts[i] = values[slot]
            chunk.append("".join(parts))
            in_chunk += 1
        left -= min(left, scenario.events)
        if in_chunk >= 20_000 or left == 0:
            yield "".join(chunk).encode(), in_chunk
            chunk, in_chunk = [], 0
        if left == 0:
            break


def load_events(url: str, scenario: Scenario, events: int, tenants: int) -> int:
    """COPY the events in (foreign-key triggers off for the load: the copies are consistent
    by construction; the append-only triggers fire on UPDATE/DELETE/TRUNCATE only)."""
    loaded = 0
    columns = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY events ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
            for data, count in scenario_copies(scenario, events, tenants):
                copy.write(data)
                loaded += count
                if loaded % 200_000 < count:
                    log(f"P3: {loaded:,} events loaded")
        conn.commit()
    return loaded


def read_log_reference(conn: psycopg.Connection[Any]) -> tuple[float, int]:
    """The floor: every event streamed through a server-side cursor and decoded the way the
    adapter decodes them (payload into its Struct, metadata by psycopg). (seconds, rows)."""
    sql = (
        "SELECT position, id, tenant_id, stream_id, version, type, schema_version, status, "
        "actor, data::text, metadata, parent_id, correlation_id, created_at "
        "FROM events ORDER BY position"
    )
    statuses = {None: None} | {s.value: s for s in Status}
    count = 0
    started = time.perf_counter()
    with conn.cursor(name="all_events") as cursor:
        cursor.itersize = 5000
        cursor.execute(sql)  # type: ignore[arg-type]
        for row in cursor:
            (pos, eid, tenant, stream, version, etype, schema, status, actor, data, meta) = row[:11]
            RecordedEvent(
                position=pos,
                id=eid,
                tenant_id=tenant,
                stream_id=stream,
                version=version,
                type=etype,
                schema_version=schema,
                status=statuses[status],
                actor=actor,
                data=decode_payload(etype, data.encode(), schema),
                metadata=meta,
                parent_id=row[11],
                correlation_id=row[12],
                created_at=row[13].astimezone(dt.UTC),
            )
            count += 1
    return time.perf_counter() - started, count


def profile_summary(profiler: cProfile.Profile, top: int = 14) -> list[str]:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top + 10)
    return [line for line in out.getvalue().splitlines() if line.strip()]


WRITER_TENANT = "bench-writer"


async def write_until_stopped(url: str, rate: float) -> None:
    """(--concurrent-writer) Propose receipts through `Handlers` at about `rate` per
    second until SIGTERM; then print one JSON line: [started (epoch s), seconds, ok] per
    write. A process of its own, so that its waits are the database's, not the GIL's."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    database = SqlDatabase(url, pool_size=2, max_overflow=0)
    handlers = Handlers(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    who = Principal(subject="book-e", tenant_id=WRITER_TENANT, roles=frozenset({"agent"}))
    samples: list[tuple[float, float, bool]] = []
    n = 0
    print("ready", flush=True)
    while not stop.is_set():
        n += 1
        at, started = time.time(), time.perf_counter()
        ok = True
        try:
            await handlers.dispatch(
                SubmitEvent(
                    type="ReceiptAttachmentProposed",
                    data=ReceiptAttachmentData(
                        merchant_name=f"Writer {n}",
                        amount=Decimal("45.00"),
                        date=dt.date(2026, 11, 20),
                        vat_rate=Decimal("25"),
                        account_code="6540",
                        folio_event_id=f"ev-writer-{n}",
                    ),
                    principal=who,
                )
            )
        except Exception:  # counted, reported by the parent
            ok = False
        took = time.perf_counter() - started
        samples.append((at, took, ok))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, 1.0 / rate - took))
    await database.dispose()
    print(json.dumps(samples), flush=True)


@contextlib.contextmanager
def concurrent_writer(url: str, rate: float) -> Iterator[Callable[[], list[list[Any]]]]:
    """A writer process for the duration of the block; the callable stops it and returns
    its samples."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--concurrent-writer", url, "--writer-rate", str(rate)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=PROJECT_DIR,
    )
    samples: list[list[Any]] = []

    def finish() -> list[list[Any]]:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.stdout is not None
        out, _ = process.communicate(timeout=60)
        for line in out.splitlines():
            if line.startswith("["):
                samples.extend(json.loads(line))
        return samples

    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the concurrent writer did not start")
        yield finish
    finally:
        if process.poll() is None:
            finish()


def writer_note(samples: list[list[Any]], since: float, until: float) -> tuple[str, float, int]:
    """What the writer saw while [since, until]: (note, longest wait in s, failures)."""
    window = [s for s in samples if since <= s[0] <= until]
    if not window:
        return "the concurrent writer made no write during the replay", 0.0, 0
    waits = sorted(s[1] for s in window)
    failed = sum(1 for s in window if not s[2])
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    return (
        f"concurrent writer during the replay: {len(window)} proposals ({failed} failed), "
        f"median {statistics.median(waits) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"longest {waits[-1] * 1000:.0f} ms",
        waits[-1],
        failed,
    )


async def run_p3(part: Part, settings: Settings, dbs: Databases) -> None:
    e = settings.events
    tenants = 20
    scenario = await build_scenario()
    copies = -(-e // scenario.events)
    part.note(
        f"scenario: {scenario.events} events per copy ({scenario.proposals} proposals, "
        f"{scenario.journal_entries} journal entries with {scenario.journal_lines} lines, "
        f"{scenario.patterns} pattern), {copies:,} copies over {tenants} tenants; types "
        f"{dict(scenario.types)}"
    )
    dbname, url = dbs.create("p3")
    async with contextlib.AsyncExitStack() as stack:
        database = await open_database(url, stack, pool=2)
        started = time.perf_counter()
        loaded = await asyncio.to_thread(load_events, url, scenario, e, tenants)
        log(f"P3: {loaded:,} events COPYed in {time.perf_counter() - started:.1f}s; settling")
        await asyncio.to_thread(settle, url, "events")
        size = (
            await asyncio.to_thread(
                psql_execute, url, "SELECT pg_size_pretty(pg_total_relation_size('events'))"
            )
        )[0][0]
        part.note(f"{loaded:,} events loaded ({size} with indexes)")

        meter_roots = {"bench (python)": os.getpid()}
        backends = lambda: dbs.postgres.backends(dbname)  # noqa: E731
        log("P3: reference: streaming and decoding the whole log")
        with (
            psycopg.connect(url) as reader,  # closed after the meter has seen its backend
            CpuMeter(meter_roots, backends) as ref_meter,
        ):
            ref_seconds, ref_rows = await asyncio.to_thread(read_log_reference, reader)
        part.note(
            f"reference: {ref_rows:,} events read and decoded in {ref_seconds:.1f}s; "
            f"{cpu_note(ref_meter, ref_rows // 1000 or 1, '1000 events')}"
        )

        log("P3: replay into shadow tables and swap, with a concurrent writer")
        rss_before = max_rss_mb()
        profiler = cProfile.Profile() if settings.profile else None
        replay = ShadowReplay(database.engine)
        with concurrent_writer(url, settings.writer_rate) as stop_writer:
            await asyncio.sleep(1.0)  # the writer's first writes (connections, caches)
            with CpuMeter(meter_roots, backends) as meter:
                since = time.time()
                started = time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                report = await replay.run()
                if profiler is not None:
                    profiler.disable()
                seconds = time.perf_counter() - started
                until = time.time()
            await asyncio.sleep(0.5)
            samples = stop_writer()
        writer_text, longest_wait, writer_failed = writer_note(samples, since, until)
        part.note(writer_text)
        t = replay.timings
        part.note(
            f"replay: {report} in {seconds:.1f}s (bulk {t.bulk:.1f}s, indexes {t.indexes:.1f}s, "
            f"catch-up {t.catch_up:.2f}s in {t.catch_up_rounds} rounds, "
            f"{t.caught_up_events} events caught up, swap {t.swap * 1000:.0f} ms in "
            f"{t.swap_attempts} attempt(s)); peak RSS of this process "
            f"{max_rss_mb():,.0f} MB (before {rss_before:,.0f} MB); "
            + cpu_note(meter, loaded // 1000 or 1, "1000 events")
        )
        if profiler is not None:
            part.notes.extend(["cProfile of the replay (perturbs the timing):"])
            part.notes.extend(f"    {line}" for line in profile_summary(profiler))

        in_place: float | None = None
        if settings.p3_in_place:
            log("P3: for comparison, the in-place rebuild (TRUNCATE + refold, blocks writers)")
            started = time.perf_counter()
            await rebuild_projections(database.uow_factory())
            in_place = time.perf_counter() - started
            part.note(f"in-place rebuild_projections (the old way): {in_place:.1f}s")

        full = loaded // scenario.events
        partial = loaded - full * scenario.events
        counts = dict(
            await asyncio.to_thread(
                psql_execute,
                url,
                f"SELECT 'proposals', count(*) FROM proposals WHERE tenant_id <> '{WRITER_TENANT}' "
                f"UNION ALL SELECT 'writer', count(*) FROM proposals "
                f"WHERE tenant_id = '{WRITER_TENANT}' "
                "UNION ALL SELECT 'writer_events', count(*) FROM events "
                f"WHERE tenant_id = '{WRITER_TENANT}' "
                "UNION ALL SELECT 'patterns', count(*) FROM patterns UNION ALL "
                "SELECT 'journal_lines', count(*) FROM journal_lines",
            )
        )
        mismatches = (await asyncio.to_thread(psql_execute, url, DAILY_MISMATCHES))[0][0]

        if "p6" in settings.only:
            await measure_p6(part, database, url, settings, tenants)
        if "p7" in settings.only:
            await asyncio.to_thread(measure_p7, part, settings, dbs, url, dbname)
    writes_ok = sum(1 for s in samples if s[2])
    part.check(
        report.events >= loaded, f"the replay read all {loaded:,} events ({report.events:,})"
    )
    part.check(
        writer_failed == 0 and counts["writer"] == writes_ok,
        f"every write of the concurrent writer succeeded and is in the projections after the "
        f"swap ({writes_ok} written, {counts['writer']} projected, {writer_failed} failed)",
    )
    part.check(
        full * scenario.proposals <= counts["proposals"] <= (full + 1) * scenario.proposals,
        f"{counts['proposals']:,} proposals projected (expected {full * scenario.proposals:,} "
        f"+ up to {scenario.proposals} of the partial copy of {partial} events)",
    )
    part.check(
        full * scenario.journal_lines
        <= counts["journal_lines"]
        <= (full + 1) * scenario.journal_lines,
        f"{counts['journal_lines']:,} journal lines projected from {report.journal_entries:,} "
        f"entries; ledger_daily equals their aggregation ({mismatches} mismatching days)",
    )
    part.check(mismatches == 0, "ledger_daily equals the aggregation of journal_lines")
    part.check(counts["patterns"] == tenants, f"{counts['patterns']} patterns (one per tenant)")
    part.rows.insert(
        0,
        Row(
            id="P3",
            what=f"replay (shadow tables + swap), {loaded:,} events",
            measured=f"{seconds:,.1f} s ({loaded / seconds:,.0f} events/s); "
            f"writer waited <= {longest_wait * 1000:,.0f} ms",
            reference=f"SELECT + decode all: {ref_seconds:,.1f} s",
            ratio=f"{seconds / ref_seconds:.1f}x the floor",
            target=f"<= {TARGET_P3_S:.0f} s, writers not blocked",
            met=seconds <= TARGET_P3_S and writer_failed == 0,
            values={
                "seconds": seconds,
                "reference_seconds": ref_seconds,
                "events": loaded,
                "proposals": counts["proposals"],
                "journal_lines": counts["journal_lines"],
                "writer_longest_wait_s": longest_wait,
                "timings": msgspec.to_builtins(t),
                "in_place_seconds": in_place,
                "cpu_cores": getattr(meter, "cores", {}),
            },
        ),
    )


# --- P6: review queue and correlation history at scale ----------------------------------------


def p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


async def measure_p6(
    part: Part, database: SqlDatabase, url: str, settings: Settings, tenants: int
) -> None:
    """`Queries.proposals` (the pending-review queue's first page) and
    `Queries.correlation` (a user action's whole history) on the replayed 1 M-event store,
    p95 of N calls each; the reference is the same statement through bare psycopg
    (prepared, one connection), so the ratio is what the application layers cost."""
    n = settings.p6_samples
    queries = Queries(database.uow_factory(), RoleAuthorizer())
    names = [f"tenant-{i % tenants:03d}" for i in range(n)]
    correlations = await asyncio.to_thread(
        psql_execute,
        url,
        "SELECT tenant_id, correlation_id FROM events TABLESAMPLE SYSTEM (1) "
        f"WHERE tenant_id <> '{WRITER_TENANT}' LIMIT {n}",
    )
    queue_sql = (
        "SELECT * FROM proposals WHERE tenant_id = %s AND last_position > 0 "
        "AND status = ANY(%s) ORDER BY last_position LIMIT 50"
    )
    history_sql = (
        "SELECT position, id, tenant_id, stream_id, version, type, schema_version, status, "
        "actor, data::text, metadata, parent_id, correlation_id, created_at FROM events "
        "WHERE tenant_id = %s AND position > 0 AND correlation_id = %s "
        "ORDER BY position LIMIT 200"
    )

    def reader(tenant: str) -> Principal:
        return Principal(subject="kari", tenant_id=tenant, roles=frozenset({"reviewer"}))

    queue: list[float] = []
    history: list[float] = []
    sizes: list[int] = []
    for warm in (True, False):
        for tenant in names[: 20 if warm else n]:
            started = time.perf_counter()
            page = await queries.proposals(
                reader(tenant), ProposalFilter(statuses=(Status.PROPOSED,), limit=50)
            )
            if not warm:
                queue.append(time.perf_counter() - started)
                sizes.append(len(page))
        for tenant, correlation in correlations[: 20 if warm else n]:
            started = time.perf_counter()
            found = await queries.correlation(reader(tenant), correlation)
            if not warm:
                history.append(time.perf_counter() - started)
                sizes.append(len(found))

    def bare() -> tuple[list[float], list[float]]:
        q: list[float] = []
        h: list[float] = []
        with psycopg.connect(url, autocommit=True) as conn:
            for warm in (True, False):
                for tenant in names[: 20 if warm else n]:
                    started = time.perf_counter()
                    conn.execute(queue_sql, (tenant, ["PROPOSED"]), prepare=True).fetchall()  # type: ignore[arg-type]
                    if not warm:
                        q.append(time.perf_counter() - started)
                for tenant, correlation in correlations[: 20 if warm else n]:
                    started = time.perf_counter()
                    conn.execute(history_sql, (tenant, correlation), prepare=True).fetchall()  # type: ignore[arg-type]
                    if not warm:
                        h.append(time.perf_counter() - started)
        return q, h

    bare_queue, bare_history = await asyncio.to_thread(bare)
    part.note(
        f"P6: {len(queue)} review-queue first pages (50 of the tenant's PROPOSED), "
        f"{len(history)} correlation histories ({min(sizes, default=0)}-{max(sizes, default=0)} "
        f"rows); medians {statistics.median(queue) * 1000:.2f} / "
        f"{statistics.median(history) * 1000:.2f} ms"
    )
    for rid, what, ours, ref in (
        ("P6a", "review queue, first page (Queries.proposals)", queue, bare_queue),
        ("P6b", "correlation history (Queries.correlation)", history, bare_history),
    ):
        p95, ref95 = p95_ms(ours), p95_ms(ref)
        part.rows.append(
            Row(
                id=rid,
                what=what,
                measured=f"p95 {p95:.2f} ms",
                reference=f"bare psycopg, same SQL: p95 {ref95:.2f} ms",
                ratio=f"{p95 / ref95:.1f}x bare" if ref95 else "-",
                target=f"p95 <= {TARGET_P6_P95_MS:.0f} ms",
                met=p95 <= TARGET_P6_P95_MS,
                values={"p95_ms": p95, "reference_p95_ms": ref95, "samples": len(ours)},
            )
        )


# --- P7: server memory under P1 load with 1 M events stored ---------------------------------


def _serve_under_load(
    part: Part, settings: Settings, url: str, label: str
) -> tuple[float, float, int, int]:
    """`bookkeeper serve` on `url` under wrk's P1 load (bench/proposals.lua) for
    p7_seconds, RSS of the server's process tree sampled every 0.25 s. (peak MB, RSS
    before the load MB, 2xx answers, other answers)."""
    from run import LUA_SCRIPT, _rss_mb, bookkeeper_cli, free_port

    cli = bookkeeper_cli(None)
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-p7-"))
        workers = settings.p7_workers
        env = dict(os.environ)
        env.update(
            BOOKKEEPER_DATABASE_URL=url,
            BOOKKEEPER_DATA_DIR=data_dir,
            BOOKKEEPER_DB_POOL_SIZE=str(max(4, min(32, settings.p7_connections // workers))),
            BOOKKEEPER_DB_MAX_OVERFLOW="0",
            BOOKKEEPER_RATE_LIMIT="1000000/second",
            BOOKKEEPER_RATE_LIMIT_WRITES="off",
            BOOKKEEPER_EXECUTOR="off",
        )
        port = free_port()
        server_log = stack.enter_context(tempfile.TemporaryFile())
        server = subprocess.Popen(
            [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_DIR,
        )
        stack.callback(stop_process_group, server, f"bookkeeper serve ({label})")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                server_log.seek(0)
                raise RuntimeError(f"P7 server exited: {server_log.read()[-2000:]!r}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{base}/health", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("P7 server not healthy within 120 s")
            time.sleep(0.2)
        token = subprocess.run(
            [cli, "token", "--subject", "book-e", "--tenant", "bench", "--role", "agent"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        idle = _rss_mb(server.pid)
        seconds = max(1, round(settings.p7_seconds))
        wrk = subprocess.Popen(
            [
                "wrk",
                "-t2",
                f"-c{settings.p7_connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(LUA_SCRIPT),
                "-H",
                f"Authorization: Bearer {token}",
                base,
                "--",
                "p7" + re.sub(r"[^a-z0-9]", "", label.lower()) + secrets.token_hex(2),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        peak = idle
        while wrk.poll() is None:
            peak = max(peak, _rss_mb(server.pid))
            time.sleep(0.25)
        out = wrk.communicate()[0]
        match = re.search(r"^BENCH_RESULT (\{.*\})$", out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"wrk failed: {out[-2000:]}")
        statuses = json.loads(match.group(1))["statuses"]
        ok = sum(v for k, v in statuses.items() if str(k).startswith("2"))
        other = sum(v for k, v in statuses.items() if not str(k).startswith("2"))
        part.note(
            f"P7 {label}: RSS idle {idle:,.0f} MB, peak {peak:,.0f} MB under {seconds}s of "
            f"P1 load ({settings.p7_connections} connections, {workers} workers): "
            f"{ok:,} answered 2xx ({ok / seconds:,.0f}/s), {other} other; statuses {statuses}"
        )
        return peak, idle, ok, other


def measure_p7(part: Part, settings: Settings, dbs: Databases, url: str, dbname: str) -> None:
    """The server's peak RSS under P1 load on the replayed 1 M-event store; the reference
    is the same on a freshly migrated, empty database (in the same run)."""
    events = psql_execute(url, "SELECT count(*) FROM events")[0][0]
    peak, _idle, ok, other = _serve_under_load(part, settings, url, f"{events:,} events")
    _empty_name, empty_url = dbs.create("p7empty")
    with psycopg.connect(empty_url):
        pass
    asyncio.run(_migrate(empty_url))
    ref_peak, _ref_idle, _ref_ok, _ref_other = _serve_under_load(
        part, settings, empty_url, "empty store"
    )
    part.rows.append(
        Row(
            id="P7",
            what=f"bookkeeper serve RSS under P1 load, {events:,} events stored",
            measured=f"peak {peak:,.0f} MB ({ok:,} proposals, {other} non-2xx)",
            reference=f"empty store: peak {ref_peak:,.0f} MB",
            ratio=f"{peak / ref_peak:.2f}x empty" if ref_peak else "-",
            target=f"<= {TARGET_P7_RSS_MB:.0f} MB",
            met=peak <= TARGET_P7_RSS_MB and other == 0,
            values={"peak_mb": peak, "reference_peak_mb": ref_peak, "events": events},
        )
    )


async def _migrate(url: str) -> None:
    database = SqlDatabase(url, pool_size=1, max_overflow=0)
    try:
        await database.migrate()
    finally:
        await database.dispose()


# =============================================================================================
# P4: trial balance and general ledger
# =============================================================================================

# (cost account, VAT rate %, input VAT account, SAF-T code) of purchases.
PURCHASES = (
    ("6810", 15, "2711", "11"),
    ("6800", 25, "2710", "1"),
    ("6540", 25, "2710", "1"),
    ("6900", 25, "2710", "1"),
    ("7140", 12, "2713", "13"),
    ("7350", 25, "2710", "1"),
    ("4000", 25, "2710", "1"),
    ("7790", 25, "2710", "1"),
)
LINE_COLUMNS = (
    "tenant_id",
    "entry_id",
    "line_no",
    "position",
    "date",
    "account",
    "debit",
    "credit",
    "description",
    "vat_code",
    "vat_part",
    "source",
    "proposal_id",
    "posted_at",
    "entry_description",
)


def journal_entries(lines: int, seed: int = 4) -> Iterator[JournalEntryPostedData]:
    """Entries with `lines` lines in all, in date order over five years: purchases paid
    from the bank or on credit (3 lines: cost, VAT, bank/payables), sales (3: receivables,
    revenue, output VAT), supplier payments and bank fees (2)."""
    rng = random.Random(seed)
    first = dt.date(2022, 1, 1)
    days = (dt.date(2026, 12, 31) - first).days + 1
    made = 0
    index = 0
    expected_entries = lines / 2.8
    while made < lines:
        date = first + dt.timedelta(days=int(index * days / expected_entries) % days)
        index += 1
        left = lines - made
        pick = rng.random()
        gross = Decimal(rng.randrange(1_000, 2_500_000)) / 100
        if left in (2, 4) or (left > 3 and pick < 0.2):
            if pick < 0.1:
                entry_lines = (
                    JournalLine(account="2400", debit=gross),
                    JournalLine(account="1920", credit=gross),
                )
                text = f"Betaling leverandør {index}"
            else:
                fee = Decimal(rng.randrange(100, 20_000)) / 100
                entry_lines = (
                    JournalLine(account="7770", debit=fee),
                    JournalLine(account="1920", credit=fee),
                )
                text = "Bankgebyr"
        elif pick < 0.35:
            vat = (gross * Decimal("0.2")).quantize(Decimal("0.01"))
            entry_lines = (
                JournalLine(account="1500", debit=gross),
                JournalLine(account="3000", credit=gross - vat, vat_code="3", vat_part="base"),
                JournalLine(account="2700", credit=vat, vat_code="3", vat_part="tax"),
            )
            text = f"Faktura {index}"
        else:
            account, rate, vat_account, code = PURCHASES[rng.randrange(len(PURCHASES))]
            merchant = MERCHANTS[rng.randrange(len(MERCHANTS))]
            credit = "1920" if pick < 0.8 else "2400"
            vat = (gross * rate / (100 + rate)).quantize(Decimal("0.01"))
            entry_lines = (
                JournalLine(account=account, debit=gross - vat, vat_code=code, vat_part="base"),
                JournalLine(
                    account=vat_account,
                    debit=vat,
                    description=f"Inngående mva {rate} %",
                    vat_code=code,
                    vat_part="tax",
                ),
                JournalLine(account=credit, credit=gross),
            )
            text = f"{merchant} {date.isoformat()}"
        made += len(entry_lines)
        yield JournalEntryPostedData(
            date=date,
            description=text,
            lines=entry_lines,
            source="execution" if "Betaling" not in text else "manual",
        )


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def entry_rows(
    entry: JournalEntryPostedData, entry_id: uuid.UUID, position: int, posted_at: str
) -> Iterator[str]:
    """The journal_lines rows of an entry as COPY text, as `ledger_lines` makes them."""
    for number, line in enumerate(entry.lines, start=1):
        yield (
            "\t".join(
                (
                    P4_TENANT,
                    str(entry_id),
                    str(number),
                    str(position),
                    entry.date.isoformat(),
                    line.account,
                    str(line.debit.quantize(Decimal("0.01"))),
                    str(line.credit.quantize(Decimal("0.01"))),
                    _copy_text(line.description or entry.description),
                    line.vat_code or "\\N",
                    line.vat_part or "\\N",
                    entry.source,
                    "\\N",
                    posted_at,
                    _copy_text(entry.description),
                )
            )
            + "\n"
        )


async def load_ledger(url: str, database: SqlDatabase, lines: int, sample: int) -> tuple[int, int]:
    """The first `sample` entries posted through the projection (`SqlLedger.post`, which
    adds to ledger_daily itself), the rest COPYed into journal_lines and added to
    ledger_daily with the projection's aggregation and upsert. (entries, lines)."""
    factory = database.uow_factory()
    posted_at = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    entries = journal_entries(lines)
    position = 0
    made_lines = 0
    async with factory() as uow:
        for entry in entries:
            position += 1
            made_lines += len(entry.lines)
            await uow.ledger.post(P4_TENANT, uuid.uuid4(), position, posted_at, entry)
            if position >= sample:
                break
        await uow.commit()
    sampled = position
    stamp = posted_at.isoformat()

    def copy_rest() -> tuple[int, int]:
        nonlocal position, made_lines
        columns = ", ".join(f'"{c}"' for c in LINE_COLUMNS)
        with psycopg.connect(url) as conn:
            with conn.cursor().copy(f"COPY journal_lines ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
                chunk: list[str] = []
                for entry in entries:
                    position += 1
                    made_lines += len(entry.lines)
                    chunk.extend(entry_rows(entry, uuid.uuid4(), position, stamp))
                    if len(chunk) >= 50_000:
                        copy.write("".join(chunk).encode())
                        chunk = []
                copy.write("".join(chunk).encode())
            # The same increments the projection adds (daily_totals + add_daily's upsert).
            conn.execute(
                "INSERT INTO ledger_daily (tenant_id, account, date, debit, credit) "
                "SELECT tenant_id, account, date, sum(debit), sum(credit) FROM journal_lines "
                "WHERE position > %s GROUP BY tenant_id, account, date "
                "ON CONFLICT (tenant_id, account, date) DO UPDATE SET "
                "debit = ledger_daily.debit + excluded.debit, "
                "credit = ledger_daily.credit + excluded.credit",
                (sampled,),
            )
            conn.commit()
        return position, made_lines

    return await asyncio.to_thread(copy_rest)


def export_hledger(url: str, path: Path) -> int:
    """The tenant's journal in hledger's format, from journal_lines (debits positive)."""
    entries = 0
    previous: tuple[Any, ...] | None = None
    with (
        psycopg.connect(url) as conn,
        conn.cursor(name="export") as cursor,
        path.open("w", encoding="utf-8") as out,
    ):
        cursor.itersize = 10_000
        cursor.execute(
            "SELECT entry_id, date, entry_description, account, debit - credit "
            "FROM journal_lines WHERE tenant_id = %s ORDER BY date, position, line_no",
            (P4_TENANT,),
        )
        for entry_id, date, description, account, amount in cursor:
            if entry_id != previous:
                text = re.sub(r"[;\n\r\t|]", " ", description)
                out.write(f"\n{date.isoformat()} {text}\n")
                previous = entry_id
                entries += 1
            out.write(f"    {account}  {amount}\n")
    return entries


_HLEDGER_LINE = re.compile(r"^\s*(-?[0-9][0-9.,]*)\s+(\S+)\s*$")


def hledger_balance(path: Path) -> tuple[float, dict[str, Decimal], str]:
    """One `hledger balance -f file`: (seconds, balance by account, raw output)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["hledger", "balance", "-f", str(path)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"hledger failed ({done.returncode}): {done.stderr[-1000:]}")
    balances: dict[str, Decimal] = {}
    for line in done.stdout.splitlines():
        match = _HLEDGER_LINE.match(line)
        if match:
            balances[match.group(2)] = Decimal(match.group(1).replace(",", ""))
    return seconds, balances, done.stdout


async def timed(call: Callable[[], Awaitable[Any]], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def run_p4(part: Part, settings: Settings, dbs: Databases) -> None:
    dbname, url = dbs.create("p4")
    async with contextlib.AsyncExitStack() as stack:
        database = await open_database(url, stack, pool=2)
        started = time.perf_counter()
        entries, lines = await load_ledger(url, database, settings.lines, sample=1000)
        took = time.perf_counter() - started
        log(f"P4: {lines:,} lines in {entries:,} entries loaded in {took:.1f}s")
        await asyncio.to_thread(settle, url, "journal_lines", "ledger_daily")
        facts = (
            await asyncio.to_thread(
                psql_execute,
                url,
                "SELECT (SELECT count(*) FROM journal_lines), (SELECT count(*) FROM ledger_daily),"
                " (SELECT sum(debit) - sum(credit) FROM journal_lines),"
                f" (SELECT count(*) FROM journal_lines WHERE account = '{P4_ACCOUNT}'"
                f"  AND date BETWEEN '{P4_YEAR}-01-01' AND '{P4_YEAR}-12-31'),"
                " pg_size_pretty(pg_total_relation_size('journal_lines'))",
            )
        )[0]
        mismatches = (await asyncio.to_thread(psql_execute, url, DAILY_MISMATCHES))[0][0]
        part.check(facts[0] == lines, f"{facts[0]:,} journal lines stored ({facts[4]})")
        part.check(
            mismatches == 0 and facts[2] == 0,
            f"ledger_daily ({facts[1]:,} rows) equals the aggregation of the lines "
            f"({mismatches} mismatching days); debits - credits = {facts[2]}",
        )

        service = LedgerService(
            database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer()
        )
        who = Principal(subject="bench", tenant_id=P4_TENANT, roles=frozenset({"accountant"}))
        year = (dt.date(P4_YEAR, 1, 1), dt.date(P4_YEAR, 12, 31))
        r = settings.repeats
        backends = lambda: dbs.postgres.backends(dbname)  # noqa: E731
        with CpuMeter({"bench (python)": os.getpid()}, backends) as meter:
            tb_all = await timed(lambda: service.trial_balance(who, None, None), r)
            tb_year = await timed(lambda: service.trial_balance(who, *year), r)
            gl_page = await timed(
                lambda: service.general_ledger(who, P4_ACCOUNT, *year, limit=100), r
            )
        part.note(f"{cpu_note(meter, 3 * (r + 3), 'call')}")
        balance = await service.trial_balance(who, None, None)
        page = await service.general_ledger(who, P4_ACCOUNT, *year, limit=100)
        part.check(
            balance.debit == balance.credit and len(page.lines) == 100,
            f"trial balance: {len(balance.accounts)} accounts, debit {balance.debit:,} = "
            f"credit {balance.credit:,}; general ledger page of {P4_ACCOUNT} in {P4_YEAR}: "
            f"{len(page.lines)} lines of {facts[3]:,}, opening balance {page.opening_balance:,}",
        )
        for label, samples in (("all", tb_all), ("year", tb_year), ("gl", gl_page)):
            part.note(
                f"{label}: median {median_ms(samples):.2f} ms, min {1000 * min(samples):.2f}, "
                f"max {1000 * max(samples):.2f} ({len(samples)} calls)"
            )

    # hledger on the same journal.
    hledger_ms: float | None = None
    hledger_note = ""
    hledger = shutil.which("hledger")
    if hledger is None:
        hledger_note = "hledger not installed (apt-get install -y hledger): comparison skipped"
        loud(hledger_note)
    elif settings.hledger_runs == 0:
        # hledger holds the whole journal in memory (past 1.7 GB within seconds at 10 M
        # lines): at P4's full size the ratio is measured at a smaller size.
        part.note("--hledger-runs 0: comparison with hledger skipped")
    else:
        journal = Path(tempfile.mkdtemp(prefix="bench-hledger-")) / "ledger.journal"
        if not settings.keep_journal:
            dbs.stack.callback(shutil.rmtree, journal.parent, True)
        try:
            exported = await asyncio.to_thread(export_hledger, url, journal)
            version = (
                await asyncio.to_thread(
                    subprocess.run,
                    [hledger, "--version"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
            ).stdout.strip()
            part.note(
                f"hledger: {version}; journal of {exported:,} transactions, "
                f"{journal.stat().st_size / 1e6:,.0f} MB"
            )
            runs = []
            for n in range(settings.hledger_runs):
                seconds, balances, _ = await asyncio.to_thread(hledger_balance, journal)
                log(f"P4: hledger balance run {n + 1}: {seconds:.1f}s")
                runs.append(seconds)
            hledger_ms = median_ms(runs)
            part.note(
                "hledger balance: "
                + ", ".join(f"{s:.2f}s" for s in runs)
                + f" (median {hledger_ms / 1000:.2f}s)"
            )
            ours = {a.account: a.balance for a in balance.accounts if a.balance != 0}
            differ = {
                account: (ours.get(account), balances.get(account))
                for account in set(ours) | set(balances)
                if ours.get(account, Decimal(0)) != balances.get(account, Decimal(0))
            }
            part.check(
                not differ,
                f"hledger's balances equal the trial balance for all {len(ours)} accounts "
                f"(differences: {dict(list(differ.items())[:5])})",
            )
        except (RuntimeError, OSError) as error:
            hledger_note = f"hledger comparison failed: {error}"
            part.failures.append(hledger_note)
            loud(hledger_note)
        if settings.keep_journal:
            part.note(f"journal kept at {journal}")
    if hledger_note:
        part.note(hledger_note)

    tb_ms = median_ms(tb_all)
    ratio = hledger_ms / tb_ms if hledger_ms else None
    part.rows.append(
        Row(
            id="P4a",
            what=f"trial balance, all dates, {lines:,} lines (median of {r})",
            measured=f"{tb_ms:,.2f} ms",
            reference=f"hledger balance: {hledger_ms / 1000:,.2f} s" if hledger_ms else "skipped",
            ratio=f"{ratio:,.0f}x faster" if ratio else "-",
            target=f"<= {TARGET_P4_TB_MS:.0f} ms, >= {TARGET_P4_HLEDGER_RATIO:.0f}x hledger",
            met=tb_ms <= TARGET_P4_TB_MS and (ratio is None or ratio >= TARGET_P4_HLEDGER_RATIO),
            values={"median_ms": tb_ms, "hledger_ms": hledger_ms, "samples": tb_all},
        )
    )
    part.rows.append(
        Row(
            id="P4b",
            what=f"trial balance, one year ({P4_YEAR}) (median of {r})",
            measured=f"{median_ms(tb_year):,.2f} ms",
            target=f"<= {TARGET_P4_TB_MS:.0f} ms",
            met=median_ms(tb_year) <= TARGET_P4_TB_MS,
            values={"median_ms": median_ms(tb_year), "samples": tb_year},
        )
    )
    part.rows.append(
        Row(
            id="P4c",
            what=(
                f"general ledger page: {P4_ACCOUNT}, {P4_YEAR}, 100 lines + opening balance "
                f"(median of {r})"
            ),
            measured=f"{median_ms(gl_page):,.2f} ms",
            target=f"<= {TARGET_P4_GL_MS:.0f} ms",
            met=median_ms(gl_page) <= TARGET_P4_GL_MS,
            values={"median_ms": median_ms(gl_page), "samples": gl_page},
        )
    )


# =============================================================================================
# main
# =============================================================================================

PARTS: dict[str, Callable[[Part, Settings, Databases], Awaitable[None]]] = {
    "p2": run_p2,
    "p3": run_p3,
    "p4": run_p4,
}
#: Rows measured on P3's database after its replay (so they need P3's load).
ON_P3 = ("p6", "p7")


def render(parts: list[Part], settings: Settings) -> str:
    header = ("id", "what", "measured", "reference (same run)", "ratio", "target", "met?")
    body = [
        (
            row.id,
            row.what,
            row.measured,
            row.reference,
            row.ratio,
            row.target,
            "n/a" if row.met is None else ("yes" if row.met else "NO"),
        )
        for part in parts
        for row in part.rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))

    out = [
        f"P2/P3/P4/P6/P7 benchmark: {os.cpu_count()} CPUs, PostgreSQL at {settings.pg_host}:"
        f"{settings.pg_port}, load average before {os.getloadavg()[0]:.2f}",
        "",
        fmt(header),
        "-+-".join("-" * w for w in widths),
        *(fmt(line) for line in body),
        "",
    ]
    for part in parts:
        out.append(f"{part.name}:")
        out.extend(f"  {note}" for note in part.notes)
        out.extend(f"  FAILED: {failure}" for failure in part.failures)
        out.append("")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> Settings | tuple[int, int] | tuple[str, float]:
    parser = argparse.ArgumentParser(
        description="P2 executor overhead, P3 projection rebuild, P4 trial balance."
    )
    parser.add_argument(
        "--only",
        default="p2,p3,p4,p6,p7",
        help="rows to measure, e.g. p3,p4 (P6 and P7 run on P3's database, after its replay)",
    )
    parser.add_argument("--proposals", type=int, default=2000, help="P2: approved proposals")
    parser.add_argument("--tenants", type=int, default=4, help="P2: tenants they belong to")
    parser.add_argument(
        "--fiken-proposals", type=int, default=6, help="P2: proposals of the Fiken-limits run"
    )
    parser.add_argument("--document-kb", type=int, default=16, help="P2: size of each receipt")
    parser.add_argument("--events", type=int, default=1_000_000, help="P3: events in the log")
    parser.add_argument("--lines", type=int, default=1_000_000, help="P4: journal lines")
    parser.add_argument("--repeats", type=int, default=20, help="P4: timed calls per query")
    parser.add_argument(
        "--hledger-runs", type=int, default=3, help="P4: hledger runs (0 skips the comparison)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the P2a executor run and the P3 rebuild (perturbs their timing)",
    )
    parser.add_argument(
        "--keep-journal", action="store_true", help="P4: keep the exported hledger journal"
    )
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--pg-password", default=os.environ.get("PGPASSWORD", ""))
    parser.add_argument(
        "--p3-in-place",
        action="store_true",
        help="P3: also time the in-place rebuild (TRUNCATE + refold, the pre-ADR-0038 way)",
    )
    parser.add_argument(
        "--writer-rate", type=float, default=20.0, help="P3: concurrent writer's proposals/s"
    )
    parser.add_argument("--p6-samples", type=int, default=300, help="P6: calls per query")
    parser.add_argument("--p7-seconds", type=float, default=15.0, help="P7: seconds of load")
    parser.add_argument("--p7-workers", type=int, default=2, help="P7: server workers")
    parser.add_argument("--p7-connections", type=int, default=64, help="P7: wrk connections")
    parser.add_argument("--concurrent-writer", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake-folio", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--fake-start", type=int, default=0, help=argparse.SUPPRESS)
    a = parser.parse_args(argv)
    if a.concurrent_writer is not None:
        return a.concurrent_writer, a.writer_rate
    if a.serve_fake_folio is not None:
        return a.serve_fake_folio, a.fake_start
    only = [p.strip().lower() for p in a.only.split(",") if p.strip()]
    unknown = [p for p in only if p not in PARTS and p not in ON_P3]
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {sorted([*PARTS, *ON_P3])}")
    return Settings(
        only=only,
        proposals=a.proposals,
        tenants=max(1, a.tenants),
        fiken_proposals=a.fiken_proposals,
        document_kb=a.document_kb,
        events=a.events,
        lines=a.lines,
        repeats=max(1, a.repeats),
        hledger_runs=max(0, a.hledger_runs),
        profile=a.profile,
        keep_journal=a.keep_journal,
        pg_host=a.pg_host,
        pg_port=a.pg_port,
        pg_user=a.pg_user,
        pg_password=a.pg_password,
        p3_in_place=a.p3_in_place,
        writer_rate=max(0.1, a.writer_rate),
        p6_samples=max(20, a.p6_samples),
        p7_seconds=a.p7_seconds,
        p7_workers=max(1, a.p7_workers),
        p7_connections=max(1, a.p7_connections),
    )


def main(argv: list[str] | None = None) -> int:
    parsed = parse_args(argv)
    if isinstance(parsed, tuple) and isinstance(parsed[0], str):
        asyncio.run(write_until_stopped(parsed[0], float(parsed[1])))
        return 0
    if isinstance(parsed, tuple):
        asyncio.run(serve_fake_folio(int(parsed[0]), int(parsed[1])))
        return 0
    settings = parsed
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    nonce = secrets.token_hex(3)
    postgres = Postgres(settings)  # type: ignore[arg-type]  # it reads only the pg_* fields
    parts: list[Part] = []
    load_before = os.getloadavg()
    with interrupts_as_keyboard_interrupt():
        others = postgres.other_benchmarks()
        if others:
            loud(f"other benchmark databases exist ({', '.join(others)}): figures may be disturbed")
        names = [n for n in PARTS if n in settings.only]
        if "p3" not in names and any(n in settings.only for n in ON_P3):
            names.append("p3")  # P6 and P7 need its database
        for name in names:
            part = Part(name.upper())
            parts.append(part)
            stack = contextlib.ExitStack()
            try:
                log(f"--- {part.name}")
                asyncio.run(PARTS[name](part, settings, Databases(postgres, nonce, stack)))
            except KeyboardInterrupt:
                loud("interrupted: cleaning up")
                part.failures.append("interrupted")
                break
            except Exception as error:
                loud(f"{part.name} FAILED: {type(error).__name__}: {error}")
                part.failures.append(f"{type(error).__name__}: {error}")
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                stack.close()
                signal.signal(signal.SIGINT, signal.default_int_handler)

    report = render(parts, settings)
    print("\n" + report)
    result_file = RESULTS_DIR / f"accounting-{stamp}.json"
    result_file.write_text(
        json.dumps(
            {
                "timestamp": stamp,
                "settings": asdict(settings),
                "environment": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "load_average_before": load_before,
                },
                "parts": [asdict(p) for p in parts],
                "report": report,
            },
            indent=2,
            default=str,
        )
    )
    print(f"results written to {result_file.relative_to(PROJECT_DIR)}")
    failed = [f"{p.name}: {f}" for p in parts for f in p.failures]
    for failure in failed:
        loud(f"FAILED: {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
