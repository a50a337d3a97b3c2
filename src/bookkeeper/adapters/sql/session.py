"""The SQL transaction of a unit of work, and the psycopg fast path its stores run on.

A `SqlSession` is one transaction on one pooled connection; the stores of a unit of work
(event_store, proposals, patterns, scoring, tenant_settings, documents, ledger, tracking)
all run their statements through it. It knows no store and no table: they reach it through
the `Transaction` protocol, and it reaches the database through `Connector`.

* Transient PostgreSQL errors (serialization_failure 40001, deadlock_detected 40P01) do not
  arise on the stores' paths: the transactions run at READ COMMITTED and take no explicit
  locks (see event_store for how appends avoid them). Were one to occur (or the connection
  to drop), it surfaces as StorageUnavailable and the whole unit of work may be retried by
  the caller.
* After a database error, or an append that failed half-way, the session is rollback-only:
  commit() raises instead of committing what is left (on PostgreSQL a COMMIT after an error
  is silently a ROLLBACK, which a caller would take for success).

Speed (ADR 0008, 0041): the statements of the hot paths (propose, decide, replay) are `Hot`:
built once per dialect by the store that owns them, from the Core tables, and on PostgreSQL
compiled once to SQL that runs on the pooled psycopg connection itself. SQLAlchemy's
per-execution machinery (execution context, result wrapping, greenlet hop) costs about as
much CPU as psycopg's whole round trip. On PostgreSQL the transaction is psycopg's too, and
it opens lazily: the connection is in autocommit until a statement needs the transaction,
so `standalone` reads (plain reads of committed rows, no locks) run before it without a
BEGIN; any other statement turns autocommit off (psycopg then sends BEGIN before it) and
commit() commits on the driver, unless a statement went through SQLAlchemy (which then owns
the commit of the same transaction). A proposal is two round trips: the scoring read
(patterns and duplicates in one statement) in autocommit, then one statement that inserts
the event and upserts the proposal's row (`write_at_once`, alone in autocommit: atomic, and
committed when it returns; see unit_of_work.commit_proposal). SQLAlchemy still owns the pool
and every other statement; on SQLite everything goes through it.

Pipeline mode (BEGIN sent with the first write, the last write with COMMIT) was measured
and left out (ADR 0008): psycopg's pipeline machinery costs the client more CPU than the
round trips it saves, and PostgreSQL no less.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol, TypeAlias
from typing import cast as cast_type

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Row, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import Executable

from bookkeeper.adapters.sql.health import REVISIONS_SQL, QueryHealth
from bookkeeper.application.errors import StorageUnavailable
from bookkeeper.domain.events import Status

log = logging.getLogger(__name__)

#: A result row: a SQLAlchemy Row (SQLite) or a psycopg tuple (PostgreSQL hot path).
AnyRow: TypeAlias = Row[*tuple[Any, ...]] | tuple[Any, ...]

#: A stored status text as the Status it names (None stays None).
STATUS: Final[dict[str | None, Status | None]] = {None: None} | {s.value: s for s in Status}


class Hot:
    """A fixed statement of a hot path: the Core statement, and for psycopg its SQL."""

    __slots__ = (
        "binary",
        "defaults",
        "keep_cursor",
        "names",
        "positional",
        "reads",
        "returns_rows",
        "sql",
        "standalone",
        "statement",
    )

    def __init__(
        self,
        statement: Executable,
        dialect: Dialect | None,
        *,
        returns_rows: bool = True,
        standalone: bool = False,
        binary: Iterable[str] = (),
        keep_cursor: bool = False,
    ) -> None:
        self.statement = statement
        #: Known up front, so the hot path need not ask the cursor (psycopg builds its whole
        #: `description` for that).
        self.returns_rows = returns_rows
        #: A plain SELECT (possibly FOR UPDATE): it changes no row, see SqlSession._close.
        self.reads = bool(getattr(statement, "is_select", False))
        #: A read that may run outside the unit's transaction while none is open (ADR 0041):
        #: it reads committed rows only, takes no lock (no FOR UPDATE, no advisory lock)
        #: and sets nothing, so at READ COMMITTED (a snapshot per statement) it answers the
        #: same in autocommit as inside a transaction, and spares the BEGIN round trip.
        #: Opt-in per statement; every other statement opens the transaction first.
        self.standalone = standalone
        if standalone and (not self.reads or getattr(statement, "_for_update_arg", None)):
            raise ValueError("only a plain read can run outside the unit's transaction")
        #: A statement of the propose or decide path whose result is small by construction
        #: (one row, or rows under a LIMIT): each pooled connection keeps its raw cursor for
        #: it (`_cursors_of`). Such a cursor keeps its last result until the statement runs
        #: again on that connection, so a read of many or large rows (a stream, a batch, a
        #: document's bytes) gets a new cursor every time instead.
        self.keep_cursor = keep_cursor
        self.sql = ""
        self.defaults: dict[str, Any] = {}
        #: The SQL with $1, $2 … for psycopg's raw cursor, and the parameter names in that
        #: order (ADR 0039): psycopg parses a `%(name)s` query on every execution when it
        #: is longer than 4 KB (it caches only shorter ones), and the scoring read of every
        #: proposal is 6–9 KB.
        self.positional = ""
        self.names: tuple[str, ...] = ()
        if dialect is not None:
            compiled = cast_type(ClauseElement, statement).compile(dialect=dialect)
            self.sql = compiled.string
            # Values the statement carries itself (e.g. the literal 'REJECTED').
            self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
            self.positional, self.names = positional(self.sql)
        #: Parameters sent in PostgreSQL's binary format (`%(name)b`): arrays, which
        #: psycopg's text format escapes element by element with a regular expression
        #: (~50 ms for 256 JSON texts; binary ~0.2 ms). psycopg's raw cursor dumps every
        #: parameter in its default (text, for a list) format, so such a statement runs on
        #: the named-parameter cursor instead (its SQL is short enough for psycopg to cache
        #: its parse).
        self.binary = bool(binary) and bool(self.sql)
        for name in binary:
            self.sql = self.sql.replace(f"%({name})s", f"%({name})b")


#: A psycopg named placeholder, or an escaped percent sign.
_PLACEHOLDER: Final = re.compile(r"%\((?P<name>[^)]+)\)s|%%")


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`%(name)s` SQL as PostgreSQL's own `$n` form (one number per distinct name, `%%`
    back to `%`), and the names in number order."""
    names: list[str] = []
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None:
            return "%"
        if name not in numbers:
            names.append(name)
            numbers[name] = len(names)
        return f"${numbers[name]}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


