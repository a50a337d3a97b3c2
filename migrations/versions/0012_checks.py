"""The checks: `checks:run` for the system and admin roles.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

`POST /check/*` (missing receipts, costs, unknown accounts, executions) and the morning run
need `checks:run`: the scheduler (`system:cron`, role `system`) and admins have it by
default (bookkeeper.application.authorization seeds the same in memory). A tenant grants it
to others with `bookkeeper policy allow`.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CHECK_ROLES: Final = ("admin", "system")


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
            {"ptype": "p", "v0": role, "v1": "*", "v2": "checks", "v3": "run", "v4": "allow"}
            for role in CHECK_ROLES
        ],
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = '*' AND v2 = 'checks' AND v3 = 'run'"
    )
