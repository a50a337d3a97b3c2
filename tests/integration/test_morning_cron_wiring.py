"""`serve` schedules the morning run at BOOKKEEPER_MORNING_CRON, and its start-up catch-up
follows that expression: on a day the expression skips, nothing is caught up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bookkeeper.application.ports import EventFilter, UnitOfWorkFactory
from bookkeeper.container import resolve, shutdown
from bookkeeper.entrypoints.serve import start_process
from tests.integration.test_spending_wiring import container_with
from tests.polling import polls

# The clock of container_with: Friday 2026-11-20 09:00 UTC (10:00 in Norway).


async def morning_runs(uow: UnitOfWorkFactory) -> int:
    async with uow() as unit:
        found = await unit.events.query("acme", EventFilter(types=("MorningCheckRan",)))
    return len(found)


async def test_the_morning_job_runs_at_the_cron_and_catches_up_only_on_its_days(
    tmp_path: Path,
) -> None:
    for expression, expected in (("0 7 * * 1-5", 1), ("0 7 * * 0", 0)):
        container = container_with(
            tmp_path / expression.replace(" ", "_").replace("*", "x"),
            morning_enabled=True,
            morning_tenants=("acme",),
            morning_cron=expression,
        )
        process = await start_process(container)
        try:
            shared = process.shared_scheduler  # the morning jobs are shared ones
            assert shared is not None
            assert shared.trigger("morning") == f"cron[{expression!r}, Europe/Oslo]"
            uow: UnitOfWorkFactory = await resolve(container.uow_factory)
            # The catch-up runs at start, in the background: wait for the day's run, or
            # (where none is due) for the catch-up to have looked, which needs no I/O.
            for _ in polls():
                if await morning_runs(uow) >= 1:
                    break
                if not expected and shared.runs("morning-catch-up"):
                    await asyncio.sleep(0.2)
                    break
                await asyncio.sleep(0.05)
            assert await morning_runs(uow) == expected, expression
        finally:
            await process.close()
            await shutdown(container)
