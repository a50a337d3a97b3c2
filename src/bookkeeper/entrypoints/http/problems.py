"""Every error as RFC 9457 problem details (application/problem+json).

    exception                                           status  code
    InvalidToken / no bearer token                      401     invalid-token / missing-token
    Forbidden, SelfApprovalNotAllowed                   403     forbidden / self-approval
      and its kinds, ApprovalRefused (approval                  own-document-approval,
      limit, department: domain.approval)                       approval-limit-exceeded …
    NotFound (also another tenant's object)             404     not-found
    ProposalNotPending, IllegalTransition,
      ConcurrencyConflict, IdempotencyConflict,
      DuplicateEvent                                    409     its code
    InvalidProposal, InvalidCorrection,
      UnknownEventType, RejectionReasonRequired         422     its code
    StorageUnavailable                                  503     storage-unavailable
    SchemaChanged (the schema migrated while running)   503     schema-changed
    ExternalUnavailable, ExternalRateLimited (books or
      bank down, timing out, throttling)                503     its code (Retry-After when
                                                                the remote system said)
    ExternalAuthFailed (our books/bank token refused)   502     external-auth-failed
    ExternalRejected, ExternalNotFound, other
      ExternalError (the books or bank refused)         502     its code
    Litestar's own (400 validation, 404, 405, 413 …)    its     derived from the status
    anything else                                       500     internal-error (logged; the
                                                                body says nothing internal)

An unknown event type is a 422 like any other payload the domain refuses: the request
was well-formed JSON, its content is not acceptable.

An ExternalNotFound is a 502: the remote object it names is one we expected to exist, not
one the client named. A route that looks up a remote object by the client's id translates
it to NotFound (404) itself.
"""

from __future__ import annotations

import logging
import math
import re
from http import HTTPStatus
from typing import Any, Final

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from bookkeeper.adapters.auth.errors import InvalidToken
from bookkeeper.application.credentials import CredentialsKeyMissing
from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    DuplicateEvent,
    ExternalAuthFailed,
    ExternalError,
    ExternalUnavailable,
    Forbidden,
    IdempotencyConflict,
    NotFound,
    SchemaChanged,
    StorageUnavailable,
)
from bookkeeper.domain.approval import ApprovalRefused
from bookkeeper.domain.errors import (
    DomainError,
    IllegalTransition,
    SelfApprovalNotAllowed,
)
from bookkeeper.domain.rules import PeriodClosed, VatTermLocked
from bookkeeper.entrypoints.http.wire import FieldError, Problem

PROBLEM_JSON: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:bookkeeper:problem:"
WWW_AUTHENTICATE_MISSING: Final = 'Bearer realm="bookkeeper"'
WWW_AUTHENTICATE_INVALID: Final = 'Bearer realm="bookkeeper", error="invalid_token"'
WWW_AUTHENTICATE_DUPLICATE: Final = 'Bearer realm="bookkeeper", error="invalid_request"'

_log = logging.getLogger("bookkeeper.http")

#: Application and domain errors by class; the most specific class in the MRO wins.
_STATUS: Final[dict[type[Exception], int]] = {
    DomainError: 422,
    IllegalTransition: 409,
    SelfApprovalNotAllowed: 403,
    ApprovalRefused: 403,
    NotFound: 404,
    Forbidden: 403,
    ConcurrencyConflict: 409,
    DuplicateEvent: 409,
    IdempotencyConflict: 409,
    StorageUnavailable: 503,
    # Issue 12: a posting dated into a closed period.
    PeriodClosed: 409,
    # ADR 0040 addendum: an entry with VAT lines dated into a locked (reported) VAT term.
    VatTermLocked: 409,
    # Issue 14: credentials cannot be stored without BOOKKEEPER_CREDENTIALS_KEY.
    CredentialsKeyMissing: 409,
}

_CODES: Final[dict[int, str]] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable-content",
    429: "too-many-requests",
    503: "service-unavailable",
}


