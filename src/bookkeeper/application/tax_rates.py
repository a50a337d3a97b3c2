"""The tax rates in force for a tenant, looked up in one place (ADR 0040).

Every use case that books, checks or reports VAT reads the tenant's table through
`tenant_tax_table`: the shipped defaults with the tenant's own rows of a code instead
(RulesStore.tax_rates, domain/rules.overlay_rates).

There is one cache of the rates, and it is the store's (ADR 0044 §4): on SQL the
`TaxRatesCache` shared by the database's units of work, per (country, tenant), for a few
seconds, forgotten at once when this process changes a rate, and bypassed by a unit that
changed one itself (its own uncommitted rows are never served to another unit). No rows
are kept here: the store builds the `TaxTable` (RulesStore.tax_table), and the SQL store keeps
one per cache entry, so a dated proposal neither sorts the rows again nor looks up the VAT
rates of a day its tenant's table already answered (ADR 0045's last addendum). What a
batch of the executor keeps, within its one unit of work, is the
`TaxTable` built from them (`batch_tax_table`): building one sorts the rows, and a table
remembers which rows fit each rate, so a claim or a record of many attempts builds each
tenant's once (issue 14, ADR 0043's addendum).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bookkeeper.application.ports import UnitOfWork, UnitOfWorkFactory
from bookkeeper.domain.rules import NORWAY, TaxTable, valid_vat_rates


async def tenant_tax_table(uow: UnitOfWork, tenant_id: str, country: str = NORWAY) -> TaxTable:
    """The tax rates of `country` in force for `tenant_id`, as the unit's store answers
    (from its cache, with the table built once per cache entry: see the module doc)."""
    return await uow.rules.tax_table(country, tenant_id=tenant_id)


async def batch_tax_table(uow: UnitOfWork, tenant_id: str, tables: dict[str, TaxTable]) -> TaxTable:
    """`tenant_tax_table`, built once per tenant for a batch in one unit of work and kept in
    `tables` (the caller's, dropped with the unit)."""
    table = tables.get(tenant_id)
    if table is None:
        table = tables[tenant_id] = await tenant_tax_table(uow, tenant_id)
    return table


async def read_tax_table(
    uow_factory: UnitOfWorkFactory, tenant_id: str, country: str = NORWAY
) -> TaxTable:
    """The tenant's tax rates, read in a unit of work of their own."""
    async with uow_factory() as uow:
        return await tenant_tax_table(uow, tenant_id, country)


async def valid_rates(
    uow: UnitOfWork, tenant_id: str, day: dt.date | None
) -> frozenset[Decimal] | None:
    """The purchase VAT rates valid in Norway on `day` for the tenant — what a receipt,
    expense or invoice dated then may carry; None without a day or when no rate covers
    it (the built-in rates then)."""
    if day is None:
        return None
    return valid_vat_rates(await tenant_tax_table(uow, tenant_id), day)


async def read_valid_rates(
    uow_factory: UnitOfWorkFactory, tenant_id: str, day: dt.date | None
) -> frozenset[Decimal] | None:
    """`valid_rates` in a unit of work of its own."""
    if day is None:
        return None
    async with uow_factory() as uow:
        return await valid_rates(uow, tenant_id, day)
