"""Wire structs of the HTTP API: the JSON shapes clients send and receive, in camelCase.

They are not domain objects: request structs refuse unknown fields (so a client cannot
smuggle in `status`, `actor` or `tenantId`), and response structs are built field by
field from the application's results by the `*_out` functions below. Amounts travel as
decimal strings; confidence scores and ratios as JSON numbers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Meta

from bookkeeper.application.handlers import DecisionResult, SubmitResult
from bookkeeper.application.ports import BusState, PatternView, ProposalView, RecordedEvent
from bookkeeper.application.queries import ApprovalRate
from bookkeeper.domain import money
from bookkeeper.domain.confidence import Confidence
from bookkeeper.domain.events import CATALOGUE, Corrections, payload_to_builtins
from bookkeeper.domain.review import Outcome

MAX_TEXT = 2000

StatusName = Literal["PROPOSED", "APPROVED", "REJECTED", "EXECUTED", "FAILED"]
KindName = Literal[
    "receipt_attachment",
    "invoice_registration",
    "expense_registration",
    "pattern_suggestion",
    "reversal",
    "correction",
]
OutcomeName = Literal["auto_approved", "awaiting_review", "recorded"]
if TYPE_CHECKING:
    EventTypeName = str
else:
    #: Every event type (domain.events.CATALOGUE), as a Literal: a filter names one of them
    #: or is refused (400, params.bounded_query), and the OpenAPI document lists them.
    EventTypeName = Literal[tuple(CATALOGUE)]


class RequestBody(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    """Base of request bodies: camelCase, unknown fields refused."""


class ResponseBody(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of response bodies: camelCase."""


# --- requests ---------------------------------------------------------------------------


class EventSubmission(RequestBody, frozen=True, kw_only=True):
    """POST /events: propose an action or record a read-only query.

    `data` is the payload of `type`, checked against that type's schema (camelCase,
    amounts as decimal strings). The actor and tenant come from the bearer token.
    """

    type: Annotated[str, Meta(min_length=1, max_length=100, examples=["PatternSuggested"])]
    data: msgspec.Raw
    id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None
    proposer_confidence: Annotated[float, Meta(ge=0, le=1)] | None = None
    bank_transaction_verified: bool | None = None
    source: Annotated[
        dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=500)]],
        Meta(max_length=20),
    ] = {}


class CorrectionsIn(RequestBody, frozen=True, kw_only=True):
    """Values a reviewer corrects before approving; omitted fields stay as proposed."""

    account_code: str | None = None
    vat_rate: Decimal | None = None
    amount: Decimal | None = None
    vat_amount: Decimal | None = None
    date: dt.date | None = None
    due_date: dt.date | None = None
    merchant_name: str | None = None
    supplier: str | None = None
    category: str | None = None
    folio_event_id: str | None = None
    #: A foreign-currency document's amount in NOK (what was paid): needed to approve one
    #: that has no NOK amount from the exchange rates or the bank (ADR 0051).
    nok_amount: Decimal | None = None
    #: An invoice's reverse charge (ADR 0056): true books it as a service bought from
    #: abroad (SAF-T 86), false as an ordinary purchase.
    reverse_charge: bool | None = None

    def to_domain(self) -> Corrections:
        return Corrections(**{name: getattr(self, name) for name in self.__struct_fields__})


class ApprovalRequest(RequestBody, frozen=True, kw_only=True):
    """POST /events/{id}/approve (the body is optional)."""

    corrections: CorrectionsIn | None = None
    comment: Annotated[str, Meta(max_length=MAX_TEXT)] | None = None


class RejectionRequest(RequestBody, frozen=True, kw_only=True):
    """POST /events/{id}/reject."""

    reason: Annotated[str, Meta(max_length=MAX_TEXT)]


class RetryRequest(RequestBody, frozen=True, kw_only=True):
    """POST /events/{id}/retry (the body is optional)."""

    comment: Annotated[str, Meta(max_length=MAX_TEXT)] | None = None


# --- responses --------------------------------------------------------------------------


class ReasonOut(ResponseBody, frozen=True, kw_only=True):
    signal: str
    effect: str
    detail: str


class ConfidenceOut(ResponseBody, frozen=True, kw_only=True):
    score: float
    reasons: list[ReasonOut]


class DecisionOut(ResponseBody, frozen=True, kw_only=True):
    outcome: OutcomeName
    band: str | None
    rule: str
    explanation: str


