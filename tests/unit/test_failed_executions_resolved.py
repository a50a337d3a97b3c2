"""A failed execution counts as failing until a person marks it dealt with: the executions
check and the morning summary stopped counting nothing, so "Feilede utføringer: N" only
grew, with failures long booked by hand. An attempt that failed and was then carried out
(EXECUTED) never counts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.checks import Checks, NotFailed
from bookkeeper.application.commands import RetryExecution
from bookkeeper.application.errors import Forbidden, NotFound
from bookkeeper.application.morning import MorningCheck, StaticTenants
from bookkeeper.application.ports import EventFilter
from bookkeeper.domain.events import ExecutionFailureResolvedData, Status
from tests.unit.conftest import principal
from tests.unit.external_doubles import Harness, expense, invoice, reviewer
from tests.unit.test_morning_cron import Bank, Ledger


def _checks(h: Harness) -> Checks:
    unused: Any = None
    return Checks(
        h.uow_factory, h.clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank()
    )  # type: ignore[arg-type]


async def _failed(h: Harness, number: str) -> uuid.UUID:
    """A proposal whose execution failed for good (Fiken refused it: 400)."""
    proposal_id = await h.approved(invoice(invoice_number=number))
    h.world.faults.fail_next(retryable=False)
    await h.executor.run_once()
    h.world.faults.clear()
    assert (await h.view(proposal_id)).status is Status.FAILED
    return proposal_id


async def test_a_failure_marked_resolved_is_no_longer_counted_anywhere() -> None:
    h = Harness()
    checks = _checks(h)
    first, second = await _failed(h, "F-1"), await _failed(h, "F-2")
    found = await checks.find_executions("acme")
    assert {v.id for v in found.failed} == {first, second}

    event_id = await checks.resolve_failure(reviewer(), first, "  booked by hand in Fiken  ")

    assert [v.id for v in (await checks.find_executions("acme")).failed] == [second]
    async with h.uow_factory() as uow:
        [event] = await uow.events.query("acme", EventFilter(types=("ExecutionFailureResolved",)))
    assert event.id == event_id and event.actor == "human:kari"
    assert event.data == ExecutionFailureResolvedData(
        proposal_id=str(first), note="booked by hand in Fiken"
    )
    # The proposal itself is as it was: FAILED, its history intact.
    assert (await h.view(first)).status is Status.FAILED
    # The morning summary counts what is still failing.
    morning = MorningCheck(checks, h.uow_factory, h.clock, StaticTenants(["acme"]))
    [outcome] = await morning.run(h.clock.now())
    assert outcome.ran and outcome.summary is not None
    assert "Feilede utføringer: 1," in outcome.summary


async def test_marking_it_again_changes_nothing() -> None:
    h = Harness()
    checks = _checks(h)
    failed = await _failed(h, "F-1")
    once = await checks.resolve_failure(reviewer(), failed)
    again = await checks.resolve_failure(principal("ola", "reviewer"), failed, "again")
    assert once == again
    async with h.uow_factory() as uow:
        events = await uow.events.query("acme", EventFilter(types=("ExecutionFailureResolved",)))
    assert len(events) == 1 and events[0].actor == "human:kari"


async def test_only_a_failed_execution_of_the_tenant_can_be_resolved_by_a_reviewer() -> None:
    h = Harness()
    checks = _checks(h)
    executed = await h.approved(expense())
    await h.executor.run_once()
    assert (await h.view(executed)).status is Status.EXECUTED
    with pytest.raises(NotFailed):
        await checks.resolve_failure(reviewer(), executed)
    failed = await _failed(h, "F-1")
    with pytest.raises(NotFound):
        await checks.resolve_failure(reviewer("globex"), failed)
    with pytest.raises(NotFound):
        await checks.resolve_failure(reviewer(), uuid.uuid4())
    with pytest.raises(Forbidden):
        await checks.resolve_failure(principal("vera", "viewer"), failed)
    assert [v.id for v in (await checks.find_executions("acme")).failed] == [failed]


async def test_an_attempt_that_failed_and_then_executed_never_counts() -> None:
    h = Harness()
    checks = _checks(h)
    proposal_id = await h.approved(expense())
    h.world.faults.fail_next()  # 503: retried later
    assert (await h.executor.run_once()).retried == 1
    h.clock.advance(hours=2)
    await h.executor.run_once()
    assert (await h.view(proposal_id)).status is Status.EXECUTED
    found = await checks.find_executions("acme")
    assert found.failed == [] and found.stuck == []


async def test_a_resolved_failure_retried_and_failing_again_counts_again() -> None:
    """A person's retry (ADR 0009 addendum) sends a FAILED proposal back to execution: the
    resolution of its first failure must not hide a second one, and the second can be
    marked resolved in turn (the resolution's id was the proposal's alone: a duplicate)."""
    h = Harness()
    checks = _checks(h)
    failed = await _failed(h, "F-1")
    first = await checks.resolve_failure(reviewer(), failed)
    assert (await checks.find_executions("acme")).failed == []

    await h.handlers.retry(RetryExecution(principal=reviewer(), proposal_id=failed))
    assert (await checks.find_executions("acme")).failed == []  # APPROVED, due now
    h.world.faults.fail_next(retryable=False)
    await h.executor.run_once()
    assert (await h.view(failed)).status is Status.FAILED
    assert [v.id for v in (await checks.find_executions("acme")).failed] == [failed]

    second = await checks.resolve_failure(reviewer(), failed, "booked by hand")
    assert second != first
    assert (await checks.find_executions("acme")).failed == []
    assert await checks.resolve_failure(reviewer(), failed) == second
