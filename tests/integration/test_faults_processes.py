"""The fault suite with real processes (issue 16, ADR 0026): `bookkeeper serve` subprocesses
on a PostgreSQL database of their own, executing approved invoices into the loopback fake
Fiken (tests/fakes/fiken.py) through the real adapter, and killed, stopped or disturbed
from outside the way an operator or the platform would.

- kill -9 during execution, then a restart: every approved invoice is in Fiken exactly
  once, and the restarted process takes the dead one's attempts over after the short
  lease (seconds), reconciling by reference what the dead one may have sent;
- SIGTERM with a slow Fiken: the process exits within its grace, hands back what it had
  claimed and not started, and another process (already running, with long leases, so
  only the hand-back can give it the work) finishes everything within seconds;
- a Fiken 5xx storm (some answers lost after Fiken committed): back-off between attempts,
  and still exactly once;
- every backend of the database terminated under a burst of POSTs to the process: clean
  201s or 503s with Retry-After, no 201 lost, and recovery without a restart;
- a poisoned session setting (ALTER DATABASE … SET statement_timeout) that every new
  connection picks up: clean 503s, and recovery after RESET without a restart.

Each test is bounded in time (DEADLINE per step); the processes are always killed at the
end. The fake Fiken runs in the test's event loop, so every wait here is asynchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bookkeeper.adapters.auth.local_jwt import LocalJwtIssuer, load_or_create_signing_key
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock
from bookkeeper.application.execution import reference
from bookkeeper.domain.events import ExecutedData, ExecutionFailedData, ExecutionStartedData, Status
from tests.fakes.fiken import FakeFiken, FikenServer, running_fiken_server
from tests.http_helpers import API, free_port, pattern
from tests.integration.test_faults_postgres import _alter_database, _terminate_backends
from tests.unit.conftest import FixedClock
from tests.unit.external_doubles import Harness, invoice

pytestmark = pytest.mark.postgres

#: The longest any one step (start, finish the work, exit) may take.
DEADLINE = 25.0
STARTUP = 40.0  # a cold start on a loaded machine: imports dominate
#: The short lease of the kill -9 test (BOOKKEEPER_EXECUTOR_LEASE_SECONDS).
SHORT_LEASE = 3
#: A lease no test waits for: work moves to another process only if it is handed back.
LONG_LEASE = 120
GRACE = 3


class Served:
    """One `bookkeeper serve` process."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.name = name
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> None:
        deadline = time.monotonic() + STARTUP
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self.process.poll() is not None:
                    pytest.fail(
                        f"{self.name} exited with {self.process.returncode}:\n{self.text()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.base}/health")).status_code in (200, 503):
                        return
                assert time.monotonic() < deadline, f"{self.name} did not start:\n{self.text()}"
                await asyncio.sleep(0.1)

    async def exited(self, within: float) -> int:
        deadline = time.monotonic() + within
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"{self.name} still running:\n{self.text()}"
            await asyncio.sleep(0.05)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


