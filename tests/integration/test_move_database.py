"""Moving a company's database from the embedded SQLite to PostgreSQL (README "Moving from
the embedded SQLite to PostgreSQL") and back: `export database` / `import database`.

`export events` + `import events` moved the log alone; what is kept beside it was lost —
closed periods, locked VAT terms, the Casbin policy, tenants' encrypted credentials (and
documents, review rules, subscribers' positions …). Here a company with each of them moves
to a real PostgreSQL and finds everything as it was; a second move, a move into a database
in use and a damaged file are refused with the reason (and the line), writing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from sqlalchemy import JSON, Date, Integer, LargeBinary, Uuid, func, insert, select, text

from bookkeeper.adapters.credentials.fernet import new_key, secret_box
from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.moving import CARRIED, NOT_CARRIED, OWNED
from bookkeeper.adapters.sql.schema import ExactDecimal, UtcDateTime, events
from bookkeeper.application.ports import Principal
from bookkeeper.container import Container
from bookkeeper.entrypoints.cli.main import main
from bookkeeper.settings import Settings
from tests.http_helpers import API, TENANT, Api, FixedClock, assert_problem, running_api

SECRET = "folio-token-which-must-never-be-printed-7f3a"
FIKEN_SECRET = "fiken-token-which-must-never-be-printed-c91e"
PDF = b"%PDF-1.4 receipt of the move\n%%EOF\n"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> str:
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    key = new_key()
    monkeypatch.setenv("BOOKKEEPER_CREDENTIALS_KEY", key)
    return key


def use(monkeypatch: pytest.MonkeyPatch, directory: Path, url: str) -> None:
    """The CLI's settings: this data directory and database."""
    directory.mkdir(exist_ok=True)
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    monkeypatch.setenv("BOOKKEEPER_DATABASE_URL", url)


@asynccontextmanager
async def api_on(directory: Path, url: str, key: str) -> AsyncIterator[Api]:
    container = Container()
    settings = Settings.for_data_dir(
        directory,
        database_url=url,
        executor_enabled=False,
        policy_reload_seconds=0,
        credentials_key=key,
    )
    container.settings.override(providers.Object(settings))
    container.clock.override(providers.Object(FixedClock()))
    async with running_api(directory, container=container) as api:
        yield api


def entry(day: str, *lines: dict[str, str], text_: str = "Husleie") -> dict[str, Any]:
    return {"date": day, "description": text_, "lines": list(lines)}


def rent(day: str) -> dict[str, Any]:
    return entry(
        day, {"account": "6300", "debit": "1000.00"}, {"account": "1920", "credit": "1000.00"}
    )


def travel(day: str) -> dict[str, Any]:
    return entry(
        day,
        {"account": "7140", "debit": "100.00", "vatCode": "13", "vatPart": "base"},
        {"account": "2713", "debit": "12.00", "vatCode": "13", "vatPart": "tax"},
        {"account": "1920", "credit": "112.00"},
        text_="Reise",
    )


async def seed(api: Api) -> None:
    """A company with books, a closed January, a locked VAT term 2 (March–April), its own
    Fiken token, a document and a policy that takes exports from its accountants."""
    accountant = api.headers("anna", "accountant")
    admin = api.headers("ada", "admin")
    for body in (rent("2026-01-15"), travel("2026-03-10"), rent("2026-05-02")):
        posted = await api.client.post(f"{API}/journal-entries", json=body, headers=accountant)
        assert posted.status_code == 201, posted.text
    closed = await api.client.post(
        f"{API}/rules/periods", json={"start": "2026-01-01", "end": "2026-01-31"}, headers=admin
    )
    assert closed.status_code == 201, closed.text
    locked = await api.client.post(f"{API}/rules/vat-terms/2026/2/lock", headers=admin)
    assert locked.status_code in (200, 201), locked.text
    stored = await api.client.put(
        f"{API}/tenants/{TENANT}/credentials/folio", json={"token": SECRET}, headers=admin
    )
    assert stored.status_code == 200, stored.text
    # Fiken's at a port nothing listens on: the reports' account names fail at once,
    # instead of asking api.fiken.no.
    credentials = await api.container.credentials()
    ada = Principal(subject="ada", tenant_id=TENANT, roles=frozenset({"admin"}))
    await credentials.set(
        ada, TENANT, "fiken", FIKEN_SECRET, company="acme-as", base_url="http://127.0.0.1:9"
    )
    uow_factory = await api.container.uow_factory()
    async with uow_factory() as uow:
        await uow.documents.put(
            TENANT,
            PDF,
            "application/pdf",
            "kvittering.pdf",
            dt.datetime(2026, 3, 10, tzinfo=dt.UTC),
        )
        await uow.commit()


