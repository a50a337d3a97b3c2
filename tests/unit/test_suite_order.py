"""The suite's order under xdist (tests/conftest.py): every worker's first share of the
collection begins with long tests, whole modules of them, and nothing else moves."""

from __future__ import annotations

import pytest

from tests.conftest import long_first

#: (module, name, long?) in collection order: the long modules late, as they were.
ITEMS = (
    [("a", f"a{n}", False) for n in range(10)]
    + [("b", f"b{n}", False) for n in range(10)]
    + [("slow_x", f"x{n}", True) for n in range(3)]
    + [("c", f"c{n}", False) for n in range(10)]
    + [("slow_y", f"y{n}", True) for n in range(2)]
    + [("slow_z", "z0", True)]
    + [("d", f"d{n}", False) for n in range(4)]
)


def _is_long(item: tuple[str, str, bool]) -> bool:
    return item[2]


def _module(item: tuple[str, str, bool]) -> str:
    return item[0]


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_each_workers_share_starts_with_the_long_tests(workers: int) -> None:
    ordered = long_first(ITEMS, workers, _is_long, _module)

    assert sorted(ordered) == sorted(ITEMS)  # the same tests, only the order changes
    # xdist's worksteal: contiguous shares, each the remainder divided among those left.
    shares, start, left = [], 0, len(ordered)
    for remaining in range(workers, 0, -1):
        size = left // remaining
        shares.append(ordered[start : start + size])
        start, left = start + size, left - size
    heads = [[i for i in share if i[2]] for share in shares]
    for share, head in zip(shares, heads, strict=True):
        assert share[: len(head)] == head, "a short test before a long one in a share"
    assert sum(map(len, heads)) == 6
    # Spread: no share is without long tests while another has two modules of them.
    assert all(heads[:3]) or workers < 3
    # A module's long tests stay together (one module-scoped set-up, not one per share).
    for module in ("slow_x", "slow_y", "slow_z"):
        positions = [n for n, i in enumerate(ordered) if i[0] == module]
        assert positions == list(range(positions[0], positions[0] + len(positions)))
    # The short tests keep their relative order.
    short = [i for i in ordered if not i[2]]
    assert short == [i for i in ITEMS if not i[2]]


def test_one_worker_or_nothing_long_keeps_the_order() -> None:
    assert long_first(ITEMS, 1, _is_long, _module) == ITEMS
    assert long_first(ITEMS, 0, _is_long, _module) == ITEMS
    short = [i for i in ITEMS if not i[2]]
    assert long_first(short, 3, _is_long, _module) == short