class Cluster:
    """The processes of one test, their shared settings, and the seeded database."""

    def __init__(self, tmp_path: Path, database_url: str, fiken: FakeFiken, fiken_url: str):
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.fiken = fiken
        self.data_dir = tmp_path / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKKEEPER_")}
        self.env |= {
            "BOOKKEEPER_DATA_DIR": str(self.data_dir),
            "BOOKKEEPER_DATABASE_URL": database_url,
            "BOOKKEEPER_FIKEN_TOKEN": fiken.token,
            "BOOKKEEPER_FIKEN_COMPANY": fiken.slug,
            "BOOKKEEPER_FIKEN_BASE_URL": fiken_url,
            "BOOKKEEPER_EXECUTOR_INTERVAL": "1",
            "BOOKKEEPER_EXECUTOR_LEASE_SECONDS": str(SHORT_LEASE),
            "BOOKKEEPER_EXECUTOR_RETRY_SECONDS": "1",
            "BOOKKEEPER_EXECUTOR_MAX_ATTEMPTS": "20",
            "BOOKKEEPER_SHUTDOWN_GRACE_SECONDS": str(GRACE),
            "BOOKKEEPER_MORNING": "off",
            "BOOKKEEPER_RATE_LIMIT": "off",
            "BOOKKEEPER_RATE_LIMIT_WRITES": "off",
            "BOOKKEEPER_LOG_FORMAT": "text",
            "BOOKKEEPER_LOG_LEVEL": "INFO",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        self.served: list[Served] = []
        self.database = SqlDatabase(database_url, pool_size=2, max_overflow=2)
        self.harness = Harness(
            uow_factory=self.database.uow_factory(),
            clock=FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0)),
        )

    async def start(self, name: str, **env: str) -> Served:
        served = self.spawn(name, **env)
        await served.ready()
        return served

    def spawn(self, name: str, **env: str) -> Served:
        port = free_port()
        log = self.tmp_path / f"{name}.log"
        command = [sys.executable, "-m", "bookkeeper.entrypoints.cli.main", "serve"]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                env=self.env | env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        served = Served(name, process, port, log)
        self.served.append(served)
        return served

    async def approved_invoices(self, count: int) -> list[uuid.UUID]:
        ids = []
        for n in range(count):
            document = await self.harness.store(content=b"%PDF-1.7\n" + uuid.uuid4().bytes)
            data: Any = invoice(document, account_code="6900", invoice_number=f"FAULT-{n}")
            ids.append(await self.harness.approved(data))
        return ids

    async def statuses(self, ids: list[uuid.UUID]) -> list[Status]:
        return [(await self.harness.view(i)).status for i in ids]

    async def all_executed(self, ids: list[uuid.UUID], within: float = DEADLINE) -> float:
        """Wait until every proposal is EXECUTED; the seconds it took."""
        started = time.monotonic()
        while True:
            statuses = await self.statuses(ids)
            if statuses == [Status.EXECUTED] * len(ids):
                return time.monotonic() - started
            logs = "\n".join(f"--- {s.name}\n{s.text()[-3000:]}" for s in self.served)
            assert time.monotonic() - started < within, f"{statuses}\n{logs}"
            await asyncio.sleep(0.2)

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    async def holder(self, proposal_id: uuid.UUID, candidates: list[Served]) -> Served:
        """The process that claimed the proposal's latest attempt (by its pid)."""
        while True:
            stream = await self.harness.stream(proposal_id)
            started = [e.data for e in stream if isinstance(e.data, ExecutionStartedData)]
            if started:
                executor = started[-1].executor or ""
                for served in candidates:
                    if executor.endswith(f":{served.process.pid}"):
                        return served
                pytest.fail(f"claimed by {executor!r}, none of ours")
            await asyncio.sleep(0.05)

    def assert_exactly_once(self, ids: list[uuid.UUID]) -> None:
        for proposal_id in ids:
            found = self.fiken.purchases_with_reference(reference(proposal_id))
            assert len(found) == 1, (proposal_id, found)

    def token(self, role: str = "agent") -> dict[str, str]:
        key = load_or_create_signing_key(self.data_dir / "jwt-signing-key.pem")
        issuer = LocalJwtIssuer(
            key, issuer="bookkeeper-local", audience="bookkeeper", clock=SystemClock()
        )
        minted = issuer.mint(f"fault-{role}", "acme", [role], dt.timedelta(hours=1))
        return {"Authorization": f"Bearer {minted}"}

    async def close(self) -> None:
        for served in self.served:
            served.kill()
        await self.database.dispose()


@pytest_asyncio.fixture
async def fiken_server() -> AsyncIterator[FikenServer]:
    async with running_fiken_server() as server:
        yield server


@pytest_asyncio.fixture
async def cluster(
    tmp_path: Path, postgres_url: str, fiken_server: FikenServer
) -> AsyncIterator[Cluster]:
    created = Cluster(tmp_path, postgres_url, fiken_server.fresh(), fiken_server.base_url)
    try:
        yield created
    finally:
        await created.close()


def _purchases(fiken: FakeFiken) -> int:
    return len(fiken.purchases)


async def test_kill_9_during_execution_then_restart_executes_each_exactly_once(
    cluster: Cluster,
) -> None:
    ids = await cluster.approved_invoices(8)
    cluster.fiken.latency = 0.15
    first = await cluster.start("first")
    await cluster.wait_for(lambda: _purchases(cluster.fiken) >= 2, "two purchases")
    # Mid-request if it can be: kill as the next request arrives.
    await asyncio.wait_for(cluster.fiken.arrived(len(cluster.fiken.requests) + 1), DEADLINE)
    first.process.send_signal(signal.SIGKILL)
    await first.exited(5)
    done_before = _purchases(cluster.fiken)
    assert done_before < len(ids), "the first process finished before it was killed"

    await cluster.start("restarted")  # a cold start: its time depends on the machine
    # Once it serves, the dead process's attempts are its after the short lease (seconds),
    # not after a five-minute one: all_executed bounds the wait to DEADLINE.
    took = await cluster.all_executed(ids)
    assert took < DEADLINE
    cluster.assert_exactly_once(ids)
    views = [await cluster.harness.view(i) for i in ids]
    assert any(v.attempts >= 2 for v in views), "nothing was taken over from the dead process"


async def test_sigterm_hands_the_work_to_another_process_within_seconds(
    cluster: Cluster,
) -> None:
    # Two processes, both up before there is work: one of them claims it.
    long_lease = {"BOOKKEEPER_EXECUTOR_LEASE_SECONDS": str(LONG_LEASE)}
    both = [cluster.spawn("one", **long_lease), cluster.spawn("two", **long_lease)]
    await asyncio.gather(*(served.ready() for served in both))
    cluster.fiken.latency = 0.25
    ids = await cluster.approved_invoices(10)
    await cluster.wait_for(lambda: _purchases(cluster.fiken) >= 1, "a first purchase")
    holder = await cluster.holder(ids[-1], both)
    other = next(served for served in both if served is not holder)
    assert _purchases(cluster.fiken) < len(ids), "the work was done before the SIGTERM"

    stopped_at = time.monotonic()
    holder.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM.
    assert await holder.exited(GRACE + 10) in (0, -signal.SIGTERM), holder.text()
    assert "Application shutdown complete" in holder.text()
    assert time.monotonic() - stopped_at < GRACE + 10
    assert "handed back" in holder.text()

    # The leases run for two minutes: only the hand-back lets the other process in.
    took = await cluster.all_executed(ids, within=15)
    assert took < 15
    cluster.assert_exactly_once(ids)
    assert other.process.poll() is None


