"""The ledger projection on SQLite and PostgreSQL: reports over date ranges, keyset paging,
the VAT of a term, idempotent posts, replay giving identical rows, migration 0003 both
ways, and the BI views with their read-only role.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.database import alembic_config
from bookkeeper.adapters.sql.ledger import journal_lines, ledger_daily
from bookkeeper.adapters.sql.unit_of_work import SqlUnitOfWork
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.event_log import posting_id
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService, post_entry
from bookkeeper.application.ports import Principal, UnitOfWorkFactory
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.events import JournalEntryPostedData, JournalLine, ReceiptAttachmentData
from bookkeeper.domain.ledger import mirror, posting_for
from tests.unit.conftest import FixedClock, credit, debit
from tests.unit.test_ledger_properties import actions, check_ledger_invariants, windows
from tests.unit.test_ledger_years import check_columns, columns, two_years

D = Decimal
ACCOUNTANT = Principal(subject="anna", tenant_id="acme", roles=frozenset({"accountant"}))
VIEWER = Principal(subject="vera", tenant_id="acme", roles=frozenset({"viewer"}))
FOREIGNER = Principal(subject="fred", tenant_id="globex", roles=frozenset({"accountant"}))
VIEWS = ("bi_proposals", "bi_journal_lines", "bi_account_balances_monthly")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[SqlDatabase]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    database = SqlDatabase(url, pool_size=3, max_overflow=2)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def service(database: SqlDatabase, clock: FixedClock) -> LedgerService:
    return LedgerService(database.uow_factory(), clock, UuidV7Ids(), RoleAuthorizer())


def entry(
    day: dt.date, *lines: JournalLine, description: str = "Postering"
) -> JournalEntryPostedData:
    return JournalEntryPostedData(date=day, description=description, lines=lines)


async def rows(database: SqlDatabase, table: Any) -> list[tuple[Any, ...]]:
    async with database.uow_factory()() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        result = await uow.execute(select(table).order_by(*table.primary_key.columns))
        return [tuple(row) for row in result]


# --- reports ----------------------------------------------------------------------------


async def test_trial_balance_over_date_ranges(service: LedgerService) -> None:
    rent = [debit("6300", "1000"), credit("1920", "1000")]
    await service.post_manual(ACCOUNTANT, dt.date(2026, 1, 31), "Jan", rent)
    await service.post_manual(ACCOUNTANT, dt.date(2026, 2, 1), "Feb", rent)
    await service.post_manual(
        ACCOUNTANT,
        dt.date(2026, 2, 1),
        "Kjøp",
        [debit("6540", "80.10"), debit("2710", "20.03"), credit("1920", "100.13")],
    )
    await service.post_manual(ACCOUNTANT, dt.date(2026, 3, 1), "Mar", rent)
    await service.post_manual(FOREIGNER, dt.date(2026, 2, 1), "Andre", rent)

    def table(report: Any) -> list[tuple[str, str, str, str]]:
        return [(a.account, str(a.debit), str(a.credit), str(a.balance)) for a in report.accounts]

    february = await service.trial_balance(VIEWER, dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert table(february) == [
        ("1920", "0.00", "1100.13", "-1100.13"),
        ("2710", "20.03", "0.00", "20.03"),
        ("6300", "1000.00", "0.00", "1000.00"),
        ("6540", "80.10", "0.00", "80.10"),
    ]
    assert (february.debit, february.credit) == (D("1100.13"), D("1100.13"))
    up_to_february = await service.trial_balance(VIEWER, None, dt.date(2026, 2, 1))
    assert up_to_february.debit == D("2100.13")
    from_february = await service.trial_balance(VIEWER, dt.date(2026, 2, 2), None)
    # Accounts with an opening balance and no turnover are listed too (with their IB/UB).
    assert table(from_february) == [
        ("1920", "0.00", "1000.00", "-1000.00"),
        ("2710", "0.00", "0.00", "0.00"),
        ("6300", "1000.00", "0.00", "1000.00"),
        ("6540", "0.00", "0.00", "0.00"),
    ]
    assert [(a.account, str(a.opening), str(a.closing)) for a in from_february.accounts] == [
        ("1920", "-2100.13", "-3100.13"),
        ("2710", "20.03", "20.03"),
        ("6300", "2000.00", "3000.00"),
        ("6540", "80.10", "80.10"),
    ]
    everything = await service.trial_balance(VIEWER, None, None)
    assert everything.debit == everything.credit == D("3100.13")
    assert sum((a.balance for a in everything.accounts), D(0)) == 0


YEAR_PERIODS = [
    (None, None),
    (dt.date(2026, 5, 1), dt.date(2026, 6, 30)),
    (dt.date(2025, 7, 1), dt.date(2026, 6, 30)),
    (dt.date(2026, 1, 1), None),
    (None, dt.date(2025, 12, 31)),
    (dt.date(2027, 1, 1), None),
]


async def test_reports_across_two_years_read_as_in_memory(
    database: SqlDatabase, clock: FixedClock
) -> None:
    """Opening, movement, carried and closing per account, and the general ledger's
    opening and running balances, from the daily totals as the in-memory reference has
    them (tests/unit/test_ledger_years.py: the figures)."""
    sql = await two_years(database.uow_factory(), clock)
    memory = await two_years(MemoryUnitOfWorkFactory(), clock)
    mid = await sql.trial_balance(VIEWER, dt.date(2026, 5, 1), dt.date(2026, 6, 30))
    assert columns(mid)["3000"] == ("-500.00", "0.00", "0.00", "0.00", "-500.00")
    assert columns(mid)["2050"] == ("-850.00", "0.00", "0.00", "0.00", "-850.00")
    for start, end in YEAR_PERIODS:
        report = await sql.trial_balance(VIEWER, start, end)
        assert columns(report) == columns(await memory.trial_balance(VIEWER, start, end))
        check_columns(report)
        for a in report.accounts:
            page = await sql.general_ledger(VIEWER, a.account, start, end, limit=1)
            balances = [str(i.balance) for i in page.lines]
            while page.next_cursor is not None:
                page = await sql.general_ledger(VIEWER, a.account, start, end, page.next_cursor, 1)
                balances += [str(i.balance) for i in page.lines]
                assert page.opening_balance == a.opening  # every page shows the period's
            reference = await memory.general_ledger(VIEWER, a.account, start, end, limit=500)
            assert balances == [str(i.balance) for i in reference.lines]
            assert (page.closing_balance, reference.closing_balance) == (a.closing, a.closing)


async def test_general_ledger_pages_lose_and_repeat_nothing(service: LedgerService) -> None:
    # Several lines on the account per entry and per day, dates posted out of order.
    for number in range(24):
        day = dt.date(2026, 5, 1) + dt.timedelta(days=(number * 7) % 5)
        await service.post_manual(
            ACCOUNTANT,
            day,
            f"Bilag {number}",
            [
                debit("1920", f"{number + 1}.00"),
                debit("1920", "0.50") if number % 3 == 0 else debit("7770", "0.50"),
                credit("3000", f"{number + 1}.50"),
            ],
        )
    start, end = dt.date(2026, 5, 2), dt.date(2026, 5, 4)
    whole = await service.general_ledger(VIEWER, "1920", start, end, limit=200)
    assert whole.next_cursor is None
    keys = [(i.line.date, i.line.position, i.line.line_no) for i in whole.lines]
    assert keys == sorted(keys)
    assert len(keys) > 14
    paged: list[Any] = []
    cursor = None
    while True:
        page = await service.general_ledger(VIEWER, "1920", start, end, cursor, 4)
        paged.extend(page.lines)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(page.lines) == 4
    assert [(i.line.entry_id, i.line.line_no, i.balance) for i in paged] == [
        (i.line.entry_id, i.line.line_no, i.balance) for i in whole.lines
    ]
    opening = whole.opening_balance
    assert opening == sum(
        (
            i.line.debit
            for i in (await service.general_ledger(VIEWER, "1920", None, None, limit=200)).lines
            if i.line.date < start
        ),
        D(0),
    )
    assert whole.closing_balance == opening + sum((i.line.debit for i in whole.lines), D(0))
    assert all(i.line.date >= start and i.line.date <= end for i in whole.lines)


async def test_vat_report_of_a_term(
    service: LedgerService, database: SqlDatabase, clock: FixedClock
) -> None:
    receipt = ReceiptAttachmentData(
        merchant_name="Rema 1000",
        amount=D("115.00"),
        date=dt.date(2026, 11, 3),
        vat_rate=D("15"),
        account_code="6860",
    )
    proposal = uuid.uuid4()
    posting = posting_for(receipt, proposal_id=str(proposal))
    assert posting is not None
    async with database.uow_factory()() as uow:
        await post_entry(
            uow,
            "acme",
            posting,
            entry_id=posting_id(proposal),
            actor="system:executor",
            correlation_id=proposal,
            parent_id=None,
            now=clock.now(),
        )
        await uow.commit()
    await service.post_manual(
        ACCOUNTANT,
        dt.date(2026, 12, 31),
        "Salg",
        [
            debit("1500", "2500"),
            credit("3000", "2000", vat_code="3", vat_part="base"),
            credit("2700", "500", vat_code="3", vat_part="tax"),
        ],
    )
    await service.post_manual(
        ACCOUNTANT,
        dt.date(2027, 1, 1),
        "Neste termin",
        [
            debit("1500", "125"),
            credit("3000", "100", vat_code="3"),
            credit("2700", "25", vat_code="3", vat_part="tax"),
        ],
    )
    report = await service.vat_report(VIEWER, 2026, 6)
    assert (report.term.start, report.term.end, report.term.due) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 31),
        dt.date(2027, 2, 10),
    )
    assert [
        (v.vat_code, str(v.rate), v.direction, str(v.base), str(v.vat)) for v in report.lines
    ] == [
        ("3", "25", "output", "2000.00", "500.00"),
        ("11", "15", "input", "100.00", "15.00"),
    ]
    assert (report.output_vat, report.input_vat, report.payable) == (
        D("500.00"),
        D("15.00"),
        D("485.00"),
    )
    january = await service.vat_report(VIEWER, 2027, 1)
    assert [(v.vat_code, str(v.base), str(v.vat)) for v in january.lines] == [
        ("3", "100.00", "25.00")
    ]


# --- idempotency ------------------------------------------------------------------------


async def test_posting_an_entry_again_adds_nothing(database: SqlDatabase) -> None:
    factory = database.uow_factory()
    entry_id = uuid.uuid4()
    posted_at = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    twice = entry(
        dt.date(2026, 6, 1), debit("6300", "10"), debit("6300", "5"), credit("1920", "15")
    )
    async with factory() as uow:
        await uow.ledger.post("acme", entry_id, 7, posted_at, twice)
        await uow.ledger.post("acme", entry_id, 7, posted_at, twice)
        await uow.commit()
    async with factory() as uow:
        await uow.ledger.post("acme", entry_id, 7, posted_at, twice)
        await uow.commit()
    daily = await rows(database, ledger_daily)
    assert [(r[1], r[3], r[4]) for r in daily] == [
        ("1920", D("0.00"), D("15.00")),
        ("6300", D("15.00"), D("0.00")),
    ]
    assert len(await rows(database, journal_lines)) == 3


@pytest.mark.postgres
async def test_concurrent_posts_of_one_entry_count_once(postgres_url: str) -> None:
    """The second post waits on the first's uncommitted lines, then inserts nothing."""
    database = SqlDatabase(postgres_url, pool_size=4, max_overflow=0)
    try:
        factory = database.uow_factory()
        entry_id = uuid.uuid4()
        posting = entry(dt.date(2026, 6, 1), debit("6300", "10"), credit("1920", "10"))
        first_posted = asyncio.Event()

        async def first() -> None:
            async with factory() as uow:
                await uow.ledger.post("acme", entry_id, 1, dt.datetime.now(dt.UTC), posting)
                first_posted.set()
                await until_a_session_waits_for_a_lock(postgres_url)
                await uow.commit()

        async def second() -> None:
            await first_posted.wait()
            async with factory() as uow:
                await uow.ledger.post("acme", entry_id, 1, dt.datetime.now(dt.UTC), posting)
                await uow.commit()

        await asyncio.gather(first(), second())
        async with factory() as uow:
            totals = await uow.ledger.trial_balance("acme", None, None)
        assert [(t.account, t.debit, t.credit) for t in totals] == [
            ("1920", D("0.00"), D("10.00")),
            ("6300", D("10.00"), D("0.00")),
        ]
    finally:
        await database.dispose()


