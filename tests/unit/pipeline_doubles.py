"""Doubles of the document pipeline's ports, shared by the pipeline, conversation, intake
and hostile-document tests: an extractor answering a scripted Extraction, a bank that lists
events, and a card event builder."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.pipeline import DocumentPipeline
from bookkeeper.application.ports import BankTransaction, DocumentExtractor, Extraction
from tests.unit.external_doubles import Harness

#: The date of the scripted documents.
DAY = dt.date(2026, 11, 20)


class ExtractorDouble:
    """Implements DocumentExtractor: answers with a scripted Extraction and counts its calls."""

    name = "double"

    def __init__(self, extraction: Extraction) -> None:
        self.extraction = extraction
        self.calls = 0

    async def extract(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        self.calls += 1
        return self.extraction


class ListedBank:
    """A bank that lists events (only what the pipeline reads) and records the ranges asked."""

    name = "listed-bank"

    def __init__(self, events: list[BankTransaction]) -> None:
        self.listed = events
        self.asked: list[tuple[dt.date, dt.date]] = []

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        self.asked.append((start, end))
        return [t for t in self.listed if start <= t.date <= end]


def card_event(**changes: Any) -> BankTransaction:
    """Adobe's card payment of 199 kr the day after DAY, without attachments."""
    fields: dict[str, Any] = {
        "id": "tx-1",
        "event_id": "ev-1",
        "date": DAY + dt.timedelta(days=1),
        "description": "ADOBE *CREATIVE CLOUD",
        "amount": Decimal("-199.00"),
        "currency": "NOK",
        "merchant_name": "Adobe",
    }
    fields.update(changes)
    return BankTransaction(**fields)


def pipeline_without_bank(harness: Harness, extractor: DocumentExtractor) -> DocumentPipeline:
    """The document pipeline of `harness`, reading with `extractor`, whose bank lists no
    transaction (a receipt is checked against nothing)."""
    return DocumentPipeline(
        harness.documents,
        extractor,
        lambda tenant: ListedBank([]),  # type: ignore[arg-type,return-value]  # lists only
        harness.handlers,
        harness.uow_factory,
        harness.clock,
        harness.ids,
        RoleAuthorizer(),
    )
