"""The in-process scheduler: a small registry of jobs on one APScheduler in the event loop.

A job is a name, a trigger and an async callable; adding a scheduled piece of work is one
registration (`every` or `daily`) where the process is composed (entrypoints/serve.py).

* `every(name, seconds, run)`: an interval job whose first run is at once. `run()` returns
  whether there is more to do right away (the executor claimed a full batch), and then
  runs again at once. `wake(name)` asks for a run as soon as possible; a wake during a run
  makes one more run follow it. One run at a time per job; missed runs fold into one.
* `daily(name, run, hour=…, minute=…, timezone=…)`: a cron job (daylight saving handled
  by the time zone). `run(now)` gets the time it runs at.
* `cron(name, run, schedule)`: the same, at the times of a cron expression
  (adapters/cron.py: standard crontab fields read by croniter in the schedule's time zone).

A run that raises is logged and the job goes on. A run is never skipped for being late
(`misfire_grace_time=None`: APScheduler's default of one second dropped a daily run
whenever the event loop was busy at its time); runs missed while late fold into one
(`coalesce`). `stop()` stops scheduling, lets running jobs finish (up to `grace_seconds`,
then cancels them) and shuts the scheduler down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from bookkeeper.adapters.cron import CronSchedule
from bookkeeper.application.execution import ExecutionPolicy, ExecutionReport

log = logging.getLogger("bookkeeper.scheduler")

#: Runs of one job back to back at most (each saying there is more) before it yields to
#: its schedule again.
MAX_RUNS_IN_A_ROW: Final = 100

#: How long `stop` waits for a cancelled run to clean up after itself.
CLEANUP_SECONDS: Final = 10.0

IntervalRun = Callable[[], Awaitable[bool]]
"""An interval job's work: True when there is more to do at once."""
CronRun = Callable[[dt.datetime], Awaitable[Any]]
"""A daily job's work, given the time it runs at."""


@dataclass
class _IntervalJob:
    name: str
    seconds: float
    run: IntervalRun
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    again: bool = False
    runs: int = 0


@dataclass(frozen=True)
class _DailyJob:
    name: str
    run: CronRun
    hour: int
    minute: int
    timezone: dt.tzinfo
    #: A cron expression's schedule (`cron`); None: every day at hour:minute (`daily`).
    schedule: CronSchedule | None = None


class CronScheduleTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger firing at a `CronSchedule`'s times."""

    def __init__(self, schedule: CronSchedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        # As APScheduler's CronTrigger: the first time at or after `now`, or the first after
        # the previous fire time (when that is long past, the scheduler folds missed runs).
        tick = dt.timedelta(microseconds=1)
        start = now if previous_fire_time is None else previous_fire_time + tick
        return self.schedule.next_after(start - tick)

    def __str__(self) -> str:
        return f"cron[{self.schedule.expression!r}, {self.schedule.timezone}]"


class Scheduler:
    """The process's scheduled jobs, started and stopped together."""

    def __init__(self) -> None:
        self._interval: dict[str, _IntervalJob] = {}
        self._daily: dict[str, _DailyJob] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()

    @property
    def started(self) -> bool:
        return self._scheduler is not None

    @property
    def jobs(self) -> list[str]:
        """The registered jobs' names."""
        return [*self._interval, *self._daily]

    def every(self, name: str, seconds: float, run: IntervalRun) -> None:
        """Register an interval job (see the module docstring)."""
        if seconds <= 0:
            raise ValueError("the interval must be positive (seconds > 0)")
        self._check_new(name)
        job = _IntervalJob(name=name, seconds=seconds, run=run)
        job.idle.set()
        self._interval[name] = job
        if self._scheduler is not None:
            self._add_interval(self._scheduler, job)

    def daily(
        self,
        name: str,
        run: CronRun,
        *,
        hour: int,
        minute: int = 0,
        timezone: dt.tzinfo = dt.UTC,
    ) -> None:
        """Register a job run every day at hour:minute in `timezone`."""
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError("hour must be 0–23 and minute 0–59")
        self._check_new(name)
        job = _DailyJob(name=name, run=run, hour=hour, minute=minute, timezone=timezone)
        self._daily[name] = job
        if self._scheduler is not None:
            self._add_daily(self._scheduler, job)

    def cron(self, name: str, run: CronRun, schedule: CronSchedule) -> None:
        """Register a job run at the times of a cron expression (in its time zone)."""
        self._check_new(name)
        job = _DailyJob(
            name=name, run=run, hour=0, minute=0, timezone=schedule.timezone, schedule=schedule
        )
        self._daily[name] = job
        if self._scheduler is not None:
            self._add_daily(self._scheduler, job)

    def _check_new(self, name: str) -> None:
        if name in self._interval or name in self._daily:
            raise ValueError(f"a job named {name!r} is already registered")

    def trigger(self, name: str) -> str:
        """The job's trigger as APScheduler describes it (for logs and tests)."""
        scheduler = self._scheduler
        job = scheduler.get_job(name) if scheduler is not None else None
        return str(job.trigger) if job is not None else ""

    def timezone(self, name: str) -> str:
        """The time zone a daily job's hour is in."""
        return str(self._daily[name].timezone)

    async def start(self) -> None:
        """Schedule every registered job; a no-op when already started."""
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=dt.UTC)
        for interval in self._interval.values():
            self._add_interval(scheduler, interval)
        for daily in self._daily.values():
            self._add_daily(scheduler, daily)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started: %s", ", ".join(self.jobs) or "no jobs")

    def _add_interval(self, scheduler: AsyncIOScheduler, job: _IntervalJob) -> None:
        scheduler.add_job(
            self._run_interval,
            "interval",
            args=[job],
            seconds=job.seconds,
            id=job.name,
            max_instances=1,
            coalesce=True,
            next_run_time=dt.datetime.now(dt.UTC),
            misfire_grace_time=None,
        )

    def _add_daily(self, scheduler: AsyncIOScheduler, job: _DailyJob) -> None:
        if job.schedule is not None:
            scheduler.add_job(
                self._run_daily,
                CronScheduleTrigger(job.schedule),
                args=[job],
                id=job.name,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
            log.info(
                "job %s scheduled at cron %r %s", job.name, job.schedule.expression, job.timezone
            )
            return
        scheduler.add_job(
            self._run_daily,
            "cron",
            args=[job],
            hour=job.hour,
            minute=job.minute,
            timezone=job.timezone,
            id=job.name,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        log.info(
            "job %s scheduled daily at %02d:%02d %s", job.name, job.hour, job.minute, job.timezone
        )

    def wake(self, name: str) -> None:
        """Run an interval job soon: now if idle, else right after its current run."""
        scheduler = self._scheduler
        job = self._interval.get(name)
        if scheduler is None or job is None:
            return
        if not job.idle.is_set():
            job.again = True
            return
        scheduled = scheduler.get_job(name)
        if scheduled is not None:
            scheduled.modify(next_run_time=dt.datetime.now(dt.UTC))
            scheduler.wakeup()

    def runs(self, name: str) -> int:
        """How many runs an interval job has made."""
        return self._interval[name].runs

    async def run_daily_now(self, name: str, now: dt.datetime | None = None) -> Any:
        """Run a daily job at once (a CLI command, a test); what it returned."""
        job = self._daily[name]
        return await job.run(now or dt.datetime.now(dt.UTC).astimezone(job.timezone))

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop scheduling, wait for running jobs (up to `grace_seconds`; then they are
        cancelled), and shut the scheduler down."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        self._scheduler = None
        scheduler.pause()
        for job in self._interval.values():
            job.again = False
        waits = [job.idle.wait() for job in self._interval.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), grace_seconds)
        except TimeoutError:
            log.warning("jobs still running after %s s; cancelling them", grace_seconds)
        scheduler.shutdown(wait=False)  # cancels a run still going, if any
        cancelled = list(self._running)
        for task in cancelled:
            task.cancel()
        if cancelled:
            # A cancelled run may still clean up (the executor hands its claims back).
            await asyncio.wait(cancelled, timeout=CLEANUP_SECONDS)
        await asyncio.sleep(0)  # let the scheduler's shutdown (scheduled in the loop) run
        log.info("scheduler stopped")

    async def _run_interval(self, job: _IntervalJob) -> None:
        job.idle.clear()
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            for _ in range(MAX_RUNS_IN_A_ROW):
                job.again = False
                job.runs += 1
                try:
                    more = await job.run()
                except Exception:
                    log.exception("job %s failed", job.name)
                    break
                if not (job.again or more) or self._scheduler is None:
                    break
        finally:
            if task is not None:
                self._running.discard(task)
            job.idle.set()

    async def _run_daily(self, job: _DailyJob) -> None:
        try:
            await job.run(dt.datetime.now(dt.UTC).astimezone(job.timezone))
        except Exception:
            log.exception("job %s failed", job.name)


class PassRunner(Protocol):
    """What the executor job drives (the Executor, or a stand-in in tests)."""

    @property
    def policy(self) -> ExecutionPolicy: ...

    async def run_once(self) -> ExecutionReport: ...


def executor_run(executor: PassRunner) -> IntervalRun:
    """The executor as an interval job's work: one pass; more to do when the pass
    claimed a full batch."""

    async def run() -> bool:
        report = await executor.run_once()
        return report.claimed >= executor.policy.batch_size

    return run
