"""QueryHealth (ADR 0021): degraded while the latest units of work failed, for a window."""

from __future__ import annotations

from bookkeeper.adapters.sql.health import QueryHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failures_degrade_until_a_success() -> None:
    clock = Clock()
    health = QueryHealth(threshold=2, window_seconds=10, monotonic=clock)
    assert not health.degraded
    health.failed(OSError("timeout"))
    assert not health.degraded  # one is below the threshold
    health.failed(OSError("timeout again"))
    assert health.degraded
    assert health.last_error == "timeout again"
    health.succeeded()
    assert not health.degraded
    assert health.last_error is None


def test_a_failure_counts_only_within_the_window() -> None:
    clock = Clock()
    health = QueryHealth(threshold=1, window_seconds=10, monotonic=clock)
    health.failed(OSError("x"))
    clock.now += 10
    assert health.degraded
    clock.now += 0.5
    assert not health.degraded
