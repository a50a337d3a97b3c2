"""`bus:ingest` for system and admin: booking entries translated from external events.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10

Issue 10: the bus consumer books as a `system` service principal, and the local
`POST /bus/events` route hands external events to the translators for `system` and
`admin` callers. Seeded here like `exports:read` in 0008 (bookkeeper.application.
authorization.DEFAULT_GRANTS serves the same in memory).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BUS_ROLES: Final = ("system", "admin")


def upgrade() -> None:
    rules = sa.table(
        "casbin_rule",
        sa.column("ptype", sa.String),
        sa.column("v0", sa.String),
        sa.column("v1", sa.String),
        sa.column("v2", sa.String),
        sa.column("v3", sa.String),
        sa.column("v4", sa.String),
    )
    op.bulk_insert(
        rules,
        [
            {"ptype": "p", "v0": role, "v1": "*", "v2": "bus", "v3": "ingest", "v4": "allow"}
            for role in BUS_ROLES
        ],
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = '*' AND v2 = 'bus' AND v3 = 'ingest'"
    )
