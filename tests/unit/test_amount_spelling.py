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
    decode_payload,
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


def test_an_event_stored_with_a_bare_zero_is_read_back_with_two_decimals() -> None:
    stored = (
        b'{"date":"2026-03-03","description":"Reversering: Husleie","lines":'
        b'[{"account":"6300","debit":"0","credit":"500"},'
        b'{"account":"1920","debit":"500","credit":"0"}],"source":"execution"}'
    )
    data = decode_payload("JournalEntryPosted", stored, 1)
    assert _amounts(msgspec.json.decode(encode_payload(data))["lines"]) == [
        "0.00",
        "500.00",
        "500.00",
        "0.00",
    ]


def test_a_third_decimal_is_kept_for_the_rules_to_refuse_not_rounded_away() -> None:
    line = JournalLine(account="6300", debit=Decimal("1.005"))
    assert line.debit == Decimal("1.005")


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


def test_a_proposals_submitted_amounts_are_kept_with_two_decimals() -> None:
    from bookkeeper.domain.events import LineItem, ReceiptAttachmentData

    data = ReceiptAttachmentData(
        merchant_name="Rimi",
        amount=Decimal("199"),
        date=dt.date(2026, 11, 20),
        vat_rate=Decimal("25"),
        vat_amount=Decimal("39.8"),
        account_code="5990",
    )
    encoded = msgspec.json.decode(encode_payload(data))
    # The rate keeps its one spelling ("25"): only amounts are padded.
    assert (encoded["amount"], encoded["vatAmount"], encoded["vatRate"]) == (
        "199.00",
        "39.80",
        "25",
    )
    item = LineItem(description="Gebyr", amount=Decimal("100"), vat_rate=Decimal("0"))
    assert payload_to_builtins(item)["amount"] == "100.00"
