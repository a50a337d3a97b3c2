"""Story 10 at the machine, on a SQLite file: `bookkeeper history` pulls every event of
one action by its correlation id (as GET /correlations does), with the times in Norway;
`bookkeeper export saf-t --out DIR/` writes into that directory, made when missing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.application.event_log import stamp
from bookkeeper.domain.events import AlertRaisedData
from bookkeeper.entrypoints.cli.main import main
from tests.saft_checks import file_summary, validate
from tests.saft_ledger import NOW, TENANT, build_ledger

EXPORT = ["export", "saf-t", "--tenant", TENANT, "--from", "2026-01-01", "--to", "2026-03-31"]
#: Summer time in Norway: 12:00 UTC is 14:00 CEST.
SUMMER = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, uuid.UUID]:
    """A data directory with the SAF-T test ledger, and one entry's correlation id with
    an alert recorded on it months later (under summer time)."""
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "data"
    directory.mkdir()
    url = f"sqlite:///{directory / 'bookkeeper.db'}"
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    monkeypatch.setenv("BOOKKEEPER_COMPANY_NAME", "Acme AS")
    monkeypatch.setenv("BOOKKEEPER_COMPANY_ORGNR", "923 609 016")
    run_migrations(url)

    async def seed() -> uuid.UUID:
        database = SqlDatabase(url)
        try:
            ledger = await build_ledger(database.uow_factory())
            entry_id, _ = ledger.entries["capital"]
            alert_id = uuid.uuid4()
            alert = stamp(
                "AlertRaised",
                AlertRaisedData(severity="warning", code="audit", message="looked at"),
                event_id=alert_id,
                actor="system:compliance",
                at=SUMMER,
                correlation_id=entry_id,
            )
            async with database.uow_factory()() as uow:
                await uow.events.append(TENANT, alert_id, 0, [alert])
                await uow.commit()
            return entry_id
        finally:
            await database.dispose()

    return directory, asyncio.run(seed())


def test_history_lists_every_event_of_one_action_in_norwegian_time(
    seeded: tuple[Path, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    _, correlation = seeded
    assert main(["history", "--tenant", TENANT, str(correlation)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[5] for line in lines] == ["JournalEntryPosted", "AlertRaised"]
    # NOW is 1 April 12:00 UTC, SUMMER 1 July 12:00 UTC: both summer time in Norway.
    assert f"{NOW:%d.%m.%Y} 14:00:00 CEST ({NOW:%Y-%m-%dT%H:%M:%SZ})" in lines[0]
    assert "01.07.2026 14:00:00 CEST (2026-07-01T12:00:00Z)" in lines[1]

    assert main(["history", "--tenant", TENANT, str(correlation), "--json"]) == 0
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [i["type"] for i in items] == ["JournalEntryPosted", "AlertRaised"]
    assert {i["correlationId"] for i in items} == {str(correlation)}
    assert Decimal(items[0]["data"]["lines"][0]["debit"]) == Decimal("100000.00")


def test_history_of_an_unknown_action_or_another_tenant_fails_with_one_line(
    seeded: tuple[Path, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    _, correlation = seeded
    assert main(["history", "--tenant", "globex", str(correlation)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == f"bookkeeper: error: correlation {correlation} not found in tenant globex"


def test_export_into_a_directory_written_with_a_trailing_slash_makes_it(
    seeded: tuple[Path, uuid.UUID], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "saft" / "2026"
    assert main([*EXPORT, "--out", f"{out}/"]) == 0
    printed, _ = capsys.readouterr()
    [written] = list(out.iterdir())
    assert written.name.startswith("SAF-T Financial_923609016_")
    assert printed.strip() == str(written)
    assert file_summary(validate(written.read_bytes()))["entries"] == 10


def test_export_to_a_file_in_a_missing_directory_fails_with_one_line(
    seeded: tuple[Path, uuid.UUID], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*EXPORT, "--out", str(tmp_path / "nowhere" / "books.xml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bookkeeper: error: no directory")
    assert not (tmp_path / "nowhere").exists()
