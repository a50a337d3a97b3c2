"""Google Cloud's billed cost of Gemini / Vertex AI, from the Cloud Billing export in
BigQuery, as a UsageSource (httpx + google-auth).

No Google REST endpoint returns spend: the Cloud Billing export to BigQuery is the one
programmatic source of billed cost (../shared/docs/integrations.md §4). One query per pull
sums the export per UTC day and service/SKU, with the credits (negative amounts) added for
the net cost:

    POST {base}/projects/{project}/queries          jobs.query (standard SQL, named params)
    GET  {base}/projects/{project}/queries/{jobId}  jobs.getQueryResults (poll, pageToken)

`jobComplete: false` is polled with getQueryResults until the job is done (at most
MAX_POLLS); every page is read (`pageToken`). Values come back as strings: cost and
credits are cast to NUMERIC and then to STRING in the query, so no float ever carries an
amount. The caller is a service account (BigQuery Data Viewer + Job User): its key (the
JSON Google hands out) signs a JWT that google-auth exchanges at the key's `token_uri` for
a bearer token, refreshed when it expires. 401/403 are ExternalAuthFailed; 429, and 403
with reason rateLimitExceeded/quotaExceeded, are waited out as Retry-After asks (else 1, 2,
4 s; retry_after.backing_off), then ExternalRateLimited; 404 ExternalNotFound (no such
dataset or table), 5xx and timeouts ExternalUnavailable (a transient 5xx — 500, 502, 503,
504 — asked again as a rate limit is, then said to have stayed down), other 4xx and `errors` in an
answer ExternalRejected. The key and the token never appear in a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import httpx
from google.auth import exceptions as google_exceptions
from google.auth import transport as google_transport
from google.oauth2 import service_account

from bookkeeper.adapters import outbound
from bookkeeper.adapters.answers import reading_errors
from bookkeeper.adapters.retry_after import backing_off, retry_after
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.spending import CostRecord

SYSTEM: Final = "google-billing"
BASE_URL: Final = "https://bigquery.googleapis.com/bigquery/v2"
SCOPE: Final = "https://www.googleapis.com/auth/bigquery.readonly"
#: The services of the export that are Gemini / Vertex AI (service.description).
DEFAULT_SERVICES: Final = ("Vertex AI", "Gemini API", "Generative Language API")
PAGE_ROWS: Final = 1000
MAX_PAGES: Final = 1000
MAX_POLLS: Final = 60
POLL_TIMEOUT_MS: Final = 10_000
#: project.dataset.table (or dataset.table), as the export names it.
_TABLE: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){1,2}")
_RATE_REASONS: Final = frozenset({"rateLimitExceeded", "quotaExceeded"})

QUERY: Final = """
SELECT CAST(DATE(usage_start_time) AS STRING) AS day,
       service.description AS service,
       sku.description AS sku,
       currency,
       CAST(SUM(CAST(cost AS NUMERIC)) AS STRING) AS cost,
       CAST(SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0))
            AS STRING) AS credits
FROM `{table}`
WHERE DATE(usage_start_time) BETWEEN @start AND @end
  AND export_time >= TIMESTAMP(@start)
  AND service.description IN UNNEST(@services)
GROUP BY day, service, sku, currency
ORDER BY day, service, sku
"""


class _Response(google_transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxTransport(google_transport.Request):
    """google-auth's transport interface over a synchronous httpx client (token refresh)."""

    def __init__(self, timeout: float, deadline: float | None = None) -> None:
        self._timeout = timeout
        self._deadline = outbound.deadline_for(timeout, deadline)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            with outbound.sync_client(
                timeout=timeout or self._timeout, deadline=self._deadline
            ) as client:
                response = client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise google_exceptions.TransportError(  # type: ignore[no-untyped-call]
                type(error).__name__
            ) from error
        return _Response(response)


