"""The health checks, no authentication (ADR 0044, addendum on liveness and readiness):

- /health/live: the process answers HTTP — what a liveness probe restarts a process on;
- /health/ready: its database answers — what a load balancer (and the Dockerfile's
  HEALTHCHECK) routes on: 503 only when the database does not answer, so an outage of
  NATS does not take every replica out of the balancer while the API works;
- /health: the detailed report (the database, the backends, the bus and its clients, the
  cost sources) — what an operator and a monitor read: `degraded` (503) whenever a part
  is, the bus included.
"""

import asyncio
import logging
from typing import Final, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from bookkeeper import __version__
from bookkeeper.application.errors import SchemaChanged, StorageDegraded
from bookkeeper.entrypoints.http.negotiation import JSON_TYPES
from bookkeeper.entrypoints.http.params import accepting
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.runtime import Runtime
from bookkeeper.entrypoints.http.wire import (
    BackendsOut,
    BusConsumerOut,
    BusOut,
    BusPublisherOut,
    DatabaseOut,
    HealthOut,
    LivenessOut,
    ReadinessOut,
    SpendingOut,
    SpendingSourceOut,
    TenantBackendsOut,
)

PING_TIMEOUT_SECONDS: Final = 5.0
RETRY_AFTER_SECONDS: Final = 5

_log = logging.getLogger("bookkeeper.http")

Status = Literal["ok", "degraded", "unavailable"]


