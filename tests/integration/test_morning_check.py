"""The morning check runs exactly once per tenant and day, however many replicas run it.

Two "replicas" — two containers, each with its own engine, dispatcher and subscribers — on
one SQLite file or one PostgreSQL database race for the same day. One bank is shared by
both, and it holds its first caller until a second one arrives (or a moment passes): the
replica that took the tenant's day (its claim, ADR 0023 addendum) is the only one that may
ask it — the other skips the tenant before anything outside is asked, so N replicas do not
make N× the bank's, Fiken's and the providers' calls. (This test once required both
replicas to reach the bank, and the append at version 0 to decide afterwards.) The clock is
fixed and moved by hand (daylight saving included).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dependency_injector import providers

from bookkeeper.application.checks import Checks
from bookkeeper.application.dispatch import Subscriptions
from bookkeeper.application.event_log import scheduled_run_id
from bookkeeper.application.morning import (
    CHECK_SECONDS,
    CLAIM_CHECKS,
    MorningCheck,
    MorningSummaries,
    RunOutcome,
    StaticTenants,
)
from bookkeeper.application.ports import (
    BankTransaction,
    EventFilter,
    RecordedEvent,
    UnitOfWorkFactory,
)
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.domain.events import MissingReceipt, MorningCheckRanData
from bookkeeper.entrypoints.serve import open_services
from bookkeeper.settings import Settings
from tests.http_helpers import FixedClock

OSLO = ZoneInfo("Europe/Oslo")
TENANTS = ("acme", "beta")


def oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(dt.UTC)  # type: ignore[misc]


@dataclass
class Recorder:
    """The Notifier port: what was posted, by tenant."""

    name: str = "recorder"
    posts: list[tuple[str, str]] = field(default_factory=list)

    async def post(self, tenant_id: str, text: str, *, key: str | None = None) -> None:
        self.posts.append((tenant_id, text))


class MeetingBank:
    """A bank shared by the replicas, with one receipt missing, that counts its callers
    and, when `wait` is set, holds each until another caller arrives or `wait` seconds
    passed (were the replicas both to ask it, the second would come while the first
    waits)."""

    def __init__(self, wait: float | None) -> None:
        self._wait = wait
        self._next = asyncio.Event()  # set by the next caller
        self.calls = 0
        self.name = "meeting"

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        self.calls += 1
        came, self._next = self._next, asyncio.Event()
        came.set()
        if self._wait is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._next.wait(), self._wait)
        return [
            BankTransaction(
                id="t1",
                event_id="e1",
                date=end,
                description="Kaffe",
                amount=Decimal("-45.00"),
                currency="NOK",
            ),
            BankTransaction(
                id="t2",
                event_id="e2",
                date=end,
                description="Innbetaling",
                amount=Decimal("1000.00"),
                currency="NOK",
            ),
        ]


@dataclass
class Replica:
    container: Container
    morning: MorningCheck
    subscriptions: Subscriptions
    uow: UnitOfWorkFactory


async def replica(
    data_dir: Path,
    database_url: str,
    clock: FixedClock,
    recorder: Recorder,
    bank: MeetingBank,
) -> Replica:
    container = Container()
    settings = Settings.for_data_dir(
        data_dir, database_url=database_url, executor_enabled=False, morning_tenants=TENANTS
    )
    container.settings.override(providers.Object(settings))
    container.clock.override(providers.Object(clock))
    container.morning_summaries.override(
        providers.Singleton(
            MorningSummaries,
            uow_factory=container.uow_factory,
            clock=container.clock,
            notifiers=providers.Object([recorder]),
        )
    )
    services = await open_services(container)
    uow: UnitOfWorkFactory = await resolve(container.uow_factory)
    checks = Checks(
        uow_factory=uow,
        clock=clock,
        ids=await resolve(container.ids),
        authorizer=await resolve(container.authorizer),
        lookups=services.lookups,
        ledger=services.ledger,
        bank=lambda _tenant: bank,  # type: ignore[arg-type,return-value]
    )
    morning = MorningCheck(checks, uow, clock, StaticTenants(TENANTS))
    return Replica(container, morning, services.subscriptions, uow)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(oslo(2026, 11, 20, 7, 0))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def bank() -> MeetingBank:
    return MeetingBank(wait=0.5)


@pytest.fixture
async def pair(
    tmp_path: Path, database_url: str, clock: FixedClock, recorder: Recorder, bank: MeetingBank
) -> AsyncIterator[tuple[Replica, Replica]]:
    one = await replica(tmp_path / "one", database_url, clock, recorder, bank)
    two = await replica(tmp_path / "two", database_url, clock, recorder, bank)
    try:
        yield one, two
    finally:
        await shutdown(one.container)
        await shutdown(two.container)


async def runs(uow: UnitOfWorkFactory, tenant: str) -> list[RecordedEvent]:
    async with uow() as unit:
        return await unit.events.query(tenant, EventFilter(types=("MorningCheckRan",), limit=1000))


async def race(one: Replica, two: Replica, now: dt.datetime) -> list[RunOutcome]:
    first, second = await asyncio.gather(one.morning.run(now), two.morning.run(now))
    return [*first, *second]


async def test_two_replicas_racing_record_one_run_per_tenant_and_post_it_once(
    pair: tuple[Replica, Replica], clock: FixedClock, recorder: Recorder, bank: MeetingBank
) -> None:
    one, two = pair
    outcomes = await race(one, two, clock.now())
    # One replica took each tenant's day; the other asked nothing outside for it.
    assert bank.calls == len(TENANTS)

    for tenant in TENANTS:
        mine = [o for o in outcomes if o.tenant_id == tenant]
        assert sorted(o.ran for o in mine) == [False, True], mine
        [event] = await runs(one.uow, tenant)
        assert event.id == scheduled_run_id(tenant, "morning", dt.date(2026, 11, 20))
        assert event.version == 1 and event.actor == "system:cron"
        assert isinstance(event.data, MorningCheckRanData)
        assert event.data.missing_receipts == 1  # money out without a receipt; not money in
        assert event.data.missing == (
            MissingReceipt(
                date=dt.date(2026, 11, 20),
                description="Kaffe",
                amount=Decimal("-45.00"),
                event_id="e1",
            ),
        )
        assert "  - 20.11.2026 Kaffe: -45,00 kr" in event.data.summary.splitlines()
        assert event.data.next_vat_due == dt.date(2026, 12, 10)  # term 5 (Sep–Oct)
        assert "Morgensjekk 20.11.2026" in event.data.summary

    # Both replicas follow the log afterwards: the summary is not posted again.
    await one.subscriptions.catch_up()
    await two.subscriptions.catch_up()
    assert sorted(tenant for tenant, _ in recorder.posts) == sorted(TENANTS)
    for tenant in TENANTS:
        async with one.uow() as unit:
            stream = await unit.events.read_stream(
                tenant, scheduled_run_id(tenant, "morning", dt.date(2026, 11, 20))
            )
        assert [e.type for e in stream] == ["MorningCheckRan", "MorningSummaryPosted"]


async def test_the_next_day_runs_again_and_a_second_call_the_same_day_does_not(
    pair: tuple[Replica, Replica], clock: FixedClock
) -> None:
    one, two = pair
    await race(one, two, clock.now())
    clock.advance(hours=10)  # 17:00 the same day in Norway
    again = await race(one, two, clock.now())
    assert not any(o.ran for o in again)
    clock.advance(hours=14)  # 07:00 the next day
    tomorrow = await race(one, two, clock.now())
    assert sum(o.ran for o in tomorrow) == len(TENANTS)
    for tenant in TENANTS:
        assert [e.data.date for e in await runs(one.uow, tenant)] == [  # type: ignore[attr-defined]
            dt.date(2026, 11, 20),
            dt.date(2026, 11, 21),
        ]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Summer time starts 29 March 2026 (02:00 → 03:00): 07:00 is 05:00 UTC, not 06:00.
        (oslo(2026, 3, 28, 7, 0), oslo(2026, 3, 29, 7, 0)),
        # Summer time ends 25 October 2026 (03:00 → 02:00): 07:00 is 06:00 UTC again.
        (oslo(2026, 10, 24, 7, 0), oslo(2026, 10, 25, 7, 0)),
    ],
)
async def test_across_a_daylight_saving_change_each_norwegian_day_runs_once(
    pair: tuple[Replica, Replica],
    clock: FixedClock,
    before: dt.datetime,
    after: dt.datetime,
) -> None:
    one, two = pair
    assert after - before != dt.timedelta(hours=24)  # the day is 23 or 25 hours long
    for moment in (before, after):
        clock.current = moment
        outcomes = await race(one, two, moment)
        assert sum(o.ran for o in outcomes) == len(TENANTS)
    # The last minutes of the day after the change are still that day in Norway.
    late = after.astimezone(OSLO).replace(hour=23, minute=59).astimezone(dt.UTC)
    clock.current = late
    assert not any(o.ran for o in await race(one, two, late))
    for tenant in TENANTS:
        days = [e.data.date for e in await runs(one.uow, tenant)]  # type: ignore[attr-defined]
        assert days == [before.astimezone(OSLO).date(), after.astimezone(OSLO).date()]


async def test_a_run_missed_while_down_is_caught_up_once(
    tmp_path: Path, database_url: str, recorder: Recorder
) -> None:
    at = dt.time(7, 0)
    clock = FixedClock(oslo(2026, 11, 20, 6, 30))
    one = await replica(tmp_path / "one", database_url, clock, recorder, MeetingBank(None))
    two = await replica(tmp_path / "two", database_url, clock, recorder, MeetingBank(None))
    try:
        assert await one.morning.catch_up(clock.now(), at) == []  # not 07:00 yet
        clock.current = oslo(2026, 11, 20, 9, 15)  # started after a night down
        caught = await asyncio.gather(
            one.morning.catch_up(clock.now(), at), two.morning.catch_up(clock.now(), at)
        )
        assert sum(o.ran for outcomes in caught for o in outcomes) == len(TENANTS)
        clock.advance(hours=1)  # the hourly catch-up finds the day done
        assert not any(o.ran for o in await one.morning.catch_up(clock.now(), at))
        for tenant in TENANTS:
            assert len(await runs(one.uow, tenant)) == 1
    finally:
        await shutdown(one.container)
        await shutdown(two.container)


def test_the_settings_name_when_and_for_whom() -> None:
    from bookkeeper.settings import SettingsError, load_settings

    settings = load_settings(
        {"BOOKKEEPER_MORNING_AT": "06:45", "BOOKKEEPER_MORNING_TENANTS": "acme, beta,acme"}
    )
    assert (settings.morning_enabled, settings.morning_hour, settings.morning_minute) == (
        True,
        6,
        45,
    )
    assert settings.morning_tenants == ("acme", "beta", "acme")
    assert not load_settings({"BOOKKEEPER_MORNING": "off"}).morning_enabled
    for bad in ("7", "24:00", "07:60", "seven"):
        with pytest.raises(SettingsError, match="MORNING_AT"):
            load_settings({"BOOKKEEPER_MORNING_AT": bad})


async def test_a_day_claimed_by_a_replica_that_died_runs_once_its_claim_ran_out(
    pair: tuple[Replica, Replica], clock: FixedClock, bank: MeetingBank
) -> None:
    one, two = pair
    day = dt.date(2026, 11, 20)
    # Replica one takes acme's day and dies before asking anything.
    assert await one.morning._take("acme", day, scheduled_run_id("acme", "morning", day))
    first = await two.morning.run(clock.now())
    assert [(o.tenant_id, o.ran) for o in first] == [("acme", False), ("beta", True)]
    assert bank.calls == 1  # beta's only: acme's day is held
    clock.advance(seconds=CLAIM_CHECKS * CHECK_SECONDS + 1)  # the claim ran out
    later = await two.morning.run(clock.now())
    assert [(o.tenant_id, o.ran) for o in later] == [("acme", True), ("beta", False)]
    assert bank.calls == 2
    assert len(await runs(two.uow, "acme")) == 1
