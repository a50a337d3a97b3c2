"""What an operator sees of the HTTP edge: a request id, one access-log line per request,
Prometheus counters and latency histograms, and the /metrics route.

`observe(app)` wraps the whole ASGI app (outside routing, authentication and the exception
handlers), so refused requests — 401, 404, 413, 429 — are logged and counted too. It
honours a client's `X-Request-ID` (when it is a short token of safe characters, otherwise a
new one is made), echoes it in the response and sets it for every log record written while
the request is served (entrypoints/logs.py). The access line says method, route template,
status, duration, principal actor and tenant; never the path's ids, query, headers, tokens
or bodies. Metrics label by route template, so no tenant data reaches /metrics.

A request the server cancels before it answered — after a SIGTERM, once the shutdown's
grace (BOOKKEEPER_SHUTDOWN_GRACE_SECONDS) is over — is answered 503 with Retry-After and
`Connection: close` as a problem document: uvicorn answered it a plain-text 500 "Internal
Server Error", as if the request had failed rather than the process stopped under it (its
transaction rolled back: nothing was accepted, and sending it again is safe).
"""

import asyncio
import logging
import os
import re
import time
from typing import Any, Final

import msgspec
from litestar import Response, get
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from bookkeeper.adapters.metrics import HTTP_LATENCY, HTTP_REQUESTS, exposition
from bookkeeper.entrypoints.http.params import accepting
from bookkeeper.entrypoints.http.problems import TYPE_PREFIX, documented
from bookkeeper.entrypoints.http.wire import Problem
from bookkeeper.entrypoints.logs import request_id

access_log = logging.getLogger("bookkeeper.access")

REQUEST_ID_HEADER: Final = b"x-request-id"
#: A client's request id is kept when it looks like one (a UUID, a trace id …).
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: The route label of a request no route matched (its path is not used: unbounded).
UNMATCHED: Final = "unmatched"
#: Seconds a client is asked to wait after the process stopped under its request.
STOPPED_RETRY_AFTER: Final = 5
_STOPPED_BODY: Final = msgspec.json.encode(
    Problem(
        type=TYPE_PREFIX + "service-unavailable",
        title="Service Unavailable",
        status=503,
        detail="the service stopped while the request was served; nothing of it was kept, "
        "send it again",
        code="service-unavailable",
    )
)


def _incoming_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1").strip()
            if _SAFE_ID.fullmatch(text):
                return text
            break
    # 32 random hex digits, as uuid4().hex was, without building a UUID (ADR 0042).
    return os.urandom(16).hex()


def observe(app: ASGIApp) -> ASGIApp:
    """`app` with request ids, access log and HTTP metrics on every HTTP request."""

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = _incoming_id(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                answered = True
                status = int(message["status"])
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER
                ]
                headers.append((REQUEST_ID_HEADER, rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if answered:
                raise
            # The server cancelled it (its shutdown's grace is over): the process stopped
            # under the request. Answered, the request is done; the task ends as it would.
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(_STOPPED_BODY)).encode("ascii")),
                    (b"retry-after", str(STOPPED_RETRY_AFTER).encode("ascii")),
                    (b"connection", b"close"),
                ],
            }
            await send_with_id(start)
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": _STOPPED_BODY,
                "more_body": False,
            }
            await send(body)
        finally:
            _record(scope, status, time.perf_counter() - started, rid)
            request_id.reset(token)

    return observed


#: The metrics' children by (method, route, status): prometheus-client's `labels()` checks
#: and joins the label values on every call; a dictionary lookup finds the same children.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}
#: Enough for every route template × method × status; past it (clients sending made-up
#: methods), `labels()` is called as before rather than the dictionary growing.
_SERIES_LIMIT: Final = 4096


def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    key = (method, route, status)
    series = _SERIES.get(key)
    if series is None:
        series = (
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)),
            HTTP_LATENCY.labels(method=method, route=route),
        )
        if len(_SERIES) < _SERIES_LIMIT:
            _SERIES[key] = series
    return series


def _record(scope: Scope, status: int, seconds: float, rid: str) -> None:
    method = str(scope.get("method", ""))
    route = str(scope.get("path_template") or UNMATCHED)
    requests, latency = _series(method, route, status)
    requests.inc()
    latency.observe(seconds)
    user: Any = scope.get("user")
    actor = getattr(user, "actor", None)
    tenant = getattr(user, "tenant_id", None)
    access_log.info(
        "%s %s %d %.1f ms %s %s",
        method,
        route,
        status,
        seconds * 1000,
        actor or "-",
        tenant or "-",
        extra={
            "http_method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "actor": actor,
            "tenant": tenant,
            "request_id": rid,
        },
    )


@get(
    "/metrics",
    operation_id="getMetrics",
    tags=["operations"],
    summary="Prometheus metrics",
    exclude_from_auth=True,
    sync_to_thread=False,
    media_type="text/plain",
    # What Prometheus sends admits text/plain; an Accept that does not is a 406 problem
    # document, as on the API (ADR 0049, round three).
    before_request=accepting("text/plain"),
    responses={406: documented(406)[406]},
)
def metrics() -> Response[bytes]:
    """The process's metrics in the Prometheus text format: HTTP requests by route template
    and status with latency histograms, proposal events by outcome, executor passes and
    attempts, external calls by system and status. No tenant data; no token needed, like
    /health (expose it only where your Prometheus can reach it)."""
    body, content_type = exposition()
    # Litestar adds "; charset=utf-8" to every text/* type; the exposition's own type names
    # it already, and a repeated parameter makes Prometheus 3 fail the scrape.
    return Response(content=body, media_type=_without_charset(content_type))


def _without_charset(content_type: str) -> str:
    """A media type without its charset parameter ("text/plain; version=1.0.0")."""
    parts = [part.strip() for part in content_type.split(";")]
    return "; ".join(p for p in parts if not p.lower().startswith("charset="))
