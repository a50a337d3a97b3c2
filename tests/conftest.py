"""The whole suite's order under pytest-xdist: the long tests first, one share per worker.

`--dist worksteal` hands each worker one contiguous share of the collection (the first
len // workers items to the first, and so on) and later moves tests still queued at the
end of a busy worker's share to an idle one. The long tests (marked `long`: processes,
a browser, a walk of every route; 20-60 s each where most tests take a fraction of a
second) used to sit wherever their module fell in the collection, so one started late
kept its worker busy after the others had finished. Here every share begins with its part
of the long tests (whole modules, the largest first to the lightest share, so module-scoped
fixtures stay set up once): they start at once on every worker, and the short tests behind
them are what is moved to balance the end. Only the order changes; every worker computes
the same one, as xdist requires.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import pytest

T = TypeVar("T")


def _shares(total: int, workers: int) -> list[int]:
    """The sizes of the contiguous shares xdist's worksteal gives each worker first."""
    sizes = []
    left = total
    for remaining in range(workers, 0, -1):
        sizes.append(left // remaining)
        left -= sizes[-1]
    return sizes


def long_first(
    items: Sequence[T], workers: int, is_long: Callable[[T], bool], group: Callable[[T], Hashable]
) -> list[T]:
    """`items` reordered so that each of the `workers` contiguous shares begins with long
    items, whole groups (modules) of them spread largest first to the share with the fewest;
    the other items keep their order, filling the shares behind. Unchanged when there is
    one worker or nothing long."""
    long_items = [item for item in items if is_long(item)]
    if workers < 2 or not long_items:
        return list(items)
    groups: dict[Hashable, list[T]] = {}
    for item in long_items:
        groups.setdefault(group(item), []).append(item)
    heads: list[list[T]] = [[] for _ in range(workers)]
    for members in sorted(groups.values(), key=len, reverse=True):
        min(heads, key=len).extend(members)
    rest = [item for item in items if not is_long(item)]
    ordered: list[T] = []
    taken = 0
    for head, size in zip(heads, _shares(len(items), workers), strict=True):
        fill = max(0, size - len(head))
        ordered += head + rest[taken : taken + fill]
        taken += fill
    return ordered + rest[taken:]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    items[:] = long_first(
        items,
        workers,
        is_long=lambda item: item.get_closest_marker("long") is not None,
        group=lambda item: item.nodeid.partition("::")[0],
    )