async def test_a_fiken_5xx_storm_backs_off_and_executes_each_exactly_once(
    cluster: Cluster,
) -> None:
    ids = await cluster.approved_invoices(3)
    # Two purchases are created but their answers lost; then every request fails a while.
    cluster.fiken.fail_next(2, 500, after_commit=True, method="POST", path=r"/purchases$")
    cluster.fiken.fail_next(8, 503)
    await cluster.start("stormed")
    await cluster.all_executed(ids)
    cluster.assert_exactly_once(ids)

    reconciled = 0
    retried = 0
    for proposal_id in ids:
        stream = await cluster.harness.stream(proposal_id)
        data = [event.data for event in stream]
        executed = [d for d in data if isinstance(d, ExecutedData)]
        assert len(executed) == 1
        reconciled += executed[0].reconciled
        # Back-off: no attempt started before the time its failure named.
        for n, item in enumerate(data):
            if isinstance(item, ExecutionFailedData):
                retried += 1
                assert item.retryable and item.next_attempt_at is not None
                assert item.next_attempt_at > stream[n].created_at
                nxt = next(
                    i for i in range(n + 1, len(data)) if isinstance(data[i], ExecutionStartedData)
                )
                assert stream[nxt].created_at >= item.next_attempt_at
    assert retried >= 2
    assert reconciled >= 1, "no purchase lost in the storm was found by reference"


async def _burst(
    client: httpx.AsyncClient, headers: dict[str, str], prefix: str, n: int
) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            *(
                client.post(
                    f"{API}/events",
                    json={"type": "PatternSuggested", "data": pattern(merchant=f"{prefix} {i}")},
                    headers=headers,
                )
                for i in range(n)
            )
        )
    )


def _assert_clean(answer: httpx.Response) -> None:
    assert answer.status_code in (201, 503), answer.text
    if answer.status_code == 503:
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert int(answer.headers["retry-after"]) >= 1


async def _recovers(client: httpx.AsyncClient, headers: dict[str, str], prefix: str) -> None:
    deadline = time.monotonic() + 15
    attempt = 0
    while True:
        attempt += 1
        answers = await _burst(client, headers, f"{prefix} {attempt}", 8)
        for answer in answers:
            _assert_clean(answer)
        if all(a.status_code == 201 for a in answers):
            break
        assert time.monotonic() < deadline, [a.status_code for a in answers]
        await asyncio.sleep(0.2)
    health = await client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text


@pytest.fixture
def reset_database(postgres_url: str) -> Iterator[None]:
    yield
    _alter_database(postgres_url, "statement_timeout", None)


async def test_terminated_backends_under_load_give_clean_503s_lose_no_201_and_heal(
    cluster: Cluster, postgres_url: str
) -> None:
    served = await cluster.start("api", BOOKKEEPER_EXECUTOR="off")
    headers = cluster.token()
    stored: list[str] = []
    async with httpx.AsyncClient(base_url=served.base, timeout=20) as client:
        for answer in await _burst(client, headers, "warm", 8):
            assert answer.status_code == 201, answer.text
        for round_ in range(3):
            burst = asyncio.create_task(_burst(client, headers, f"storm {round_}", 12))
            await asyncio.sleep(0.02)
            await asyncio.to_thread(_terminate_backends, postgres_url)
            for answer in await burst:
                _assert_clean(answer)
                if answer.status_code == 201:
                    stored.append(answer.json()["eventId"])
        await _recovers(client, headers, "after terminate")
        viewer = cluster.token("viewer")
        for event_id in stored:
            read = await client.get(f"{API}/events/{event_id}", headers=viewer)
            assert read.status_code == 200, read.text
    assert served.process.poll() is None  # healed without a restart


async def test_a_poisoned_session_setting_heals_after_reset_without_a_restart(
    cluster: Cluster, postgres_url: str, reset_database: None
) -> None:
    served = await cluster.start("api", BOOKKEEPER_EXECUTOR="off")
    headers = cluster.token()
    async with httpx.AsyncClient(base_url=served.base, timeout=20) as client:
        for answer in await _burst(client, headers, "warm", 8):
            assert answer.status_code == 201, answer.text
        _alter_database(postgres_url, "statement_timeout", "1ms")
        _terminate_backends(postgres_url)  # new connections come with the setting
        answers: list[httpx.Response] = []
        for round_ in range(4):
            answers += await _burst(client, headers, f"poisoned {round_}", 8)
        for answer in answers:
            _assert_clean(answer)
        assert any(a.status_code == 503 for a in answers), "1 ms cancelled nothing"
        _alter_database(postgres_url, "statement_timeout", None)
        await _recovers(client, headers, "after reset")
    assert served.process.poll() is None
