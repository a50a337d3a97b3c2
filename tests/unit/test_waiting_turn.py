"""waiting_turn (ports.py): a wait for a turn — a lock, the Fiken gate — runs inside
turn_wait when the caller set it, the block after the slot was taken again, and the
section is left after the block (issue 14, ADR 0035, ADR 0047's addendum)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from bookkeeper.application.ports import turn_wait, waiting_turn


class Steps:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @contextlib.asynccontextmanager
    async def slot_given_back(self) -> AsyncIterator[None]:
        self.seen.append("slot given back")
        try:
            yield
        finally:
            self.seen.append("slot taken again")

    @contextlib.asynccontextmanager
    async def section(self, fail: bool = False) -> AsyncIterator[str]:
        self.seen.append("section entered")
        if fail:
            raise RuntimeError("no turn")
        try:
            yield "turn"
        finally:
            self.seen.append("section left")


async def test_the_wait_runs_inside_turn_wait_and_the_block_after_it() -> None:
    steps = Steps()
    token = turn_wait.set(steps.slot_given_back)
    try:
        async with waiting_turn(steps.section()) as entered:
            steps.seen.append(f"block ({entered})")
    finally:
        turn_wait.reset(token)
    assert steps.seen == [
        "slot given back",
        "section entered",
        "slot taken again",
        "block (turn)",
        "section left",
    ]


async def test_without_turn_wait_the_section_is_just_entered() -> None:
    steps = Steps()
    async with waiting_turn(steps.section()):
        steps.seen.append("block")
    assert steps.seen == ["section entered", "block", "section left"]


async def test_a_failed_wait_takes_the_slot_again_and_runs_no_block() -> None:
    steps = Steps()
    token = turn_wait.set(steps.slot_given_back)
    try:
        with pytest.raises(RuntimeError, match="no turn"):
            async with waiting_turn(steps.section(fail=True)):
                steps.seen.append("block")  # pragma: no cover
    finally:
        turn_wait.reset(token)
    assert steps.seen == ["slot given back", "section entered", "slot taken again"]


async def test_an_error_in_the_block_leaves_the_section() -> None:
    steps = Steps()
    with pytest.raises(ValueError, match="inside"):
        async with waiting_turn(steps.section()):
            raise ValueError("inside")
    assert steps.seen == ["section entered", "section left"]
