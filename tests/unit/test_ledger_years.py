"""The ledger's reports across financial years (in memory): the trial balance's opening
balance, movement, carried result and closing balance, and the general ledger's opening and
running balance, by the rule of statements.carry_forward — an income-statement account
opens each year at zero, the earlier result is in 2050."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService, TrialBalance
from bookkeeper.application.ports import UnitOfWorkFactory
from tests.unit.conftest import VIEWER, FixedClock, credit, debit, principal

D = Decimal
ACCOUNTANT = principal("anna", "accountant")

#: Two years: 2025 ends with a profit of 600 (3000: 1000 revenue, 6300: 400 rent) that no
#: closing entry moved; 2050 has a line of its own in each year.
ENTRIES = [
    (dt.date(2025, 3, 1), [debit("1920", "1000"), credit("3000", "1000")]),
    (dt.date(2025, 6, 10), [debit("6300", "400"), credit("1920", "400")]),
    (dt.date(2025, 9, 1), [debit("1920", "200"), credit("2050", "200")]),
    (dt.date(2026, 2, 1), [debit("1920", "500"), credit("3000", "500")]),
    (dt.date(2026, 3, 1), [debit("1920", "50"), credit("2050", "50")]),
    (dt.date(2026, 5, 15), [debit("6300", "400"), credit("1920", "400")]),
    (dt.date(2026, 8, 20), [debit("1500", "300"), credit("3000", "300")]),
]


async def two_years(factory: UnitOfWorkFactory, clock: FixedClock) -> LedgerService:
    service = LedgerService(factory, clock, UuidV7Ids(), RoleAuthorizer())
    for day, lines in ENTRIES:
        await service.post_manual(ACCOUNTANT, day, "Postering", lines)
    return service


def columns(report: TrialBalance) -> dict[str, tuple[str, str, str, str, str]]:
    return {
        a.account: (str(a.opening), str(a.debit), str(a.credit), str(a.carried), str(a.closing))
        for a in report.accounts
    }


def check_columns(report: TrialBalance) -> None:
    """Opening + movement + carried = closing per account; every column balances."""
    for a in report.accounts:
        assert a.opening + a.debit - a.credit + a.carried == a.closing
        assert a.balance == a.debit - a.credit
    assert report.debit == report.credit
    assert report.opening == report.carried == report.closing == 0
    assert report.opening == sum((a.opening for a in report.accounts), D(0))


@pytest.fixture
async def service(uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock) -> LedgerService:
    return await two_years(uow_factory, clock)


async def test_a_period_in_the_middle_of_a_year_opens_with_the_years_turnover(
    service: LedgerService,
) -> None:
    report = await service.trial_balance(VIEWER, dt.date(2026, 5, 1), dt.date(2026, 6, 30))
    assert columns(report) == {
        "1920": ("1350.00", "0.00", "400.00", "0.00", "950.00"),
        # 2025's profit of 600 is equity: 2050 opens with it and its own 250.
        "2050": ("-850.00", "0.00", "0.00", "0.00", "-850.00"),
        # 2026's revenue before May only; 2025's 1000 is not there.
        "3000": ("-500.00", "0.00", "0.00", "0.00", "-500.00"),
        # 2025's rent is gone; the account opens at zero and shows May's.
        "6300": ("0.00", "400.00", "0.00", "0.00", "400.00"),
    }
    check_columns(report)


async def test_a_period_across_a_year_end_carries_the_ended_years_result(
    service: LedgerService,
) -> None:
    report = await service.trial_balance(VIEWER, dt.date(2025, 7, 1), dt.date(2026, 6, 30))
    assert columns(report) == {
        "1920": ("600.00", "750.00", "400.00", "0.00", "950.00"),
        "2050": ("0.00", "0.00", "250.00", "-600.00", "-850.00"),
        "3000": ("-1000.00", "0.00", "500.00", "1000.00", "-500.00"),
        "6300": ("400.00", "400.00", "0.00", "-400.00", "400.00"),
    }
    check_columns(report)


async def test_the_whole_books_open_at_zero_and_close_in_the_last_year(
    service: LedgerService,
) -> None:
    report = await service.trial_balance(VIEWER, None, None)
    assert columns(report) == {
        "1500": ("0.00", "300.00", "0.00", "0.00", "300.00"),
        "1920": ("0.00", "1750.00", "800.00", "0.00", "950.00"),
        "2050": ("0.00", "0.00", "250.00", "-600.00", "-850.00"),
        "3000": ("0.00", "0.00", "1800.00", "1000.00", "-800.00"),
        "6300": ("0.00", "800.00", "0.00", "-400.00", "400.00"),
    }
    check_columns(report)
    # The turnover columns are those of before: debit, credit and their difference.
    assert [str(a.balance) for a in report.accounts] == [
        "300.00",
        "950.00",
        "-250.00",
        "-1800.00",
        "800.00",
    ]


async def test_a_year_closes_in_its_own_year(service: LedgerService) -> None:
    report = await service.trial_balance(VIEWER, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert columns(report) == {
        "1920": ("0.00", "1200.00", "400.00", "0.00", "800.00"),
        "2050": ("0.00", "0.00", "200.00", "0.00", "-200.00"),
        "3000": ("0.00", "0.00", "1000.00", "0.00", "-1000.00"),
        "6300": ("0.00", "400.00", "0.00", "0.00", "400.00"),
    }
    check_columns(report)


async def test_a_period_after_the_last_line_shows_the_balances_it_opens_with(
    service: LedgerService,
) -> None:
    report = await service.trial_balance(VIEWER, dt.date(2027, 1, 1), None)
    # A new year: 2026's result (3000: 800, 6300: 400) is equity too.
    assert columns(report) == {
        "1500": ("300.00", "0.00", "0.00", "0.00", "300.00"),
        "1920": ("950.00", "0.00", "0.00", "0.00", "950.00"),
        "2050": ("-1250.00", "0.00", "0.00", "0.00", "-1250.00"),
    }
    assert (report.debit, report.credit) == (D(0), D(0))
    check_columns(report)


# --- the general ledger -----------------------------------------------------------------


async def test_an_income_account_opens_the_year_at_zero_in_the_general_ledger(
    service: LedgerService,
) -> None:
    january = await service.general_ledger(VIEWER, "6300", dt.date(2026, 1, 1), None)
    assert (january.opening_balance, january.closing_balance) == (D(0), D(400))
    spring = await service.general_ledger(
        VIEWER, "3000", dt.date(2026, 5, 1), dt.date(2026, 12, 31)
    )
    assert spring.opening_balance == D(-500)
    assert [str(i.balance) for i in spring.lines] == ["-800.00"]
    nothing = await service.general_ledger(
        VIEWER, "6300", dt.date(2026, 1, 1), dt.date(2026, 3, 31)
    )
    assert (nothing.lines, nothing.opening_balance, nothing.closing_balance) == ([], 0, 0)
    # A balance-sheet account still opens with everything before.
    bank = await service.general_ledger(VIEWER, "1920", dt.date(2026, 1, 1), None)
    assert bank.opening_balance == D(800)


@pytest.mark.parametrize("limit", [1, 2, 50])
async def test_the_running_balance_starts_again_in_a_new_year(
    service: LedgerService, limit: int
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = await service.general_ledger(VIEWER, "3000", None, None, cursor, limit)
        seen += [str(i.balance) for i in page.lines]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["-1000.00", "-500.00", "-800.00"]
    assert page.closing_balance == D(-800)


@pytest.mark.parametrize("limit", [1, 50])
async def test_2050_takes_in_the_ended_years_result(service: LedgerService, limit: int) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = await service.general_ledger(VIEWER, "2050", None, None, cursor, limit)
        seen += [str(i.balance) for i in page.lines]
        cursor = page.next_cursor
        if cursor is None:
            break
    # 2026's first line: 2025's own −200, its profit −600, and the line's −50.
    assert seen == ["-200.00", "-850.00"]
    assert page.closing_balance == D(-850)
    later = await service.general_ledger(VIEWER, "2050", dt.date(2027, 1, 1), None)
    assert (later.opening_balance, later.closing_balance) == (D(-1250), D(-1250))
    spring = await service.general_ledger(VIEWER, "2050", dt.date(2026, 5, 1), None)
    assert spring.opening_balance == D(-850)


async def test_the_general_ledger_closes_where_the_trial_balance_does(
    service: LedgerService,
) -> None:
    for start, end in [
        (None, None),
        (dt.date(2025, 7, 1), dt.date(2026, 6, 30)),
        (dt.date(2026, 5, 1), None),
        (None, dt.date(2025, 12, 31)),
    ]:
        report = await service.trial_balance(VIEWER, start, end)
        for a in report.accounts:
            page = await service.general_ledger(VIEWER, a.account, start, end, limit=500)
            assert (page.opening_balance, page.closing_balance) == (a.opening, a.closing)
