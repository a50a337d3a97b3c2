"""The tax rates in force for a tenant, looked up in one place (ADR 0040).

Every use case that books, checks or reports VAT reads the tenant's table through
`tenant_tax_table`: the shipped defaults with the tenant's own rows of a code instead
(RulesStore.tax_rates, domain/rules.overlay_rates). The table is read once per unit of
work and kept with it (a document's intake and a proposal's submission ask for the valid
rates more than once); a rate change in the same unit forgets it (`forget`).
"""

from __future__ import annotations

import datetime as dt
import weakref
from decimal import Decimal

from bookkeeper.application.ports import RulesStore, UnitOfWork, UnitOfWorkFactory
from bookkeeper.domain.rules import NORWAY, TaxTable, valid_vat_rates

#: The tables read in a unit of work, by its rules store (which lives as long as the unit).
_TABLES: weakref.WeakKeyDictionary[RulesStore, dict[tuple[str, str], TaxTable]] = (
    weakref.WeakKeyDictionary()
)


async def tenant_tax_table(uow: UnitOfWork, tenant_id: str, country: str = NORWAY) -> TaxTable:
    """The tax rates of `country` in force for `tenant_id`, read once per unit of work."""
    tables = _TABLES.setdefault(uow.rules, {})
    key = (tenant_id, country)
    table = tables.get(key)
    if table is None:
        table = TaxTable(await uow.rules.tax_rates(country, tenant_id=tenant_id))
        tables[key] = table
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


def forget(uow: UnitOfWork) -> None:
    """Drop the tables read in `uow` (after it changed a rate)."""
    _TABLES.pop(uow.rules, None)
