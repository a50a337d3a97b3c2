"""Spending (issue 11): the cost report, budgets and price tables, and a pull on demand.

    GET  /reports/costs?from&to&groupBy=source|service|model|day   (reports:read; CSV too)
    GET  /spending/budgets                     the tenant's monthly budgets (reports:read)
    GET  /spending/forecast                    where this month ends at its rate (reports:read)
    PUT  /spending/budgets                     set one source's (spending:write)
    GET  /spending/prices?source=               the price table usage is priced with
    PUT  /spending/prices                      set a source's (spending:write)

A source is a name in the caller's tenant (no object id in a path): another tenant's
budget or price table is not addressable at all.
    POST /spending/pull?from&to                record the providers' costs now (checks:run)

`spending_routes(container)` is what the app mounts; the service is resolved on first use.
"""

import contextlib
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, QueryParameter
from msgspec import Meta

from bookkeeper.application.spending import (
    CostReport,
    InvalidSpendingRange,
    SpendingForecast,
    SpendingService,
)
from bookkeeper.domain.events import PriceTableSetData, UnitPrice
from bookkeeper.entrypoints.http.csv_out import CsvOperation, ReportFormat, csv_response, wants_csv
from bookkeeper.entrypoints.http.decoding import StrictJson
from bookkeeper.entrypoints.http.params import NO_NUL, invalid_query
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.routing import FreshRouter
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import RequestBody, ResponseBody, whole

_CENT: Final = Decimal("0.01")
FromDate = Annotated[
    dt.date | None,
    QueryParameter(name="from", description="First UTC day, YYYY-MM-DD (default: the 1st)"),
]
ToDate = Annotated[
    dt.date | None,
    QueryParameter(name="to", description="Last UTC day, inclusive (default: today)"),
]
GroupBy = Annotated[
    Literal["source", "service", "model", "day"],
    QueryParameter(name="groupBy", description="How the rows are grouped"),
]
SourceName = Annotated[str, Meta(pattern=whole("[A-Za-z0-9._-]{1,40}"), examples=["anthropic"])]
SourceQuery = Annotated[
    str,
    QueryParameter(
        name="source",
        pattern=NO_NUL,
        description="A cost source: anthropic, google, cloudflare",
    ),
]
Amount = Annotated[str, Meta(pattern=whole(r"[0-9]{1,12}(\.[0-9]{1,2})?"), examples=["2500.00"])]
Price = Annotated[str, Meta(pattern=whole(r"[0-9]{1,12}(\.[0-9]{1,12})?"), examples=["0.30"])]


