"""Tamper evidence (ADR 0024): a superuser who gets around the triggers can change the
event log, but `verify` names the first position that no longer matches its hash chain.

Each kind of tampering (UPDATE of a data field, DELETE, INSERT of a forged event,
reordering) is done with the triggers out of the way — on PostgreSQL both by
`ALTER TABLE … DISABLE TRIGGER ALL` and by dropping them under
session_replication_role = replica — and on SQLite by dropping them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.seal import SqlSealStore
from bookkeeper.adapters.system import SystemClock
from bookkeeper.application import seal as seal_module
from bookkeeper.application.seal import ChainLink, Seal, Sealer, StoredEvent, verify
from tests.integration.builders import NOW, proposed
from tests.unit.conftest import FixedClock

COLUMNS = (
    "id, tenant_id, stream_id, version, type, schema_version, status, actor, data, "
    "metadata, parent_id, correlation_id, created_at"
)
EVENTS = 8
TARGET = 4


async def append(database: SqlDatabase, count: int, **changes: object) -> list[uuid.UUID]:
    ids = []
    for _ in range(count):
        event_id = uuid.uuid4()
        async with database.uow_factory()() as uow:
            await uow.events.append("acme", event_id, 0, [proposed(event_id, **changes)])
            await uow.commit()
        ids.append(event_id)
    return ids


def sealer(database: SqlDatabase, **options: object) -> Sealer:
    clock = FixedClock(NOW + dt.timedelta(minutes=5))
    return Sealer(SqlSealStore(database), clock, **options)  # type: ignore[arg-type]


def _uuid_literal(database: SqlDatabase, value: uuid.UUID) -> str:
    return f"'{value.hex}'" if database.dialect == "sqlite" else f"'{value}'"


def tampering(database: SqlDatabase, kind: str, k: int) -> list[str]:
    """The SQL of one kind of tampering at position k."""
    forged = _uuid_literal(database, uuid.uuid4())
    stream = _uuid_literal(database, uuid.uuid4())
    override = " OVERRIDING SYSTEM VALUE" if database.dialect == "postgresql" else ""
    move = [
        f"CREATE TEMP TABLE moved AS SELECT * FROM events WHERE position >= {k}",
        f"DELETE FROM events WHERE position >= {k}",
    ]
    match kind:
        case "update":
            if database.dialect == "postgresql":
                change = "jsonb_set(data, '{amount}', '\"1.00\"')"
            else:
                change = "json_set(data, '$.amount', '1.00')"
            return [f"UPDATE events SET data = {change} WHERE position = {k}"]
        case "delete":
            return [f"DELETE FROM events WHERE position = {k}"]
        case "insert":
            return [
                *move,
                f"INSERT INTO events (position, {COLUMNS}){override} "
                f"SELECT position + 1, {COLUMNS} FROM moved",
                f"INSERT INTO events (position, {COLUMNS}){override} "
                f"SELECT position, {forged}, tenant_id, {stream}, 1, type, schema_version, "
                f"status, 'human:mallory', data, metadata, NULL, {forged}, created_at "
                f"FROM moved WHERE position = {k}",
            ]
        case "reorder":
            return [
                *move,
                f"INSERT INTO events (position, {COLUMNS}){override} "
                f"SELECT CASE position WHEN {k} THEN {k + 1} WHEN {k + 1} THEN {k} "
                f"ELSE position END, {COLUMNS} FROM moved",
            ]
    raise AssertionError(kind)


def as_superuser(database: SqlDatabase, url: str, statements: list[str], bypass: str) -> None:
    """Run statements with the log's (and the chain's) triggers out of the way."""
    if database.dialect == "sqlite":
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            triggers = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
            for (name,) in triggers:
                connection.execute(f"DROP TRIGGER {name}")
            for statement in statements:
                connection.execute(statement)
        connection.close()
        return
    with psycopg.connect(url, autocommit=True) as connection:
        if bypass == "disable":
            for table in ("events", "event_chain", "seals"):
                connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        else:
            connection.execute("SET session_replication_role = replica")
            for table in ("events", "event_chain", "seals"):
                names = connection.execute(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass "
                    "AND NOT tgisinternal",
                    (table,),
                ).fetchall()
                for (name,) in names:
                    connection.execute(f"DROP TRIGGER {name} ON {table}")
        for statement in statements:
            connection.execute(statement)


def url_of(database: SqlDatabase, request: pytest.FixtureRequest) -> str:
    if database.dialect == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


async def test_an_untouched_log_verifies(sql_database: SqlDatabase) -> None:
    await append(sql_database, EVENTS)
    made = await sealer(sql_database, batch=3).seal()
    assert [s.event_count for s in made] == [3, 3, 2]
    assert [s.last_position for s in made] == [3, 6, 8]
    await append(sql_database, 2)
    result = await verify(SqlSealStore(sql_database), expect=made[-1].seal_hash)
    assert result.ok, result.finding
    assert (result.checked, result.seals, result.unsealed) == (EVENTS, 3, 2)
    assert await sealer(sql_database).seal_once() is not None
    assert await sealer(sql_database).seal_once() is None


async def test_events_younger_than_the_margin_wait(sql_database: SqlDatabase) -> None:
    await append(sql_database, 3)
    await append(sql_database, 2, created_at=NOW + dt.timedelta(minutes=5))
    made = await sealer(sql_database, margin=dt.timedelta(seconds=30)).seal()
    assert [(s.first_position, s.last_position) for s in made] == [(1, 3)]


@pytest.mark.parametrize(
    ("kind", "problem", "bypass"),
    [
        ("update", "changed", "disable"),
        ("delete", "missing", "disable"),
        ("insert", "inserted", "disable"),
        ("reorder", "out of order", "disable"),
        pytest.param("update", "changed", "replica", marks=pytest.mark.postgres),
        pytest.param("delete", "missing", "replica", marks=pytest.mark.postgres),
        pytest.param("insert", "inserted", "replica", marks=pytest.mark.postgres),
        pytest.param("reorder", "out of order", "replica", marks=pytest.mark.postgres),
    ],
)
async def test_verify_names_the_first_tampered_position(
    sql_database: SqlDatabase,
    request: pytest.FixtureRequest,
    kind: str,
    problem: str,
    bypass: str,
) -> None:
    if bypass == "replica" and sql_database.dialect == "sqlite":
        pytest.skip("session_replication_role is PostgreSQL's")
    await append(sql_database, EVENTS)
    await sealer(sql_database, batch=3).seal()
    store = SqlSealStore(sql_database)
    assert (await verify(store)).ok
    as_superuser(
        sql_database, url_of(sql_database, request), tampering(sql_database, kind, TARGET), bypass
    )
    result = await verify(store)
    assert result.finding is not None
    assert (result.finding.position, result.finding.problem) == (TARGET, problem)
    # From after the damage the rest still verifies (unless everything after it moved);
    # from before it, it is found again.
    after = await verify(store, from_position=TARGET + 2)
    assert after.ok is (kind != "insert")
    found = (await verify(store, from_position=TARGET - 1)).finding
    assert found is not None and found.position == TARGET


@pytest.mark.parametrize("bypass", ["disable", pytest.param("replica", marks=pytest.mark.postgres)])
async def test_verify_reports_every_finding_in_one_run(
    sql_database: SqlDatabase, request: pytest.FixtureRequest, bypass: str
) -> None:
    if bypass == "replica" and sql_database.dialect == "sqlite":
        pytest.skip("session_replication_role is PostgreSQL's")
    await append(sql_database, 12)
    await sealer(sql_database, batch=5).seal()
    store = SqlSealStore(sql_database)
    # A change in the first seal's block, a deletion in the second, a swap across the
    # second and third, and another change in the third: each its own finding.
    statements = [
        *tampering(sql_database, "update", 2),
        *tampering(sql_database, "delete", 7),
        *tampering(sql_database, "reorder", 10),
        "DROP TABLE moved",
        *tampering(sql_database, "update", 12),
    ]
    as_superuser(sql_database, url_of(sql_database, request), statements, bypass)
    result = await verify(store)
    assert not result.ok
    assert [(f.position, f.problem) for f in result.findings] == [
        (2, "changed"),
        (7, "missing"),
        (10, "out of order"),
        (11, "out of order"),
        (12, "changed"),
    ]
    assert (result.problems, result.not_shown) == (5, 0)
    assert (result.checked, result.seals) == (12, 3)
    # Only the first few are kept; every one is counted.
    capped = await verify(store, shown=2)
    assert [f.position for f in capped.findings] == [2, 7]
    assert (capped.problems, capped.not_shown) == (5, 3)
    # From inside the damage: only what lies from there on.
    later = await verify(store, from_position=9)
    assert [f.position for f in later.findings] == [10, 11, 12]


async def test_a_log_changed_throughout_is_counted_whole_and_shown_in_part(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    total = 130
    await append(sql_database, total)
    await sealer(sql_database, batch=40).seal()
    statements = ["UPDATE events SET actor = 'human:mallory'"]
    as_superuser(sql_database, url_of(sql_database, request), statements, "disable")
    result = await verify(SqlSealStore(sql_database))
    # Every event is a finding of its own; the first DEFAULT_SHOWN are kept, in order.
    assert (result.problems, len(result.findings), result.not_shown) == (total, 100, 30)
    assert [f.position for f in result.findings] == list(range(1, 101))
    assert {f.problem for f in result.findings} == {"changed"}
    assert (result.checked, result.seals) == (total, 4)


async def test_an_insert_shifts_every_later_event_and_each_is_counted(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    await append(sql_database, EVENTS)
    await sealer(sql_database, batch=3).seal()
    statements = tampering(sql_database, "insert", TARGET)
    as_superuser(sql_database, url_of(sql_database, request), statements, "disable")
    result = await verify(SqlSealStore(sql_database))
    problems = [(f.position, f.problem) for f in result.findings]
    assert problems[0] == (TARGET, "inserted")
    # Every sealed event after it now sits one position later than it was sealed.
    assert problems[1:] == [(p, "out of order") for p in range(TARGET + 1, EVENTS + 1)]
    assert result.problems == len(problems)


async def test_a_missing_seal_is_one_finding_and_the_rest_still_checked(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    await append(sql_database, 9)
    await sealer(sql_database, batch=3).seal()
    statements = [
        "DELETE FROM seals WHERE number = 2",
        *tampering(sql_database, "update", 5),
        *tampering(sql_database, "update", 8),
    ]
    as_superuser(sql_database, url_of(sql_database, request), statements, "disable")
    result = await verify(SqlSealStore(sql_database))
    # The missing seal's events are still checked against their chain rows.
    assert [(f.position, f.problem) for f in result.findings] == [
        (4, "seal"),
        (5, "changed"),
        (8, "changed"),
    ]
    assert result.findings[0].detail == "seal 2 is missing"
    # So is a missing first seal.
    as_superuser(
        sql_database,
        url_of(sql_database, request),
        ["DELETE FROM seals WHERE number = 1"],
        "disable",
    )
    result = await verify(SqlSealStore(sql_database))
    assert [(f.position, f.problem) for f in result.findings] == [
        (1, "seal"),
        (5, "changed"),
        (8, "changed"),
    ]
    assert result.findings[0].detail == "seals 1..2 are missing"


async def test_a_rewritten_chain_is_caught_by_the_seal_kept_outside(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    await append(sql_database, EVENTS)
    kept = (await sealer(sql_database).seal())[-1].seal_hash
    statements = [
        *tampering(sql_database, "update", TARGET),
        "DELETE FROM seals",
        "DELETE FROM event_chain",
    ]
    as_superuser(sql_database, url_of(sql_database, request), statements, "disable")
    await sealer(sql_database).seal()
    store = SqlSealStore(sql_database)
    assert (await verify(store)).ok  # the chain alone cannot tell: it was recomputed
    result = await verify(store, expect=kept)
    assert result.finding is not None and result.finding.problem == "seal"


@pytest.mark.postgres
async def test_a_rolled_back_append_is_a_skipped_hole_and_a_forgery_there_is_found(
    postgres_database: SqlDatabase, postgres_url: str
) -> None:
    await append(postgres_database, 2)
    async with postgres_database.uow_factory()() as uow:
        event_id = uuid.uuid4()
        await uow.events.append("acme", event_id, 0, [proposed(event_id)])
        # Left without commit: rolled back after the position was allocated.
    await append(postgres_database, 2)
    (seal,) = await sealer(postgres_database).seal()
    assert (seal.skipped, seal.event_count, seal.last_position) == ((3,), 4, 5)
    store = SqlSealStore(postgres_database)
    assert (await verify(store)).ok
    forged = uuid.uuid4()
    forge = (
        f"INSERT INTO events (position, {COLUMNS}) OVERRIDING SYSTEM VALUE "
        f"SELECT 3, '{forged}', tenant_id, '{uuid.uuid4()}', 1, type, schema_version, status, "
        f"'human:mallory', data, metadata, NULL, '{forged}', created_at "
        "FROM events WHERE position = 2"
    )
    as_superuser(postgres_database, postgres_url, [forge], "disable")
    result = await verify(store)
    assert result.finding is not None
    assert (result.finding.position, result.finding.problem) == (3, "inserted")


@pytest.mark.postgres
async def test_sealing_beside_concurrent_writers_seals_every_commit(
    postgres_database: SqlDatabase,
) -> None:
    """Writers never wait for the sealer, and what it seals while they append (positions
    committing out of order) verifies once they stop."""
    margin = dt.timedelta(seconds=1)
    clock = SystemClock()
    live = Sealer(SqlSealStore(postgres_database), clock, margin=margin, batch=50)
    stop = asyncio.Event()
    written: list[uuid.UUID] = []

    async def writer() -> None:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            written.extend(await append(postgres_database, 1, created_at=clock.now()))

    async def sealing() -> None:
        while not stop.is_set():
            await live.seal()
            await asyncio.sleep(0.1)

    runner = asyncio.create_task(sealing())
    await asyncio.gather(*(writer() for _ in range(4)))
    await asyncio.sleep(margin.total_seconds() + 0.2)
    stop.set()
    await runner
    await live.seal()
    result = await verify(SqlSealStore(postgres_database))
    assert result.ok, result.finding
    assert (result.checked, result.unsealed) == (len(written), 0)


TRIGGERED: list[tuple[str, Callable[[str], str]]] = [
    ("update-chain", lambda _: "UPDATE event_chain SET hash = hash"),
    ("delete-chain", lambda _: "DELETE FROM event_chain"),
    ("update-seal", lambda _: "UPDATE seals SET event_count = event_count + 1"),
    ("delete-seal", lambda _: "DELETE FROM seals"),
]


@pytest.mark.parametrize("replica", [False, True], ids=["origin", "replica-role"])
@pytest.mark.parametrize(("name", "statement"), TRIGGERED, ids=[n for n, _ in TRIGGERED])
async def test_the_chain_and_the_seals_are_append_only(
    sql_database: SqlDatabase,
    request: pytest.FixtureRequest,
    name: str,
    statement: Callable[[str], str],
    replica: bool,
) -> None:
    if replica and sql_database.dialect == "sqlite":
        pytest.skip("session_replication_role is PostgreSQL's")
    await append(sql_database, 2)
    await sealer(sql_database).seal()
    url = url_of(sql_database, request)
    if sql_database.dialect == "sqlite":
        with (
            sqlite3.connect(url.removeprefix("sqlite:///")) as connection,
            pytest.raises(sqlite3.IntegrityError, match="append-only"),
        ):
            connection.execute(statement(name))
        connection.close()
    else:
        with psycopg.connect(url, autocommit=True) as connection:
            if replica:
                connection.execute("SET session_replication_role = replica")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                connection.execute(statement(name))
    assert (await verify(SqlSealStore(sql_database))).ok


#: SQLite's REPLACE deletes the row it collides with without firing DELETE triggers (unless
#: recursive_triggers is on), so it is an UPDATE the UPDATE/DELETE triggers never see.
REPLACED: list[tuple[str, str]] = [
    ("replace-chain", "INSERT OR REPLACE INTO event_chain SELECT * FROM event_chain"),
    (
        "replace-chain-hash",
        "REPLACE INTO event_chain (position, event_id, hash) "
        "SELECT position, event_id, zeroblob(32) FROM event_chain",
    ),
    ("replace-seal", "INSERT OR REPLACE INTO seals SELECT * FROM seals"),
    (
        "replace-seal-count",
        "REPLACE INTO seals SELECT number, first_position, last_position, event_count + 1, "
        "skipped, head_hash, previous_seal_hash, seal_hash, sealed_at FROM seals",
    ),
    (
        "upsert-seal",
        "INSERT INTO seals SELECT * FROM seals WHERE true "
        "ON CONFLICT (number) DO UPDATE SET event_count = 0",
    ),
]


@pytest.mark.parametrize(("name", "statement"), REPLACED, ids=[n for n, _ in REPLACED])
async def test_sqlite_refuses_replace_on_the_chain_and_the_seals(
    sqlite_database: SqlDatabase, sqlite_url: str, name: str, statement: str
) -> None:
    """REPLACE on the chain's tables is refused like UPDATE and DELETE, and changes nothing."""
    await append(sqlite_database, 3)
    await sealer(sqlite_database).seal()
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        before = [
            connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("event_chain", "seals")
        ]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(statement)
        after = [
            connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("event_chain", "seals")
        ]
    connection.close()
    assert after == before
    assert (await verify(SqlSealStore(sqlite_database))).ok


