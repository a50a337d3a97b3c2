"""Database URLs: which driver each accepted form maps to, redaction for logs, and the
per-connection SQLite settings shared by the async adapter and the migration runner.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from sqlalchemy import create_engine, event, pool
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

Dialect = Literal["sqlite", "postgresql"]

#: How long a SQLite connection waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 5000

_SQLITE_DRIVERS = {"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"}
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async"}
_SECRET_QUERY_KEYS = {"password", "passfile", "sslpassword", "sslkey"}


class DatabaseUrl:
    """One database, with the async URL the adapter uses and the sync one alembic uses."""

    def __init__(self, url: str) -> None:
        # SQLAlchemy dropped the "postgres" alias; Heroku-style URLs still use it.
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError(f"not a database URL: {redact_url(url)}") from None
        driver = parsed.drivername
        #: A private SQLite database in memory (tests, demos): one connection, shared.
        self.in_memory = False
        if driver in _SQLITE_DRIVERS:
            self.in_memory = parsed.database in (None, "", ":memory:")
            if self.in_memory:
                parsed = parsed.set(database=":memory:")
            self.dialect: Dialect = "sqlite"
            self.async_url: URL = parsed.set(drivername="sqlite+aiosqlite")
            self.sync_url: URL = parsed.set(drivername="sqlite+pysqlite")
        elif driver in _POSTGRES_DRIVERS:
            self.dialect = "postgresql"
            # psycopg 3 speaks both: one driver, one set of type adapters, for both URLs.
            self.async_url = parsed.set(drivername="postgresql+psycopg")
            self.sync_url = parsed.set(drivername="postgresql+psycopg")
        else:
            raise ValueError(
                f"unsupported database {driver!r}: use sqlite:///path or postgresql://..."
            )

    def __repr__(self) -> str:
        return f"DatabaseUrl({redact_url(self.async_url.render_as_string(False))!r})"


def libpq_url(database_url: str) -> str:
    """A libpq URL (what psycopg connects with) for a SQLAlchemy PostgreSQL URL (the
    advisory locks, the PostgreSQL Fiken gate)."""
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def redact_url(url: str) -> str:
    """The URL with its password (in the authority or the query string) replaced by ***."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Not parseable: blank anything between "://user:" and "@" the crude way.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    query = {
        key: ("***" if key.lower() in _SECRET_QUERY_KEYS else value)
        for key, value in parsed.query.items()
    }
    return parsed.set(query=query).render_as_string(hide_password=True)


def sqlite_on_connect(dbapi_connection: Any, *, manage_transactions: bool) -> None:
    """Settings every SQLite connection needs (they are per connection, not per file)."""
    if manage_transactions:
        # The driver's own implicit BEGIN is DEFERRED; the adapter issues its own BEGIN
        # IMMEDIATE instead (see SqlDatabase), which needs the driver in autocommit mode.
        dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers do not block the writer and the writer does not block readers.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Off by default in SQLite; events.parent_id is a real foreign key.
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_sync_engine(url: str | DatabaseUrl) -> Engine:
    """A synchronous, unpooled engine for one-off work such as migrations."""
    target = url if isinstance(url, DatabaseUrl) else DatabaseUrl(url)
    engine = create_engine(target.sync_url, poolclass=pool.NullPool)
    if target.dialect == "sqlite":

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            sqlite_on_connect(dbapi_connection, manage_transactions=False)

    return engine
