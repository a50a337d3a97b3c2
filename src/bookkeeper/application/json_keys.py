"""Duplicate member names in a JSON object (ADR 0049, addendum "round three").

RFC 8259 §4 says names within an object SHOULD be unique and leaves what a parser does
with `{"amount": "1.00", "amount": "9999.00"}` open; msgspec and Python's json keep the
last, other parsers (a proxy, an audit log, a signature check) the first. A body that means
one thing to one reader and another to the next is refused where it enters — a request
body, a bus message — naming the member (`$.data.amount`).

The check runs on every JSON body after it has decoded, so it has to be cheap on the
propose path (P1). It counts: every member of an object in the text is a `:` outside a
string, and a decoded object keeps one entry per distinct name; re-encoding the decoded
value (msgspec, at C speed) writes one `:` per entry plus the colons inside strings. When
the text holds no escaped colon (`\\u003a`), the colons inside its strings are the same as
in the decoded strings, so the two counts differ exactly when a name was repeated (also
one repeated in another spelling, `"a"` and `"\\u0061"`). Only then, or when an escaped
colon makes the count unsure, is the text read again with `object_pairs_hook` (about four
times the cost) to find and name the member.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any, Final

import msgspec

from bookkeeper.domain.walk import first

_DECODER: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder()
#: The start of `\u003a` / `\u003A`, the only way to write a colon without a `:` byte.
_ESCAPED_COLON: Final = b"\\u003"
_UNSURE: Final = object()
#: How much of a repeated name a refusal quotes.
_SHOWN: Final = 64
#: A body larger than this is decoded with the cyclic garbage collector paused.
_PAUSE_ABOVE: Final = 64 * 1024


@contextlib.contextmanager
def _collector_paused(size: int) -> Iterator[None]:
    """Decoding a large body of small objects (1 MB of `{"a":{}}`: 100,000 dicts) ran the
    cyclic collector hundreds of times inside one decoder call, which holds the GIL
    throughout: 0.3-0.5 s instead of 0.05 s, and every other thread — the event loop,
    when the bus reads a message in a worker thread — stood still that long. A decoded
    JSON value holds no cycles (reference counting frees it), so nothing is left for
    the collector; it runs again after. Left as it is when someone else paused it."""
    if size <= _PAUSE_ABOVE or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def duplicate_key(body: bytes, root: str = "$") -> str | None:
    """The JSON path of the first member whose name its object already has
    (`$.data.amount`), or None: none is repeated, or `body` is not JSON at all (the
    decoder that reads it says so)."""
    with _collector_paused(len(body)):
        if _ESCAPED_COLON not in body:
            try:
                decoded = _DECODER.decode(body)
            except (msgspec.DecodeError, RecursionError):
                decoded = _UNSURE  # e.g. an integer beyond 64 bits: json reads it
            encoded = _ENCODER.encode(decoded) if decoded is not _UNSURE else b""
            if decoded is not _UNSURE and body.count(b":") == encoded.count(b":"):
                return None
            del decoded
        return _name_it(body, root)


class _Repeated(dict[str, Any]):
    """An object in which `name` appeared more than once."""

    name: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) == len(pairs):
        return members
    seen: set[str] = set()
    repeated = _Repeated(members)
    for name, _ in pairs:
        if name in seen:
            repeated.name = name
            break
        seen.add(name)
    return repeated


def _name_it(body: bytes, root: str) -> str | None:
    try:
        value = json.loads(body, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return None
    found = first(value, _repeated, root, _shown)
    if found is None:
        return None
    path, name = found
    return f"{path}.{_shown(name)}"


def _repeated(value: Any) -> str | None:
    return value.name if isinstance(value, _Repeated) else None


def _shown(name: str) -> str:
    """A member name as a path shows it: printable, and no longer than it needs to be."""
    text = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
