"""One spelling of a number wherever a machine sends one (domain.numerals; ADR 0049 round
two): the API, an event import, the bus intake, the command line. Python's Decimal takes
" 1", "1_000", "+1", "1e3", ".5" and any Unicode digit; none of them is taken here."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from bookkeeper.application.importing import BadImportLine, parse_line
from bookkeeper.application.translation import Ingest, MalformedMessage
from bookkeeper.domain.numerals import (
    decimal_fields,
    is_plain,
    misspelt_decimal,
    misspelt_member,
    parse_plain,
    parse_written,
    parse_written_amount,
    parse_written_rate,
)
from bookkeeper.domain.review import ReviewRules

PLAIN = ["0", "-0", "1", "199.00", "-180.20", "0.01", "99999999.99", "11.11", "007.50"]
NOT_PLAIN = [
    " 1",
    "1 ",
    "1_000",
    "+1",
    "1e3",
    "1E+3",
    ".5",
    "5.",
    "-.5",
    "١٠٠",
    "１００",
    "1,50",
    "1 234,50",
    "",
    "-",
    "NaN",
    "Infinity",
    "1\n",
    "0x10",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_numbers_are_read(text: str) -> None:
    assert is_plain(text)
    assert parse_plain(text) == Decimal(text)


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_every_other_spelling_is_refused(text: str) -> None:
    assert not is_plain(text)
    with pytest.raises(ValueError, match="plain decimal"):
        parse_plain(text)


class Line(msgspec.Struct, frozen=True, rename="camel"):
    net_amount: Decimal
    note: str = ""


class Doc(msgspec.Struct, frozen=True, rename="camel"):
    vat_rate: Decimal
    lines: list[Line]
    extra: Decimal | None = None


def _check(body: dict[str, Any] | bytes, *, stored: bool = False) -> str | None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return misspelt_decimal(msgspec.json.decode(raw, type=Doc), raw, stored=stored)


def test_the_first_misspelt_decimal_is_named_by_its_json_path() -> None:
    good = {"vatRate": "25", "lines": [{"netAmount": "1.50"}, {"netAmount": 2}]}
    assert _check(good) is None
    assert _check({**good, "lines": [{"netAmount": "1.50"}, {"netAmount": " 2"}]}) == (
        "$.lines[1].netAmount"
    )
    assert _check({**good, "extra": "1_0"}) == "$.extra"
    assert _check({**good, "vatRate": "٢٥"}) == "$.vatRate"
    # A text field that happens to hold a spaced number is text, not a number.
    assert _check({**good, "lines": [{"netAmount": "1", "note": " 1e3 "}]}) is None


@pytest.mark.parametrize(("number", "refused"), [("25", False), ("25.0", False), ("2.5e1", True)])
def test_json_numbers_are_held_to_the_same_grammar(number: str, refused: bool) -> None:
    raw = f'{{"vatRate": {number}, "lines": []}}'.encode()
    assert (_check(raw) == "$.vatRate") is refused


def test_not_finite_values_are_left_to_the_domains_refusal() -> None:
    assert _check({"vatRate": "NaN", "lines": []}) is None
    assert _check({"vatRate": "-Infinity", "lines": []}) is None


def test_a_stored_event_may_hold_pythons_own_spelling_and_only_that() -> None:
    """Our log writes Decimal("3E-7") as "3E-7" (a price per token): an export must import."""
    assert _check({"vatRate": "3E-7", "lines": []}, stored=True) is None
    assert _check({"vatRate": "3E-7", "lines": []}) == "$.vatRate"
    for other in ("3e-7", " 3E-7", "+3E-7", "0.3E-6", "1_0"):
        assert _check({"vatRate": other, "lines": []}, stored=True) == "$.vatRate", other


def test_a_partial_update_kept_as_a_dict_is_checked_by_field_name() -> None:
    names = decimal_fields(ReviewRules)
    assert {"amountMin", "maxAutoAmount", "twoApproversAbove", "autoApproveAbove"} <= names
    assert "duplicateWindowDays" not in names
    assert misspelt_member(b'{"amountMin": "10", "maxAutoAmount": 0.5}', names) is None
    assert misspelt_member(b'{"amountMin": "1e1"}', names) == "$.amountMin"
    assert misspelt_member(b'{"amountMin": 1e1}', names) == "$.amountMin"
    assert misspelt_member(b'{"amountMin": "NaN"}', names) is None  # review_rules_problem's
    assert misspelt_member(b'{"duplicateWindowDays": "1e1"}', names) is None


# --- bookkeeper import events ---------------------------------------------------------


def _line(vat_rate: str) -> bytes:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "tenant_id": "acme",
            "stream_id": str(uuid.uuid4()),
            "version": 1,
            "type": "PatternSuggested",
            "schema_version": 1,
            "actor": "book-e",
            "data": {"merchant": "Adobe", "accountCode": "6540", "vatRate": vat_rate},
            "correlation_id": str(uuid.uuid4()),
            "created_at": "2026-11-20T10:00:00Z",
        }
    ).encode()


def test_an_imported_line_with_a_misspelt_number_is_reported_by_line() -> None:
    assert parse_line(1, _line("25")).data.vat_rate == Decimal("25")  # type: ignore[attr-defined]
    for wrong in (" 25", "2_5", "2.5e1", "٢٥", "+25"):
        with pytest.raises(BadImportLine) as refused:
            parse_line(7, _line(wrong))
        assert refused.value.number == 7
        assert "data.vatRate" in refused.value.reason


# --- the bus intake -------------------------------------------------------------------


def _invoice(net: Any) -> bytes:
    data = {"invoice_id": "F-1", "issue_date": "2026-03-01", "net_amount": net}
    return json.dumps(
        {
            "type": "InvoiceIssued",
            "source": "invoicing",
            "tenant": "acme",
            "data": data | {"vat_amount": "250.00"},
        }
    ).encode()


@pytest.mark.parametrize("net", [" 1000.00", "1_000.00", "1e3", "١٠٠٠", "+1000"])
def test_a_bus_message_with_a_misspelt_amount_is_malformed(ingest: Ingest, net: str) -> None:
    with pytest.raises(MalformedMessage, match=r"data\.net_amount"):
        ingest.translate(_invoice(net))


def test_a_bus_message_with_plain_amounts_is_translated(ingest: Ingest) -> None:
    _, command = ingest.translate(_invoice("1000.00"))
    assert command is not None
    raw = _invoice(1000).replace(b'"vat_amount": "250.00"', b'"vat_amount": 250.0')
    ingest.translate(raw)
    with pytest.raises(MalformedMessage):
        ingest.translate(_invoice(1000).replace(b'"250.00"', b"2.5e2"))


# --- numbers as people write them (parse_written, ADR 0049 round three) -------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1 234,50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1234.5", "1234.5"),
        ("1234,5", "1234.5"),
        ("1,234.50", "1234.50"),
        ("1\u00a0234,50", "1234.50"),
        ("1\u202f234,50 kr", "1234.50"),
        ("1 234 567", "1234567"),
        ("1.234.567", "1234567"),
        ("452,37 kr", "452.37"),
        ("452,37 NOK", "452.37"),
        ("25", "25"),
        ("25 %", "25"),
        ("12,5%", "12.5"),
        ("0,5", "0.5"),
        ("-180,20", "-180.20"),
        ("\u2212180,20", "-180.20"),
        ("  99  ", "99"),
    ],
)
def test_a_written_number_is_read_the_same_whichever_way_it_is_written(
    text: str, number: str
) -> None:
    assert parse_written(text) == Decimal(number)
    assert str(parse_written(text)) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "1e3",
        "1E+3",
        "1_000",
        "+5",
        ".5",
        "5.",
        "1,",
        "١٠٠",
        "１００",
        "12 34",
        "1 2345",
        "1,2,3",
        "1.234.56",
        "1..2",
        "1,5.3",
        "NaN",
        "Infinity",
        "1 234,5 6",
        "kr",
        "--1",
    ],
)
def test_what_is_no_written_number_is_refused_saying_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="write"):
        parse_written(text)


@pytest.mark.parametrize("text", ["1.234", "1,234", "-1.234"])
def test_one_separator_before_three_digits_is_ambiguous_and_refused(text: str) -> None:
    with pytest.raises(ValueError, match="three decimals"):
        parse_written(text)


# --- an amount's unit and a rate's (one rule for the page and chat) ------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [("1 234,50 kr", "1234.50"), ("450 NOK", "450"), ("1 234,-", "1234"), ("-180,20", "-180.20")],
)
def test_an_amount_may_carry_a_kroner_unit(text: str, number: str) -> None:
    assert parse_written_amount(text) == Decimal(number)


@pytest.mark.parametrize("text", ["25 %", "25%", "1 234,50 %"])
def test_an_amount_is_no_percentage(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(text)):
        parse_written_amount(text)


@pytest.mark.parametrize(("text", "number"), [("25 %", "25"), ("11,11%", "11.11"), ("15", "15")])
def test_a_rate_may_carry_its_percent_sign(text: str, number: str) -> None:
    assert parse_written_rate(text) == Decimal(number)


@pytest.mark.parametrize("text", ["25 kr", "25 NOK", "25,-", "25 nok"])
def test_a_rate_is_no_kroner_amount(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(text)):
        parse_written_rate(text)
