"""BOOKKEEPER_MORNING_CRON: the morning run at a cron expression in Europe/Oslo — the
schedule across daylight saving, the catch-up that follows it (a skipped day is not caught
up), the scheduler's trigger and the setting's validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.cron import CronSchedule, InvalidCronExpression
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.checks import Checks
from bookkeeper.application.ledger import UnknownAccountsReport
from bookkeeper.application.morning import MorningCheck, StaticTenants
from bookkeeper.application.ports import BankTransaction, EventFilter
from bookkeeper.entrypoints.scheduler import CronScheduleTrigger, Scheduler
from bookkeeper.settings import Settings, SettingsError, load_settings
from tests.unit.conftest import FixedClock

OSLO = ZoneInfo("Europe/Oslo")
TENANTS = ("acme", "beta")
WEEKDAYS = "0 7 * * 1-5"


def oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(dt.UTC)  # type: ignore[misc]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


# --- the schedule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "first"),
    [
        # Summer time starts Sunday 29 March 2026: 07:00 is 06:00 UTC before, 05:00 after.
        (dt.date(2026, 3, 28), utc(2026, 3, 28, 6, 0)),
        (dt.date(2026, 3, 29), utc(2026, 3, 29, 5, 0)),
        # Summer time ends Sunday 25 October 2026: 05:00 UTC before, 06:00 UTC after.
        (dt.date(2026, 10, 24), utc(2026, 10, 24, 5, 0)),
        (dt.date(2026, 10, 25), utc(2026, 10, 25, 6, 0)),
    ],
)
def test_the_default_schedule_is_seven_in_norway_across_daylight_saving(
    day: dt.date, first: dt.datetime
) -> None:
    assert CronSchedule("0 7 * * *", OSLO).first_run_on(day) == first


def test_a_weekdays_only_schedule_has_no_run_on_saturday_or_sunday() -> None:
    schedule = CronSchedule(WEEKDAYS, OSLO)
    week = [dt.date(2026, 3, 23) + dt.timedelta(days=n) for n in range(8)]  # Mon..Mon
    runs = {day.strftime("%a"): schedule.first_run_on(day) for day in week}
    assert runs["Sat"] is None and runs["Sun"] is None
    assert runs["Fri"] == utc(2026, 3, 27, 6, 0)
    assert schedule.first_run_on(dt.date(2026, 3, 30)) == utc(2026, 3, 30, 5, 0)  # CEST


def test_weekdays_are_numbered_as_crontab_does_sunday_is_zero_and_seven() -> None:
    sunday = dt.date(2026, 11, 22)
    for expression in ("0 7 * * 0", "0 7 * * 7", "0 7 * * sun"):
        schedule = CronSchedule(expression, OSLO)
        assert schedule.first_run_on(sunday) == oslo(2026, 11, 22, 7, 0), expression
        assert schedule.first_run_on(sunday + dt.timedelta(days=1)) is None, expression


def test_a_restricted_day_of_month_or_weekday_fires_on_either_as_crontab_does() -> None:
    schedule = CronSchedule("0 7 1 * mon", OSLO)
    assert schedule.first_run_on(dt.date(2026, 12, 1)) is not None  # a Tuesday, the 1st
    assert schedule.first_run_on(dt.date(2026, 12, 7)) is not None  # a Monday
    assert schedule.first_run_on(dt.date(2026, 12, 8)) is None


def test_a_time_daylight_saving_skips_runs_once_that_day_and_one_it_repeats_still_counts() -> None:
    schedule = CronSchedule("30 2 * * *", OSLO)
    spring = schedule.first_run_on(dt.date(2026, 3, 29))
    assert spring is not None and spring.astimezone(OSLO).date() == dt.date(2026, 3, 29)
    assert schedule.first_run_on(dt.date(2026, 10, 25)) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize(
    "bad", ["", "7", "0 7 * *", "0 0 7 * * *", "61 7 * * *", "0 7 * * 8", "@daily", "0 7 30 2 *"]
)
def test_what_is_not_a_five_field_expression_that_fires_is_refused(bad: str) -> None:
    with pytest.raises(InvalidCronExpression):
        CronSchedule(bad, OSLO)


@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    day=st.dates(dt.date(2025, 1, 1), dt.date(2030, 12, 31)),
)
def test_a_daily_schedule_runs_on_every_day_at_its_local_time_or_just_after_a_gap(
    minute: int, hour: int, day: dt.date
) -> None:
    fire = CronSchedule(f"{minute} {hour} * * *", OSLO).first_run_on(day)
    assert fire is not None
    local = fire.astimezone(OSLO)
    assert local.date() == day
    wanted = dt.datetime.combine(day, dt.time(hour, minute), OSLO)
    if wanted.astimezone(dt.UTC).astimezone(OSLO).replace(tzinfo=None) == wanted.replace(
        tzinfo=None
    ):
        assert (local.hour, local.minute) == (hour, minute)  # the time exists that day
    else:
        assert local.hour == 3  # 02:xx on the spring change: right after it


# --- the catch-up -------------------------------------------------------------------------


class Bank:
    name = "bank"

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return []


class Ledger:
    async def unknown_accounts(self, _principal: Any) -> UnknownAccountsReport:
        return UnknownAccountsReport(backend="sandbox", chart_size=0, accounts=[])


def morning_check(clock: FixedClock) -> tuple[MorningCheck, MemoryUnitOfWorkFactory]:
    uow = MemoryUnitOfWorkFactory()
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    return MorningCheck(checks, uow, clock, StaticTenants(TENANTS)), uow


async def run_days(uow: MemoryUnitOfWorkFactory, tenant: str) -> list[dt.date]:
    async with uow() as unit:
        events = await unit.events.query(tenant, EventFilter(types=("MorningCheckRan",)))
    return [e.data.date for e in events]  # type: ignore[attr-defined]


async def test_a_missed_saturday_of_a_weekdays_schedule_is_not_caught_up_but_monday_is() -> None:
    clock = FixedClock(oslo(2026, 11, 21, 11, 0))  # Saturday, the process just started
    morning, uow = morning_check(clock)
    schedule = CronSchedule(WEEKDAYS, OSLO)
    assert await morning.catch_up(clock.now(), schedule) == []
    clock.current = oslo(2026, 11, 22, 23, 59)  # Sunday evening
    assert await morning.catch_up(clock.now(), schedule) == []
    clock.current = oslo(2026, 11, 23, 6, 59)  # Monday, before 07:00
    assert await morning.catch_up(clock.now(), schedule) == []
    clock.current = oslo(2026, 11, 23, 9, 30)  # Monday, down at 07:00
    assert [o.ran for o in await morning.catch_up(clock.now(), schedule)] == [True, True]
    clock.advance(hours=1)  # the hourly catch-up: the day is done
    assert not any(o.ran for o in await morning.catch_up(clock.now(), schedule))
    for tenant in TENANTS:
        assert await run_days(uow, tenant) == [dt.date(2026, 11, 23)]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # 29 March 2026: at 04:30 UTC it is 06:30 summer time (not yet), at 05:30 it is 07:30.
        (utc(2026, 3, 29, 4, 30), utc(2026, 3, 29, 5, 30)),
        # 25 October 2026: at 05:30 UTC it is 06:30 winter time (not yet), at 06:30 07:30.
        (utc(2026, 10, 25, 5, 30), utc(2026, 10, 25, 6, 30)),
    ],
)
async def test_the_catch_up_on_a_daylight_saving_sunday_waits_for_seven_in_norway(
    before: dt.datetime, after: dt.datetime
) -> None:
    clock = FixedClock(before)
    morning, uow = morning_check(clock)
    schedule = CronSchedule("0 7 * * *", OSLO)
    assert await morning.catch_up(clock.now(), schedule) == []
    clock.current = after
    assert [o.ran for o in await morning.catch_up(clock.now(), schedule)] == [True, True]
    assert not any(o.ran for o in await morning.catch_up(clock.now(), schedule))
    assert await run_days(uow, "acme") == [after.astimezone(OSLO).date()]


async def test_the_catch_up_still_takes_a_time_of_day() -> None:
    clock = FixedClock(oslo(2026, 11, 21, 6, 59))
    morning, _ = morning_check(clock)
    assert await morning.catch_up(clock.now(), dt.time(7, 0)) == []
    clock.current = oslo(2026, 11, 21, 7, 0)  # a Saturday: every day runs
    assert len(await morning.catch_up(clock.now(), dt.time(7, 0))) == len(TENANTS)


# --- the scheduler's trigger --------------------------------------------------------------


def test_the_trigger_fires_at_the_schedule_times_across_a_change_to_summer_time() -> None:
    trigger = CronScheduleTrigger(CronSchedule(WEEKDAYS, OSLO))
    now = utc(2026, 3, 26, 12, 0)  # Thursday
    fires: list[dt.datetime] = []
    previous: dt.datetime | None = None
    for _ in range(4):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        fires.append(fire)
        previous = now = fire
    assert fires == [
        utc(2026, 3, 27, 6, 0),  # Friday, winter time
        utc(2026, 3, 30, 5, 0),  # Monday, summer time: no Saturday, no Sunday
        utc(2026, 3, 31, 5, 0),
        utc(2026, 4, 1, 5, 0),
    ]
    # A time that is one of the schedule's fires now; the scheduler folds missed ones.
    assert trigger.get_next_fire_time(None, utc(2026, 3, 27, 6, 0)) == utc(2026, 3, 27, 6, 0)
    late = utc(2026, 3, 31, 12, 0)
    assert trigger.get_next_fire_time(utc(2026, 3, 27, 6, 0), late) == utc(2026, 3, 30, 5, 0)


async def test_the_scheduler_runs_a_cron_job_at_its_expression() -> None:
    seen: list[dt.datetime] = []

    async def morning(now: dt.datetime) -> int:
        seen.append(now)
        return 1

    scheduler = Scheduler()
    scheduler.cron("morning", morning, CronSchedule(WEEKDAYS, OSLO))
    with pytest.raises(ValueError, match="already registered"):
        scheduler.cron("morning", morning, CronSchedule(WEEKDAYS, OSLO))
    await scheduler.start()
    try:
        assert scheduler.trigger("morning") == "cron['0 7 * * 1-5', Europe/Oslo]"
        assert scheduler.timezone("morning") == "Europe/Oslo"
        assert await scheduler.run_daily_now("morning") == 1
        assert len(seen) == 1
    finally:
        await scheduler.stop()


# --- the setting --------------------------------------------------------------------------


def test_the_setting_defaults_to_seven_and_keeps_morning_at_working() -> None:
    assert load_settings({}).morning_schedule == "0 7 * * *"
    assert load_settings({"BOOKKEEPER_MORNING_AT": "06:45"}).morning_schedule == "45 6 * * *"
    settings = load_settings({"BOOKKEEPER_MORNING_CRON": "  30 6  * * 1-5 "})
    assert settings.morning_cron == settings.morning_schedule == "30 6 * * 1-5"
    direct = Settings.for_data_dir(Path("/tmp/x"), morning_hour=8, morning_minute=5)
    assert direct.morning_schedule == "5 8 * * *"


@pytest.mark.parametrize("bad", ["every morning", "0 7 * *", "0 25 * * *", "0 7 * * 1-8"])
def test_a_bad_cron_setting_fails_at_load_naming_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match="BOOKKEEPER_MORNING_CRON must be a cron"):
        load_settings({"BOOKKEEPER_MORNING_CRON": bad})


def test_setting_both_the_cron_and_the_older_time_is_refused() -> None:
    with pytest.raises(SettingsError, match="set one of them"):
        load_settings({"BOOKKEEPER_MORNING_CRON": WEEKDAYS, "BOOKKEEPER_MORNING_AT": "07:00"})


# --- daylight saving: the fires only move forward ------------------------------------------

#: The changes of 2027: summer time from Sunday 28 March, winter time from Sunday 31 October.
SPRING_2027 = dt.datetime(2027, 3, 27, 22, 0, tzinfo=dt.UTC)
AUTUMN_2027 = dt.datetime(2027, 10, 30, 22, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expression", "start", "fires"),
    [
        # A Sunday's 02:15 that the spring change skips: once, at the change (03:00 summer
        # time), then the next Sunday's 02:15 summer time.
        ("15 2 * * 0", SPRING_2027, [utc(2027, 3, 28, 1, 0), utc(2027, 4, 4, 0, 15)]),
        # One the autumn change repeats: at both 02:15s, then the next Sunday's.
        (
            "15 2 * * 0",
            AUTUMN_2027,
            [utc(2027, 10, 31, 0, 15), utc(2027, 10, 31, 1, 15), utc(2027, 11, 7, 1, 15)],
        ),
        ("30 2 * * 1-5,0", SPRING_2027, [utc(2027, 3, 28, 1, 0), utc(2027, 3, 29, 0, 30)]),
        (
            "30 2 * * 0-6",
            AUTUMN_2027,
            [utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30), utc(2027, 11, 1, 1, 30)],
        ),
    ],
)
def test_a_schedule_with_a_weekday_crosses_a_change_of_daylight_saving_forwards(
    expression: str, start: dt.datetime, fires: list[dt.datetime]
) -> None:
    schedule = CronSchedule(expression, OSLO)
    seen: list[dt.datetime] = []
    moment = start
    for _ in fires:
        fire = schedule.next_after(moment)
        assert fire is not None
        seen.append(fire)
        moment = fire
    assert seen == fires


@given(
    minute=st.integers(0, 59),
    hour=st.sampled_from([0, 1, 2, 3, 7, 23]),
    weekdays=st.sampled_from(["*", "0", "1-5", "0,6", "0-6", "*/2"]),
    start=st.sampled_from([SPRING_2027, AUTUMN_2027]),
    offset=st.integers(0, 8 * 3600),
)
def test_every_fire_is_after_the_moment_asked_about(
    minute: int, hour: int, weekdays: str, start: dt.datetime, offset: int
) -> None:
    schedule = CronSchedule(f"{minute} {hour} * * {weekdays}", OSLO)
    moment = start + dt.timedelta(seconds=offset)
    for _ in range(4):
        fire = schedule.next_after(moment)
        assert fire is not None and fire > moment
        moment = fire
