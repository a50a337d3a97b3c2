"""Cloudflare Workers and Pages Functions usage, as a UsageSource (httpx).

Two ways to a figure (../shared/docs/integrations.md §5):

1. The billable-usage endpoint (Alpha, not on every account):
   `GET /accounts/{id}/billable-usage?from=&to=` in the v4 envelope `{success, errors,
   result: [FOCUS rows], result_info: {page, total_pages}}`; each row's `BilledCost` in
   `BillingCurrency` for `ChargePeriodStart` is a billed figure. Every page is read.
2. Where that endpoint is missing or not permitted (404, 403, or `success: false` with
   such an error) the adapter says so once in the log, remembers it (`billing`) and reads
   the GraphQL Analytics API instead: `POST /graphql` with `workersInvocationsAdaptive`
   and `pagesFunctionsInvocationsAdaptiveGroups` summed per day (requests, CPU time). There
   are no cost fields in GraphQL, so these records carry quantities only (basis `usage`:
   the spending service prices them from the tenant's price table, DEFAULT_PRICES unless
   the tenant set one). Workers and Pages Functions are billed together, so a day is one
   record of service `workers`.

GraphQL answers HTTP 200 with `errors` when a query fails (a permission missing, a bad
field, a rate limit): that is ExternalRejected (ExternalAuthFailed when it says the token
is not authorized, ExternalRateLimited for a limit), never an empty month. A window spans
at most WINDOW_DAYS (the API allows a month per query); a window that hits the row limit
is split by day. A 429 (or GraphQL's own rate-limit error) is waited out as Retry-After asks
(retry_after.backing_off: a few times, then ExternalRateLimited); a transient 5xx is asked
again the same way, then ExternalUnavailable saying it stayed down. `Authorization: Bearer
<token>`; the token never appears in a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import httpx

from bookkeeper.adapters import outbound
from bookkeeper.adapters.answers import reading_errors, utc_day
from bookkeeper.adapters.retry_after import backing_off, retry_after
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.spending import CostRecord
from bookkeeper.domain.events import PriceTableSetData, UnitPrice

log = logging.getLogger("bookkeeper.cloudflare")

SYSTEM: Final = "cloudflare"
BASE_URL: Final = "https://api.cloudflare.com/client/v4"
SERVICE: Final = "workers"
WINDOW_DAYS: Final = 7
ROW_LIMIT: Final = 10_000
MAX_PAGES: Final = 100
#: Workers Paid list prices (USD): requests and CPU time beyond the monthly allowance.
DEFAULT_PRICES: Final = PriceTableSetData(
    source="cloudflare",
    currency="USD",
    prices=(
        UnitPrice(
            metric="requests", price=Decimal("0.30"), per=1_000_000, included_per_month=10_000_000
        ),
        UnitPrice(
            metric="cpuMs", price=Decimal("0.02"), per=1_000_000, included_per_month=30_000_000
        ),
    ),
)

QUERY: Final = """
query Usage($accountTag: string!, $start: Date!, $end: Date!, $limit: uint64!) {
  viewer {
    accounts(filter: {accountTag: $accountTag}) {
      workers: workersInvocationsAdaptive(
        limit: $limit, filter: {date_geq: $start, date_leq: $end}
      ) {
        sum { requests cpuTimeUs }
        dimensions { date scriptName }
      }
      pages: pagesFunctionsInvocationsAdaptiveGroups(
        limit: $limit, filter: {date_geq: $start, date_leq: $end}
      ) {
        sum { requests }
        dimensions { date scriptName }
      }
    }
  }
}
"""
_AUTH_WORDS: Final = ("not authorized", "authz", "authentication", "permission")


class CloudflareUsage:
    """The UsageSource of a Cloudflare account (source name `cloudflare`)."""

    name = "cloudflare"

    def __init__(
        self,
        token: str,
        account_id: str,
        *,
        base_url: str = BASE_URL,
        timeout: float = 30.0,
        deadline: float | None = None,
        client: httpx.AsyncClient | None = None,
        billable_usage: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not re.fullmatch(r"[0-9a-f]{32}", account_id):
            raise ValueError("a Cloudflare account id is 32 hex digits")
        self._account = account_id
        #: Each call's whole answer ends within this (outbound.GuardedTransport).
        self._deadline = outbound.deadline_for(timeout, deadline)
        self._client = client or outbound.client(
            base_url=base_url, timeout=timeout, deadline=self._deadline
        )
        self._headers = {"authorization": f"Bearer {token}"}
        self._sleep = sleep
        #: "billed" (billable usage answers), "estimated" (GraphQL × prices), or None
        #: before the first pull.
        self.billing: str | None = None if billable_usage else "estimated"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        if start > end:
            raise ValueError("start is after end")
        if self.billing != "estimated":
            billed = await self._billable(start, end)
            if billed is not None:
                self.billing = "billed"
                return billed
            log.info(
                "cloudflare: no billable-usage endpoint for this account; Workers usage "
                "from GraphQL is priced with the tenant's price table instead"
            )
            self.billing = "estimated"
        return await self._usage(start, end)

    # --- billable usage ------------------------------------------------------------------

    async def _billable(self, start: dt.date, end: dt.date) -> list[CostRecord] | None:
        path = f"/accounts/{self._account}/billable-usage"
        sums: defaultdict[tuple[dt.date, str, str | None, str], Decimal] = defaultdict(Decimal)
        page = 1
        for _ in range(MAX_PAGES):
            params = {"from": start.isoformat(), "to": end.isoformat(), "page": str(page)}
            response = await backing_off(
                lambda: self._send("GET", path, params=params),  # noqa: B023 (awaited here)
                sleep=self._sleep,
            )
            if response.status_code in (403, 404):
                return None
            body = self._envelope(path, response)
            if body is None:
                return None
            for row in body.get("result") or []:
                if not isinstance(row, dict):
                    continue
                day, service, sku, currency, amount = _focus(row)
                if start <= day <= end:
                    sums[(day, service, sku, currency)] += amount
            info = body.get("result_info") or {}
            if page >= int(info.get("total_pages") or 1):
                return [
                    CostRecord(
                        source=self.name,
                        day=day,
                        service=service,
                        model=sku,
                        currency=currency,
                        amount=amount,
                    )
                    for (day, service, sku, currency), amount in sorted(
                        sums.items(), key=lambda i: (i[0][0], i[0][1], i[0][2] or "")
                    )
                ]
            page += 1
        raise ExternalRejected(f"{path}: more than {MAX_PAGES} pages", system=SYSTEM)

    def _envelope(self, path: str, response: httpx.Response) -> dict[str, Any] | None:
        """The v4 envelope of a 2xx answer; None when it says the feature is missing."""
        _raise_for_status(path, response)
        body = _json(path, response)
        if body.get("success") is False:
            errors = body.get("errors") or []
            text = " ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
            lowered = text.lower()
            if "not found" in lowered or "not available" in lowered or "not entitled" in lowered:
                return None
            raise ExternalRejected(f"{path}: {text[:200]}", system=SYSTEM)
        return body

    # --- GraphQL usage -------------------------------------------------------------------

    async def _usage(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        requests: defaultdict[dt.date, int] = defaultdict(int)
        cpu_us: defaultdict[dt.date, int] = defaultdict(int)
        windows = [
            (first, min(first + dt.timedelta(days=WINDOW_DAYS - 1), end))
            for first in _steps(start, end, WINDOW_DAYS)
        ]
        while windows:
            first, last = windows.pop(0)
            groups = await backing_off(
                lambda: self._graphql(first, last),  # noqa: B023 (awaited here, in the loop)
                sleep=self._sleep,
            )
            if any(len(rows) >= ROW_LIMIT for rows in groups.values()):
                if first == last:
                    raise ExternalRejected(
                        f"more than {ROW_LIMIT} usage groups on {first}", system=SYSTEM
                    )
                windows[:0] = [(d, d) for d in _steps(first, last, 1)]
                continue
            for kind, rows in groups.items():
                for row in rows:
                    day, count, cpu = _usage_row(row, kind)
                    if start <= day <= end:
                        requests[day] += count
                        cpu_us[day] += cpu
        return [
            CostRecord(
                source=self.name,
                day=day,
                service=SERVICE,
                model=None,
                currency="USD",
                amount=Decimal(0),
                basis="usage",
                quantities={"requests": requests[day], "cpuMs": cpu_us[day] // 1000},
            )
            for day in sorted(set(requests) | set(cpu_us))
        ]

    async def _graphql(self, start: dt.date, end: dt.date) -> dict[str, list[dict[str, Any]]]:
        path = "/graphql"
        variables = {
            "accountTag": self._account,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "limit": ROW_LIMIT,
        }
        response = await self._send("POST", path, json={"query": QUERY, "variables": variables})
        _raise_for_status(path, response)
        body = _json(path, response)
        errors = body.get("errors")
        if errors:
            messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
            text = "; ".join(messages)[:300] or "errors without a message"
            lowered = text.lower()
            if any(word in lowered for word in _AUTH_WORDS):
                raise ExternalAuthFailed(f"GraphQL: {text}", system=SYSTEM, status=200)
            if "limit" in lowered and "rate" in lowered:
                raise ExternalRateLimited(f"GraphQL: {text}", system=SYSTEM, retry_after=None)
            raise ExternalRejected(f"GraphQL: {text}", system=SYSTEM, status=200)
        try:
            accounts = body["data"]["viewer"]["accounts"]
        except (KeyError, TypeError) as error:
            raise ExternalRejected("GraphQL: no data.viewer.accounts", system=SYSTEM) from error
        if not accounts:
            raise ExternalRejected("GraphQL: the account is not visible", system=SYSTEM)
        account = accounts[0]
        return {
            "workers": list(account.get("workers") or []),
            "pages": list(account.get("pages") or []),
        }

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 429 is ExternalRateLimited and a 5xx ExternalUnavailable, with
        what Retry-After asks (the callers back off: retry_after.backing_off, a 5xx when
        transient)."""
        with reading_errors(system=SYSTEM, where=path, deadline=self._deadline):
            response = await self._client.request(method, path, headers=self._headers, **kwargs)
        status = response.status_code
        if status == 429:
            raise ExternalRateLimited(
                f"{path}: rate limited", system=SYSTEM, retry_after=retry_after(response.headers)
            )
        if status >= 500:
            raise ExternalUnavailable(
                f"{path}: {status}",
                system=SYSTEM,
                status=status,
                retry_after=retry_after(response.headers),
            )
        return response


