"""Fiken (fiken.no) as the Books port: an httpx client that keeps Fiken's limits and the
adapter that maps its API v2 onto our ports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bookkeeper.adapters.fiken.books import FikenBooks
from bookkeeper.adapters.fiken.client import DEFAULT_BASE_URL, FikenClient, RetryPolicy
from bookkeeper.adapters.fiken.ratelimit import FikenGate, GateFactory, RequestGate, SlidingWindow
from bookkeeper.application.ports import Books, BooksProvider

__all__ = [
    "DEFAULT_BASE_URL",
    "FikenBooks",
    "FikenClient",
    "FikenGate",
    "GateFactory",
    "RequestGate",
    "RetryPolicy",
    "SlidingWindow",
    "fiken_books_provider",
]


def fiken_books_provider(
    base_url: str, token: str, company_slug: str, gates: GateFactory | None = None
) -> tuple[BooksProvider, Callable[[], Awaitable[None]]]:
    """A BooksProvider for the one configured company, and the function that closes it.

    Every tenant gets the same company today, through one shared client, so all of them
    queue behind the token's single-request lock. Per-tenant credentials plug in here: look
    the tenant's token and slug up, and keep one FikenClient per token (never two for the
    same token, which would break Fiken's one-request-at-a-time rule).

    `gates` gives each token its FikenGate (by the token's hash): the PostgreSQL one keeps
    the limits across replicas (ADR 0035); by default the client keeps them in process.
    """
    client = FikenClient(base_url, token, gate=gates(token) if gates is not None else None)
    books = FikenBooks(client, company_slug)

    def provider(tenant_id: str) -> Books:
        return books

    return provider, client.aclose
