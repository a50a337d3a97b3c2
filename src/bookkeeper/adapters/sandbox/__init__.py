"""The embedded books and bank: Fiken- and Folio-like systems kept in the local database,
so that `bookkeeper serve` runs every flow on a fresh machine without credentials.

`sandbox_backends(database)` gives the tenant → books and tenant → bank providers: on a
SqlDatabase the state lives in its own tables (migration 0004) and survives restarts; on
anything else (the tests' in-memory database stand-in) it lives in process memory.
"""

from __future__ import annotations

from typing import Any

from bookkeeper.adapters.sandbox.bank import SandboxBank
from bookkeeper.adapters.sandbox.books import SandboxBooks
from bookkeeper.adapters.sandbox.store import MemorySandboxStore, SandboxStore
from bookkeeper.adapters.system import SystemClock
from bookkeeper.application.ports import Bank, BankProvider, Books, BooksProvider, Clock

__all__ = [
    "MemorySandboxStore",
    "SandboxBank",
    "SandboxBooks",
    "SandboxStore",
    "sandbox_backends",
    "sandbox_store",
]


def sandbox_store(database: Any) -> SandboxStore:
    """The store for a database: SQL on a SqlDatabase, memory on anything else."""
    from bookkeeper.adapters.sql.database import SqlDatabase

    if isinstance(database, SqlDatabase):
        from bookkeeper.adapters.sandbox.sql import SqlSandboxStore

        return SqlSandboxStore(database)
    return MemorySandboxStore()


def sandbox_backends(
    database: Any, clock: Clock | None = None, *, store: SandboxStore | None = None
) -> tuple[BooksProvider, BankProvider]:
    """The sandbox books and bank providers on one store (by default the database's).

    `clock` dates the seeded bank events (the wall clock unless given)."""
    chosen = store if store is not None else sandbox_store(database)
    timing: Clock = clock if clock is not None else SystemClock()

    def books(tenant_id: str) -> Books:
        return SandboxBooks(chosen, tenant_id, timing)

    def bank(tenant_id: str) -> Bank:
        return SandboxBank(chosen, tenant_id, timing)

    return books, bank
