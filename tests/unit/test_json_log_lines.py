"""The JSON log formatter writes the same objects python-json-logger wrote (ADR 0042)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
import uuid
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

from bookkeeper.entrypoints.logs import JSON_FIELDS, JsonLines, RequestIdFilter, request_id

#: What `formatter("json")` was before ADR 0042: the reference.
REFERENCE = JsonFormatter(
    JSON_FIELDS,
    rename_fields={"levelname": "level", "name": "logger", "asctime": "time"},
    timestamp=False,
)


def record(msg: object, *args: object, **extra: Any) -> logging.LogRecord:
    logger = logging.getLogger("bookkeeper.test-lines")
    made = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, msg, args, None, extra=extra or None
    )
    RequestIdFilter().filter(made)
    return made


def both(made: logging.LogRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    ours = JsonLines().format(made)
    theirs = REFERENCE.format(made)
    return json.loads(ours), json.loads(theirs)


def test_an_access_line_has_the_same_keys_in_the_same_order_and_values() -> None:
    token = request_id.set("rid-7")
    try:
        made = record(
            "%s %s %d %.1f ms %s %s",
            "POST",
            "/api/book-keeper/v1/events",
            201,
            3.25,
            "book-e",
            "blåbær",
            http_method="POST",
            route="/api/book-keeper/v1/events",
            status=201,
            duration_ms=3.251,
            actor="book-e",
            tenant="blåbær",
            request_id="rid-7",
        )
    finally:
        request_id.reset(token)
    ours, theirs = both(made)
    assert ours == theirs
    assert list(ours) == list(theirs)
    assert list(ours)[:4] == ["time", "level", "logger", "message"]
    assert ours["tenant"] == "blåbær" and ours["duration_ms"] == 3.251
    assert ours["request_id"] == "rid-7"


@pytest.mark.parametrize(
    "extra",
    [
        {"when": dt.datetime(2026, 1, 2, 3, 4, 5)},
        {"id": uuid.UUID(int=7)},
        {"ratio": float("inf")},
        {"items": (1, 2)},
        {"nested": {"a": [1, None]}},
    ],
)
def test_values_that_are_not_plain_are_written_as_python_json_logger_writes_them(
    extra: dict[str, Any],
) -> None:
    made = record("with %s", "extra", **extra)
    assert JsonLines().format(made) == REFERENCE.format(made)


def test_a_dict_message_an_exception_and_a_numeric_key_take_the_reference_path() -> None:
    as_dict = record({"event": "started", "port": 8000})
    assert JsonLines().format(as_dict) == REFERENCE.format(as_dict)
    try:
        raise ValueError("boom")
    except ValueError:
        logger = logging.getLogger("bookkeeper.test-lines")
        failed = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    ours = json.loads(JsonLines().format(failed))
    assert "ValueError: boom" in ours["exc_info"]
    numeric = record("numbers")
    numeric.__dict__[1] = "one"
    assert json.loads(JsonLines().format(numeric)) == json.loads(REFERENCE.format(numeric))


def test_the_time_is_loggings_default_and_follows_the_clock_across_seconds() -> None:
    formatter = JsonLines()
    first = record("first")
    first.created, first.msecs = 1_800_000_000.25, 250.0
    later = record("later")
    later.created, later.msecs = 1_800_000_001.5, 500.0
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_800_000_000))
    assert json.loads(formatter.format(first))["time"] == f"{expected},250"
    assert json.loads(formatter.format(later))["time"] == logging.Formatter().formatTime(later)
    assert json.loads(formatter.format(first))["time"] == REFERENCE.formatTime(first)
