"""N replicas consuming the bus (issue 14, issue 10; beside test_replicas.py, with its
helpers): two `bookkeeper serve` processes on one PostgreSQL database share one durable
JetStream consumer of the real nats-server, in small batches, so that both take work.
One is killed (kill -9) while the messages flow; the batch it had fetched and not
acknowledged comes back after `ack_wait` to the survivor, and every invoice is one
journal entry — none lost, none twice.

Needs PostgreSQL and NATS JetStream (skipped without them, except under CI=true).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nats.js.errors import NotFoundError

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.application.event_log import external_entry_id
from tests.fakes.fiken import running_fiken_server
from tests.integration.processes import DEADLINE, Cluster
from tests.integration.test_nats_bus import TENANT, invoice, isolated_settings, nats_url, publish
from tests.polling import polls

pytestmark = [pytest.mark.postgres, pytest.mark.long]

__all__ = ["nats_url"]  # the fixture, imported for this module's test

#: The env names of the settings that make the test's streams and durables its own.
_NAMES = {
    "stream": "NATS_STREAM",
    "subject_prefix": "NATS_SUBJECT_PREFIX",
    "durable": "NATS_DURABLE",
    "dead_letter_stream": "NATS_DEAD_LETTER_STREAM",
    "dead_letter_subject": "NATS_DEAD_LETTER_SUBJECT",
    "out_stream": "NATS_OUT_STREAM",
    "out_prefix": "NATS_OUT_SUBJECT_PREFIX",
    "accounts_stream": "NATS_ACCOUNTS_STREAM",
    "accounts_prefix": "NATS_ACCOUNTS_SUBJECT_PREFIX",
    "accounts_durable": "NATS_ACCOUNTS_DURABLE",
}
BATCH = 4
FIRST, SECOND = 24, 16


@pytest_asyncio.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsSettings]:
    settings = isolated_settings(nats_url)
    yield settings
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for stream in (
        settings.stream,
        settings.dead_letter_stream,
        settings.out_stream,
        settings.accounts_stream,
    ):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    await nc.close()


@pytest_asyncio.fixture
async def cluster(tmp_path: Path, postgres_url: str, bus: NatsSettings) -> AsyncIterator[Cluster]:
    async with running_fiken_server() as server:
        created = Cluster(tmp_path, postgres_url, server.fresh(), server.base_url)
        fields = dataclasses.asdict(bus)
        created.env |= {f"BOOKKEEPER_{env}": str(fields[key]) for key, env in _NAMES.items()}
        created.env |= {
            "BOOKKEEPER_NATS_URL": bus.url,
            "BOOKKEEPER_NATS_BATCH": str(BATCH),
            "BOOKKEEPER_EXECUTOR": "off",
            "BOOKKEEPER_DB_POOL_SIZE": "4",
            "BOOKKEEPER_DB_MAX_OVERFLOW": "4",
        }
        try:
            yield created
        finally:
            await created.close()


async def _booked(cluster: Cluster) -> Counter[object]:
    """How many JournalEntryPosted each entry of the tenant has in the log."""
    return Counter(
        event.stream_id
        for event in await cluster.harness.all_events()
        if event.tenant_id == TENANT and event.type == "JournalEntryPosted"
    )


def _entries(names: list[str]) -> set[object]:
    return {external_entry_id(TENANT, "invoicing", "InvoiceIssued", n) for n in names}


async def test_replicas_share_the_bus_and_a_killed_ones_messages_are_booked_once(
    cluster: Cluster, bus: NatsSettings
) -> None:
    served = [cluster.spawn(f"replica-{n}") for n in range(2)]
    await asyncio.gather(*(s.ready() for s in served))
    first = [f"R-{n}" for n in range(FIRST)]
    await publish(bus, [invoice(name) for name in first])
    for _ in polls(DEADLINE):
        if len(await _booked(cluster)) >= BATCH:
            break
        await asyncio.sleep(0.05)
    served[0].kill()  # mid-stream: it may hold a fetched batch, unacknowledged

    second = [f"S-{n}" for n in range(SECOND)]
    await publish(bus, [invoice(name) for name in second])
    wanted = _entries(first + second)
    booked: Counter[object] = Counter()
    # ack_wait (30 s) is what a batch held by the dead replica waits before redelivery.
    for _ in polls(DEADLINE + bus.ack_wait):
        booked = await _booked(cluster)
        if set(booked) >= wanted:
            break
        await asyncio.sleep(0.2)
    assert set(booked) == wanted, sorted(map(str, wanted - set(booked)))
    assert set(booked.values()) == {1}, [k for k, v in booked.items() if v > 1]
    assert served[1].process.poll() is None
