"""event_log: the derived ids are fixed forever (ids already in logs and sandboxes were made
with them), and `stamp` fills an event from the catalogue."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from bookkeeper.application import event_log
from bookkeeper.domain.errors import UnknownEventType
from bookkeeper.domain.events import PatternSuggestionData, Status, event_type

PROPOSAL = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_the_derived_ids_never_change() -> None:
    # The values the modules computed with their own namespaces before event_log existed.
    assert str(event_log.idempotent_event_id("acme", "agent:ola", "k-1")) == (
        "d589bd3f-eaea-5bab-9a32-afb45d62d01d"
    )
    assert str(event_log.posting_id(PROPOSAL)) == "752ec65f-6960-5f40-874b-8b6cec84fbc5"
    assert str(event_log.posting_id(PROPOSAL, "reversal")) == (
        "28896682-71ae-5ea1-961d-3eda6a38457c"
    )
    assert str(event_log.manual_entry_id("acme", "agent:ola", "k-1")) == (
        "145688c5-850e-5c4d-8083-e6770012cf7f"
    )
    assert str(event_log.alert_id(PROPOSAL, "execution-failed")) == (
        "2595d513-7124-5e38-89b6-900fa7236028"
    )
    assert str(event_log.suggestion_id("acme", PROPOSAL)) == (
        "c4b496d0-533f-55a5-81d9-be0c17696fd2"
    )
    assert str(event_log.document_proposal_id("acme", "ab" * 32)) == (
        "99be4446-0e1f-5105-9a56-caef39021a21"
    )
    assert event_log.sandbox_id("acme", "bank", "event", "card-0") == (
        "20dd44a2-5523-536b-992b-718ef3407dab"
    )


def test_stamp_takes_version_and_status_from_the_catalogue() -> None:
    at = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    event_id = uuid.uuid4()
    payload = PatternSuggestionData(merchant="Adobe", account_code="6540", vat_rate=Decimal(25))
    metadata = {"source": "api"}
    event = event_log.stamp(
        "PatternSuggested",
        payload,
        event_id=event_id,
        actor="agent:ola",
        at=at,
        correlation_id=event_id,
        metadata=metadata,
    )
    etype = event_type("PatternSuggested")
    assert (event.id, event.type, event.schema_version) == (
        event_id,
        "PatternSuggested",
        etype.schema_version,
    )
    assert event.status is Status.PROPOSED
    assert (event.actor, event.data, event.created_at) == ("agent:ola", payload, at)
    assert (event.parent_id, event.correlation_id) == (None, event_id)
    assert event.metadata == metadata and event.metadata is not metadata
    with pytest.raises(UnknownEventType):
        event_log.stamp(
            "NoSuchEvent", payload, event_id=event_id, actor="a", at=at, correlation_id=event_id
        )


def test_published_line_texts_spell_the_published_line_ids() -> None:
    """The bus-publisher's fast derivation gives every line the Nats-Msg-Id it always had
    (JetStream's de-duplication of a re-send depends on it)."""
    extremes = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    for event_id in [*extremes, *(uuid.uuid4() for _ in range(200))]:
        texts = event_log.published_line_texts(str(event_id), 5)
        assert texts == [str(event_log.published_line_id(event_id, n)) for n in range(5)]
    assert event_log.published_line_texts(str(uuid.uuid4()), 0) == []
