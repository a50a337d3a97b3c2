"""LockSessions (adapters/sql/lock_sessions.py), the sessions the Fiken gate and the
Exclusive port hold their advisory locks on (ADR 0047's addendum): set up once, kept for
the next holder up to `max_idle`, closed once unused for `idle_seconds`."""

from __future__ import annotations

import asyncio
import time

import pytest

from bookkeeper.adapters.sql.lock_sessions import LockSessions, discard
from bookkeeper.adapters.sql.urls import libpq_url
from tests.polling import polls

pytestmark = pytest.mark.postgres


async def test_a_session_is_set_up_once_and_kept_for_the_next_holder(postgres_url: str) -> None:
    sessions = LockSessions(
        libpq_url(postgres_url),
        application_name="bookkeeper-test-locks",
        lock_timeout=1.5,
        max_idle=1,
        idle_seconds=60,
        setup=("SET synchronous_commit = off",),
    )
    try:
        first = await sessions.take()
        cursor = await first.execute(
            "SELECT current_setting('lock_timeout'), current_setting('synchronous_commit'), "
            "current_setting('application_name')"
        )
        assert await cursor.fetchone() == ("1500ms", "off", "bookkeeper-test-locks")
        second = await sessions.take()  # the first is taken: a new one
        assert second.info.backend_pid != first.info.backend_pid
        sessions.give_back(first)
        sessions.give_back(second)  # over max_idle: dropped
        assert second.closed and not first.closed
        assert sessions.idle == 1
        again = await sessions.take()
        assert again is first
        discard(again)  # a session lost meanwhile is not handed out again
        sessions.give_back(again)
        assert sessions.idle == 0
        fresh = await sessions.take()
        assert not fresh.closed and fresh is not first
        sessions.give_back(fresh)
    finally:
        await sessions.aclose()
    assert fresh.closed and sessions.idle == 0


async def test_a_session_unused_for_idle_seconds_is_closed(postgres_url: str) -> None:
    idle_seconds = 0.5
    sessions = LockSessions(
        libpq_url(postgres_url),
        application_name="bookkeeper-test-locks",
        lock_timeout=1,
        max_idle=2,
        idle_seconds=idle_seconds,
    )
    try:
        connection = await sessions.take()
        given_back = time.monotonic()
        sessions.give_back(connection)
        for _ in polls():
            if connection.closed:
                break
            await asyncio.sleep(0.02)
        assert connection.closed
        assert time.monotonic() - given_back >= idle_seconds * 0.9  # not before (timer slack)
        assert sessions.idle == 0
    finally:
        await sessions.aclose()