def _kr(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


class CostRowOut(ResponseBody, frozen=True, kw_only=True):
    #: The source, `source/service`, model or day the row groups, per `groupBy`.
    group: str
    currency: str
    #: In `currency`, two decimals.
    amount: str
    amount_nok: str
    records: int
    input_tokens: int
    output_tokens: int


class CurrencyTotalOut(ResponseBody, frozen=True, kw_only=True):
    currency: str
    amount: str


class CostReportOut(ResponseBody, frozen=True, kw_only=True):
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    group_by: str
    rows: list[CostRowOut]
    totals: list[CurrencyTotalOut]
    total_nok: str


class BudgetIn(RequestBody, frozen=True, kw_only=True):
    source: SourceName
    #: NOK a month; "0" removes the budget.
    monthly_nok: Amount


class BudgetOut(ResponseBody, frozen=True, kw_only=True, omit_defaults=True):
    source: str
    monthly_nok: str
    event_id: uuid.UUID | None = None
    #: When the source is not configured yet: its costs are not read until it is.
    warning: str | None = None


class UnitPriceIn(RequestBody, frozen=True, kw_only=True):
    metric: Annotated[str, Meta(pattern=whole("[A-Za-z][A-Za-z0-9_]{0,39}"), examples=["requests"])]
    #: The price of `per` units, in the table's currency.
    price: Price
    #: How many units `price` is for (a whole number as a string, like the amounts).
    per: Annotated[str, Meta(pattern=whole("[1-9][0-9]{0,9}"), examples=["1000000"])] = "1"
    #: Units free each month (a whole number as a string).
    included_per_month: Annotated[
        str, Meta(pattern=whole("[0-9]{1,16}"), examples=["10000000"])
    ] = "0"


class PriceTableIn(RequestBody, frozen=True, kw_only=True):
    source: SourceName
    currency: Annotated[str, Meta(pattern=whole("[A-Za-z]{3}"), examples=["USD"])]
    prices: Annotated[list[UnitPriceIn], Meta(min_length=1, max_length=50)]


class UnitPriceOut(ResponseBody, frozen=True, kw_only=True):
    metric: str
    price: str
    per: str
    included_per_month: str


class PriceTableOut(ResponseBody, frozen=True, kw_only=True, omit_defaults=True):
    source: str
    currency: str
    prices: list[UnitPriceOut]
    event_id: uuid.UUID | None = None
    #: When the source is not configured yet: its usage is not read until it is.
    warning: str | None = None


class AlertOut(ResponseBody, frozen=True, kw_only=True):
    source: str
    month: str
    threshold: int
    budget_nok: str
    spent_nok: str


class PullOut(ResponseBody, frozen=True, kw_only=True):
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    recorded: int
    revised: int
    unchanged: int
    #: Sources that could not be read, and why.
    failed: dict[str, str]
    alerts: list[AlertOut]


class SourceForecastOut(ResponseBody, frozen=True, kw_only=True):
    source: str
    #: The month's spending over its whole days so far (through yesterday, in Oslo).
    spent_nok: str
    #: At that rate, the month's end: null before a whole day of it has passed.
    forecast_nok: str | None
    budget_nok: str | None
    #: Whether the forecast is above the budget; null without a budget or a forecast.
    over_budget: bool | None


class ForecastOut(ResponseBody, frozen=True, kw_only=True):
    """Where this month (in Oslo) ends at the rate of its whole days so far."""

    month: str
    #: Today in Oslo: the day not yet counted (it is not over).
    as_of: dt.date
    days_passed: int
    days_in_month: int
    sources: list[SourceForecastOut]
    spent_nok: str
    forecast_nok: str | None


def forecast_out(forecast: SpendingForecast) -> ForecastOut:
    sources = forecast.sources
    ahead = [f.forecast_nok for f in sources if f.forecast_nok is not None]
    return ForecastOut(
        month=forecast.month,
        as_of=forecast.day,
        days_passed=forecast.days_passed,
        days_in_month=forecast.days_in_month,
        sources=[
            SourceForecastOut(
                source=f.source,
                spent_nok=_kr(f.spent_nok),
                forecast_nok=None if f.forecast_nok is None else _kr(f.forecast_nok),
                budget_nok=None if f.budget_nok is None else _kr(f.budget_nok),
                over_budget=(
                    None
                    if f.forecast_nok is None or f.budget_nok is None
                    else f.forecast_nok > f.budget_nok
                ),
            )
            for f in sources
        ],
        spent_nok=_kr(sum((f.spent_nok for f in sources), Decimal(0))),
        forecast_nok=_kr(sum(ahead, Decimal(0))) if forecast.days_passed else None,
    )


def report_out(report: CostReport) -> CostReportOut:
    return CostReportOut(
        from_=report.start,
        to=report.end,
        group_by=report.group_by,
        rows=[
            CostRowOut(
                group=r.key,
                currency=r.currency,
                amount=_kr(r.amount),
                amount_nok=_kr(r.amount_nok),
                records=r.records,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
            )
            for r in report.rows
        ],
        totals=[CurrencyTotalOut(currency=c, amount=_kr(a)) for c, a in report.totals.items()],
        total_nok=_kr(report.total_nok),
    )


def cost_report_csv(out: CostReportOut) -> Response[Any]:
    """The cost report as CSV: one row per group and currency, then the NOK total (the
    REST route and the web page both answer with it, byte for byte)."""
    return csv_response(
        f"costs-{out.from_.isoformat()}-{out.to.isoformat()}.csv",
        [out.group_by, "currency", "amount", "amountNok", "records", "inputTokens",
         "outputTokens"],
        [
            *(
                [r.group, r.currency, r.amount, r.amount_nok, r.records, r.input_tokens,
                 r.output_tokens]
                for r in out.rows
            ),
            ["total", "NOK", out.total_nok, out.total_nok, None, None, None],
        ],
    )  # fmt: skip


def _table_out(
    table: PriceTableSetData, event_id: uuid.UUID | None = None, warning: str | None = None
) -> PriceTableOut:
    return PriceTableOut(
        source=table.source,
        currency=table.currency,
        prices=[
            UnitPriceOut(
                metric=p.metric,
                price=str(p.price),
                per=str(p.per),
                included_per_month=str(p.included_per_month),
            )
            for p in table.prices
        ],
        event_id=event_id,
        warning=warning,
    )


def _default_range(
    spending: SpendingService, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date, dt.date]:
    end = end or spending.today()
    return start or end.replace(day=1), end


@contextlib.contextmanager
def _query_range() -> Iterator[None]:
    """A range the service refuses (longer than it reads) as the 400 naming the query
    parameter, as every route answers a range (ADR 0007 addendum); `from` after `to` is
    refused before (params.bounded_query)."""
    try:
        yield
    except InvalidSpendingRange as error:
        raise invalid_query(error.field, error.message) from None


class CostReportController(Controller):
    path = "/"
    tags = ["reports"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/costs",
        operation_id="getCostReport",
        summary="What each source cost, in its currency and in NOK",
        responses=documented(401, 403, 422),
        operation_class=CsvOperation,
    )
    async def costs(
        self,
        request: AuthenticatedRequest,
        spending: NamedDependency[SpendingService],
        start: FromDate = None,
        end: ToDate = None,
        group_by: GroupBy = "source",
        format: ReportFormat = None,
    ) -> Response[CostReportOut]:
        """The latest figure of every cost snapshot of the UTC days [from, to] (default:
        this month), grouped by source, service (`source/service`), model or day, per
        currency: totals in the source's currency and in NOK (Norges Bank's rate of each
        day). A revised figure counts once, as revised. CSV with `?format=csv`."""
        start, end = _default_range(spending, start, end)
        with _query_range():
            out = report_out(await spending.report(request.user, start, end, group_by))
        if wants_csv(request, format):
            return cost_report_csv(out)
        return Response(out)


class SpendingController(Controller):
    path = "/"
    tags = ["reports"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/budgets",
        operation_id="listBudgets",
        summary="The tenant's monthly budgets per source",
        responses=documented(401, 403),
    )
    async def budgets(
        self, request: AuthenticatedRequest, spending: NamedDependency[SpendingService]
    ) -> list[BudgetOut]:
        """Every source with a budget (NOK a month); alerts come at 80 % and 100 %."""
        spending.authorize_read(request.user)
        return [
            BudgetOut(source=b.source, monthly_nok=_kr(b.monthly_nok))
            for b in await spending.budgets(request.user.tenant_id)
        ]

    @get(
        "/forecast",
        operation_id="getSpendingForecast",
        summary="Where this month's spending ends at its rate so far",
        responses=documented(401, 403),
    )
    async def forecast(
        self, request: AuthenticatedRequest, spending: NamedDependency[SpendingService]
    ) -> ForecastOut:
        """Each source's spending over this month's whole days so far (Oslo days, through
        yesterday), carried on at that rate to the month's last day, beside its budget.
        Before a whole day of the month has passed (the 1st) there is no forecast."""
        return forecast_out(await spending.forecast_as(request.user))

    @put(
        "/budgets",
        operation_id="setBudget",
        dto=StrictJson[BudgetIn],
        return_dto=None,
        summary="Set a source's monthly budget in NOK",
        responses=documented(401, 403, 415, 422),
    )
    async def set_budget(
        self,
        data: JSONBody[BudgetIn],
        request: AuthenticatedRequest,
        spending: NamedDependency[SpendingService],
    ) -> BudgetOut:
        """Recorded as a BudgetSet event (tenant data); `0` removes the budget. A source
        the service does not know is a 422 (`unknown-source`) naming the known ones; one
        not configured yet is accepted with a `warning`. Needs `spending:write` (admins
        and accountants by default)."""
        amount = Decimal(data.monthly_nok)
        accepted = await spending.set_budget(request.user, data.source, amount)
        return BudgetOut(
            source=accepted.source,
            monthly_nok=_kr(amount),
            event_id=accepted.event_id,
            warning=accepted.warning,
        )

    @get(
        "/prices",
        operation_id="getPriceTable",
        summary="The price table a source's metered usage is priced with",
        responses=documented(401, 403, 404),
    )
    async def prices(
        self,
        request: AuthenticatedRequest,
        spending: NamedDependency[SpendingService],
        source: SourceQuery,
    ) -> PriceTableOut:
        """The tenant's table, else the default one (Cloudflare Workers list prices). A
        source the service does not know is a 400 naming the known ones; a known one
        without a table a 404."""
        spending.authorize_read(request.user)
        name, known = source.strip().lower(), spending.known_sources
        if name not in known:
            # As every query parameter with a set of values answers one outside it (ADR
            # 0007 addendum); the set is the service's configuration, not the document's.
            shown = source if len(source) <= 60 else source[:60] + "…"
            raise invalid_query("source", f"{shown!r} is not one of: {', '.join(known)}")
        table = await spending.prices(request.user.tenant_id, name)
        if table is None:
            from litestar.exceptions import NotFoundException

            raise NotFoundException(f"no price table for {source!r}")
        return _table_out(table)

    @put(
        "/prices",
        operation_id="setPriceTable",
        dto=StrictJson[PriceTableIn],
        return_dto=None,
        summary="Set the price table a source's usage is priced with",
        responses=documented(401, 403, 415, 422),
    )
    async def set_prices(
        self,
        data: JSONBody[PriceTableIn],
        request: AuthenticatedRequest,
        spending: NamedDependency[SpendingService],
    ) -> PriceTableOut:
        """Recorded as a PriceTableSet event; the next pull prices usage with it (a changed
        figure is recorded as a revision). A source the service does not know is a 422
        (`unknown-source`) naming the known ones, as for a budget; one not configured yet
        is accepted with a `warning`. Needs `spending:write`."""
        prices = [
            UnitPrice(
                metric=p.metric,
                price=Decimal(p.price),
                per=int(p.per),
                included_per_month=int(p.included_per_month),
            )
            for p in data.prices
        ]
        accepted = await spending.set_prices(request.user, data.source, data.currency, prices)
        table = PriceTableSetData(
            source=accepted.source, currency=data.currency.upper(), prices=tuple(prices)
        )
        return _table_out(table, accepted.event_id, accepted.warning)

    @post(
        "/pull",
        operation_id="pullCosts",
        summary="Record the providers' costs of recent days now",
        status_code=200,
        responses=documented(401, 403, 422),
    )
    async def pull(
        self,
        request: AuthenticatedRequest,
        spending: NamedDependency[SpendingService],
        start: FromDate = None,
        end: ToDate = None,
    ) -> PullOut:
        """What the scheduler does each morning: every source's costs of [from, to]
        (default: the last three days) as cost snapshots — new figures recorded, revised
        ones as revisions, the same ones not again — then the budget alerts. Needs
        `checks:run` (system and admin)."""
        with _query_range():
            result = await spending.pull_as(request.user, start, end)
        return PullOut(
            from_=result.start,
            to=result.end,
            recorded=result.recorded,
            revised=result.revised,
            unchanged=result.unchanged,
            failed=result.failed,
            alerts=[
                AlertOut(
                    source=a.source,
                    month=a.month,
                    threshold=a.threshold,
                    budget_nok=_kr(a.budget_nok),
                    spent_nok=_kr(a.spent_nok),
                )
                for a in result.alerts
            ],
        )


def spending_routes(container: Any) -> list[FreshRouter]:
    """/reports/costs and /spending/*, with the service resolved from `container`."""
    from bookkeeper.container import resolve

    resolved: list[SpendingService] = []

    async def provide_spending() -> SpendingService:
        if not resolved:
            resolved.append(await resolve(container.spending))
        return resolved[0]

    provider: Callable[[], Awaitable[SpendingService]] = provide_spending
    dependencies = {"spending": Provide(provider, use_cache=True)}
    return [
        FreshRouter(
            path="/reports", route_handlers=[CostReportController], dependencies=dependencies
        ),
        FreshRouter(
            path="/spending", route_handlers=[SpendingController], dependencies=dependencies
        ),
    ]
