"""Prometheus metrics (prometheus-client), in one registry the process exposes at /metrics.

Labels are never tenant data: route *templates* (not paths), status codes, event steps,
external system names. What is counted, and where:

- HTTP requests by method, route template and status, and their latency: the HTTP edge
  (entrypoints/http/observability.py);
- proposals by outcome (the step of each committed proposal event): a dispatcher
  reaction, `count_proposal_events`;
- executor passes, attempts by result and claim failures: `metered_pass` around the
  executor's pass;
- external calls by system and status (or error class) and their latency: `MeteredTransport`,
  the httpx transport under the Fiken and Folio clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, Protocol

import httpx
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from bookkeeper.application.execution.policy import ExecutionPolicy, ExecutionReport
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.domain.events import CATALOGUE, Step

REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

#: Seconds: from a fast read (a millisecond) to a slow upload with extraction.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS: Final = Counter(
    "bookkeeper_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY: Final = Histogram(
    "bookkeeper_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
PROPOSAL_EVENTS: Final = Counter(
    "bookkeeper_proposal_events",
    "Committed proposal events by outcome (proposed, approved, rejected, executed, failed …)",
    ["outcome"],
    registry=REGISTRY,
)
EXECUTOR_PASSES: Final = Counter(
    "bookkeeper_executor_passes", "Executor passes run", registry=REGISTRY
)
EXECUTOR_CLAIM_ERRORS: Final = Counter(
    "bookkeeper_executor_claim_errors",
    "Executor passes whose claim failed (the database was unavailable …)",
    registry=REGISTRY,
)
EXECUTOR_ATTEMPTS: Final = Counter(
    "bookkeeper_executor_attempts",
    "Execution attempts by result (executed, retried, failed, abandoned, reconciled)",
    ["result"],
    registry=REGISTRY,
)
EXECUTOR_CLAIMED: Final = Gauge(
    "bookkeeper_executor_claimed",
    "Approved proposals the last executor pass claimed (its batch size means a backlog)",
    registry=REGISTRY,
)
EXECUTOR_BATCH_SIZE: Final = Gauge(
    "bookkeeper_executor_batch_size",
    "Most proposals one executor pass claims",
    registry=REGISTRY,
)
EXTERNAL_CALLS: Final = Counter(
    "bookkeeper_external_calls",
    "HTTP calls to external systems by system and status (or error class)",
    ["system", "status"],
    registry=REGISTRY,
)
EXTERNAL_LATENCY: Final = Histogram(
    "bookkeeper_external_call_duration_seconds",
    "Time of one HTTP call to an external system",
    ["system"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)

#: Event type → the outcome label of a proposal event (None: not a proposal step).
_OUTCOMES: Final[dict[str, str]] = {
    name: kind.step.value
    for name, kind in CATALOGUE.items()
    if kind.step not in (Step.QUERY, Step.ALERT, Step.POSTED)
}


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def count_proposal_events(event: RecordedEvent) -> None:
    """Dispatcher reaction: one count per committed proposal event, by its step."""
    outcome = _OUTCOMES.get(event.type)
    if outcome is not None:
        PROPOSAL_EVENTS.labels(outcome=outcome).inc()


#: Every event type `count_proposal_events` counts (to register it with Dispatcher.on).
PROPOSAL_EVENT_TYPES: Final = frozenset(_OUTCOMES)


class PassRunner(Protocol):
    @property
    def policy(self) -> ExecutionPolicy: ...

    async def run_once(self) -> ExecutionReport: ...


class MeteredPass:
    """An executor whose every pass is counted (same surface as the executor's pass)."""

    def __init__(self, executor: PassRunner) -> None:
        self._executor = executor
        EXECUTOR_BATCH_SIZE.set(executor.policy.batch_size)

    @property
    def policy(self) -> ExecutionPolicy:
        return self._executor.policy

    async def run_once(self) -> ExecutionReport:
        report = await self._executor.run_once()
        record_pass(report)
        return report


def record_pass(report: ExecutionReport) -> None:
    """Count one executor pass from its report."""
    EXECUTOR_PASSES.inc()
    EXECUTOR_CLAIMED.set(report.claimed)
    if report.claim_error is not None:
        EXECUTOR_CLAIM_ERRORS.inc()
    for result in ("executed", "retried", "failed", "abandoned", "reconciled"):
        count: int = getattr(report, result)
        if count:
            EXECUTOR_ATTEMPTS.labels(result=result).inc(count)


class MeteredTransport(httpx.AsyncBaseTransport):
    """Counts each HTTP exchange with `system` by status (or the error's class) and times
    it; everything else is the wrapped transport's."""

    def __init__(
        self,
        system: str,
        inner: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._system = system
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self._clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = self._clock()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as error:
            self._count(type(error).__name__, started)
            raise
        self._count(str(response.status_code), started)
        return response

    def _count(self, status: str, started: float) -> None:
        EXTERNAL_CALLS.labels(system=self._system, status=status).inc()
        EXTERNAL_LATENCY.labels(system=self._system).observe(self._clock() - started)

    async def aclose(self) -> None:
        await self._inner.aclose()


def metered(system: str, transport: httpx.AsyncBaseTransport | None) -> MeteredTransport:
    """`transport` (or the network) counted as calls to `system`."""
    return MeteredTransport(system, transport)
