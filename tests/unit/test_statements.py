"""Income statement and balance sheet: NS 4102 grouping and the balancing invariant."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.domain.statements import (
    account_class,
    balance_sheet,
    carry_forward,
    income_statement,
)
from tests.http_helpers import FixedClock
from tests.unit.conftest import credit, debit, principal

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


@given(balanced_totals(), balanced_totals())
def test_carrying_earlier_results_forward_keeps_the_ledger_balanced(
    now: dict[str, Decimal], earlier: dict[str, Decimal]
) -> None:
    """Each income-statement account loses what it held before the year, 2050 gains the
    sum, and the ledger still balances: no result of an earlier year is unallocated."""
    carried = carry_forward(now, earlier)
    assert sum(carried.values(), Decimal(0)) == sum(now.values(), Decimal(0))
    moved = Decimal(0)
    for code, balance in now.items():
        if account_class(code) in set("345678"):
            moved += earlier.get(code, Decimal(0))
            assert carried[code] == balance - earlier.get(code, Decimal(0))
        elif code != "2050":
            assert carried[code] == balance
    result_earlier = sum(
        (b for c, b in earlier.items() if account_class(c) in set("345678")), Decimal(0)
    )
    assert carried.get("2050", Decimal(0)) == now.get("2050", Decimal(0)) + result_earlier


async def test_the_balance_sheet_after_an_unclosed_year_shows_its_result_in_equity() -> None:
    """2025 earned 1000 and was never closed: at mid-2026 the balance sheet shows it in
    2050 Annen egenkapital and only 2026's result (a 300 cost) as unallocated."""
    accountant = principal("anna", "accountant")
    clock = FixedClock(dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC))
    ledger = LedgerService(MemoryUnitOfWorkFactory(), clock, UuidV7Ids(), RoleAuthorizer())
    await ledger.post_manual(
        accountant, dt.date(2025, 5, 1), "Salg", (debit("1920", "1000"), credit("3000", "1000"))
    )
    await ledger.post_manual(
        accountant, dt.date(2026, 3, 1), "Husleie", (debit("6300", "300"), credit("1920", "300"))
    )
    for at in (dt.date(2026, 6, 30), None):
        sheet = await ledger.balance_sheet(accountant, at)
        assert sheet.unallocated_result == Decimal("-300.00")
        equity = next(g for g in sheet.groups if g.key == "equityAndLiabilities")
        assert [(line.account, line.amount) for line in equity.lines] == [
            ("2050", Decimal("1000.00"))
        ]
        assert sheet.total_assets == sheet.total_equity_and_liabilities == Decimal("700.00")
    year_end = await ledger.balance_sheet(accountant, dt.date(2025, 12, 31))
    assert year_end.unallocated_result == Decimal("1000.00")
    assert [g.lines for g in year_end.groups if g.key == "equityAndLiabilities"] == [[]]
