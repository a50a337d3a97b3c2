"""How long a failing execution is retried, and a person's retry of a FAILED one (ADR 0009
addendum): outages are retried until the give-up time, counted from the first failed
attempt; other retryable failures count against max_attempts; a retry gives a fresh
budget."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bookkeeper.application.commands import RetryExecution
from bookkeeper.application.errors import Forbidden, NotFound
from bookkeeper.application.event_log import alert_id
from bookkeeper.application.execution import ExecutionPolicy, ExecutionReport, reference
from bookkeeper.domain.errors import InvalidCorrection, ProposalNotFailed
from bookkeeper.domain.events import ExecutionFailedData, ExecutionRetriedData, Status
from bookkeeper.domain.proposals import Proposal
from bookkeeper.settings import SettingsError, load_settings
from tests.unit.external_doubles import PDF, TENANT, Harness, agent, invoice, reviewer
from tests.unit.test_proposal_lifecycle import receipt

T0 = dt.datetime(2026, 12, 7, 8, tzinfo=dt.UTC)
DAY = dt.timedelta(hours=24)


def approved() -> Proposal:
    p = Proposal.propose("p1", receipt(), actor="book-e")
    p.approve(actor="human:kari")
    return p


def fail(
    p: Proposal, at: dt.datetime, *, outage: bool = True, retryable: bool = True, most: int = 6
) -> None:
    p.start_execution(actor="system:executor")
    p.record_failure(
        actor="system:executor",
        error="fiken 503: down for maintenance",
        retryable=retryable,
        next_attempt_at=at + dt.timedelta(hours=1),
        max_attempts=most,
        outage=outage,
        now=at,
        give_up_after=DAY,
    )


def rebuilt(p: Proposal) -> Proposal:
    class Stored:
        def __init__(self, version: int, type_: str, data: object, actor: str) -> None:
            self.version, self.type, self.data, self.actor = version, type_, data, actor

    return Proposal.rehydrate(
        p.id, [Stored(i + 1, e.type, e.data, e.actor) for i, e in enumerate(p.pending)]
    )  # type: ignore[misc]


def test_an_outage_is_retried_until_the_give_up_time_not_for_six_attempts() -> None:
    """An outage of a maintenance window's hours: 20 failed attempts over 19 hours keep the
    proposal APPROVED (six attempts ended it FAILED after ~15 minutes before)."""
    p = approved()
    for hour in range(20):
        fail(p, T0 + dt.timedelta(hours=hour))
        assert p.status is Status.APPROVED, hour
    assert p.attempts == 20 and p.counted_attempts == 0
    last = p.pending[-1].data
    assert isinstance(last, ExecutionFailedData)
    assert last.outage and last.failing_since == T0
    # The state is the log's: rebuilt, it gives up at the same time.
    copy = rebuilt(p)
    assert (copy.failing_since, copy.outages, copy.counted_attempts) == (T0, 20, 0)
    fail(copy, T0 + DAY - dt.timedelta(seconds=1))
    assert copy.status is Status.APPROVED
    fail(copy, T0 + DAY)
    assert copy.status is Status.FAILED
    assert copy.pending[-1].type == "ReceiptAttachmentFailed"


def test_other_retryable_failures_still_count_against_max_attempts() -> None:
    p = approved()
    for hour in range(10):  # outages in between count nothing
        fail(p, T0 + dt.timedelta(minutes=hour))
    fail(p, T0 + dt.timedelta(hours=1), outage=False, most=2)
    assert p.status is Status.APPROVED and p.counted_attempts == 1
    fail(p, T0 + dt.timedelta(hours=2), outage=False, most=2)
    assert p.status is Status.FAILED


def test_a_permanent_failure_fails_at_once_even_during_the_give_up_time() -> None:
    p = approved()
    fail(p, T0, outage=False, retryable=False)
    assert p.status is Status.FAILED


def test_without_a_give_up_time_an_outage_counts_like_before() -> None:
    p = approved()
    for attempt in (1, 2, 3):
        p.start_execution(actor="system:executor")
        p.record_failure(
            actor="system:executor",
            error="503",
            retryable=True,
            next_attempt_at=T0,
            max_attempts=3,
            outage=True,
            now=T0,
            give_up_after=None,
        )
        assert p.status is (Status.FAILED if attempt == 3 else Status.APPROVED)


def test_a_person_retries_a_failed_proposal_with_a_fresh_budget() -> None:
    p = approved()
    fail(p, T0)
    fail(p, T0 + DAY)  # given up
    assert p.status is Status.FAILED
    p.retry(actor="human:kari", comment="Fiken er oppe igjen")
    assert p.status is Status.APPROVED
    assert p.pending[-1].type == "ReceiptAttachmentExecutionRetried"
    assert p.pending[-1].data == ExecutionRetriedData(attempt=2, comment="Fiken er oppe igjen")
    assert (p.counted_attempts, p.failing_since, p.next_attempt_at) == (0, None, None)
    # The give-up time counts from the first failure after the retry, not from T0.
    later = T0 + 3 * DAY
    fail(p, later)
    fail(p, later + DAY - dt.timedelta(minutes=1))
    assert p.status is Status.APPROVED
    # A non-outage budget is fresh too: max_attempts counts from the retry.
    fail(p, later + dt.timedelta(hours=1), outage=False, most=1)
    assert p.status is Status.FAILED
    copy = rebuilt(p)
    assert (copy.status, copy.attempts, copy.budget_from) == (Status.FAILED, 5, 2)


@pytest.mark.parametrize("status", ["PROPOSED", "APPROVED", "EXECUTED", "REJECTED"])
def test_only_a_failed_proposal_can_be_retried(status: str) -> None:
    p = Proposal.propose("p1", receipt(), actor="book-e")
    if status == "REJECTED":
        p.reject(actor="human:kari", reason="wrong")
    elif status != "PROPOSED":
        p.approve(actor="human:kari")
    if status == "EXECUTED":
        p.record_executed(actor="system:executor")
    before = len(p.pending)
    with pytest.raises(ProposalNotFailed) as caught:
        p.retry(actor="human:kari")
    assert caught.value.current == status and len(p.pending) == before


def test_a_retrys_comment_is_held_to_the_free_text_rule() -> None:
    p = approved()
    fail(p, T0, retryable=False)
    with pytest.raises(InvalidCorrection):
        p.retry(actor="human:kari", comment="ok\x1b[2J")
    assert p.status is Status.FAILED


def test_the_give_up_time_is_configured_in_hours() -> None:
    """BOOKKEEPER_EXECUTOR_GIVE_UP_HOURS: 24 by default; 0 keeps the old rule (outages
    count against BOOKKEEPER_EXECUTOR_MAX_ATTEMPTS, which keeps its meaning otherwise)."""
    from bookkeeper.container import _execution_policy

    assert _execution_policy(load_settings({})).give_up_after == DAY
    hours = load_settings({"BOOKKEEPER_EXECUTOR_GIVE_UP_HOURS": "48"})
    assert _execution_policy(hours).give_up_after == 2 * DAY
    old = load_settings({"BOOKKEEPER_EXECUTOR_GIVE_UP_HOURS": "0"})
    assert _execution_policy(old).give_up_after is None
    for bad in ("-1", "721", "1.5"):
        with pytest.raises(SettingsError, match="GIVE_UP_HOURS"):
            load_settings({"BOOKKEEPER_EXECUTOR_GIVE_UP_HOURS": bad})


# --- the executor -------------------------------------------------------------------------


async def run_until_due(h: Harness, pid: uuid.UUID) -> ExecutionReport:
    """Move the clock to the proposal's next attempt and run one pass."""
    view = await h.view(pid)
    if view.next_attempt_at is not None and view.next_attempt_at > h.clock.now():
        h.clock.current = view.next_attempt_at
    return await h.executor.run_once()


