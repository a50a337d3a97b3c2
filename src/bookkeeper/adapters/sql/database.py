"""The SQL database: engine and pool, migrations, health check, and the unit-of-work factory.

SQLite allows one writer at a time, and a transaction that read first and then wants to
write fails at once ("database is locked", no waiting) if another connection committed in
between. So on SQLite every unit of work is serialised, in two layers:

* an asyncio lock, taken before a connection is checked out: units of work of this process
  queue fairly (FIFO) instead of spinning in SQLite's busy handler or holding pool
  connections while they wait;
* `BEGIN IMMEDIATE`: the transaction takes the file's write lock when it starts, so a writer
  in another process (a CLI replay, a migration) makes it wait up to busy_timeout instead of
  failing half-way through.

Readers are serialised with writers too. That costs little at SQLite's scale and is the
only way a unit of work (which does not say up front whether it will write) stays safe.
PostgreSQL needs none of this: its units of work run concurrently, one pooled connection
each, and the unique indexes arbitrate appends.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

import bookkeeper
from bookkeeper.adapters.sql.group_write import LEADERS, GroupWriter
from bookkeeper.adapters.sql.health import REVISIONS_SQL, QueryHealth
from bookkeeper.adapters.sql.proposals import statements_for as proposal_statements
from bookkeeper.adapters.sql.rules import TaxRatesCache
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.adapters.sql.tenant_settings import RulesCache
from bookkeeper.adapters.sql.unit_of_work import SqlUnitOfWork
from bookkeeper.adapters.sql.urls import DatabaseUrl, redact_url, sqlite_on_connect

if TYPE_CHECKING:  # alembic (and mako) load when a migration runs, not in every worker (P7)
    from alembic.config import Config
from bookkeeper.application.errors import SchemaBehind, SchemaUnknown, StorageDegraded
from bookkeeper.application.ports import AfterCommit, UnitOfWork

log = logging.getLogger(__name__)

#: The maximum age of a pooled PostgreSQL connection (BOOKKEEPER_DB_POOL_RECYCLE_SECONDS).
POOL_RECYCLE_SECONDS = 300
#: How long a unit of work waits for its turn on SQLite before giving up.
SQLITE_TURN_TIMEOUT_SECONDS = 30.0
#: Execution option that makes a SQLite transaction start deferred (read-only work).
_READ_ONLY = "bookkeeper_read_only"
_REVISIONS = text(REVISIONS_SQL)
#: The same, for an adapter that reads in a unit of work (`verify --projections`).
READ_ONLY: Final = _READ_ONLY


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def migrations_dir() -> Path:
    """Where the alembic scripts are: packaged in the wheel, or `migrations/` of the source tree."""
    packaged = Path(bookkeeper.__file__).parent / "_migrations"
    if (packaged / "env.py").is_file():
        return packaged
    source = Path(__file__).resolve().parents[4] / "migrations"
    if (source / "env.py").is_file():
        return source
    raise RuntimeError(f"alembic migrations not found in {packaged} or {source}")


def migration_revisions(directory: Path | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """(heads, every revision) of the migration scripts, read from their module-level
    `revision` and `down_revision` assignments without importing alembic: a serve worker on
    PostgreSQL never migrates, and alembic (with mako and pygments) is ~10 MB of a
    worker's memory it would load only to learn these names (P7, test_lean_start)."""
    versions = (directory or migrations_dir()) / "versions"
    known: set[str] = set()
    below: set[str] = set()
    for script in sorted(versions.glob("*.py")):
        names: dict[str, object] = {}
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign | ast.AnnAssign)
                and (targets := node.targets if isinstance(node, ast.Assign) else [node.target])
                and isinstance(targets[0], ast.Name)
                and targets[0].id in ("revision", "down_revision")
                and node.value is not None
            ):
                names[targets[0].id] = ast.literal_eval(node.value)
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str):
            continue
        known.add(revision)
        if isinstance(down, str):
            below.add(down)
        elif isinstance(down, tuple | list):
            below.update(d for d in down if isinstance(d, str))
    return frozenset(known - below), frozenset(known)


