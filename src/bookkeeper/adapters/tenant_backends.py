"""Issue 14: the books (Fiken) and bank (Folio) of each tenant, resolved per tenant.

`TenantBackends` wraps the process's default providers (the environment's Fiken/Folio, or
the sandbox) and answers, per tenant: the tenant's own credentials if stored, else the
default. It is the one place that builds a client from stored credentials, so that how a
client is built (and how its rate limit is kept, ADR 0011; shared across processes by the
other change of issue 14) stays a small swap here:

* one FikenClient per (base URL, token) — never two for one token in a process, which would
  break Fiken's one-request-at-a-time rule — each with its own RequestGate: a tenant whose
  Fiken answers 429 or is down only ever waits on its own gate, never another tenant's;
* one FolioClient per (base URL, token);
* the resolved books and bank cached per tenant, dropped when the tenant's credentials
  change: at once in this process (`invalidate`, told by the credentials service), and
  within `recheck_seconds` in every other replica (the store's revision counter is read at
  most that often; when it moved, every tenant's entry is re-read on its next use — a
  tenant with the same token keeps its client, and so its rate-limit state).

The providers keep their synchronous signature (tenant → Books): what they hand out is a
thin proxy that resolves the tenant's target on its first awaited call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, cast

from bookkeeper.application.credentials import FIKEN, FOLIO, ResolvedCredentials
from bookkeeper.application.ports import Bank, BankProvider, Books, BooksProvider

_log = logging.getLogger("bookkeeper.backends")

#: How stale another replica's view of a credentials change may be, by default.
RECHECK_SECONDS: Final = 5.0


class CredentialsSource(Protocol):
    """What the resolver needs of the credentials service."""

    async def resolve(self, tenant_id: str, provider: str) -> ResolvedCredentials | None: ...

    async def revision(self) -> int: ...

    async def tenant_count(self) -> int: ...

    @property
    def can_store(self) -> bool: ...


class Client(Protocol):
    async def aclose(self) -> None: ...


async def chosen_credentials(
    source: CredentialsSource | None,
    tenant_id: str,
    provider: str,
    environment: ResolvedCredentials | None = None,
) -> ResolvedCredentials | None:
    """ADR 0036's precedence, decided here only: the tenant's own stored credentials of
    `provider`, else the environment's (`environment`, the single-company default; the
    resolver passes none, its default provider stands for it). None: neither — the
    sandbox serves the tenant, or there are no books to import from. Everyone who builds
    a client for a tenant (the resolver, `import fiken`) asks this function."""
    own = None if source is None else await source.resolve(tenant_id, provider)
    return own if own is not None else environment


#: (base URL, token) → a client for that token.
ClientFactory = Callable[[str, str], Client]
#: (client, resolved credentials) → the tenant's Books or Bank over that client.
TargetFactory = Callable[[Any, ResolvedCredentials], Any]


def _fiken_client(base_url: str, token: str) -> Client:
    from bookkeeper.adapters.fiken import FikenClient

    return FikenClient(base_url, token)


def gated_fiken_client(gates: Callable[[str], Any]) -> ClientFactory:
    """Tenants' Fiken clients through the process's gate per token (ADR 0035): one request
    in flight and <= 4/s per token in this process, or across replicas with the database
    gate, whichever tenant or the environment holds the token."""

    def build(base_url: str, token: str) -> Client:
        from bookkeeper.adapters.fiken import FikenClient

        return FikenClient(base_url, token, gate=gates(token))

    return build


def _fiken_books(client: Any, credentials: ResolvedCredentials) -> Books:
    from bookkeeper.adapters.fiken import FikenBooks

    assert credentials.company is not None  # the credentials service insists
    return FikenBooks(client, credentials.company)


def _folio_client(base_url: str, token: str) -> Client:
    from bookkeeper.adapters.folio import FolioClient

    return FolioClient(base_url, token)


def _folio_bank(client: Any, credentials: ResolvedCredentials) -> Bank:
    from bookkeeper.adapters.folio import FolioBank

    return FolioBank(client)


class _Entry:
    __slots__ = ("target", "version")

    def __init__(self, target: Any, version: int | None) -> None:
        self.target = target
        self.version = version


class TenantBackends:
    """Per-tenant books and bank over the tenant's own credentials, else the defaults."""

    def __init__(
        self,
        credentials: CredentialsSource,
        default_books: BooksProvider,
        default_bank: BankProvider,
        *,
        fiken_base_url: str,
        folio_base_url: str,
        recheck_seconds: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        fiken_client: ClientFactory = _fiken_client,
        folio_client: ClientFactory = _folio_client,
        fiken_books: TargetFactory = _fiken_books,
        folio_bank: TargetFactory = _folio_bank,
    ) -> None:
        self._credentials = credentials
        self._defaults: dict[str, Callable[[str], Any]] = {
            FIKEN: default_books,
            FOLIO: default_bank,
        }
        self._base_urls = {FIKEN: fiken_base_url, FOLIO: folio_base_url}
        self._client_factories = {FIKEN: fiken_client, FOLIO: folio_client}
        self._target_factories = {FIKEN: fiken_books, FOLIO: folio_bank}
        self._recheck = recheck_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        #: (provider, base URL, sha256 of the token) → its one client in this process.
        self._clients: dict[tuple[str, str, str], Client] = {}
        self._revision: int | None = None
        self._checked_at = -math.inf
        self._probe: asyncio.Lock | None = None
        #: Tenants served by their own credentials at the latest resolution (for /health).
        self.own: set[tuple[str, str]] = set()

    # --- the providers ----------------------------------------------------------------------

    def books(self, tenant_id: str) -> Books:
        """The BooksProvider: the tenant's books (resolved on first use)."""
        return cast(Books, _Proxy(self, tenant_id, FIKEN))

    def bank(self, tenant_id: str) -> Bank:
        """The BankProvider: the tenant's bank (resolved on first use)."""
        return cast(Bank, _Proxy(self, tenant_id, FOLIO))

    async def books_for(self, tenant_id: str) -> Books:
        books: Books = await self.resolve(tenant_id, FIKEN)
        return books

    async def bank_for(self, tenant_id: str) -> Bank:
        bank: Bank = await self.resolve(tenant_id, FOLIO)
        return bank

    # --- resolution -------------------------------------------------------------------------

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Forget the resolved books and bank of a tenant (every tenant: None); the next
        call re-reads its credentials. The store's revision is read again then too."""
        if tenant_id is None:
            self._entries.clear()
        else:
            for provider in (FIKEN, FOLIO):
                self._entries.pop((tenant_id, provider), None)
        self._checked_at = -math.inf

    async def resolve(self, tenant_id: str, provider: str) -> Any:
        """The tenant's Books (fiken) or Bank (folio)."""
        await self._recheck_revision()
        key = (tenant_id, provider)
        entry = self._entries.get(key)
        if entry is not None:
            return entry.target
        credentials = await chosen_credentials(self._credentials, tenant_id, provider)
        if credentials is None:  # the default provider: the environment's, or the sandbox
            target = self._defaults[provider](tenant_id)
            self.own.discard(key)
            self._entries[key] = _Entry(target, None)
            return target
        client = self._client(provider, credentials)
        target = self._target_factories[provider](client, credentials)
        self.own.add(key)
        self._entries[key] = _Entry(target, credentials.version)
        _log.info(
            "%s of tenant %s: its own credentials (version %d)",
            "books" if provider == FIKEN else "bank",
            tenant_id,
            credentials.version,
        )
        return target

    def _client(self, provider: str, credentials: ResolvedCredentials) -> Client:
        base_url = credentials.base_url or self._base_urls[provider]
        digest = hashlib.sha256(credentials.token.encode("utf-8")).hexdigest()
        key = (provider, base_url, digest)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._client_factories[provider](
                base_url, credentials.token
            )
        return client

    async def _recheck_revision(self) -> None:
        """At most once every `recheck_seconds`: has any tenant's credentials changed (in
        any replica)? Then every entry is re-resolved on its next use."""
        now = self._clock()
        if now - self._checked_at < self._recheck:
            return
        if self._probe is None:
            self._probe = asyncio.Lock()
        async with self._probe:
            if self._clock() - self._checked_at < self._recheck:
                return  # another caller probed while this one waited
            revision = await self._credentials.revision()
            self._checked_at = self._clock()
            if revision != self._revision:
                if self._revision is not None:
                    _log.info("credentials changed (revision %d): re-resolving tenants", revision)
                self._revision = revision
                self._entries.clear()

    async def tenant_count(self) -> int:
        """How many tenants have credentials of their own (for /health)."""
        return await self._credentials.tenant_count()

    @property
    def key_configured(self) -> bool:
        """Whether credentials can be stored (BOOKKEEPER_CREDENTIALS_KEY is set)."""
        return self._credentials.can_store

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client built from stored credentials."""
        clients, self._clients = list(self._clients.values()), {}
        self._entries.clear()
        for client in clients:
            try:
                await client.aclose()
            except Exception:  # closing is best effort at shutdown
                _log.warning("could not close a tenant's client", exc_info=True)


class _Proxy:
    """A tenant's Books or Bank whose target is resolved on the first awaited call (and on
    each call after, from the cache: a credentials change applies to the next call)."""

    __slots__ = ("_backends", "_provider", "_target", "_tenant")

    def __init__(self, backends: TenantBackends, tenant_id: str, provider: str) -> None:
        self._backends = backends
        self._tenant = tenant_id
        self._provider = provider
        self._target: Any = None

    @property
    def name(self) -> str:
        """The target's name (fiken, folio, sandbox …) once resolved."""
        if self._target is None:
            default = self._backends._defaults[self._provider](self._tenant)
            return str(getattr(default, "name", self._provider))
        return str(getattr(self._target, "name", self._provider))

    def __getattr__(self, attribute: str) -> Callable[..., Awaitable[Any]]:
        if attribute.startswith("_"):
            raise AttributeError(attribute)

        async def call(*args: Any, **kwargs: Any) -> Any:
            target = await self._backends.resolve(self._tenant, self._provider)
            self._target = target
            return await getattr(target, attribute)(*args, **kwargs)

        call.__name__ = attribute
        return call

    def __repr__(self) -> str:
        return f"<{self._provider} of tenant {self._tenant}>"
