"""What the propose path saves on SQL (ADR 0039), and that it still sees what it must:

* the tax rates are served from a short-lived cache shared by the database's units of
  work, forgotten when this process changes one, and the TaxTable of a cache entry is
  built once;
* a pooled connection handed back a moment ago is checked out without a ping, one idle
  longer is pinged, and a pool whose connections were killed while idle heals at checkout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql import database as database_module
from bookkeeper.adapters.sql.rules import TAX_RATES_TTL_SECONDS, TaxRatesCache
from bookkeeper.adapters.sql.schema import tax_rates
from bookkeeper.adapters.sql.session import positional
from bookkeeper.application.errors import StorageUnavailable
from bookkeeper.domain.rules import NORWAY, TaxRate, TaxTable, valid_vat_rates

EXTRA = TaxRate(
    country=NORWAY,
    tax_type="regular",
    direction="input",
    saft_code="99",
    rate=Decimal("7"),
    account="2710",
    valid_from=dt.date(2031, 1, 1),
)


class Monotonic:
    """A stand-in for a module's `time` whose `monotonic()` moves only when told: the
    cache's and the pool's windows are measured on it, so a busy machine's pauses between
    two statements cannot make "a moment ago" look like "long ago"."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def _codes(database: SqlDatabase) -> set[str]:
    async with database.uow_factory()() as uow:
        return {rate.saft_code for rate in await uow.rules.tax_rates(NORWAY)}


async def test_tax_rates_are_cached_and_forgotten_when_this_process_changes_one(
    sql_database: SqlDatabase,
) -> None:
    before = await _codes(sql_database)
    assert before and "99" not in before
    # Changed behind the cache's back (another process): not seen before the TTL ends.
    async with sql_database.uow_factory()() as uow:
        await uow.execute(delete(tax_rates).where(tax_rates.c.country == NORWAY))
        await uow.commit()
    assert await _codes(sql_database) == before
    sql_database.tax_rates_cache.clear()
    assert await _codes(sql_database) == set()  # the store alone (migration 0021)
    # Changed through this process: seen at once.
    async with sql_database.uow_factory()() as uow:
        await uow.rules.put_tax_rate(EXTRA)
        await uow.commit()
    assert await _codes(sql_database) == {"99"}


async def test_a_tenants_own_rate_is_cached_for_that_tenant_only(
    sql_database: SqlDatabase,
) -> None:
    """The cache is per (country, tenant) since tax rates are per tenant (ADR 0040 §1): a
    tenant's own rate, read through the cache, never reaches another tenant's proposals."""

    async def codes(tenant: str) -> set[str]:
        async with sql_database.uow_factory()() as uow:
            rates = await uow.rules.tax_rates(NORWAY, tenant_id=tenant)
        return {rate.saft_code for rate in rates}

    defaults = await codes("globex")  # cached for globex before acme has a rate of its own
    async with sql_database.uow_factory()() as uow:
        await uow.rules.put_tax_rate(EXTRA, tenant_id="acme")
        await uow.commit()
    assert "99" in await codes("acme")
    assert await codes("acme") == defaults | {"99"}  # served from the cache now
    assert await codes("globex") == defaults
    assert "99" not in await codes("globex")


async def test_a_units_uncommitted_rate_never_reaches_the_shared_cache(
    sql_database: SqlDatabase,
) -> None:
    """ADR 0044 §4: a unit that changed a rate reads its own rows past the shared cache and
    does not put them there: when it rolls back, no other unit is served its rate."""
    before = await _codes(sql_database)
    async with sql_database.uow_factory()() as uow:
        await uow.rules.put_tax_rate(EXTRA)
        assert "99" in {rate.saft_code for rate in await uow.rules.tax_rates(NORWAY)}
        # Leaves without commit: rolled back.
    assert await _codes(sql_database) == before
    assert "99" not in await _codes(sql_database)  # also when served from the cache


async def test_the_tax_rates_cache_expires(sql_database: SqlDatabase) -> None:
    clock = Monotonic()
    sql_database.tax_rates_cache = TaxRatesCache(clock=clock.monotonic)
    before = await _codes(sql_database)
    async with sql_database.uow_factory()() as uow:
        await uow.execute(delete(tax_rates).where(tax_rates.c.country == NORWAY))
        await uow.commit()
    clock.advance(TAX_RATES_TTL_SECONDS - 0.1)
    assert await _codes(sql_database) == before  # another process's change: not seen yet
    clock.advance(0.2)
    assert await _codes(sql_database) == set()  # the store alone (migration 0021)


