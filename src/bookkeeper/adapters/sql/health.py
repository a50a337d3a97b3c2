"""What the database's recent queries say about its health (ADR 0021).

A ping (`SELECT 1`) answers even when every real query fails: a statement_timeout set on
the database cancels the units of work but not a trivial select, and a connection that
was poisoned by a session setting answers pings too. So the SQL adapter records how its
units of work end, and the health check reports `degraded` while the most recent ones
failed on the database: since the last success at least `threshold` failures, the latest
within `window` seconds. One success clears it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

#: Failures since the last success that make the database degraded.
DEFAULT_THRESHOLD: Final = 1
#: How long a failure counts: afterwards, with no traffic to tell, the ping decides alone.
DEFAULT_WINDOW_SECONDS: Final = 30.0


class QueryHealth:
    """Failures of units of work since the last success, and when the latest happened."""

    def __init__(
        self,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._window = window_seconds
        self._monotonic = monotonic
        self._failures = 0
        self._last_failure = float("-inf")
        self.last_error: str | None = None

    def failed(self, error: BaseException) -> None:
        self._failures += 1
        self._last_failure = self._monotonic()
        self.last_error = str(error)

    def succeeded(self) -> None:
        self._failures = 0
        self.last_error = None

    @property
    def degraded(self) -> bool:
        """Whether recent units of work failed on the database and none succeeded since."""
        return (
            self._failures >= self._threshold
            and self._monotonic() - self._last_failure <= self._window
        )
