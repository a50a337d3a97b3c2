"""The NATS server really goes away and comes back, under a served process (`serve`'s
ledger consumer, the Accounts Master's, and the bus-publisher): nothing is lost and
nothing is booked or published twice, /health is `degraded` (503) while the bus is down
and `ok` once every client connected again, and /health/ready stays 200 throughout — the
API works without the bus (ADR 0044, addendum on liveness and readiness).

A nats-server of this test's own (the binary on PATH, a free port, JetStream on a store
of its own) is killed with SIGKILL and started again on the same port and store. Twice:
once short enough for nats-py's own reconnect, once longer than it — the clients are
closed for good then, and the reconnect helper (adapters/nats/reconnect.py) makes them
again with back-off. Skipped without nats-server, failed instead under CI=true."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from dependency_injector import providers

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer
from bookkeeper.application.event_log import external_entry_id
from tests.http_helpers import API, Api, MemoryDatabase, memory_container, running_api
from tests.integration.test_nats_bus import TENANT, invoice, isolated_settings, publish
from tests.polling import polls
from tests.unit.conftest import FixedClock

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require_nats_server() -> None:
    """Skip a test that starts its own nats-server when the binary is not there; fail it
    under CI=true, where the NATS tests are mandatory."""
    if not os.access(NATS_SERVER, os.X_OK):
        reason = f"no nats-server at {NATS_SERVER}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the NATS tests are mandatory)")
        pytest.skip(reason)


class NatsServer:
    """A nats-server process of the test's own, killed and started again at will;
    `max_payload`: the largest message it takes (a server setting only its configuration
    file can set), else its default."""

    def __init__(self, store: Path, *, max_payload: int | None = None) -> None:
        self.store = store
        self.port = _free_port()
        self.max_payload = max_payload
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        arguments = ["-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)]
        if self.max_payload is not None:
            config = self.store.with_name(f"{self.store.name}.conf")
            config.write_text(f"max_payload: {self.max_payload}\n")
            arguments = ["-c", str(config), *arguments]
        self.process = subprocess.Popen(
            [NATS_SERVER, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def kill(self) -> None:
        """Gone at once (SIGKILL): no goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    require_nats_server()
    running = NatsServer(tmp_path / "jetstream")
    running.start()
    yield running
    running.kill()


def settings_for(server: NatsServer, *, closed_for_good: bool) -> NatsSettings:
    """Short waits all round; nats-py gives up after two tries (0.2 s apart) when the
    outage is to close the clients for good, never otherwise."""
    return isolated_settings(
        server.url,
        ack_wait=2.0,
        backoff_base=0.05,
        backoff_max=0.2,
        batch=8,
        reconnect_attempts=2 if closed_for_good else -1,
        reconnect_wait=0.2,
        reconnect_backoff_base=0.1,
        reconnect_backoff_max=0.5,
    )


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path, settings: NatsSettings, database: MemoryDatabase
) -> AsyncIterator[tuple[Api, list[NatsConsumer]]]:
    """`serve` on NATS, with the consumers it started."""
    started: list[NatsConsumer] = []
    start = NatsConsumer.start

    async def recorded(consumer: NatsConsumer) -> None:
        started.append(consumer)
        await start(consumer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NatsConsumer, "start", recorded)
        container = memory_container(tmp_path, clock=FixedClock(), database=database)
        container.nats_settings.override(providers.Object(settings))
        async with running_api(tmp_path, container=container) as api:
            yield api, started


async def booked(database: MemoryDatabase) -> list[str]:
    """The ids of every journal entry in the log, once per JournalEntryPosted."""
    async with database.factory() as uow:
        events = await uow.events.read_all(limit=100_000)
    return [str(e.stream_id) for e in events if e.type == "JournalEntryPosted"]


