"""One bank payment is booked once (ADR 0051 addendum): two proposals naming the same
Folio event — the PDF of a receipt, then a screenshot of it — never both attach and post
the payment. The second is refused on approval (naming the first) while the first holds
the event; approvals that race past that check meet the executor's re-check, which lets
only the first proposed attach; a reversal of the first frees the event."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application import failures
from bookkeeper.application import handlers as handlers_module
from bookkeeper.application import messages as m
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.execution import ExecutionReport
from bookkeeper.domain.errors import BankEventTaken
from bookkeeper.domain.events import Corrections, Status
from bookkeeper.domain.review import Outcome
from tests.unit.external_doubles import (
    PDF,
    PNG,
    TENANT,
    Harness,
    agent,
    correction,
    invoice,
    receipt,
    reversal,
)


@pytest.fixture
def h() -> Harness:
    return Harness()


async def _credits_to_bank(h: Harness) -> list[Decimal]:
    """Every credit of 1920 the executions posted."""
    return [
        line.credit
        for entry in await h.postings()
        for line in entry.lines
        if line.account == "1920" and line.credit
    ]


async def _two_uploads(h: Harness) -> tuple[uuid.UUID, uuid.UUID]:
    """The same receipt proposed twice, as a PDF and as a screenshot (PNG)."""
    first = await h.propose(receipt(await h.store(PDF)))
    second = await h.propose(receipt(await h.store(PNG)))
    return first, second


async def test_the_second_proposal_of_an_approved_bank_event_is_refused_naming_the_first(
    h: Harness,
) -> None:
    first, second = await _two_uploads(h)
    await h.approve(first)

    with pytest.raises(BankEventTaken) as refused:
        await h.approve(second)

    assert str(first) in str(refused.value) and "ev-1" in str(refused.value)
    assert (await h.view(second)).status is Status.PROPOSED  # nothing recorded
    norsk = failures.explain_error(refused.value, m.NORWEGIAN)
    assert str(first) in norsk and "bokføres bare én gang" in norsk
    assert norsk.endswith("egen banktransaksjon")  # whole, not cut short
    assert norsk != str(refused.value)  # said in Norwegian, not in the English words


async def test_the_refusal_holds_once_the_first_is_executed_and_only_one_payment_is_posted(
    h: Harness,
) -> None:
    first, second = await _two_uploads(h)
    await h.approve(first)
    await h.executor.run_once()
    assert (await h.view(first)).status is Status.EXECUTED

    with pytest.raises(BankEventTaken):
        await h.approve(second)

    assert await h.executor.run_once() == ExecutionReport()
    assert h.world.bank(TENANT).calls.count("attach_receipt") == 1
    assert await _credits_to_bank(h) == [Decimal("125.00")]


async def test_a_separate_purchase_is_approved_with_its_own_bank_event(h: Harness) -> None:
    first, second = await _two_uploads(h)
    await h.approve(first)

    await h.approve(second, corrections=Corrections(folio_event_id="ev-2"))
    await h.executor.run_once()

    bank = h.world.bank(TENANT)
    assert len(bank.state["ev-1"].attachments) == 1
    assert len(bank.state["ev-2"].attachments) == 1
    assert await _credits_to_bank(h) == [Decimal("125.00"), Decimal("125.00")]


async def test_a_correction_moving_a_receipt_onto_a_held_event_is_refused(h: Harness) -> None:
    held = await h.approved(receipt(await h.store(PDF), folio_event_id="ev-2"))
    target = await h.approved(receipt(await h.store(PNG)))
    await h.executor.run_once()
    moving = await h.propose(correction(target, folio_event_id="ev-2"))

    with pytest.raises(BankEventTaken) as refused:
        await h.approve(moving)

    assert str(held) in str(refused.value)


async def test_a_reversal_of_the_first_frees_the_bank_event(h: Harness) -> None:
    first, second = await _two_uploads(h)
    await h.approve(first)
    await h.executor.run_once()
    undo = await h.approved(reversal(first))
    await h.executor.run_once()
    assert (await h.view(undo)).status is Status.EXECUTED

    await h.approve(second)
    await h.executor.run_once()

    assert (await h.view(second)).status is Status.EXECUTED
    # Posted, reversed, posted again: the bank account is credited once, net.
    async with h.uow_factory() as uow:
        totals = {t.account: t.balance for t in await uow.ledger.trial_balance(TENANT, None, None)}
    assert totals["1920"] == Decimal("-125.00")


async def test_approvals_that_raced_past_the_check_post_the_payment_once(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await _two_uploads(h)

    async def no_check(*_: object, **__: object) -> None:
        return None

    # Two approvals at once, each before the other committed: both pass the check.
    with monkeypatch.context() as patched:
        patched.setattr(handlers_module, "_require_bank_event_free", no_check)
        await h.approve(second)  # the later upload is approved first …
        await h.approve(first)

    report = await h.executor.run_once()

    # … and still waits for the one proposed first, which attaches and posts.
    assert report.executed == 1 and report.retried == 1
    assert (await h.view(first)).status is Status.EXECUTED
    waiting = await h.view(second)
    assert waiting.status is Status.APPROVED and str(first) in (waiting.last_error or "")

    h.clock.advance(seconds=30)
    assert (await h.executor.run_once()).failed == 1
    refused = await h.view(second)
    assert refused.status is Status.FAILED
    assert "already booked by proposal" in (refused.last_error or "")
    said = failures.explain_failure(refused.last_error, m.NORWEGIAN, kind=refused.kind)
    assert str(first) in said and "allerede bokført" in said

    bank = h.world.bank(TENANT)
    assert bank.calls.count("attach_receipt") == 1
    assert len(bank.state["ev-1"].attachments) == 1
    assert await _credits_to_bank(h) == [Decimal("125.00")]


async def test_the_waiting_one_goes_ahead_when_the_first_fails_for_good(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await h.propose(receipt(None))  # no stored document: refused at execution
    second = await h.propose(receipt(await h.store(PNG)))

    async def no_check(*_: object, **__: object) -> None:
        return None

    with monkeypatch.context() as patched:
        patched.setattr(handlers_module, "_require_bank_event_free", no_check)
        await h.approve(first)
        await h.approve(second)

    await h.executor.run_once()
    assert (await h.view(first)).status is Status.FAILED
    h.clock.advance(seconds=30)
    await h.executor.run_once()

    assert (await h.view(second)).status is Status.EXECUTED
    assert await _credits_to_bank(h) == [Decimal("125.00")]


async def test_concurrent_approvals_attach_and_post_once(h: Harness) -> None:
    first, second = await _two_uploads(h)

    results = await asyncio.gather(h.approve(first), h.approve(second), return_exceptions=True)
    assert sum(r is None for r in results) >= 1
    assert all(r is None or isinstance(r, BankEventTaken) for r in results)
    for _ in range(4):
        await h.executor.run_once()
        h.clock.advance(minutes=10)

    assert h.world.bank(TENANT).calls.count("attach_receipt") == 1
    assert await _credits_to_bank(h) == [Decimal("125.00")]
    statuses = sorted([(await h.view(first)).status, (await h.view(second)).status])
    assert Status.EXECUTED in statuses


class HolderReads:
    """A unit-of-work factory noting, per unit opened, whether it read a bank event's
    holders and whether it committed an ExecutionStarted (a claim)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        #: (read holders, committed a claim) of each unit of work, in the order opened.
        self.units: list[list[bool]] = []

    def __call__(self) -> Any:
        uow = self._inner()
        unit = [False, False]
        self.units.append(unit)
        read = uow.proposals.bank_event_claims
        commit = uow.commit

        async def reading(*args: Any) -> Any:
            unit[0] = True
            return await read(*args)

        async def committing() -> None:
            unit[1] = unit[1] or any(e.type.endswith("ExecutionStarted") for e in uow.staged_events)
            await commit()

        uow.proposals.bank_event_claims = reading
        uow.commit = committing
        return uow


