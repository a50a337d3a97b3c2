"""Money reads the same wherever people see it: two decimals, the Norwegian way."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.application import messages
from bookkeeper.domain import money
from bookkeeper.domain.confidence import ScoringContext, score
from bookkeeper.domain.events import Kind
from bookkeeper.domain.review import DEFAULT_RULES, ReviewRules, decide
from tests.unit.conftest import adobe_receipt_data as receipt

_SHOWN = re.compile(r"^-?\d{1,3}( \d{3})*,\d{2} (kr|[A-Z]{3})$")
#: A bare amount with a decimal point and fewer or more than two decimals ("-180.2").
_RAW = re.compile(r"-?\d+\.\d(?!\d)|\d+\.\d{3,}")

amounts = st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, places=4)


@given(amounts)
def test_every_amount_has_two_decimals_and_reads_back(amount: Decimal) -> None:
    text = money.kroner_text(amount)
    assert _SHOWN.match(text), text
    number = text.removesuffix(" kr").replace(" ", "").replace(",", ".")
    assert Decimal(number) == money.round_kr(amount)


def test_the_december_card_transaction_reads_with_its_cents() -> None:
    assert money.kroner_text(Decimal("-180.2")) == "-180,20 kr"
    assert messages.kroner(Decimal("-180.2")) == "-180,20 kr"
    assert money.kroner_text(Decimal("12.5"), "eur") == "12,50 EUR"


def test_confidence_reasons_show_amounts_with_two_decimals() -> None:
    data = receipt(amount=Decimal("180.2"), vat_amount=Decimal("36.04"))
    reasons = " ".join(r.detail for r in score(data, ScoringContext(), DEFAULT_RULES).reasons)
    assert "180,20 kr" in reasons
    assert not _RAW.search(reasons), reasons


def test_review_explanation_shows_the_limit_with_two_decimals() -> None:
    rules = ReviewRules(max_auto_amount=Decimal("100"))
    decision = decide(
        rules,
        kind=Kind.RECEIPT_ATTACHMENT,
        score=Decimal("0.99"),
        approved_pattern=True,
        duplicate_suspected=False,
        amount=Decimal("180.2"),
    )
    assert decision.rule == "above-auto-approval-limit"
    assert "180,20 kr" in (decision.explanation or "")
    assert "100,00 kr" in (decision.explanation or "")


def test_dates_for_people_are_written_as_in_norway() -> None:
    import datetime as dt

    from bookkeeper.application.messages import date_text

    assert date_text(dt.date(2026, 1, 5)) == "05.01.2026"
    assert date_text(dt.date(2026, 11, 20)) == "20.11.2026"


def test_an_amount_without_its_unit_is_the_kroner_text_without_kr() -> None:
    """The morning summary's columns headed "(NOK)" (domain.money.amount_text)."""
    assert money.amount_text(Decimal("1234.5")) == "1 234,50"
    assert money.amount_text(Decimal("-180.2")) == "-180,20"
    assert money.amount_text(Decimal("1000000")) == "1 000 000,00"
    assert money.amount_text(Decimal("Infinity")) == "Infinity"
    for value in ("0", "0.005", "-0.004", "99999.999"):
        amount = Decimal(value)
        assert money.kroner_text(amount) == money.amount_text(amount) + " kr"
        assert money.kroner_text(amount, "EUR") == money.amount_text(amount) + " EUR"
