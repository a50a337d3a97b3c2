"""P1 benchmark: proposals appended through the full HTTP stack, against references.

One command (`.venv/bin/python bench/run.py`) that, on fresh PostgreSQL databases:

1. runs `bookkeeper migrate` and `bookkeeper serve` (per requested worker count), mints a
   token, warms up, then drives `POST /api/book-keeper/v1/events` with wrk at N connections;
2. measures the `eventsourcing` library (PostgreSQL, one new aggregate per save, N threads)
   in the same run, as the reference P1 is judged against;
3. optionally (`--raw-reference`) a pgbench single-row INSERT into an events-like table;
4. prints a table, the ratio and PASS/MISS per P1 target, and writes bench/results/*.json.

Everything it creates (server processes, databases, temporary key directory) is removed on
exit, including on Ctrl-C and errors. Not part of the test suite; see bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psycopg
from psycopg import sql

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LUA_SCRIPT = BENCH_DIR / "proposals.lua"
ES_REFERENCE = BENCH_DIR / "es_reference.py"
EVENTS_PATH = "/api/book-keeper/v1/events"

TARGET_THROUGHPUT = 2500.0
TARGET_P99_MS = 50.0
TARGET_RATIO = 1.5

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WIDE_SCAN_ROWS = 20  # rows read per index/table scan above which the report warns
#: Seconds between the warm-up and the measurement with no load: PostgreSQL's idle backends
#: publish their pending statistics after 10 s (PGSTAT_IDLE_INTERVAL), so that what the
#: warm-up read is counted before the measurement's counts start.
STATS_SETTLE_SECONDS = 11.0


# --- results -----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table."""

    name: str
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings:
    duration: float
    warmup: float
    connections: int
    workers: list[int]
    pool_size: int | None
    max_overflow: int
    es_threads: list[int]
    wrk_threads: int
    raw_reference: bool
    repeat: int
    profile: float
    health_timeout: float
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    cli: str | None
    #: The servers `bookkeeper serve` runs in (BOOKKEEPER_SERVER), each measured (ADR 0039).
    servers: list[str] = field(default_factory=lambda: ["uvicorn"])
    #: What the proposals look like (proposals.lua): all new merchants, or the realistic mix.
    mix: str = "new"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def loud(message: str) -> None:
    bar = "!" * 88
    print(f"\n{bar}\n!!! {message}\n{bar}\n", flush=True)


# --- processes and CPU accounting ---------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(command name, parent pid, CPU clock ticks) of a live process.

    The ticks include reaped children (cutime, cstime), so that a short-lived child such as
    wrk still counts towards its parent after it has exited.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return name, int(fields[1]), sum(int(v) for v in fields[11:15])


