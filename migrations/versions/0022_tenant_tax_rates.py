"""Tax rates per tenant: the shipped defaults and each tenant's own rows of a code.

Revision ID: 0022
Revises: 0016
Create Date: 2026-12-06

ADR 0040. Until now `tax_rates` was one table for every tenant, and any tenant's admin
changing a rate changed it for all. The table gains `tenant_id` in its primary key: the
rows there were (Norway's rates, seeded by 0016) stay as the shipped defaults under
tenant_id '' — every tenant's fallback — and a tenant admin's change writes the tenant's
own rows of that code. The table is rebuilt (create, copy, drop, rename) so that SQLite
and PostgreSQL take the same steps; it is a few dozen rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0016"
branch_labels = None
depends_on = None

_COLUMNS = "country, saft_code, valid_from, valid_to, tax_type, direction, rate, account"


def _table(name: str, *, tenant: bool) -> None:
    columns: list[sa.Column[object]] = []
    if tenant:
        columns.append(
            sa.Column("tenant_id", sa.Text(), primary_key=True, server_default=sa.text("''"))
        )
    op.create_table(
        name,
        *columns,
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


def upgrade() -> None:
    _table("tax_rates_0022", tenant=True)
    op.execute(
        f"INSERT INTO tax_rates_0022 (tenant_id, {_COLUMNS}) SELECT '', {_COLUMNS} FROM tax_rates"
    )
    op.drop_table("tax_rates")
    op.rename_table("tax_rates_0022", "tax_rates")


def downgrade() -> None:
    _table("tax_rates_0016", tenant=False)
    op.execute(
        f"INSERT INTO tax_rates_0016 ({_COLUMNS}) SELECT {_COLUMNS} FROM tax_rates "
        "WHERE tenant_id = ''"
    )
    op.drop_table("tax_rates")
    op.rename_table("tax_rates_0016", "tax_rates")
