"""Which books and bank the process talks to: Fiken and Folio when their tokens are set,
otherwise the sandbox kept in the local database (so a fresh `bookkeeper serve` runs the
whole flow with no credentials). The choice is logged and shown by /health.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from bookkeeper.application.ports import BankProvider, BooksProvider, Clock
from bookkeeper.settings import Settings, SettingsError

if TYPE_CHECKING:
    from bookkeeper.adapters.fiken import GateFactory

_log = logging.getLogger("bookkeeper.backends")


class Backends(msgspec.Struct, frozen=True, kw_only=True):
    """The tenant → books and tenant → bank providers, and what they are."""

    books: BooksProvider
    bank: BankProvider
    books_backend: str  # "fiken" or "sandbox"
    bank_backend: str  # "folio" or "sandbox"
    #: Issue 14: the per-tenant resolver (a tenant's own credentials, else the above).
    tenants: Any = None


async def open_backends(
    settings: Settings, database: Any, clock: Clock | None = None, credentials: Any = None
) -> AsyncIterator[Backends]:
    """The configured backends for the container's lifetime; their clients closed at shutdown.

    With `credentials` (the CredentialsService, issue 14) the providers resolve per tenant:
    the tenant's own stored credentials, else the environment's, else the sandbox."""
    closers: list[Callable[[], Awaitable[None]]] = []
    sandbox: tuple[BooksProvider, BankProvider] | None = None
    if settings.fiken_token is None or settings.folio_token is None:
        from bookkeeper.adapters.sandbox import sandbox_backends

        sandbox = sandbox_backends(database, clock)
    try:
        #: One gate per Fiken token for the process (ADR 0035), shared by the environment's
        #: client and every tenant's own (ADR 0036): never two requests in flight for a token.
        gates = fiken_gates(settings, closers)  # no connection until a gate is used
        if settings.fiken_token is not None:
            from bookkeeper.adapters.fiken import fiken_books_provider

            assert settings.fiken_company is not None  # load_settings insists
            books, close_books = fiken_books_provider(
                settings.fiken_base_url, settings.fiken_token, settings.fiken_company, gates
            )
            closers.append(close_books)
            books_backend = "fiken"
        else:
            assert sandbox is not None
            books, books_backend = sandbox[0], "sandbox"
        if settings.folio_token is not None:
            from bookkeeper.adapters.folio import folio_bank_provider

            bank, close_bank = folio_bank_provider(settings.folio_base_url, settings.folio_token)
            closers.append(close_bank)
            bank_backend = "folio"
        else:
            assert sandbox is not None
            bank, bank_backend = sandbox[1], "sandbox"
        _log.info(
            "books: %s%s; bank: %s%s",
            books_backend,
            f" ({settings.fiken_base_url}, company {settings.fiken_company})"
            if books_backend == "fiken"
            else " (local database, no Fiken token)",
            bank_backend,
            f" ({settings.folio_base_url})"
            if bank_backend == "folio"
            else " (local database, no Folio token)",
        )
        tenants = None
        if credentials is not None:
            from bookkeeper.adapters.tenant_backends import TenantBackends, gated_fiken_client

            tenants = TenantBackends(
                credentials,
                books,
                bank,
                fiken_base_url=settings.fiken_base_url,
                folio_base_url=settings.folio_base_url,
                recheck_seconds=settings.credentials_recheck_seconds,
                fiken_client=gated_fiken_client(gates),
            )
            credentials.on_change(tenants.invalidate)
            closers.append(tenants.aclose)
            books, bank = tenants.books, tenants.bank
        yield Backends(
            books=books,
            bank=bank,
            books_backend=books_backend,
            bank_backend=bank_backend,
            tenants=tenants,
        )
    finally:
        for close in closers:
            await close()


def fiken_gates(settings: Settings, closers: list[Callable[[], Awaitable[None]]]) -> GateFactory:
    """The process's gate per Fiken token, where Fiken's limits are kept
    (BOOKKEEPER_FIKEN_GATE, ADR 0035): in the database on PostgreSQL, so every replica
    keeps them together; else in this process (one RequestGate per token)."""
    on_postgres = settings.database_url.split(":", 1)[0].split("+", 1)[0].lower() in (
        "postgres",
        "postgresql",
    )
    choice = getattr(settings, "fiken_gate", "auto")
    if choice == "process" or (choice == "auto" and not on_postgres):
        from bookkeeper.adapters.fiken.ratelimit import process_gates

        return process_gates()
    if not on_postgres:
        raise SettingsError("BOOKKEEPER_FIKEN_GATE=database needs a PostgreSQL database")
    from bookkeeper.adapters.fiken.pg_gate import postgres_gates

    gates, close = postgres_gates(settings.database_url)
    closers.append(close)
    _log.info("Fiken's limits kept in the database for every replica (ADR 0035)")
    return gates
