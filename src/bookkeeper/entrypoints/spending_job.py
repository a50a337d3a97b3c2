"""The spending pull as a scheduler job (application/spending.py, ADR 0031).

spending-pull   every PULL_INTERVAL (6 h) while the scheduled work is on
                (BOOKKEEPER_MORNING): the last days' costs of every source for every
                tenant of the morning run, so revisions and late data arrive between two
                mornings and a budget alert is raised within hours, not the next day.

A repeated pull records nothing new (the snapshots' derived ids), so replicas running the
job at the same time cost duplicate reads of the providers, never duplicate records.
"""

from __future__ import annotations

import logging
from typing import Final

from bookkeeper.application.errors import ApplicationError
from bookkeeper.application.morning import MorningCheck
from bookkeeper.application.spending import SpendingService
from bookkeeper.container import Container, resolve
from bookkeeper.domain.errors import DomainError
from bookkeeper.entrypoints.scheduler import Scheduler

log = logging.getLogger("bookkeeper.spending")

PULL_JOB: Final = "spending-pull"
PULL_INTERVAL: Final = 6 * 3600.0


async def register_spending(container: Container, scheduler: Scheduler) -> bool:
    """Add the pull job unless scheduled work is off; whether it was added."""
    if not container.settings().morning_enabled:
        return False
    spending: SpendingService = await resolve(container.spending)
    morning: MorningCheck = await resolve(container.morning_check)

    async def pull() -> bool:
        for tenant in await morning.tenants():
            try:
                result = await spending.pull(tenant)
            except (ApplicationError, DomainError) as error:
                log.warning("spending pull of %s failed: %s", tenant, error)
                continue
            if result.recorded or result.revised or result.failed:
                log.info(
                    "spending pull of %s: %d recorded, %d revised, failed: %s",
                    tenant,
                    result.recorded,
                    result.revised,
                    ", ".join(sorted(result.failed)) or "none",
                )
        return False

    scheduler.every(PULL_JOB, PULL_INTERVAL, pull)
    return True