def hot_dialect(dialect: str) -> Dialect | None:
    """What a store compiles its `Hot` statements for: psycopg's dialect on PostgreSQL,
    nothing on SQLite (where they run through SQLAlchemy)."""
    if dialect == "postgresql":
        return psycopg_dialect()  # type: ignore[no-untyped-call]
    return None


def storage_error(error: BaseException) -> BaseException:
    """Our error for a driver or pool error: StorageUnavailable when it is about reaching
    the database (or a transient failure), the original otherwise (a bug, not a condition)."""
    if isinstance(error, PoolTimeoutError):
        return StorageUnavailable("no database connection free in time (pool exhausted)")
    if isinstance(error, DBAPIError) and (
        error.connection_invalidated
        or isinstance(error, OperationalError | InterfaceError)
        or unavailable_state(error.orig)
    ):
        # Without the driver's error, or a message in it, the error is named by its type.
        lines = str(error.orig).strip().splitlines() if error.orig is not None else []
        detail = (lines or [type(error).__name__])[0]
        return StorageUnavailable(f"database unavailable: {detail}")
    if isinstance(error, OSError):
        return StorageUnavailable(f"database unavailable: {error}")
    return error


#: SQLSTATEs that say the database cannot serve now, not that the statement is wrong:
#: connection exceptions (08), insufficient resources (53), operator intervention (57:
#: query cancelled by a statement timeout, admin shutdown), a read-only transaction where
#: the database was made read-only (25006: a failover, maintenance), serialization and
#: deadlock failures (40001, 40P01). Each is a 503 that a retry may cure (ADR 0021).
_UNAVAILABLE_STATES: Final = ("08", "53", "57", "25006", "40001", "40P01")


