"""Tamper evidence: the hash chain over the event log and its seals (ADR 0024).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26

* `event_chain`: per sealed event, its id and the chain's hash after it (32 bytes).
* `seals`: blocks of the chain, each closed with its head hash and linked to the previous
  seal by hash; `skipped` lists the positions of appends that rolled back.

Both are append-only like `events` (0001): UPDATE, DELETE and TRUNCATE are refused by
triggers that fire ALWAYS on PostgreSQL (also under session_replication_role = replica),
and by BEFORE triggers on SQLite. The sealer only inserts, in bulk, beside the writers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("event_chain", "seals")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "event_chain",
        sa.Column("position", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("length(hash) = 32", name="ck_event_chain_hash"),
    )
    op.create_index("ix_event_chain_event", "event_chain", ["event_id"])
    op.create_table(
        "seals",
        sa.Column("number", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("first_position", sa.BigInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("head_hash", sa.LargeBinary(), nullable=False),
        sa.Column("previous_seal_hash", sa.LargeBinary(), nullable=False),
        sa.Column("seal_hash", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("first_position", name="uq_seals_first_position"),
        sa.CheckConstraint("last_position >= first_position", name="ck_seals_range"),
    )
    op.create_index("ix_seals_last_position", "seals", ["last_position"])
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION chain_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION chain_append_only()"
            )
            # ALWAYS: also under session_replication_role = replica (see 0001).
            op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_update_delete")
            op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")
    elif dialect == "sqlite":
        for table in TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} "
                    f"ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    # The chain only proves the log (which 0001 never drops); it can be sealed again from
    # the log, though seals kept outside then no longer match (verify --expect says so).
    op.drop_table("seals")
    op.drop_table("event_chain")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION chain_append_only()")
