"""Fiken's limits across processes (issue 14, ADR 0035): FikenClients with PostgresGates of
their own — as separate replicas would have — on one PostgreSQL database, against the
loopback fake Fiken, never overlap, never send five requests in one second, and share a
429's Retry-After; another token is never held up; the token itself is never stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
import pytest_asyncio

from bookkeeper.adapters.fiken import FikenClient, RetryPolicy
from bookkeeper.adapters.fiken.pg_gate import PostgresGate, libpq_url
from bookkeeper.adapters.fiken.ratelimit import token_key
from bookkeeper.application.errors import ExternalRateLimited
from tests.fakes.fiken import FikenServer, running_fiken_server

pytestmark = pytest.mark.postgres

#: A deadline for what must happen (seconds), however loaded the machine.
WITHIN = 60

#: The idle time of the gate whose connection is let go (seconds).
IDLE = 2.0


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FikenServer]:
    async with running_fiken_server() as running:
        yield running


class Replicas:
    """`n` clients of one token, each behind a PostgresGate of its own (one per replica)."""

    def __init__(self, postgres_url: str, base_url: str, token: str, n: int) -> None:
        conninfo = libpq_url(postgres_url)
        self.gates = [PostgresGate(conninfo, token_key(token)) for _ in range(n)]
        retry = RetryPolicy(first_backoff=0.05, max_backoff=0.1)
        self.clients = [FikenClient(base_url, token, gate=g, retry=retry) for g in self.gates]

    async def close(self) -> None:
        for client, gate in zip(self.clients, self.gates, strict=True):
            await client.aclose()
            await gate.aclose()


@pytest_asyncio.fixture
async def replicas(postgres_url: str, server: FikenServer) -> AsyncIterator[Replicas]:
    fake = server.fresh()
    created = Replicas(postgres_url, server.base_url, fake.token, 3)
    try:
        yield created
    finally:
        await created.close()


async def test_three_gates_on_one_database_send_one_at_a_time_and_four_a_second(
    replicas: Replicas, server: FikenServer
) -> None:
    fake = server.fake
    fake.latency = 0.02
    await asyncio.gather(
        *(client.request("GET", "/companies") for client in replicas.clients for _ in range(5))
    )
    assert len(fake.requests) == 15
    assert fake.concurrent_violations == 0 and fake.max_in_flight == 1
    assert fake.max_requests_in_any_second() <= 4
    # With one gate per client but no database behind them, the same load overlaps.
    alone = [FikenClient(server.base_url, fake.token) for _ in range(3)]
    try:
        await asyncio.gather(*(client.request("GET", "/companies") for client in alone))
    finally:
        for client in alone:
            await client.aclose()
    assert fake.concurrent_violations > 0


async def test_a_429_with_retry_after_pauses_the_token_for_every_replica(
    replicas: Replicas, server: FikenServer
) -> None:
    fake = server.fake
    first, second, _ = replicas.clients
    fake.rate_limit_next(1, retry_after=120)
    with pytest.raises(ExternalRateLimited) as raised:
        await first.request("GET", "/companies")
    assert raised.value.retry_after == 120
    sent = len(fake.requests)
    # Another replica does not send: it is told how long the token is paused.
    with pytest.raises(ExternalRateLimited) as paused:
        await second.request("GET", "/companies")
    assert paused.value.retry_after is not None and 100 < paused.value.retry_after <= 120
    assert len(fake.requests) == sent


async def test_a_short_retry_after_is_waited_out_by_every_replica(
    replicas: Replicas, server: FikenServer
) -> None:
    fake = server.fake
    first, second, _ = replicas.clients
    fake.rate_limit_next(1, retry_after=1)
    await asyncio.gather(first.request("GET", "/companies"), second.request("GET", "/companies"))
    limited = next(r for r in fake.requests if r.status == 429)
    assert limited.finished is not None
    later = [r for r in fake.requests if r.arrived > limited.arrived]
    assert len(later) == 2  # the retry and the other replica's request
    assert all(r.arrived >= limited.finished + 0.9 for r in later)


async def test_another_token_is_not_held_up_by_a_busy_or_paused_one(
    postgres_url: str, server: FikenServer
) -> None:
    conninfo = libpq_url(postgres_url)
    busy = PostgresGate(conninfo, token_key("token-a"))
    other = Replicas(postgres_url, server.base_url, server.fresh().token, 1)
    try:
        async with busy.exclusive():
            busy.pause(600)
            async with busy.attempt():
                pass
            # token-a is held (and paused): the other token's request goes through.
            await asyncio.wait_for(other.clients[0].request("GET", "/companies"), WITHIN)
    finally:
        await busy.aclose()
        await other.close()
    assert len(server.fake.requests) == 1


async def test_a_replica_that_dies_holding_the_token_lets_the_others_go_on(
    postgres_url: str,
) -> None:
    conninfo = libpq_url(postgres_url)
    dying, waiting = (PostgresGate(conninfo, token_key("token-b")) for _ in "ab")
    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with dying.exclusive():
            entered.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_forever())
    await entered.wait()
    blocked = asyncio.create_task(_enter(waiting))
    await asyncio.sleep(0.3)
    assert not blocked.done()  # it waits for the lock
    dying._discard()  # the process is gone: its session and its lock with it
    await asyncio.wait_for(blocked, WITHIN)
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    await waiting.aclose()


async def _enter(gate: PostgresGate) -> None:
    async with gate.exclusive(), gate.attempt():
        pass


async def test_a_waiter_cancelled_while_waiting_leaves_the_lock_usable(postgres_url: str) -> None:
    conninfo = libpq_url(postgres_url)
    holder, cancelled, later = (PostgresGate(conninfo, token_key("token-c")) for _ in "abc")
    try:
        async with holder.exclusive():
            waiter = asyncio.create_task(_enter(cancelled))
            await asyncio.sleep(0.3)
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
        await asyncio.wait_for(_enter(later), WITHIN)
        await asyncio.wait_for(_enter(cancelled), WITHIN)  # it reconnects
    finally:
        for gate in (holder, cancelled, later):
            await gate.aclose()


async def test_the_row_names_the_token_by_its_hash_only(
    replicas: Replicas, server: FikenServer, postgres_url: str
) -> None:
    await replicas.clients[0].request("GET", "/companies")
    async with await psycopg.AsyncConnection.connect(libpq_url(postgres_url)) as connection:
        cursor = await connection.execute("SELECT token_key, stamps::text FROM fiken_gate")
        rows = await cursor.fetchall()
    assert [key for key, _ in rows] == [token_key(server.fake.token)]
    assert all(server.fake.token not in key + stamps for key, stamps in rows)


async def test_a_gate_lets_its_connection_go_when_the_token_is_idle(postgres_url: str) -> None:
    """A replica keeps a connection for the tokens in use, not one per tenant that ever
    executed: after `idle_seconds` without an exchange the session ends (and the next
    exchange opens a new one); an exchange in time keeps it."""
    conninfo = libpq_url(postgres_url)
    # Long enough that two exchanges a moment apart are never idle that long on a loaded
    # machine (0.3 s was: the second exchange then opened a new session).
    gate = PostgresGate(conninfo, token_key("token-idle"), idle_seconds=IDLE)

    async def backend() -> int | None:
        async with await psycopg.AsyncConnection.connect(conninfo) as connection:
            cursor = await connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = %s", (pids[-1],)
            )
            row = await cursor.fetchone()
        return None if row is None else int(row[0])

    pids: list[int] = []
    try:
        for _ in range(2):
            async with gate.exclusive():
                connection = gate._connection
                assert connection is not None
                pids.append(connection.info.backend_pid)
            await asyncio.sleep(0.1)  # within the idle time: the same session serves
        assert pids[0] == pids[1]
        assert await backend() == pids[-1]
        await asyncio.sleep(IDLE)
        deadline = time.monotonic() + 30  # the server notices the closed session soon
        while await backend() is not None:
            assert time.monotonic() < deadline, "the idle session was kept"
            await asyncio.sleep(0.05)
        async with gate.exclusive():
            connection = gate._connection
            assert connection is not None
            pids.append(connection.info.backend_pid)
        assert pids[-1] != pids[0]
    finally:
        await gate.aclose()
