"""Norwegian working days: a deadline that falls on a Saturday, Sunday or public holiday
moves to the next working day (as Skatteetaten applies it to the VAT return's due date:
"Dersom forfallet er lørdag, søndag eller helligdag, er det påfølgende arbeidsdag som er
frist for innlevering og betaling").

The public holidays are those of helligdagsfredloven § 2 and the two official days of
celebration (1 and 17 May, lov om 1. og 17. mai som høgtidsdager); Christmas Eve and New
Year's Eve are ordinary working days by law.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=256)
def norwegian_holidays(year: int) -> frozenset[dt.date]:
    """The public holidays of `year` in Norway."""
    easter = easter_sunday(year)
    moving = (-3, -2, 0, 1, 39, 49, 50)  # Maundy Thursday … Whit Monday
    fixed = ((1, 1), (5, 1), (5, 17), (12, 25), (12, 26))
    return frozenset(
        [easter + dt.timedelta(days=n) for n in moving]
        + [dt.date(year, month, day) for month, day in fixed]
    )


def is_working_day(day: dt.date) -> bool:
    """Neither a Saturday, a Sunday nor a Norwegian public holiday."""
    return day.weekday() < 5 and day not in norwegian_holidays(day.year)


def next_working_day(day: dt.date) -> dt.date:
    """`day` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day
