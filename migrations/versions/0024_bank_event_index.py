"""An index on the bank event a receipt or correction names (ADR 0051 addendum, one bank
payment booked once).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

Approving a receipt, and executing it, asks which other proposals hold the Folio event it
names. Without an index that read walked every approved and executed receipt of the tenant
(it grows with the books, against issue 14's bounded reads). `ix_proposals_bank_event` is
(tenant, the event the row names — a correction's changed event, else the receipt's
corrected or own `folioEventId` — then the read's order); the event is the very expression
`SqlProposals.bank_event_claims` compares (`bank_event_sql`, imported here so that the two
stay the same).
"""

from __future__ import annotations

from alembic import op

from bookkeeper.adapters.sql.proposals import bank_event_sql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    expression = bank_event_sql(op.get_bind().dialect.name)
    # Ending in the read's order (first proposed first), so that it is one walk on both
    # engines (SQLite would otherwise take the index that gives the order).
    op.execute(
        "CREATE INDEX ix_proposals_bank_event "
        f"ON proposals (tenant_id, ({expression}), proposed_at, id)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_proposals_bank_event")
