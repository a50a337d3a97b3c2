"""Which bank event pays a document: amount, currency, date window, merchant text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bookkeeper.application.ports import BankAttachment
from bookkeeper.domain.bank_matching import (
    WINDOW_DAYS,
    Payable,
    best_payment,
    merchant_matches,
    pays,
    window,
)
from tests.unit.pipeline_doubles import DAY, card_event

ADOBE = Payable(
    gross=Decimal("199.00"),
    currency="NOK",
    date=DAY,
    merchant="Adobe Systems Software Ireland Ltd",
)


def test_the_window_is_three_days_either_side() -> None:
    assert WINDOW_DAYS == 3
    assert window(DAY) == (dt.date(2026, 11, 17), dt.date(2026, 11, 23))


def test_money_out_of_exactly_the_gross_amount_in_the_currency_pays() -> None:
    assert pays(card_event(), ADOBE)
    assert pays(card_event(currency="nok"), ADOBE)
    assert not pays(card_event(amount=Decimal("199.00")), ADOBE)  # money in
    assert not pays(card_event(amount=Decimal("-199.01")), ADOBE)
    assert not pays(card_event(currency="EUR"), ADOBE)


def test_only_within_the_window() -> None:
    assert pays(card_event(date=DAY - dt.timedelta(days=WINDOW_DAYS)), ADOBE)
    assert pays(card_event(date=DAY + dt.timedelta(days=WINDOW_DAYS)), ADOBE)
    assert not pays(card_event(date=DAY + dt.timedelta(days=WINDOW_DAYS + 1)), ADOBE)
    assert not pays(card_event(date=DAY - dt.timedelta(days=WINDOW_DAYS + 1)), ADOBE)


def test_the_merchant_by_name_or_description() -> None:
    key = "adobe"
    assert merchant_matches(key, card_event())
    assert merchant_matches(key, card_event(merchant_name=None))  # the description names it
    assert merchant_matches(key, card_event(merchant_name="Adobee", description="x"))  # near
    assert not merchant_matches(key, card_event(merchant_name=None, description="Telenor"))
    assert not merchant_matches(key, card_event(merchant_name="", description=""))
    assert not pays(card_event(merchant_name="Telenor", description="Telenor mobil"), ADOBE)


def test_the_best_payment_lacks_a_receipt_then_is_nearest_then_has_the_lowest_id() -> None:
    attached = (BankAttachment(id="a-1", filename="r.pdf"),)
    near_with_file = card_event(id="tx-1", date=DAY, attachments=attached)
    far = card_event(id="tx-2", date=DAY + dt.timedelta(days=2))
    as_near = card_event(id="tx-4", date=DAY - dt.timedelta(days=1))
    tie = card_event(id="tx-3", date=DAY + dt.timedelta(days=1))
    wrong = card_event(id="tx-0", date=DAY, amount=Decimal("-200.00"))
    assert best_payment([near_with_file, far, as_near, tie, wrong], ADOBE) is tie
    assert best_payment([near_with_file, far], ADOBE) is far
    assert best_payment([near_with_file], ADOBE) is near_with_file
    assert best_payment([wrong], ADOBE) is None
    assert best_payment([], ADOBE) is None
