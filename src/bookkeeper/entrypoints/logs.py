"""Logging set-up shared by the entrypoints: one line per record on stderr.

`BOOKKEEPER_LOG_FORMAT=json` writes one JSON object per record (python-json-logger):
time, level, logger, message, the request id of the HTTP request being served and any
`extra=` fields (the access log's method, route, status …); `text` writes the classic
line. Unset, a terminal gets text and anything else (a container, a file) JSON.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Final, TextIO

from pythonjsonlogger.json import JsonFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Text lines carry the request id when there is one (blank otherwise).
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
JSON_FIELDS: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"

#: The id of the HTTP request this task serves (set by the HTTP edge, observability.py).
request_id: ContextVar[str | None] = ContextVar("bookkeeper_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id (`request_id`, `request_tag`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        record.request_id = current
        record.request_tag = f" [{current}]" if current else ""
        return True


def choose_format(setting: str | None, stream: TextIO) -> str:
    """The setting, or text on a terminal and JSON elsewhere."""
    if setting in ("json", "text"):
        return setting
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for `fmt` ("json" or "text")."""
    if fmt == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"levelname": "level", "name": "logger", "asctime": "time"},
            timestamp=False,
        )
    return logging.Formatter(TEXT_FORMAT)


def make_handler(fmt: str, stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(level: str, fmt: str | None = None) -> None:
    """Send our records to stderr at `level` in `fmt` (see choose_format), unless the host
    (uvicorn, pytest) already configured the root logger; never twice."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(make_handler(choose_format(fmt, sys.stderr), sys.stderr))
        root.setLevel(logging.WARNING)
    logging.getLogger("bookkeeper").setLevel(level)
