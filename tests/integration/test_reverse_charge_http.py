"""ADR 0056 end to end, on SQLite and PostgreSQL: Figma's EUR invoice ("VAT 0 % – reverse
charge") goes in through POST /documents (the real offline reader), is proposed as a
reverse-charge purchase, is approved with its NOK amount (ADR 0051), is executed against
the loopback Fiken fake (the real client and adapter) under
HIGH_FOREIGN_SERVICE_DEDUCTIBLE, and is posted so that the VAT report shows SAF-T 86 with
25 % on both sides and nothing to pay; a NOK invoice without VAT becomes one when the
reviewer corrects reverseCharge."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bookkeeper.application.documents import PDF
from tests import documents
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api, running_api, vat_lines
from tests.integration.test_web_pages import APP, login


def _figma_invoice() -> bytes:
    return documents.pdf(
        [
            "Figma, Inc.",
            "760 Market Street, Floor 10, San Francisco, CA 94102, USA",
            "INVOICE",
            "Invoice number: FIG-2026-0412",
            "Invoice date: 2026-04-10",
            "Due date: 2026-05-10",
            ("Figma Professional, 2 editors", "EUR 90.00"),
            ("Subtotal", "EUR 90.00"),
            ("VAT 0% - reverse charge", "EUR 0.00"),
            ("Total due", "EUR 90.00"),
        ]
    )


async def test_a_foreign_service_invoice_is_booked_and_reported_as_reverse_charge(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = fiken_world
    response = await api.client.post(
        f"{API}/documents",
        files={"file": ("figma.pdf", _figma_invoice(), PDF)},
        headers=api.agent,
    )
    assert response.status_code == 201, response.text
    proposal = response.json()["proposal"]
    assert proposal["type"] == "InvoiceRegistrationProposed"
    shown = await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)
    data = shown.json()["data"]
    assert (data["reverseCharge"], data["vatRate"], data["currency"], data["amount"]) == (
        True,
        "0",
        "EUR",
        "90.00",
    )

    approved = await api.approve(proposal["id"], {"corrections": {"nokAmount": "1053.00"}})
    assert approved.status_code == 200, approved.text
    await api.executed(proposal["id"])

    [request] = fiken.purchase_requests.values()
    assert request["kind"] == "supplier" and request["currency"] == "EUR"
    assert [
        (ln["vatType"], ln["netPrice"], ln["vat"], ln["netPriceInCurrency"], ln["account"])
        for ln in request["lines"]
    ] == [("HIGH_FOREIGN_SERVICE_DEDUCTIBLE", 105300, 0, 9000, request["lines"][0]["account"])]

    report = await api.vat_report(2026, 2)
    assert vat_lines(report) == [
        ("86", "25", "output", "1053.00", "263.25"),
        ("86", "25", "input", "0.00", "263.25"),
    ]
    assert report["notInReturn"] == []
    assert (report["outputVat"], report["inputVat"], report["payable"]) == (
        "263.25",
        "263.25",
        "0.00",
    )
    # Fiken's books and ours agree on the VAT accounts and on what the supplier is owed.
    balances = {b["code"]: b["balance"] for b in fiken.balances(dt.date(2026, 4, 30))}
    assert (balances["2700"], balances["2710"]) == (-26325, 26325)
    trial = await api.client.get(
        f"{API}/reports/trial-balance", params={"to": "2026-04-30"}, headers=api.viewer
    )
    assert trial.status_code == 200, trial.text
    ours = {a["account"].split(":")[0]: a["balance"] for a in trial.json()["accounts"]}
    assert (ours["2700"], ours["2710"], ours["2400"]) == ("-263.25", "263.25", "-1053.00")
    assert balances[request["lines"][0]["account"]] == 105300


async def test_the_reviewer_books_a_nok_invoice_without_vat_as_reverse_charge(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = fiken_world
    proposed = await api.propose(
        "InvoiceRegistrationProposed",
        {
            "supplier": "Atlassian Pty Ltd",
            "amount": "800.00",
            "date": "2026-03-20",
            "dueDate": "2026-04-19",
            "vatRate": "0",
            "vatAmount": "0.00",
            "accountCode": "6540",
            "invoiceNumber": "AT-77",
        },
    )
    approved = await api.approve(proposed["proposalId"], {"corrections": {"reverseCharge": True}})
    assert approved.status_code == 200, approved.text
    await api.executed(proposed["proposalId"])
    [request] = fiken.purchase_requests.values()
    assert [(ln["vatType"], ln["netPrice"], ln["vat"]) for ln in request["lines"]] == [
        ("HIGH_FOREIGN_SERVICE_DEDUCTIBLE", 80000, 0)
    ]
    report = await api.vat_report(2026, 2)
    assert vat_lines(report) == [
        ("86", "25", "output", "800.00", "200.00"),
        ("86", "25", "input", "0.00", "200.00"),
    ]
    assert report["payable"] == "0.00"


async def test_the_review_page_ticks_reverse_charge_on_and_off(tmp_path: Path) -> None:
    """The page offers the reverse charge on an invoice (ticked as proposed) and sends a
    change of it as the correction `reverseCharge`; nothing changed, nothing sent."""
    async with running_api(tmp_path) as api:
        invoice = {
            "supplier": "Atlassian Pty Ltd",
            "amount": "800.00",
            "date": "2026-03-20",
            "dueDate": "2026-04-19",
            "vatRate": "0",
            "vatAmount": "0.00",
            "accountCode": "6540",
            "invoiceNumber": "AT-78",
        }
        plain = await api.propose("InvoiceRegistrationProposed", invoice)
        marked = await api.propose(
            "InvoiceRegistrationProposed",
            {**invoice, "invoiceNumber": "AT-79", "reverseCharge": True},
        )
        csrf = await login(api, "per", "reviewer")
        page = (await api.client.get(f"{APP}/review/{plain['proposalId']}")).text
        assert 'name="reverse_charge"' in page and "Omvendt avgiftsplikt" in page
        assert 'value="1" checked' not in page
        assert (
            'value="1" checked'
            in (await api.client.get(f"{APP}/review/{marked['proposalId']}")).text
        )
        form = {"_csrf_token": csrf, "account_code": "6540", "vat_rate": "0"}
        for proposal, ticked, expected in (
            (plain, {"reverse_charge": "1"}, {"reverseCharge": True}),
            (marked, {}, {"reverseCharge": False}),
        ):
            done = await api.client.post(
                f"{APP}/review/{proposal['proposalId']}/approve",
                data={**form, "reverse_charge_shown": "1", **ticked},
                follow_redirects=False,
            )
            assert done.status_code == 303, done.text
            state = await api.client.get(
                f"{API}/proposals/{proposal['proposalId']}", headers=api.viewer
            )
            assert state.json()["status"] == "APPROVED"
            assert state.json()["corrections"] == expected
