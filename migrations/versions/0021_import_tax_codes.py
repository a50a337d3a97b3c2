"""The import-of-goods tax codes 14, 15, 21, 22 and 23 as stored default rates.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

ADR 0047 addendum. The seed (`bookkeeper.domain.rules.NORWAY_TAX_RATES`) gained the codes
of an import of goods after 0016 wrote its rows: 14 and 15 (the import VAT paid at the
border, deducted directly) and 21, 22, 23 (the goods' cost as its basis; 23 is Fiken's
code of NONE_IMPORT_BASIS). Until now the store read them from code when it had no row
of the code, so a code deleted from `tax_rates` came back on the next read. They are
written here as the shipped defaults (tenant_id '', every tenant's fallback, as 0016's
rows became in 0019), so that a new database has them like every other shipped rate and
the store alone says which rates there are.

Idempotent: a code is written only when the defaults have no row of it in Norway (one
changed with `bookkeeper rules set-rate --defaults` keeps exactly its stored history). A
tenant's own rows of a code replace the defaults as before. The rows are written out
here, so this revision never changes when the code does. Downgrade removes the rows as
written here (a row changed since stays: it is the store's now).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_2005 = dt.date(2005, 1, 1)
_2012 = dt.date(2012, 1, 1)
#: (code, tax type, direction, rate, valid from, valid to, input VAT account)
RATES: Final = (
    ("14", "regular", "input", "25", _2005, None, "2710"),
    ("15", "middle", "input", "15", _2012, None, "2711"),
    ("21", "regular", "input", "25", _2005, None, None),
    ("22", "middle", "input", "15", _2012, None, None),
    ("23", "zero", "input", "0", _2005, None, None),
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
                t.c.direction == direction,
                t.c.rate == _stored(rate),
                t.c.account.is_(None) if account is None else t.c.account == account,
            )
        )
