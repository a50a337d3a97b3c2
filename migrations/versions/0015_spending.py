"""Spending: `spending:write` for admins and accountants, and BI views of costs and the log.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

* `spending:write` (setting a source's monthly budget and price table, issue 11) is granted
  to the admin and accountant roles (bookkeeper.application.authorization seeds the same in
  memory); a tenant grants it to others with `bookkeeper policy allow`.
* `bi_costs_daily`: the latest figure of every cost snapshot (tenant, UTC day, source,
  service, model) with its amount in the source's currency, in NOK, the rate and its date,
  the tokens, whether it is billed or estimated, and its revision — read from the event
  log (CostSnapshotRecorded/Revised; the highest version of each snapshot's stream).
* `bi_audit_trail`: every event's type, actor, time, correlation, parent, stream, version,
  status and channel (`metadata.source`) — never its payload or metadata otherwise, so no
  amounts of a document, no secrets and no document bytes reach a dashboard.

Both views span all tenants (filter on `tenant_id`). On PostgreSQL, SELECT on them is
granted to `bookkeeper_bi` when that role exists (migration 0003 creates it; a migrating
user without CREATEROLE leaves it to an administrator: `GRANT SELECT ON bi_costs_daily,
bi_audit_trail TO bookkeeper_bi`). Amounts are NUMERIC on PostgreSQL; on SQLite they are
the stored decimal strings cast to numbers (fine for charts, not for bookkeeping).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SPENDING_ROLES: Final = ("accountant", "admin")
BI_ROLE: Final = "bookkeeper_bi"
VIEWS: Final = ("bi_costs_daily", "bi_audit_trail")
SNAPSHOT_TYPES: Final = "('CostSnapshotRecorded', 'CostSnapshotRevised')"


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
            {"ptype": "p", "v0": role, "v1": "*", "v2": "spending", "v3": "write", "v4": "allow"}
            for role in SPENDING_ROLES
        ],
    )
    dialect = op.get_bind().dialect.name
    for statement in _views(dialect):
        op.execute(statement)
    if dialect == "postgresql":
        op.execute(_GRANT_BI)


def _views(dialect: str) -> list[str]:
    if dialect == "postgresql":

        def text(field: str) -> str:
            return f"e.data ->> '{field}'"

        def number(field: str) -> str:
            return f"({text(field)})::numeric"

        def day(field: str) -> str:
            return f"({text(field)})::date"

        def count(field: str) -> str:
            return f"COALESCE(({text(field)})::bigint, 0)"

        channel = "e.metadata ->> 'source'"
    else:

        def text(field: str) -> str:
            return f"json_extract(e.data, '$.{field}')"

        def number(field: str) -> str:
            return f"CAST({text(field)} AS NUMERIC)"

        def day(field: str) -> str:
            return f"date({text(field)})"

        def count(field: str) -> str:
            return f"COALESCE(CAST({text(field)} AS INTEGER), 0)"

        channel = "json_extract(e.metadata, '$.source')"
    return [
        f"""
        CREATE VIEW bi_costs_daily AS
        SELECT e.tenant_id, {day("day")} AS day, {text("source")} AS source,
               {text("service")} AS service, {text("model")} AS model,
               {text("currency")} AS currency, {number("amount")} AS amount,
               {number("amountNok")} AS amount_nok, {number("rate")} AS rate,
               {day("rateDate")} AS rate_date,
               {count("inputTokens")} AS input_tokens, {count("outputTokens")} AS output_tokens,
               COALESCE({text("basis")}, 'billed') AS basis,
               e.version AS revision, e.created_at AS recorded_at, e.stream_id AS snapshot_id
        FROM events e
        WHERE e.type IN {SNAPSHOT_TYPES}
          AND e.version = (SELECT MAX(l.version) FROM events l WHERE l.stream_id = e.stream_id)
        """,
        f"""
        CREATE VIEW bi_audit_trail AS
        SELECT e.tenant_id, e.position, e.id AS event_id, e.type, e.status, e.actor,
               e.created_at, e.correlation_id, e.parent_id, e.stream_id, e.version,
               {channel} AS channel
        FROM events e
        """,
    ]


_GRANT_BI = f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{BI_ROLE}') THEN
        GRANT SELECT ON {", ".join(VIEWS)} TO {BI_ROLE};
    ELSE
        RAISE WARNING '{BI_ROLE} does not exist: grant SELECT on {", ".join(VIEWS)} by hand';
    END IF;
END
$$
"""


def downgrade() -> None:
    for view in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    op.execute(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = '*' AND v2 = 'spending' "
        "AND v3 = 'write'"
    )
