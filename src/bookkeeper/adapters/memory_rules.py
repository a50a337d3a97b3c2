"""The RulesStore port in memory: the seeded Norwegian tax rates, CLDR's currencies and
countries, and each tenant's closed periods. Writes apply at once (not staged until
commit): the in-memory store serves unit tests and the admin use cases' tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from bookkeeper.adapters.currencies import iso_countries, iso_currencies
from bookkeeper.application.ports import PeriodLock
from bookkeeper.domain.rules import (
    DEFAULT_RATES_TENANT,
    NORWAY_TAX_RATES,
    PERIOD,
    Country,
    Currency,
    FiscalPeriod,
    TaxRate,
    TaxTable,
    overlay_rates,
)


@dataclass
class RulesState:
    #: (tenant, country, code, valid from): the defaults under DEFAULT_RATES_TENANT.
    rates: dict[tuple[str, str, str, dt.date], TaxRate] = field(
        default_factory=lambda: {
            (DEFAULT_RATES_TENANT, r.country, r.saft_code, r.valid_from): r
            for r in NORWAY_TAX_RATES
        }
    )
    periods: dict[tuple[str, str, dt.date], FiscalPeriod] = field(default_factory=dict)


class MemoryRules:
    def __init__(self, state: RulesState) -> None:
        self._state = state

    async def tax_rates(
        self, country: str | None = None, *, tenant_id: str | None = None
    ) -> list[TaxRate]:
        def rows(tenant: str) -> list[TaxRate]:
            return [
                r
                for (t, *_), r in self._state.rates.items()
                if t == tenant and (country is None or r.country == country)
            ]

        defaults = rows(DEFAULT_RATES_TENANT)
        if tenant_id is None or tenant_id == DEFAULT_RATES_TENANT:
            return defaults
        return overlay_rates(defaults, rows(tenant_id))

    async def tax_table(
        self, country: str | None = None, *, tenant_id: str | None = None
    ) -> TaxTable:
        return TaxTable(await self.tax_rates(country, tenant_id=tenant_id))

    async def put_tax_rate(self, rate: TaxRate, *, tenant_id: str | None = None) -> None:
        tenant = DEFAULT_RATES_TENANT if tenant_id is None else tenant_id
        self._state.rates[(tenant, rate.country, rate.saft_code, rate.valid_from)] = rate

    async def currencies(self) -> list[Currency]:
        return list(iso_currencies())

    async def currency(self, code: str) -> Currency | None:
        return next((c for c in iso_currencies() if c.code == code), None)

    async def countries(self) -> list[Country]:
        return list(iso_countries())

    async def periods(
        self, tenant_id: str, kind: str | None = None, *, lock_for: PeriodLock | None = None
    ) -> list[FiscalPeriod]:
        found = [
            p
            for (tenant, k, _), p in self._state.periods.items()
            if tenant == tenant_id and (kind is None or k == kind)
        ]
        return sorted(found, key=lambda p: (p.start, p.kind))

    async def closed_period_on(self, tenant_id: str, day: dt.date) -> FiscalPeriod | None:
        for period in await self.periods(tenant_id, PERIOD):
            if period.contains(day):
                return period
        return None

    async def closed_periods(self, tenant_ids: Sequence[str]) -> dict[str, list[FiscalPeriod]]:
        return {tenant: await self.periods(tenant) for tenant in tenant_ids}

    async def add_period(self, period: FiscalPeriod) -> bool:
        key = (period.tenant_id, period.kind, period.start)
        if key in self._state.periods:
            return False
        self._state.periods[key] = period
        return True

    async def remove_period(self, tenant_id: str, kind: str, start: dt.date) -> bool:
        return self._state.periods.pop((tenant_id, kind, start), None) is not None
