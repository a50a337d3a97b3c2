"""A VAT return due on a Saturday, Sunday or public holiday is due the next working day.

Found by probe3's walk: the VAT report, the morning check and the chat gave 10 October
2026 (a Saturday) as the fourth term's due date, and 10 April 2023 (Easter Monday) as the
first's. Skatteetaten's rule (as Regnskap Norge and the accounting calendars state it):
"Dersom forfallet er lørdag, søndag eller helligdag, er det påfølgende arbeidsdag som er
frist for innlevering og betaling" — e.g. 31 August 2024, a Saturday, moved to Monday
2 September.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bookkeeper.domain.ledger import vat_term, vat_term_due_next
from bookkeeper.domain.workdays import is_working_day, next_working_day, norwegian_holidays


@pytest.mark.parametrize(
    ("year", "term", "due"),
    [
        (2024, 3, "2024-09-02"),  # 31 August a Saturday
        (2026, 4, "2026-10-12"),  # 10 October a Saturday
        (2027, 1, "2027-04-12"),  # a Saturday
        (2028, 5, "2028-12-11"),  # a Sunday
        (2023, 1, "2023-04-11"),  # Easter Monday
        (2020, 1, "2020-04-14"),  # Good Friday, then Easter Saturday, Sunday and Monday
        (2030, 2, "2030-06-11"),  # Whit Monday
        (2026, 5, "2026-12-10"),  # a Thursday: as it is
        (2026, 6, "2027-02-10"),  # a Wednesday: as it is
    ],
)
def test_a_due_date_off_work_moves_to_the_next_working_day(year: int, term: int, due: str) -> None:
    assert vat_term(year, term).due == dt.date.fromisoformat(due)


def test_the_return_is_still_due_on_the_day_before_its_moved_due_date() -> None:
    due = vat_term_due_next(dt.date(2027, 4, 11))  # a Sunday; due Monday the 12th
    assert due is not None and (due.year, due.term) == (2027, 1)
    assert vat_term_due_next(dt.date(2027, 4, 13)) is None


def test_the_norwegian_public_holidays() -> None:
    assert norwegian_holidays(2026) == {
        dt.date(2026, 1, 1),
        dt.date(2026, 4, 2),  # Maundy Thursday
        dt.date(2026, 4, 3),  # Good Friday
        dt.date(2026, 4, 5),  # Easter Sunday
        dt.date(2026, 4, 6),  # Easter Monday
        dt.date(2026, 5, 1),
        dt.date(2026, 5, 14),  # Ascension Day
        dt.date(2026, 5, 17),
        dt.date(2026, 5, 24),  # Whit Sunday
        dt.date(2026, 5, 25),  # Whit Monday
        dt.date(2026, 12, 25),
        dt.date(2026, 12, 26),
    }
    assert not is_working_day(dt.date(2026, 12, 26))
    assert is_working_day(dt.date(2026, 12, 24))  # Christmas Eve is no public holiday
    assert next_working_day(dt.date(2026, 12, 25)) == dt.date(2026, 12, 28)
    assert next_working_day(dt.date(2026, 12, 28)) == dt.date(2026, 12, 28)
