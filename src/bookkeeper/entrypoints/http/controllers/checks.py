"""/check: the checks a scheduler (`system:cron`) or an admin runs — what is missing, what
it cost, what the chart lacks, what failed. Each records its event and answers with what it
found. `check_routes(container)` is what the app mounts."""

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta

from bookkeeper.application.checks import MAX_NOTE, Checks
from bookkeeper.application.lookups import InvalidDateRange, Lookups
from bookkeeper.application.ports import ProposalView
from bookkeeper.domain.events import CostTotal
from bookkeeper.entrypoints.http.controllers.lookups import (
    BankTransactionsOut,
    _transactions_out,
)
from bookkeeper.entrypoints.http.decoding import StrictJson
from bookkeeper.entrypoints.http.params import invalid_query
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.routing import FreshRouter
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import RequestBody, ResponseBody

FromDate = Annotated[
    dt.date | None,
    QueryParameter(name="from", description="First day, YYYY-MM-DD (inclusive)"),
]
ToDate = Annotated[
    dt.date | None,
    QueryParameter(name="to", description="Last day, YYYY-MM-DD (inclusive; default today)"),
]
_CENT: Final = Decimal("0.01")


class CostTotalOut(ResponseBody, frozen=True, kw_only=True):
    source: str
    currency: str
    #: The total in `currency`, a decimal string with two decimals.
    amount: str
    input_tokens: int
    output_tokens: int
    records: int


class CostsCheckOut(ResponseBody, frozen=True, kw_only=True):
    check_event_id: uuid.UUID
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    totals: list[CostTotalOut]


class UnknownAccountsCheckOut(ResponseBody, frozen=True, kw_only=True):
    check_event_id: uuid.UUID
    backend: str
    chart_size: int
    accounts: list[str]


class ExecutionOut(ResponseBody, frozen=True, kw_only=True):
    proposal_id: uuid.UUID
    kind: str
    status: str
    attempts: int
    last_error: str | None
    decided_at: dt.datetime | None
    next_attempt_at: dt.datetime | None


class ExecutionsCheckOut(ResponseBody, frozen=True, kw_only=True):
    check_event_id: uuid.UUID
    stuck_after_minutes: int
    failed: list[ExecutionOut]
    stuck: list[ExecutionOut]


class ResolutionIn(RequestBody, frozen=True, kw_only=True):
    #: What was done about it (booked by hand in Fiken, submitted again …); optional.
    note: Annotated[str, Meta(max_length=MAX_NOTE)] | None = None


class ResolutionOut(ResponseBody, frozen=True, kw_only=True):
    proposal_id: uuid.UUID
    #: The ExecutionFailureResolved event (the same id when marked again).
    resolution_event_id: uuid.UUID


def _cost_out(total: CostTotal) -> CostTotalOut:
    return CostTotalOut(
        source=total.source,
        currency=total.currency,
        amount=str(total.amount.quantize(_CENT, rounding=ROUND_HALF_UP)),
        input_tokens=total.input_tokens,
        output_tokens=total.output_tokens,
        records=total.records,
    )


def _execution_out(view: ProposalView) -> ExecutionOut:
    return ExecutionOut(
        proposal_id=view.id,
        kind=view.kind,
        status=view.status.value,
        attempts=view.attempts,
        last_error=view.last_error,
        decided_at=view.decided_at,
        next_attempt_at=view.next_attempt_at,
    )


def _range(lookups: Lookups, start: dt.date | None, end: dt.date | None) -> None:
    """A 400 naming the offending parameter when the range is reversed or too long."""
    try:
        lookups.date_range(start, end)
    except InvalidDateRange as error:
        raise invalid_query(error.field, error.message) from None


