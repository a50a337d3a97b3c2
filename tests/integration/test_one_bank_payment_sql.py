"""One bank payment is booked once (ADR 0051 addendum) on real storage (memory, SQLite,
PostgreSQL): approvals of two proposals naming one bank event at once, and executors
racing over both, attach the receipt and post the payment once."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.proposals import bank_event_lock_key
from bookkeeper.application import handlers as handlers_module
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.domain.errors import BankEventTaken
from bookkeeper.domain.events import Status
from tests.unit.external_doubles import PDF, PNG, TENANT, Harness, receipt


async def _twice(h: Harness) -> tuple[uuid.UUID, uuid.UUID]:
    """The same receipt proposed twice, as a PDF, then as a screenshot."""
    first = await h.propose(receipt(await h.store(PDF)))
    h.clock.advance(seconds=1)
    second = await h.propose(receipt(await h.store(PNG)))
    return first, second


async def _credits_to_bank(h: Harness) -> list[Decimal]:
    return [
        line.credit
        for entry in await h.postings()
        for line in entry.lines
        if line.account == "1920" and line.credit
    ]


async def _passes(h: Harness, count: int, executors: int = 1) -> None:
    """`count` rounds of `executors` executors running at once, past any back-off."""
    for _ in range(count):
        await asyncio.gather(*(h.new_executor(f"x{n}").run_once() for n in range(executors)))
        h.clock.advance(minutes=10)


async def test_concurrent_approvals_attach_and_post_once(uow_factory: UnitOfWorkFactory) -> None:
    h = Harness(uow_factory=uow_factory)
    first, second = await _twice(h)

    answers = await asyncio.gather(h.approve(first), h.approve(second), return_exceptions=True)

    assert None in answers
    assert all(a is None or isinstance(a, BankEventTaken) for a in answers), answers
    await _passes(h, 3, executors=2)
    assert h.world.bank(TENANT).calls.count("attach_receipt") == 1
    assert len(h.world.bank(TENANT).state["ev-1"].attachments) == 1
    assert await _credits_to_bank(h) == [Decimal("125.00")]


async def test_approvals_past_the_check_and_racing_executors_post_once(
    uow_factory: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(uow_factory=uow_factory)
    first, second = await _twice(h)

    async def no_check(*_: object, **__: object) -> None:
        return None

    # Both approvals committed before either saw the other: both pass the approval check
    # (made certain here by leaving it out); two executors then race over them.
    with monkeypatch.context() as patched:
        patched.setattr(handlers_module, "_require_bank_event_free", no_check)
        await asyncio.gather(h.approve(second), h.approve(first))
    await _passes(h, 3, executors=2)

    assert (await h.view(first)).status is Status.EXECUTED  # proposed first: it posts
    refused = await h.view(second)
    assert refused.status is Status.FAILED
    assert str(first) in (refused.last_error or "")
    assert h.world.bank(TENANT).calls.count("attach_receipt") == 1
    assert await _credits_to_bank(h) == [Decimal("125.00")]


@pytest.mark.postgres
async def test_an_approval_waits_while_another_unit_holds_its_bank_event(postgres_url: str) -> None:
    """The approval's check and its commit are one critical section per bank event on
    PostgreSQL (ADR 0051 addendum): while another transaction holds the event's lock the
    approval waits; once that ends, it reads the holders afresh and goes on. Without the
    lock two approvals could both read "no holder" before either committed."""
    database = SqlDatabase(postgres_url, pool_size=4, max_overflow=4)
    try:
        h = Harness(uow_factory=database.uow_factory())
        first = await h.propose(receipt(await h.store(PDF)))
        key = bank_event_lock_key(TENANT, "ev-1")
        async with await psycopg.AsyncConnection.connect(
            postgres_url.replace("postgresql+psycopg://", "postgresql://")
        ) as other:
            await other.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            approving = asyncio.create_task(h.approve(first))
            await asyncio.sleep(0.5)
            assert not approving.done()
            assert (await h.view(first)).status is Status.PROPOSED
            await other.commit()  # the other unit ends: its lock goes with it
            await asyncio.wait_for(approving, 10)
        assert (await h.view(first)).status is Status.APPROVED
    finally:
        await database.dispose()
