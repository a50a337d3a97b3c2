"""A started serving process freezes what it built out of the garbage collector, once
(issue 14, P10: full collections walked all of it and held the event loop 70-200 ms)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from bookkeeper.container import shutdown
from bookkeeper.entrypoints import serve
from bookkeeper.entrypoints.serve import start_process
from tests.integration.test_spending_wiring import container_with


async def test_a_started_process_freezes_its_heap_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    # A fresh process as far as the freeze is concerned; gc's own freeze and collect are
    # recorded rather than run, so this test leaves the test process's heap as it was.
    monkeypatch.setattr(serve, "_heap_frozen", False)
    monkeypatch.setattr(serve.gc, "collect", lambda *_: calls.append("collect") or 0)
    monkeypatch.setattr(serve.gc, "freeze", lambda: calls.append("freeze"))
    for number in range(2):
        container = container_with(tmp_path / str(number))
        process = await start_process(container)
        try:
            assert process.services is not None
        finally:
            await process.close()
            await shutdown(container)
    # Garbage collected before the freeze (none of it kept), and the second start in the
    # same process froze nothing more.
    assert calls == ["collect", "freeze"]
    assert serve.freeze_started_heap() is False
    assert calls == ["collect", "freeze"]


def test_the_freeze_leaves_later_garbage_collectable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "_heap_frozen", False)
    try:
        assert serve.freeze_started_heap() is True
        assert gc.get_freeze_count() > 0

        class Node:
            other: object = None

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle made after the freeze
        del a, b
        assert gc.collect() >= 2  # the cycle is collected: only what existed was frozen
    finally:
        assert serve.freeze_started_heap() is False
