"""`Accept` against what a route can answer (RFC 9110 §12.5.1, §15.5.7; ADR 0049 round two).

A route answers JSON (and its errors as problem+json), a report route JSON or CSV, the
SAF-T export XML. A client whose `Accept` admits none of a route's types gets a 406
problem document (JSON, whatever it asked for: an error has one format) instead of a body
it said it cannot read. No `Accept`, `*/*`, `application/*`, `application/json;q=0.5,
text/html` and `application/problem+json` all admit JSON; `application/xml`, `text/csv`
(on a JSON-only route) and `application/json;q=0` do not.

Each media range of the header is weighed by RFC 9110's rule: for a type we can produce,
the most specific range that matches it gives its quality (`type/subtype` before
`type/*` before `*/*`), and a quality of 0 means "not this". A range that is not a media
range at all (no "/", an unreadable q) is ignored; a header of nothing but such ranges
admits everything, as no header does (a client that cannot spell Accept still reads JSON).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

JSON: Final = "application/json"
PROBLEM_JSON: Final = "application/problem+json"
CSV: Final = "text/csv"
#: What every JSON route can answer: an error is problem+json, which a client accepting
#: only that type (to read our errors) also reads our JSON with.
JSON_TYPES: Final = (JSON, PROBLEM_JSON)


def _ranges(accept: str) -> list[tuple[str, str, float]] | None:
    """The media ranges of an Accept value with their qualities; None when none is one."""
    found: list[tuple[str, str, float]] = []
    for part in accept.split(","):
        media, *parameters = part.split(";")
        main, slash, sub = media.strip().lower().partition("/")
        if not slash or not main or not sub:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
                break
        if not 0.0 <= quality <= 1.0:
            continue
        found.append((main, sub, quality))
    return found or None


def _quality(ranges: list[tuple[str, str, float]], produced: str) -> float:
    main, _, sub = produced.partition("/")
    best, specificity = 0.0, -1
    for range_main, range_sub, quality in ranges:
        if range_main == main and range_sub == sub:
            rank = 2
        elif range_main == main and range_sub == "*":
            rank = 1
        elif range_main == "*" and range_sub == "*":
            rank = 0
        else:
            continue
        if rank > specificity or (rank == specificity and quality > best):
            best, specificity = quality, rank
    return best


@lru_cache(maxsize=256)
def acceptable(accept: str | None, produced: tuple[str, ...] = JSON_TYPES) -> bool:
    """Whether a request with this `Accept` value takes one of the `produced` types."""
    if accept is None or not accept.strip():
        return True
    ranges = _ranges(accept)
    if ranges is None:
        return True
    return any(_quality(ranges, media) > 0 for media in produced)


def not_acceptable_detail(accept: str, produced: tuple[str, ...]) -> str:
    """What a 406 says: what was asked and what the route can answer."""
    shown = accept if len(accept) <= 200 else accept[:200] + "…"
    return f"this resource is available as {', '.join(produced)}, not as {shown!r} (Accept)"
