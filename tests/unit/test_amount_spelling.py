"""Amounts have one spelling in events and JSON: a decimal string with two decimals. A
reversal swaps each line's sides, and its zero side used to travel as a bare "0"."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec

from bookkeeper.application.ledger import PostedEntry
from bookkeeper.domain.events import (
    JournalEntryPostedData,
    JournalLine,
    encode_payload,
    payload_to_builtins,
)
from bookkeeper.domain.ledger import mirror
from bookkeeper.entrypoints.http.controllers.ledger import entry_out
from bookkeeper.entrypoints.http.wire import amount_out

ENTRY = JournalEntryPostedData(
    date=dt.date(2026, 3, 2),
    description="Husleie",
    lines=(
        JournalLine(account="6300", debit=Decimal("500")),
        JournalLine(account="1920", credit=Decimal("500.00")),
    ),
    source="manual",
)


def _amounts(lines: list[dict[str, object]]) -> list[object]:
    return [line[side] for line in lines for side in ("debit", "credit") if side in line]


def test_a_reversals_lines_carry_every_amount_with_two_decimals() -> None:
    reversal = mirror(ENTRY, entry_id="e-1", date=dt.date(2026, 3, 3), proposal_id=None)
    encoded = msgspec.json.decode(encode_payload(reversal))
    assert encoded["lines"] == [
        {"account": "6300", "debit": "0.00", "credit": "500.00"},
        {"account": "1920", "debit": "500.00", "credit": "0.00"},
    ]
    assert _amounts(payload_to_builtins(reversal)["lines"]) == [
        "0.00",
        "500.00",
        "500.00",
        "0.00",
    ]


def test_a_manual_lines_amounts_are_stored_with_two_decimals() -> None:
    """POST /journal-entries: "500" is stored as 500.00, a side left out as 0.00; a third
    decimal is kept for the rule that refuses it, not rounded away."""
    from bookkeeper.entrypoints.http.controllers.ledger import JournalLineIn

    line = JournalLineIn(account="6300", debit=Decimal("500")).to_domain()
    assert (str(line.debit), str(line.credit)) == ("500.00", "0.00")
    assert JournalLineIn(account="6300", debit=Decimal("1.005")).to_domain().debit == Decimal(
        "1.005"
    )
    assert str(JournalLine(account="1920", credit=Decimal("500.00")).debit) == "0.00"


def test_the_journal_entry_answer_spells_a_reversals_zero_side_0_00() -> None:
    reversal = mirror(ENTRY, entry_id="e-1", date=dt.date(2026, 3, 3), proposal_id=None)
    posted = PostedEntry(
        entry_id=uuid.UUID(int=2),
        position=7,
        entry=reversal,
        actor="anna",
        posted_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
    )
    out = entry_out(posted)
    assert [(line.debit, line.credit) for line in out.lines] == [
        ("0.00", "500.00"),
        ("500.00", "0.00"),
    ]


def test_amount_out_pads_to_two_decimals() -> None:
    assert [amount_out(Decimal(v)) for v in ("0", "12.5", "-180.2", "7.00", "1E+1")] == [
        "0.00",
        "12.50",
        "-180.20",
        "7.00",
        "10.00",
    ]
