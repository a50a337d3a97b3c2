"""A tenant without Fiken credentials of its own is not given another company's identity
in its SAF-T header (ADR 0036 addendum). With the process-wide BOOKKEEPER_FIKEN_* every
tenant without its own credentials is served by that one Fiken company, and the header
read its name and organisation number from there: tenant B's file claimed to be company
A's. The environment's company stays the header's in a deployment of one tenant; a
tenant's own credentials and the sandbox name the tenant's own company."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.memory_saft import MemoryAuditReads
from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.adapters.tenant_backends import TenantBackends
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.credentials import FIKEN, ResolvedCredentials
from bookkeeper.application.ports import BooksAccount, BooksCompany
from bookkeeper.application.saft import CompanySettings, CompanyUnknown, SaftExport
from bookkeeper.backends import Backends, environment_company_lent
from tests.http_helpers import FixedClock
from tests.saft_checks import NS, validate
from tests.saft_ledger import END, START
from tests.unit.conftest import principal

NOW = dt.datetime(2026, 4, 2, 8, 30, 15, tzinfo=dt.UTC)
ENVIRONMENTS = "Miljøets Selskap AS"


class Books:
    def __init__(self, name: str, orgnr: str) -> None:
        self._company = BooksCompany(slug="x", name=name, organization_number=orgnr)

    async def company(self) -> BooksCompany:
        return self._company

    async def accounts(self) -> list[BooksAccount]:
        return [BooksAccount(code="6800", name="Kontorrekvisita")]


class Client:
    async def aclose(self) -> None:
        return None


class Credentials:
    """The CredentialsSource port over a dict: tenant → its own Fiken company."""

    def __init__(self, own: dict[str, str]) -> None:
        self._own = own

    async def resolve(self, tenant_id: str, provider: str) -> ResolvedCredentials | None:
        if provider != FIKEN or tenant_id not in self._own:
            return None
        return ResolvedCredentials(
            tenant_id=tenant_id,
            provider=provider,
            token=f"token-{tenant_id}",
            company=self._own[tenant_id],
            base_url=None,
            version=1,
        )

    async def revision(self) -> int:
        return 1

    async def tenant_count(self) -> int:
        return len(self._own)

    @property
    def can_store(self) -> bool:
        return True


def environment_books(tenant_id: str) -> Any:
    return Books(ENVIRONMENTS, "923609016")


def opened(books_backend: str, own: dict[str, str] | None = None) -> Backends:
    tenants = None
    books: Any = environment_books
    if own is not None:
        tenants = TenantBackends(
            Credentials(own),
            environment_books,
            lambda tenant: None,
            fiken_base_url="http://fiken.invalid",
            folio_base_url="http://folio.invalid",
            fiken_client=lambda base, token: Client(),
            fiken_books=lambda client, credentials: Books(f"{credentials.company} AS", "999888777"),
        )
        books = tenants.books
    return Backends(
        books=books,
        bank=lambda tenant: None,  # type: ignore[arg-type,return-value]
        books_backend=books_backend,
        bank_backend="sandbox",
        tenants=tenants,
    )


def export_for(
    backends: Backends, tenants_in_log: list[str], company: CompanySettings | None = None
) -> SaftExport:
    async def others(tenant_id: str) -> bool:
        return any(t != tenant_id for t in tenants_in_log)

    async def source() -> Any:
        return backends.books

    async def lent(tenant_id: str) -> bool:
        return await environment_company_lent(backends, tenant_id, others)

    return SaftExport(
        MemoryAuditReads(MemoryUnitOfWorkFactory().db),
        RoleAuthorizer(),
        FixedClock(NOW),
        render,
        software_version="0.1.0",
        company=company,
        books_source=source,
        identity_lent=lent,
    )


async def header_name(export: SaftExport, tenant: str) -> str | None:
    file = await export.export(principal("anna", "accountant", tenant=tenant), START, END)
    xml = b"".join([chunk async for chunk in file.chunks])
    return validate(xml).findtext("s:Header/s:Company/s:Name", namespaces=NS)


async def test_another_tenant_is_not_given_the_environments_company() -> None:
    export = export_for(opened("fiken"), ["acme", "globex"])
    with pytest.raises(CompanyUnknown, match="own Fiken credentials"):
        await header_name(export, "globex")


async def test_a_tenant_with_its_own_credentials_names_its_own_company() -> None:
    export = export_for(opened("fiken", own={"globex": "globex"}), ["acme", "globex"])
    assert await header_name(export, "globex") == "globex AS"
    with pytest.raises(CompanyUnknown):  # acme shares the environment's with globex's log
        await header_name(export, "acme")


async def test_the_only_tenant_is_the_environments_company() -> None:
    export = export_for(opened("fiken", own={}), ["acme"])
    assert await header_name(export, "acme") == ENVIRONMENTS


async def test_the_sandbox_company_is_each_tenants_own() -> None:
    export = export_for(opened("sandbox"), ["acme", "globex"])
    assert await header_name(export, "globex") == ENVIRONMENTS  # the stand-in's books


async def test_the_settings_company_is_the_operators_word() -> None:
    company = CompanySettings(name="Satt AS", orgnr="923609016")
    export = export_for(opened("fiken"), ["acme", "globex"], company)
    assert await header_name(export, "globex") == "Satt AS"
