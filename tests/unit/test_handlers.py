"""Command handlers through in-memory ports: the stories, idempotency, isolation, replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.errors import (
    ConcurrencyConflict,
    Forbidden,
    IdempotencyConflict,
    NotFound,
)
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import EventFilter, ProposalFilter
from bookkeeper.application.queries import Queries
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.errors import (
    InvalidCorrection,
    InvalidProposal,
    NotCompensable,
    ProposalNotPending,
    SelfApprovalNotAllowed,
)
from bookkeeper.domain.events import (
    BalanceQueriedData,
    CorrectionData,
    Corrections,
    InvoiceRegistrationData,
    PatternSuggestionData,
    ReceiptAttachmentData,
    ReversalData,
    Status,
)
from bookkeeper.domain.review import Outcome
from tests.unit.conftest import (
    AGENT,
    FOREIGN_REVIEWER,
    OTHER_REVIEWER,
    REVIEWER,
    VIEWER,
    FixedClock,
)
from tests.unit.conftest import adobe_receipt_data as receipt


def submit(data: object, **kwargs: object) -> SubmitEvent:
    type_name = {
        ReceiptAttachmentData: "ReceiptAttachmentProposed",
        PatternSuggestionData: "PatternSuggested",
        InvoiceRegistrationData: "InvoiceRegistrationProposed",
        ReversalData: "ReversalProposed",
        CorrectionData: "CorrectionProposed",
        BalanceQueriedData: "BalanceQueried",
    }[type(data)]
    kwargs.setdefault("principal", AGENT)
    return SubmitEvent(type=type_name, data=data, **kwargs)  # type: ignore[arg-type]


async def learn_pattern(handlers: Handlers, merchant: str = "Adobe", account: str = "6540") -> None:
    suggested = await handlers.submit(
        submit(
            PatternSuggestionData(merchant=merchant, account_code=account, vat_rate=Decimal("25"))
        )
    )
    assert suggested.decision.outcome is Outcome.AWAITING_REVIEW
    decided = await handlers.approve(
        ApproveProposal(principal=REVIEWER, proposal_id=suggested.stream_id)
    )
    assert decided.proposal.status is Status.EXECUTED


async def test_story_1_known_receipt_is_auto_approved(handlers: Handlers, queries: Queries) -> None:
    await learn_pattern(handlers)
    result = await handlers.submit(submit(receipt()))
    assert result.decision.outcome is Outcome.AUTO_APPROVED
    assert result.confidence is not None and result.confidence.score == Decimal("0.95")
    assert result.status is Status.APPROVED
    history = await queries.correlation(VIEWER, result.correlation_id)
    assert [e.type for e in history] == ["ReceiptAttachmentProposed", "ReceiptAttachmentApproved"]
    assert history[1].actor == "system:review-rules"
    assert history[1].parent_id == history[0].id
    assert history[0].metadata["review"]["rule"] == "auto-approve-known-pattern"


async def test_a_known_receipt_whose_bank_payment_another_holds_goes_to_a_reviewer(
    handlers: Handlers,
) -> None:
    """Approved automatically only as a reviewer could approve it: a second document
    matched to the same card payment (not a copy: another amount, date and number, so
    no duplicate by amount) would be refused to a reviewer (bank-event-taken), so it is
    not approved by the rules either — it waits, as the duplicate of the holder."""
    await learn_pattern(handlers)
    first = await handlers.submit(submit(receipt()))
    assert first.decision.outcome is Outcome.AUTO_APPROVED

    second = await handlers.submit(
        submit(
            receipt(
                amount=Decimal("249.00"),
                vat_amount=Decimal("49.80"),
                document_number="R-9",
                date=dt.date(2026, 11, 2),
            )
        )
    )
    assert second.decision.outcome is Outcome.AWAITING_REVIEW
    assert second.status is Status.PROPOSED
    assert second.confidence is not None
    assert second.confidence.duplicate_of[0] == str(first.stream_id)

    # A receipt of its own card payment: approved by the rules as before.
    third = await handlers.submit(
        submit(
            receipt(
                amount=Decimal("99.00"),
                vat_amount=Decimal("19.80"),
                document_number="R-10",
                date=dt.date(2026, 11, 5),
                folio_event_id="ev-2",
            )
        )
    )
    assert third.decision.outcome is Outcome.AUTO_APPROVED


async def test_story_2_new_merchant_waits_then_learns(handlers: Handlers, queries: Queries) -> None:
    first = await handlers.submit(submit(receipt("Kaffebrenneriet Grünerløkka")))
    assert first.decision.outcome is Outcome.AWAITING_REVIEW
    assert first.confidence is not None and first.confidence.score < Decimal("0.7")
    queue = await queries.proposals(VIEWER, ProposalFilter(statuses=(Status.PROPOSED,)))
    assert [p.id for p in queue] == [first.stream_id]
    decided = await handlers.approve(
        ApproveProposal(
            principal=REVIEWER,
            proposal_id=first.stream_id,
            corrections=Corrections(account_code="6810"),
        )
    )
    assert decided.proposal.account_code == "6810"
    assert decided.proposal.corrections == {"accountCode": "6810"}
    await learn_pattern(handlers, "Kaffebrenneriet Grünerløkka", "6810")
    nxt = await handlers.submit(
        submit(
            receipt(
                "KAFFEBRENNERIET GRÜNERLØKKA AS",
                account_code="6810",
                date=dt.date(2026, 12, 5),
                document_number="R-2",
                folio_event_id="ev-2",  # its own card payment (ev-1 paid the first)
            )
        )
    )
    assert nxt.decision.outcome is Outcome.AUTO_APPROVED
    assert [p.merchant_name for p in await queries.patterns(VIEWER)] == [
        "Kaffebrenneriet Grünerløkka"
    ]


async def test_story_3_invoices_are_always_reviewed(handlers: Handlers) -> None:
    await learn_pattern(handlers, "Leverandør", "6300")
    invoice = InvoiceRegistrationData(
        supplier="Leverandør AS",
        amount=Decimal("12500.00"),
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        vat_rate=Decimal("25"),
        account_code="6300",
        invoice_number="F-77",
        supplier_org_number="923609016",
    )
    result = await handlers.submit(submit(invoice))
    assert result.decision.outcome is Outcome.AWAITING_REVIEW
    assert result.decision.rule == "always-review-invoice_registration"


async def test_story_4_rejection_records_the_reason(handlers: Handlers, queries: Queries) -> None:
    result = await handlers.submit(submit(receipt("Ukjent")))
    rejected = await handlers.reject(
        RejectProposal(principal=REVIEWER, proposal_id=result.stream_id, reason="Not our purchase")
    )
    assert rejected.proposal.status is Status.REJECTED
    assert rejected.proposal.rejection_reason == "Not our purchase"
    with pytest.raises(ProposalNotPending):
        await handlers.approve(
            ApproveProposal(principal=OTHER_REVIEWER, proposal_id=result.stream_id)
        )


async def test_queries_are_recorded_without_review(handlers: Handlers, queries: Queries) -> None:
    result = await handlers.submit(submit(BalanceQueriedData(accounts=())))
    assert result.decision.outcome is Outcome.RECORDED
    assert result.status is Status.EXECUTED
    assert await queries.proposals(VIEWER, ProposalFilter()) == []
    [event] = await queries.events(VIEWER, EventFilter(types=("BalanceQueried",)))
    assert event.actor == "book-e"


async def test_idempotency_key_returns_the_original_result(
    handlers: Handlers, queries: Queries
) -> None:
    first = await handlers.submit(submit(receipt(), idempotency_key="abc"))
    again = await handlers.submit(submit(receipt(), idempotency_key="abc"))
    assert again.replayed and again.event_id == first.event_id
    assert again.confidence == first.confidence and again.decision == first.decision
    assert len(await queries.events(VIEWER, EventFilter())) == 1
    with pytest.raises(IdempotencyConflict):
        await handlers.submit(submit(receipt(amount=Decimal("200.00")), idempotency_key="abc"))


async def test_concurrent_same_key_has_one_effect(handlers: Handlers, queries: Queries) -> None:
    results = await asyncio.gather(
        *(handlers.submit(submit(receipt(), idempotency_key="same")) for _ in range(10))
    )
    assert len({r.event_id for r in results}) == 1
    assert len(await queries.events(VIEWER, EventFilter())) == 1


async def test_supplied_event_id_reused_by_another_tenant_is_a_conflict(handlers: Handlers) -> None:
    event_id = uuid.uuid4()
    await handlers.submit(submit(receipt(), event_id=event_id))
    foreign_agent = AGENT.__class__(
        subject="book-e", tenant_id="globex", roles=frozenset({"agent"})
    )
    with pytest.raises(IdempotencyConflict):
        await handlers.submit(submit(receipt(), event_id=event_id, principal=foreign_agent))


async def test_duplicate_document_is_suspected(handlers: Handlers) -> None:
    await learn_pattern(handlers)
    await handlers.submit(submit(receipt()))
    again = await handlers.submit(
        submit(receipt(date=dt.date(2026, 11, 21), document_number="R-9"))
    )
    assert again.confidence is not None and again.confidence.duplicate_of
    assert again.decision.outcome is Outcome.AWAITING_REVIEW


async def test_tenants_are_isolated(handlers: Handlers, queries: Queries) -> None:
    result = await handlers.submit(submit(receipt("Ukjent")))
    with pytest.raises(NotFound):
        await handlers.approve(
            ApproveProposal(principal=FOREIGN_REVIEWER, proposal_id=result.stream_id)
        )
    foreign_view = FOREIGN_REVIEWER
    assert await queries.events(foreign_view, EventFilter()) == []
    with pytest.raises(NotFound):
        await queries.event(foreign_view, result.event_id)
    with pytest.raises(NotFound):
        await queries.correlation(foreign_view, result.correlation_id)


async def test_roles_limit_what_a_principal_may_do(handlers: Handlers) -> None:
    with pytest.raises(Forbidden):
        await handlers.submit(submit(receipt(), principal=VIEWER))
    result = await handlers.submit(submit(receipt("Ukjent")))
    with pytest.raises(Forbidden):
        await handlers.approve(ApproveProposal(principal=AGENT, proposal_id=result.stream_id))


async def test_proposer_cannot_approve_own_proposal(handlers: Handlers) -> None:
    result = await handlers.submit(
        submit(
            receipt("Ukjent"),
            principal=REVIEWER.__class__(
                subject="kari", tenant_id="acme", roles=frozenset({"accountant"})
            ),
        )
    )
    with pytest.raises(SelfApprovalNotAllowed):
        await handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=result.stream_id))


async def test_concurrent_approvals_give_one_winner(handlers: Handlers, queries: Queries) -> None:
    result = await handlers.submit(submit(receipt("Ukjent")))
    outcomes = await asyncio.gather(
        *(
            handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=result.stream_id))
            for _ in range(50)
        ),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(
        isinstance(o, ConcurrencyConflict | ProposalNotPending)
        for o in outcomes
        if isinstance(o, BaseException)
    )
    approvals = await queries.events(VIEWER, EventFilter(statuses=(Status.APPROVED,)))
    assert len(approvals) == 1


async def execute(uow_factory: MemoryUnitOfWorkFactory, proposal_id: uuid.UUID) -> None:
    """Stand-in for the executor of a later issue: approved → executed through the aggregate."""
    from bookkeeper.application.ports import NewEvent
    from bookkeeper.application.projections import fold_proposal
    from bookkeeper.domain.proposals import Proposal

    async with uow_factory() as uow:
        events = await uow.events.read_stream("acme", proposal_id)
        proposal = Proposal.rehydrate(str(proposal_id), events)
        proposal.record_executed(actor="system:executor", external_ids={"purchaseId": "1"})
        pending = proposal.pending[-1]
        new = NewEvent(
            id=uuid.uuid4(),
            type=pending.type,
            schema_version=1,
            status=pending.status,
            actor=pending.actor,
            data=pending.data,
            metadata={},
            parent_id=events[-1].id,
            correlation_id=events[0].correlation_id,
            created_at=events[-1].created_at,
        )
        recorded = await uow.events.append("acme", proposal_id, len(events), [new])
        view = fold_proposal([*events, *recorded])
        assert view is not None
        await uow.proposals.upsert(view)
        await uow.commit()


async def test_story_6_reversal_of_an_executed_action(
    handlers: Handlers, queries: Queries, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    original = await handlers.submit(submit(receipt("Ukjent")))
    with pytest.raises(NotCompensable):
        await handlers.submit(
            submit(ReversalData(target_proposal_id=str(original.stream_id), reason="wrong"))
        )
    await handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=original.stream_id))
    await execute(uow_factory, original.stream_id)
    reversal = await handlers.submit(
        submit(ReversalData(target_proposal_id=str(original.stream_id), reason="booked twice"))
    )
    assert reversal.decision.outcome is Outcome.AWAITING_REVIEW
    assert reversal.correlation_id == original.correlation_id
    with pytest.raises(InvalidProposal, match="in progress"):
        await handlers.submit(
            submit(
                CorrectionData(
                    target_proposal_id=str(original.stream_id),
                    reason="x",
                    changes=Corrections(account_code="6810"),
                )
            )
        )
    history = await queries.correlation(VIEWER, original.correlation_id)
    assert [e.type for e in history][-1] == "ReversalProposed"
    view = await queries.proposal(VIEWER, reversal.stream_id)
    assert view.target_proposal_id == original.stream_id


async def test_correction_must_fit_the_target(
    handlers: Handlers, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    original = await handlers.submit(submit(receipt("Ukjent")))
    await handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=original.stream_id))
    await execute(uow_factory, original.stream_id)
    with pytest.raises(InvalidCorrection):
        await handlers.submit(
            submit(
                CorrectionData(
                    target_proposal_id=str(original.stream_id),
                    reason="x",
                    changes=Corrections(due_date=dt.date(2026, 12, 1)),
                )
            )
        )
    with pytest.raises(NotFound):
        await handlers.submit(
            submit(ReversalData(target_proposal_id=str(uuid.uuid4()), reason="x"))
        )


async def test_a_correction_of_the_rate_alone_must_say_the_vat_it_leaves(
    handlers: Handlers, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    """The receipt states 39,80 kr VAT (25 % of 199,00): a correction to 15 % alone booked
    those 39,80 kr as 15 % input VAT. Refused naming the VAT that fits; with it, proposed."""
    original = await handlers.submit(submit(receipt("Ukjent")))
    await handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=original.stream_id))
    await execute(uow_factory, original.stream_id)
    target = str(original.stream_id)
    with pytest.raises(InvalidProposal, match="25,96 kr"):
        await handlers.submit(
            submit(
                CorrectionData(
                    target_proposal_id=target,
                    reason="15 %",
                    changes=Corrections(vat_rate=Decimal("15")),
                )
            )
        )
    fixed = await handlers.submit(
        submit(
            CorrectionData(
                target_proposal_id=target,
                reason="15 %",
                changes=Corrections(vat_rate=Decimal("15"), vat_amount=Decimal("25.96")),
            )
        )
    )
    assert fixed.decision.outcome is Outcome.AWAITING_REVIEW


async def test_approval_rate_report(handlers: Handlers, queries: Queries) -> None:
    await learn_pattern(handlers)
    await handlers.submit(submit(receipt()))
    pending = await handlers.submit(submit(receipt("Ukjent A")))
    rejected = await handlers.submit(submit(receipt("Ukjent B")))
    await handlers.reject(
        RejectProposal(principal=REVIEWER, proposal_id=rejected.stream_id, reason="no")
    )
    report = await queries.approval_rate(VIEWER, None, None)
    assert (
        report.proposed,
        report.approved,
        report.auto_approved,
        report.rejected,
        report.pending,
    ) == (4, 2, 1, 1, 1)
    assert report.approval_rate == Decimal("0.6667")
    assert pending.stream_id


async def test_replay_rebuilds_identical_projections(
    handlers: Handlers, uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    await learn_pattern(handlers)
    for i in range(5):
        clock.advance(minutes=7)
        result = await handlers.submit(
            # Each its own purchase, paid by its own bank transaction (ADR 0051 addendum).
            submit(receipt(f"Butikk {i}", document_number=f"D{i}", folio_event_id=f"ev-{i}"))
        )
        if i % 2:
            await handlers.approve(
                ApproveProposal(
                    principal=REVIEWER,
                    proposal_id=result.stream_id,
                    corrections=Corrections(vat_rate=Decimal("15")),
                )
            )
    await handlers.submit(submit(receipt()))
    live = (dict(uow_factory.db.proposals), dict(uow_factory.db.patterns))
    report = await rebuild_projections(uow_factory)
    assert report.proposals == 7
    assert (uow_factory.db.proposals, uow_factory.db.patterns) == live


@pytest.mark.parametrize(
    ("subject", "actor"),
    [
        ("book-e", "book-e"),
        ("review-e", "review-e"),
        ("system:cron", "system:cron"),
        ("kari", "human:kari"),
        ("system:review-rules", "human:system:review-rules"),
        ("system:patterns", "human:system:patterns"),
    ],
)
def test_no_token_can_write_as_an_internal_actor(subject: str, actor: str) -> None:
    assert AGENT.__class__(subject=subject, tenant_id="acme", roles=frozenset()).actor == actor


async def test_nul_in_a_query_record_is_refused(handlers: Handlers) -> None:
    from bookkeeper.domain.events import AccountBalance

    data = BalanceQueriedData(accounts=(AccountBalance(account="1920\x00", balance=Decimal(1)),))
    with pytest.raises(InvalidProposal, match="NUL"):
        await handlers.submit(submit(data))


def test_an_organisation_numbers_digits_are_ascii_digits_only() -> None:
    from bookkeeper.application.handlers import _digits

    assert _digits("NO 923 609 016 MVA") == "923609016"
    # Other scripts' digits are not an organisation number's (str.isdigit takes them).
    assert _digits("٩٢٣٦٠٩٠١٦") == ""
    assert _digits("９２３６０９０１６") == ""
