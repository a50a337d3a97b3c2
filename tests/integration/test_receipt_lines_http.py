"""ADR 0052 end to end, on SQLite and PostgreSQL: a KIWI receipt with food at 15 % and other
goods at 25 % goes in through POST /documents (the real offline reader), is proposed with
its parts per rate, cannot be corrected to one rate, is approved with another account,
executed against the loopback Fiken fake (the real client and adapter) as a cash purchase
of one line per rate, and posted to the ledger so that the VAT report counts each base at
its rate."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests import documents
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    running_api,
)
from tests.integration.test_web_pages import APP, login
from tests.polling import polls


async def _upload(api: Api) -> dict[str, Any]:
    content, content_type, _ = documents.kiwi_receipt()
    response = await api.client.post(
        f"{API}/documents",
        files={"file": ("kiwi.pdf", content, content_type)},
        headers=api.agent,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_two_rate_receipt_is_booked_and_reported_at_each_rate(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = fiken_world
    body = await _upload(api)
    proposal = body["proposal"]
    assert proposal["type"] == "ExpenseRegistrationProposed"  # no bank payment to attach to
    assert proposal["status"] == "PROPOSED"
    shown = await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)
    assert shown.status_code == 200, shown.text
    view = shown.json()
    parts = [(i["vatRate"], i["amount"]) for i in view["data"]["lineItems"]]
    assert parts == [("25", "41.90"), ("15", "152.00")]
    assert (view["amount"], view["vatRate"], view["data"]["vatAmount"]) == (
        "193.90",
        "15",
        "28.21",
    )

    refused = await api.approve(proposal["id"], {"corrections": {"vatRate": "25"}})
    problem = assert_problem(refused, 422, "invalid-correction")
    assert "several VAT rates" in problem["detail"]
    assert "41,90 kr at 25 %" in problem["detail"], problem["detail"]

    approved = await api.approve(proposal["id"], {"corrections": {"accountCode": "7790"}})
    assert approved.status_code == 200, approved.text
    for _ in polls():
        done = await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)
        if done.json()["status"] in ("EXECUTED", "FAILED"):
            break
        await asyncio.sleep(0.2)
    assert done.json()["status"] == "EXECUTED", done.json()

    [request] = fiken.purchase_requests.values()
    assert request["kind"] == "cash_purchase"
    assert [
        (ln["vatType"], ln["netPrice"], ln["vat"], ln["account"]) for ln in request["lines"]
    ] == [
        ("HIGH", 3352, 838, "7790"),
        ("MEDIUM", 13217, 1983, "7790"),
    ]

    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 2}, headers=api.viewer
    )
    assert report.status_code == 200, report.text
    lines = {(ln["vatCode"], ln["rate"]): (ln["base"], ln["vat"]) for ln in report.json()["lines"]}
    assert lines == {("1", "25"): ("33.52", "8.38"), ("11", "15"): ("132.17", "19.83")}
    assert report.json()["inputVat"] == "28.21"


async def test_the_review_page_lists_the_parts_per_rate(tmp_path: Path) -> None:
    """The web page shows a multi-rate receipt's parts, each with its rate, as people read
    them (and REST proposes it with them through POST /events)."""
    async with running_api(tmp_path) as api:
        proposed = await api.propose(
            "ExpenseRegistrationProposed",
            {
                "employee": "kari",
                "category": "food",
                "merchantName": "KIWI 505 Majorstuen",
                "amount": "1193.90",
                "date": "2026-03-02",
                "vatRate": "15",
                "vatAmount": "158.64",
                "accountCode": "5990",
                "lineItems": [
                    {"description": "15 % mva", "amount": "1152.00", "vatRate": "15"},
                    {"description": "25 % mva", "amount": "41.90", "vatRate": "25"},
                ],
            },
        )
        await login(api, "per", "reviewer")
        page = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
        parts = page.split('id="line-items"', 1)[1].split("</ul>", 1)[0]
        assert "1 152,00" in parts.replace("\u00a0", " ") and "(15 %)" in parts, parts
        assert "41,90" in parts and "(25 %)" in parts, parts
        assert "Linjer (per mva-sats)" in page