async def test_sqlite_refuses_replace_on_the_purge_record(sqlite_url: str) -> None:
    """The record of a purge (document_purges) is append-only: REPLACE cannot rewrite who
    purged what, while an ordinary insert (the purge's own) still goes in."""
    path = sqlite_url.removeprefix("sqlite:///")
    record = (
        "INSERT INTO document_purges (tenant_id, sha256, filename, content_type, size, "
        "stored_at, retention, financial_year, retained_until, purged_at, purged_by) "
        "VALUES ('acme', 'ab', 'kvittering.pdf', 'application/pdf', 10, "
        "'2019-03-01 10:00:00.000000', 'primary', 2019, '2024-12-31', "
        "'2025-01-02 10:00:00.000000', 'human:anna')"
    )
    with sqlite3.connect(path) as connection:
        connection.execute(record)
        before = connection.execute("SELECT * FROM document_purges").fetchall()
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(
                "INSERT OR REPLACE INTO document_purges SELECT id, tenant_id, sha256, "
                "filename, content_type, size, stored_at, retention, financial_year, "
                "retained_until, purged_at, 'human:nobody' FROM document_purges"
            )
        after = connection.execute("SELECT * FROM document_purges").fetchall()
    connection.close()
    assert after == before


async def test_the_newest_seals_deleted_are_found_and_their_events_still_checked(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    """No later seal tells that the newest ones are gone, but their chain rows do (the
    sealer writes a block's rows and its seal in one transaction): deleting the last seals
    is a finding, and a change to their events is still found. Without this, deleting
    the newest seal made a change to its block pass `verify`."""
    await append(sql_database, 9)
    await sealer(sql_database, batch=3).seal()
    store = SqlSealStore(sql_database)
    statements = [
        "DELETE FROM seals WHERE number = 3",
        *tampering(sql_database, "update", 8),
    ]
    as_superuser(sql_database, url_of(sql_database, request), statements, "disable")
    result = await verify(store)
    assert [(f.position, f.problem) for f in result.findings] == [(7, "seal"), (8, "changed")]
    assert result.findings[0].detail == "seal 3 is missing (the chain goes on to position 9)"
    assert (result.checked, result.seals, result.unsealed) == (6, 2, 0)
    # The last two seals: one finding, every event of theirs still checked.
    as_superuser(
        sql_database,
        url_of(sql_database, request),
        ["DELETE FROM seals WHERE number = 2"],
        "disable",
    )
    result = await verify(store)
    assert [(f.position, f.problem) for f in result.findings] == [(4, "seal"), (8, "changed")]
    assert result.findings[0].detail == "seal 2 is missing (the chain goes on to position 9)"
    # From a position inside the lost blocks: what lies from there on.
    later = await verify(store, from_position=8)
    assert [(f.position, f.problem) for f in later.findings] == [(4, "seal"), (8, "changed")]


class SealingDuringTheWalk:
    """A SqlSealStore whose seal walk ends as another sealer commits a new block."""

    def __init__(self, store: SqlSealStore, sealing: Sealer) -> None:
        self._store = store
        self._sealing = sealing

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def seals(self, from_position: int) -> AsyncIterator[Seal]:
        async for seal in self._store.seals(from_position):
            yield seal
        await self._sealing.seal()


async def test_a_seal_committed_during_verify_is_no_finding(sql_database: SqlDatabase) -> None:
    """The chain's end is read before the seals are walked: a block sealed meanwhile has
    its seal and its rows committed together, so it is never taken for a missing seal."""
    await append(sql_database, 6)
    await sealer(sql_database, batch=3).seal()
    await append(sql_database, 2)
    store = SqlSealStore(sql_database)
    result = await verify(SealingDuringTheWalk(store, sealer(sql_database)))  # type: ignore[arg-type]
    assert result.ok, result.findings
    assert (await verify(store)).ok


async def test_a_sealer_blocked_by_chain_rows_past_the_newest_seal_says_so(
    sql_database: SqlDatabase,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the newest seal deleted but its chain rows left, the next block collides with
    those rows: that is no other sealer's win (the newest seal is still the same), and
    nothing will be sealed any more. The sealer logs it as an error naming `verify`,
    where it used to return as if another sealer had stored the block."""
    await append(sql_database, 6)
    await sealer(sql_database, batch=3).seal()
    as_superuser(
        sql_database,
        url_of(sql_database, request),
        ["DELETE FROM seals WHERE number = 2"],
        "disable",
    )
    await append(sql_database, 1)
    with caplog.at_level("ERROR", logger="bookkeeper.seal"):
        made = await sealer(sql_database, batch=3).seal()
    assert made == []
    [record] = [r for r in caplog.records if r.name == "bookkeeper.seal"]
    assert record.levelname == "ERROR"
    assert "bookkeeper verify" in record.getMessage()
    assert "seal 2" in record.getMessage()


class LargestRead:
    """A SqlSealStore that remembers the most rows one read of the log or the chain gave."""

    def __init__(self, store: SqlSealStore) -> None:
        self._store = store
        self.most = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def events_between(self, first: int, last: int) -> Sequence[StoredEvent]:
        rows = await self._store.events_between(first, last)
        self.most = max(self.most, len(rows))
        return rows

    async def links_between(self, first: int, last: int) -> Sequence[ChainLink]:
        rows = await self._store.links_between(first, last)
        self.most = max(self.most, len(rows))
        return rows


async def test_seals_deleted_in_the_middle_are_checked_a_batch_at_a_time(
    sql_database: SqlDatabase, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting seals between two that remain leaves their events to be checked against
    the chain's rows alone. That block is as long as the seals deleted — on a large log
    millions of events — and was read whole into memory; it is now read a batch of
    positions at a time (as the newest seals' lost block already was), and a change in it
    is still found."""
    monkeypatch.setattr(seal_module, "DEFAULT_BATCH", 3)
    await append(sql_database, 12)
    await sealer(sql_database, batch=2).seal()  # six seals of two events
    statements = [
        "DELETE FROM seals WHERE number BETWEEN 2 AND 5",
        *tampering(sql_database, "update", 6),
    ]
    as_superuser(sql_database, url_of(sql_database, request), statements, "disable")
    store = LargestRead(SqlSealStore(sql_database))
    result = await verify(store)  # type: ignore[arg-type]
    assert [(f.position, f.problem) for f in result.findings] == [(3, "seal"), (6, "changed")]
    assert result.findings[0].detail == "seals 2..5 are missing"
    assert store.most <= 3
    # From inside the lost block, and a long block of one seal, alike.
    store.most = 0
    later = await verify(store, from_position=8)  # type: ignore[arg-type]
    assert [(f.position, f.problem) for f in later.findings] == [(3, "seal")]
    assert store.most <= 3


async def test_an_altered_chain_row_is_told_from_an_altered_event(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    """An owner who rewrites one row of `event_chain` (its hash), leaving the events be,
    was told that event and the next had changed: two events blamed, neither touched. The
    next row (or the seal's head) says which it was — it follows from the event's own
    hash, not from the stored one — so verify names the chain row, once."""
    await append(sql_database, 9)
    await sealer(sql_database, batch=3).seal()
    other = "(SELECT hash FROM event_chain WHERE position = 1)"
    statements = [
        f"UPDATE event_chain SET hash = {other} WHERE position = 5",
        f"UPDATE event_chain SET hash = {other} WHERE position = 6",  # the last of seal 2
    ]
    as_superuser(sql_database, url_of(sql_database, request), statements[:1], "disable")
    result = await verify(SqlSealStore(sql_database))
    assert [(f.position, f.problem) for f in result.findings] == [(5, "seal")]
    assert "the chain row of position 5 was altered" in result.findings[0].detail
    as_superuser(sql_database, url_of(sql_database, request), statements[1:], "disable")
    result = await verify(SqlSealStore(sql_database))
    assert [(f.position, f.problem) for f in result.findings] == [(5, "seal"), (6, "seal")]
    assert "the chain row of position 6 was altered" in result.findings[1].detail
    # An event changed is still an event changed.
    as_superuser(
        sql_database,
        url_of(sql_database, request),
        tampering(sql_database, "update", 8),
        "disable",
    )
    result = await verify(SqlSealStore(sql_database))
    assert [(f.position, f.problem) for f in result.findings][2:] == [(8, "changed")]
