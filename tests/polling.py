"""Polling with a deadline in seconds, not a number of tries.

A test that waits for another task or process (a consumer, an executor, a follower, a
browser) polls until the condition holds. A loop of `range(n)` tries with a short sleep
gives up after n sleeps *plus* whatever each try costs, which is a few seconds on a quiet
machine and nothing dependable on a loaded 2-core CI runner. `for _ in polls():` in its
place keeps trying until `within` seconds have passed; the assertion after the loop fails
as before when the condition never held. A passing test pays nothing for the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

#: How long a test waits for something that must happen, however loaded the machine.
WITHIN = 60.0


def polls(within: float = WITHIN) -> Iterator[int]:
    """0, 1, 2, ... until `within` seconds from the first have passed (at least one)."""
    deadline = time.monotonic() + within
    count = 0
    while count == 0 or time.monotonic() < deadline:
        yield count
        count += 1
