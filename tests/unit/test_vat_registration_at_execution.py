"""The executor asks the tenant's VAT registration when it carries out a purchase (ADR
0056 addendum 6): approved with VAT while the company was registered and executed after it
left the register, the purchase is refused for good before any remote call (FAILED, said
in Norwegian, for a person to review); approved at 0 % while it was not registered and
executed after it registered, it is booked as approved."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from bookkeeper.application.failures import explain_failure
from bookkeeper.domain.events import Status
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.vat_registration import NOT_VAT_REGISTERED
from tests.unit.external_doubles import Harness, correction, expense, invoice


async def _registered(harness: Harness, registered: bool, tenant: str = "acme") -> None:
    async with harness.uow_factory() as uow:
        await uow.settings.save_review_rules(
            tenant, ReviewRules(vat_registered=registered), harness.clock.now()
        )
        await uow.commit()


@pytest.mark.parametrize("data", [invoice(), expense()], ids=["invoice", "expense"])
async def test_a_purchase_with_vat_approved_before_the_company_left_the_register_fails(
    data: Any,
) -> None:
    h = Harness()
    proposal_id = await h.approved(data)
    await _registered(h, False)  # the company left the register after the approval

    report = await h.executor.run_once()

    assert report.failed == 1
    view = await h.view(proposal_id)
    assert view.status is Status.FAILED
    assert view.last_error is not None and NOT_VAT_REGISTERED in view.last_error
    assert h.world.books("acme").live_purchases() == []  # nothing sent to Fiken
    assert await h.postings() == []  # and no input VAT in the ledger
    said = explain_failure(view.last_error, "nb", kind=view.kind)
    assert "mva-registrert" in said


async def test_a_correction_booking_vat_after_the_company_left_the_register_fails() -> None:
    h = Harness()
    target = await h.approved(expense(vat_rate=D("0"), vat_amount=D("0")))
    await h.executor.run_once()
    assert (await h.view(target)).status is Status.EXECUTED
    fixed = await h.approved(
        correction(target, account_code="7100", vat_rate=D("12"), vat_amount=D("48.00"))
    )
    await _registered(h, False)

    await h.executor.run_once()

    view = await h.view(fixed)
    assert view.status is Status.FAILED
    assert view.last_error is not None and NOT_VAT_REGISTERED in view.last_error


async def test_a_purchase_at_zero_approved_before_the_company_registered_is_booked() -> None:
    h = Harness()
    await _registered(h, False)
    proposal_id = await h.approved(invoice(vat_rate=D("0")))
    await _registered(h, True)  # registered after the approval: gross at 0 % stays right

    await h.executor.run_once()

    assert (await h.view(proposal_id)).status is Status.EXECUTED
    assert len(h.world.books("acme").live_purchases()) == 1


async def test_a_registered_company_still_books_its_input_vat() -> None:
    h = Harness()
    proposal_id = await h.approved(invoice())
    await h.executor.run_once()
    assert (await h.view(proposal_id)).status is Status.EXECUTED
