"""Recording without re-reading: the outcome is appended at the version the claim left the
stream at; only a version conflict makes the executor read the stream again and check that
the attempt is still its own. Documents read with the claim, within its budget."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from bookkeeper.application.execution import ExecutionPolicy, ExecutionReport, reference
from bookkeeper.application.ports import NewEvent
from bookkeeper.domain.events import (
    ExecutedData,
    ExecutionStartedData,
    JournalEntryPostedData,
    Status,
    event_type,
)
from tests.unit.external_doubles import PDF, TENANT, Harness, World, invoice, receipt


async def _executed_events(h: Harness, pid: uuid.UUID) -> list[ExecutedData]:
    return [e.data for e in await h.stream(pid) if isinstance(e.data, ExecutedData)]


async def test_an_attempt_taken_over_after_its_lease_records_nothing() -> None:
    """The lease ran out during the last remote call and another executor claimed the
    proposal: the first one's append at its claim's version is refused, the stream read
    again says attempt 2, so it abandons; the second reconciles and records once."""
    h = Harness()
    sha = await h.store(PDF)
    pid = await h.approved(receipt(sha))
    bank = h.world.bank(TENANT)
    mark_complete = bank.mark_complete
    second = h.new_executor("executor-2")
    taken_over: list[ExecutionReport] = []

    async def slow(event_id: str) -> None:
        await mark_complete(event_id)
        bank.mark_complete = mark_complete  # type: ignore[method-assign]
        h.clock.advance(minutes=6)  # past the lease: executor-2 may take it now
        taken_over.append(await second.run_once())

    bank.mark_complete = slow  # type: ignore[method-assign]

    report = await h.executor.run_once()

    assert report.abandoned == 1 and report.executed == 0
    assert taken_over == [ExecutionReport(claimed=1, executed=1, reconciled=1)]
    view = await h.view(pid)
    assert view.status is Status.EXECUTED and view.attempts == 2
    assert [e.attempt for e in await _executed_events(h, pid)] == [2]
    assert len(await h.postings(TENANT)) == 1
    assert sum(bank.attached.values()) == 1


async def test_a_stream_changed_since_the_claim_is_read_again_and_recorded() -> None:
    """Something appended to the stream after the claim that leaves the attempt ours (here a
    renewal of the lease by the same attempt): the first append conflicts, the record reads
    the stream again and appends after it."""
    h = Harness()
    pid = await h.approved(invoice())
    [claim] = await h.executor.claim(h.clock.now())
    stream = await h.stream(pid)
    renewal = event_type(stream[-1].type)
    async with h.uow_factory() as uow:
        await uow.events.append(
            TENANT,
            pid,
            len(stream),
            [
                NewEvent(
                    id=uuid.uuid4(),
                    type=renewal.name,
                    schema_version=renewal.schema_version,
                    status=renewal.status,
                    actor="system:executor",
                    data=ExecutionStartedData(
                        attempt=claim.attempt,
                        executor="executor-1",
                        lease_until=claim.lease_until + dt.timedelta(minutes=5),
                    ),
                    metadata={},
                    parent_id=stream[-1].id,
                    correlation_id=stream[0].correlation_id,
                    created_at=h.clock.now(),
                )
            ],
        )
        await uow.commit()

    outcome = await h.executor.execute(claim)

    assert outcome[0].value == "executed"
    events = await h.stream(pid)
    assert len(events) == len(stream) + 2 and isinstance(events[-1].data, ExecutedData)
    assert events[-1].version == len(stream) + 2
    assert (await h.view(pid)).status is Status.EXECUTED
    assert len(await h.postings(TENANT)) == 1


async def test_a_claim_without_its_stream_reads_it_to_record() -> None:
    h = Harness()
    pid = await h.approved(invoice())
    [claim] = await h.executor.claim(h.clock.now())

    outcome = await h.executor.execute(dataclasses.replace(claim, stream=()))

    assert outcome[0].value == "executed"
    assert [e.attempt for e in await _executed_events(h, pid)] == [1]


async def test_documents_up_to_the_limit_are_read_with_the_claim() -> None:
    small, large = PDF + b"a" * 100, PDF + b"b" * 5000
    h = Harness(policy=ExecutionPolicy(prefetch_document_bytes=len(small) + 10))
    first = await h.approved(receipt(await h.store(small), folio_event_id="ev-1"))
    second = await h.approved(receipt(await h.store(large), folio_event_id="ev-2"))

    bank = h.world.bank(TENANT)
    attach_receipt = bank.attach_receipt
    sent: list[bytes] = []

    async def recording(event_id: str, filename: str, content: bytes, content_type: str) -> str:
        sent.append(content)
        return await attach_receipt(event_id, filename, content, content_type)

    bank.attach_receipt = recording  # type: ignore[method-assign]

    claims = {c.proposal_id: c for c in await h.executor.claim(h.clock.now())}

    assert claims[first].document is not None and claims[first].document[1] == small
    assert claims[second].document is None  # over the budget: read when it is sent
    for claim in claims.values():
        assert (await h.executor.execute(claim))[0].value == "executed"
    assert sorted(sent) == sorted([small, large])
    entries = await h.postings(TENANT)
    assert len(entries) == 2 and all(isinstance(e, JournalEntryPostedData) for e in entries)


async def test_a_pass_of_40_claims_runs_each_tenant_one_at_a_time() -> None:
    """A batch of two tenants' claims (claimed in one unit of work): one worker per tenant,
    never a second beside it, and each tenant's claims run in claim order."""
    h = Harness(world=World(interleave=True), policy=ExecutionPolicy(batch_size=40))
    expected: dict[str, list[uuid.UUID]] = {"acme": [], "globex": []}
    for n in range(20):
        for tenant in expected:
            pid = await h.approved(invoice(invoice_number=f"F-{n}"), tenant=tenant)
            expected[tenant].append(pid)
    order: list[tuple[str, str]] = []
    for tenant in expected:
        books = h.world.books(tenant)
        create_purchase = books.create_purchase

        async def recording(
            purchase: Any, tenant: str = tenant, inner: Any = create_purchase
        ) -> Any:
            order.append((tenant, purchase.reference))
            return await inner(purchase)

        books.create_purchase = recording  # type: ignore[method-assign]
    claim = h.executor.claimer.claim
    claimed: list[int] = []

    async def counted(*args: Any) -> Any:
        claims = await claim(*args)
        claimed.append(len(claims))
        return claims

    h.executor.claimer.claim = counted  # type: ignore[method-assign]

    report = await h.executor.run_once()

    assert report == ExecutionReport(claimed=40, executed=40)
    assert claimed[0] == 40  # the whole batch in the pass's first unit of work (issue 14)
    assert all(b.max_in_flight == 1 for b in h.world.books_by_tenant.values())
    for tenant, pids in expected.items():
        assert [ref for t, ref in order if t == tenant] == [reference(pid) for pid in pids]


