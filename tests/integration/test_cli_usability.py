"""The CLI as a person uses it: descriptions, a policy change that names its tenant, and a
terminal conversation that greets, prompts, keeps logs out and answers errors in sentences."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bookkeeper.application import messages as m
from bookkeeper.application.conversation import ConversationService
from bookkeeper.container import Container
from bookkeeper.entrypoints import export_cli
from bookkeeper.entrypoints.chat import GREETING, USER_PROMPT, run_chat
from bookkeeper.entrypoints.cli.help import subcommands
from bookkeeper.entrypoints.cli.main import build_parser, main


def test_every_command_and_subcommand_describes_itself() -> None:
    found = list(subcommands(build_parser()))
    names = {name for name, _, _ in found}
    assert {"serve", "token", "chat", "policy", "policy revoke", "policy allow"} <= names
    for name, parser, _ in found:
        assert parser.description, f"`bookkeeper {name} --help` has no description"
        assert parser.description.strip()[0].isupper(), name


@pytest.mark.parametrize("command", ["allow", "revoke"])
def test_a_policy_change_without_a_tenant_changes_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main(["policy", "list"]) == 0
    before = capsys.readouterr().out
    status = main(["policy", command, "--role", "viewer", "--action", "events:read"])
    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert "--tenant" in err and "every tenant" in err
    assert main(["policy", "list"]) == 0
    assert capsys.readouterr().out == before


async def _chat(script: str, *, interactive: bool) -> str:
    out = io.StringIO()
    status = await run_chat(
        Container(), "acme", "ola", "cli:ola", io.StringIO(script), out, interactive=interactive
    )
    assert status == 0
    return out.getvalue()


async def test_on_a_terminal_the_chat_greets_and_prompts(data_dir: Path) -> None:
    text = await _chat("hei\n", interactive=True)
    assert GREETING.splitlines()[0] in text
    assert text.count(USER_PROMPT) == 2  # before "hei" and before the end of input
    scripted = await _chat("hei\n", interactive=False)
    assert GREETING.splitlines()[0] not in scripted
    assert USER_PROMPT not in scripted


async def test_file_errors_are_sentences_in_the_users_language(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "kvitteringer"
    folder.mkdir()
    text = await _chat(
        "/file /no/such/receipt.pdf what is this receipt\n"
        f"/file {folder}\n"
        "/file /no/such/kvittering.pdf hva er dette\n"
        "/file\n",
        interactive=False,
    )
    assert "Could not find the file /no/such/receipt.pdf." in text
    assert f"{folder} is a folder, not a file." in text  # keeps the last language: English
    assert "Fant ikke filen /no/such/kvittering.pdf." in text
    assert "Bruk: /file STI [melding]" in text
    assert "Errno" not in text


def test_the_chat_logs_only_warnings_while_chatting(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("bookkeeper")
    before = logger.level
    monkeypatch.setenv("BOOKKEEPER_LOG_LEVEL", "INFO")
    monkeypatch.setattr("sys.stdin", io.StringIO("hei\n"))
    try:
        assert main(["chat", "--tenant", "acme", "--user", "ola"]) == 0
        assert logger.getEffectiveLevel() == logging.WARNING
    finally:
        logger.setLevel(before)
    assert "INFO" not in capsys.readouterr().out


class Terminal(io.StringIO):
    """Standard input as a person's terminal (isatty), with what they will type."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_policy_change_without_a_tenant_asks_for_it(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("acme\n"))
    status = main(["policy", "allow", "--role", "viewer", "--action", "proposals:decide"])
    out, _ = capsys.readouterr()
    assert status == 0, out
    assert "which tenant?" in out
    assert main(["policy", "list", "--tenant", "acme"]) == 0
    acme = capsys.readouterr().out
    assert main(["policy", "list", "--tenant", "globex"]) == 0
    globex = capsys.readouterr().out
    granted = [line.split() for line in acme.splitlines() if "proposals:decide" in line]
    assert ["allow", "viewer", "proposals:decide", "acme"] in granted
    assert "acme" not in globex  # only in the tenant that was answered

    # Nothing answered, or not a tenant: nothing changes.
    for typed in ("\n", "a,b\n"):
        monkeypatch.setattr("sys.stdin", Terminal(typed))
        assert main(["policy", "revoke", "--role", "viewer", "--action", "proposals:decide"]) == 1
        assert "tenant" in capsys.readouterr().err
    assert main(["policy", "list", "--tenant", "acme"]) == 0
    assert capsys.readouterr().out == acme