async def until_a_session_waits_for_a_lock(url: str) -> None:
    """Give the other unit of work the chance to block on our rows (bounded; if it never
    does, the posts merely ran one after the other, which the test also accepts)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        for _ in range(200):
            waiting = await (
                await admin.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).fetchone()
            if waiting and waiting[0]:
                return
            await asyncio.sleep(0.01)


# --- invariants and replay --------------------------------------------------------------


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions, windows, st.integers(1, 4))
def test_the_reports_agree_with_what_was_posted_on_sqlite(
    sqlite_url: str, steps: list[Any], window: tuple[Any, Any], page: int
) -> None:
    tenant = f"tenant-{uuid.uuid4()}"  # the examples share the file: one tenant each

    async def check() -> None:
        database = SqlDatabase(sqlite_url, pool_size=1, max_overflow=0)
        try:
            await check_ledger_invariants(database.uow_factory(), tenant, steps, window, page)
        finally:
            await database.dispose()

    asyncio.run(check())


async def post_a_mixed_ledger(
    factory: UnitOfWorkFactory, service: LedgerService, clock: FixedClock
) -> int:
    """Executed proposals (through the handlers), their reversals and manual entries."""
    handlers = Handlers(factory, clock, UuidV7Ids(), RoleAuthorizer())
    agent = Principal(subject="book-e", tenant_id="acme", roles=frozenset({"agent"}))
    entries = 0
    for number in range(6):
        clock.advance(minutes=1)
        receipt = ReceiptAttachmentData(
            merchant_name=f"Butikk {number}",
            amount=D("100.00") + number,
            date=dt.date(2026, 2, 1) + dt.timedelta(days=number * 9),
            vat_rate=(D("25"), D("15"), D("12"), D("0"))[number % 4],
            account_code="6540",
        )
        submitted = await handlers.dispatch(
            SubmitEvent(principal=agent, type="ReceiptAttachmentProposed", data=receipt)
        )
        posting = posting_for(receipt, proposal_id=str(submitted.stream_id))
        assert posting is not None
        async with factory() as uow:
            await post_entry(
                uow,
                "acme",
                posting,
                entry_id=posting_id(submitted.stream_id),
                actor="system:executor",
                correlation_id=submitted.correlation_id,
                parent_id=None,
                now=clock.now(),
            )
            if number % 3 == 0:
                await post_entry(
                    uow,
                    "acme",
                    mirror(
                        posting,
                        entry_id=str(posting_id(submitted.stream_id)),
                        date=receipt.date + dt.timedelta(days=40),
                        proposal_id=str(submitted.stream_id),
                    ),
                    entry_id=posting_id(submitted.stream_id, "reversal"),
                    actor="system:executor",
                    correlation_id=submitted.correlation_id,
                    parent_id=None,
                    now=clock.now(),
                )
                entries += 1
            await uow.commit()
        entries += 1
        await service.post_manual(
            ACCOUNTANT if number % 2 else FOREIGNER,
            dt.date(2026, 3, number + 1),
            f"Manuell {number}",
            [debit("6300", "12.34"), debit("6300", "0.66"), credit("2400:20001", "13.00")],
            idempotency_key=f"k{number}",
        )
        entries += 1
    return entries


async def test_replay_rebuilds_the_ledger_identically(
    database: SqlDatabase, service: LedgerService, clock: FixedClock
) -> None:
    factory = database.uow_factory()
    entries = await post_a_mixed_ledger(factory, service, clock)
    lines_live = await rows(database, journal_lines)
    daily_live = await rows(database, ledger_daily)
    assert len({r[1] for r in lines_live}) == entries

    report = await rebuild_projections(factory, batch=4)  # entries span several pages
    assert report.journal_entries == entries
    assert await rows(database, journal_lines) == lines_live
    assert await rows(database, ledger_daily) == daily_live

    again = await rebuild_projections(factory)
    assert again.journal_entries == entries
    assert await rows(database, ledger_daily) == daily_live


# --- the migration and the BI views -----------------------------------------------------


async def test_the_bi_views_read_the_ledger_with_its_proposals(
    database: SqlDatabase, service: LedgerService, clock: FixedClock
) -> None:
    await post_a_mixed_ledger(database.uow_factory(), service, clock)
    async with database.uow_factory()() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        lines = (
            await uow.execute(
                text(
                    "SELECT account, debit, credit, amount, proposal_kind, proposal_merchant, "
                    "entry_description FROM bi_journal_lines "
                    "WHERE tenant_id = 'acme' AND proposal_merchant = 'Butikk 1' "
                    "ORDER BY position, line_no"
                )
            )
        ).all()
        monthly = (
            await uow.execute(
                text(
                    "SELECT month, debit, credit, net, balance FROM bi_account_balances_monthly "
                    "WHERE tenant_id = 'acme' AND account = '1920' ORDER BY month"
                )
            )
        ).all()
        proposals = (
            await uow.execute(
                text(
                    "SELECT kind, status, amount, vat_rate FROM bi_proposals "
                    "WHERE merchant_name = 'Butikk 1'"
                )
            )
        ).all()
    assert [(r[0], D(str(r[1])), D(str(r[2])), D(str(r[3]))) for r in lines] == [
        ("6540", D("87.83"), D("0"), D("87.83")),
        ("2711", D("13.17"), D("0"), D("13.17")),
        ("1920", D("0"), D("101.00"), D("-101.00")),
    ]
    assert {(r[4], r[5], r[6]) for r in lines} == {
        ("receipt_attachment", "Butikk 1", "Butikk 1 2026-02-10")
    }
    assert [str(r[0])[:7] for r in monthly] == ["2026-02", "2026-03", "2026-04"]
    balances = [D(str(r[4])) for r in monthly]
    nets = [D(str(r[3])) for r in monthly]
    assert balances == [sum(nets[: i + 1], D(0)) for i in range(len(nets))]
    assert [(r[0], r[1], D(str(r[2])), D(str(r[3]))) for r in proposals] == [
        ("receipt_attachment", "PROPOSED", D("101.00"), D("15"))
    ]


def test_migration_0003_downgrades_and_upgrades_again(sqlite_url: str) -> None:
    config = alembic_config(sqlite_url)
    command.downgrade(config, "0002")
    command.upgrade(config, "head")


@pytest.mark.postgres
async def test_the_bi_role_reads_the_views_and_nothing_else(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        assert await (
            await admin.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'bookkeeper_bi'")
        ).fetchall() == [(False,)]
    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        await connection.execute("SET ROLE bookkeeper_bi")
        for view in VIEWS:
            await (await connection.execute(f"SELECT * FROM {view}")).fetchall()
        for refused in (
            "SELECT * FROM events",
            "SELECT * FROM proposals",
            "SELECT * FROM journal_lines",
            "SELECT * FROM ledger_daily",
            "SELECT * FROM tracking",
            "INSERT INTO ledger_daily VALUES ('acme', '1920', '2026-01-01', 1, 0)",
            "INSERT INTO bi_proposals (proposal_id) VALUES (gen_random_uuid())",
            "DELETE FROM bi_proposals",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                async with connection.transaction():
                    await connection.execute(refused)


@pytest.mark.postgres
def test_migration_0003_downgrades_and_upgrades_again_on_postgresql(postgres_url: str) -> None:
    config = alembic_config(postgres_url)
    command.downgrade(config, "0002")
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name IN ('journal_lines', 'ledger_daily', 'bi_proposals')"
        ).fetchone()
        assert tables == (0,)
    command.upgrade(config, "head")
    with psycopg.connect(postgres_url) as connection:
        grants = connection.execute(
            "SELECT table_name FROM information_schema.role_table_grants "
            "WHERE grantee = 'bookkeeper_bi' ORDER BY table_name"
        ).fetchall()
    granted = {g[0] for g in grants}
    # Later migrations grant their own views (0015: costs, audit trail); only views.
    assert set(VIEWS) <= granted and all(name.startswith("bi_") for name in granted)
