"""The consumer's own pull requests (ADR 0047) against the real nats-server: batches in
the stream's order and of at most the batch size, nothing lost between fetches, and what
a request delivered after its fetch stopped waiting is handed out by the next fetch, or
given back (nak'ed) on close — redelivered at once, not after ack_wait. Skipped without
NATS, failed under CI=true."""

from __future__ import annotations

import asyncio
import dataclasses

import nats

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer, _Puller
from tests.integration.test_nats_bus import bus, intake_on, invoice, nats_url, publish

__all__ = ["bus", "nats_url"]  # the shared fixtures


async def held(puller: _Puller, count: int) -> None:
    """Poll (generously: a loaded machine) until the puller holds `count` messages."""
    for _ in range(600):
        if len(puller.held) >= count:
            return
        await asyncio.sleep(0.05)


async def test_batches_come_in_order_at_most_batch_long_and_none_is_lost(
    bus: NatsSettings,
) -> None:
    consumer = NatsConsumer(intake_on(MemoryUnitOfWorkFactory()), dataclasses.replace(bus, batch=4))
    await consumer.connect()
    try:
        await publish(bus, [invoice(f"F-{n}") for n in range(10)])
        got: list[bytes] = []
        sizes: list[int] = []
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < 10 and asyncio.get_running_loop().time() < deadline:
            batch = await consumer._fetch(wait=1.0)
            sizes.append(len(batch))
            got += [m.data for m in batch]
            for message in batch:
                await message.ack()
        assert got == [invoice(f"F-{n}") for n in range(10)]
        assert max(sizes) == 4
        assert await consumer._fetch(wait=0.2) == []  # nothing left, nothing twice
    finally:
        await consumer.close()


async def test_messages_delivered_after_a_fetch_gave_up_are_handed_out_or_given_back(
    bus: NatsSettings,
) -> None:
    settings = dataclasses.replace(bus, ack_wait=120.0)  # a redelivery by ack_wait: too late
    first = NatsConsumer(intake_on(MemoryUnitOfWorkFactory()), settings)
    await first.connect()
    puller = first._puller
    assert isinstance(puller, _Puller)
    # A request the server keeps open (expires in 60 s) whose fetch gave up at once: what
    # the stream gets meanwhile is delivered to it and held.
    await puller._request(10, {"batch": 10, "expires": 60 * 10**9}, wait=-0.49)
    await publish(bus, [invoice(f"F-{n}") for n in range(3)])
    deadline = asyncio.get_running_loop().time() + 30
    await held(puller, 3)
    assert [m.data for m in puller.held] == [invoice(f"F-{n}") for n in range(3)]
    handed = await first._fetch(wait=1.0)  # the next fetch hands them out first
    assert [m.data for m in handed] == [invoice(f"F-{n}") for n in range(3)]
    for message in handed:
        await message.ack()

    await puller._request(10, {"batch": 10, "expires": 60 * 10**9}, wait=-0.49)
    await publish(bus, [invoice("F-3")])
    await held(puller, 1)

    await first.close()  # held, never handed out: nak'ed

    second = NatsConsumer(intake_on(MemoryUnitOfWorkFactory()), settings)
    await second.connect()
    try:
        again: list[nats.aio.msg.Msg] = []
        while not again and asyncio.get_running_loop().time() < deadline:
            again = await second._fetch(wait=1.0)
        assert [m.data for m in again] == [invoice("F-3")]
        assert again[0].metadata.sequence.stream == 4  # back long before ack_wait
    finally:
        await second.close()
