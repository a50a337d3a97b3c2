"""An entry whose message is over the server's max_payload, against a nats-server of the
test's own started with a small max_payload (skipped without nats-server, failed under
CI=true). Such a message was refused on every try — nats-py's MaxPayloadError — so the
publisher retried that entry for ever and every later entry of the log waited behind it.
Now it is left out with an alert, and the rest is published."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import nats
import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.publisher import NatsPublisher
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import TOO_LARGE_CODE, PublishAlerts
from bookkeeper.application.dispatch import Dispatcher, Subscriptions
from bookkeeper.application.ledger import LedgerService
from bookkeeper.domain.events import AlertRaisedData, JournalLine
from tests.integration.test_nats_outage import NatsServer, require_nats_server
from tests.integration.test_nats_publisher import accountant
from tests.unit.conftest import FixedClock

MAX_PAYLOAD = 4096


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[str]:
    require_nats_server()
    running = NatsServer(tmp_path / "jetstream", max_payload=MAX_PAYLOAD)
    running.start()
    try:
        yield running.url
    finally:
        running.kill()


async def test_an_entry_over_max_payload_is_left_out_with_an_alert_and_the_log_goes_on(
    small_server: str,
) -> None:
    tag = uuid.uuid4().hex[:8]
    out = NatsSettings(
        url=small_server,
        stream=f"IN_{tag}",
        subject_prefix=f"t.{tag}.in",
        out_stream=f"OUT_{tag}",
        out_prefix=f"t.{tag}.ledger",
    )
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory()
    publisher = NatsPublisher(out, alerts=PublishAlerts(factory, FixedClock()), ack_timeout=5)
    await publisher.connect()
    dispatcher.subscribe(publisher, in_order=True)
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    subscriptions = Subscriptions(factory, dispatcher)

    async def post(lines: int, description: str) -> None:
        amount = Decimal("10.00")
        await ledger.post_manual(
            accountant("acme"),
            dt.date(2026, 3, 1),
            description,
            [JournalLine(account="6300", debit=amount, description=description)] * lines
            + [JournalLine(account="1920", credit=amount * lines)],
        )

    try:
        await post(1, "small before")
        await post(40, "x" * 100)  # its JournalEntryPosted: 40 × ~100 bytes and more
        await post(1, "small after")
        for _ in range(3):  # the catch-up, as the log follower runs it
            await subscriptions.catch_up()
        head, positions = await subscriptions.lag()
        assert positions[publisher.name] == head, "the publisher is stuck behind the entry"
        nc = await nats.connect(small_server)
        js = nc.jetstream()
        info = await js.stream_info(out.out_stream)
        got = [
            await js.get_msg(out.out_stream, seq)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]
        await nc.close()
        kinds = [m.subject.rsplit(".", 1)[1] for m in got]
        # small: entry + 2 lines; large: its 41 lines, not its entry; small: entry + 2.
        assert kinds.count("JournalEntryPosted") == 2
        assert len(got) == 3 + 41 + 3
        assert json.loads(got[-3].data)["data"]["description"] == "small after"
        async with factory() as uow:
            alerts = [e for e in await uow.events.read_all(limit=1000) if e.type == "AlertRaised"]
        assert len(alerts) == 1
        assert isinstance(alerts[0].data, AlertRaisedData)
        assert alerts[0].data.code == TOO_LARGE_CODE
        assert "JournalEntryPosted" in alerts[0].data.message
        assert str(MAX_PAYLOAD) in alerts[0].data.message
        # Handed the entry again (a crash before its position moved): still one alert.
        async with factory() as uow:
            large = [
                e for e in await uow.events.read_all(limit=1000) if e.type == "JournalEntryPosted"
            ][1]
        await publisher.handle(large)
        await publisher.flush()
        async with factory() as uow:
            again = [e for e in await uow.events.read_all(limit=1000) if e.type == "AlertRaised"]
        assert len(again) == 1
    finally:
        await publisher.close()
