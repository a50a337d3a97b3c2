"""Tax rates per tenant, looked up in one place (ADR 0040): the shipped defaults are every
tenant's fallback, a tenant's own rows of a code replace them, and the table is read once
per unit of work however often a use case asks."""

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


async def test_the_table_is_read_once_per_unit_of_work() -> None:
    uows = MemoryUnitOfWorkFactory()
    reads: list[str | None] = []
    async with uows() as uow:
        store = uow.rules
        original = store.tax_rates

        async def counted(
            country: str | None = None, *, tenant_id: str | None = None
        ) -> list[TaxRate]:
            reads.append(tenant_id)
            return await original(country, tenant_id=tenant_id)

        store.tax_rates = counted  # type: ignore[method-assign]
        first = await tenant_tax_table(uow, "acme")
        await valid_rates(uow, "acme", FEB)
        await valid_rates(uow, "acme", dt.date(2020, 6, 1))
        assert await tenant_tax_table(uow, "acme") is first
        await tenant_tax_table(uow, "globex")
    assert reads == ["acme", "globex"]
    async with uows() as uow:
        uow.rules.tax_rates = counted  # type: ignore[method-assign]
        await tenant_tax_table(uow, "acme")
    assert reads == ["acme", "globex", "acme"]  # a new unit reads afresh
