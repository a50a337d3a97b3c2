"""The whole flow on the embedded default, as `bookkeeper serve` runs it with no credentials:
SQLite, the sandbox books and bank in the same file, and the executor in the app.

A receipt is uploaded, proposed against a bank event that lacks one, approved by a
reviewer; the executor (woken by the approval) attaches it in the sandbox bank and posts
the ledger entry. An expense goes the same way into the sandbox books. The reports, the
read-only queries and /health then tell the story.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import API, Api, running_api, sqlite_container
from tests.polling import polls

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    container = sqlite_container(tmp_path, executor=True)
    async with running_api(tmp_path, container=container) as running:
        yield running


async def _settled(api: Api, proposal_id: str) -> dict[str, Any]:
    """The proposal once the executor has finished with it (or after a minute)."""
    for _ in polls():
        response = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] not in ("PROPOSED", "APPROVED"):
            return body
        await asyncio.sleep(0.02)
    return body


async def _upload(api: Api, content: bytes = PDF) -> str:
    response = await api.client.post(
        f"{API}/files?filename=kvittering.pdf",
        content=content,
        headers={**api.agent, "Content-Type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    sha: str = response.json()["sha256"]
    return sha


async def test_health_says_the_sandbox_and_the_executor_are_active(api: Api) -> None:
    body = (await api.client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["database"]["dialect"] == "sqlite"
    assert body["backends"] == {"books": "sandbox", "bank": "sandbox", "executor": "running"}


async def test_a_receipt_is_attached_in_the_bank_and_posted_to_the_ledger(api: Api) -> None:
    today = api.clock.now().date()
    window = {"from": (today - dt.timedelta(days=60)).isoformat(), "to": today.isoformat()}
    missing = await api.client.get(f"{API}/bank/missing-receipts", params=window, headers=api.agent)
    assert missing.status_code == 200, missing.text
    before = missing.json()
    event = before["transactions"][0]
    amount = Decimal(event["amount"]).copy_abs()
    document = await _upload(api)

    proposed = await api.propose(
        "ReceiptAttachmentProposed",
        {
            "merchantName": event.get("merchantName") or event["description"],
            "amount": str(amount),
            "date": event["date"],
            "vatRate": "25",
            "accountCode": "6800",
            "folioEventId": event["eventId"],
            "documentHash": document,
        },
    )
    approved = await api.approve(proposed["proposalId"])
    assert approved.status_code == 200, approved.text

    done = await _settled(api, proposed["proposalId"])
    assert done["status"] == "EXECUTED", done
    assert done["externalIds"]["folioEventId"] == event["eventId"]
    assert done["externalIds"]["folioAttachmentId"]

    after = await api.client.get(f"{API}/bank/missing-receipts", params=window, headers=api.agent)
    assert event["eventId"] not in {t["eventId"] for t in after.json()["transactions"]}

    balance = await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)
    assert balance.status_code == 200, balance.text
    accounts = {row["account"]: row for row in balance.json()["accounts"]}
    vat = (amount * Decimal("0.2")).quantize(Decimal("0.01"))
    assert Decimal(accounts["6800"]["debit"]) == amount - vat
    assert Decimal(accounts["2710"]["debit"]) == vat
    assert Decimal(accounts["1920"]["credit"]) == amount
    totals = balance.json()["totals"]
    assert totals["debit"] == totals["credit"]


async def test_an_expense_is_registered_in_the_books_once(api: Api) -> None:
    document = await _upload(api, PDF.replace(b"1.7", b"1.6"))
    proposed = await api.propose(
        "ExpenseRegistrationProposed",
        {
            "employee": "Ola Nordmann",
            "merchantName": "Ruter",
            "category": "travel",
            "amount": "448.00",
            "date": api.clock.now().date().isoformat(),
            "vatRate": "12",
            "accountCode": "7140",
            "documentHash": document,
        },
    )
    assert (await api.approve(proposed["proposalId"])).status_code == 200
    done = await _settled(api, proposed["proposalId"])
    assert done["status"] == "EXECUTED", done
    purchase_id = done["externalIds"]["fikenPurchaseId"]

    today = api.clock.now().date().isoformat()
    expenses = await api.client.get(
        f"{API}/books/expenses", params={"from": today, "to": today}, headers=api.agent
    )
    assert expenses.status_code == 200, expenses.text
    listed = [p for p in expenses.json()["purchases"] if p["id"] == purchase_id]
    assert len(listed) == 1
    assert Decimal(listed[0]["gross"]) == Decimal("448.00")

    ledger = await api.client.get(
        f"{API}/reports/general-ledger", params={"account": "2713"}, headers=api.viewer
    )
    assert ledger.status_code == 200, ledger.text
    lines = ledger.json()["items"]
    assert [Decimal(line["debit"]) for line in lines] == [Decimal("48.00")]


async def test_a_reversed_receipt_leaves_its_payment_missing_a_receipt_again(api: Api) -> None:
    """Story 7 after story 6: the reversal of an attached receipt cannot remove the file
    in the bank (it marks the event incomplete), and unbooks the payment — so the morning
    check's missing receipts list the payment again, as GET /bank/missing-receipts does."""
    today = api.clock.now().date()
    window = {"from": (today - dt.timedelta(days=60)).isoformat(), "to": today.isoformat()}

    async def missing() -> set[str]:
        answer = await api.client.get(
            f"{API}/bank/missing-receipts", params=window, headers=api.agent
        )
        assert answer.status_code == 200, answer.text
        return {t["eventId"] for t in answer.json()["transactions"]}

    before = await api.client.get(f"{API}/bank/missing-receipts", params=window, headers=api.agent)
    event = before.json()["transactions"][0]
    proposed = await api.propose(
        "ReceiptAttachmentProposed",
        {
            "merchantName": event.get("merchantName") or event["description"],
            "amount": str(Decimal(event["amount"]).copy_abs()),
            "date": event["date"],
            "vatRate": "25",
            "accountCode": "6800",
            "folioEventId": event["eventId"],
            "documentHash": await _upload(api),
        },
    )
    assert (await api.approve(proposed["proposalId"])).status_code == 200
    assert (await _settled(api, proposed["proposalId"]))["status"] == "EXECUTED"
    assert event["eventId"] not in await missing()

    reversal = await api.propose(
        "ReversalProposed",
        {"targetProposalId": proposed["proposalId"], "reason": "Ikke vårt kjøp"},
    )
    assert (await api.approve(reversal["proposalId"])).status_code == 200
    assert (await _settled(api, reversal["proposalId"]))["status"] == "EXECUTED"
    assert event["eventId"] in await missing()

    checked = await api.client.post(
        f"{API}/check/missing-receipts",
        params=window,
        headers=api.headers("system:cron", "system"),
    )
    assert checked.status_code in (200, 201), checked.text
    assert event["eventId"] in {t["eventId"] for t in checked.json()["transactions"]}