@pytest.mark.parametrize("tenant", ["*", "", " acme", "a,b", "acme\n", "x" * 256])
@pytest.mark.parametrize(
    "command",
    [
        ["token", "--subject", "kari", "--role", "reviewer", "--tenant"],
        ["chat", "--user", "ola", "--tenant"],
        ["export", "saf-t", "--from", "2026-01-01", "--to", "2026-01-31", "--tenant"],
        ["policy", "grant-role", "--subject", "kari", "--role", "reviewer", "--tenant"],
        # These took any text: `purge documents --tenant ""` purged nothing and said so
        # with status 0, `rules close --tenant a,b` closed a period in a tenant no token
        # can name, and the others answered "human:cli may not … in tenant ".
        ["purge", "documents", "--tenant"],
        ["rules", "close", "--from", "2026-01-01", "--to", "2026-01-31", "--tenant"],
        ["rules", "periods", "--tenant"],
        ["spending", "report", "--tenant"],
    ],
)
def test_a_tenant_no_one_can_have_is_refused_before_anything_runs(
    data_dir: Path, capsys: pytest.CaptureFixture[str], command: list[str], tenant: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, tenant])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert "tenant" in err and "Traceback" not in err


@pytest.mark.parametrize("user", ["", " ", " ola", "ola\x07", "x" * 201])
@pytest.mark.parametrize(
    "command",
    [
        ["chat", "--tenant", "acme", "--user"],
        ["export", "saf-t", "--from", "2026-01-01", "--to", "2026-01-31", "--tenant", "acme"],
        ["spending", "pull", "--tenant", "acme", "--user"],
        ["rules", "periods", "--tenant", "acme", "--user"],
        ["credentials", "rotate-key", "--user"],
    ],
)
def test_a_user_no_one_can_be_is_refused_before_anything_runs(
    data_dir: Path, capsys: pytest.CaptureFixture[str], command: list[str], user: str
) -> None:
    """What `--user` names is recorded as the actor ("human:" of nothing was an
    unattributable event): the same names a token's subject may be."""
    if command[0] == "export":
        command = [*command, "--user"]
    with pytest.raises(SystemExit) as exited:
        main([*command, user])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert "--user" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "command",
    [
        ["policy", "allow", "--action", "events:read", "--tenant", "acme", "--role"],
        ["policy", "grant-role", "--subject", "kari", "--tenant", "acme", "--role"],
        ["token", "--subject", "kari", "--tenant", "acme", "--role"],
    ],
)
def test_an_unknown_role_is_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A bad argument is status 2, as `bookkeeper --help` promises, for every command
    that takes a role: a script tells a mistyped role from a failed run by it."""
    try:
        status = main([*command, "superuser"])
    except SystemExit as exited:
        status = int(str(exited.code))
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert "unknown role 'superuser'" in err and "reviewer" in err


def test_an_error_of_ours_is_its_message_alone(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", "saf-t", "--tenant", "acme", "--from", "2026-12-01", "--to", "2026-01-01"]
    status = main([*args, "--out", str(data_dir / "saft.xml")])
    err = capsys.readouterr().err
    assert status == 1
    assert err == "bookkeeper: error: the period starts (2026-12-01) after it ends (2026-01-01)\n"


def test_a_defect_is_told_without_its_class_name(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> str:
        raise KeyError("tenant")

    monkeypatch.setattr(export_cli, "run_export", broken)
    status = main(["export", "saf-t", "--tenant", "acme", "--from", "2026-01-01", "--to",
                   "2026-01-31", "--out", str(data_dir / "saft.xml")])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1
    assert "KeyError" not in err and "'tenant'" in err and "unexpectedly" in err


async def test_a_chat_line_that_fails_is_a_sentence_in_the_users_language(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        raise KeyError("tenant")

    monkeypatch.setattr(ConversationService, "handle", broken)
    text = await _chat("hva skylder vi leverandørene\n", interactive=False)
    assert "KeyError" not in text
    assert m.text("chat.failed", "nb", reason="").split(":")[0] in text


def test_an_error_of_the_system_is_said_without_its_errno_or_class() -> None:
    from bookkeeper.entrypoints.cli.main import _os_message

    assert _os_message(PermissionError(13, "Permission denied", "/srv/books.xml")) == (
        "Permission denied: '/srv/books.xml'"
    )
    assert _os_message(FileNotFoundError("no directory 'x' to write 'y' in")) == (
        "no directory 'x' to write 'y' in"
    )
