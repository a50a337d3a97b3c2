"""Income statement and balance sheet: NS 4102 grouping and the balancing invariant."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.domain.statements import account_class, balance_sheet, income_statement

codes = st.builds(
    lambda cls, rest, sub: f"{cls}{rest:03d}" + (f":{sub}" if sub else ""),
    st.sampled_from("12345678"),
    st.integers(0, 999),
    st.one_of(st.none(), st.integers(10000, 99999)),
)
amounts = st.decimals(min_value=-100000, max_value=100000, places=2, allow_nan=False)


@st.composite
def balanced_totals(draw: st.DrawFn) -> dict[str, Decimal]:
    """Per-account balances (debit − credit) of a ledger whose debits equal its credits."""
    balances = draw(st.dictionaries(codes, amounts, min_size=1, max_size=20))
    first = next(iter(balances))
    balances[first] -= sum(balances.values(), Decimal("0.00"))
    return balances


def no_names(code: str) -> str | None:
    return None


@given(balanced_totals())
def test_assets_equal_equity_liabilities_and_the_result(totals: dict[str, Decimal]) -> None:
    sheet = balance_sheet(totals.items(), no_names)
    statement = income_statement(totals.items(), no_names)
    assert sheet.unclassified == []
    assert sheet.total_assets == sheet.total_equity_and_liabilities
    assert sheet.unallocated_result == statement.result


@given(balanced_totals())
def test_every_result_account_lands_in_exactly_one_group(totals: dict[str, Decimal]) -> None:
    statement = income_statement(totals.items(), no_names)
    shown = [line.account for g in statement.groups for line in g.lines]
    assert len(shown) == len(set(shown))
    expected = {c for c, b in totals.items() if account_class(c) in set("345678") and b != 0}
    assert set(shown) == expected
    assert statement.result == statement.operating_result + statement.financial_items


def test_classes_follow_the_first_digit_of_the_main_account() -> None:
    statement = income_statement(
        [("3000", Decimal("-500")), ("4300", Decimal("100")), ("5000", Decimal("50")),
         ("6300", Decimal("20")), ("7700", Decimal("5")), ("8150", Decimal("3")),
         ("1920", Decimal("322"))],
        lambda code: {"3000": "Salgsinntekt"}.get(code),
    )  # fmt: skip
    totals = {g.key: g.total for g in statement.groups}
    assert totals == {
        "revenue": Decimal("500.00"),
        "costOfGoods": Decimal("100.00"),
        "payroll": Decimal("50.00"),
        "otherOperatingCosts": Decimal("25.00"),
        "financialItems": Decimal("-3.00"),
    }
    assert statement.groups[0].lines[0].name == "Salgsinntekt"
    assert statement.result == Decimal("322.00")
    assert account_class("2400:20001") == "2"
    assert account_class("ABC") is None
    sheet = balance_sheet([("9000", Decimal("1")), ("X1", Decimal("-1"))], no_names)
    assert [line.account for line in sheet.unclassified] == ["9000", "X1"]
