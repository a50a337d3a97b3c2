"""ix_proposals_document holds only the proposals that name a document.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07

Migration 0026 indexed every proposal by (tenant, the document it names), also the many
that name none (bank matches, sales, imports, bus bookings, and every receipt proposed
without its file): their entries were all (tenant, NULL), so the index grew with every
proposal and each write maintained it for nothing. Worse, on a database without column
statistics (a new deployment's first minute, ADR 0048) every index that starts with
`tenant_id` looks alike to PostgreSQL's planner and the smallest wins: the generic plans of
the duplicate probe took this one and walked all of a tenant's rows (the P1 bench's warm-up
read 55,621 rows in 252 scans through it). Now it is partial, `WHERE <the named document>
IS NOT NULL`: the readers that use it (`booked_on_sql`: the purge's listing and the
documents' DELETE trigger, and any lookup by a document's hash) compare the same
expression with `=`, which implies the predicate on PostgreSQL and on SQLite, and no
other query can use it.
"""

from __future__ import annotations

from alembic import op

from bookkeeper.adapters.sql.retention import document_hash_sql

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    named = document_hash_sql(op.get_bind().dialect.name, "")
    op.execute("DROP INDEX ix_proposals_document")
    op.execute(
        f"CREATE INDEX ix_proposals_document ON proposals (tenant_id, ({named})) "
        f"WHERE ({named}) IS NOT NULL"
    )


def downgrade() -> None:
    named = document_hash_sql(op.get_bind().dialect.name, "")
    op.execute("DROP INDEX ix_proposals_document")
    op.execute(f"CREATE INDEX ix_proposals_document ON proposals (tenant_id, ({named}))")