async def observe(api: Api) -> dict[str, Any]:
    """What the company sees: reports, periods, refusals, the policy, its credentials."""
    accountant = api.headers("anna", "accountant")
    admin = api.headers("ada", "admin")
    seen: dict[str, Any] = {}
    balance = await api.client.get(
        f"{API}/reports/trial-balance",
        params={"from": "2026-01-01", "to": "2026-12-31"},
        headers=accountant,
    )
    assert balance.status_code == 200, balance.text
    seen["trial balance"] = balance.json()
    vat = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 2}, headers=accountant
    )
    assert vat.status_code == 200, vat.text
    seen["vat report"] = vat.json()
    periods = await api.client.get(f"{API}/rules/periods", headers=accountant)
    seen["periods"] = periods.json()
    january = await api.client.post(
        f"{API}/journal-entries", json=rent("2026-01-20"), headers=accountant
    )
    seen["into January"] = assert_problem(january, 409, "period-closed")["type"]
    march = await api.client.post(
        f"{API}/journal-entries", json=travel("2026-03-20"), headers=accountant
    )
    seen["into VAT term 2"] = assert_problem(march, 409, "vat-term-locked")["type"]
    export = await api.client.get(
        f"{API}/exports/saf-t",
        params={"from": "2026-01-01", "to": "2026-12-31"},
        headers=accountant,
    )
    seen["accountant exports"] = export.status_code
    for provider, secret in (("folio", SECRET), ("fiken", FIKEN_SECRET)):
        shown = await api.client.get(
            f"{API}/tenants/{TENANT}/credentials/{provider}", headers=admin
        )
        assert shown.status_code == 200, shown.text
        assert secret not in shown.text
        seen[f"{provider} credentials"] = shown.json()
        resolved = await (await api.container.credentials()).resolve(TENANT, provider)
        seen[f"{provider} token opens"] = resolved is not None and resolved.token == secret
    uow_factory = await api.container.uow_factory()
    async with uow_factory() as uow:
        seen["document"] = await uow.documents.content(TENANT, hashlib.sha256(PDF).hexdigest())
    return seen


def policy(*argv: str) -> int:
    return main(["policy", *argv])


async def count_events(url: str) -> int:
    database = SqlDatabase(url)
    try:
        async with database.engine.connect() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(events))).scalar_one()
            )
    finally:
        await database.dispose()


