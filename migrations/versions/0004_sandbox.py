"""The sandbox books and bank: their objects and files.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

When no Fiken or Folio token is configured, bookkeeper talks to an embedded sandbox that
keeps its state here (bookkeeper.adapters.sandbox), so it survives restarts. These tables
are the sandbox's "remote" systems, not part of the books of record: they are not
append-only and no projection reads them.

`sandbox_objects` holds JSON documents by (tenant, system, kind, id) with the two
attributes they are looked up by (a reference and a date); `seq` numbers rows in insertion
order and gives Fiken-like numeric ids. `sandbox_files` holds attached files with their
bytes.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _sequence() -> sa.types.TypeEngine[Any]:
    # SQLite's AUTOINCREMENT needs INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sandbox_objects",
        sa.Column("seq", _sequence(), sa.Identity(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "system", "kind", "id", name="uq_sandbox_objects_key"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_sandbox_objects_date", "sandbox_objects", ["tenant_id", "system", "kind", "date"]
    )
    op.create_index(
        "ix_sandbox_objects_reference",
        "sandbox_objects",
        ["tenant_id", "system", "kind", "reference"],
    )
    op.create_table(
        "sandbox_files",
        sa.Column("seq", _sequence(), sa.Identity(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("owner_kind", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "system", "id", name="uq_sandbox_files_key"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_sandbox_files_owner",
        "sandbox_files",
        ["tenant_id", "system", "owner_kind", "owner_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_sandbox_files_owner", table_name="sandbox_files")
    op.drop_table("sandbox_files")
    op.drop_index("ix_sandbox_objects_reference", table_name="sandbox_objects")
    op.drop_index("ix_sandbox_objects_date", table_name="sandbox_objects")
    op.drop_table("sandbox_objects")