def unavailable_state(orig: BaseException | None) -> bool:
    """Whether a driver error's SQLSTATE says the database cannot be reached or is going
    away, or a transient failure (what StorageUnavailable stands for), not a bug."""
    state = getattr(orig, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES)


def utc(value: dt.datetime) -> dt.datetime:
    """psycopg returns timestamptz in the session's time zone; the ports promise UTC."""
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


def aware(value: dt.datetime) -> dt.datetime:
    """The value itself, refused if naive: psycopg would send a naive datetime as
    `timestamp`, which PostgreSQL then reads in the session's time zone — silently wrong
    (UtcDateTime refuses it the same way on the SQLAlchemy path)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes aware UTC times")
    return value


def maybe_aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else aware(value)


def unchanged(value: Any) -> Any:
    """The identity: a JSON value as SQLAlchemy's JSON type takes it (it serialises it)."""
    return value


class Connector(Protocol):
    """What a session needs of the database (SqlDatabase): the engine, its dialect, and on
    SQLite the writer's turn."""

    @property
    def dialect(self) -> str: ...

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def health(self) -> QueryHealth:
        """Where units of work report how they ended (the health check reads it)."""
        ...

    def connection_lost(self) -> None:
        """A unit of work lost its connection: the pool's others may be lost too."""
        ...

    async def acquire_writer(self) -> None:
        """Wait for this unit of work's turn (SQLite; PostgreSQL returns at once)."""
        ...

    def release_writer(self) -> None: ...


class Transaction(Protocol):
    """What a store needs of its unit of work: the open transaction (SqlSession)."""

    @property
    def dialect(self) -> str:
        """The dialect: postgresql or sqlite."""
        ...

    @property
    def json(self) -> Callable[[Any], Any]:
        """Wraps a JSON value for `rows` (psycopg needs Jsonb; SQLAlchemy serialises it)."""
        ...

    async def rows(self, hot: Hot, params: dict[str, Any]) -> Sequence[AnyRow]:
        """Run a hot-path statement; its rows as tuples (column order of the statement)."""
        ...

    async def execute(self, statement: Executable, params: Any = None) -> Any:
        """Run one statement through SQLAlchemy in this transaction."""
        ...

    def rollback_only(self, error: BaseException) -> None:
        """Refuse to commit this transaction: part of it must not become durable."""
        ...


#: Where a pooled PostgreSQL connection keeps its `keep_cursor` statements' raw cursors (its pool
#: record's `info`, which lives as long as the connection).
_CURSORS: Final = "bookkeeper.hot_cursors"


def _cursors_of(
    info: dict[Any, Any], driver: psycopg.AsyncConnection[Any]
) -> dict[Hot, psycopg.AsyncRawCursor[Any]]:
    """The raw cursors of the `keep_cursor` statements run on `driver`, one per statement,
    kept with the pooled connection (a new connection under the same pool record starts
    afresh).

    A cursor executing the same query object as its last one keeps its psycopg Transformer
    and with it the dumpers it looked up for each parameter type; a new cursor per
    execution built a Transformer (and a copy of the adapters map) and looked up ~50
    parameters' dumpers again every time (ADR 0045's last addendum: 8 % of a
    proposal's client CPU). Statements of one connection run one at a time
    (a unit of work holds it), so a statement's cursor is never executing twice at once."""
    held = info.get(_CURSORS)
    if held is None or held[0] is not driver:
        held = info[_CURSORS] = (driver, {})
    cursors: dict[Hot, psycopg.AsyncRawCursor[Any]] = held[1]
    return cursors


