"""A fake Anthropic Admin API (usage and cost reports) on a loopback socket.

Speaks the documented contract (../shared/docs/integrations.md §3): `x-api-key` with an
Admin key (`sk-ant-admin…`, else 401) and `anthropic-version` (else 400); `starting_at`
required (RFC 3339, snapped to the UTC day), `ending_at` exclusive, `bucket_width` `1d`
(the only width the cost report takes), `limit` ≤ 31 days per page (default 7), `page` an
opaque token from `next_page` while `has_more`; `group_by[]` of the documented dimensions
(a dimension not grouped by is null). Cost `amount`s are decimal strings in cents, USD.
One bucket per day in the window, empty days included, as the real API answers.

State: `costs` and `usage` rows by day, changed at will (a provider revising a recent day,
data arriving late). Faults for the next requests: `rate_limit_next(n, retry_after)` (429)
and `fail_next(n, status)`. `requests` keeps each request's path and query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, Final

from litestar import Litestar, Request, Response, get

from tests.fakes.server import serve

VERSION: Final = "2023-06-01"
USAGE_GROUPS: Final = frozenset(
    {
        "api_key_id",
        "workspace_id",
        "model",
        "service_tier",
        "context_window",
        "inference_geo",
        "account_id",
        "service_account_id",
        "speed",
    }
)
COST_GROUPS: Final = frozenset({"workspace_id", "description"})


@dataclasses.dataclass
class CostRow:
    day: dt.date
    model: str | None
    amount_cents: str
    cost_type: str = "tokens"
    token_type: str | None = "output_tokens"
    workspace_id: str | None = None


@dataclasses.dataclass
class UsageRow:
    day: dt.date
    model: str
    uncached_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    output_tokens: int = 0


@dataclasses.dataclass
class FakeAnthropicAdmin:
    costs: list[CostRow] = dataclasses.field(default_factory=list)
    usage: list[UsageRow] = dataclasses.field(default_factory=list)
    requests: list[tuple[str, list[tuple[str, str]]]] = dataclasses.field(default_factory=list)
    _rate_limits: list[float | None] = dataclasses.field(default_factory=list)
    _failures: list[int] = dataclasses.field(default_factory=list)
    #: The Retry-After header of the failures (`fail_next`), if any.
    failure_retry_after: str | None = None
    #: Answer `results` as a string (a broken proxy, a changed contract).
    nonsense_results: bool = False

    def rate_limit_next(self, n: int = 1, retry_after: float | None = 0.0) -> None:
        self._rate_limits.extend([retry_after] * n)

    def fail_next(self, n: int = 1, status: int = 503, retry_after: str | None = None) -> None:
        self._failures.extend([status] * n)
        self.failure_retry_after = retry_after

    @property
    def app(self) -> Litestar:
        fake = self

        @get("/v1/organizations/cost_report", sync_to_thread=False)
        def cost_report(request: Request[Any, Any, Any]) -> Response[Any]:
            return fake._report(request, COST_GROUPS, cost=True)

        @get("/v1/organizations/usage_report/messages", sync_to_thread=False)
        def usage_report(request: Request[Any, Any, Any]) -> Response[Any]:
            return fake._report(request, USAGE_GROUPS, cost=False)

        return Litestar([cost_report, usage_report], openapi_config=None)

    def _report(
        self, request: Request[Any, Any, Any], groups: frozenset[str], *, cost: bool
    ) -> Response[Any]:
        query = list(request.query_params.multi_items())
        self.requests.append((request.url.path, query))
        key = request.headers.get("x-api-key", "")
        if not key.startswith("sk-ant-admin"):
            return _error(401, "authentication_error", "invalid x-api-key")
        if request.headers.get("anthropic-version") != VERSION:
            return _error(400, "invalid_request_error", "anthropic-version header required")
        if self._rate_limits:
            retry_after = self._rate_limits.pop(0)
            headers = {} if retry_after is None else {"retry-after": str(retry_after)}
            return Response(
                {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
                status_code=429,
                headers=headers,
            )
        if self._failures:
            after = self.failure_retry_after
            headers = {} if after is None else {"retry-after": after}
            return _error(self._failures.pop(0), "api_error", "internal error", headers=headers)
        params = request.query_params
        try:
            start = _day(params["starting_at"])
            end = _day(params["ending_at"]) if "ending_at" in params else start + dt.timedelta(7)
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "starting_at must be RFC 3339")
        if params.get("bucket_width", "1d") != "1d":
            return _error(400, "invalid_request_error", "bucket_width must be 1d here")
        try:
            limit = int(params.get("limit", "7"))
        except ValueError:
            return _error(400, "invalid_request_error", "limit must be an integer")
        if not 1 <= limit <= 31:
            return _error(400, "invalid_request_error", "limit must be 1–31 for 1d")
        grouped = set(params.getall("group_by[]", []))
        if grouped - groups:
            return _error(400, "invalid_request_error", f"bad group_by {sorted(grouped - groups)}")
        page = params.get("page")
        first = _day(page) if page else start
        days = [first + dt.timedelta(i) for i in range((end - first).days)]
        shown, rest = days[:limit], days[limit:]
        data = [
            {
                "starting_at": f"{day.isoformat()}T00:00:00Z",
                "ending_at": f"{(day + dt.timedelta(1)).isoformat()}T00:00:00Z",
                "results": "n/a"
                if self.nonsense_results
                else (self._costs(day, grouped) if cost else self._usage(day, grouped)),
            }
            for day in shown
        ]
        return Response(
            {
                "data": data,
                "has_more": bool(rest),
                "next_page": f"{rest[0].isoformat()}T00:00:00Z" if rest else None,
            }
        )

    def _costs(self, day: dt.date, grouped: set[str]) -> list[dict[str, Any]]:
        by_description = "description" in grouped
        return [
            {
                "amount": row.amount_cents,
                "currency": "USD",
                "cost_type": row.cost_type if by_description else None,
                "description": f"{row.model} {row.token_type}" if by_description else None,
                "model": row.model if by_description else None,
                "service_tier": "standard" if by_description else None,
                "token_type": row.token_type if by_description else None,
                "context_window": None,
                "workspace_id": row.workspace_id if "workspace_id" in grouped else None,
                "inference_geo": None,
            }
            for row in self.costs
            if row.day == day
        ]

    def _usage(self, day: dt.date, grouped: set[str]) -> list[dict[str, Any]]:
        return [
            {
                "uncached_input_tokens": row.uncached_input_tokens,
                "cache_read_input_tokens": row.cache_read_input_tokens,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": row.cache_5m,
                    "ephemeral_1h_input_tokens": row.cache_1h,
                },
                "output_tokens": row.output_tokens,
                "server_tool_use": {"web_search_requests": 0},
                "model": row.model if "model" in grouped else None,
                "workspace_id": None,
                "api_key_id": None,
                "service_tier": None,
                "context_window": None,
            }
            for row in self.usage
            if row.day == day
        ]


def _day(raw: str) -> dt.date:
    return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(dt.UTC).date()


def _error(
    status: int, kind: str, message: str, *, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        {"type": "error", "error": {"type": kind, "message": message}},
        status_code=status,
        headers=headers or {},
    )


@contextlib.asynccontextmanager
async def running_fake_anthropic_admin() -> AsyncIterator[tuple[FakeAnthropicAdmin, str]]:
    fake = FakeAnthropicAdmin()
    async with serve(fake.app) as url:
        yield fake, url
