"""`bookkeeper chat --tenant T --user U`: talk to the agent in a terminal, or in a script.

    printf '/file receipt.pdf\nhva er saldoen?\n' | bookkeeper chat --tenant acme --user ola

Reads stdin line by line. `/file PATH` sends that file (its type is read from its bytes:
PDF, JPEG or PNG) with the rest of the line after the path, if any, as the message; any
other line is a message. Only a regular file of at most the document limit (10 MB) is
read: a pipe or a device (/dev/zero) is refused by name, not read. The agent's replies
are printed, then — after the executor has carried out what is due — the news of the
channel's proposals (executed, rejected with a question back, failed). End of input exits 0.

Everything runs in this process through the container, like `serve`
(entrypoints/serve.py: the same services and subscribers): the document pipeline, the
executor, the bank and books lookups, on the configured database (the
embedded SQLite file by default, migrated first) and backends (the sandbox unless Fiken
and Folio are configured). The user acts as a principal of that tenant with the role
`agent` — they may upload documents, make proposals and ask read-only questions, never
approve — and is recorded on events as `human:<user>`. The channel is `cli:<user>` unless
`--channel` names another (the conversation memory is per channel).

On a terminal (stdin and stdout both a TTY) it greets the user with what it can do and
reads with a prompt (`du> `) with line editing and history (prompt_toolkit); piped or
scripted input is read exactly as before, without greeting or prompt. While chatting only
warnings and errors are logged (to stderr), so log lines do not interrupt the
conversation; and every error is answered with a sentence (a missing file: "Fant ikke
filen …" / "Could not find the file …"), after which the conversation goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import stat
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bookkeeper.application import messages as m
from bookkeeper.application.conversation import Attachment, ConversationService, Reply
from bookkeeper.application.documents import MAX_DOCUMENT_BYTES
from bookkeeper.application.errors import ApplicationError
from bookkeeper.application.execution import Executor
from bookkeeper.application.failures import explain_error
from bookkeeper.application.morning import todays_summary
from bookkeeper.application.ports import Principal
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.entrypoints.cli.arguments import tenant_id, user_name
from bookkeeper.entrypoints.logs import configure_logging
from bookkeeper.entrypoints.serve import open_services

#: The role the chat user acts with.
CHAT_ROLE = "agent"
PROMPT_PREFIX = "book-e> "
#: Executor passes run after each line at most (each handles up to a batch).
MAX_EXECUTOR_PASSES = 10
#: The terminal conversation's line history, in the data directory (owner-only).
HISTORY_FILE = "chat-history"
#: What the user types after, on a terminal.
USER_PROMPT = "du> "
GREETING = (
    "Hei! Jeg er book-e, bokføringsassistenten. Send en kvittering eller faktura med "
    "/file STI (PDF, JPEG eller PNG), så foreslår jeg bokføringen; eller spør om «saldo», "
    "«mangler kvittering», «leverandørfakturaer» eller «mva». Avslutt med Ctrl-D.\n"
    "Hi! I am book-e, the bookkeeping assistant. Send a receipt or an invoice with "
    '/file PATH, or ask about the "balance", "missing receipts", "supplier invoices" or '
    '"VAT". '
    "Ctrl-D ends the conversation."
)

_log = logging.getLogger(__name__)


class FileUnreadable(Exception):
    """A `/file` line whose file cannot be read; `kind` picks the sentence."""

    def __init__(self, kind: str, path: str = "", reason: str = "") -> None:
        super().__init__(kind)
        self.kind, self.path, self.reason = kind, path, reason

    def sentence(self, language: m.Language) -> str:
        return m.text(f"chat.{self.kind}", language, path=self.path, reason=self.reason)


def chat(args: argparse.Namespace, container: Container) -> int:
    """The `chat` command (see the module docstring)."""
    settings = container.settings()
    # Only warnings and errors while chatting: INFO lines would land in the conversation.
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.WARNING)
    configure_logging(logging.getLevelName(max(level, logging.WARNING)), settings.log_format)
    channel = args.channel or f"cli:{args.user}"
    return asyncio.run(run_chat(container, args.tenant, args.user, channel, sys.stdin, sys.stdout))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `chat` on the CLI's subcommands."""
    p = commands.add_parser(
        "chat", help="talk to the agent: documents with /file PATH, questions as text (stdin)"
    )
    p.add_argument("--tenant", type=tenant_id, required=True, help="the company to work in")
    p.add_argument(
        "--user", type=user_name, required=True, help="who is writing (acts with the role agent)"
    )
    p.add_argument("--channel", help="the conversation's channel (default cli:<user>)")
    p.set_defaults(run=chat)


