"""`bookkeeper import events FILE.jsonl` (P5): the events of one installation land in
another's log and read models, again and again without duplicates; a bad line or a taken
stream slot is reported with its line number and writes nothing of the file."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.importing import SqlEventImport
from bookkeeper.application.importing import BadImportLine, import_events, parse_line
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.entrypoints.cli.main import main
from bookkeeper.entrypoints.import_cli import EventsInput
from tests.saft_ledger import END, START, build_ledger


async def recorded(url: str) -> list[RecordedEvent]:
    database = SqlDatabase(url)
    try:
        async with database.uow_factory()() as uow:
            return await uow.events.read_all(limit=100_000)
    finally:
        await database.dispose()


def encode(event: RecordedEvent) -> bytes:
    return msgspec.json.encode(event)


@pytest.fixture
def source(tmp_path: Path) -> list[RecordedEvent]:
    """The events of a ledger built by the application on another SQLite file."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    run_migrations(url)

    async def seed() -> list[RecordedEvent]:
        database = SqlDatabase(url)
        try:
            await build_ledger(database.uow_factory())
        finally:
            await database.dispose()
        return await recorded(url)

    return asyncio.run(seed())


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "data"
    directory.mkdir()
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    url = f"sqlite:///{directory / 'bookkeeper.db'}"
    run_migrations(url)
    return url


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_import_brings_every_event_and_the_read_models_and_is_idempotent(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert len(source) > 10
    file = write(tmp_path / "events.jsonl", [encode(e) for e in source])
    assert main(["import", "events", str(file)]) == 0
    printed, err = capsys.readouterr()
    assert err == ""  # no progress bar when stderr is not a terminal
    assert f"imported {len(source):,} of {len(source):,} events" in printed

    imported = asyncio.run(recorded(target))
    strip = [msgspec.structs.replace(e, position=0) for e in imported]
    assert strip == [msgspec.structs.replace(e, position=0) for e in source]

    async def balances(url: str) -> list[object]:
        database = SqlDatabase(url)
        try:
            async with database.uow_factory()() as uow:
                return list(await uow.ledger.trial_balance("acme", START, END))
        finally:
            await database.dispose()

    # Replayed into the read models: the imported books balance as the source's do.
    expected = asyncio.run(balances(str(tmp_path / "source.db").join(["sqlite:///", ""])))
    assert expected and asyncio.run(balances(target)) == expected

    # Again, and a file overlapping it with one new event: only that one is added.
    assert main(["import", "events", str(file)]) == 0
    assert "imported 0 of" in capsys.readouterr()[0]
    extra = msgspec.structs.replace(
        source[0], id=uuid.uuid4(), stream_id=uuid.uuid4(), version=1, parent_id=None
    )
    more = write(tmp_path / "more.jsonl", [encode(e) for e in source[:3]] + [encode(extra)])
    assert main(["import", "events", str(more)]) == 0
    assert "imported 1 of 4 events (3 already in the log)" in capsys.readouterr()[0]
    assert len(asyncio.run(recorded(target))) == len(source) + 1


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"{not json", "malformed"),
        (b'{"id": "x"}', "uuid"),
        (b"TYPE", "unknown event type"),
        (b"NAIVE", "time zone"),
    ],
)
def test_a_bad_line_is_reported_by_number_and_nothing_is_written(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: bytes,
    reason: str,
) -> None:
    lines = [encode(e) for e in source]
    if bad == b"TYPE":
        bad = lines[0].replace(source[0].type.encode(), b"NoSuchThingProposed")
    elif bad == b"NAIVE":
        raw = msgspec.json.decode(lines[0])
        raw["created_at"] = raw["created_at"].replace("Z", "").split("+")[0]
        bad = msgspec.json.encode(raw)
    lines.insert(4, b"")  # blank lines are skipped but counted
    lines.insert(6, bad)
    file = write(tmp_path / "bad.jsonl", lines)
    assert main(["import", "events", str(file)]) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert f"{file}:7:" in err
    assert reason.lower() in err.lower()
    assert asyncio.run(recorded(target)) == []


