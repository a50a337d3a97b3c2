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
  ones refused a while): they answer 503 meanwhile, come back without a restart, every
  approved proposal executes exactly once, and a policy change still reaches them all;
- two tenants with Fiken tokens of their own, one slow and answering 429 with a long
  Retry-After: no replica sends for it during the pause, the other tenant's work is all
  done within it, and each token keeps one request in flight and 4 a second;
- a replica of an older or a newer version than the database's schema refuses to start,
  saying so, while the replica already serving goes on.

Needs PostgreSQL and Redis (skipped without them, except under CI=true).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from bookkeeper.adapters.credentials.fernet import new_key
from bookkeeper.application.execution import reference
from bookkeeper.domain.events import ExecutedData, ExecutionStartedData, Status
from tests.fakes.fiken import FakeFiken, FikenServer, running_fake_fiken, running_fiken_server
from tests.fakes.tcp_proxy import SilenceableProxy
from tests.http_helpers import API, pattern
from tests.integration.processes import DEADLINE, Cluster, Served
from tests.integration.test_faults_postgres import _terminate_backends
from tests.integration.test_faults_processes import _allow_connections
from tests.integration.test_replicas import _policy_change_reaches_every_replica, _proposals
from tests.polling import polls

pytestmark = [pytest.mark.postgres, pytest.mark.long]

REPLICAS = 2
#: Requests per minute of one principal (BOOKKEEPER_RATE_LIMIT), shared through Redis.
BUDGET = 4
#: acme's Fiken's Retry-After: long enough for beta's work on a loaded machine.
PAUSE = 10.0


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
    they are taken, every replica serves again without a restart, every approved
    proposal is in Fiken exactly once, and a policy change made after it still reaches
    every replica (each one's policy probe lost its connection too)."""
    served = await _replicas(cluster, BOOKKEEPER_POLICY_RELOAD_SECONDS="1")
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
    await _policy_change_reaches_every_replica(cluster, served)
    assert all(s.process.poll() is None for s in served)


async def _own_fiken(cluster: Cluster, tenant: str, fake: FakeFiken, url: str) -> None:
    """`bookkeeper credentials set`: the tenant's own Fiken token, company and URL."""
    command = [sys.executable, "-m", "bookkeeper.entrypoints.cli.main", "credentials", "set"]
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "--tenant", tenant, "fiken", "--company", fake.slug, "--base-url", url],
        input=fake.token.encode(),
        env=cluster.env,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr


async def _executed_in(cluster: Cluster, ids: list[uuid.UUID], tenant: str) -> bool:
    views = [await cluster.harness.view(i, tenant) for i in ids]
    return all(v.status == Status.EXECUTED for v in views)


async def test_one_tenants_slow_fiken_and_429s_never_delay_another_tenant_on_any_replica(
    cluster: Cluster,
) -> None:
    """Two tenants, each with its own Fiken token (two fakes), executed by two replicas.
    acme's Fiken is slow and answers its first purchase 429 with a long Retry-After,
    which the client sleeps through holding acme's token: no replica sends for acme
    meanwhile, and beta's proposals, approved during that pause, are all executed in it.
    Each token: never two requests in flight, never more than 4 in a second."""
    cluster.env["BOOKKEEPER_CREDENTIALS_KEY"] = new_key()
    async with running_fake_fiken(token=f"beta-{secrets.token_hex(8)}", company="beta-as") as (
        beta_fiken,
        beta_url,
    ):
        await _own_fiken(cluster, "beta", beta_fiken, beta_url)
        await _replicas(cluster)
        acme_fiken = cluster.fiken
        acme_fiken.latency = beta_fiken.latency = 0.1
        acme_fiken.rate_limit_next(1, retry_after=PAUSE, method="POST", path=r"/purchases$")
        acme = await cluster.approved_invoices(4, prefix="ACME")
        await cluster.wait_for(
            lambda: any(r.status == 429 for r in acme_fiken.requests), "acme's 429"
        )
        limited = next(r for r in acme_fiken.requests if r.status == 429)

        beta = await cluster.approved_invoices(6, tenants=("beta",), prefix="BETA")
        for _ in polls(DEADLINE):
            if await _executed_in(cluster, beta, "beta"):
                break
            await asyncio.sleep(0.1)
        assert await _executed_in(cluster, beta, "beta")
        # All of beta's work was done inside acme's pause: nothing sent for acme since.
        assert [r for r in acme_fiken.requests if r.arrived > limited.arrived] == [], (
            "beta waited for acme's pause to end"
        )

        await cluster.all_executed(acme)
        cluster.assert_exactly_once(acme)
        for proposal_id in beta:
            assert len(beta_fiken.purchases_with_reference(reference(proposal_id))) == 1
        for fake in (acme_fiken, beta_fiken):
            assert fake.concurrent_violations == 0
            assert fake.max_in_flight == 1
            assert fake.max_requests_in_any_second() <= 4
        # The pause was kept by every replica: acme's next request came after it.
        after = [r for r in acme_fiken.requests if r.arrived > limited.arrived]
        assert after and after[0].arrived - limited.arrived >= PAUSE - 0.5


def _schema_at(url: str, revision: str) -> None:
    with psycopg.connect(make_url(url).render_as_string(False), autocommit=True) as database:
        database.execute("UPDATE alembic_version SET version_num = %s", (revision,))


async def test_a_replica_of_another_schema_is_refused_and_the_running_ones_go_on(
    cluster: Cluster, postgres_url: str
) -> None:
    """A replica of an older version than the database's schema (a newer version migrated
    it: a revision it does not know), or of a newer one (the database is behind: not
    migrated yet), refuses to start, saying which and what to do, in one line. The
    replica already serving notices the schema moved under it (its health check reads
    the revision): it stops taking writes (503 schema-changed, its health unavailable
    and why) but goes on reading, and writes again once the schema is back at its own
    (ADR 0035 addendum; it went on writing with its old assumptions before)."""
    with psycopg.connect(make_url(postgres_url).render_as_string(False)) as database:
        row = database.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    head = str(row[0])
    (running,) = await _replicas(cluster, 1, BOOKKEEPER_EXECUTOR="off")
    agent = cluster.token()
    try:
        for revision, says in (("9999_from_the_future", "newer"), ("0028", "bookkeeper migrate")):
            _schema_at(postgres_url, revision)
            refused = cluster.spawn(f"at-{revision}")
            assert await refused.exited(DEADLINE) == 1, refused.text()
            assert revision in refused.text() and says in refused.text(), refused.text()
            async with httpx.AsyncClient(base_url=running.base, timeout=DEADLINE) as client:
                health = await client.get("/health")
                assert health.status_code == 503, health.text
                assert any(revision in r for r in health.json()["reasons"]), health.text
                body = {"type": "PatternSuggested", "data": pattern(merchant=f"at {revision}")}
                answer = await client.post(f"{API}/events", json=body, headers=agent)
                assert answer.status_code == 503, answer.text
                assert answer.json()["code"] == "schema-changed"
                viewer = cluster.token("viewer")
                assert (await client.get(f"{API}/proposals", headers=viewer)).status_code == 200
                _schema_at(postgres_url, head)
                assert (await client.get("/health")).json()["status"] == "ok"
                answer = await client.post(f"{API}/events", json=body, headers=agent)
                assert answer.status_code == 201, answer.text
    finally:
        _schema_at(postgres_url, head)
