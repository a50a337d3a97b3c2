"""Cron expressions (BOOKKEEPER_MORNING_CRON), read by croniter in a time zone.

croniter keeps standard crontab semantics (0 and 7 are Sunday, `1-5` is Monday to Friday,
a restricted day of month OR a restricted day of week), unlike APScheduler 3's
`CronTrigger.from_crontab`, which counts weekdays from Monday (its issue 286). A time that
daylight saving skips (02:30 on the last Sunday of March in Norway) runs at the first
minute after the change; one that it repeats (last Sunday of October) may run twice, and
the run's derived id keeps the day to one run.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from croniter import CroniterBadDateError, CroniterError, croniter

#: Five fields only: minute hour day-of-month month day-of-week (no seconds, no year).
FIELDS: Final = 5


class InvalidCronExpression(ValueError):
    """Not a five-field cron expression, or one that never fires."""


class CronSchedule:
    """When a cron expression fires, in `timezone` (the `RunSchedule` of the morning run)."""

    def __init__(self, expression: str, timezone: dt.tzinfo) -> None:
        text = " ".join(expression.split())
        if len(text.split(" ")) != FIELDS or not croniter.is_valid(text):
            raise InvalidCronExpression(
                f"{expression!r} is not a cron expression of five fields "
                "(minute hour day-of-month month day-of-week)"
            )
        self.expression = text
        self.timezone = timezone
        # One that names no real day (e.g. 30 February) is refused now, not at run time.
        if self.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) is None:
            raise InvalidCronExpression(f"{expression!r} never fires")

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {self.timezone})"

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first time it fires strictly after `moment` (aware, in UTC), or None when
        it fires no more."""
        start = moment.astimezone(self.timezone)
        try:
            fire: dt.datetime = croniter(self.expression, start).get_next(dt.datetime)
        except (CroniterBadDateError, CroniterError):
            return None
        return fire.astimezone(dt.UTC)

    def first_run_on(self, day: dt.date) -> dt.datetime | None:
        """The first time it fires on `day` (a date in its time zone), or None when it does
        not fire that day (a Saturday of a weekdays-only expression)."""
        midnight = dt.datetime.combine(day, dt.time(), self.timezone)
        fire = self.next_after(midnight - dt.timedelta(microseconds=1))
        if fire is None or fire.astimezone(self.timezone).date() != day:
            return None
        return fire
