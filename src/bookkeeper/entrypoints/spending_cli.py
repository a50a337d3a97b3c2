"""`bookkeeper spending`: pull the providers' costs, set budgets, print the cost report.

    bookkeeper spending pull --tenant T [--from D] [--to D]
    bookkeeper spending budget --tenant T SOURCE NOK        (0 removes the budget)
    bookkeeper spending report --tenant T [--from D] [--to D] [--group-by source|service|model|day]

Whoever runs the CLI has the database anyway: the principal is `--user` (default `cli`)
with the admin role, recorded as the actor of what it writes. A pull records what the
configured sources report (application/spending.py) and prints what it recorded and which
sources failed; the report prints the same totals as `GET /reports/costs`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from bookkeeper.application.ports import Principal
from bookkeeper.application.spending import GROUPS, SpendingService
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.domain.money import round_kr
from bookkeeper.domain.numerals import SPELLING, parse_plain
from bookkeeper.entrypoints.cli.arguments import iso_date, tenant_id, user_name
from bookkeeper.entrypoints.serve import open_services

CLI_ROLE = "admin"


def add_parser(commands: Any) -> None:
    """Register `spending pull|budget|report` on the CLI's subcommands."""
    p = commands.add_parser("spending", help="what the company pays its providers")
    actions = p.add_subparsers(dest="spending_command", required=True, metavar="ACTION")
    q = actions.add_parser("pull", help="record the providers' costs of recent days")
    q.add_argument("--from", dest="start", type=iso_date, help="first UTC day")
    q.add_argument("--to", dest="end", type=iso_date, help="last UTC day (default today)")
    q.set_defaults(run=_run(pull))
    q = actions.add_parser("budget", help="set a source's monthly budget in NOK")
    q.add_argument("source", help="anthropic, google, cloudflare, bookkeeper …")
    q.add_argument("amount", help="NOK a month (0 removes the budget)")
    q.set_defaults(run=_run(budget))
    q = actions.add_parser("report", help="what each source cost, in its currency and NOK")
    q.add_argument("--from", dest="start", type=iso_date, help="first UTC day (default: the 1st)")
    q.add_argument("--to", dest="end", type=iso_date, help="last UTC day (default today)")
    q.add_argument("--group-by", choices=GROUPS, default="source")
    q.set_defaults(run=_run(report))
    for action in ("pull", "budget", "report"):
        parser = actions.choices[action]
        parser.add_argument("--tenant", required=True, type=tenant_id, help="the company")
        parser.add_argument(
            "--user", type=user_name, default="cli", help="who acts (recorded as the actor)"
        )


def _run(command: Any) -> Any:
    def run(args: argparse.Namespace, container: Container) -> int:
        code: int = asyncio.run(_with_service(container, command, args, sys.stdout))
        return code

    return run


async def _with_service(container: Container, command: Any, args: Any, out: TextIO) -> int:
    try:
        await open_services(container)
        spending: SpendingService = await resolve(container.spending)
        principal = Principal(subject=args.user, tenant_id=args.tenant, roles=frozenset({CLI_ROLE}))
        code: int = await command(spending, principal, args, out)
        return code
    finally:
        await shutdown(container)


async def pull(spending: SpendingService, principal: Principal, args: Any, out: TextIO) -> int:
    result = await spending.pull_as(principal, args.start, args.end)
    print(
        f"{result.start}..{result.end}: {result.recorded} recorded, {result.revised} revised, "
        f"{result.unchanged} unchanged",
        file=out,
    )
    for source, why in sorted(result.failed.items()):
        print(f"  {source}: not read ({why})", file=out)
    for alert in result.alerts:
        print(
            f"  budget: {alert.source} reached {alert.threshold} % in {alert.month} "
            f"({alert.spent_nok} of {alert.budget_nok} NOK)",
            file=out,
        )
    return 1 if result.failed else 0


async def budget(spending: SpendingService, principal: Principal, args: Any, out: TextIO) -> int:
    try:
        amount = parse_plain(args.amount)  # "5000", "5000.00": not "5 000" or "5e3"
    except ValueError:
        print(f"not an amount: {args.amount!r} {SPELLING}", file=sys.stderr)
        return 2
    accepted = await spending.set_budget(principal, args.source, amount)
    print(f"{accepted.source}: {round_kr(amount)} NOK a month", file=out)
    if accepted.warning is not None:
        print(f"warning: {accepted.warning}", file=sys.stderr)
    return 0


async def report(spending: SpendingService, principal: Principal, args: Any, out: TextIO) -> int:
    end = args.end or spending.today()
    start = args.start or end.replace(day=1)
    found = await spending.report(principal, start, end, args.group_by)
    # round_kr (half up), as the API, the web page and the morning round: a format's
    # ".2f" rounds a Decimal half to even (1.225 NOK read 1.22 here, 1.23 there).
    print(f"{args.group_by}\tcurrency\tamount\tNOK", file=out)
    for row in found.rows:
        print(
            f"{row.key}\t{row.currency}\t{round_kr(row.amount)}\t{round_kr(row.amount_nok)}",
            file=out,
        )
    print(f"total\tNOK\t\t{round_kr(found.total_nok)}", file=out)
    return 0
