"""`bookkeeper import fiken --tenant T --from D [--to D] [--dry-run]`: the environment's
Fiken credentials (a clear refusal without them), a summary on stdout, every skipped
record with its id on stderr (exit status 1), nothing drawn when stderr is no terminal."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.domain.events import JournalEntryPostedData
from bookkeeper.entrypoints.cli.main import main
from tests.fakes.fiken import DEFAULT_COMPANY, DEFAULT_TOKEN, FakeFiken
from tests.fakes.server import serve_in_thread
from tests.integration.test_import_fiken import Books

COMMAND = ["import", "fiken", "--tenant", "acme", "--from", "2026-01-01"]


def imported(directory: Path) -> int:
    async def count() -> int:
        database = SqlDatabase(f"sqlite:///{directory / 'bookkeeper.db'}")
        try:
            async with database.uow_factory()() as uow:
                events = await uow.events.read_all(limit=10_000)
        finally:
            await database.dispose()
        return sum(isinstance(e.data, JournalEntryPostedData) for e in events)

    return asyncio.run(count())


def test_without_fiken_credentials_the_command_says_what_it_needs(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(COMMAND) == 2
    assert "BOOKKEEPER_FIKEN_TOKEN" in capsys.readouterr().err


def test_the_command_imports_reports_and_imports_nothing_twice(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeFiken(today=dt.date(2026, 2, 26))
    Books(fake)
    with serve_in_thread(fake.app) as root:
        monkeypatch.setenv("BOOKKEEPER_FIKEN_TOKEN", DEFAULT_TOKEN)
        monkeypatch.setenv("BOOKKEEPER_FIKEN_COMPANY", DEFAULT_COMPANY)
        monkeypatch.setenv("BOOKKEEPER_FIKEN_BASE_URL", f"{root}/api/v2")

        assert main([*COMMAND, "--dry-run"]) == 0
        out, err = capsys.readouterr()
        assert "would import 6 entries" in out and err == ""
        assert imported(data_dir) == 0

        assert main(COMMAND) == 0
        out, err = capsys.readouterr()
        assert "read 2 journal entrys" not in out  # plural is not made by a bare "s"
        assert "imported 6 entries (0 already in the ledger" in out
        assert err == ""  # no progress bar when stderr is not a terminal
        assert imported(data_dir) == 6

        fake.add_raw(
            "journalEntries",
            {
                "journalEntryId": 990001,
                "date": "2026-02-05",
                "lastModifiedDate": "2026-02-26",  # since the last run: this one asks for it
                "description": "x",
                "lines": 3,
            },
        )
        assert main(COMMAND) == 1
        out, err = capsys.readouterr()
        assert "imported 0 entries" in out
        assert "skipped journal entry 990001:" in err
        assert imported(data_dir) == 6

        assert main([*COMMAND, "--to", "2025-12-31"]) == 2
        assert "before --from" in capsys.readouterr().err


def test_a_tenant_with_its_own_fiken_credentials_imports_with_them(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No environment token: the tenant's stored credentials (ADR 0036) are the ones used;
    another tenant without any is still refused."""
    import io

    from cryptography.fernet import Fernet

    fake = FakeFiken(today=dt.date(2026, 2, 26))
    Books(fake)
    monkeypatch.setenv("BOOKKEEPER_CREDENTIALS_KEY", Fernet.generate_key().decode())
    with serve_in_thread(fake.app) as root:
        monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_TOKEN + "\n"))
        stored = ["credentials", "set", "--tenant", "acme", "fiken", "--company", DEFAULT_COMPANY]
        assert main([*stored, "--base-url", f"{root}/api/v2"]) == 0
        capsys.readouterr()

        assert main(COMMAND) == 0
        out, err = capsys.readouterr()
        assert "imported 6 entries" in out and err == ""
        assert imported(data_dir) == 6

        other = ["import", "fiken", "--tenant", "globex", "--from", "2026-01-01"]
        assert main(other) == 2
        assert "credentials set" in capsys.readouterr().err
