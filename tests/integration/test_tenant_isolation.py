"""One tenant's Fiken outage or 429s never delay another tenant's executions (issue 14,
ADR 0035): two tenants with Fiken companies and tokens of their own (two loopback fake
Fikens, the real client and adapter), one executor that runs a single tenant at a time
(BOOKKEEPER_EXECUTOR_TENANTS=1, the worst case), and the troubled tenant's proposals
claimed first.

- a 429 with a long Retry-After pauses the troubled token: its other attempts are not
  sent at all, and the other tenant's proposals are executed in the same pass;
- a 5xx outage: the troubled tenant's first attempt fails, its other attempts of the pass
  are deferred by the back-off without a request, and the other tenant's are executed in
  the same pass;
- a token whose turn is held elsewhere (another replica's request): the waiting tenant
  gives its executor slot to the other tenant meanwhile;
- a Fiken that hangs: the other tenant's proposals approved *while* the troubled one's
  attempt hangs are claimed and executed before that attempt ends (the pass refills
  instead of waiting for its slowest tenant).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from bookkeeper.adapters.fiken import FikenBooks, FikenClient, FikenGate, RequestGate, RetryPolicy
from bookkeeper.application.execution import ExecutionPolicy
from bookkeeper.domain.events import Status
from tests.fakes.fiken import FakeFiken, running_fake_fiken
from tests.unit.external_doubles import Harness, invoice

TROUBLED, FINE = "acme", "beta"
PER_TENANT = 4
#: The Fiken client's timeout here: how long a hanging request holds its attempt.
HANG_TIMEOUT = 3.0


class Tenants:
    """Two tenants' Fiken companies and an executor that runs one tenant at a time."""

    def __init__(
        self,
        troubled: tuple[FakeFiken, str],
        fine: tuple[FakeFiken, str],
        policy: ExecutionPolicy | None = None,
        gates: dict[str, FikenGate] | None = None,
    ) -> None:
        self.fakes = {TROUBLED: troubled[0], FINE: fine[0]}
        retry = RetryPolicy(first_backoff=0.01, max_backoff=0.02)
        chosen = gates or {}
        self.clients = {
            tenant: FikenClient(
                url, fake.token, retry=retry, timeout=HANG_TIMEOUT, gate=chosen.get(tenant)
            )
            for tenant, (fake, url) in ((TROUBLED, troubled), (FINE, fine))
        }
        books = {t: FikenBooks(c, self.fakes[t].slug) for t, c in self.clients.items()}
        self.harness = Harness(policy=policy or ExecutionPolicy(tenant_concurrency=1))
        self.executor = self.harness.new_executor("isolated", books=books.__getitem__)

    async def approved(self, tenant: str, count: int) -> list[uuid.UUID]:
        ids = []
        for n in range(count):
            document = await self.harness.store(b"%PDF-1.7\n" + uuid.uuid4().bytes, tenant=tenant)
            data: Any = invoice(document, account_code="6900", invoice_number=f"{tenant}-{n}")
            ids.append(await self.harness.approved(data, tenant=tenant))
        return ids

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@pytest_asyncio.fixture
async def tenants() -> AsyncIterator[Tenants]:
    async with (
        running_fake_fiken(token="token-troubled", company="troubled-as") as troubled,
        running_fake_fiken(token="token-fine", company="fine-as") as fine,
    ):
        created = Tenants(troubled, fine)
        try:
            yield created
        finally:
            await created.close()


