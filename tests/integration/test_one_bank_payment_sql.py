"""One bank payment is booked once (ADR 0051 addendum) on real storage (memory, SQLite,
PostgreSQL): approvals of two proposals naming one bank event at once, and executors
racing over both, attach the receipt and post the payment once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.proposals import bank_event_lock_key
from bookkeeper.application import handlers as handlers_module
from bookkeeper.application.bank_claims import bank_event_holders
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.domain.errors import BankEventTaken
from bookkeeper.domain.events import ReceiptAttachmentData, Status
from bookkeeper.domain.review import Outcome
from tests.unit.external_doubles import PDF, PNG, TENANT, Harness, agent, receipt


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


# --- the rules' approval at propose time, racing ------------------------------------------

#: How many receipts of one card payment are proposed at once.
RACERS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def racing(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SqlDatabase, str]]:
    """Each SQL backend with its URL, a pool big enough for every racer at once."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    database = SqlDatabase(url, pool_size=RACERS + 2, max_overflow=2)
    try:
        yield database, url
    finally:
        await database.dispose()


class HoldersGate:
    """Keeps each unit that has read a bank event's holders from going on until every
    racer has read them too, or waits for its turn to (queued): without a lock around
    read and write, all of them read "no holder" before any writes; with one, the
    holder of the lock goes on once the rest are seen queued behind it. Turns a race
    that a fast machine might not show into one that happens every time, and never
    deadlocks a serialised path."""

    def __init__(self, racers: int, queued: Callable[[], Awaitable[int]]) -> None:
        self._racers = racers
        self._queued = queued
        self.arrived = 0
        #: Set when the first racer has read the holders.
        self.first_read = asyncio.Event()

    async def read(self, *args: Any, **kwargs: Any) -> Any:
        holders = await bank_event_holders(*args, **kwargs)
        self.arrived += 1
        self.first_read.set()
        for _ in range(6000):  # a minute at most: a stuck race fails, never hangs
            if self.arrived + await self._queued() >= self._racers:
                return holders
            await asyncio.sleep(0.01)
        raise AssertionError(f"{self.arrived} of {self._racers} racers read the holders")


@contextlib.asynccontextmanager
async def held_at_the_gate(
    database: SqlDatabase, url: str, racers: int
) -> AsyncIterator[HoldersGate]:
    """A gate for `racers` on `database`'s holders' reads. Queued: on PostgreSQL the units
    waiting for a bank event's advisory lock in this database (pg_locks), on SQLite those
    waiting for the write turn (SqlDatabase.acquire_writer)."""
    with pytest.MonkeyPatch.context() as patched:
        if database.dialect == "postgresql":
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:

                async def waiting_for_a_lock() -> int:
                    cursor = await watcher.execute(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = "
                        "l.database WHERE d.datname = current_database() "
                        "AND l.locktype = 'advisory' AND NOT l.granted"
                    )
                    row = await cursor.fetchone()
                    return int(row[0]) if row else 0

                gate = HoldersGate(racers, waiting_for_a_lock)
                patched.setattr(handlers_module, "bank_event_holders", gate.read)
                yield gate
            return
        turn = database.acquire_writer
        waiting = 0

        async def acquire_writer() -> None:
            nonlocal waiting
            waiting += 1
            try:
                await turn()
            finally:
                waiting -= 1

        async def waiting_for_the_turn() -> int:
            return waiting

        patched.setattr(database, "acquire_writer", acquire_writer)
        gate = HoldersGate(racers, waiting_for_the_turn)
        patched.setattr(handlers_module, "bank_event_holders", gate.read)
        yield gate


async def _a_receipt_of_ev_1(h: Harness, n: int) -> ReceiptAttachmentData:
    """Another document paid by the card payment ev-1: its own file, amount and number,
    so no duplicate by document or amount — only the bank event is shared."""
    return receipt(
        await h.store(PDF + f"% {n}\n".encode()),
        amount=Decimal(125 + n),
        document_number=f"R-{n}",
    )


