"""The tenants that have events: who the morning run is for when none are configured."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bookkeeper.adapters.sql.database import SqlDatabase
from bookkeeper.adapters.sql.schema import events
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.morning import MAX_TENANTS


class SqlTenantDirectory:
    """The TenantDirectory port: distinct tenant ids of the log, bounded, in order."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    async def tenants(self, limit: int = MAX_TENANTS, after: str | None = None) -> list[str]:
        statement = (
            select(events.c.tenant_id).distinct().order_by(events.c.tenant_id).limit(max(limit, 0))
        )
        if after is not None:
            statement = statement.where(events.c.tenant_id > after)
        try:
            async with self._database.engine.connect() as connection:
                rows = (await connection.execute(statement)).scalars().all()
        except (DBAPIError, PoolTimeoutError, OSError) as error:
            translated = storage_error(error)
            if translated is error:
                raise
            raise translated from error
        return list(rows)