async def test_fiken_down_for_hours_then_back_executes_once() -> None:
    """Story 5: the purchase was registered by the attempt whose answer was lost, then
    Fiken was down for 20 hours (back-off capped at an hour): the proposal stays APPROVED
    and, when Fiken is back, the purchase is found by reference, not made twice."""
    h = Harness(policy=ExecutionPolicy())
    pid = await h.approved(invoice(await h.store(PDF)))
    h.world.faults.commit_then_timeout(1, operations={"create_purchase"})
    start = h.clock.now()
    assert (await h.executor.run_once()).retried == 1  # the purchase landed, unanswered
    h.world.faults.fail_next(10_000)  # every call: Fiken is down
    attempts = 1
    while h.clock.now() < start + dt.timedelta(hours=20):
        assert (await run_until_due(h, pid)).retried == 1
        attempts += 1
    view = await h.view(pid)
    assert view.status is Status.APPROVED and view.attempts == attempts > 20
    assert view.next_attempt_at - h.clock.now() == dt.timedelta(hours=1)  # capped

    h.world.faults.clear()  # Fiken is back
    report = await run_until_due(h, pid)
    assert (report.executed, report.reconciled) == (1, 1)
    assert h.world.books(TENANT).created_references == {reference(pid): 1}
    assert h.world.duplicates() == []
    assert (await h.view(pid)).status is Status.EXECUTED
    assert await h.stream(alert_id(pid, "execution-failed")) == []


