"""The one reading of a server's "wait this long" (RFC 9110 § 10.2.3 Retry-After), shared by
every adapter that backs off: Fiken, Folio, Norges Bank, the Anthropic Messages and Admin
APIs.

`Retry-After` is delay-seconds or an HTTP date; Anthropic also sends `retry-after-ms`, which
is preferred when present (it is the more precise of the two). An absent, unreadable,
negative or non-finite value is None: the caller falls back to its own back-off. Dates in
the past are 0 (go now). The date form is parsed by the standard library's RFC 5322 parser
(`email.utils.parsedate_to_datetime`), which accepts the IMF-fixdate and the obsolete forms
RFC 9110 asks recipients to accept.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Mapping

__all__ = ["parse_retry_after", "retry_after"]


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
