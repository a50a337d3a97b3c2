"""`bookkeeper rules …`: the rules as data from the command line (issue 12, ADR 0029) —
the same use cases as /rules (application/rules.RulesService), as the operator: a
principal `--user` (default `cli`) with the admin role, in `--tenant`.

    bookkeeper rules tax-rates [--tenant T] [--on DATE] [--country NO]
    bookkeeper rules set-rate [--tenant T] --code 33 --rate 12 --from 2027-01-01 [--to DATE]

Without --tenant, `tax-rates` lists and `set-rate` changes the shipped defaults every
tenant without its own rate of the code follows (the operator's change, ADR 0040); with
--tenant, the rates in force for that tenant and a change for it alone (as its admin's
POST /rules/tax-rates).
    bookkeeper rules currencies
    bookkeeper rules periods --tenant T
    bookkeeper rules close --tenant T --from 2026-01-01 --to 2026-01-31
    bookkeeper rules reopen --tenant T --from 2026-01-01 [--kind period|vat-term]
    bookkeeper rules lock-vat-term --tenant T --year 2026 --term 1
    bookkeeper rules review-rules --tenant T [--set name=value ...]

A refusal (an overlapping period, a rate change before the code's latest rate …) is one
line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TextIO

import msgspec

from bookkeeper.application.ports import Principal
from bookkeeper.application.rules import RulesService
from bookkeeper.container import Container, migrated_database, resolve, shutdown
from bookkeeper.domain.errors import BookkeeperError
from bookkeeper.domain.numerals import decimal_fields, parse_plain
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.rules import PERIOD, VAT_TERM, FiscalPeriod, TaxRate
from bookkeeper.entrypoints.cli.arguments import iso_date, tenant_id, user_name

CLI_ROLE = "admin"
#: The review rules' amounts and scores, by the names `--set` takes.
_REVIEW_DECIMALS = decimal_fields(ReviewRules)


def _rate(text: str) -> Decimal | None:
    if text.lower() in ("none", "-"):
        return None
    try:
        return parse_plain(text)  # "25", "11.11": not " 25", "2.5e1" or "٢٥"
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate in percent: {text!r}") from None


def add_parser(commands: Any) -> None:
    """Register `rules` and its actions on the CLI's subcommands."""
    p = commands.add_parser(
        "rules",
        help="tax rates, currencies, closed periods, review rules",
        description=(
            "Rules as data: tax rates by validity, currencies, closed periods and locked "
            "VAT terms, review rules and the approval threshold."
        ),
    )
    actions = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")

    def action(
        name: str, help_: str, tenant: bool = True, default: str | None = "cli"
    ) -> argparse.ArgumentParser:
        described = help_[0].upper() + help_[1:] + "."
        q: argparse.ArgumentParser = actions.add_parser(name, help=help_, description=described)
        q.add_argument(
            "--tenant", required=tenant, default=default, type=tenant_id, help="the company"
        )
        q.add_argument(
            "--user", type=user_name, default="cli", help="who acts (written on what changes)"
        )
        return q

    q = action(
        "tax-rates",
        "list the tax rates with their validity (the defaults, or --tenant's)",
        tenant=False,
        default=None,
    )
    q.add_argument("--on", type=iso_date, help="only those valid on this day")
    q.add_argument("--country", help="ISO 3166 code (default: all)")
    q.set_defaults(run=_runner(_tax_rates))
    q = action(
        "set-rate",
        "a SAF-T code's rate from a date on (the defaults, or --tenant's alone; no deploy)",
        tenant=False,
        default=None,
    )
    q.add_argument("--code", required=True, help="SAF-T standard tax code, e.g. 33")
    q.add_argument("--rate", required=True, type=_rate, help="percent, e.g. 12 (none: no rate)")
    q.add_argument("--from", dest="start", required=True, type=iso_date, help="first day")
    q.add_argument("--to", dest="end", type=iso_date, help="last day (default: open)")
    q.add_argument("--country", default="NO", help="ISO 3166 code (default NO)")
    q.add_argument("--tax-type", help="for a new code: regular, middle, low, zero, none …")
    q.add_argument("--direction", choices=("input", "output"), help="for a new code")
    q.add_argument("--account", help="for a new input code: its VAT account")
    q.set_defaults(run=_runner(_set_rate))
    q = action("currencies", "ISO 4217 currencies and their decimals", tenant=False)
    q.set_defaults(run=_runner(_currencies))
    q = action("periods", "the tenant's closed periods and locked VAT terms")
    q.set_defaults(run=_runner(_periods))
    q = action("close", "close a period: nothing dated in it can be posted")
    q.add_argument("--from", dest="start", required=True, type=iso_date, help="first day")
    q.add_argument("--to", dest="end", required=True, type=iso_date, help="last day")
    q.set_defaults(run=_runner(_close))
    q = action("reopen", "reopen a closed period or unlock a VAT term")
    q.add_argument("--from", dest="start", required=True, type=iso_date, help="its first day")
    q.add_argument("--kind", choices=(PERIOD, VAT_TERM), default=PERIOD, help="default period")
    q.set_defaults(run=_runner(_reopen))
    q = action("lock-vat-term", "lock a bi-monthly VAT term once its return is reported")
    q.add_argument("--year", required=True, type=int, help="the year")
    q.add_argument("--term", required=True, type=int, choices=range(1, 7), help="1 to 6")
    q.set_defaults(run=_runner(_lock))
    q = action("review-rules", "show, or change (--set), the review rules and thresholds")
    q.add_argument(
        "--set",
        dest="changes",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="e.g. twoApproversAbove=20000 (JSON values; repeatable)",
    )
    q.set_defaults(run=_runner(_review_rules))


