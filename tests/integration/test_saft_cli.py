"""`bookkeeper export saf-t` on a SQLite file: the file lands under Skatteetaten's name,
valid and with the ledger's entries; bad dates fail with one line."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.entrypoints.cli.main import main
from tests.saft_checks import file_summary, validate
from tests.saft_ledger import build_ledger


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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

    async def seed() -> None:
        database = SqlDatabase(url)
        try:
            await build_ledger(database.uow_factory())
        finally:
            await database.dispose()

    asyncio.run(seed())
    return directory


def test_export_writes_the_file_into_a_directory(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = ["export", "saf-t", "--tenant", "acme", "--from", "2026-01-01", "--to", "2026-03-31"]
    status = main([*args, "--out", str(out)])
    printed, err = capsys.readouterr()
    assert status == 0, err
    [written] = list(out.iterdir())
    assert written.name.startswith("SAF-T Financial_923609016_")
    assert printed.strip() == str(written)
    assert err == ""  # no progress when stderr is not a terminal
    assert file_summary(validate(written.read_bytes()))["entries"] == 10


def test_a_bad_period_fails_with_one_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", "saf-t", "--tenant", "acme", "--from", "2026-03-31", "--to", "2026-01-01"]
    status = main([*args, "--out", str(tmp_path / "x.xml")])
    _, err = capsys.readouterr()
    assert status == 1
    assert err.count("\n") == 1 and "starts" in err
    assert not (tmp_path / "x.xml").exists()