def _all_processes() -> dict[int, tuple[str, int, int]]:
    table: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def _descendants(root: int, table: dict[int, tuple[str, int, int]]) -> set[int]:
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid, (_, ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU cores used by groups of processes while the block runs.

    `roots` are process trees (the server, the runner with wrk); `backends` name the
    PostgreSQL backends serving the benchmark's database, asked for at the end; remaining
    postgres processes (other databases, background writers) are "postgres (rest)", and
    whatever else kept the machine busy is "other".
    """

    def __init__(
        self, roots: dict[str, int], backends: Callable[[], set[int]] | None = None
    ) -> None:
        self.roots = roots
        self.backends = backends
        self.start_time = 0.0
        self.start: dict[int, int] = {}
        self.start_machine = (0, 0)

    def __enter__(self) -> CpuMeter:
        self.start = {pid: ticks for pid, (_, _, ticks) in _all_processes().items()}
        self.start_machine = _machine_ticks()
        self.start_time = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.elapsed = time.perf_counter() - self.start_time
        backends: set[int] = set()
        if self.backends is not None:
            with contextlib.suppress(psycopg.Error):
                backends = self.backends()
        table = _all_processes()
        self.end_machine = _machine_ticks()
        used: dict[str, float] = {}
        claimed: set[int] = set()
        for group, root in self.roots.items():  # a pid belongs to the first group claiming it
            pids = (_descendants(root, table) if root in table else set()) - claimed
            claimed |= pids
            used[group] = sum(table[pid][2] - self.start.get(pid, 0) for pid in pids) / CLOCK_TICKS
        if self.backends is not None:
            pids = (backends & table.keys()) - claimed
            claimed |= pids
            used["postgres (bench db)"] = (
                sum(table[pid][2] - self.start.get(pid, 0) for pid in pids) / CLOCK_TICKS
            )
        postgres = {pid for pid, (name, _, _) in table.items() if name.startswith("postgres")}
        used["postgres (rest)"] = (
            sum(table[pid][2] - self.start.get(pid, 0) for pid in postgres - claimed) / CLOCK_TICKS
        )
        busy = (self.end_machine[0] - self.start_machine[0]) / CLOCK_TICKS
        # Anything else busy on the machine (other people's test runs) shows up here.
        used["other"] = max(0.0, busy - sum(used.values()))
        used["machine"] = busy
        self.cores = {group: seconds / self.elapsed for group, seconds in used.items()}

    def summary(self) -> str:
        cores = getattr(self, "cores", {})
        return ", ".join(f"{group} {value:.2f}" for group, value in cores.items())


def _rss_mb(root: int) -> float:
    """Resident memory of a process tree, in MB."""
    total_kb = 0
    for pid in _descendants(root, _all_processes()):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def stop_process_group(process: subprocess.Popen[Any], name: str, grace: float = 15.0) -> None:
    """Stop a process we started in its own session, and everything it spawned."""
    if process.poll() is not None:
        return
    log(f"stopping {name} (pid {process.pid})")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{name} ignored SIGTERM for {grace:.0f}s; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- PostgreSQL ---------------------------------------------------------------------------


class Postgres:
    """Creates and drops the benchmark's own databases."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        s = self.settings
        return psycopg.connect(
            host=s.pg_host,
            port=s.pg_port,
            user=s.pg_user,
            password=s.pg_password or None,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )

    def url(self, dbname: str) -> str:
        s = self.settings
        auth = s.pg_user + (f":{s.pg_password}" if s.pg_password else "")
        if s.pg_host.startswith("/"):  # a Unix-domain socket's directory
            return f"postgresql://{auth}@/{dbname}?host={s.pg_host}&port={s.pg_port}"
        return f"postgresql://{auth}@{s.pg_host}:{s.pg_port}/{dbname}"

    def create(self, dbname: str, stack: contextlib.ExitStack) -> str:
        """Create a database that `stack` drops when it unwinds."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        stack.callback(self.drop, dbname)
        log(f"created database {dbname}")
        return dbname

    def drop(self, dbname: str) -> None:
        try:
            with self.connect() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )
            log(f"dropped database {dbname}")
        except psycopg.Error as error:
            loud(f"could not drop database {dbname}: {error}")

    def free_connections(self) -> int:
        """Connections PostgreSQL would still accept from us right now."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            ).fetchone()
        return int(row[0]) + 1 if row else 0  # + 1: this connection closes

    def other_benchmarks(self) -> list[str]:
        """Databases of benchmark runs that are still going on (or were not cleaned up)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%' ORDER BY 1"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def activity(self, dbname: str) -> dict[str, int]:
        """Cumulative transaction and row counters of one database (pg_stat_database)."""
        with self.connect() as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, "
                "tup_fetched, deadlocks FROM pg_stat_database WHERE datname = %s",
                (dbname,),
            ).fetchone()
        names = ("commits", "rollbacks", "inserted", "updated", "deleted", "fetched", "deadlocks")
        return dict(zip(names, (int(v) for v in row), strict=True)) if row else {}

    def index_reads(self, dbname: str) -> dict[tuple[str, str], tuple[int, int]]:
        """(scans, rows read) per index and per table's sequential scans, so far, in the
        benchmark's own database (PostgreSQL's cumulative statistics)."""
        with self.connect(dbname) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            rows = conn.execute(
                "SELECT relname, indexrelname, idx_scan, idx_tup_read "
                "FROM pg_stat_user_indexes WHERE idx_scan > 0 "
                "UNION ALL "
                "SELECT relname, '(sequential scan)', seq_scan, seq_tup_read "
                "FROM pg_stat_user_tables WHERE seq_scan > 0"
            ).fetchall()
        return {(str(t), str(i)): (int(scans), int(read)) for t, i, scans, read in rows}

    def backends(self, dbname: str) -> set[int]:
        """Process ids of the backends connected to one database."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        return {int(row[0]) for row in rows}

    def count_events(self, dbname: str) -> int | None:
        """Rows in the bookkeeper event table, if one can be found (best effort)."""
        with contextlib.suppress(psycopg.Error), self.connect(dbname) as conn:
            row = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_name IN ('events', 'event_log', 'stored_events') "
                "ORDER BY table_name = 'events' DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            counted = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(row[0]), sql.Identifier(row[1])
                )
            ).fetchone()
            return int(counted[0]) if counted else None
        return None


# --- wrk ----------------------------------------------------------------------------------