async def published(settings: NatsSettings) -> list[str]:
    """The entry id of every JournalEntryPosted in the outbound stream, in order."""
    nc = await nats.connect(settings.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(settings.out_stream)
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(settings.out_stream, seq)
            if message.subject.endswith(".JournalEntryPosted") and message.data:
                ids.append(json.loads(message.data)["entry_id"])
        return ids
    finally:
        await nc.close()


def bus_entry(key: str) -> str:
    return str(external_entry_id(TENANT, "invoicing", "InvoiceIssued", key))


@pytest.mark.parametrize("closed_for_good", [False, True], ids=["nats-py-reconnects", "closed"])
async def test_nothing_is_lost_or_doubled_when_the_server_goes_away_and_comes_back(
    server: NatsServer, tmp_path: Path, closed_for_good: bool
) -> None:
    settings = settings_for(server, closed_for_good=closed_for_good)
    database = MemoryDatabase()
    before = [f"BEFORE-{n}" for n in range(200)]
    after = [f"AFTER-{n}" for n in range(60)]
    async with served(tmp_path, settings, database) as (api, consumers):
        accountant = api.headers("anna", "accountant")
        health = (await api.client.get("/health")).json()
        assert health["status"] == "ok", health
        await publish(settings, [invoice(k) for k in before])
        for _ in polls():  # the consumer is booking: it goes away in the middle of it
            if await booked(database):
                break
            await asyncio.sleep(0.01)
        server.kill()

        # While it is away: /health says which bus client is not connected, the API (and
        # readiness) work, and entries posted meanwhile wait for the publisher.
        manual: list[str] = []
        for n in range(3):
            posted = await api.client.post(
                f"{API}/journal-entries",
                json={
                    "date": "2026-03-01",
                    "description": f"During the outage {n}",
                    "lines": [
                        {"account": "6300", "debit": "10"},
                        {"account": "1920", "credit": "10"},
                    ],
                },
                headers=accountant,
            )
            assert posted.status_code == 201, posted.text
            manual.append(posted.json()["entryId"])
        down: dict[str, Any] = {}
        for _ in polls():
            answer = await api.client.get("/health")
            down = answer.json()
            publisher = down["bus"]["publisher"]
            states = {c["role"]: c["state"] for c in down["bus"]["consumers"]}
            wanted = "closed" if closed_for_good else "reconnecting"
            if set(states.values()) == {wanted} and publisher["state"] == wanted:
                break
            await asyncio.sleep(0.05)
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"]
        assert down["status"] == "degraded"
        assert [r.split(":")[0] for r in down["reasons"]] == [
            f"bus consumer {settings.durable}",
            f"bus consumer {settings.accounts_durable}",
            "bus publisher bus-publisher",
        ]
        assert settings.url not in answer.text
        assert down["bus"]["publisher"]["behind"] >= 3
        ready = await api.client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
        live = await api.client.get("/health/live")
        assert live.status_code == 200
        if closed_for_good:  # the link is trying again, and /health says so
            for _ in polls():  # each link on its own back-off: wait for all three
                down = (await api.client.get("/health")).json()
                reasons = [c["reason"] for c in down["bus"]["consumers"]]
                if all(
                    "attempts failed" in r for r in [*reasons, down["bus"]["publisher"]["reason"]]
                ):
                    break
                await asyncio.sleep(0.05)
            assert "attempts failed" in down["bus"]["publisher"]["reason"]
            assert "attempts failed" in down["bus"]["consumers"][0]["reason"]

        server.start()
        # After it: new messages, and some sent again by their source.
        await publish(settings, [invoice(k) for k in [*after, *before[:10]]])
        expected = sorted([*(bus_entry(k) for k in [*before, *after]), *manual])
        health = {}
        for _ in polls(90):
            health = (await api.client.get("/health")).json()
            if (
                health["status"] == "ok"
                and health["bus"]["pending"] == 0
                and health["bus"]["publisher"]["behind"] == 0
                and sorted(set(await booked(database))) == expected
            ):
                break
            await asyncio.sleep(0.1)
        assert health["status"] == "ok", health
        assert health["reasons"] == []
        entries = await booked(database)
        assert sorted(entries) == expected  # each once: nothing lost, nothing doubled
        assert sorted(await published(settings)) == expected
        publisher = api.container.bus_publisher()
        assert publisher is not None
        links = [c._link for c in consumers] + [publisher._link]
        if closed_for_good:
            assert all(link.reconnects >= 1 for link in links)
        else:  # nats-py reconnected by itself: the link had nothing to do
            assert all(link.reconnects == 0 for link in links)


async def test_the_service_starts_while_the_server_is_down_and_books_once_it_is_up(
    server: NatsServer, tmp_path: Path
) -> None:
    """NATS down when the service starts: it starts all the same (it did not: the first
    connect tried for nats-py's whole retry budget, then `serve` failed), its API works,
    /health says which bus clients are not connected and why, and once the server is
    there the clients connect by themselves — what was published meanwhile is booked
    once, and what was posted meanwhile is published once."""
    settings = settings_for(server, closed_for_good=False)
    server.kill()
    database = MemoryDatabase()
    started = time.monotonic()
    async with served(tmp_path, settings, database) as (api, consumers):
        assert time.monotonic() - started < 60  # the attempt's timeout, not nats-py's budget
        accountant = api.headers("anna", "accountant")
        posted = await api.client.post(
            f"{API}/journal-entries",
            json={
                "date": "2026-03-01",
                "description": "Before the bus",
                "lines": [{"account": "6300", "debit": "10"}, {"account": "1920", "credit": "10"}],
            },
            headers=accountant,
        )
        assert posted.status_code == 201, posted.text
        answer = await api.client.get("/health")
        down = answer.json()
        assert answer.status_code == 503, answer.text
        assert {c["state"] for c in down["bus"]["consumers"]} == {"closed"}
        assert down["bus"]["publisher"]["state"] == "closed"
        assert "connecting failed" in down["bus"]["publisher"]["reason"]
        assert settings.url not in answer.text
        assert (await api.client.get("/health/ready")).status_code == 200
        assert len(consumers) == 2

        server.start()
        for _ in polls(60):  # the consumers make their streams as they connect
            states = {
                c["state"] for c in (await api.client.get("/health")).json()["bus"]["consumers"]
            }
            if states == {"connected"}:
                break
            await asyncio.sleep(0.1)
        await publish(settings, [invoice("LATE-1"), invoice("LATE-2")])
        expected = sorted([bus_entry("LATE-1"), bus_entry("LATE-2"), posted.json()["entryId"]])
        health: dict[str, Any] = {}
        for _ in polls(90):
            health = (await api.client.get("/health")).json()
            if (
                health["status"] == "ok"
                and health["bus"]["publisher"]["behind"] == 0
                and sorted(set(await booked(database))) == expected
            ):
                break
            await asyncio.sleep(0.1)
        assert health["status"] == "ok", health
        assert sorted(await booked(database)) == expected
        assert sorted(await published(settings)) == expected
