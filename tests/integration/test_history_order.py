"""An action's history is in the log's order (the event store's position), not by the
time each event carries: events written with the same timestamp, or with a clock that
went back (another replica's skew, an imported event dated in the past), show in the
order they were written — on SQLite and PostgreSQL, through the query and the CLI's
lines."""

from __future__ import annotations

import datetime as dt
import io
import uuid

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.event_log import stamp
from bookkeeper.application.ports import Principal
from bookkeeper.application.queries import Queries
from bookkeeper.domain.events import AlertRaisedData
from bookkeeper.entrypoints.history_cli import write

TENANT = "acme"
AT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
#: Written in this order; the times are equal, then go back.
TIMES = [AT, AT, AT, AT - dt.timedelta(hours=2), AT - dt.timedelta(days=1), AT]


async def _write(database: SqlDatabase, correlation: uuid.UUID) -> list[uuid.UUID]:
    ids = []
    for number, at in enumerate(TIMES):
        event_id = uuid.uuid4()
        alert = stamp(
            "AlertRaised",
            AlertRaisedData(severity="info", code="audit", message=f"step {number}"),
            event_id=event_id,
            actor="system:compliance",
            at=at,
            correlation_id=correlation,
        )
        async with database.uow_factory()() as uow:
            await uow.events.append(TENANT, event_id, 0, [alert])
            await uow.commit()
        ids.append(event_id)
    return ids


async def test_history_is_in_the_order_written_whatever_the_timestamps(
    sql_database: SqlDatabase,
) -> None:
    correlation = uuid.uuid4()
    written = await _write(sql_database, correlation)
    await _write(sql_database, uuid.uuid4())  # another action: not part of it
    queries = Queries(sql_database.uow_factory(), RoleAuthorizer())
    principal = Principal(subject="cli", tenant_id=TENANT, roles=frozenset({"admin"}))
    history = await queries.correlation(principal, correlation)
    assert [e.id for e in history] == written
    positions = [e.position for e in history]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # Sorted by time, the list would differ: the test can fail.
    assert [e.id for e in sorted(history, key=lambda e: e.created_at)] != written

    out = io.StringIO()
    write(history, out, as_json=False)
    lines = out.getvalue().splitlines()
    assert [int(line.split()[0]) for line in lines] == positions
    assert [line.split()[-1] for line in lines] == [str(i) for i in written]
    out = io.StringIO()
    write(history, out, as_json=True)
    assert [
        f'"id":"{i}"' in line for line, i in zip(out.getvalue().splitlines(), written, strict=True)
    ] == [True] * len(written)
