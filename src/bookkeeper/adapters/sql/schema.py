"""Table definitions the SQL adapter builds its Core statements from (the migrations own the DDL).

The tables mirror what migration 0001 creates; they are declared once at import and never
reflected, so every statement can be built once and its compiled form cached. Two column
types hide the engines' differences so that both return the same Python values:

* `UtcDateTime`: aware datetimes in, aware UTC datetimes out. PostgreSQL stores timestamptz;
  SQLite stores the UTC wall time as ISO text, which sorts and compares correctly.
* `ExactDecimal`: Decimal in, Decimal out. PostgreSQL stores NUMERIC(p, s); SQLite has no
  exact decimal type (SQLAlchemy would go through float), so it stores the value scaled to
  an integer of the smallest unit (øre for amounts), which is exact, comparable and summable.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp that always comes back in UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware UTC times")
        utc = value.astimezone(dt.UTC)
        # SQLite's DATETIME text has no offset: store the UTC wall time so text order is time order.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL; an integer scaled by 10**scale on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision, scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        # Half up, as PostgreSQL rounds NUMERIC on insert, so both engines store the same.
        return int(Decimal(value).scaleb(self.scale).to_integral_value(rounding=ROUND_HALF_UP))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return value if isinstance(value, Decimal) else Decimal(value)


#: JSON documents: jsonb on PostgreSQL (indexable, validated), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
#: The global position: BIGINT identity on PostgreSQL; SQLite's AUTOINCREMENT needs INTEGER.
Position = BigInteger().with_variant(Integer(), "sqlite")

Amount = ExactDecimal(18, 2)
Rate = ExactDecimal(6, 2)
Score = ExactDecimal(4, 2)

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("position", Position, Identity(always=True), primary_key=True),
    Column("id", Uuid(), nullable=False),
    Column("tenant_id", Text(), nullable=False),
    Column("stream_id", Uuid(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("type", Text(), nullable=False),
    Column("schema_version", SmallInteger(), nullable=False),
    Column("status", Text(), nullable=True),
    Column("actor", Text(), nullable=False),
    Column("data", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("parent_id", Uuid(), ForeignKey("events.id"), nullable=True),
    Column("correlation_id", Uuid(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("id", name="uq_events_id"),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
    sqlite_autoincrement=True,
)

proposals = Table(
    "proposals",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("tenant_id", Text(), nullable=False),
    Column("kind", Text(), nullable=False),
    Column("type", Text(), nullable=False),
    Column("status", Text(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("correlation_id", Uuid(), nullable=False),
    Column("proposed_by", Text(), nullable=False),
    Column("proposed_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("merchant_key", Text(), nullable=True),
    Column("merchant_name", Text(), nullable=True),
    Column("amount", Amount, nullable=True),
    Column("document_date", Date(), nullable=True),
    Column("document_number", Text(), nullable=True),
    Column("account_code", Text(), nullable=True),
    Column("vat_rate", Rate, nullable=True),
    Column("data", Json, nullable=False),
    Column("corrections", Json, nullable=True),
    Column("confidence", Score, nullable=True),
    Column("review_outcome", Text(), nullable=True),
    Column("review_band", Text(), nullable=True),
    Column("review_rule", Text(), nullable=True),
    Column("decided_by", Text(), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decision_rule", Text(), nullable=True),
    Column("rejection_reason", Text(), nullable=True),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Column("external_ids", Json, nullable=False),
    Column("target_proposal_id", Uuid(), nullable=True),
    Column("last_position", BigInteger(), nullable=False),
    # Migration 0002: until when an executor holds the current attempt.
    Column("lease_until", UtcDateTime(), nullable=True),
    # Migration 0005: who gave the first of two required approvals.
    Column("endorsed_by", Text(), nullable=True),
    # Migration 0020: the counterparty's organisation number, digits only (issue 13).
    Column("org_number", Text(), nullable=True),
)

patterns = Table(
    "patterns",
    metadata,
    Column("tenant_id", Text(), primary_key=True),
    Column("merchant_key", Text(), primary_key=True),
    Column("merchant_name", Text(), nullable=False),
    Column("account_code", Text(), nullable=False),
    Column("vat_rate", Rate, nullable=False),
    Column("suggestion_id", Uuid(), nullable=False),
    Column("approved_by", Text(), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
    Column("last_position", BigInteger(), nullable=False),
)

#: Receipt and invoice files, content-addressed per tenant (migration 0002).
documents = Table(
    "documents",
    metadata,
    Column("tenant_id", Text(), primary_key=True),
    Column("sha256", Text(), primary_key=True),
    Column("content_type", Text(), nullable=False),
    Column("filename", Text(), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("content", LargeBinary(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Migration 0005: the actor who first uploaded the file (NULL for older rows).
    Column("uploaded_by", Text(), nullable=True),
    # Migration 0014: 'primary' (5 years after the financial year) or 'secondary' (3.5).
    Column("retention", Text(), nullable=False, server_default="primary"),
)

#: One row per purged document: the documentation of what was deleted (migration 0014).
#: A row whose retained_until has passed is what lets the DELETE trigger let one through.
document_purges = Table(
    "document_purges",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("tenant_id", Text(), nullable=False),
    Column("sha256", Text(), nullable=False),
    Column("filename", Text(), nullable=False),
    Column("content_type", Text(), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
    Column("retention", Text(), nullable=False),
    Column("financial_year", Integer(), nullable=False),
    Column("retained_until", Date(), nullable=False),
    Column("purged_at", UtcDateTime(), nullable=False),
    Column("purged_by", Text(), nullable=False),
)

tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", Text(), primary_key=True),
    Column("review_rules", Json, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

#: How far each subscriber of the log has got (migration 0009; the TrackingStore port).
tracking = Table(
    "tracking",
    metadata,
    Column("subscriber", Text(), primary_key=True),
    Column("position", BigInteger(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# --- issue 12: rules as data (migration 0016) -------------------------------------------

#: ISO 4217 currencies with their minor units.
currencies = Table(
    "currencies",
    metadata,
    Column("code", Text(), primary_key=True),
    Column("name", Text(), nullable=False),
    Column("minor_units", SmallInteger(), nullable=False),
)

#: ISO 3166 countries and their current currency.
countries = Table(
    "countries",
    metadata,
    Column("code", Text(), primary_key=True),
    Column("name", Text(), nullable=False),
    Column("currency", Text(), nullable=True),
)

#: Tax rates over their validity (both ends inclusive; valid_to NULL: still valid); the
#: shipped defaults under tenant_id '' and a tenant's own rows of a code (migration 0019).
tax_rates = Table(
    "tax_rates",
    metadata,
    Column("tenant_id", Text(), primary_key=True, server_default=""),
    Column("country", Text(), primary_key=True),
    Column("saft_code", Text(), primary_key=True),
    Column("valid_from", Date(), primary_key=True),
    Column("valid_to", Date(), nullable=True),
    Column("tax_type", Text(), nullable=False),
    Column("direction", Text(), nullable=True),
    Column("rate", Rate, nullable=True),
    Column("account", Text(), nullable=True),
)

#: A tenant's closed periods (kind "period") and locked VAT terms (kind "vat-term").
fiscal_periods = Table(
    "fiscal_periods",
    metadata,
    Column("tenant_id", Text(), primary_key=True),
    Column("kind", Text(), primary_key=True),
    Column("start_date", Date(), primary_key=True),
    Column("end_date", Date(), nullable=False),
    Column("name", Text(), nullable=False),
    Column("closed_by", Text(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=False),
)


# --- ADR 0040 §6: the cost snapshot projection (migration 0019) ---------------------------

#: The latest figure of every cost snapshot stream, by its UTC day (the cost report's read).
cost_snapshots = Table(
    "cost_snapshots",
    metadata,
    Column("tenant_id", Text(), primary_key=True),
    Column("stream_id", Uuid(), primary_key=True),
    Column("day", Date(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("schema_version", SmallInteger(), nullable=False),
    Column("data", Json, nullable=False),
    Index("ix_cost_snapshots_day", "tenant_id", "day"),
)
