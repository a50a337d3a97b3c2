"""Bounded reads on the propose path: indexes for the pattern lookup and the duplicate
probe (ADR 0032).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

* `ix_proposals_duplicate_amount` (tenant, merchant key, amount, document date, id) and
  `ix_proposals_duplicate_number` (tenant, merchant key, document number, id): a duplicate
  probe reads the nearest few look-alikes through them (each part one index walk in the
  order it wants, stopped by its LIMIT), not every earlier proposal of the merchant, and
  the planner prefers them over `ix_proposals_tenant_proposed` also before the first
  ANALYZE (every condition of the probe is on their leading columns).
* PostgreSQL: `ix_patterns_tenant_key_c` orders a tenant's keys bytewise (COLLATE "C"),
  so a key's extensions, its first word's family and its neighbours are index ranges
  whatever the database's collation. SQLite's primary key (tenant_id, merchant_key),
  BINARY collation, already serves them. (A pg_trgm GiST index was tried and left out:
  ADR 0032.)
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_index(
        "ix_proposals_duplicate_amount",
        "proposals",
        ["tenant_id", "merchant_key", "amount", "document_date", "id"],
    )
    op.create_index(
        "ix_proposals_duplicate_number",
        "proposals",
        ["tenant_id", "merchant_key", "document_number", "id"],
    )
    if dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_patterns_tenant_key_c "
            'ON patterns (tenant_id, merchant_key COLLATE "C")'
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_patterns_tenant_key_c")
    op.drop_index("ix_proposals_duplicate_number", table_name="proposals")
    op.drop_index("ix_proposals_duplicate_amount", table_name="proposals")
