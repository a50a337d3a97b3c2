"""The scheduler's job registry, with the executor as its interval job: it runs at once, on
wake, one pass at a time, and lets a running pass finish on stop. The fake executor
signals through events; no test waits on the interval (an hour)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable

import pytest

from bookkeeper.application.execution import ExecutionPolicy, ExecutionReport
from bookkeeper.entrypoints.scheduler import Scheduler, executor_run

HOUR = 3600.0
JOB = "executor"


class ExecutorService:
    """The executor as the serving process registers it: one interval job."""

    def __init__(self, executor: FakeExecutor, interval_seconds: float) -> None:
        self.scheduler = Scheduler()
        self.scheduler.every(JOB, interval_seconds, executor_run(executor))

    @property
    def started(self) -> bool:
        return self.scheduler.started

    async def start(self) -> None:
        await self.scheduler.start()

    def wake(self) -> None:
        self.scheduler.wake(JOB)

    async def stop(self, grace_seconds: float | None = None) -> None:
        await self.scheduler.stop(grace_seconds)


class FakeExecutor:
    def __init__(self, *, claimed: list[int] | None = None) -> None:
        self.policy = ExecutionPolicy(batch_size=5)
        self.passes = 0
        self.active = 0
        self.max_active = 0
        self.gate: asyncio.Event | None = None
        self.ran = asyncio.Event()
        self.claimed = list(claimed or [])

    async def run_once(self) -> ExecutionReport:
        self.passes += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            self.ran.set()
            return ExecutionReport(claimed=self.claimed.pop(0) if self.claimed else 0)
        finally:
            self.active -= 1


#: A deadline for what the scheduler's task must do, however loaded the machine.
WITHIN = 30.0


async def wait_for(condition: Callable[[], bool], limit: float = WITHIN) -> None:
    """Poll a condition the scheduler's task will make true (a millisecond at a time)."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - the scheduler runs in another task
            await asyncio.sleep(0.001)


async def test_the_first_pass_runs_at_once_and_wake_runs_another() -> None:
    executor = FakeExecutor()
    service = ExecutorService(executor, HOUR)
    await service.start()
    try:
        await wait_for(lambda: executor.passes == 1)
        service.wake()
        await wait_for(lambda: executor.passes == 2)
    finally:
        await service.stop()
    assert not service.started


async def test_a_wake_during_a_pass_makes_one_more_pass_follow_it() -> None:
    executor = FakeExecutor()
    executor.gate = asyncio.Event()
    service = ExecutorService(executor, HOUR)
    await service.start()
    try:
        await wait_for(lambda: executor.active == 1)
        service.wake()
        service.wake()
        executor.gate.set()
        await wait_for(lambda: executor.passes == 2)
        await asyncio.sleep(0.01)
        assert executor.passes == 2  # two wakes during one pass: one more pass
        assert executor.max_active == 1
    finally:
        await service.stop()


async def test_a_full_batch_is_followed_by_another_pass() -> None:
    executor = FakeExecutor(claimed=[5, 5, 2])
    service = ExecutorService(executor, HOUR)
    await service.start()
    try:
        await wait_for(lambda: executor.passes == 3)
        await asyncio.sleep(0.01)
        assert executor.passes == 3
    finally:
        await service.stop()