class SubmissionOut(ResponseBody, frozen=True, kw_only=True, omit_defaults=True):
    """What POST /events recorded and what the review rules decided."""

    event_id: uuid.UUID
    stream_id: uuid.UUID
    proposal_id: uuid.UUID | None
    correlation_id: uuid.UUID
    type: str
    status: StatusName | None
    confidence: ConfidenceOut | None
    decision: DecisionOut
    #: What the reviewer must weigh: the proposer's own warnings and the service's (a
    #: credit note for more than its invoice names both amounts here); absent when none.
    warnings: list[str] = []


class EventOut(ResponseBody, frozen=True, kw_only=True):
    """One event of the log."""

    id: uuid.UUID
    position: int
    stream_id: uuid.UUID
    version: int
    type: str
    schema_version: int
    status: StatusName | None
    actor: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    parent_id: uuid.UUID | None
    correlation_id: uuid.UUID
    created_at: dt.datetime


class EventPage(ResponseBody, frozen=True, kw_only=True):
    items: list[EventOut]
    next_after: int | None


class CorrelationOut(ResponseBody, frozen=True, kw_only=True):
    correlation_id: uuid.UUID
    items: list[EventOut]


class ProposalOut(ResponseBody, frozen=True, kw_only=True):
    """Current state of one proposal (from the proposals read model)."""

    id: uuid.UUID
    kind: str
    type: str
    status: StatusName
    version: int
    correlation_id: uuid.UUID
    proposed_by: str
    proposed_at: dt.datetime
    updated_at: dt.datetime
    merchant_key: str | None
    merchant_name: str | None
    amount: str | None
    document_date: dt.date | None
    document_number: str | None
    account_code: str | None
    vat_rate: str | None
    data: dict[str, Any]
    corrections: dict[str, Any] | None
    confidence: float | None
    review_outcome: str | None
    review_band: str | None
    review_rule: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_rule: str | None
    rejection_reason: str | None
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    external_ids: dict[str, str]
    target_proposal_id: uuid.UUID | None
    last_position: int
    #: Who gave the first of two required approvals (domain.approval); the proposal is still
    #: PROPOSED until a second, different person approves.
    endorsed_by: str | None = None


class ProposalPage(ResponseBody, frozen=True, kw_only=True):
    items: list[ProposalOut]
    next_after: int | None


class DecisionResultOut(ResponseBody, frozen=True, kw_only=True):
    """The decision event appended and the proposal's state after it."""

    event_id: uuid.UUID
    proposal: ProposalOut


class PatternOut(ResponseBody, frozen=True, kw_only=True):
    merchant_key: str
    merchant_name: str
    account_code: str
    vat_rate: str
    suggestion_id: uuid.UUID
    approved_by: str
    applied_at: dt.datetime


class PatternList(ResponseBody, frozen=True, kw_only=True):
    """A page of the applied patterns by merchant key; page on with `cursor` =
    `nextCursor` (null: the last page)."""

    items: list[PatternOut]
    next_cursor: str | None


class ApprovalCountsOut(ResponseBody, frozen=True, kw_only=True):
    kind: str
    proposed: int
    approved: int
    auto_approved: int
    rejected: int
    pending: int
    executed: int
    failed: int


class ApprovalRateOut(ResponseBody, frozen=True, kw_only=True):
    """Approved / (approved + rejected), and the share approved automatically."""

    start: dt.datetime | None
    end: dt.datetime | None
    proposed: int
    approved: int
    auto_approved: int
    rejected: int
    pending: int
    executed: int
    failed: int
    approval_rate: float | None
    auto_approval_rate: float | None
    by_kind: list[ApprovalCountsOut]


class DatabaseOut(ResponseBody, frozen=True, kw_only=True):
    dialect: str
    url: str


class BackendsOut(ResponseBody, frozen=True, kw_only=True):
    """Which books and bank the service talks to: the real APIs or the local sandbox."""

    books: str
    bank: str
    executor: Literal["running", "off"]


class BusConsumerOut(ResponseBody, frozen=True, kw_only=True):
    """One durable JetStream consumer and how far behind it is: `waiting` messages of its
    stream not yet delivered to it, `unacknowledged` delivered and not yet acknowledged
    (booked and acknowledged is 0 and 0); both null when NATS does not answer or the
    connection is not up. `state`: its connection as it last saw it — `connected`,
    `reconnecting` (the socket was lost), `closed` (the server closed it for good; it
    connects again), `failing` (its latest pull failed), `stopped` — and `reason` unless
    connected."""

    durable: str
    stream: str
    role: Literal["ledger", "accounts-master"]
    state: BusState
    reason: str | None = None
    waiting: int | None = None
    unacknowledged: int | None = None


