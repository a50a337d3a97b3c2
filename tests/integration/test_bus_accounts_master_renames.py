"""The Accounts Master's renames over the real nats-server, as its service sends them:
without an `id` in the envelope (it is optional).

Such a message was kept under a hash of its body, so renaming an account back — "Salg",
then "Salgsinntekt", then "Salg" again — made the third message a duplicate of the first:
acknowledged, not kept, and the reports went on saying "Salgsinntekt". Now a message
without an id is told apart by its place in the stream, which a redelivery keeps."""

from __future__ import annotations

import json

import nats

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer
from bookkeeper.application import account_names
from bookkeeper.application.bus import Outcome
from tests.integration.test_nats_bus import (
    TENANT,
    _settled_outcomes,
    bus,
    intake_on_accounts,
    nats_url,
)

__all__ = ["bus", "nats_url"]  # the fixtures, imported for this module's tests


def renamed(name: str) -> bytes:
    body = {
        "type": "AccountUpdated",
        "source": "accounts-master",
        "tenant": TENANT,
        "data": {"code": "3000", "name": name},
    }
    return json.dumps(body).encode()


async def _names(factory: MemoryUnitOfWorkFactory) -> dict[str, str]:
    async with factory() as uow:
        return await account_names.names(uow, TENANT)


async def test_an_account_renamed_back_is_named_as_last_sent(bus: NatsSettings) -> None:
    factory = MemoryUnitOfWorkFactory()
    accounts = bus.accounts()
    consumer = NatsConsumer(intake_on_accounts(factory), accounts)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    nc = await nats.connect(bus.url)
    js = nc.jetstream()
    subject = f"{accounts.subject_prefix}.master.AccountUpdated"
    try:
        for name in ("Salg", "Salgsinntekt", "Salg"):
            await js.publish(subject, renamed(name), stream=accounts.stream)
            assert await consumer.pull_once(wait=2) == 1
            assert (await _names(factory))["3000"] == name
        assert outcomes == [Outcome.BOOKED] * 3
    finally:
        await nc.close()
        await consumer.close()


async def test_a_redelivered_rename_is_still_one_record(bus: NatsSettings) -> None:
    """The same message delivered again (its first delivery recorded and never
    acknowledged: a crash before the ack) is a duplicate, as before."""
    factory = MemoryUnitOfWorkFactory()
    accounts = bus.accounts()
    consumer = NatsConsumer(intake_on_accounts(factory), accounts)
    await consumer.connect()
    nc = await nats.connect(bus.url)
    js = nc.jetstream()
    try:
        await js.publish(
            f"{accounts.subject_prefix}.master.AccountUpdated",
            renamed("Salg"),
            stream=accounts.stream,
        )
        [first] = await consumer._fetch(wait=2)
        recorded = await consumer._intake.receive(first.data, consumer._place(first))
        assert recorded.outcome is Outcome.BOOKED
        await first.nak()  # not acknowledged: JetStream delivers it again
        [again] = await consumer._fetch(wait=2)
        assert again.metadata.num_delivered == 2
        outcome = await consumer.handle(again)
        assert outcome is Outcome.DUPLICATE
        async with factory() as uow:
            kept = await uow.events.read_all(limit=100)
        assert [e.type for e in kept] == ["AccountUpdated"]
    finally:
        await nc.close()
        await consumer.close()
