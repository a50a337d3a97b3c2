"""`bookkeeper serve` subprocesses on one PostgreSQL database against the loopback fake
Fiken, for the tests that start real processes (the fault suite, ADR 0026; the replicas,
ADR 0035): `Served` is one process, `Cluster` the processes of one test, their shared
settings and the seeded database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from bookkeeper.adapters.auth.local_jwt import LocalJwtIssuer, load_or_create_signing_key
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock
from bookkeeper.application.execution import reference
from bookkeeper.domain.events import ExecutionStartedData, Status
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import announced_port
from tests.unit.conftest import FixedClock
from tests.unit.external_doubles import Harness, invoice

#: The longest any one step (start, finish the work, exit) may take: a deadline, not an
#: expectation (on a loaded 2-core runner the kill -9 test took a minute in all).
DEADLINE = 60.0
STARTUP = 40.0  # a cold start on a loaded machine: imports dominate
#: The short lease of the kill -9 test (BOOKKEEPER_EXECUTOR_LEASE_SECONDS).
SHORT_LEASE = 3
#: A lease no test waits for: work moves to another process only if it is handed back.
LONG_LEASE = 120
GRACE = 3


class Served:
    """One `bookkeeper serve` process, on a port of its own choosing (`--port 0`): the
    one it logs when it listens (no free port picked beforehand that another process
    could take first)."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.port: int | None = None

    @property
    def base(self) -> str:
        assert self.port is not None, f"{self.name} is not ready (its port is not known yet)"
        return f"http://127.0.0.1:{self.port}"

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
                if self.port is None:
                    self.port = announced_port(self.text())
                with contextlib.suppress(httpx.TransportError):
                    if self.port is not None and (
                        await client.get(f"{self.base}/health")
                    ).status_code in (200, 503):
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
        log = self.tmp_path / f"{name}.log"
        command = [sys.executable, "-m", "bookkeeper.entrypoints.cli.main", "serve"]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*command, "--port", "0"],
                env=self.env | env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        served = Served(name, process, log)
        self.served.append(served)
        return served

    async def approved_invoices(
        self, count: int, tenants: Sequence[str] = ("acme",), prefix: str = "FAULT"
    ) -> list[uuid.UUID]:
        """`count` approved invoices of one supplier, of `tenants` in turn, numbered
        `prefix`-0, -1, …"""
        ids = []
        for n in range(count):
            tenant = tenants[n % len(tenants)]
            document = await self.harness.store(
                content=b"%PDF-1.7\n" + uuid.uuid4().bytes, tenant=tenant
            )
            data: Any = invoice(document, account_code="6900", invoice_number=f"{prefix}-{n}")
            ids.append(await self.harness.approved(data, tenant))
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

    async def holding(
        self, ids: list[uuid.UUID], candidates: list[Served], at_least: int
    ) -> Served:
        """The first of `candidates` found holding `at_least` open attempts of `ids`: claimed
        by it (their latest event is its ExecutionStarted) and neither executed nor failed.
        An executor runs one tenant's claims one at a time, so one holding three has at
        least one it has not started, even if another begins meanwhile."""
        deadline = time.monotonic() + DEADLINE
        while True:
            held: dict[int, int] = {}
            for proposal_id in ids:
                stream = await self.harness.stream(proposal_id)
                last = stream[-1].data if stream else None
                if isinstance(last, ExecutionStartedData):
                    pid = (last.executor or "").rpartition(":")[2]
                    if pid.isdigit():
                        held[int(pid)] = held.get(int(pid), 0) + 1
            for served in candidates:
                if held.get(served.process.pid, 0) >= at_least:
                    return served
            assert time.monotonic() < deadline, f"no process held {at_least} open attempts"
            await asyncio.sleep(0.05)

    def assert_exactly_once(self, ids: list[uuid.UUID]) -> None:
        for proposal_id in ids:
            found = self.fiken.purchases_with_reference(reference(proposal_id))
            assert len(found) == 1, (proposal_id, found)

    def token(self, role: str = "agent", subject: str | None = None) -> dict[str, str]:
        key = load_or_create_signing_key(self.data_dir / "jwt-signing-key.pem")
        issuer = LocalJwtIssuer(
            key, issuer="bookkeeper-local", audience="bookkeeper", clock=SystemClock()
        )
        minted = issuer.mint(subject or f"fault-{role}", "acme", [role], dt.timedelta(hours=1))
        return {"Authorization": f"Bearer {minted}"}

    async def close(self) -> None:
        for served in self.served:
            served.kill()
        await self.database.dispose()
