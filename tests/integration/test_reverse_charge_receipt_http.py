"""ADR 0056 addendum end to end, on SQLite and PostgreSQL: a USD receipt of a foreign SaaS
seller (no Norwegian VAT on it) goes in through POST /documents (the real offline
reader), is proposed with reverse charge and told why (the confidence explanation), is
approved with its NOK amount and executed against the loopback Fiken fake under
HIGH_FOREIGN_SERVICE_DEDUCTIBLE — and on 7350 (a reviewer's correction) under
HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE, the VAT report then showing 87 payable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.application.documents import PDF
from tests import documents
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api, api_with_fiken, vat_lines
from tests.integration.test_web_pages import APP, login

TOKEN = "fiken-reverse-receipt-token"
COMPANY = "reverse-receipt-as"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Api, FakeFiken]]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with api_with_fiken(tmp_path, url, TOKEN, COMPANY) as world:
        yield world


def _github_receipt(number: str) -> bytes:
    return documents.pdf(
        [
            "GitHub, Inc.",
            "88 Colin P Kelly Jr Street, San Francisco, CA 94107, USA",
            "Receipt",
            f"Receipt number: {number}",
            "Date paid: 2026-04-10",
            ("GitHub Team, 5 seats", "USD 20.00"),
            ("Sales tax 0%", "USD 0.00"),
            ("Total paid", "USD 20.00"),
            "Paid with Visa ending 4242",
        ]
    )


async def _proposed(api: Api, number: str) -> dict[str, Any]:
    response = await api.client.post(
        f"{API}/documents",
        files={"file": ("github.pdf", _github_receipt(number), PDF)},
        headers=api.agent,
    )
    assert response.status_code == 201, response.text
    proposal: dict[str, Any] = response.json()["proposal"]
    return proposal


async def test_a_card_paid_foreign_service_is_reverse_charge(
    world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = world
    proposal = await _proposed(api, "2411-7788")
    assert proposal["type"] == "ExpenseRegistrationProposed"
    shown = (await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)).json()
    data = shown["data"]
    assert (data["reverseCharge"], data["vatRate"], data["currency"]) == (True, "0", "USD")
    reasons = [r for r in proposal["confidence"]["reasons"] if r["signal"] == "reverse-charge"]
    assert len(reasons) == 1 and "SAF-T 86" in reasons[0]["detail"], proposal["confidence"]

    # The review page offers it ticked, as an invoice's (ADR 0056).
    await login(api, "per", "reviewer")
    page = (await api.client.get(f"{APP}/review/{proposal['id']}")).text
    assert 'name="reverse_charge" value="1" checked' in page

    approved = await api.approve(proposal["id"], {"corrections": {"nokAmount": "210.00"}})
    assert approved.status_code == 200, approved.text
    await api.executed(proposal["id"])
    [request] = fiken.purchase_requests.values()
    assert request["kind"] == "cash_purchase"
    assert [(ln["vatType"], ln["netPrice"], ln["vat"]) for ln in request["lines"]] == [
        ("HIGH_FOREIGN_SERVICE_DEDUCTIBLE", 21000, 0)
    ]
    report = await api.vat_report(2026, 2)
    assert vat_lines(report) == [
        ("86", "25", "output", "210.00", "52.50"),
        ("86", "25", "input", "0.00", "52.50"),
    ]
    assert report["payable"] == "0.00"


async def test_on_representation_it_is_87_and_the_vat_is_payable(
    world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = world
    proposal = await _proposed(api, "2411-7789")
    approved = await api.approve(
        proposal["id"], {"corrections": {"nokAmount": "210.00", "accountCode": "7350"}}
    )
    assert approved.status_code == 200, approved.text
    await api.executed(proposal["id"])
    [request] = fiken.purchase_requests.values()
    assert [(ln["vatType"], ln["netPrice"], ln["vat"]) for ln in request["lines"]] == [
        ("HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE", 21000, 0)
    ]
    report = await api.vat_report(2026, 2)
    assert vat_lines(report) == [("87", "25", "output", "210.00", "52.50")]
    assert (report["outputVat"], report["inputVat"], report["payable"]) == (
        "52.50",
        "0.00",
        "52.50",
    )
