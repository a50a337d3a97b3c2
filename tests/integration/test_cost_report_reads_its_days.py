"""The cost report reads the cost snapshot projection (ADR 0040 §6): the same figures as
the fold of the log it replaced, for a seeded set with revisions, on SQLite and PostgreSQL
(also after a replay, and after migration 0019 rebuilds the projection from the log), and
a read of its own days through the (tenant, day) index, whatever else the log holds."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
import pytest
from alembic import command
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.costs import between_statement
from bookkeeper.adapters.sql.database import alembic_config
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ports import EventFilter, UnitOfWorkFactory
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.application.spending import (
    GROUPS,
    SNAPSHOT_TYPES,
    CostRecord,
    ExchangeRate,
    Snapshot,
    SpendingService,
    build_report,
)
from bookkeeper.container import _replay_of
from bookkeeper.domain.events import CostSnapshotData
from tests.integration.conftest import _libpq_url
from tests.integration.test_bounded_reads import _rows_read
from tests.unit.conftest import FixedClock, principal

D = Decimal
FIRST = dt.date(2026, 1, 1)
DAYS = 60
MODELS = ("m1", "m2", "m3")
VIEWER = principal("vera", "viewer")


@dataclass
class Source:
    name: str = "anthropic"
    bump: dict[tuple[dt.date, str], str] = field(default_factory=dict)

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        records = []
        day = start
        while day <= end:
            for n, model in enumerate(MODELS):
                amount = self.bump.get((day, model), f"{day.day}.{n}{day.month}")
                records.append(
                    CostRecord(
                        source=self.name,
                        day=day,
                        service="claude-api",
                        model=model,
                        currency="USD",
                        amount=D(amount),
                        input_tokens=day.day * 10,
                        output_tokens=n,
                    )
                )
            day += dt.timedelta(days=1)
        return records


class Rates:
    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        return ExchangeRate(currency=currency, date=day, rate=D("10.5") + D(day.day) / 100)


async def folded(uows: UnitOfWorkFactory, start: dt.date, end: dt.date) -> list[Snapshot]:
    """The snapshots as the report found them before: a fold of the log."""
    latest: dict[uuid.UUID, Snapshot] = {}
    position = 0
    while True:
        async with uows() as uow:
            events = await uow.events.query(
                "acme", EventFilter(types=SNAPSHOT_TYPES, after_position=position, limit=500)
            )
        for e in events:
            if isinstance(e.data, CostSnapshotData) and start <= e.data.day <= end:
                known = latest.get(e.stream_id)
                if known is None or e.version > known.version:
                    latest[e.stream_id] = Snapshot(
                        stream_id=e.stream_id,
                        version=e.version,
                        recorded_at=e.created_at,
                        data=e.data,
                    )
        if len(events) < 500:
            break
        position = events[-1].position
    return sorted(
        latest.values(),
        key=lambda s: (s.data.day, s.data.source, s.data.service, s.data.model or ""),
    )


async def seed(service: SpendingService, source: Source) -> None:
    last = FIRST + dt.timedelta(days=DAYS - 1)
    await service.pull("acme", FIRST, last)
    # Revisions, some of them twice, days after the figures were first recorded.
    source.bump = {(FIRST + dt.timedelta(days=d), "m2"): f"{d}.5" for d in range(0, DAYS, 7)}
    await service.pull("acme", FIRST, last)
    source.bump = {(FIRST + dt.timedelta(days=d), "m2"): f"{d}.75" for d in range(0, DAYS, 14)}
    await service.pull("acme", FIRST, last)


RANGES = [
    (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
    (dt.date(2026, 1, 15), dt.date(2026, 1, 15)),
    (dt.date(2026, 2, 20), dt.date(2026, 4, 30)),
]


async def same_figures(service: SpendingService, uows: UnitOfWorkFactory) -> None:
    for start, end in RANGES:
        before = await folded(uows, start, end)
        assert before, (start, end)
        assert await service.snapshots("acme", start, end) == before
        for group in GROUPS:
            report = await service.report(VIEWER, start, end, group)
            assert report == build_report(before, start, end, group), (start, end, group)


async def test_the_report_has_the_figures_of_the_fold_of_the_log(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    uows = sql_database.uow_factory()
    source = Source()
    service = SpendingService(uows, FixedClock(), UuidV7Ids(), RoleAuthorizer(), Rates(), [source])
    await seed(service, source)
    await same_figures(service, uows)
    # Replay folds the log into it again.
    await rebuild_projections(uows)
    await same_figures(service, uows)
    # `bookkeeper replay` as wired (on PostgreSQL: shadow tables and a swap, ADR 0038,
    # then the cost snapshots refilled on their own) rebuilds it from nothing.
    async with uows() as uow:
        await uow.costs.clear()
        await uow.commit()
    assert await service.snapshots("acme", *RANGES[0]) == []
    await _replay_of(sql_database, uows)(None)
    await same_figures(service, uows)
    # Migration 0019 builds the projection from the log: taken down and up again, the
    # figures are the same.
    url = request.getfixturevalue(
        "postgres_url" if sql_database.dialect == "postgresql" else "sqlite_url"
    )
    config = alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0016")
    await asyncio.to_thread(command.upgrade, config, "head")
    await same_figures(service, uows)


async def test_the_report_reads_only_its_days_through_the_day_index(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    """Eight months of daily figures in the log; a month's report reads that month's rows."""
    uows = sql_database.uow_factory()
    source = Source()
    service = SpendingService(uows, FixedClock(), UuidV7Ids(), RoleAuthorizer(), Rates(), [source])
    await service.pull("acme", dt.date(2025, 9, 1), dt.date(2026, 4, 30))
    start, end = dt.date(2026, 2, 1), dt.date(2026, 2, 28)
    wanted = 28 * len(MODELS)
    assert len(await service.snapshots("acme", start, end)) == wanted
    statement = between_statement("acme", start, end)
    if sql_database.dialect == "postgresql":
        compiled = statement.compile(
            dialect=postgresql_dialect.psycopg.dialect(),  # type: ignore[attr-defined]
            compile_kwargs={"literal_binds": True},
        )
        url = _libpq_url(request.getfixturevalue("postgres_url"))
        with psycopg.connect(url) as connection:
            row = connection.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}").fetchone()
        assert row is not None
        plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
        read = _rows_read(plan[0]["Plan"])
        assert read <= wanted + 10, (read, plan)
    else:
        compiled = statement.compile(dialect=sqlite_dialect.dialect())  # type: ignore[attr-defined]
        path = request.getfixturevalue("sqlite_url").removeprefix("sqlite:///")
        connection = sqlite3.connect(path)
        try:
            holes = [None] * len(compiled.positiontup or ())
            plan = connection.execute("EXPLAIN QUERY PLAN " + str(compiled), holes).fetchall()
        finally:
            connection.close()
        steps = [str(step[-1]) for step in plan]
        assert not [s for s in steps if s.startswith("SCAN")], steps
        assert any("ix_cost_snapshots_day" in s for s in steps), steps
