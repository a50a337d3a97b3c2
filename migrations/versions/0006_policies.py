"""Authorization policies: casbin-sqlalchemy-adapter's table, a version, the defaults.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

`casbin_rule` is the table casbin-sqlalchemy-adapter reads and writes (its own column
names): `p, role, tenant, obj, act, effect` rows (tenant `*` for every tenant; effect
`allow` or `deny`) and `g, subject, role, tenant` rows. `policy_version` holds one number
that triggers raise on every insert, update or delete of a rule, in the same transaction,
whoever writes (`bookkeeper policy`, the adapter, plain SQL): running services compare it
to the version they loaded and reload (bookkeeper.adapters.auth.casbin_authorizer).

The seed is the role table the service had before policies were stored (the
RoleAuthorizer's DEFAULT_GRANTS), written out here so that this revision never changes
when the code does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_READ = (
    "bank:read",
    "books:read",
    "documents:read",
    "events:read",
    "patterns:read",
    "proposals:read",
    "reports:read",
)
_WRITE = ("documents:write", "events:propose", "events:record-query")

#: The defaults, for every tenant ("*").
DEFAULTS: dict[str, tuple[str, ...]] = {
    "admin": (*_READ, *_WRITE, "ledger:post", "proposals:decide"),
    "accountant": (*_READ, *_WRITE, "ledger:post", "proposals:decide"),
    "reviewer": (*_READ, "proposals:decide"),
    "agent": (*_READ, *_WRITE),
    "system": (*_READ, "events:record-query"),
    "viewer": _READ,
}


def upgrade() -> None:
    rules = op.create_table(
        "casbin_rule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ptype", sa.String(255)),
        sa.Column("v0", sa.String(255)),
        sa.Column("v1", sa.String(255)),
        sa.Column("v2", sa.String(255)),
        sa.Column("v3", sa.String(255)),
        sa.Column("v4", sa.String(255)),
        sa.Column("v5", sa.String(255)),
    )
    op.create_index("ix_casbin_rule_ptype_v1", "casbin_rule", ["ptype", "v1"])
    version = op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_policy_version_one_row"),
    )
    op.bulk_insert(version, [{"id": 1, "version": 1}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION bump_policy_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE policy_version SET version = version + 1 WHERE id = 1;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER casbin_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            "ON casbin_rule FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version()"
        )
    else:
        for verb in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER casbin_rule_{verb.lower()} AFTER {verb} ON casbin_rule "
                "BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END"
            )
    op.bulk_insert(
        rules,
        [
            {
                "ptype": "p",
                "v0": role,
                "v1": "*",
                "v2": action.split(":", 1)[0],
                "v3": action.split(":", 1)[1],
                "v4": "allow",
            }
            for role, actions in DEFAULTS.items()
            for action in sorted(actions)
        ],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS casbin_rule_changed ON casbin_rule")
        op.execute("DROP FUNCTION IF EXISTS bump_policy_version()")
    op.drop_table("policy_version")
    op.drop_index("ix_casbin_rule_ptype_v1", table_name="casbin_rule")
    op.drop_table("casbin_rule")
