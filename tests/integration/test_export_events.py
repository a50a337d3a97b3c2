"""`bookkeeper export events` (P5's other half): the log as the JSON Lines `import events`
reads, from one snapshot, so that a company's books move to another installation (or a
tenant's part of them to an auditor) and come back the same events and the same ledger."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import msgspec
import pytest

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.exporting import SqlEventExport
from bookkeeper.application.event_log import stamp
from bookkeeper.application.exporting import export_events
from bookkeeper.application.importing import parse_line
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.entrypoints.cli.main import main
from tests.integration.test_import_events import recorded
from tests.saft_ledger import END, NOW, START, TENANT, build_ledger


async def balances(url: str) -> list[object]:
    database = SqlDatabase(url)
    try:
        async with database.uow_factory()() as uow:
            return list(await uow.ledger.trial_balance(TENANT, START, END))
    finally:
        await database.dispose()


def unplaced(events: list[RecordedEvent]) -> list[RecordedEvent]:
    return [msgspec.structs.replace(e, position=0) for e in events]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)


def data_dir(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    directory = tmp_path / name
    directory.mkdir()
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    url = f"sqlite:///{directory / 'bookkeeper.db'}"
    run_migrations(url)
    return url


@pytest.mark.usefixtures("clean_env")
def test_export_then_import_moves_the_books_to_another_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = data_dir(tmp_path, "source", monkeypatch)

    async def seed() -> None:
        database = SqlDatabase(source)
        try:
            await build_ledger(database.uow_factory())
        finally:
            await database.dispose()

    asyncio.run(seed())
    events = asyncio.run(recorded(source))
    tenants = {e.tenant_id for e in events}
    assert len(events) > 10 and len(tenants) > 1

    file = tmp_path / "books.jsonl"
    assert main(["export", "events", "--out", str(file)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and f"exported {len(events):,} events (every tenant) to {file}" in err
    lines = file.read_bytes().splitlines()
    assert [parse_line(n, line) for n, line in enumerate(lines, 1)] == unplaced(events)
    assert not list(tmp_path.glob(".events-*"))  # written beside and renamed into place

    # Only one tenant's events, to stdout.
    assert main(["export", "events", "--tenant", TENANT]) == 0
    out, err = capsys.readouterr()
    mine = [e for e in events if e.tenant_id == TENANT]
    assert [parse_line(1, line.encode()) for line in out.splitlines()] == unplaced(mine)
    assert f"exported {len(mine):,} events (tenant {TENANT}) to stdout" in err

    # Into another installation: the same events and, replayed, the same books; again:
    # nothing new.
    target = data_dir(tmp_path, "target", monkeypatch)
    assert main(["import", "events", str(file)]) == 0
    assert unplaced(asyncio.run(recorded(target))) == unplaced(events)
    expected = asyncio.run(balances(source))
    assert expected and asyncio.run(balances(target)) == expected
    assert main(["import", "events", str(file)]) == 0
    assert "imported 0 of" in capsys.readouterr()[0]


@pytest.mark.usefixtures("clean_env")
def test_a_file_that_cannot_be_written_is_refused_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir(tmp_path, "data", monkeypatch)
    assert main(["export", "events", "--out", str(tmp_path / "no" / "such.jsonl")]) == 1
    assert "no directory" in capsys.readouterr().err
    assert main(["export", "events", "--out", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    url = f"sqlite:///{tmp_path / 'books.db'}"
    run_migrations(url)
    return url


async def test_the_export_reads_one_snapshot_while_events_are_appended(any_url: str) -> None:
    """An event committed after the export's first page is not in it — neither is it
    half in — and the next export has it: the file is the log at one moment."""
    database = SqlDatabase(any_url)
    try:
        await build_ledger(database.uow_factory())
        before = await recorded(any_url)
        source = SqlEventExport(database)
        pages = source.pages(None, 3)
        read = list(await anext(pages))
        assert len(read) == 3

        new = stamp(
            before[0].type,
            before[0].data,
            event_id=uuid.uuid4(),
            actor="human:kari",
            at=NOW,
            correlation_id=uuid.uuid4(),
        )
        stream = uuid.uuid4()
        async with database.uow_factory()() as uow:
            await uow.events.append(TENANT, stream, 0, [new])
            await uow.commit()

        async for page in pages:
            assert 0 < len(page) <= 3
            read.extend(page)
        assert unplaced(read) == unplaced(before)
        assert [e.position for e in read] == sorted(e.position for e in read)

        again = [e async for page in source.pages(None, 1000) for e in page]
        assert [e.id for e in again] == [*(e.id for e in before), new.id]
        chunks = [c async for c in export_events(source, TENANT, page=4)]
        assert all(c.endswith(b"\n") for c in chunks)
        ids = [parse_line(1, line).id for c in chunks for line in c.splitlines()]
        assert ids == [e.id for e in again if e.tenant_id == TENANT]
    finally:
        await database.dispose()
