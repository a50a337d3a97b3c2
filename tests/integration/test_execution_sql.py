"""The executor on real databases: `claim_due` on SQLite and PostgreSQL (SKIP LOCKED), and
executors with their own connection pools racing over the same approved proposals."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.event_log import posting_id
from bookkeeper.application.execution import ExecutionPolicy, ExecutionReport, Outcome
from bookkeeper.application.execution.attempt import Attempt
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.events import Status
from tests.unit.external_doubles import Harness, World, expense, invoice

TENANTS = ("acme", "globex", "initech")


async def test_claim_due_returns_approved_work_without_a_retry_time_or_running_lease(
    uow_factory: UnitOfWorkFactory,
) -> None:
    h = Harness(uow_factory=uow_factory, policy=ExecutionPolicy(max_attempts=5))
    pending = await h.propose(invoice(invoice_number="P"))
    first = await h.approved(invoice(invoice_number="A"))
    h.clock.advance(seconds=1)
    second = await h.approved(expense())
    h.clock.advance(seconds=1)
    third = await h.approved(invoice(invoice_number="C"))
    now = h.clock.now()

    async with uow_factory() as uow:
        due = await uow.proposals.claim_due(now, 10)
        assert [v.id for v in due] == [first, second, third]  # oldest change first
        assert [v.id for v in await uow.proposals.claim_due(now, 2)] == [first, second][:2]

    # `first` is claimed and never finishes (a crash); `second` fails (retry in 30 s).
    h.policy = ExecutionPolicy(batch_size=1)
    h.world.faults.crash(after=False, operations={"find_supplier"})
    with pytest.raises(BaseException, match="crash"):
        await h.new_executor("x").run_once()
    h.world.faults.fail_next(operations={"bank_accounts"})
    assert (await h.new_executor("y").run_once()).retried == 1
    async with uow_factory() as uow:
        leased = await uow.proposals.get("acme", first)
        assert leased is not None and leased.lease_until == now + dt.timedelta(minutes=5)
        retrying = await uow.proposals.get("acme", second)
        assert retrying is not None and retrying.next_attempt_at == now + dt.timedelta(seconds=30)
        assert retrying.lease_until is None
        assert [v.id for v in await uow.proposals.claim_due(now, 10)] == [third]
    assert pending not in [v.id for v in due]

    h.clock.advance(minutes=5)
    async with uow_factory() as uow:
        later = await uow.proposals.claim_due(h.clock.now(), 10)
        assert sorted(v.id for v in later) == sorted([first, second, third])


async def test_claim_due_leaves_out_the_tenants_a_pass_is_working_for(
    uow_factory: UnitOfWorkFactory,
) -> None:
    # Issue 14: a pass's refill claims only for tenants it has no worker for.
    h = Harness(uow_factory=uow_factory)
    ids = {}
    for tenant in TENANTS:
        document = await h.store(tenant=tenant)
        ids[tenant] = await h.approved(invoice(document, invoice_number=tenant), tenant=tenant)
        h.clock.advance(seconds=1)
    now = h.clock.now()
    async with uow_factory() as uow:
        due = await uow.proposals.claim_due(now, 10, ["acme", "globex"])
        assert [v.id for v in due] == [ids["initech"]]
        due = await uow.proposals.claim_due(now, 10, ["someone else's"])
        assert [v.id for v in due] == [ids[t] for t in TENANTS]


async def test_replay_gives_the_live_proposal_views_with_their_leases(
    uow_factory: UnitOfWorkFactory,
) -> None:
    h = Harness(uow_factory=uow_factory)
    pid = await h.approved(invoice())
    done = await h.approved(expense())
    h.world.faults.crash(after=True, operations={"create_purchase"})
    with pytest.raises(BaseException, match="crash"):
        await h.executor.run_once()
    h.clock.advance(minutes=5)
    await h.executor.run_once()  # reconciles the crashed one, executes the other
    crashed_view, done_view = await h.view(pid), await h.view(done)
    assert crashed_view.status is done_view.status is Status.EXECUTED
    h.world.faults.crash(after=True, operations={"create_purchase"})
    leased = await h.approved(invoice(invoice_number="F-2"))
    with pytest.raises(BaseException, match="crash"):
        await h.executor.run_once()
    live = {p: await h.view(p) for p in (pid, done, leased)}
    assert live[leased].lease_until is not None

    await rebuild_projections(uow_factory)

    assert {p: await h.view(p) for p in live} == live


@pytest.mark.postgres
async def test_claims_skip_rows_locked_by_an_open_claim(postgres_url: str) -> None:
    database = SqlDatabase(postgres_url, pool_size=4, max_overflow=0)
    try:
        factory = database.uow_factory()
        h = Harness(uow_factory=factory)
        ids = [await h.approved(invoice(invoice_number=f"F-{n}")) for n in range(4)]
        now = h.clock.now()
        async with factory() as holder:
            held = await holder.proposals.claim_due(now, 2)
            assert [v.id for v in held] == ids[:2]
            async with factory() as other:  # a second connection, while the first holds
                assert [v.id for v in await other.proposals.claim_due(now, 10)] == ids[2:]
        async with factory() as uow:  # released at the end of the unit of work
            assert len(await uow.proposals.claim_due(now, 10)) == 4
    finally:
        await database.dispose()


async def race(url: str, count: int) -> None:
    """Two executors, each on its own pool, over `count` approved proposals."""
    databases = [SqlDatabase(url, pool_size=4, max_overflow=0) for _ in range(2)]
    try:
        policy = ExecutionPolicy(batch_size=7)
        h = Harness(uow_factory=databases[0].uow_factory(), world=World(interleave=True))
        h.policy = policy
        proposals = await h.approved_mix(count, TENANTS, distinct_documents=True)
        executors = [h.new_executor(f"executor-{i}", databases[i].uow_factory()) for i in range(2)]

        reports: list[ExecutionReport] = []
        for _ in range(count):
            round_ = await asyncio.gather(*(e.run_once() for e in executors))
            reports += round_
            if not any(r.claimed for r in round_):
                break

        assert sum(r.executed for r in reports) == count
        assert all(r.claim_error is None and r.abandoned == 0 for r in reports)
        for tenant, pid in proposals:
            view = await h.view(pid, tenant)
            assert view.status is Status.EXECUTED and view.attempts == 1
            assert len(await h.stream(posting_id(pid), tenant)) == 1
        assert h.world.duplicates() == []
        created = sum(len(b.purchases) for b in h.world.books_by_tenant.values())
        attached = sum(len(b.attached) for b in h.world.bank_by_tenant.values())
        assert created + attached == count
        if url.startswith("postgresql"):
            assert all(r.claimed for r in reports[:2])  # both took part
    finally:
        for database in databases:
            await database.dispose()


@pytest.mark.postgres
async def test_two_executors_on_postgres_execute_50_proposals_exactly_once(
    postgres_url: str,
) -> None:
    await race(postgres_url, 50)


async def test_two_executors_on_sqlite_execute_each_proposal_exactly_once(
    sqlite_url: str,
) -> None:
    await race(sqlite_url, 15)


async def test_only_the_attempt_holding_the_lease_renews_it(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """The heartbeat's statement (ADR 0026) on SQLite and PostgreSQL: it moves the lease of
    the attempt that holds it, nothing else, and a renewed lease keeps claim_due away."""
    h = Harness(uow_factory=uow_factory)
    pid = await h.approved(invoice(invoice_number="L"))
    [claim] = await h.executor.claim(h.clock.now())
    later = claim.lease_until + dt.timedelta(minutes=10)
    async with uow_factory() as uow:
        assert not await uow.proposals.renew_lease("acme", pid, claim.attempt + 1, later)
        assert not await uow.proposals.renew_lease("globex", pid, claim.attempt, later)
        assert await uow.proposals.renew_lease("acme", pid, claim.attempt, later)
        await uow.commit()
    assert (await h.view(pid)).lease_until == later
    h.clock.advance(minutes=6)  # past the claim's lease, not the renewed one
    async with uow_factory() as uow:
        assert await uow.proposals.claim_due(h.clock.now(), 10) == []
    await h.executor.execute(dataclasses.replace(claim, lease_until=later))  # as renewed
    assert (await h.view(pid)).status is Status.EXECUTED
    async with uow_factory() as uow:
        assert not await uow.proposals.renew_lease("acme", pid, claim.attempt, later)


async def test_one_unit_records_several_attempts_of_one_tenant_on_one_day(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """Issue 14: a group record may now hold several attempts of one tenant, whose ledger
    lines meet the same (tenant, account, day): the daily totals add all of them."""
    h = Harness(uow_factory=uow_factory)
    pids = [await h.approved(expense(document_number=f"K-{n}")) for n in range(3)]
    executor = h.executor
    claims = await executor.claim(h.clock.now())
    assert sorted(c.proposal_id for c in claims) == sorted(pids)
    done = [
        (claim, await executor.actions.act(Attempt(claim, h.clock, h.policy.lease_margin)))
        for claim in claims
    ]

    assert await executor.recorder.record_successes(done) == [Outcome.EXECUTED] * 3

    expected: dict[str, list[Decimal]] = {}
    entries = await h.postings("acme")
    assert len(entries) == 3 and len({e.date for e in entries}) == 1
    for entry in entries:
        for line in entry.lines:
            debit, credit = expected.setdefault(line.account, [Decimal(0), Decimal(0)])
            expected[line.account] = [debit + line.debit, credit + line.credit]
    async with uow_factory() as uow:
        totals = await uow.ledger.trial_balance("acme", None, None)
    assert {t.account: [t.debit, t.credit] for t in totals} == expected
    for pid in pids:
        assert (await h.view(pid)).status is Status.EXECUTED
