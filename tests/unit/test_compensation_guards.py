"""A reversal or correction has no amount of its own: the review rules weigh what it moves
(its target's amount, a correction's larger before or after), so that a tenant that lets
them be approved automatically still never has one above its automatic limit or its
two-approver threshold approved by the rules. And it has no department of its own: it is
its target's, so another department's pair cannot correct a booking and approve it."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.ports import Principal
from bookkeeper.domain.approval import DepartmentMismatch
from bookkeeper.domain.events import Kind, Status
from bookkeeper.domain.review import ReviewRules
from tests.unit.external_doubles import TENANT, Harness, correction, expense

#: A tenant that lets compensations be approved by the rules, up to 1000.00 kr.
LOOSE = ReviewRules(
    auto_approvable_kinds=frozenset({Kind.CORRECTION, Kind.REVERSAL}),
    auto_approve_requires_pattern=False,
    auto_approve_above=Decimal("0"),
    review_recommended_from=Decimal("0"),
    max_auto_amount=Decimal("1000.00"),
)


async def _executed_expense(h: Harness, amount: str) -> uuid.UUID:
    target = await h.approved(expense(amount=Decimal(amount)))
    await h.executor.run_once()
    assert (await h.view(target)).status is Status.EXECUTED
    h.memory.db.rules[TENANT] = LOOSE
    return target


async def test_a_correction_raising_the_amount_is_weighed_at_the_corrected_amount() -> None:
    h = Harness()
    target = await _executed_expense(h, "448.00")
    raised = await h.propose(correction(target, amount=Decimal("900000.00")))
    view = await h.view(raised)
    assert (view.status, view.review_rule) == (Status.PROPOSED, "above-auto-approval-limit")


async def test_a_correction_lowering_a_large_amount_is_weighed_at_the_original() -> None:
    h = Harness()
    target = await _executed_expense(h, "20000.00")
    lowered = await h.propose(correction(target, amount=Decimal("10.00")))
    view = await h.view(lowered)
    assert (view.status, view.review_rule) == (Status.PROPOSED, "above-auto-approval-limit")


async def test_a_small_correction_is_still_the_tenants_to_approve_automatically() -> None:
    h = Harness()
    target = await _executed_expense(h, "448.00")
    moved = await h.propose(correction(target, account_code="7100"))
    assert (await h.view(moved)).status is Status.APPROVED


# --- a compensation belongs to its target's department ------------------------------------


def _person(subject: str, role: str, department: str | None = None) -> Principal:
    attributes = {"department": department} if department else {}
    return Principal(
        subject=subject, tenant_id=TENANT, roles=frozenset({role}), attributes=attributes
    )


async def _booked_by(h: Harness, proposer: Principal, approver: Principal) -> uuid.UUID:
    h.memory.db.rules[TENANT] = ReviewRules(departments=True)
    made = await h.handlers.submit(
        SubmitEvent(type="ExpenseRegistrationProposed", data=expense(), principal=proposer)
    )
    await h.handlers.approve(ApproveProposal(principal=approver, proposal_id=made.stream_id))
    await h.executor.run_once()
    assert (await h.view(made.stream_id)).status is Status.EXECUTED
    return made.stream_id


async def _corrected_by(h: Harness, target: uuid.UUID, corrector: Principal) -> uuid.UUID:
    made = await h.handlers.submit(
        SubmitEvent(
            type="CorrectionProposed",
            data=correction(target, amount=Decimal("9000.00")),
            principal=corrector,
        )
    )
    return made.stream_id


async def test_another_department_cannot_correct_and_approve_a_departments_booking() -> None:
    h = Harness()
    sales = await _booked_by(
        h, _person("siri", "accountant", "sales"), _person("per", "reviewer", "sales")
    )
    # Two people of IT: one proposes raising sales' expense, the other approves it.
    pid = await _corrected_by(h, sales, _person("ida", "accountant", "it"))
    with pytest.raises(DepartmentMismatch, match="of 'sales'"):
        await h.handlers.approve(
            ApproveProposal(principal=_person("ada", "reviewer", "it"), proposal_id=pid)
        )
    approved = await h.handlers.approve(
        ApproveProposal(principal=_person("per", "reviewer", "sales"), proposal_id=pid)
    )
    assert approved.proposal.status is Status.APPROVED


async def test_a_correction_of_the_agents_booking_is_decided_tenant_wide() -> None:
    h = Harness()
    agents = await _booked_by(h, _person("book-e", "agent"), _person("kari", "reviewer"))
    pid = await _corrected_by(h, agents, _person("ida", "accountant", "it"))
    with pytest.raises(DepartmentMismatch, match="of no department"):
        await h.handlers.approve(
            ApproveProposal(principal=_person("ada", "reviewer", "it"), proposal_id=pid)
        )
    approved = await h.handlers.approve(
        ApproveProposal(principal=_person("kari", "reviewer"), proposal_id=pid)
    )
    assert approved.proposal.status is Status.APPROVED
