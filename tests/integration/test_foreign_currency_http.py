"""ADR 0051 over HTTP on SQLite and PostgreSQL, with the exchange rates off (the default)
and the sandbox bank: a foreign-currency receipt takes its NOK amount from the bank
payment it names, or from the reviewer's corrections.nokAmount; without one, approving it
is a 422 and nothing is booked in its own amounts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.container import resolve
from tests.http_helpers import API, Api, assert_problem, running_api, sqlite_container


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


async def _card_event(api: Api) -> dict[str, Any]:
    today = api.clock.now().date()
    window = {"from": (today - dt.timedelta(days=60)).isoformat(), "to": today.isoformat()}
    missing = await api.client.get(f"{API}/bank/missing-receipts", params=window, headers=api.agent)
    assert missing.status_code == 200, missing.text
    event: dict[str, Any] = missing.json()["transactions"][0]
    assert event["currency"] == "NOK" and Decimal(event["amount"]) < 0
    return event


async def _uploaded(api: Api) -> str:
    """A stored receipt file (the executor attaches it to the bank event)."""
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32) + b"usd"
    response = await api.client.post(
        f"{API}/files",
        params={"filename": "openai.png"},
        content=png,
        headers={**api.agent, "Content-Type": "image/png"},
    )
    assert response.status_code == 201, response.text
    sha256: str = response.json()["sha256"]
    return sha256


def _usd_receipt(event: dict[str, Any], **changes: str) -> dict[str, Any]:
    return {
        "merchantName": event.get("merchantName") or event["description"],
        "amount": "41.00",
        "currency": "USD",
        "date": event["date"],
        "vatRate": "0",
        "accountCode": "6810",
        "folioEventId": event["eventId"],
        **changes,
    }


async def _metadata(api: Api, event_id: str) -> dict[str, Any]:
    shown = await api.client.get(f"{API}/events/{event_id}", headers=api.reviewer)
    assert shown.status_code == 200, shown.text
    metadata: dict[str, Any] = shown.json()["metadata"]
    return metadata


async def _executed_debits(api: Api, account: str) -> Decimal:
    """Run the executor once and read what `account` was debited in the ledger."""
    executor = await resolve(api.container.executor)
    await executor.run_once()
    report = await api.client.get(f"{API}/reports/trial-balance", headers=api.reviewer)
    assert report.status_code == 200, report.text
    rows = [row for row in report.json()["accounts"] if row["account"] == account]
    return sum((Decimal(row["debit"]) for row in rows), Decimal(0))


async def test_the_bank_payment_it_names_is_the_receipts_nok_amount(api: Api) -> None:
    event = await _card_event(api)
    document = await _uploaded(api)
    body = await api.propose(
        "ReceiptAttachmentProposed", _usd_receipt(event, documentHash=document)
    )
    assert body["decision"]["rule"] != "nok-amount-missing", body
    paid = str(-Decimal(event["amount"]))
    exchange = (await _metadata(api, body["proposalId"]))["exchange"]
    assert (exchange["source"], exchange["reference"]) == ("bank", event["eventId"])
    assert (exchange["currency"], exchange["amount"], exchange["nokAmount"]) == (
        "USD",
        "41.00",
        paid,
    )
    approved = await api.approve(body["proposalId"])
    assert approved.status_code == 200, approved.text
    assert await _executed_debits(api, "6810") == Decimal(paid)


async def test_without_one_approval_is_a_422_until_the_reviewer_gives_it(api: Api) -> None:
    event = await _card_event(api)
    body = await api.propose(
        "ReceiptAttachmentProposed", _usd_receipt(event, folioEventId="ev-not-listed")
    )
    assert body["status"] == "PROPOSED"
    assert body["decision"]["rule"] == "nok-amount-missing"
    assert "nok-amount" in [r["signal"] for r in body["confidence"]["reasons"]]
    refused = await api.approve(body["proposalId"])
    problem = assert_problem(refused, 422, "nok-amount-missing")
    assert "nokAmount" in problem["detail"]
    approved = await api.approve(body["proposalId"], {"corrections": {"nokAmount": "452.37"}})
    assert approved.status_code == 200, approved.text
    proposal = approved.json()["proposal"]
    assert proposal["status"] == "APPROVED"
    assert proposal["corrections"] == {"nokAmount": "452.37"}
    exchange = (await _metadata(api, approved.json()["eventId"]))["exchange"]
    assert (exchange["nokAmount"], exchange["rate"], exchange["source"]) == (
        "452.37",
        "11.033415",
        "reviewer",
    )


async def test_a_corrected_amount_needs_the_nok_amount_again(api: Api) -> None:
    """ADR 0051 addendum: the bank's NOK amount was paid for 41.00 USD, not for a
    corrected 50.00 USD: the approval is a 422 until the reviewer gives its NOK amount."""
    event = await _card_event(api)
    document = await _uploaded(api)
    body = await api.propose(
        "ReceiptAttachmentProposed", _usd_receipt(event, documentHash=document)
    )
    assert (await _metadata(api, body["proposalId"]))["exchange"]["source"] == "bank"
    refused = await api.approve(body["proposalId"], {"corrections": {"amount": "50.00"}})
    problem = assert_problem(refused, 422, "nok-amount-stale")
    assert "41.00 to 50.00" in problem["detail"] and "nokAmount" in problem["detail"]
    approved = await api.approve(
        body["proposalId"], {"corrections": {"amount": "50.00", "nokAmount": "536.50"}}
    )
    assert approved.status_code == 200, approved.text
    exchange = (await _metadata(api, approved.json()["eventId"]))["exchange"]
    assert (exchange["amount"], exchange["nokAmount"], exchange["source"]) == (
        "50.00",
        "536.50",
        "reviewer",
    )
    assert await _executed_debits(api, "6810") == Decimal("536.50")


async def test_the_saft_file_carries_the_documents_currency(api: Api) -> None:
    """End to end (ADR 0020 addendum): the executed USD receipt's lines in GET
    /exports/saf-t carry CurrencyCode USD, the document's amount and the rate the
    bank's NOK payment implies; the file validates against the XSD."""
    from tests.saft_checks import NS, validate

    event = await _card_event(api)
    document = await _uploaded(api)
    body = await api.propose(
        "ReceiptAttachmentProposed", _usd_receipt(event, documentHash=document)
    )
    paid = str(-Decimal(event["amount"]))
    rate = Decimal((await _metadata(api, body["proposalId"]))["exchange"]["rate"])
    approved = await api.approve(body["proposalId"])
    assert approved.status_code == 200, approved.text
    assert await _executed_debits(api, "6810") == Decimal(paid)
    day = event["date"]
    response = await api.client.get(
        f"{API}/exports/saf-t",
        params={"from": day[:4] + "-01-01", "to": day[:4] + "-12-31"},
        headers=api.headers("anna", "accountant"),
    )
    assert response.status_code == 200, response.text
    root = validate(response.content)
    amounts = [
        {child.tag.split("}")[1]: child.text for child in amount}
        for amount in root.iterfind(".//s:Line/*", NS)
        if amount.tag.endswith(("DebitAmount", "CreditAmount"))
    ]
    foreign = [a for a in amounts if a.get("CurrencyCode") == "USD"]
    # 0 % VAT: the expense and the payment line, each the whole amount.
    assert [a["Amount"] for a in foreign] == [paid, paid]
    assert {(a["CurrencyAmount"], Decimal(a["ExchangeRate"])) for a in foreign} == {("41.00", rate)}
    assert all(set(a) == {"Amount"} for a in amounts if a.get("CurrencyCode") is None)


async def test_a_currency_that_does_not_exist_is_a_422_and_nothing_is_kept(api: Api) -> None:
    """The currencies table (ISO 4217) decides, on SQLite and PostgreSQL alike: 'ABC' was
    proposed, approved with a NOK amount and sent to the books in no currency at all."""
    event = await _card_event(api)
    refused = await api.submit("ReceiptAttachmentProposed", _usd_receipt(event, currency="ABC"))
    problem = assert_problem(refused, 422, "invalid-proposal")
    assert "ABC is not an ISO 4217 currency" in problem["detail"]
    queue = await api.client.get(f"{API}/proposals", headers=api.reviewer)
    assert queue.json()["items"] == []
    await api.propose("ReceiptAttachmentProposed", _usd_receipt(event, currency="SEK"))
