"""Query parameters shared by several routes: time ranges and keyset paging, and the
bounds every query parameter of the API is held to (`bounded_query`, ADR 0021): one value
of a parameter that takes one, a value of its set for one typed as a Literal or an Enum
(ADR 0007 addendum)."""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as dt
import enum
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

from litestar import Request
from litestar.constants import RESERVED_KWARGS
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.params import BodyKwarg, ParameterKwarg, PathParameter, QueryParameter

from bookkeeper.application.queries import MAX_PAGE, clamp_limit
from bookkeeper.entrypoints.http.csv_out import CsvOperation
from bookkeeper.entrypoints.http.negotiation import (
    CSV,
    JSON_TYPES,
    acceptable,
    not_acceptable_detail,
)

DEFAULT_LIMIT: Final = 50
#: The largest cursor a page may be asked for: every position fits, and the OpenAPI
#: document (whose numbers are doubles) can state it exactly.
MAX_CURSOR: Final = 2**53 - 1
#: Dates a query may name (ADR 0021): far wider than any book-keeping period, narrow enough
#: that date arithmetic (a day before, a year after) never leaves Python's range.
EARLIEST: Final = dt.date(1900, 1, 1)
LATEST: Final = dt.date(2200, 12, 31)

# Read as text and parsed by `aware`: Litestar's lenient conversion would take `to=0.5`
# for a Unix timestamp.
From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        format="date-time",
        max_length=64,
        description="Inclusive start, RFC 3339 with a UTC offset (e.g. 2026-11-01T00:00:00Z)",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        format="date-time",
        max_length=64,
        description="Exclusive end, RFC 3339 with a UTC offset",
    ),
]
After = Annotated[
    int,
    QueryParameter(
        name="after",
        ge=0,
        le=MAX_CURSOR,
        description="Cursor: the `nextAfter` of the previous page (0 for the first page)",
    ),
]
#: The pattern of a free-text query value: anything but NUL, which no database keeps in
#: text (`bounded_query` refuses it on every route; this says so in the document).
NO_NUL: Final = r"^[^\x00]*$"
Limit = Annotated[
    int,
    QueryParameter(name="limit", description=f"Page size, clamped to 1..{MAX_PAGE}"),
]
#: The longest opaque cursor a list takes (the general ledger's, the patterns').
MAX_OPAQUE_CURSOR: Final = 1000
#: An opaque cursor: the `nextCursor` a list handed out, asked with the same other
#: parameters; one it did not hand out is a 400 naming `cursor`.
Cursor = Annotated[
    str | None,
    QueryParameter(
        name="cursor",
        max_length=MAX_OPAQUE_CURSOR,
        pattern=NO_NUL,
        description="`nextCursor` of the previous page, with the same other parameters "
        "(omitted for the first page)",
    ),
]


