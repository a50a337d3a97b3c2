"""Closed periods and locked VAT terms over HTTP on SQLite and PostgreSQL (ADR 0040
addendum on every kind of posting): a manual entry with VAT into a locked term is a 409
`vat-term-locked` and writes nothing, one without VAT lines is booked; a bus invoice dated
into a locked term is booked after it, saying so; a reversal of an entry in today's locked
term posts after the term; the locked term's VAT report is as reported throughout, and a
replay gives the same ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.container import resolve
from tests.http_helpers import API, Api, assert_problem, expense, running_api, sqlite_container


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


async def vat_report(api: Api, year: int, term: int) -> dict[str, Any]:
    got = await api.client.get(
        f"{API}/reports/vat", params={"year": year, "term": term}, headers=api.reviewer
    )
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def ledger(api: Api, account: str) -> list[tuple[str, str, str, str]]:
    got = await api.client.get(
        f"{API}/reports/general-ledger", params={"account": account}, headers=api.reviewer
    )
    assert got.status_code == 200, got.text
    return [(i["date"], i["debit"], i["credit"], i["entryId"]) for i in got.json()["items"]]


def rent(date: str, *, vat: bool) -> dict[str, Any]:
    lines: list[dict[str, Any]] = (
        [
            {"account": "6300", "debit": "1000.00", "vatCode": "1", "vatPart": "base"},
            {"account": "2710", "debit": "250.00", "vatCode": "1", "vatPart": "tax"},
            {"account": "1920", "credit": "1250.00"},
        ]
        if vat
        else [{"account": "5000", "debit": "1250.00"}, {"account": "1920", "credit": "1250.00"}]
    )
    return {"date": date, "description": "Husleie" if vat else "Lønn", "lines": lines}


async def test_every_kind_of_posting_keeps_out_of_a_locked_term(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    system = api.headers("billing-service", "system")
    proposed = await api.propose("ExpenseRegistrationProposed", expense(date="2026-11-05"))
    target = proposed["proposalId"]
    assert (await api.approve(target)).status_code == 200
    await api.executed(target)
    lock = await api.client.post(f"{API}/rules/vat-terms/2026/6/lock", headers=accountant)
    assert lock.status_code == 201, lock.text
    reported = await vat_report(api, 2026, 6)
    assert reported["inputVat"] == "48.00"

    # A manual entry with VAT: refused, nothing written.
    refused = await api.client.post(
        f"{API}/journal-entries", json=rent("2026-11-18", vat=True), headers=accountant
    )
    body = assert_problem(refused, 409, "vat-term-locked")
    assert "2026-6" in body["detail"]
    assert await ledger(api, "6300") == []
    # Without VAT lines it changes no return: booked on its date.
    salary = await api.client.post(
        f"{API}/journal-entries", json=rent("2026-11-18", vat=False), headers=accountant
    )
    assert salary.status_code == 201, salary.text
    assert salary.json()["date"] == "2026-11-18"

    # A bus invoice issued in the locked term: booked on the first day after it.
    invoice = {
        "type": "InvoiceIssued",
        "source": "invoicing",
        "tenant": "acme",
        "data": {
            "invoice_id": "F-9",
            "issue_date": "2026-12-01",
            "net_amount": "1000.00",
            "vat_amount": "250.00",
        },
    }
    booked = await api.client.post(f"{API}/bus/events", json=invoice, headers=system)
    assert booked.status_code == 201, booked.text
    assert booked.json()["date"] == "2027-01-01"
    assert "(dokumentdato 2026-12-01, MVA-termin 2026-6 låst)" in booked.json()["description"]

    # A reversal of the expense (today, 20 November, is in the locked term): after it.
    submitted = await api.submit(
        "ReversalProposed", {"targetProposalId": target, "reason": "Feilført"}, headers=accountant
    )
    assert submitted.status_code == 201, submitted.text
    reversal_id = submitted.json()["eventId"]
    assert (await api.approve(reversal_id)).status_code == 200
    await api.executed(reversal_id)
    vat = await ledger(api, "2713")
    assert [(d, dr, cr) for d, dr, cr, _ in vat] == [
        ("2026-11-05", "48.00", "0.00"),
        ("2027-01-01", "0.00", "48.00"),
    ]
    shown = await api.client.get(f"{API}/journal-entries/{vat[1][3]}", headers=accountant)
    assert "opprinnelig dato 2026-11-05 i lukket MVA-termin 2026-6" in shown.json()["description"]

    assert await vat_report(api, 2026, 6) == reported
    # Replay equals live.
    before = [await ledger(api, a) for a in ("2713", "2710", "7140", "5000")]
    replay = await resolve(api.container.replay)
    await replay(None)
    assert [await ledger(api, a) for a in ("2713", "2710", "7140", "5000")] == before
    assert await vat_report(api, 2026, 6) == reported
