"""VAT arithmetic and øre conversion."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.domain import money

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2)
rates = st.sampled_from(sorted(money.NORWEGIAN_VAT_RATES))


def test_vat_of_a_199_kroner_receipt_at_25_percent_is_39_80() -> None:
    assert money.vat_of_gross(Decimal("199.00"), Decimal("25")) == Decimal("39.80")
    assert money.net_of_gross(Decimal("199.00"), Decimal("25")) == Decimal("159.20")


def test_vat_rounds_half_up_to_ore() -> None:
    # 0.05 × 15/115 = 0.0065217… → 0.01
    assert money.vat_of_gross(Decimal("0.05"), Decimal("15")) == Decimal("0.01")


def test_vat_is_consistent_within_one_krone_only() -> None:
    assert money.vat_consistent(Decimal("199"), Decimal("25"), Decimal("40.79"))
    assert not money.vat_consistent(Decimal("199"), Decimal("25"), Decimal("41.00"))


def test_ore_conversion_of_known_values() -> None:
    assert money.to_ore(Decimal("1000")) == 100000
    assert money.to_ore(Decimal("0.005")) == 1
    assert money.from_ore(19900) == Decimal("199.00")


@given(amounts, rates)
def test_net_plus_vat_is_exactly_the_gross(gross: Decimal, rate: Decimal) -> None:
    assert money.net_of_gross(gross, rate) + money.vat_of_gross(gross, rate) == gross


@given(amounts)
def test_ore_round_trips(amount: Decimal) -> None:
    assert money.from_ore(money.to_ore(amount)) == amount


@given(amounts, rates)
def test_vat_never_exceeds_the_gross_and_is_never_negative(gross: Decimal, rate: Decimal) -> None:
    vat = money.vat_of_gross(gross, rate)
    assert Decimal(0) <= vat <= gross
