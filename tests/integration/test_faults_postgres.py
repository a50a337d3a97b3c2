"""Faults on PostgreSQL (ADR 0021): the service heals by itself once the database does.

- a poisoned session setting (`ALTER DATABASE … SET`, reaching every new connection) makes
  requests fail with clean 503s and /health say `degraded`; after `RESET` the service
  recovers without a restart, although its pooled connections still carry the setting;
- every backend of the database terminated under concurrent requests: each answer is a
  201 or a clean 503 with Retry-After (never a 500), every 201 is stored, and the next
  requests succeed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from dependency_injector import providers
from psycopg import sql
from sqlalchemy import make_url

from bookkeeper.settings import Settings
from tests.http_helpers import API, Api, pattern, running_api, sqlite_container

pytestmark = pytest.mark.postgres

RECOVERY_SECONDS = 15.0


def _database_name(url: str) -> str:
    name = make_url(url).database
    assert name
    return name


def _admin(url: str) -> psycopg.Connection[Any]:
    """A connection to the server's maintenance database, outside the app's pool."""
    return psycopg.connect(
        make_url(url).set(database="postgres").render_as_string(False),
        autocommit=True,
        connect_timeout=5,
    )


def _terminate_backends(url: str) -> int:
    with _admin(url) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (_database_name(url),),
        ).fetchall()
    return len(rows)


def _alter_database(url: str, setting: str, value: str | None) -> None:
    name = sql.Identifier(_database_name(url))
    with _admin(url) as admin:
        if value is None:
            admin.execute(
                sql.SQL("ALTER DATABASE {} RESET {}").format(name, sql.Identifier(setting))
            )
        else:
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    name, sql.Identifier(setting), sql.Literal(value)
                )
            )


@pytest.fixture
async def api(tmp_path: Path, postgres_url: str) -> AsyncIterator[Api]:
    container = sqlite_container(tmp_path, postgres_url)
    # Bursts of writes are the point here, not the write budget.
    container.settings.override(
        providers.Object(
            Settings.for_data_dir(
                tmp_path,
                database_url=postgres_url,
                executor_enabled=False,
                rate_limit="off",
                rate_limit_writes="off",
            )
        )
    )
    async with running_api(tmp_path, container=container) as running:
        yield running
    _alter_database(postgres_url, "default_transaction_read_only", None)
    _alter_database(postgres_url, "statement_timeout", None)


def _assert_clean(answer: httpx.Response) -> None:
    assert answer.status_code in (201, 503), answer.text
    if answer.status_code == 503:
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.json()["code"] == "storage-unavailable", answer.text


async def _burst(api: Api, prefix: str, count: int) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            *(
                api.submit("PatternSuggested", pattern(merchant=f"{prefix} {n}"))
                for n in range(count)
            )
        )
    )


async def _recovers(api: Api, prefix: str) -> None:
    """Within RECOVERY_SECONDS, a burst wide enough to use several pooled connections
    succeeds whole, and /health says ok."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        answers = await _burst(api, f"{prefix} {attempt}", 8)
        for answer in answers:
            _assert_clean(answer)
        if all(a.status_code == 201 for a in answers):
            break
        assert time.monotonic() < deadline, [a.status_code for a in answers]
        await asyncio.sleep(0.2)
    health = await api.client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"


async def _warm_pool(api: Api) -> None:
    answers = await _burst(api, "warm", 8)
    assert {a.status_code for a in answers} == {201}


async def test_a_read_only_database_gives_503s_and_degraded_then_heals_after_reset(
    api: Api, postgres_url: str
) -> None:
    await _warm_pool(api)
    _alter_database(postgres_url, "default_transaction_read_only", "on")
    _terminate_backends(postgres_url)  # the pool's connections come back with the setting
    answers = await _burst(api, "read-only", 8)
    for answer in answers:
        _assert_clean(answer)
    assert {a.status_code for a in answers} == {503}
    health = await api.client.get("/health")
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "degraded"
    assert int(health.headers["retry-after"]) >= 1

    # The database is writable again; the pooled connections still carry the setting.
    _alter_database(postgres_url, "default_transaction_read_only", None)
    await _recovers(api, "after reset")


async def test_a_statement_timeout_gives_clean_503s_and_heals_after_reset(
    api: Api, postgres_url: str
) -> None:
    await _warm_pool(api)
    _alter_database(postgres_url, "statement_timeout", "1ms")
    _terminate_backends(postgres_url)
    answers: list[httpx.Response] = []
    for round_ in range(5):
        answers += await _burst(api, f"timeout {round_}", 8)
    for answer in answers:
        _assert_clean(answer)
    assert any(a.status_code == 503 for a in answers), "a 1 ms statement timeout cancelled nothing"
    _alter_database(postgres_url, "statement_timeout", None)
    await _recovers(api, "after timeout reset")


async def test_terminated_backends_under_load_give_clean_503s_and_lose_no_201(
    api: Api, postgres_url: str
) -> None:
    await _warm_pool(api)
    stored: list[str] = []
    for round_ in range(3):
        burst = asyncio.create_task(_burst(api, f"storm {round_}", 12))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(_terminate_backends, postgres_url)
        for answer in await burst:
            _assert_clean(answer)
            if answer.status_code == 201:
                stored.append(answer.json()["eventId"])
    await _recovers(api, "after terminate")
    for event_id in stored:
        read = await api.client.get(f"{API}/events/{event_id}", headers=api.viewer)
        assert read.status_code == 200, read.text
