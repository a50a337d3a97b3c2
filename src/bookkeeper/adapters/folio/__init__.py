"""Folio (the business bank) as the Bank port, over its REST API v2.

`folio_bank_provider` is what the composition root uses: tenant → Bank, and the function
that closes the HTTP client at shutdown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bookkeeper.adapters.folio.bank import FolioBank
from bookkeeper.adapters.folio.client import DEFAULT_BASE_URL, FolioClient
from bookkeeper.application.ports import Bank, BankProvider

__all__ = ["DEFAULT_BASE_URL", "FolioBank", "FolioClient", "folio_bank_provider"]


def folio_bank_provider(
    base_url: str, token: str
) -> tuple[BankProvider, Callable[[], Awaitable[None]]]:
    """Every tenant's bank is the one configured company today, through one shared client.

    Per-tenant API keys plug in here later: look the tenant's key up and keep one client
    per key (the provider's signature stays the same)."""
    client = FolioClient(base_url, token)
    bank = FolioBank(client)

    def provider(tenant_id: str) -> Bank:
        return bank

    return provider, client.aclose
