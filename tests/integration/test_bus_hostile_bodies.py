"""Bodies another service may really publish, read by the real consumer against the real
nats-server: what they cost the process that reads them.

Every message's depth is checked before it is decoded (`translation.nests_deeper_than`;
request bodies too, ADR 0021), on the event loop. Its search for JSON strings required
the closing quote, so a body with an unclosed string full of escaped quotes (`"\\"[\\"[…`:
a truncated message, a bad escaper) was searched again from every one of them to the end —
quadratic: 36 KB held the loop for about half a minute per read, and the consumer reads a message
more than once (its envelope, its tenant for the alert); the 1 MB NATS takes, for hours,
on every replica in turn as the message came back after ack_wait."""

from __future__ import annotations

import time

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import CODE_HEADER, NatsConsumer
from bookkeeper.application.bus import Outcome
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.translation import nests_deeper_than
from tests.integration.test_bus_poison import _acknowledged
from tests.integration.test_bus_translators_hostile import longest_stall, warm_up
from tests.integration.test_nats_bus import (
    _booked_ids,
    _dead_letters,
    _entry,
    _settled_outcomes,
    bus,
    intake_on,
    invoice,
    nats_url,
    publish,
)

__all__ = ["bus", "nats_url"]  # the fixtures, imported for this module's tests


def unclosed(size: int) -> bytes:
    """An InvoiceIssued whose data is a string never closed, of `size` bytes of `\\"[`."""
    head = b'{"type": "InvoiceIssued", "source": "invoicing", "tenant": "acme", "data": "'
    return head + b'\\"[' * (size // 3)


def test_the_depth_of_a_body_with_an_unclosed_string_is_read_at_once() -> None:
    """60 KB: a tenth of a second now even on a loaded machine (a megabyte: a few tenths);
    a minute and a half before on an idle one."""
    body = unclosed(60_000)
    started = time.perf_counter()
    assert nests_deeper_than(body) is False  # the brackets are in the string
    assert time.perf_counter() - started < 5.0
    # What the search finds is unchanged: brackets inside strings are text, outside not.
    assert nests_deeper_than(b'["' + b"[" * 100 + b'"]') is False
    assert nests_deeper_than(b"[" * 40 + b'"' + b"]" * 40) is False
    assert nests_deeper_than(b'["\\"", ' + b"[" * 40 + b"]" * 40 + b"]") is True


async def test_a_message_with_an_unclosed_string_is_dead_lettered_without_holding_the_loop(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    consumer = NatsConsumer(intake_on(uow_factory), bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    poison = unclosed(36_000)
    try:
        await warm_up(consumer, bus, "Q-0")
        await publish(bus, [invoice("Q-1"), poison, invoice("Q-2")])
        async with longest_stall() as stall:
            assert await consumer.pull_once(wait=2) == 3
        # Milliseconds now; half a minute a read before, on an idle machine.
        assert stall[0] < 5.0, f"the event loop stood still for {stall[0]:.1f} s"
        assert outcomes == [Outcome.BOOKED, Outcome.BOOKED, Outcome.DEAD, Outcome.BOOKED]
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in ("Q-0", "Q-1", "Q-2"))
        [(data, headers)] = await _dead_letters(bus)
        assert data == poison and headers[CODE_HEADER] == "malformed-message"
        await _acknowledged(consumer)
    finally:
        await consumer.close()
