"""Translators are plugin code, run on every bus message: what becomes of the bus, the
process and the message when one misbehaves — against the real nats-server.

A translator that hangs was called on the event loop itself: the bus, the HTTP API,
/health and the bus-publisher stood still until it returned, and the message came back
to hang it again. Now it runs in a thread of its own with a time limit
(`translation.TRANSLATION_TIME_LIMIT`): past it, its message is dead-lettered with code
`translation-timeout` and an alert, the loop never waits, and the messages fetched with
it are booked."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import CODE_HEADER, REASON_HEADER, NatsConsumer
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application import translation
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import BusIntake, Outcome
from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.event_log import dead_letter_alert_id
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.translation import (
    ExternalMessage,
    Ingest,
    Translators,
    bus_principal,
    discover,
    fingerprint,
)
from tests.integration.test_bus_poison import _acknowledged
from tests.integration.test_nats_bus import (
    TENANT,
    _booked_ids,
    _dead_letters,
    _entry,
    _settled_outcomes,
    bus,
    invoice,
    nats_url,
    publish,
)
from tests.unit.conftest import FixedClock

__all__ = ["bus", "nats_url"]  # the fixtures, imported for this module's tests

#: Seconds the stuck translator holds on before it gives up by itself (raising).
HANG = 8.0
#: The time limit the tests give translators.
LIMIT = 0.5


class StuckTranslator:
    """Translates `StuckIssued` by waiting for a release that comes only at the end of
    the test (or after HANG seconds, then raising)."""

    types = frozenset({"StuckIssued"})
    subject = "stuck.StuckIssued"
    schema = dict[str, Any]

    def __init__(self) -> None:
        self.release = threading.Event()
        self.called = 0

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        self.called += 1
        self.release.wait(HANG)
        raise RuntimeError("the stuck translator gave up")


def stuck_message() -> bytes:
    body = {"type": "StuckIssued", "source": "stuck", "tenant": TENANT, "data": {"n": 1}}
    return json.dumps(body).encode()


@pytest.fixture
async def stuck(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StuckTranslator]:
    # raising=False: on a tree without the limit the test fails by what it sees.
    monkeypatch.setattr(translation, "TRANSLATION_TIME_LIMIT", LIMIT, raising=False)
    translator = StuckTranslator()
    yield translator
    translator.release.set()  # the thread left behind ends


def intake_with(uow_factory: UnitOfWorkFactory, stuck: StuckTranslator) -> BusIntake:
    clock = FixedClock()
    ledger = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())
    ingest = Ingest(Translators([*discover(), stuck]), ledger)
    return BusIntake(ingest, uow_factory, clock, bus_principal(), RoleAuthorizer())


async def warm_up(consumer: NatsConsumer, settings: NatsSettings, invoice_id: str) -> None:
    """Book one invoice through `consumer` first, so that what a stall measures afterwards
    is not the store's first connection (on a loaded machine, seconds of it)."""
    await publish(settings, [invoice(invoice_id)])
    assert await consumer.pull_once(wait=2) == 1


@contextlib.asynccontextmanager
async def longest_stall() -> AsyncIterator[list[float]]:
    """The longest time the event loop did not run a task that wants to run every 20 ms
    (in the list it yields, filled in on leaving)."""
    loop = asyncio.get_running_loop()
    ticks = [loop.time()]

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.02)
            ticks.append(loop.time())

    ticker = asyncio.create_task(tick())
    found: list[float] = []
    try:
        yield found
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        ticks.append(loop.time())
        found.append(max(b - a for a, b in itertools.pairwise(ticks)))


async def test_a_translator_that_hangs_stops_neither_the_loop_nor_its_batch(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory, stuck: StuckTranslator
) -> None:
    """One fetch: an invoice, a message whose translator never finishes, an invoice. The
    event loop runs on throughout (it stood still for the whole hang: 8 s here, for ever
    with a translator in an endless loop), the two invoices are booked in the batch, and
    the stuck message is dead-lettered at once with its reason and an alert in its
    tenant's log — not retried, which would hold one more thread each time."""
    consumer = NatsConsumer(intake_with(uow_factory, stuck), bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    poison = stuck_message()
    try:
        await warm_up(consumer, bus, "H-0")
        await publish(bus, [invoice("H-1"), poison, invoice("H-2")])
        async with longest_stall() as stall:
            assert await consumer.pull_once(wait=2) == 3
        assert stall[0] < HANG / 2, f"the event loop stood still for {stall[0]:.1f} s"
        assert outcomes == [Outcome.BOOKED, Outcome.BOOKED, Outcome.DEAD, Outcome.BOOKED]
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in ("H-0", "H-1", "H-2"))
        [(data, headers)] = await _dead_letters(bus)
        assert data == poison
        assert headers[CODE_HEADER] == "translation-timeout"
        assert "StuckIssued: its translator did not finish within 0.5 s" in headers[REASON_HEADER]
        async with uow_factory() as uow:
            alert = await uow.events.get(TENANT, dead_letter_alert_id(TENANT, fingerprint(poison)))
        assert alert is not None and alert.data.code == "translation-timeout"
        assert stuck.called == 1
        await _acknowledged(consumer)
    finally:
        await consumer.close()


async def test_a_hung_translation_alone_is_refused_and_the_next_message_books(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory, stuck: StuckTranslator
) -> None:
    """Fetched alone (`BusIntake.receive`, as the in-process route books too), the stuck
    message is refused within the limit and the bus goes on with the next one."""
    consumer = NatsConsumer(intake_with(uow_factory, stuck), bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    try:
        await warm_up(consumer, bus, "H-0")
        await publish(bus, [stuck_message()])
        async with longest_stall() as stall:
            assert await consumer.pull_once(wait=2) == 1
        await publish(bus, [invoice("H-3")])
        assert await consumer.pull_once(wait=2) == 1
        assert stall[0] < HANG / 2, f"the event loop stood still for {stall[0]:.1f} s"
        assert outcomes == [Outcome.BOOKED, Outcome.DEAD, Outcome.BOOKED]
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in ("H-0", "H-3"))
        await _acknowledged(consumer)
    finally:
        await consumer.close()
