"""The Exclusive port in one process (issue 14, ADR 0043, ADR 0047's addendum): asyncio
locks per key. It serves the memory and SQLite backends (one process) on its own, and
queues a process's callers in front of the PostgreSQL advisory locks (advisory_locks.py),
so that a process waits for a key with one session, not one per caller.

A caller waits for a busy key outside its executor slot (`waiting_turn`): a holder waits
for a slot again after its Fiken turn, so one that kept a slot while waiting here could
deadlock with it. A free key is taken without giving the slot back.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Sequence

from bookkeeper.application.ports import waiting_turn


class InProcessLocks:
    """Exclusive among the callers of one instance (one per process: the composition
    root's); a lock lives while someone holds or awaits it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __repr__(self) -> str:
        return f"InProcessLocks(keys={len(self._locks)})"

    @contextlib.asynccontextmanager
    async def hold(self, keys: Sequence[str]) -> AsyncIterator[None]:
        """Hold every key's lock for the block, taken in sorted order (two holders of
        overlapping keys never deadlock)."""
        locks = []
        for key in sorted(set(keys)):
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = asyncio.Lock()
            locks.append(lock)
        async with contextlib.AsyncExitStack() as held:
            for lock in locks:
                await held.enter_async_context(waiting_turn(lock) if lock.locked() else lock)
            yield
