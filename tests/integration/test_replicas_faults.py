"""N replicas on one PostgreSQL database when one of them, or what they share, breaks
(issue 14, ADR 0035; beside test_replicas.py, with its helpers): `bookkeeper serve`
processes with their executors on, against one loopback fake Fiken and Redis.

- a replica killed (kill -9) in the middle of an execution — its request to Fiken sent
  and hanging, or done by Fiken and its answer not yet back — while its siblings run:
  the work is taken over by a sibling (no restart) after the short lease, and every
  approved proposal is in Fiken exactly once;
- Redis going silent under the replicas (a partition: connections kept, no answers):
  every request is still answered, and the shared budget is spent again once it is back;
- the database going away under the replicas as in a restart (every session cut, new
  ones refused a while): they answer 503 meanwhile, come back without a restart, and
  every approved proposal executes exactly once.

Needs PostgreSQL and Redis (skipped without them, except under CI=true).
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bookkeeper.application.execution import reference
from bookkeeper.domain.events import ExecutedData, ExecutionStartedData
from tests.fakes.fiken import FikenServer, running_fiken_server
from tests.fakes.tcp_proxy import SilenceableProxy
from tests.http_helpers import API
from tests.integration.processes import DEADLINE, Cluster, Served
from tests.integration.test_faults_postgres import _terminate_backends
from tests.integration.test_faults_processes import _allow_connections
from tests.integration.test_replicas import _proposals
from tests.polling import polls

pytestmark = pytest.mark.postgres

REPLICAS = 2
#: Requests per minute of one principal (BOOKKEEPER_RATE_LIMIT), shared through Redis.
BUDGET = 4


@pytest_asyncio.fixture
async def fiken_server() -> AsyncIterator[FikenServer]:
    async with running_fiken_server() as server:
        yield server


@pytest_asyncio.fixture
async def cluster(
    tmp_path: Path, postgres_url: str, fiken_server: FikenServer
) -> AsyncIterator[Cluster]:
    created = Cluster(tmp_path, postgres_url, fiken_server.fresh(), fiken_server.base_url)
    created.env |= {"BOOKKEEPER_DB_POOL_SIZE": "4", "BOOKKEEPER_DB_MAX_OVERFLOW": "4"}
    created.token()  # the signing key exists before the processes start (no race on it)
    try:
        yield created
    finally:
        await created.close()


async def _replicas(cluster: Cluster, count: int = REPLICAS, **env: str) -> list[Served]:
    served = [cluster.spawn(f"replica-{n}", **env) for n in range(count)]
    await asyncio.gather(*(s.ready() for s in served))
    return served


async def _attempts(cluster: Cluster, proposal_id: uuid.UUID) -> list[str]:
    """The processes (host:pid) that started an attempt of the proposal, in order."""
    return [
        event.data.executor or ""
        for event in await cluster.harness.stream(proposal_id)
        if isinstance(event.data, ExecutionStartedData)
    ]


async def _executed(cluster: Cluster, proposal_id: uuid.UUID) -> list[ExecutedData]:
    return [
        event.data
        for event in await cluster.harness.stream(proposal_id)
        if isinstance(event.data, ExecutedData)
    ]


def _pid(executor: str) -> int:
    return int(executor.rpartition(":")[2])


async def _kill_the_holder_mid_request(
    cluster: Cluster, served: list[Served], ids: list[uuid.UUID], fault: str
) -> uuid.UUID:
    """Wait for the request the fake holds (`fault`), kill -9 the replica that sent it,
    and check that a sibling takes its proposal over (no restart) and books each proposal
    once. The proposal whose request was held."""
    fiken = cluster.fiken
    await cluster.wait_for(lambda: any(r.fault == fault for r in fiken.requests), fault)
    held = next(r for r in fiken.requests if r.fault == fault)
    proposal_id = next(i for i in ids if reference(i).encode() in held.body)
    # The attempt in flight is the proposal's latest start: its process sent the request.
    sender = _pid((await _attempts(cluster, proposal_id))[-1])
    victim = next(s for s in served if s.process.pid == sender)
    assert not fiken.purchases_with_reference(reference(proposal_id)) or fault != "hang"
    victim.kill()  # SIGKILL: no hand-back, the lease must run out

    await cluster.all_executed(ids)
    cluster.assert_exactly_once(ids)
    survivors = {s.process.pid for s in served if s is not victim}
    attempts = [_pid(a) for a in await _attempts(cluster, proposal_id)]
    assert victim.process.pid in attempts and attempts[-1] in survivors, attempts
    assert all(s.process.poll() is None for s in served if s is not victim)
    return proposal_id


async def test_replicas_killed_mid_request_before_and_after_fiken_booked_are_taken_over(
    cluster: Cluster,
) -> None:
    """Three replicas (one cold start for both cases). First a purchase hangs in Fiken
    before Fiken does anything with it; then one is booked by Fiken and its answer
    withheld until the client goes. Each time the sender is killed, a running sibling
    takes the proposal over, and in the second case finds Fiken's purchase by reference
    instead of booking it again."""
    served = await _replicas(cluster, 3)
    cluster.fiken.hang_next(1, seconds=300, method="POST", path=r"/purchases$")
    before = await cluster.approved_invoices(6)
    first = await _kill_the_holder_mid_request(cluster, served, before, "hang")
    executed = await _executed(cluster, first)
    assert len(executed) == 1 and not executed[0].reconciled, executed

    alive = [s for s in served if s.process.poll() is None]
    cluster.fiken.commit_then_hang(1, seconds=300, method="POST", path=r"/purchases$")
    after = await cluster.approved_invoices(6, prefix="AFTER")
    second = await _kill_the_holder_mid_request(cluster, alive, after, "commit_then_hang")
    executed = await _executed(cluster, second)
    assert len(executed) == 1 and executed[0].reconciled, executed
    cluster.assert_exactly_once(before + after)


async def test_redis_going_silent_under_the_replicas_stops_no_request(
    cluster: Cluster, redis_url: str
) -> None:
    """Every replica's rate limiter asks Redis; behind a partition (connections kept, no
    answers) each authenticated request hung without end. Now each replica answers
    (unchecked, logged) and spends the shared budget again once Redis is back."""
    url = urllib.parse.urlsplit(redis_url)
    proxy = SilenceableProxy(url.hostname or "127.0.0.1", url.port or 6379)
    async with proxy.running() as port:
        through = url._replace(netloc=f"127.0.0.1:{port}").geturl()
        served = await _replicas(
            cluster,
            BOOKKEEPER_EXECUTOR="off",
            BOOKKEEPER_REDIS_URL=through,
            BOOKKEEPER_RATE_LIMIT=f"{BUDGET}/minute",
        )
        probe = cluster.token("viewer", subject=f"probe-{secrets.token_hex(4)}")
        async with httpx.AsyncClient(timeout=DEADLINE) as client:

            async def status(n: int) -> int:
                answer = await client.get(
                    f"{served[n % len(served)].base}{API}/events", headers=probe
                )
                return answer.status_code

            # One budget across the replicas (not one each).
            assert [await status(n) for n in range(BUDGET + 1)] == [200] * BUDGET + [429]

            proxy.silence()
            # Every replica answers (the client's deadline is the test's, far above the
            # limiter's bound): the request is let through unchecked.
            assert [await status(n) for n in range(2 * len(served))] == [200] * 2 * len(served)
            for replica in served:
                assert "rate limits not checked" in replica.text()

            proxy.forward()
            # Back: the budget spent before the partition is still spent, on every replica.
            for _ in polls(DEADLINE):
                if [await status(n) for n in range(len(served))] == [429] * len(served):
                    break
                await asyncio.sleep(0.5)
            assert [await status(n) for n in range(len(served))] == [429] * len(served)
            assert all(s.process.poll() is None for s in served)


@pytest.fixture
def reopen_database(postgres_url: str) -> Iterator[None]:
    yield
    _allow_connections(postgres_url, True)


async def _approve(
    client: httpx.AsyncClient, base: str, proposal_id: uuid.UUID, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"{base}{API}/events/{proposal_id}/approve", headers=headers)


async def test_the_database_restarting_under_the_replicas_loses_nothing(
    cluster: Cluster, postgres_url: str, reopen_database: None
) -> None:
    """What the replicas see of a PostgreSQL restart: every session cut (the Fiken gate's
    and its advisory lock too, the pools', the executors' leases in flight), new ones
    refused a while, then the server back. Approvals meanwhile are clean 503s; afterwards
    they are taken, every replica serves again without a restart, and every approved
    proposal is in Fiken exactly once."""
    served = await _replicas(cluster)
    cluster.fiken.latency = 0.1
    early = await _proposals(cluster, 6)
    late = await _proposals(cluster, 4)
    reviewer = cluster.token("reviewer")
    async with httpx.AsyncClient(timeout=DEADLINE) as client:
        for n, proposal_id in enumerate(early):
            answer = await _approve(client, served[n % len(served)].base, proposal_id, reviewer)
            assert answer.status_code == 200, answer.text
        await cluster.wait_for(lambda: len(cluster.fiken.purchases) >= 2, "executions under way")

        _allow_connections(postgres_url, False)
        _terminate_backends(postgres_url)
        for n, replica in enumerate(served):
            answer = await _approve(client, replica.base, late[n], reviewer)
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert int(answer.headers["retry-after"]) >= 1
        await asyncio.sleep(1)
        _allow_connections(postgres_url, True)

        for n, proposal_id in enumerate(late):
            for _ in polls(DEADLINE):
                answer = await _approve(client, served[n % len(served)].base, proposal_id, reviewer)
                if answer.status_code != 503:
                    break
                await asyncio.sleep(0.2)
            assert answer.status_code == 200, answer.text
        # The harness's own pool lost its sessions too: its first reads may fail.
        for _ in polls(DEADLINE):
            try:
                await cluster.statuses(early)
                break
            except Exception:
                await asyncio.sleep(0.2)
        await cluster.all_executed(early + late)
        cluster.assert_exactly_once(early + late)
        assert cluster.fiken.concurrent_violations == 0
        for replica in served:
            health = await client.get(f"{replica.base}/health")
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert all(s.process.poll() is None for s in served)
