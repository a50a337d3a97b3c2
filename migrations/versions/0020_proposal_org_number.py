"""The counterparty's organisation number on the proposals projection (issue 13).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

A supplier's known payment account (ADR 0033, addendum) is looked up by the supplier's
organisation number when the invoice names one, so that a supplier that changed its trade
name is still the same supplier; by its normalised name otherwise.

* `proposals.org_number`: the supplier's (invoice) or merchant's (receipt) organisation
  number, digits only; NULL when the document names none. Filled here from the data (with
  its corrections) of the rows already there, in batches; the projection keeps it after.
* `ix_proposals_tenant_org` (tenant, org number, kind, last position): the lookup reads the
  newest few settled invoices of one organisation number through it, stopped by its LIMIT.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_BATCH = 1000
_KEYS = ("supplierOrgNumber", "merchantOrgNumber")


def _digits(value: object) -> str | None:
    digits = "".join(ch for ch in str(value or "") if ch.isascii() and ch.isdigit())
    return digits or None


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str | bytes) and value:
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


def upgrade() -> None:
    op.add_column("proposals", sa.Column("org_number", sa.Text(), nullable=True))
    op.create_index(
        "ix_proposals_tenant_org",
        "proposals",
        ["tenant_id", "org_number", "kind", "last_position"],
    )
    bind = op.get_bind()
    proposals = sa.table(
        "proposals",
        sa.column("id", sa.Uuid()),
        sa.column("data", sa.Text()),
        sa.column("corrections", sa.Text()),
        sa.column("org_number", sa.Text()),
    )
    if bind.dialect.name == "postgresql":  # json columns: read them as text
        data = sa.literal_column("data::text")
        corrections = sa.literal_column("corrections::text")
    else:
        data, corrections = proposals.c.data, proposals.c.corrections
    after: Any = None
    while True:
        query = sa.select(proposals.c.id, data, corrections).order_by(proposals.c.id)
        if after is not None:
            query = query.where(proposals.c.id > after)
        rows = bind.execute(query.limit(_BATCH)).all()
        if not rows:
            break
        updates = []
        for proposal_id, raw_data, raw_corrections in rows:
            effective = {**_as_dict(raw_data), **_as_dict(raw_corrections)}
            org = next((_digits(effective[k]) for k in _KEYS if effective.get(k)), None)
            if org is not None:
                updates.append({"target": proposal_id, "org": org})
        if updates:
            bind.execute(
                sa.update(proposals)
                .where(proposals.c.id == sa.bindparam("target"))
                .values(org_number=sa.bindparam("org")),
                updates,
            )
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_proposals_tenant_org", table_name="proposals")
    op.drop_column("proposals", "org_number")