async def _one_pass(tenants: Tenants) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The troubled tenant's proposals first (claimed first), then the fine one's; one pass."""
    troubled = await tenants.approved(TROUBLED, PER_TENANT)
    fine = await tenants.approved(FINE, PER_TENANT)
    report = await tenants.executor.run_once()
    assert report.claimed == 2 * PER_TENANT
    assert report.executed == PER_TENANT and report.retried == PER_TENANT
    return troubled, fine


async def _assert_fine_executed(tenants: Tenants, fine: list[uuid.UUID]) -> None:
    for proposal_id in fine:
        assert (await tenants.harness.view(proposal_id, FINE)).status is Status.EXECUTED
    assert len(tenants.fakes[FINE].purchases) == PER_TENANT


async def test_a_429_pauses_only_its_own_token_and_the_other_tenant_executes(
    tenants: Tenants,
) -> None:
    tenants.fakes[TROUBLED].rate_limit_next(100, retry_after=600)
    troubled, fine = await _one_pass(tenants)

    await _assert_fine_executed(tenants, fine)
    assert len(tenants.fakes[TROUBLED].requests) == 1  # the pause holds every other attempt
    now = tenants.harness.clock.now()
    for proposal_id in troubled:
        view = await tenants.harness.view(proposal_id, TROUBLED)
        assert view.status is Status.APPROVED and view.next_attempt_at is not None
        assert view.next_attempt_at >= now + dt.timedelta(seconds=590)


async def test_an_outage_defers_the_tenants_other_attempts_and_the_other_tenant_executes(
    tenants: Tenants,
) -> None:
    tenants.fakes[TROUBLED].fail_next(100, 503)
    troubled, fine = await _one_pass(tenants)

    await _assert_fine_executed(tenants, fine)
    # Only the first attempt reached the troubled Fiken (a read, tried three times).
    requests = tenants.fakes[TROUBLED].requests
    assert 1 <= len(requests) <= RetryPolicy().read_attempts
    views = [await tenants.harness.view(p, TROUBLED) for p in troubled]
    assert all(v.status is Status.APPROVED and v.next_attempt_at is not None for v in views)
    assert [v.last_error is not None and "not started" in v.last_error for v in views] == [
        False
    ] + [True] * (PER_TENANT - 1)


async def test_work_approved_while_another_tenant_hangs_is_executed_before_that_ends() -> None:
    policy = ExecutionPolicy(tenant_concurrency=2, refill_interval=dt.timedelta(seconds=0.2))
    async with (
        running_fake_fiken(token="token-troubled", company="troubled-as") as troubled,
        running_fake_fiken(token="token-fine", company="fine-as") as fine,
    ):
        tenants = Tenants(troubled, fine, policy)
        try:
            hanging = tenants.fakes[TROUBLED]
            hanging.hang_next(100, seconds=60)
            await tenants.approved(TROUBLED, 1)
            running = asyncio.create_task(tenants.executor.run_once())
            await hanging.arrived(1)  # the troubled tenant's attempt now hangs
            later = await tenants.approved(FINE, 2)
            (queued,) = await tenants.approved(TROUBLED, 1)
            for proposal_id in later:
                while (await tenants.harness.view(proposal_id, FINE)).status is not (
                    Status.EXECUTED
                ):
                    assert not running.done(), "the pass ended before the new work ran"
                    await asyncio.sleep(0.05)
            assert not running.done()  # the hanging attempt is still under way
            report = await running
            assert report.executed == 2 and report.retried == 1
            # The hanging tenant got nothing more in that pass: no claims pile up behind it.
            view = await tenants.harness.view(queued, TROUBLED)
            assert view.status is Status.APPROVED and view.attempts == 0
        finally:
            await tenants.close()


async def test_a_tenant_waiting_for_its_turn_gives_its_slot_to_another_tenant() -> None:
    gate = RequestGate()
    async with (
        running_fake_fiken(token="token-troubled", company="troubled-as") as troubled,
        running_fake_fiken(token="token-fine", company="fine-as") as fine,
    ):
        # One slot; the waiting tenant's proposal is claimed first.
        tenants = Tenants(troubled, fine, gates={TROUBLED: gate})
        try:
            (waiting,) = await tenants.approved(TROUBLED, 1)
            later = await tenants.approved(FINE, 2)
            async with gate.exclusive():  # another replica's request with the token
                running = asyncio.create_task(tenants.executor.run_once())
                deadline = time.monotonic() + 30
                for proposal_id in later:
                    while (await tenants.harness.view(proposal_id, FINE)).status is not (
                        Status.EXECUTED
                    ):
                        assert time.monotonic() < deadline, "the waiting tenant kept the slot"
                        await asyncio.sleep(0.05)
                assert not tenants.fakes[TROUBLED].requests  # still waiting for its turn
            report = await running
            assert report.executed == 3
            view = await tenants.harness.view(waiting, TROUBLED)
            assert view.status is Status.EXECUTED
        finally:
            await tenants.close()


async def test_one_tenants_backlog_does_not_starve_another_tenants_newer_work() -> None:
    # The claim is FIFO across tenants: a backlog larger than a batch, older than the other
    # tenant's proposal, fills the pass's claim; the refill (leaving the busy tenant out)
    # claims the newer proposal of the other tenant while the backlog is being worked on.
    policy = ExecutionPolicy(batch_size=4, refill_interval=dt.timedelta(seconds=0.2))
    async with (
        running_fake_fiken(token="token-busy", company="busy-as") as busy,
        running_fake_fiken(token="token-fine", company="fine-as") as fine,
    ):
        tenants = Tenants(busy, fine, policy)
        try:
            backlog = await tenants.approved(TROUBLED, 3 * policy.batch_size)
            (newer,) = await tenants.approved(FINE, 1)
            report = await tenants.executor.run_once()
            assert (await tenants.harness.view(newer, FINE)).status is Status.EXECUTED
            assert report.executed == policy.batch_size + 1
            views = [await tenants.harness.view(p, TROUBLED) for p in backlog]
            assert [v.status for v in views].count(Status.EXECUTED) == policy.batch_size
        finally:
            await tenants.close()
