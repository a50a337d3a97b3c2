"""Story 9 walked as an operator would, against the real nats-server: messages that no
decoder can read without blowing its stack, and an intake that fails as a whole, are
dead-lettered with an alert — never left unacknowledged until JetStream stops
redelivering them (which drops them silently after max_deliver) — and the good messages
fetched with them are booked, once. The unit of work is the real SQLite and PostgreSQL
stores (uow_factory) as well as the in-memory one."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import nats
import pytest
from nats.js import api

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings, load_bus_tenants
from bookkeeper.adapters.nats.consumer import (
    CODE_HEADER,
    DELIVERIES_HEADER,
    REASON_HEADER,
    TRUNCATED_HEADER,
    NatsConsumer,
)
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.accounts_master import AccountsMaster
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import UNKNOWN_TENANT, BusIntake, Outcome, tenant_of
from bookkeeper.application.event_log import dead_letter_alert_id
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.translation import (
    Ingest,
    MalformedMessage,
    Translators,
    bus_principal,
    discover,
    fingerprint,
    read_envelope,
)
from tests.integration.test_nats_bus import (
    TENANT,
    _booked_ids,
    _dead_letters,
    _entry,
    _settled_outcomes,
    bus,
    intake_on,
    intake_on_accounts,
    invoice,
    nats_url,
    publish,
)
from tests.polling import polls
from tests.unit.conftest import FixedClock

__all__ = ["bus", "nats_url"]  # the fixtures, imported for this module's tests


def nested(depth: int) -> bytes:
    """An InvoiceIssued whose data nests `depth` objects deep."""
    head = b'{"type": "InvoiceIssued", "source": "invoicing", "tenant": "acme", "data": '
    return head + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


def test_a_message_nested_too_deep_is_malformed_not_a_recursion_error() -> None:
    deep = nested(5000)
    with pytest.raises(MalformedMessage, match="nest more than 32 levels"):
        read_envelope(deep)
    assert tenant_of(deep) == UNKNOWN_TENANT
    # 32 levels are still read (and refused by the translator's schema, not the depth).
    assert read_envelope(nested(31)).type == "InvoiceIssued"


async def _acknowledged(consumer: NatsConsumer) -> None:
    for _ in polls():  # JetStream takes acks asynchronously
        if await consumer.lag() == (0, 0):
            return
        await asyncio.sleep(0.1)
    assert await consumer.lag() == (0, 0)


async def test_a_message_nested_too_deep_is_dead_lettered_and_its_batch_is_booked(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """With the Accounts Master wired (as `serve` wires it), a message nested thousands
    deep used to raise a RecursionError out of the batch: every message of the fetch was
    left unacknowledged, redelivered max_deliver times and then dropped by JetStream."""
    consumer = NatsConsumer(intake_on_accounts(uow_factory), bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    deep = nested(5000)
    batch = [invoice("D-1"), deep, invoice("D-2")]
    try:
        await publish(bus, batch)
        assert await consumer.pull_once(wait=2) == len(batch)
        assert outcomes == [Outcome.BOOKED, Outcome.DEAD, Outcome.BOOKED]
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in ("D-1", "D-2"))
        kept = await _dead_letters(bus)
        assert [(data, headers[CODE_HEADER]) for data, headers in kept] == [
            (deep, "malformed-message")
        ]
        async with uow_factory() as uow:
            alert = await uow.events.get(
                UNKNOWN_TENANT, dead_letter_alert_id(UNKNOWN_TENANT, fingerprint(deep))
            )
        assert alert is not None and alert.type == "AlertRaised"
        assert "nest more than 32 levels" in alert.data.message
        await _acknowledged(consumer)
    finally:
        await consumer.close()


async def test_an_intake_that_fails_as_a_whole_dead_letters_rather_than_drops(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """Should the intake raise after all (it promises not to), each message of the batch
    is a transient failure: nak'ed with back-off and, on its last delivery, kept in the
    dead-letter stream with an alert — not dropped once JetStream stops redelivering."""
    intake = intake_on_accounts(uow_factory)

    async def broken(*_: Any) -> Any:
        raise RuntimeError("the intake broke")

    intake.receive = broken  # type: ignore[method-assign]
    intake.receive_many = broken  # type: ignore[method-assign]
    consumer = NatsConsumer(intake, bus)
    await consumer.connect()
    bodies = [invoice("X-1"), invoice("X-2")]
    try:
        await publish(bus, bodies)
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            await consumer.pull_once(wait=0.3)
            if await consumer.lag() == (0, 0):
                break
        kept = await _dead_letters(bus)
        assert sorted(data for data, _ in kept) == sorted(bodies)
        assert {h[DELIVERIES_HEADER] for _, h in kept} == {str(bus.max_deliver)}
        async with uow_factory() as uow:
            for body in bodies:
                alert = await uow.events.get(
                    TENANT, dead_letter_alert_id(TENANT, fingerprint(body))
                )
                assert alert is not None and "the intake broke" in alert.data.message
        await _acknowledged(consumer)
    finally:
        await consumer.close()


@pytest.mark.parametrize("named", ["*", "acme,other", " acme", ""])
def test_a_dead_letter_naming_no_tenant_one_can_be_in_is_alerted_apart(named: str) -> None:
    """`*` (every tenant, in the policy) or a list is no tenant: the alert about such a
    message went into a tenant of that name, which no one can read."""
    body = json.dumps({"type": "InvoiceIssued", "source": "s", "tenant": named}).encode()
    assert tenant_of(body) == UNKNOWN_TENANT
    assert tenant_of(invoice("T-1")) == TENANT


def test_the_tenants_the_bus_books_for_are_a_comma_list() -> None:
    assert load_bus_tenants({}) is None  # unset: every tenant (test_bus_tenant_binding)
    assert load_bus_tenants({"BOOKKEEPER_BUS_TENANTS": " acme, globex ,"}) == {"acme", "globex"}


async def test_a_message_for_a_tenant_the_bus_does_not_book_for_is_dead_lettered(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """With BOOKKEEPER_BUS_TENANTS set, a message naming another tenant (a typo of the
    tenant's name, a service pointed at the wrong bus) is dead-lettered with an alert
    the operator sees (under _bus), and booked into no tenant's books; the messages
    fetched with it are booked. Before the setting, a message for tenant `ghost` was
    booked as the first entry of books no one keeps."""
    clock = FixedClock()
    ledger = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())
    intake = BusIntake(
        Ingest(Translators(discover()), ledger),
        uow_factory,
        clock,
        bus_principal(),
        RoleAuthorizer(),
        accounts=AccountsMaster(uow_factory, clock),
        tenants=frozenset({TENANT}),
    )
    consumer = NatsConsumer(intake, bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    ghost = json.loads(invoice("U-2"))
    ghost["tenant"] = "ghost"
    stray = json.dumps(ghost).encode()
    try:
        await publish(bus, [invoice("U-1"), stray, invoice("U-3")])
        assert await consumer.pull_once(wait=2) == 3
        assert outcomes == [Outcome.BOOKED, Outcome.DEAD, Outcome.BOOKED]
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in ("U-1", "U-3"))
        [(data, headers)] = await _dead_letters(bus)
        assert data == stray and headers[CODE_HEADER] == "unknown-tenant"
        async with uow_factory() as uow:
            alert = await uow.events.get(
                UNKNOWN_TENANT, dead_letter_alert_id(UNKNOWN_TENANT, fingerprint(stray))
            )
            in_ghost = await uow.events.read_all(limit=1000)
        assert alert is not None and "not for tenant 'ghost'" in alert.data.message
        assert [e for e in in_ghost if e.tenant_id == "ghost"] == []
        await _acknowledged(consumer)
    finally:
        await consumer.close()


@pytest.mark.parametrize(("net", "refused"), [("1.005", True), ("1.000", False), ("7", False)])
def test_an_amount_finer_than_ore_is_malformed_naming_its_field(net: str, refused: bool) -> None:
    ingest = Ingest(Translators(discover()), None)  # type: ignore[arg-type]
    raw = invoice("O-1", net=net, vat="0.25")
    if refused:
        with pytest.raises(MalformedMessage, match="net_amount must be an amount in whole øre"):
            ingest.translate(raw)
    else:
        assert ingest.translate(raw)[1].lines[0].debit == Decimal(net) + Decimal("0.25")


async def test_a_dead_letters_reason_reads_back_whole_in_ascii(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """A reason with Norwegian letters ("whole øre") is kept in the header as ASCII, which a
    reader of the stream gets back as written; before, nats-py's reader garbled it."""
    consumer = NatsConsumer(intake_on_accounts(uow_factory), bus)
    await consumer.connect()
    try:
        await publish(bus, [invoice("O-2", net="1.005", vat="0.25")])
        for _ in polls(30):
            await consumer.pull_once(wait=0.3)
            if await consumer.lag() == (0, 0):
                break
        [(_, headers)] = await _dead_letters(bus)
        reason = headers[REASON_HEADER]
        assert reason.isascii()
        assert "whole \\xf8re" in reason
        assert reason.encode().decode("unicode_escape").count("øre") == 1
    finally:
        await consumer.close()


async def test_a_dead_letter_that_cannot_be_kept_on_the_last_delivery_comes_back(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """The dead-letter stream refuses the first try (a full disk, a lost leader) on the
    message's last delivery: the message is left unacknowledged and must come back — so
    JetStream must not stop redelivering at `max_deliver` (bookkeeper counts the
    deliveries itself) — and it is kept on the next delivery, not lost."""
    intake = intake_on_accounts(uow_factory)

    async def broken(*_: Any) -> Any:
        raise RuntimeError("the intake broke")

    intake.receive = broken  # type: ignore[method-assign]
    intake.receive_many = broken  # type: ignore[method-assign]
    consumer = NatsConsumer(intake, bus)
    real_dead_letter = consumer._dead_letter
    refused: list[int] = []

    async def refuse_once(message: Any, reason: str, code: str, deliveries: int) -> str:
        if not refused:
            refused.append(deliveries)
            raise RuntimeError("the dead-letter stream is unavailable")
        return await real_dead_letter(message, reason, code, deliveries)

    consumer._dead_letter = refuse_once  # type: ignore[method-assign]
    await consumer.connect()
    body = invoice("X-9")
    try:
        await publish(bus, [body])
        for _ in polls(30):
            await consumer.pull_once(wait=0.3)
            if refused and await consumer.lag() == (0, 0):
                break
        assert refused == [bus.max_deliver]
        kept = await _dead_letters(bus)
        assert [data for data, _ in kept] == [body]
        assert int(kept[0][1][DELIVERIES_HEADER]) == bus.max_deliver + 1
        await _acknowledged(consumer)
    finally:
        await consumer.close()


async def test_a_durable_made_with_a_delivery_limit_loses_it_on_connect(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """A durable consumer created by an earlier version (JetStream's own `max_deliver`,
    which drops a message after the last delivery whatever became of it) is updated
    when bookkeeper connects: JetStream redelivers without limit, bookkeeper dead-letters."""
    nc = await nats.connect(bus.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=bus.stream, subjects=[bus.filter_subject])
        await js.add_consumer(
            bus.stream,
            api.ConsumerConfig(
                durable_name=bus.durable,
                ack_policy=api.AckPolicy.EXPLICIT,
                max_deliver=bus.max_deliver,
                filter_subject=bus.filter_subject,
            ),
        )
        consumer = NatsConsumer(intake_on_accounts(uow_factory), bus)
        await consumer.connect()
        try:
            info = await js.consumer_info(bus.stream, bus.durable)
            assert info.config.max_deliver in (None, -1)
        finally:
            await consumer.close()
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "header",
    ["Nats-Expected-Last-Sequence", "Nats-Expected-Last-Subject-Sequence"],
)
async def test_a_message_published_with_jetstream_expectations_is_still_dead_lettered(
    bus: NatsSettings, header: str
) -> None:
    """A publisher may use JetStream's optimistic-concurrency headers
    (`Nats-Expected-Last-Sequence: 3` held on the inbound stream when it published). Copied
    onto the dead letter they held against the dead-letter stream, which refused it: the
    malformed message was nak'ed on every delivery and, after max_deliver, dropped by
    JetStream — never dead-lettered, never alerted."""
    factory = MemoryUnitOfWorkFactory()
    consumer = NatsConsumer(intake_on(factory), bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    bad = json.dumps(
        {"type": "InvoiceIssued", "source": "invoicing", "tenant": TENANT, "data": {"x": 1}}
    ).encode()
    try:
        await publish(bus, [invoice("E-1"), invoice("E-2"), invoice("E-3")])
        await publish(bus, [bad], **{header: "3", "Trace-Id": "t-7"})
        assert await consumer.pull_once(wait=2) >= 1
        for _ in polls():
            if len(outcomes) >= 4:
                break
            await consumer.pull_once(wait=0.3)
        assert outcomes[-1] is Outcome.DEAD
        [(data, headers)] = await _dead_letters(bus)
        assert data == bad
        assert headers[CODE_HEADER] == "malformed-message"
        assert headers["Trace-Id"] == "t-7"
        assert header not in headers
        assert headers[f"Bookkeeper-Original-{header}"] == "3"
        await _acknowledged(consumer)
    finally:
        await consumer.close()


async def test_a_message_as_large_as_nats_takes_is_dead_lettered_and_the_bus_goes_on(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """A malformed message a few bytes under the server's max_payload: its dead letter
    (the body plus the reason's headers) used to exceed max_payload, the server closed the
    consumer's connection ('maximum payload violation'; nats-py does not reconnect after
    it) and the bus booked nothing more until a restart, which met the same message. The
    dead letter now keeps the reason and what fits of the body, and says where the whole
    message is; the message after it is booked on the same connection."""
    consumer = NatsConsumer(intake_on_accounts(uow_factory), bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    assert consumer._nc is not None
    limit = consumer._nc.max_payload
    envelope = json.loads(invoice("HUGE-1"))
    envelope["data"]["customer"] = ""
    head = len(json.dumps(envelope).encode())
    envelope["data"]["customer"] = "x" * (limit - head - 20)
    huge = json.dumps(envelope).encode()
    try:
        nc = await nats.connect(bus.url)  # no headers (`publish` names the stream in one)
        await nc.jetstream().publish(f"{bus.subject_prefix}.invoicing.InvoiceIssued", huge)
        await nc.close()
        await publish(bus, [invoice("AFTER-1")])
        for _ in polls(30):
            await consumer.pull_once(wait=0.3)
            if len(outcomes) >= 2 and await consumer.lag() == (0, 0):
                break
        assert outcomes == [Outcome.DEAD, Outcome.BOOKED]
        assert await _booked_ids(uow_factory) == [_entry("AFTER-1")]
        [(kept, headers)] = await _dead_letters(bus)
        assert headers[CODE_HEADER] == "malformed-message"
        assert "customer" in headers[REASON_HEADER]
        assert huge.startswith(kept) and len(kept) < len(huge)
        assert f"{len(huge)} bytes" in headers[TRUNCATED_HEADER]
        assert f"{bus.stream} #1" in headers[TRUNCATED_HEADER]
    finally:
        await consumer.close()


async def test_a_consumer_whose_connection_the_server_closed_connects_again(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """nats-py reconnects after a lost socket, but a server's -ERR (a payload violation,
    among others) closes the client for good: the running consumer then failed every pull
    with 'connection closed', once a second, booking nothing until a restart. It makes a
    new connection and goes on booking."""
    consumer = NatsConsumer(intake_on_accounts(uow_factory), bus)
    await consumer.start()
    try:
        assert consumer._nc is not None
        await consumer._nc.close()  # as nats-py does on the server's -ERR
        await publish(bus, [invoice("AGAIN-1")])
        for _ in polls(30):
            if await _booked_ids(uow_factory) == [_entry("AGAIN-1")]:
                break
            await asyncio.sleep(0.2)
        assert await _booked_ids(uow_factory) == [_entry("AGAIN-1")]
    finally:
        await consumer.close()


async def test_a_message_dead_lettered_again_after_a_crash_is_kept_once(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """A process that dies between keeping the dead letter and acknowledging the message
    gets it redelivered, and dead-letters it again: the dead-letter stream held it twice
    (a replay of the dead letters would send it twice). The dead letter's message id is
    the original's place in the inbound stream, so JetStream keeps the first only."""
    consumer = NatsConsumer(intake_on_accounts(uow_factory), bus)
    await consumer.connect()
    body = invoice("O-3", net="1.005", vat="0.25")
    try:
        await publish(bus, [body])
        [message] = await consumer._fetch(wait=2)
        first = await consumer._dead_letter(message, "malformed", "malformed-message", 1)
        again = await consumer._dead_letter(message, "malformed", "malformed-message", 2)
        assert again == first
        assert [data for data, _ in await _dead_letters(bus)] == [body]
    finally:
        await consumer.close()
