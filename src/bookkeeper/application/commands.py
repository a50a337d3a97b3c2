"""Commands: orders given to the application by an entrypoint, as frozen structs."""

from __future__ import annotations

import uuid
from decimal import Decimal

import msgspec

from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import Corrections, Payload


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


class ApproveProposal(msgspec.Struct, frozen=True, kw_only=True):
    principal: Principal
    proposal_id: uuid.UUID
    corrections: Corrections | None = None
    comment: str | None = None


class RejectProposal(msgspec.Struct, frozen=True, kw_only=True):
    principal: Principal
    proposal_id: uuid.UUID
    reason: str


Command = SubmitEvent | ApproveProposal | RejectProposal