def wide_scans(
    after: dict[tuple[str, str], tuple[int, int]],
    before: dict[tuple[str, str], tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """Indexes and tables read many rows per scan between two `index_reads` (a query is
    not using the right index): from `before` (or the database's creation) to `after`."""
    found = []
    for (table, index), (scans, read) in after.items():
        was_scans, was_read = (before or {}).get((table, index), (0, 0))
        scans, read = scans - was_scans, read - was_read
        if scans > 0 and read > WIDE_SCAN_ROWS * scans and read > 10_000:
            found.append({"table": table, "index": index, "scans": scans, "rows_read": read})
    return found


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    latency_us: dict[str, float]
    output: str
    samples: dict[str, str]

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    @property
    def transport_errors(self) -> int:
        e = self.socket_errors
        return e.get("connect", 0) + e.get("read", 0) + e.get("write", 0) + e.get("timeout", 0)


def run_wrk(base_url: str, token: str, settings: Settings, seconds: float, nonce: str) -> WrkResult:
    command = [
        "wrk",
        f"-t{settings.wrk_threads}",
        f"-c{settings.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        "-H",
        f"Authorization: Bearer {token}",
        base_url,
        "--",
        nonce,
        settings.mix,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    output = completed.stdout + completed.stderr
    match = re.search(r"^BENCH_RESULT (\{.*\})$", completed.stdout, re.MULTILINE)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {completed.returncode}):\n{output}")
    data = json.loads(match.group(1))
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        statuses=data["statuses"],
        socket_errors=data["socket_errors"],
        latency_us=data["latency_us"],
        output=output,
        samples=dict(re.findall(r"^BENCH_SAMPLE (\d+) (.*)$", completed.stdout, re.MULTILINE)),
    )


# --- bookkeeper under load ----------------------------------------------------------------


def bookkeeper_cli(override: str | None) -> str:
    if override:
        return override
    candidate = Path(sys.executable).parent / "bookkeeper"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("bookkeeper")
    if found is None:
        raise RuntimeError("the `bookkeeper` command is not installed in this environment")
    return found


def scan_server_log(path: Path) -> dict[str, Any]:
    """Count and sample what went wrong in the server's output."""
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = text.splitlines()
    error_lines = [
        line for line in lines if re.search(r"\b(ERROR|CRITICAL|Traceback|Exception)\b", line)
    ]
    tracebacks: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith("Traceback") and len(tracebacks) < 3:
            block = [line]
            for follow in lines[index + 1 : index + 60]:
                block.append(follow)
                if (
                    follow
                    and not follow.startswith((" ", "Traceback", "\t"))
                    and (":" in follow or "Error" in follow)
                ):
                    break
            tracebacks.append("\n".join(block))
    exception_kinds = Counter(
        m.group(1)
        for line in lines
        if (m := re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Violation)\w*)\b", line))
    )
    return {
        "lines": len(lines),
        "error_lines": len(error_lines),
        "tracebacks": text.count("Traceback (most recent call last)"),
        "exception_kinds": dict(exception_kinds.most_common(10)),
        "first_error_lines": error_lines[:5],
        "first_tracebacks": tracebacks,
        "tail": lines[-15:],
    }


FRAME = re.compile(r"^\S.* \([^()]+\)$")  # "function (file:line)", not process/thread labels


def _package_of(frame: str) -> str:
    """`psycopg` for "BaseCursor.execute (psycopg/cursor.py)"; the file for top-level modules."""
    path = frame[frame.rindex("(") + 1 : -1]
    return path.split("/", 1)[0] if "/" in path else path


