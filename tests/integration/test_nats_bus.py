"""The NATS JetStream consumer against the real nats-server (BOOKKEEPER_TEST_NATS_URL).

Each test has its own streams, subjects and durable, so parallel runs never share
messages. Books through the example plugin's translators into the in-memory unit of work
(the bus is what is under test here; the SQL stores have their own contract tests).
Skipped when the server cannot be reached, failed instead under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from dependency_injector import providers
from nats.js.errors import NotFoundError

from bookkeeper.adapters.memory import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import (
    CODE_HEADER,
    REASON_HEADER,
    NatsConsumer,
    ensure_stream,
)
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application import account_names
from bookkeeper.application.accounts_master import AccountsMaster
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import BusIntake, Outcome
from bookkeeper.application.errors import StorageUnavailable
from bookkeeper.application.event_log import dead_letter_alert_id, external_entry_id
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.translation import (
    Ingest,
    Translators,
    bus_principal,
    discover,
    fingerprint,
)
from tests.http_helpers import API, memory_container, running_api
from tests.polling import WITHIN, polls
from tests.unit.conftest import FixedClock

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
TENANT = "acme"


@pytest.fixture(scope="module")
def nats_url() -> str:
    url = os.environ.get("BOOKKEEPER_TEST_NATS_URL", DEFAULT_NATS_URL)

    async def probe() -> None:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    try:
        asyncio.run(probe())
    except Exception as error:
        reason = f"NATS JetStream at {url} is unreachable: {type(error).__name__}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the NATS tests are mandatory)")
        pytest.skip(f"{reason} (set BOOKKEEPER_TEST_NATS_URL to run them)")
    return url


def isolated_settings(url: str, **tuned: Any) -> NatsSettings:
    """NatsSettings whose streams, subjects and durables are this test's alone (a random
    tag in every name), with `tuned` on top."""
    tag = uuid.uuid4().hex[:12]
    return NatsSettings(
        url=url,
        stream=f"TEST_IN_{tag}",
        subject_prefix=f"test.{tag}.in",
        durable=f"ledger-{tag}",
        dead_letter_stream=f"TEST_DLQ_{tag}",
        dead_letter_subject=f"test.{tag}.dlq",
        out_stream=f"TEST_OUT_{tag}",
        out_prefix=f"test.{tag}.ledger",
        accounts_stream=f"TEST_ACC_{tag}",
        accounts_prefix=f"test.{tag}.accounts",
        accounts_durable=f"accounts-{tag}",
        **tuned,
    )


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsSettings]:
    """Settings naming streams, subjects and a durable of this test alone; removed after."""
    settings = isolated_settings(
        nats_url, max_deliver=6, ack_wait=5.0, backoff_base=0.05, backoff_max=0.2, batch=32
    )
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


def intake_on(uow_factory: Callable[[], Any]) -> BusIntake:
    clock = FixedClock()
    ledger = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())
    ingest = Ingest(Translators(discover()), ledger)
    return BusIntake(ingest, uow_factory, clock, bus_principal(), RoleAuthorizer())


def invoice(invoice_id: str, net: str = "1000.00", vat: str = "250.00") -> bytes:
    envelope = {
        "type": "InvoiceIssued",
        "source": "invoicing",
        "tenant": TENANT,
        "data": {
            "invoice_id": invoice_id,
            "issue_date": "2026-03-01",
            "net_amount": net,
            "vat_amount": vat,
        },
    }
    return json.dumps(envelope).encode()


async def publish(settings: NatsSettings, bodies: list[bytes], **headers: str) -> None:
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    for body in bodies:
        await js.publish(
            f"{settings.subject_prefix}.invoicing.InvoiceIssued",
            body,
            headers=headers or None,
            stream=settings.stream,
        )
    await nc.close()


async def entries(factory: MemoryUnitOfWorkFactory) -> list[Any]:
    async with factory() as uow:
        events = await uow.events.read_all(limit=100_000)
    return [e for e in events if e.tenant_id == TENANT and e.type == "JournalEntryPosted"]


async def drain(
    *consumers: NatsConsumer, until: Callable[[], Any], seconds: float = WITHIN
) -> None:
    """Pull with every consumer at once until `until()` is true (or time runs out)."""
    deadline = asyncio.get_running_loop().time() + seconds

    async def loop(consumer: NatsConsumer) -> None:
        while asyncio.get_running_loop().time() < deadline and not await until():
            await consumer.pull_once(wait=0.3)

    await asyncio.gather(*(loop(c) for c in consumers))


async def test_the_same_invoice_published_twice_is_one_entry(bus: NatsSettings) -> None:
    factory = MemoryUnitOfWorkFactory()
    consumer = NatsConsumer(intake_on(factory), bus)
    await consumer.connect()
    try:
        await publish(bus, [invoice("F-1"), invoice("F-1")])
        await drain(consumer, until=lambda: _pending_is(consumer, 0))
        booked = await entries(factory)
        assert [e.stream_id for e in booked] == [
            external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-1")
        ]
        assert await consumer.pending() == 0  # both copies acknowledged
    finally:
        await consumer.close()


async def _pending_is(consumer: NatsConsumer, expected: int) -> bool:
    return await consumer.pending() == expected


async def test_two_consumers_racing_book_each_message_once(bus: NatsSettings) -> None:
    factory = MemoryUnitOfWorkFactory()
    first = NatsConsumer(intake_on(factory), bus, name="replica-1")
    second = NatsConsumer(intake_on(factory), bus, name="replica-2")
    await first.connect()
    await second.connect()
    ids = [f"R-{n}" for n in range(1000)]
    # Every tenth invoice is sent again (a publisher retry): still one entry each.
    bodies = [invoice(i) for i in ids] + [invoice(i) for i in ids[::10]]
    handled: dict[str, int] = {"replica-1": 0, "replica-2": 0}
    for name, consumer in (("replica-1", first), ("replica-2", second)):
        original = consumer.settle

        async def counting(
            message: Any, delivery: Any, _o: Any = original, _n: str = name
        ) -> Outcome:
            handled[_n] += 1
            outcome: Outcome = await _o(message, delivery)
            return outcome

        consumer.settle = counting  # type: ignore[method-assign]
    try:
        await publish(bus, bodies)
        await drain(first, second, until=lambda: _pending_is(first, 0), seconds=120)
        booked = await entries(factory)
        expected = {external_entry_id(TENANT, "invoicing", "InvoiceIssued", i) for i in ids}
        assert len(booked) == len(ids)
        assert {e.stream_id for e in booked} == expected
        assert sum(handled.values()) == len(bodies)
        assert handled["replica-1"] > 0 and handled["replica-2"] > 0  # the work was split
    finally:
        await first.close()
        await second.close()


async def test_a_malformed_message_is_dead_lettered_and_the_consumer_goes_on(
    bus: NatsSettings,
) -> None:
    factory = MemoryUnitOfWorkFactory()
    consumer = NatsConsumer(intake_on(factory), bus)
    await consumer.connect()
    bad = json.dumps(
        {"type": "InvoiceIssued", "source": "invoicing", "tenant": TENANT, "data": {"x": 1}}
    ).encode()
    try:
        await publish(bus, [bad], **{"Trace-Id": "t-42"})
        await publish(bus, [invoice("F-after")])
        await drain(consumer, until=lambda: _pending_is(consumer, 0))
        booked = await entries(factory)
        assert [e.stream_id for e in booked] == [
            external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-after")
        ]
        nc = await nats.connect(bus.url)
        js = nc.jetstream()
        kept = await js.get_last_msg(bus.dead_letter_stream, bus.dead_letter_subject)
        await nc.close()
        assert kept.data == bad
        assert kept.headers is not None
        assert kept.headers["Trace-Id"] == "t-42"
        assert kept.headers[CODE_HEADER] == "malformed-message"
        assert "InvoiceIssued" in kept.headers[REASON_HEADER]
        async with factory() as uow:
            alert = await uow.events.get(TENANT, dead_letter_alert_id(TENANT, fingerprint(bad)))
        assert alert is not None and alert.type == "AlertRaised"
        assert alert.data.code == "malformed-message"
    finally:
        await consumer.close()


class FlakyDatabase:
    """A unit-of-work factory whose database is down for the first `down` openings."""

    def __init__(self, down: int) -> None:
        self.real = MemoryUnitOfWorkFactory()
        self.down = down
        self.refused = 0

    def __call__(self) -> MemoryUnitOfWork:
        if self.refused < self.down:
            self.refused += 1
            raise StorageUnavailable("the database is down")
        return self.real()


async def test_a_message_arriving_while_the_database_is_down_is_booked_once_later(
    bus: NatsSettings,
) -> None:
    flaky = FlakyDatabase(down=3)
    consumer = NatsConsumer(intake_on(flaky), bus)
    await consumer.connect()
    try:
        await publish(bus, [invoice("F-down")])
        await drain(consumer, until=lambda: _pending_is(consumer, 0))
        assert flaky.refused == 3  # it was tried while the database was down
        booked = await entries(flaky.real)
        assert [e.stream_id for e in booked] == [
            external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-down")
        ]
        nc = await nats.connect(bus.url)
        info = await nc.jetstream().stream_info(bus.dead_letter_stream)
        await nc.close()
        assert info.state.messages == 0  # transient: never dead-lettered
    finally:
        await consumer.close()


async def test_the_served_process_consumes_from_nats_and_shows_its_lag(
    bus: NatsSettings, tmp_path: Path
) -> None:
    """`serve` with NATS configured: the consumer runs in the background, /health names
    the bus, how far behind each durable consumer (the ledger's and the Accounts
    Master's) and the bus-publisher are, the bus-publisher publishes the booked entry, and
    the process's close stops both."""
    container = memory_container(tmp_path, clock=FixedClock())
    container.nats_settings.override(providers.Object(bus))
    async with running_api(tmp_path, container=container) as api:
        await publish(bus, [invoice("F-served")])
        entry_id = external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-served")
        system = api.headers("checker", "system")
        health: dict[str, Any] = {}
        for _ in polls():  # the ack follows the commit, the publish follows both
            read = await api.client.get(f"{API}/journal-entries/{entry_id}", headers=system)
            health = (await api.client.get("/health")).json()
            publisher = health["bus"]["publisher"]
            if (
                read.status_code == 200
                and health["bus"]["pending"] == 0
                and publisher["behind"] == 0
            ):
                break
            await asyncio.sleep(0.1)
        assert read.status_code == 200, read.text
        head = publisher["head"]
        assert head >= 1  # the entry's position at least
        assert health["bus"] == {
            "kind": "nats",
            "consumer": bus.durable,
            "pending": 0,
            "consumers": [
                {
                    "durable": bus.durable,
                    "stream": bus.stream,
                    "role": "ledger",
                    "state": "connected",
                    "reason": None,
                    "waiting": 0,
                    "unacknowledged": 0,
                },
                {
                    "durable": bus.accounts_durable,
                    "stream": bus.accounts_stream,
                    "role": "accounts-master",
                    "state": "connected",
                    "reason": None,
                    "waiting": 0,
                    "unacknowledged": 0,
                },
            ],
            "publisher": {
                "name": "bus-publisher",
                "state": "connected",
                "reason": None,
                "position": head,
                "head": head,
                "behind": 0,
            },
        }
        assert health["status"] == "ok" and health["reasons"] == []
    nc = await nats.connect(bus.url)
    published = await nc.jetstream().get_last_msg(
        bus.out_stream, f"{bus.out_prefix}.{TENANT}.JournalEntryPosted"
    )
    await nc.close()
    assert json.loads(published.data)["entry_id"] == str(entry_id)
    assert published.headers is not None and published.headers["Nats-Msg-Id"]


async def test_health_says_when_the_bus_connections_are_closed_and_when_they_are_back(
    bus: NatsSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/health said `ok` while the consumer's connection was closed for good (a server's
    -ERR): an operator's load balancer and monitoring could not tell. With the ledger
    consumer's and the bus-publisher's connections closed (and their new ones held back),
    it is `degraded` (503) and says which and why, without the server's URL; once they
    connected again it is `ok`, and an entry is booked and published."""
    started: list[NatsConsumer] = []
    start = NatsConsumer.start

    async def recorded(consumer: NatsConsumer) -> None:
        started.append(consumer)
        await start(consumer)

    monkeypatch.setattr(NatsConsumer, "start", recorded)
    container = memory_container(tmp_path, clock=FixedClock())
    container.nats_settings.override(providers.Object(bus))
    async with running_api(tmp_path, container=container) as api:
        [ledger] = [c for c in started if c.durable == bus.durable]
        publisher = container.bus_publisher()
        assert publisher is not None
        assert (await api.client.get("/health")).json()["status"] == "ok"
        back = asyncio.Event()  # the new connections wait for it
        for client in (ledger, publisher):
            client.connect = _held(client.connect, back)  # type: ignore[method-assign]
        assert ledger._nc is not None and publisher._nc is not None
        closing = (ledger._nc, publisher._nc)

        async def close() -> None:
            for nc in closing:
                await nc.close()  # as nats-py does on the server's -ERR

        # In the app's event loop (the test client's portal thread), where the clients
        # and their reconnects run: closed from the test's loop, the new connections were
        # made there, and every /health waited 5 s for an answer that loop, blocked by the
        # request, could not read (and the shutdown's drains timed out: 55 s in all).
        await asyncio.to_thread(api.client.blocking_portal.call, close)

        answer = await api.client.get("/health")
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"]
        health = answer.json()
        assert health["status"] == "degraded"
        states = {c["role"]: (c["state"], c["reason"]) for c in health["bus"]["consumers"]}
        assert states["ledger"][0] == "closed" and "closed" in states["ledger"][1]
        assert states["accounts-master"] == ("connected", None)
        assert health["bus"]["publisher"]["state"] == "closed"
        assert [r.split(":")[0] for r in health["reasons"]] == [
            f"bus consumer {bus.durable}",
            "bus publisher bus-publisher",
        ]
        assert bus.url not in answer.text

        async def let_connect() -> None:
            back.set()  # in the loop that waits for it

        await asyncio.to_thread(api.client.blocking_portal.call, let_connect)
        for _ in polls():
            health = (await api.client.get("/health")).json()
            if health["status"] == "ok":
                break
            await asyncio.sleep(0.1)
        assert health["status"] == "ok", health
        assert health["reasons"] == []

        await publish(bus, [invoice("F-back")])
        entry_id = external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-back")
        system = api.headers("checker", "system")
        for _ in polls():
            read = await api.client.get(f"{API}/journal-entries/{entry_id}", headers=system)
            health = (await api.client.get("/health")).json()
            if read.status_code == 200 and health["bus"]["publisher"]["behind"] == 0:
                break
            await asyncio.sleep(0.1)
        assert read.status_code == 200, read.text
        assert health["bus"]["publisher"]["behind"] == 0
    nc = await nats.connect(bus.url)
    published = await nc.jetstream().get_last_msg(
        bus.out_stream, f"{bus.out_prefix}.{TENANT}.JournalEntryPosted"
    )
    await nc.close()
    assert json.loads(published.data)["entry_id"] == str(entry_id)


def _held(connect: Callable[[], Any], back: asyncio.Event) -> Callable[[], Any]:
    """`connect`, once `back` is set."""

    async def held() -> None:
        await back.wait()
        await connect()

    return held


async def test_a_crash_between_commit_and_ack_is_redelivered_and_booked_once(
    bus: NatsSettings,
) -> None:
    settings = dataclasses.replace(bus, ack_wait=1.0)
    factory = MemoryUnitOfWorkFactory()
    intake = intake_on(factory)
    crashed = NatsConsumer(intake, settings, name="crashes")
    await crashed.connect()
    outcomes: list[Outcome] = []

    async def commit_then_crash(message: Any, delivery: Any) -> Outcome:
        outcomes.append(delivery.outcome)  # committed…
        return Outcome.BOOKED  # …and the process dies before message.ack()

    crashed.settle = commit_then_crash  # type: ignore[method-assign]
    await publish(settings, [invoice("F-crash")])
    await drain(crashed, until=lambda: _has(outcomes, 1))
    await crashed.close()
    assert outcomes == [Outcome.BOOKED]

    survivor = NatsConsumer(intake, settings, name="survivor")
    await survivor.connect()
    seen: list[Outcome] = []
    original = survivor.settle

    async def recording(message: Any, delivery: Any) -> Outcome:
        outcome: Outcome = await original(message, delivery)
        seen.append(outcome)
        return outcome

    survivor.settle = recording  # type: ignore[method-assign]
    try:
        await drain(survivor, until=lambda: _pending_is(survivor, 0))
        assert seen == [Outcome.DUPLICATE]  # redelivered after ack_wait, acknowledged
        booked = await entries(factory)
        assert len(booked) == 1
    finally:
        await survivor.close()


async def _has(items: list[Any], count: int) -> bool:
    return len(items) >= count


class DatabaseDownFor:
    """A unit-of-work factory whose database is unreachable for `seconds` from the first
    opening (an outage in time, not in attempts)."""

    def __init__(self, seconds: float) -> None:
        self.real = MemoryUnitOfWorkFactory()
        self.seconds = seconds
        self.since: float | None = None
        self.refused = 0

    def __call__(self) -> MemoryUnitOfWork:
        now = asyncio.get_running_loop().time()
        if self.since is None:
            self.since = now
        if now - self.since < self.seconds:
            self.refused += 1
            raise StorageUnavailable("the database is down")
        return self.real()


async def test_messages_wait_out_a_database_outage_longer_than_their_redeliveries(
    bus: NatsSettings,
) -> None:
    """Down for 3 s: far longer than max_deliver (6) back-offs of at most 0.2 s would
    cover. Every message waits in the stream and is booked once when the database is
    back; none is dead-lettered; the wait spends no redelivery."""
    outage = DatabaseDownFor(seconds=3.0)
    consumer = NatsConsumer(intake_on(outage), bus)
    await consumer.connect()
    ids = [f"D-{n}" for n in range(80)]
    try:
        await publish(bus, [invoice(i) for i in ids])
        await drain(consumer, until=lambda: _pending_is(consumer, 0), seconds=60)
        assert outage.refused > bus.max_deliver
        booked = await entries(outage.real)
        assert sorted(e.stream_id for e in booked) == sorted(
            external_entry_id(TENANT, "invoicing", "InvoiceIssued", i) for i in ids
        )
        nc = await nats.connect(bus.url)
        info = await nc.jetstream().stream_info(bus.dead_letter_stream)
        await nc.close()
        assert info.state.messages == 0
    finally:
        await consumer.close()


async def test_the_accounts_master_names_the_served_reports(
    bus: NatsSettings, tmp_path: Path
) -> None:
    """AccountCreated / AccountUpdated on the Accounts Master's subject: kept as tenant
    data, its names in the trial balance and the general ledger, and the unknown-accounts
    report checks against it."""
    container = memory_container(tmp_path, clock=FixedClock())
    container.nats_settings.override(providers.Object(bus))
    async with running_api(tmp_path, container=container) as api:
        nc = await nats.connect(bus.url)
        js = nc.jetstream()
        for kind, code, name in (
            ("AccountCreated", "1500", "Kundefordringer"),
            ("AccountCreated", "3000", "Salg"),
            ("AccountUpdated", "1500", "Kundefordringer innland"),
        ):
            body = {
                "type": kind,
                "source": "accounts-master",
                "tenant": TENANT,
                "data": {"code": code, "name": name},
            }
            await js.publish(f"{bus.accounts_prefix}.{kind}", json.dumps(body).encode())
        await nc.close()
        await publish(bus, [invoice("F-names")])
        reader = api.headers("vera", "accountant")
        rows: dict[str, Any] = {}
        for _ in polls():
            trial = await api.client.get(f"{API}/reports/trial-balance", headers=reader)
            rows = {a["account"]: a.get("name") for a in trial.json().get("accounts", [])}
            if rows.get("1500") == "Kundefordringer innland" and "2700" in rows:
                break
            await asyncio.sleep(0.1)
        assert rows["1500"] == "Kundefordringer innland"
        assert rows["3000"] == "Salg"
        ledger = await api.client.get(
            f"{API}/reports/general-ledger", params={"account": "3000"}, headers=reader
        )
        assert ledger.status_code == 200, ledger.text
        assert ledger.json()["accountName"] == "Salg"
        unknown = await api.client.get(f"{API}/reports/unknown-accounts", headers=reader)
        assert unknown.status_code == 200, unknown.text
        assert unknown.json()["backend"] == "accounts-master"
        assert unknown.json()["accounts"] == ["2700"]


async def test_the_bus_posts_only_within_its_own_approval_limit(bus: NatsSettings) -> None:
    """ABAC on entries from the bus (decision 4): the service principal is bounded by
    BOOKKEEPER_BUS_APPROVAL_LIMIT; an invoice above it is dead-lettered as not bookable,
    with its reason, and the consumer goes on."""
    factory = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    ledger = LedgerService(factory, clock, UuidV7Ids(), RoleAuthorizer())
    intake = BusIntake(
        Ingest(Translators(discover()), ledger),
        factory,
        clock,
        bus_principal("2000"),
        RoleAuthorizer(),
    )
    consumer = NatsConsumer(intake, bus)
    await consumer.connect()
    try:
        await publish(bus, [invoice("F-big", net="8000.00", vat="2000.00"), invoice("F-small")])
        await drain(consumer, until=lambda: _pending_is(consumer, 0))
        booked = await entries(factory)
        assert [e.stream_id for e in booked] == [
            external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-small")
        ]
        assert booked[0].metadata["rule"] == "approval-limit:2000.00"
        nc = await nats.connect(bus.url)
        kept = await nc.jetstream().get_last_msg(bus.dead_letter_stream, bus.dead_letter_subject)
        await nc.close()
        assert json.loads(kept.data)["data"]["invoice_id"] == "F-big"
        assert kept.headers is not None and kept.headers[CODE_HEADER] == "not-bookable"
        assert "limit" in kept.headers[REASON_HEADER]
    finally:
        await consumer.close()


async def test_a_consumer_that_has_not_pulled_shows_its_messages_waiting(
    bus: NatsSettings,
) -> None:
    """The lag /health shows per durable consumer: messages waiting in its stream, then
    delivered and not acknowledged, then none once booked and acknowledged — for the
    Accounts Master's consumer as for the ledger's."""
    factory = MemoryUnitOfWorkFactory()
    accounts = NatsConsumer(intake_on_accounts(factory), bus.accounts())
    await accounts.connect()
    try:
        nc = await nats.connect(bus.url)
        js = nc.jetstream()
        for code in ("1500", "3000", "2700"):
            body = {
                "type": "AccountCreated",
                "source": "accounts-master",
                "tenant": TENANT,
                "data": {"code": code, "name": f"Konto {code}"},
            }
            await js.publish(f"{bus.accounts_prefix}.AccountCreated", json.dumps(body).encode())
        await nc.close()
        assert await accounts.lag() == (3, 0)
        assert await accounts.pending() == 3
        assert await accounts.pull_once(wait=2) == 3
        for _ in polls():  # JetStream takes the acks in asynchronously
            if await accounts.lag() == (0, 0):
                break
            await asyncio.sleep(0.1)
        assert await accounts.lag() == (0, 0)
        async with factory() as uow:
            assert await account_names.names(uow, TENANT) == {
                "1500": "Konto 1500",
                "3000": "Konto 3000",
                "2700": "Konto 2700",
            }
    finally:
        await accounts.close()


def intake_on_accounts(uow_factory: Callable[[], Any]) -> BusIntake:
    clock = FixedClock()
    ledger = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())
    return BusIntake(
        Ingest(Translators(discover()), ledger),
        uow_factory,
        clock,
        bus_principal(),
        RoleAuthorizer(),
        accounts=AccountsMaster(uow_factory, clock),
    )


async def _settled_outcomes(consumer: NatsConsumer) -> list[Outcome]:
    """Make `consumer` record the outcome of every message it settles."""
    outcomes: list[Outcome] = []
    original = consumer.settle

    async def recording(message: Any, delivery: Any) -> Outcome:
        outcome = await original(message, delivery)
        outcomes.append(outcome)
        return outcome

    consumer.settle = recording  # type: ignore[method-assign]
    return outcomes


async def _dead_letters(settings: NatsSettings) -> list[tuple[bytes, dict[str, str]]]:
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    info = await js.stream_info(settings.dead_letter_stream)
    kept = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(settings.dead_letter_stream, seq)
        kept.append((message.data, dict(message.headers or {})))
    await nc.close()
    return kept


async def _booked_ids(factory: UnitOfWorkFactory) -> list[uuid.UUID]:
    async with factory() as uow:
        events = await uow.events.read_all(limit=100_000)
    return sorted(
        e.stream_id for e in events if e.tenant_id == TENANT and e.type == "JournalEntryPosted"
    )


def _entry(invoice_id: str) -> uuid.UUID:
    return external_entry_id(TENANT, "invoicing", "InvoiceIssued", invoice_id)


@pytest.mark.parametrize("whole_batch_fails", [False, True])
async def test_a_poison_message_does_not_sink_its_batch(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory, whole_batch_fails: bool
) -> None:
    """One fetch brings good messages and poison ones: the good ones are booked in the
    batch's one commit, each poison one is dead-lettered with its reason and an alert,
    and every message is acknowledged. When the batch's unit of work fails as a whole
    (something unexpected), its messages are booked one by one instead, with the same
    outcome."""
    intake = intake_on(uow_factory)
    if whole_batch_fails:

        async def unexpected(*_: Any) -> Any:
            raise RuntimeError("the batch's unit of work broke")

        intake.ingest.book_many = unexpected  # type: ignore[method-assign]
    consumer = NatsConsumer(intake, bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    malformed = invoice("P-1", net="lots")
    unknown = json.dumps(
        {"type": "NoSuchEvent", "source": "invoicing", "tenant": TENANT, "data": {}}
    ).encode()
    batch = [invoice("G-1"), malformed, invoice("G-2"), unknown, invoice("G-3")]
    try:
        await publish(bus, batch)
        assert await consumer.pull_once(wait=2) == len(batch)  # one fetch, one batch
        assert outcomes == [
            Outcome.BOOKED,
            Outcome.DEAD,
            Outcome.BOOKED,
            Outcome.DEAD,
            Outcome.BOOKED,
        ]
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in ("G-1", "G-2", "G-3"))
        kept = await _dead_letters(bus)
        assert [(data, headers[CODE_HEADER]) for data, headers in kept] == [
            (malformed, "malformed-message"),
            (unknown, "unknown-event-type"),
        ]
        async with uow_factory() as uow:
            for bad in (malformed, unknown):
                alert = await uow.events.get(TENANT, dead_letter_alert_id(TENANT, fingerprint(bad)))
                assert alert is not None and alert.type == "AlertRaised"
        for _ in polls():  # every message acknowledged (JetStream takes acks async)
            if await consumer.lag() == (0, 0):
                break
            await asyncio.sleep(0.1)
        assert await consumer.lag() == (0, 0)
    finally:
        await consumer.close()


async def test_a_batch_with_a_duplicate_of_a_booked_entry_acks_it_as_one_entry(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """F-1 booked before; a later batch holds F-1 again (a redelivery, another source's
    re-send) and F-2 twice: every message is acknowledged, F-1 and F-2 are one entry each,
    and the log holds nothing else."""
    consumer = NatsConsumer(intake_on(uow_factory), bus)
    await consumer.connect()
    outcomes = await _settled_outcomes(consumer)
    try:
        await publish(bus, [invoice("F-1")])
        assert await consumer.pull_once(wait=2) == 1
        async with uow_factory() as uow:
            before = await uow.events.read_all(limit=100_000)
        await publish(bus, [invoice("F-2"), invoice("F-1"), invoice("F-3"), invoice("F-2")])
        assert await consumer.pull_once(wait=2) == 4
        assert outcomes == [
            Outcome.BOOKED,
            Outcome.BOOKED,
            Outcome.DUPLICATE,
            Outcome.BOOKED,
            Outcome.DUPLICATE,
        ]
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in ("F-1", "F-2", "F-3"))
        async with uow_factory() as uow:
            after = await uow.events.read_all(limit=100_000)
        assert len(after) == len(before) + 2  # F-2 and F-3; no alert, no second F-1
        for _ in polls():
            if await consumer.lag() == (0, 0):
                break
            await asyncio.sleep(0.1)
        assert await consumer.lag() == (0, 0)
    finally:
        await consumer.close()


async def test_the_running_consumer_books_every_message_once_with_batches_in_flight(
    bus: NatsSettings, uow_factory: UnitOfWorkFactory
) -> None:
    """The background loop `serve` runs (the next batch fetched and a second one booked
    while one commits): 400 invoices, every fifth sent again in a later batch, are each
    booked once on every storage, and every message is acknowledged."""
    consumer = NatsConsumer(intake_on(uow_factory), bus)  # batch 32: many batches
    keys = [f"R-{n}" for n in range(400)]
    # Each copy one to two batches after its original: often in the batch booked beside it.
    bodies = []
    for start in range(0, len(keys), 20):
        bodies += [invoice(k) for k in keys[start : start + 20]]
        bodies += [invoice(k) for k in keys[max(0, start - 20) : start : 5]]
    nc = await nats.connect(bus.url)
    await ensure_stream(nc.jetstream(), bus.stream, [bus.filter_subject])
    await nc.close()
    try:
        await publish(bus, bodies)  # all waiting before the consumer starts
        await consumer.start()
        for _ in polls():
            if await consumer.lag() == (0, 0):
                break
            await asyncio.sleep(0.1)
        assert await consumer.lag() == (0, 0)
        assert await _booked_ids(uow_factory) == sorted(_entry(k) for k in keys)
    finally:
        await consumer.close()