class CountingCommits:
    """A unit-of-work factory counting the commits that recorded an Executed event."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.executed_per_commit: list[int] = []

    def __call__(self) -> Any:
        uow = self._inner()
        commit = uow.commit

        async def counted() -> None:
            executed = sum(1 for e in uow.staged_events if e.type.endswith("Executed"))
            await commit()
            if executed:
                self.executed_per_commit.append(executed)

        uow.commit = counted
        return uow


async def test_tenants_running_at_once_record_together() -> None:
    h = Harness(world=World(interleave=True))
    counting = CountingCommits(h.memory)
    h.executor = h.new_executor("executor-1", uow_factory=counting)
    for n in range(4):
        for tenant in ("acme", "globex", "initech"):
            await h.approved(invoice(invoice_number=f"F-{n}"), tenant=tenant)

    report = await h.executor.run_once()

    assert report == ExecutionReport(claimed=12, executed=12)
    assert sum(counting.executed_per_commit) == 12
    assert max(counting.executed_per_commit) > 1  # shared units of work
    for tenant in ("acme", "globex", "initech"):
        assert len(await h.postings(tenant)) == 4


async def test_a_record_that_fails_does_not_take_the_others_with_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One attempt's record raises inside a shared unit of work: the unit is rolled back
    and each attempt recorded on its own; only the failing one is abandoned (its lease
    expires and the next attempt reconciles)."""
    h = Harness(world=World(interleave=True))
    pids = {
        tenant: await h.approved(invoice(), tenant=tenant)
        for tenant in ("acme", "globex", "initech")
    }
    executor = h.executor
    postings = executor.recorder.postings
    poisoned = pids["globex"]

    async def failing(
        uow: Any, claim: Any, proposal: Any, now: Any, rates: Any = None, **more: Any
    ) -> Any:
        if claim.proposal_id == poisoned:
            raise RuntimeError("the ledger is on fire")
        return await postings(uow, claim, proposal, now, rates, **more)

    executor.recorder.postings = failing  # type: ignore[method-assign]

    report = await executor.run_once()

    assert report == ExecutionReport(claimed=3, executed=2, abandoned=1)
    assert "a shared record failed" in caplog.text  # it was recorded with another
    for tenant, pid in pids.items():
        view = await h.view(pid, tenant)
        assert view.status is (Status.APPROVED if pid == poisoned else Status.EXECUTED)
        assert len(await h.postings(tenant)) == (0 if pid == poisoned else 1)
    executor.recorder.postings = postings  # type: ignore[method-assign]
    h.clock.advance(minutes=6)
    assert await executor.run_once() == ExecutionReport(claimed=1, executed=1, reconciled=1)


