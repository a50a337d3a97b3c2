"""`bookkeeper verify --projections` (ADR 0024 addendum 2) on SQLite and PostgreSQL: the
read models are refolded from the log and compared with the live tables.

A database written through the handlers, the ledger and the spending service verifies OK;
a journal line's amount changed by hand, a proposal row deleted, a stray daily-ledger row
inserted and a pattern's account changed are each found and named (table, key, what is
wrong); the limit keeps the first differences and counts the rest. Writers (in a thread and
loop of their own, on a pool of their own) go on while a verify runs, also synchronously
from its progress callback in the middle of the fold (a write the verify blocked would
fail the test on its timeout), and what they commit after the verify's snapshot is no
difference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Insert, delete, insert, select, text, update

from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.ledger import journal_lines, ledger_daily
from bookkeeper.adapters.sql.schema import cost_snapshots, patterns, proposals
from bookkeeper.adapters.sql.shadow_replay import SHADOW
from bookkeeper.adapters.sql.verify_projections import check_projections
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal
from bookkeeper.application.seal import ProjectionCheck
from bookkeeper.domain.events import JournalLine
from bookkeeper.entrypoints.cli.main import main
from tests.integration.test_shadow_replay import Writer, seed
from tests.integration.test_spending_sql import Source, record, service
from tests.unit.external_doubles import Harness, invoice

DAY = dt.date(2026, 11, 18)


def _accountant(tenant: str = "acme") -> Principal:
    return Principal(subject="regnskap", tenant_id=tenant, roles=frozenset({"accountant"}))


async def books(database: SqlDatabase) -> list[uuid.UUID]:
    """Proposals (some approved, executed pattern suggestions among them), posted journal
    entries, and cost snapshots with a revision; the proposals still waiting."""
    pending = await seed(database)
    ledger = LedgerService(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    for n in range(4):
        await ledger.post_manual(
            _accountant(),
            DAY - dt.timedelta(days=n % 2),
            f"Husleie {n}",
            [
                JournalLine(account="6300", debit=Decimal("1000.00") + n),
                JournalLine(account="1920", credit=Decimal("1000.00") + n),
            ],
        )
    source = Source("anthropic", [record("1.00"), record("2.00", "m2")])
    await service(database, source).pull("acme", DAY, DAY)
    source.records = [record("1.25"), record("2.00", "m2")]
    await service(database, source).pull("acme", DAY, DAY)
    return pending


async def first(database: SqlDatabase, statement: Any) -> Any:
    async with database.engine.connect() as connection:
        row = (await connection.execute(statement)).first()
    assert row is not None
    return row


async def tamper(database: SqlDatabase, statement: Any) -> None:
    """A hand-made change straight in the database (no trigger guards the projections)."""
    async with database.engine.begin() as connection:
        result = await connection.execute(statement)
        if not isinstance(statement, Insert):  # an insert raises when it fails
            assert result.rowcount == 1


def names(check: ProjectionCheck) -> list[str]:
    return [str(d) for d in check.differences]


async def test_a_database_written_as_usual_verifies_ok(sql_database: SqlDatabase) -> None:
    await books(sql_database)
    async with sql_database.engine.connect() as connection:
        for table in (journal_lines, ledger_daily, proposals, patterns, cost_snapshots):
            count = (await connection.execute(select(table).limit(1))).first()
            assert count is not None, f"{table.name} is empty: the check would prove little"
        head = (await connection.execute(select(journal_lines.c.position))).all()

    check = await check_projections(sql_database, batch=13)

    assert check.ok, names(check)
    assert check.problems == 0 and check.differences == ()
    assert check.head >= max(p for (p,) in head)
    assert check.tables == (
        "journal_lines",
        "ledger_daily",
        "proposals",
        "patterns",
        "cost_snapshots",
    )


async def test_each_hand_made_change_is_found_and_named(sql_database: SqlDatabase) -> None:
    await books(sql_database)
    jl = journal_lines
    line = await first(
        sql_database,
        select(jl.c.entry_id, jl.c.line_no, jl.c.debit)
        .where(jl.c.debit > 0)
        .order_by(jl.c.position, jl.c.line_no),
    )
    gone = await first(sql_database, select(proposals.c.id).order_by(proposals.c.id))
    pattern = await first(
        sql_database,
        select(patterns.c.tenant_id, patterns.c.merchant_key, patterns.c.account_code).order_by(
            patterns.c.tenant_id, patterns.c.merchant_key
        ),
    )
    changed_line = line.debit + Decimal("100.00")
    await tamper(
        sql_database,
        update(jl)
        .where(jl.c.entry_id == line.entry_id, jl.c.line_no == line.line_no)
        .values(debit=changed_line),
    )
    await tamper(sql_database, delete(proposals).where(proposals.c.id == gone.id))
    await tamper(
        sql_database,
        insert(ledger_daily).values(
            tenant_id="acme",
            account="1500",
            date=dt.date(2026, 12, 24),
            debit=Decimal("5000.00"),
            credit=Decimal("0.00"),
        ),
    )
    other_account = "7790" if pattern.account_code != "7790" else "7791"
    await tamper(
        sql_database,
        update(patterns)
        .where(
            patterns.c.tenant_id == pattern.tenant_id,
            patterns.c.merchant_key == pattern.merchant_key,
        )
        .values(account_code=other_account),
    )

    check = await check_projections(sql_database, batch=13)

    assert not check.ok
    assert names(check) == [
        f"journal_lines entry_id={line.entry_id} line_no={line.line_no}: changed: "
        f"debit (log {line.debit}, table {changed_line})",
        "ledger_daily tenant_id=acme account=1500 date=2026-12-24: extra: "
        "the table has this row, the log does not give it",
        f"proposals id={gone.id}: missing: the log gives this row, the table does not have it",
        f"patterns tenant_id={pattern.tenant_id} merchant_key={pattern.merchant_key}: changed: "
        f"account_code (log {pattern.account_code}, table {other_account})",
    ]
    assert check.problems == 4 and check.not_shown == 0

    limited = await check_projections(sql_database, shown=1)
    assert names(limited) == names(check)[:1]
    assert limited.problems == 4 and limited.not_shown == 3
    counted = await check_projections(sql_database, shown=0)
    assert counted.differences == () and counted.problems == 4


async def test_the_verify_leaves_no_shadow_and_writes_go_on_to_the_live_tables(
    sql_database: SqlDatabase,
) -> None:
    """Nothing the refold wrote outlives it (SQLite's TEMP tables, PostgreSQL's shadow
    schema), and a unit of work after it writes where it always did."""
    await books(sql_database)
    assert (await check_projections(sql_database)).ok
    ledger = LedgerService(sql_database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    before = len(await _all(sql_database, select(journal_lines.c.entry_id)))
    await ledger.post_manual(
        _accountant(),
        DAY,
        "Etter kontrollen",
        [
            JournalLine(account="6300", debit=Decimal("10.00")),
            JournalLine(account="1920", credit=Decimal("10.00")),
        ],
    )
    assert len(await _all(sql_database, select(journal_lines.c.entry_id))) == before + 2
    async with sql_database.engine.connect() as connection:
        if sql_database.dialect == "sqlite":
            query = "SELECT count(*) FROM sqlite_temp_master"
        else:
            query = f"SELECT count(*) FROM pg_namespace WHERE nspname = '{SHADOW}'"
        assert (await connection.execute(text(query))).scalar_one() == 0
    assert (await check_projections(sql_database)).ok


async def test_a_lease_renewed_by_the_heartbeat_is_no_difference(
    sql_database: SqlDatabase,
) -> None:
    """The one column a refold gives otherwise by design: the heartbeat renews a running
    attempt's lease in the projection only (ADR 0026); the log keeps the first one."""
    factory = sql_database.uow_factory()
    h = Harness(uow_factory=factory)
    running = await h.approved(invoice(invoice_number="F-9"))
    h.world.faults.crash(after=True, operations={"create_purchase"})
    with pytest.raises(BaseException, match="crash"):
        await h.executor.run_once()  # claimed (ExecutionStarted with a lease), never finished
    started = await h.view(running)
    assert started.lease_until is not None
    async with factory() as uow:
        renewed = started.lease_until + dt.timedelta(minutes=10)
        assert await uow.proposals.renew_lease("acme", running, started.attempts, renewed)
        await uow.commit()

    assert (await check_projections(sql_database)).ok
    # Any other column of the same row is still compared.
    await tamper(
        sql_database, update(proposals).where(proposals.c.id == running).values(attempts=7)
    )
    check = await check_projections(sql_database)
    assert names(check) == [
        f"proposals id={running}: changed: attempts (log {started.attempts}, table 7)"
    ]