async def test_the_executor_reads_the_holders_with_the_claim_and_only_for_bank_events() -> None:
    """The re-check costs no unit of work of its own (ADR 0051 addendum, at P2): the
    holders of a receipt's event are read in the claim's transaction, and an action naming
    no bank event reads none."""
    h = Harness()
    reads = HolderReads(h.memory)
    h.executor = h.new_executor("executor-1", uow_factory=reads)
    first, second = await _two_uploads(h)
    await h.approve(first)
    await h.approve(await h.propose(invoice()))  # another kind of action, beside it

    report = await h.executor.run_once()

    assert report.executed == 2
    holder_reads = [unit for unit in reads.units if unit[0]]
    assert holder_reads == [[True, True]]  # once, in the claim's unit of work
    assert h.world.bank(TENANT).calls.count("attach_receipt") == 1

    # The second, approved past the approval check, is still refused by the re-check.
    reads.units.clear()
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(handlers_module, "_require_bank_event_free", _no_check)
        await h.approve(second)
    h.clock.advance(seconds=30)
    assert (await h.executor.run_once()).failed == 1
    assert [unit for unit in reads.units if unit[0]] == [[True, True]]
    assert "already booked by proposal" in ((await h.view(second)).last_error or "")
    assert await _credits_to_bank(h) == [Decimal("125.00")]


