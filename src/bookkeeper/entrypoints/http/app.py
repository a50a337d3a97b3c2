"""Builds the Litestar app from the container: `create_app(container)`, `app_factory()`.

`create_app` wires routes, authentication, problem details, security headers and the
OpenAPI document; it resolves the token verifier at once (creating the signing key on a
fresh machine). Everything that needs the database is started in the lifespan by
entrypoints/serve.py (`start_process`: the services, the scheduler's jobs, the Discord
bot), so that the app object can be built outside an event loop; the embedded SQLite
database is migrated there (a PostgreSQL schema by `bookkeeper migrate`, by whoever owns
it), and the container's resources are released at shutdown.

Run with `bookkeeper serve`, or `uvicorn --factory bookkeeper.entrypoints.http.app:app_factory`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag

from bookkeeper import __version__
from bookkeeper.application.bus import BusIntake
from bookkeeper.application.documents import Documents
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.lookups import Lookups
from bookkeeper.application.pipeline import DocumentPipeline
from bookkeeper.application.queries import Queries
from bookkeeper.container import Container, shutdown
from bookkeeper.entrypoints.http.controllers.bus import BusController
from bookkeeper.entrypoints.http.controllers.checks import check_routes
from bookkeeper.entrypoints.http.controllers.correlations import CorrelationController
from bookkeeper.entrypoints.http.controllers.credentials import credentials_routes
from bookkeeper.entrypoints.http.controllers.documents import DocumentController
from bookkeeper.entrypoints.http.controllers.events import API_PREFIX, EventController
from bookkeeper.entrypoints.http.controllers.exports import export_routes
from bookkeeper.entrypoints.http.controllers.files import FileController
from bookkeeper.entrypoints.http.controllers.health import HealthController
from bookkeeper.entrypoints.http.controllers.ledger import (
    JournalEntryController,
    LedgerReportController,
)
from bookkeeper.entrypoints.http.controllers.lookups import BankController, BooksController
from bookkeeper.entrypoints.http.controllers.patterns import PatternController
from bookkeeper.entrypoints.http.controllers.proposals import ProposalController
from bookkeeper.entrypoints.http.controllers.reports import ReportController
from bookkeeper.entrypoints.http.controllers.rules import rules_routes
from bookkeeper.entrypoints.http.controllers.spending import spending_routes
from bookkeeper.entrypoints.http.docs import assets_router, render_plugins
from bookkeeper.entrypoints.http.head import head_as_get
from bookkeeper.entrypoints.http.lean_submit import LeanSubmit
from bookkeeper.entrypoints.http.observability import metrics, observe
from bookkeeper.entrypoints.http.params import bounded_query
from bookkeeper.entrypoints.http.problems import exception_handlers
from bookkeeper.entrypoints.http.ratelimit import RateLimitMiddleware
from bookkeeper.entrypoints.http.routing import FreshRouter
from bookkeeper.entrypoints.http.runtime import Runtime
from bookkeeper.entrypoints.http.security import (
    PUBLIC_PATHS,
    WEB_PATHS,
    BearerAuthMiddleware,
    add_security_headers,
)
from bookkeeper.entrypoints.logs import configure_logging
from bookkeeper.entrypoints.serve import start_process
from bookkeeper.entrypoints.web.routes import on_web_paths, web_router
from bookkeeper.entrypoints.web.session import Sessions, web_secret

#: Largest request body accepted (a proposal is a few kilobytes; documents are URLs).
MAX_BODY_BYTES: Final = 1_000_000
BEARER_SCHEME: Final = "bearerAuth"

_log = logging.getLogger("bookkeeper")


def create_app(container: Container, *, lean_submit: bool = True) -> Litestar:
    """The HTTP API wired to the container's providers (override them first in tests).
    `lean_submit=False` leaves POST /events to its Litestar route alone (the lean path's
    parity tests compare the two; ADR 0045)."""
    runtime = Runtime()
    verifier = container.token_verifier()
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        process = await start_process(container)
        try:
            runtime.start(process)
            yield
        finally:
            await process.close()
            await shutdown(container)

    # Closures, not bound methods: Litestar deep-copies the handlers it registers, and a
    # copied bound method would carry a copy of `runtime` that the lifespan never fills.
    def provide_handlers() -> Handlers:
        return runtime.get_handlers()

    def provide_queries() -> Queries:
        return runtime.get_queries()

    def provide_ledger() -> LedgerService:
        return runtime.get_ledger()

    def provide_lookups() -> Lookups:
        return runtime.get_lookups()

    def provide_documents() -> Documents:
        return runtime.get_documents()

    def provide_pipeline() -> DocumentPipeline:
        return runtime.get_pipeline()

    def provide_bus_intake() -> BusIntake:
        return runtime.get_bus_intake()

    def provide_runtime() -> Runtime:
        return runtime

    api = FreshRouter(
        path=API_PREFIX,
        route_handlers=[
            EventController,
            ProposalController,
            CorrelationController,
            PatternController,
            ReportController,
            FileController,
            DocumentController,
            JournalEntryController,
            LedgerReportController,
            BankController,
            BooksController,
            BusController,
            export_routes(container),
            check_routes(container),
            rules_routes(container),
            *spending_routes(container),
            # Issue 14: a tenant's own Fiken and Folio credentials (admin only).
            credentials_routes(container),
        ],
        dependencies={
            "handlers": Provide(provide_handlers, sync_to_thread=False, use_cache=True),
            "queries": Provide(provide_queries, sync_to_thread=False, use_cache=True),
            "documents": Provide(provide_documents, sync_to_thread=False, use_cache=True),
            "pipeline": Provide(provide_pipeline, sync_to_thread=False, use_cache=True),
            "ledger": Provide(provide_ledger, sync_to_thread=False, use_cache=True),
            "lookups": Provide(provide_lookups, sync_to_thread=False, use_cache=True),
            "bus_intake": Provide(provide_bus_intake, sync_to_thread=False, use_cache=True),
        },
        security=[{BEARER_SCHEME: []}],
        before_request=bounded_query,
    )
    # One limiter for the API (a middleware) and the web page (its session principal and
    # login attempts, ADR 0040 §5): one budget per principal across both.
    limiter = RateLimitMiddleware(
        settings.rate_limit,
        settings.rate_limit_writes,
        redis_url=settings.redis_url,
        login_limit=settings.rate_limit_login,
    )
    # An address under /app that no page takes is answered by a page too (ADR 0027).
    refusals = exception_handlers()
    refusals[HTTPException] = on_web_paths(refusals[HTTPException])
    app = Litestar(
        route_handlers=[
            api,
            HealthController,
            assets_router(),
            metrics,
            # The web page for reviewers and accountants (ADR 0027), same services and login.
            web_router(
                settings, Sessions(verifier), web_secret(settings), limiter, container.people()
            ),
        ],
        dependencies={"runtime": Provide(provide_runtime, sync_to_thread=False, use_cache=True)},
        middleware=[
            DefineMiddleware(
                BearerAuthMiddleware, verifier=verifier, exclude=[*PUBLIC_PATHS, *WEB_PATHS]
            ),
            # After authentication: the budget is per tenant and principal (ratelimit.py).
            limiter,
        ],
        exception_handlers=refusals,
        before_send=[add_security_headers],
        cors_config=cors_config(settings.cors_origins),
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=openapi_config(),
        logging_config=None,
        debug=False,
    )
    if lean_submit:
        # POST /events (P1) answered without Litestar's per-request pipeline when it is
        # an ordinary request; anything else goes on to Litestar as before (ADR 0045).
        app.asgi_handler = LeanSubmit(
            app.asgi_handler,
            app,
            verifier=verifier,
            limiter=limiter,
            handlers=provide_handlers,
            max_body=MAX_BODY_BYTES,
            cors=app.cors_config is not None,
        )
    # HEAD is the GET's answer without its body (head.py).
    app.asgi_handler = head_as_get(app.asgi_handler)
    # Outermost: request id, access log and HTTP metrics see every request, refused or not.
    app.asgi_handler = observe(app.asgi_handler)
    return app


def cors_config(origins: tuple[str, ...]) -> CORSConfig | None:
    """None (no CORS headers at all: browsers refuse cross-origin calls and preflights)
    unless BOOKKEEPER_CORS_ORIGINS lists origins. Tokens travel in a header, never in
    cookies, so credentials are not allowed."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Content-Disposition", "Idempotency-Key"],
        expose_headers=["Location", "Retry-After"],
        allow_credentials=False,
        max_age=600,
    )


