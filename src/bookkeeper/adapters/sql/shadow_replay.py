"""Replay on PostgreSQL without blocking writers: rebuild into shadow tables, catch up, swap.

`bookkeeper.application.replay.rebuild_projections` clears the projections and refolds the
log in one transaction; on PostgreSQL its TRUNCATEs hold the projections' locks for the
whole rebuild, so every writer waits for it (70 s at 1 M events). Here (ADR 0038):

1. **Cut.** A second connection takes `LOCK TABLE events IN SHARE MODE` (it waits for the
   appends in flight and holds new ones back), the replay's REPEATABLE READ snapshot starts,
   and the lock is let go at once: the snapshot holds every event up to its head position
   and none after, so "what the rebuild has not seen" is exactly `position > head`.
2. **Bulk.** The projections' tables are created empty in a schema of their own
   (`CREATE TABLE … (LIKE … INCLUDING ALL EXCLUDING INDEXES)`); the log is streamed in
   (stream, version) order through one server-side cursor and folded by the application's
   fold (`ProposalFolder`, `ledger_lines`, ADR 0004), and each page's rows go to the shadow
   tables as one `INSERT … SELECT FROM json_populate_recordset` (msgspec encodes the page in
   C; PostgreSQL parses it in its own process while Python folds the next page) on a
   second connection. `ledger_daily` is one GROUP BY over the lines at the end; then the
   live tables' indexes and constraints are built under their own names, and ANALYZE.
   Writers meanwhile append and update the live projections as always. Python's fold is
   the bottleneck (one core), so a log of at least `parallel_from` events is cut into
   `processes` ranges of stream ids with about as many events each, and every range but
   the first is folded by a helper process (multiprocessing "spawn": a script that calls
   the replay must be import-safe) in the same snapshot (`pg_export_snapshot()`); the
   patterns of the ranges are merged by position.
3. **Catch-up.** Rounds of cut + refold of every stream that gained events since the last
   head (whole streams, read by the unique index), the new journal entries posted, until
   what is left is small.
4. **Swap**, one short transaction: the live projections locked (ACCESS EXCLUSIVE), appends
   held back (SHARE on events), the last catch-up, the leases the executor's heartbeat
   renewed carried over (they are not in the log, ADR 0026), the views that read the projections
   pointed at the shadow tables (`CREATE OR REPLACE VIEW`, which keeps their grants), the
   live tables dropped and the shadow ones moved into their schema, with the live tables'
   grants. `lock_timeout` bounds the wait for the locks; a writer that holds a projection
   while waiting to append (or the reverse) would deadlock with the swap, so the swap gives
   up first and tries again after another catch-up round.

One replay at a time (an advisory lock). A replay that fails leaves the live projections as
they were and drops its shadow schema. SQLite keeps `rebuild_projections` (one writer at a
time anyway)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import multiprocessing
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

import msgspec
import psycopg
from psycopg import sql
from psycopg.types.json import Json, set_json_loads

from bookkeeper.adapters.sql.event_store import _recorded
from bookkeeper.adapters.sql.ledger import _POST_ARRAYS
from bookkeeper.adapters.sql.proposals import _TIMES, json_upsert
from bookkeeper.adapters.sql.schema import proposals
from bookkeeper.adapters.sql.session import maybe_aware, unchanged
from bookkeeper.application.errors import StorageUnavailable
from bookkeeper.application.ledger import JOURNAL_ENTRY_POSTED, LedgerPosting, ledger_lines
from bookkeeper.application.ports import LedgerLineView, PatternView, ProposalView, RecordedEvent
from bookkeeper.application.replay import ProposalFolder, ReplayReport
from bookkeeper.domain.events import JournalEntryPostedData

#: The schema the shadow tables are built in (dropped when the replay ends).
SHADOW: Final = "bookkeeper_replay"
#: The projections a replay rebuilds (those `rebuild_projections` clears).
TABLES: Final = ("proposals", "patterns", "journal_lines", "ledger_daily")
#: pg_advisory_lock key: one replay at a time per database.
_ADVISORY_KEY: Final = 0x0B00C_4E_E9_1A7
_EVENT_COLUMNS: Final = (
    "position, id, tenant_id, stream_id, version, type, schema_version, status, actor, "
    "data::text, metadata, parent_id, correlation_id, created_at"
)
#: The columns `_recorded` reads, for another reader of the log in a replay's snapshot.
EVENT_COLUMNS: Final = _EVENT_COLUMNS
_ENCODER: Final = msgspec.json.Encoder()
_LINE_COLUMNS: Final = tuple(LedgerLineView.__struct_fields__)
_INDEX_TARGET: Final = re.compile(r" ON (ONLY )?\S+ USING ")
_T = TypeVar("_T")


class ReplayTimings(msgspec.Struct, kw_only=True):
    """Where a shadow replay spent its time (seconds), for the bench and the ADR."""

    bulk: float = 0.0
    indexes: float = 0.0
    catch_up: float = 0.0
    swap: float = 0.0
    catch_up_rounds: int = 0
    caught_up_events: int = 0
    swap_attempts: int = 0
    processes: int = 1


def _proposal_rows(views: Sequence[ProposalView]) -> Json:
    for view in views:
        for name in _TIMES:
            maybe_aware(getattr(view, name))  # a naive time would be read as local
    return Json(_ENCODER.encode(list(views)), dumps=unchanged)


def _line_rows(journal: Sequence[RecordedEvent]) -> tuple[Json | None, int]:
    rows: list[dict[str, Any]] = []
    entries = 0
    for event in journal:
        if not isinstance(event.data, JournalEntryPostedData):
            continue
        entries += 1
        posting = LedgerPosting(
            tenant_id=event.tenant_id,
            entry_id=event.stream_id,
            position=event.position,
            posted_at=event.created_at,
            entry=event.data,
        )
        for line in ledger_lines(posting):
            row = {name: getattr(line, name) for name in _LINE_COLUMNS}
            row["entry_description"] = event.data.description
            rows.append(row)
    return (Json(_ENCODER.encode(rows), dumps=unchanged) if rows else None), entries


def _pattern_rows(patterns: Sequence[PatternView]) -> Json:
    return Json(_ENCODER.encode(list(patterns)), dumps=unchanged)


@contextlib.asynccontextmanager
async def _connect(conninfo: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    connection = await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, application_name="bookkeeper-replay"
    )
    try:
        set_json_loads(msgspec.json.decode, connection)
        # Times arrive as UTC then, which `utc()` takes as they are (no astimezone).
        await connection.execute("SET TIME ZONE 'UTC'")
        yield connection
    finally:
        await connection.close()


class _Range(msgspec.Struct, kw_only=True):
    """What folding one range of streams gave (the patterns are merged by the caller)."""

    events: int
    proposals: int
    journal_entries: int
    patterns: list[PatternView]


_RANGE_DECODER: Final = msgspec.msgpack.Decoder(_Range)


async def _insert(
    writer: psycopg.AsyncConnection[Any],
    views: Sequence[ProposalView],
    journal: Sequence[RecordedEvent],
) -> int:
    """One page's rows into the shadow tables (plain inserts: they have no index yet)."""
    if views:
        await writer.execute(
            "INSERT INTO proposals SELECT * FROM json_populate_recordset(NULL::proposals, %s)",
            (_proposal_rows(views),),
        )
    lines, entries = _line_rows(journal)
    if lines is not None:
        await writer.execute(
            "INSERT INTO journal_lines "
            "SELECT * FROM json_populate_recordset(NULL::journal_lines, %s)",
            (lines,),
        )
    return entries


