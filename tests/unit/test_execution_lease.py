"""Short leases renewed by a heartbeat (ADR 0026): while an attempt's remote call runs its
lease keeps moving on, so no other executor takes the proposal; once the holder is gone
(a kill -9: nothing renews) another executor claims it after the short lease, not after
minutes, and reconciles by reference; an attempt whose lease was taken over has its remote
call cancelled and records nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from bookkeeper.application.execution import ExecutionPolicy
from bookkeeper.domain.events import ExecutionStartedData, Status
from tests.unit.external_doubles import TENANT, Harness, invoice

LEASE = dt.timedelta(seconds=10)
MARGIN = dt.timedelta(seconds=3)
BEAT = dt.timedelta(milliseconds=20)
WITHIN = 30.0  # seconds of real time any step here may take (a deadline on a loaded machine)


@pytest.fixture
def h() -> Harness:
    return Harness(policy=ExecutionPolicy(lease=LEASE, lease_margin=MARGIN, heartbeat=BEAT))


class Hanging:
    """The books' create_supplier held until released (or cancelled)."""

    def __init__(self, h: Harness) -> None:
        self.books = h.world.books(TENANT)
        self.real = self.books.create_supplier
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False
        self.books.create_supplier = self  # type: ignore[method-assign,assignment]

    async def __call__(self, name: str, organization_number: str | None) -> Any:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return await self.real(name, organization_number)


async def _renewals(h: Harness, proposal: Any, beyond: dt.datetime) -> None:
    """Wait (real time) until the heartbeat has moved the lease beyond `beyond`."""
    async with asyncio.timeout(WITHIN):
        while True:
            view = await h.view(proposal)
            if view.lease_until is not None and view.lease_until > beyond:
                return
            await asyncio.sleep(BEAT.total_seconds())


async def test_a_running_attempt_keeps_its_lease_past_its_first_end(h: Harness) -> None:
    hanging = Hanging(h)
    pid = await h.approved(invoice())
    first = asyncio.create_task(h.executor.run_once())
    await asyncio.wait_for(hanging.entered.wait(), WITHIN)
    claimed_until = (await h.view(pid)).lease_until
    assert claimed_until == h.clock.now() + LEASE

    for _ in range(3):  # the call takes three leases' time, the heartbeat keeps up
        h.clock.advance(seconds=6)
        await _renewals(h, pid, h.clock.now() + LEASE - dt.timedelta(seconds=1))
        assert (await h.new_executor("other").run_once()).claimed == 0
    assert h.clock.now() > claimed_until

    hanging.release.set()
    report = await asyncio.wait_for(first, WITHIN)
    assert (report.claimed, report.executed, report.abandoned) == (1, 1, 0), report
    view = await h.view(pid)
    assert view.status is Status.EXECUTED and view.attempts == 1
    assert len(hanging.books.purchases) == 1


async def test_after_the_holder_died_another_takes_over_after_the_short_lease(
    h: Harness,
) -> None:
    hanging = Hanging(h)
    pid = await h.approved(invoice())
    first = asyncio.create_task(h.executor.run_once())
    await asyncio.wait_for(hanging.entered.wait(), WITHIN)
    first.cancel()  # the process is gone: nothing is recorded, nothing renews
    with pytest.raises(asyncio.CancelledError):
        await first
    hanging.release.set()
    hanging.books.create_supplier = hanging.real  # type: ignore[method-assign]

    h.clock.advance(seconds=LEASE.total_seconds() - 1)
    assert (await h.new_executor("early").run_once()).claimed == 0  # still leased
    h.clock.advance(seconds=1)  # seconds, not minutes
    report = await h.new_executor("second").run_once()
    assert (report.claimed, report.executed) == (1, 1), report
    view = await h.view(pid)
    assert view.status is Status.EXECUTED and view.attempts == 2
    assert len(hanging.books.purchases) == 1 and len(hanging.books.suppliers) == 1


async def test_an_attempt_taken_over_is_cut_short_and_records_nothing(h: Harness) -> None:
    hanging = Hanging(h)
    pid = await h.approved(invoice())
    first = asyncio.create_task(h.executor.run_once())
    await asyncio.wait_for(hanging.entered.wait(), WITHIN)
    # Its heartbeat is late (a stalled process): the lease runs out and another claims.
    h.clock.advance(seconds=LEASE.total_seconds())
    second = h.new_executor("second")
    [claim] = await second.claim(h.clock.now())
    assert claim.attempt == 2

    report = await asyncio.wait_for(first, WITHIN)  # the next beat finds it taken over
    assert (report.claimed, report.abandoned, report.executed) == (1, 1, 0), report
    assert hanging.cancelled  # the remote call under way was cancelled
    stream = await h.stream(pid)
    assert isinstance(stream[-1].data, ExecutionStartedData)  # nothing recorded by the first

    hanging.books.create_supplier = hanging.real  # type: ignore[method-assign]
    outcome, _ = await second.execute(claim)
    assert outcome.value == "executed"
    assert (await h.view(pid)).status is Status.EXECUTED
    assert len(hanging.books.purchases) == 1


async def test_only_the_attempt_holding_the_lease_renews_it(h: Harness) -> None:
    pid = await h.approved(invoice())
    [claim] = await h.executor.claim(h.clock.now())
    later = h.clock.now() + dt.timedelta(minutes=1)
    async with h.uow_factory() as uow:
        assert not await uow.proposals.renew_lease(TENANT, pid, claim.attempt + 1, later)
        assert not await uow.proposals.renew_lease("other", pid, claim.attempt, later)
        assert await uow.proposals.renew_lease(TENANT, pid, claim.attempt, later)
        await uow.commit()
    assert (await h.view(pid)).lease_until == later
    await h.executor.execute(claim)
    async with h.uow_factory() as uow:  # an outcome ends the lease: nothing to renew
        assert not await uow.proposals.renew_lease(TENANT, pid, claim.attempt, later)


def test_a_policy_refuses_a_heartbeat_slower_than_the_lease_allows() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        ExecutionPolicy(lease=LEASE, lease_margin=MARGIN, heartbeat=dt.timedelta(seconds=7))
    with pytest.raises(ValueError, match="heartbeat"):
        ExecutionPolicy(lease=LEASE, lease_margin=MARGIN, heartbeat=dt.timedelta(0))
    assert (
        ExecutionPolicy(
            lease=dt.timedelta(seconds=30), lease_margin=dt.timedelta(seconds=10)
        ).heartbeat_interval
        == dt.timedelta(seconds=20) / 3
    )
