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
  connection picks up: clean 503s, and recovery after RESET without a restart;
- a database that refuses every connection for a while (ALLOW_CONNECTIONS false, which
  binds superusers too): clean 503s, /health/ready 503 `unavailable` (not a ready
  `degraded`), and recovery without a restart;
- a lock held on the policy's table (a migration, a LOCK TABLE): requests go on with the
  last policy while it is held (its synchronous read froze the event loop till then);
- SIGTERM under a load of POSTs while a request waits on a hung Fiken: the process exits
  within its grace (the hung request is cut, not waited for), every 201 is there after a
  restart.

Each test is bounded in time (DEADLINE per step); the processes are always killed at the
end. The fake Fiken runs in the test's event loop, so every wait here is asynchronous.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from sqlalchemy import make_url

from bookkeeper.domain.events import ExecutedData, ExecutionFailedData, ExecutionStartedData
from tests.fakes.fiken import FakeFiken, FikenServer, running_fiken_server
from tests.http_helpers import API, pattern
from tests.integration.processes import DEADLINE, GRACE, LONG_LEASE, Cluster
from tests.integration.test_faults_postgres import (
    _admin,
    _alter_database,
    _database_name,
    _terminate_backends,
)
from tests.polling import polls

pytestmark = [pytest.mark.postgres, pytest.mark.long]


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
    await first.exited(DEADLINE)
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
    ids = await cluster.approved_invoices(12)
    await cluster.wait_for(lambda: _purchases(cluster.fiken) >= 1, "a first purchase")
    # One with attempts it has claimed and not started (the one holding the last proposal
    # may be running it, its only one, when the signal comes: nothing to hand back).
    holder = await cluster.holding(ids, both, at_least=3)
    other = next(served for served in both if served is not holder)
    assert _purchases(cluster.fiken) < len(ids), "the work was done before the SIGTERM"

    stopped_at = time.monotonic()
    holder.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM.
    assert await holder.exited(GRACE + 10) in (0, -signal.SIGTERM), holder.text()
    assert "Application shutdown complete" in holder.text()
    assert time.monotonic() - stopped_at < GRACE + 10
    assert "handed back" in holder.text()

    # The leases run for two minutes: only the hand-back lets the other process in
    # within half of that (the deadline of a loaded machine, not the time it takes).
    took = await cluster.all_executed(ids, within=LONG_LEASE / 2)
    assert took < LONG_LEASE / 2
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


async def _keep_posting(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    answers: list[httpx.Response | httpx.TransportError],
) -> None:
    """POSTs one after another until the process no longer takes any (or is cancelled)."""
    n = 0
    while True:
        n += 1
        body = {"type": "PatternSuggested", "data": pattern(merchant=f"term {n}")}
        try:
            answers.append(await client.post(f"{API}/events", json=body, headers=headers))
        except httpx.TransportError as error:  # the listener closed: it failed clearly
            answers.append(error)
            return


async def test_sigterm_under_load_with_a_request_on_a_hung_fiken_exits_within_its_grace(
    cluster: Cluster,
) -> None:
    served = await cluster.start("api", BOOKKEEPER_EXECUTOR="off")
    headers = cluster.token()
    answers: list[httpx.Response | httpx.TransportError] = []
    async with (
        httpx.AsyncClient(base_url=served.base, timeout=DEADLINE) as lookups,
        httpx.AsyncClient(base_url=served.base, timeout=DEADLINE) as writes,
    ):
        # The first write reads Fiken's chart of accounts (kept after): later ones need
        # the database only.
        warm = await _burst(writes, headers, "warm", 1)
        assert warm[0].status_code == 201, warm[0].text
        # Every read of Fiken hangs: the lookup would take three 20 s timeouts to give up.
        cluster.fiken.hang_next(10, seconds=300, method="GET", path=r"/purchases$")
        lookup = asyncio.create_task(lookups.get(f"{API}/books/supplier-invoices", headers=headers))
        await asyncio.wait_for(cluster.fiken.arrived(len(cluster.fiken.requests) + 1), DEADLINE)
        writers = [asyncio.create_task(_keep_posting(writes, headers, answers)) for _ in range(4)]
        await cluster.wait_for(lambda: len(answers) >= 8, "writes under way")

        stopped_at = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        # A deadline of the loaded machine, far below the minute the hung lookup held the
        # process while uvicorn waited for every connection without a bound.
        assert await served.exited(GRACE + 20) in (0, -signal.SIGTERM), served.text()
        assert time.monotonic() - stopped_at < GRACE + 20
        assert "Application shutdown complete" in served.text()
        await asyncio.wait_for(asyncio.gather(*writers), DEADLINE)
        # The cut lookup failed clearly: a 503, or the connection closed without an answer.
        try:
            cut = await asyncio.wait_for(lookup, DEADLINE)
            assert cut.status_code == 503, cut.text
        except httpx.TransportError:
            pass

    accepted = []
    for answer in answers:
        if isinstance(answer, httpx.Response):
            _assert_clean(answer)
            if answer.status_code == 201:
                accepted.append(answer.json()["eventId"])
    assert accepted, "no POST was accepted before the SIGTERM"

    again = await cluster.start("again", BOOKKEEPER_EXECUTOR="off")
    viewer = cluster.token("viewer")
    async with httpx.AsyncClient(base_url=again.base, timeout=DEADLINE) as client:
        for event_id in accepted:
            read = await client.get(f"{API}/events/{event_id}", headers=viewer)
            assert read.status_code == 200, read.text


