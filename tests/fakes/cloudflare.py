"""A fake Cloudflare API (GraphQL Analytics and billable usage) on a loopback socket.

Speaks the documented contracts (../shared/docs/integrations.md §5):

* `POST /client/v4/graphql` `{query, variables}` with `Authorization: Bearer <token>`.
  Errors come as HTTP 200 with `errors: [{message, path, extensions: {timestamp}}]` and
  `data: null` — a bad token, a window longer than a month, a query that does not name the
  datasets. The fake does not parse GraphQL: it checks the datasets and variables the
  adapter's query uses and answers `data.viewer.accounts[0].workers/pages` groups per
  (date, scriptName), at most `limit` of them (as the API truncates).
* `GET /client/v4/accounts/{id}/billable-usage?from&to&page` (Alpha): `billable` decides
  whether the account has it ("available": FOCUS rows in the v4 envelope, `per_page` a
  page; "missing": 404 envelope; "forbidden": 403).

Faults: `errors_next(message)` (200 with errors), `rate_limit_next(n, retry_after)` (429 on
either endpoint, with `Retry-After` when given). `calls` keeps
each request's path and variables/query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from tests.fakes.server import serve

TOKEN: Final = "cf-token-0123456789"
ACCOUNT: Final = "0123456789abcdef0123456789abcdef"
_NUMBERS: Final = msgspec.json.Encoder(decimal_format="number")


@dataclasses.dataclass
class Invocations:
    day: dt.date
    script: str
    requests: int
    cpu_time_us: int = 0
    pages: bool = False


@dataclasses.dataclass
class BilledRow:
    day: dt.date
    cost: str
    sku: str = "workers-standard-requests"
    currency: str = "USD"


@dataclasses.dataclass
class FakeCloudflare:
    usage: list[Invocations] = dataclasses.field(default_factory=list)
    billed: list[BilledRow] = dataclasses.field(default_factory=list)
    billable: str = "missing"
    per_page: int = 20
    #: Charge periods as plain dates ("2026-11-01", ISO 8601 as FOCUS allows), not instants.
    plain_dates: bool = False
    calls: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    _errors: list[str] = dataclasses.field(default_factory=list)
    _rate_limits: list[str | None] = dataclasses.field(default_factory=list)
    _server_errors: list[tuple[int, str | None]] = dataclasses.field(default_factory=list)

    def errors_next(self, message: str = "internal error", n: int = 1) -> None:
        self._errors.extend([message] * n)

    def rate_limit_next(self, n: int = 1, retry_after: str | None = None) -> None:
        self._rate_limits.extend([retry_after] * n)

    def fail_next(self, n: int = 1, status: int = 502, retry_after: str | None = None) -> None:
        """The next `n` requests answer `status` (a gateway's HTML page, as Cloudflare's
        edge sends when its origin is down)."""
        self._server_errors.extend([(status, retry_after)] * n)

    def _rate_limited(self) -> Response[Any] | None:
        if self._server_errors:
            status, after = self._server_errors.pop(0)
            return Response(
                "<html><body>Bad gateway</body></html>",
                status_code=status,
                media_type="text/html",
                headers={} if after is None else {"Retry-After": after},
            )
        if not self._rate_limits:
            return None
        retry_after = self._rate_limits.pop(0)
        return Response(
            {"success": False, "errors": [{"code": 971, "message": "Please wait and consider "
             "throttling your request speed"}], "messages": [], "result": None},
            status_code=429,
            headers={} if retry_after is None else {"Retry-After": retry_after},
        )  # fmt: skip

    @property
    def app(self) -> Litestar:
        fake = self

        @post("/client/v4/graphql", status_code=200)
        async def graphql(request: Request[Any, Any, Any]) -> Response[Any]:
            return fake._graphql(request, await request.json())

        @get("/client/v4/accounts/{account:str}/billable-usage", sync_to_thread=False)
        def billable(request: Request[Any, Any, Any], account: FromPath[str]) -> Response[Any]:
            return fake._billable(request, account)

        return Litestar([graphql, billable], openapi_config=None)

    def _graphql(self, request: Request[Any, Any, Any], body: Any) -> Response[Any]:
        variables = body.get("variables") or {}
        self.calls.append(("graphql", variables))
        limited = self._rate_limited()
        if limited is not None:
            return limited
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _errors("not authorized: the token may not read Account Analytics")
        if self._errors:
            return _errors(self._errors.pop(0))
        query = str(body.get("query", ""))
        if "workersInvocationsAdaptive" not in query:
            return _errors("unknown field: the query names no Workers dataset")
        if variables.get("accountTag") != ACCOUNT:
            return Response({"data": {"viewer": {"accounts": []}}, "errors": None})
        try:
            start = dt.date.fromisoformat(variables["start"])
            end = dt.date.fromisoformat(variables["end"])
            limit = int(variables["limit"])
        except (KeyError, TypeError, ValueError):
            return _errors("variables start, end (Date) and limit are required")
        if (end - start).days > 31:
            return _errors("cannot request a time range wider than a month")
        account: dict[str, Any] = {"workers": [], "pages": []}
        for row in self.usage:
            if not start <= row.day <= end:
                continue
            group: dict[str, Any] = {
                "dimensions": {"date": row.day.isoformat(), "scriptName": row.script},
                "sum": {"requests": row.requests},
            }
            if row.pages:
                if "pagesFunctionsInvocationsAdaptiveGroups" in query:
                    account["pages"].append(group)
            else:
                group["sum"]["cpuTimeUs"] = row.cpu_time_us
                account["workers"].append(group)
        account = {k: v[:limit] for k, v in account.items()}
        return Response({"data": {"viewer": {"accounts": [account]}}, "errors": None})

    def _period(self, day: dt.date) -> str:
        return day.isoformat() if self.plain_dates else f"{day.isoformat()}T00:00:00Z"

    def _billable(self, request: Request[Any, Any, Any], account: str) -> Response[Any]:
        params = dict(request.query_params)
        self.calls.append(("billable-usage", params))
        limited = self._rate_limited()
        if limited is not None:
            return limited
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _envelope_error(403, 10000, "Authentication error")
        if self.billable == "forbidden":
            return _envelope_error(403, 10000, "Unauthorized to access requested resource")
        if self.billable == "missing" or account != ACCOUNT:
            return _envelope_error(404, 7003, "Could not route: not found")
        start = dt.date.fromisoformat(params["from"])
        end = dt.date.fromisoformat(params["to"])
        page = int(params.get("page") or 1)
        rows = [r for r in self.billed if start <= r.day <= end]
        pages = max(1, -(-len(rows) // self.per_page))
        shown = rows[(page - 1) * self.per_page : page * self.per_page]
        # BilledCost is a JSON number: written from a Decimal exactly, not through a float.
        return Response(
            content=_NUMBERS.encode(
                {
                    "success": True,
                    "errors": [],
                    "messages": [],
                    "result": [
                        {
                            "BilledCost": Decimal(r.cost),
                            "BillingCurrency": r.currency,
                            "ChargePeriodStart": self._period(r.day),
                            "ChargePeriodEnd": self._period(r.day + dt.timedelta(1)),
                            "ConsumedQuantity": 1000,
                            "ConsumedUnit": "requests",
                            "ServiceName": "Workers",
                            "SkuId": r.sku,
                        }
                        for r in shown
                    ],
                    "result_info": {
                        "page": page,
                        "per_page": self.per_page,
                        "total_pages": pages,
                        "count": len(shown),
                        "total_count": len(rows),
                    },
                }
            ),
            media_type="application/json",
        )


def _errors(message: str) -> Response[Any]:
    return Response(
        {
            "data": None,
            "errors": [
                {
                    "message": message,
                    "path": ["viewer"],
                    "extensions": {"timestamp": "2026-11-20T09:00:00Z"},
                }
            ],
        }
    )


def _envelope_error(status: int, code: int, message: str) -> Response[Any]:
    return Response(
        {
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
            "result": None,
        },
        status_code=status,
    )


@contextlib.asynccontextmanager
async def running_fake_cloudflare() -> AsyncIterator[tuple[FakeCloudflare, str]]:
    fake = FakeCloudflare()
    async with serve(fake.app) as url:
        yield fake, f"{url}/client/v4"
