"""The bus-publisher against the real nats-server: every posted entry published from the
log, a re-send removed by Nats-Msg-Id. Skipped without NATS, failed under CI=true."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import nats
import pytest
from nats.js import api
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.publisher import NatsPublisher, subject_token
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.dispatch import Dispatcher, Subscriptions
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.event_log import published_line_id
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import JournalLine
from tests.integration.test_nats_bus import nats_url  # noqa: F401 - the shared probe
from tests.unit.conftest import FixedClock


@pytest.fixture
async def out(nats_url: str) -> AsyncIterator[NatsSettings]:  # noqa: F811
    tag = uuid.uuid4().hex[:12]
    settings = NatsSettings(
        url=nats_url,
        stream=f"TEST_IN_{tag}",
        subject_prefix=f"test.{tag}.in",
        out_stream=f"TEST_OUT_{tag}",
        out_prefix=f"test.{tag}.ledger",
    )
    yield settings
    await drop_out_stream(settings)


async def drop_out_stream(settings: NatsSettings) -> None:
    """Delete the test's outbound stream (the publisher creates it on connect)."""
    nc = await nats.connect(settings.url)
    with contextlib.suppress(NotFoundError):
        await nc.jetstream().delete_stream(settings.out_stream)
    await nc.close()


async def stored(settings: NatsSettings) -> list[tuple[str, dict[str, str], dict[str, object]]]:
    """Every message in the outbound stream: (subject, headers, body), in order."""
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    info = await js.stream_info(settings.out_stream)
    result = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(settings.out_stream, seq)
        result.append((message.subject, dict(message.headers or {}), json.loads(message.data)))
    await nc.close()
    return result


def accountant(tenant: str) -> Principal:
    return Principal(
        subject="anna",
        tenant_id=tenant,
        roles=frozenset({"accountant"}),
        attributes={"approval_limit": "1000000"},
    )


async def test_posted_entries_are_published_once_even_when_sent_again(
    out: NatsSettings,
) -> None:
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    publisher = NatsPublisher(out)
    await publisher.connect()
    dispatcher.subscribe(publisher)
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    try:
        posted = []
        for n, tenant in enumerate(["acme", "acme", "globex.no"]):
            amount = Decimal(100 + n)
            posted.append(
                await ledger.post_manual(
                    accountant(tenant),
                    dt.date(2026, 3, 1),
                    f"Entry {n}",
                    [
                        JournalLine(account="6300", debit=amount),
                        JournalLine(account="1920", credit=amount),
                    ],
                )
            )
        first = await stored(out)
        # A crash after publishing, before the tracking position moved: the log's
        # catch-up hands the publisher every entry again (its position is still 0), and
        # a second re-send follows. JetStream drops every re-sent message id.
        handled = await Subscriptions(factory, dispatcher).catch_up()
        assert handled[publisher.name] == 3
        for event in await _log(factory):
            await publisher.handle(event)
        assert await stored(out) == first
    finally:
        await publisher.close()

    assert len(first) == 3 * 3  # each entry and its two lines
    ids = [headers["Nats-Msg-Id"] for _, headers, _ in first]
    assert len(set(ids)) == len(ids)
    for entry in posted:
        mine = [m for m in first if m[2]["entry_id"] == str(entry.entry_id)]
        tenant = mine[0][2]["tenant"]
        assert [m[0] for m in mine] == [
            f"{out.out_prefix}.{subject_token(str(tenant))}.{kind}"
            for kind in ("JournalEntryPosted", "AccountDebited", "AccountCredited")
        ]
        event_id = mine[0][1]["Nats-Msg-Id"]
        assert mine[1][1]["Nats-Msg-Id"] == str(published_line_id(uuid.UUID(event_id), 0))
        assert mine[1][2]["amount"] == mine[2][2]["amount"] == str(entry.entry.lines[0].debit)
    # One token per tenant: `globex.no` never shares the subjects of a tenant `globex_no`
    # (it did when other characters simply became `_`).
    assert subject_token("globex_no") == "globex_no"
    assert subject_token("globex.no").startswith("globex_no~")
    assert subject_token("globex no") != subject_token("globex.no")


async def _log(factory: MemoryUnitOfWorkFactory) -> list:  # type: ignore[type-arg]
    async with factory() as uow:
        return await uow.events.read_all(limit=100_000)


