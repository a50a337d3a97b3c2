"""The `bookkeeper` command: serve the API, migrate the database, mint a token, replay.

    bookkeeper serve [--host H] [--port P] [--workers N]
    bookkeeper migrate
    bookkeeper token --subject S --tenant T --role R [--role R2] [--ttl-hours N]
                     [--attr approval_limit=5000 --attr department=sales]
    bookkeeper replay
    bookkeeper execute [--max-passes N]
    bookkeeper policy list [--tenant T]
    bookkeeper policy allow|revoke --role R --action A --tenant T|'*'
    bookkeeper policy grant-role|revoke-role --subject S --role R --tenant T
    bookkeeper chat --tenant T --user U [--channel C]   (stdin: text, or /file PATH)
    bookkeeper export saf-t --tenant T --from D --to D [--out FILE|DIR]
    bookkeeper export events [--tenant T] [--out FILE]     (the log, as `import events` reads it)
    bookkeeper history --tenant T CORRELATION_ID [--json]      (every event of one action)
    bookkeeper credentials set|show|remove|rotate-key|new-key   (a tenant's own Fiken/Folio)

Settings come from BOOKKEEPER_* variables (see bookkeeper.settings). Every command goes
through the container, like the HTTP app. A failure prints one line on stderr and exits
non-zero (2 for bad settings or arguments, 1 otherwise); `token` prints only the token on
stdout so that `TOKEN=$(bookkeeper token …)` works.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Final

from bookkeeper import __version__
from bookkeeper.adapters.auth.errors import SigningKeyError
from bookkeeper.application.execution import Executor
from bookkeeper.application.replay import ReplayReport
from bookkeeper.container import (
    Container,
    Database,
    check_settings,
    migrated_database,
    resolve,
    shutdown,
)
from bookkeeper.domain.errors import BookkeeperError
from bookkeeper.entrypoints.cli.arguments import ask, role_name, tenant_id, tenant_or_any
from bookkeeper.entrypoints.cli.progress import progress
from bookkeeper.entrypoints.http.server import Launch, exec_server, run_granian, run_uvicorn
from bookkeeper.entrypoints.logs import configure_logging
from bookkeeper.entrypoints.serve import open_services
from bookkeeper.settings import Settings, SettingsError

_log = logging.getLogger("bookkeeper.cli")

Command = Callable[[argparse.Namespace, Container], int]


class CommandError(Exception):
    """A command could not do its work; the message is the one line the user sees."""


# --- commands -------------------------------------------------------------------------


def serve(args: argparse.Namespace, container: Container) -> int:
    """Migrate the embedded database, make sure the signing key exists, run the server."""
    settings: Settings = container.settings()
    configure_logging(settings.log_level, settings.log_format)
    # Created here, once, so that several workers do not each generate one.
    container.signing_key()
    _log.info("JWT signing key: %s", settings.jwt_private_key_file)
    database_url = container.redacted_database_url()
    if settings.database_is_embedded_sqlite:
        asyncio.run(_migrate(container))
        _log.info("embedded SQLite database %s is migrated", database_url)
    else:
        # Not migrated here (`bookkeeper migrate`, once, for every replica), but checked:
        # a database never migrated, or left behind by an upgrade, was served healthy and
        # ready while every request that touched it failed with 500.
        asyncio.run(_check_schema(container))
        _log.info("database %s is at this version's schema", database_url)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    launch = Launch(
        server=settings.server,
        host=host,
        port=port,
        workers=args.workers,
        log_level=settings.log_level,
        access_log=settings.log_level == "DEBUG",
        health_timeout=settings.worker_health_timeout_seconds,
        shutdown_grace=settings.shutdown_grace_seconds,
    )
    if port == 0:
        # The system picks the port when the server binds it: logging ":0" here named an
        # address nobody can reach. uvicorn (and the supervisor of several workers) log the
        # port they were given ("Uvicorn running on http://127.0.0.1:40823").
        _log.info(
            "serving on http://%s with a port the system chooses, logged by the server once "
            "bound, with %d worker(s) (%s)",
            host,
            args.workers,
            settings.server,
        )
    else:
        _log.info(
            "serving on http://%s:%d with %d worker(s) (%s)",
            host,
            port,
            args.workers,
            settings.server,
        )
    # Issue 14 (P7): the server and its workers need none of what this process imported
    # to prepare; it becomes a lean process that imports only the server (returns only if
    # it cannot, and then serves from here as before).
    if settings.server != "granian" or importlib.util.find_spec("granian") is not None:
        exec_server(launch)
    if settings.server == "granian":
        _serve_granian(launch)
        return 0
    run_uvicorn(launch)
    return 0


def _serve_granian(launch: Launch) -> None:
    """The app in granian (BOOKKEEPER_SERVER=granian, ADR 0039), in this process: only when
    the lean server process could not be started (see `exec_server`)."""
    if importlib.util.find_spec("granian") is None:
        raise CommandError(
            "BOOKKEEPER_SERVER=granian needs granian: pip install 'bookkeeper[granian]'"
        )
    run_granian(launch)


def migrate(args: argparse.Namespace, container: Container) -> int:
    """alembic upgrade head on the configured database."""
    configure_logging(container.settings().log_level, container.settings().log_format)
    asyncio.run(_migrate(container))
    print(f"migrated {container.redacted_database_url()}")
    return 0


def token(args: argparse.Namespace, container: Container) -> int:
    """Mint a token with the local key (created if missing) and print only the token."""
    # No longer than the API accepts (ADR 0013 addendum): a token it would refuse is no use.
    longest = container.settings().jwt_max_lifetime_hours
    if not 0 < args.ttl_hours <= longest:
        raise CommandError(
            f"--ttl-hours must be between 1 and {longest} "
            "(BOOKKEEPER_JWT_MAX_LIFETIME_HOURS, the longest lifetime the API accepts)"
        )
    attributes: dict[str, str] = {}
    for pair in args.attr:
        name, equals, value = pair.partition("=")
        if not equals or name.strip() in attributes:
            raise CommandError(f"--attr must be NAME=VALUE, each name once; got {name!r}")
        attributes[name.strip()] = value.strip()
    if container.settings().oidc_issuer is not None:
        print(
            "warning: BOOKKEEPER_OIDC_ISSUER is set, so the API accepts only the issuer's "
            "tokens, not this local one",
            file=sys.stderr,
        )
    issuer = container.token_issuer()
    try:
        minted = issuer.mint(
            subject=args.subject,
            tenant=args.tenant,
            roles=args.role,
            ttl=timedelta(hours=args.ttl_hours),
            attributes=attributes,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(minted)
    return 0


def replay(args: argparse.Namespace, container: Container) -> int:
    """Drop and rebuild every projection from the event log."""
    configure_logging(container.settings().log_level, container.settings().log_format)
    with progress("Rebuilding the read models", unit="events") as bar:
        report = asyncio.run(_replay(container, bar.update))
    print(
        f"events={report.events} proposals={report.proposals} patterns={report.patterns} "
        f"journal_entries={report.journal_entries}"
    )
    return 0


def execute(args: argparse.Namespace, container: Container) -> int:
    """Execute the approved proposals that are due, then exit (a cron job, or a worker
    beside API replicas that run with BOOKKEEPER_EXECUTOR=off)."""
    configure_logging(container.settings().log_level, container.settings().log_format)
    totals = asyncio.run(_execute(container, args.max_passes))
    print(" ".join(f"{name}={value}" for name, value in totals.items()))
    return 1 if totals["claim_errors"] else 0


def policy(args: argparse.Namespace, container: Container) -> int:
    """List or change the authorization policy in the database; running services pick a
    change up within BOOKKEEPER_POLICY_RELOAD_SECONDS, without a restart."""
    from bookkeeper.adapters.auth.casbin_authorizer import PolicyError

    configure_logging(container.settings().log_level, container.settings().log_format)
    if args.policy_command in ("allow", "revoke") and args.tenant is None:
        args.tenant = _ask_tenant(args.policy_command)
        if args.tenant is None:
            raise CommandError(
                f"policy {args.policy_command} needs --tenant: the tenant it applies in, or "
                f"--tenant '*' to {args.policy_command} it in every tenant"
            )
    try:
        lines = asyncio.run(_policy(container, args))
    except PolicyError as error:
        raise CommandError(str(error)) from None
    for line in lines:
        print(line)
    return 0


def _ask_tenant(command: str) -> str | None:
    """On a terminal, ask which tenant a rule change applies in (never assume every one);
    None when not asked or not answered with a usable tenant id or '*'."""
    answer = ask(f"policy {command}: which tenant? (a tenant id, or * for every tenant): ")
    if answer is None:
        return None
    try:
        return tenant_or_any(answer)
    except argparse.ArgumentTypeError as error:
        raise CommandError(str(error)) from None


async def _policy(container: Container, args: argparse.Namespace) -> list[str]:
    from bookkeeper.adapters.auth.casbin_authorizer import (
        MemoryPolicyStore,
        PolicyAdmin,
        PolicyError,
        store_for,
    )

    try:
        database: Database = await migrated_database(container)
        store = store_for(database)
        if isinstance(store, MemoryPolicyStore):
            raise PolicyError("policies are stored in a database file or server only")
        try:
            admin = await asyncio.to_thread(PolicyAdmin, store)
            match args.policy_command:
                case "list":
                    return await asyncio.to_thread(admin.listing, args.tenant)
                case "allow" | "revoke":
                    change = admin.allow if args.policy_command == "allow" else admin.revoke
                    return [await asyncio.to_thread(change, args.role, args.action, args.tenant)]
                case _:
                    grant = (
                        admin.grant_role
                        if args.policy_command == "grant-role"
                        else admin.revoke_role
                    )
                    return [await asyncio.to_thread(grant, args.subject, args.role, args.tenant)]
        finally:
            store.close()
    finally:
        await shutdown(container)


async def _migrate(container: Container) -> None:
    try:
        database: Database = await resolve(container.database)
        await database.migrate()
        # A database that already holds rows (restored, upgraded) gets its first
        # statistics now rather than at the serve's first look (ADR 0048).
        first_statistics = await resolve(container.first_statistics)
        if first_statistics is not None:
            await first_statistics.run()
    finally:
        await shutdown(container)


async def _check_schema(container: Container) -> None:
    try:
        database: Database = await resolve(container.database)
        await database.check_schema()
    finally:
        await shutdown(container)


async def _replay(container: Container, step: Callable[[int], None]) -> ReplayReport:
    try:
        replay = await resolve(container.replay)
        report: ReplayReport = await replay(step)
        return report
    finally:
        await shutdown(container)


async def _execute(container: Container, max_passes: int) -> dict[str, int]:
    totals = dict.fromkeys(
        ("claimed", "executed", "retried", "failed", "abandoned", "reconciled", "claim_errors"),
        0,
    )
    try:
        await open_services(container)  # migrated, with the log's subscribers
        executor: Executor = await resolve(container.executor)
        for _ in range(max_passes):
            report = await executor.run_once()
            for name in totals:
                if name != "claim_errors":
                    totals[name] += getattr(report, name)
            if report.claim_error is not None:
                totals["claim_errors"] += 1
                raise CommandError(f"could not claim work: {report.claim_error}")
            if report.claimed < executor.policy.batch_size:
                break  # nothing more is due now
        return totals
    finally:
        await shutdown(container)


# --- parsing and running ----------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    """A port to bind; 0 lets the system pick a free one (the server logs which)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0 (any free port) to 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bookkeeper",
        description="Event-sourced accounting agent. Settings come from BOOKKEEPER_* variables.",
    )
    parser.add_argument("--version", action="version", version=f"bookkeeper {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="run the HTTP API (migrates the embedded SQLite DB)")
    p.add_argument("--host", help="address to bind (default BOOKKEEPER_HOST or 127.0.0.1)")
    p.add_argument(
        "--port", type=_port, help="port (default BOOKKEEPER_PORT or 8000; 0: any free one)"
    )
    p.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    p.set_defaults(run=serve)

    p = commands.add_parser("migrate", help="upgrade the configured database to the newest schema")
    p.set_defaults(run=migrate)

    p = commands.add_parser("token", help="print a bearer token signed with the local key")
    p.add_argument("--subject", required=True, help="who: book-e, review-e or a person's name")
    p.add_argument("--tenant", required=True, type=tenant_id, help="the company the token is for")
    p.add_argument(
        "--role",
        required=True,
        action="append",
        type=role_name,
        help="admin, accountant, compliance, reviewer, agent, system or viewer; repeat for several",
    )
    p.add_argument("--ttl-hours", type=_positive, default=24, help="lifetime (default 24)")
    p.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an ABAC attribute: approval_limit=5000 or department=sales; repeatable",
    )
    p.set_defaults(run=token)

    p = commands.add_parser("replay", help="rebuild the read models from the event log")
    p.set_defaults(run=replay)

    p = commands.add_parser(
        "execute", help="carry out the approved proposals that are due, then exit"
    )
    p.add_argument(
        "--max-passes", type=_positive, default=100, help="at most this many batches (100)"
    )
    p.set_defaults(run=execute)

    p = commands.add_parser("policy", help="list or change who may do what, per tenant")
    actions = p.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    q = actions.add_parser("list", help="the rules and role grants (of one tenant: --tenant)")
    q.add_argument("--tenant", type=tenant_or_any, help="only the rules that apply in this tenant")
    for name, text in (
        ("allow", "let a role do an action in one tenant (--tenant T) or every one (--tenant '*')"),
        ("revoke", "take an action from a role in one tenant (--tenant T) or every one ('*')"),
    ):
        q = actions.add_parser(name, help=text)
        q.add_argument(
            "--role", required=True, type=role_name, help="admin, accountant, reviewer, ..."
        )
        q.add_argument("--action", required=True, help="e.g. proposals:decide")
        q.add_argument(
            "--tenant",
            type=tenant_or_any,
            help="the tenant it applies in, or '*' for every tenant (asked for on a terminal)",
        )
    for name, text in (
        ("grant-role", "give a subject a role in one tenant"),
        ("revoke-role", "take a role granted with grant-role away"),
    ):
        q = actions.add_parser(name, help=text)
        q.add_argument("--subject", required=True, help="the token's subject (sub)")
        q.add_argument(
            "--role", required=True, type=role_name, help="admin, accountant, reviewer, ..."
        )
        q.add_argument(
            "--tenant", required=True, type=tenant_id, help="the tenant the role holds in"
        )
    p.set_defaults(run=policy)

    from bookkeeper.entrypoints.chat import add_parser as add_chat

    add_chat(commands)
    from bookkeeper.entrypoints.export_cli import add_parser as add_export

    add_export(commands)
    from bookkeeper.entrypoints.seal_cli import add_parser as add_seal

    add_seal(commands)
    from bookkeeper.entrypoints.check_cli import add_parser as add_check

    add_check(commands)
    from bookkeeper.entrypoints.retention_cli import add_parser as add_retention

    add_retention(commands)
    from bookkeeper.entrypoints.rules_cli import add_parser as add_rules

    add_rules(commands)
    from bookkeeper.entrypoints.import_cli import add_parser as add_import

    add_import(commands)
    from bookkeeper.entrypoints.spending_cli import add_parser as add_spending

    add_spending(commands)
    from bookkeeper.entrypoints.credentials_cli import add_parser as add_credentials

    add_credentials(commands)
    from bookkeeper.entrypoints.history_cli import add_parser as add_history

    add_history(commands)
    from bookkeeper.entrypoints.cli.help import describe

    return describe(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is the return value."""
    args = build_parser().parse_args(argv)
    run: Command = args.run
    container = Container()
    try:
        check_settings(container)  # read and checked once, before any command does anything
        return run(args, container)
    except SettingsError as error:
        _fail(str(error))
        return 2
    except KeyboardInterrupt:
        return 130
    except (CommandError, SigningKeyError) as error:
        _fail(str(error))
        return 1
    except BookkeeperError as error:  # ours: the message is written for people
        _log.debug("command failed", exc_info=error)
        _fail(_first_line(error.message) or error.code)
        return 1
    except OSError as error:  # a file, directory or connection the command named
        _log.debug("command failed", exc_info=error)
        _fail(_first_line(_os_message(error)) or UNEXPECTED)
        return 1
    except Exception as error:  # the last line of defence: one line, not a traceback
        # A person reads it: the message alone, never a Python class name.
        _log.debug("command failed", exc_info=error)
        first_line = _first_line(str(error))
        _fail(f"{UNEXPECTED}: {first_line}" if first_line else UNEXPECTED)
        return 1


def _os_message(error: OSError) -> str:
    """What the system says (`No such file or directory: 'x.xml'`), without its errno."""
    if error.strerror and error.filename is not None:
        return f"{error.strerror}: {error.filename!r}"
    return error.strerror or str(error)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


#: What the CLI says of an error that is not ours (a defect): where to look for more.
UNEXPECTED: Final = "the command failed unexpectedly (BOOKKEEPER_LOG_LEVEL=DEBUG shows where)"


def _fail(message: str) -> None:
    print(f"bookkeeper: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