def openapi_config() -> OpenAPIConfig:
    """The OpenAPI document at /schema/openapi.json, Swagger UI (served offline, see
    docs.py) at /schema and /schema/swagger; every API operation requires the bearer scheme."""
    return OpenAPIConfig(
        title="bookkeeper",
        version=__version__,
        description=(
            "Event-sourced accounting agent: propose actions, review them, read the log. "
            "Every route under /api/book-keeper/v1 needs `Authorization: Bearer <JWT>` "
            "(`bookkeeper token` mints one). Errors are RFC 9457 problem details."
        ),
        path="/schema",
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="An EdDSA JWT with sub, tenant and roles claims",
                )
            }
        ),
        tags=[
            Tag(name="events", description="The append-only event log and decisions"),
            Tag(name="proposals", description="Current state of proposals; the review queue"),
            Tag(name="patterns", description="Learned merchant patterns"),
            Tag(name="reports", description="Figures from the read models"),
            Tag(name="documents", description="Receipt and invoice files, by SHA-256"),
            Tag(name="ledger", description="Manual journal entries of the double-entry ledger"),
            Tag(name="bank", description="Read-only questions to the bank (logged as events)"),
            Tag(name="books", description="Read-only questions to the books (logged as events)"),
            Tag(name="operations", description="Health"),
            Tag(name="bus", description="External business events booked through translators"),
        ],
        render_plugins=render_plugins(),
    )


def app_factory() -> Litestar:
    """The app configured from BOOKKEEPER_* variables (for `uvicorn --factory`)."""
    container = Container()
    configure_logging(container.settings().log_level, container.settings().log_format)
    return create_app(container)
