"""/events: propose an action or record a query, read the log, approve or reject a proposal,
retry a failed one."""

import uuid
from decimal import Decimal
from typing import Annotated, Final

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from bookkeeper.application.commands import (
    ApproveProposal,
    RejectProposal,
    RetryExecution,
    SubmitEvent,
)
from bookkeeper.application.handlers import DecisionResult, Handlers, SubmitResult
from bookkeeper.application.ports import EventFilter, Principal
from bookkeeper.application.queries import Queries
from bookkeeper.domain.events import Status, decode_payload, event_type
from bookkeeper.entrypoints.http.decoding import StrictJson, refuse_misspelt, validation_error
from bookkeeper.entrypoints.http.params import NO_NUL, After, From, Limit, To, aware, page_limit
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import (
    ApprovalRequest,
    DecisionResultOut,
    EventOut,
    EventPage,
    EventSubmission,
    EventTypeName,
    RejectionRequest,
    RetryRequest,
    StatusName,
    SubmissionOut,
    decision_out,
    event_out,
    submission_out,
)

API_PREFIX: Final = "/api/book-keeper/v1"
MAX_IDEMPOTENCY_KEY: Final = 200

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        description=(
            "Makes a retry safe: the same key and body answer the original result "
            "(with Idempotent-Replayed: true); the same key with another body is a 409"
        ),
    ),
]


def submit_command(
    data: EventSubmission, principal: Principal, idempotency_key: str | None
) -> SubmitEvent:
    """The command of a submission: its `data` decoded by the schema of its `type`
    (msgspec.ValidationError when it does not match; an unknown type as event_type; a
    number written otherwise than plainly, a 422 naming it: domain.numerals). The
    route and the lean path (lean_submit.py) build it here, so they cannot drift."""
    etype = event_type(data.type)
    raw = bytes(data.data)
    payload = decode_payload(data.type, raw, etype.schema_version)
    refuse_misspelt(payload, raw, "$.data")
    confidence = data.proposer_confidence
    return SubmitEvent(
        principal=principal,
        type=data.type,
        data=payload,
        event_id=data.id,
        idempotency_key=idempotency_key,
        correlation_id=data.correlation_id,
        proposer_confidence=None if confidence is None else Decimal(str(confidence)),
        bank_transaction_verified=data.bank_transaction_verified,
        source=data.source,
    )