async def _fold_range(
    reader: psycopg.AsyncConnection[Any],
    writer: psycopg.AsyncConnection[Any],
    low: uuid.UUID | None,
    high: uuid.UUID | None,
    batch: int,
    progress: Callable[[int], None] | None,
) -> _Range:
    """Fold the streams with low <= stream_id < high (None: unbounded) of the reader's
    snapshot into the shadow tables through `writer`: one server-side cursor, the next
    page fetched and the last one written while a page is folded."""
    folder = ProposalFolder()
    count = 0
    journal_entries = 0
    writing: asyncio.Task[int] | None = None
    where = []
    params: list[Any] = []
    if low is not None:
        where.append("stream_id >= %s")
        params.append(low)
    if high is not None:
        where.append("stream_id < %s")
        params.append(high)
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    cursor = reader.cursor("bookkeeper_replay_log")
    try:
        await cursor.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events {condition}"  # noqa: S608
            "ORDER BY stream_id, version",
            params,
        )
        fetching = asyncio.ensure_future(cursor.fetchmany(batch))
        while True:
            rows = await fetching
            last = len(rows) < batch
            if not last:
                fetching = asyncio.ensure_future(cursor.fetchmany(batch))
                await asyncio.sleep(0)  # let it send the FETCH: the server works meanwhile
            page = [_recorded(row) for row in rows]
            count += len(page)
            journal = [e for e in page if e.type == JOURNAL_ENTRY_POSTED]
            folder.add([e for e in page if e.type != JOURNAL_ENTRY_POSTED])
            if last:
                folder.finish()
            views = folder.take()
            if writing is not None:
                journal_entries += await writing
            writing = asyncio.create_task(_insert(writer, views, journal))
            await asyncio.sleep(0)  # let it send its statement
            if progress is not None:
                progress(count)
            if last:
                break
        journal_entries += await writing
        writing = None
    finally:
        if writing is not None:
            with contextlib.suppress(Exception):
                await writing
        await cursor.close()
    return _Range(
        events=count,
        proposals=folder.proposals,
        journal_entries=journal_entries,
        patterns=list(folder.patterns.values()),
    )


