"""Rules as data on SQL (migration 0016): tax rates, currencies, countries and closed
periods, in the unit of work's transaction (the RulesStore port).

The tables are small and read through SQLAlchemy Core; `closed_period_on` runs on every
posting, on the (tenant, kind, end_date) index. The tax rates are read on every dated
proposal (the VAT rates valid on its date): they are served from a `TaxRatesCache` shared
by the database's units of work for a few seconds (ADR 0039), so that a proposal runs no
statement through SQLAlchemy and stays on the psycopg hot path (session.py)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Final

from sqlalchemy import and_, delete, insert, select, update

from bookkeeper.adapters.sql.schema import countries, currencies, fiscal_periods, tax_rates
from bookkeeper.adapters.sql.session import Transaction
from bookkeeper.domain.rules import PERIOD, Country, Currency, FiscalPeriod, TaxRate

#: How long the tax rates are served from memory; a change made by another process (the
#: rules CLI) is seen by a serving process at the latest this much later (as review rules).
TAX_RATES_TTL_SECONDS: Final = 5.0


class TaxRatesCache:
    """The tax rates per country (None: all), kept a few seconds: read on every dated
    proposal, changed a few times a year. A change through this process forgets them."""

    def __init__(self, ttl: float = TAX_RATES_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._entries: dict[str | None, tuple[float, tuple[TaxRate, ...]]] = {}

    def get(self, country: str | None) -> tuple[TaxRate, ...] | None:
        entry = self._entries.get(country)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, country: str | None, rates: tuple[TaxRate, ...]) -> None:
        self._entries[country] = (time.monotonic() + self._ttl, rates)

    def clear(self) -> None:
        self._entries.clear()


class SqlRules:
    """The RulesStore port on the unit of work's transaction."""

    def __init__(self, tx: Transaction, cache: TaxRatesCache | None = None) -> None:
        self._tx = tx
        self._cache = cache

    async def tax_rates(self, country: str | None = None) -> list[TaxRate]:
        cache = self._cache
        if cache is not None:
            cached = cache.get(country)
            if cached is None:
                cached = tuple(await self._read_tax_rates(country))
                cache.put(country, cached)
            return list(cached)
        return await self._read_tax_rates(country)

    async def _read_tax_rates(self, country: str | None) -> list[TaxRate]:
        t = tax_rates
        query = select(t)
        if country is not None:
            query = query.where(t.c.country == country)
        result = await self._tx.execute(query)
        return [
            TaxRate(
                country=row.country,
                tax_type=row.tax_type,
                direction=row.direction,
                saft_code=row.saft_code,
                rate=row.rate,
                account=row.account,
                valid_from=row.valid_from,
                valid_to=row.valid_to,
            )
            for row in result.all()
        ]

    async def put_tax_rate(self, rate: TaxRate) -> None:
        if self._cache is not None:
            self._cache.clear()
        t = tax_rates
        values = {
            "tax_type": rate.tax_type,
            "direction": rate.direction,
            "rate": rate.rate,
            "account": rate.account,
            "valid_to": rate.valid_to,
        }
        key = and_(
            t.c.country == rate.country,
            t.c.saft_code == rate.saft_code,
            t.c.valid_from == rate.valid_from,
        )
        result = await self._tx.execute(update(t).where(key).values(**values))
        if not result.rowcount:
            await self._tx.execute(
                insert(t).values(
                    country=rate.country,
                    saft_code=rate.saft_code,
                    valid_from=rate.valid_from,
                    **values,
                )
            )

    async def currencies(self) -> list[Currency]:
        result = await self._tx.execute(select(currencies).order_by(currencies.c.code))
        return [Currency(code=r.code, name=r.name, minor_units=r.minor_units) for r in result.all()]

    async def currency(self, code: str) -> Currency | None:
        result = await self._tx.execute(select(currencies).where(currencies.c.code == code))
        row = result.first()
        return (
            None
            if row is None
            else Currency(code=row.code, name=row.name, minor_units=row.minor_units)
        )

    async def countries(self) -> list[Country]:
        result = await self._tx.execute(select(countries).order_by(countries.c.code))
        return [Country(code=r.code, name=r.name, currency=r.currency) for r in result.all()]

    async def periods(self, tenant_id: str, kind: str | None = None) -> list[FiscalPeriod]:
        p = fiscal_periods
        query = select(p).where(p.c.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(p.c.kind == kind)
        result = await self._tx.execute(query.order_by(p.c.start_date, p.c.kind))
        return [_period(row) for row in result.all()]

    async def closed_period_on(self, tenant_id: str, day: dt.date) -> FiscalPeriod | None:
        p = fiscal_periods
        result = await self._tx.execute(
            select(p)
            .where(
                p.c.tenant_id == tenant_id,
                p.c.kind == PERIOD,
                p.c.end_date >= day,
                p.c.start_date <= day,
            )
            .limit(1)
        )
        row = result.first()
        return None if row is None else _period(row)

    async def add_period(self, period: FiscalPeriod) -> bool:
        p = fiscal_periods
        found = await self._tx.execute(
            select(p.c.name).where(
                p.c.tenant_id == period.tenant_id,
                p.c.kind == period.kind,
                p.c.start_date == period.start,
            )
        )
        if found.first() is not None:
            return False
        await self._tx.execute(
            insert(p).values(
                tenant_id=period.tenant_id,
                kind=period.kind,
                start_date=period.start,
                end_date=period.end,
                name=period.name,
                closed_by=period.closed_by,
                closed_at=period.closed_at,
            )
        )
        return True

    async def remove_period(self, tenant_id: str, kind: str, start: dt.date) -> bool:
        p = fiscal_periods
        result = await self._tx.execute(
            delete(p).where(p.c.tenant_id == tenant_id, p.c.kind == kind, p.c.start_date == start)
        )
        return bool(result.rowcount)


def _period(row: object) -> FiscalPeriod:
    return FiscalPeriod(
        tenant_id=row.tenant_id,  # type: ignore[attr-defined]
        kind=row.kind,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        start=row.start_date,  # type: ignore[attr-defined]
        end=row.end_date,  # type: ignore[attr-defined]
        closed_by=row.closed_by,  # type: ignore[attr-defined]
        closed_at=row.closed_at,  # type: ignore[attr-defined]
    )
