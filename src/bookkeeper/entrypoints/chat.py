"""`bookkeeper chat --tenant T --user U`: talk to the agent in a terminal, or in a script.

    printf '/file receipt.pdf\nhva er saldoen?\n' | bookkeeper chat --tenant acme --user ola

Reads stdin line by line. `/file PATH` sends that file (its type is read from its bytes:
PDF, JPEG or PNG) with the rest of the line after the path, if any, as the message; any
other line is a message. The agent's replies are printed, then — after the executor has
carried out what is due — the news of the channel's proposals (executed, rejected with a
question back, failed). End of input exits 0.

Everything runs in this process through the container, like `serve`
(entrypoints/serve.py: the same services and subscribers): the document pipeline, the
executor, the bank and books lookups, on the configured database (the
embedded SQLite file by default, migrated first) and backends (the sandbox unless Fiken
and Folio are configured). The user acts as a principal of that tenant with the role
`agent` — they may upload documents, make proposals and ask read-only questions, never
approve — and is recorded on events as `human:<user>`. The channel is `cli:<user>` unless
`--channel` names another (the conversation memory is per channel).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bookkeeper.application.conversation import Attachment, ConversationService, Reply
from bookkeeper.application.execution import Executor
from bookkeeper.application.morning import todays_summary
from bookkeeper.application.ports import Principal
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.entrypoints.logs import configure_logging
from bookkeeper.entrypoints.serve import open_services

#: The role the chat user acts with.
CHAT_ROLE = "agent"
PROMPT_PREFIX = "book-e> "
#: Executor passes run after each line at most (each handles up to a batch).
MAX_EXECUTOR_PASSES = 10


def chat(args: argparse.Namespace, container: Container) -> int:
    """The `chat` command (see the module docstring)."""
    settings = container.settings()
    configure_logging(settings.log_level, settings.log_format)
    channel = args.channel or f"cli:{args.user}"
    return asyncio.run(run_chat(container, args.tenant, args.user, channel, sys.stdin, sys.stdout))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `chat` on the CLI's subcommands."""
    p = commands.add_parser(
        "chat", help="talk to the agent: documents with /file PATH, questions as text (stdin)"
    )
    p.add_argument("--tenant", required=True, help="the company to work in")
    p.add_argument("--user", required=True, help="who is writing (acts with the role agent)")
    p.add_argument("--channel", help="the conversation's channel (default cli:<user>)")
    p.set_defaults(run=chat)


async def run_chat(
    container: Container,
    tenant: str,
    user: str,
    channel: str,
    lines: TextIO,
    out: TextIO,
) -> int:
    """Answer each line of `lines` on `out` until end of input; 0."""
    try:
        services = await open_services(container)
        conversation: ConversationService = services.conversation
        executor: Executor | None = None
        if container.settings().executor_enabled:
            executor = await resolve(container.executor)
        principal = Principal(subject=user, tenant_id=tenant, roles=frozenset({CHAT_ROLE}))
        summary = await _todays_summary(container, tenant)
        if summary:
            _print(out, [summary])
        while True:
            line = await asyncio.to_thread(lines.readline)
            if not line:
                return 0
            text = line.strip()
            if not text:
                continue
            try:
                message, attachments = parse_line(text)
            except OSError as error:
                _print(out, [f"{PROMPT_PREFIX}cannot read the file: {error}"])
                continue
            replies = await conversation.handle(principal, channel, message, attachments)
            _print(out, [_format(r) for r in replies])
            if executor is not None:
                for _ in range(MAX_EXECUTOR_PASSES):
                    report = await executor.run_once()
                    if report.claimed < executor.policy.batch_size:
                        break
            news = await conversation.updates(principal, channel)
            _print(out, [_format(r) for r in news])
    finally:
        await shutdown(container)


def parse_line(text: str) -> tuple[str, list[Attachment]]:
    """A line as (message, attachments): `/file PATH [message]` reads the file."""
    if not text.startswith("/file"):
        return text, []
    rest = text.removeprefix("/file").strip()
    if not rest:
        raise OSError("usage: /file PATH")
    path_text, _, message = rest.partition(" ")
    path = Path(path_text).expanduser()
    content = path.read_bytes()
    return message.strip(), [(content, None, path.name)]


def _format(reply: Reply) -> str:
    body = reply.text.replace("\n", "\n" + " " * len(PROMPT_PREFIX))
    return f"{PROMPT_PREFIX}{body}"


def _print(out: TextIO, texts: list[str]) -> None:
    for text in texts:
        print(text, file=out)
    out.flush()


async def _todays_summary(container: Container, tenant: str) -> str | None:
    """Today's morning summary of the tenant, if the morning check has run (ADR 0023)."""
    return await todays_summary(
        await resolve(container.uow_factory), await resolve(container.clock), tenant
    )
