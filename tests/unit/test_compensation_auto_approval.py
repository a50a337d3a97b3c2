"""A reversal or correction has no amount of its own: the review rules weigh what it moves
(its target's amount, a correction's larger before or after), so that a tenant that lets
them be approved automatically still never has one above its automatic limit or its
two-approver threshold approved by the rules."""

from __future__ import annotations

from decimal import Decimal

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


async def _executed_expense(h: Harness, amount: str) -> object:
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
