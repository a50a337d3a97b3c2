"""ISO 4217 currencies and the countries that use them, from Babel's CLDR data (a
well-kept source of names and of each currency's minor units: NOK 2, JPY 0, BHD 3).

Migration 0016 seeds the `currencies` and `countries` tables from here; the in-memory
units of work use it directly."""

from __future__ import annotations

from functools import cache

from babel import Locale, numbers

from bookkeeper.domain.rules import Country, Currency


@cache
def iso_currencies() -> tuple[Currency, ...]:
    """Every currency CLDR knows, with its minor units, sorted by code."""
    return tuple(
        Currency(
            code=code,
            name=numbers.get_currency_name(code, locale="en"),
            minor_units=numbers.get_currency_precision(code),
        )
        for code in sorted(numbers.list_currencies())
        if len(code) == 3 and code.isalpha() and code.isupper()
    )


@cache
def iso_countries() -> tuple[Country, ...]:
    """Every two-letter territory with its name and current currency, sorted by code."""
    english = Locale("en")
    result = []
    for code, name in sorted(english.territories.items()):
        if len(code) != 2 or not code.isalpha():
            continue
        current = numbers.get_territory_currencies(code, tender=True)
        result.append(Country(code=code, name=name, currency=current[0] if current else None))
    return tuple(result)
