"""One bank payment is booked once (ADR 0051 addendum), over HTTP on SQLite and PostgreSQL
with the sandbox bank: a receipt uploaded twice (the PDF, then a screenshot) gives two
proposals naming the same bank event; the second approval is refused with a 409 naming
the first, the bank gets one file and the ledger one payment (the races: see
test_one_bank_payment_sql.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.container import resolve
from tests.http_helpers import (
    API,
    TENANT,
    Api,
    assert_problem,
    receipt,
    running_api,
    sqlite_container,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


def _window(api: Api) -> tuple[dt.date, dt.date]:
    today = api.clock.now().date()
    return today - dt.timedelta(days=60), today


async def _card_event(api: Api) -> dict[str, Any]:
    start, end = _window(api)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    missing = await api.client.get(f"{API}/bank/missing-receipts", params=window, headers=api.agent)
    assert missing.status_code == 200, missing.text
    event: dict[str, Any] = missing.json()["transactions"][0]
    return event


async def _uploaded(api: Api, filename: str, content: bytes, media_type: str) -> str:
    response = await api.client.post(
        f"{API}/files",
        params={"filename": filename},
        content=content,
        headers={**api.agent, "Content-Type": media_type},
    )
    assert response.status_code == 201, response.text
    sha256: str = response.json()["sha256"]
    return sha256


async def _twice(api: Api) -> tuple[dict[str, Any], str, str]:
    """The same card payment's receipt proposed twice: as a PDF, then as a screenshot."""
    event = await _card_event(api)
    pdf = await _uploaded(api, "kvittering.pdf", b"%PDF-1.4\n% receipt\n%%EOF\n", "application/pdf")
    png = await _uploaded(
        api, "skjermbilde.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32), "image/png"
    )
    ids = []
    for document in (pdf, png):
        body = await api.propose(
            "ReceiptAttachmentProposed",
            {
                "merchantName": event.get("merchantName") or event["description"],
                "amount": str(Decimal(event["amount"]).copy_abs()),
                "date": event["date"],
                "vatRate": "25",
                "accountCode": "6800",
                "folioEventId": event["eventId"],
                "documentHash": document,
            },
        )
        ids.append(body["proposalId"])
    return event, ids[0], ids[1]


async def _run_executor(api: Api, passes: int = 1) -> None:
    executor = await resolve(api.container.executor)
    for _ in range(passes):
        await executor.run_once()
        api.clock.advance(minutes=10)  # past any back-off


async def _status(api: Api, proposal_id: str) -> dict[str, Any]:
    shown = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.reviewer)
    assert shown.status_code == 200, shown.text
    body: dict[str, Any] = shown.json()
    return body


async def _bank_credits(api: Api) -> list[Decimal]:
    got = await api.client.get(
        f"{API}/reports/general-ledger", params={"account": "1920"}, headers=api.reviewer
    )
    assert got.status_code == 200, got.text
    return [Decimal(i["credit"]) for i in got.json()["items"] if Decimal(i["credit"])]


async def _attachments(api: Api, event: dict[str, Any]) -> int:
    """How many files the (sandbox) bank holds on the event."""
    backends = await resolve(api.container.backends)
    bank = backends.bank(TENANT)
    start, end = _window(api)
    found = [t for t in await bank.events(start, end) if event["eventId"] in (t.event_id, t.id)]
    assert found, event
    return len(found[0].attachments)


async def test_the_second_approval_of_one_bank_event_is_refused_and_it_is_paid_once(
    api: Api,
) -> None:
    event, first, second = await _twice(api)
    approved = await api.approve(first)
    assert approved.status_code == 200, approved.text

    refused = await api.approve(second)

    body = assert_problem(refused, 409, "bank-event-taken")
    assert first in body["detail"] and event["eventId"] in body["detail"]
    assert (await _status(api, second))["status"] == "PROPOSED"
    await _run_executor(api, 2)
    assert (await _status(api, first))["status"] == "EXECUTED"
    # Executed, the event stays held: the refusal holds, with the same words.
    again = assert_problem(await api.approve(second), 409, "bank-event-taken")
    assert first in again["detail"]
    assert await _bank_credits(api) == [Decimal(event["amount"]).copy_abs()]
    assert await _attachments(api, event) == 1
    # The reviewer's way out: reject it as the duplicate it is.
    rejected = await api.reject(second, {"reason": "Samme kvittering som " + first})
    assert rejected.status_code == 200, rejected.text


async def test_the_web_page_says_in_norwegian_which_proposal_has_the_payment(
    tmp_path: Path,
) -> None:
    from tests.integration.test_web_pages import APP, login

    async with running_api(tmp_path) as page_api:
        first = await page_api.propose("ReceiptAttachmentProposed", receipt())
        second = await page_api.propose("ReceiptAttachmentProposed", receipt(documentNumber="S"))
        assert (await page_api.approve(first["proposalId"])).status_code == 200
        csrf = await login(page_api, "kari", "reviewer")

        refused = await page_api.client.post(
            f"{APP}/review/{second['proposalId']}/approve",
            data={"_csrf_token": csrf},
            headers={"Accept-Language": "nb"},
        )

        assert refused.status_code == 409, refused.text
        assert 'role="alert"' in refused.text
        assert first["proposalId"] in refused.text
        assert "bokføres bare én gang" in refused.text