async def counts(url: str) -> dict[str, int]:
    database = SqlDatabase(url)
    try:
        async with database.engine.connect() as connection:
            found = {}
            for name in (*CARRIED, "events"):
                found[name] = int(
                    (await connection.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one()
                )
            return found
    finally:
        await database.dispose()


@pytest.mark.postgres
@pytest.mark.usefixtures("clean_env")
def test_a_company_moves_from_sqlite_to_postgresql_and_back_with_everything_beside_the_log(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    postgres_url: str,
    clean_env: str,
) -> None:
    key = clean_env
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    source = f"sqlite:///{source_dir / 'bookkeeper.db'}"
    run_migrations(source)

    async def before() -> dict[str, Any]:
        async with api_on(source_dir, source, key) as api:
            await seed(api)
            revoke = ("revoke", "--role", "accountant", "--action", "exports:read")
            assert await asyncio.to_thread(policy, *revoke, "--tenant", TENANT) == 0
            return await observe(api)

    use(monkeypatch, source_dir, source)
    expected = asyncio.run(before())
    assert expected["accountant exports"] == 403
    assert expected["folio token opens"] and expected["fiken token opens"]
    assert expected["document"] == PDF

    file = tmp_path / "move.jsonl"
    assert main(["export", "database", "--out", str(file)]) == 0
    written = file.read_bytes()
    for secret in (SECRET, FIKEN_SECRET):  # the ciphertext moves, never the token
        assert secret.encode() not in written

    target_dir = tmp_path / "target"
    use(monkeypatch, target_dir, postgres_url)
    capsys.readouterr()
    assert main(["import", "database", str(file)]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err and FIKEN_SECRET not in out + err
    assert "fiscal_periods 2" in out and "tenant_credentials 2" in out, out + err

    async def after(directory: Path, url: str) -> dict[str, Any]:
        async with api_on(directory, url, key) as api:
            return await observe(api)

    assert asyncio.run(after(target_dir, postgres_url)) == expected
    # The policy's new rows get keys past the moved ones (PostgreSQL's sequences moved on).
    assert policy("allow", "--role", "viewer", "--action", "ledger:post", "--tenant", TENANT) == 0

    # The same file again, or into the same database: refused, nothing added.
    held = asyncio.run(counts(postgres_url))
    assert main(["import", "database", str(file)]) == 1
    err = capsys.readouterr().err
    assert "already holds" in err and "nothing was written" in err
    assert asyncio.run(counts(postgres_url)) == held

    # And back: PostgreSQL to a new SQLite.
    back = tmp_path / "back.jsonl"
    assert main(["export", "database", "--out", str(back)]) == 0
    home_dir = tmp_path / "home"
    home_dir.mkdir()
    home = f"sqlite:///{home_dir / 'bookkeeper.db'}"
    run_migrations(home)
    use(monkeypatch, home_dir, home)
    assert main(["import", "database", str(back)]) == 0
    assert asyncio.run(after(home_dir, home)) == expected


@pytest.mark.postgres
@pytest.mark.usefixtures("clean_env")
def test_the_subscribers_positions_move_so_nothing_is_handled_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """The Discord notifier, the compliance checks … had handled the log up to a position
    of the old log; in the new one they go on from the same event, not from the start."""
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    source = f"sqlite:///{source_dir / 'bookkeeper.db'}"
    run_migrations(source)
    use(monkeypatch, source_dir, source)

    async def seed_and_track() -> None:
        async with api_on(source_dir, source, os.environ["BOOKKEEPER_CREDENTIALS_KEY"]) as api:
            for day in ("2026-01-05", "2026-01-06", "2026-01-07"):
                posted = await api.client.post(
                    f"{API}/journal-entries", json=rent(day), headers=api.headers("a", "accountant")
                )
                assert posted.status_code == 201
        database = SqlDatabase(source)
        try:
            async with database.engine.begin() as connection:
                positions = [
                    p
                    for (p,) in await connection.execute(
                        select(events.c.position).order_by(events.c.position)
                    )
                ]
                await connection.execute(text("DELETE FROM tracking"))
                await connection.execute(
                    text("INSERT INTO tracking VALUES ('discord', :p, '2026-01-07 12:00:00')"),
                    {"p": positions[1]},
                )
        finally:
            await database.dispose()

    asyncio.run(seed_and_track())
    file = tmp_path / "move.jsonl"
    assert main(["export", "database", "--out", str(file)]) == 0
    use(monkeypatch, tmp_path / "target", postgres_url)
    assert main(["import", "database", str(file)]) == 0

    async def tracked() -> tuple[int, list[int]]:
        database = SqlDatabase(postgres_url)
        try:
            async with database.engine.connect() as connection:
                at = (
                    await connection.execute(
                        text("SELECT position FROM tracking WHERE subscriber = 'discord'")
                    )
                ).scalar_one()
                positions = [
                    p
                    for (p,) in await connection.execute(
                        select(events.c.position).order_by(events.c.position)
                    )
                ]
                return int(at), positions
        finally:
            await database.dispose()

    at, positions = asyncio.run(tracked())
    assert at == positions[1]


@pytest.fixture
def moved_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: str) -> Path:
    """A database export of a small company with a closed period and its own credentials."""
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    source = f"sqlite:///{source_dir / 'bookkeeper.db'}"
    run_migrations(source)
    use(monkeypatch, source_dir, source)

    async def seed_small() -> None:
        async with api_on(source_dir, source, clean_env) as api:
            await seed(api)

    asyncio.run(seed_small())
    file = tmp_path / "move.jsonl"
    assert main(["export", "database", "--out", str(file)]) == 0
    return file


def fresh_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> str:
    directory = tmp_path / name
    directory.mkdir()
    url = f"sqlite:///{directory / 'bookkeeper.db'}"
    run_migrations(url)
    use(monkeypatch, directory, url)
    return url


def damaged(file: Path, change: Callable[[list[bytes]], list[bytes]], out: Path) -> Path:
    out.write_bytes(b"".join(change(file.read_bytes().splitlines(keepends=True))))
    return out


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (lambda lines: lines[:-1], "last", "ends without its last line"),
        (lambda lines: lines[:3] + lines[4:], "end", "is not the one exported"),
        (lambda lines: [*lines[:-2], lines[-2][: len(lines[-2]) // 2]], "cut", ""),
        (lambda lines: [*lines[:5], lines[5][:20] + b"\n", *lines[6:]], 6, ""),
        (lambda lines: [lines[0].replace(b"bookkeeper-database", b"other")], 1, "format"),
        (lambda lines: [*lines, b"{}\n"], "after", "after the file's last line"),
        (
            lambda lines: [*lines[:2], lines[2].replace(b'"admin"', b'"admim"'), *lines[3:]],
            "changed",
            "changed after it was exported",
        ),
    ],
    ids=[
        "cut-at-a-line-break",
        "a-line-missing",
        "cut-in-a-line",
        "a-row-cut",
        "not-ours",
        "a-line-after",
        "a-byte-changed",
    ],
)
def test_a_damaged_file_is_refused_at_its_line_and_nothing_is_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    moved_file: Path,
    change: Callable[[list[bytes]], list[bytes]],
    where: object,
    says: str,
    postgres_url: str,
) -> None:
    count = len(moved_file.read_bytes().splitlines())
    lines = {
        "last": count,
        "end": count - 1,
        "cut": count - 1,
        "after": count + 1,
        "changed": count,
    }
    expected_line = lines[where] if isinstance(where, str) else where
    bad = damaged(moved_file, change, tmp_path / "bad.jsonl")
    for url in (fresh_sqlite(tmp_path, monkeypatch, "target"), postgres_url):
        use(monkeypatch, tmp_path / "target", url)
        empty = asyncio.run(counts(url))
        capsys.readouterr()
        assert main(["import", "database", str(bad)]) == 1
        err = capsys.readouterr().err
        assert f"{bad}:{expected_line}: " in err and says in err, err
        assert asyncio.run(counts(url)) == empty


def test_a_database_in_use_is_refused_whole(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    moved_file: Path,
) -> None:
    url = fresh_sqlite(tmp_path, monkeypatch, "busy")

    async def one_entry() -> None:
        async with api_on(tmp_path / "busy", url, os.environ["BOOKKEEPER_CREDENTIALS_KEY"]) as api:
            posted = await api.client.post(
                f"{API}/journal-entries",
                json=rent("2026-06-01"),
                headers=api.headers("a", "accountant"),
            )
            assert posted.status_code == 201

    asyncio.run(one_entry())
    held = asyncio.run(counts(url))
    capsys.readouterr()
    assert main(["import", "database", str(moved_file)]) == 1
    err = capsys.readouterr().err
    assert "already holds" in err and "nothing was written" in err
    assert asyncio.run(counts(url)) == held


def test_credentials_another_key_cannot_open_are_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    moved_file: Path,
) -> None:
    url = fresh_sqlite(tmp_path, monkeypatch, "target")
    empty = asyncio.run(counts(url))
    for key in (new_key(), None):
        if key is None:
            monkeypatch.delenv("BOOKKEEPER_CREDENTIALS_KEY")
        else:
            monkeypatch.setenv("BOOKKEEPER_CREDENTIALS_KEY", key)
        capsys.readouterr()
        assert main(["import", "database", str(moved_file)]) == 1
        err = capsys.readouterr().err
        assert "BOOKKEEPER_CREDENTIALS_KEY" in err and SECRET not in err
        assert asyncio.run(counts(url)) == empty