def aware(value: str | None, name: str) -> dt.datetime | None:
    """The timestamp if it is one with a UTC offset; a 400 naming the parameter if not."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.utcoffset() is not None:
        if not EARLIEST <= parsed.date() <= LATEST:
            raise invalid_query(name, _WINDOW_MESSAGE)
        return parsed
    message = "must be an RFC 3339 timestamp with a UTC offset, e.g. 2026-11-01T00:00:00Z"
    raise invalid_query(name, message)


def page_limit(limit: int) -> int:
    """The page size the queries will use."""
    return clamp_limit(limit, DEFAULT_LIMIT)


_WINDOW_MESSAGE: Final = f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def invalid_query(name: str, message: str) -> ValidationException:
    """The 400 `validation-failed` naming query parameter `name` (ADR 0007 addendum)."""
    return ValidationException(
        f"{name}: {message}", extra=[{"key": name, "source": "query", "message": message}]
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Query:
    """What `bounded_query` knows of one query parameter of a route handler: whether it
    takes several values (a list: `?status=A&status=B`), the values it admits (a Literal
    or an Enum, per value), and whether it is a date or a timestamp (the window)."""

    repeatable: bool
    choices: tuple[str, ...] | None
    kind: type | None


def _shape(annotation: Any) -> tuple[bool, tuple[str, ...] | None]:
    """(repeatable, choices) of a query parameter's type: `X | None` is X, a list (tuple,
    set) is repeatable with its item's choices, a Literal's choices are its values, an
    Enum's its members' values; anything else admits any value Litestar parses."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _shape(members[0]) if len(members) == 1 else (False, None)
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence):
        item = typing.get_args(annotation)
        return True, _shape(item[0])[1] if item else None
    if origin is typing.Literal:
        return False, tuple(str(getattr(a, "value", a)) for a in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return False, tuple(str(m.value) for m in annotation)
    return False, None


def _query_parameters(handler: Any) -> dict[str, _Query]:
    """The query parameters of a route handler, by wire name (`from`, not `created_from`),
    as `bounded_query` checks them. Computed once per handler."""
    cached = _QUERIES.get(handler)
    if cached is not None:
        return cached
    found: dict[str, _Query] = {}
    try:
        parameters = handler.parsed_fn_signature.parameters
    except AttributeError:
        parameters = {}
    for key, field in parameters.items():
        kwarg = field.kwarg_definition
        if kwarg is not None and not isinstance(kwarg, ParameterKwarg):
            continue  # a body, a dependency
        if isinstance(kwarg, PathParameter) or (
            isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie)
        ):
            continue
        if key in RESERVED_KWARGS:
            continue  # the request, its scope …: Litestar's own
        wire = (kwarg.query or kwarg.name) if isinstance(kwarg, ParameterKwarg) else None
        kind = _FORMATS.get(getattr(kwarg, "format", None) or "")  # text read by `aware`
        for candidate in (dt.datetime, dt.date):  # datetime first: it is a date
            if field.is_subclass_of(candidate) or field.has_inner_subclass_of(candidate):
                kind = candidate
                break
        repeatable, choices = _shape(field.annotation)
        found[wire or key] = _Query(repeatable, choices, kind)
    _QUERIES[handler] = found
    return found


_QUERIES: dict[Any, dict[str, _Query]] = {}
_FORMATS: Final[dict[str, type]] = {"date-time": dt.datetime, "date": dt.date}
#: How much of a refused value a problem quotes back.
_QUOTED: Final = 60


def _check_query(request: Request[Any, Any, Any], handler: Any) -> None:
    """A 400 naming the parameter when a query parameter that takes one value is given
    twice (`?limit=5&limit=500`: which one would count?), when a parameter with a fixed set
    of values (a Literal or an Enum: `status`, `kind`, `type`, `format` …) is given one
    outside it (it would filter to nothing, or Litestar would say only "Invalid enum
    value"): the answer lists what it admits, as the OpenAPI document does; when a date
    lies outside the window; and, naming `from`, when `from` lies after `to`. A parameter
    the route does not have is ignored, as Litestar ignores it."""
    parameters = _query_parameters(handler)
    if not parameters:
        return
    seen: set[str] = set()
    path = request.scope.get("path_params") or {}
    moments: dict[str, tuple[dt.date, str]] = {}
    for name, value in request.query_params.multi_items():
        query = parameters.get(name)
        if query is None or name in path:
            continue  # not the route's, or a path parameter (`{kind}`) named alike
        if not query.repeatable:
            if name in seen:
                raise invalid_query(name, "is given more than once; it takes one value")
            seen.add(name)
        if query.choices is not None and value not in query.choices:
            shown = value if len(value) <= _QUOTED else value[:_QUOTED] + "…"
            raise invalid_query(name, f"{shown!r} is not one of: {', '.join(query.choices)}")
        if query.kind is not None:
            moment = _in_window(name, value, query.kind)
            if moment is not None:
                moments[name] = (moment, value)
    start, end = moments.get("from"), moments.get("to")
    if start is not None and end is not None and _after(start[0], end[0]):
        # A range backwards, wherever it is asked (ADR 0007 addendum): a 400, not the
        # empty page, the report of no days or the service's refusal it was.
        raise invalid_query("from", f"{start[1]} is after to ({end[1]})")


