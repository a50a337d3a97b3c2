"""Tax rates per tenant, looked up in one place (ADR 0040): the shipped defaults are every
tenant's fallback, a tenant's own rows of a code replace them, and the table is read once
from the store's cache (the only one) however often a use case asks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ports import Principal
from bookkeeper.application.rules import RulesService
from bookkeeper.application.tax_rates import tenant_tax_table, valid_rates
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxRate, overlay_rates

FEB = dt.date(2027, 2, 1)


class _Clock:
    def now(self) -> dt.datetime:
        return dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def _admin(tenant: str) -> Principal:
    return Principal(subject="ada", tenant_id=tenant, roles=frozenset({"admin"}))


def test_a_tenants_rows_of_a_code_replace_the_defaults_of_that_code_only() -> None:
    own = TaxRate(
        country="NO",
        tax_type="low",
        direction="input",
        saft_code="13",
        rate=Decimal(10),
        account="2713",
        valid_from=FEB,
    )
    merged = overlay_rates(NORWAY_TAX_RATES, [own])
    assert [r for r in merged if r.saft_code == "13"] == [own]
    others = [r for r in NORWAY_TAX_RATES if r.saft_code != "13"]
    assert [r for r in merged if r.saft_code != "13"] == others


async def test_a_rate_change_is_the_tenants_and_the_defaults_change_for_the_rest() -> None:
    uows = MemoryUnitOfWorkFactory()
    rules = RulesService(uows, _Clock(), RoleAuthorizer())
    await rules.change_tax_rate(
        _admin("acme"), saft_code="1", rate=Decimal(20), valid_from=dt.date(2027, 1, 1)
    )
    async with uows() as uow:
        assert Decimal(20) in (await valid_rates(uow, "acme", FEB) or ())
        assert Decimal(20) not in (await valid_rates(uow, "globex", FEB) or ())
    await rules.change_default_tax_rate(saft_code="11", rate=Decimal(16), valid_from=FEB)
    async with uows() as uow:
        for tenant in ("acme", "globex"):
            assert Decimal(16) in (await valid_rates(uow, tenant, FEB) or ())


async def test_a_rate_changed_in_a_unit_of_work_is_what_that_unit_reads_next() -> None:
    """ADR 0044 §4: the store is the one place the rates are cached; nothing kept per unit
    of work can hide a change the unit itself made (there is no `forget` to call)."""
    uows = MemoryUnitOfWorkFactory()
    own = TaxRate(
        country="NO",
        tax_type="regular",
        direction="input",
        saft_code="1",
        rate=Decimal(20),
        account="2710",
        valid_from=dt.date(2027, 1, 1),
    )
    async with uows() as uow:
        assert Decimal(20) not in (await valid_rates(uow, "acme", FEB) or ())
        await uow.rules.put_tax_rate(own, tenant_id="acme")
        assert Decimal(20) in (await valid_rates(uow, "acme", FEB) or ())
        table = await tenant_tax_table(uow, "acme")
        assert table.code("1", FEB) == own
