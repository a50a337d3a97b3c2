"""Progress bars on long CLI work: drawn on a terminal, silent anywhere else."""

from __future__ import annotations

import io

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.entrypoints.cli.progress import progress
from tests.unit.external_doubles import Harness, receipt


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_nothing_is_written_but_the_count_is_kept() -> None:
    piped = io.StringIO()
    with progress("Importing", total=3, unit="rows", stream=piped) as bar:
        for _ in range(3):
            bar.advance()
        assert not bar.shown
    assert bar.done == 3
    assert piped.getvalue() == ""


def test_on_a_terminal_the_bar_is_drawn_and_cleared_at_the_end() -> None:
    screen = Terminal()
    with progress("Importing", total=4, unit="rows", stream=screen) as bar:
        assert bar.shown
        bar.advance(2)
        bar.update(4)
    drawn = screen.getvalue()
    assert "Importing" in drawn and "4/4" in drawn
    assert "\x1b[" in drawn  # drawn with terminal control sequences, then cleared


async def test_replay_reports_the_events_read_page_by_page() -> None:
    h = Harness()
    for number in range(7):
        await h.propose(receipt(None, document_number=f"R-{number}"))
    heard: list[int] = []
    factory = h.uow_factory
    assert isinstance(factory, MemoryUnitOfWorkFactory)
    report = await rebuild_projections(factory, batch=3, progress=heard.append)
    assert heard == sorted(heard) and heard[-1] == report.events
    assert len(heard) >= report.events // 3
