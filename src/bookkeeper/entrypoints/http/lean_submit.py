"""POST /api/book-keeper/v1/events, the P1 route, without Litestar's per-request pipeline
(issue 14, P1; ADR 0045).

`LeanSubmit` sits between `observe` (request id, access line, metrics: they stay outside)
and Litestar's own ASGI handler, inside `Litestar.__call__`: so the `before_send` hooks
(security headers) wrap its `send` as they wrap every route's. For exactly `POST` on the
route's path it does what the Litestar route and its middleware do — the same bearer
verification (the verifier and its cache), the same rate limiter instance, the same strict
decoder (`EventSubmission`, the depth check, `decode_payload`), the same `Handlers.dispatch`
(authorization is the application's Casbin/ABAC check in there) — and answers the 201
itself, without routing, the two exception layers, the authentication and rate-limit
middleware classes, the kwargs/signature model, the DTO and `Response` objects.

It decides once, before it verifies anything, whether it takes a request. Whatever is
unusual — another content type, a second Authorization header, an Origin (CORS), a query
string, an Idempotency-Key Litestar would refuse (empty, too long, or a second one), an
`Accept` that admits no JSON (`bounded_query`'s 406) or a second Accept header, no or
an empty body, a body over the limit, no bearer token — is handed to Litestar untouched
(scope and `receive` as they came), which answers it exactly as before. A request it takes
it answers itself, whatever the outcome: a token that does not verify (401), a limiter that
refuses (429), a body that grows over the limit (413), does not decode or validate
(400/422), a disconnect, and any exception of `Handlers.dispatch` (403, 409, 503 …) are
each raised as the route would raise them and rendered by Litestar's own
`ExceptionHandlerMiddleware` with the route's exception handlers, in the scope the router
and the authentication middleware would have left — the same problem details and headers
(`WWW-Authenticate`, `Retry-After`, the security headers). So nothing it decided has to
travel to the shared middleware. The Litestar route stays registered: it documents the
operation in the OpenAPI schema and serves what is handed on.
tests/integration/test_lean_submit.py sends the same requests through both and compares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, NoReturn

import msgspec
from litestar import Litestar, Request
from litestar._asgi.utils import is_valid_host
from litestar.exceptions import InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.middleware._internal.exceptions.middleware import ExceptionHandlerMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from bookkeeper.application.handlers import Handlers, SubmitResult
from bookkeeper.application.ports import Principal, TokenVerifier
from bookkeeper.entrypoints.http.controllers.events import (
    API_PREFIX,
    MAX_IDEMPOTENCY_KEY,
    submit_command,
)
from bookkeeper.entrypoints.http.decoding import (
    check_depth,
    refuse_duplicates,
    validation_error,
)
from bookkeeper.entrypoints.http.negotiation import acceptable
from bookkeeper.entrypoints.http.ratelimit import RateLimitMiddleware
from bookkeeper.entrypoints.http.security import bearer_token
from bookkeeper.entrypoints.http.wire import EventSubmission, submission_out

PATH: Final = f"{API_PREFIX}/events"
_METHOD: Final = "POST"
_JSON: Final = frozenset({b"application/json", b"application/json; charset=utf-8"})
_DECODER: Final = msgspec.json.Decoder(EventSubmission)
_ENCODER: Final = msgspec.json.Encoder()
_LOCATION: Final = f"{PATH}/".encode("latin-1")
_REPLAYED: Final = (b"idempotent-replayed", b"true")
_CONTENT_TYPE: Final = (b"content-type", b"application/json")


def _raising(error: Exception) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise error

    return app


def _check_mirrored(handler: HTTPRouteHandler, litestar: Litestar, max_body: int) -> None:
    """Refuse to start when the route has grown a step the lean path does not take (a
    guard, another middleware, a hook, a response header or cookie, another body limit, a
    compression or CSRF layer): that step must be added to the lean path (and its parity
    tests), or the lean path removed. What it mirrors today: the bearer middleware, the
    rate limiter, `bounded_query` (which reads query strings and refuses a second
    Idempotency-Key: both are handed on)."""
    layers = handler.ownership_layers
    middleware = handler.resolve_middleware()
    drifted = [
        what
        for what, found in (
            ("guards", handler.resolve_guards()),
            ("after_request", [layer for layer in layers if layer.after_request]),
            ("after_response", handler.resolve_after_response()),
            ("response cookies", handler.resolve_response_cookies()),
            (
                "response headers",
                [h for h in handler.resolve_response_headers() if not h.documentation_only],
            ),
            ("middleware", len(middleware) != 2),
            ("body limit", handler.resolve_request_max_body_size() != max_body),
            ("compression", litestar.compression_config),
            ("csrf", litestar.csrf_config),
            ("allowed hosts", litestar.allowed_hosts),
        )
        if found
    ]
    before = handler.resolve_before_request()
    if before is not None and getattr(before, "__name__", "") != "bounded_query":
        drifted.append("before_request")
    if drifted:
        raise RuntimeError(
            f"POST {PATH} has steps the lean path does not take ({', '.join(drifted)}): "
            "mirror them in lean_submit.py or drop the lean path (ADR 0045)"
        )


class LeanSubmit:
    """The ASGI layer described in the module doc; anything else goes to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        litestar: Litestar,
        *,
        verifier: TokenVerifier,
        limiter: RateLimitMiddleware,
        handlers: Callable[[], Handlers],
        max_body: int,
        cors: bool,
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._averify: Callable[[str], Awaitable[Principal]] | None = getattr(
            verifier, "averify", None
        )
        self._limiter = limiter
        self._handlers = handlers
        self._max_body = max_body
        self._cors = cors
        # What Litestar's router finds for the route (its handler, template, exception
        # handlers), looked up once.
        _, route_handler, _, _, template = litestar.asgi_router.handle_routing(
            path=PATH, method=_METHOD
        )
        if not isinstance(route_handler, HTTPRouteHandler):  # pragma: no cover - wiring
            raise TypeError(f"no HTTP route for {_METHOD} {PATH}")
        _check_mirrored(route_handler, litestar, max_body)
        self._route_handler = route_handler
        self._template = template
        self._exception_handlers = route_handler.resolve_exception_handlers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["path"] != PATH
            or scope.get("method") != _METHOD  # also not a websocket
            or scope.get("query_string")
            or scope.get("root_path")
        ):
            await self._app(scope, receive, send)
            return
        await self._submit(scope, receive, send)

    async def _submit(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        authorization = content_type = key = length = accept = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    return await app(scope, receive, send)
                authorization = value
            elif name == b"content-type":
                if content_type is not None:
                    return await app(scope, receive, send)
                content_type = value
            elif name == b"content-length":
                if length is not None:
                    return await app(scope, receive, send)
                length = value
            elif name == b"accept":
                if accept is not None:
                    return await app(scope, receive, send)
                accept = value
            elif name == b"idempotency-key":
                if key is not None:
                    return await app(scope, receive, send)
                key = value
            elif (name == b"origin" and self._cors) or (
                name == b"host" and not is_valid_host(value)
            ):
                return await app(scope, receive, send)
        if (
            content_type not in _JSON
            or length is None
            or not length.isdigit()
            or not 0 < int(length) <= self._max_body
            or (key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY)
            or (accept is not None and not acceptable(accept.decode("latin-1")))
        ):
            return await app(scope, receive, send)
        token = bearer_token(None if authorization is None else authorization.decode("latin-1"))
        if token is None:
            return await app(scope, receive, send)

        # Taken: from here on every outcome is answered here, never handed on. First what
        # Litestar's router leaves in the scope (the access line and metrics read the
        # template, the exception handlers the rest).
        scope["route_handler"] = self._route_handler
        scope["path_template"] = self._template
        scope.setdefault("path_params", {})
        ScopeState.from_scope(scope).exception_handlers = self._exception_handlers
        try:
            if self._averify is not None:
                principal = await self._averify(token)
            else:
                principal = self._verifier.verify(token)
            # What the authentication middleware leaves (the access line reads the user).
            scope["user"] = principal
            scope["auth"] = None
            await self._limiter.spend_for(principal, _METHOD)
            body = await self._body(receive)
            idempotency_key = None if key is None else key.decode("latin-1")
            # In the route's order: the body (its DTO), the `handlers` dependency, the
            # signature (a body that is not there), then the handler's own steps.
            data: EventSubmission | None = None
            if body:
                check_depth(body)
                try:
                    data = _DECODER.decode(body)
                except (msgspec.ValidationError, msgspec.DecodeError) as error:
                    raise validation_error(error, body=body) from None
                refuse_duplicates(body)
            handlers = self._handlers()
            if data is None:
                self._refuse_missing_body(scope, receive, send, handlers, idempotency_key)
            try:
                command = submit_command(data, principal, idempotency_key)
            except msgspec.DecodeError as error:  # a ValidationError, or no UTF-8 in `data`
                raise validation_error(error, prefix="$.data", body=body) from None
            result: SubmitResult = await handlers.dispatch(command)
            content = _ENCODER.encode(submission_out(result))
        except Exception as error:
            # Rendered as the route's exception layers render it: its handlers, its scope.
            await ExceptionHandlerMiddleware(_raising(error), None)(scope, receive, send)
            return None
        headers = [
            (b"location", _LOCATION + str(result.event_id).encode("latin-1")),
            _CONTENT_TYPE,
            (b"content-length", str(len(content)).encode("latin-1")),
        ]
        if result.replayed:
            headers.insert(1, _REPLAYED)
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": content, "more_body": False})
        return None

    async def _body(self, receive: Receive) -> bytes:
        """The request body, read as Litestar's `Request.stream` reads it: the same 413
        over the limit (counted on the bytes received), the same 500 on a disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > self._max_body:
                        raise RequestEntityTooLarge
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            elif message["type"] == "http.disconnect":
                raise InternalServerException("client disconnected prematurely")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _refuse_missing_body(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        handlers: Handlers,
        idempotency_key: str | None,
    ) -> NoReturn:
        """A Content-Length above 0 and no body (an ASGI server does not let that through):
        the route's DTO leaves `data` out and its signature model refuses the call; that
        model raises the same 400 here."""
        request: Request[Any, Any, Any] = Request(scope, receive, send)
        self._route_handler.signature_model.parse_values_from_connection_kwargs(
            connection=request,
            kwargs={"request": request, "handlers": handlers, "idempotency_key": idempotency_key},
        )
        raise InternalServerException  # pragma: no cover - the model requires `data`
