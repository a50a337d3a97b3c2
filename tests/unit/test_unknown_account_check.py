"""An account code the books' chart does not know is a reason at proposal time (issue 15):
it keeps the proposal in review instead of becoming a 400 from Fiken after approval."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application import handlers as handlers_module
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import BooksAccount
from bookkeeper.domain.confidence import ScoringContext, score
from bookkeeper.domain.errors import InvalidCorrection, ProposalNotPending
from bookkeeper.domain.events import CorrectionData, Corrections, Kind
from bookkeeper.domain.review import DEFAULT_RULES, decide
from tests.unit.conftest import (
    AGENT,
    OTHER_REVIEWER,
    REVIEWER,
    FixedClock,
    GatedChart,
    open_when_all_wait,
)
from tests.unit.conftest import adobe_receipt_data as receipt
from tests.unit.test_handlers import execute

CHART = ("1920:10001", "2400", "6540", "6800", "7140")


class Books:
    """A books double with a chart of accounts; counts how often the chart was read."""

    name = "test-books"

    def __init__(self, chart: tuple[str, ...] = CHART, error: Exception | None = None) -> None:
        self.chart = chart
        self.error = error
        self.reads = 0

    async def accounts(self) -> list[BooksAccount]:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return [BooksAccount(code=code, name=f"konto {code}") for code in self.chart]


def handlers_with(
    books: Books | GatedChart, uow: MemoryUnitOfWorkFactory | None = None
) -> Handlers:
    async def books_source() -> Any:
        return lambda tenant: books

    uow = uow or MemoryUnitOfWorkFactory()
    return Handlers(uow, FixedClock(), UuidV7Ids(), RoleAuthorizer(), books_source=books_source)


async def propose(handlers: Handlers, account: str, number: str = "R-1") -> Any:
    data = receipt(account_code=account, document_number=number)
    return await handlers.submit(
        SubmitEvent(type="ReceiptAttachmentProposed", data=data, principal=AGENT)
    )


def reasons(result: Any, signal: str) -> list[str]:
    assert result.confidence is not None
    return [r.detail for r in result.confidence.reasons if r.signal == signal]


async def test_an_unknown_account_is_a_reason_and_keeps_the_proposal_in_review() -> None:
    books = Books()
    handlers = handlers_with(books)
    result = await propose(handlers, "6999")
    assert reasons(result, "unknown-account") == [
        "account 6999 is not in the books' chart of accounts"
    ]
    assert result.decision.rule == "unknown-account"
    assert result.decision.outcome.value == "awaiting_review"


async def test_a_known_account_and_a_sub_ledger_main_account_are_not_reasons() -> None:
    books = Books()
    handlers = handlers_with(books)
    known = await propose(handlers, "6540", "R-1")
    assert reasons(known, "unknown-account") == []
    assert known.decision.rule != "unknown-account"
    # A supplier's sub-ledger account: Fiken lists only its main account 2400.
    sub = await propose(handlers, "2400:20001", "R-2")
    assert reasons(sub, "unknown-account") == []
    assert books.reads == 1  # the chart is read once and reused


async def test_books_that_cannot_be_read_or_an_empty_chart_check_nothing() -> None:
    down = handlers_with(Books(error=ExternalUnavailable("fiken is down", system="fiken")))
    assert reasons(await propose(down, "6999"), "unknown-account") == []
    empty = handlers_with(Books(chart=()))
    result = await propose(empty, "6999")
    assert reasons(result, "unknown-account") == []
    assert result.decision.rule != "unknown-account"


async def test_proposals_missing_the_chart_at_once_read_it_once() -> None:
    """Fails without the single flight: each of the eight proposals read the chart itself
    (Fiken takes one request at a time per company, so they queued behind each other)."""
    books = GatedChart(CHART, held=True)
    handlers = handlers_with(books)
    proposing = [asyncio.create_task(propose(handlers, "6999", f"R-{n}")) for n in range(8)]
    await open_when_all_wait(books)
    results = await asyncio.gather(*proposing)
    assert books.reads == 1
    assert {tuple(reasons(result, "unknown-account")) for result in results} == {
        ("account 6999 is not in the books' chart of accounts",)
    }


async def test_a_chart_that_could_not_be_read_is_read_again_by_the_next_proposal() -> None:
    books = GatedChart(CHART)
    books.fail = ExternalUnavailable("fiken is down", system="fiken")
    handlers = handlers_with(books)
    assert reasons(await propose(handlers, "6999", "R-1"), "unknown-account") == []
    assert reasons(await propose(handlers, "6999", "R-2"), "unknown-account") == [
        "account 6999 is not in the books' chart of accounts"
    ]
    assert books.reads == 2


async def test_books_that_hang_do_not_hold_the_proposal_and_the_read_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A first chart read that does not answer (Fiken hung, or a company's one request at a
    time queued behind executions) held every proposal of the tenant until the books'
    own deadline; now a proposal waits CHART_WAIT_SECONDS, is scored without the check, and
    the read goes on: what it reads is kept for the proposals after it."""
    monkeypatch.setattr(handlers_module, "CHART_WAIT_SECONDS", 0.05)
    books = GatedChart(CHART, held=True)
    handlers = handlers_with(books)
    result = await asyncio.wait_for(propose(handlers, "6999", "R-1"), 2)
    assert reasons(result, "unknown-account") == []
    assert "did not answer within 0.05 s" in caplog.text
    books.gate.set()
    for _ in range(100):
        if handlers._charts.get(AGENT.tenant_id) is not None:
            break
        await asyncio.sleep(0.01)
    later = await propose(handlers, "6999", "R-2")
    assert reasons(later, "unknown-account") == [
        "account 6999 is not in the books' chart of accounts"
    ]
    assert books.reads == 1  # not cancelled, not read again


