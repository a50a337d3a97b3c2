"""Migration 0021 on SQLite and PostgreSQL: the import-of-goods codes 14, 15, 21–23 are
stored default rates (ADR 0047 addendum), so the store alone says which rates there are
— a code deleted there stays deleted — and the migration writes a code only where the
defaults have none of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from sqlalchemy import delete, select

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.database import alembic_config
from bookkeeper.adapters.sql.schema import tax_rates
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.rules import (
    DEFAULT_RATES_TENANT,
    IMPORT_BASIS_CODES,
    IMPORT_VAT_CODES,
    NORWAY,
    NORWAY_TAX_RATES,
    TaxRate,
)
from tests.http_helpers import FixedClock

IMPORT_CODES = IMPORT_VAT_CODES | IMPORT_BASIS_CODES


def _migration(name: str) -> ModuleType:
    [path] = Path(__file__).parents[2].glob(f"migrations/versions/{name}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(module: ModuleType) -> set[TaxRate]:
    return {
        TaxRate(
            country=NORWAY,
            tax_type=tax_type,
            direction=direction,
            saft_code=code,
            rate=None if rate is None else Decimal(rate),
            account=account,
            valid_from=start,
            valid_to=end,
        )
        for code, tax_type, direction, rate, start, end, account in module.RATES
    }


def test_migrations_0016_0021_and_0023_write_the_seed_the_memory_store_serves() -> None:
    """The SQL store's defaults are the same rows as the in-memory one's (the seed); 0023
    wrote the standard codes 7, 20 and 51 (ADR 0047 addendum 3)."""
    first, imports = _migration("0016_*.py"), _migration("0021_*.py")
    standard = _migration("0023_*.py")
    assert {r.saft_code for r in _rows(imports)} == IMPORT_CODES
    assert {r.saft_code for r in _rows(standard)} == {"7", "20", "51"}
    assert _rows(first) | _rows(imports) | _rows(standard) == set(NORWAY_TAX_RATES)
    assert len(first.RATES) + len(imports.RATES) + len(standard.RATES) == len(NORWAY_TAX_RATES)


async def _stored(
    database: SqlDatabase,
) -> dict[str, list[tuple[dt.date, dt.date | None, Decimal]]]:
    """The default rows of the import codes as stored: code → (from, to, rate)."""
    t = tax_rates
    async with database.uow_factory()() as uow:
        result = await uow.execute(
            select(t.c.saft_code, t.c.valid_from, t.c.valid_to, t.c.rate)
            .where(
                t.c.tenant_id == DEFAULT_RATES_TENANT,
                t.c.country == NORWAY,
                t.c.saft_code.in_(IMPORT_CODES),
            )
            .order_by(t.c.saft_code, t.c.valid_from)
        )
        rows = result.all()
    found: dict[str, list[tuple[dt.date, dt.date | None, Decimal]]] = {}
    for code, start, end, rate in rows:
        found.setdefault(code, []).append((start, end, rate))
    return found


async def _codes(database: SqlDatabase, tenant: str) -> set[str]:
    database.tax_rates_cache.clear()
    async with database.uow_factory()() as uow:
        return {r.saft_code for r in await uow.rules.tax_rates(NORWAY, tenant_id=tenant)}


async def test_the_import_codes_are_stored_defaults_and_a_deleted_one_stays_deleted(
    sql_database: SqlDatabase,
) -> None:
    """The rows are in the table (they came from code before), every tenant — one that
    never changed a rate too — reads them, and a code deleted from the defaults is gone
    for every tenant without rows of its own (it came back from code before)."""
    stored = await _stored(sql_database)
    assert set(stored) == IMPORT_CODES
    assert stored["14"] == [(dt.date(2005, 1, 1), None, Decimal("25"))]
    assert stored["15"] == [(dt.date(2012, 1, 1), None, Decimal("15"))]
    assert stored["23"] == [(dt.date(2005, 1, 1), None, Decimal("0"))]
    assert await _codes(sql_database, "a-new-tenant") >= IMPORT_CODES
    async with sql_database.uow_factory()() as uow:
        await uow.execute(
            delete(tax_rates).where(
                tax_rates.c.tenant_id == DEFAULT_RATES_TENANT, tax_rates.c.saft_code == "14"
            )
        )
        await uow.commit()
    assert "14" not in await _codes(sql_database, "a-new-tenant")
    assert "15" in await _codes(sql_database, "a-new-tenant")


async def test_the_migration_writes_a_code_only_where_the_defaults_have_none_of_it(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    """Down past 0021 and up again: a code the operator changed since (its rows are the
    store's now) keeps exactly its history; a deleted one is written again (the
    migration's rows, once); the others are there once."""
    rules = RulesService(sql_database.uow_factory(), FixedClock(), RoleAuthorizer())
    await rules.change_default_tax_rate(
        saft_code="14", rate=Decimal("20"), valid_from=dt.date(2030, 1, 1)
    )
    changed = await _stored(sql_database)
    assert changed["14"] == [
        (dt.date(2005, 1, 1), dt.date(2029, 12, 31), Decimal("25")),
        (dt.date(2030, 1, 1), None, Decimal("20")),
    ]
    async with sql_database.uow_factory()() as uow:
        await uow.execute(
            delete(tax_rates).where(
                tax_rates.c.tenant_id == DEFAULT_RATES_TENANT, tax_rates.c.saft_code == "21"
            )
        )
        await uow.commit()
    url = request.getfixturevalue(
        "postgres_url" if sql_database.dialect == "postgresql" else "sqlite_url"
    )
    config = alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0020")
    down = await _stored(sql_database)
    # Only the migration's own rows went: code 14's are the store's since its change.
    assert down == {"14": changed["14"]}
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.upgrade, config, "head")  # nothing left to do
    up = await _stored(sql_database)
    assert up == changed
    assert up["21"] == [(dt.date(2005, 1, 1), None, Decimal("25"))]