def _allow_connections(url: str, allow: bool) -> None:
    with _admin(url) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(_database_name(url)), sql.Literal(allow)
            )
        )


@pytest.fixture
def reopen_database(postgres_url: str) -> Iterator[None]:
    yield
    _allow_connections(postgres_url, True)


async def test_a_database_refusing_connections_makes_the_process_unready_until_it_heals(
    cluster: Cluster, postgres_url: str, reopen_database: None
) -> None:
    served = await cluster.start("api", BOOKKEEPER_EXECUTOR="off")
    headers = cluster.token()
    async with httpx.AsyncClient(base_url=served.base, timeout=20) as client:
        # Before its first request: nothing loaded yet (the authorization policy) either.
        _allow_connections(postgres_url, False)
        _terminate_backends(postgres_url)  # no pooled connection survives either
        for round_ in range(3):
            for answer in await _burst(client, headers, f"refused {round_}", 4):
                _assert_clean(answer)
                assert answer.status_code == 503, answer.text
            # Failed units of work are no answer of the database: not ready.
            ready = await client.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] == "unavailable", ready.text
            assert int(ready.headers["retry-after"]) >= 1
            assert (await client.get("/health/live")).status_code == 200
        _allow_connections(postgres_url, True)
        await _recovers(client, headers, "reopened")
        ready = await client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
    assert served.process.poll() is None


async def test_a_lock_on_the_policy_table_does_not_freeze_the_process(
    cluster: Cluster, postgres_url: str
) -> None:
    served = await cluster.start(
        "api", BOOKKEEPER_EXECUTOR="off", BOOKKEEPER_POLICY_RELOAD_SECONDS="1"
    )
    viewer = cluster.token("viewer")
    locked = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        database = psycopg.connect(
            make_url(postgres_url).render_as_string(False), connect_timeout=5
        )
        with database, database.transaction():
            database.execute("LOCK TABLE policy_version IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(DEADLINE * 2)

    holder = threading.Thread(target=hold_the_lock, daemon=True)
    async with httpx.AsyncClient(base_url=served.base, timeout=DEADLINE) as client:
        assert (await client.get(f"{API}/events", headers=viewer)).status_code == 200
        holder.start()
        try:
            assert await asyncio.to_thread(locked.wait, DEADLINE)
            await asyncio.sleep(1.5)  # the policy's next probe is due: it meets the lock
            # Answered while the lock is still held (without a bound, only its release
            # would let the event loop go on: these would time out).
            for _ in range(3):
                answer = await asyncio.wait_for(
                    client.get(f"{API}/events", headers=viewer), DEADLINE / 2
                )
                assert answer.status_code == 200, answer.text
                live = await asyncio.wait_for(client.get("/health/live"), DEADLINE / 2)
                assert live.status_code == 200
            assert holder.is_alive(), "the lock was released before the requests were answered"
            # The probe, beside the event loop, gave up on the lock and kept the policy.
            for _ in polls(DEADLINE):
                if "could not reload the authorization policy" in served.text():
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the probe that met the lock was not reported")
        finally:
            release.set()
            await asyncio.to_thread(holder.join, DEADLINE)
