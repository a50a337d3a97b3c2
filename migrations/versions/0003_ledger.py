"""The ledger projection, and read-only views for business intelligence (Metabase).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

* `journal_lines`: every posted journal line, denormalised with its entry; keyed by
  (entry_id, line_no). `ix_journal_lines_account` (tenant, account, date, position, line_no)
  is the general ledger's order and keyset; `ix_journal_lines_vat` covers only the lines
  with a VAT code, by date, for the VAT report of a term.
* `ledger_daily`: debit and credit per tenant, account and day, added to in the posting's
  transaction; the trial balance and opening balances read it instead of the lines.
* Views `bi_proposals`, `bi_journal_lines`, `bi_account_balances_monthly`: a stable,
  denormalised surface for dashboards, so that Metabase never reads the event log or the
  projections' own tables (whose columns may change with any release). Amounts are NUMERIC
  on PostgreSQL; on SQLite, where the tables keep øre as integers, the views divide by 100
  (REAL: fine for charts, not for bookkeeping). `bi_account_balances_monthly` has the
  month's debit, credit and net movement, and `balance`: the account's closing balance at
  the end of that month (debit minus credit since its first posting). Every view spans all
  tenants: filter on `tenant_id` in the dashboards.

On PostgreSQL, a role `bookkeeper_bi` (NOLOGIN) is created if it does not exist, with USAGE
on the schema and SELECT on the three views only — not on `events` or any table (a view
reads its tables with its owner's rights). Metabase connects as a login role that is a
member of it:

    CREATE ROLE metabase LOGIN PASSWORD '…' IN ROLE bookkeeper_bi;

If the migrating user may not create roles, the migration warns and goes on without the
role; an administrator then runs the CREATE ROLE above and, in this database:

    GRANT USAGE ON SCHEMA public TO bookkeeper_bi;
    GRANT SELECT ON bi_proposals, bi_journal_lines, bi_account_balances_monthly
        TO bookkeeper_bi;

On SQLite, a later migration that rebuilds `proposals`, `journal_lines` or `ledger_daily`
(alembic's batch mode renames a copy into place) must drop the views first and create them
again after: SQLite refuses the rename while a view names the table.

Downgrade drops the views and the tables, revokes the schema grant, and drops the role only
when it owns and is granted nothing anywhere in the cluster (other databases of the same
server may still use it).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BI_ROLE = "bookkeeper_bi"
VIEWS = ("bi_proposals", "bi_journal_lines", "bi_account_balances_monthly")


def _decimal(precision: int, scale: int) -> sa.types.TypeEngine[Any]:
    return sa.Numeric(precision, scale).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "journal_lines",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("debit", _decimal(18, 2), nullable=False),
        sa.Column("credit", _decimal(18, 2), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("vat_code", sa.Text(), nullable=True),
        sa.Column("vat_part", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "line_no", name="pk_journal_lines"),
        sa.CheckConstraint("line_no >= 1", name="ck_journal_lines_line_no"),
        sa.CheckConstraint(
            "debit >= 0 AND credit >= 0 AND (debit = 0) <> (credit = 0)",
            name="ck_journal_lines_one_side",
        ),
    )
    op.create_index(
        "ix_journal_lines_account",
        "journal_lines",
        ["tenant_id", "account", "date", "position", "line_no"],
    )
    with_vat = sa.text("vat_code IS NOT NULL")
    op.create_index(
        "ix_journal_lines_vat",
        "journal_lines",
        ["tenant_id", "date"],
        postgresql_where=with_vat,
        sqlite_where=with_vat,
    )
    op.create_table(
        "ledger_daily",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("debit", _decimal(18, 2), nullable=False),
        sa.Column("credit", _decimal(18, 2), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "account", "date", name="pk_ledger_daily"),
        # Every posting updates its days' rows in place: room left on each page lets
        # PostgreSQL keep the new row version on the same page (a HOT update, no index
        # entry), so the table and its index do not bloat between vacuums.
        postgresql_with={"fillfactor": 70},
    )
    for statement in _views(dialect):
        op.execute(statement)
    if dialect == "postgresql":
        op.execute(_GRANT_BI)


def _views(dialect: str) -> list[str]:
    if dialect == "postgresql":

        def money(column: str) -> str:
            return column

        json_text = "p.external_ids::text"
        month = "date_trunc('month', date)::date"
    else:  # SQLite keeps øre (and hundredths of rates and scores) as integers

        def money(column: str) -> str:
            return f"({column}) / 100.0"

        json_text = "CAST(p.external_ids AS TEXT)"
        month = "date(date, 'start of month')"
    return [
        f"""
        CREATE VIEW bi_proposals AS
        SELECT p.id AS proposal_id, p.tenant_id, p.kind, p.status, p.type AS last_event_type,
               p.merchant_name, p.merchant_key, {money("p.amount")} AS amount,
               p.document_date, p.document_number, p.account_code,
               {money("p.vat_rate")} AS vat_rate, {money("p.confidence")} AS confidence,
               p.review_outcome, p.review_band, p.review_rule,
               p.decided_by, p.decided_at, p.decision_rule, p.rejection_reason,
               p.attempts, p.last_error, {json_text} AS external_ids,
               p.target_proposal_id, p.proposed_by, p.proposed_at, p.updated_at
        FROM proposals p
        """,
        f"""
        CREATE VIEW bi_journal_lines AS
        SELECT l.tenant_id, l.entry_id, l.line_no, l.position, l.date, l.account,
               {money("l.debit")} AS debit, {money("l.credit")} AS credit,
               {money("l.debit - l.credit")} AS amount,
               l.description, l.entry_description, l.vat_code, l.vat_part, l.source,
               l.proposal_id, l.posted_at,
               p.kind AS proposal_kind, p.merchant_name AS proposal_merchant
        FROM journal_lines l
        LEFT JOIN proposals p ON p.id = l.proposal_id AND p.tenant_id = l.tenant_id
        """,
        f"""
        CREATE VIEW bi_account_balances_monthly AS
        SELECT tenant_id, account, month,
               {money("debit")} AS debit, {money("credit")} AS credit,
               {money("debit - credit")} AS net,
               {money("SUM(debit - credit) OVER (PARTITION BY tenant_id, account ORDER BY month)")}
                   AS balance
        FROM (
            SELECT tenant_id, account, {month} AS month,
                   SUM(debit) AS debit, SUM(credit) AS credit
            FROM ledger_daily
            GROUP BY tenant_id, account, {month}
        ) monthly
        """,
    ]


_GRANT_BI = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{BI_ROLE}') THEN
        BEGIN
            CREATE ROLE {BI_ROLE} NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it at the same moment
            WHEN insufficient_privilege THEN
                RAISE WARNING '{BI_ROLE} not created: the migrating user may not create roles '
                    '(see migration 0003 for the statements to run by hand)';
                RETURN;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {BI_ROLE}', current_schema());
    GRANT SELECT ON {", ".join(VIEWS)} TO {BI_ROLE};
END
$$
"""

_DROP_BI = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{BI_ROLE}') THEN
        RETURN;
    END IF;
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {BI_ROLE}', current_schema());
    IF EXISTS (
        SELECT FROM pg_catalog.pg_shdepend d
        JOIN pg_catalog.pg_roles r ON r.oid = d.refobjid
        WHERE r.rolname = '{BI_ROLE}'
    ) THEN
        RETURN;  -- still owns or is granted something (here or in another database)
    END IF;
    BEGIN
        DROP ROLE {BI_ROLE};
    EXCEPTION
        WHEN dependent_objects_still_exist OR insufficient_privilege THEN
            RAISE WARNING '{BI_ROLE} kept: %', SQLERRM;
    END;
END
$$
"""


def downgrade() -> None:
    for view in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_DROP_BI)
    op.drop_table("ledger_daily")
    op.drop_index("ix_journal_lines_vat", table_name="journal_lines")
    op.drop_index("ix_journal_lines_account", table_name="journal_lines")
    op.drop_table("journal_lines")
