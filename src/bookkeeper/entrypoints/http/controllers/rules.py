"""/rules: rules as data (issue 12, ADR 0029) — tax rates by validity, currencies and
countries, closed periods and locked VAT terms, review rules and the approval threshold.

Reading needs `rules:read` (admin, accountant, reviewer); a tax-rate change, the review
rules and reopening a period `rules:manage` (admin); closing a period and locking a VAT
term `periods:close` (accountant, admin). `rules_routes(container)` is what the app mounts.
"""

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta

from bookkeeper.application.errors import NotFound
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.numerals import decimal_fields
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.rules import Country, Currency, FiscalPeriod, TaxRate
from bookkeeper.entrypoints.http.decoding import StrictJson, refuse_misspelt_member
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.routing import FreshRouter
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import (
    RequestBody,
    ResponseBody,
    amount_out,
    optional_amount_out,
    whole,
)

_CENT: Final = Decimal("0.01")
#: The review rules' Decimal members by their JSON names (PUT keeps its body a dict).
_REVIEW_DECIMALS: Final = decimal_fields(ReviewRules)
RateText = Annotated[
    str, Meta(pattern=whole(r"[0-9]{1,2}(\.[0-9]{1,2})?"), examples=["25.00", "12", "11.11"])
]
Code = Annotated[str, Meta(pattern=whole("[0-9A-Za-z]{1,8}"), examples=["3", "33"])]


class TaxRateOut(ResponseBody, frozen=True, kw_only=True):
    country: str
    tax_type: str
    direction: str | None
    saft_code: str
    #: Percent, a decimal string with two decimals ("25.00"); null for codes without one.
    rate: str | None
    account: str | None
    valid_from: dt.date
    valid_to: dt.date | None


class TaxRateChangeIn(RequestBody, frozen=True, kw_only=True):
    """A rate of a SAF-T code from a date on; the code's earlier rate ends the day before."""

    saft_code: Code
    rate: RateText | None
    valid_from: dt.date
    valid_to: dt.date | None = None
    country: Annotated[str, Meta(pattern=whole("[A-Za-z]{2}"))] = "NO"
    #: For a code new in the country; else the code's latest row's.
    tax_type: Annotated[str, Meta(max_length=40)] | None = None
    direction: Literal["input", "output"] | None = None
    account: Annotated[str, Meta(max_length=32)] | None = None


class CurrencyOut(ResponseBody, frozen=True, kw_only=True):
    code: str
    name: str
    minor_units: int


class CountryOut(ResponseBody, frozen=True, kw_only=True):
    code: str
    name: str
    currency: str | None


class PeriodIn(RequestBody, frozen=True, kw_only=True):
    start: dt.date
    end: dt.date


class PeriodOut(ResponseBody, frozen=True, kw_only=True):
    kind: str
    name: str
    start: dt.date
    end: dt.date
    closed_by: str
    closed_at: dt.datetime


class ReviewRulesOut(ResponseBody, frozen=True, kw_only=True):
    """The review rules as GET shows them and PUT takes them (by these names). Amounts
    (gross NOK) are decimal strings with two decimals; scores are confidences in 0..1."""

    auto_approve_above: str
    review_recommended_from: str
    auto_approvable_kinds: list[str]
    auto_approve_requires_pattern: bool
    amount_min: str
    amount_max: str
    max_auto_amount: str
    duplicate_window_days: int
    two_approvers_above: str | None
    default_approval_limit: str | None
    require_approval_limit: bool
    departments: bool
    vat_registered: bool
    #: "bimonthly" or "yearly" (årstermin, ADR 0064).
    vat_term: str
    #: The day the VAT registration took effect; no return for a term ended before it
    #: (ADR 0064, addendum). Null: registered for as long as the books go back.
    vat_registered_from: dt.date | None = None


