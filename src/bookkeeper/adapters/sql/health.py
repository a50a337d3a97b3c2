"""What the database's recent queries say about its health (ADR 0021).

A ping (`SELECT 1`) answers even when every real query fails: a statement_timeout set on
the database cancels the units of work but not a trivial select, and a connection that
was poisoned by a session setting answers pings too. So the SQL adapter records how its
units of work end, and the health check reports `degraded` while the most recent ones
failed on the database: since the last success at least `threshold` failures, the latest
within `window` seconds. One success clears it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

import bookkeeper
from bookkeeper.application.errors import SchemaChanged

_log = logging.getLogger(__name__)

#: Failures since the last success that make the database degraded.
DEFAULT_THRESHOLD: Final = 1
#: How long a failure counts: afterwards, with no traffic to tell, the ping decides alone.
DEFAULT_WINDOW_SECONDS: Final = 30.0
#: Where alembic keeps the schema's revision(s).
REVISIONS_SQL: Final = "SELECT version_num FROM alembic_version"
#: How often a unit of work that wrote reads the schema's revision before it commits.
SCHEMA_CHECK_SECONDS: Final = 5.0


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
        self.schema = SchemaWatch(monotonic=monotonic)

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


class SchemaWatch:
    """Whether the database's schema is still the one this process started on.

    A replica checks the revision at start (`migrate` / `check_schema`, which call
    `expect`); another replica or an operator may migrate the database while it runs. The
    revision is read again by every ping (the health checks) and, at most every
    `interval` seconds, by a unit of work about to commit a write; once it differs from
    what this version's migrations end at, `refusal` is the SchemaChanged every write
    raises (nothing of it committed) and the health check reports, said once in the log.
    It clears if the revision comes back (a restore). Nothing is watched before `expect`."""

    def __init__(
        self,
        *,
        interval: float = SCHEMA_CHECK_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._heads: frozenset[str] | None = None
        self._known: frozenset[str] = frozenset()
        self._checked = float("-inf")
        self.refusal: SchemaChanged | None = None

    def expect(self, heads: Iterable[str], known: Iterable[str]) -> None:
        """Watch from now: this version's migrations end at `heads`, and know `known`."""
        self._heads = frozenset(heads)
        self._known = frozenset(known)
        self._checked = self._monotonic()

    @property
    def watching(self) -> bool:
        return self._heads is not None

    def due(self) -> bool:
        """Whether the revision should be read now (and, if so, taken as read now, so
        units of work in flight meanwhile do not all read it)."""
        if self._heads is None:
            return False
        now = self._monotonic()
        if now - self._checked < self.interval:
            return False
        self._checked = now
        return True

    def seen(self, revisions: Iterable[str]) -> None:
        """The revisions the database's alembic_version holds now."""
        heads = self._heads
        if heads is None:
            return
        self._checked = self._monotonic()
        found = frozenset(revisions)
        if found == heads:
            if self.refusal is not None:
                _log.warning(
                    "the database's schema is back at revision %s: writes resume",
                    ", ".join(sorted(found)),
                )
                self.refusal = None
            return
        if self.refusal is not None:
            return
        at = ", ".join(sorted(found)) or "none"
        unknown = sorted(found - self._known)
        if unknown:
            why = (
                f"the database was migrated to schema revision {unknown[0]!r} while this "
                f"process ran, which this version ({bookkeeper.__version__}) does not know"
            )
        else:
            why = (
                f"the database's schema went from revision {', '.join(sorted(heads))} to "
                f"{at} while this process ran"
            )
        self.refusal = SchemaChanged(
            f"{why}: writes are refused so that nothing is written with the old schema's "
            "assumptions; restart this process with the version that migrated it"
        )
        _log.error("%s", self.refusal.message)
