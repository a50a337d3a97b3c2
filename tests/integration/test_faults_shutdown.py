"""Shutdown hands work back (ADR 0021), against the real Fiken adapter and a slow loopback
Fiken: a stopped executor claims nothing more, starts no further attempt, and hands back
every claimed attempt it has not started, so another executor finishes them at once (no
lease to wait for, the clock does not move). An attempt cut short in its remote call is a
retryable failure that the next attempt reconciles by reference: every invoice reaches
Fiken exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bookkeeper.application.execution import Executor, reference
from bookkeeper.domain.events import Status
from tests.fakes.fiken import running_fiken_server
from tests.fakes.folio import running_fake_folio
from tests.integration.test_execution_crash_matrix import World
from tests.unit.external_doubles import invoice

INVOICES = 6
LATENCY = 0.05  # seconds per Fiken request: an invoice is several requests
STOP_WITHIN = 30.0  # a deadline, not an expectation: a loaded machine may take seconds


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with running_fiken_server() as fiken, running_fake_folio() as folio:
        created = World(fiken, folio)
        try:
            yield created
        finally:
            await created.close()


async def _approved_invoices(world: World, count: int) -> list[uuid.UUID]:
    ids = []
    for n in range(count):
        document = await world.harness.store(content=b"%PDF-1.7\n" + str(n).encode())
        data: Any = invoice(document, account_code="6900", invoice_number=f"SHUT-{n}")
        ids.append(await world.harness.approved(data))
    return ids


async def _statuses(world: World, ids: list[uuid.UUID]) -> list[Status | None]:
    return [(await world.harness.view(i)).status for i in ids]


def _assert_exactly_once(world: World, ids: list[uuid.UUID]) -> None:
    for proposal_id in ids:
        assert len(world.fiken.purchases_with_reference(reference(proposal_id))) == 1


async def _started(world: World, executor: Executor) -> asyncio.Task[Any]:
    """A pass of `executor` running, with its first remote call under way."""
    pass_ = asyncio.create_task(executor.run_once())
    await asyncio.wait_for(world.fiken.arrived(1), STOP_WITHIN)
    return pass_


async def test_a_stopped_executor_hands_back_what_it_did_not_start(world: World) -> None:
    world.fiken.latency = LATENCY
    ids = await _approved_invoices(world, INVOICES)
    first = world.executor("first")
    pass_ = await _started(world, first)
    first.stop()
    report = await asyncio.wait_for(pass_, STOP_WITHIN)
    assert report.claimed == INVOICES
    assert report.executed >= 1  # the attempt under way finished
    assert report.executed + report.retried == INVOICES, report
    assert report.retried >= 1, report  # handed back, not kept
    assert await first.run_once() == type(report)()  # a stopped executor claims nothing

    # Another executor takes the rest over at once: the clock has not moved.
    second = world.executor("second")
    taken = await second.run_once()
    assert taken.claimed == report.retried, taken
    assert await _statuses(world, ids) == [Status.EXECUTED] * INVOICES
    _assert_exactly_once(world, ids)


async def test_an_attempt_cut_short_at_shutdown_is_reconciled_not_repeated(world: World) -> None:
    ids = await _approved_invoices(world, INVOICES)
    # The first purchase is created in Fiken, but its answer never comes.
    world.fiken.commit_then_hang(1, seconds=30, method="POST", path=r"/purchases$")
    first = world.executor("first")
    pass_ = asyncio.create_task(first.run_once())
    while not any(
        r.method == "POST" and r.path.endswith("/purchases") for r in world.fiken.requests
    ):
        await asyncio.wait_for(world.fiken.arrived(len(world.fiken.requests) + 1), STOP_WITHIN)
    first.stop()
    pass_.cancel()  # the grace is over: the scheduler cancels the pass
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pass_, STOP_WITHIN)

    second = world.executor("second")
    taken = await second.run_once()
    assert taken.claimed == INVOICES - 1, taken  # all but the cut one, at once
    statuses = await _statuses(world, ids)
    assert statuses.count(Status.EXECUTED) == INVOICES - 1
    cut = ids[statuses.index(Status.APPROVED)]
    # The cut attempt is a retryable failure: after its back-off it is found by reference.
    world.harness.clock.advance(minutes=61)
    again = await world.executor("third").run_once()
    assert (again.claimed, again.executed, again.reconciled) == (1, 1, 1), again
    assert (await world.harness.view(cut)).status is Status.EXECUTED
    _assert_exactly_once(world, ids)
