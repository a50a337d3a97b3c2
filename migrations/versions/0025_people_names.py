"""Learnt names outlive the process (ADR 0017 addendum).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

What a person is called where people read (a sign-in's name claim, a Discord display name)
was learnt in memory per process: lost at a restart, and a replica that never saw the
person showed the login. `people_names` keeps the latest name per (tenant, subject) — a
subject is a name within its tenant — and when it was learnt, which orders the bounded
read each process makes (`ix_people_names_learnt_at`). Not in the event log: a name
changes, attribution must not (the events keep the principal).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people_names",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("learnt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "subject", name="pk_people_names"),
    )
    op.create_index("ix_people_names_learnt_at", "people_names", ["learnt_at"])


def downgrade() -> None:
    op.drop_index("ix_people_names_learnt_at", table_name="people_names")
    op.drop_table("people_names")
