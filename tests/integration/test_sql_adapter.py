"""The SQL adapter beyond the port contract, on SQLite and PostgreSQL: migrations, URLs,
error translation, rollback-only units of work, pool hygiene, and the review-rules cache.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from bookkeeper.adapters.sql import SqlDatabase, migrations_dir, redact_url
from bookkeeper.adapters.sql.database import alembic_config
from bookkeeper.adapters.sql.schema import tenant_settings
from bookkeeper.adapters.sql.tenant_settings import SqlTenantSettings
from bookkeeper.application.errors import DuplicateEvent, StorageDegraded, StorageUnavailable
from bookkeeper.domain.events import Kind
from bookkeeper.domain.review import DEFAULT_RULES, ReviewRules
from tests.integration.builders import NOW
from tests.integration.builders import proposed as event
from tests.integration.conftest import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    value: str = request.getfixturevalue(fixture)
    return value


@pytest.fixture
async def database(url: str) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(url, pool_size=1, max_overflow=0)
    try:
        yield database
    finally:
        await database.dispose()


async def count_events(database: SqlDatabase) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM events"))).scalar_one())


# --- migrations -----------------------------------------------------------------------


async def test_migrating_again_is_a_no_op(database: SqlDatabase) -> None:
    async with database.uow_factory()() as uow:
        await uow.events.append("acme", (first := uuid.uuid4()), 0, [event(first)])
        await uow.commit()
    await database.migrate()
    await database.migrate()
    async with database.engine.connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert versions == [(_head(),)]
    assert await count_events(database) == 1


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite:///unused")).get_current_head()
    assert head is not None
    return head


def test_the_migrations_are_one_numbered_chain_found_from_the_source_tree() -> None:
    assert (migrations_dir() / "env.py").is_file()
    scripts = ScriptDirectory.from_config(alembic_config("sqlite:///unused"))
    assert len(scripts.get_heads()) == 1
    chain = [script.revision for script in scripts.walk_revisions()]
    assert chain == [f"{n:04d}" for n in range(len(chain), 0, -1)]


@pytest.mark.postgres
async def test_concurrent_migrations_of_an_empty_database_both_succeed(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create()
    url = postgres_server.url_of(name)
    # Separate processes, as two replicas starting at once would be.
    script = (
        "import sys; from bookkeeper.adapters.sql import run_migrations; "
        "run_migrations(sys.argv[1])"
    )
    try:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", script, url, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(2)
        ]
        for process in processes:
            _, stderr = await process.communicate()
            assert process.returncode == 0, stderr.decode()
        database = SqlDatabase(url)
        try:
            async with database.engine.connect() as connection:
                version = await connection.execute(text("SELECT version_num FROM alembic_version"))
                assert version.all() == [(_head(),)]
        finally:
            await database.dispose()
    finally:
        postgres_server.drop(name)


async def test_concurrent_migrations_in_one_process_take_turns(sqlite_path: Path) -> None:
    url = f"sqlite:///{sqlite_path.with_name('fresh.sqlite3')}"
    first, second = SqlDatabase(url), SqlDatabase(url)
    try:
        await asyncio.gather(first.migrate(), second.migrate())
        async with first.engine.connect() as connection:
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert version.all() == [(_head(),)]
    finally:
        await first.dispose()
        await second.dispose()


async def test_an_in_memory_sqlite_database_works_on_its_one_connection() -> None:
    database = SqlDatabase("sqlite+aiosqlite:///:memory:")
    try:
        await database.migrate()
        await database.ping()
        stream = uuid.uuid4()
        async with database.uow_factory()() as uow:
            await uow.events.append("acme", stream, 0, [event(stream)])
            await uow.commit()
        async with database.uow_factory()() as uow:
            assert [e.id for e in await uow.events.read_stream("acme", stream)] == [stream]
    finally:
        await database.dispose()


# --- URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("sqlite:///var/bookkeeper.sqlite3", "sqlite"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite"),
        ("sqlite:///:memory:", "sqlite"),
        ("postgresql://bk:secret@db:5432/books", "postgresql"),
        ("postgres://bk@db/books", "postgresql"),
        ("postgresql+psycopg://bk@db/books?sslmode=require", "postgresql"),
    ],
)
def test_accepted_urls_choose_an_async_driver_without_connecting(url: str, dialect: str) -> None:
    database = SqlDatabase(url)
    assert database.dialect == dialect
    assert "secret" not in repr(database)


@pytest.mark.parametrize("url", ["mysql://x@y/z", "not a url", "oracle+cx://a@b/c"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported|not a database URL"):
        SqlDatabase(url)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://bk:s3cr%40t@db:5432/books", "postgresql://bk:***@db:5432/books"),
        ("postgres://bk:pw@db/books", "postgres://bk:***@db/books"),
        ("postgresql://bk@db/books?password=pw&sslmode=require", "sslmode=require"),
        ("sqlite:////data/books.sqlite3", "sqlite:////data/books.sqlite3"),
        ("garbage://user:pw@host", "***"),
    ],
)
def test_redact_url_hides_passwords(url: str, redacted: str) -> None:
    shown = redact_url(url)
    assert redacted in shown
    assert "pw" not in shown.replace("password", "") and "s3cr" not in shown


# --- errors -----------------------------------------------------------------------------


async def test_an_unreachable_database_is_storage_unavailable() -> None:
    for url in (
        "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2",
        "sqlite:////nonexistent-dir/for/sure/books.sqlite3",
    ):
        database = SqlDatabase(url, pool_size=1, max_overflow=0)
        try:
            with pytest.raises(StorageUnavailable):
                await database.ping()
            with pytest.raises(StorageUnavailable):
                async with database.uow_factory()():
                    pass
            # Its units of work failed, but that is no answer: it is unavailable, not
            # degraded (which /health/ready reports as ready).
            with pytest.raises(StorageUnavailable) as pinged:
                await database.ping()
            assert not isinstance(pinged.value, StorageDegraded), pinged.value
        finally:
            await database.dispose()
    # aiosqlite stops the thread of a connection that failed to open without waiting for
    # it; let it finish while this test's event loop still runs.
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 10)


async def test_a_naive_timestamp_is_refused(database: SqlDatabase) -> None:
    async with database.uow_factory()() as uow:
        with pytest.raises(ValueError, match="naive"):
            await uow.events.append(
                "acme", uuid.uuid4(), 0, [event(created_at=dt.datetime(2026, 11, 20, 9))]
            )


async def test_a_half_done_append_cannot_be_committed(database: SqlDatabase) -> None:
    taken = event()
    async with database.uow_factory()() as uow:
        await uow.events.append("acme", taken.id, 0, [taken])
        await uow.commit()
    stream = uuid.uuid4()
    async with database.uow_factory()() as uow:
        with pytest.raises(DuplicateEvent):
            await uow.events.append(
                "acme",
                stream,
                0,
                [event(stream), event(taken.id, type="ReceiptAttachmentApproved")],
            )
        # The first event is in the transaction already; committing it would be half an append.
        with pytest.raises(DuplicateEvent):
            await uow.commit()
    assert await count_events(database) == 1


async def test_after_a_database_error_commit_refuses_and_the_pool_recovers(
    database: SqlDatabase,
) -> None:
    retried = event()
    async with database.uow_factory()() as uow:
        await uow.events.append("acme", retried.id, 0, [retried])
        await uow.commit()
    # pool_size=1: every unit of work below reuses the one connection.
    for _ in range(3):
        async with database.uow_factory()() as uow:
            with pytest.raises(IntegrityError):  # parent_id must name a stored event
                await uow.events.append("acme", uuid.uuid4(), 0, [event(parent_id=uuid.uuid4())])
            # On PostgreSQL the transaction is aborted; COMMIT would silently roll back.
            with pytest.raises(IntegrityError):
                await uow.commit()
        async with database.uow_factory()() as uow:
            with pytest.raises(DuplicateEvent):
                await uow.events.append("acme", uuid.uuid4(), 0, [retried])
    stream = uuid.uuid4()
    async with database.uow_factory()() as uow:
        await uow.events.append("acme", stream, 0, [event(stream)])
        await uow.commit()
    assert await count_events(database) == 2
    await database.ping()


# --- settings ----------------------------------------------------------------------------


async def test_stored_review_rules_are_served_and_cached(database: SqlDatabase) -> None:
    strict = ReviewRules(
        auto_approve_above=Decimal("0.95"),
        auto_approvable_kinds=frozenset({Kind.RECEIPT_ATTACHMENT, Kind.EXPENSE_REGISTRATION}),
        max_auto_amount=Decimal("2500.50"),
    )
    async with database.uow_factory()() as uow:
        assert await uow.settings.review_rules("acme") == DEFAULT_RULES
        assert isinstance(uow.settings, SqlTenantSettings)
        await uow.settings.save_review_rules("acme", strict, NOW)
        await uow.commit()
    async with database.uow_factory()() as uow:
        assert await uow.settings.review_rules("acme") == strict
        assert await uow.settings.review_rules("globex") == DEFAULT_RULES

    # Changed behind the adapter's back: the cached rules are served until they expire.
    async with database.engine.begin() as connection:
        await connection.execute(
            update(tenant_settings).values(review_rules=msgspec.to_builtins(DEFAULT_RULES))
        )
    async with database.uow_factory()() as uow:
        assert await uow.settings.review_rules("acme") == strict
    database.rules_cache.forget("acme")
    async with database.uow_factory()() as uow:
        assert await uow.settings.review_rules("acme") == DEFAULT_RULES
    async with database.engine.connect() as connection:
        stored = (await connection.execute(select(tenant_settings.c.review_rules))).scalar_one()
    assert stored["autoApproveAbove"] == "0.9"  # camelCase, decimals as strings


async def test_work_after_a_commit_is_its_own_transaction(database: SqlDatabase) -> None:
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with database.uow_factory()() as uow:
        await uow.events.append("acme", first, 0, [event(first)])
        await uow.commit()
        await uow.events.append("acme", second, 0, [event(second)])
        # Left without a second commit: `second` must be rolled back, not handed to the
        # next user of the pooled connection (pool_size=1) as an open transaction.
    async with database.uow_factory()() as uow:
        assert await uow.events.get("acme", second) is None
        await uow.events.append("acme", third, 0, [event(third)])
        await uow.commit()
        await uow.events.append("acme", second, 0, [event(second)])
        await uow.commit()
    async with database.uow_factory()() as uow:
        stored = [e.id for e in await uow.events.read_all()]
    assert stored == [first, third, second]
