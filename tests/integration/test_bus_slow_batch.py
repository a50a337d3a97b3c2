"""A consumer that acks late, against the real nats-server: a batch whose booking takes
longer than `ack_wait` (a database slow under load; a translator given up only after its
time limit) is not handed to another replica while this one still books it.

JetStream redelivers what is not acknowledged within ack_wait. The consumer told it
nothing while it booked, so a slow batch was delivered again to the second replica and
booked there too (acknowledged as duplicates in the end: no double booking, but the same
work twice, on the database that was slow already). It now says `in_progress` every third
of ack_wait for the messages of the batch it holds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer
from bookkeeper.application.bus import Outcome
from tests.integration.test_nats_bus import (
    _booked_ids,
    _entry,
    _settled_outcomes,
    bus,
    intake_on,
    invoice,
    nats_url,
    publish,
)

__all__ = ["bus", "nats_url"]  # the fixtures, imported for this module's tests

#: JetStream's ack_wait in this test, and how long booking the batch takes.
ACK_WAIT = 1.5
SLOW = 4.0


async def test_a_batch_booked_slower_than_ack_wait_is_not_delivered_again(
    bus: NatsSettings,
) -> None:
    settings = dataclasses.replace(bus, ack_wait=ACK_WAIT)
    factory = MemoryUnitOfWorkFactory()
    slow = intake_on(factory)
    book_many = slow.ingest.book_many

    async def slowly(raws: Sequence[bytes], principal_for: Any) -> Any:
        await asyncio.sleep(SLOW)
        return await book_many(raws, principal_for)

    slow.ingest.book_many = slowly  # type: ignore[method-assign]
    first = NatsConsumer(slow, settings, name="replica-1")
    second = NatsConsumer(intake_on(factory), settings, name="replica-2")
    await first.connect()
    await second.connect()
    outcomes = await _settled_outcomes(first)
    taken = await _settled_outcomes(second)
    try:
        await publish(settings, [invoice("S-1"), invoice("S-2")])
        booking = asyncio.create_task(first.pull_once(wait=2))
        await asyncio.sleep(0.5)  # the first replica has fetched both and books them

        async def meanwhile() -> int:
            handled = 0
            while not booking.done():
                handled += await second.pull_once(wait=0.3)
            return handled

        handled_by_second = await meanwhile()
        assert await booking == 2
        assert handled_by_second == 0, f"delivered again meanwhile: {taken}"
        assert outcomes == [Outcome.BOOKED, Outcome.BOOKED]
        assert await _booked_ids(factory) == sorted(_entry(k) for k in ("S-1", "S-2"))
        for _ in range(20):  # acknowledged: nothing comes back after ack_wait either
            if await first.lag() == (0, 0):
                break
            await asyncio.sleep(0.1)
        assert await first.lag() == (0, 0)
        assert await second.pull_once(wait=ACK_WAIT + 0.5) == 0
    finally:
        await first.close()
        await second.close()
