"""Query parameters shared by several routes: time ranges and keyset paging."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from bookkeeper.application.queries import MAX_PAGE, clamp_limit

DEFAULT_LIMIT: Final = 50

From = Annotated[
    dt.datetime | None,
    QueryParameter(
        name="from",
        description="Inclusive start, RFC 3339 with a UTC offset (e.g. 2026-11-01T00:00:00Z)",
    ),
]
To = Annotated[
    dt.datetime | None,
    QueryParameter(name="to", description="Exclusive end, RFC 3339 with a UTC offset"),
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


def aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """The timestamp if it carries a UTC offset; a 400 naming the parameter if not."""
    if value is None or value.utcoffset() is not None:
        return value
    message = "must be an RFC 3339 timestamp with a UTC offset, e.g. 2026-11-01T00:00:00Z"
    raise ValidationException(
        f"{name}: {message}", extra=[{"key": name, "source": "query", "message": message}]
    )


def page_limit(limit: int) -> int:
    """The page size the queries will use."""
    return clamp_limit(limit, DEFAULT_LIMIT)
