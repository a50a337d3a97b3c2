"""Fixtures for integration tests: a migrated SQLite file and PostgreSQL database per test.

PostgreSQL comes from BOOKKEEPER_TEST_POSTGRES_URL (default the local server). When it cannot
be reached the postgres tests are skipped with the reason shown, except under CI=true, where
they fail: CI must not go green without them. Each test session works in its own databases
(`bk_test_<random>`: one migrated template, cloned per test), dropped at the end, so parallel
runs and other users of the server do not interfere.

A test's database is dropped behind it, by a thread of its own, while the next test runs: on
PostgreSQL 15 every DROP DATABASE waits for a forced checkpoint, which under the suite's
writers took seconds per test.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.memory_saft import MemoryAuditReads
from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.sql.saft import SqlAuditReads
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.saft import AuditReads
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import Api, api_with_fiken, running_api, served_api
from tests.unit.conftest import FixedClock

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _libpq_url(url: str, database: str | None = None) -> str:
    """A URL psycopg/libpq accepts (no SQLAlchemy driver suffix), optionally another db."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    parsed = parsed.set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


class PostgresServer:
    """Creates and drops this session's databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"bk_test_{secrets.token_hex(4)}"
        self.template = f"{self.prefix}_tpl"
        self._created: list[str] = []
        self._counter = 0
        self._doomed: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._dropper: threading.Thread | None = None
        self._drop_errors: list[BaseException] = []

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(_libpq_url(self.url), autocommit=True, connect_timeout=5)

    def create_template(self) -> None:
        with self._admin() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        self._created.append(self.template)
        run_migrations(self.url_of(self.template))

    def clone(self) -> str:
        """A fresh, migrated database (a copy of the template: much faster than migrating)."""
        return self.create(template=self.template)

    def create(self, template: str = "template0") -> str:
        """A new database of this session, empty unless copied from a template."""
        self._counter += 1
        name = f"{self.prefix}_{self._counter}"
        with self._admin() as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        self._created.append(name)
        return name

    def drop(self, name: str) -> None:
        with self._admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if name in self._created:
            self._created.remove(name)

    def drop_later(self, name: str) -> None:
        """Drop `name` behind the caller (a thread of this session, one drop at a time):
        the caller has closed its connections; a test never waits for the checkpoint."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_doomed, name="pg-dropper")
            self._dropper.start()
        self._doomed.put(name)

    def _drop_doomed(self) -> None:
        while (name := self._doomed.get()) is not None:
            try:
                self.drop(name)
            except BaseException as error:  # reported by drop_all, at the session's end
                self._drop_errors.append(error)

    def drop_all(self) -> None:
        if self._dropper is not None:
            self._doomed.put(None)
            self._dropper.join()
        for name in reversed(list(self._created)):
            self.drop(name)
        if self._drop_errors:
            raise self._drop_errors[0]

    def url_of(self, database: str) -> str:
        return _libpq_url(self.url, database)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    url = os.environ.get("BOOKKEEPER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    server = PostgresServer(url)
    try:
        with server._admin() as admin:
            admin.execute("SELECT 1")
    except psycopg.Error as error:
        reason = f"PostgreSQL at {make_url(_libpq_url(url))!r} is unreachable: {error}".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests are mandatory)")
        pytest.skip(f"{reason} (set BOOKKEEPER_TEST_POSTGRES_URL to run them)")
    server.create_template()
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database of its own for one test."""
    name = postgres_server.clone()
    try:
        yield postgres_server.url_of(name)
    finally:
        postgres_server.drop_later(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    run_migrations(f"sqlite:///{path}")
    # Fold the write-ahead log into the main file so that copying the file copies it all.
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return path


@pytest.fixture
def sqlite_path(sqlite_template: Path, tmp_path: Path) -> Path:
    """A fresh, migrated SQLite file of its own for one test."""
    path = tmp_path / "bookkeeper.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def sqlite_url(sqlite_path: Path) -> str:
    return f"sqlite:///{sqlite_path}"


@pytest.fixture
async def sqlite_database(sqlite_url: str) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(sqlite_url, pool_size=2, max_overflow=2)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_database(request: pytest.FixtureRequest) -> AsyncIterator[SqlDatabase]:
    """Each SQL backend in turn (SQLite, then PostgreSQL), with a small pool."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    database = SqlDatabase(url, pool_size=2, max_overflow=0)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[SqlDatabase]:
    # Small pool: other test sessions may share the server's max_connections.
    database = SqlDatabase(postgres_url, pool_size=10, max_overflow=20)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def uow_factory(request: pytest.FixtureRequest) -> AsyncIterator[UnitOfWorkFactory]:
    """Units of work on each storage in turn: memory, a fresh SQLite file, a fresh
    PostgreSQL database (a pool big enough for an executor's claims and records)."""
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
    database = SqlDatabase(url, pool_size=4, max_overflow=4)
    try:
        yield database.uow_factory()
    finally:
        await database.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def audit_storage(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[UnitOfWorkFactory, AuditReads]]:
    """Units of work and the SAF-T export's reads of the same books, on each storage in
    turn: memory, a fresh SQLite file, a fresh PostgreSQL database."""
    if request.param == "memory":
        factory = MemoryUnitOfWorkFactory()
        yield factory, MemoryAuditReads(factory.db)
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
    database = SqlDatabase(url, pool_size=2, max_overflow=2)
    try:
        yield database.uow_factory(), SqlAuditReads(database)
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean BOOKKEEPER_* environment whose data lives in a temporary directory."""
    for name in list(os.environ):
        if name.startswith("BOOKKEEPER_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "data"
    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(directory))
    return directory


@pytest.fixture
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The app on in-memory storage (http_helpers.running_api; a test marked `at_once` gets
    it served on a socket, http_helpers.served_api); a module that needs another
    container defines its own `api`."""
    run = served_api if request.node.get_closest_marker("at_once") else running_api
    async with run(tmp_path) as running:
        yield running


#: Redis for the tests of what replicas share (rate limits, ADR 0032 and 0035).
REDIS_URL = os.environ.get("BOOKKEEPER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    """The test Redis: skipped when it cannot be reached, except under CI=true (fails)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        reason = f"Redis at {REDIS_URL} not reachable: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the Redis tests are mandatory)")
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fiken_world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Api, FakeFiken]]:
    """The app with its own executor on, booking in a loopback Fiken fake
    (`api_with_fiken`), on SQLite and on PostgreSQL: the API and the fake."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with api_with_fiken(tmp_path, url, "fiken-world-token", "world-as") as world:
        yield world
