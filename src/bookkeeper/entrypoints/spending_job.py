"""The spending pull as a scheduler job (application/spending.py, ADR 0031).

spending-pull   every PULL_INTERVAL (6 h) while the scheduled work is on
                (BOOKKEEPER_MORNING): the last days' costs of every source for every
                tenant of the morning run, so revisions and late data arrive between two
                mornings and a budget alert is raised within hours, not the next day.

A repeated pull records nothing new (the snapshots' derived ids), so replicas running the
job at the same time cost duplicate reads of the providers, never duplicate records.

One tenant's failure is not every tenant's: an error of ours (ApplicationError,
DomainError) is logged as a warning, anything else (a driver error, an adapter's bug) with
its traceback, as the morning run does; the other tenants are pulled all the same, and the
next pull tries the failed one again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Protocol

from bookkeeper.application.errors import ApplicationError
from bookkeeper.application.morning import MorningCheck
from bookkeeper.application.spending import PullResult, SpendingService
from bookkeeper.container import Container, resolve
from bookkeeper.domain.errors import DomainError
from bookkeeper.entrypoints.scheduler import IntervalRun, Scheduler

log = logging.getLogger("bookkeeper.spending")

PULL_JOB: Final = "spending-pull"
PULL_INTERVAL: Final = 6 * 3600.0


class TenantPull(Protocol):
    """What the job drives (the SpendingService, or a stand-in in tests)."""

    async def pull(self, tenant_id: str) -> PullResult: ...


async def pull_every_tenant(spending: TenantPull, tenants: Sequence[str]) -> dict[str, str]:
    """Pull the costs of each tenant in turn; the tenants whose pull failed, with why (the
    error's type for one that is not ours: its message may carry what a log should not)."""
    failed: dict[str, str] = {}
    for tenant in tenants:
        try:
            result = await spending.pull(tenant)
        except (ApplicationError, DomainError) as error:
            log.warning("spending pull of %s failed: %s", tenant, error)
            failed[tenant] = str(error)
            continue
        except Exception as error:  # one company's failure is not every company's
            log.exception(
                "spending pull of %s failed; the other tenants go on, and the next pull "
                "tries this one again",
                tenant,
            )
            failed[tenant] = f"unexpected error ({type(error).__name__})"
            continue
        if result.recorded or result.revised or result.failed:
            log.info(
                "spending pull of %s: %d recorded, %d revised, failed: %s",
                tenant,
                result.recorded,
                result.revised,
                ", ".join(sorted(result.failed)) or "none",
            )
    return failed


def spending_pull(spending: TenantPull, tenants: Callable[[], Awaitable[list[str]]]) -> IntervalRun:
    """The pull of every tenant as an interval job's work (never more to do at once)."""

    async def pull() -> bool:
        await pull_every_tenant(spending, await tenants())
        return False

    return pull


async def register_spending(container: Container, scheduler: Scheduler) -> bool:
    """Add the pull job unless scheduled work is off; whether it was added."""
    if not container.settings().morning_enabled:
        return False
    spending: SpendingService = await resolve(container.spending)
    morning: MorningCheck = await resolve(container.morning_check)
    scheduler.every(PULL_JOB, PULL_INTERVAL, spending_pull(spending, morning.tenants))
    return True
