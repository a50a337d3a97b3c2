"""The executor as a background service of `bookkeeper serve`: an APScheduler interval job.

`ExecutorService.start()` schedules `Executor.run_once` every `interval_seconds` on an
AsyncIOScheduler in the running event loop — one run at a time (`max_instances=1`),
missed runs folded into one (`coalesce=True`), the first at once. `wake()` asks for a run
as soon as possible (after an approval); a wake during a run makes another run follow it,
as does a pass that claimed a full batch (there may be more due). `stop()` lets the running
pass finish — an interrupted pass would be safe (its leases expire and the next attempt
reconciles) but slow to recover — and then shuts the scheduler down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from typing import Final, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bookkeeper.application.execution import ExecutionPolicy, ExecutionReport
from bookkeeper.settings import Settings

log = logging.getLogger("bookkeeper.executor")

JOB_ID: Final = "bookkeeper-executor"
#: The daily job forgetting old conversation messages (ConversationService.purge).
PURGE_JOB_ID: Final = "bookkeeper-conversation-purge"
#: When it runs (UTC): at night, in the quiet hours.
PURGE_HOUR_UTC: Final = 2
#: Passes run back to back at most this often before yielding to the schedule again.
MAX_PASSES_PER_RUN: Final = 100


class RunsOnce(Protocol):
    """What the service drives (the Executor, or a stand-in in tests)."""

    policy: ExecutionPolicy

    async def run_once(self) -> ExecutionReport: ...


class Purges(Protocol):
    """What the daily purge job calls (the ConversationService)."""

    async def purge(self, now: dt.datetime) -> int: ...


class ExecutorService:
    """Runs the executor periodically and on demand, in the current event loop."""

    def __init__(self, executor: RunsOnce, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self._executor = executor
        self._interval = interval_seconds
        self._scheduler: AsyncIOScheduler | None = None
        self._idle = asyncio.Event()  # set while no pass is running
        self._idle.set()
        self._again = False
        self.runs = 0
        self._purges: Purges | None = None

    @property
    def started(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        """Schedule the job (the first run at once); a no-op when already started."""
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=dt.UTC)
        scheduler.add_job(
            self._run,
            "interval",
            seconds=self._interval,
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            next_run_time=dt.datetime.now(dt.UTC),
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info("executor started: every %s s", self._interval)
        if self._purges is not None:
            self._add_purge_job(scheduler)

    def schedule_purge(self, target: Purges) -> None:
        """Call `target.purge(now)` daily at PURGE_HOUR_UTC, in the same scheduler (now if
        started, else from `start`)."""
        self._purges = target
        if self._scheduler is not None:
            self._add_purge_job(self._scheduler)

    def _add_purge_job(self, scheduler: AsyncIOScheduler) -> None:
        scheduler.add_job(
            self.run_purge,
            "cron",
            hour=PURGE_HOUR_UTC,
            id=PURGE_JOB_ID,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
        log.info("conversation purge scheduled daily at %02d:00 UTC", PURGE_HOUR_UTC)

    async def run_purge(self, now: dt.datetime | None = None) -> int:
        """The purge job: forget what is past retention; how many messages (0 on error)."""
        if self._purges is None:
            return 0
        try:
            count = await self._purges.purge(now or dt.datetime.now(dt.UTC))
        except Exception:
            log.exception("conversation purge failed")
            return 0
        log.info("conversation purge: %s message(s) forgotten", count)
        return count

    def wake(self) -> None:
        """Run soon: now if idle, else right after the current run."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        if not self._idle.is_set():
            self._again = True
            return
        job = scheduler.get_job(JOB_ID)
        if job is not None:
            job.modify(next_run_time=dt.datetime.now(dt.UTC))
            scheduler.wakeup()

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop scheduling, wait for a running pass to finish (up to `grace_seconds`; then it
        is cancelled), and shut the scheduler down."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        self._scheduler = None
        scheduler.pause()
        self._again = False
        try:
            await asyncio.wait_for(self._idle.wait(), grace_seconds)
        except TimeoutError:
            log.warning("executor pass still running after %s s; cancelling it", grace_seconds)
        scheduler.shutdown(wait=False)  # cancels a pass still running, if any
        await asyncio.sleep(0)  # let the scheduler's shutdown (scheduled in the loop) run
        log.info("executor stopped")

    async def _run(self) -> None:
        self._idle.clear()
        try:
            for _ in range(MAX_PASSES_PER_RUN):
                self._again = False
                self.runs += 1
                try:
                    report = await self._executor.run_once()
                except Exception:  # run_once reports instead of raising; belt and braces
                    log.exception("executor pass failed")
                    break
                full = report.claimed >= self._executor.policy.batch_size
                if not (self._again or full) or self._scheduler is None:
                    break
        finally:
            self._idle.set()


def policy_from(settings: Settings) -> ExecutionPolicy:
    """The execution policy the process is configured with (BOOKKEEPER_EXECUTOR_*)."""
    return ExecutionPolicy(
        max_attempts=settings.executor_max_attempts,
        tenant_concurrency=settings.executor_tenant_concurrency,
        payment_account=settings.payment_account,
    )


def executor_name() -> str:
    """This process's name on the attempts it claims: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"
