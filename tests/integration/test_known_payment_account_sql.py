"""Issue 13 on SQLite and PostgreSQL: the supplier's known payment account is read from its
earlier approved invoices in the `proposals` projection (a bounded read of the data JSON)."""

from __future__ import annotations

import pytest

from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.domain.review import Outcome
from tests.unit.external_doubles import Harness, agent, invoice

ACCOUNT_A = "8601.11.17947"
ACCOUNT_B = "1503.12.34567"


@pytest.mark.parametrize(
    "uow_factory", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_an_invoice_to_another_account_than_the_approved_one_waits_with_the_reason(
    uow_factory: UnitOfWorkFactory,
) -> None:
    h = Harness(uow_factory=uow_factory)
    await h.approved(invoice(invoice_number="F-1", payment_account=ACCOUNT_A))

    async def submit(number: str, account: str) -> tuple[str, list[str]]:
        result = await h.handlers.submit(
            SubmitEvent(
                type="InvoiceRegistrationProposed",
                data=invoice(invoice_number=number, payment_account=account),
                principal=agent("acme"),
            )
        )
        assert result.decision is not None and result.confidence is not None
        assert result.decision.outcome is Outcome.AWAITING_REVIEW
        reasons = [r.detail for r in result.confidence.reasons if r.signal == "payment-account"]
        return result.decision.rule, reasons

    rule, reasons = await submit("F-2", ACCOUNT_B)
    assert rule == "payment-account-changed"
    assert len(reasons) == 1 and ACCOUNT_A in reasons[0] and ACCOUNT_B in reasons[0]
    rule, reasons = await submit("F-3", ACCOUNT_A)
    assert rule == "always-review-invoice_registration" and reasons == []