async def run_chat(
    container: Container,
    tenant: str,
    user: str,
    channel: str,
    lines: TextIO,
    out: TextIO,
    *,
    interactive: bool | None = None,
) -> int:
    """Answer each line of `lines` on `out` until end of input; 0. `interactive` (default:
    both are terminals) greets and prompts; otherwise lines are read as they come."""
    if interactive is None:
        interactive = _is_terminal(lines) and _is_terminal(out)
    read = _reader(lines, out, interactive, container.settings().data_dir / HISTORY_FILE)
    language: m.Language = m.NORWEGIAN
    try:
        services = await open_services(container)
        conversation: ConversationService = services.conversation
        executor: Executor | None = None
        if container.settings().executor_enabled:
            executor = await resolve(container.executor)
        principal = Principal(subject=user, tenant_id=tenant, roles=frozenset({CHAT_ROLE}))
        if interactive:
            _print(out, [_format_text(GREETING)])
        summary = await _todays_summary(container, tenant)
        if summary:
            _print(out, [summary])
        while True:
            line = await read()
            if not line:
                return 0
            text = line.strip()
            if not text:
                continue
            language = _language_of(text, language)
            try:
                message, attachments = parse_line(text)
                replies = await conversation.handle(principal, channel, message, attachments)
            except FileUnreadable as error:
                _print(out, [_format_text(error.sentence(language))])
                continue
            except ApplicationError as error:
                reason = explain_error(error, language)
                _print(out, [_format_text(m.text("chat.failed", language, reason=reason))])
                continue
            except Exception as error:  # a defect: say so in a sentence, log it, go on
                _log.warning("chat line failed", exc_info=error)
                reason = explain_error(error, language)  # a sentence, not a class name
                _print(out, [_format_text(m.text("chat.failed", language, reason=reason))])
                continue
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
        raise FileUnreadable("usage")
    path_text, _, message = rest.partition(" ")
    path = Path(path_text).expanduser()
    try:
        content = _read_document(path, path_text)
    except FileNotFoundError:
        raise FileUnreadable("missing", path_text) from None
    except IsADirectoryError:
        raise FileUnreadable("folder", path_text) from None
    except PermissionError:
        raise FileUnreadable("denied", path_text) from None
    except OSError as error:
        raise FileUnreadable("other", path_text, error.strerror or str(error) or "I/O") from None
    return message.strip(), [(content, None, path.name)]


def _read_document(path: Path, path_text: str) -> bytes:
    """The bytes of the file at `path`, at most MAX_DOCUMENT_BYTES of them. Only a regular
    file is opened: reading a pipe waits for a writer that may never come, and a device
    such as /dev/zero never ends. Of a regular file one byte more than a document may hold
    is read, so a larger one is refused unread rather than loaded whole (the pipeline
    would refuse it after)."""
    if path.is_dir():
        raise IsADirectoryError(path_text)
    if not stat.S_ISREG(path.stat().st_mode):
        raise FileUnreadable("not_a_file", path_text)
    with path.open("rb") as file:
        content = file.read(MAX_DOCUMENT_BYTES + 1)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise FileUnreadable("too_large", path_text, str(MAX_DOCUMENT_BYTES // (1024 * 1024)))
    return content


def _language_of(text: str, previous: m.Language) -> m.Language:
    """The language of a line; a bare `/file PATH` keeps the conversation's language."""
    if text.startswith("/file"):
        text = text.removeprefix("/file").strip().partition(" ")[2]
    return m.detect_language(text, previous)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: not a terminal
        return False


def _reader(
    lines: TextIO, out: TextIO, interactive: bool, history: Path | None = None
) -> Callable[[], Awaitable[str]]:
    """How the next line is read: as it comes when scripted; with a prompt otherwise
    (prompt_toolkit's line editing, and its history kept in `history` across sessions —
    readable by the owner only — on the process's own terminal)."""
    if not interactive:
        return lambda: asyncio.to_thread(lines.readline)
    if lines is sys.stdin and out is sys.stdout:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory

        kept: History = InMemoryHistory()
        if history is not None:
            try:
                history.parent.mkdir(parents=True, exist_ok=True)
                history.touch(mode=0o600, exist_ok=True)
                kept = FileHistory(str(history))
            except OSError as error:  # a read-only data dir: history for this session only
                _log.warning("chat history not kept in %s: %s", history, error.strerror)
        session: PromptSession[str] = PromptSession(history=kept)

        async def prompted() -> str:
            try:
                return await session.prompt_async(USER_PROMPT) + "\n"
            except EOFError:
                return ""
            except KeyboardInterrupt:
                return "\n"  # Ctrl-C clears the line, as in a shell; Ctrl-D ends

        return prompted

    async def plain() -> str:
        out.write(USER_PROMPT)
        out.flush()
        return await asyncio.to_thread(lines.readline)

    return plain


def _format(reply: Reply) -> str:
    return _format_text(reply.text)


def _format_text(text: str) -> str:
    body = text.replace("\n", "\n" + " " * len(PROMPT_PREFIX))
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
