"""Income statement and balance sheet from account totals, grouped by NS 4102 classes.

NS 4102 (the Norwegian standard chart of accounts) gives every account's class by its first
digit: 1 assets, 2 equity and liabilities, 3 operating revenue, 4 cost of goods, 5 payroll,
6–7 other operating costs, 8 financial items, tax and dispositions. Class 8 is split by its
first two digits as NS 4102 and SAF-T's grouping codes (næringsspesifikasjon: finansinntekt
8000–8099, finanskostnad 8100–8299, skattekostnad 8300–8799, resultatDisponering
8800–8999; adapters/saft/groupings.py) split it: 80–82 are the financial items of the
result before tax; 83–87 the tax cost, subtracted below it to give the annual result
(årsresultat); 88–89 the annual result's transfers and dispositions (to other equity,
dividends), shown after it and never counted as a cost. A sub-ledger code ("2400:20001")
belongs to the group of its main account. Codes that are not numeric or of another class
(9, or none) are "unclassified" and listed apart, so nothing is silently dropped.

Across financial years (the calendar year): an income-statement account opens each year
at zero and earlier years' unclosed result is equity in RETAINED_EARNINGS (`carry_forward`);
`period_balances` gives the trial balance's opening, turnover, carried result and closing
by that rule (ADR 0062 addendum "years").

Signs are the ones a reader expects: revenue and financial income positive, costs positive
(they are subtracted), assets positive, equity and liabilities positive. Every balance in
the ledger is debit − credit, so the credit-normal groups flip it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Final

import msgspec

from bookkeeper.domain import money

ZERO: Final = Decimal("0.00")


class GroupSpec(msgspec.Struct, frozen=True):
    key: str
    title: str  # Norwegian, as the report heads it
    #: The leading digits of the main accounts in the group ("3" class 3, "83" 83xx).
    classes: frozenset[str]
    #: +1 when a debit balance shows positive (costs, assets), −1 for credit-normal groups.
    sign: int


INCOME_GROUPS: Final = (
    GroupSpec("revenue", "Driftsinntekter", frozenset("3"), -1),
    GroupSpec("costOfGoods", "Varekostnad", frozenset("4"), 1),
    GroupSpec("payroll", "Lønnskostnad", frozenset("5"), 1),
    GroupSpec("otherOperatingCosts", "Annen driftskostnad", frozenset("67"), 1),
    GroupSpec("financialItems", "Finansposter", frozenset({"80", "81", "82"}), -1),
    GroupSpec("tax", "Skattekostnad", frozenset({"83", "84", "85", "86", "87"}), 1),
    GroupSpec("dispositions", "Overføringer og disponeringer", frozenset({"88", "89"}), 1),
)
BALANCE_GROUPS: Final = (
    GroupSpec("assets", "Eiendeler", frozenset("1"), 1),
    GroupSpec("equityAndLiabilities", "Egenkapital og gjeld", frozenset("2"), -1),
)
_RESULT_CLASSES: Final = frozenset("345678")
#: Where the result of earlier financial years is carried when no year-end closing entries
#: moved it there: 2050 Annen egenkapital (NS 4102; SAF-T grouping 2050, positive equity).
#: ADR 0020 addendum: norway.md names no account, so this is our choice.
RETAINED_EARNINGS: Final = "2050"


def is_result_account(code: str) -> bool:
    """An income-statement account (classes 3–8): it opens every financial year at zero."""
    return account_class(code) in _RESULT_CLASSES


def year_start(day: dt.date) -> dt.date:
    """The first day of the financial year holding `day` (the calendar year, norway.md)."""
    return dt.date(day.year, 1, 1)


def carry_forward(
    balances: Mapping[str, Decimal], earlier: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """`balances` (debit − credit by account) with earlier years' result in equity: each
    income-statement account less its balance before the financial year (`earlier`), and
    RETAINED_EARNINGS plus what they held, so the total is unchanged. A year that was
    closed (its result moved to equity by closing entries) leaves nothing to carry."""
    carried = {c: b for c, b in earlier.items() if is_result_account(c) and b}
    result = dict(balances)
    for code, balance in carried.items():
        result[code] = result.get(code, ZERO) - balance
    moved = sum(carried.values(), ZERO)
    if moved:
        result[RETAINED_EARNINGS] = result.get(RETAINED_EARNINGS, ZERO) + moved
    return result


class YearTotal(msgspec.Struct, frozen=True, kw_only=True):
    """One account's lines of one calendar (financial) year up to a period's end, split at
    the period's start: what came before it (debit − credit) and the debits and credits
    in it. A year wholly before the start has only `before`; one after it, none."""

    account: str
    year: int
    before: Decimal
    debit: Decimal
    credit: Decimal


class PeriodBalance(msgspec.Struct, frozen=True, kw_only=True):
    """One account in a period: opening balance (IB), the period's debits and credits,
    the result of ended years carried to equity inside the period, and the closing
    balance (UB) — opening + debit − credit + carried = closing. Balances debit − credit."""

    account: str
    opening: Decimal
    debit: Decimal
    credit: Decimal
    carried: Decimal
    closing: Decimal


def closing_year(totals: Iterable[YearTotal], start: dt.date | None, end: dt.date | None) -> int:
    """The financial year the closing balance is taken in: the end's, or for an open end
    the year of the last line in the books (not before the start's year)."""
    if end is not None:
        return end.year
    years = [t.year for t in totals]
    if start is not None:
        years.append(start.year)
    return max(years, default=0)


def period_balances(
    totals: Iterable[YearTotal], start: dt.date | None, end: dt.date | None
) -> list[PeriodBalance]:
    """Per account, by code: opening at `start` (zero for an open start: the beginning of
    the books), the debits and credits of [start, end], and closing at `end`, each as
    `carry_forward` gives it on its day — a balance-sheet account with everything before,
    an income-statement account with its own financial year's lines only, and
    RETAINED_EARNINGS with the result of every earlier year. A period crossing a year end
    moves that year's result from 3xxx–8xxx to equity: `carried`, which sums to zero. So
    the opening and closing columns each sum to zero when the ledger balances."""
    rows = list(totals)
    last_year = closing_year(rows, start, end)
    before_start: dict[str, Decimal] = {}
    before_start_year: dict[str, Decimal] = {}
    up_to_end: dict[str, Decimal] = {}
    before_end_year: dict[str, Decimal] = {}
    moved: dict[str, tuple[Decimal, Decimal]] = {}
    for t in rows:
        whole = t.before + t.debit - t.credit
        a = t.account
        before_start[a] = before_start.get(a, ZERO) + t.before
        if start is not None and t.year < start.year:
            before_start_year[a] = before_start_year.get(a, ZERO) + whole
        up_to_end[a] = up_to_end.get(a, ZERO) + whole
        if t.year < last_year:
            before_end_year[a] = before_end_year.get(a, ZERO) + whole
        debit, credit = moved.get(a, (ZERO, ZERO))
        moved[a] = (debit + t.debit, credit + t.credit)
    opening = {} if start is None else carry_forward(before_start, before_start_year)
    closing = carry_forward(up_to_end, before_end_year)
    result = []
    for account in sorted(opening.keys() | closing.keys() | moved.keys()):
        debit, credit = moved.get(account, (ZERO, ZERO))
        first, last = opening.get(account, ZERO), closing.get(account, ZERO)
        if not (first or debit or credit or last):
            continue
        result.append(
            PeriodBalance(
                account=account,
                opening=first,
                debit=debit,
                credit=credit,
                carried=last - first - (debit - credit),
                closing=last,
            )
        )
    return result


def carried_before(totals: Iterable[YearTotal]) -> Callable[[int | None], Decimal]:
    """The result (debit − credit of 3xxx–8xxx) of every year before a given one, which
    RETAINED_EARNINGS holds from that year on (None: before any year, nothing)."""
    by_year: dict[int, Decimal] = {}
    for t in totals:
        if is_result_account(t.account):
            by_year[t.year] = by_year.get(t.year, ZERO) + t.before + t.debit - t.credit

    def before(year: int | None) -> Decimal:
        if year is None:
            return ZERO
        return sum((b for y, b in by_year.items() if y < year), ZERO)

    return before


def account_class(code: str) -> str | None:
    """The NS 4102 class (first digit) of an account code, None when it is not numeric."""
    main = code.split(":", 1)[0]
    return main[0] if main.isdigit() and len(main) >= 4 else None


def _in_group(code: str, spec: GroupSpec) -> bool:
    """Whether an account (its main account) is in the group: by its class, or by its
    first two digits for the groups of class 8."""
    if account_class(code) is None:
        return False
    return any(code.startswith(prefix) for prefix in spec.classes)


class StatementLine(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    name: str | None
    amount: Decimal


class StatementGroup(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    title: str
    lines: list[StatementLine]
    total: Decimal


class IncomeStatement(msgspec.Struct, frozen=True, kw_only=True):
    groups: list[StatementGroup]
    operating_revenue: Decimal
    operating_costs: Decimal
    operating_result: Decimal
    financial_items: Decimal  # 80–82
    #: Ordinært resultat før skattekostnad: the operating result and the financial items.
    result_before_tax: Decimal
    tax: Decimal  # 83–87, a cost (positive) subtracted from the result before tax
    result: Decimal  # the annual result, after tax (positive: a profit)
    #: 88–89: what the annual result was transferred to (positive: allocated); not a cost.
    dispositions: Decimal


class BalanceSheet(msgspec.Struct, frozen=True, kw_only=True):
    groups: list[StatementGroup]
    total_assets: Decimal
    #: The result of classes 3–8 not yet closed into equity (positive: a profit): the
    #: income statement's annual result less its dispositions (88–89).
    unallocated_result: Decimal
    #: Equity and liabilities including the unallocated result.
    total_equity_and_liabilities: Decimal
    unclassified: list[StatementLine]  # balance as debit − credit


Totals = Iterable[tuple[str, Decimal]]  # (account code, balance = debit − credit)
Names = Callable[[str], str | None]


def _groups(
    specs: Iterable[GroupSpec], totals: Mapping[str, Decimal], names: Names
) -> list[StatementGroup]:
    groups = []
    for spec in specs:
        lines = [
            StatementLine(account=code, name=names(code), amount=money.round_kr(spec.sign * bal))
            for code, bal in totals.items()
            if _in_group(code, spec) and bal != 0
        ]
        total = sum((line.amount for line in lines), ZERO)
        groups.append(StatementGroup(key=spec.key, title=spec.title, lines=lines, total=total))
    return groups


def _result(totals: Mapping[str, Decimal]) -> Decimal:
    return -sum((b for c, b in totals.items() if account_class(c) in _RESULT_CLASSES), ZERO)


def income_statement(totals: Totals, names: Names) -> IncomeStatement:
    """The income statement of the period whose per-account balances are `totals`."""
    by_code = dict(totals)
    groups = _groups(INCOME_GROUPS, by_code, names)
    total = {g.key: g.total for g in groups}
    revenue = total["revenue"]
    costs = total["costOfGoods"] + total["payroll"] + total["otherOperatingCosts"]
    operating = revenue - costs
    before_tax = operating + total["financialItems"]
    return IncomeStatement(
        groups=groups,
        operating_revenue=revenue,
        operating_costs=costs,
        operating_result=operating,
        financial_items=total["financialItems"],
        result_before_tax=before_tax,
        tax=total["tax"],
        result=before_tax - total["tax"],
        dispositions=total["dispositions"],
    )


def balance_sheet(totals: Totals, names: Names) -> BalanceSheet:
    """The balance sheet from per-account balances up to a day (all classes).

    Assets equal equity and liabilities plus the unallocated result whenever the ledger
    balances and every account is classified (`unclassified` lists the rest)."""
    by_code = dict(totals)
    groups = _groups(BALANCE_GROUPS, by_code, names)
    total = {g.key: g.total for g in groups}
    result = money.round_kr(_result(by_code))
    unclassified = [
        StatementLine(account=c, name=names(c), amount=b)
        for c, b in by_code.items()
        if account_class(c) not in _RESULT_CLASSES | {"1", "2"} and b != 0
    ]
    return BalanceSheet(
        groups=groups,
        total_assets=total["assets"],
        unallocated_result=result,
        total_equity_and_liabilities=total["equityAndLiabilities"] + result,
        unclassified=unclassified,
    )