async def test_a_tenants_next_attempt_acts_while_its_last_is_recorded() -> None:
    """Issue 14: a tenant's worker hands its success to the group record and goes on with
    its next claim instead of waiting for the commit, so one unit of work records several
    attempts of one tenant. The remote calls still run one at a time, in claim order, and
    every lease is held until its attempt is recorded."""
    h = Harness(world=World(interleave=True))
    pids = [await h.approved(invoice(invoice_number=f"F-{n}")) for n in range(6)]
    executor = h.executor
    books = h.world.books(TENANT)
    create_purchase = books.create_purchase
    order: list[str] = []

    async def created(purchase: Any) -> Any:
        order.append(purchase.reference)
        return await create_purchase(purchase)

    books.create_purchase = created  # type: ignore[method-assign]
    record_successes = executor.recorder.record_successes
    units: list[list[uuid.UUID]] = []
    held_while_recording: list[int] = []

    async def slow_record(done: Any) -> Any:
        units.append([claim.proposal_id for claim, _ in done])
        for _ in range(50):  # a slow commit: the worker runs meanwhile
            await asyncio.sleep(0)
        held_while_recording.append(heartbeat_held())
        return await record_successes(done)

    executor.recorder.record_successes = slow_record  # type: ignore[method-assign]
    heartbeats: list[Any] = []
    heartbeat = executor.heartbeat

    def recording_heartbeat() -> Any:
        heartbeats.append(beat := heartbeat())
        return beat

    def heartbeat_held() -> int:
        return heartbeats[-1].held

    executor.heartbeat = recording_heartbeat  # type: ignore[method-assign]

    report = await executor.run_once()

    assert report == ExecutionReport(claimed=6, executed=6)
    assert max(len(unit) for unit in units) > 1  # one tenant's attempts shared a unit
    assert sorted(p for unit in units for p in unit) == sorted(pids)
    assert order == [reference(pid) for pid in pids]  # one at a time, in claim order
    assert books.max_in_flight == 1
    assert all(held >= 1 for held in held_while_recording)  # leases kept until recorded
    assert heartbeats[-1].held == 0
    for pid in pids:
        assert (await h.view(pid)).status is Status.EXECUTED
    assert len(await h.postings(TENANT)) == 6
