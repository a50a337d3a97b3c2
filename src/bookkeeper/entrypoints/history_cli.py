"""`bookkeeper history`: every event of one action, by its correlation id (story 10).

    bookkeeper history --tenant T CORRELATION_ID [--json]

What `GET /correlations/{id}` answers, for the auditor or operator at the machine: the
proposal, its decisions, each execution attempt, the journal entries it posted, the
alerts, reversals and corrections that point at it — in the log's order (position: as
written, even where timestamps are equal or a writer's clock was behind).
One line per event: position, the time in Norway (and in UTC, as recorded), type,
status and actor; `--json` prints each event as the route's `items` do, one JSON object
a line (for jq or a file). Runs as the operator (`--user`, role admin), who has the
database anyway; an id with no events is exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC
from typing import Any, TextIO

import msgspec

from bookkeeper.application.errors import NotFound
from bookkeeper.application.ports import Principal, RecordedEvent
from bookkeeper.application.queries import Queries
from bookkeeper.container import Container, migrated_database, resolve, shutdown
from bookkeeper.entrypoints.cli.arguments import tenant_id, user_name
from bookkeeper.entrypoints.http.wire import event_out
from bookkeeper.settings import OSLO

CLI_ROLE = "admin"


def add_parser(commands: Any) -> None:
    """Register `history` on the CLI's subcommands."""
    p = commands.add_parser(
        "history", help="every event of one action, by correlation id (as GET /correlations)"
    )
    p.add_argument("correlation_id", type=uuid.UUID, metavar="CORRELATION_ID")
    p.add_argument("--tenant", type=tenant_id, required=True, help="the tenant of the action")
    p.add_argument("--json", action="store_true", help="one JSON object per event and line")
    p.add_argument(
        "--user", type=user_name, default="cli", help="who reads (recorded nowhere; default cli)"
    )
    p.set_defaults(run=history)


def history(args: argparse.Namespace, container: Container) -> int:
    try:
        events = asyncio.run(read_history(container, args.tenant, args.user, args.correlation_id))
    except NotFound as error:
        print(f"bookkeeper: error: {error} in tenant {args.tenant}", file=sys.stderr)
        return 1
    write(events, sys.stdout, as_json=args.json)
    return 0


async def read_history(
    container: Container, tenant: str, user: str, correlation_id: uuid.UUID
) -> list[RecordedEvent]:
    """The action's events, oldest first (NotFound when there are none)."""
    try:
        await migrated_database(container)
        queries: Queries = await resolve(container.queries)
        principal = Principal(subject=user, tenant_id=tenant, roles=frozenset({CLI_ROLE}))
        return await queries.correlation(principal, correlation_id)
    finally:
        await shutdown(container)


def write(events: list[RecordedEvent], out: TextIO, *, as_json: bool) -> None:
    """One line per event: JSON as the HTTP route writes it, or a line for people."""
    if as_json:
        encoder = msgspec.json.Encoder(decimal_format="string")
        for event in events:
            out.write(encoder.encode(event_out(event)).decode() + "\n")
        return
    for event in events:
        local = event.created_at.astimezone(OSLO)
        status = event.status.value if event.status is not None else "-"
        out.write(
            f"{event.position:>8}  {local:%d.%m.%Y %H:%M:%S %Z}"
            f" ({event.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"
            f"  {event.type:<32} {status:<10} {event.actor}  {event.id}\n"
        )
