"""CSV for the reports: `Accept: text/csv` or `?format=csv` on every report route.

A report route takes the `ReportFormat` query parameter and asks `wants_csv` which the
caller wants; `?format=` wins over `Accept` (a link in a browser can name it), and without
either the answer is JSON (`Accept: */*` and browsers' defaults included). The CSV is RFC
4180 (comma, CRLF, quotes where needed), UTF-8 with a header row, amounts as decimal
strings with two decimals (`-180.20`), the same as the JSON, so a spreadsheet or a script
reads the same figures. A text cell that would run as a formula is written behind an
apostrophe (`cell`). `operation_class=CsvOperation` documents the `text/csv` answer in
the OpenAPI document beside the JSON one.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from litestar import Request, Response
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, Schema
from litestar.params import QueryParameter

from bookkeeper.entrypoints.http.wire import amount_out

CSV: Final = "text/csv"
JSON: Final = "application/json"
#: How a cell a spreadsheet would run as a formula begins (OWASP "CSV injection").
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
#: A plain number ("-180.20", "-3"): a minus sign that starts nothing but a number.
_NUMBER: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

ReportFormat = Annotated[
    Literal["json", "csv"] | None,
    QueryParameter(
        name="format",
        description="`csv` for a CSV download (as `Accept: text/csv`); JSON by default",
    ),
]


def wants_csv(request: Request[Any, Any, Any], chosen: str | None) -> bool:
    """Whether the caller asked for CSV: `?format=csv`, else `Accept` preferring text/csv."""
    if chosen is not None:
        return chosen == "csv"
    return request.accept.best_match([JSON, CSV], default=JSON) == CSV


def amount(value: Decimal | None) -> str:
    """A decimal string with exactly two decimals ("" for none), as the JSON answers spell
    it (wire.amount_out)."""
    return "" if value is None else amount_out(value)


def cell(value: object) -> object:
    """A cell as written: "" for none; a text a spreadsheet would run as a formula (a
    supplier called `=HYPERLINK(...)`, a description `@SUM(...)`) behind an apostrophe, which
    the spreadsheet shows as nothing and which makes the rest text. Numbers, negative ones
    included, are written as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response[Any]:
    """A CSV attachment named `filename` with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return Response(
        content=buffer.getvalue().encode("utf-8"),
        media_type=CSV,  # Litestar adds "; charset=utf-8" to every text/* type itself
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@dataclass
class CsvOperation(Operation):
    """An operation whose 200 answer may also be `text/csv` (see the module docstring)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        content = getattr(ok, "content", None)
        if isinstance(content, dict):
            content[CSV] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
