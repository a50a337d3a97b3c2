"""The Anthropic Admin API's usage and cost reports, as a UsageSource (httpx).

    GET /v1/organizations/cost_report?starting_at&ending_at&bucket_width=1d
        &group_by[]=description&limit=31[&page]
    GET /v1/organizations/usage_report/messages?starting_at&ending_at&bucket_width=1d
        &group_by[]=model&limit=31[&page]

Headers `x-api-key` (an Admin key, sk-ant-admin…) and `anthropic-version: 2023-06-01`.
Every page is read (`page=next_page` while `has_more`). A cost `amount` is a decimal string
in cents of USD: it is kept as a Decimal and divided by 100. Costs are summed per (day,
model) — the cost types and token types of a model's day are one record — and tokens from
the usage report are put beside them. 429 is retried after Retry-After (retry_after.backing_off,
a few times, then ExternalRateLimited), and so is a transient 5xx (then ExternalUnavailable
saying it stayed down); another 5xx and timeouts are ExternalUnavailable; 401/403
ExternalAuthFailed; another 4xx ExternalRejected. The key never appears in a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
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

SYSTEM: Final = "anthropic-admin"
BASE_URL: Final = "https://api.anthropic.com"
VERSION: Final = "2023-06-01"
#: Daily buckets per page (the documented maximum for 1d).
PAGE_DAYS: Final = 31
MAX_PAGES: Final = 1000
SERVICE: Final = "claude-api"
_CENTS: Final = Decimal(100)


class AnthropicAdminUsage:
    """The UsageSource of an Anthropic organization (source name `anthropic`)."""

    name = "anthropic"

    def __init__(
        self,
        admin_key: str,
        *,
        base_url: str = BASE_URL,
        timeout: float = 30.0,
        deadline: float | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        #: Each GET's whole answer ends within this (outbound.GuardedTransport).
        self._deadline = outbound.deadline_for(timeout, deadline)
        self._client = client or outbound.client(
            base_url=base_url, timeout=timeout, deadline=self._deadline
        )
        self._sleep = sleep
        self._headers = {"x-api-key": admin_key, "anthropic-version": VERSION}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        """Costs and tokens of the UTC days [start, end], one record per day and model."""
        if start > end:
            raise ValueError("start is after end")
        window = [
            ("starting_at", f"{start.isoformat()}T00:00:00Z"),
            ("ending_at", f"{(end + dt.timedelta(days=1)).isoformat()}T00:00:00Z"),
            ("bucket_width", "1d"),
            ("limit", str(PAGE_DAYS)),
        ]
        amounts: defaultdict[tuple[dt.date, str | None], Decimal] = defaultdict(Decimal)
        for bucket in await self._pages(
            "/v1/organizations/cost_report", [*window, ("group_by[]", "description")]
        ):
            day = _day(bucket)
            for result in _results(bucket):
                currency = result.get("currency") or "USD"
                if currency != "USD":
                    raise ExternalRejected(
                        f"cost report in {currency!r}, not USD", system=SYSTEM, status=None
                    )
                amounts[(day, result.get("model"))] += _cents(result.get("amount"))
        tokens: defaultdict[tuple[dt.date, str | None], list[int]] = defaultdict(lambda: [0, 0])
        for bucket in await self._pages(
            "/v1/organizations/usage_report/messages", [*window, ("group_by[]", "model")]
        ):
            day = _day(bucket)
            for result in _results(bucket):
                key = (day, result.get("model"))
                tokens[key][0] += _input_tokens(result)
                tokens[key][1] += _count(result, "output_tokens")
        keys = sorted(set(amounts) | set(tokens), key=lambda k: (k[0], k[1] or ""))
        return [
            CostRecord(
                source=self.name,
                day=day,
                service=SERVICE,
                model=model,
                currency="USD",
                amount=amounts.get((day, model), Decimal(0)),
                input_tokens=tokens[(day, model)][0] if (day, model) in tokens else 0,
                output_tokens=tokens[(day, model)][1] if (day, model) in tokens else 0,
            )
            for day, model in keys
            if start <= day <= end
        ]

    async def _pages(self, path: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        buckets: list[dict[str, Any]] = []
        page: str | None = None
        for _ in range(MAX_PAGES):
            query = [*params, ("page", page)] if page else params
            body = await self._get(path, query)
            data = body.get("data")
            if not isinstance(data, list):
                raise ExternalRejected(f"{path}: no data in the answer", system=SYSTEM)
            buckets.extend(b for b in data if isinstance(b, dict))
            if not body.get("has_more"):
                return buckets
            page = body.get("next_page")
            if not page:
                raise ExternalRejected(f"{path}: has_more without next_page", system=SYSTEM)
        raise ExternalRejected(f"{path}: more than {MAX_PAGES} pages", system=SYSTEM)

    async def _get(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        """One page; a 429 is retried after what Retry-After says (retry_after.backing_off),
        then ExternalRateLimited."""
        return await backing_off(lambda: self._get_once(path, params), sleep=self._sleep)

    async def _get_once(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        with reading_errors(system=SYSTEM, where=path, deadline=self._deadline):
            response = await self._client.get(path, params=tuple(params), headers=self._headers)
        status = response.status_code
        if status == 429:
            raise ExternalRateLimited(
                f"{path}: rate limited", system=SYSTEM, retry_after=retry_after(response.headers)
            )
        if status in (401, 403):
            raise ExternalAuthFailed(
                f"{path}: {status} (an Admin key with the admin role is needed)",
                system=SYSTEM,
                status=status,
            )
        if status >= 500:  # retried when transient (retry_after.backing_off)
            raise ExternalUnavailable(
                f"{path}: {status}",
                system=SYSTEM,
                status=status,
                retry_after=retry_after(response.headers),
            )
        if status >= 400:
            raise ExternalRejected(
                f"{path}: {status} {_error_message(response)}", system=SYSTEM, status=status
            )
        try:
            body = response.json()
        except ValueError as error:
            raise ExternalRejected(f"{path}: not JSON", system=SYSTEM) from error
        if not isinstance(body, dict):
            raise ExternalRejected(f"{path}: not a JSON object", system=SYSTEM)
        return body


def _day(bucket: dict[str, Any]) -> dt.date:
    raw = bucket.get("starting_at")
    try:
        return utc_day(str(raw))
    except ValueError as error:
        raise ExternalRejected(f"bucket starting_at {raw!r}", system=SYSTEM) from error


def _cents(raw: object) -> Decimal:
    """A decimal string of cents → USD."""
    if not isinstance(raw, str):
        raise ExternalRejected(f"cost amount {raw!r} is not a decimal string", system=SYSTEM)
    try:
        value = Decimal(raw)
    except InvalidOperation as error:
        raise ExternalRejected(f"cost amount {raw!r}", system=SYSTEM) from error
    if not value.is_finite():
        raise ExternalRejected(f"cost amount {raw!r}", system=SYSTEM)
    return value / _CENTS


def _results(bucket: dict[str, Any]) -> list[dict[str, Any]]:
    """A bucket's results: a list of objects, or the answer is not the report's."""
    results = bucket.get("results") or []
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise ExternalRejected("a bucket's results are not a list of objects", system=SYSTEM)
    return results


def _count(result: dict[str, Any], name: str) -> int:
    """A token count: a whole number, not negative (nonsense is the source's failure, not
    a ValueError that ends the caller's run)."""
    raw = result.get(name) or 0
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ExternalRejected(f"token count {name}={raw!r}", system=SYSTEM)
    return raw


def _input_tokens(result: dict[str, Any]) -> int:
    creation = result.get("cache_creation") or {}
    if not isinstance(creation, dict):
        raise ExternalRejected(f"token count cache_creation={creation!r}", system=SYSTEM)
    return (
        _count(result, "uncached_input_tokens")
        + _count(result, "cache_read_input_tokens")
        + _count(creation, "ephemeral_5m_input_tokens")
        + _count(creation, "ephemeral_1h_input_tokens")
    )


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:200] if message else ""