def _fold_range_in_process(
    conninfo: str, snapshot: str, live: str, low: str | None, high: str | None, batch: int
) -> bytes:
    """(In a helper process) `_fold_range` in the replay's exported snapshot; msgpack."""

    async def fold() -> bytes:
        async with _connect(conninfo) as reader, _connect(conninfo) as writer:
            path = sql.SQL("SET search_path TO {}, {}").format(
                sql.Identifier(SHADOW), sql.Identifier(live)
            )
            await reader.execute(path)
            await writer.execute(path)
            await reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            await reader.execute(
                sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot))
            )
            folded = await _fold_range(
                reader,
                writer,
                None if low is None else uuid.UUID(low),
                None if high is None else uuid.UUID(high),
                batch,
                None,
            )
            await reader.execute("COMMIT")
            return msgspec.msgpack.encode(folded)

    return asyncio.run(fold())


class ShadowReplay:
    """`bookkeeper replay` on PostgreSQL: the same rows as `rebuild_projections`, built
    beside the live projections and swapped in with a lock held only for the swap."""

    def __init__(
        self,
        engine: Any,
        *,
        batch: int = 10_000,
        final_delta: int = 200,
        max_rounds: int = 10,
        lock_timeout_ms: int = 300,
        lock_attempts: int = 50,
        processes: int = 2,
        parallel_from: int = 100_000,
        then: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        #: The SqlDatabase's SQLAlchemy AsyncEngine (for its URL).
        self._engine = engine
        self._batch = max(batch, 1)
        self._final_delta = final_delta
        self._max_rounds = max_rounds
        self._lock_timeout = f"{max(lock_timeout_ms, 1)}ms"
        self._lock_attempts = lock_attempts
        #: Processes folding the log (this one and helpers) once it has `parallel_from`
        #: events: Python's fold is the bottleneck, one core each.
        self._processes = max(processes, 1)
        self._parallel_from = parallel_from
        self._live = "public"
        #: Run after a successful swap: projections that are not among the shadow tables
        #: (the cost snapshots, ADR 0040 §6), refilled on their own.
        self._then = then
        self.timings = ReplayTimings()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection of its own (not the pool's: a replay needs three whatever the
        pool's size, and they carry session settings), in autocommit: transactions are
        explicit."""
        async with _connect(self._conninfo()) as connection:
            yield connection

    async def run(self, progress: Callable[[int], None] | None = None) -> ReplayReport:
        """Rebuild and swap; `progress` hears the events folded so far by this process
        (the helpers' ranges are counted when they are done)."""
        try:
            async with (
                self._connection() as main,
                self._connection() as writer,
                self._connection() as locker,
            ):
                await main.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_KEY,))
                try:
                    report = await self._run(main, writer, locker, progress)
                    if self._then is not None:
                        await self._then()
                    return report
                finally:
                    await _clean_up(main)
        except psycopg.OperationalError as error:
            raise StorageUnavailable(f"replay: {error}") from error

    async def refold_in_snapshot(
        self,
        compare: Callable[[psycopg.AsyncConnection[Any], str, int], Awaitable[_T]],
        extra_tables: Sequence[str] = (),
        progress: Callable[[int], None] | None = None,
    ) -> _T:
        """`bookkeeper verify --projections` (ADR 0024 addendum): the bulk phase alone, in
        one REPEATABLE READ transaction, then `compare(connection, live schema, head)` in
        that same transaction.

        The shadow tables (`TABLES` and `extra_tables`, which the caller fills) are written
        on the snapshot's own connection (one process, no helpers): `compare` sees them as
        its own writes, and the live tables as of the same snapshot, so a write committed
        after the cut is on neither side. Writers wait only for the cut's SHARE lock, as for
        a replay. Then everything is rolled back and the shadow schema dropped; the live
        projections are only read. One replay or verify at a time (the same advisory lock:
        they share the shadow schema). `progress` hears the events folded so far."""
        try:
            async with self._connection() as main, self._connection() as locker:
                await main.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_KEY,))
                try:
                    live = self._live = str(await self._scalar(main, "SELECT current_schema()"))
                    await self._create_shadow(main, live, (*TABLES, *extra_tables))
                    await main.execute(
                        sql.SQL("SET search_path TO {}, {}").format(
                            sql.Identifier(SHADOW), sql.Identifier(live)
                        )
                    )
                    head = await self._cut(main, locker)
                    processes, self._processes = self._processes, 1
                    try:
                        await self._bulk(main, main, progress)
                    finally:
                        self._processes = processes
                    return await compare(main, live, head)
                finally:
                    await _clean_up(main)
        except psycopg.OperationalError as error:
            raise StorageUnavailable(f"verify: {error}") from error

    @staticmethod
    async def _create_shadow(
        main: psycopg.AsyncConnection[Any], live: str, tables: Sequence[str]
    ) -> None:
        """The shadow schema, afresh, with an empty unindexed copy of each table."""
        await main.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SHADOW))
        )
        await main.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SHADOW)))
        for table in tables:
            await main.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL EXCLUDING INDEXES)").format(
                    sql.Identifier(SHADOW, table), sql.Identifier(live, table)
                )
            )

    async def _run(
        self,
        main: psycopg.AsyncConnection[Any],
        writer: psycopg.AsyncConnection[Any],
        locker: psycopg.AsyncConnection[Any],
        progress: Callable[[int], None] | None,
    ) -> ReplayReport:
        live = self._live = str(await self._scalar(main, "SELECT current_schema()"))
        path = sql.SQL("SET search_path TO {}, {}").format(
            sql.Identifier(SHADOW), sql.Identifier(live)
        )
        await self._create_shadow(main, live, TABLES)
        # Unqualified names: the shadow tables, and `events` (which has no shadow) the live one.
        await main.execute(path)
        await writer.execute(path)

        started = time.perf_counter()
        head = await self._cut(main, locker)
        report = await self._bulk(main, writer, progress)
        await main.execute("COMMIT")
        self.timings.bulk = time.perf_counter() - started

        started = time.perf_counter()
        await self._build_indexes(main, writer, live)
        self.timings.indexes = time.perf_counter() - started

        started = time.perf_counter()
        events = report.events
        journal_entries = report.journal_entries
        for _ in range(self._max_rounds):
            at = await self._cut(main, locker)
            if at - head <= self._final_delta:
                await main.execute("ROLLBACK")
                break
            caught, entries = await self._catch_up(main, head, at)
            await main.execute("COMMIT")
            self.timings.catch_up_rounds += 1
            self.timings.caught_up_events += caught
            events += caught
            journal_entries += entries
            head = at
            if progress is not None:
                progress(events)
        self.timings.catch_up = time.perf_counter() - started

        started = time.perf_counter()
        for attempt in range(1, self._lock_attempts + 1):
            self.timings.swap_attempts = attempt
            try:
                caught, entries = await self._swap(main, live, head)
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
                await main.execute("ROLLBACK")
                # Someone held a projection or an append: catch up meanwhile, then again.
                at = await self._cut(main, locker)
                caught, entries = await self._catch_up(main, head, at)
                await main.execute("COMMIT")
                self.timings.caught_up_events += caught
                events += caught
                journal_entries += entries
                head = at
                await asyncio.sleep(0.05 * attempt)
                continue
            events += caught
            journal_entries += entries
            self.timings.caught_up_events += caught
            break
        else:
            raise StorageUnavailable(
                f"replay: the projections stayed locked through {self._lock_attempts} attempts "
                "to swap in the rebuilt ones; nothing was changed"
            )
        self.timings.swap = time.perf_counter() - started
        if progress is not None:
            progress(events)
        counts = await self._counts(main)
        return ReplayReport(
            events=events,
            proposals=counts["proposals"],
            patterns=counts["patterns"],
            journal_entries=journal_entries,
        )

    @staticmethod
    async def _scalar(conn: psycopg.AsyncConnection[Any], query: str) -> Any:
        row = await (await conn.execute(query)).fetchone()
        assert row is not None
        return row[0]

    async def _cut(
        self, main: psycopg.AsyncConnection[Any], locker: psycopg.AsyncConnection[Any]
    ) -> int:
        """Begin `main`'s REPEATABLE READ transaction at a moment no append is in flight;
        the position of the last event it sees (every later event has a higher one)."""
        for attempt in range(1, self._lock_attempts + 1):
            await locker.execute("BEGIN")
            try:
                await locker.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(self._lock_timeout))
                )
                await locker.execute("LOCK TABLE events IN SHARE MODE")
            except psycopg.errors.LockNotAvailable:
                await locker.execute("ROLLBACK")
                await asyncio.sleep(0.02 * attempt)
                continue
            try:
                await main.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                head = int(
                    await self._scalar(main, "SELECT coalesce(max(position), 0) FROM events")
                )
            finally:
                await locker.execute("ROLLBACK")
            return head
        raise StorageUnavailable(
            f"replay: appends never paused in {self._lock_attempts} attempts to read the log"
        )

    async def _bulk(
        self,
        main: psycopg.AsyncConnection[Any],
        writer: psycopg.AsyncConnection[Any],
        progress: Callable[[int], None] | None,
    ) -> ReplayReport:
        """Fold the snapshot's whole log into the (empty, unindexed) shadow tables: with
        `processes` > 1 and a log of at least `parallel_from` events, the stream ids are
        cut into that many ranges of about as many events, and each range but the first is
        folded by a process of its own in the same snapshot (`pg_export_snapshot`)."""
        bounds: list[uuid.UUID | None] = [None, None]
        snapshot = ""
        if self._processes > 1:
            total = int(await self._scalar(main, "SELECT count(*) FROM events"))
            if total >= self._parallel_from:
                cuts: list[uuid.UUID | None] = []
                for part in range(1, self._processes):
                    row = await (
                        await main.execute(
                            "SELECT stream_id FROM events ORDER BY stream_id OFFSET %s LIMIT 1",
                            (total * part // self._processes,),
                        )
                    ).fetchone()
                    if row is not None and row[0] not in cuts:
                        cuts.append(row[0])
                bounds = [None, *cuts, None]
                snapshot = str(await self._scalar(main, "SELECT pg_export_snapshot()"))
        helpers: list[asyncio.Future[bytes]] = []
        pool: concurrent.futures.ProcessPoolExecutor | None = None
        if len(bounds) > 2:
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=len(bounds) - 2, mp_context=multiprocessing.get_context("spawn")
            )
            loop = asyncio.get_running_loop()
            conninfo = self._conninfo()
            helpers = [
                loop.run_in_executor(
                    pool,
                    _fold_range_in_process,
                    conninfo,
                    snapshot,
                    self._live,
                    None if low is None else str(low),
                    None if high is None else str(high),
                    self._batch,
                )
                for low, high in itertools.pairwise(bounds[1:])
            ]
        try:
            mine = await _fold_range(main, writer, None, bounds[1], self._batch, progress)
            ranges = [mine]
            for done in helpers:
                ranges.append(_RANGE_DECODER.decode(await done))
        finally:
            if helpers:
                await asyncio.gather(*helpers, return_exceptions=True)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        await writer.execute(
            "INSERT INTO ledger_daily (tenant_id, account, date, debit, credit) "
            "SELECT tenant_id, account, date, sum(debit), sum(credit) FROM journal_lines "
            "GROUP BY tenant_id, account, date"
        )
        latest: dict[tuple[str, str], PatternView] = {}
        for folded in ranges:
            for pattern in folded.patterns:
                key = (pattern.tenant_id, pattern.merchant_key)
                known = latest.get(key)
                if known is None or known.last_position < pattern.last_position:
                    latest[key] = pattern
        patterns = sorted(latest.values(), key=lambda p: p.last_position)
        if patterns:
            await writer.execute(
                "INSERT INTO patterns SELECT * FROM json_populate_recordset(NULL::patterns, %s)",
                (_pattern_rows(patterns),),
            )
        self.timings.processes = len(ranges)
        return ReplayReport(
            events=sum(r.events for r in ranges),
            proposals=sum(r.proposals for r in ranges),
            patterns=len(patterns),
            journal_entries=sum(r.journal_entries for r in ranges),
        )

    def _conninfo(self) -> str:
        url = self._engine.url.set(drivername="postgresql")
        return str(url.render_as_string(hide_password=False))

    async def _build_indexes(
        self,
        main: psycopg.AsyncConnection[Any],
        writer: psycopg.AsyncConnection[Any],
        live: str,
    ) -> None:
        """The live tables' constraints and indexes on the shadow tables, under the same
        names (another schema), built after the load; two at a time; then ANALYZE."""
        cursor = await main.execute(
            "SELECT c.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), "
            "       con.conname, pg_get_constraintdef(con.oid) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid "
            "     AND con.conrelid = c.oid AND con.contype IN ('p', 'u', 'x') "
            "WHERE n.nspname = %s AND c.relname = ANY(%s) "
            "ORDER BY con.conname IS NULL, c.relname, i.indexrelid",
            (live, list(TABLES)),
        )
        statements: list[sql.SQL | sql.Composed] = []
        for table, _index, definition, constraint, constraint_def in await cursor.fetchall():
            target = sql.Identifier(SHADOW, table).as_string(main)
            if constraint is not None:
                statements.append(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                        sql.Identifier(SHADOW, table), sql.Identifier(constraint)
                    )
                    + sql.SQL(constraint_def)
                )
            else:
                statements.append(
                    sql.SQL(_INDEX_TARGET.sub(f" ON {target} USING ", definition, count=1))
                )
        queue = list(statements)

        async def build(conn: psycopg.AsyncConnection[Any]) -> None:
            while queue:
                await conn.execute(queue.pop(0))

        await asyncio.gather(build(main), build(writer))
        for table in TABLES:
            await main.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(SHADOW, table)))

    async def _catch_up(
        self, conn: psycopg.AsyncConnection[Any], after: int, head: int
    ) -> tuple[int, int]:
        """Fold the events after `after` up to `head` into the shadow tables: every stream
        they touch refolded whole, their journal entries posted. (events, entries)"""
        cursor = await conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events "  # noqa: S608
            "WHERE position > %s AND position <= %s ORDER BY position",
            (after, head),
        )
        delta = [_recorded(row) for row in await cursor.fetchall()]
        if not delta:
            return 0, 0
        journal = [e for e in delta if e.type == JOURNAL_ENTRY_POSTED]
        streams = list({e.stream_id: None for e in delta if e.type != JOURNAL_ENTRY_POSTED})
        folder = ProposalFolder()
        if streams:
            cursor = await conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events "  # noqa: S608
                "WHERE stream_id = ANY(%s) AND position <= %s ORDER BY stream_id, version",
                (streams, head),
            )
            folder.add([_recorded(row) for row in await cursor.fetchall()])
            folder.finish()
        views = folder.take()
        if views:
            await conn.execute(
                json_upsert(proposals, "id").text.replace(":rows", "%s"),
                (_proposal_rows(views),),
            )
        if folder.patterns:
            await conn.execute(
                "INSERT INTO patterns AS p "
                "SELECT * FROM json_populate_recordset(NULL::patterns, %s) "
                "ON CONFLICT (tenant_id, merchant_key) DO UPDATE SET "
                "merchant_name = excluded.merchant_name, account_code = excluded.account_code, "
                "vat_rate = excluded.vat_rate, suggestion_id = excluded.suggestion_id, "
                "approved_by = excluded.approved_by, applied_at = excluded.applied_at, "
                "last_position = excluded.last_position "
                "WHERE p.last_position < excluded.last_position",
                (_pattern_rows(sorted(folder.patterns.values(), key=lambda p: p.last_position)),),
            )
        lines, entries = _line_rows(journal)
        if lines is not None:
            await conn.execute(
                str(_POST_ARRAYS.text).replace(":lines", "%s"),
                (lines,),
            )
        return len(delta), entries

    async def _swap(
        self, main: psycopg.AsyncConnection[Any], live: str, after: int
    ) -> tuple[int, int]:
        """The last catch-up and the swap, in one transaction that holds appends back."""
        await main.execute("BEGIN")
        await main.execute(
            sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(self._lock_timeout))
        )
        await main.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join(sql.Identifier(live, t) for t in TABLES)
            )
        )
        await main.execute("LOCK TABLE events IN SHARE MODE")
        head = int(await self._scalar(main, "SELECT coalesce(max(position), 0) FROM events"))
        caught = await self._catch_up(main, after, head)
        # A lease the executor's heartbeat renewed lives only in the live row (ADR 0026):
        # the attempt still running keeps it, so no claim takes the work over after the swap.
        await main.execute(
            sql.SQL(
                "UPDATE {} AS s SET lease_until = l.lease_until FROM {} AS l "
                "WHERE l.id = s.id AND l.status = 'APPROVED' AND s.status = 'APPROVED' "
                "AND l.attempts = s.attempts AND s.lease_until IS NOT NULL "
                "AND l.lease_until > s.lease_until"
            ).format(sql.Identifier(SHADOW, "proposals"), sql.Identifier(live, "proposals"))
        )

        # The views over the projections, as their definitions read with only the live
        # schema on the path, then replaced with the shadow schema first on it.
        await main.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(live)))
        cursor = await main.execute(
            "SELECT DISTINCT v.oid, vn.nspname, v.relname, pg_get_viewdef(v.oid) "
            "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
            "JOIN pg_class v ON v.oid = r.ev_class JOIN pg_namespace vn ON vn.oid = v.relnamespace "
            "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace "
            "WHERE tn.nspname = %s AND t.relname = ANY(%s) AND v.oid <> t.oid "
            "ORDER BY v.oid",
            (live, list(TABLES)),
        )
        views = await cursor.fetchall()
        grants = await (
            await main.execute(
                "SELECT c.relname, a.privilege_type, a.is_grantable, "
                "       (SELECT rolname FROM pg_roles WHERE oid = a.grantee) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
                "     aclexplode(c.relacl) a "
                "WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.grantee <> c.relowner",
                (live, list(TABLES)),
            )
        ).fetchall()
        await main.execute(
            sql.SQL("SET LOCAL search_path TO {}, {}").format(
                sql.Identifier(SHADOW), sql.Identifier(live)
            )
        )
        for _oid, schema, name, definition in views:
            await main.execute(
                sql.SQL("CREATE OR REPLACE VIEW {} AS ").format(sql.Identifier(schema, name))
                + sql.SQL(definition.rstrip().rstrip(";"))
            )
        for table, privilege, grantable, grantee in grants:
            await main.execute(
                sql.SQL("GRANT {} ON {} TO {}{}").format(
                    sql.SQL(privilege),
                    sql.Identifier(SHADOW, table),
                    sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee),
                    sql.SQL(" WITH GRANT OPTION" if grantable else ""),
                )
            )
        for table in TABLES:
            await main.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(live, table)))
            await main.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    sql.Identifier(SHADOW, table), sql.Identifier(live)
                )
            )
        await main.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(SHADOW)))
        await main.execute("COMMIT")
        await main.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(live)))
        return caught

    @staticmethod
    async def _counts(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
        cursor = await conn.execute(
            "SELECT (SELECT count(*) FROM proposals), (SELECT count(*) FROM patterns)"
        )
        row = await cursor.fetchone()
        assert row is not None
        return {"proposals": int(row[0]), "patterns": int(row[1])}


async def _clean_up(main: psycopg.AsyncConnection[Any]) -> None:
    """What a replay or a verify leaves behind on its connection, whatever happened: its
    transaction rolled back, the shadow schema dropped, the advisory lock given up (a
    connection already broken has nothing left to give up)."""
    with contextlib.suppress(psycopg.Error):
        await main.execute("ROLLBACK")
        await main.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SHADOW))
        )
        await main.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_KEY,))
