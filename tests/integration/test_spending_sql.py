"""Cost snapshots on SQLite and PostgreSQL: a race of two pulls records each figure once,
a revision is the next version, and the BI views show the latest figure and the audit trail
(no payloads) — on PostgreSQL to the read-only `bookkeeper_bi` role only."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import text

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ports import EventFilter
from bookkeeper.application.spending import CostRecord, ExchangeRate, SpendingService
from tests.unit.conftest import FixedClock

D = Decimal
DAY = dt.date(2026, 11, 18)


@dataclass
class Source:
    name: str
    records: list[CostRecord]
    gate: asyncio.Barrier | None = None

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), 20)  # both pulls past their reads
        return list(self.records)


class Rates:
    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        return ExchangeRate(currency=currency, date=day, rate=D("10.5"))


def record(amount: str, model: str = "m1") -> CostRecord:
    return CostRecord(
        source="anthropic",
        day=DAY,
        service="claude-api",
        model=model,
        currency="USD",
        amount=D(amount),
        input_tokens=10,
        output_tokens=2,
    )


def service(database: SqlDatabase, source: Source) -> SpendingService:
    return SpendingService(
        database.uow_factory(), FixedClock(), UuidV7Ids(), RoleAuthorizer(), Rates(), [source]
    )


async def test_two_racing_pulls_record_each_figure_once_and_a_revision_once(
    sql_database: SqlDatabase,
) -> None:
    gate = asyncio.Barrier(2)
    source = Source("anthropic", [record("1.00"), record("2.00", "m2")], gate)
    one, two = service(sql_database, source), service(sql_database, source)
    first, second = await asyncio.gather(one.pull("acme", DAY, DAY), two.pull("acme", DAY, DAY))
    assert first.recorded + second.recorded == 2
    assert first.unchanged + second.unchanged == 2
    source.records = [record("1.25"), record("2.00", "m2")]
    gate_again = asyncio.Barrier(2)
    source.gate = gate_again
    first, second = await asyncio.gather(one.pull("acme", DAY, DAY), two.pull("acme", DAY, DAY))
    assert first.revised + second.revised == 1
    async with sql_database.uow_factory()() as uow:
        events = await uow.events.query(
            "acme",
            EventFilter(types=("CostSnapshotRecorded", "CostSnapshotRevised"), limit=100),
        )
    assert sorted(e.type for e in events) == [
        "CostSnapshotRecorded",
        "CostSnapshotRecorded",
        "CostSnapshotRevised",
    ]
    latest = {s.data.model: s.data.amount for s in await one.snapshots("acme", DAY, DAY)}
    assert latest == {"m1": D("1.25"), "m2": D("2.00")}

    async with sql_database.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT tenant_id, day, source, model, currency, amount, amount_nok, rate, "
                    "rate_date, input_tokens, basis, revision FROM bi_costs_daily "
                    "ORDER BY model"
                )
            )
        ).all()
        trail = (
            (
                await connection.execute(
                    text("SELECT * FROM bi_audit_trail WHERE tenant_id = 'acme' ORDER BY position")
                )
            )
            .mappings()
            .all()
        )
    assert [(r[3], D(str(r[5])), D(str(r[6])), r[11]) for r in rows] == [
        ("m1", D("1.25"), D("13.125"), 2),
        ("m2", D("2.00"), D("21"), 1),
    ]
    assert {str(r[1])[:10] for r in rows} == {"2026-11-18"}
    assert {(r[0], r[2], r[4], r[10]) for r in rows} == {("acme", "anthropic", "USD", "billed")}
    assert len(trail) == 3
    assert set(trail[0].keys()) == {
        "tenant_id",
        "position",
        "event_id",
        "type",
        "status",
        "actor",
        "created_at",
        "correlation_id",
        "parent_id",
        "stream_id",
        "version",
        "channel",
    }
    assert {r["channel"] for r in trail} == {"spending"}


@pytest.mark.postgres
async def test_the_bi_role_reads_the_cost_and_audit_views_and_not_the_log(
    postgres_url: str,
) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        await connection.execute("SET ROLE bookkeeper_bi")
        for view in ("bi_costs_daily", "bi_audit_trail"):
            await (await connection.execute(f"SELECT * FROM {view}")).fetchall()
        for refused in ("SELECT data FROM events", "DELETE FROM bi_audit_trail"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                async with connection.transaction():
                    await connection.execute(refused)
