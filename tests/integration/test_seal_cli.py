"""`bookkeeper seal` and `bookkeeper verify` on a SQLite file: seal, show, verify OK, then
a tampered log fails verify with the position, and bad arguments fail with one line."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.entrypoints.cli.main import main
from tests.integration.builders import proposed


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "data"
    directory.mkdir()
    url = f"sqlite:///{directory / 'bookkeeper.db'}"
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    run_migrations(url)

    async def seed() -> None:
        database = SqlDatabase(url)
        try:
            for _ in range(5):
                event_id = uuid.uuid4()
                async with database.uow_factory()() as uow:
                    await uow.events.append("acme", event_id, 0, [proposed(event_id)])
                    await uow.commit()
        finally:
            await database.dispose()

    asyncio.run(seed())
    return directory


def test_seal_show_and_verify(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seal", "--show"]) == 0
    assert capsys.readouterr().out.strip() == "no seal yet"
    assert main(["seal", "--margin", "0"]) == 0
    sealed = capsys.readouterr().out
    assert sealed.startswith("sealed 5 event(s); seal 1: positions 1..5 (5 events)")
    head = sealed.split(" seal ")[-1].split()[0]
    assert main(["seal", "--show"]) == 0
    assert head in capsys.readouterr().out
    assert main(["verify", "--expect", head]) == 0
    assert capsys.readouterr().out.startswith("OK: 5 sealed event(s) in 1 seal(s) match")

    with sqlite3.connect(data_dir / "bookkeeper.db") as connection:
        connection.execute("DROP TRIGGER events_no_update")
        connection.execute("UPDATE events SET actor = 'human:mallory' WHERE position = 3")
    connection.close()
    assert main(["verify"]) == 1
    assert capsys.readouterr().out.startswith("TAMPERED: position 3: changed: event ")
    assert main(["verify", "--from-position", "4"]) == 0


def test_verify_prints_every_finding_up_to_the_limit_and_counts_the_rest(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seal", "--margin", "0"]) == 0
    capsys.readouterr()
    with sqlite3.connect(data_dir / "bookkeeper.db") as connection:
        connection.execute("DROP TRIGGER events_no_update")
        connection.execute("DROP TRIGGER events_no_delete")
        connection.execute("UPDATE events SET actor = 'human:mallory' WHERE position = 2")
        connection.execute("DELETE FROM events WHERE position = 4")
        connection.execute("UPDATE events SET actor = 'human:mallory' WHERE position = 5")
    connection.close()
    assert main(["verify"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1:3] for line in lines[:3]] == [
        [" position 2", " changed"],
        [" position 4", " missing"],
        [" position 5", " changed"],
    ]
    assert lines[3] == "TAMPERED: 3 finding(s); 5 sealed event(s) checked in 1 seal(s)"
    assert len(lines) == 4

    assert main(["verify", "--limit", "1"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("TAMPERED: position 2: changed: event ")
    assert lines[1:] == [
        "… and 2 more finding(s) not shown (--limit)",
        "TAMPERED: 3 finding(s); 5 sealed event(s) checked in 1 seal(s)",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "--from-position", "0"],
        ["verify", "--expect", "xyz"],
        ["verify", "--limit", "-1"],
    ],
)
def test_bad_arguments_fail_with_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "not a" in capsys.readouterr().err