Action = Callable[[RulesService, Principal, argparse.Namespace, TextIO], Awaitable[None]]


def _runner(action: Action) -> Callable[[argparse.Namespace, Container], int]:
    def run(args: argparse.Namespace, container: Container) -> int:
        return asyncio.run(_run(container, args, action, sys.stdout))

    return run


async def _run(container: Container, args: argparse.Namespace, action: Action, out: TextIO) -> int:
    try:
        await migrated_database(container)
        rules: RulesService = await resolve(container.rules)
        tenant = args.tenant if args.tenant is not None else "cli"
        principal = Principal(subject=args.user, tenant_id=tenant, roles=frozenset({CLI_ROLE}))
        await action(rules, principal, args, out)
        return 0
    except BookkeeperError as error:
        print(f"bookkeeper: error: {error}", file=sys.stderr)
        return 1
    finally:
        await shutdown(container)


def _rate_line(r: TaxRate) -> str:
    until = r.valid_to.isoformat() if r.valid_to else "…"
    rate = "—" if r.rate is None else f"{r.rate.normalize():f} %"
    return (
        f"{r.country} {r.saft_code:>3} {r.direction or '-':6} {r.tax_type:9} {rate:>8}  "
        f"{r.valid_from} – {until}" + (f"  {r.account}" if r.account else "")
    )


def _period_line(p: FiscalPeriod) -> str:
    at = f"{p.closed_at:%Y-%m-%d %H:%M}Z"
    return f"{p.kind:8} {p.name:12} {p.start} – {p.end}  by {p.closed_by} at {at}"


async def _tax_rates(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    defaults = args.tenant is None
    for r in await rules.tax_rates(who, args.country, args.on, defaults=defaults):
        print(_rate_line(r), file=out)


async def _set_rate(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    if args.tenant is None:
        added = await rules.change_default_tax_rate(
            saft_code=args.code,
            rate=args.rate,
            valid_from=args.start,
            valid_to=args.end,
            country=args.country,
            tax_type=args.tax_type,
            direction=args.direction,
            account=args.account,
        )
        print(_rate_line(added), file=out)
        return
    added = await rules.change_tax_rate(
        who,
        saft_code=args.code,
        rate=args.rate,
        valid_from=args.start,
        valid_to=args.end,
        country=args.country,
        tax_type=args.tax_type,
        direction=args.direction,
        account=args.account,
    )
    print(_rate_line(added), file=out)


async def _currencies(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    for c in await rules.currencies(who):
        print(f"{c.code} {c.minor_units} {c.name}", file=out)


async def _periods(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    found = await rules.periods(who)
    for p in found:
        print(_period_line(p), file=out)
    if not found:
        print("no closed periods", file=out)


async def _close(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    period, new = await rules.close_period(who, args.start, args.end)
    print(("closed " if new else "already closed ") + _period_line(period), file=out)


async def _reopen(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    if await rules.reopen(who, args.kind, args.start):
        print(f"reopened the {args.kind} from {args.start}", file=out)
    else:
        print(f"no {args.kind} from {args.start} was closed", file=out)


async def _lock(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    period, new = await rules.lock_vat_term(who, args.year, args.term)
    print(("locked " if new else "already locked ") + _period_line(period), file=out)


async def _review_rules(rules: RulesService, who: Principal, args: Any, out: TextIO) -> None:
    if args.changes:
        changes: dict[str, object] = {}
        for item in args.changes:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise _Refused(f"--set takes NAME=VALUE, not {item!r}")
            if name in _REVIEW_DECIMALS and value != "null":
                # An amount or score: plain, as the API takes it (ADR 0049, round two).
                try:
                    changes[name] = str(parse_plain(value.strip('"')))
                except ValueError as error:
                    raise _Refused(f"{name}: {error}") from None
                continue
            try:
                changes[name] = msgspec.json.decode(value)
            except msgspec.DecodeError:
                changes[name] = value  # a bare word
        current = await rules.set_review_rules(who, changes)
    else:
        current = await rules.review_rules(who)
    for name, value in msgspec.to_builtins(current).items():
        print(f"{name} = {msgspec.json.encode(value).decode()}", file=out)


class _Refused(BookkeeperError):
    """A malformed --set."""

    code = "invalid-argument"