def alembic_config(url: str) -> Config:
    """An alembic configuration for one database, without an ini file."""
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolation: a literal % in the path must be doubled.
    config.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    config.attributes["url"] = url
    return config


#: alembic keeps the running migration in module globals (alembic.context, alembic.op), so
#: two migrations in one process must not overlap. Across processes, env.py takes a
#: PostgreSQL advisory lock (SQLite's write lock does the same there).
_ALEMBIC_LOCK = threading.Lock()

#: A pooled connection handed back less than this long ago is checked out without a ping
#: (ADR 0039; HikariCP's aliveBypassWindowMs is the same idea, 500 ms): under load every
#: connection comes back within milliseconds, and one that died meanwhile fails its unit of
#: work (StorageUnavailable, 503) and is discarded (SqlSession), as one that dies during a
#: unit always did. An idle pool, where dead connections wait after a restart, is pinged.
PING_BYPASS_SECONDS: Final = 0.5
#: Where a pooled connection's record keeps the time it was handed back.
_RETURNED_AT: Final = "bookkeeper_returned_at"


class LostConnections:
    """When a unit of work last lost its connection (time.monotonic(); 0: never): the
    connections handed back before then may have been lost with it — a restart or a
    terminated backend takes them all — so each is pinged at its next checkout, however
    recently it came back (`ping_idle_connections`)."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since = 0.0

    def lost(self) -> None:
        self.since = time.monotonic()


def ping_idle_connections(
    engine: AsyncEngine,
    bypass: float = PING_BYPASS_SECONDS,
    lost: LostConnections | None = None,
) -> None:
    """Ping a connection at checkout when it was idle in the pool longer than `bypass`
    seconds, or came back before a unit of work lost its connection (`lost`); a failed
    ping invalidates the whole pool (as `pool_pre_ping` does: a restart killed them all)
    and the pool connects afresh."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.pop(_RETURNED_AT, None)
        if returned is None:
            return  # fresh from connect
        if time.monotonic() - returned < bypass and (lost is None or returned > lost.since):
            return  # in use a moment ago, and no connection was lost since
        if not dialect._do_ping_w_event(dbapi_connection):
            raise InvalidatePoolError("the pooled connection did not answer a ping")


def run_migrations(url: str) -> None:
    """Upgrade the database to the newest revision (synchronous; idempotent)."""
    from alembic import command

    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(url), "head")


def _unknown_revision(error: BaseException) -> str | None:
    """The revision alembic could not find in our scripts (the database's own), if that
    is what `error` is (alembic's CommandError from a ResolutionError)."""
    from alembic.script.revision import ResolutionError

    cause = error.__cause__
    if isinstance(cause, ResolutionError):
        return str(cause.argument)
    return None


def _upgrade_on(connection: Connection, config: Config) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    connection.commit()


