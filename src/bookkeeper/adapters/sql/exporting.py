"""The EventExport port on SQL: keyset pages of the log from one snapshot.

PostgreSQL: one `REPEATABLE READ READ ONLY` transaction, whose snapshot every page reads
(the default READ COMMITTED would give each page its own, and an event committed between
two pages at a position already passed would be missing while a later one is there).
SQLite: one deferred (read) transaction, which in WAL mode reads one snapshot from its
first statement on and does not take the write turn. Pages walk the primary key by
position; one tenant's walk uses `ix_events_tenant_position`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from bookkeeper.adapters.sql.database import _READ_ONLY, SqlDatabase
from bookkeeper.adapters.sql.event_store import _recorded, statements_for
from bookkeeper.adapters.sql.schema import events
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.ports import RecordedEvent


class SqlEventExport:
    """Every event of the log, or of one tenant, in position order, from one snapshot."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    async def pages(self, tenant_id: str | None, page: int) -> AsyncIterator[list[RecordedEvent]]:
        columns = statements_for(self._database.dialect).columns
        stmt = select(*columns).where(events.c.position > bindparam("after"))
        if tenant_id is not None:
            stmt = stmt.where(events.c.tenant_id == bindparam("tenant_id"))
        stmt = stmt.order_by(events.c.position).limit(max(page, 1))
        params: dict[str, object] = {"tenant_id": tenant_id} if tenant_id is not None else {}
        try:
            async with self._database.engine.connect() as connection:
                if self._database.dialect == "postgresql":
                    await connection.execution_options(
                        isolation_level="REPEATABLE READ", postgresql_readonly=True
                    )
                else:
                    await connection.execution_options(**{_READ_ONLY: True})
                async with connection.begin():
                    after = 0
                    while True:
                        rows = (await connection.execute(stmt, {**params, "after": after})).all()
                        if not rows:
                            return
                        yield [_recorded(row) for row in rows]
                        after = rows[-1][0]
        except SQLAlchemyError as error:
            raise storage_error(error) from error