def _in_window(name: str, value: str, kind: type) -> dt.date | None:
    """The date or timestamp `value` names, None if it names none (Litestar's or `aware`'s
    400 follows); a 400 if it lies outside the window."""
    try:
        moment = (
            dt.datetime.fromisoformat(value)
            if kind is dt.datetime
            else dt.date.fromisoformat(value)
        )
    except ValueError:
        return None
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    if not EARLIEST <= day <= LATEST:
        raise invalid_query(name, _WINDOW_MESSAGE)
    return moment


def _after(start: dt.date, end: dt.date) -> bool:
    """Whether `start` lies after `end`; False for timestamps that cannot be compared (one
    without a UTC offset, which `aware` refuses)."""
    try:
        return start > end
    except TypeError:
        return False


@dataclasses.dataclass(frozen=True, slots=True)
class _Body:
    """What a route handler's body (`data`) is: JSON, or a multipart form with these
    fields (empty for neither). Read once per handler."""

    json: bool
    form_fields: frozenset[str]


def _body_of(handler: Any) -> _Body:
    cached = _BODIES.get(handler)
    if cached is None:
        try:
            field = handler.parsed_fn_signature.parameters.get("data")
        except AttributeError:
            field = None
        kwarg = None if field is None else field.kwarg_definition
        form = isinstance(kwarg, BodyKwarg) and kwarg.media_type == RequestEncodingType.MULTI_PART
        cached = _BODIES[handler] = _Body(
            json=field is not None
            and (not isinstance(kwarg, BodyKwarg) or kwarg.media_type == RequestEncodingType.JSON),
            form_fields=frozenset(getattr(field.annotation, "__dataclass_fields__", ()))
            if form and field is not None
            else frozenset(),
        )
    return cached


_BODIES: dict[Any, _Body] = {}


async def _check_form_fields(request: Request[Any, Any, Any], fields: frozenset[str]) -> None:
    """A 400 naming the field when a multipart form sends one of its `fields` more than
    once (two `file` parts): each is one value, and Litestar would hand the handler a list
    it cannot take ("Unsupported type: <class 'list'>"). A part the form does not have is
    ignored, repeated or not, as the handler ignores it. The parsed form is kept on the
    request, so the handler reads it from there, not from the stream again."""
    seen: dict[str, int] = {}
    for name, _ in (await request.form()).multi_items():
        if name in fields:
            seen[name] = seen.get(name, 0) + 1
    for name, count in seen.items():
        if count > 1:
            message = f"'{name}' is sent {count} times; send it once (one file per request)"
            raise ValidationException(
                f"{name}: {message}", extra=[{"key": name, "source": "body", "message": message}]
            )


_XML_TYPES: Final = ("application/xml", "text/xml")


def _produces(handler: Any) -> tuple[str, ...] | None:
    """The media types a route handler answers, for `Accept` (negotiation.py): JSON, JSON
    or CSV (a report: csv_out.CsvOperation), XML (the SAF-T export); None for a route whose
    type is the stored file's own (a download), which is not negotiated. Computed once."""
    if handler in _PRODUCES:
        return _PRODUCES[handler]
    declared = getattr(handler, "media_type", None) or ""
    media = str(getattr(declared, "value", declared)).partition(";")[0].strip().lower()
    produced: tuple[str, ...] | None = None
    if getattr(handler, "operation_class", None) is CsvOperation:
        produced = (*JSON_TYPES, CSV)
    elif media in JSON_TYPES or not media:  # none declared: it returns a JSON Response
        produced = JSON_TYPES
    elif media in _XML_TYPES:
        produced = _XML_TYPES
    _PRODUCES[handler] = produced
    return produced


_PRODUCES: dict[Any, tuple[str, ...] | None] = {}


def _check_accept(request: Request[Any, Any, Any], handler: Any) -> None:
    """A 406 when the request's Accept admits none of the types the route answers (RFC
    9110 §15.5.7), rather than a JSON body the client said it cannot read (ADR 0049)."""
    values = request.headers.getall("accept", [])
    if not values:
        return
    accept = ", ".join(values)  # several Accept lines are one list (RFC 9110 §5.3)
    produced = _produces(handler)
    if produced is None or acceptable(accept, produced):
        return
    if CSV in produced and request.query_params.get("format"):
        return  # a report's `?format=` wins over Accept (csv_out): a link names it
    raise HTTPException(status_code=406, detail=not_acceptable_detail(accept, produced))