async def test_the_tax_table_is_built_once_per_cache_entry(sql_database: SqlDatabase) -> None:
    """A dated proposal reads its tenant's TaxTable (RulesStore.tax_table): while the rates
    are cached, every unit gets the one table built of them (its remembered lookups
    shared), and a change through this process, the cache's expiry or a unit's own
    uncommitted rate gets a table of the rows then in force."""
    clock = Monotonic()
    sql_database.tax_rates_cache = TaxRatesCache(clock=clock.monotonic)

    async def table(tenant: str = "acme") -> TaxTable:
        async with sql_database.uow_factory()() as uow:
            return await uow.rules.tax_table(NORWAY, tenant_id=tenant)

    await table()  # the first read fills the cache
    first = await table()
    assert await table() is first
    assert await table("globex") is not first
    assert valid_vat_rates(first, dt.date(2031, 1, 1)) == valid_vat_rates(
        first, dt.date(2031, 1, 1)
    )
    assert Decimal("7") not in (valid_vat_rates(first, dt.date(2031, 1, 1)) or ())
    async with sql_database.uow_factory()() as uow:
        await uow.rules.put_tax_rate(EXTRA, tenant_id="acme")
        own = await uow.rules.tax_table(NORWAY, tenant_id="acme")
        assert "99" in {r.saft_code for r in own.rates}  # its own rows, past the cache
        await uow.commit()
    changed = await table()
    assert changed is not first and "99" in {r.saft_code for r in changed.rates}
    assert Decimal("7") in (valid_vat_rates(changed, dt.date(2031, 1, 1)) or ())
    assert await table() is changed
    clock.advance(TAX_RATES_TTL_SECONDS + 0.1)
    await table()  # the expired entry is read again
    assert await table() is not changed


def _backend_pids(url: str) -> list[int]:
    name = make_url(url).database
    with psycopg.connect(
        make_url(url).set(database="postgres").render_as_string(False), autocommit=True
    ) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
        return [pid for (pid,) in rows]


def _terminate(url: str) -> None:
    with psycopg.connect(
        make_url(url).set(database="postgres").render_as_string(False), autocommit=True
    ) as admin:
        for pid in _backend_pids(url):
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def _pings(database: SqlDatabase) -> list[Any]:
    """Counts the pings the dialect sends from now on."""
    dialect: Any = database.engine.sync_engine.dialect
    seen: list[Any] = []
    original = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        seen.append(dbapi_connection)
        return bool(original(dbapi_connection))

    dialect.do_ping = counted
    return seen


@pytest.mark.postgres
async def test_a_connection_back_a_moment_ago_is_not_pinged_an_idle_one_is(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Monotonic()
    monkeypatch.setattr(database_module, "time", clock)
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    try:
        pings = await _pings(database)
        for _ in range(5):
            assert await _codes(database)
            clock.advance(database_module.PING_BYPASS_SECONDS - 0.1)
        assert pings == []  # fresh, then back within the window each time
        clock.advance(0.2)  # idle past the window
        assert await _codes(database)
        assert len(pings) == 1
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_connections_killed_while_idle_are_replaced_at_checkout(
    postgres_url: str,
) -> None:
    database = SqlDatabase(postgres_url, pool_size=2, max_overflow=0)
    try:
        async with database.uow_factory()() as uow:
            assert await uow.events.read_all(limit=1) == []
        before = set(_backend_pids(postgres_url))
        assert before
        await asyncio.to_thread(_terminate, postgres_url)
        await asyncio.sleep(0.6)  # idle past the window: pinged, found dead, replaced
        async with database.uow_factory()() as uow:
            assert await uow.events.read_all(limit=1) == []
        assert not before & set(_backend_pids(postgres_url))
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_after_one_lost_connection_the_others_back_a_moment_ago_are_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart (here: every backend terminated) while the pool's connections are back
    within the ping window: the first unit meets a dead connection on the hot path (503);
    then every other pooled connection is pinged at checkout, so the next units each get a
    live one — not one 503 per pooled connection (ADR 0021 addendum)."""
    clock = Monotonic()
    monkeypatch.setattr(database_module, "time", clock)
    database = SqlDatabase(postgres_url, pool_size=4, max_overflow=0)
    factory = database.uow_factory()

    async def same_file() -> None:
        async with factory() as uow:  # a hot statement: psycopg's raw cursor
            await uow.proposals.same_document("acme", "0" * 64, uuid.uuid4())
            await asyncio.sleep(0.05)  # all four held at once: four pooled connections

    try:
        await asyncio.gather(*(same_file() for _ in range(4)))
        await asyncio.to_thread(_terminate, postgres_url)
        with pytest.raises(StorageUnavailable):
            await same_file()
        for _ in range(3):  # within the window still (the clock has not moved)
            await same_file()
    finally:
        await database.dispose()


def test_hot_sql_becomes_postgres_positional_form_once() -> None:
    """A hot statement runs on psycopg's raw cursor (ADR 0039): `%(name)s` becomes `$n`,
    one number per distinct name in order of first use, and `%%` is a percent sign again."""
    sql, names = positional(
        "SELECT a FROM t WHERE x = %(x)s AND y LIKE 'a%%' AND z = %(x)s OR w = %(w_1)s"
    )
    assert sql == "SELECT a FROM t WHERE x = $1 AND y LIKE 'a%' AND z = $1 OR w = $2"
    assert names == ("x", "w_1")
    assert positional("SELECT 1") == ("SELECT 1", ())
