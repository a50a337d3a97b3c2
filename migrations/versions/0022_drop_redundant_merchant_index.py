"""Drop `ix_proposals_tenant_merchant`: every read it served is served by
`ix_proposals_duplicate_amount`, and every proposal's write maintained it (issue 14, P1).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

`ix_proposals_tenant_merchant` (tenant, merchant key, amount; migration 0001) is a prefix of
`ix_proposals_duplicate_amount` (tenant, merchant key, amount, document date, id; migration
0013), so any condition or order it could serve the longer index serves the same way, and
`ix_proposals_duplicate_number` (tenant, merchant key, document number, id) serves a
merchant's rows too. Since 0013 no bounded read needs it, but each insert or update of a
proposal's row still wrote one more index entry (ADR 0045, addendum: what it cost). The
downgrade creates it again.
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_proposals_tenant_merchant", table_name="proposals")


def downgrade() -> None:
    op.create_index(
        "ix_proposals_tenant_merchant", "proposals", ["tenant_id", "merchant_key", "amount"]
    )