async def _all(database: SqlDatabase, statement: Any) -> list[Any]:
    async with database.engine.connect() as connection:
        return list((await connection.execute(statement)).all())


@pytest.fixture
def writer(sql_database: SqlDatabase) -> Iterator[Writer]:
    url = sql_database.engine.url.render_as_string(hide_password=False)
    url = url.replace("+psycopg", "").replace("+aiosqlite", "")
    writer = Writer(url)
    try:
        yield writer
    finally:
        writer.close()


async def test_writers_are_not_blocked_and_their_rows_are_no_difference(
    sql_database: SqlDatabase, writer: Writer
) -> None:
    pending = await books(sql_database)
    jl = journal_lines
    line = await first(
        sql_database,
        select(jl.c.entry_id, jl.c.line_no, jl.c.credit)
        .where(jl.c.credit > 0)
        .order_by(jl.c.position.desc(), jl.c.line_no),
    )
    await tamper(
        sql_database,
        update(jl)
        .where(jl.c.entry_id == line.entry_id, jl.c.line_no == line.line_no)
        .values(credit=line.credit + Decimal("0.01")),
    )
    pages: list[int] = []

    def progress(events: int) -> None:
        pages.append(events)
        if len(pages) in (2, 5):
            # In the middle of the fold, the verify's snapshot (and TEMP or shadow writes)
            # open: a proposal, an approval of an older one, a journal entry.
            writer.call(lambda: writer.one_of_each(pending))

    stop = threading.Event()
    background: Any = None
    if sql_database.dialect == "postgresql":
        # SQLite has one writer at a time: the synchronous writes above are its test.
        background = writer.start(lambda: writer.keep_writing(stop, pending))
    try:
        check = await check_projections(sql_database, batch=20, progress=progress)
    finally:
        stop.set()
        rounds = await asyncio.wrap_future(background) if background is not None else 0

    assert writer.errors == []
    assert len(pages) >= 5 and writer.entries >= 2 + rounds
    # Only the hand-made change: what the writers committed meanwhile is no difference.
    assert names(check) == [
        f"journal_lines entry_id={line.entry_id} line_no={line.line_no}: changed: "
        f"credit (log {line.credit}, table {line.credit + Decimal('0.01')})"
    ]
    # And their rows are in the live tables, where the next verify finds them in order.
    again = await check_projections(sql_database)
    assert names(again) == names(check)
    assert again.head > check.head


