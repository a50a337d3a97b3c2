"""Fiken's limits across every process on one PostgreSQL database (issue 14, ADR 0035).

`PostgresGate` is the FikenGate of one token for N replicas:

- one exchange at a time: a session-level `pg_advisory_lock` on a key derived from the
  token's hash, taken on a session of the gate's own (adapters/sql/lock_sessions.py, as
  the Exclusive port's: not the pool's, it is held for the whole exchange, retries
  included) and released when the exchange ends. Inside the process an asyncio lock
  queues callers first, so a process waits with one session per token. A process that
  dies drops its session and with it the lock;
- at most 4 in any second: the completion times of the token's last 4 attempts, in the
  row `fiken_gate(token_key)` (migration 0017), on the database's clock, so that the
  replicas' own clocks never matter. Only the lock holder reads or writes the row;
- a 429's Retry-After: `not_before` in the same row, so every replica waits for it.

Per exchange that is four short statements (lock, read, record, unlock); ADR 0035 has the
measured cost. The row is keyed on `token_key(token)`, a hash: the token is never stored.
Database errors become ExternalUnavailable (the request was not sent, or, if recording
its completion failed, the connection is dropped, which releases the lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import psycopg

from bookkeeper.adapters.fiken.ratelimit import (
    MAX_REQUESTS,
    WINDOW_SECONDS,
    FikenGate,
    GateFactory,
    GatePaused,
    Sleep,
    token_key,
)
from bookkeeper.adapters.sql.lock_sessions import LockSessions, discard
from bookkeeper.adapters.sql.urls import libpq_url
from bookkeeper.application.errors import ExternalUnavailable

_log = logging.getLogger(__name__)

SYSTEM: Final = "fiken"
#: The first of pg_advisory_lock's two int4 keys: this lock's namespace ("fkgt").
LOCK_NAMESPACE: Final = 0x666B6774
#: How long a process waits for another replica's exchange with the token to end.
LOCK_TIMEOUT_SECONDS: Final = 60.0
#: A token's connection is closed after this long without an exchange: a replica keeps
#: connections for the tokens in use, not one for every tenant that ever executed.
IDLE_SECONDS: Final = 30.0

#: Times are seconds since the epoch on the database's clock (clock_timestamp()).
_READ: Final = """
SELECT g.stamps, coalesce(g.not_before, 0)::float8, n.now
FROM (SELECT extract(epoch from clock_timestamp())::float8 AS now) n
LEFT JOIN fiken_gate g ON g.token_key = %(key)s
"""
_RECORD: Final = """
WITH n AS (SELECT extract(epoch from clock_timestamp())::float8 AS now)
INSERT INTO fiken_gate AS g (token_key, stamps, not_before)
SELECT %(key)s, jsonb_build_array(n.now), n.now + %(pause)s FROM n
ON CONFLICT (token_key) DO UPDATE SET
    stamps = %(kept)s::jsonb || jsonb_build_array(excluded.not_before - %(pause)s),
    not_before = greatest(g.not_before, excluded.not_before)