class EventController(Controller):
    """The event log of the caller's tenant."""

    path = "/events"
    tags = ["events"]  # noqa: RUF012 - Litestar reads these class attributes

    @post(
        "/",
        operation_id="submitEvent",
        summary="Propose an action or record a read-only query",
        status_code=201,
        dto=StrictJson[EventSubmission],
        return_dto=None,
        response_headers=[
            ResponseHeader(
                name="Location",
                description="Where the recorded event can be read",
                documentation_only=True,
            ),
            ResponseHeader(
                name="Idempotent-Replayed",
                description="`true` when this answers a retry of an earlier request",
                required=False,
                documentation_only=True,
            ),
        ],
        responses=documented(401, 403, 404, 409, 413, 415, 422),
    )
    async def submit(
        self,
        data: JSONBody[EventSubmission],
        request: AuthenticatedRequest,
        handlers: NamedDependency[Handlers],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[SubmissionOut]:
        """Append a proposal (e.g. `ReceiptAttachmentProposed`, `PatternSuggested`) or a
        query record (`BalanceQueried`). The domain scores the proposal's confidence from
        its signals and the tenant's review rules decide: approved automatically, waiting
        for a reviewer, or (for queries) recorded. `data` must match the schema of `type`.
        """
        try:
            command = submit_command(data, request.user, idempotency_key)
        except msgspec.DecodeError as error:  # a ValidationError, or no UTF-8 in `data`
            raise validation_error(error, prefix="$.data", body=bytes(data.data)) from None
        result: SubmitResult = await handlers.dispatch(command)
        headers = {"Location": f"{API_PREFIX}/events/{result.event_id}"}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(submission_out(result), status_code=201, headers=headers)

    @get(
        "/",
        operation_id="listEvents",
        summary="Query the event log",
        responses=documented(401, 403),
    )
    async def list_events(
        self,
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
        types: Annotated[
            list[EventTypeName] | None,
            QueryParameter(name="type", description="Event type name; repeat for several"),
        ] = None,
        statuses: Annotated[
            list[StatusName] | None,
            QueryParameter(name="status", description="Lifecycle step; repeat for several"),
        ] = None,
        actor: Annotated[
            str | None,
            QueryParameter(name="actor", max_length=200, pattern=NO_NUL, description="e.g. book-e"),
        ] = None,
        correlation_id: Annotated[uuid.UUID | None, QueryParameter(name="correlationId")] = None,
        created_from: From = None,
        created_to: To = None,
        after: After = 0,
        limit: Limit = 50,
    ) -> EventPage:
        """The tenant's events in log order, filtered; page with `after` = `nextAfter`."""
        size = page_limit(limit)
        events = await queries.events(
            request.user,
            EventFilter(
                types=tuple(types or ()),
                statuses=tuple(Status(s) for s in statuses or ()),
                actor=actor,
                correlation_id=correlation_id,
                created_from=aware(created_from, "from"),
                created_to=aware(created_to, "to"),
                after_position=after,
                limit=size,
            ),
            resumable=True,
        )
        return EventPage(
            items=[event_out(e) for e in events],
            next_after=events[-1].position if len(events) == size else None,
        )

    @get(
        "/{event_id:uuid}",
        operation_id="getEvent",
        summary="One event",
        responses=documented(401, 403, 404),
    )
    async def get_event(
        self,
        event_id: FromPath[uuid.UUID],
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
    ) -> EventOut:
        """One event of the tenant by id."""
        return event_out(await queries.event(request.user, event_id))

    @post(
        "/{event_id:uuid}/approve",
        operation_id="approveProposal",
        summary="Approve a proposal, optionally with corrections",
        status_code=200,
        dto=StrictJson[ApprovalRequest | None],
        return_dto=None,
        responses=documented(401, 403, 404, 409, 415, 422),
    )
    async def approve(
        self,
        event_id: FromPath[uuid.UUID],
        request: AuthenticatedRequest,
        handlers: NamedDependency[Handlers],
        data: JSONBody[ApprovalRequest | None] = None,
    ) -> DecisionResultOut:
        """Approve the proposal whose id is `event_id` (four eyes: not your own). Corrections
        are checked against the proposal's kind and applied before execution. A proposal
        that is no longer PROPOSED, or a concurrent decision, is a 409."""
        body = data or ApprovalRequest()
        result: DecisionResult = await handlers.dispatch(
            ApproveProposal(
                principal=request.user,
                proposal_id=event_id,
                corrections=body.corrections.to_domain() if body.corrections else None,
                comment=body.comment,
            )
        )
        return decision_out(result)

    @post(
        "/{event_id:uuid}/reject",
        operation_id="rejectProposal",
        summary="Reject a proposal with a reason",
        status_code=200,
        dto=StrictJson[RejectionRequest],
        return_dto=None,
        responses=documented(401, 403, 404, 409, 415, 422),
    )
    async def reject(
        self,
        event_id: FromPath[uuid.UUID],
        data: JSONBody[RejectionRequest],
        request: AuthenticatedRequest,
        handlers: NamedDependency[Handlers],
    ) -> DecisionResultOut:
        """Reject the proposal whose id is `event_id`; the reason goes back to the proposer."""
        result: DecisionResult = await handlers.dispatch(
            RejectProposal(principal=request.user, proposal_id=event_id, reason=data.reason)
        )
        return decision_out(result)

    @post(
        "/{event_id:uuid}/retry",
        operation_id="retryExecution",
        summary="Send a failed proposal back to execution",
        status_code=200,
        dto=StrictJson[RetryRequest | None],
        return_dto=None,
        responses=documented(401, 403, 404, 409, 415, 422),
    )
    async def retry(
        self,
        event_id: FromPath[uuid.UUID],
        request: AuthenticatedRequest,
        handlers: NamedDependency[Handlers],
        data: JSONBody[RetryRequest | None] = None,
    ) -> DecisionResultOut:
        """Execute a FAILED proposal again, as it was approved (Fiken was down for longer
        than the executor waits, the supplier was fixed in Fiken …): it is APPROVED again
        with a fresh attempt budget (recorded as `…ExecutionRetried`), and the next attempt
        looks our reference up in Fiken before acting, so it is carried out once. Needs
        `proposals:decide`; a proposal that is not FAILED is a 409."""
        body = data or RetryRequest()
        result: DecisionResult = await handlers.dispatch(
            RetryExecution(principal=request.user, proposal_id=event_id, comment=body.comment)
        )
        return decision_out(result)