class BusPublisherOut(ResponseBody, frozen=True, kw_only=True):
    """The bus-publisher (the committed ledger to JetStream): its tracking position, the
    head of the log, and `behind` = head - position (positions not yet published or
    passed; holes in the positions counted), null when the database does not answer;
    `state` and `reason` of its connection as for a consumer (`failing`: its latest
    publish was refused or not acknowledged)."""

    name: str
    state: BusState
    reason: str | None = None
    position: int | None = None
    head: int | None = None
    behind: int | None = None


class BusOut(ResponseBody, frozen=True, kw_only=True):
    """Which bus books external events: `nats` (JetStream; its durable consumer and how
    many messages it has not acknowledged yet, null when NATS does not answer) or
    `in-process` (POST /bus/events only). With NATS, `consumers` lists every durable
    consumer (the ledger's and the Accounts Master's) with its lag, and `publisher` how
    far the bus-publisher is behind the log."""

    kind: Literal["nats", "in-process"]
    consumer: str | None = None
    pending: int | None = None
    consumers: list[BusConsumerOut] = []
    publisher: BusPublisherOut | None = None


class SpendingSourceOut(ResponseBody, frozen=True, kw_only=True, omit_defaults=True):
    """A cost source (issue 11): configured, or absent and why (never its credentials)."""

    name: str
    status: Literal["configured", "absent"]
    reason: str | None = None


class SpendingOut(ResponseBody, frozen=True, kw_only=True):
    sources: list[SpendingSourceOut]


class TenantBackendsOut(ResponseBody, frozen=True, kw_only=True):
    """Issue 14: the books and bank are resolved per tenant (`on`); whether a tenant's own
    Fiken/Folio access can be stored (`canStore`: BOOKKEEPER_CREDENTIALS_KEY is set) and
    how many tenants have their own (`tenants`; null: not counted). No tenant is named and
    nothing of a secret is shown."""

    per_tenant: Literal["on"]
    can_store: bool
    tenants: int | None = None


class LivenessOut(ResponseBody, frozen=True, kw_only=True):
    """GET /health/live: the process answers HTTP (nothing else is asked)."""

    status: Literal["ok"]
    version: str


class ReadinessOut(ResponseBody, frozen=True, kw_only=True):
    """GET /health/ready: whether the process can serve the API — its database."""

    status: Literal["ok", "degraded", "unavailable"]
    #: Why the status is not `ok` (empty when it is); never a URL or a credential.
    reasons: list[str] = []


class HealthOut(ResponseBody, frozen=True, kw_only=True):
    status: Literal["ok", "degraded", "unavailable"]
    #: Why the status is not `ok` (empty when it is); never a URL or a credential.
    reasons: list[str] = []
    database: DatabaseOut
    version: str
    backends: BackendsOut | None = None
    bus: BusOut | None = None
    spending: SpendingOut | None = None
    tenant_backends: TenantBackendsOut | None = None


class FieldError(ResponseBody, frozen=True, kw_only=True):
    """One offending input: where it is (`$.data.amount`, a query or header name) and why."""

    field: str | None
    source: str
    message: str