async def _no_check(*_: object, **__: object) -> None:
    return None


class BankEventCalls:
    """A unit-of-work factory noting, per unit opened, the bank events it locked and whose
    holders it read, in order."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        #: ("lock" or "read", event) of each unit of work, in the order opened.
        self.units: list[list[tuple[str, str]]] = []

    def __call__(self) -> Any:
        uow = self._inner()
        calls: list[tuple[str, str]] = []
        self.units.append(calls)
        lock = uow.proposals.lock_bank_event
        read = uow.proposals.bank_event_claims

        async def locking(tenant: str, event: str) -> None:
            calls.append(("lock", event))
            await lock(tenant, event)

        async def reading(tenant: str, event: str) -> Any:
            calls.append(("read", event))
            return await read(tenant, event)

        uow.proposals.lock_bank_event = locking
        uow.proposals.bank_event_claims = reading
        return uow

    def touched(self) -> list[list[tuple[str, str]]]:
        return [calls for calls in self.units if calls]


async def test_the_rules_lock_the_bank_event_before_reading_its_holders_and_only_then() -> None:
    """An approval by the review rules reads a bank event's holders under the event's lock
    (ADR 0051 addendum), as a person's approval does: the lock first, in the unit that
    writes the approval. A proposal the rules do not approve takes no lock and reads
    nothing (its write stays the one-statement commit, ADR 0053)."""
    calls = BankEventCalls(MemoryUnitOfWorkFactory())
    h = Harness(uow_factory=calls)
    await h.learn("Kaffebrenneriet", "6810", Decimal("15"))
    calls.units.clear()

    unknown = await h.handlers.submit(
        SubmitEvent(
            type="ReceiptAttachmentProposed",
            data=receipt(await h.store(PDF), merchant_name="Ukjent Kafé", folio_event_id="ev-9"),
            principal=agent(),
        )
    )
    assert unknown.decision.outcome is Outcome.AWAITING_REVIEW
    assert calls.touched() == []

    paid = await h.handlers.submit(
        SubmitEvent(
            type="ReceiptAttachmentProposed",
            data=receipt(await h.store(PNG), amount=Decimal("99.00"), document_number="R-2"),
            principal=agent(),
        )
    )
    assert paid.decision.outcome is Outcome.AUTO_APPROVED
    assert calls.touched() == [[("lock", "ev-1"), ("read", "ev-1")]]