def test_every_table_is_carried_or_said_why_not(sqlite_path: Path) -> None:
    """A new table must choose: carried by the move, or rebuilt/left with a reason."""
    with sqlite3.connect(sqlite_path) as connection:
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
    assert tables == set(CARRIED) | set(NOT_CARRIED)
    assert not set(CARRIED) & set(NOT_CARRIED)


@pytest.mark.usefixtures("clean_env")
def test_import_events_names_the_command_a_database_export_is_for(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    moved_file: Path,
) -> None:
    fresh_sqlite(tmp_path, monkeypatch, "target")
    capsys.readouterr()
    assert main(["import", "events", str(moved_file)]) == 1
    assert f"{moved_file}:1: a file of `export database`: `bookkeeper import database`" in (
        capsys.readouterr().err
    )


#: Values a column's checks take, where the type's sample would not do.
SAMPLES: dict[tuple[str, str], Any] = {
    ("documents", "sha256"): hashlib.sha256(PDF).hexdigest(),
    ("documents", "size"): len(PDF),
    ("documents", "retention"): "primary",
    ("document_purges", "retention"): "secondary",
    ("tenant_credentials", "provider"): "folio",
    ("conversation_messages", "direction"): "in",
    ("tracking", "position"): 0,
}


def sample(table: str, column: Any) -> Any:
    """One value of the column's type: awkward ones (øre, bytes 0 and 255, a non-ASCII
    text, nested JSON, microseconds)."""
    if (table, column.name) in SAMPLES:
        return SAMPLES[(table, column.name)]
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return dt.datetime(2026, 3, 10, 8, 15, 30, 123456, tzinfo=dt.UTC)
    if isinstance(kind, ExactDecimal):
        return Decimal("12.34")
    if isinstance(kind, LargeBinary):
        return b"\x00\xffbytes"
    if isinstance(kind, Uuid):
        return uuid.UUID("12345678-1234-5678-1234-567812345678")
    if isinstance(kind, Date):
        return dt.date(2026, 2, 28)
    if isinstance(kind, JSON):
        return {"b": [1, "ø", None], "a": {"c": True}}
    if isinstance(kind, Integer):
        return 7
    return "Tromsø «sample»"