async def test_a_refused_publish_fails_the_flush_and_nothing_waits_for_it(
    out: NatsSettings,
) -> None:
    """JetStream's acks are read by the publisher itself: a publish the stream refuses
    (here: full, discard new) fails `flush` (so the position does not move and the page
    is sent again from the log), and the refused publishes are not kept waiting."""
    nc = await nats.connect(out.url)
    js = nc.jetstream()
    await js.add_stream(
        name=out.out_stream,
        subjects=[f"{out.out_prefix}.>"],
        max_msgs=4,
        discard=api.DiscardPolicy.NEW,
    )
    await nc.close()
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    for n in range(2):
        await ledger.post_manual(
            accountant("acme"),
            dt.date(2026, 3, 1),
            f"Entry {n}",
            [
                JournalLine(account="6300", debit=Decimal(100 + n)),
                JournalLine(account="1920", credit=Decimal(100 + n)),
            ],
        )
    publisher = NatsPublisher(out, ack_timeout=30)
    await publisher.connect()
    try:
        events = await _log(factory)
        await publisher.handle(events[0])
        await publisher.flush()  # three messages: stored
        await publisher.handle(events[1])
        with pytest.raises(APIError) as refused:
            await publisher.flush()  # one more fits, two are refused
        assert refused.value.err_code == 10077  # maximum messages exceeded
        assert publisher._waiting == {}
        assert len(await stored(out)) == 4
    finally:
        await publisher.close()


async def test_no_stream_for_the_subject_fails_the_flush(out: NatsSettings) -> None:
    publisher = NatsPublisher(out, ack_timeout=30)
    await publisher.connect()
    nc = await nats.connect(out.url)
    await nc.jetstream().delete_stream(out.out_stream)  # gone after the publisher started
    await nc.close()
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    await ledger.post_manual(
        accountant("acme"),
        dt.date(2026, 3, 1),
        "Entry",
        [
            JournalLine(account="6300", debit=Decimal(1)),
            JournalLine(account="1920", credit=Decimal(1)),
        ],
    )
    try:
        await publisher.handle((await _log(factory))[0])
        with pytest.raises(NoStreamResponseError):
            await publisher.flush()
        assert publisher._waiting == {}
    finally:
        await publisher.close()


async def test_the_frames_it_builds_store_what_nats_pys_publish_stores(
    out: NatsSettings,
) -> None:
    """The publisher builds its HPUB frames itself (ADR 0046); nats-py's own publish is
    the reference: the same entries through both store the same subjects, headers and
    bodies."""
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    for n, tenant in enumerate(["acme", "globex.no", "acme"]):
        await ledger.post_manual(
            accountant(tenant),
            dt.date(2026, 3, 1),
            f"Entry {n} æøå",
            [
                JournalLine(account="6300", debit=Decimal("100.50") + n, description="Kaffe"),
                JournalLine(account="2710", debit=Decimal("25.13"), vat_code="1"),
                JournalLine(account="1920", credit=Decimal("125.63") + n),
            ],
        )
    events = await _log(factory)
    seen: list[list[tuple[str, dict[str, str], dict[str, object]]]] = []
    settings = out
    for raw in (True, False):  # the same stream, emptied in between
        publisher = NatsPublisher(settings)
        publisher.raw_frames = raw
        await publisher.connect()
        try:
            assert publisher._raw is raw
            for event in events:
                await publisher.handle(event)
            await publisher.flush()
            seen.append(await stored(settings))
        finally:
            await publisher.close()
            await drop_out_stream(settings)
    assert len(seen[0]) == 3 * 4
    assert seen[0] == seen[1]


async def test_a_publisher_whose_connection_the_server_closed_connects_again(
    out: NatsSettings,
) -> None:
    """nats-py reconnects after a lost socket, but a server's -ERR (a max-payload
    violation, among others) closes the client for good: the bus-publisher then failed
    every catch-up until a restart. What was in flight fails at once (not after the ack
    timeout), the next catch-up makes a new connection, and the entry is published."""
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory()
    publisher = NatsPublisher(out, ack_timeout=120.0)  # a wait for lost acks fails the test
    await publisher.connect()
    dispatcher.subscribe(publisher, in_order=True)
    subscriptions = Subscriptions(factory, dispatcher)
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    lines = [
        JournalLine(account="6300", debit=Decimal(5)),
        JournalLine(account="1920", credit=Decimal(5)),
    ]
    try:
        first = await ledger.post_manual(accountant("acme"), dt.date(2026, 3, 1), "Before", lines)
        assert (await subscriptions.catch_up())[publisher.name] == 1
        second = await ledger.post_manual(accountant("acme"), dt.date(2026, 3, 2), "After", lines)
        [event] = [e for e in await _log(factory) if e.stream_id == second.entry_id]
        await publisher.handle(event)
        assert publisher._nc is not None
        await publisher._nc.close()  # as nats-py does on the server's -ERR
        # Its acks cannot come back on a closed connection: an outage, said as ours.
        with pytest.raises(ExternalUnavailable) as refused:
            await publisher.flush()
        assert isinstance(refused.value.__cause__, nats.errors.ConnectionClosedError)
        assert refused.value.system == "nats" and refused.value.retryable
        assert (await subscriptions.catch_up())[publisher.name] == 1
        published = [body["entry_id"] for _, _, body in await stored(out)]
        assert published[::3] == [str(first.entry_id), str(second.entry_id)]
    finally:
        await publisher.close()
