"""Bearer authentication and the security headers every response carries.

The middleware runs before any body is read: a request without a valid token is a 401
whatever else is wrong with it. The verified Principal is the only source of the actor
and the tenant; a handler reads it from `request.user` (AuthenticatedRequest).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeAlias

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Message, Scope

from bookkeeper.application.ports import Principal, TokenVerifier
from bookkeeper.entrypoints.http.problems import (
    WWW_AUTHENTICATE_DUPLICATE,
    WWW_AUTHENTICATE_MISSING,
)

#: Routes anyone may call: the health checks (the report, liveness, readiness) and the
#: OpenAPI document with its viewers.
PUBLIC_PATHS: Final = ["^/health(/live|/ready)?$", "^/schema"]
#: The web page (entrypoints/web) authenticates its own requests from the session cookie.
WEB_PATHS: Final = ["^/app(/|$)"]


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <JWT>` header; None when there is none."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Verifies `Authorization: Bearer <JWT>` with the TokenVerifier port."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude)
        self._verifier = verifier
        # A verifier that may fetch keys (OIDC) offers `averify`; it is awaited instead.
        self._averify: Callable[[str], Awaitable[Principal]] | None = getattr(
            verifier, "averify", None
        )

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        headers = connection.headers.getall("authorization", [])
        if len(headers) > 1:
            # Two credentials: whichever one we chose, a proxy or client meaning the other
            # would act as someone else (RFC 6750 §3.1: invalid_request, 400).
            raise ClientException(
                "send one Authorization header, not several",
                headers={"WWW-Authenticate": WWW_AUTHENTICATE_DUPLICATE},
            )
        header = headers[0] if headers else None
        if not header:
            raise NotAuthorizedException(
                "a bearer token is required (Authorization: Bearer <JWT>)",
                headers={"WWW-Authenticate": WWW_AUTHENTICATE_MISSING},
            )
        token = bearer_token(header)
        if token is None:
            raise NotAuthorizedException(
                "the Authorization header must use the Bearer scheme",
                headers={"WWW-Authenticate": WWW_AUTHENTICATE_MISSING},
            )
        # InvalidToken propagates to its exception handler: 401 with the reason.
        if self._averify is not None:
            principal = await self._averify(token)
        else:
            principal = self._verifier.verify(token)
        return AuthenticationResult(user=principal, auth=None)


#: A request that passed BearerAuthMiddleware: `request.user` is the verified Principal.
#: Handlers take it instead of a `principal` dependency, which would make Litestar resolve
#: two dependencies per request in a task group (measurably slower on POST /events).
AuthenticatedRequest: TypeAlias = Request[Principal, None, State]


_COMMON_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
#: The docs pages load their viewer's scripts, so their CSP only forbids framing them.
_DOCS_HEADERS: Final = (*_COMMON_HEADERS, (b"content-security-policy", b"frame-ancestors 'none'"))
_API_HEADERS: Final = (
    *_COMMON_HEADERS,
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)

#: The web page loads only its own stylesheet, script, images and the documents it frames.
_WEB_CSP: Final = (
    b"default-src 'self'; object-src 'none'; base-uri 'none'; "
    b"form-action 'self'; frame-src 'self'; frame-ancestors 'self'"
)
_WEB_COMMON: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
)
_WEB_HEADERS: Final = (
    *_WEB_COMMON,
    (b"cache-control", b"no-store"),
    (b"content-security-policy", _WEB_CSP),
)
#: A stored document (PDF, JPEG or PNG only, never sniffed) shown in the page's frame.
_WEB_FILE_HEADERS: Final = (
    *_WEB_COMMON,
    (b"cache-control", b"private, no-store"),
    (b"content-security-policy", b"frame-ancestors 'self'"),
)


def _extra_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    if path.startswith("/schema"):
        return _DOCS_HEADERS
    if path == "/app" or path.startswith("/app/"):
        if path.startswith("/app/static/"):
            return (*_WEB_COMMON, (b"content-security-policy", _WEB_CSP))
        return _WEB_FILE_HEADERS if path.startswith("/app/files/") else _WEB_HEADERS
    return _API_HEADERS


async def add_security_headers(message: Message, scope: Scope) -> None:
    """Before-send hook: nosniff and no-referrer everywhere; API answers are never cached
    and may not load anything (the docs pages load their viewer, so they get less)."""
    if message["type"] != "http.response.start":
        return
    path: str = scope.get("path", "")
    extra = _extra_headers(path)
    message["headers"] = [*message.get("headers", ()), *extra]