async def test_stop_waits_for_the_running_pass() -> None:
    executor = FakeExecutor()
    executor.gate = asyncio.Event()
    service = ExecutorService(executor, HOUR)
    await service.start()
    await wait_for(lambda: executor.active == 1)

    stopping = asyncio.create_task(service.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()  # the pass is still running
    executor.gate.set()
    await asyncio.wait_for(stopping, WITHIN)

    assert executor.ran.is_set() and executor.active == 0  # it finished, not cancelled
    service.wake()  # after stop: ignored
    await asyncio.sleep(0.01)
    assert executor.passes == 1


async def test_stop_with_a_timeout_cancels_a_pass_that_does_not_finish() -> None:
    executor = FakeExecutor()
    executor.gate = asyncio.Event()
    service = ExecutorService(executor, HOUR)
    await service.start()
    await wait_for(lambda: executor.active == 1)
    await service.stop(grace_seconds=0.01)
    await wait_for(lambda: executor.active == 0)
    assert not executor.ran.is_set()


async def test_a_pass_that_raises_does_not_stop_the_service() -> None:
    class Exploding(FakeExecutor):
        async def run_once(self) -> ExecutionReport:
            self.passes += 1
            raise RuntimeError("boom")

    executor = Exploding()
    service = ExecutorService(executor, HOUR)
    await service.start()
    try:
        await wait_for(lambda: executor.passes == 1)
        service.wake()
        await wait_for(lambda: executor.passes == 2)
    finally:
        await service.stop()


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ExecutorService(FakeExecutor(), 0)


def test_a_job_name_is_registered_once() -> None:
    scheduler = Scheduler()
    scheduler.every(JOB, HOUR, executor_run(FakeExecutor()))
    with pytest.raises(ValueError, match="already registered"):
        scheduler.daily(JOB, lambda now: asyncio.sleep(0), hour=7)


async def test_a_daily_job_runs_at_its_hour_in_its_time_zone() -> None:
    from zoneinfo import ZoneInfo

    seen: list[object] = []

    async def morning(now: object) -> int:
        seen.append(now)
        return 7

    scheduler = Scheduler()
    scheduler.daily("morning", morning, hour=7, timezone=ZoneInfo("Europe/Oslo"))
    await scheduler.start()
    try:
        trigger = scheduler.trigger("morning")
        assert trigger == "cron[hour='7', minute='0']"
        assert scheduler.timezone("morning") == "Europe/Oslo"
        assert await scheduler.run_daily_now("morning") == 7
        assert len(seen) == 1
    finally:
        await scheduler.stop()


async def test_stop_lets_a_cancelled_pass_clean_up_before_it_returns() -> None:
    """The executor hands its unstarted claims back when its pass is cancelled (ADR 0021):
    stop() returns only after that clean-up, not with it still pending."""
    entered, cleaned = asyncio.Event(), asyncio.Event()

    class HandsBack(FakeExecutor):
        async def run_once(self) -> ExecutionReport:
            entered.set()
            try:
                await asyncio.Event().wait()
            finally:
                await asyncio.sleep(0.05)  # a unit of work recording the hand-back
                cleaned.set()
            return ExecutionReport()  # pragma: no cover

    executor = HandsBack()
    service = ExecutorService(executor, HOUR)
    await service.start()
    await asyncio.wait_for(entered.wait(), WITHIN)  # the pass is under way
    await service.stop(grace_seconds=0.01)
    assert cleaned.is_set()


async def test_a_daily_job_late_by_more_than_a_second_still_runs() -> None:
    """APScheduler 3 skips a run that starts more than `misfire_grace_time` after its time,
    one second by default: a busy event loop at 07:00 (a bulk import, a long page) lost
    the morning run until the hourly catch-up, and the conversation purge for the day. A
    daily or cron job now runs however late (coalesced into one run)."""
    ran: list[dt.datetime] = []

    async def job(now: dt.datetime) -> None:
        ran.append(now)

    scheduler = Scheduler()
    scheduler.daily("purge", job, hour=3)
    await scheduler.start()
    try:
        scheduled = scheduler._scheduler.get_job("purge")  # type: ignore[union-attr]
        scheduled.modify(next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.1))
        scheduler._scheduler.wakeup()  # type: ignore[union-attr]
        # The loop is busy past the run time by more than a second (a blocking call, on
        # purpose).
        time.sleep(1.6)  # noqa: ASYNC251
        for _ in range(50):
            await asyncio.sleep(0.02)
            if ran:
                break
        assert len(ran) == 1
    finally:
        await scheduler.stop()
