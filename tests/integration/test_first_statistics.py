"""ADR 0048: a fresh PostgreSQL database's first statistics. Before the proposals table's
first ANALYZE, the duplicate probe's generic plan (cached per connection after five
executions) walks a narrow index of the whole tenant; the first-statistics step analyses a
hot table once it holds FIRST_STATISTICS_ROWS rows, which also replaces that cached plan on
every connection. The step does nothing below the threshold or on analysed tables, stops
asking once all are analysed, never raises, and runs in the serve on PostgreSQL only (and
after `bookkeeper migrate`)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dependency_injector import providers
from sqlalchemy import event

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.first_statistics import (
    FIRST_STATISTICS_ROWS,
    HOT_TABLES,
    FirstStatistics,
)
from bookkeeper.adapters.sql.patterns import candidate_params
from bookkeeper.adapters.sql.proposals import duplicate_params
from bookkeeper.adapters.sql.scoring import statements_for
from bookkeeper.application.ports import DuplicateProbe
from bookkeeper.container import Container, shutdown
from bookkeeper.entrypoints.cli.main import _migrate
from bookkeeper.entrypoints.serve import FIRST_STATISTICS_JOB, start_process
from bookkeeper.settings import Settings
from tests.integration.conftest import PostgresServer
from tests.polling import polls

pytestmark = pytest.mark.postgres

TENANT = "acme"
#: Where the generic plan went wrong: a few hundred proposals, as many merchants.
ROWS = 400


@pytest.fixture
def admin(postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test's database; autovacuum off on the hot tables,
    so that only the step under test (never autovacuum's own first analysis, which could
    come within the test) gives them statistics."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        for table in HOT_TABLES:
            connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        yield connection


def insert_proposals(connection: psycopg.Connection[Any], count: int) -> None:
    """`count` proposals of one tenant, each of its own merchant (of `count`), flushed to
    the statistics views at once."""
    connection.execute(
        """
        INSERT INTO proposals (id, tenant_id, kind, type, status, version, correlation_id,
            proposed_by, proposed_at, updated_at, merchant_key, amount, document_date, data,
            attempts, external_ids, last_position)
        SELECT gen_random_uuid(), %(tenant)s, 'invoice', 'InvoiceRegistration', 'PROPOSED', 1,
            gen_random_uuid(), 'user:test', now(), now(), 'merchant ' || g, (g %% 97) + 0.5,
            date '2026-01-01' + (g %% 300), '{}', 0, '{}', g
        FROM generate_series(1, %(count)s) AS g
        """,
        {"tenant": TENANT, "count": count},
    )
    connection.execute("SELECT pg_stat_force_next_flush()")


def analysed(connection: psycopg.Connection[Any], table: str) -> bool:
    row = connection.execute(
        "SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL"
        " FROM pg_stat_user_tables WHERE relname = %s",
        (table,),
    ).fetchone()
    assert row is not None
    return bool(row[0])


class CachedDuplicateProbe:
    """The propose path's scoring read with a duplicate probe (adapters/sql/scoring.py, the
    parts of `duplicate_parts`), prepared on a connection of its own and executed until
    PostgreSQL caches its generic plan, as a pooled connection of the hot path does."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        hot = statements_for("postgresql").by_amount
        probe = DuplicateProbe(
            merchant_key="merchant 5",
            amount=Decimal("5.50"),
            date_from=dt.date(2026, 1, 1),
            date_to=dt.date(2026, 12, 31),
            document_number=None,
            exclude_id=uuid.uuid4(),
        )
        values = {
            **hot.defaults,
            **candidate_params(TENANT, probe.merchant_key),
            **duplicate_params(TENANT, probe),
        }
        self.values = [values[name] for name in hot.names]
        self.arguments = ", ".join(["%s"] * len(self.values))
        connection.execute(f"PREPARE probe AS {hot.positional}")
        for _ in range(6):  # the sixth execution uses (and caches) the generic plan
            self.cursor().execute(f"EXECUTE probe ({self.arguments})", self.values)

    def cursor(self) -> psycopg.ClientCursor[Any]:
        # EXECUTE takes no bound parameters: the values are rendered client-side.
        return psycopg.ClientCursor(self.connection)

    def plan(self) -> str:
        cursor = self.cursor()
        cursor.execute(f"EXPLAIN EXECUTE probe ({self.arguments})", self.values)
        return "\n".join(str(row[0]) for row in cursor.fetchall())