def test_the_cli_prints_ok_or_every_difference_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "data"
    directory.mkdir()
    url = f"sqlite:///{directory / 'bookkeeper.db'}"
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    run_migrations(url)

    async def with_database(work: Callable[[SqlDatabase], Awaitable[Any]]) -> Any:
        database = SqlDatabase(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    asyncio.run(with_database(books))
    assert main(["verify", "--projections"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("OK: ")  # the chain (nothing sealed yet)
    assert out[1].startswith(
        "OK: the projections (journal_lines, ledger_daily, proposals, patterns, "
        "cost_snapshots) are what the log up to position "
    )

    async def change(database: SqlDatabase) -> None:
        await tamper(
            database,
            update(ledger_daily)
            .where(ledger_daily.c.account == "6300")
            .where(ledger_daily.c.date == DAY)
            .values(debit=Decimal("1.00")),
        )
        await tamper(
            database,
            delete(cost_snapshots).where(
                cost_snapshots.c.stream_id
                == (await first(database, select(cost_snapshots.c.stream_id))).stream_id
            ),
        )

    asyncio.run(with_database(change))
    assert main(["verify", "--projections", "--limit", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("OK: ")  # the log itself is untouched
    assert out[1].startswith(
        "DIFFERS: ledger_daily tenant_id=acme account=6300 date=2026-11-18: changed: debit (log "
    )
    assert out[1].endswith(", table 1.00)")
    assert out[2] == "… and 1 more difference(s) not shown (--limit)"
    assert out[3].startswith("DIFFERS: 2 projection row(s) are not what the log up to position ")
    assert len(out) == 4
    assert main(["verify"]) == 0  # without --projections: the chain only
    capsys.readouterr()
