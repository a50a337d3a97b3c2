"""How the review page reads what a reviewer types (webfix): numbers as people in Norway
write them, then the API's grammar (domain/numerals.py); days as dd.mm.yyyy or ISO; and
the page's Norwegian words for signals, effects and event types."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from bookkeeper.entrypoints.web import i18n
from bookkeeper.entrypoints.web.routes import parse_day, parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 234,50", "1234.50"),
        ("1\u00a0234,50", "1234.50"),
        ("1\u202f234,50 kr", "1234.50"),
        ("1.234,50", "1234.50"),
        ("12.345.678,9", "12345678.9"),
        ("180.20", "180.20"),
        ("180,20", "180.20"),
        ("-180,20", "-180.20"),
        ("\u2212180,20", "-180.20"),
        ("NOK 0", None),
        ("450 NOK", "450"),
        ("1 234,-", "1234"),
    ],
)
def test_an_amount_is_read_as_people_write_it(text: str, value: str | None) -> None:
    if value is None:
        with pytest.raises(ValueError, match=re.escape(text)):
            parse_number(text)
    else:
        assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize(
    "text",
    ["abc", "12O,50", "1e3", "1_000", "+1", "NaN", "Infinity", ".5", "5.", "1,2,3",
     "1.23,4", "1.234", "\u0661\u0660\u0660", "\uff11\uff10\uff10", "1 2 3 kr kr"],
)  # fmt: skip
def test_anything_else_is_no_number(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(text)):
        parse_number(text)


def test_a_rate_may_carry_its_percent_sign() -> None:
    assert parse_number("25 %", rate=True) == Decimal(25)
    assert parse_number("11,11%", rate=True) == Decimal("11.11")
    with pytest.raises(ValueError, match="25 kr"):
        parse_number("25 kr", rate=True)
    with pytest.raises(ValueError, match="25 %"):
        parse_number("25 %")  # an amount is no percentage


def test_an_english_grouped_amount_is_the_same_number() -> None:
    # The one parser of written numbers (ADR 0049 round three): "1,234.50" as an English
    # reader writes it; "1.234" stays refused (a thousand, or three decimals?).
    assert parse_number("1,234.50") == Decimal("1234.50")


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("18.11.2026", dt.date(2026, 11, 18)),
        ("1.2.2026", dt.date(2026, 2, 1)),
        ("18/11/2026", dt.date(2026, 11, 18)),
        (" 2026-11-18 ", dt.date(2026, 11, 18)),
    ],
)
def test_a_day_is_norwegian_or_iso(text: str, day: dt.date) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize(
    "text",
    ["31.02.2026", "18.11.26", "2026-2-1", "18. november 2026", "20261118", "",
     "\u0661\u0668.11.2026", "2026-11-18T00:00"],
)  # fmt: skip
def test_anything_else_is_no_day(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        parse_day(text)


def test_signals_effects_and_events_in_norwegian() -> None:
    assert i18n.signal("completeness", "nb") == "Fullstendighet"
    assert i18n.signal("pattern", "en") == "Known pattern"
    assert i18n.signal("something-new", "nb") == "something-new"
    assert i18n.effect("0.20", "nb") == "+0,20 poeng"
    assert i18n.effect("-0.15", "en") == "\u22120.15 points"
    assert i18n.effect("x", "nb") == "x"
    assert i18n.event_name("ExpenseRegistrationProposed", "nb") == "Utlegg: foreslått"
    assert i18n.event_name("InvoiceRegistrationExecuted", "en") == "Supplier invoice: carried out"
    assert i18n.event_name("DocumentExtracted", "nb") == "Dokumentet lest"
    assert i18n.event_name("SomethingLater", "nb") == "SomethingLater"
    assert i18n.field_value("category", "other", "nb") == "Annet"
    assert i18n.field_value("category", "unheard-of", "nb") == "unheard-of"