def _review_rules(r: ReviewRules) -> ReviewRulesOut:
    return ReviewRulesOut(
        auto_approve_above=str(r.auto_approve_above),
        review_recommended_from=str(r.review_recommended_from),
        auto_approvable_kinds=sorted(kind.value for kind in r.auto_approvable_kinds),
        auto_approve_requires_pattern=r.auto_approve_requires_pattern,
        amount_min=amount_out(r.amount_min),
        amount_max=amount_out(r.amount_max),
        max_auto_amount=amount_out(r.max_auto_amount),
        duplicate_window_days=r.duplicate_window_days,
        two_approvers_above=optional_amount_out(r.two_approvers_above),
        default_approval_limit=optional_amount_out(r.default_approval_limit),
        require_approval_limit=r.require_approval_limit,
        departments=r.departments,
        vat_registered=r.vat_registered,
        vat_term=r.vat_term,
        vat_registered_from=r.vat_registered_from,
    )


def _rate(r: TaxRate) -> TaxRateOut:
    return TaxRateOut(
        country=r.country,
        tax_type=r.tax_type,
        direction=r.direction,
        saft_code=r.saft_code,
        rate=None if r.rate is None else str(r.rate.quantize(_CENT)),
        account=r.account,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
    )


def _period(p: FiscalPeriod) -> PeriodOut:
    return PeriodOut(
        kind=p.kind,
        name=p.name,
        start=p.start,
        end=p.end,
        closed_by=p.closed_by,
        closed_at=p.closed_at,
    )


