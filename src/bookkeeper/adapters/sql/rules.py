"""Rules as data on SQL (migration 0016): tax rates, currencies, countries and closed
periods, in the unit of work's transaction (the RulesStore port).

The tables are small and read through SQLAlchemy Core; `closed_period_on` runs on every
posting, on the (tenant, kind, end_date) index.

A posting and the close of its period are serialised (ADR 0040 §3): on PostgreSQL, at READ
COMMITTED, `closed_period_on` first takes the tenant's period lock shared — a
transaction-scoped advisory lock, in a statement of its own so that the check that follows
reads with a snapshot taken after the lock — and `add_period` / `remove_period` take it
exclusive. A close thus waits for the postings that passed their check to commit, and a
posting checking while a close is under way waits for it and then sees it. Postings do not
wait for one another (the lock is shared among them). On SQLite every unit of work writes
under BEGIN IMMEDIATE, which serialises the same.

The tax rates are read on every dated proposal (the VAT rates valid on its date): they are
served from a `TaxRatesCache` shared by the database's units of work for a few seconds
(ADR 0039), per country and tenant (ADR 0040 §1), so that a proposal runs no statement
through SQLAlchemy and stays on the psycopg hot path (session.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import Final

from sqlalchemy import and_, any_, bindparam, cast, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql

from bookkeeper.adapters.sql.schema import countries, currencies, fiscal_periods, tax_rates
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect
from bookkeeper.application.ports import PeriodLock
from bookkeeper.application.ttl_cache import TtlCache
from bookkeeper.domain.rules import (
    DEFAULT_RATES_TENANT,
    PERIOD,
    Country,
    Currency,
    FiscalPeriod,
    TaxRate,
    TaxTable,
    overlay_rates,
)


def period_lock_key(tenant_id: str) -> int:
    """The advisory lock key of a tenant's periods: a signed 64-bit hash (stable across
    processes and versions, unlike Python's hash)."""
    digest = hashlib.blake2b(f"fiscal-periods:{tenant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)")
_LOCK_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:key)")
#: Several tenants' shared locks, taken in the order of the (sorted) keys given.
_LOCK_SHARED_MANY = text(
    "SELECT count(pg_advisory_xact_lock_shared(k.key)) "
    "FROM unnest(CAST(:keys AS bigint[])) AS k(key)"
)

#: How long the tax rates are served from memory; a change made by another process (the
#: rules CLI) is seen by a serving process at the latest this much later (as review rules).
TAX_RATES_TTL_SECONDS: Final = 5.0