class SqlSession:
    """One transaction on one pooled connection (the `Transaction` of the stores).

    `begin` checks a connection out (on SQLite after taking the writer's turn), `end` rolls
    back whatever was not committed, hands the connection back and gives up the turn."""

    def __init__(self, database: Connector) -> None:
        self._database = database
        self.dialect: str = database.dialect
        self._connection: AsyncConnection | None = None
        #: The psycopg connection under the pooled one (PostgreSQL only).
        self._driver: psycopg.AsyncConnection[Any] | None = None
        self._rollback_only: BaseException | None = None
        #: A statement that may change rows ran since the last commit (see _close).
        self._wrote = False
        self._holds_writer_lock = False
        self._postgres = self.dialect == "postgresql"
        #: Wraps a JSON value for the hot path's driver: psycopg needs Jsonb; SQLAlchemy's
        #: JSON type serialises plain values itself.
        self.json: Callable[[Any], Any] = Jsonb if self._postgres else unchanged
        #: The pooled connection's kept raw cursors, one per statement (`_cursors_of`).
        self._cursors: dict[Hot, psycopg.AsyncRawCursor[Any]] = {}

    async def begin(self) -> None:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already open")
        await self._database.acquire_writer()
        self._holds_writer_lock = True
        try:
            connection = await self._database.engine.connect()
        except BaseException as error:
            self._release()
            translated = storage_error(error)
            if isinstance(translated, StorageUnavailable):
                self._database.health.failed(translated)
            raise translated from error
        try:
            if self._postgres:
                # No SQLAlchemy transaction: psycopg sends BEGIN before the unit's first
                # statement itself, and commit() commits on the driver, sparing a proposal
                # two trips through SQLAlchemy's greenlet and transaction bookkeeping. A
                # statement run through SQLAlchemy still joins (and SQLAlchemy then commits
                # or rolls back) the same transaction.
                pooled = await connection.get_raw_connection()
                driver = pooled.driver_connection
                assert driver is not None
                self._cursors = _cursors_of(pooled.info, driver)
                # The transaction opens lazily (ADR 0041): until a statement needs it,
                # the driver is in autocommit and sends no BEGIN.
                if driver.info.transaction_status is psycopg.pq.TransactionStatus.IDLE:
                    await driver.set_autocommit(True)
                self._driver = driver
            else:
                await connection.begin()
        except BaseException as error:
            await connection.close()
            self._release()
            raise storage_error(error) from error
        self._connection = connection
        self._rollback_only = None
        self._wrote = False

    async def end(self) -> None:
        """Roll back what was not committed, return the connection, give up the turn."""
        connection, driver = self._connection, self._driver
        self._connection = self._driver = None
        try:
            if connection is not None:
                await self._close(connection, driver)
        finally:
            self._release()

    async def _close(
        self, connection: AsyncConnection, driver: psycopg.AsyncConnection[Any] | None
    ) -> None:
        """Roll back whatever was not committed and hand the connection back to the pool.

        A connection on which the database failed (a statement cancelled by a timeout, an
        operational error) is discarded rather than handed back: what made it fail may be
        a setting of its session (`ALTER DATABASE … SET statement_timeout` reaches only new
        sessions, in both directions), and a fresh connection starts from the database's
        current defaults (ADR 0021)."""
        failure = self._rollback_only
        if isinstance(failure, StorageUnavailable):
            self._database.health.failed(failure)
        elif failure is None:
            self._database.health.succeeded()
        try:
            if driver is not None and driver.autocommit and not driver.broken:
                # No transaction was open (or it committed): nothing to end. The pool's
                # other users expect psycopg's default (BEGIN before the first statement).
                await driver.set_autocommit(False)
            if (driver is not None and driver.broken) or isinstance(failure, StorageUnavailable):
                # Lost under the hot path, which SQLAlchemy's disconnect handling never saw,
                # or poisoned: either way the pool must not hand it out again.
                if driver is not None and driver.broken:
                    self._database.connection_lost()
                await connection.invalidate()
            elif (
                driver is not None
                and not self._wrote
                and self._rollback_only is None
                and driver.info.transaction_status is psycopg.pq.TransactionStatus.INTRANS
            ):
                # A read-only unit (document and stream reads, an empty claim, every GET)
                # is ended with COMMIT, which for a transaction that changed nothing is the
                # same as ROLLBACK: psycopg follows every ROLLBACK with DEALLOCATE ALL (in
                # case the transaction ran DDL that a prepared plan depends on), which costs
                # a round trip and the connection's prepared hot statements. Units of work
                # never run DDL; one that wrote, or failed, is still rolled back.
                if connection.in_transaction():
                    await connection.commit()
                else:
                    await driver.commit()
            # On PostgreSQL the hot path's transaction is one SQLAlchemy has not seen; it is
            # still rolled back, by the pool's reset-on-return, which runs whenever no
            # SQLAlchemy transaction was open at close.
            elif connection.in_transaction():
                await connection.rollback()
        except Exception:
            # The connection is broken (server gone, protocol error): the pool must not
            # hand it out again.
            log.warning("rollback failed; discarding the connection", exc_info=True)
            try:
                await connection.invalidate()
            except Exception:
                log.debug("invalidate failed", exc_info=True)
        finally:
            await connection.close()

    def _release(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            self._database.release_writer()

    async def commit(self) -> None:
        connection = self._require_connection()
        if self._rollback_only is not None:
            raise self._rollback_only
        if self._wrote:
            await self._refuse_on_another_schema()
        driver = self._driver
        try:
            if connection.in_transaction():
                await connection.commit()
            elif driver is not None and self._open:
                # Only the hot path ran (PostgreSQL): a transaction SQLAlchemy has not
                # seen, but psycopg has (a no-op when nothing was sent).
                await driver.commit()
            if driver is not None and self._open:
                # The next statement of the unit opens a new transaction lazily again.
                await driver.set_autocommit(True)
            self._wrote = False
        except (DBAPIError, PoolTimeoutError, OSError, psycopg.Error) as error:
            # If the connection dropped during COMMIT the outcome is unknown; callers retry
            # with the same event ids, which makes a second attempt a harmless duplicate.
            self._rollback_only = translated = storage_error(self._as_dbapi_error(error))
            raise translated from error

    @property
    def _open(self) -> bool:
        """Whether the unit's transaction is open. PostgreSQL: psycopg sends BEGIN before
        the next statement, or did — exactly while the driver is out of autocommit, which
        is the one record of it. While it is not, `standalone` reads run without BEGIN,
        and `write_at_once` is its own transaction. Other dialects: always (SQLAlchemy's
        transaction, begun with the unit)."""
        driver = self._driver
        return driver is None or not driver.autocommit

    @property
    def at_once(self) -> bool:
        """Whether `write_at_once` may run now, writing and committing in one round trip: on
        PostgreSQL, while the unit's transaction is not open (nothing written, no
        statement through SQLAlchemy, no lock taken since the last commit)."""
        return self._driver is not None and not self._open

    async def write_at_once(self, hot: Hot, params: dict[str, Any]) -> Sequence[AnyRow]:
        """Run a writing hot statement alone in autocommit (`at_once` only; ADR 0041).

        A single statement is atomic: it is written whole or not at all, and committed
        when it returns — one round trip instead of BEGIN, the statement and COMMIT. It is
        meant as the unit's last write (the unit of work commits right after, which then
        has nothing left to send)."""
        if self._rollback_only is not None:
            raise self._rollback_only
        driver = self._driver
        if driver is None or self._open:
            raise RuntimeError("write_at_once needs PostgreSQL and no open transaction")
        self._require_connection()
        await self._refuse_on_another_schema()
        # On an error nothing of the statement was written (or, if the connection dropped,
        # the outcome is unknown: callers retry with the same ids, as after a lost COMMIT).
        return await self._run(driver, hot, params)

    async def write_apart(self, hot: Hot, params: dict[str, Any]) -> Sequence[AnyRow]:
        """`write_at_once` for a statement that writes others' rows too (a batch of new
        proposals, ADR 0053): its failure is raised but leaves this unit usable. In
        autocommit a failed statement wrote nothing and left no transaction behind, and
        the unit's own write is still to be tried alone."""
        before = self._rollback_only
        try:
            return await self.write_at_once(hot, params)
        except BaseException:
            self._rollback_only = before
            raise

    async def _refuse_on_another_schema(self) -> None:
        """Raise SchemaChanged (nothing of the unit committed) when the database's schema
        moved since this process started (ADR 0035 addendum): known from a ping or an
        earlier unit, or read here, on this unit's connection and in its transaction, at
        most every SchemaWatch.interval seconds a process."""
        watch = self._database.health.schema
        if watch.refusal is None and watch.due():
            connection = self._require_connection()
            driver = self._driver
            try:
                if driver is not None and not connection.in_transaction():
                    async with driver.cursor() as cursor:
                        await cursor.execute(REVISIONS_SQL)
                        found = [row[0] for row in await cursor.fetchall()]
                else:
                    result = await connection.execute(text(REVISIONS_SQL))
                    found = [row[0] for row in result]
            except (DBAPIError, psycopg.Error) as error:
                self._rollback_only = translated = storage_error(self._as_dbapi_error(error))
                raise translated from error
            watch.seen(found)
        if watch.refusal is not None:
            raise watch.refusal

    async def _begin_transaction(self) -> None:
        """Open the unit's transaction (PostgreSQL): psycopg sends BEGIN before the next
        statement."""
        driver = self._driver
        if driver is not None and not self._open:
            try:
                await driver.set_autocommit(False)
            except psycopg.Error as error:
                self._rollback_only = translated = storage_error(self._as_dbapi_error(error))
                raise translated from error

    def rollback_only(self, error: BaseException) -> None:
        """Refuse to commit this transaction: part of it must not become durable."""
        self._rollback_only = error

    async def rows(self, hot: Hot, params: dict[str, Any]) -> Sequence[AnyRow]:
        """Run a hot-path statement; its rows as tuples (column order of the statement)."""
        driver = self._driver
        if driver is None:
            result = await self.execute(hot.statement, params)
            return result.all() if result.returns_rows else []
        self._require_connection()
        if not self._open and not hot.standalone:
            await self._begin_transaction()
        if not hot.reads:
            self._wrote = True
        return await self._run(driver, hot, params)

    async def _run(
        self, driver: psycopg.AsyncConnection[Any], hot: Hot, params: dict[str, Any]
    ) -> Sequence[AnyRow]:
        """One hot statement on the driver: its rows (none if it returns none). A driver
        error makes the unit rollback-only (on PostgreSQL its transaction is aborted, and
        commit must not pretend otherwise) and is raised as ours."""
        if hot.defaults:
            params = hot.defaults | params
        try:
            if hot.binary:
                named = driver.cursor()
                await named.execute(hot.sql, params)
                return await named.fetchall() if hot.returns_rows else []
            # A raw cursor sends the query as it is: nothing to parse per execution.
            cursor = self._cursors.get(hot) if hot.keep_cursor else None
            if cursor is None:
                cursor = psycopg.AsyncRawCursor(driver)
                if hot.keep_cursor:
                    self._cursors[hot] = cursor
            await cursor.execute(hot.positional, [params[name] for name in hot.names])
            return await cursor.fetchall() if hot.returns_rows else []
        except psycopg.Error as error:
            self._rollback_only = translated = storage_error(self._as_dbapi_error(error, hot))
            raise translated from error

    @staticmethod
    def _as_dbapi_error(error: BaseException, hot: Hot | None = None) -> BaseException:
        """A psycopg error as the SQLAlchemy error the same failure raises on other paths."""
        if isinstance(error, psycopg.Error):
            return DBAPIError.instance(hot.sql if hot else "COMMIT", None, error, psycopg.Error)
        return error

    async def execute(self, statement: Executable, params: Any = None) -> Any:
        """Run one statement in this transaction, translating driver errors."""
        connection = self._require_connection()
        if not self._open:
            await self._begin_transaction()
        if not getattr(statement, "is_select", False):
            self._wrote = True
        try:
            return await connection.execute(statement, params)
        except DBAPIError as error:
            # On PostgreSQL the transaction is now aborted; on any engine, commit is unsafe.
            self._rollback_only = translated = storage_error(error)
            raise translated from error
        except StatementError as error:
            # Raised before reaching the database (a bind value we refuse, e.g. a naive
            # datetime): surface the cause itself.
            if isinstance(error.orig, Exception):
                raise error.orig from error
            raise

    def _require_connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("use the unit of work inside `async with`")
        return self._connection