class HealthController(Controller):
    """The detailed report, liveness and readiness."""

    path = "/health"
    tags = ["operations"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/",
        operation_id="getHealth",
        summary="Health of the service and its database",
        exclude_from_auth=True,
        # Accept honoured as on the API: a 406 problem document when it admits no JSON; no
        # Accept and */* (a Kubernetes or load-balancer probe) pass (ADR 0049, round three).
        before_request=accepting(*JSON_TYPES),
        responses={
            406: documented(406)[406],
            503: ResponseSpec(
                data_container=HealthOut,
                description="The database does not answer, or its latest queries failed, "
                "or a bus client (NATS consumer, bus-publisher) is not connected "
                "(a load balancer routes on /health/ready instead)",
                generate_examples=False,
            ),
        },
    )
    async def health(self, runtime: NamedDependency[Runtime]) -> Response[HealthOut]:
        """`ok` (200) when the database answers a ping, `unavailable` (503) when it does
        not, `degraded` (503) when it answers but the latest units of work failed on it
        (a statement timeout, poisoned sessions; until one succeeds) or a client of the
        bus is not connected (a NATS consumer or the bus-publisher: its connection lost or
        closed by the server, its latest pull or publish failed, or it stopped — read from
        what each keeps, no round trip to NATS); `reasons` says which. A 503 carries
        Retry-After. Shows which database is used, with its password masked, which books and bank
        the service talks to (`fiken`/`folio`, or the local `sandbox` when no credentials
        are configured) and whether the executor runs; `tenantBackends`: a tenant's own
        Fiken/Folio credentials come first (issue 14), whether they can be stored and how
        many tenants have their own. Needs no token.

        A monitor reads this; a load balancer routes on /health/ready and a liveness probe
        asks /health/live, so that an outage of the bus (503 here) takes no replica out
        of the balancer and restarts none."""
        database = runtime.database
        status, reasons = await _database(runtime)
        database_ok = status == "ok"
        bus = await _bus(runtime) if runtime.backends is not None else None
        bus_reasons = _bus_reasons(bus)
        if bus_reasons:
            _log.warning("health check: %s", "; ".join(bus_reasons))
            reasons += bus_reasons
            status = "degraded" if status == "ok" else status
        body = HealthOut(
            status=status,
            reasons=reasons,
            database=DatabaseOut(
                dialect=database.dialect if database is not None else "unknown",
                url=runtime.database_url,
            ),
            version=__version__,
            backends=(
                BackendsOut(
                    books=runtime.backends.books_backend,
                    bank=runtime.backends.bank_backend,
                    executor="running" if runtime.executor_running else "off",
                )
                if runtime.backends is not None
                else None
            ),
            bus=bus,
            spending=_spending(runtime),
            tenant_backends=await _tenant_backends(runtime) if database_ok else None,
        )
        if status == "ok":
            return Response(body, status_code=200)
        return Response(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @get(
        "/live",
        operation_id="getLiveness",
        summary="Liveness: the process answers",
        exclude_from_auth=True,
        before_request=accepting(*JSON_TYPES),
        responses={406: documented(406)[406]},
    )
    async def live(self) -> LivenessOut:
        """`ok` (200) whenever the process answers HTTP; nothing else is asked — neither
        the database nor the bus, which a restart would not bring back. What a liveness
        probe (Kubernetes `livenessProbe`) asks. Needs no token."""
        return LivenessOut(status="ok", version=__version__)

    @get(
        "/ready",
        operation_id="getReadiness",
        summary="Readiness: the database answers",
        exclude_from_auth=True,
        before_request=accepting(*JSON_TYPES),
        responses={
            406: documented(406)[406],
            503: ResponseSpec(
                data_container=ReadinessOut,
                description="The database does not answer (or the application has not "
                "started): the API cannot serve",
                generate_examples=False,
            ),
        },
    )
    async def ready(self, runtime: NamedDependency[Runtime]) -> Response[ReadinessOut]:
        """Whether the process can serve the API: `ok` (200) when its database answers a
        ping; `unavailable` (503, Retry-After) when it does not. `degraded` (200) when
        it answers but the latest units of work failed on it: requests are still let in,
        since a unit of work that succeeds is what clears it (a balancer that stopped
        sending them could keep it so). The bus is not asked: the API works without it,
        and its state is in /health. What a load balancer, a Kubernetes
        `readinessProbe` and the Dockerfile's HEALTHCHECK route on. Needs no token."""
        status, reasons = await _database(runtime)
        body = ReadinessOut(status=status, reasons=reasons)
        if status != "unavailable":
            return Response(body, status_code=200)
        return Response(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _database(runtime: Runtime) -> tuple[Status, list[str]]:
    """The database's part of the health: `ok` when it answers a ping, `degraded` when it
    answers but its latest units of work failed, `unavailable` when it does not answer
    (or the application has not started); the reason, never its URL."""
    database = runtime.database
    try:
        if database is None:
            raise RuntimeError("the application has not started")
        await asyncio.wait_for(database.ping(), PING_TIMEOUT_SECONDS)
    except SchemaChanged as error:  # said in the log when found; not a ping failure
        return "unavailable", [f"database: {error.message}"]
    except StorageDegraded as error:
        _log.warning("health check: database degraded: %s", error.message)
        return "degraded", ["database: its latest queries failed"]
    except Exception as error:  # any failure means "not ready"; the log says which
        _log.warning("health check: database ping failed: %s", type(error).__name__)
        return "unavailable", ["database: it does not answer"]
    return "ok", []


async def _bus(runtime: Runtime) -> BusOut:
    """The active bus and how far behind each of its consumers is (issue 10): every
    durable JetStream consumer (the ledger's, the Accounts Master's) and the
    bus-publisher's position behind the head of the log."""
    bus = runtime.bus
    if bus is None:
        return BusOut(kind="in-process")
    statuses = await bus.consumers_status(PING_TIMEOUT_SECONDS)
    consumers = [
        BusConsumerOut(
            durable=status.durable,
            stream=status.stream,
            role=status.role,
            state=status.connection.state,
            reason=status.connection.reason,
            waiting=status.waiting,
            unacknowledged=status.unacknowledged,
        )
        for status in statuses
    ]
    ledger = statuses[0] if statuses else None
    pending = None
    if ledger is not None and ledger.waiting is not None:
        pending = ledger.waiting + (ledger.unacknowledged or 0)
    return BusOut(
        kind="nats",
        consumer=bus.durable,
        pending=pending,
        consumers=consumers,
        publisher=await _publisher(runtime),
    )


async def _publisher(runtime: Runtime) -> BusPublisherOut | None:
    """The bus-publisher's connection and its tracking position against the head of the
    log (None when it does not run; no position when the database does not answer)."""
    publisher = runtime.bus_publisher
    if publisher is None or runtime.subscriptions is None:
        return None
    connection = publisher.connection()
    state = BusPublisherOut(name=publisher.name, state=connection.state, reason=connection.reason)
    try:
        head, positions = await asyncio.wait_for(runtime.subscriptions.lag(), PING_TIMEOUT_SECONDS)
    except Exception as error:  # the database's own state is the health's status
        _log.warning("health check: the publisher's lag unknown: %s", type(error).__name__)
        return state
    position = positions.get(publisher.name, 0)
    return msgspec.structs.replace(state, position=position, head=head, behind=head - position)


def _bus_reasons(bus: BusOut | None) -> list[str]:
    """Why the bus makes the service degraded: each client whose connection is not up."""
    if bus is None:
        return []
    reasons = [
        f"bus consumer {c.durable}: {c.state}, {c.reason}"
        for c in bus.consumers
        if c.state != "connected"
    ]
    publisher = bus.publisher
    if publisher is not None and publisher.state != "connected":
        reasons.append(f"bus publisher {publisher.name}: {publisher.state}, {publisher.reason}")
    return reasons


def _spending(runtime: Runtime) -> SpendingOut | None:
    """The cost sources (issue 11): each configured one, and each absent one with why."""
    spending = runtime.spending
    if spending is None:
        return None
    sources = [SpendingSourceOut(name=n, status="configured") for n in spending.source_names]
    sources += [
        SpendingSourceOut(name=n, status="absent", reason=why)
        for n, why in sorted(spending.absent.items())
    ]
    return SpendingOut(sources=sources)


async def _tenant_backends(runtime: Runtime) -> TenantBackendsOut | None:
    """Issue 14: per-tenant credentials on, and how many tenants have their own."""
    tenants = runtime.backends.tenants if runtime.backends is not None else None
    if tenants is None:
        return None
    try:
        count: int | None = await asyncio.wait_for(tenants.tenant_count(), PING_TIMEOUT_SECONDS)
    except Exception as error:  # /health answers without the count rather than failing
        _log.warning("health check: credentials not counted: %s", type(error).__name__)
        count = None
    return TenantBackendsOut(per_tenant="on", can_store=tenants.key_configured, tenants=count)
