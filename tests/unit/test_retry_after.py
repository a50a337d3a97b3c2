"""The one Retry-After reading every adapter uses (adapters/retry_after.py)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.retry_after import backing_off, parse_retry_after, retry_after
from bookkeeper.application.errors import ExternalRateLimited, ExternalUnavailable

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


class _Flaky:
    """Answers `errors` in turn, then "figures"; counts the calls and the pauses."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.slept: list[float] = []

    async def call(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "figures"

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def _down(status: int | None, after: float | None = None) -> ExternalUnavailable:
    return ExternalUnavailable(f"GET /x: {status}", system="p", status=status, retry_after=after)


async def test_a_transient_5xx_is_asked_again_as_retry_after_says_else_1_2_4_s() -> None:
    """A provider's bad minute (a 500/502/503 from a billing source) lost that day's figure
    until the next pull: the 5xx was the source's failure at once."""
    flaky = _Flaky(_down(503, 9.0), _down(502), _down(500))
    assert await backing_off(flaky.call, sleep=flaky.sleep) == "figures"
    assert (flaky.calls, flaky.slept) == (4, [9.0, 2.0, 4.0])
    capped = _Flaky(_down(503, 3600.0))
    assert await backing_off(capped.call, sleep=capped.sleep) == "figures"
    assert capped.slept == [60.0]  # MAX_RETRY_AFTER


async def test_a_source_that_stays_down_says_so_after_its_attempts() -> None:
    flaky = _Flaky(*[_down(503) for _ in range(10)])
    with pytest.raises(ExternalUnavailable) as raised:
        await backing_off(flaky.call, sleep=flaky.sleep)
    assert flaky.calls == 4 and flaky.slept == [1.0, 2.0, 4.0]
    assert "still down after 4 attempts" in str(raised.value)
    assert raised.value.status == 503 and raised.value.system == "p"


@pytest.mark.parametrize("status", [None, 501, 505])
async def test_a_timeout_or_a_lasting_5xx_is_not_asked_again(status: int | None) -> None:
    """A timeout (no status: the pull bounds each source's time) and a 5xx that says the
    request itself cannot be served (501 not implemented) leave at once, unchanged."""
    flaky = _Flaky(_down(status), _down(status))
    with pytest.raises(ExternalUnavailable) as raised:
        await backing_off(flaky.call, sleep=flaky.sleep)
    assert (flaky.calls, flaky.slept) == (1, [])
    assert "still down" not in str(raised.value)


async def test_a_rate_limit_still_leaves_as_itself() -> None:
    limited = [ExternalRateLimited("slow", system="p", retry_after=None) for _ in range(5)]
    flaky = _Flaky(*limited)
    with pytest.raises(ExternalRateLimited):
        await backing_off(flaky.call, sleep=flaky.sleep)
    assert flaky.calls == 4
