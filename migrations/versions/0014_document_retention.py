"""Stored documents are as immutable as events; a purge past retention is the one way out.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

* `documents.retention`: 'primary' (receipts, invoices: kept 5 years after the end of the
  financial year) or 'secondary' (3.5 years), bokføringsloven § 13 / norway.md.
* `document_purges`: one row per purged document (what it was, its retention, the date it
  was kept until, when and by whom it was purged) — the documentation of what was deleted,
  itself append-only.
* Triggers refuse UPDATE of `documents`, and DELETE unless a purge row for that document
  says its retention ended before today (the purge command writes it in the same
  transaction): the controlled bypass only the purge uses. TRUNCATE is refused. On
  PostgreSQL they fire ALWAYS (also under session_replication_role = replica); on SQLite
  an INSERT that would REPLACE an existing document is dropped (as for events, 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "documents",
        sa.Column("retention", sa.Text(), nullable=False, server_default="primary"),
    )
    op.create_table(
        "document_purges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retention", sa.Text(), nullable=False),
        sa.Column("financial_year", sa.Integer(), nullable=False),
        sa.Column("retained_until", sa.Date(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_by", sa.Text(), nullable=False),
        sa.CheckConstraint("retention IN ('primary', 'secondary')", name="ck_purge_retention"),
    )
    op.create_index("ix_document_purges_key", "document_purges", ["tenant_id", "sha256"])
    if dialect == "postgresql":
        op.execute(
            "ALTER TABLE documents ADD CONSTRAINT ck_documents_retention "
            "CHECK (retention IN ('primary', 'secondary'))"
        )
        op.execute(
            """
            CREATE FUNCTION documents_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND EXISTS (
                    SELECT 1 FROM document_purges p
                    WHERE p.tenant_id = OLD.tenant_id AND p.sha256 = OLD.sha256
                      AND p.retained_until < (now() AT TIME ZONE 'Europe/Oslo')::date
                ) THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'documents are immutable: % on documents is refused '
                    '(a purge past retention is the only delete)', TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER documents_no_update_delete BEFORE UPDATE OR DELETE ON documents "
            "FOR EACH ROW EXECUTE FUNCTION documents_immutable()"
        )
        op.execute(
            "CREATE TRIGGER documents_no_truncate BEFORE TRUNCATE ON documents "
            "FOR EACH STATEMENT EXECUTE FUNCTION chain_append_only()"
        )
        op.execute("ALTER TABLE documents ENABLE ALWAYS TRIGGER documents_no_update_delete")
        op.execute("ALTER TABLE documents ENABLE ALWAYS TRIGGER documents_no_truncate")
        for operation in ("update_delete", "truncate"):
            level = "ROW" if operation == "update_delete" else "STATEMENT"
            event = "UPDATE OR DELETE" if operation == "update_delete" else "TRUNCATE"
            op.execute(
                f"CREATE TRIGGER document_purges_no_{operation} BEFORE {event} "
                f"ON document_purges FOR EACH {level} EXECUTE FUNCTION chain_append_only()"
            )
            op.execute(
                f"ALTER TABLE document_purges ENABLE ALWAYS TRIGGER document_purges_no_{operation}"
            )
    elif dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER documents_no_update BEFORE UPDATE ON documents "
            "BEGIN SELECT RAISE(ABORT, 'documents are immutable'); END"
        )
        op.execute(
            "CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents "
            "WHEN NOT EXISTS (SELECT 1 FROM document_purges p "
            "WHERE p.tenant_id = OLD.tenant_id AND p.sha256 = OLD.sha256 "
            "AND p.retained_until < date('now')) "
            "BEGIN SELECT RAISE(ABORT, 'documents are immutable: only a purge past "
            "retention deletes one'); END"
        )
        op.execute(
            "CREATE TRIGGER documents_check_retention BEFORE INSERT ON documents "
            "WHEN NEW.retention NOT IN ('primary', 'secondary') "
            "BEGIN SELECT RAISE(ABORT, 'retention is primary or secondary'); END"
        )
        # INSERT OR REPLACE deletes the row it collides with without DELETE triggers.
        op.execute(
            "CREATE TRIGGER documents_no_replace BEFORE INSERT ON documents "
            "WHEN EXISTS (SELECT 1 FROM documents WHERE tenant_id = NEW.tenant_id "
            "AND sha256 = NEW.sha256) BEGIN SELECT RAISE(IGNORE); END"
        )
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER document_purges_no_{operation.lower()} BEFORE {operation} "
                "ON document_purges "
                "BEGIN SELECT RAISE(ABORT, 'document_purges is append-only'); END"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER documents_no_update_delete ON documents")
        op.execute("DROP TRIGGER documents_no_truncate ON documents")
        op.execute("DROP FUNCTION documents_immutable()")
        op.execute("ALTER TABLE documents DROP CONSTRAINT ck_documents_retention")
    else:
        for name in ("no_update", "no_delete", "check_retention", "no_replace"):
            op.execute(f"DROP TRIGGER documents_{name}")
    op.drop_table("document_purges")
    op.drop_column("documents", "retention")
