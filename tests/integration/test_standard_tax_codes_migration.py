"""Migration 0023 on SQLite and PostgreSQL: the standard codes 7, 20 and 51 are stored
default rates (ADR 0047 addendum 3), so the compliance context of a SQL store finds an
entry under them valid; down past 0023 removes exactly its rows, up writes them once."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import select

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.database import alembic_config
from bookkeeper.adapters.sql.schema import tax_rates
from bookkeeper.application.tax_rates import read_tax_table
from bookkeeper.domain.events import JournalEntryPostedData, JournalLine
from bookkeeper.domain.rules import DEFAULT_RATES_TENANT, NORWAY, compliance_findings

CODES = ("20", "51", "7")


async def _stored(database: SqlDatabase) -> list[tuple[str, dt.date, str | None, Decimal]]:
    t = tax_rates
    async with database.uow_factory()() as uow:
        result = await uow.execute(
            select(t.c.saft_code, t.c.valid_from, t.c.direction, t.c.rate)
            .where(
                t.c.tenant_id == DEFAULT_RATES_TENANT,
                t.c.country == NORWAY,
                t.c.saft_code.in_(CODES),
            )
            .order_by(t.c.saft_code, t.c.valid_from)
        )
        return [tuple(row) for row in result.all()]  # type: ignore[misc]


async def test_the_codes_are_stored_and_an_entry_under_them_is_valid(
    sql_database: SqlDatabase, request: pytest.FixtureRequest
) -> None:
    since = dt.date(2005, 1, 1)
    written = [
        ("20", since, None, Decimal("0")),
        ("51", since, "output", Decimal("0")),
        ("7", since, None, Decimal("0")),
    ]
    assert await _stored(sql_database) == written
    table = await read_tax_table(sql_database.uow_factory(), "a-new-tenant")
    sale = JournalEntryPostedData(
        date=dt.date(2026, 3, 1),
        description="Fiken salg",
        lines=(
            JournalLine(account="1500", debit=Decimal("700")),
            JournalLine(account="3100", credit=Decimal("500"), vat_code="51", vat_part="base"),
            JournalLine(account="3900", credit=Decimal("200"), vat_code="7", vat_part="base"),
        ),
    )
    assert compliance_findings(sale, table=table) == []

    url = request.getfixturevalue(
        "postgres_url" if sql_database.dialect == "postgresql" else "sqlite_url"
    )
    config = alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0022")
    assert await _stored(sql_database) == []
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.upgrade, config, "head")  # nothing left to do
    assert await _stored(sql_database) == written