@given(st.decimals(min_value=0, max_value=1, places=2))
def test_an_unknown_account_is_never_auto_approved_whatever_the_score(value: Decimal) -> None:
    decision = decide(
        DEFAULT_RULES,
        kind=Kind.RECEIPT_ATTACHMENT,
        score=value,
        approved_pattern=True,
        duplicate_suspected=False,
        amount=Decimal("100"),
        unknown_account=True,
    )
    assert decision.rule == "unknown-account"
    assert decision.outcome.value == "awaiting_review"


def test_the_reason_lowers_the_score() -> None:
    data = receipt(account_code="6999", date=dt.date(2026, 11, 18))
    clean = score(data, ScoringContext(), DEFAULT_RULES)
    flagged = score(data, ScoringContext(unknown_accounts=("6999",)), DEFAULT_RULES)
    assert flagged.score < clean.score
    assert [r.signal for r in flagged.reasons].count("unknown-account") == 1


async def test_a_reviewer_correcting_to_an_unknown_account_is_refused_before_approval() -> None:
    """A typo in the reviewer's correction ("6360" for "6300") would be approved, refused by
    Fiken and end FAILED for good: it is refused at once instead, and nothing is decided."""
    handlers = handlers_with(Books())
    proposed = await propose(handlers, "6540")
    with pytest.raises(InvalidCorrection, match="6999 is not in the books' chart of accounts"):
        await handlers.approve(
            ApproveProposal(
                principal=REVIEWER,
                proposal_id=proposed.stream_id,
                corrections=Corrections(account_code="6999"),
            )
        )
    approved = await handlers.approve(
        ApproveProposal(
            principal=REVIEWER,
            proposal_id=proposed.stream_id,
            corrections=Corrections(account_code="6800"),
        )
    )
    assert approved.proposal.status.value == "APPROVED"
    assert approved.proposal.account_code == "6800"


async def test_a_correction_is_not_refused_when_the_chart_cannot_be_read() -> None:
    handlers = handlers_with(Books(error=ExternalUnavailable("fiken is down", system="fiken")))
    proposed = await propose(handlers, "6540")
    approved = await handlers.approve(
        ApproveProposal(
            principal=REVIEWER,
            proposal_id=proposed.stream_id,
            corrections=Corrections(account_code="6999"),
        )
    )
    assert approved.proposal.account_code == "6999"


async def test_a_decided_proposal_is_still_a_conflict_whatever_the_correction() -> None:
    handlers = handlers_with(Books())
    proposed = await propose(handlers, "6540")
    decide = ApproveProposal(principal=REVIEWER, proposal_id=proposed.stream_id)
    await handlers.approve(decide)
    with pytest.raises(ProposalNotPending):
        await handlers.approve(
            msgspec.structs.replace(decide, corrections=Corrections(account_code="6999"))
        )


async def correction_of_an_executed_receipt(books: Books, account: str) -> tuple[Handlers, Any]:
    """An executed receipt on 6540 and a CorrectionProposed moving it to `account`."""
    uow = MemoryUnitOfWorkFactory()
    handlers = handlers_with(books, uow)
    original = await propose(handlers, "6540")
    await handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=original.stream_id))
    await execute(uow, original.stream_id)
    changes = Corrections(account_code=account)
    data = CorrectionData(
        target_proposal_id=str(original.stream_id), reason="feil konto", changes=changes
    )
    correction = await handlers.submit(
        SubmitEvent(type="CorrectionProposed", data=data, principal=AGENT)
    )
    return handlers, correction


async def test_a_correction_to_an_account_the_chart_lacks_is_a_reason() -> None:
    """The account a CorrectionProposed moves a cost to is checked as a proposal's own is."""
    _, correction = await correction_of_an_executed_receipt(Books(), "6999")
    assert reasons(correction, "unknown-account") == [
        "account 6999 is not in the books' chart of accounts"
    ]
    _, known = await correction_of_an_executed_receipt(Books(), "6800")
    assert reasons(known, "unknown-account") == []


async def test_approving_a_correction_to_an_account_the_chart_lacks_is_refused() -> None:
    """It would be approved, executed against the books (Fiken refuses the account: FAILED
    for good; the sandbox posts it) and the ledger would carry the account: refused as a
    reviewer's correction to it is, and nothing is decided."""
    handlers, correction = await correction_of_an_executed_receipt(Books(), "6999")
    decide = ApproveProposal(principal=OTHER_REVIEWER, proposal_id=correction.stream_id)
    with pytest.raises(InvalidCorrection, match="6999 is not in the books' chart of accounts"):
        await handlers.approve(decide)
    rejected = await handlers.reject(
        RejectProposal(principal=OTHER_REVIEWER, proposal_id=correction.stream_id, reason="typo")
    )
    assert rejected.proposal.status.value == "REJECTED"
    handlers, correction = await correction_of_an_executed_receipt(Books(), "6800")
    approved = await handlers.approve(
        ApproveProposal(principal=OTHER_REVIEWER, proposal_id=correction.stream_id)
    )
    assert approved.proposal.status.value == "APPROVED"


async def test_a_correction_is_approved_when_the_chart_cannot_be_read() -> None:
    books = Books(error=ExternalUnavailable("fiken is down", system="fiken"))
    handlers, correction = await correction_of_an_executed_receipt(books, "6999")
    approved = await handlers.approve(
        ApproveProposal(principal=OTHER_REVIEWER, proposal_id=correction.stream_id)
    )
    assert approved.proposal.status.value == "APPROVED"
