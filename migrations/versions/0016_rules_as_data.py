"""Rules as data: currencies, countries, tax rates by validity, closed periods; grants.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

Issue 12 (ADR 0029). `tax_rates` holds Norway's VAT rates with their history (the rows are
written out here, so this revision never changes when the code does; they equal
bookkeeper.domain.rules.NORWAY_TAX_RATES today). `currencies` and `countries` are seeded
from Babel's CLDR data (ISO 4217 codes with their minor units). `fiscal_periods` holds each
tenant's closed periods and locked VAT terms. Rates are stored as the ledger stores
amounts: NUMERIC(6, 2) on PostgreSQL, hundredths as an integer on SQLite.

Grants (as 0012 seeds them): `rules:read` for admin, accountant and reviewer; `rules:manage`
(tax rates, review rules, reopening a period) for admin; `periods:close` (closing a period,
locking a VAT term) for admin and accountant; the compliance context's own role
`compliance` may read and propose (its reversals are reviewed like any other proposal).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

GRANTS: Final = (
    ("admin", "rules", "read"),
    ("accountant", "rules", "read"),
    ("reviewer", "rules", "read"),
    ("admin", "rules", "manage"),
    ("admin", "periods", "close"),
    ("accountant", "periods", "close"),
    ("compliance", "events", "propose"),
    ("compliance", "events", "read"),
    ("compliance", "proposals", "read"),
    ("compliance", "reports", "read"),
)

_2005 = dt.date(2005, 1, 1)
_2012 = dt.date(2012, 1, 1)
#: (code, tax type, direction, rate, valid from, valid to, input VAT account)
RATES: Final = (
    ("0", "none", None, "0", _2005, None, None),
    ("1", "regular", "input", "25", _2005, None, "2710"),
    ("11", "middle", "input", "15", _2012, None, "2711"),
    ("12", "raw-fish", "input", "11.11", _2005, None, "2712"),
    ("3", "regular", "output", "25", _2005, None, None),
    ("31", "middle", "output", "15", _2012, None, None),
    ("32", "raw-fish", "output", "11.11", _2005, None, None),
    ("5", "zero", "output", "0", _2005, None, None),
    ("52", "zero", "output", "0", _2005, None, None),
    ("6", "none", None, None, _2005, None, None),
    ("13", "low", "input", "10", dt.date(2016, 1, 1), dt.date(2017, 12, 31), "2713"),
    ("33", "low", "output", "10", dt.date(2016, 1, 1), dt.date(2017, 12, 31), None),
    ("13", "low", "input", "12", dt.date(2018, 1, 1), dt.date(2020, 3, 31), "2713"),
    ("33", "low", "output", "12", dt.date(2018, 1, 1), dt.date(2020, 3, 31), None),
    ("13", "low", "input", "6", dt.date(2020, 4, 1), dt.date(2021, 9, 30), "2713"),
    ("33", "low", "output", "6", dt.date(2020, 4, 1), dt.date(2021, 9, 30), None),
    ("13", "low", "input", "12", dt.date(2021, 10, 1), None, "2713"),
    ("33", "low", "output", "12", dt.date(2021, 10, 1), None, None),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    currencies = op.create_table(
        "currencies",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("minor_units", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("minor_units BETWEEN 0 AND 6", name="ck_currencies_minor_units"),
    )
    countries = op.create_table(
        "countries",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=True),
    )
    rates = op.create_table(
        "tax_rates",
        sa.Column("country", sa.Text(), primary_key=True),
        sa.Column("saft_code", sa.Text(), primary_key=True),
        sa.Column("valid_from", sa.Date(), primary_key=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("tax_type", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=True),
        sa.Column("rate", sa.Numeric(6, 2).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
        sa.Column("account", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name="ck_tax_rates_validity"
        ),
    )
    op.create_table(
        "fiscal_periods",
        sa.Column("tenant_id", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("start_date", sa.Date(), primary_key=True),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_date >= start_date", name="ck_fiscal_periods_dates"),
    )
    op.create_index("ix_fiscal_periods_end", "fiscal_periods", ["tenant_id", "kind", "end_date"])

    from babel import Locale, numbers

    codes = sorted(c for c in numbers.list_currencies() if len(c) == 3 and c.isalpha())
    op.bulk_insert(
        currencies,
        [
            {
                "code": code,
                "name": numbers.get_currency_name(code, locale="en"),
                "minor_units": numbers.get_currency_precision(code),
            }
            for code in codes
        ],
    )
    rows = []
    for code, name in sorted(Locale("en").territories.items()):
        if len(code) == 2 and code.isalpha():
            current = numbers.get_territory_currencies(code, tender=True)
            rows.append({"code": code, "name": name, "currency": current[0] if current else None})
    op.bulk_insert(countries, rows)

    def stored(rate: str | None) -> object:
        if rate is None:
            return None
        return int(Decimal(rate) * 100) if sqlite else Decimal(rate)

    op.bulk_insert(
        rates,
        [
            {
                "country": "NO",
                "saft_code": code,
                "tax_type": tax_type,
                "direction": direction,
                "rate": stored(rate),
                "valid_from": start,
                "valid_to": end,
                "account": account,
            }
            for code, tax_type, direction, rate, start, end, account in RATES
        ],
    )
    casbin = sa.table(
        "casbin_rule",
        sa.column("ptype", sa.String),
        sa.column("v0", sa.String),
        sa.column("v1", sa.String),
        sa.column("v2", sa.String),
        sa.column("v3", sa.String),
        sa.column("v4", sa.String),
    )
    op.bulk_insert(
        casbin,
        [
            {"ptype": "p", "v0": role, "v1": "*", "v2": obj, "v3": act, "v4": "allow"}
            for role, obj, act in GRANTS
        ],
    )


def downgrade() -> None:
    for role, obj, act in GRANTS:
        op.execute(
            sa.text(
                "DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = '*' "
                "AND v2 = :obj AND v3 = :act"
            ).bindparams(role=role, obj=obj, act=act)
        )
    op.drop_index("ix_fiscal_periods_end", table_name="fiscal_periods")
    op.drop_table("fiscal_periods")
    op.drop_table("tax_rates")
    op.drop_table("countries")
    op.drop_table("currencies")
