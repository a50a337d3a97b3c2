"""The NS 4102 default accounts and the choice between an applied pattern and them."""

from __future__ import annotations

from decimal import Decimal

from bookkeeper.domain.accounts import (
    DEFAULT_ACCOUNTS,
    DEFAULT_VAT_RATE,
    PATTERN_CATEGORY,
    choose_account,
    default_account,
)
from bookkeeper.domain.patterns import MatchKind, Pattern, normalise_merchant


def pattern(merchant: str, account: str, vat_rate: str = "25") -> Pattern:
    return Pattern(
        merchant_key=normalise_merchant(merchant),
        merchant_name=merchant,
        account_code=account,
        vat_rate=Decimal(vat_rate),
        suggestion_id="s-1",
    )


def test_the_default_table() -> None:
    assert default_account("Ruter AS", Decimal("12")).account == "7140"
    assert default_account("Scandic Hotels", Decimal("12")).category == "travel"
    assert default_account("Rema 1000", Decimal("15")).account == "5990"
    assert default_account("Telia Norge", Decimal("25")).account == "6900"
    assert default_account(None, Decimal("25")).account == "7790"
    assert default_account("Some Shop", Decimal("0")).category == "other"


def test_a_keyword_of_the_merchant_wins_over_the_vat_rate() -> None:
    assert default_account("Adobe Systems Software Ireland Ltd", Decimal("15")).account == "6540"
    assert default_account("Vy Tog AS", Decimal("25")).category == "travel"
    # Whole words only: "Icebreaker" is not "ice".
    assert default_account("Icebreaker", Decimal("25")) is DEFAULT_ACCOUNTS[-1]


def test_without_a_pattern_the_default_row_books_the_document() -> None:
    choice = choose_account("Telenor Norge AS", Decimal("25"), [])
    assert (choice.account_code, choice.category, choice.vat_rate) == ("6900", "telecom", 25)
    assert not choice.vat_rate_assumed
    assert choice.pattern is None


def test_an_applied_pattern_sets_the_account_and_the_missing_vat_rate() -> None:
    patterns = [pattern("Adobe", "6553", "12")]
    choice = choose_account("Adobe Systems Software Ireland Ltd", None, patterns)
    assert (choice.account_code, choice.category) == ("6553", PATTERN_CATEGORY)
    assert choice.vat_rate == Decimal("12") and not choice.vat_rate_assumed
    assert choice.pattern is not None and choice.pattern.kind is MatchKind.EXACT
    # The rate read from the document wins over the pattern's.
    assert choose_account("Adobe", Decimal("25"), patterns).vat_rate == Decimal("25")


def test_no_rate_read_and_no_pattern_assumes_the_default_rate() -> None:
    choice = choose_account("Some Shop", None, [pattern("Adobe", "6553")])
    assert choice.vat_rate == DEFAULT_VAT_RATE and choice.vat_rate_assumed
    assert (choice.account_code, choice.category) == ("7790", "other")
    unnamed = choose_account(None, None, [pattern("Adobe", "6553")])
    assert unnamed.pattern is None and unnamed.account_code == "7790"


def test_equipment_chains_office_suppliers_and_more_subscriptions() -> None:
    """Reading probe 6: an Elkjøp or Clas Ohlson receipt went to 7790 "Annen kostnad", an
    AWS or Canva invoice too; equipment, office supplies and software have accounts."""
    assert default_account("Elkjøp Norge AS", Decimal("25")).account == "6540"
    assert default_account("Clas Ohlson AS", Decimal("25")).category == "equipment"
    assert default_account("Biltema Norge AS", Decimal("25")).account == "6540"
    assert default_account("Nordvik Kontorservice AS", Decimal("25")).account == "6800"
    assert default_account("Amazon Web Services EMEA SARL", Decimal("0")).category == "software"
    assert default_account("Canva Pty Ltd", Decimal("25")).account == "6540"
