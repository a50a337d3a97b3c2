"""`bookkeeper check run`: the morning check from an external cron or a Kubernetes CronJob.

    bookkeeper check run [--job morning] [--date YYYY-MM-DD] [--tenant T ...]

Does what the in-process job does (application/morning.py): for each tenant (--tenant, or
BOOKKEEPER_MORNING_TENANTS, or every tenant with events) the day's run, once — a day that
already ran, here or in any serving replica, is reported and not run again. The day is
--date, default today in Norway. Prints each tenant's summary; exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any, TextIO

from bookkeeper.application.morning import MORNING_JOB, MorningCheck, RunOutcome
from bookkeeper.application.ports import Clock
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.domain.events import MorningCheckRanData
from bookkeeper.entrypoints.cli.arguments import iso_date, tenant_id
from bookkeeper.entrypoints.serve import open_services

JOBS = (MORNING_JOB,)


def add_parser(commands: Any) -> None:
    """Register `check run` on the CLI's subcommands."""
    p = commands.add_parser("check", help="the scheduled checks, run from outside")
    actions = p.add_subparsers(dest="check_command", required=True, metavar="ACTION")
    q = actions.add_parser("run", help="run a day's check for each tenant that lacks it")
    q.add_argument("--job", choices=JOBS, default=MORNING_JOB, help="the job (morning)")
    q.add_argument("--date", type=iso_date, help="the day (default: today in Norway)")
    q.add_argument(
        "--tenant", type=tenant_id, action="append", help="a tenant (repeatable; default: all)"
    )
    q.set_defaults(run=check_run)


def check_run(args: argparse.Namespace, container: Container) -> int:
    outcomes = asyncio.run(run_check(container, args.date, args.tenant, sys.stdout))
    # An external cron sees a tenant whose run failed (the next call tries it again).
    return 1 if any(o.error is not None for o in outcomes) else 0


async def run_check(
    container: Container, day: dt.date | None, tenants: list[str] | None, out: TextIO
) -> list[RunOutcome]:
    """Run the day's check for the tenants; print what each got."""
    try:
        await open_services(container)
        morning: MorningCheck = await resolve(container.morning_check)
        clock: Clock = await resolve(container.clock)
        day = day or morning.day_of(clock.now())
        # Tenant by tenant as the scheduler's run: one whose run fails stopped every
        # tenant after it here.
        chosen = list(dict.fromkeys(tenants)) if tenants else await morning.tenants()
        outcomes = await morning.run_tenants(chosen, day)
        for outcome in outcomes:
            summary = outcome.summary
            if outcome.error is not None:
                print(f"{outcome.tenant_id}: {day} failed ({outcome.error})", file=out)
            elif not outcome.ran:
                recorded = await morning.ran(outcome.tenant_id, day)
                if recorded is not None and isinstance(recorded.data, MorningCheckRanData):
                    summary = recorded.data.summary
                    print(f"{outcome.tenant_id}: {day} already ran", file=out)
                else:  # another process holds the day's claim and is running it
                    print(f"{outcome.tenant_id}: {day} is being run by another process", file=out)
            else:
                print(f"{outcome.tenant_id}: {day} ran", file=out)
            if summary:
                print(summary, file=out)
        if not outcomes:
            print("no tenants", file=out)
        return outcomes
    finally:
        await shutdown(container)
