"""The morning check's scheduler jobs (application/morning.py, ADR 0023).

morning            at BOOKKEEPER_MORNING_CRON (default `0 7 * * *`; or every day at the
                   older BOOKKEEPER_MORNING_AT) in Europe/Oslo, daylight saving handled by
                   the time zone: the day's run for every tenant
morning-catch-up   at start and every hour: on a day the schedule runs, past its first
                   time that day, the run of any tenant that does not have today's yet (a
                   process that was down at 07:00 catches up; a day the schedule skips,
                   such as a Saturday of `0 7 * * 1-5`, is not; the run's derived id keeps
                   it to one per day)
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

from bookkeeper.adapters.cron import CronSchedule
from bookkeeper.application.checks import OSLO
from bookkeeper.application.morning import MORNING_JOB, MorningCheck
from bookkeeper.application.ports import Clock
from bookkeeper.container import Container, resolve
from bookkeeper.entrypoints.scheduler import Scheduler

log = logging.getLogger("bookkeeper.morning")

CATCH_UP_JOB: Final = "morning-catch-up"
CATCH_UP_INTERVAL: Final = 3600.0


async def register_morning(container: Container, scheduler: Scheduler) -> MorningCheck | None:
    """Add the morning jobs to `scheduler` unless BOOKKEEPER_MORNING is off."""
    settings = container.settings()
    if not settings.morning_enabled:
        log.info("morning check off (BOOKKEEPER_MORNING=off)")
        return None
    morning: MorningCheck = await resolve(container.morning_check)
    clock: Clock = await resolve(container.clock)
    schedule = CronSchedule(settings.morning_schedule, OSLO)

    async def daily(now: dt.datetime) -> None:
        await morning.run(now)

    async def catch_up() -> bool:
        await morning.catch_up(clock.now(), schedule)
        return False

    scheduler.cron(MORNING_JOB, daily, schedule)
    scheduler.every(CATCH_UP_JOB, CATCH_UP_INTERVAL, catch_up)
    return morning