def accepting(*produced: str) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A `before_request` for a route outside the API router (/health, /metrics), which
    `bounded_query` does not see: a 406 problem document when the request's Accept admits
    none of `produced`, as on the API (ADR 0049, round three). No Accept, `*/*` (what a
    Kubernetes probe or a load balancer sends) and a Prometheus scrape's list pass."""

    async def negotiate(request: Request[Any, Any, Any]) -> None:
        values = request.headers.getall("accept", [])
        if not values:
            return
        accept = ", ".join(values)
        if not acceptable(accept, produced):
            raise HTTPException(status_code=406, detail=not_acceptable_detail(accept, produced))

    return negotiate


def _check_json_content_type(request: Request[Any, Any, Any]) -> None:
    """A 415 when a JSON route is sent a body that says it is something else (text/plain,
    a form, XML): it was decoded as JSON all the same. No Content-Type at all is taken as
    JSON, and so is any `application/json` or `…+json`, whatever its parameters."""
    declared = request.headers.get("content-type")
    if not declared:
        return
    media = declared.partition(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    raise HTTPException(
        status_code=415,
        detail=f"the body must be JSON (Content-Type: application/json), not {media or declared!r}",
    )


def _check_form_content_type(request: Request[Any, Any, Any]) -> None:
    """A 415 when a multipart route (POST /documents) is sent anything but a multipart
    form: a raw PDF (as POST /files takes it), JSON or a url-encoded form was answered 400
    "data: Object missing required field `file`", naming a field the caller had sent."""
    declared = request.headers.get("content-type") or ""
    media = declared.partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        return
    raise HTTPException(
        status_code=415,
        detail="the body must be a multipart form (Content-Type: multipart/form-data) with "
        f"one `file` part, not {media or 'a body without a Content-Type'!r}; "
        "POST /files takes a file as the raw body",
    )


async def bounded_query(request: Request[Any, Any, Any]) -> None:
    """Before any handler runs: every date or timestamp query parameter lies in the window
    [EARLIEST, LATEST], else a 400 naming it. Litestar parses the value afterwards as it
    always did; this only refuses what would overflow a date computation further in (ADR
    0021); no query value holds a NUL character, a query parameter that takes one value
    is given once and one with a fixed set of values one of them (`_check_query`, ADR 0007
    addendum), a JSON body says it is JSON or nothing, a multipart route is sent a form,
    the Accept header admits what the route answers (406 if not; ADR 0049), a request
    carries one Idempotency-Key at most, and a multipart form each field once. A coroutine
    (most requests await nothing here): Litestar runs a plain function given as
    `before_request` in its thread pool, a thread hop (and GIL hand-over) on every request
    of the API (ADR 0039).
    Parameters typed as text (the RFC 3339 `from`/`to` above) are checked by `aware`.
    Integers are bounded where they are declared (`ge`/`le`, like `After`), or clamped
    (`Limit`); tests/integration/test_http_bounds.py holds every route to that."""
    keys = 0
    for header, _ in request.scope["headers"]:
        if header == b"idempotency-key":
            keys += 1
    if keys > 1:
        # Two keys: whichever one we chose, a retry carrying the other would not be
        # recognised as the same request (or another request as this one), as two
        # Authorization headers would act as someone else (ADR 0049).
        raise ClientException("send one Idempotency-Key header, not several")
    if b"%00" in request.scope["query_string"]:
        # No database keeps a NUL in text: PostgreSQL refuses the statement (a 500).
        for name, value in request.query_params.multi_items():
            if "\x00" in value:
                raise invalid_query(name, "must not contain NUL (\\u0000) characters")
    handler = request.scope.get("route_handler")
    if handler is None:
        return
    _check_accept(request, handler)
    body = _body_of(handler)
    if body.json:
        _check_json_content_type(request)
    elif body.form_fields:
        _check_form_content_type(request)
        await _check_form_fields(request, body.form_fields)
    if request.scope["query_string"]:
        _check_query(request, handler)
