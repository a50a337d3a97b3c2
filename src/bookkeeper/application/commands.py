"""Commands: orders given to the application by an entrypoint, as frozen structs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec

from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import Corrections, JournalLine, Payload
from bookkeeper.domain.rules import Exchange


class SubmitEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Propose an action or record a read-only query (POST /events)."""

    principal: Principal
    type: str
    data: Payload
    event_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    correlation_id: uuid.UUID | None = None
    proposer_confidence: Decimal | None = None
    bank_transaction_verified: bool | None = None
    source: dict[str, str] = {}
    #: What the proposer assumed itself (the pipeline: "no VAT rate read; 25 % assumed"),
    #: recorded in the proposal event's metadata ("warnings") for the reviewer to read.
    warnings: tuple[str, ...] = ()
    #: What the sender wrote with the document against booking it as read ("privat, ikke
    #: bokfør"): the proposal is never approved automatically (domain.review).
    reservation: str | None = None
    #: The fields come from a structured document (an EHF e-invoice's XML elements), not
    #: from reading text: said as a reason of the confidence. Set by the pipeline only.
    structured_source: str | None = None


class ApproveProposal(msgspec.Struct, frozen=True, kw_only=True):
    principal: Principal
    proposal_id: uuid.UUID
    corrections: Corrections | None = None
    comment: str | None = None


class RejectProposal(msgspec.Struct, frozen=True, kw_only=True):
    principal: Principal
    proposal_id: uuid.UUID
    reason: str


class RetryExecution(msgspec.Struct, frozen=True, kw_only=True):
    """Send a FAILED proposal back to execution (a fresh attempt budget)."""

    principal: Principal
    proposal_id: uuid.UUID
    comment: str | None = None


Command = SubmitEvent | ApproveProposal | RejectProposal | RetryExecution


class RecordJournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Post one balanced journal entry: the one command for every source (REST, the bus's
    translators, plugins). LedgerService.record authorizes it (RBAC, then the ABAC rule
    of decision 4: approval limit and department) and posts it at version 0.

    `entry_id` is deterministic for an external event (event_log.external_entry_id), so a
    redelivery is a duplicate; None lets the service choose (from the Idempotency-Key, if
    any, else a new id)."""

    date: dt.date
    description: str
    lines: tuple[JournalLine, ...]
    #: "manual" (REST) or the external source's name (a translator's).
    source: str = "manual"
    entry_id: uuid.UUID | None = None
    department: str | None = None
    idempotency_key: str | None = None
    #: The external event this entry books ("InvoiceIssued:invoicing:F-1001"), if any.
    external_ref: str | None = None
    #: How the foreign-currency document the entry books was converted to NOK (ADR 0051),
    #: recorded in the event's metadata as an executed proposal's is: SAF-T's currency of
    #: its lines (ADR 0020 addendum). None for a NOK entry.
    exchange: Exchange | None = None
