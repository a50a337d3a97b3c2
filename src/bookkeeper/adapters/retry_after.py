"""The one reading of a server's "wait this long" (RFC 9110 § 10.2.3 Retry-After), shared by
every adapter that backs off: Fiken, Folio, Norges Bank, the Anthropic Messages and Admin
APIs, BigQuery (the Google billing export) and Cloudflare.

`Retry-After` is delay-seconds or an HTTP date; Anthropic also sends `retry-after-ms`, which
is preferred when present (it is the more precise of the two). An absent, unreadable,
negative or non-finite value is None: the caller falls back to its own back-off. Dates in
the past are 0 (go now). The date form is parsed by the standard library's RFC 5322 parser
(`email.utils.parsedate_to_datetime`), which accepts the IMF-fixdate and the obsolete forms
RFC 9110 asks recipients to accept.

`backing_off` is the one back-off of the cost sources (the Anthropic Admin API, BigQuery,
Cloudflare): a call that raised ExternalRateLimited is made again after what the server
asked (else 1, 2, 4 s), at most MAX_RETRY_AFTER each, RATE_LIMIT_RETRIES times; then the
last ExternalRateLimited leaves, as its docstring says ("429 even after backing off").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from bookkeeper.application.errors import ExternalRateLimited

__all__ = ["backing_off", "parse_retry_after", "retry_after"]

RATE_LIMIT_RETRIES: Final = 3
MAX_RETRY_AFTER: Final = 60.0
_T = TypeVar("_T")


async def backing_off(
    call: Callable[[], Awaitable[_T]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    retries: int = RATE_LIMIT_RETRIES,
    longest: float = MAX_RETRY_AFTER,
) -> _T:
    """`call()`, made again after each ExternalRateLimited it raises (see the module)."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = error.retry_after if isinstance(error, ExternalRateLimited) else None
        pause = asked if asked is not None else 2.0 ** (state.attempt_number - 1)
        return min(pause, longest)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(ExternalRateLimited),
        stop=stop_after_attempt(retries + 1),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )

    async def attempt() -> _T:
        # A coroutine function: tenacity calls a plain callable (a lambda) without awaiting.
        return await call()

    result: _T = await retrying(attempt)
    return result


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """One Retry-After value in seconds: delay-seconds or an HTTP date; None if absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _from_date(value, now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Seconds the answer's headers ask to wait (`retry-after-ms`, else `Retry-After`), or
    None. Header names are matched case-insensitively, whatever mapping is passed."""
    found = {name.lower(): value for name, value in headers.items()}
    raw_ms = found.get("retry-after-ms")
    if raw_ms is not None:
        milliseconds = parse_retry_after(raw_ms)
        if milliseconds is not None:
            return milliseconds / 1000.0
    return parse_retry_after(found.get("retry-after"), now)


def _from_date(value: str, now: dt.datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    reference = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - reference).total_seconds())
