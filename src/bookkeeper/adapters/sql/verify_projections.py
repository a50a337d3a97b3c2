"""`bookkeeper verify --projections`: the read models against a refold of the log (ADR 0024
addendum 2).

The hash chain proves the log is as sealed; the reports an auditor reads come from the
projections, which a hand-made UPDATE changes without the chain noticing. This refolds the
log with the fold the live path and `replay` use, into tables of its own, and compares
them with the live projections in SQL, as of one moment:

* **PostgreSQL**: `ShadowReplay.refold_in_snapshot` — the replay's cut and bulk phase
  (ADR 0038) into the shadow schema, on the REPEATABLE READ snapshot's own connection, so
  the comparison in that transaction sees the shadow rows and the live rows of the same
  snapshot (a write committed after the cut is on neither side). Writers wait only for
  the cut. The cost snapshots, which the replay refills on their own, are folded into the
  shadow schema from the same snapshot by the memory adapter's reference fold.
* **SQLite**: one deferred (read) transaction on one connection: TEMP tables named like
  the projections (SQLite looks a name up in `temp` first), `rebuild_projections` folds into
  them through an ordinary unit of work, and the comparison reads `temp` against `main`
  in the same transaction. In WAL mode it holds no lock a writer waits for; the unit of
  work never commits, so nothing it wrote survives it.

Each table is compared on its columns but those `NOT_COMPARED` names (`EXCEPT` both ways,
keys in order); only the first `shown` differences are read back row by row to say which
columns differ. Nothing is ever written to the live tables.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self

import msgspec
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bookkeeper.adapters.memory_costs import MemoryCostSnapshots
from bookkeeper.adapters.sql.costs import snapshot_values
from bookkeeper.adapters.sql.database import READ_ONLY, SqlDatabase
from bookkeeper.adapters.sql.event_store import _recorded
from bookkeeper.adapters.sql.group_write import GroupWriter
from bookkeeper.adapters.sql.health import QueryHealth
from bookkeeper.adapters.sql.ledger import journal_lines, ledger_daily
from bookkeeper.adapters.sql.rules import TaxRatesCache
from bookkeeper.adapters.sql.schema import cost_snapshots, patterns, proposals
from bookkeeper.adapters.sql.shadow_replay import EVENT_COLUMNS, SHADOW, ShadowReplay
from bookkeeper.adapters.sql.tenant_settings import RulesCache
from bookkeeper.adapters.sql.unit_of_work import SqlUnitOfWork
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.application.seal import DEFAULT_SHOWN, ProjectionCheck, ProjectionDifference
from bookkeeper.application.spending import SNAPSHOT_TYPES

#: Every projection `replay` rebuilds (rebuild_projections clears these), the books first.
TABLES: Final[tuple[Table, ...]] = (
    journal_lines,
    ledger_daily,
    proposals,
    patterns,
    cost_snapshots,
)
#: Columns the live path keeps otherwise than a refold of the log gives them, with why;
#: they are not compared. Every other column is: a difference there is tampering or a bug.
NOT_COMPARED: Final[Mapping[str, Mapping[str, str]]] = {
    "proposals": {
        # The executor's heartbeat renews the lease of the attempt it is running in the
        # projection only (ADR 0026): the log keeps the lease ExecutionStarted gave, so a
        # refold gives the older time. No report reads it; it only keeps a second executor
        # off the attempt (the replay's swap carries it over for the same reason).
        "lease_until": "renewed by the executor's heartbeat in the projection only",
    },
}
#: A value shown in a difference is cut to this many characters.
_SHOWN_CHARS: Final = 48
_CREATE_TABLE: Final = re.compile(r"^\s*CREATE\s+TABLE\s+", re.IGNORECASE)

#: Runs one query (`:name` binds) with its parameters; the rows as tuples.
Query = Callable[[str, dict[str, Any]], Awaitable[list[tuple[Any, ...]]]]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        shown = msgspec.json.encode(value).decode()
    elif isinstance(value, dt.datetime):
        shown = value.isoformat()
    else:
        shown = str(value)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 1] + "…"


def compared_columns(table: Table) -> list[str]:
    """The columns of a projection that are compared (all but NOT_COMPARED's), in order."""
    skipped = NOT_COMPARED.get(table.name, {})
    return [c.name for c in table.c if c.name not in skipped]


class _Differences:
    """Counts every difference and keeps the first `shown`."""

    def __init__(self, shown: int) -> None:
        self.room = max(shown, 0)
        self.kept: list[ProjectionDifference] = []
        self.count = 0


async def compare(
    query: Query,
    refolded: str,
    live: str,
    shown: int,
    readable: Callable[[Table, str, Any], Any] = lambda _t, _c, value: value,
) -> tuple[list[ProjectionDifference], int]:
    """Compare every projection in schema `refolded` with the same in `live`: the first
    `shown` differences (table by table, in key order) and how many there are in all.
    `readable` turns a stored value of (table, column) into the value to show."""
    found = _Differences(shown)
    for table in TABLES:
        await _compare_table(query, table, refolded, live, found, readable)
    return found.kept, found.count


async def _compare_table(
    query: Query,
    table: Table,
    refolded: str,
    live: str,
    found: _Differences,
    readable: Callable[[Table, str, Any], Any],
) -> None:
    names = compared_columns(table)
    key = [c.name for c in table.primary_key.columns]
    columns = ", ".join(_quoted(n) for n in names)
    keys = ", ".join(_quoted(k) for k in key)
    mine = f"{_quoted(refolded)}.{_quoted(table.name)}"
    theirs = f"{_quoted(live)}.{_quoted(table.name)}"
    room = found.room - len(found.kept)
    # Both ways: a row only in the refold is missing or changed in the table; one only in
    # the table is extra or changed. NULLs are equal in EXCEPT, as wanted.
    rows = await query(
        f"WITH r AS (SELECT {columns} FROM {mine} EXCEPT SELECT {columns} FROM {theirs}), "  # noqa: S608
        f"l AS (SELECT {columns} FROM {theirs} EXCEPT SELECT {columns} FROM {mine}), "
        f"k AS (SELECT {keys} FROM r UNION SELECT {keys} FROM l) "
        f"SELECT {keys}, count(*) OVER () FROM k ORDER BY {keys} LIMIT {max(room, 1)}",
        {},
    )
    if not rows:
        return
    found.count += int(rows[0][-1])
    where = " AND ".join(f"{_quoted(k)} = :k{i}" for i, k in enumerate(key))
    for row in rows[:room]:
        params = {f"k{i}": value for i, value in enumerate(row[: len(key)])}
        one = await query(f"SELECT {columns} FROM {mine} WHERE {where}", params)  # noqa: S608
        other = await query(f"SELECT {columns} FROM {theirs} WHERE {where}", params)  # noqa: S608
        shown_key = tuple(
            (k, _shown(readable(table, k, v))) for k, v in zip(key, row, strict=False)
        )
        if not other:
            found.kept.append(ProjectionDifference(table.name, shown_key, "missing"))
        elif not one:
            found.kept.append(ProjectionDifference(table.name, shown_key, "extra"))
        else:
            differing = tuple(
                f"{name} (log {_shown(readable(table, name, a))}, "
                f"table {_shown(readable(table, name, b))})"
                for name, a, b in zip(names, one[0], other[0], strict=True)
                if a != b
            )
            # Equal once read, yet not in SQL: stored differently (e.g. a type's text form).
            found.kept.append(
                ProjectionDifference(
                    table.name, shown_key, "changed", differing or ("(stored differently)",)
                )
            )


async def check_projections(
    database: SqlDatabase,
    shown: int = DEFAULT_SHOWN,
    *,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> ProjectionCheck:
    """`bookkeeper verify --projections` on either dialect (see the module's docstring);
    `progress` hears the number of events folded so far."""
    if database.dialect == "postgresql":
        return await _check_postgres(database.engine, shown, batch, progress)
    return await _check_sqlite(database, shown, batch, progress)


# --- PostgreSQL -------------------------------------------------------------------------


async def _check_postgres(
    engine: AsyncEngine, shown: int, batch: int, progress: Callable[[int], None] | None
) -> ProjectionCheck:
    async def in_snapshot(
        conn: psycopg.AsyncConnection[Any], live: str, head: int
    ) -> ProjectionCheck:
        await _fold_costs(conn)

        async def query(statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            pg = re.sub(r":(k\d+)", r"%(\1)s", statement)
            return await (await conn.execute(pg, params)).fetchall()

        kept, count = await compare(query, SHADOW, live, shown)
        return ProjectionCheck(tuple(kept), count, head, tuple(t.name for t in TABLES))

    replay = ShadowReplay(engine, batch=batch, processes=1)
    return await replay.refold_in_snapshot(
        in_snapshot, extra_tables=(cost_snapshots.name,), progress=progress
    )


async def _fold_costs(conn: psycopg.AsyncConnection[Any]) -> None:
    """The cost snapshots of the snapshot's log into the shadow table: the latest version
    of each stream (the memory adapter's reference fold, ADR 0040 §6), as the SQL
    projection's `put` writes a row (`snapshot_values`)."""
    cursor = await conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE type = ANY(%s) ORDER BY position",  # noqa: S608
        (list(SNAPSHOT_TYPES),),
    )
    log = [_recorded(row) for row in await cursor.fetchall()]
    folded = MemoryCostSnapshots(log)
    rows: list[tuple[Any, ...]] = []
    for tenant in sorted({event.tenant_id for event in log}):
        for row in await folded.between(tenant, dt.date.min, dt.date.max):
            values = snapshot_values(row)
            rows.append(
                (
                    tenant,
                    row.stream_id,
                    values["day"],
                    values["version"],
                    values["recorded_at"],
                    values["schema_version"],
                    Jsonb(values["data"]),
                )
            )
    if rows:
        async with conn.cursor() as insert:
            await insert.executemany(
                "INSERT INTO cost_snapshots (tenant_id, stream_id, day, version, recorded_at, "
                "schema_version, data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                rows,
            )


# --- SQLite -----------------------------------------------------------------------------


class _Reading:
    """The database as a unit of work sees it, but its transactions begin DEFERRED (a
    read transaction: no write lock on the file; TEMP tables are written all the same)."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database
        self.dialect = database.dialect
        self._engine = database.engine.execution_options(**{READ_ONLY: True})

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def health(self) -> QueryHealth:
        return self._database.health

    @property
    def rules_cache(self) -> RulesCache:
        return self._database.rules_cache

    @property
    def tax_rates_cache(self) -> TaxRatesCache:
        return self._database.tax_rates_cache

    @property
    def proposal_writer(self) -> GroupWriter | None:
        return None

    def connection_lost(self) -> None:
        self._database.connection_lost()

    async def acquire_writer(self) -> None:
        # This process's turn, as any unit of work takes it (it shares an in-memory
        # database's one connection); writers in other processes are not held back.
        await self._database.acquire_writer()

    def release_writer(self) -> None:
        self._database.release_writer()


class _HeldOpen(SqlUnitOfWork):
    """`rebuild_projections`' unit of work, kept open after it: entering and leaving it
    does nothing and its commit does nothing, so the comparison reads the same snapshot
    and `close` rolls everything back (the TEMP tables too)."""

    async def open(self) -> None:
        await super().__aenter__()

    async def close(self) -> None:
        await super().__aexit__(None, None, None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        return None


async def _check_sqlite(
    database: SqlDatabase, shown: int, batch: int, progress: Callable[[int], None] | None
) -> ProjectionCheck:
    unit = _HeldOpen(_Reading(database))
    await unit.open()
    try:

        async def query(statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            result = await unit.execute(text(statement), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []

        for table in TABLES:
            [(ddl,)] = await query(
                "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = :name",
                {"name": table.name},
            )
            temporary, made = _CREATE_TABLE.subn("CREATE TEMP TABLE ", ddl, count=1)
            assert made == 1, ddl
            await query(temporary, {})
        head = int((await query("SELECT coalesce(max(position), 0) FROM main.events", {}))[0][0])
        # Writes only to the TEMP tables (found first by their unqualified names); the unit
        # never commits.
        await rebuild_projections(lambda: unit, batch, progress=progress)
        dialect = database.engine.dialect

        def readable(table: Table, column: str, value: Any) -> Any:
            if value is None:
                return None
            processor = table.c[column].type.dialect_impl(dialect).result_processor(dialect, None)
            try:
                return processor(value) if processor is not None else value
            except (ValueError, TypeError):
                return value

        kept, count = await compare(query, "temp", "main", shown, readable)
        return ProjectionCheck(tuple(kept), count, head, tuple(t.name for t in TABLES))
    finally:
        await unit.close()