async def test_receipts_of_one_payment_proposed_at_once_are_approved_by_the_rules_once(
    racing: tuple[SqlDatabase, str],
) -> None:
    """ADR 0051 addendum (the rules' approval locks its bank event): of receipts naming
    one card payment, proposed at once and each approvable by the rules, exactly one is
    approved; the others wait for a reviewer as duplicates of it. On SQLite the units of
    work are serialised already (the write turn), so the gate sees the others queued
    there; on PostgreSQL they queue on the event's advisory lock."""
    database, url = racing
    h = Harness(uow_factory=database.uow_factory())
    await h.learn("Kaffebrenneriet", "6810", Decimal("15"))
    documents = [await _a_receipt_of_ev_1(h, n) for n in range(RACERS)]
    proposals = [
        SubmitEvent(type="ReceiptAttachmentProposed", data=data, principal=agent())
        for data in documents
    ]

    async with held_at_the_gate(database, url, RACERS) as gate:
        results = await asyncio.gather(*(h.handlers.submit(p) for p in proposals))

    assert gate.arrived == RACERS
    approved = [r for r in results if r.decision.outcome is Outcome.AUTO_APPROVED]
    assert len(approved) == 1, [r.decision for r in results]
    [winner] = approved
    assert winner.status is Status.APPROVED
    for loser in results:
        if loser is winner:
            continue
        assert loser.status is Status.PROPOSED
        assert loser.confidence is not None
        assert loser.confidence.duplicate_of[0] == str(winner.stream_id)
        assert (await h.view(loser.stream_id)).status is Status.PROPOSED


@pytest.mark.parametrize("first", ["person", "rules"])
async def test_a_person_approving_while_the_rules_approve_another_receipt_of_it_one_wins(
    racing: tuple[SqlDatabase, str], first: str
) -> None:
    """A reviewer approves a receipt of ev-1 while another receipt of ev-1 is proposed
    and approvable by the rules: the one that reads the holders `first` holds the event,
    and the other, racing it, is refused (409 bank-event-taken) or waits for review as
    its duplicate."""
    database, url = racing
    h = Harness(uow_factory=database.uow_factory())
    waiting = await h.propose(await _a_receipt_of_ev_1(h, 0))  # unknown merchant: review
    await h.learn("Kaffebrenneriet", "6810", Decimal("15"))
    new = SubmitEvent(
        type="ReceiptAttachmentProposed", data=await _a_receipt_of_ev_1(h, 1), principal=agent()
    )

    async def approve() -> BaseException | None:
        try:
            await h.approve(waiting)
        except BankEventTaken as refused:
            return refused
        return None

    async with held_at_the_gate(database, url, 2) as gate:
        if first == "person":
            approving = asyncio.create_task(approve())
            await asyncio.wait_for(gate.first_read.wait(), 60)
            proposed = await h.handlers.submit(new)
        else:
            proposing = asyncio.create_task(h.handlers.submit(new))
            await asyncio.wait_for(gate.first_read.wait(), 60)
            approving = asyncio.create_task(approve())
            proposed = await proposing
        refusal = await approving

    assert gate.arrived == 2
    if first == "person":
        assert refusal is None
        assert (await h.view(waiting)).status is Status.APPROVED
        assert proposed.decision.outcome is Outcome.AWAITING_REVIEW
        assert proposed.status is Status.PROPOSED
        assert proposed.confidence is not None
        assert proposed.confidence.duplicate_of[0] == str(waiting)
    else:
        assert proposed.decision.outcome is Outcome.AUTO_APPROVED
        assert proposed.status is Status.APPROVED
        assert isinstance(refusal, BankEventTaken), refusal
        assert str(proposed.stream_id) in str(refusal)
        assert (await h.view(waiting)).status is Status.PROPOSED