def summarise_profile(raw_path: Path, top: int = 25) -> dict[str, Any]:
    """Top self and inclusive functions (lines merged) from py-spy's collapsed stacks."""
    self_samples: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [
            re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if FRAME.search(f) is not None
        ]
        if not frames:
            continue
        self_samples[frames[-1]] += count
        by_package[_package_of(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return {"self": [], "inclusive": [], "self_by_package": []}
    return {
        "samples": total,
        "self_by_package": [(p, 100 * n / total) for p, n in by_package.most_common(12)],
        "self": [(f, 100 * n / total) for f, n in self_samples.most_common(top)],
        "inclusive": [(f, 100 * n / total) for f, n in inclusive.most_common(top * 2)],
    }


def start_profiler(
    pid: int, seconds: float, output: Path, stack: contextlib.ExitStack
) -> subprocess.Popen[bytes] | None:
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists() and shutil.which("py-spy") is None:
        loud("--profile asked for, but py-spy is not installed (pip install py-spy)")
        return None
    command = [
        str(py_spy if py_spy.exists() else "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "100",
        "--duration",
        str(max(1, math.floor(seconds))),
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    stack.callback(stop_process_group, process, "py-spy", 5.0)
    return process


def bench_bookkeeper(
    settings: Settings,
    workers: int,
    postgres: Postgres,
    stamp: str,
    nonce: str,
    stack: contextlib.ExitStack,
    server_kind: str = "uvicorn",
) -> Row:
    """Migrate, serve, warm up and measure one server configuration."""
    cli = bookkeeper_cli(settings.cli)
    # uvicorn keeps the names it always had; another server is named in them.
    kind = "" if server_kind == "uvicorn" else f"{server_kind}, "
    suffix = "" if server_kind == "uvicorn" else f"_{server_kind}"
    dbname = postgres.create(f"bench_{nonce}_bookkeeper_w{workers}{suffix}", stack)
    data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-bookkeeper-"))
    pool_size = settings.pool_size or max(4, min(32, math.ceil(settings.connections / workers)))
    env = dict(os.environ)
    env.update(
        BOOKKEEPER_DATABASE_URL=postgres.url(dbname),
        BOOKKEEPER_DATA_DIR=data_dir,
        BOOKKEEPER_DB_POOL_SIZE=str(pool_size),
        # Bounded, so that workers x (pool + overflow) stays below max_connections.
        BOOKKEEPER_DB_MAX_OVERFLOW=str(settings.max_overflow),
        # One agent token drives the whole load: a limit it cannot reach keeps the
        # limiter's cost in the measurement without refusing requests; the executor is
        # not part of P1.
        BOOKKEEPER_RATE_LIMIT="1000000/second",
        BOOKKEEPER_RATE_LIMIT_WRITES="off",
        BOOKKEEPER_EXECUTOR="off",
        BOOKKEEPER_SERVER=server_kind,
    )

    log(f"bookkeeper migrate ({dbname})")
    migrated = subprocess.run(
        [cli, "migrate"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if migrated.returncode != 0:
        raise RuntimeError(
            f"`bookkeeper migrate` failed ({migrated.returncode}):\n"
            f"{migrated.stdout}{migrated.stderr}"
        )

    activity_before = postgres.activity(dbname)
    free_connections = postgres.free_connections()
    if free_connections < settings.connections:
        loud(
            f"only {free_connections} PostgreSQL connections are free for a pool of up to "
            f"{settings.connections}: the server may answer 503 (too many clients)"
        )
    port = free_port()
    server_log = RESULTS_DIR / f"{stamp}-server-w{workers}{suffix}.log"
    log(
        f"bookkeeper serve --workers {workers} on port {port} "
        f"(pool {pool_size} + overflow {settings.max_overflow} per worker)"
    )
    with server_log.open("wb") as log_file:
        server = subprocess.Popen(
            [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_DIR,
        )
    stack.callback(stop_process_group, server, f"bookkeeper serve ({kind}workers={workers})")

    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + settings.health_timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(
                f"the server exited with {server.returncode} before it was healthy:\n"
                + "\n".join(scan_server_log(server_log)["tail"])
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"/health did not answer 200 within {settings.health_timeout:.0f}s:\n"
                + "\n".join(scan_server_log(server_log)["tail"])
            )
        time.sleep(0.2)
    log("server healthy")

    minted = subprocess.run(
        [cli, "token", "--subject", "book-e", "--tenant", "bench", "--role", "agent"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    token = minted.stdout.strip()
    if minted.returncode != 0 or not token or any(c.isspace() for c in token):
        raise RuntimeError(
            f"`bookkeeper token` did not print one token ({minted.returncode}):\n"
            f"{minted.stdout}{minted.stderr}"
        )

    probe = httpx.post(
        f"{base_url}{EVENTS_PATH}",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "type": "ReceiptAttachmentProposed",
            "data": {
                "merchantName": f"Probe {nonce}",
                "amount": "199.00",
                "date": "2026-11-20",
                "vatRate": "25",
                "accountCode": "6540",
                "folioEventId": f"ev-probe-{nonce}",
            },
        },
        timeout=10.0,
    )
    if probe.status_code != 201:
        scan = scan_server_log(server_log)
        raise RuntimeError(
            f"the probe POST answered {probe.status_code}, not 201: {probe.text[:2000]}\n"
            f"server log ({server_log.relative_to(PROJECT_DIR)}):\n"
            + "\n".join(scan["first_error_lines"] + scan["first_tracebacks"][:1])
        )

    log(f"warming up for {settings.warmup:.0f}s")
    warmup = run_wrk(base_url, token, settings, settings.warmup, f"{nonce}w{workers}warm")

    # Wide scans are told apart: the warm-up's (a fresh database's plans, chosen before its
    # first ANALYZE, ADR 0048, read a few hundred to a few thousand rows for up to
    # FIRST_STATISTICS_INTERVAL seconds) from the measurement's (a plan that stays wrong as
    # the data grows, which the report warns of). A backend publishes its counts at the end
    # of a transaction at most once a second, and one that then stays idle only after
    # PostgreSQL's idle interval (10 s): without the pause, a pooled connection's warm-up
    # scans were counted in the measurement (seen in auto_explain's log: wide scans at a
    # table size of the warm-up's, reported as the measurement's).
    time.sleep(STATS_SETTLE_SECONDS)
    reads_before = postgres.index_reads(dbname)

    profile_path = RESULTS_DIR / f"{stamp}-profile-w{workers}{suffix}.txt"
    profiler = None
    if settings.profile > 0:
        seconds = min(settings.profile, max(1.0, settings.duration - 2))
        profiler = start_profiler(server.pid, seconds, profile_path, stack)
        log(f"py-spy recording the server for {seconds:.0f}s -> {profile_path.name}")

    log(f"measuring for {settings.duration:.0f}s at {settings.connections} connections")
    with CpuMeter(
        {"server": server.pid, "wrk+runner": os.getpid()}, lambda: postgres.backends(dbname)
    ) as cpu:
        result = run_wrk(base_url, token, settings, settings.duration, f"{nonce}w{workers}")
    rss = _rss_mb(server.pid)

    profile: dict[str, Any] = {}
    if profiler is not None:
        _, stderr = profiler.communicate(timeout=60)
        if profile_path.exists() and profile_path.stat().st_size > 0:
            profile = summarise_profile(profile_path)
            profile["file"] = str(profile_path.relative_to(PROJECT_DIR))
        else:
            loud(f"py-spy produced no profile: {stderr.decode(errors='replace')[-2000:]}")

    server_alive = server.poll() is None
    stop_process_group(server, f"bookkeeper serve ({kind}workers={workers})")
    time.sleep(0.5)  # the server's backends report their counters as they exit
    activity_after = postgres.activity(dbname)
    reads_after = postgres.index_reads(dbname)
    measured_wide = wide_scans(reads_after, reads_before)
    warmup_wide = wide_scans(reads_before)
    stored = postgres.count_events(dbname)  # after the counters: it scans the table itself
    # Over the server's whole life (probe, warm-up, measurement and the requests still in
    # flight when wrk stopped counting), per proposal actually stored.
    handled = stored or (1 + warmup.requests + result.requests)
    per_request = {
        name: (activity_after[name] - activity_before.get(name, 0)) / max(1, handled)
        for name in activity_after
    }
    log_scan = scan_server_log(server_log)

    errors = result.non_2xx + result.transport_errors
    row = Row(
        name=f"bookkeeper HTTP ({kind}workers={workers})",
        throughput=result.ok / result.duration_s,
        p50_ms=result.latency_us["p50"] / 1000,
        p99_ms=result.latency_us["p99"] / 1000,
        errors=errors,
        details={
            "workers": workers,
            "server": server_kind,
            "mix": settings.mix,
            "pool_size_per_worker": pool_size,
            "max_overflow_per_worker": settings.max_overflow,
            "free_pg_connections_at_start": free_connections,
            "connections": settings.connections,
            "requests": result.requests,
            "requests_per_s_all_statuses": result.requests / result.duration_s,
            "statuses": result.statuses,
            "socket_errors": result.socket_errors,
            "latency_us": result.latency_us,
            "warmup_statuses": warmup.statuses,
            "non_2xx_samples": {**warmup.samples, **result.samples},
            "cpu_cores_used": cpu.cores,
            "server_rss_mb": rss,
            "stored_events_after": stored,
            "database_activity_per_proposal": per_request,
            "wide_scans": measured_wide,
            "warmup_wide_scans": warmup_wide,
            "server_alive_after_load": server_alive,
            "server_log": str(server_log.relative_to(PROJECT_DIR)),
            "server_log_scan": log_scan,
            "profile": profile,
        },
    )
    log(
        f"done: {row.throughput:.0f} 2xx/s, p50 {row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms, "
        f"statuses {result.statuses}; CPU cores: {cpu.summary()}"
    )
    return row


# --- references ---------------------------------------------------------------------------


def bench_eventsourcing(
    settings: Settings, threads: int, postgres: Postgres, nonce: str, stack: contextlib.ExitStack
) -> Row:
    dbname = postgres.create(f"bench_{nonce}_eventsourcing_t{threads}", stack)
    s = settings
    env = dict(os.environ)
    env.update(
        PERSISTENCE_MODULE="eventsourcing.postgres",
        POSTGRES_DBNAME=dbname,
        POSTGRES_HOST=s.pg_host,
        POSTGRES_PORT=str(s.pg_port),
        POSTGRES_USER=s.pg_user,
        POSTGRES_PASSWORD=s.pg_password,
        POSTGRES_CREATE_TABLE="y",
        # One pooled connection per thread, so that threads wait on the database, not the pool.
        POSTGRES_POOL_SIZE=str(threads),
        POSTGRES_MAX_OVERFLOW="0",
    )
    log(
        f"eventsourcing reference: {threads} threads, one aggregate per save, "
        f"{s.warmup:.0f}s warm-up + {s.duration:.0f}s"
    )
    command = [
        sys.executable,
        str(ES_REFERENCE),
        "--duration",
        str(s.duration),
        "--warmup",
        str(s.warmup),
        "--threads",
        str(threads),
    ]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stack.callback(stop_process_group, process, "eventsourcing reference", 5.0)
    time.sleep(s.warmup)  # measure CPU over the window, not the warm-up
    # Leave the meter while the library's connections (and so their backends) still exist.
    with (
        CpuMeter({"eventsourcing": process.pid}, lambda: postgres.backends(dbname)) as cpu,
        contextlib.suppress(subprocess.TimeoutExpired),
    ):
        process.wait(timeout=max(0.5, s.duration - 0.5))
    stdout, stderr = process.communicate(timeout=s.duration + s.warmup + 120)
    if process.returncode != 0:
        raise RuntimeError(f"eventsourcing reference failed:\n{stdout}{stderr}")
    data = json.loads(stdout.strip().splitlines()[-1])
    if data["errors"]:
        loud(f"eventsourcing reference had {data['errors']} errors: {data['first_error']}")
    row = Row(
        name=f"eventsourcing lib ({threads} threads)",
        throughput=data["throughput"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        errors=data["errors"],
        details={**data, "cpu_cores_used": cpu.cores},
    )
    log(f"done: {row.throughput:.0f} events/s, p50 {row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms")
    return row


RAW_TABLE = """
CREATE TABLE events (
    position bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
)
"""

RAW_INSERT = (
    "\\set n random(1, 1000000000)\n"
    "INSERT INTO events (id, stream_id, version, type, data) VALUES (gen_random_uuid(), "
    "'proposal-' || gen_random_uuid(), 1, 'ReceiptAttachmentProposed', "
    "jsonb_build_object('merchantName', 'Merchant ' || :n, 'amount', '199.00', "
    "'date', '2026-11-20', 'vatRate', '25', 'accountCode', '6540'));\n"
)


def bench_pgbench(
    settings: Settings, postgres: Postgres, nonce: str, stack: contextlib.ExitStack
) -> Row:
    if shutil.which("pgbench") is None:
        raise RuntimeError("--raw-reference needs pgbench (apt-get install postgresql-client)")
    s = settings
    dbname = postgres.create(f"bench_{nonce}_raw", stack)
    with postgres.connect(dbname) as conn:
        conn.execute(RAW_TABLE)
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pgbench-")))
    script = work / "insert.sql"
    script.write_text(RAW_INSERT)
    log(f"pgbench raw INSERT reference: {s.connections} clients, {s.duration:.0f}s")
    env = dict(os.environ, PGPASSWORD=s.pg_password) if s.pg_password else None
    command = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(s.connections),
        "-j",
        str(s.wrk_threads),
        "-T",
        str(max(1, round(s.duration))),
        "-f",
        str(script),
        "-l",
        "--log-prefix",
        str(work / "txn"),
        "-h",
        s.pg_host,
        "-p",
        str(s.pg_port),
        "-U",
        s.pg_user,
        dbname,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=work,
        start_new_session=True,
    )
    stack.callback(stop_process_group, process, "pgbench", 5.0)
    time.sleep(1.0)  # connections established
    # Leave the meter while pgbench's backends still exist (they are asked for at the end).
    with (
        CpuMeter({"pgbench": process.pid}, lambda: postgres.backends(dbname)) as cpu,
        contextlib.suppress(subprocess.TimeoutExpired),
    ):
        process.wait(timeout=max(0.5, s.duration - 1.5))
    output, _ = process.communicate(timeout=s.duration + 60)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    if process.returncode != 0 or tps is None:
        raise RuntimeError(f"pgbench failed ({process.returncode}):\n{output}")
    failed = re.search(r"number of failed transactions: (\d+)", output)
    latencies: list[float] = []
    for path in work.glob("txn.*"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6:
                latencies.append(int(parts[2]) / 1000)
    latencies.sort()
    row = Row(
        name=f"pgbench raw INSERT ({s.connections} clients)",
        throughput=float(tps.group(1)),
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        errors=int(failed.group(1)) if failed else 0,
        details={"transactions_logged": len(latencies), "cpu_cores_used": cpu.cores},
    )
    log(f"done: {row.throughput:.0f} tps, p50 {row.p50_ms:.2f} ms, p99 {row.p99_ms:.2f} ms")
    return row


# --- report -------------------------------------------------------------------------------


def combine(runs: list[Row]) -> Row:
    """One row from repeated runs: medians, summed errors, the median run's details."""
    middle = sorted(runs, key=lambda r: r.throughput)[len(runs) // 2]
    return Row(
        name=runs[0].name,
        throughput=statistics.median(r.throughput for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        errors=sum(r.errors for r in runs),
        details={
            **middle.details,
            "runs": [
                {
                    "throughput": r.throughput,
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                    "errors": r.errors,
                    "statuses": r.details.get("statuses"),
                }
                for r in runs
            ],
        },
    )


def verdicts(row: Row, reference: Row | None) -> list[tuple[str, bool | None]]:
    ratio = row.throughput / reference.throughput if reference and reference.throughput else None
    return [
        (f"throughput >= {TARGET_THROUGHPUT:,.0f}/s", row.throughput >= TARGET_THROUGHPUT),
        (f"p99 <= {TARGET_P99_MS:.0f} ms", row.p99_ms <= TARGET_P99_MS),
        (
            f"ratio to eventsourcing >= {TARGET_RATIO}x",
            None if ratio is None else ratio >= TARGET_RATIO,
        ),
        ("no errors (non-2xx, socket)", row.errors == 0),
    ]


def cpu_ms_per_operation(row: Row) -> dict[str, float]:
    """CPU milliseconds per stored event/request of each process group (not idle/other)."""
    cores = row.details.get("cpu_cores_used", {})
    if not row.throughput:
        return {}
    return {
        group: 1000 * value / row.throughput
        for group, value in cores.items()
        if group not in ("other", "machine", "wrk+runner")
    }


def render(rows: list[Row], reference: Row | None, settings: Settings) -> str:
    header = ("name", "throughput/s", "p50 ms", "p99 ms", "errors")
    body = [
        (r.name, f"{r.throughput:,.0f}", f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}", f"{r.errors:,}")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        return " | ".join(cells)

    out = [
        f"P1 benchmark: {settings.duration:.0f}s per run, {settings.connections} connections, "
        f"{os.cpu_count()} CPUs, load generator wrk"
        + (f", {settings.repeat} repetitions (medians)" if settings.repeat > 1 else ""),
        "",
        fmt(header),
        "-+-".join("-" * w for w in widths),
        *(fmt(line) for line in body),
        "",
    ]
    for row in rows:
        if row.name.startswith("bookkeeper"):
            ratio = (
                f"{row.throughput / reference.throughput:.2f}x"
                if reference and reference.throughput
                else "n/a"
            )
            out.append(f"{row.name}: ratio bookkeeper/eventsourcing = {ratio}")
            for label, ok in verdicts(row, reference):
                verdict = "n/a " if ok is None else ("PASS" if ok else "MISS")
                out.append(f"  [{verdict}] P1 {label}")
        else:
            out.append(f"{row.name}:")
        runs = row.details.get("runs", [])
        if len(runs) > 1:
            out.append(
                f"  {len(runs)} runs (table shows medians): "
                + ", ".join(
                    f"{r['throughput']:,.0f}/s p99 {r['p99_ms']:.0f} ms"
                    + (f" ({r['errors']:,} errors: {r['statuses']})" if r["errors"] else "")
                    for r in runs
                )
            )
        cpu = row.details.get("cpu_cores_used", {})
        if cpu:
            out.append(
                f"  {'median run: ' if len(runs) > 1 else ''}CPU cores used: "
                + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
            )
            per_op = cpu_ms_per_operation(row)
            out.append(
                "  CPU-ms per operation: "
                + ", ".join(f"{k} {v:.2f}" for k, v in per_op.items())
                + (
                    f"; server RSS {row.details['server_rss_mb']:.0f} MB"
                    if "server_rss_mb" in row.details
                    else ""
                )
            )
        if "statuses" in row.details:
            out.append(f"  statuses: {row.details['statuses']}")
        for status, body in row.details.get("non_2xx_samples", {}).items():
            out.append(f"  first {status} answer: {body[:300]}")
        activity = row.details.get("database_activity_per_proposal")
        if activity:
            out.append(
                "  database, per proposal stored: "
                + ", ".join(f"{name} {value:.2f}" for name, value in activity.items())
            )
        for wide in row.details.get("wide_scans", []):
            out.append(
                f"  WIDE SCANS: {wide['table']}.{wide['index']}: {wide['scans']:,} scans read "
                f"{wide['rows_read']:,} rows ({wide['rows_read'] / wide['scans']:,.0f} per scan)"
            )
        for wide in row.details.get("warmup_wide_scans", []):
            out.append(
                f"  wide scans before the measurement only (probe and warm-up): "
                f"{wide['table']}.{wide['index']}: {wide['scans']:,} scans read "
                f"{wide['rows_read']:,} rows"
            )
        scan = row.details.get("server_log_scan", {})
        if scan.get("error_lines") or scan.get("tracebacks"):
            out.append(
                f"  server log: {scan['error_lines']} error lines, {scan['tracebacks']} "
                f"tracebacks {scan.get('exception_kinds')} -> {row.details['server_log']}"
            )
        profile = row.details.get("profile") or {}
        if profile.get("self"):
            out.append(
                f"  py-spy, {profile['samples']} samples ({profile['file']}); self time by "
                "package: "
                + ", ".join(
                    f"{package} {share:.0f}%" for package, share in profile["self_by_package"]
                )
            )
            out.append("  py-spy, top self time:")
            out.extend(f"    {share:5.1f}%  {frame}" for frame, share in profile["self"][:12])
            out.append("  py-spy, top inclusive time (below 80%):")
            inclusive = [(f, share) for f, share in profile["inclusive"] if share < 80][:15]
            out.extend(f"    {share:5.1f}%  {frame}" for frame, share in inclusive)
        out.append("")
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        description="P1: proposals through the full HTTP stack vs the eventsourcing library."
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[2], help="server worker counts to measure"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="BOOKKEEPER_DB_POOL_SIZE per worker (default: connections/workers, at most 32)",
    )
    parser.add_argument(
        "--max-overflow", type=int, default=0, help="BOOKKEEPER_DB_MAX_OVERFLOW per worker"
    )
    parser.add_argument(
        "--es-threads",
        type=int,
        nargs="+",
        default=None,
        help="eventsourcing thread counts (default: connections and 4); the fastest is the "
        "reference",
    )
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--raw-reference", action="store_true", help="also run a pgbench single-row INSERT"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="repeat the whole sequence and report medians (shared machines are noisy)",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="py-spy record the server for this many seconds of the measurement (perturbs it)",
    )
    parser.add_argument("--health-timeout", type=float, default=30.0)
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=["uvicorn", "granian"],
        default=["uvicorn"],
        help="BOOKKEEPER_SERVER values to measure, each with every --workers (ADR 0039)",
    )
    parser.add_argument(
        "--mix",
        choices=["new", "realistic"],
        default="new",
        help="new: a new merchant on every proposal; realistic: a third the same cafe's "
        "45 kr coffee (duplicates), a third 500 recurring merchants, a third new",
    )
    parser.add_argument(
        "--cli", default=None, help="the bookkeeper command (default: the one in this venv)"
    )
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--pg-password", default=os.environ.get("PGPASSWORD", ""))
    a = parser.parse_args(argv)
    return Settings(
        duration=a.duration,
        warmup=a.warmup,
        connections=a.connections,
        workers=a.workers,
        pool_size=a.pool_size,
        max_overflow=a.max_overflow,
        es_threads=a.es_threads or [a.connections, 4],
        wrk_threads=a.wrk_threads,
        raw_reference=a.raw_reference,
        repeat=max(1, a.repeat),
        profile=a.profile,
        health_timeout=a.health_timeout,
        pg_host=a.pg_host,
        pg_port=a.pg_port,
        pg_user=a.pg_user,
        pg_password=a.pg_password,
        cli=a.cli,
        servers=a.servers,
        mix=a.mix,
    )


def _environment() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
    ).stdout.strip()
    wrk_version = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "git_commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "wrk": wrk_version[0] if wrk_version else "",
    }


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so that cleanup runs either way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous: Callable[[int, FrameType | None], Any] | int | None = signal.signal(
        signal.SIGTERM, handler
    )
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    nonce = secrets.token_hex(3)
    runs: dict[str, list[Row]] = {}
    failures: list[str] = []
    warnings: list[str] = []
    environment = _environment()

    stack = contextlib.ExitStack()
    try:
        with interrupts_as_keyboard_interrupt():
            postgres = Postgres(settings)
            others = postgres.other_benchmarks()
            if others:
                loud(
                    f"other benchmark databases exist ({', '.join(others)}): another run is "
                    "going on (or was killed); the figures will be disturbed"
                )
                warnings.append(f"other benchmark databases: {others}")
            needed = max(*settings.es_threads, settings.connections + 2 * settings.max_overflow)
            free = postgres.free_connections()
            if free < needed + 5:
                loud(
                    f"PostgreSQL accepts only {free} more connections and the benchmark needs "
                    f"about {needed}: expect 503s ('too many clients') from the server"
                )
                warnings.append(f"only {free} free PostgreSQL connections, {needed} needed")
            for repetition in range(1, settings.repeat + 1):
                if settings.repeat > 1:
                    log(f"--- repetition {repetition} of {settings.repeat}")
                tag = nonce if settings.repeat == 1 else f"{nonce}r{repetition}"
                label = stamp if settings.repeat == 1 else f"{stamp}-r{repetition}"
                measurements: list[tuple[str, Callable[[contextlib.ExitStack], Row]]] = []
                measurements.extend(
                    (
                        f"eventsourcing reference ({threads} threads)",
                        functools.partial(bench_eventsourcing, settings, threads, postgres, tag),
                    )
                    for threads in settings.es_threads
                )
                measurements.extend(
                    (
                        f"bookkeeper workers={workers} ({server_kind})",
                        functools.partial(
                            bench_bookkeeper,
                            settings,
                            workers,
                            postgres,
                            label,
                            tag,
                            server_kind=server_kind,
                        ),
                    )
                    for server_kind in settings.servers
                    for workers in settings.workers
                )
                if settings.raw_reference:
                    measurements.append(
                        (
                            "pgbench reference",
                            functools.partial(bench_pgbench, settings, postgres, tag),
                        )
                    )
                for what, measure in measurements:
                    with contextlib.ExitStack() as per_run:
                        stack.callback(per_run.close)  # unwound by Ctrl-C too
                        try:
                            row = measure(per_run)
                        except (
                            RuntimeError,
                            subprocess.SubprocessError,
                            httpx.HTTPError,
                            psycopg.Error,
                        ) as error:
                            failures.append(f"{what}: {error}")
                            loud(f"{what} FAILED: {error}")
                            continue
                    runs.setdefault(row.name, []).append(row)
    except KeyboardInterrupt:
        loud("interrupted: cleaning up")
        failures.append("interrupted")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    rows = [combine(measured) for measured in runs.values()]
    references = [r for r in rows if r.name.startswith("eventsourcing")]
    reference = max(references, key=lambda r: r.throughput) if references else None
    report = render(rows, reference, settings)
    print("\n" + report)
    for row in rows:
        if row.errors:
            loud(
                f"{row.name}: {row.errors:,} ERRORS (non-2xx or socket errors) — "
                "its figures are not a valid result"
            )
        if row.details.get("wide_scans"):
            loud(
                f"{row.name}: some queries read many rows per scan (WIDE SCANS above): "
                "throughput will fall as the tables grow"
            )
        scan = row.details.get("server_log_scan", {})
        if scan.get("tracebacks"):
            loud(f"{row.name}: {scan['tracebacks']} tracebacks in {row.details['server_log']}")
    for failure in failures:
        loud(f"FAILED: {failure}")

    result_file = RESULTS_DIR / f"{stamp}.json"
    result_file.write_text(
        json.dumps(
            {
                "timestamp": stamp,
                "settings": asdict(settings),
                "environment": environment,
                "targets": {
                    "throughput_per_s": TARGET_THROUGHPUT,
                    "p99_ms": TARGET_P99_MS,
                    "ratio_to_eventsourcing": TARGET_RATIO,
                },
                "rows": [asdict(r) for r in rows],
                "verdicts": {
                    r.name: {label: ok for label, ok in verdicts(r, reference)}
                    for r in rows
                    if r.name.startswith("bookkeeper")
                },
                "failures": failures,
                "warnings": warnings,
                "report": report,
            },
            indent=2,
        )
    )
    print(f"results written to {result_file.relative_to(PROJECT_DIR)}")
    if failures or any(r.errors for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
