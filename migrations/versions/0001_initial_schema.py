"""The event log, its immutability triggers, and the first projections and settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Works on SQLite and PostgreSQL. The column types are written out here rather than imported
from the adapter's table definitions: a migration is a frozen record of what it did.
SQLite stores exact decimals as integers scaled by 10**scale (amounts in øre), see
bookkeeper.adapters.sql.schema.ExactDecimal.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "('PROPOSED', 'APPROVED', 'REJECTED', 'EXECUTED', 'FAILED')"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _decimal(precision: int, scale: int) -> sa.types.TypeEngine[Any]:
    return sa.Numeric(precision, scale).with_variant(sa.BigInteger(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=True),
            primary_key=True,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.UniqueConstraint("id", name="uq_events_id"),
        sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
        sa.ForeignKeyConstraint(["parent_id"], ["events.id"], name="fk_events_parent"),
        sa.CheckConstraint("version >= 1", name="ck_events_version_positive"),
        sa.CheckConstraint(
            f"status IS NULL OR status IN {STATUSES}", name="ck_events_status_known"
        ),
        sqlite_autoincrement=True,
    )
    # Every read of the log is per tenant and in position order; these serve GET /events
    # (by type, actor, correlation, time). No index on status: it is always combined with
    # a type or a correlation, and each index costs on every append.
    op.create_index("ix_events_tenant_position", "events", ["tenant_id", "position"])
    op.create_index(
        "ix_events_tenant_correlation", "events", ["tenant_id", "correlation_id", "position"]
    )
    op.create_index("ix_events_tenant_type", "events", ["tenant_id", "type", "position"])
    op.create_index("ix_events_tenant_actor", "events", ["tenant_id", "actor", "position"])
    op.create_index("ix_events_tenant_created", "events", ["tenant_id", "created_at"])

    if dialect == "postgresql":
        _postgresql_append_only()
    elif dialect == "sqlite":
        _sqlite_append_only()

    op.create_table(
        "proposals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.Column("proposed_by", sa.Text(), nullable=False),
        sa.Column("proposed_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.Column("merchant_key", sa.Text(), nullable=True),
        sa.Column("merchant_name", sa.Text(), nullable=True),
        sa.Column("amount", _decimal(18, 2), nullable=True),
        sa.Column("document_date", sa.Date(), nullable=True),
        sa.Column("document_number", sa.Text(), nullable=True),
        sa.Column("account_code", sa.Text(), nullable=True),
        sa.Column("vat_rate", _decimal(6, 2), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("corrections", _json(), nullable=True),
        sa.Column("confidence", _decimal(4, 2), nullable=True),
        sa.Column("review_outcome", sa.Text(), nullable=True),
        sa.Column("review_band", sa.Text(), nullable=True),
        sa.Column("review_rule", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", _timestamp(), nullable=True),
        sa.Column("decision_rule", sa.Text(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _timestamp(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_ids", _json(), nullable=False),
        sa.Column("target_proposal_id", sa.Uuid(), nullable=True),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_proposals_tenant_status", "proposals", ["tenant_id", "status", "last_position"]
    )
    op.create_index("ix_proposals_tenant_position", "proposals", ["tenant_id", "last_position"])
    op.create_index(
        "ix_proposals_tenant_merchant", "proposals", ["tenant_id", "merchant_key", "amount"]
    )
    op.create_index("ix_proposals_tenant_target", "proposals", ["tenant_id", "target_proposal_id"])
    op.create_index("ix_proposals_tenant_proposed", "proposals", ["tenant_id", "proposed_at"])

    op.create_table(
        "patterns",
        sa.Column("tenant_id", sa.Text(), primary_key=True),
        sa.Column("merchant_key", sa.Text(), primary_key=True),
        sa.Column("merchant_name", sa.Text(), nullable=False),
        sa.Column("account_code", sa.Text(), nullable=False),
        sa.Column("vat_rate", _decimal(6, 2), nullable=False),
        sa.Column("suggestion_id", sa.Uuid(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.Column("applied_at", _timestamp(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.Text(), primary_key=True),
        sa.Column("review_rules", _json(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
    )


def _postgresql_append_only() -> None:
    op.execute(
        """
        CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'events are append-only: % on events is refused', TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'record a reversal or correction event instead';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
    )
    # ALWAYS: ordinary triggers are skipped under session_replication_role = replica, which
    # any superuser (or a logical-replication apply worker) can set to get around them.
    op.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_update_delete")
    op.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_truncate")


def _sqlite_append_only() -> None:
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER events_no_{operation.lower()} BEFORE {operation} ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
        )
    # INSERT OR REPLACE deletes the conflicting row without firing DELETE triggers (unless
    # recursive_triggers is on), so an insert that would collide is dropped before it can
    # replace anything. Dropping (IGNORE) rather than failing keeps ON CONFLICT DO NOTHING
    # semantics for the adapter, which then reports the duplicate or the conflict.
    op.execute(
        "CREATE TRIGGER events_no_replace BEFORE INSERT ON events "
        "WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.id) "
        "OR EXISTS (SELECT 1 FROM events WHERE stream_id = NEW.stream_id "
        "AND version = NEW.version) "
        "OR EXISTS (SELECT 1 FROM events WHERE position = NEW.position) "
        "BEGIN SELECT RAISE(IGNORE); END"
    )


def downgrade() -> None:
    # The event log is the books' source of truth (kept for years by law); no migration
    # drops it. Dropping a database by hand is a deliberate act this must not make easy.
    raise RuntimeError("revision 0001 cannot be downgraded: it would drop the event log")
