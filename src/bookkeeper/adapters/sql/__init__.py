"""SQL storage adapter (SQLite and PostgreSQL through SQLAlchemy Core, migrations by alembic)."""

from bookkeeper.adapters.sql.database import SqlDatabase, migrations_dir, run_migrations
from bookkeeper.adapters.sql.unit_of_work import SqlUnitOfWork
from bookkeeper.adapters.sql.urls import redact_url

__all__ = ["SqlDatabase", "SqlUnitOfWork", "migrations_dir", "redact_url", "run_migrations"]