class RulesController(Controller):
    """The rules of the caller's tenant (and the country's tax rates)."""

    path = "/"
    tags = ["rules"]  # noqa: RUF012 - Litestar reads these class attributes

    @get("/tax-rates", operation_id="listTaxRates", responses=documented(401, 403))
    async def tax_rates(
        self,
        request: AuthenticatedRequest,
        rules: NamedDependency[RulesService],
        country: Annotated[
            str | None, QueryParameter(pattern=whole("[A-Za-z]{2}"), description="ISO 3166 code")
        ] = None,
        on: Annotated[
            dt.date | None, QueryParameter(description="Only the rates valid on this day")
        ] = None,
    ) -> list[TaxRateOut]:
        """Tax rates with their validity, by country, SAF-T code and date."""
        return [_rate(r) for r in await rules.tax_rates(request.user, country, on)]

    @post(
        "/tax-rates",
        operation_id="changeTaxRate",
        status_code=201,
        dto=StrictJson[TaxRateChangeIn],
        return_dto=None,
        responses=documented(401, 403, 415, 422),
    )
    async def change_tax_rate(
        self,
        data: JSONBody[TaxRateChangeIn],
        request: AuthenticatedRequest,
        rules: NamedDependency[RulesService],
    ) -> TaxRateOut:
        """A rate change on a date (admin): postings, the VAT report and the compliance
        checks use it for documents dated from `validFrom` on — no deploy."""
        added = await rules.change_tax_rate(
            request.user,
            saft_code=data.saft_code,
            rate=None if data.rate is None else Decimal(data.rate),
            valid_from=data.valid_from,
            valid_to=data.valid_to,
            country=data.country,
            tax_type=data.tax_type,
            direction=data.direction,
            account=data.account,
        )
        return _rate(added)

    @get("/currencies", operation_id="listCurrencies", responses=documented(401, 403))
    async def currencies(
        self, request: AuthenticatedRequest, rules: NamedDependency[RulesService]
    ) -> list[CurrencyOut]:
        """ISO 4217 currencies and their minor units (decimals)."""
        found: list[Currency] = await rules.currencies(request.user)
        return [CurrencyOut(code=c.code, name=c.name, minor_units=c.minor_units) for c in found]

    @get("/countries", operation_id="listCountries", responses=documented(401, 403))
    async def countries(
        self, request: AuthenticatedRequest, rules: NamedDependency[RulesService]
    ) -> list[CountryOut]:
        """ISO 3166 countries and their currency."""
        found: list[Country] = await rules.countries(request.user)
        return [CountryOut(code=c.code, name=c.name, currency=c.currency) for c in found]

    @get("/periods", operation_id="listClosedPeriods", responses=documented(401, 403))
    async def periods(
        self,
        request: AuthenticatedRequest,
        rules: NamedDependency[RulesService],
        kind: Annotated[
            Literal["period", "vat-term"] | None,
            QueryParameter(description="period (closed) or vat-term (locked)"),
        ] = None,
    ) -> list[PeriodOut]:
        """The tenant's closed periods and locked VAT terms."""
        return [_period(p) for p in await rules.periods(request.user, kind)]

    @post(
        "/periods",
        operation_id="closePeriod",
        status_code=201,
        dto=StrictJson[PeriodIn],
        return_dto=None,
        responses=documented(401, 403, 415, 422),
    )
    async def close_period(
        self,
        data: JSONBody[PeriodIn],
        request: AuthenticatedRequest,
        rules: NamedDependency[RulesService],
    ) -> PeriodOut:
        """Close [start, end] (accountant): a posting dated into it is refused with a 409
        naming the period; corrections go into an open period by reversal. Closing the same
        period again answers the period as it was closed."""
        period, _ = await rules.close_period(request.user, data.start, data.end)
        return _period(period)

    @delete(
        "/periods/{kind:str}/{start:date}",
        operation_id="reopenPeriod",
        responses=documented(401, 403, 404, 422),
    )
    async def reopen(
        self,
        request: AuthenticatedRequest,
        rules: NamedDependency[RulesService],
        kind: FromPath[str],
        start: FromPath[dt.date],
    ) -> None:
        """Reopen a closed period or unlock a VAT term (admin)."""
        if not await rules.reopen(request.user, kind, start):
            raise NotFound(f"no {kind} starting {start} is closed")

    @post(
        "/vat-terms/{year:int}/{term:int}/lock",
        operation_id="lockVatTerm",
        status_code=201,
        responses=documented(401, 403, 404, 422),
    )
    async def lock_vat_term(
        self,
        request: AuthenticatedRequest,
        rules: NamedDependency[RulesService],
        year: FromPath[int],
        term: FromPath[int],
    ) -> PeriodOut:
        """Lock a bi-monthly VAT term once reported (accountant): a later posting dated
        into it is a compliance finding, with an alert and a proposed reversal. Locking it
        again answers the term as it was locked."""
        period, _ = await rules.lock_vat_term(request.user, year, term)
        return _period(period)

    @get("/review-rules", operation_id="getReviewRules", responses=documented(401, 403))
    async def review_rules(
        self, request: AuthenticatedRequest, rules: NamedDependency[RulesService]
    ) -> ReviewRulesOut:
        """The tenant's review rules and approval threshold (twoApproversAbove …)."""
        return _review_rules(await rules.review_rules(request.user))

    @put(
        "/review-rules",
        operation_id="setReviewRules",
        # Strict decoding like every other body: the depth check (a body nested thousands
        # deep was a RecursionError, a 500) and a 400 that names what is not JSON.
        dto=StrictJson[dict[str, Any]],
        return_dto=None,
        responses=documented(401, 403, 415, 422),
    )
    async def set_review_rules(
        self,
        data: JSONBody[dict[str, Any]],
        request: AuthenticatedRequest,
        rules: NamedDependency[RulesService],
    ) -> ReviewRulesOut:
        """Change some review rules (admin): the fields given, by their names in GET.
        Amounts and scores are plain numbers ("1000.00", 0.9), as everywhere (a 422 names
        one written otherwise: " 1000", "1e3", "1_000")."""
        refuse_misspelt_member(await request.body(), _REVIEW_DECIMALS)
        return _review_rules(await rules.set_review_rules(request.user, data))


def rules_routes(container: Any) -> FreshRouter:
    """The /rules routes, with the rules service resolved from `container` on first use."""
    from bookkeeper.container import resolve

    resolved: list[RulesService] = []

    async def provide_rules() -> RulesService:
        if not resolved:
            resolved.append(await resolve(container.rules))
        return resolved[0]

    provider: Callable[[], Awaitable[RulesService]] = provide_rules
    return FreshRouter(
        path="/rules",
        route_handlers=[RulesController],
        dependencies={"rules": Provide(provider, use_cache=True)},
    )