class CheckController(Controller):
    """The checks; each needs `checks:run` (roles `system` and `admin` by default)."""

    path = "/"
    tags = ["checks"]  # noqa: RUF012 - Litestar reads these class attributes

    @post(
        "/missing-receipts",
        operation_id="checkMissingReceipts",
        summary="Check which bank events still lack a receipt",
        status_code=200,
        responses=documented(401, 403, 502, 503),
    )
    async def missing_receipts(
        self,
        request: AuthenticatedRequest,
        checks: NamedDependency[Checks],
        lookups: NamedDependency[Lookups],
        start: FromDate = None,
        end: ToDate = None,
    ) -> BankTransactionsOut:
        """Bank events dated in [from, to] (default: the last 30 days) where money went out
        and no receipt is attached. Recorded as a MissingReceiptsChecked event (source
        `check`) whose id is `queryEventId`."""
        checks.authorize(request.user)
        _range(lookups, start, end)
        return _transactions_out(await checks.missing_receipts(request.user, start, end))

    @post(
        "/costs",
        operation_id="checkCosts",
        summary="Check what each source cost in a period",
        status_code=200,
        responses=documented(401, 403),
    )
    async def costs(
        self,
        request: AuthenticatedRequest,
        checks: NamedDependency[Checks],
        lookups: NamedDependency[Lookups],
        start: FromDate = None,
        end: ToDate = None,
    ) -> CostsCheckOut:
        """Spending per source and currency over [from, to] (default: this month up to
        today, days in Norway): today the service's own extraction calls to Claude (source
        `bookkeeper`, USD, with their tokens). Recorded as a CostsChecked event."""
        checks.authorize(request.user)
        _range(lookups, start, end)
        result = await checks.costs(request.user, start, end)
        return CostsCheckOut(
            check_event_id=result.event_id,
            from_=result.found.start,
            to=result.found.end,
            totals=[_cost_out(t) for t in result.found.totals],
        )

    @post(
        "/unknown-accounts",
        operation_id="checkUnknownAccounts",
        summary="Check for account codes the chart of accounts lacks",
        status_code=200,
        responses=documented(401, 403, 502, 503),
    )
    async def unknown_accounts(
        self, request: AuthenticatedRequest, checks: NamedDependency[Checks]
    ) -> UnknownAccountsCheckOut:
        """Codes used in the ledger that the tenant's chart (from the books) lacks.
        Recorded as an UnknownAccountsChecked event."""
        result = await checks.unknown_accounts(request.user)
        return UnknownAccountsCheckOut(
            check_event_id=result.event_id,
            backend=result.found.backend,
            chart_size=result.found.chart_size,
            accounts=result.found.accounts,
        )

    @post(
        "/executions",
        operation_id="checkExecutions",
        summary="Check for failed or stuck executions",
        status_code=200,
        responses=documented(401, 403),
    )
    async def executions(
        self, request: AuthenticatedRequest, checks: NamedDependency[Checks]
    ) -> ExecutionsCheckOut:
        """Proposals whose execution failed for good (FAILED), and approved ones not
        carried out within `stuckAfterMinutes` of their approval or scheduled retry.
        Recorded as an ExecutionsChecked event."""
        result = await checks.executions(request.user)
        found = result.found
        return ExecutionsCheckOut(
            check_event_id=result.event_id,
            stuck_after_minutes=int(found.stuck_after.total_seconds() // 60),
            failed=[_execution_out(v) for v in found.failed],
            stuck=[_execution_out(v) for v in found.stuck],
        )

    @post(
        "/executions/{proposal_id:uuid}/resolved",
        operation_id="resolveFailedExecution",
        dto=StrictJson[ResolutionIn],
        return_dto=None,
        summary="Mark a failed execution as dealt with",
        status_code=200,
        responses=documented(401, 403, 404, 409, 415, 422),
    )
    async def resolve_execution(
        self,
        data: JSONBody[ResolutionIn],
        request: AuthenticatedRequest,
        checks: NamedDependency[Checks],
        proposal_id: FromPath[uuid.UUID],
    ) -> ResolutionOut:
        """A FAILED proposal dealt with otherwise (booked by hand, submitted again, not to
        be booked): the executions check and the morning summary stop counting it; the
        proposal and its history are unchanged. Recorded as an ExecutionFailureResolved
        event (marking it again changes nothing). Needs `proposals:decide`; 409 unless the
        proposal is FAILED."""
        event_id = await checks.resolve_failure(request.user, proposal_id, data.note)
        return ResolutionOut(proposal_id=proposal_id, resolution_event_id=event_id)


def check_routes(container: Any) -> FreshRouter:
    """The /check routes, with the checks resolved from `container` on first use."""
    from bookkeeper.container import resolve

    resolved: list[Checks] = []

    async def provide_checks() -> Checks:
        if not resolved:
            resolved.append(await resolve(container.checks))
        return resolved[0]

    provider: Callable[[], Awaitable[Checks]] = provide_checks
    return FreshRouter(
        path="/check",
        route_handlers=[CheckController],
        dependencies={"checks": Provide(provider, use_cache=True)},
    )
