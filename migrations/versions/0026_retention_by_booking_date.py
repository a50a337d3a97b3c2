"""The documents' guard counts retention from the financial year of what they document.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07

Migration 0014's DELETE trigger let a document go when a `document_purges` row said its
retention had ended — a date the purge computed from the day the file was *stored*. The law
counts from the end of the financial year the material concerns (bokføringsloven § 13): a
file stored in December 2026 for a booking dated 2027 was purged a year early, and any row
in `document_purges` with an early enough date unlocked any document. Now the trigger
computes the retention itself, from the latest journal-line date of the proposals that name
the document (`documentHash`) and of their corrections and reversals
(`adapters.sql.retention.booked_on_sql`, imported so that the purge and the guard judge by
the same date): 31 December five years on (primary) or 30 June four years on (secondary).
A delete goes through only when that day is before today (Europe/Oslo on PostgreSQL, UTC
on SQLite — never earlier than Oslo's) and the purge record names that very day. A document
that documents nothing booked is refused. Indexes: `ix_proposals_document` (tenant, the
named document) and `ix_journal_lines_proposal` (tenant, proposal, date).
"""

from __future__ import annotations

from alembic import op

from bookkeeper.adapters.sql.retention import booked_on_sql, document_hash_sql

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_REFUSAL = "documents are immutable: only a purge past retention deletes one"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    named = document_hash_sql(dialect, "")
    op.execute(f"CREATE INDEX ix_proposals_document ON proposals (tenant_id, ({named}))")
    op.execute(
        "CREATE INDEX ix_journal_lines_proposal ON journal_lines (tenant_id, proposal_id, date)"
    )
    booked = booked_on_sql(dialect, "OLD.tenant_id", "OLD.sha256")
    if dialect == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION documents_immutable() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                booked date;
                kept_until date;
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    booked := {booked};
                    IF booked IS NOT NULL THEN
                        kept_until := CASE WHEN OLD.retention = 'secondary'
                            THEN make_date(extract(year FROM booked)::int + 4, 6, 30)
                            ELSE make_date(extract(year FROM booked)::int + 5, 12, 31) END;
                        IF kept_until < (now() AT TIME ZONE 'Europe/Oslo')::date AND EXISTS (
                            SELECT 1 FROM document_purges r
                            WHERE r.tenant_id = OLD.tenant_id AND r.sha256 = OLD.sha256
                              AND r.retained_until = kept_until
                        ) THEN
                            RETURN OLD;
                        END IF;
                    END IF;
                END IF;
                RAISE EXCEPTION 'documents are immutable: % on documents is refused '
                    '(a purge past retention is the only delete)', TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END;
            $$
            """
        )
    elif dialect == "sqlite":
        year = f"CAST(strftime('%Y', {booked}) AS INTEGER)"
        kept_until = (
            f"CASE WHEN OLD.retention = 'secondary' THEN printf('%04d-06-30', {year} + 4) "
            f"ELSE printf('%04d-12-31', {year} + 5) END"
        )
        op.execute("DROP TRIGGER documents_no_delete")
        op.execute(
            "CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents "
            "WHEN NOT EXISTS (SELECT 1 FROM document_purges r "
            "WHERE r.tenant_id = OLD.tenant_id AND r.sha256 = OLD.sha256 "
            f"AND r.retained_until = ({kept_until}) AND r.retained_until < date('now')) "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION documents_immutable() RETURNS trigger
            LANGUAGE plpgsql AS $$
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
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER documents_no_delete")
        op.execute(
            "CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents "
            "WHEN NOT EXISTS (SELECT 1 FROM document_purges p "
            "WHERE p.tenant_id = OLD.tenant_id AND p.sha256 = OLD.sha256 "
            "AND p.retained_until < date('now')) "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"
        )
    op.execute("DROP INDEX IF EXISTS ix_journal_lines_proposal")
    op.execute("DROP INDEX IF EXISTS ix_proposals_document")
