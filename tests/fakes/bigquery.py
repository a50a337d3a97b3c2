"""A fake BigQuery REST API (jobs.query, jobs.getQueryResults) over a Cloud Billing export,
and a fake OAuth 2.0 token endpoint for service accounts, on a loopback socket.

Speaks the documented contracts (../shared/docs/integrations.md §4):

* `POST /token` (the key's `token_uri`): `grant_type=urn:ietf:params:oauth:grant-type:
  jwt-bearer` and an RS256 `assertion` signed with the service account's key (checked with
  its public key; `aud` must be Google's token URI, `iss` the client e-mail), answering
  `{access_token, expires_in, token_type}`; anything else 400 `invalid_grant`.
* `POST /bigquery/v2/projects/{p}/queries` with a bearer token it issued (else 401):
  standard SQL only, named parameters `start`, `end` (DATE) and `services` (ARRAY<STRING>);
  the query must read the export table (else 404 notFound). The fake does not parse SQL:
  it groups its export rows as the adapter's query does (per day, service, SKU, currency;
  cost and credits summed, as strings). `maxResults` rows per page; `pageToken` while more
  remain; a job may answer `jobComplete: false` first (`pending_polls`), to be polled with
* `GET /bigquery/v2/projects/{p}/queries/{jobId}` (`pageToken`, `maxResults`, `location`).

Faults: `fail_next(status, reason)` answers the next BigQuery call with Google's error
envelope; `errors_next()` a 200 whose job finished with `errors`. `requests` keeps what
was called.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from tests.fakes.server import serve

GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE: Final = "https://oauth2.googleapis.com/token"
PROJECT: Final = "acme-billing"
TABLE: Final = "acme-billing.billing.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C"
CLIENT_EMAIL: Final = "billing-reader@acme-billing.iam.gserviceaccount.com"
FIELDS: Final = ("day", "service", "sku", "currency", "cost", "credits")


@dataclasses.dataclass
class ExportRow:
    """One row of the billing export (usage of one SKU at one time)."""

    day: dt.date
    service: str
    sku: str
    cost: str
    credits: tuple[str, ...] = ()
    currency: str = "USD"


@dataclasses.dataclass
class Job:
    rows: list[list[str]]
    polls_left: int
    location: str


@dataclasses.dataclass
class FakeBigQuery:
    rows: list[ExportRow] = dataclasses.field(default_factory=list)
    pending_polls: int = 0
    expires_in: int = 3600
    requests: list[tuple[str, str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    tokens_issued: int = 0
    url: str = ""
    _tokens: set[str] = dataclasses.field(default_factory=set)
    _jobs: dict[str, Job] = dataclasses.field(default_factory=dict)
    _failures: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    #: The Retry-After header of the injected failures (None: none).
    retry_after: str | None = None
    _errors_next: int = 0

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def key_info(self, *, forged: bool = False) -> dict[str, str]:
        """The service account's key file, as Google hands it out (its token_uri here)."""
        key = self.other_key if forged else self._key
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "0123456789abcdef",
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }

    def fail_next(
        self,
        status: int = 503,
        reason: str = "backendError",
        n: int = 1,
        retry_after: str | None = None,
    ) -> None:
        self._failures.extend([(status, reason)] * n)
        self.retry_after = retry_after

    def errors_next(self) -> None:
        self._errors_next += 1

    def forget_tokens(self) -> None:
        """Revoke every token issued (the adapter must fetch a new one)."""
        self._tokens.clear()

    @property
    def app(self) -> Litestar:
        fake = self

        @post("/token", status_code=200)
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            return fake._token(await request.form())

        @post("/bigquery/v2/projects/{project:str}/queries", status_code=200)
        async def query(request: Request[Any, Any, Any], project: FromPath[str]) -> Response[Any]:
            body = await request.json()
            return fake._query(request, project, body)

        @get("/bigquery/v2/projects/{project:str}/queries/{job_id:str}", sync_to_thread=False)
        def results(
            request: Request[Any, Any, Any], project: FromPath[str], job_id: FromPath[str]
        ) -> Response[Any]:
            return fake._results(request, project, job_id)

        return Litestar([token, query, results], openapi_config=None)

    # --- OAuth -------------------------------------------------------------------------

    def _token(self, form: Any) -> Response[Any]:
        if form.get("grant_type") != GRANT:
            return _oauth_error("unsupported_grant_type")
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                self._key.public_key(),
                algorithms=["RS256"],
                # google-auth signs for Google's token URI whatever the key's token_uri.
                audience=[AUDIENCE, f"{self.url}/token"],
                issuer=CLIENT_EMAIL,
            )
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant")
        if "bigquery" not in str(claims.get("scope", "")):
            return _oauth_error("invalid_scope")
        access = "ya29." + secrets.token_urlsafe(24)
        self._tokens.add(access)
        self.tokens_issued += 1
        return Response(
            {"access_token": access, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def _authorized(self, request: Request[Any, Any, Any]) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self._tokens

    # --- BigQuery ------------------------------------------------------------------------

    def _fault(self, request: Request[Any, Any, Any]) -> Response[Any] | None:
        if not self._authorized(request):
            return _google_error(
                401, "authError", "Request had invalid authentication credentials."
            )
        if self._failures:
            status, reason = self._failures.pop(0)
            answer = _google_error(status, reason, f"fault injected: {reason}")
            if self.retry_after is not None:
                answer.headers["Retry-After"] = self.retry_after
            return answer
        return None

    def _query(self, request: Request[Any, Any, Any], project: str, body: Any) -> Response[Any]:
        self.requests.append(("query", project, body))
        fault = self._fault(request)
        if fault is not None:
            return fault
        if project != PROJECT:
            return _google_error(404, "notFound", f"Not found: Project {project}")
        if body.get("useLegacySql") is not False:
            return _google_error(400, "invalidQuery", "legacy SQL is not what this fake speaks")
        if f"`{TABLE}`" not in str(body.get("query", "")):
            return _google_error(404, "notFound", "Not found: Table")
        try:
            params = {p["name"]: p for p in body["queryParameters"]}
            start = dt.date.fromisoformat(params["start"]["parameterValue"]["value"])
            end = dt.date.fromisoformat(params["end"]["parameterValue"]["value"])
            services = {v["value"] for v in params["services"]["parameterValue"]["arrayValues"]}
        except (KeyError, TypeError, ValueError):
            return _google_error(400, "invalidQuery", "Query parameter missing or malformed")
        job_id = "job_" + secrets.token_hex(8)
        self._jobs[job_id] = Job(
            rows=self._grouped(start, end, services),
            polls_left=self.pending_polls,
            location=str(body.get("location") or "EU"),
        )
        return self._answer(project, job_id, 0, int(body.get("maxResults") or 100_000))

    def _results(self, request: Request[Any, Any, Any], project: str, job_id: str) -> Response[Any]:
        query = dict(request.query_params)
        self.requests.append(("results", project, query))
        fault = self._fault(request)
        if fault is not None:
            return fault
        job = self._jobs.get(job_id)
        if job is None or project != PROJECT:
            return _google_error(404, "notFound", f"Not found: Job {project}:{job_id}")
        if query.get("location") not in (None, job.location):
            return _google_error(404, "notFound", f"Not found: Job {job_id} in that location")
        token = query.get("pageToken")
        try:
            offset = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        except ValueError:
            return _google_error(400, "invalid", "Invalid page token")
        return self._answer(project, job_id, offset, int(query.get("maxResults") or 100_000))

    def _answer(self, project: str, job_id: str, offset: int, page: int) -> Response[Any]:
        job = self._jobs[job_id]
        reference = {"projectId": project, "jobId": job_id, "location": job.location}
        if job.polls_left > 0:
            job.polls_left -= 1
            return Response(
                {
                    "kind": "bigquery#getQueryResultsResponse",
                    "jobReference": reference,
                    "jobComplete": False,
                }
            )
        body: dict[str, Any] = {
            "kind": "bigquery#queryResponse",
            "schema": {
                "fields": [{"name": f, "type": "STRING", "mode": "NULLABLE"} for f in FIELDS]
            },
            "jobReference": reference,
            "totalRows": str(len(job.rows)),
            "rows": [{"f": [{"v": v} for v in row]} for row in job.rows[offset : offset + page]],
            "totalBytesProcessed": "1024",
            "jobComplete": True,
            "cacheHit": False,
        }
        if offset + page < len(job.rows):
            body["pageToken"] = base64.urlsafe_b64encode(str(offset + page).encode()).decode()
        if self._errors_next:
            self._errors_next -= 1
            body["errors"] = [
                {"reason": "invalidQuery", "message": "Unrecognized name: usage_start_time"}
            ]
        return Response(body)

    def _grouped(self, start: dt.date, end: dt.date, services: set[str]) -> list[list[str]]:
        sums: dict[tuple[str, str, str, str], list[Decimal]] = {}
        for row in self.rows:
            if not start <= row.day <= end or row.service not in services:
                continue
            key = (row.day.isoformat(), row.service, row.sku, row.currency)
            entry = sums.setdefault(key, [Decimal(0), Decimal(0)])
            entry[0] += Decimal(row.cost)
            entry[1] += sum((Decimal(c) for c in row.credits), Decimal(0))
        return [[*key, str(v[0]), str(v[1])] for key, v in sorted(sums.items())]


def _google_error(status: int, reason: str, message: str) -> Response[Any]:
    return Response(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": "INVALID_ARGUMENT" if status == 400 else "UNAVAILABLE",
            }
        },
        status_code=status,
    )


def _oauth_error(error: str) -> Response[Any]:
    return Response({"error": error, "error_description": error}, status_code=400)


@contextlib.asynccontextmanager
async def running_fake_bigquery() -> AsyncIterator[FakeBigQuery]:
    fake = FakeBigQuery()
    async with serve(fake.app) as url:
        fake.url = url
        yield fake
