"""Tracking positions: how far each subscriber of the event log has got.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

`tracking` holds one row per subscriber (a projection, a process manager, a publisher that
follows the log after commit): the position of the last event it has handled, moved by an
optimistic compare-and-set (`UPDATE … WHERE subscriber = … AND position = <expected>`), in
the transaction of the subscriber's own writes when it has any. A position is not a
projection: `bookkeeper replay` does not clear it.

No grant: the BI role of 0003 reads its three views only, not this table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking",
        sa.Column("subscriber", sa.Text(), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tracking")