async def test_given_up_after_a_day_then_retried_by_a_person_executes_once() -> None:
    """A day of outage ends FAILED with an alert; a reviewer's retry makes it APPROVED
    with a fresh budget, and the next pass finds the purchase an earlier attempt made."""
    h = Harness(policy=ExecutionPolicy(max_attempts=3))
    pid = await h.approved(invoice(await h.store(PDF)))
    h.world.faults.commit_then_timeout(1, operations={"create_purchase"})
    assert (await h.executor.run_once()).retried == 1
    h.world.faults.fail_next(10_000)  # every call: Fiken is down
    start = h.clock.now()
    while (report := await run_until_due(h, pid)).failed == 0:
        assert report.retried == 1
    view = await h.view(pid)
    assert view.status is Status.FAILED
    assert h.clock.now() - start >= DAY - dt.timedelta(hours=1)
    assert await h.stream(alert_id(pid, "execution-failed"))

    h.world.faults.clear()
    result = await h.handlers.retry(
        RetryExecution(principal=reviewer(), proposal_id=pid, comment="Fiken er oppe")
    )
    assert result.proposal.status is Status.APPROVED
    assert result.proposal.next_attempt_at is None  # due at once
    report = await h.executor.run_once()
    assert (report.executed, report.reconciled) == (1, 1)
    assert h.world.books(TENANT).created_references == {reference(pid): 1}
    assert h.world.duplicates() == []
    [entry] = await h.postings()
    assert entry.proposal_id == str(pid)
    # Executed: a second retry is refused, nothing more is sent.
    with pytest.raises(ProposalNotFailed):
        await h.handlers.retry(RetryExecution(principal=reviewer(), proposal_id=pid))
    assert await h.executor.run_once() == ExecutionReport()


async def test_a_retry_is_a_reviewers_and_finds_no_other_tenants_proposal() -> None:
    h = Harness()
    pid = await h.approved(invoice(await h.store(PDF)))
    h.world.faults.fail_next(1, retryable=False, operations={"find_supplier"})
    assert (await h.executor.run_once()).failed == 1
    with pytest.raises(Forbidden):
        await h.handlers.retry(RetryExecution(principal=agent(), proposal_id=pid))
    with pytest.raises(NotFound):
        await h.handlers.retry(RetryExecution(principal=reviewer("other"), proposal_id=pid))
    assert (await h.view(pid)).status is Status.FAILED


async def test_an_outage_spent_attempts_leave_the_crash_budget_whole() -> None:
    """Attempts that never recorded an outcome (crashes) stop after max_attempts counted
    ones; the outages before them count nothing (attempt 30 after 29 outages runs)."""
    h = Harness(policy=ExecutionPolicy(max_attempts=2))
    pid = await h.approved(invoice(await h.store(PDF)))
    h.world.faults.fail_next(29, operations={"find_supplier"})
    for _ in range(29):
        assert (await run_until_due(h, pid)).retried == 1
    assert (await run_until_due(h, pid)).executed == 1
    assert (await h.view(pid)).attempts == 30


async def test_a_tenants_queued_claims_deferred_in_an_outage_are_not_counted() -> None:
    """While Fiken is down, the tenant's other claimed proposals are deferred without a
    call; with max_attempts=1 a deferral counted once ended them FAILED at once."""
    h = Harness(policy=ExecutionPolicy(max_attempts=1))
    first = await h.approved(invoice(await h.store(PDF), invoice_number="F-1"))
    second = await h.approved(invoice(await h.store(PDF + b"2"), invoice_number="F-2"))
    h.world.faults.fail_next(3, operations={"find_supplier"})
    report = await h.executor.run_once()
    assert report.failed == 0 and report.retried == 2
    while (await h.view(first)).status is not Status.EXECUTED or (
        await h.view(second)
    ).status is not Status.EXECUTED:
        h.clock.advance(hours=1)
        assert (await h.executor.run_once()).failed == 0
    assert len(h.world.books(TENANT).purchases) == 2


async def test_a_retried_proposal_failing_again_is_failed_with_an_alert_of_its_own() -> None:
    """The failure alert's stream was derived from the proposal alone: a retried proposal
    failing again could not record its failure (the alert was a duplicate), so the attempt
    was abandoned, its lease ran out and it was tried again and again."""
    h = Harness()
    pid = await h.approved(invoice(await h.store(PDF)))
    h.world.faults.fail_next(1, retryable=False, operations={"find_supplier"})
    assert (await h.executor.run_once()).failed == 1
    await h.handlers.retry(RetryExecution(principal=reviewer(), proposal_id=pid))
    h.world.faults.fail_next(1, retryable=False, operations={"find_supplier"})
    report = await h.executor.run_once()
    assert (report.failed, report.abandoned) == (1, 0)
    view = await h.view(pid)
    assert view.status is Status.FAILED and view.lease_until is None
    [first] = await h.stream(alert_id(pid, "execution-failed"))
    [second] = await h.stream(alert_id(pid, "execution-failed:2"))
    assert first.data.code == second.data.code == "execution-failed"
    assert "after attempt 2" in second.data.message
