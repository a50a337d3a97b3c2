"""Progress bars for long CLI work (replay, export, imports), quiet off a terminal.

    with progress("Rebuilding read models", unit="events") as bar:
        await rebuild_projections(uow, progress=bar.update)      # bar.update(done)
    with progress("Importing bank statement", total=len(rows), unit="rows") as bar:
        for row in rows:
            ...
            bar.advance()

The bar is drawn by rich on standard error, so standard output stays what scripts read
(`TOKEN=$(…)`, `export saf-t > file.xml`). When standard error is not a terminal (a pipe,
a file, CI, cron) nothing is drawn at all: no escape codes, no carriage returns in logs.
The bar is transient: it disappears when the work ends, leaving the command's own result.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["Bar", "progress"]


class Bar:
    """One task's progress: `advance(n)` by a step, `update(done)` to an absolute count,
    `total` when it becomes known. A bar off a terminal only counts."""

    def __init__(self, drawn: Progress | None, task: TaskID | None) -> None:
        self._drawn = drawn
        self._task = task
        self.done = 0

    @property
    def shown(self) -> bool:
        """Whether anything is drawn (standard error is a terminal)."""
        return self._drawn is not None

    def advance(self, step: int = 1) -> None:
        self.done += step
        if self._drawn is not None and self._task is not None:
            self._drawn.update(self._task, advance=step)

    def update(self, done: int) -> None:
        self.done = done
        if self._drawn is not None and self._task is not None:
            self._drawn.update(self._task, completed=done)

    def set_total(self, total: int | None) -> None:
        if self._drawn is not None and self._task is not None:
            self._drawn.update(self._task, total=total)


@contextmanager
def progress(
    description: str,
    *,
    total: int | None = None,
    unit: str = "",
    stream: IO[str] | None = None,
) -> Iterator[Bar]:
    """A progress bar on `stream` (standard error) while the block runs; nothing is drawn
    when the stream is not a terminal."""
    stream = stream if stream is not None else sys.stderr
    console = Console(file=stream, stderr=stream is sys.stderr)
    if not console.is_terminal:
        yield Bar(None, None)
        return
    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total is not None else TextColumn("{task.completed:,.0f}"),
        TextColumn(unit),
        TimeElapsedColumn(),
    ]
    if total is not None:
        columns.append(TimeRemainingColumn())
    with Progress(
        *columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False
    ) as drawn:
        task = drawn.add_task(description, total=total)
        yield Bar(drawn, task)
