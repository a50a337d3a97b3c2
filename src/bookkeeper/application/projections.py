"""Projection logic: how events become the `proposals` and `patterns` read models.

The same pure fold serves the live path (in the append's transaction) and `replay`, so a
rebuild from the log gives identical rows by construction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from bookkeeper.application.ports import (
    NewEvent,
    PatternView,
    ProposalView,
    RecordedEvent,
    UnitOfWork,
)
from bookkeeper.domain.events import (
    CorrectionData,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    Kind,
    PatternSuggestionData,
    ReceiptAttachmentData,
    ReversalData,
    Status,
    Step,
    event_type,
    payload_to_builtins,
)
from bookkeeper.domain.patterns import Pattern, normalise_merchant
from bookkeeper.domain.proposals import Proposal, counterparty


def _document_number(data: Any) -> str | None:
    match data:
        case ReceiptAttachmentData() | ExpenseRegistrationData():
            return data.document_number
        case InvoiceRegistrationData():
            return data.invoice_number
    return None


def _decimal(value: Any) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def fold_proposal(events: Iterable[RecordedEvent]) -> ProposalView | None:
    """The current view of one proposal stream; None when the stream is not a proposal."""
    events = list(events)
    if not events or event_type(events[0].type).step is not Step.PROPOSED:
        return None
    first = events[0]
    proposal = Proposal.rehydrate(str(first.stream_id), events)
    data = proposal.effective_data
    review = first.metadata.get("review", {})
    confidence = first.metadata.get("confidence", {})
    decided_at = None
    for event in events:
        if event_type(event.type).step in (Step.APPROVED, Step.REJECTED):
            decided_at = event.created_at
    target: uuid.UUID | None = None
    if isinstance(data, ReversalData | CorrectionData):
        target = uuid.UUID(data.target_proposal_id)
    merchant = counterparty(data)
    if merchant is None and isinstance(data, ExpenseRegistrationData):
        merchant = data.employee
    assert proposal.status is not None and proposal.kind is not None
    assert proposal.proposed_by is not None
    return ProposalView(
        id=first.stream_id,
        tenant_id=first.tenant_id,
        kind=proposal.kind.value,
        type=first.type,
        status=proposal.status,
        version=events[-1].version,
        correlation_id=first.correlation_id,
        proposed_by=proposal.proposed_by,
        proposed_at=first.created_at,
        updated_at=events[-1].created_at,
        merchant_key=normalise_merchant(merchant) if merchant else None,
        merchant_name=merchant,
        amount=_decimal(getattr(data, "amount", None)),
        document_date=getattr(data, "date", None),
        document_number=_document_number(data),
        account_code=getattr(data, "account_code", None),
        vat_rate=_decimal(getattr(data, "vat_rate", None)),
        data=payload_to_builtins(data),
        corrections=(payload_to_builtins(proposal.corrections) if proposal.corrections else None),
        confidence=Decimal(confidence["score"]) if "score" in confidence else None,
        review_outcome=review.get("outcome"),
        review_band=review.get("band"),
        review_rule=review.get("rule"),
        decided_by=proposal.decided_by,
        decided_at=decided_at,
        decision_rule=proposal.decision_rule,
        rejection_reason=proposal.rejection_reason,
        attempts=proposal.attempts,
        next_attempt_at=proposal.next_attempt_at,
        last_error=proposal.last_error,
        external_ids=proposal.external_ids,
        target_proposal_id=target,
        last_position=events[-1].position,
        lease_until=proposal.lease_until,
        endorsed_by=",".join(proposal.endorsed_by) or None,
        org_number=org_digits(
            getattr(data, "supplier_org_number", None) or getattr(data, "merchant_org_number", None)
        ),
    )


async def commit_proposal_in_turn(
    uow: UnitOfWork,
    tenant_id: str,
    stream_id: uuid.UUID,
    existing: Sequence[RecordedEvent],
    events: Sequence[NewEvent],
) -> tuple[list[RecordedEvent], ProposalView]:
    """`UnitOfWork.commit_proposal` as its three steps: append, upsert the folded view,
    commit (the memory store, SQLite, and PostgreSQL when one statement cannot do it)."""
    recorded = await uow.events.append(tenant_id, stream_id, len(existing), events)
    view = fold_proposal([*existing, *recorded])
    if view is None:
        raise ValueError(f"stream {stream_id} is not a proposal")
    await uow.proposals.upsert(view)
    await uow.commit()
    return recorded, view


def org_digits(value: str | None) -> str | None:
    """An organisation number as its digits ("NO 923 609 016 MVA" -> "923609016"); None
    when it has none."""
    digits = "".join(ch for ch in value or "" if ch.isascii() and ch.isdigit())
    return digits or None


def pattern_from(view: ProposalView, events: Iterable[RecordedEvent]) -> PatternView | None:
    """The applied pattern of an executed pattern suggestion, else None."""
    if view.kind != Kind.PATTERN_SUGGESTION.value or view.status is not Status.EXECUTED:
        return None
    applied = [e for e in events if event_type(e.type).step is Step.EXECUTED]
    if not applied:
        return None
    data = msgspec.convert(view.data, PatternSuggestionData, strict=False)
    return PatternView(
        tenant_id=view.tenant_id,
        merchant_key=normalise_merchant(data.merchant),
        merchant_name=data.merchant,
        account_code=data.account_code,
        vat_rate=data.vat_rate,
        suggestion_id=view.id,
        approved_by=view.decided_by or "",
        applied_at=applied[-1].created_at,
        last_position=applied[-1].position,
    )


def pattern_of(view: PatternView) -> Pattern:
    """The domain's Pattern of an applied pattern's row (what matching and scoring read)."""
    return Pattern(
        merchant_key=view.merchant_key,
        merchant_name=view.merchant_name,
        account_code=view.account_code,
        vat_rate=view.vat_rate,
        suggestion_id=str(view.suggestion_id),
    )


def named_counterparty(view: ProposalView) -> str | None:
    """The merchant or supplier a proposal's payload names (never the employee): what
    domain.proposals.counterparty says of typed data, read from the view's stored data."""
    for key in ("merchantName", "supplier", "merchant"):
        value = view.data.get(key)
        if isinstance(value, str) and value:
            return value
    return None
