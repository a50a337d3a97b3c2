"""Issue 15: a receipt is checked against the bank event it names when it is proposed —
on the embedded default (SQLite, the sandbox bank) through POST /events, as a user would."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import API, Api, running_api, sqlite_container


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path, container=sqlite_container(tmp_path)) as running:
        yield running


async def _card_event(api: Api) -> dict[str, Any]:
    today = api.clock.now().date()
    window = {"from": (today - dt.timedelta(days=60)).isoformat(), "to": today.isoformat()}
    missing = await api.client.get(f"{API}/bank/missing-receipts", params=window, headers=api.agent)
    assert missing.status_code == 200, missing.text
    event: dict[str, Any] = missing.json()["transactions"][0]
    return event


def _receipt(event: dict[str, Any], **changes: str) -> dict[str, Any]:
    return {
        "merchantName": event.get("merchantName") or event["description"],
        "amount": str(Decimal(event["amount"]).copy_abs()),
        "date": event["date"],
        "vatRate": "25",
        "accountCode": "6800",
        "folioEventId": event["eventId"],
        **changes,
    }


def _mismatches(body: dict[str, Any]) -> list[str]:
    return [r["detail"] for r in body["confidence"]["reasons"] if r["signal"] == "bank-mismatch"]


async def test_a_receipt_that_agrees_with_its_bank_event_has_no_mismatch(api: Api) -> None:
    body = await api.propose("ReceiptAttachmentProposed", _receipt(await _card_event(api)))
    assert _mismatches(body) == []


async def test_another_amount_and_month_keep_the_receipt_in_review_with_reasons(
    api: Api,
) -> None:
    event = await _card_event(api)
    later = dt.date.fromisoformat(event["date"]) + dt.timedelta(days=35)
    body = await api.propose(
        "ReceiptAttachmentProposed",
        _receipt(event, amount="133.00", date=later.isoformat()),
    )
    found = _mismatches(body)
    assert len(found) == 2, body["confidence"]
    assert "133,00 kr" in found[0]
    assert "35 days apart" in found[1]
    assert body["status"] == "PROPOSED"
    assert body["decision"]["rule"] == "bank-mismatch"
    # The reviewer sees why: the reasons are recorded with the proposal's event.
    shown = await api.client.get(f"{API}/events/{body['proposalId']}", headers=api.reviewer)
    assert shown.status_code == 200, shown.text
    assert "133,00 kr" in shown.text


async def test_an_event_the_bank_does_not_list_is_not_checked(api: Api) -> None:
    event = await _card_event(api)
    body = await api.propose(
        "ReceiptAttachmentProposed",
        {**_receipt(event, amount="133.00"), "folioEventId": "ev-nonexistent"},
    )
    assert _mismatches(body) == []  # nothing to compare with; the executor's attach finds it
    assert body["decision"]["rule"] != "bank-mismatch"
