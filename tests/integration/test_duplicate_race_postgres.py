"""Receipts of one purchase proposed at the same instant (PostgreSQL): the rules approve
at most one of them automatically; the others wait for a person as suspected duplicates.

The duplicate probes read what is committed: without a guard, every racing proposal read
before any of them was written, found no earlier one, and was approved automatically — one
purchase booked in Fiken as often as it was sent (a double upload in Discord, a client's
retry with a new event id). The HTTP test client cannot show this (it runs one request at
a time), so the handlers are called at once here, as the server's event loop does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections import Counter
from decimal import Decimal

import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import PatternSuggestionData, ReceiptAttachmentData

pytestmark = pytest.mark.postgres

TENANT = "acme"
AGENT = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))
REVIEWER = Principal(subject="kari", tenant_id=TENANT, roles=frozenset({"reviewer"}))
AT_ONCE = 12


async def _learned(handlers: Handlers, merchant: str) -> None:
    """A reviewer approved the pattern `merchant` → 6540 at 25 % (story 1's premise)."""
    suggested = await handlers.submit(
        SubmitEvent(
            principal=AGENT,
            type="PatternSuggested",
            data=PatternSuggestionData(
                merchant=merchant, account_code="6540", vat_rate=Decimal("25")
            ),
        )
    )
    await handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=suggested.stream_id))


def _receipt(merchant: str, n: int, **changes: object) -> ReceiptAttachmentData:
    fields: dict[str, object] = {
        "merchant_name": merchant,
        "amount": Decimal("199.00"),
        "date": dt.date(2026, 11, 20),
        "vat_rate": Decimal("25"),
        "vat_amount": Decimal("39.80"),
        "account_code": "6540",
        "merchant_org_number": "923609016",
        "document_number": f"R-{n}",
        "folio_event_id": f"ev-{n}",
    } | changes
    return ReceiptAttachmentData(**fields)  # type: ignore[arg-type]


async def _at_once(handlers: Handlers, receipts: list[ReceiptAttachmentData]) -> Counter[str]:
    start = asyncio.Event()

    async def propose(data: ReceiptAttachmentData) -> str:
        await start.wait()
        result = await handlers.submit(
            SubmitEvent(principal=AGENT, type="ReceiptAttachmentProposed", data=data)
        )
        return result.decision.outcome.value

    tasks = [asyncio.create_task(propose(data)) for data in receipts]
    start.set()
    return Counter(await asyncio.gather(*tasks))


def _handlers(database: SqlDatabase) -> Handlers:
    return Handlers(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())


async def test_one_file_sent_many_times_at_once_is_approved_automatically_once(
    postgres_database: SqlDatabase,
) -> None:
    handlers = _handlers(postgres_database)
    await _learned(handlers, "Adobe")
    sha = hashlib.sha256(b"the same receipt file").hexdigest()
    # Other fields each time (as OCR may read one file differently): only the file is shared.
    receipts = [
        _receipt(
            "Adobe",
            n,
            amount=Decimal(100 + n),
            vat_amount=None,
            document_number=f"R-{n}",
            document_hash=sha,
        )
        for n in range(AT_ONCE)
    ]
    outcomes = await _at_once(handlers, receipts)
    assert outcomes == {"auto_approved": 1, "awaiting_review": AT_ONCE - 1}, outcomes


async def test_one_purchase_sent_many_times_at_once_is_approved_automatically_once(
    postgres_database: SqlDatabase,
) -> None:
    handlers = _handlers(postgres_database)
    await _learned(handlers, "Clas Ohlson")
    # The same merchant, amount and date, no file and no bank event: what the
    # merchant-and-amount probe calls a duplicate.
    receipts = [_receipt("Clas Ohlson", n) for n in range(AT_ONCE)]
    outcomes = await _at_once(handlers, receipts)
    assert outcomes == {"auto_approved": 1, "awaiting_review": AT_ONCE - 1}, outcomes


async def test_different_purchases_at_once_are_all_approved_automatically(
    postgres_database: SqlDatabase,
) -> None:
    """The guard serialises only what could be one purchase: other amounts and files of
    one merchant are each approved by the rules, at once."""
    handlers = _handlers(postgres_database)
    await _learned(handlers, "Biltema")
    receipts = [
        _receipt(
            "Biltema",
            n,
            amount=Decimal(300 + n),
            vat_amount=None,
            document_hash=hashlib.sha256(f"file {n}".encode()).hexdigest(),
        )
        for n in range(AT_ONCE)
    ]
    outcomes = await _at_once(handlers, receipts)
    assert outcomes == {"auto_approved": AT_ONCE}, outcomes
