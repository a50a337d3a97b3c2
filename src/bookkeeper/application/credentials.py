"""Issue 14: a tenant's own Fiken and Folio credentials, encrypted at rest (ADR 0036).

Many companies per deployment: each tenant may have its own Fiken token and company slug
and its own Folio token. They are set, shown (metadata only) and removed through this
service — by an admin of that tenant over HTTP, or by the operator through
`bookkeeper credentials` — and the executor, the lookups and the checks use them through
the per-tenant resolver (adapters/tenant_backends.py). A tenant without its own keeps the
environment's (BOOKKEEPER_FIKEN_TOKEN …), else the sandbox.

The secret never leaves this module in plaintext except to the resolver (`resolve`):
it is encrypted by the `SecretBox` (Fernet keys from BOOKKEEPER_CREDENTIALS_KEY) before it
is stored, and nothing shows it back — `show` answers the provider, company, who set it and
when, and a short fingerprint (a prefix of the token's SHA-256). Without a key, setting is
refused (`CredentialsKeyMissing`): plaintext is never stored. Every change is recorded in
the tenant's log (CredentialsSet, CredentialsRemoved, CredentialsReencrypted), without
the secret, in the same transaction as the change itself (the store is part of the unit of
work, ADR 0044 §1): both are committed, or neither.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable
from itertools import groupby
from typing import Final, Protocol, TypeVar
from urllib.parse import urlsplit

import msgspec

from bookkeeper.application.authorization import CREDENTIALS_MANAGE
from bookkeeper.application.errors import ApplicationError, ExternalUnavailable, NotFound
from bookkeeper.application.event_log import stamp
from bookkeeper.application.ports import (
    Authorizer,
    Clock,
    CredentialsStore,
    Ids,
    NewEvent,
    Principal,
    StoredCredentials,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    CredentialsReencryptedData,
    CredentialsRemovedData,
    CredentialsSetData,
    Payload,
)

log = logging.getLogger("bookkeeper.credentials")

T = TypeVar("T")

__all__ = [
    "CredentialsInfo",
    "CredentialsKeyMissing",
    "CredentialsService",
    "CredentialsStore",
    "CredentialsUnreadable",
    "InvalidCredentials",
    "ResolvedCredentials",
    "SecretBox",
    "StoredCredentials",
    "fingerprint",
    "provider_name",
]

FIKEN: Final = "fiken"
FOLIO: Final = "folio"
PROVIDERS: Final = (FIKEN, FOLIO)
#: Longest token accepted (Fiken's personal API tokens and Folio's keys are far shorter).
MAX_SECRET_LENGTH: Final = 4096
MAX_COMPANY_LENGTH: Final = 200
#: Hex digits of the token's SHA-256 shown as its fingerprint.
FINGERPRINT_DIGITS: Final = 12


class CredentialsKeyMissing(ApplicationError):
    """No BOOKKEEPER_CREDENTIALS_KEY: credentials cannot be stored (never in plaintext)."""

    code = "credentials-key-missing"


class CredentialsUnreadable(ExternalUnavailable):
    """A stored secret does not decrypt with any configured key (a key was dropped from
    BOOKKEEPER_CREDENTIALS_KEY before `bookkeeper credentials rotate-key` ran, or the key is
    unset). The tenant's books or bank are unavailable until an operator fixes the key: an
    execution is retried later (never failed for it), an HTTP call answers 503."""

    code = "credentials-unreadable"

    def __init__(self, message: str, *, system: str = "credentials") -> None:
        super().__init__(message, system=system)


class InvalidCredentials(DomainError):
    """A provider, company, URL or token the credentials store refuses."""

    code = "invalid-credentials"


class CredentialsInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What may be shown of stored credentials: everything but the secret."""

    tenant_id: str
    provider: str
    company: str | None
    base_url: str | None
    fingerprint: str
    set_by: str
    set_at: dt.datetime
    version: int

    @classmethod
    def of(cls, stored: StoredCredentials) -> CredentialsInfo:
        return cls(
            tenant_id=stored.tenant_id,
            provider=stored.provider,
            company=stored.company,
            base_url=stored.base_url,
            fingerprint=stored.fingerprint,
            set_by=stored.set_by,
            set_at=stored.set_at,
            version=stored.version,
        )


class ResolvedCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's credentials decrypted, for building its client (never shown, never
    logged: repr hides the token)."""

    tenant_id: str
    provider: str
    token: str
    company: str | None
    base_url: str | None
    version: int

    def __repr__(self) -> str:
        return (
            f"ResolvedCredentials(tenant_id={self.tenant_id!r}, provider={self.provider!r}, "
            f"company={self.company!r}, version={self.version}, token=***)"
        )


class SecretBox(Protocol):
    """Encrypts secrets for storage (Fernet with the configured keys)."""

    def encrypt(self, secret: str) -> str: ...

    def decrypt(self, ciphertext: str) -> str:
        """Raise CredentialsUnreadable when no configured key opens it."""
        ...

    def rotate(self, ciphertext: str) -> str:
        """The same secret encrypted with the first (newest) key."""
        ...


def fingerprint(secret: str) -> str:
    """A short, non-reversible name of a token: `sha256:` and 12 hex digits."""
    digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    return f"sha256:{digest[:FINGERPRINT_DIGITS]}"


def provider_name(raw: str) -> str:
    """fiken or folio (case-insensitive); InvalidCredentials otherwise."""
    name = raw.strip().lower()
    if name not in PROVIDERS:
        raise InvalidCredentials(f"provider must be one of {', '.join(PROVIDERS)}")
    return name


def _check_secret(secret: str) -> str:
    value = secret.strip()
    if not value:
        raise InvalidCredentials("the token is empty")
    if len(value) > MAX_SECRET_LENGTH or not value.isprintable() or any(c.isspace() for c in value):
        # The message never quotes the value.
        raise InvalidCredentials("the token must be one line of printable characters")
    return value


def _check_company(provider: str, company: str | None) -> str | None:
    if company is not None:
        company = company.strip() or None
    if provider == FIKEN and company is None:
        raise InvalidCredentials("Fiken credentials need the company slug (--company)")
    if company is not None and (
        len(company) > MAX_COMPANY_LENGTH
        or not company.isprintable()
        or any(c.isspace() or c == "/" for c in company)
        or company in (".", "..")  # a dot segment: "/companies/.." is the API's root
    ):
        raise InvalidCredentials("a company slug is one word without / or blanks, not . or ..")
    return company


def _check_base_url(base_url: str | None) -> str | None:
    if base_url is None or not base_url.strip():
        return None
    value = base_url.strip()
    if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
        raise InvalidCredentials("a base URL is an http(s):// URL")
    # Stored in the clear, recorded in the log for good and shown by `show`: a password
    # (user-info) or a token (query, fragment) in it would be all three. Not quoted.
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        raise InvalidCredentials("a base URL is an http(s):// URL") from None
    if not parts.hostname or "@" in parts.netloc or parts.query or parts.fragment or "?" in value:
        raise InvalidCredentials(
            "a base URL is scheme, host, port and path only: no user:password@, ?query or "
            "#fragment (the token goes in the secret)"
        )
    return value.rstrip("/")


class CredentialsService:
    """Sets, shows, removes and re-encrypts per-tenant credentials (see the module doc).

    Every read and write goes through a unit of work (`uow.credentials`): a change, its
    revision bump and its audit event are one transaction."""

    def __init__(
        self,
        box: SecretBox | None,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
    ) -> None:
        self._box = box
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer
        #: Told the tenant whose credentials changed (the resolver drops its clients).
        self._listeners: list[Callable[[str], None]] = []

    @property
    def can_store(self) -> bool:
        """True when a key is configured (credentials can be set)."""
        return self._box is not None

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(tenant_id)` after every change of a tenant's credentials."""
        self._listeners.append(listener)

    def _authorize(self, principal: Principal, tenant_id: str) -> None:
        """credentials:manage in the principal's own tenant. Another tenant is not found,
        exactly as a tenant that exists nowhere (the answer names neither)."""
        self._authorizer.check(principal, CREDENTIALS_MANAGE)
        if tenant_id != principal.tenant_id:
            raise NotFound("no credentials here")

    async def set(
        self,
        principal: Principal,
        tenant_id: str,
        provider: str,
        secret: str,
        *,
        company: str | None = None,
        base_url: str | None = None,
    ) -> CredentialsInfo:
        """Store (or replace) the tenant's credentials of `provider`, encrypted, and record
        CredentialsSet in the same transaction. CredentialsKeyMissing without a key,
        InvalidCredentials for bad input; nothing is stored then."""
        self._authorize(principal, tenant_id)
        provider = provider_name(provider)
        secret = _check_secret(secret)
        company = _check_company(provider, company)
        base_url = _check_base_url(base_url)
        if self._box is None:
            raise CredentialsKeyMissing(
                "BOOKKEEPER_CREDENTIALS_KEY is not set: credentials are stored encrypted "
                "only; set a Fernet key (see `bookkeeper credentials --help`)"
            )
        now = self._clock.now()
        async with self._uow() as uow:
            stored = await uow.credentials.put(
                StoredCredentials(
                    tenant_id=tenant_id,
                    provider=provider,
                    company=company,
                    base_url=base_url,
                    ciphertext=self._box.encrypt(secret),
                    fingerprint=fingerprint(secret),
                    set_by=principal.actor,
                    set_at=now,
                )
            )
            data = CredentialsSetData(
                provider=provider,
                fingerprint=stored.fingerprint,
                company=company,
                base_url=base_url,
            )
            await self._append(uow, tenant_id, self._event(principal.actor, "CredentialsSet", data))
            await uow.commit()
        self._changed(tenant_id)
        log.info(
            "credentials: %s set %s credentials of tenant %s (%s, version %d)",
            principal.actor,
            provider,
            tenant_id,
            stored.fingerprint,
            stored.version,
        )
        return CredentialsInfo.of(stored)

    async def show(self, principal: Principal, tenant_id: str) -> list[CredentialsInfo]:
        """The tenant's stored credentials, metadata only."""
        self._authorize(principal, tenant_id)
        return [CredentialsInfo.of(s) for s in await self._read(lambda c: c.listing(tenant_id))]

    async def info(self, principal: Principal, tenant_id: str, provider: str) -> CredentialsInfo:
        """One provider's metadata; NotFound when the tenant has none of its own."""
        self._authorize(principal, tenant_id)
        name = provider_name(provider)
        stored = await self._read(lambda c: c.get(tenant_id, name))
        if stored is None:
            raise NotFound(f"no {name} credentials of this tenant's own")
        return CredentialsInfo.of(stored)

    async def remove(self, principal: Principal, tenant_id: str, provider: str) -> None:
        """Remove the tenant's own credentials of `provider` and record CredentialsRemoved
        in the same transaction. NotFound when there were none (nothing committed)."""
        self._authorize(principal, tenant_id)
        provider = provider_name(provider)
        async with self._uow() as uow:
            if not await uow.credentials.remove(tenant_id, provider):
                raise NotFound(f"no {provider} credentials of this tenant's own")
            data = CredentialsRemovedData(provider=provider)
            await self._append(
                uow, tenant_id, self._event(principal.actor, "CredentialsRemoved", data)
            )
            await uow.commit()
        self._changed(tenant_id)
        log.info(
            "credentials: %s removed %s credentials of tenant %s",
            principal.actor,
            provider,
            tenant_id,
        )

    async def rotate_key(self, actor: str) -> int:
        """Re-encrypt every stored secret with the first key of BOOKKEEPER_CREDENTIALS_KEY
        (the operator's `bookkeeper credentials rotate-key`, `actor` as who did it); how
        many. One CredentialsReencrypted per tenant whose rows were rewritten (which
        providers, their fingerprints; never a secret), in the same transaction as the
        re-encryption. Afterwards the older keys can be dropped from the variable."""
        box = self._box
        if box is None:
            raise CredentialsKeyMissing(
                "BOOKKEEPER_CREDENTIALS_KEY is not set: nothing to rotate to"
            )
        async with self._uow() as uow:
            rows = await uow.credentials.rewrap(box.rotate)
            for tenant_id, group in groupby(rows, key=lambda row: row.tenant_id):
                tenant_rows = sorted(group, key=lambda row: row.provider)
                data = CredentialsReencryptedData(
                    providers=tuple(row.provider for row in tenant_rows),
                    fingerprints=tuple(row.fingerprint for row in tenant_rows),
                )
                await self._append(
                    uow, tenant_id, self._event(actor, "CredentialsReencrypted", data)
                )
            await uow.commit()
        tenants = sorted({row.tenant_id for row in rows})
        for tenant_id in tenants:
            self._changed(tenant_id)
        log.info(
            "credentials: %s re-encrypted %d secret(s) of %d tenant(s) with the first key",
            actor,
            len(rows),
            len(tenants),
        )
        return len(rows)

    async def resolve(self, tenant_id: str, provider: str) -> ResolvedCredentials | None:
        """The tenant's own credentials, decrypted (for the resolver only); None when it
        has none. CredentialsUnreadable when stored but no key opens them."""
        stored = await self._read(lambda c: c.get(tenant_id, provider))
        if stored is None:
            return None
        if self._box is None:
            raise CredentialsUnreadable(
                f"the tenant's own {provider} credentials cannot be read: "
                "BOOKKEEPER_CREDENTIALS_KEY is not set",
                system=provider,
            )
        try:
            token = self._box.decrypt(stored.ciphertext)
        except CredentialsUnreadable as error:
            raise CredentialsUnreadable(error.message, system=provider) from None
        return ResolvedCredentials(
            tenant_id=tenant_id,
            provider=provider,
            token=token,
            company=stored.company,
            base_url=stored.base_url,
            version=stored.version,
        )

    async def revision(self) -> int:
        return await self._read(lambda c: c.revision())

    async def tenant_count(self) -> int:
        return await self._read(lambda c: c.tenant_count())

    async def _read(self, read: Callable[[CredentialsStore], Awaitable[T]]) -> T:
        """One read of the store in a unit of its own (nothing is written)."""
        async with self._uow() as uow:
            return await read(uow.credentials)

    def _changed(self, tenant_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(tenant_id)
            except Exception:  # a listener's bug must not undo a stored change
                log.exception("credentials change listener failed")

    def _event(self, actor: str, type_name: str, data: Payload) -> NewEvent:
        event_id = self._ids.new_id()
        return stamp(
            type_name,
            data,
            event_id=event_id,
            actor=actor,
            at=self._clock.now(),
            correlation_id=event_id,
            metadata={"source": "credentials"},
        )

    @staticmethod
    async def _append(uow: UnitOfWork, tenant_id: str, event: NewEvent) -> None:
        """The event as a stream of its own (its id is the stream's), in `uow`."""
        await uow.events.append(tenant_id, event.id, 0, [event])
