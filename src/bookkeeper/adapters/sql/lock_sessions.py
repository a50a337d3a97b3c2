"""PostgreSQL sessions of their own for session-level advisory locks: the Fiken gate's
(adapters/fiken/pg_gate.py, ADR 0035) and the Exclusive port's (advisory_locks.py, ADR
0043) — one piece for the plumbing both need (ADR 0047's addendum).

A lock is held for a block that spans remote requests, so not on a pool connection: one
idle in a transaction that long would be wasted and could be cut by
idle_in_transaction_session_timeout. `LockSessions.take()` hands out a session kept from
an earlier holder, else connects one — autocommit, directly to PostgreSQL (PgBouncer in
transaction mode would break session locks), with `lock_timeout` set so that a wait for
another process's lock is bounded (psycopg.errors.LockNotAvailable then). `give_back`
keeps an unlocked session for the next holder, up to `max_idle`, each closed once unused
for `idle_seconds`: a replica keeps sessions for the locks in use, not one for every key
it ever took. `discard` drops a session at once, without awaiting — safe under
cancellation — and its locks with it (the server ends the session).

Errors are psycopg's: each caller translates them into its own ExternalUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import psycopg


class LockSessions:
    """Sessions for advisory locks, kept between holders (see the module)."""

    def __init__(
        self,
        conninfo: str,
        *,
        application_name: str,
        lock_timeout: float,
        max_idle: int,
        idle_seconds: float,
        setup: Sequence[str] = (),
    ) -> None:
        """`setup`: statements run once on each new session, after its lock_timeout."""
        self._conninfo = conninfo
        self._application_name = application_name
        self._lock_timeout = lock_timeout
        self._max_idle = max_idle
        self._idle_seconds = idle_seconds
        self._setup = tuple(setup)
        #: Sessions no holder uses now, with when each was given back (monotonic).
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def idle(self) -> int:
        """How many sessions are kept for the next holder now."""
        return len(self._idle)

    async def take(self) -> psycopg.AsyncConnection[Any]:
        """The session given back last, else a new one (psycopg.Error when none can be
        had; a new session whose set-up fails is dropped)."""
        while self._idle:
            connection, _ = self._idle.pop()
            if not connection.closed:
                return connection
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name=self._application_name,
        )
        try:
            await connection.execute(f"SET lock_timeout = {int(self._lock_timeout * 1000)}")
            for statement in self._setup:
                await connection.execute(statement)
        except BaseException:
            discard(connection)
            raise
        return connection

    def give_back(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Keep a session that holds no lock for the next holder (dropped when `max_idle`
        are kept already, closed after `idle_seconds` unused)."""
        if connection.closed or len(self._idle) >= self._max_idle:
            discard(connection)
            return
        self._idle.append((connection, time.monotonic()))
        self._schedule()

    async def aclose(self) -> None:
        """Close the kept sessions (a session taken and not given back is its holder's)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    def _schedule(self) -> None:
        """The idle timer, for when the longest unused session has been so `idle_seconds`."""
        if self._timer is not None or not self._idle:
            return
        oldest = min(since for _, since in self._idle)
        delay = max(0.0, oldest + self._idle_seconds - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._close_idle)

    def _close_idle(self) -> None:
        """The idle timer: the sessions unused for `idle_seconds` go."""
        self._timer = None
        now = time.monotonic()
        kept = []
        for connection, since in self._idle:
            if now - since >= self._idle_seconds:
                discard(connection)
            else:
                kept.append((connection, since))
        self._idle = kept
        self._schedule()


def discard(connection: psycopg.AsyncConnection[Any] | None) -> None:
    """Drop a session at once (no await, safe under cancellation): its locks go with it."""
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.pgconn.finish()
