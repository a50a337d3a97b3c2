"""Per-tenant Fiken and Folio credentials, encrypted at rest; grants.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

Issue 14 (ADR 0036). `tenant_credentials` holds one row per tenant and provider (fiken,
folio): the non-secret fields (company slug, base URL override), the secret only as Fernet
ciphertext (keys from BOOKKEEPER_CREDENTIALS_KEY), a short fingerprint of it, who set it
and when, and a version bumped on every change. `credentials_revision` is a single row
whose counter is bumped in the same transaction as every change, so every replica notices
a change with one single-row read and drops its cached clients of that tenant.

Grants: `credentials:manage` (set, read the metadata of, remove a tenant's credentials)
for admin.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

CREDENTIALS_ROLES: Final = ("admin",)


def upgrade() -> None:
    op.create_table(
        "tenant_credentials",
        sa.Column("tenant_id", sa.Text(), primary_key=True),
        sa.Column("provider", sa.Text(), primary_key=True),
        sa.Column("company", sa.Text(), nullable=True),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("provider IN ('fiken', 'folio')", name="ck_tenant_credentials_provider"),
        sa.CheckConstraint("version >= 1", name="ck_tenant_credentials_version"),
    )
    revision_table = op.create_table(
        "credentials_revision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("revision", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_credentials_revision_single_row"),
    )
    op.bulk_insert(revision_table, [{"id": 1, "revision": 0}])
    casbin = sa.table(
        "casbin_rule",
        sa.column("ptype", sa.String),
        sa.column("v0", sa.String),
        sa.column("v1", sa.String),
        sa.column("v2", sa.String),
        sa.column("v3", sa.String),
        sa.column("v4", sa.String),
    )
    op.bulk_insert(
        casbin,
        [
            {
                "ptype": "p",
                "v0": role,
                "v1": "*",
                "v2": "credentials",
                "v3": "manage",
                "v4": "allow",
            }
            for role in CREDENTIALS_ROLES
        ],
    )


def downgrade() -> None:
    for role in CREDENTIALS_ROLES:
        op.execute(
            sa.text(
                "DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :role AND v1 = '*' "
                "AND v2 = 'credentials' AND v3 = 'manage'"
            ).bindparams(role=role)
        )
    op.drop_table("credentials_revision")
    op.drop_table("tenant_credentials")