@pytest.mark.postgres
@pytest.mark.usefixtures("clean_env")
def test_a_row_of_every_carried_table_comes_back_the_same_through_both_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str, clean_env: str
) -> None:
    """SQLite → PostgreSQL → SQLite: each carried table's row, with values of each of its
    column types (decimals are integers on SQLite, NUMERIC on PostgreSQL; times are text
    on one), is exported the same from all three."""
    source = fresh_sqlite(tmp_path, monkeypatch, "source")
    box = secret_box(clean_env)
    assert box is not None
    monkeypatch.setitem(SAMPLES, ("tenant_credentials", "ciphertext"), box.encrypt(SECRET))

    async def fill() -> None:
        database = SqlDatabase(source)
        try:
            async with database.engine.begin() as connection:
                for table in OWNED:
                    row = {c.name: sample(table.name, c) for c in table.columns}
                    await connection.execute(insert(table), [row])
        finally:
            await database.dispose()

    asyncio.run(fill())

    def rows(file: Path) -> list[str]:
        lines = [json.loads(line) for line in file.read_bytes().splitlines()]
        return sorted(json.dumps(x, sort_keys=True) for x in lines if "table" in x)

    first = tmp_path / "first.jsonl"
    assert main(["export", "database", "--out", str(first)]) == 0
    use(monkeypatch, tmp_path / "pg", postgres_url)
    assert main(["import", "database", str(first)]) == 0
    second = tmp_path / "second.jsonl"
    assert main(["export", "database", "--out", str(second)]) == 0
    fresh_sqlite(tmp_path, monkeypatch, "back")
    assert main(["import", "database", str(second)]) == 0
    third = tmp_path / "third.jsonl"
    assert main(["export", "database", "--out", str(third)]) == 0
    carried = rows(first)
    assert {json.loads(r)["table"] for r in carried} >= {str(t.name) for t in OWNED}
    assert rows(second) == carried and rows(third) == carried


@pytest.mark.usefixtures("clean_env")
def test_a_new_database_that_was_served_once_takes_the_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moved_file: Path
) -> None:
    """`serve` started on the new database before the import leaves its subscribers at 0:
    no data, so not a database in use."""
    url = fresh_sqlite(tmp_path, monkeypatch, "served")
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        connection.execute("INSERT INTO tracking VALUES ('discord', 0, '2026-12-07 12:00:00')")
    assert main(["import", "database", str(moved_file)]) == 0
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        assert connection.execute("SELECT count(*) FROM fiscal_periods").fetchone() == (2,)
