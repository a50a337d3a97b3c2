"""One descent over a payload: the first thing a test finds in it, and where (a JSON path).

The checks that look through a whole payload (a NUL in a text, a NaN, a control character
in an imported event, a repeated JSON member) all descend msgspec Structs (by their encoded,
camelCase names), dicts and lists/tuples in order and stop at the first find. The path is
put together only for that find, on the way back out: the propose path (P1) walks every
proposal and finds nothing almost always, so a walk that finds nothing builds no text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


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
    if isinstance(value, msgspec.Struct):
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
    elif isinstance(value, dict):
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
    return None
