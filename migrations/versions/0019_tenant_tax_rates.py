"""Tax rates per tenant (the shipped defaults and each tenant's own rows of a code), and
the cost snapshot projection.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

ADR 0040. Until now `tax_rates` was one table for every tenant, and any tenant's admin
changing a rate changed it for all. The table gains `tenant_id` in its primary key: the
rows there were (Norway's rates, seeded by 0016) stay as the shipped defaults under
tenant_id '' — every tenant's fallback — and a tenant admin's change writes the tenant's
own rows of that code. The table is rebuilt (create, copy, drop, rename) so that SQLite
and PostgreSQL take the same steps; it is a few dozen rows.

ADR 0040 §6: `cost_snapshots` keeps the latest figure of every cost snapshot stream with
its UTC day, indexed by (tenant, day), so the cost report reads its days' rows instead of
folding every snapshot event since its first day. It is filled here from the log (the
latest version of each CostSnapshotRecorded/Revised stream, as the bi_costs_daily view of
0015 selects them) and then kept by the spending service in the unit that appends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
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


_SNAPSHOT_TYPES = ("CostSnapshotRecorded", "CostSnapshotRevised")


def upgrade() -> None:
    _tenant_tax_rates()
    _cost_snapshots()


def _tenant_tax_rates() -> None:
    _table("tax_rates_0022", tenant=True)
    op.execute(
        f"INSERT INTO tax_rates_0022 (tenant_id, {_COLUMNS}) SELECT '', {_COLUMNS} FROM tax_rates"
    )
    op.drop_table("tax_rates")
    op.rename_table("tax_rates_0022", "tax_rates")


def _cost_snapshots() -> None:
    op.create_table(
        "cost_snapshots",
        sa.Column("tenant_id", sa.Text(), primary_key=True),
        sa.Column("stream_id", sa.Uuid(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    )
    op.create_index("ix_cost_snapshots_day", "cost_snapshots", ["tenant_id", "day"])
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "(e.data ->> 'day')::date" if postgres else "date(json_extract(e.data, '$.day'))"
    types = ", ".join(f"'{t}'" for t in _SNAPSHOT_TYPES)
    op.execute(
        "INSERT INTO cost_snapshots "
        "(tenant_id, stream_id, day, version, recorded_at, schema_version, data) "
        f"SELECT e.tenant_id, e.stream_id, {day}, e.version, e.created_at, e.schema_version, "
        f"e.data FROM events e WHERE e.type IN ({types}) AND e.version = "
        "(SELECT MAX(l.version) FROM events l WHERE l.stream_id = e.stream_id "
        "AND l.tenant_id = e.tenant_id)"
    )


def downgrade() -> None:
    op.drop_index("ix_cost_snapshots_day", table_name="cost_snapshots")
    op.drop_table("cost_snapshots")
    _table("tax_rates_0016", tenant=False)
    op.execute(
        f"INSERT INTO tax_rates_0016 ({_COLUMNS}) SELECT {_COLUMNS} FROM tax_rates "
        "WHERE tenant_id = ''"
    )
    op.drop_table("tax_rates")
    op.rename_table("tax_rates_0016", "tax_rates")
