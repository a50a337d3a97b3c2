"""The one Retry-After reading every adapter uses (adapters/retry_after.py)."""

from __future__ import annotations

import datetime as dt

import httpx
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.retry_after import parse_retry_after, retry_after

NOW = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)


def test_seconds_dates_and_nonsense() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", NOW) == 0.0  # past: go now
    for bad in (None, "", "soon", "-3", "nan", "inf", "Wed, 99 Foo 2025"):
        assert parse_retry_after(bad, NOW) is None


def test_headers_prefer_milliseconds_and_ignore_case() -> None:
    assert retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert retry_after({"retry-after": "3", "retry-after-ms": "1500"}) == 1.5
    assert retry_after({"RETRY-AFTER": "4"}) == 4.0
    assert retry_after({"retry-after-ms": "x", "retry-after": "2"}) == 2.0
    assert retry_after({}) is None


@given(st.integers(min_value=0, max_value=10**6))
def test_a_date_reads_as_the_seconds_until_it(seconds: int) -> None:
    when = NOW + dt.timedelta(seconds=seconds)
    assert parse_retry_after(email_date(when), NOW) == float(seconds)


def email_date(when: dt.datetime) -> str:
    import email.utils

    return email.utils.format_datetime(when, usegmt=True)
