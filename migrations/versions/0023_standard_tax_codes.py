"""The standard tax codes 7, 20 and 51 as stored default rates.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

ADR 0047 addendum 3. Skatteetaten's standard tax codes (Standard_Tax_Codes.csv) that had
no rate row: 7 (income with no VAT treatment) and 20 (the cost of imported goods with no
VAT treatment), rate 0 and in no return, as 0 is for purchases; 51 (a domestic sale under
reverse charge: the seller reports its basis at the zero rate). Without a row the
compliance context found every entry under one of them "not valid" — every Fiken sale
with vatType NONE (7) or EXEMPT_REVERSE (51). The reverse-charge codes 81–85 need no row:
they are calculated at their tax type's output code's rate (3, 31, 5), as 86–89 are.

Written as 0021 wrote its codes: under the defaults' tenant '', a code only when the
defaults have no row of it in Norway (idempotent; a code changed with `bookkeeper rules
set-rate --defaults` keeps its stored history). The rows are written out here, so this
revision never changes when the code does. Downgrade removes the rows as written here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_2005 = dt.date(2005, 1, 1)
#: (code, tax type, direction, rate, valid from, valid to, input VAT account)
RATES: Final = (
    ("7", "none", None, "0", _2005, None, None),
    ("20", "none", None, "0", _2005, None, None),
    ("51", "zero", "output", "0", _2005, None, None),
)
CODES: Final = tuple(sorted({code for code, *_ in RATES}))

_tax_rates = sa.table(
    "tax_rates",
    sa.column("tenant_id", sa.Text),
    sa.column("country", sa.Text),
    sa.column("saft_code", sa.Text),
    sa.column("valid_from", sa.Date),
    sa.column("valid_to", sa.Date),
    sa.column("tax_type", sa.Text),
    sa.column("direction", sa.Text),
    sa.column("rate"),  # as given: hundredths on SQLite, a Decimal on PostgreSQL
    sa.column("account", sa.Text),
)


def _stored(rate: str) -> object:
    """A rate as the column stores it: hundredths as an integer on SQLite (0016)."""
    if op.get_bind().dialect.name == "sqlite":
        return int(Decimal(rate) * 100)
    return Decimal(rate)


def upgrade() -> None:
    t = _tax_rates
    stored = op.get_bind().execute(
        sa.select(t.c.saft_code)
        .where(t.c.tenant_id == "", t.c.country == "NO", t.c.saft_code.in_(CODES))
        .distinct()
    )
    present = {row.saft_code for row in stored}
    rows = [
        {
            "tenant_id": "",
            "country": "NO",
            "saft_code": code,
            "tax_type": tax_type,
            "direction": direction,
            "rate": _stored(rate),
            "valid_from": start,
            "valid_to": end,
            "account": account,
        }
        for code, tax_type, direction, rate, start, end, account in RATES
        if code not in present
    ]
    if rows:
        op.bulk_insert(t, rows)


def downgrade() -> None:
    t = _tax_rates
    for code, tax_type, direction, rate, start, end, account in RATES:
        op.execute(
            sa.delete(t).where(
                t.c.tenant_id == "",
                t.c.country == "NO",
                t.c.saft_code == code,
                t.c.valid_from == start,
                t.c.valid_to.is_(None) if end is None else t.c.valid_to == end,
                t.c.tax_type == tax_type,
                t.c.direction.is_(None) if direction is None else t.c.direction == direction,
                t.c.rate == _stored(rate),
                t.c.account.is_(None) if account is None else t.c.account == account,
            )
        )