def _raise_for_status(path: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        raise ExternalRateLimited(f"{path}: rate limited", system=SYSTEM, retry_after=None)
    if status in (401, 403):
        raise ExternalAuthFailed(f"{path}: {status}", system=SYSTEM, status=status)
    if status >= 500:
        raise ExternalUnavailable(f"{path}: {status}", system=SYSTEM, status=status)
    raise ExternalRejected(f"{path}: {status}", system=SYSTEM, status=status)


def _json(path: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json(parse_float=Decimal)
    except ValueError as error:
        raise ExternalRejected(f"{path}: not JSON", system=SYSTEM) from error
    if not isinstance(body, dict):
        raise ExternalRejected(f"{path}: not a JSON object", system=SYSTEM)
    return body


def _focus(row: dict[str, Any]) -> tuple[dt.date, str, str | None, str, Decimal]:
    try:
        day = utc_day(str(row["ChargePeriodStart"]))
        amount = Decimal(str(row["BilledCost"]))
        currency = str(row.get("BillingCurrency") or "USD").upper()
    except (KeyError, ValueError, InvalidOperation) as error:
        raise ExternalRejected("a billable-usage row without its cost", system=SYSTEM) from error
    if not amount.is_finite() or len(currency) != 3:
        raise ExternalRejected("a billable-usage row with a bad cost", system=SYSTEM)
    service = str(row.get("ServiceName") or SERVICE)
    sku = row.get("SkuId") or row.get("ChargeDescription")
    return day, service, str(sku) if sku else None, currency, amount


def _usage_row(row: dict[str, Any], kind: str) -> tuple[dt.date, int, int]:
    try:
        day = dt.date.fromisoformat(str(row["dimensions"]["date"]))
        sums = row["sum"]
        requests = int(sums.get("requests") or 0)
        cpu = int(sums.get("cpuTimeUs") or 0) if kind == "workers" else 0
    except (KeyError, TypeError, ValueError) as error:
        raise ExternalRejected(f"a {kind} usage group without date/sum", system=SYSTEM) from error
    if requests < 0 or cpu < 0:
        raise ExternalRejected(f"negative {kind} usage", system=SYSTEM)
    return day, requests, cpu


def _steps(start: dt.date, end: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range(0, (end - start).days + 1, days)]
