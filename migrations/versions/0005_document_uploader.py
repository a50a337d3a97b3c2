"""Who uploaded a document, and who endorsed a proposal (ABAC in the handlers).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

* `documents.uploaded_by`: the actor who first uploaded the file, so that nobody approves a
  proposal whose document they uploaded. NULL for the files stored before this revision
  (their uploader is unknown; the rule cannot apply to them).
* `proposals.endorsed_by`: the projection of the first of two required approvals
  (`…Endorsed`); rebuilt by `bookkeeper replay` like every projection column.

Both columns are nullable, so the upgrade is a metadata change on PostgreSQL and an
`ALTER TABLE … ADD COLUMN` on SQLite: no table is rewritten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("uploaded_by", sa.Text(), nullable=True))
    op.add_column("proposals", sa.Column("endorsed_by", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite ≥ 3.35): batch mode would rebuild `proposals`, which the
    # BI view of 0003 refers to, and SQLite refuses to rename a table under a view.
    op.drop_column("proposals", "endorsed_by")
    op.drop_column("documents", "uploaded_by")
