"""Which bank event pays a document: amount, currency, date window, merchant text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

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


def test_a_short_bank_name_leading_the_documents_name_pays() -> None:
    """The bank shows the brand ("Vy", "SAS"), the receipt the company ("Vygruppen AS",
    "SAS Scandinavian Airlines"): with the amount to the øre and the date, the same payment."""
    vy = Payable(gross=Decimal("416.56"), currency="NOK", date=DAY, merchant="Vygruppen AS")
    train = card_event(amount=Decimal("-416.56"), merchant_name="Vy", description="Vy togbillett")
    assert pays(train, vy)
    sas = Payable(
        gross=Decimal("1290.00"), currency="NOK", date=DAY, merchant="SAS Scandinavian Airlines"
    )
    assert pays(card_event(amount=Decimal("-1290.00"), merchant_name="SAS", description="x"), sas)
    # Still a merchant check: another name, or one letter only, is not the same merchant.
    assert not pays(card_event(amount=Decimal("-416.56"), merchant_name="Ruter"), vy)
    assert not pays(card_event(amount=Decimal("-416.56"), merchant_name="V", description="V"), vy)
    assert not merchant_matches("vygruppen", card_event(merchant_name="Vyrk", description="x"))


@pytest.mark.parametrize(
    ("document", "descriptor"),
    [
        ("Adobe Systems Software Ireland Ltd", "PAYPAL *ADOBESYSTEM"),
        ("Rema 1000 Norge AS", "NETS*REMA 1000 GRUNERLOK"),
        ("Ruter AS", "Vipps*Ruter"),
        ("Vygruppen AS", "VIPPS *VY"),
        ("Bakeriet Mitt AS", "SQ *BAKERIET MITT"),
        ("Adobe Systems Software Ireland Ltd", "ADOBE *CREATIVE CLOUD"),
        ("Finn.no AS", "WWW.FINN.NO"),
        ("Amazon Web Services EMEA SARL", "AWS EMEA"),
        ("Scandinavian Airlines System", "SAS 1172345678"),
    ],
)
def test_a_card_descriptor_names_its_merchant_either_side_of_its_star_or_by_initials(
    document: str, descriptor: str
) -> None:
    """Card networks print `FACILITATOR *MERCHANT` or `MERCHANT *PRODUCT`, a web shop's
    address, or the merchant's initials: a receipt from the merchant is paid by it, by
    the merchant name or the description alike."""
    payable = Payable(gross=Decimal("199.00"), currency="NOK", date=DAY, merchant=document)
    assert pays(card_event(merchant_name=descriptor, description="Varekjøp"), payable)
    assert pays(card_event(merchant_name=None, description=descriptor), payable)


@pytest.mark.parametrize(
    ("document", "descriptor"),
    [
        ("Adobe Systems Software Ireland Ltd", "PAYPAL *SPOTIFY"),
        ("Rema 1000 Norge AS", "NETS*KIWI 123 SANDAKER"),
        ("Ruter AS", "Vipps*Vy"),
        ("Amazon Web Services EMEA SARL", "AMBITA AS"),
        ("Telenor Norge AS", "WWW.TELIA.NO"),
        ("Apotek 1 Storo", "A1S"),  # initials need letters, three or more of them
        ("Circle K Norge AS", "CKN"),  # "circle k": two words, not three initials
    ],
)
def test_neither_side_of_a_descriptor_naming_another_merchant_pays(
    document: str, descriptor: str
) -> None:
    payable = Payable(gross=Decimal("199.00"), currency="NOK", date=DAY, merchant=document)
    assert not pays(card_event(merchant_name=descriptor, description="Varekjøp"), payable)
    assert not pays(card_event(merchant_name=None, description=descriptor), payable)


def test_a_foreign_receipt_is_paid_by_its_merchants_nok_payment_in_the_window() -> None:
    """A USD receipt paid by card from a NOK account: the bank shows kroner (ADR 0051).
    Without a rate the amounts say nothing about each other; merchant, date and money out
    do. With a rate, the NOK gross within the card's share."""
    usd = Payable(
        gross=Decimal("16.24"), currency="USD", date=DAY, merchant="Adobe Systems Ireland Ltd"
    )
    paid = card_event(amount=Decimal("-181.62"))
    assert pays(paid, usd)
    assert best_payment([paid], usd) is paid
    assert not pays(card_event(amount=Decimal("181.62")), usd)  # money in
    assert not pays(
        card_event(amount=Decimal("-181.62"), merchant_name="Telenor", description="Telenor"), usd
    )
    assert not pays(card_event(amount=Decimal("-181.62"), date=DAY + dt.timedelta(days=4)), usd)
    assert not pays(card_event(amount=Decimal("-181.62"), currency="EUR"), usd)
    at_rate = Payable(
        gross=usd.gross, currency="USD", date=DAY, merchant=usd.merchant, nok_gross=Decimal("180")
    )
    assert pays(paid, at_rate)
    assert not pays(card_event(amount=Decimal("-250.00")), at_rate)


def test_a_foreign_receipt_without_a_rate_takes_no_payment_when_several_could_be_it() -> None:
    """Without a rate the amount cannot choose: two Adobe payments lacking a receipt in the
    window leave the receipt to its reviewer (the wrong one would be its NOK amount)."""
    usd = Payable(gross=Decimal("16.24"), currency="USD", date=DAY, merchant="Adobe")
    one = card_event(id="tx-1", amount=Decimal("-181.62"))
    other = card_event(id="tx-2", amount=Decimal("-2090.00"), date=DAY)
    assert best_payment([one, other], usd) is None
    attached = (BankAttachment(id="a-1", filename="r.pdf"),)
    done = card_event(id="tx-2", amount=Decimal("-2090.00"), attachments=attached)
    assert best_payment([one, done], usd) is one  # the other has its receipt already
    at_rate = Payable(
        gross=usd.gross, currency="USD", date=DAY, merchant="Adobe", nok_gross=Decimal("180")
    )
    assert best_payment([one, other], at_rate) is one  # the rate tells them apart
