"""The Exclusive port across processes on one PostgreSQL database (issue 14, ADR 0043).

`PostgresLocks.hold(keys)` queues this process's callers on asyncio locks first (the
in-process adapter, memory_locks.py: a process waits for a key with one session), then
takes a session-level `pg_advisory_lock(namespace, id)` for each key — the id the first
32 bits of the key's SHA-256, so no tenant, company or supplier name reaches `pg_locks` —
in ascending order in one statement, on a session of its own (lock_sessions.py, shared
with the Fiken gate: not the pool's, since it is held for a block that spans remote
requests). Leaving the block runs `pg_advisory_unlock_all()` and gives the session back
for the next holder (up to `MAX_IDLE`, closed after `IDLE_SECONDS` unused).

- Holders of overlapping keys in several processes take them in the same (ascending)
  order, so they cannot deadlock; two keys with the same id only wait for each other.
- A process that dies drops its sessions and with them its locks. One cancelled while
  waiting, or whose unlock fails, drops its session (which releases the locks).
- Waiting is bounded by `lock_timeout` (`LOCK_TIMEOUT_SECONDS`): then, or on any database
  error before the block runs, ExternalUnavailable — nothing was done under the keys, and
  the executor retries later.
- Both waits run inside `turn_wait` when the caller set it (`waiting_turn`; the executor:
  the tenant's slot is given back while it waits, as for the Fiken gate, ADR 0035).

PgBouncer in transaction mode would break session locks: like the Fiken gate, this
connects to PostgreSQL directly (BOOKKEEPER_DATABASE_URL).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import psycopg

from bookkeeper.adapters.memory_locks import InProcessLocks
from bookkeeper.adapters.sql.lock_sessions import LockSessions, discard
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.ports import waiting_turn

_log = logging.getLogger(__name__)

SYSTEM: Final = "database"
#: The first of pg_advisory_lock's two int4 keys: this port's namespace ("bkex"; the Fiken
#: gate's is "fkgt", the period locks use the one-bigint form).
LOCK_NAMESPACE: Final = 0x626B6578
#: How long a holder waits for another process's hold of one of its keys.
LOCK_TIMEOUT_SECONDS: Final = 60.0
#: Sessions kept for the next holder, and how long one is kept unused.
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
        self._namespace = namespace
        self._lock_timeout = lock_timeout
        self._local = InProcessLocks()
        self._sessions = LockSessions(
            conninfo,
            application_name="bookkeeper-exclusive",
            lock_timeout=lock_timeout,
            max_idle=max_idle,
            idle_seconds=idle_seconds,
        )

    def __repr__(self) -> str:
        return f"PostgresLocks(namespace={self._namespace:#x})"

    @contextlib.asynccontextmanager
    async def hold(self, keys: Sequence[str]) -> AsyncIterator[None]:
        ids = sorted({lock_id(key) for key in keys})
        if not ids:
            yield
            return
        async with self._local.hold(keys), waiting_turn(self._advisory(ids)):
            yield

    async def aclose(self) -> None:
        await self._sessions.aclose()

    @contextlib.asynccontextmanager
    async def _advisory(self, ids: list[int]) -> AsyncIterator[None]:
        """The ids' advisory locks, taken in one statement on a session of their own."""
        connection: psycopg.AsyncConnection[Any] | None = None
        try:
            connection = await self._sessions.take()
            await connection.execute(_LOCK, (self._namespace, ids))
        except psycopg.errors.LockNotAvailable:
            discard(connection)  # it may hold the ids before the one it waited for
            raise ExternalUnavailable(
                f"{SYSTEM}: another process held the lock for over {self._lock_timeout:.0f} s",
                system=SYSTEM,
            ) from None
        except psycopg.Error as error:
            discard(connection)
            raise ExternalUnavailable(
                f"{SYSTEM}: the advisory lock failed ({type(error).__name__})", system=SYSTEM
            ) from None
        except BaseException:
            discard(connection)  # cancelled while waiting: the session goes, locks or not
            raise
        try:
            yield
        finally:
            await self._release(connection)

    async def _release(self, connection: psycopg.AsyncConnection[Any]) -> None:
        try:
            await connection.execute("SELECT pg_advisory_unlock_all()")
        except psycopg.Error as error:
            _log.warning("could not release an advisory lock: %s", type(error).__name__)
            discard(connection)  # the session ends, its locks with it
            return
        except BaseException:
            discard(connection)
            raise
        self._sessions.give_back(connection)
