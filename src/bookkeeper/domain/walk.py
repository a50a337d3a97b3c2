"""One descent over a payload: the first thing a test finds in it, and where (a JSON path).

The checks that look through a whole payload (a NUL in a text, a NaN, a control character
in an imported event, a repeated JSON member) all descend msgspec Structs (by their encoded,
camelCase names), dicts and lists/tuples in order and stop at the first find. The path is
put together only for that find, on the way back out, so a walk that finds nothing (almost
every one) builds no text. Still, a walk costs a Python call or two per node: the propose
path's checks (P1, domain.proposals) first look for what they refuse in the payload's JSON,
in C, and walk only when it may be there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, TypeVar

import msgspec

T = TypeVar("T")

#: Types that hold nothing to descend into (exactly these: a subclass is checked in full).
_LEAVES: Final = frozenset(
    {str, int, float, bool, type(None), bytes, Decimal, dt.date, dt.datetime}
)


def first(
    value: Any,
    test: Callable[[Any], T | None],
    root: str = "",
    name: Callable[[str], str] = str,
) -> tuple[str, T] | None:
    """The path of the first node (`value` itself, then each member and item, depth first)
    for which `test` answers something other than None, and that answer; None when it
    answers None for all. The path starts at `root` (`$.data`, or "" for `amount`,
    `lineItems[0].vatRate`); `name` shows a member name in it."""
    found = _first(value, test)
    if found is None:
        return None
    answer, steps = found
    path = root
    for step in reversed(steps):
        if isinstance(step, int):
            path = f"{path}[{step}]"
        else:
            shown = name(step)
            path = f"{path}.{shown}" if path else shown
    return path, answer


def _first(value: Any, test: Callable[[Any], T | None]) -> tuple[T, list[str | int]] | None:
    """The answer and the steps to it, innermost first (each level appends its own)."""
    answer = test(value)
    if answer is not None:
        return answer, []
    if type(value) in _LEAVES:  # most nodes: one look-up, not three isinstance checks
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first(item, test)
            if found is not None:
                found[1].append(str(key))
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _first(item, test)
            if found is not None:
                found[1].append(index)
                return found
    elif isinstance(value, msgspec.Struct):
        # The fields are read off the class, not `msgspec.structs.fields`, which evaluates
        # the class's annotations on every call.
        cls = type(value)
        for attribute, encoded in zip(
            cls.__struct_fields__, cls.__struct_encode_fields__, strict=True
        ):
            found = _first(getattr(value, attribute), test)
            if found is not None:
                found[1].append(encoded)
                return found
    return None
