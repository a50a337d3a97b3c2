"""ADR 0056 addendum: a card-paid receipt (or an expense) of a service bought from abroad
— a USD/EUR SaaS receipt without Norwegian VAT — is reverse charge as an invoice is: the
flag on ReceiptAttachment / ExpenseRegistration, proposed by the same rule, booked under
86 (87 without a deduction right), the confidence explanation saying why."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from bookkeeper.application import messages as m
from bookkeeper.application.execution.bank_actions import vat_note
from bookkeeper.application.execution.books_actions import purchase_lines
from bookkeeper.domain.confidence import ScoringContext, score
from bookkeeper.domain.events import (
    Corrections,
    ExpenseRegistrationData,
    LineItem,
    ReceiptAttachmentData,
)
from bookkeeper.domain.proposals import InvalidProposal, apply_corrections, normalise, validate
from bookkeeper.domain.review import DEFAULT_RULES
from bookkeeper.domain.rules import compliance_findings
from tests.unit.reverse_charge import DAY, TABLE, Row, posting, rows

D = Decimal


def _receipt(**changes: object) -> ReceiptAttachmentData:
    data = ReceiptAttachmentData(
        merchant_name="GitHub, Inc.",
        amount=D("400.00"),
        date=DAY,
        vat_rate=D("0"),
        vat_amount=D("0.00"),
        account_code="6540",
        folio_event_id="evt-1",
        reverse_charge=True,
    )
    return msgspec.structs.replace(data, **changes) if changes else data


def _expense(**changes: object) -> ExpenseRegistrationData:
    data = ExpenseRegistrationData(
        employee="per",
        amount=D("400.00"),
        date=DAY,
        category="software",
        vat_rate=D("0"),
        vat_amount=D("0.00"),
        account_code="6540",
        merchant_name="Amazon Web Services EMEA SARL",
        reverse_charge=True,
    )
    return msgspec.structs.replace(data, **changes) if changes else data


def _lines(data: object) -> list[Row]:
    entry = posting(data)
    assert compliance_findings(entry, table=TABLE) == []
    return rows(entry)


def test_a_card_paid_foreign_service_is_booked_with_reverse_charge() -> None:
    assert _lines(_receipt()) == [
        ("6540", "400.00", "0.00", "86", "base"),
        ("2700", "0.00", "100.00", "86", "tax"),
        ("2710", "100.00", "0.00", "86", "tax"),
        ("1920", "0.00", "400.00", None, None),
    ]
    assert _lines(_receipt(reverse_charge=msgspec.UNSET)) == [
        ("6540", "400.00", "0.00", "0", "base"),
        ("1920", "0.00", "400.00", None, None),
    ]
    # On an account without a deduction right: 87, the cost carries the VAT.
    assert _lines(_receipt(account_code="7350"))[:3] == [
        ("7350", "400.00", "0.00", "87", "base"),
        ("2700", "0.00", "100.00", "87", "tax"),
        ("7350", "100.00", "0.00", None, None),
    ]


def test_an_expense_is_booked_and_sent_to_fiken_as_reverse_charge() -> None:
    assert _lines(_expense())[:3] == [
        ("6540", "400.00", "0.00", "86", "base"),
        ("2700", "0.00", "100.00", "86", "tax"),
        ("2710", "100.00", "0.00", "86", "tax"),
    ]
    [line] = purchase_lines(_expense(), TABLE)
    assert (line.vat_type, line.net, line.vat) == (
        "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
        D("400.00"),
        D(0),
    )


def test_a_reverse_charge_receipt_carries_no_vat_of_its_seller() -> None:
    validate(_receipt())
    validate(_expense())
    with pytest.raises(InvalidProposal, match="reverse-charge"):
        validate(_receipt(vat_rate=D("25"), vat_amount=D("80.00")))
    with pytest.raises(InvalidProposal, match="reverse-charge"):
        validate(_expense(vat_rate=D("25"), vat_amount=D("80.00")))
    parts = (
        LineItem(description="a", amount=D("200.00"), vat_rate=D("0")),
        LineItem(description="b", amount=D("200.00"), vat_rate=D("25")),
    )
    with pytest.raises(InvalidProposal, match="reverse-charge"):
        validate(_receipt(line_items=parts, vat_rate=D("25"), vat_amount=D("40.00")))


def test_the_reviewer_turns_it_on_and_off_on_a_receipt() -> None:
    plain = _receipt(reverse_charge=msgspec.UNSET)
    on = apply_corrections(plain, Corrections(reverse_charge=True))
    assert isinstance(on, ReceiptAttachmentData) and on.reverse_charge is True
    off = apply_corrections(on, Corrections(reverse_charge=False))
    assert isinstance(off, ReceiptAttachmentData) and off.reverse_charge is msgspec.UNSET
    assert b"reverseCharge" not in msgspec.json.encode(normalise(off))
    expense = apply_corrections(
        _expense(reverse_charge=msgspec.UNSET), Corrections(reverse_charge=True)
    )
    assert isinstance(expense, ExpenseRegistrationData) and expense.reverse_charge is True


def test_a_receipt_without_the_flag_is_encoded_as_before() -> None:
    assert b"reverseCharge" not in msgspec.json.encode(_receipt(reverse_charge=msgspec.UNSET))
    assert b"reverseCharge" not in msgspec.json.encode(_expense(reverse_charge=msgspec.UNSET))


def test_the_confidence_explanation_says_why_in_norwegian() -> None:
    for data in (_receipt(), _expense()):
        result = score(data, ScoringContext(), DEFAULT_RULES)
        [reason] = [r for r in result.reasons if r.signal == "reverse-charge"]
        assert reason.effect == 0
        assert "86" in reason.detail and "abroad" in reason.detail
        said = m.sentence(reason.detail, m.NORWEGIAN)
        assert said.startswith("tjeneste kjøpt fra utlandet"), said
    result = score(_receipt(account_code="7350"), ScoringContext(), DEFAULT_RULES)
    [reason] = [r for r in result.reasons if r.signal == "reverse-charge"]
    assert "87" in reason.detail
    assert "87" in m.sentence(reason.detail, m.NORWEGIAN)
    plain = score(_receipt(reverse_charge=msgspec.UNSET), ScoringContext(), DEFAULT_RULES)
    assert not [r for r in plain.reasons if r.signal == "reverse-charge"]
    assert plain.score == score(_receipt(), ScoringContext(), DEFAULT_RULES).score


def test_the_bank_events_note_says_reverse_charge() -> None:
    note = vat_note(_receipt())
    assert "omvendt avgiftsplikt" in note.lower() and "86" in note
