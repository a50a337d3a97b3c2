"""The Exclusive port across processes on one PostgreSQL database (issue 14, ADR 0043).

`PostgresLocks.hold(keys)` takes a session-level `pg_advisory_lock(namespace, id)` for
each key — the id the first 32 bits of the key's SHA-256, so no tenant or supplier name
reaches `pg_locks` — in ascending order in one statement, on a connection of its own (not
the pool's: it is held for the block, which spans remote requests, and a pool connection
idle in a transaction that long would be wasted and could be cut by
idle_in_transaction_session_timeout). Leaving the block runs `pg_advisory_unlock_all()`
and keeps the connection for the next holder (up to `MAX_IDLE`, closed after
`IDLE_SECONDS` unused).

- Holders of overlapping keys in several processes take them in the same (ascending)
  order, so they cannot deadlock; two keys with the same id only wait for each other.
- A process that dies drops its sessions and with them its locks. One cancelled while
  waiting, or whose unlock fails, drops its connection (which releases the locks).
- Waiting is bounded by `lock_timeout` (`LOCK_TIMEOUT_SECONDS`): then, or on any database
  error before the block runs, ExternalUnavailable — nothing was done under the keys, and
  the executor retries later.
- The wait runs inside `turn_wait` when the caller set it (the executor: the tenant's slot
  is given back while it waits, as for the Fiken gate, ADR 0035).

PgBouncer in transaction mode would break session locks: like the Fiken gate, this
connects to PostgreSQL directly (BOOKKEEPER_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import psycopg

from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.ports import turn_wait

_log = logging.getLogger(__name__)

SYSTEM: Final = "database"
#: The first of pg_advisory_lock's two int4 keys: this port's namespace ("bkex"; the Fiken
#: gate's is "fkgt", the period locks use the one-bigint form).
LOCK_NAMESPACE: Final = 0x626B6578
#: How long a holder waits for another process's hold of one of its keys.
LOCK_TIMEOUT_SECONDS: Final = 60.0
#: Connections kept for the next holder, and how long one is kept unused.
MAX_IDLE: Final = 4
IDLE_SECONDS: Final = 30.0

#: The ids come sorted; a function scan of unnest yields them in the array's order.
_LOCK: Final = "SELECT count(pg_advisory_lock(%s, k)) FROM unnest(%s::int4[]) AS k"


def lock_id(key: str) -> int:
    """The advisory lock's second int4 key for a key: the first 32 bits of its SHA-256."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big", signed=True)


class PostgresLocks:
    """Exclusive across every process on one PostgreSQL database (see the module)."""

    def __init__(
        self,
        conninfo: str,
        *,
        namespace: int = LOCK_NAMESPACE,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
        max_idle: int = MAX_IDLE,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._conninfo = conninfo
        self._namespace = namespace
        self._lock_timeout = lock_timeout
        self._max_idle = max_idle
        self._idle_seconds = idle_seconds
        #: Connections no holder uses now, with when each was given back (monotonic).
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"PostgresLocks(namespace={self._namespace:#x})"

    @contextlib.asynccontextmanager
    async def hold(self, keys: Sequence[str]) -> AsyncIterator[None]:
        ids = sorted({lock_id(key) for key in keys})
        if not ids:
            yield
            return
        connection: psycopg.AsyncConnection[Any] | None = None
        try:
            waiting = turn_wait.get()
            async with waiting() if waiting is not None else contextlib.nullcontext():
                connection = await self._take()
                await connection.execute(_LOCK, (self._namespace, ids))
        except psycopg.errors.LockNotAvailable:
            _discard(connection)
            raise ExternalUnavailable(
                f"{SYSTEM}: another process held the lock for over {self._lock_timeout:.0f} s",
                system=SYSTEM,
            ) from None
        except psycopg.Error as error:
            _discard(connection)
            raise ExternalUnavailable(
                f"{SYSTEM}: the advisory lock failed ({type(error).__name__})", system=SYSTEM
            ) from None
        except BaseException:
            _discard(connection)  # cancelled while waiting: the session goes, locks or not
            raise
        assert connection is not None
        try:
            yield
        finally:
            await self._release(connection)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    # --- connections --------------------------------------------------------------------

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            connection, _ = self._idle.pop()
            if not connection.closed:
                return connection
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name="bookkeeper-exclusive",
        )
        try:
            await connection.execute(f"SET lock_timeout = {int(self._lock_timeout * 1000)}")
        except BaseException:
            _discard(connection)
            raise
        return connection

    async def _release(self, connection: psycopg.AsyncConnection[Any]) -> None:
        try:
            await connection.execute("SELECT pg_advisory_unlock_all()")
        except psycopg.Error as error:
            _log.warning("could not release an advisory lock: %s", type(error).__name__)
            _discard(connection)  # the session ends, its locks with it
            return
        except BaseException:
            _discard(connection)
            raise
        if len(self._idle) >= self._max_idle:
            _discard(connection)
            return
        self._idle.append((connection, time.monotonic()))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self._idle_seconds, self._close_idle
            )

    def _close_idle(self) -> None:
        """The idle timer: connections unused for `idle_seconds` go."""
        self._timer = None
        now = time.monotonic()
        kept = []
        for connection, since in self._idle:
            if now - since >= self._idle_seconds:
                _discard(connection)
            else:
                kept.append((connection, since))
        self._idle = kept
        if kept:
            self._timer = asyncio.get_running_loop().call_later(
                self._idle_seconds, self._close_idle
            )


def _discard(connection: psycopg.AsyncConnection[Any] | None) -> None:
    """Drop a connection at once (no await, safe under cancellation)."""
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.pgconn.finish()
