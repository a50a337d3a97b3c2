"""A tenant's own Fiken and Folio credentials (issue 14, ADR 0036), admin only.

    PUT    /tenants/{tenant}/credentials/{provider}   set or replace (credentials:manage)
    GET    /tenants/{tenant}/credentials/{provider}   metadata only, never the secret
    DELETE /tenants/{tenant}/credentials/{provider}   remove (the environment's apply again)

`tenant` must be the caller's own: any other tenant answers 404 exactly as a tenant that
exists nowhere (the answer names neither). The token is write-only: no answer, no log line
and no event carries it; it is stored encrypted (BOOKKEEPER_CREDENTIALS_KEY; without a key a
PUT is refused with 409 `credentials-key-missing`). A base URL override is for the operator
only (`bookkeeper credentials set --base-url`), never over HTTP: a tenant's admin cannot
point the service at another host.
"""

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Controller, delete, get, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from msgspec import Meta

from bookkeeper.application.credentials import (
    MAX_COMPANY_LENGTH,
    MAX_SECRET_LENGTH,
    CredentialsInfo,
    CredentialsService,
)
from bookkeeper.entrypoints.http.decoding import StrictJson
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.routing import FreshRouter
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import RequestBody, ResponseBody


class CredentialsIn(RequestBody, frozen=True, kw_only=True):
    #: The API token (Fiken: a personal API token; Folio: an API key). Write-only.
    token: Annotated[str, Meta(min_length=1, max_length=MAX_SECRET_LENGTH)]
    #: The Fiken company slug (required for fiken, unused for folio).
    company: Annotated[str, Meta(min_length=1, max_length=MAX_COMPANY_LENGTH)] | None = None


class CredentialsOut(ResponseBody, frozen=True, kw_only=True):
    """What is stored, never the secret: `fingerprint` tells two tokens apart."""

    tenant: str
    provider: str
    company: str | None
    base_url: str | None
    fingerprint: str
    set_by: str
    set_at: dt.datetime
    version: int


def _out(info: CredentialsInfo) -> CredentialsOut:
    return CredentialsOut(
        tenant=info.tenant_id,
        provider=info.provider,
        company=info.company,
        base_url=info.base_url,
        fingerprint=info.fingerprint,
        set_by=info.set_by,
        set_at=info.set_at,
        version=info.version,
    )


class CredentialsController(Controller):
    path = "/tenants/{tenant:str}/credentials/{provider:str}"
    tags = ["operations"]  # noqa: RUF012 - Litestar reads these class attributes

    @put(
        "/",
        operation_id="setTenantCredentials",
        dto=StrictJson[CredentialsIn],
        return_dto=None,
        summary="Set a tenant's own Fiken or Folio credentials (stored encrypted)",
        responses=documented(401, 403, 404, 409, 415, 422),
    )
    async def set_credentials(
        self,
        data: JSONBody[CredentialsIn],
        request: AuthenticatedRequest,
        credentials: NamedDependency[CredentialsService],
        tenant: FromPath[str],
        provider: FromPath[str],
    ) -> CredentialsOut:
        """Store (or replace) the caller's tenant's token for `fiken` (with `company`, the
        slug) or `folio`; the executor uses it from the next call. The answer is metadata
        only. Needs `credentials:manage` (admins)."""
        info = await credentials.set(
            request.user, tenant, provider, data.token, company=data.company
        )
        return _out(info)

    @get(
        "/",
        operation_id="getTenantCredentials",
        summary="What is stored for a tenant's Fiken or Folio (never the secret)",
        responses=documented(401, 403, 404, 422),
    )
    async def get_credentials(
        self,
        request: AuthenticatedRequest,
        credentials: NamedDependency[CredentialsService],
        tenant: FromPath[str],
        provider: FromPath[str],
    ) -> CredentialsOut:
        """Provider, company, who set it and when, a short fingerprint of the token; 404
        when the tenant has none of its own (the environment's or the sandbox apply)."""
        return _out(await credentials.info(request.user, tenant, provider))

    @delete(
        "/",
        operation_id="removeTenantCredentials",
        summary="Remove a tenant's own Fiken or Folio credentials",
        responses=documented(401, 403, 404, 422),
    )
    async def remove_credentials(
        self,
        request: AuthenticatedRequest,
        credentials: NamedDependency[CredentialsService],
        tenant: FromPath[str],
        provider: FromPath[str],
    ) -> None:
        """The tenant uses the environment's credentials (or the sandbox) again."""
        await credentials.remove(request.user, tenant, provider)


def credentials_routes(container: Any) -> FreshRouter:
    """/tenants/{tenant}/credentials/{provider}, the service resolved on first use."""
    from bookkeeper.container import resolve

    resolved: list[CredentialsService] = []

    async def provide_credentials() -> CredentialsService:
        if not resolved:
            resolved.append(await resolve(container.credentials))
        return resolved[0]

    provider: Callable[[], Awaitable[CredentialsService]] = provide_credentials
    return FreshRouter(
        path="/",
        route_handlers=[CredentialsController],
        dependencies={"credentials": Provide(provider, use_cache=True)},
    )
