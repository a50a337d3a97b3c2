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

It answers only when it is sure the answer is the route's. Whatever is unusual — another
content type, a second Authorization header, an Origin (CORS), a query string, an
Idempotency-Key Litestar would refuse, a body over the limit or not valid for the route, a
token that does not verify, a limiter that refuses — is handed to Litestar unchanged, which
answers it exactly as before: the body read so far is replayed to it, and what the lean
path already decided travels in the scope (`VERIFIED`: the principal or the verifier's
exception; `SPENT`: the rate limit spent, or the limiter's exception), so that nothing is
verified or spent twice and the same problem details come out. An exception from
`Handlers.dispatch` is rendered by Litestar's own `ExceptionHandlerMiddleware` with the
route's exception handlers, as the route's inner layer would. The Litestar route stays
registered: it documents the operation in the OpenAPI schema and serves what is handed on.
tests/integration/test_lean_submit.py sends the same requests through both and compares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

import msgspec
from litestar import Litestar
from litestar._asgi.utils import is_valid_host
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
from bookkeeper.entrypoints.http.decoding import check_depth
from bookkeeper.entrypoints.http.ratelimit import SPENT, RateLimitMiddleware
from bookkeeper.entrypoints.http.security import VERIFIED, bearer_token
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


def _replaying(messages: list[Any], receive: Receive) -> Receive:
    """`receive` that first hands out what the lean path already read."""
    pending = list(messages)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _check_mirrored(handler: HTTPRouteHandler, litestar: Litestar, max_body: int) -> None:
    """Refuse to start when the route has grown a step the lean path does not take (a
    guard, another middleware, a hook, a response header or cookie, another body limit, a
    compression or CSRF layer): that step must be added to the lean path (and its parity
    tests), or the lean path removed. What it mirrors today: the bearer middleware, the
    rate limiter, `bounded_query` (which only reads query strings: those are handed on)."""
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
        authorization = content_type = key = length = None
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
            or int(length) > self._max_body
            or (key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY)
        ):
            return await app(scope, receive, send)
        token = bearer_token(None if authorization is None else authorization.decode("latin-1"))
        if token is None:
            return await app(scope, receive, send)
        # What was decided here, for the middleware when the request is handed on.
        marks = cast(dict[str, Any], scope)
        try:
            if self._averify is not None:
                principal = await self._averify(token)
            else:
                principal = self._verifier.verify(token)
        except Exception as error:  # the middleware raises it: the same 401 (or 500)
            marks[VERIFIED] = error
            return await app(scope, receive, send)
        marks[VERIFIED] = principal
        try:
            await self._limiter.spend_for(principal, _METHOD)
        except Exception as error:  # the middleware raises it: the same 429
            marks[SPENT] = error
            return await app(scope, receive, send)
        marks[SPENT] = True

        messages: list[Any] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # a disconnect: Litestar's to handle
                return await app(scope, _replaying(messages, receive), send)
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
                if size > self._max_body:
                    return await app(scope, _replaying(messages, receive), send)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            check_depth(body)
            command = submit_command(
                _DECODER.decode(body),
                principal,
                None if key is None else key.decode("latin-1"),
            )
            handlers = self._handlers()
        except Exception:  # the route decodes it again and answers its 400/422/500
            return await app(scope, _replaying(messages, receive), send)

        # What Litestar's router and authentication leave in the scope (the access line
        # and metrics read the principal and the template; the exception handlers the rest).
        scope["user"] = principal
        scope["auth"] = None
        scope["route_handler"] = self._route_handler
        scope["path_template"] = self._template
        scope.setdefault("path_params", {})
        ScopeState.from_scope(scope).exception_handlers = self._exception_handlers
        try:
            result: SubmitResult = await handlers.dispatch(command)
            content = _ENCODER.encode(submission_out(result))
        except Exception as error:
            replay = _replaying(messages, receive)
            await ExceptionHandlerMiddleware(_raising(error), None)(scope, replay, send)
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
