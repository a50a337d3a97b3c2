"""Crash points × external faults (quality.md reliability 4), and executors racing.

A crash is SimulatedCrash, a BaseException raised where the process would die: before the
first remote call (after the claim committed), after a remote call committed but before we
recorded it, or after the record committed. Whatever the point, once the lease has run out
the proposal is executed exactly once: one remote object, one ledger posting.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bookkeeper.application.event_log import alert_id, posting_id
from bookkeeper.application.execution import (
    ExecutionPolicy,
    ExecutionReport,
    reference,
)
from bookkeeper.application.ports import UnitOfWork
from bookkeeper.domain.events import Status
from tests.unit.external_doubles import (
    PDF,
    TENANT,
    Harness,
    SimulatedCrash,
    World,
    YieldingFactory,
    correction,
    expense,
    invoice,
    receipt,
    reversal,
)

Scenario = Callable[[Harness], Awaitable[uuid.UUID]]


async def approved_receipt(h: Harness) -> uuid.UUID:
    return await h.approved(receipt(await h.store(PDF)))


async def approved_invoice(h: Harness) -> uuid.UUID:
    return await h.approved(invoice(await h.store(PDF)))


async def approved_expense(h: Harness) -> uuid.UUID:
    return await h.approved(expense(await h.store(PDF)))


async def approved_reversal(h: Harness) -> uuid.UUID:
    target = await h.approved(invoice())
    await h.executor.run_once()
    return await h.approved(reversal(target))


async def approved_correction(h: Harness) -> uuid.UUID:
    target = await h.approved(expense())
    await h.executor.run_once()
    return await h.approved(correction(target, account_code="7100"))


#: Each kind with the remote writes it makes (a crash may follow any of them).
WRITES: list[tuple[str, Scenario, str]] = [
    ("receipt", approved_receipt, "attach_receipt"),
    ("receipt", approved_receipt, "mark_complete"),
    ("invoice", approved_invoice, "create_supplier"),
    ("invoice", approved_invoice, "create_purchase"),
    ("invoice", approved_invoice, "attach_to_purchase"),
    ("expense", approved_expense, "create_purchase"),
    ("expense", approved_expense, "attach_to_purchase"),
    ("reversal", approved_reversal, "delete_purchase"),
    ("correction", approved_correction, "delete_purchase"),
    ("correction", approved_correction, "create_purchase"),
]
#: What the remote side does on the attempt after the crash.
FAULTS = ["none", "timeout", "5xx", "429"]


def arm(world: World, fault: str) -> None:
    if fault == "timeout":
        world.faults.commit_then_timeout()
    elif fault == "5xx":
        world.faults.fail_next()
    elif fault == "429":
        world.faults.fail_next(rate_limited=True, retry_after=120)


async def run_until_settled(h: Harness, rounds: int = 12) -> None:
    """Run the executor, letting time pass (leases and back-off), until nothing is due."""
    for _ in range(rounds):
        await h.executor.run_once()
        h.clock.advance(minutes=10)


async def assert_executed_once(h: Harness, pid: uuid.UUID) -> None:
    view = await h.view(pid)
    assert view.status is Status.EXECUTED, view.last_error
    assert h.world.duplicates() == []
    assert len(await h.stream(posting_id(pid))) == 1
    books, bank = h.world.books(TENANT), h.world.bank(TENANT)
    assert all(n == 1 for n in books.created_references.values())
    assert all(n == 1 for n in bank.attached.values())


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("kind", "scenario", "operation"), WRITES)
async def test_a_crash_after_the_remote_commit_is_reconciled_after_the_lease(
    kind: str, scenario: Scenario, operation: str, fault: str
) -> None:
    h = Harness()
    pid = await scenario(h)
    h.world.faults.crash(after=True, operations={operation})

    with pytest.raises(SimulatedCrash):
        await h.executor.run_once()

    view = await h.view(pid)
    assert view.status is Status.APPROVED and view.lease_until is not None
    h.clock.advance(minutes=4)
    assert await h.executor.run_once() == ExecutionReport()  # the lease still runs
    h.clock.advance(minutes=1)
    arm(h.world, fault)
    await run_until_settled(h)

    await assert_executed_once(h, pid)
    assert (await h.view(pid)).attempts >= 2


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    "scenario",
    [approved_receipt, approved_invoice, approved_expense, approved_reversal, approved_correction],
)
async def test_a_crash_after_the_claim_executes_once_after_the_lease(
    scenario: Scenario, fault: str
) -> None:
    h = Harness()
    pid = await scenario(h)
    calls = len(h.world.calls)
    h.world.faults.crash(after=False)

    with pytest.raises(SimulatedCrash):
        await h.executor.run_once()

    assert len(h.world.calls) == calls + 1  # the call that never happened
    arm(h.world, fault)
    await run_until_settled(h)
    await assert_executed_once(h, pid)


class CrashAfterRecording:
    """A unit-of-work factory whose commit of an Executed event dies right after it."""

    def __init__(self, inner: Callable[[], Any]) -> None:
        self._inner = inner
        self.armed = True

    def __call__(self) -> UnitOfWork:
        uow = self._inner()
        commit = uow.commit

        async def commit_then_crash() -> None:
            executed = any(e.type.endswith("Executed") for e in uow.staged_events)
            await commit()
            if executed and self.armed:
                self.armed = False
                raise SimulatedCrash("crash after recording")

        uow.commit = commit_then_crash
        return uow  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "scenario",
    [approved_receipt, approved_invoice, approved_expense, approved_reversal, approved_correction],
)
async def test_a_crash_after_recording_changes_nothing(scenario: Scenario) -> None:
    h = Harness()
    pid = await scenario(h)
    h.executor = h.new_executor("executor-1", uow_factory=CrashAfterRecording(h.memory))

    with pytest.raises(SimulatedCrash):
        await h.executor.run_once()

    calls = len(h.world.calls)
    await run_until_settled(h)
    assert len(h.world.calls) == calls
    await assert_executed_once(h, pid)


async def test_a_crash_in_one_tenant_stops_the_others_without_recording() -> None:
    h = Harness()
    first = await h.approved(invoice(), tenant="acme")
    second = await h.approved(invoice(), tenant="globex")
    h.world.faults.crash(after=True, operations={"create_purchase"})

    with pytest.raises(SimulatedCrash):
        await h.executor.run_once()

    await run_until_settled(h)
    for tenant, pid in (("acme", first), ("globex", second)):
        assert (await h.view(pid, tenant)).status is Status.EXECUTED
    assert h.world.duplicates() == []


# --- executors racing ---------------------------------------------------------------------


async def test_two_executors_racing_execute_each_proposal_once() -> None:
    h = Harness(world=World(interleave=True))
    proposals = await h.approved_mix(30, ["acme", "globex", "initech"])
    # Storage that yields at every call, so the two claims interleave statement by statement.
    racing = YieldingFactory(h.memory)
    one, two = h.new_executor("one", racing), h.new_executor("two", racing)

    reports: list[ExecutionReport] = []
    for _ in range(5):
        reports += await asyncio.gather(one.run_once(), two.run_once(), one.run_once())

    assert sum(r.executed for r in reports) == 30
    assert sum(r.claimed for r in reports) == 30
    for tenant, pid in proposals:
        view = await h.view(pid, tenant)
        assert view.status is Status.EXECUTED and view.attempts == 1
        assert len(await h.stream(posting_id(pid), tenant)) == 1
    assert h.world.duplicates() == []


async def test_one_tenant_runs_one_call_at_a_time_and_tenants_run_side_by_side() -> None:
    h = Harness(world=World(interleave=True))
    for n in range(6):
        for tenant in ("acme", "globex"):
            await h.approved(invoice(invoice_number=f"F-{n}"), tenant=tenant)
    await h.executor.run_once()
    assert all(b.max_in_flight == 1 for b in h.world.books_by_tenant.values())
    tenants_in_order = [tenant for tenant, _ in h.world.calls]
    switches = sum(1 for a, b in itertools.pairwise(tenants_in_order) if a != b)
    assert switches > 2  # interleaved, not one tenant after the other


async def test_attempts_that_never_finish_end_failed_once_none_are_left() -> None:
    h = Harness(policy=ExecutionPolicy(max_attempts=2))
    pid = await h.approved(invoice())
    for _ in range(2):
        h.world.faults.crash(after=False)
        with pytest.raises(SimulatedCrash):
            await h.executor.run_once()
        h.world.faults.clear()
        h.clock.advance(minutes=5)
    calls = len(h.world.calls)

    report = await h.executor.run_once()

    assert report.failed == 1 and len(h.world.calls) == calls  # no third remote try
    view = await h.view(pid)
    assert view.status is Status.FAILED and view.attempts == 3
    assert reference(pid) in (view.last_error or "")
    alert = await h.stream(alert_id(pid, "execution-failed"))
    assert len(alert) == 1


async def test_a_booking_that_cannot_be_posted_fails_before_any_remote_call() -> None:
    h = Harness(policy=ExecutionPolicy(payment_account="has space"))
    pid = await h.approved(expense())
    assert (await h.executor.run_once()).failed == 1
    assert h.world.calls == []
    assert "account" in ((await h.view(pid)).last_error or "")


async def test_a_crash_while_recording_stops_the_tenants_next_attempts() -> None:
    """A record goes on beside its tenant's next attempts (issue 14); when it crashes the
    pass starts no further attempt (as the worker, waiting for the record, used to stop)
    and the crash goes through; nothing is recorded and the leases run out."""
    h = Harness(world=World(interleave=True))
    pids = [await h.approved(invoice(invoice_number=f"F-{n}")) for n in range(8)]

    async def crashing(done: Any) -> Any:
        raise SimulatedCrash("killed while recording")

    h.executor.recorder.record_successes = crashing  # type: ignore[method-assign]

    with pytest.raises(SimulatedCrash):
        await h.executor.run_once()

    created = len(h.world.books(TENANT).purchases)
    assert created >= 1
    assert created < len(pids)  # the pass stopped after the crash
    for pid in pids:
        view = await h.view(pid)
        assert view.status is Status.APPROVED and view.attempts == 1
