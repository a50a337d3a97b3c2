"""A fresh PostgreSQL database's first statistics: ANALYZE each hot table once, as soon as
it holds enough rows to matter and before autovacuum first gets to it (ADR 0048).

Before a table's first ANALYZE the planner has no column statistics and its estimates
tie (one row everywhere), so a prepared statement's *generic* plan, which PostgreSQL
adopts after five executions and keeps per connection until the table's relcache entry
is invalidated, may walk a narrow index of the whole tenant: the duplicate probe took
`ix_proposals_tenant_proposed` + Filter + Sort over `ix_proposals_duplicate_amount` at a
few hundred proposals, and kept that plan as the table grew, until autovacuum's first
analysis (up to a minute after 50 rows changed; issue 14). `FirstStatistics.run` asks
`pg_stat_user_tables` (one query) which hot tables were never analysed, manually or by
autovacuum, and runs `ANALYZE` on those holding FIRST_STATISTICS_ROWS rows or more: that
gives them statistics and invalidates every connection's cached plans on them. Once every
hot table has been analysed it is done and asks nothing more; autovacuum keeps the
statistics from then on.

PostgreSQL only: SQLite's planner, without `sqlite_stat1`, does not weigh a table's size
at all (fixed heuristics), so no plan flips as a table grows and nothing cached needs
replacing; the scoring reads are shaped for its indexes without statistics (ADR 0032).
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

#: The tables read on every proposal through prepared statements (the duplicate probe and
#: the candidate patterns: adapters/sql/scoring.py; the stream's and the log's reads).
HOT_TABLES: Final = ("proposals", "patterns", "events")
#: A table is analysed once it holds this many rows. Below it a wrong plan costs little (at
#: 100 proposals the generic plan was already the right one, and a walk of a few hundred
#: index entries is a fraction of a millisecond); the duplicate probe's generic plan went
#: wrong at about 400. Low enough to come before that, high enough that the statistics
#: describe a table in use rather than the first few rows of a demo.
FIRST_STATISTICS_ROWS: Final = 200
#: How long an ANALYZE waits for its lock (a migration's DDL holds one) before it gives up
#: and is tried again at the next run, instead of queueing behind it.
LOCK_TIMEOUT: Final = "5s"

_HOT_TABLES_STATS: Final = text(
    "SELECT relname, n_live_tup, last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL"
    " FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname IN :tables"
).bindparams(bindparam("tables", expanding=True))


class FirstStatistics:
    """The hot tables' first ANALYZE (see the module docstring); `run` is an interval job."""

    def __init__(
        self,
        engine: AsyncEngine,
        tables: tuple[str, ...] = HOT_TABLES,
        min_rows: int = FIRST_STATISTICS_ROWS,
    ) -> None:
        self._engine = engine
        self._tables = tables
        self._min_rows = min_rows
        self._failing = False
        #: Every hot table has statistics: nothing is asked any more.
        self.done = False

    async def analyse_due(self) -> list[str]:
        """ANALYZE each hot table never analysed that holds enough rows; the tables
        analysed. Sets `done` when no hot table is left without statistics."""
        if self.done:
            return []
        async with self._engine.connect() as connection:
            found = await connection.execute(_HOT_TABLES_STATS, {"tables": list(self._tables)})
            rows = {str(name): (int(live), bool(analysed)) for name, live, analysed in found}
            await connection.commit()
        due = [
            name
            for name, (live, analysed) in rows.items()
            if not analysed and live >= self._min_rows
        ]
        quote = self._engine.dialect.identifier_preparer.quote
        for name in due:
            async with self._engine.begin() as connection:
                await connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                await connection.execute(text(f"ANALYZE {quote(name)}"))
            log.info("first statistics: analysed %s (%d rows, never before)", name, rows[name][0])
        # A table not there yet (the schema not migrated) is not done either.
        self.done = all(name in rows and (rows[name][1] or name in due) for name in self._tables)
        if self.done:
            log.info("first statistics: every hot table has statistics; the job is done")
        return due

    async def run(self) -> bool:
        """The job: `analyse_due`, a failure logged (once in a row) and tried again at the
        next run, never raised. False: nothing more to do at once."""
        try:
            await self.analyse_due()
        except Exception:
            (log.debug if self._failing else log.warning)(
                "first statistics: could not analyse the hot tables; trying again later",
                exc_info=True,
            )
            self._failing = True
        else:
            self._failing = False
        return False


def first_statistics_for(database: object) -> FirstStatistics | None:
    """The step for a PostgreSQL SqlDatabase; None on SQLite or an in-memory stand-in."""
    from bookkeeper.adapters.sql import SqlDatabase

    if not isinstance(database, SqlDatabase) or database.dialect != "postgresql":
        return None
    return FirstStatistics(database.engine)