class SqlDatabase:
    """One SQLite file or PostgreSQL database, reached through a pool of async connections."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        max_overflow: int = 50,
        echo: bool = False,
        pool_recycle_seconds: int = POOL_RECYCLE_SECONDS,
        group_writers: int = LEADERS,
    ) -> None:
        self._url = DatabaseUrl(url)
        self.dialect: str = self._url.dialect
        self.url = redact_url(url)
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._echo = echo
        self._engine: AsyncEngine | None = None
        self.rules_cache = RulesCache()
        #: The tax rates read on every dated proposal (ADR 0039).
        self.tax_rates_cache = TaxRatesCache()
        #: New proposals' writes, batched while the database is busy (ADR 0053):
        #: PostgreSQL only, at most `group_writers` in flight; 0 writes each alone.
        self._group_writers = group_writers
        self._proposal_writer: GroupWriter | None = None
        self._turn: asyncio.Lock | None = None
        self._turn_holder: asyncio.Task[Any] | None = None
        self._pool_recycle = pool_recycle_seconds
        #: How the units of work ended lately; `ping` reads it (ADR 0021).
        self.health = QueryHealth()
        #: When a unit of work last lost its connection (`connection_lost`).
        self._lost = LostConnections()

    def __repr__(self) -> str:
        return f"SqlDatabase({self.url!r})"

    @property
    def proposal_writer(self) -> GroupWriter | None:
        """Where new proposals are written on PostgreSQL (ADR 0053); None: each alone."""
        if self._proposal_writer is None and self._group_writers and self.dialect == "postgresql":
            sql = proposal_statements(self.dialect)
            if sql.record is not None and sql.record_many is not None:
                self._proposal_writer = GroupWriter(
                    sql.record, sql.record_many, leaders=self._group_writers
                )
        return self._proposal_writer

    @property
    def engine(self) -> AsyncEngine:
        """The engine, created on first use (creating it does not connect)."""
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> AsyncEngine:
        options: dict[str, Any] = {
            "pool_size": self._pool_size,
            "max_overflow": self._max_overflow,
            "echo": self._echo,
        }
        if self.dialect == "postgresql":
            # Self-healing (ADR 0021): a connection is checked at checkout (a
            # server restart or pg_terminate_backend leaves dead ones in the pool) and
            # replaced after a maximum age (it may carry session settings from a time the
            # database was configured differently); one that failed is discarded by
            # SqlSession._close.
            # The check is skipped for a connection handed back less than
            # PING_BYPASS_SECONDS ago (ADR 0039): `pool_pre_ping` cost a round trip and a
            # transaction per unit of work, a sixth of a proposal's.
            options["pool_recycle"] = self._pool_recycle
            engine = create_async_engine(
                self._url.async_url,
                # psycopg takes bytes from a json dumper, saving a decode/encode.
                json_serializer=msgspec.json.encode,
                json_deserializer=msgspec.json.decode,
                connect_args={"application_name": "bookkeeper"},
                **options,
            )
            ping_idle_connections(engine, lost=self._lost)
            return engine
        if self._url.in_memory:
            # Every connection to :memory: is a different database: keep exactly one. The
            # units of work are serialised anyway, so they can share it.
            options = {"echo": self._echo, "poolclass": StaticPool}
        engine = create_async_engine(
            self._url.async_url,
            json_serializer=_json_text,
            json_deserializer=msgspec.json.decode,
            **options,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            sqlite_on_connect(dbapi_connection, manage_transactions=True)

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Connection) -> None:
            if connection.get_execution_options().get(_READ_ONLY):
                connection.exec_driver_sql("BEGIN")
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def uow_factory(self, after_commit: AfterCommit | None = None) -> Callable[[], UnitOfWork]:
        """A factory of units of work; each call opens a new one (enter it with `async with`).

        `after_commit` receives the events each unit committed, after it has closed (see
        bookkeeper.adapters.sql.unit_of_work)."""

        def open_unit_of_work() -> UnitOfWork:
            return SqlUnitOfWork(self, after_commit)

        return open_unit_of_work

    def connection_lost(self) -> None:
        """A unit of work lost its connection (a restart, a terminated backend): the pooled
        connections handed back before now are pinged at their next checkout, so that
        after a restart one request meets the dead pool (503) and the next ones a fresh
        one, instead of one 503 per pooled connection (ADR 0021 addendum)."""
        self._lost.lost()

    async def acquire_writer(self) -> None:
        """Wait for this unit of work's turn (SQLite only; PostgreSQL runs them concurrently)."""
        if self.dialect != "sqlite":
            return
        if self._turn is None:
            self._turn = asyncio.Lock()
        current = asyncio.current_task()
        if current is not None and current is self._turn_holder:
            # It would wait for itself forever.
            raise RuntimeError("a unit of work was opened inside another on SQLite (deadlock)")
        try:
            async with asyncio.timeout(SQLITE_TURN_TIMEOUT_SECONDS):
                await self._turn.acquire()
        except TimeoutError:
            raise storage_error(OSError("SQLite database busy: no turn to write in time")) from None
        self._turn_holder = current

    def release_writer(self) -> None:
        if self._turn is not None and self._turn.locked():
            self._turn_holder = None
            self._turn.release()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One short transaction of a store's own (never a caller's unit of work) on a
        pooled connection, after the writer's turn on SQLite; a driver error, or no
        connection in time, as ours (StorageUnavailable and the like)."""
        await self.acquire_writer()
        try:
            async with self.engine.connect() as connection, connection.begin():
                yield connection
        except (DBAPIError, PoolTimeoutError, OSError) as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        finally:
            self.release_writer()

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision (alembic, in a worker thread).
        StorageUnavailable when the database cannot be reached; SchemaUnknown when a newer
        version migrated it (a revision this one does not know)."""
        try:
            await self._migrate()
            self.watch_schema()
        except Exception as error:
            revision = _unknown_revision(error)
            if revision is not None:
                raise SchemaUnknown(
                    f"the database is at schema revision {revision!r}, which this version "
                    f"({bookkeeper.__version__}) does not know: a newer version of bookkeeper "
                    "migrated it; run that version, or restore a backup made before"
                ) from error
            mapped = storage_error(error)
            if mapped is error:
                raise
            raise mapped from error

    async def check_schema(self) -> None:
        """Return if the schema is at this version's newest revision. SchemaBehind when it
        is older or was never migrated (`bookkeeper migrate`), SchemaUnknown when a newer
        version migrated it, StorageUnavailable when the database cannot be reached."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        def current(connection: Connection) -> set[str]:
            return set(MigrationContext.configure(connection).get_current_heads())

        try:
            async with self.engine.connect() as connection:
                revisions = await connection.run_sync(current)
        except Exception as error:
            mapped = storage_error(error)
            if mapped is error:
                raise
            raise mapped from error
        script = ScriptDirectory.from_config(alembic_config(self.url))
        heads = set(script.get_heads())
        known = {r.revision for r in script.walk_revisions()}
        if revisions == heads:
            self.health.schema.expect(heads, known)
            return
        unknown = sorted(revisions - known)
        if unknown:
            raise SchemaUnknown(
                f"the database is at schema revision {unknown[0]!r}, which this version "
                f"({bookkeeper.__version__}) does not know: a newer version of bookkeeper "
                "migrated it; run that version, or restore a backup made before"
            )
        at = ", ".join(sorted(revisions)) or "none (never migrated)"
        raise SchemaBehind(
            f"the database's schema is at revision {at}; this version needs "
            f"{', '.join(sorted(heads))}: run `bookkeeper migrate` first"
        )

    def watch_schema(self) -> None:
        """Refuse writes from now on if the schema moves from this version's newest
        revision (SchemaWatch): for a process that serves a database another checked
        (`serve` checks it once before its workers start; each worker watches)."""
        heads, known = migration_revisions()
        self.health.schema.expect(heads, known)

    async def _migrate(self) -> None:
        if not self._url.in_memory:
            await asyncio.to_thread(run_migrations, self._url.sync_url.render_as_string(False))
            return
        # An in-memory database exists only on its one connection, so the migration must
        # run there (briefly blocking the event loop; fine for tests and demos).
        config = alembic_config(self.url)
        await self.acquire_writer()
        try:
            async with self.engine.connect() as connection:
                with _ALEMBIC_LOCK:
                    await connection.run_sync(_upgrade_on, config)
        finally:
            self.release_writer()

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers a trivial query, and
        StorageDegraded when it does but the latest units of work failed on it.

        The database is asked first: a database that refuses every connection (down,
        `ALLOW_CONNECTIONS false`, out of connection slots) fails the units of work too,
        and answering StorageDegraded from their record alone kept /health/ready at 200
        (`degraded`) for as long as requests kept failing — the load balancer went on
        sending them to a process that could not reach its database."""
        shared = self._url.in_memory  # its single connection may be inside a unit of work
        if shared:
            await self.acquire_writer()
        try:
            async with self.engine.connect() as connection:
                # A plain (deferred) BEGIN: a health check must not queue for the write lock.
                await connection.execution_options(**{_READ_ONLY: True})
                if self.health.schema.watching:
                    # The same one round trip, and it tells whether the schema moved.
                    found = await connection.execute(_REVISIONS)
                    self.health.schema.seen(row[0] for row in found)
                else:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        finally:
            if shared:
                self.release_writer()
        if self.health.schema.refusal is not None:
            raise self.health.schema.refusal
        if self.health.degraded:
            raise StorageDegraded(
                f"the latest units of work failed on the database: {self.health.last_error}"
            )

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            await self._engine.dispose()
