"""A receipt is checked against the bank event it names: amount, date window, merchant."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.application.ports import BankTransaction
from bookkeeper.domain.bank_matching import (
    AMOUNT_TOLERANCE,
    CHECK_WINDOW_DAYS,
    TIP_SHARE,
    Payable,
    check_named_payment,
)
from bookkeeper.domain.confidence import ScoringContext, score
from bookkeeper.domain.events import Kind
from bookkeeper.domain.review import DEFAULT_RULES, decide
from tests.unit.conftest import adobe_receipt_data as receipt

DECEMBER = dt.date(2025, 12, 12)


def card(amount: str, date: dt.date = DECEMBER, merchant: str = "Narvesen") -> BankTransaction:
    return BankTransaction(
        id="ev-9",
        event_id="ev-9",
        date=date,
        description=f"VISA {merchant.upper()} 1234",
        amount=Decimal(amount),
        currency="NOK",
        merchant_name=merchant,
    )


def kiosk(gross: str, date: dt.date = DECEMBER, merchant: str = "Narvesen") -> Payable:
    return Payable(gross=Decimal(gross), currency="NOK", date=date, merchant=merchant)


def test_the_issue_case_is_named_on_amount_and_date() -> None:
    found = check_named_payment(card("-180.20"), kiosk("133.00", dt.date(2026, 1, 20)))
    assert [m.check for m in found] == ["amount", "date"]
    assert "133,00 kr" in found[0].detail and "-180,20 kr" in found[0].detail


def test_another_merchant_is_named() -> None:
    found = check_named_payment(card("-180.20", merchant="Rema 1000"), kiosk("180.20"))
    assert [m.check for m in found] == ["merchant"]


def test_money_in_is_never_a_receipts_payment() -> None:
    assert [m.check for m in check_named_payment(card("180.20"), kiosk("180.20"))] == ["amount"]


@given(
    gross=st.decimals(min_value=1, max_value=100000, places=2),
    share=st.decimals(min_value=0, max_value=TIP_SHARE, places=3),
    days=st.integers(-CHECK_WINDOW_DAYS, CHECK_WINDOW_DAYS),
)
def test_a_tip_or_a_few_days_later_still_agrees(gross: Decimal, share: Decimal, days: int) -> None:
    paid = (gross * (1 + share)).quantize(Decimal("0.01"))
    event = card(str(-paid), DECEMBER + dt.timedelta(days=days))
    assert check_named_payment(event, kiosk(str(gross))) == []


@given(
    gross=st.decimals(min_value=10, max_value=100000, places=2),
    off=st.decimals(min_value=Decimal("0.01"), max_value=1000, places=2),
)
def test_less_than_the_receipt_beyond_the_tolerance_disagrees(gross: Decimal, off: Decimal) -> None:
    paid = gross - AMOUNT_TOLERANCE - off
    found = check_named_payment(card(str(-paid)), kiosk(str(gross)))
    assert [m.check for m in found] == ["amount"]


def test_a_mismatch_is_a_reason_and_keeps_the_proposal_in_review() -> None:
    data = receipt()
    detail = "the receipt's 199,00 kr does not match the bank event's -250,00 kr"
    clean = score(data, ScoringContext(bank_transaction_verified=True), DEFAULT_RULES)
    checked = score(
        data,
        ScoringContext(bank_transaction_verified=True, bank_mismatches=(detail,)),
        DEFAULT_RULES,
    )
    assert [r.detail for r in checked.reasons if r.signal == "bank-mismatch"] == [detail]
    assert checked.score < clean.score
    assert not any(r.signal == "bank" and r.effect > 0 for r in checked.reasons)
    decision = decide(
        DEFAULT_RULES,
        kind=Kind.RECEIPT_ATTACHMENT,
        score=Decimal("0.99"),
        approved_pattern=True,
        duplicate_suspected=False,
        amount=data.amount,
        bank_mismatch=True,
    )
    assert decision.rule == "bank-mismatch"
    assert decision.outcome.value != "auto_approved"


class CountingBank:
    """Lists one card event (ev-9) and counts how often it was asked."""

    def __init__(self) -> None:
        self.listings = 0

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        self.listings += 1
        return [card("199.00", dt.date(2026, 11, 20), "Adobe Systems Software Ireland Ltd")]


async def test_the_propose_path_lists_the_bank_once_per_window_not_once_per_receipt() -> None:
    from bookkeeper.application.commands import SubmitEvent
    from tests.unit.conftest import AGENT, handlers_with_bank

    bank = CountingBank()
    handlers = handlers_with_bank(bank)
    for number in range(5):
        data = receipt(folio_event_id="ev-9", document_number=f"R-{number}")
        result = await handlers.submit(
            SubmitEvent(type="ReceiptAttachmentProposed", data=data, principal=AGENT)
        )
        assert result.confidence is not None
    assert bank.listings == 1  # the same window, listed once and reused
    later = receipt(folio_event_id="ev-9", date=dt.date(2026, 9, 1), document_number="R-9")
    await handlers.submit(
        SubmitEvent(type="ReceiptAttachmentProposed", data=later, principal=AGENT)
    )
    assert bank.listings == 2  # another window is listed anew