def problem_response(
    status: int,
    detail: str,
    code: str,
    *,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """A problem details response."""
    return Response(
        Problem(
            type=TYPE_PREFIX + code,
            title=title or _phrase(status),
            status=status,
            detail=detail,
            code=code,
            errors=errors,
        ),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _status_of(error: Exception) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def _external_error(request: Request[Any, Any, Any], error: ExternalError) -> Response[Problem]:
    """The books or bank failed: 503 when trying later may help, 502 when it refused. The
    detail names the system, never a credential; the remote words go to the log."""
    _log.warning(
        "%s failed on %s %s: %s: %s",
        error.system,
        request.method,
        request.url.path,
        type(error).__name__,
        error.message,
    )
    headers = None
    if isinstance(error, ExternalUnavailable):
        status = 503
        detail = f"{error.system} is unavailable or busy; retry later"
        # A 429's Retry-After, or a 5xx's (how long the outage lasts), passed on.
        if error.retry_after is not None:
            headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    elif isinstance(error, ExternalAuthFailed):
        status = 502
        detail = (
            f"{error.system} refused the books/bank credentials this service is configured "
            "with; an operator must check its API token"
        )
    else:
        status = 502
        detail = f"{error.system} refused the request: {error.message}"
    return problem_response(status, detail, error.code, headers=headers)


def _business_error(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    if isinstance(error, ExternalError):
        return _external_error(request, error)
    status = _status_of(error)
    if status >= 500 and not isinstance(error, StorageUnavailable):
        return _internal_error(request, error)
    code = str(getattr(error, "code", "error"))
    message = str(getattr(error, "message", "")) or _phrase(status)
    headers = None
    if isinstance(error, SchemaChanged):
        # Our own words (revision ids, what to do), said once in the log when it was found.
        headers = {"Retry-After": "30"}
    elif isinstance(error, StorageUnavailable):
        # The driver's words (host names, server messages) stay in the log, not the answer.
        _log.warning(
            "database unavailable on %s %s: %s", request.method, request.url.path, error.message
        )
        message = "the database is unavailable; retry later"
        headers = {"Retry-After": "5"}
    return problem_response(status, message, code, headers=headers)


def _invalid_token(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    message = error.message if isinstance(error, InvalidToken) else "invalid bearer token"
    return problem_response(
        401, message, "invalid-token", headers={"WWW-Authenticate": WWW_AUTHENTICATE_INVALID}
    )


def _http_error(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    assert isinstance(error, HTTPException)
    status = error.status_code
    if status >= 500:
        return _internal_error(request, error)
    errors = None
    if isinstance(error, ValidationException):
        errors = _field_errors(request, error.extra)
        code = "validation-failed"
    else:
        code = _CODES.get(status, "http-error")
    detail = error.detail or _phrase(status)
    if status == 404 and detail == _phrase(status):
        detail = f"no route for {request.method} {request.url.path}"
    elif status == 405 and detail == _phrase(status):
        detail = f"{request.method} is not allowed on {request.url.path}"
    missing = _MISSING.fullmatch(detail) if isinstance(error, ValidationException) else None
    if missing is not None and not errors:  # Litestar's own words, with no field named
        source, name = missing.group("source"), missing.group("name")
        detail = f"the {source} parameter '{name}' is required"
        errors = [FieldError(field=name, source=source, message="required")]
    if isinstance(error, ValidationException) and detail.startswith("Validation failed for "):
        detail = "the request is not valid: " + "; ".join(
            f"{e.field}: {e.message}" if e.field else e.message for e in errors or []
        )
    return problem_response(status, detail, code, errors=errors, headers=error.headers)


#: How Litestar says a required parameter was left out (it names no field in `extra`).
_MISSING: Final = re.compile(
    r"Missing required (?P<source>query|header|cookie|path) parameter '(?P<name>[^']+)'"
    r" for path .*",
    re.DOTALL,
)


def _field_errors(request: Request[Any, Any, Any], extra: Any) -> list[FieldError] | None:
    if not isinstance(extra, list):
        return None
    result = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = item.get("key")
        raw_source = item.get("source") or "body"
        source = str(getattr(raw_source, "value", raw_source))
        message = str(item.get("message", ""))
        if source == "body" and key == "data" and message == "'data'":
            key, message = None, "a JSON request body is required"
        elif key is not None and source != "body":
            key = _wire_name(request, str(key))
        result.append(FieldError(field=key, source=source, message=message))
    return result


def _wire_name(request: Request[Any, Any, Any], key: str) -> str:
    """The query/header/path name of a handler parameter (`created_from` → `from`)."""
    handler = request.scope.get("route_handler")
    try:
        definition = handler.parsed_fn_signature.parameters[key]
    except (AttributeError, KeyError):
        return key
    name = getattr(definition.kwarg_definition, "name", None)
    return str(name) if name else key


def _internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    _log.error(
        "unhandled %s on %s %s",
        type(error).__name__,
        request.method,
        request.url.path,
        exc_info=error,
    )
    return problem_response(
        500, "the server could not complete the request; it has been logged", "internal-error"
    )


def exception_handlers() -> ExceptionHandlersMap:
    """The app's exception handlers: one per family, the rest is a logged 500."""
    return {
        InvalidToken: _invalid_token,
        HTTPException: _http_error,
        DomainError: _business_error,
        ApplicationError: _business_error,
        Exception: _internal_error,
    }


_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "The request is malformed or has fields it may not have",
    401: "No bearer token, or one that does not verify",
    403: "The caller's roles do not allow this, or it is their own proposal",
    404: "No such object in the caller's tenant",
    406: "The Accept header admits none of the media types this operation answers",
    409: "The proposal was decided already, or the idempotency key was used differently",
    413: "The request body is too large",
    415: "The request body is not JSON (its Content-Type says another media type)",
    422: "The content breaks a business rule",
    502: "The books or the bank refused the request (or the credentials configured for them)",
    503: "The database, the books or the bank is unavailable; retry later",
}


def documented(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a route can give (always 400, which
    replaces Litestar's own description of its validation errors, and 406: an Accept
    that admits none of the route's types, params.bounded_query)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in sorted({400, 406, *statuses})
    }
