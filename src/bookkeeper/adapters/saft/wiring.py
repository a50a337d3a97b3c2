"""Builds the SAF-T export for the container: the reads that fit the database, the XML
renderer, the company from the settings, the books for the chart and the fallback company."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bookkeeper import __version__
from bookkeeper.application.ports import Authorizer, Clock
from bookkeeper.application.saft import AuditReads, BooksSource, CompanySettings, SaftExport
from bookkeeper.application.tax_rates import read_tax_table
from bookkeeper.domain.rules import TaxTable
from bookkeeper.settings import Settings


def audit_reads_for(database: Any) -> AuditReads:
    """SqlAuditReads on a SqlDatabase; MemoryAuditReads on an in-memory stand-in."""
    from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
    from bookkeeper.adapters.sql import SqlDatabase

    if isinstance(database, SqlDatabase):
        from bookkeeper.adapters.sql.saft import SqlAuditReads

        return SqlAuditReads(database)
    factory = database.uow_factory()
    if isinstance(factory, MemoryUnitOfWorkFactory):
        from bookkeeper.adapters.memory_saft import MemoryAuditReads

        return MemoryAuditReads(factory.db)
    raise TypeError(f"no SAF-T reads for database {database!r}")


def saft_export(
    database: Any,
    authorizer: Authorizer,
    clock: Clock,
    settings: Settings,
    books_source: BooksSource,
) -> SaftExport:
    """The SAF-T export use case, wired."""
    from bookkeeper.adapters.saft.xml_writer import render

    uow_factory = database.uow_factory()

    async def tax_table(tenant_id: str) -> TaxTable:
        return await read_tax_table(uow_factory, tenant_id)

    async def vat_registered(tenant_id: str, end: dt.date) -> bool:
        """In the register during a period ending on `end`: a company registered from a
        later day (`vatRegisteredFrom`, ADR 0064 addendum) was not, and its file claims no
        VAT number for that period."""
        async with uow_factory() as uow:
            rules = await uow.settings.review_rules(tenant_id)
        since = rules.vat_registered_from
        return bool(rules.vat_registered) and (since is None or since <= end)

    return SaftExport(
        audit_reads_for(database),
        authorizer,
        clock,
        render,
        software_version=__version__,
        company=CompanySettings(
            name=settings.company_name,
            orgnr=settings.company_orgnr,
            contact=settings.company_contact,
        ),
        books_source=books_source,
        tax_table=tax_table,
        vat_registered=vat_registered,
    )
