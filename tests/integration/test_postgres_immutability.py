"""The event log refuses tampering by direct SQL on PostgreSQL (quality.md reliability 7):
UPDATE, DELETE and TRUNCATE fail, also for a superuser who sets
session_replication_role = replica to skip ordinary triggers.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.ports import NewEvent
from tests.integration.builders import proposed

pytestmark = pytest.mark.postgres

TAMPERING = {
    "update": "UPDATE events SET actor = 'human:mallory'",
    "update-payload": "UPDATE events SET data = jsonb_set(data, '{amount}', '\"1.00\"')",
    "delete": "DELETE FROM events",
    "truncate": "TRUNCATE events",
    "truncate-cascade": "TRUNCATE events CASCADE",
    "upsert": (
        "INSERT INTO events (id, tenant_id, stream_id, version, type, schema_version, actor, "
        "data, metadata, correlation_id, created_at) "
        "SELECT id, tenant_id, stream_id, version, type, schema_version, actor, data, metadata, "
        "correlation_id, created_at FROM events "
        "ON CONFLICT (id) DO UPDATE SET actor = 'human:mallory'"
    ),
}


@pytest.fixture
async def stored_event(postgres_url: str) -> NewEvent:
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    event_id = uuid.uuid4()
    event = proposed(event_id)
    try:
        async with database.uow_factory()() as uow:
            await uow.events.append("acme", event_id, 0, [event])
            await uow.commit()
    finally:
        await database.dispose()
    return event


@pytest.mark.parametrize("replica", [False, True], ids=["origin", "replica-role"])
@pytest.mark.parametrize("statement", list(TAMPERING.values()), ids=list(TAMPERING))
def test_direct_sql_cannot_change_the_log(
    postgres_url: str, stored_event: NewEvent, statement: str, replica: bool
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        if replica:
            connection.execute("SET session_replication_role = replica")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            connection.execute(statement)
        rows = connection.execute("SELECT id, actor, data->>'amount' FROM events").fetchall()
    assert rows == [(stored_event.id, "book-e", "199.00")]


def test_the_triggers_fire_always(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        triggers = connection.execute(
            "SELECT tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = 'events'::regclass AND NOT tgisinternal ORDER BY tgname"
        ).fetchall()
    # 'A': enabled ALWAYS, i.e. also under session_replication_role = replica or local;
    # the writers' position floor (migration 0029) too, for readers paging the log.
    assert triggers == [
        ("events_no_truncate", "A"),
        ("events_no_update_delete", "A"),
        ("events_position_floor", "A"),
    ]
