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
    # What is not yet closed into equity: the annual result less what 88–89 allocated.
    assert sheet.unallocated_result == statement.result - statement.dispositions


@given(balanced_totals())
def test_every_result_account_lands_in_exactly_one_group(totals: dict[str, Decimal]) -> None:
    statement = income_statement(totals.items(), no_names)
    shown = [line.account for g in statement.groups for line in g.lines]
    assert len(shown) == len(set(shown))
    expected = {c for c, b in totals.items() if account_class(c) in set("345678") and b != 0}
    assert set(shown) == expected
    assert statement.result_before_tax == statement.operating_result + statement.financial_items
    assert statement.result == statement.result_before_tax - statement.tax


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
        "tax": Decimal("0.00"),
        "dispositions": Decimal("0.00"),
    }
    assert statement.groups[0].lines[0].name == "Salgsinntekt"
    assert statement.result == Decimal("322.00")
    assert account_class("2400:20001") == "2"
    assert account_class("ABC") is None
    sheet = balance_sheet([("9000", Decimal("1")), ("X1", Decimal("-1"))], no_names)
    assert [line.account for line in sheet.unclassified] == ["9000", "X1"]


def test_tax_is_below_the_result_before_tax_and_dispositions_after_the_annual_result() -> None:
    """NS 4102 / SAF-T grouping: 80–82 financial items, 83xx tax cost (skattekostnad),
    88xx–89xx the annual result's transfers and dispositions (resultatDisponering)."""
    totals = [
        ("3000", Decimal("-1000")),  # revenue
        ("6300", Decimal("200")),  # costs
        ("8050", Decimal("-10")),  # interest income
        ("8150", Decimal("30")),  # interest cost
        ("8300", Decimal("171.60")),  # tax payable on the ordinary result
        ("8800", Decimal("608.40")),  # annual result transferred …
        ("2050", Decimal("-608.40")),  # … to other equity
        ("2500", Decimal("-171.60")),  # tax payable
        ("1920", Decimal("780")),  # what came in, net
    ]
    statement = income_statement(totals, no_names)
    by_key = {g.key: g for g in statement.groups}
    assert [line.account for line in by_key["financialItems"].lines] == ["8050", "8150"]
    assert [line.account for line in by_key["tax"].lines] == ["8300"]
    assert [line.account for line in by_key["dispositions"].lines] == ["8800"]
    assert statement.operating_result == Decimal("800.00")
    assert statement.financial_items == Decimal("-20.00")
    assert statement.result_before_tax == Decimal("780.00")
    assert statement.tax == Decimal("171.60")
    assert statement.result == Decimal("608.40")  # neither the tax nor 8800 as a financial item
    assert statement.dispositions == Decimal("608.40")  # shown, not subtracted
    sheet = balance_sheet(totals, no_names)
    assert sheet.unallocated_result == Decimal("0.00")  # closed into equity
    assert sheet.total_assets == sheet.total_equity_and_liabilities
