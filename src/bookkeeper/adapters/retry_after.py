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
Cloudflare): a call that raised ExternalRateLimited, or ExternalUnavailable for a transient
5xx (500, 502, 503, 504: a provider's bad minute would otherwise lose the day's figure until
the next pull), is made again after what the server asked (else 1, 2, 4 s), at most
MAX_RETRY_AFTER each, RATE_LIMIT_RETRIES times; then the last error leaves — a 5xx saying
the source stayed down through every attempt, which is what the pull's `failed` and the
morning summary show. A timeout is not retried here: the pull bounds each source's time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bookkeeper.application.errors import (
    ExternalRateLimited,
    ExternalStayedDown,
    ExternalUnavailable,
)

__all__ = ["backing_off", "parse_retry_after", "retry_after"]

RATE_LIMIT_RETRIES: Final = 3
MAX_RETRY_AFTER: Final = 60.0
#: The 5xx answers worth asking again: the server's error, a gateway's, "unavailable".
TRANSIENT_STATUSES: Final = frozenset({500, 502, 503, 504})
_T = TypeVar("_T")


def _transient(error: BaseException) -> bool:
    """A rate limit, or a provider's transient 5xx (a timeout has no status)."""
    if isinstance(error, ExternalRateLimited):
        return True
    return isinstance(error, ExternalUnavailable) and error.status in TRANSIENT_STATUSES


async def backing_off(
    call: Callable[[], Awaitable[_T]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    retries: int = RATE_LIMIT_RETRIES,
    longest: float = MAX_RETRY_AFTER,
) -> _T:
    """`call()`, made again after each rate limit or transient 5xx it raises (see the
    module)."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = error.retry_after if isinstance(error, ExternalUnavailable) else None
        pause = asked if asked is not None else 2.0 ** (state.attempt_number - 1)
        return min(pause, longest)

    retrying = AsyncRetrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(retries + 1),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
    attempts = 0

    async def attempt() -> _T:
        # A coroutine function: tenacity calls a plain callable (a lambda) without awaiting.
        nonlocal attempts
        attempts += 1
        return await call()

    try:
        result: _T = await retrying(attempt)
    except ExternalRateLimited:
        raise
    except ExternalUnavailable as error:
        if attempts < 2 or error.status not in TRANSIENT_STATUSES:
            raise
        raise ExternalStayedDown(
            f"{error} (still down after {attempts} attempts)",
            system=error.system,
            status=error.status,
            retry_after=error.retry_after,
            attempts=attempts,
        ) from error
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
