"""Alembic environment: runs the revisions on SQLite or PostgreSQL with a synchronous driver.

Called programmatically by `SqlDatabase.migrate()` (which passes the database URL in
`config.attributes["url"]`), or from the alembic CLI with `-x url=...`, `sqlalchemy.url` in
an ini file, or `BOOKKEEPER_DATABASE_URL`. Any accepted URL form works ("postgres://",
"sqlite+aiosqlite:///..."): it is turned into its synchronous driver here.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bookkeeper.adapters.sql.urls import DatabaseUrl, create_sync_engine

#: Key of the PostgreSQL advisory lock that lets only one process migrate at a time, so two
#: replicas starting together do not both try to create the tables.
MIGRATION_LOCK_KEY = 0x626B5F6D69677231  # "bk_migr1"

config = context.config


def _url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("BOOKKEEPER_DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set BOOKKEEPER_DATABASE_URL")
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends; alembic reads the current revision after it,
            # so a second migrator waits and then finds nothing to do.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=DatabaseUrl(_url()).sync_url, literal_binds=True, dialect_opts={"paramstyle": "named"}
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_sync_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