class Problem(ResponseBody, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem details document (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


# --- application results → wire ---------------------------------------------------------


def whole(body: str) -> str:
    """A pattern that matches the whole string only, both as the server tests it and as the
    OpenAPI document (ECMA-262) states it. msgspec and Litestar test a pattern with
    `re.search`, where `$` also matches before a final newline: "USD\\n" passed
    `^[A-Za-z]{3}$` and was stored with its newline. `body` uses `[0-9]`, never `\\d`
    (which in Python also takes Arabic-Indic and other digits)."""
    return rf"^(?:{body})(?!\n)$"


def _str(value: Decimal | None) -> str | None:
    return None if value is None else amount_out(value)


def _rate(value: Decimal | None) -> str | None:
    """A VAT rate in its one spelling ("25", "11.11", "0"), as the proposal's events hold it,
    whatever the store read it back as (a numeric column answers "25.00")."""
    if value is None:
        return None
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def amount_out(value: Decimal) -> str:
    """An amount on the wire: a decimal string with exactly two decimals, rounded half up,
    whatever spelling its source gave (Folio's -180.2, a reader's 1.25E+4, -0)."""
    try:
        rounded = money.round_kr(value)
    except InvalidOperation:  # more digits than the context holds: say it as it is
        return str(value)
    return format(rounded if rounded else abs(rounded), "f")


def optional_amount_out(value: Decimal | None) -> str | None:
    """`amount_out`, or None."""
    return None if value is None else amount_out(value)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def confidence_out(confidence: Confidence | None) -> ConfidenceOut | None:
    if confidence is None:
        return None
    return ConfidenceOut(
        score=float(confidence.score),
        reasons=[
            ReasonOut(signal=r.signal, effect=str(r.effect), detail=r.detail)
            for r in confidence.reasons
        ],
    )


def submission_out(result: SubmitResult) -> SubmissionOut:
    decision = result.decision
    is_proposal = decision.outcome is not Outcome.RECORDED
    return SubmissionOut(
        event_id=result.event_id,
        stream_id=result.stream_id,
        proposal_id=result.stream_id if is_proposal else None,
        correlation_id=result.correlation_id,
        type=result.type,
        status=result.status.value if result.status is not None else None,
        confidence=confidence_out(result.confidence),
        decision=DecisionOut(
            outcome=decision.outcome.value,
            band=decision.band.value if decision.band is not None else None,
            rule=decision.rule,
            explanation=decision.explanation,
        ),
        warnings=list(result.warnings),
    )


def event_out(event: RecordedEvent) -> EventOut:
    return EventOut(
        id=event.id,
        position=event.position,
        stream_id=event.stream_id,
        version=event.version,
        type=event.type,
        schema_version=event.schema_version,
        status=event.status.value if event.status is not None else None,
        actor=event.actor,
        data=payload_to_builtins(event.data),
        metadata=event.metadata,
        parent_id=event.parent_id,
        correlation_id=event.correlation_id,
        created_at=event.created_at,
    )


def proposal_out(view: ProposalView) -> ProposalOut:
    return ProposalOut(
        id=view.id,
        kind=view.kind,
        type=view.type,
        status=view.status.value,
        version=view.version,
        correlation_id=view.correlation_id,
        proposed_by=view.proposed_by,
        proposed_at=view.proposed_at,
        updated_at=view.updated_at,
        merchant_key=view.merchant_key,
        merchant_name=view.merchant_name,
        amount=_str(view.amount),
        document_date=view.document_date,
        document_number=view.document_number,
        account_code=view.account_code,
        vat_rate=_rate(view.vat_rate),
        data=view.data,
        corrections=view.corrections,
        confidence=_float(view.confidence),
        review_outcome=view.review_outcome,
        review_band=view.review_band,
        review_rule=view.review_rule,
        decided_by=view.decided_by,
        decided_at=view.decided_at,
        decision_rule=view.decision_rule,
        rejection_reason=view.rejection_reason,
        attempts=view.attempts,
        next_attempt_at=view.next_attempt_at,
        last_error=view.last_error,
        external_ids=view.external_ids,
        target_proposal_id=view.target_proposal_id,
        last_position=view.last_position,
        endorsed_by=view.endorsed_by,
    )


def decision_out(result: DecisionResult) -> DecisionResultOut:
    return DecisionResultOut(event_id=result.event_id, proposal=proposal_out(result.proposal))


def pattern_out(view: PatternView) -> PatternOut:
    return PatternOut(
        merchant_key=view.merchant_key,
        merchant_name=view.merchant_name,
        account_code=view.account_code,
        vat_rate=_rate(view.vat_rate) or "0",
        suggestion_id=view.suggestion_id,
        approved_by=view.approved_by,
        applied_at=view.applied_at,
    )


def approval_rate_out(rate: ApprovalRate) -> ApprovalRateOut:
    return ApprovalRateOut(
        start=rate.start,
        end=rate.end,
        proposed=rate.proposed,
        approved=rate.approved,
        auto_approved=rate.auto_approved,
        rejected=rate.rejected,
        pending=rate.pending,
        executed=rate.executed,
        failed=rate.failed,
        approval_rate=_float(rate.approval_rate),
        auto_approval_rate=_float(rate.auto_approval_rate),
        by_kind=[
            ApprovalCountsOut(
                kind=c.kind,
                proposed=c.proposed,
                approved=c.approved,
                auto_approved=c.auto_approved,
                rejected=c.rejected,
                pending=c.pending,
                executed=c.executed,
                failed=c.failed,
            )
            for c in rate.by_kind
        ],
    )
