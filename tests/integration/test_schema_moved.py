"""A replica whose database is migrated to another schema while it runs (ADR 0035
addendum): another replica, or an operator, runs `bookkeeper migrate` of a newer version.
The replica checked the revision at start only and went on writing with the old schema's
assumptions; now it refuses writes (503 `schema-changed`, nothing committed), says so once
in the log and in its health, and goes on reading. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.database import alembic_config, migration_revisions
from bookkeeper.application.errors import SchemaChanged
from bookkeeper.application.event_log import stamp
from bookkeeper.container import resolve
from bookkeeper.domain.events import AlertRaisedData
from tests.http_helpers import (
    assert_problem,
    receipt,
    running_api,
    sqlite_container,
)

TENANT = "acme"
NEWER = "9999_a_newer_version"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )


async def _set_revision(url: str, revision: str | None = None) -> str:
    """As the other replica's `bookkeeper migrate` leaves it: alembic_version at `revision`
    (None: as it was); the revision it was at."""
    other = SqlDatabase(url)
    try:
        async with other.engine.begin() as connection:
            was = str(
                (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one()
            )
            if revision is not None:
                await connection.execute(
                    text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
                )
        return was
    finally:
        await other.dispose()


async def _alert(database: SqlDatabase) -> uuid.UUID:
    alert_id = uuid.uuid4()
    event = stamp(
        "AlertRaised",
        AlertRaisedData(severity="warning", code="schema", message="written"),
        event_id=alert_id,
        actor="system:test",
        at=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
        correlation_id=alert_id,
    )
    async with database.uow_factory()() as uow:
        await uow.events.append(TENANT, alert_id, 0, [event])
        await uow.commit()
    return alert_id


async def _stored(url: str) -> set[uuid.UUID]:
    other = SqlDatabase(url)
    try:
        async with other.uow_factory()() as uow:
            return {e.id for e in await uow.events.read_all(limit=10_000)}
    finally:
        await other.dispose()


@pytest.fixture
async def database(url: str) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(url, pool_size=2, max_overflow=0)
    try:
        yield database
    finally:
        await database.dispose()


async def test_a_write_after_the_schema_moved_is_refused_and_nothing_of_it_is_written(
    url: str, database: SqlDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    await database.check_schema()  # at start, as serve does: the schema it knows
    database.health.schema.interval = 0.0  # every write reads the revision
    first = await _alert(database)
    was = await _set_revision(url, NEWER)

    with caplog.at_level(logging.ERROR), pytest.raises(SchemaChanged) as refused:
        await _alert(database)
    assert NEWER in refused.value.message and "restart" in refused.value.message
    assert await _stored(url) == {first}
    # Said once in the log, however many writes are refused.
    with pytest.raises(SchemaChanged):
        await _alert(database)
    said = [r for r in caplog.records if NEWER in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    # Reading goes on.
    async with database.uow_factory()() as uow:
        assert {e.id for e in await uow.events.read_all()} == {first}
    with pytest.raises(SchemaChanged):
        await database.ping()

    await _set_revision(url, was)  # restored: writes resume
    await database.ping()
    second = await _alert(database)
    assert await _stored(url) == {first, second}


async def test_the_ping_finds_it_before_any_write_and_writes_are_refused_at_once(
    url: str, database: SqlDatabase
) -> None:
    """The health checks read the revision on every ping; a write after them is refused
    without waiting for its own (throttled) look."""
    await database.check_schema()
    await _alert(database)
    await _set_revision(url, NEWER)
    with pytest.raises(SchemaChanged):
        await database.ping()
    database.health.schema.interval = 3600.0  # no look of the write's own
    with pytest.raises(SchemaChanged):
        await _alert(database)


async def test_a_database_never_checked_is_not_watched(url: str, database: SqlDatabase) -> None:
    """Tools that open the database without checking it (tests, one-off scripts) are not
    refused by a revision they never expected."""
    await _set_revision(url, NEWER)
    await database.ping()
    await _alert(database)


async def test_the_api_answers_503_schema_changed_and_its_health_says_why(
    url: str, tmp_path: Path
) -> None:
    container = sqlite_container(tmp_path, url)
    async with running_api(tmp_path, container=container) as api:
        database = await resolve(container.database)
        database.health.schema.interval = 0.0
        await api.propose("ReceiptAttachmentProposed", receipt())
        before = await _stored(url)
        await _set_revision(url, NEWER)

        refused = await api.submit("ReceiptAttachmentProposed", receipt(documentNumber="R-2"))
        body = assert_problem(refused, 503, "schema-changed")
        assert NEWER in body["detail"] and "Retry-After" in refused.headers
        assert await _stored(url) == before

        ready = await api.client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert any(NEWER in reason for reason in ready.json()["reasons"])
        health = await api.client.get("/health")
        assert health.status_code == 503 and any(
            NEWER in reason for reason in health.json()["reasons"]
        )


def test_the_refusal_is_said_in_norwegian_where_people_read_it() -> None:
    """The chat and Discord say a refused write in the person's language: by its code."""
    from bookkeeper.application.failures import explain_error

    error = SchemaChanged(f"the database was migrated to schema revision {NEWER!r} …")
    said = explain_error(error, "nb")
    assert "databasen er oppgradert" in said and "ingenting ble skrevet" in said
    assert NEWER in explain_error(error, "en")  # in English, our own words


def test_the_watched_revisions_are_alembics_own(tmp_path: Path) -> None:
    """A worker learns the heads it watches for from the scripts without alembic (P7); what
    it reads is what alembic reads — for the project's scripts, and for a branch merged
    from two heads and a script that annotates its names."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert migration_revisions() == (
        frozenset(script.get_heads()),
        frozenset(r.revision for r in script.walk_revisions()),
    )
    versions = tmp_path / "versions"
    versions.mkdir()
    for name, body in {
        "a.py": 'revision = "a"\ndown_revision = None\n',
        "b.py": 'revision: str = "b"\ndown_revision: str | None = "a"\n',
        "c.py": 'revision = "c"\ndown_revision = "a"\n',
        "d.py": 'revision = "d"\ndown_revision = ("b", "c")\n',
        "e.py": 'revision = "e"\ndown_revision = "a"\n',
    }.items():
        (versions / name).write_text(body, encoding="utf-8")
    assert migration_revisions(tmp_path) == (frozenset({"d", "e"}), frozenset("abcde"))
