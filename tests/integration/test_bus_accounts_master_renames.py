"""The Accounts Master's renames over the real nats-server, as its service sends them:
without an `id` in the envelope (it is optional).

Such a message was kept under a hash of its body, so renaming an account back — "Salg",
then "Salgsinntekt", then "Salg" again — made the third message a duplicate of the first:
acknowledged, not kept, and the reports went on saying "Salgsinntekt". Now a message
without an id is told apart by its place in the stream, which a redelivery keeps."""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import nats

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer
from bookkeeper.application import account_names
from bookkeeper.application.accounts_master import AccountsMaster
from bookkeeper.application.bus import Outcome
from bookkeeper.application.ports import BusPlace
from tests.integration.test_nats_bus import (
    TENANT,
    _settled_outcomes,
    bus,
    intake_on_accounts,
    nats_url,
)
from tests.unit.conftest import FixedClock

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


async def test_a_rename_committed_after_a_newer_one_does_not_win(bus: NatsSettings) -> None:
    """Two replicas (or a nak'ed message redelivered) commit an older rename after a newer
    one: the name the bus took last is the one the reports show, not the last commit."""
    factory = MemoryUnitOfWorkFactory()
    accounts = bus.accounts()
    consumer = NatsConsumer(intake_on_accounts(factory), accounts)
    await consumer.connect()
    nc = await nats.connect(bus.url)
    js = nc.jetstream()
    subject = f"{accounts.subject_prefix}.master.AccountUpdated"
    try:
        for name in ("Salg", "Salgsinntekt"):
            await js.publish(subject, renamed(name), stream=accounts.stream)
        older, newer = await consumer._fetch(wait=2)
        assert older.metadata.sequence.stream < newer.metadata.sequence.stream
        # The newer one committed first (another replica), the older one after it.
        for message in (newer, older):
            delivered = await consumer._intake.receive(message.data, consumer._place(message))
            assert delivered.outcome is Outcome.BOOKED
            await message.ack()
        assert (await _names(factory))["3000"] == "Salgsinntekt"
        # And a message the bus took later still renames it, committed last as usual.
        await js.publish(subject, renamed("Salg"), stream=accounts.stream)
        assert await consumer.pull_once(wait=2) == 1
        assert (await _names(factory))["3000"] == "Salg"
    finally:
        await nc.close()
        await consumer.close()


async def test_renames_kept_without_their_place_still_read_in_commit_order() -> None:
    """Events recorded before the bus's place was kept (and those of the in-process
    route) carry none: they are read as before, the later position naming the code —
    also beside one that has a place."""
    factory = MemoryUnitOfWorkFactory()
    master = AccountsMaster(factory, FixedClock())
    for name in ("Salg", "Salgsinntekt"):
        await master.record(renamed(name))
    assert (await _names(factory))["3000"] == "Salgsinntekt"
    place = BusPlace(stream="S", sequence=1, stored=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    await master.record(renamed("Salg"), place)
    assert (await _names(factory))["3000"] == "Salg"
    async with factory() as uow:
        [old, *_] = await uow.events.read_all(limit=10)
    assert b"stream" not in msgspec.json.encode(old.data)  # the stored form is unchanged