def test_another_event_in_a_taken_stream_slot_is_reported_by_line(
    source: list[RecordedEvent], target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path / "first.jsonl", [encode(e) for e in source])
    assert main(["import", "events", str(first)]) == 0
    capsys.readouterr()
    intruder = msgspec.structs.replace(source[2], id=uuid.uuid4())
    new = msgspec.structs.replace(source[0], id=uuid.uuid4(), stream_id=uuid.uuid4(), version=1)
    lines = [encode(source[0]), encode(new), encode(intruder)]
    second = write(tmp_path / "second.jsonl", lines)
    assert main(["import", "events", str(second)]) == 1
    _, err = capsys.readouterr()
    assert f"{second}:3:" in err and str(intruder.stream_id) in err
    # The new event before it was rolled back with it.
    assert len(asyncio.run(recorded(target))) == len(source)


async def test_postgres_imports_in_file_order_in_batches_and_skips_known_ids(
    postgres_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    run_migrations(url)
    database = SqlDatabase(url)
    try:
        await build_ledger(database.uow_factory())
    finally:
        await database.dispose()
    events = await recorded(url)
    lines = [encode(e) for e in events]
    target = SqlDatabase(postgres_url)
    try:
        sink = SqlEventImport(target)
        first = await import_events(lambda: lines[:5], sink, batch=2)
        bad = [*lines[5:9], b"{", *lines[9:]]
        with pytest.raises(BadImportLine):  # after two batches of two: all rolled back
            await import_events(lambda: bad, sink, batch=2)
        assert (first.imported, first.skipped) == (5, 0)
        done: list[int] = []
        report = await import_events(lambda: lines, sink, done.append, batch=4)
        assert (report.imported, report.skipped) == (len(events) - 5, 5)
        assert done[-1] == len(events) and done == sorted(done)
        async with target.uow_factory()() as uow:
            stored = await uow.events.read_all(limit=100_000)
        assert [e.id for e in stored] == [e.id for e in events]
        assert [msgspec.structs.replace(e, position=0) for e in stored] == [
            msgspec.structs.replace(e, position=0) for e in events
        ]
        clash = msgspec.structs.replace(events[1], id=uuid.uuid4())
        with pytest.raises(BadImportLine) as caught:
            await import_events(lambda: [lines[0], encode(clash)], sink)
        assert caught.value.number == 2
    finally:
        await target.dispose()


async def test_postgres_writes_nothing_of_gzip_input_cut_off_after_batches(
    postgres_url: str, tmp_path: Path, source: list[RecordedEvent]
) -> None:
    """The COPY path reads the next batch while the server moves the last one: input that
    breaks in the middle still rolls back every batch moved before."""
    events = source
    data = gzip.compress(b"\n".join(encode(e) for e in events) + b"\n")
    file = tmp_path / "events.jsonl.gz"
    file.write_bytes(data[: len(data) * 3 // 4])
    target = SqlDatabase(postgres_url)
    try:
        with pytest.raises(BadImportLine) as caught:
            await import_events(EventsInput(file).lines, SqlEventImport(target), batch=2)
        assert 2 < caught.value.number <= len(events)
        assert "cut off" in caught.value.reason
        async with target.uow_factory()() as uow:
            assert await uow.events.read_all(limit=10) == []
    finally:
        await target.dispose()


def test_parse_line_accepts_what_a_recorded_event_encodes_to(
    source: list[RecordedEvent],
) -> None:
    for event in source:
        assert parse_line(1, encode(event)) == msgspec.structs.replace(event, position=0)


async def test_postgres_stores_text_that_copy_must_escape_exactly(
    postgres_url: str, tmp_path: Path
) -> None:
    """The COPY lines are formatted by the adapter (ADR 0039): backslashes, tabs, newlines,
    carriage returns, quotes and non-ASCII text in the actor, the payload and the metadata
    come back from the log as they were written."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    run_migrations(url)
    database = SqlDatabase(url)
    try:
        await build_ledger(database.uow_factory())
    finally:
        await database.dispose()
    events = await recorded(url)
    awkward = 'Bæ\\k\ter "å"\nog\r\\N \\\\ ø'
    first = events[0]
    tricky = msgspec.structs.replace(
        first,
        actor=awkward,
        metadata={**first.metadata, "note": awkward, awkward: [awkward, "\\"]},
    )
    lines = [encode(tricky), *(encode(e) for e in events[1:])]
    target = SqlDatabase(postgres_url)
    try:
        report = await import_events(lambda: lines, SqlEventImport(target), batch=3)
        assert (report.imported, report.skipped) == (len(events), 0)
        async with target.uow_factory()() as uow:
            stored = await uow.events.read_all(limit=100_000)
        assert [msgspec.structs.replace(e, position=0) for e in stored] == [
            msgspec.structs.replace(e, position=0) for e in [tricky, *events[1:]]
        ]
    finally:
        await target.dispose()


async def test_postgres_reports_the_line_of_a_taken_slot_in_an_earlier_batch(
    postgres_url: str, tmp_path: Path
) -> None:
    """The next batch is read while the last one is moved into the log (ADR 0039): a
    conflict found in the batch before the one being read is still reported by its own
    line, ahead of a bad line further on, and nothing of the file is written."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    run_migrations(url)
    database = SqlDatabase(url)
    try:
        await build_ledger(database.uow_factory())
    finally:
        await database.dispose()
    events = await recorded(url)
    target = SqlDatabase(postgres_url)
    try:
        sink = SqlEventImport(target)
        await import_events(lambda: [encode(events[0])], sink)
        clash = msgspec.structs.replace(events[0], id=uuid.uuid4())
        fresh = [encode(e) for e in events[1:6]]
        # Batches of two: [fresh, fresh] [fresh, clash] [fresh, fresh] [{ ...
        lines = [*fresh[:3], encode(clash), *fresh[3:5], b"{"]
        with pytest.raises(BadImportLine) as caught:
            await import_events(lambda: lines, sink, batch=2)
        assert caught.value.number == 4
        assert str(clash.stream_id) in caught.value.reason
        # The clash's batch is being moved while the bad line after it is read: the
        # earlier line is the one reported.
        both = [*fresh[:3], encode(clash), b"{", *fresh[3:5]]
        with pytest.raises(BadImportLine) as first_wins:
            await import_events(lambda: both, sink, batch=2)
        assert first_wins.value.number == 4
        assert str(clash.stream_id) in first_wins.value.reason
        # A bad line alone is reported by its number.
        with pytest.raises(BadImportLine) as bad:
            await import_events(lambda: [*fresh[:3], b"{"], sink, batch=2)
        assert bad.value.number == 4
        async with target.uow_factory()() as uow:
            stored = await uow.events.read_all(limit=100_000)
        assert [e.id for e in stored] == [events[0].id]
    finally:
        await target.dispose()


def test_a_line_that_repeats_a_member_is_a_bad_line(source: list[RecordedEvent]) -> None:
    """Which actor, which amount? Neither is guessed (ADR 0049, round three)."""
    line = encode(source[0])
    repeated = line[:-1] + b',"actor":"someone-else"}'
    assert line.endswith(b"}") and parse_line(1, line)
    with pytest.raises(BadImportLine) as caught:
        parse_line(7, repeated)
    assert caught.value.number == 7
    assert "$.actor" in caught.value.reason


@pytest.mark.parametrize("text", ["Faktura \u202e0001-F", "Faktura \u2067x\u2069", "Kunde\x1b[2J"])
def test_a_line_whose_text_steers_or_controls_is_a_bad_line(
    source: list[RecordedEvent], text: str
) -> None:
    """The API and the bus refuse a bidi override or a control character in a name or a
    description (ADR 0049, round four); an imported event is held to the same."""
    posted = next(e for e in source if e.type == "JournalEntryPosted")
    line = msgspec.json.decode(encode(posted))
    assert parse_line(1, msgspec.json.encode(line))
    line["data"]["description"] = text
    with pytest.raises(BadImportLine) as caught:
        parse_line(3, msgspec.json.encode(line))
    assert caught.value.number == 3
    assert "$.data.description" in caught.value.reason


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (
            [{"account": "1920", "debit": "5.00"}, {"account": "2000", "credit": "100000.00"}],
            "do not equal",
        ),
        ([{"account": "1920", "debit": "0.001"}, {"account": "2000", "credit": "0.001"}], "øre"),
        ([{"account": "1920", "debit": "100.00"}], "two lines"),
    ],
)
def test_a_journal_entry_that_does_not_balance_is_a_bad_line(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: list[dict[str, str]],
    reason: str,
) -> None:
    """An imported entry is held to the rule every entry that comes in is held to (the API,
    the bus, the Fiken import): debits equal credits, amounts in øre. One that did not got
    into the log and the ledger, and the trial balance of the tenant no longer balanced."""
    posted = next(e for e in source if e.type == "JournalEntryPosted")
    raw = msgspec.json.decode(encode(posted))
    raw["data"]["lines"] = lines
    file = write(tmp_path / "unbalanced.jsonl", [encode(source[0]), msgspec.json.encode(raw)])
    assert main(["import", "events", str(file)]) == 1
    _, err = capsys.readouterr()
    assert f"{file}:2:" in err and reason in err
    assert asyncio.run(recorded(target)) == []


def test_a_file_saved_with_a_byte_order_mark_is_read_as_utf8(
    source: list[RecordedEvent], target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An editor on Windows saves UTF-8 with a BOM; JSON allows a reader to ignore it
    (RFC 8259 § 8.1). It was line 1's 'JSON is malformed: invalid character (byte 0)'."""
    lines = [encode(e) for e in source]
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    file = write(tmp_path / "bom.jsonl", lines)
    assert main(["import", "events", str(file)]) == 0
    assert len(asyncio.run(recorded(target))) == len(source)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_file_in_another_encoding_is_refused_by_name(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    encoding: str,
) -> None:
    """'invalid character (byte 0)' did not tell the operator the file was UTF-16."""
    text = b"\n".join(encode(e) for e in source).decode()
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    file = tmp_path / "wide.jsonl"
    file.write_bytes(data)
    assert main(["import", "events", str(file)]) == 1
    _, err = capsys.readouterr()
    assert f"{file}:1:" in err and "UTF-8" in err and encoding[:6].upper() in err
    assert asyncio.run(recorded(target)) == []


def test_a_line_longer_than_any_event_is_refused_without_reading_it_whole(
    source: list[RecordedEvent], target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 60 MB description was imported as one event (the API takes no body over 1 MB),
    the whole line read into memory first (835 MB resident for it): a file that is not
    JSON Lines at all, one line of gigabytes, was read whole before anything was said."""
    from bookkeeper.application.importing import MAX_LINE_BYTES

    posted = next(e for e in source if e.type == "JournalEntryPosted")
    raw = msgspec.json.decode(encode(posted))
    raw["data"]["description"] = "x" * MAX_LINE_BYTES
    file = write(tmp_path / "huge.jsonl", [encode(source[0]), msgspec.json.encode(raw)])
    assert main(["import", "events", str(file)]) == 1
    _, err = capsys.readouterr()
    assert f"{file}:2:" in err and "longer than" in err
    assert asyncio.run(recorded(target)) == []


def _altered(event: RecordedEvent) -> bytes:
    """The event's line with another amount: the same id, another event."""
    raw = msgspec.json.decode(encode(event))
    for line in raw["data"]["lines"]:
        for side in ("debit", "credit"):
            if line.get(side) not in (None, "0.00"):
                line[side] = str(Decimal(line[side]) + 1)
    return msgspec.json.encode(raw)


async def _import_altered(url: str, events: list[RecordedEvent], batch: int) -> None:
    """Import the events, then a file holding one of them again with another amount
    (and a new event before it): refused by its line, nothing of it written."""
    posted = next(i for i, e in enumerate(events) if e.type == "JournalEntryPosted")
    target = SqlDatabase(url)
    try:
        sink = SqlEventImport(target)
        await import_events(lambda: [encode(e) for e in events], sink, batch=batch)
        new = msgspec.structs.replace(events[0], id=uuid.uuid4(), stream_id=uuid.uuid4())
        lines = [encode(new), encode(events[posted]), _altered(events[posted])]
        with pytest.raises(BadImportLine) as caught:
            await import_events(lambda: lines, sink, batch=batch)
        assert caught.value.number == 3
        assert str(events[posted].id) in caught.value.reason
        async with target.uow_factory()() as uow:
            stored = await uow.events.read_all(limit=100_000)
        assert [e.id for e in stored] == [e.id for e in events]
        # The same file again, unchanged, is still skipped as a whole.
        again = await import_events(lambda: [encode(e) for e in events], sink, batch=batch)
        assert (again.imported, again.skipped) == (0, len(events))
    finally:
        await target.dispose()


@pytest.mark.parametrize("batch", [1, 5_000])
def test_sqlite_refuses_a_known_id_that_comes_with_another_event(
    source: list[RecordedEvent], target: str, batch: int
) -> None:
    """An event whose id the log holds was skipped as 'already in the log' even when the
    line said something else (another amount): the operator was told it was imported,
    and what the file held was dropped without a word."""
    asyncio.run(_import_altered(target, source, batch))


@pytest.mark.parametrize("batch", [1, 5_000])
async def test_postgres_refuses_a_known_id_that_comes_with_another_event(
    postgres_url: str, source: list[RecordedEvent], batch: int
) -> None:
    await _import_altered(postgres_url, source, batch)


def _stream(template: RecordedEvent, versions: list[int]) -> list[RecordedEvent]:
    """Events of one new stream at `versions` (copies of `template`, new ids)."""
    stream = uuid.uuid4()
    return [
        msgspec.structs.replace(
            template, id=uuid.uuid4(), stream_id=stream, version=v, parent_id=None
        )
        for v in versions
    ]


@pytest.mark.parametrize(
    ("versions", "line"),
    [([3, 4], 2), ([1, 2, 4], 4), ([2], 2)],
    ids=["starts-at-3", "hole-1-2-4", "starts-at-2"],
)
def test_a_stream_that_does_not_start_at_version_1_or_has_a_hole_is_refused_by_line(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    versions: list[int],
    line: int,
) -> None:
    """The log holds nothing of the stream: its first event in the file must be version 1
    and no version may be skipped. The line after the hole is named; nothing is written,
    not even the good events before it."""
    events = [source[0], *_stream(source[0], versions), source[1]]
    file = write(tmp_path / "gap.jsonl", [encode(e) for e in events])
    assert main(["import", "events", "--no-replay", str(file)]) == 1
    _, err = capsys.readouterr()
    missing = events[line - 1].version - 1
    assert f"{file}:{line}:" in err, err
    assert f"stream {events[1].stream_id} has no version {missing}" in err
    assert asyncio.run(recorded(target)) == []


def test_a_stream_may_go_on_where_the_log_holds_its_earlier_versions(
    source: list[RecordedEvent], target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Versions 1 and 2 in the log: a file from version 3 on is taken; one from 4 is not."""
    one, two, three, four, five = _stream(source[0], [1, 2, 3, 4, 5])
    first = write(tmp_path / "first.jsonl", [encode(one), encode(two)])
    assert main(["import", "events", "--no-replay", str(first)]) == 0
    skip = write(tmp_path / "skip.jsonl", [encode(four), encode(five)])
    assert main(["import", "events", "--no-replay", str(skip)]) == 1
    assert f"{skip}:1: " in capsys.readouterr()[1]
    # Another tenant's event cannot go on with this tenant's stream.
    other = msgspec.structs.replace(three, tenant_id="other")
    foreign = write(tmp_path / "foreign.jsonl", [encode(other)])
    assert main(["import", "events", "--no-replay", str(foreign)]) == 1
    assert (
        f"{foreign}:1: stream {one.stream_id} has no version 2 of tenant other"
        in (capsys.readouterr()[1])
    )
    # Overlapping what the log holds (skipped by id), then going on: taken.
    rest = write(tmp_path / "rest.jsonl", [encode(two), encode(three), encode(four)])
    assert main(["import", "events", "--no-replay", str(rest)]) == 0
    assert "imported 2 of 3 events (1 already in the log)" in capsys.readouterr()[0]
    stored = [e for e in asyncio.run(recorded(target)) if e.stream_id == one.stream_id]
    assert [e.version for e in stored] == [1, 2, 3, 4]


async def test_postgres_refuses_a_stream_gap_across_batches_and_writes_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    """Batches of two (the next read while the last is moved, ADR 0039): a stream whose
    version 3 comes in a later batch than 1 and 2 is taken; one whose version 3 follows 1
    is refused at its line, even when a bad line comes after it, and nothing is written."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    run_migrations(url)
    database = SqlDatabase(url)
    try:
        await build_ledger(database.uow_factory())
    finally:
        await database.dispose()
    events = await recorded(url)
    target = SqlDatabase(postgres_url)
    try:
        sink = SqlEventImport(target)
        whole = _stream(events[0], [1, 2, 3])
        holed = _stream(events[0], [1, 3])
        lines = [encode(e) for e in (events[1], holed[0], events[2], holed[1], events[3])]
        with pytest.raises(BadImportLine) as caught:
            await import_events(lambda: [*lines, b"{"], sink, batch=2)
        assert caught.value.number == 4
        assert f"stream {holed[0].stream_id} has no version 2" in caught.value.reason
        starts = _stream(events[0], [3])
        with pytest.raises(BadImportLine) as late:
            await import_events(lambda: [encode(events[1]), encode(starts[0])], sink)
        assert late.value.number == 2
        async with target.uow_factory()() as uow:
            assert await uow.events.read_all(limit=100) == []
        ok = [encode(e) for e in (whole[0], events[1], whole[1], events[2], whole[2])]
        report = await import_events(lambda: ok, sink, batch=2)
        assert (report.imported, report.skipped) == (5, 0)
        onward = _stream(events[0], [1])[0]
        again = msgspec.structs.replace(onward, stream_id=whole[0].stream_id, version=4)
        foreign = msgspec.structs.replace(again, tenant_id="other")
        with pytest.raises(BadImportLine) as mixed:
            await import_events(lambda: [encode(foreign)], sink)
        assert "no version 3 of tenant other" in mixed.value.reason
        assert (await import_events(lambda: [encode(again)], sink)).imported == 1
    finally:
        await target.dispose()


def test_an_event_whose_parent_is_nowhere_is_refused_by_line(
    source: list[RecordedEvent], target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A parent_id the log does not hold and no earlier line brings: before, the log's
    foreign key refused the whole file with a database error and no line. A parent on an
    earlier line is fine."""
    child, orphan = _stream(source[0], [1]) + _stream(source[1], [1])
    child = msgspec.structs.replace(child, parent_id=source[0].id)
    orphan = msgspec.structs.replace(orphan, parent_id=uuid.uuid4())
    bad = write(tmp_path / "orphan.jsonl", [encode(source[0]), encode(child), encode(orphan)])
    assert main(["import", "events", "--no-replay", str(bad)]) == 1
    err = capsys.readouterr()[1]
    assert f"{bad}:3: parent_id {orphan.parent_id} is neither in the log" in err, err
    assert asyncio.run(recorded(target)) == []
    good = write(tmp_path / "good.jsonl", [encode(source[0]), encode(child)])
    assert main(["import", "events", "--no-replay", str(good)]) == 0


async def test_postgres_refuses_an_event_whose_parent_is_nowhere(
    postgres_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    run_migrations(url)
    database = SqlDatabase(url)
    try:
        await build_ledger(database.uow_factory())
    finally:
        await database.dispose()
    events = await recorded(url)
    target = SqlDatabase(postgres_url)
    try:
        sink = SqlEventImport(target)
        [child] = _stream(events[0], [1])
        child = msgspec.structs.replace(child, parent_id=events[0].id)
        [orphan] = _stream(events[1], [1])
        orphan = msgspec.structs.replace(orphan, parent_id=uuid.uuid4())
        lines = [encode(e) for e in (events[0], events[1], child, orphan)]
        with pytest.raises(BadImportLine) as caught:
            await import_events(lambda: lines, sink, batch=2)
        assert caught.value.number == 4
        assert f"parent_id {orphan.parent_id}" in caught.value.reason
        async with target.uow_factory()() as uow:
            assert await uow.events.read_all(limit=100) == []
        report = await import_events(lambda: lines[:3], sink, batch=2)
        assert report.imported == 3  # the parent in an earlier batch
    finally:
        await target.dispose()


@pytest.mark.parametrize("schema_version", [0, -1, 99])
def test_a_schema_version_this_installation_does_not_know_is_a_bad_line(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    schema_version: int,
) -> None:
    """Version 0 or below has no upcaster (it was a KeyError's traceback); one newer than
    the type's was stored as it came and read later by today's struct, as if it were
    today's. Both are the line's fault, said by number, and nothing is written."""
    lines = [encode(e) for e in source]
    raw = msgspec.json.decode(lines[3])
    raw["schema_version"] = schema_version
    lines[3] = msgspec.json.encode(raw)
    file = write(tmp_path / "versions.jsonl", lines)
    assert main(["import", "events", str(file)]) == 1
    _, err = capsys.readouterr()
    assert f"{file}:4:" in err and "schema_version" in err and raw["type"] in err
    assert err.count("\n") == 1
    assert asyncio.run(recorded(target)) == []


def _same(imported: list[RecordedEvent], source: list[RecordedEvent]) -> bool:
    strip = [msgspec.structs.replace(e, position=0) for e in imported]
    return strip == [msgspec.structs.replace(e, position=0) for e in source]


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("where", ["file", "stdin"])
@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "plain"])
def test_a_gzip_file_or_stdin_is_imported_as_the_plain_file_is(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    compressed: bool,
) -> None:
    """`export events --out books.jsonl` then `gzip` for the move (it was refused: 'the
    file is gzip-compressed … gunzip it'), or piped in (`gunzip -c … | bookkeeper import
    events -`; `-` was 'no such file'). Compressed input is told by its magic bytes, not
    its name."""
    plain = b"\n".join(encode(e) for e in source) + b"\n"
    data = gzip.compress(plain) if compressed else plain
    file = tmp_path / ("books.jsonl.gz" if compressed else "books.jsonl")
    if where == "file":
        file.write_bytes(data)
        argument = str(file)
    else:
        _stdin(monkeypatch, data)
        argument = "-"
    assert main(["import", "events", argument]) == 0
    printed, err = capsys.readouterr()
    assert err == ""
    assert f"imported {len(source):,} of {len(source):,} events" in printed
    assert _same(asyncio.run(recorded(target)), source)
    # Again: every event is known, none written twice.
    if where == "stdin":
        _stdin(monkeypatch, data)
    assert main(["import", "events", argument]) == 0
    assert f"imported 0 of {len(source):,} events" in capsys.readouterr().out
    assert _same(asyncio.run(recorded(target)), source)


@pytest.mark.parametrize("where", ["file", "stdin"])
def test_a_bad_line_in_gzip_input_is_named_by_its_number_and_nothing_is_written(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    lines = [encode(e) for e in source]
    lines[6] = lines[6][:-5]  # cut short: not JSON
    data = gzip.compress(b"\n".join(lines) + b"\n")
    file = tmp_path / "books.jsonl.gz"
    file.write_bytes(data)
    if where == "stdin":
        _stdin(monkeypatch, data)
    assert main(["import", "events", str(file) if where == "file" else "-"]) == 1
    _, err = capsys.readouterr()
    name = str(file) if where == "file" else "<stdin>"
    assert err.startswith(f"bookkeeper: error: {name}:7: ") and err.count("\n") == 1
    assert asyncio.run(recorded(target)) == []


@pytest.mark.parametrize("damage", ["cut", "garbage"])
def test_damaged_gzip_input_is_a_bad_line_and_nothing_is_written(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    """A transfer cut short (the end of the compressed stream missing) or a damaged
    compressed block: the line where reading broke, and none of the events before it
    written (they were in the same transaction)."""
    many = (source * (1 + 20_000 // len(source)))[:20_000]  # more than one batch of 5,000
    plain = b"\n".join(encode(e) for e in many) + b"\n"
    data = gzip.compress(plain)
    if damage == "cut":
        data = data[: len(data) * 3 // 4]
    else:
        middle = len(data) * 3 // 4
        data = (
            data[:middle]
            + bytes(b ^ 0xFF for b in data[middle : middle + 64])
            + data[middle + 64 :]
        )
    file = tmp_path / "books.jsonl.gz"
    file.write_bytes(data)
    assert main(["import", "events", str(file)]) == 1
    _, err = capsys.readouterr()
    assert err.startswith(f"bookkeeper: error: {file}:") and err.count("\n") == 1
    number = int(err.split(f"{file}:", 1)[1].split(":", 1)[0])
    assert 1 < number <= len(many) + 1
    assert asyncio.run(recorded(target)) == []


@pytest.mark.parametrize("tenant", ["*", "acme,globex", " acme", "acme\u202e", "a" * 256])
def test_a_tenant_no_token_or_command_can_name_is_a_bad_line(
    source: list[RecordedEvent],
    target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tenant: str,
) -> None:
    """`*` means every tenant in the policy, a comma separates tenants, a padded or
    steering name reads as another: tokens, the CLI and the bus refuse all of them as a
    tenant, so events filed under one were imported where nobody could reach them (or
    under a name that reads as another's)."""
    lines = [encode(e) for e in source]
    raw = msgspec.json.decode(lines[3])
    raw["tenant_id"] = tenant
    raw["stream_id"] = str(uuid.uuid4())
    raw["version"] = 1
    raw["parent_id"] = None
    lines[3] = msgspec.json.encode(raw)
    file = write(tmp_path / "tenants.jsonl", lines)
    assert main(["import", "events", str(file)]) == 1
    _, err = capsys.readouterr()
    assert f"{file}:4:" in err and "tenant_id" in err
    assert asyncio.run(recorded(target)) == []