class GoogleBillingUsage:
    """The UsageSource of a Cloud Billing export (source name `google`)."""

    name = "google"

    def __init__(
        self,
        key_info: Mapping[str, Any],
        *,
        project: str,
        table: str,
        services: Sequence[str] = DEFAULT_SERVICES,
        location: str | None = None,
        base_url: str = BASE_URL,
        timeout: float = 60.0,
        deadline: float | None = None,
        client: httpx.AsyncClient | None = None,
        poll_interval: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not _TABLE.fullmatch(table):
            raise ValueError("the billing export table is project.dataset.table")
        if not re.fullmatch(r"[a-z][a-z0-9:.-]{1,100}", project):
            raise ValueError("not a Google Cloud project id")
        try:
            self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                dict(key_info), scopes=[SCOPE]
            )
        except (ValueError, KeyError) as error:
            raise ValueError("not a service-account key") from error
        self._project = project
        self._table = table
        self._services = list(services)
        self._location = location
        #: Each call's whole answer ends within this (outbound.GuardedTransport).
        self._deadline = outbound.deadline_for(timeout, deadline)
        self._client = client or outbound.client(
            base_url=base_url, timeout=timeout, deadline=self._deadline
        )
        self._transport = HttpxTransport(timeout, self._deadline)
        self._token_lock = asyncio.Lock()
        self._poll_interval = poll_interval
        self._sleep = sleep

    async def aclose(self) -> None:
        await self._client.aclose()

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        """Net cost (cost + credits) per UTC day, service and SKU of [start, end]."""
        if start > end:
            raise ValueError("start is after end")
        body: dict[str, Any] = {
            "query": QUERY.format(table=self._table),
            "useLegacySql": False,
            "parameterMode": "NAMED",
            "queryParameters": [
                _date_parameter("start", start),
                _date_parameter("end", end),
                {
                    "name": "services",
                    "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                    "parameterValue": {"arrayValues": [{"value": s} for s in self._services]},
                },
            ],
            "maxResults": PAGE_ROWS,
            "timeoutMs": POLL_TIMEOUT_MS,
        }
        if self._location:
            body["location"] = self._location
        path = f"/projects/{self._project}/queries"
        answer = await self._call("POST", path, json=body)
        polls = 0
        while not answer.get("jobComplete"):
            polls += 1
            if polls > MAX_POLLS:
                raise ExternalUnavailable("the billing query did not finish", system=SYSTEM)
            await asyncio.sleep(self._poll_interval)
            answer = await self._results(answer, None)
        rows = _rows(answer)
        for _ in range(MAX_PAGES):
            token = answer.get("pageToken")
            if not token:
                return [r for r in (_record(row) for row in rows) if start <= r.day <= end]
            answer = await self._results(answer, str(token))
            if not answer.get("jobComplete"):
                raise ExternalRejected("a result page of a finished job", system=SYSTEM)
            rows += _rows(answer)
        raise ExternalRejected(f"more than {MAX_PAGES} pages", system=SYSTEM)

    async def _results(self, answer: Mapping[str, Any], token: str | None) -> dict[str, Any]:
        job = answer.get("jobReference") or {}
        job_id = job.get("jobId")
        if not isinstance(job_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", job_id):
            raise ExternalRejected("an answer without a job id", system=SYSTEM)
        params: dict[str, str] = {
            "maxResults": str(PAGE_ROWS),
            "timeoutMs": str(POLL_TIMEOUT_MS),
        }
        location = job.get("location") or self._location
        if location:
            params["location"] = str(location)
        if token:
            params["pageToken"] = token
        return await self._call("GET", f"/projects/{self._project}/queries/{job_id}", params=params)

    async def _token(self) -> str:
        async with self._token_lock:
            if not self._credentials.valid:
                try:
                    await asyncio.to_thread(self._credentials.refresh, self._transport)
                except google_exceptions.RefreshError as error:
                    raise ExternalAuthFailed(
                        "the service-account key was refused", system=SYSTEM, status=None
                    ) from error
                except google_exceptions.TransportError as error:
                    raise ExternalUnavailable(
                        "the token endpoint did not answer", system=SYSTEM
                    ) from error
            token = self._credentials.token
            if not isinstance(token, str):
                raise ExternalAuthFailed("no access token", system=SYSTEM, status=None)
            return token

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call; a rate limit is waited out as Retry-After asks (else 1, 2, 4 s), a
        few times, before it is ExternalRateLimited (retry_after.backing_off)."""
        return await backing_off(lambda: self._call_once(method, path, **kwargs), sleep=self._sleep)

    async def _call_once(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {await self._token()}"}
        with reading_errors(system=SYSTEM, where="BigQuery", deadline=self._deadline):
            response = await self._client.request(method, path, headers=headers, **kwargs)
        status = response.status_code
        if status >= 400:
            message, reasons = _error(response)
            if status == 429 or (status == 403 and reasons & _RATE_REASONS):
                raise ExternalRateLimited(
                    f"BigQuery: {message}", system=SYSTEM, retry_after=retry_after(response.headers)
                )
            if status in (401, 403):
                raise ExternalAuthFailed(f"BigQuery: {message}", system=SYSTEM, status=status)
            if status == 404:
                raise ExternalNotFound(f"BigQuery: {message}", system=SYSTEM, status=status)
            if status >= 500:  # retried when transient (retry_after.backing_off)
                raise ExternalUnavailable(
                    f"BigQuery: {status}",
                    system=SYSTEM,
                    status=status,
                    retry_after=retry_after(response.headers),
                )
            raise ExternalRejected(f"BigQuery: {message}", system=SYSTEM, status=status)
        try:
            body = response.json()
        except ValueError as error:
            raise ExternalRejected("BigQuery: not JSON", system=SYSTEM) from error
        if not isinstance(body, dict):
            raise ExternalRejected("BigQuery: not a JSON object", system=SYSTEM)
        errors = body.get("errors")
        if errors and body.get("jobComplete", True):
            first = errors[0] if isinstance(errors, list) and errors else {}
            detail = str(first.get("message", ""))[:200] if isinstance(first, dict) else ""
            raise ExternalRejected(f"BigQuery: the query failed: {detail}", system=SYSTEM)
        return body


def _date_parameter(name: str, value: dt.date) -> dict[str, Any]:
    return {
        "name": name,
        "parameterType": {"type": "DATE"},
        "parameterValue": {"value": value.isoformat()},
    }


def _rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The answer's rows as {column: value} by its schema."""
    rows = answer.get("rows") or []
    if not rows:
        return []
    fields = (answer.get("schema") or {}).get("fields") or []
    names = [str(f.get("name")) for f in fields if isinstance(f, dict)]
    if not names:
        raise ExternalRejected("rows without a schema", system=SYSTEM)
    found: list[dict[str, Any]] = []
    for row in rows:
        cells = row.get("f") if isinstance(row, dict) else None
        if not isinstance(cells, list) or len(cells) != len(names):
            raise ExternalRejected("a row that does not fit the schema", system=SYSTEM)
        found.append(
            {
                n: c.get("v") if isinstance(c, dict) else None
                for n, c in zip(names, cells, strict=True)
            }
        )
    return found


def _record(row: Mapping[str, Any]) -> CostRecord:
    try:
        day = dt.date.fromisoformat(str(row["day"]))
        cost = Decimal(str(row["cost"]))
        credits = Decimal(str(row.get("credits") or "0"))
    except (KeyError, ValueError, InvalidOperation) as error:
        raise ExternalRejected(
            "a billing row that is not day/cost/credits", system=SYSTEM
        ) from error
    if not cost.is_finite() or not credits.is_finite():
        raise ExternalRejected("a billing amount that is not finite", system=SYSTEM)
    currency = str(row.get("currency") or "")
    if len(currency) != 3 or not currency.isalpha():
        raise ExternalRejected(f"billing currency {currency!r}", system=SYSTEM)
    return CostRecord(
        source="google",
        day=day,
        service=str(row.get("service") or "unknown"),
        model=str(row["sku"]) if row.get("sku") else None,
        currency=currency.upper(),
        amount=cost + credits,
    )


def _error(response: httpx.Response) -> tuple[str, frozenset[str]]:
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code), frozenset()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(response.status_code), frozenset()
    reasons = frozenset(
        str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict)
    )
    return str(error.get("message") or response.status_code)[:200], reasons
