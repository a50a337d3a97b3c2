"""The Fiken request gate shared by replicas: one row per token (issue 14, ADR 0035).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

`fiken_gate` holds, per Fiken token (`token_key`: a SHA-256 of the token, never the token),
the completion times of its last four requests and the time before which none may start
(a 429's Retry-After), both in seconds since the epoch on the database's clock. Only the
PostgreSQL gate (adapters/fiken/pg_gate.py) uses it, under an advisory lock per token; the
table exists on SQLite too so that both schemas stay one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fiken_gate",
        sa.Column("token_key", sa.Text(), primary_key=True),
        sa.Column(
            "stamps",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
            server_default="[]",
        ),
        sa.Column("not_before", sa.Float(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("fiken_gate")
