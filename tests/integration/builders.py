"""Small builders of events shared by the storage tests."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec

from bookkeeper.application.ports import NewEvent
from bookkeeper.domain.events import ReceiptAttachmentData, Status

NOW = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
RECEIPT = ReceiptAttachmentData(
    merchant_name="Adobe",
    amount=Decimal("199.00"),
    date=dt.date(2026, 11, 20),
    vat_rate=Decimal("25"),
    account_code="6540",
)


def proposed(event_id: uuid.UUID | None = None, **changes: object) -> NewEvent:
    """A ReceiptAttachmentProposed event starting its own correlation."""
    new_id = event_id or uuid.uuid4()
    base = NewEvent(
        id=new_id,
        type="ReceiptAttachmentProposed",
        schema_version=1,
        status=Status.PROPOSED,
        actor="book-e",
        data=RECEIPT,
        metadata={},
        parent_id=None,
        correlation_id=new_id,
        created_at=NOW,
    )
    return msgspec.structs.replace(base, **changes) if changes else base
