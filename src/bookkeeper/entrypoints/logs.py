"""Logging set-up shared by the entrypoints: one line per record on stderr.

`BOOKKEEPER_LOG_FORMAT=json` writes one JSON object per record (python-json-logger):
time, level, logger, message, the request id of the HTTP request being served and any
`extra=` fields (the access log's method, route, status …); `text` writes the classic
line. Unset, a terminal gets text and anything else (a container, a file) JSON.

A serving process writes one access line per request, so a line's cost is part of P1
(ADR 0042): `JsonLines` encodes a record whose values are plain JSON values (text,
numbers, booleans, null: every line the code writes) with msgspec, and hands anything else
(an exception, a dict message, a datetime in `extra=` …) to python-json-logger as
before; the keys and values are the same either way. `configure_logging` also turns off
what logging records per call and no format of ours prints (the caller's file and line,
thread, process), as the logging HOWTO's "Optimization" section describes.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from contextvars import ContextVar
from typing import Any, Final, TextIO

import msgspec
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


#: A bare record's own attributes (and what formatting adds): never `extra=` fields.
_RECORD_ATTRIBUTES: Final = frozenset(
    (*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime")
)
#: Values msgspec encodes exactly as json.dumps does (a float only when finite).
_PLAIN: Final = frozenset({str, int, bool, float, type(None)})
_encode = msgspec.json.Encoder().encode
#: logging.Formatter's default_time_format (its milliseconds follow after a comma).
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


class JsonLines(JsonFormatter):
    """python-json-logger's JSON object per record — time, level, logger, message, then the
    record's `extra=` fields in order — built directly and encoded by msgspec when every
    value is plain; any other record (exception or stack info, a dict message, a value
    such as a datetime or an object) goes through python-json-logger unchanged. The
    output differs only in spacing and in non-ASCII text written as UTF-8, not escaped."""

    def __init__(self) -> None:
        super().__init__(
            JSON_FIELDS,
            rename_fields={"levelname": "level", "name": "logger", "asctime": "time"},
            timestamp=False,
        )
        #: The last whole second formatted and its text ("2026-12-06 11:23:43"), one tuple
        #: so that a reader never pairs one second with another's text.
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's default time ("%Y-%m-%d %H:%M:%S,mmm" in local time), the seconds
        part formatted once per second."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached, text = self._second
        if second != cached:
            text = time.strftime(_TIME_FORMAT, self.converter(second))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info or isinstance(record.msg, dict):
            return super().format(record)
        record.message = message = record.getMessage()
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in record.__dict__.items():
            if key.__class__ is not str:  # extra={1: …}: python-json-logger writes it
                return super().format(record)
            if key in _RECORD_ATTRIBUTES or key[:1] == "_":
                continue
            kind = type(value)
            if kind not in _PLAIN or (kind is float and not math.isfinite(value)):
                return super().format(record)
            line[key] = value
        return _encode(line).decode()


def choose_format(setting: str | None, stream: TextIO) -> str:
    """The setting, or text on a terminal and JSON elsewhere."""
    if setting in ("json", "text"):
        return setting
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for `fmt` ("json" or "text")."""
    if fmt == "json":
        return JsonLines()
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
        # What each record would gather and no format here prints (the HOWTO's
        # "Optimization"): the caller's frame (a stack walk per call; `stack_info=True`
        # then records no stack, tracebacks stay), thread and process.
        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
    logging.getLogger("bookkeeper").setLevel(level)
