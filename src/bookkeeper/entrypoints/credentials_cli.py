"""`bookkeeper credentials`: a tenant's own Fiken and Folio credentials (issue 14, ADR 0036).

    bookkeeper credentials set --tenant T fiken --company SLUG [--base-url URL]
    bookkeeper credentials set --tenant T folio [--base-url URL]
    bookkeeper credentials show --tenant T
    bookkeeper credentials remove --tenant T fiken|folio
    bookkeeper credentials rotate-key [--user NAME]
    bookkeeper credentials new-key

The token is read from stdin — a prompt without echo on a terminal, the first line of a
pipe otherwise (`printf %s "$TOKEN" | bookkeeper credentials set …`) — never from the
command line, where every user of the machine could read it in `ps`. It is stored
encrypted with the first key of BOOKKEEPER_CREDENTIALS_KEY (comma-separated Fernet keys;
`new-key` prints a fresh one); without a key, `set` refuses. `show` prints the provider,
the company, who set it and when, and a short fingerprint — never the secret.

Rotating the key: put a new key first in BOOKKEEPER_CREDENTIALS_KEY (keep the old one
after it), run `bookkeeper credentials rotate-key` (every secret re-encrypted with the
first key, in one transaction, with one CredentialsReencrypted event in the log of each
tenant concerned, recording `--user` as who did it), then drop the old key from the variable.

Whoever runs the CLI has the database anyway: the principal is `--user` (default `cli`)
with the admin role of the tenant, recorded as who set the credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from bookkeeper.application.credentials import PROVIDERS, CredentialsService
from bookkeeper.application.errors import NotFound
from bookkeeper.application.ports import Principal
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.domain.errors import BookkeeperError
from bookkeeper.entrypoints.cli.arguments import tenant_id, user_name
from bookkeeper.entrypoints.serve import open_services

CLI_ROLE = "admin"


def add_parser(commands: Any) -> None:
    """Register `credentials set|show|remove|rotate-key|new-key` on the CLI's subcommands."""
    p = commands.add_parser(
        "credentials", help="a tenant's own Fiken and Folio credentials (stored encrypted)"
    )
    actions = p.add_subparsers(dest="credentials_command", required=True, metavar="ACTION")
    q = actions.add_parser(
        "set", help="store a tenant's token (read from stdin or a prompt, never from argv)"
    )
    q.add_argument("provider", choices=PROVIDERS)
    q.add_argument("--company", help="the Fiken company slug (required for fiken)")
    q.add_argument("--base-url", help="another API base URL than the environment's")
    q.set_defaults(run=_run(set_credentials))
    q = actions.add_parser("show", help="what is stored for a tenant (never the secret)")
    q.set_defaults(run=_run(show))
    q = actions.add_parser("remove", help="remove a tenant's own credentials of a provider")
    q.add_argument("provider", choices=PROVIDERS)
    q.set_defaults(run=_run(remove))
    for action in ("set", "show", "remove"):
        parser = actions.choices[action]
        parser.add_argument("--tenant", required=True, type=tenant_id, help="the company")
        parser.add_argument(
            "--user", type=user_name, default="cli", help="who acts (recorded as the actor)"
        )
    q = actions.add_parser(
        "rotate-key", help="re-encrypt every stored secret with the first key of the variable"
    )
    q.add_argument("--user", type=user_name, default="cli", help="who acts (recorded as the actor)")
    q.set_defaults(run=_run(rotate_key))
    q = actions.add_parser("new-key", help="print a fresh key for BOOKKEEPER_CREDENTIALS_KEY")
    q.set_defaults(run=new_key)


def new_key(args: argparse.Namespace, container: Container) -> int:
    from bookkeeper.adapters.credentials.fernet import new_key as fresh

    print(fresh())
    return 0


def _run(command: Any) -> Any:
    def run(args: argparse.Namespace, container: Container) -> int:
        code: int = asyncio.run(_with_service(container, command, args, sys.stdout))
        return code

    return run


async def _with_service(container: Container, command: Any, args: Any, out: TextIO) -> int:
    try:
        await open_services(container)
        service: CredentialsService = await resolve(container.credentials)
        try:
            code: int = await command(service, args, out)
        except BookkeeperError as error:
            print(f"bookkeeper: error: {error.message}", file=sys.stderr)
            return 1
        return code
    finally:
        await shutdown(container)


def _principal(args: Any) -> Principal:
    return Principal(subject=args.user, tenant_id=args.tenant, roles=frozenset({CLI_ROLE}))


def read_secret(provider: str, stdin: TextIO | None = None) -> str | None:
    """The token: asked for without echo on a terminal, else the first line of stdin."""
    stream = stdin or sys.stdin
    if stream.isatty():
        import getpass

        try:
            return getpass.getpass(f"{provider} token (not shown): ")
        except EOFError:
            return None
    line = stream.readline()
    return line.rstrip("\r\n") or None


async def set_credentials(service: CredentialsService, args: Any, out: TextIO) -> int:
    secret = read_secret(args.provider)
    if not secret:
        print(
            "bookkeeper: error: no token: type it at the prompt or pipe it on stdin",
            file=sys.stderr,
        )
        return 2
    info = await service.set(
        _principal(args),
        args.tenant,
        args.provider,
        secret,
        company=args.company,
        base_url=args.base_url,
    )
    company = f", company {info.company}" if info.company else ""
    print(
        f"{info.provider} credentials of {info.tenant_id} stored encrypted{company} "
        f"({info.fingerprint}, version {info.version})",
        file=out,
    )
    return 0


async def show(service: CredentialsService, args: Any, out: TextIO) -> int:
    found = await service.show(_principal(args), args.tenant)
    if not found:
        print(
            f"{args.tenant}: no credentials of its own (the environment's, or the sandbox)",
            file=out,
        )
        return 0
    print("provider\tcompany\tbase URL\tfingerprint\tset by\tset at (UTC)\tversion", file=out)
    for info in found:
        print(
            f"{info.provider}\t{info.company or '-'}\t{info.base_url or '-'}\t{info.fingerprint}"
            f"\t{info.set_by}\t{info.set_at.isoformat(timespec='seconds')}\t{info.version}",
            file=out,
        )
    return 0


async def remove(service: CredentialsService, args: Any, out: TextIO) -> int:
    try:
        await service.remove(_principal(args), args.tenant, args.provider)
    except NotFound:
        print(f"{args.tenant}: no {args.provider} credentials of its own", file=out)
        return 1
    print(f"{args.provider} credentials of {args.tenant} removed", file=out)
    return 0


async def rotate_key(service: CredentialsService, args: Any, out: TextIO) -> int:
    # The operator's act: recorded as human:<user> in each tenant's log.
    actor = Principal(subject=args.user, tenant_id="-", roles=frozenset({CLI_ROLE})).actor
    count = await service.rotate_key(actor)
    print(f"{count} secret(s) re-encrypted with the first key", file=out)
    return 0
