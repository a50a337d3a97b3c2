"""The executor through in-memory ports and doubles: every kind executed exactly once with
the right remote calls, external ids and ledger posting; nothing unapproved executed;
retries, back-off, permanent failures and alerts; reconciliation after a timeout."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.event_log import alert_id, posting_id
from bookkeeper.application.execution import (
    FOLIO_KEEPS_ATTACHMENT,
    ExecutionPolicy,
    ExecutionReport,
    purchase_lines,
    reference,
    safe_error,
)
from bookkeeper.application.ports import BooksBankAccount, NewEvent, PurchaseLine
from bookkeeper.application.projections import fold_proposal
from bookkeeper.domain.events import (
    AlertRaisedData,
    ApprovedData,
    Corrections,
    ExecutedData,
    ExecutionFailedData,
    ExecutionStartedData,
    FailedData,
    JournalEntryPostedData,
    LineItem,
    PatternSuggestionData,
    Status,
)
from bookkeeper.domain.ledger import check_balanced
from tests.unit.external_doubles import (
    PDF,
    PNG,
    TENANT,
    Harness,
    correction,
    expense,
    invoice,
    receipt,
    reversal,
)


@pytest.fixture
def h() -> Harness:
    return Harness()


async def assert_ledger_balances(h: Harness, tenant: str = TENANT) -> None:
    for entry in await h.postings(tenant):
        check_balanced(entry.lines)
    async with h.uow_factory() as uow:
        totals = await uow.ledger.trial_balance(tenant, None, None)
    assert sum(t.debit for t in totals) == sum(t.credit for t in totals)


def lines_by_account(entry: JournalEntryPostedData) -> dict[str, tuple[Decimal, Decimal]]:
    return {line.account: (line.debit, line.credit) for line in entry.lines}


# --- each kind, once -----------------------------------------------------------------------


async def test_a_receipt_is_attached_to_its_bank_event_once(h: Harness) -> None:
    sha = await h.store(PDF)
    pid = await h.approved(receipt(sha))

    report = await h.executor.run_once()

    assert report == ExecutionReport(claimed=1, executed=1)
    bank = h.world.bank(TENANT)
    assert bank.calls == ["attach_receipt", "mark_complete"]
    event = bank.state["ev-1"]
    assert list(event.attachments.values()) == [f"bk-{pid.hex}.pdf"]
    assert event.complete
    view = await h.view(pid)
    assert view.status is Status.EXECUTED
    assert view.external_ids == {"folioEventId": "ev-1", "folioAttachmentId": "a1"}
    assert view.lease_until is None and view.attempts == 1
    [started, executed] = [e for e in await h.stream(pid)][-2:]
    assert isinstance(started.data, ExecutionStartedData)
    assert started.data.executor == "executor-1" and started.actor == "system:executor"
    assert started.data.lease_until == h.clock.now() + dt.timedelta(minutes=5)
    assert isinstance(executed.data, ExecutedData) and not executed.data.reconciled
    [entry] = await h.postings()
    assert entry.proposal_id == str(pid) and entry.source == "execution"
    assert lines_by_account(entry) == {
        "6810": (Decimal("108.70"), Decimal(0)),
        "2711": (Decimal("16.30"), Decimal(0)),
        "1920": (Decimal(0), Decimal("125.00")),
    }
    posted = await h.stream(posting_id(pid))
    assert posted[0].parent_id == executed.id
    assert posted[0].correlation_id == executed.correlation_id
    await assert_ledger_balances(h)

    assert await h.executor.run_once() == ExecutionReport()
    assert bank.calls == ["attach_receipt", "mark_complete"]


async def test_an_invoice_registers_supplier_purchase_and_pdf(h: Harness) -> None:
    sha = await h.store(PDF)
    pid = await h.approved(invoice(sha))

    report = await h.executor.run_once()

    assert report.executed == 1
    books = h.world.books(TENANT)
    assert books.calls == [
        "find_supplier",
        "create_supplier",
        "create_purchase",
        "attach_to_purchase",
    ]
    [stored] = books.purchases.values()
    purchase = stored.purchase
    assert purchase.kind == "supplier" and not purchase.paid
    assert purchase.reference == reference(pid) == f"bk-{pid.hex}"
    assert purchase.identifier == "F-1001" and purchase.kid == "12345678903"
    assert purchase.due_date == dt.date(2026, 11, 15) and purchase.supplier_id == "c1"
    assert purchase.lines == (
        PurchaseLine(
            description="Telenor Norge AS faktura F-1001",
            net=Decimal("1000.00"),
            vat=Decimal("250.00"),
            vat_type="HIGH",
            account="6900",
        ),
    )
    assert stored.attachments == [f"bk-{pid.hex}.pdf"]
    view = await h.view(pid)
    assert view.external_ids == {"fikenContactId": "c1", "fikenPurchaseId": "p1"}
    [entry] = await h.postings()
    assert lines_by_account(entry) == {
        "6900": (Decimal("1000.00"), Decimal(0)),
        "2710": (Decimal("250.00"), Decimal(0)),
        "2400": (Decimal(0), Decimal("1250.00")),
    }
    await assert_ledger_balances(h)


async def test_an_invoice_reuses_a_known_supplier_and_books_each_line(h: Harness) -> None:
    books = h.world.books(TENANT)
    known = await books.create_supplier("Telenor Norge AS", "976967631")
    books.calls.clear()
    items = (
        LineItem(description="Mobil", amount=Decimal("1000.00"), vat_rate=Decimal("25")),
        LineItem(
            description="Porto",
            amount=Decimal("250.00"),
            vat_rate=Decimal("0"),
            account_code="6940",
        ),
    )
    pid = await h.approved(invoice(line_items=items))

    await h.executor.run_once()

    assert books.calls == ["find_supplier", "create_purchase"]  # no document: no attachment
    [stored] = books.purchases.values()
    assert [(li.account, li.net, li.vat, li.vat_type) for li in stored.purchase.lines] == [
        ("6900", Decimal("800.00"), Decimal("200.00"), "HIGH"),
        ("6940", Decimal("250.00"), Decimal(0), "NONE"),
    ]
    assert (await h.view(pid)).external_ids["fikenContactId"] == known.id
    await assert_ledger_balances(h)


async def test_an_expense_is_a_paid_cash_purchase_from_the_first_active_bank_account(
    h: Harness,
) -> None:
    books = h.world.books(TENANT)
    books.bank_account_list = [
        BooksBankAccount(id="b0", name="Old", account_code="1920:10000", inactive=True),
        BooksBankAccount(id="b1", name="Drift", account_code="1920:10001"),
    ]
    sha = await h.store(PNG)
    pid = await h.approved(expense(sha))

    await h.executor.run_once()

    assert books.calls == ["bank_accounts", "create_purchase", "attach_to_purchase"]
    [stored] = books.purchases.values()
    purchase = stored.purchase
    assert purchase.kind == "cash_purchase" and purchase.paid
    assert purchase.payment_account == "1920:10001"
    assert purchase.payment_date == dt.date(2026, 11, 12)
    assert purchase.identifier == "K-77"
    assert [(li.net, li.vat, li.vat_type) for li in purchase.lines] == [
        (Decimal("400.00"), Decimal("48.00"), "LOW")
    ]
    assert stored.attachments == [f"bk-{pid.hex}.png"]
    assert (await h.view(pid)).external_ids == {"fikenPurchaseId": "p1"}
    [entry] = await h.postings()
    assert lines_by_account(entry)["1920"] == (Decimal(0), Decimal("448.00"))
    await assert_ledger_balances(h)


async def test_the_payment_account_override_is_used_in_the_books_and_the_ledger() -> None:
    h = Harness(policy=ExecutionPolicy(payment_account="1921"))
    await h.approved(expense())

    await h.executor.run_once()

    books = h.world.books(TENANT)
    assert books.calls == ["create_purchase"]
    [stored] = books.purchases.values()
    assert stored.purchase.payment_account == "1921"
    [entry] = await h.postings()
    assert "1921" in lines_by_account(entry)


async def test_a_reversal_deletes_the_purchase_and_posts_the_mirror(h: Harness) -> None:
    target = await h.approved(invoice())
    await h.executor.run_once()
    pid = await h.approved(reversal(target))

    report = await h.executor.run_once()

    assert report.executed == 1
    books = h.world.books(TENANT)
    assert books.calls[-1] == "delete_purchase"
    assert books.purchases["p1"].deleted
    assert (await h.view(pid)).external_ids == {"reversedFikenPurchaseId": "p1"}
    original, mirrored = await h.postings()
    assert mirrored.reverses_entry_id == str(posting_id(target))
    assert mirrored.proposal_id == str(pid)
    assert [(line.debit, line.credit) for line in mirrored.lines] == [
        (line.credit, line.debit) for line in original.lines
    ]
    async with h.uow_factory() as uow:
        totals = await uow.ledger.trial_balance(TENANT, None, None)
    assert all(t.balance == 0 for t in totals)


async def test_a_retry_attaches_the_receipt_when_the_file_of_its_name_is_another(
    h: Harness,
) -> None:
    # An attempt failed before attaching; meanwhile a different file under the receipt's
    # name sits on the event. The retry may not take it for ours: ours has other bytes.
    sha = await h.store(PDF)
    pid = await h.approved(receipt(sha))
    h.world.faults.fail_next(operations={"attach_receipt"})
    assert (await h.executor.run_once()).retried == 1
    event = h.world.bank(TENANT)._event("ev-1")
    event.attachments["other"] = f"bk-{pid.hex}.pdf"
    event.sizes["other"] = len(PDF) + 1
    h.clock.advance(minutes=5)

    assert (await h.executor.run_once()).executed == 1

    assert list(event.attachments.values()) == [f"bk-{pid.hex}.pdf"] * 2
    attached = (await h.view(pid)).external_ids["folioAttachmentId"]
    assert attached != "other" and event.sizes[attached] == len(PDF)


async def test_a_reversed_receipt_is_marked_incomplete_and_the_kept_file_is_said(
    h: Harness,
) -> None:
    sha = await h.store(PDF)
    target = await h.approved(receipt(sha))
    await h.executor.run_once()
    pid = await h.approved(reversal(target))

    await h.executor.run_once()

    bank = h.world.bank(TENANT)
    assert bank.calls[-1] == "mark_incomplete"
    assert not bank.state["ev-1"].complete
    assert len(bank.state["ev-1"].attachments) == 1  # Folio cannot remove it
    view = await h.view(pid)
    assert view.status is Status.EXECUTED
    assert view.external_ids["note"] == FOLIO_KEEPS_ATTACHMENT
    [alert] = await h.stream(alert_id(pid, "attachment-kept"))
    assert isinstance(alert.data, AlertRaisedData)
    assert alert.data.severity == "warning" and "cannot remove an attachment" in alert.data.message
    await assert_ledger_balances(h)


async def test_a_correction_replaces_the_purchase_and_reposts(h: Harness) -> None:
    target = await h.approved(expense())
    await h.executor.run_once()
    pid = await h.approved(correction(target, account_code="7100"))

    await h.executor.run_once()

    books = h.world.books(TENANT)
    assert books.purchases["p1"].deleted
    replacement = books.purchases["p2"].purchase
    assert replacement.reference == reference(pid)
    assert replacement.lines[0].account == "7100"
    assert (await h.view(pid)).external_ids == {
        "reversedFikenPurchaseId": "p1",
        "fikenPurchaseId": "p2",
    }
    original, mirrored, corrected = await h.postings()
    assert mirrored.reverses_entry_id == str(posting_id(target))
    assert (await h.stream(posting_id(pid, "reversal")))[0].data == mirrored
    assert (await h.stream(posting_id(pid)))[0].data == corrected
    assert "7100" in lines_by_account(corrected) and "7140" in lines_by_account(original)
    async with h.uow_factory() as uow:
        totals = {t.account: t.balance for t in await uow.ledger.trial_balance(TENANT, None, None)}
    assert totals["7140"] == 0 and totals["7100"] == Decimal("400.00")
    await assert_ledger_balances(h)


async def test_a_correction_of_a_receipt_moves_nothing_remote_unless_the_event_changes(
    h: Harness,
) -> None:
    sha = await h.store(PDF)
    target = await h.approved(receipt(sha))
    await h.executor.run_once()
    calls = list(h.world.bank(TENANT).calls)
    same = await h.approved(correction(target, account_code="6800"))
    await h.executor.run_once()
    assert h.world.bank(TENANT).calls == calls
    assert (await h.view(same)).status is Status.EXECUTED
    await assert_ledger_balances(h)


async def test_a_correction_to_another_bank_event_moves_the_receipt(h: Harness) -> None:
    sha = await h.store(PDF)
    target = await h.approved(receipt(sha))
    await h.executor.run_once()
    pid = await h.approved(correction(target, folio_event_id="ev-2"))

    await h.executor.run_once()

    bank = h.world.bank(TENANT)
    assert bank.calls[-3:] == ["mark_incomplete", "attach_receipt", "mark_complete"]
    assert bank.state["ev-2"].complete and not bank.state["ev-1"].complete
    assert (await h.view(pid)).external_ids["previousFolioEventId"] == "ev-1"


# --- only APPROVED is executed ---------------------------------------------------------------


async def test_nothing_but_approved_proposals_is_executed(h: Harness) -> None:
    sha = await h.store(PDF)
    pending = await h.propose(receipt(sha, document_number="R-1"))
    rejected = await h.propose(receipt(sha, document_number="R-2", folio_event_id="ev-2"))
    await h.reject(rejected)
    done = await h.approved(invoice())
    await h.executor.run_once()
    failed = await h.approved(receipt(None, folio_event_id="ev-3"))  # no document: fails
    await h.executor.run_once()
    assert (await h.view(failed)).status is Status.FAILED
    h.world.calls.clear()

    for _ in range(3):
        h.clock.advance(hours=2)
        assert await h.executor.run_once() == ExecutionReport()

    assert h.world.calls == []
    assert (await h.view(pending)).status is Status.PROPOSED
    assert (await h.view(rejected)).status is Status.REJECTED
    assert (await h.view(done)).status is Status.EXECUTED
    assert len(await h.stream(done)) == 4  # proposed, approved, started, executed


# --- failures ------------------------------------------------------------------------------


async def test_an_executed_proposal_keeps_no_error_of_an_earlier_attempt() -> None:
    """The read model's lastError is the proposal's state, not its history: the page showed
    a failed attempt's error as "Siste feil" after the retry had succeeded. The failed
    attempt stays in the log, and a replay of the stream gives the same view."""
    h = Harness(policy=ExecutionPolicy(max_attempts=3))
    pid = await h.approved(invoice())
    h.world.faults.fail_next(1, operations={"find_supplier"})
    assert (await h.executor.run_once()).retried == 1
    assert "503 unavailable" in ((await h.view(pid)).last_error or "")

    h.clock.advance(seconds=30)
    assert (await h.executor.run_once()).executed == 1
    view = await h.view(pid)
    assert view.status is Status.EXECUTED and view.attempts == 2
    assert view.last_error is None
    stream = await h.stream(pid)
    [failed] = [e.data for e in stream if e.type.endswith("ExecutionFailed")]
    assert "503 unavailable" in failed.error
    assert fold_proposal(stream) == view


async def test_retryable_failures_back_off_then_fail_for_good_with_an_alert() -> None:
    """Without a give-up time (BOOKKEEPER_EXECUTOR_GIVE_UP_HOURS=0) an outage counts against
    max_attempts, as before the ADR 0009 addendum (test_execution_give_up: with one)."""
    h = Harness(policy=ExecutionPolicy(max_attempts=3, give_up_after=None))
    pid = await h.approved(invoice())
    h.world.faults.fail_next(10, operations={"find_supplier"})
    start = h.clock.now()

    first = await h.executor.run_once()
    assert first.retried == 1
    view = await h.view(pid)
    assert view.status is Status.APPROVED and view.attempts == 1
    assert view.next_attempt_at == start + dt.timedelta(seconds=30)
    assert "503 unavailable" in (view.last_error or "")
    assert await h.executor.run_once() == ExecutionReport()  # not due yet

    h.clock.advance(seconds=30)
    assert (await h.executor.run_once()).retried == 1
    assert (await h.view(pid)).next_attempt_at == h.clock.now() + dt.timedelta(seconds=60)

    h.clock.advance(seconds=60)
    assert (await h.executor.run_once()).failed == 1
    view = await h.view(pid)
    assert view.status is Status.FAILED and view.attempts == 3 and view.next_attempt_at is None
    [alert] = await h.stream(alert_id(pid, "execution-failed"))
    assert isinstance(alert.data, AlertRaisedData)
    assert alert.data.severity == "error" and alert.data.code == "execution-failed"
    assert alert.data.proposal_id == str(pid) and "503 unavailable" in alert.data.message
    assert alert.correlation_id == view.correlation_id
    failures = [e.data for e in await h.stream(pid)]
    assert [type(d).__name__ for d in failures[2:]] == [
        "ExecutionStartedData",
        "ExecutionFailedData",
        "ExecutionStartedData",
        "ExecutionFailedData",
        "ExecutionStartedData",
        "FailedData",
    ]
    assert h.world.books(TENANT).purchases == {}
    assert await h.postings() == []

    h.clock.advance(hours=5)
    assert await h.executor.run_once() == ExecutionReport()


async def test_a_non_retryable_error_fails_at_once(h: Harness) -> None:
    pid = await h.approved(invoice())
    h.world.faults.fail_next(retryable=False, operations={"create_purchase"})

    report = await h.executor.run_once()

    assert report.failed == 1
    view = await h.view(pid)
    assert view.status is Status.FAILED and view.attempts == 1
    assert "400 rejected" in (view.last_error or "")
    assert len(await h.stream(alert_id(pid, "execution-failed"))) == 1


async def test_retry_after_is_respected(h: Harness) -> None:
    pid = await h.approved(invoice())
    h.world.faults.fail_next(rate_limited=True, retry_after=600, operations={"find_supplier"})
    await h.executor.run_once()
    assert (await h.view(pid)).next_attempt_at == h.clock.now() + dt.timedelta(seconds=600)


@pytest.mark.parametrize(
    ("data_of", "missing"),
    [
        (lambda sha: receipt(sha, folio_event_id=None), "folioEventId"),
        (lambda sha: receipt(None), "documentHash"),
        (lambda sha: receipt("0" * 64), "not stored"),
        (lambda sha: invoice("f" * 64), "not stored"),
    ],
)
async def test_missing_prerequisites_fail_at_once_without_remote_calls(
    h: Harness, data_of: object, missing: str
) -> None:
    sha = await h.store(PDF)
    pid = await h.approved(data_of(sha))  # type: ignore[operator]

    assert (await h.executor.run_once()).failed == 1

    view = await h.view(pid)
    assert view.status is Status.FAILED and missing in (view.last_error or "")
    assert h.world.calls == []


async def test_a_document_of_another_tenant_is_not_found(h: Harness) -> None:
    sha = await h.store(PDF, tenant="globex")
    pid = await h.approved(receipt(sha))
    await h.executor.run_once()
    assert (await h.view(pid)).status is Status.FAILED


async def test_an_unexpected_exception_is_a_retryable_failure_and_the_loop_goes_on(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    books = h.world.books(TENANT)

    async def broken(*_: object) -> None:
        raise KeyError("surprise")

    books.find_supplier = broken  # type: ignore[method-assign]
    pid = await h.approved(invoice())
    other = await h.approved(expense())

    report = await h.executor.run_once()

    assert report.retried == 1 and report.executed == 1
    view = await h.view(pid)
    assert view.status is Status.APPROVED and view.last_error == "KeyError: 'surprise'"
    assert (await h.view(other)).status is Status.EXECUTED
    assert any("unexpected error" in r.message and r.exc_info for r in caplog.records)


async def test_a_claim_that_cannot_reach_the_database_is_reported_not_raised(
    h: Harness,
) -> None:
    def unavailable() -> object:
        raise ExternalUnavailable("db down", system="test")

    executor = h.new_executor("executor-1", uow_factory=unavailable)  # type: ignore[arg-type]
    report = await executor.run_once()
    assert report.claim_error is not None and "db down" in report.claim_error


# --- reconciliation --------------------------------------------------------------------------


async def test_a_timeout_after_the_remote_commit_is_reconciled_not_repeated(h: Harness) -> None:
    sha = await h.store(PDF)
    pid = await h.approved(invoice(sha))
    h.world.faults.commit_then_timeout(operations={"create_purchase"})

    assert (await h.executor.run_once()).retried == 1
    h.clock.advance(seconds=30)
    report = await h.executor.run_once()

    assert report.executed == 1 and report.reconciled == 1
    books = h.world.books(TENANT)
    assert books.created_references == {reference(pid): 1}
    assert books.calls[-2:] == ["find_purchase", "attach_to_purchase"]
    assert books.purchases["p1"].attachments == [f"bk-{pid.hex}.pdf"]
    executed = (await h.stream(pid))[-1].data
    assert isinstance(executed, ExecutedData) and executed.reconciled and executed.attempt == 2
    assert len(await h.postings()) == 1
    assert h.world.duplicates() == []


async def test_a_timed_out_supplier_creation_is_found_on_the_next_attempt(h: Harness) -> None:
    pid = await h.approved(invoice())
    h.world.faults.commit_then_timeout(operations={"create_supplier"})
    await h.executor.run_once()
    h.clock.advance(seconds=30)
    await h.executor.run_once()
    books = h.world.books(TENANT)
    assert len(books.suppliers) == 1
    assert (await h.view(pid)).status is Status.EXECUTED


async def test_a_timed_out_attachment_is_not_attached_twice(h: Harness) -> None:
    sha = await h.store(PDF)
    pid = await h.approved(receipt(sha))
    h.world.faults.commit_then_timeout(operations={"attach_receipt"})
    await h.executor.run_once()
    h.clock.advance(seconds=30)
    await h.executor.run_once()
    bank = h.world.bank(TENANT)
    assert bank.calls == [
        "attach_receipt",
        "find_attachment",
        "mark_complete",
    ]
    assert (await h.view(pid)).external_ids["folioAttachmentId"] == "a1"
    assert h.world.duplicates() == []


async def test_a_purchase_deleted_in_fiken_is_not_registered_again(h: Harness) -> None:
    pid = await h.approved(invoice())
    h.world.faults.commit_then_timeout(operations={"create_purchase"})
    await h.executor.run_once()
    h.world.books(TENANT).purchases["p1"].deleted = True
    h.clock.advance(seconds=30)
    await h.executor.run_once()
    view = await h.view(pid)
    assert view.status is Status.FAILED and "deleted" in (view.last_error or "")
    assert len(h.world.books(TENANT).purchases) == 1


async def test_the_lease_is_checked_before_every_remote_call(h: Harness) -> None:
    books = h.world.books(TENANT)
    create_supplier = books.create_supplier

    async def slow(name: str, organization_number: str | None) -> object:
        contact = await create_supplier(name, organization_number)
        h.clock.advance(minutes=6)  # the call took longer than the lease
        return contact

    books.create_supplier = slow  # type: ignore[assignment]
    pid = await h.approved(invoice())

    report = await h.executor.run_once()

    assert report.abandoned == 1
    assert books.calls == ["find_supplier", "create_supplier"]  # no purchase after the lease
    view = await h.view(pid)
    assert view.status is Status.APPROVED and view.attempts == 1
    assert isinstance((await h.stream(pid))[-1].data, ExecutionStartedData)  # nothing recorded

    books.create_supplier = create_supplier  # type: ignore[method-assign]
    report = await h.executor.run_once()  # the lease has run out: claimed again
    assert report.executed == 1
    assert len(books.suppliers) == 1 and len(books.purchases) == 1


# --- policy and helpers ------------------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_up_to_an_hour_and_honours_retry_after() -> None:
    policy = ExecutionPolicy()
    assert [policy.backoff(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert policy.backoff(1, retry_after=90).total_seconds() == 90
    assert policy.backoff(3, retry_after=5).total_seconds() == 120
    assert policy.backoff(10_000).total_seconds() == 3600


def test_a_policy_refuses_a_margin_longer_than_the_lease() -> None:
    with pytest.raises(ValueError, match="lease_margin"):
        ExecutionPolicy(lease=dt.timedelta(seconds=10), lease_margin=dt.timedelta(seconds=10))


def test_error_texts_never_carry_credentials() -> None:
    error = RuntimeError("GET https://x/y?token=abc123 failed; Authorization: Bearer s3cr3t.tok")
    text = safe_error(error)
    assert "abc123" not in text and "s3cr3t" not in text
    assert text.startswith("RuntimeError: ") and "***" in text
    assert len(safe_error(RuntimeError("x" * 5000))) == 1000


def test_posting_and_alert_ids_are_derived_as_they_always_were() -> None:
    """Entries and alerts already in logs carry these ids: a retry must find them again."""
    pid = uuid.UUID("0190f5e2-0000-7000-8000-000000000001")
    postings = uuid.UUID("0d5c3f0e-6a43-4f1e-8f5b-1c2a9e7d4b60")
    alerts = uuid.UUID("3b0f8c52-5f1e-4a0e-9d7c-6a2f1e4b8c13")
    assert posting_id(pid) == uuid.uuid5(postings, f"{pid}:posting")
    assert posting_id(pid, "reversal") == uuid.uuid5(postings, f"{pid}:reversal")
    assert alert_id(pid, "execution-failed") == uuid.uuid5(alerts, f"{pid}:execution-failed")


def test_purchase_lines_match_the_ledger_posting_rules() -> None:
    [line] = purchase_lines(expense(vat_rate=Decimal("0"), amount=Decimal("99.00")))
    assert (line.net, line.vat, line.vat_type) == (Decimal("99.00"), Decimal(0), "NONE")
    [line] = purchase_lines(invoice(vat_amount=Decimal("249.99")))
    assert (line.net, line.vat) == (Decimal("1000.01"), Decimal("249.99"))


async def test_failure_events_carry_the_attempt_and_retry_time(h: Harness) -> None:
    pid = await h.approved(expense())
    h.world.faults.fail_next(operations={"bank_accounts"})
    await h.executor.run_once()
    failed = (await h.stream(pid))[-1].data
    assert isinstance(failed, ExecutionFailedData)
    assert failed.attempt == 1 and failed.retryable
    assert failed.next_attempt_at == h.clock.now() + dt.timedelta(seconds=30)
    assert not isinstance(failed, FailedData)


async def test_corrections_made_on_approval_are_what_gets_executed(h: Harness) -> None:
    pid = await h.propose(expense())
    await h.approve(pid, corrections=Corrections(account_code="7150"))
    await h.executor.run_once()
    [stored] = h.world.books(TENANT).purchases.values()
    assert stored.purchase.lines[0].account == "7150"
    [entry] = await h.postings()
    assert "7150" in lines_by_account(entry)


async def test_an_approved_but_unapplied_pattern_is_never_executed(h: Harness) -> None:
    # Approval applies a pattern at once; build the anomaly by hand to see it skipped.
    pid = uuid.uuid4()
    now = h.clock.now()

    def new(type_: str, data: object, status: Status) -> NewEvent:
        return NewEvent(
            id=uuid.uuid4(),
            type=type_,
            schema_version=1,
            status=status,
            actor="kari",
            data=data,  # type: ignore[arg-type]
            metadata={},
            parent_id=None,
            correlation_id=pid,
            created_at=now,
        )

    async with h.uow_factory() as uow:
        recorded = await uow.events.append(
            TENANT,
            pid,
            0,
            [
                new(
                    "PatternSuggested",
                    PatternSuggestionData(
                        merchant="Adobe", account_code="6540", vat_rate=Decimal("25")
                    ),
                    Status.PROPOSED,
                ),
                new("PatternApproved", ApprovedData(), Status.APPROVED),
            ],
        )
        view = fold_proposal(recorded)
        assert view is not None
        await uow.proposals.upsert(view)
        await uow.commit()

    assert await h.executor.run_once() == ExecutionReport()
    assert len(await h.stream(pid)) == 2
