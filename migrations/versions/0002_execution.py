"""Executing approved proposals: the executor's lease, the claim index, and stored documents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

* `proposals.lease_until`: until when an executor holds the current attempt (the projection
  of ExecutionStarted.leaseUntil); a claim skips a proposal whose lease still runs.
* `ix_proposals_due`: a partial index over the APPROVED rows only, in claim order, so that
  finding due work never scans the (large, mostly EXECUTED) rest of the table.
* `documents`: receipt and invoice files, content-addressed per tenant by SHA-256 (hex), in
  the same database as the log so that a backup holds both.

Works on SQLite and PostgreSQL; the column types are written out, as in 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("proposals", sa.Column("lease_until", _timestamp(), nullable=True))
    approved = sa.text("status = 'APPROVED'")
    op.create_index(
        "ix_proposals_due",
        "proposals",
        ["updated_at", "next_attempt_at", "lease_until"],
        postgresql_where=approved,
        sqlite_where=approved,
    )
    op.create_table(
        "documents",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "content",
            sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "sha256", name="pk_documents"),
        sa.CheckConstraint("size >= 0", name="ck_documents_size"),
        sa.CheckConstraint("length(sha256) = 64", name="ck_documents_sha256"),
    )


def downgrade() -> None:
    op.drop_table("documents")
    op.drop_index("ix_proposals_due", table_name="proposals")
    # SQLite rebuilds the table to drop a column (batch mode); PostgreSQL alters it in place.
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("lease_until")