class TaxRatesCache:
    """The tax rates per (country, tenant) — None: all countries; the shipped defaults with
    the tenant's own on top (ADR 0040 §1) — kept a few seconds: read on every dated
    proposal, changed a few times a year. A change through this process forgets them all.
    At most `size` entries (the oldest go first), whatever the number of tenants; the
    concurrent misses of a key read its rows once (single_flight: at the P1 load, every
    unit of work in flight when an entry runs out)."""

    def __init__(
        self,
        ttl: float = TAX_RATES_TTL_SECONDS,
        size: int = 4096,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: Per key the rates as read and their TaxTable, built once per entry: building one
        #: sorts the rows, and a table remembers its lookups (valid VAT rates per day).
        self._kept: TtlCache[
            tuple[str | None, str | None], tuple[tuple[TaxRate, ...], TaxTable]
        ] = TtlCache(ttl, size, clock=clock)

    def get(self, country: str | None, tenant_id: str | None) -> tuple[TaxRate, ...] | None:
        """The rates kept for the key while they have not expired; None otherwise."""
        kept = self._kept.get((country, tenant_id))
        return None if kept is None else kept[0]

    async def read_once(
        self,
        country: str | None,
        tenant_id: str | None,
        read: Callable[[], Awaitable[tuple[TaxRate, ...]]],
    ) -> tuple[TaxRate, ...]:
        """The rates kept for the key, else `read()`'s, kept."""
        return (await self._entry(country, tenant_id, read))[0]

    async def read_table_once(
        self,
        country: str | None,
        tenant_id: str | None,
        read: Callable[[], Awaitable[tuple[TaxRate, ...]]],
    ) -> TaxTable:
        """The TaxTable of the rates kept for the key, else of `read()`'s, kept."""
        return (await self._entry(country, tenant_id, read))[1]

    async def _entry(
        self,
        country: str | None,
        tenant_id: str | None,
        read: Callable[[], Awaitable[tuple[TaxRate, ...]]],
    ) -> tuple[tuple[TaxRate, ...], TaxTable]:
        async def load() -> tuple[tuple[TaxRate, ...], TaxTable]:
            rates = await read()
            return rates, TaxTable(rates)

        return await self._kept.get_or_load((country, tenant_id), load)

    def clear(self) -> None:
        self._kept.clear()


class SqlRules:
    """The RulesStore port on the unit of work's transaction."""

    def __init__(self, tx: Transaction, cache: TaxRatesCache | None = None) -> None:
        self._tx = tx
        self._cache = cache
        #: This unit changed a rate: it reads its own (uncommitted) rows past the shared
        #: cache, and never puts them there for other units to see (ADR 0044 §4).
        self._changed_rates = False

    async def tax_rates(
        self, country: str | None = None, *, tenant_id: str | None = None
    ) -> list[TaxRate]:
        cache = self._cache
        if cache is not None and not self._changed_rates:
            return list(await cache.read_once(country, tenant_id, self._reader(country, tenant_id)))
        return await self._read_tax_rates(country, tenant_id)

    async def tax_table(
        self, country: str | None = None, *, tenant_id: str | None = None
    ) -> TaxTable:
        cache = self._cache
        if cache is None or self._changed_rates:
            return TaxTable(await self._read_tax_rates(country, tenant_id))
        return await cache.read_table_once(country, tenant_id, self._reader(country, tenant_id))

    def _reader(
        self, country: str | None, tenant_id: str | None
    ) -> Callable[[], Awaitable[tuple[TaxRate, ...]]]:
        """What the shared cache calls on a miss: the committed rows of (country, tenant)."""

        async def read() -> tuple[TaxRate, ...]:
            return tuple(await self._read_tax_rates(country, tenant_id))

        return read

    async def _read_tax_rates(self, country: str | None, tenant_id: str | None) -> list[TaxRate]:
        t = tax_rates
        tenants = [DEFAULT_RATES_TENANT]
        if tenant_id is not None and tenant_id != DEFAULT_RATES_TENANT:
            tenants.append(tenant_id)
        query = select(t).where(t.c.tenant_id.in_(tenants))
        if country is not None:
            query = query.where(t.c.country == country)
        result = await self._tx.execute(query)
        defaults: list[TaxRate] = []
        own: list[TaxRate] = []
        for row in result.all():
            rate = TaxRate(
                country=row.country,
                tax_type=row.tax_type,
                direction=row.direction,
                saft_code=row.saft_code,
                rate=row.rate,
                account=row.account,
                valid_from=row.valid_from,
                valid_to=row.valid_to,
            )
            (defaults if row.tenant_id == DEFAULT_RATES_TENANT else own).append(rate)
        return overlay_rates(defaults, own)

    async def put_tax_rate(self, rate: TaxRate, *, tenant_id: str | None = None) -> None:
        self._changed_rates = True
        if self._cache is not None:
            self._cache.clear()
        t = tax_rates
        tenant = DEFAULT_RATES_TENANT if tenant_id is None else tenant_id
        values = {
            "tax_type": rate.tax_type,
            "direction": rate.direction,
            "rate": rate.rate,
            "account": rate.account,
            "valid_to": rate.valid_to,
        }
        key = and_(
            t.c.tenant_id == tenant,
            t.c.country == rate.country,
            t.c.saft_code == rate.saft_code,
            t.c.valid_from == rate.valid_from,
        )
        result = await self._tx.execute(update(t).where(key).values(**values))
        if not result.rowcount:
            await self._tx.execute(
                insert(t).values(
                    tenant_id=tenant,
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

    async def periods(
        self, tenant_id: str, kind: str | None = None, *, lock_for: PeriodLock | None = None
    ) -> list[FiscalPeriod]:
        """The tenant's periods; `lock_for` "posting": under the shared period lock first
        (as `closed_period_on`), so that a batch posting cannot race a close; "closing":
        under the exclusive one (as `add_period`), so that two closes of overlapping
        periods cannot both pass the overlap check (ADR 0040 §3)."""
        if lock_for is not None:
            await self._lock_periods(tenant_id, exclusive=lock_for == "closing")
        p = fiscal_periods
        query = select(p).where(p.c.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(p.c.kind == kind)
        result = await self._tx.execute(query.order_by(p.c.start_date, p.c.kind))
        return [_period(row) for row in result.all()]

    async def _lock_periods(self, tenant_id: str, *, exclusive: bool) -> None:
        """Take the tenant's period lock until the transaction ends (PostgreSQL)."""
        if self._tx.dialect == "postgresql":
            lock = _LOCK_EXCLUSIVE if exclusive else _LOCK_SHARED
            await self._tx.execute(lock, {"key": period_lock_key(tenant_id)})

    async def closed_period_on(self, tenant_id: str, day: dt.date) -> FiscalPeriod | None:
        await self._lock_periods(tenant_id, exclusive=False)
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

    async def closed_periods(self, tenant_ids: Sequence[str]) -> dict[str, list[FiscalPeriod]]:
        """Every tenant's period lock shared in one statement (keys in one order, so two
        such units never wait on each other crosswise), then their periods in a second one,
        whose snapshot is taken after the locks (see the module docstring)."""
        tenants = sorted(set(tenant_ids))
        found: dict[str, list[FiscalPeriod]] = {tenant: [] for tenant in tenant_ids}
        if not tenants:
            return found
        hot = _period_statements(self._tx.dialect)
        if hot.lock is not None:
            keys = sorted({period_lock_key(tenant) for tenant in tenants})
            await self._tx.rows(hot.lock, {"keys": keys})
        for row in await self._tx.rows(hot.closed, {"tenants": tenants}):
            tenant_id, kind, name, start, end, closed_by, closed_at = row
            found[tenant_id].append(
                FiscalPeriod(
                    tenant_id=tenant_id,
                    kind=kind,
                    name=name,
                    start=start,
                    end=end,
                    closed_by=closed_by,
                    closed_at=closed_at,
                )
            )
        return found

    async def add_period(self, period: FiscalPeriod) -> bool:
        await self._lock_periods(period.tenant_id, exclusive=True)
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
        await self._lock_periods(tenant_id, exclusive=True)
        p = fiscal_periods
        result = await self._tx.execute(
            delete(p).where(p.c.tenant_id == tenant_id, p.c.kind == kind, p.c.start_date == start)
        )
        return bool(result.rowcount)


class _PeriodStatements:
    """`closed_periods`' statements, on psycopg's raw cursor on PostgreSQL (session.Hot):
    the executor runs them in every group record. SQLite runs them through SQLAlchemy."""

    def __init__(self, dialect: str) -> None:
        p = fiscal_periods
        columns = [p.c.tenant_id, p.c.kind, p.c.name, p.c.start_date, p.c.end_date]
        columns += [p.c.closed_by, p.c.closed_at]
        self.lock: Hot | None = None
        if dialect == "postgresql":
            compile_for = hot_dialect(dialect)
            self.lock = Hot(_LOCK_SHARED_MANY, compile_for)
            tenants = any_(cast(bindparam("tenants"), postgresql.ARRAY(p.c.tenant_id.type)))
            self.closed = Hot(
                select(*columns).where(p.c.tenant_id == tenants).order_by(p.c.start_date, p.c.kind),
                compile_for,
            )
        else:
            self.closed = Hot(
                select(*columns)
                .where(p.c.tenant_id.in_(bindparam("tenants", expanding=True)))
                .order_by(p.c.start_date, p.c.kind),
                None,
            )


@cache
def _period_statements(dialect: str) -> _PeriodStatements:
    return _PeriodStatements(dialect)


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
