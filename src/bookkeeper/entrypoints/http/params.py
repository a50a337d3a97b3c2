"""Query parameters shared by several routes: time ranges and keyset paging."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from bookkeeper.application.queries import MAX_PAGE, clamp_limit

DEFAULT_LIMIT: Final = 50

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
        description="Cursor: the `nextAfter` of the previous page (0 for the first page)",
    ),
]
Limit = Annotated[
    int,
    QueryParameter(name="limit", description=f"Page size, clamped to 1..{MAX_PAGE}"),
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
        return parsed
    message = "must be an RFC 3339 timestamp with a UTC offset, e.g. 2026-11-01T00:00:00Z"
    raise ValidationException(
        f"{name}: {message}", extra=[{"key": name, "source": "query", "message": message}]
    )


def page_limit(limit: int) -> int:
    """The page size the queries will use."""
    return clamp_limit(limit, DEFAULT_LIMIT)
