"""Two replicas executing invoices of the same new supplier at once create it in Fiken
once (issue 14, ADR 0043): two executor processes on one PostgreSQL database, each built
by the composition root (the PostgreSQL Fiken gate and the supplier's advisory lock),
against one loopback fake Fiken.

The fake answers every request after a delay, so that the two processes' lookups
interleave through the Fiken gate (one request at a time, in turn): without the lock
held across the find and the create, both find nothing and both create the supplier.

Needs PostgreSQL (skipped without it, except under CI=true).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bookkeeper.application.execution import reference
from bookkeeper.domain.events import Status
from tests.fakes.fiken import FikenServer, running_fiken_server
from tests.integration.processes import STARTUP, Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.long]

#: Seconds the fake takes to answer each request: the processes' lookups interleave.
LATENCY = 0.4
DEADLINE = 60.0
SUPPLIER_ORG = "976967631"  # the invoices' supplier (tests.unit.external_doubles.invoice)


@pytest_asyncio.fixture
async def fiken_server() -> AsyncIterator[FikenServer]:
    async with running_fiken_server() as server:
        yield server


class Worker:
    """One executor process (tests/integration/supplier_race_worker.py)."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, cluster: Cluster, name: str) -> Worker:
        log = cluster.tmp_path / f"{name}.log"
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integration.supplier_race_worker",
                env=cluster.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        return cls(process, log)

    async def line(self, within: float) -> str:
        assert self.process.stdout is not None
        try:
            raw = await asyncio.wait_for(self.process.stdout.readline(), within)
        except TimeoutError:
            pytest.fail(f"no answer within {within} s:\n{self.log.read_text()[-3000:]}")
        if not raw:
            await self.process.wait()
            pytest.fail(f"exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        return raw.decode().strip()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


@pytest.mark.parametrize(
    "tenants",
    [
        pytest.param(("acme",), id="one-tenant"),
        # ADR 0047: two tenants booking into the one Fiken company (the environment's
        # credentials) share its contacts, so the lock is the company's, not the tenant's.
        pytest.param(("acme", "globex"), id="two-tenants-one-company"),
    ],
)
async def test_two_processes_executing_invoices_of_one_new_supplier_create_it_once(
    tmp_path: Path, postgres_url: str, fiken_server: FikenServer, tenants: tuple[str, ...]
) -> None:
    cluster = Cluster(tmp_path, postgres_url, fiken_server.fresh(), fiken_server.base_url)
    fiken = cluster.fiken
    fiken.latency = LATENCY
    workers: list[Worker] = []
    try:
        ids = await cluster.approved_invoices(2, tenants)  # one supplier, unknown to the fake
        workers = [await Worker.start(cluster, f"executor-{n}") for n in range(2)]
        assert [await w.line(STARTUP) for w in workers] == ["ready", "ready"]
        for worker in workers:
            worker.go()
        reports: list[dict[str, Any]] = [
            json.loads(line) for line in await asyncio.gather(*(w.line(DEADLINE) for w in workers))
        ]
        # Each process executed one of the two invoices, at the same time.
        assert reports == [{"claimed": 1, "executed": 1}] * 2
        statuses = [
            (await cluster.harness.view(pid, tenants[n % len(tenants)])).status
            for n, pid in enumerate(ids)
        ]
        assert statuses == [Status.EXECUTED] * 2
        cluster.assert_exactly_once(ids)
        supplier = [
            c for c in fiken.contacts.values() if c.get("organizationNumber") == SUPPLIER_ORG
        ]
        assert len(supplier) == 1, f"the supplier was created {len(supplier)} times"
        for proposal_id in ids:
            (purchase,) = fiken.purchases_with_reference(reference(proposal_id))
            assert purchase["supplier"]["contactId"] == supplier[0]["contactId"]
        # The lock never held Fiken's gate up: one request at a time, every one answered.
        assert fiken.concurrent_violations == 0
        assert all(seen.status is not None and seen.status < 400 for seen in fiken.requests)
    finally:
        for worker in workers:
            worker.kill()
            await worker.process.wait()
        await cluster.close()