RETURNING g.stamps, g.not_before::float8, (g.stamps ->> -1)::float8
"""


_PAUSE: Final = """
INSERT INTO fiken_gate AS g (token_key, not_before)
VALUES (%(key)s, extract(epoch from clock_timestamp())::float8 + %(pause)s)
ON CONFLICT (token_key) DO UPDATE SET not_before = greatest(g.not_before, excluded.not_before)
"""


def lock_id(key: str) -> int:
    """The advisory lock's second int4 key, from the token's hash."""
    return int.from_bytes(bytes.fromhex(key)[:4], "big", signed=True)


class PostgresGate:
    """One token's FikenGate shared by every process on the database (see the module)."""

    def __init__(
        self,
        conninfo: str,
        key: str,
        *,
        limit: int = MAX_REQUESTS,
        window: float = WINDOW_SECONDS,
        sleep: Sleep = asyncio.sleep,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a gate needs limit >= 1 and window > 0")
        self.key = key
        self._lock = (LOCK_NAMESPACE, lock_id(key))
        self._limit = limit
        self._window = window
        self._sleep = sleep
        self._lock_timeout = lock_timeout
        self._local = asyncio.Lock()
        self._sessions = LockSessions(
            conninfo,
            application_name="bookkeeper-fiken-gate",
            lock_timeout=lock_timeout,
            max_idle=1,
            idle_seconds=idle_seconds,
            # The row is a rate window, not a record: a crash may lose its last stamps, so
            # its writes need not wait for the WAL to reach the disk (ADR 0035: measured).
            setup=("SET synchronous_commit = off",),
        )
        #: The session of the exchange under way (None between exchanges, or once lost).
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._held = False
        # The row as last read or written, and when (database epoch / local monotonic).
        self._stamps: list[float] = []
        self._not_before = 0.0
        self._db_now = 0.0
        self._read_at = 0.0
        self._pause = 0.0

    def __repr__(self) -> str:
        return f"PostgresGate(key={self.key[:12]}…)"

    # --- the FikenGate port -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the token in every process: no other exchange starts until this ends."""
        async with self._local:
            try:
                connection = self._connection = await self._sessions.take()
                await connection.execute("SELECT pg_advisory_lock(%s, %s)", self._lock)
            except psycopg.errors.LockNotAvailable:
                self._give_back()  # it holds nothing: the next exchange may use it
                raise ExternalUnavailable(
                    f"{SYSTEM}: another process held the token for over {self._lock_timeout:.0f} s",
                    system=SYSTEM,
                ) from None
            except psycopg.Error as error:
                self._discard()
                raise self._unavailable(error) from None
            except BaseException:
                self._discard()  # cancelled while waiting: the session goes, lock or not
                raise
            self._held = True
            try:
                await self._read(connection)
                yield
            finally:
                self._held = False
                if self._pause > 0:
                    await self._record_pause()
                await self._unlock()
                self._give_back()

    @contextlib.asynccontextmanager
    async def attempt(self, max_wait: float | None = None) -> AsyncIterator[None]:
        """Wait for the window and any pause, run one attempt, record its completion."""
        if not self._held:
            raise RuntimeError("PostgresGate.attempt() outside exclusive()")
        if self._connection is None:
            raise ExternalUnavailable(f"{SYSTEM}: the token's lock was lost", system=SYSTEM)
        now = self._now()
        paused = self._not_before - now
        if max_wait is not None and paused > max_wait:
            raise GatePaused(paused)
        while (wait := self._delay(now)) > 0:
            await self._sleep(wait)
            now = self._now()
        self._pause = 0.0
        try:
            yield
        finally:
            await self._record()

    def pause(self, seconds: float) -> None:
        """Every process waits `seconds` from now (recorded with the attempt under way, or
        before the token is let go)."""
        if seconds > 0:
            self._pause = max(self._pause, seconds)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()
        await self._sessions.aclose()

    # --- the row and the lock -----------------------------------------------------------

    def _now(self) -> float:
        """The database's clock now, estimated from the last read and the local clock."""
        return self._db_now + (time.monotonic() - self._read_at)

    def _delay(self, now: float) -> float:
        window = 0.0
        if len(self._stamps) >= self._limit:
            window = self._stamps[-self._limit] + self._window - now
        return max(0.0, window, self._not_before - now)

    def _remember(self, row: tuple[Any, ...] | None) -> None:
        assert row is not None
        stamps, not_before, now = row
        self._stamps = [float(s) for s in (stamps or [])][-self._limit :]
        self._not_before = float(not_before or 0.0)
        self._db_now = float(now)
        self._read_at = time.monotonic()

    async def _read(self, connection: psycopg.AsyncConnection[Any]) -> None:
        try:
            cursor = await connection.execute(_READ, {"key": self.key})
            self._remember(await cursor.fetchone())
        except psycopg.Error as error:
            self._discard()
            raise self._unavailable(error) from None

    async def _record(self) -> None:
        """The attempt's completion (and a pause) into the row; on failure the connection
        goes, and the lock with it."""
        connection = self._connection
        if connection is None:
            return
        kept = json.dumps(self._stamps[-(self._limit - 1) :] if self._limit > 1 else [])
        try:
            cursor = await connection.execute(
                _RECORD, {"key": self.key, "kept": kept, "pause": self._pause}
            )
            self._remember(await cursor.fetchone())
        except psycopg.Error as error:
            _log.warning("could not record a Fiken request in the gate: %s", type(error).__name__)
            self._discard()
        finally:
            self._pause = 0.0

    async def _record_pause(self) -> None:
        connection = self._connection
        pause, self._pause = self._pause, 0.0
        if connection is None:
            return
        try:
            await connection.execute(_PAUSE, {"key": self.key, "pause": pause})
        except psycopg.Error as error:
            _log.warning("could not record a Fiken pause in the gate: %s", type(error).__name__)
            self._discard()

    async def _unlock(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.execute("SELECT pg_advisory_unlock(%s, %s)", self._lock)
        except psycopg.Error as error:
            _log.warning("could not unlock the Fiken gate: %s", type(error).__name__)
            self._discard()  # the session ends, the lock with it
        except BaseException:
            self._discard()
            raise

    def _give_back(self) -> None:
        """The exchange's session, unlocked, kept for the next exchange (closed after
        `idle_seconds` without one: the next reconnects)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._sessions.give_back(connection)

    def _discard(self) -> None:
        """Drop the session at once (no await, safe under cancellation), the lock with it."""
        connection, self._connection = self._connection, None
        discard(connection)

    @staticmethod
    def _unavailable(error: psycopg.Error) -> ExternalUnavailable:
        return ExternalUnavailable(
            f"{SYSTEM}: the request gate's database failed ({type(error).__name__})",
            system=SYSTEM,
        )


def postgres_gates(
    database_url: str, **options: Any
) -> tuple[GateFactory, Callable[[], Awaitable[None]]]:
    """A PostgresGate per token (by its hash) for the process, and the function closing
    their connections."""
    conninfo = libpq_url(database_url)
    gates: dict[str, PostgresGate] = {}

    def gate(token: str) -> FikenGate:
        key = token_key(token)
        found = gates.get(key)
        if found is None:
            found = gates[key] = PostgresGate(conninfo, key, **options)
        return found

    async def close() -> None:
        for found in gates.values():
            await found.aclose()

    return gate, close