async def test_a_cached_plan_made_without_statistics_is_replaced_after_the_first_analyze(
    postgres_url: str, admin: psycopg.Connection[Any]
) -> None:
    insert_proposals(admin, ROWS)
    with psycopg.connect(postgres_url, autocommit=True) as pooled:
        probe = CachedDuplicateProbe(pooled)
        # The defect (issue 14): the whole tenant through a narrow index, filtered and sorted.
        before = probe.plan()
        assert "ix_proposals_duplicate_amount" not in before, before

        database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
        try:
            step = FirstStatistics(database.engine)
            for _ in polls():
                if await step.analyse_due() == ["proposals"]:
                    break
        finally:
            await database.dispose()

        assert analysed(admin, "proposals")
        assert not step.done  # patterns and events are still empty, never analysed
        after = probe.plan()
        assert "ix_proposals_duplicate_amount" in after, after
        assert "ix_proposals_tenant_proposed" not in after, after
        assert "ix_proposals_tenant_target" not in after, after


async def test_nothing_below_the_threshold_nor_on_analysed_tables_and_then_it_stops(
    postgres_url: str, admin: psycopg.Connection[Any]
) -> None:
    insert_proposals(admin, FIRST_STATISTICS_ROWS - 1)
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    statements: list[str] = []
    event.listen(
        database.engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, sql, *_args: statements.append(sql),
    )
    try:
        step = FirstStatistics(database.engine)
        assert await step.analyse_due() == []
        assert not step.done and not analysed(admin, "proposals")

        for table in HOT_TABLES:
            admin.execute(f"ANALYZE {table}")
        insert_proposals(admin, FIRST_STATISTICS_ROWS)  # analysed already: not again
        assert await step.analyse_due() == []
        assert step.done
        assert not any("ANALYZE" in sql for sql in statements), statements

        asked = len(statements)
        assert await step.run() is False
        assert await step.analyse_due() == []
        assert len(statements) == asked  # done: not even the pg_stat query
    finally:
        await database.dispose()


async def test_an_unmigrated_or_unreachable_database_is_not_done_and_nothing_is_raised(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    empty = postgres_server.create()
    database = SqlDatabase(postgres_server.url_of(empty), pool_size=1, max_overflow=0)
    try:
        step = FirstStatistics(database.engine)
        assert await step.analyse_due() == []
        assert not step.done  # the hot tables are not there yet
    finally:
        await database.dispose()
        postgres_server.drop(empty)

    missing = SqlDatabase(postgres_server.url_of(f"{empty}_missing"), pool_size=1)
    try:
        step = FirstStatistics(missing.engine)
        with caplog.at_level(logging.WARNING, logger="bookkeeper.adapters.sql.first_statistics"):
            assert await step.run() is False
            assert await step.run() is False
        assert not step.done
        warnings = [r for r in caplog.records if "could not analyse" in r.getMessage()]
        assert len(warnings) == 1  # once in a row, not at every run
    finally:
        await missing.dispose()


def serve_container(tmp_path: Path, **overrides: object) -> Container:
    container = Container()
    container.settings.override(
        providers.Object(Settings.for_data_dir(tmp_path, executor_enabled=False, **overrides))
    )
    return container


async def test_the_serve_runs_the_job_on_postgresql_only(tmp_path: Path, postgres_url: str) -> None:
    for database_url, expected in ((postgres_url, True), (None, False)):
        overrides = {} if database_url is None else {"database_url": database_url}
        container = serve_container(tmp_path / str(expected), **overrides)
        process = await start_process(container)
        try:
            assert process.services.database.dialect == ("postgresql" if expected else "sqlite")
            assert (FIRST_STATISTICS_JOB in process.jobs) is expected
        finally:
            await process.close()
            await shutdown(container)


async def test_migrate_gives_tables_that_hold_rows_their_first_statistics(
    tmp_path: Path, postgres_url: str, admin: psycopg.Connection[Any]
) -> None:
    insert_proposals(admin, ROWS)
    for _ in polls():
        container = serve_container(tmp_path, database_url=postgres_url)
        await _migrate(container)  # shuts the container down
        if analysed(admin, "proposals"):
            break
    assert analysed(admin, "proposals")
    assert not analysed(admin, "patterns")  # empty: left to the serve's job
