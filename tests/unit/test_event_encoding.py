"""Every event type round-trips through its stored encoding; old versions are upcast."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.domain import events
from bookkeeper.domain.errors import UnknownEventType
from tests.unit.strategies import compensations, corrections, proposals, queries


@given(st.one_of(proposals, queries, compensations))
def test_payload_round_trips_through_json_bytes_and_builtins(payload: events.Payload) -> None:
    name = next(
        t.name
        for t in events.CATALOGUE.values()
        if t.payload is type(payload) and t.step in (events.Step.PROPOSED, events.Step.QUERY)
    )
    assert events.decode_payload(name, events.encode_payload(payload), 1) == payload
    as_json = msgspec.json.decode(msgspec.json.encode(events.payload_to_builtins(payload)))
    assert events.decode_payload(name, as_json, 1) == payload


@given(corrections)
def test_approval_payload_round_trips(correction: events.Corrections) -> None:
    approved = events.ApprovedData(corrections=correction, comment="ok")
    decoded = events.decode_payload("ReceiptAttachmentApproved", events.encode_payload(approved), 1)
    assert decoded == approved


def test_amounts_are_stored_as_decimal_strings_with_camel_case_names() -> None:
    payload = events.ReceiptAttachmentData(
        merchant_name="Adobe",
        amount=events.Decimal("199.00"),
        date=events.dt.date(2026, 11, 20),
        vat_rate=events.Decimal("25"),
        account_code="6540",
    )
    raw = msgspec.json.decode(events.encode_payload(payload))
    assert raw["amount"] == "199.00"
    assert raw["merchantName"] == "Adobe"
    assert raw["vatRate"] == "25"


def test_catalogue_names_follow_the_seed() -> None:
    for name in (
        "ReceiptAttachmentProposed",
        "ReceiptAttachmentApproved",
        "ReceiptAttachmentRejected",
        "ReceiptAttachmentExecuted",
        "InvoiceRegistrationProposed",
        "ExpenseRegistrationExecuted",
        "PatternSuggested",
        "PatternApproved",
        "PatternApplied",
        "BalanceQueried",
        "TransactionsQueried",
        "MissingReceiptsChecked",
        "ReversalProposed",
        "CorrectionProposed",
    ):
        assert name in events.CATALOGUE
    assert events.event_type("PatternApplied").status is events.Status.EXECUTED
    assert events.event_type("BalanceQueried").kind is None
    assert "ReceiptAttachmentApproved" not in events.SUBMITTABLE_TYPES


def test_unknown_type_is_a_named_error() -> None:
    with pytest.raises(UnknownEventType):
        events.event_type("MoneyPrinted")


def test_unknown_fields_in_a_payload_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        events.decode_payload(
            "PatternSuggested", b'{"merchant":"A","accountCode":"1","vatRate":"25","x":1}', 1
        )


def test_an_older_schema_version_is_upcast_on_read(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "PatternSuggested"
    current = events.CATALOGUE[name]
    monkeypatch.setitem(events.CATALOGUE, name, msgspec.structs.replace(current, schema_version=2))

    def v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
        new = dict(old)
        new["accountCode"] = new.pop("account")
        return new

    monkeypatch.setitem(events.UPCASTERS, (name, 1), v1_to_v2)
    decoded = events.decode_payload(
        name, b'{"merchant":"Adobe","account":"6540","vatRate":"25"}', 1
    )
    assert decoded == events.PatternSuggestionData(
        merchant="Adobe", account_code="6540", vat_rate=events.Decimal("25")
    )
