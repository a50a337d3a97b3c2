"""ADR 0055 end to end, on SQLite and PostgreSQL: a restaurant receipt proposed on 6860 with
140,60 kr VAT at 25 % is corrected by the reviewer to 7350 (representation, no input VAT
deduction under mval. § 8-3 (1) c), approved, executed against the loopback Fiken fake as a
purchase line of vatType NONE at the gross amount, and posted so that the trial balance has
the gross on 7350 and nothing on 2710 and the VAT report deducts nothing. A proposal on 7350
tells the reviewer why, in Norwegian; a manual entry deducting VAT on 7350 is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bookkeeper.application import messages as m
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    running_api,
)
from tests.integration.test_web_pages import APP, login


def dinner(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "employee": "Kari Nordmann",
        "merchantName": "Restaurant Fjord AS",
        "category": "kundemiddag",
        "amount": "703.00",
        "date": "2026-11-12",
        "vatRate": "25",
        "vatAmount": "140.60",
        "accountCode": "6860",
    }
    data.update(changes)
    return data


async def test_a_receipt_corrected_to_representation_deducts_no_vat(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = fiken_world
    proposed = await api.propose("ExpenseRegistrationProposed", dinner())
    approved = await api.approve(proposed["proposalId"], {"corrections": {"accountCode": "7350"}})
    assert approved.status_code == 200, approved.text
    await api.executed(proposed["proposalId"])

    [request] = fiken.purchase_requests.values()
    assert [
        (ln["vatType"], ln["netPrice"], ln.get("vat", 0), ln["account"]) for ln in request["lines"]
    ] == [("NONE", 70300, 0, "7350")]

    trial = await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)
    assert trial.status_code == 200, trial.text
    accounts = {a["account"]: a for a in trial.json()["accounts"]}
    assert "2710" not in accounts, accounts
    assert accounts["7350"]["debit"] == "703.00"
    assert "6860" not in accounts

    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 6}, headers=api.viewer
    )
    assert report.status_code == 200, report.text
    assert report.json()["inputVat"] == "0.00"
    assert not [ln for ln in report.json()["lines"] if ln["vatCode"] == "1"]


async def test_a_proposal_on_representation_says_why_and_books_gross(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = fiken_world
    proposed = await api.propose(
        "InvoiceRegistrationProposed",
        {
            "supplier": "Fjord Catering AS",
            "amount": "1250.00",
            "date": "2026-11-02",
            "dueDate": "2026-11-16",
            "vatRate": "25",
            "vatAmount": "250.00",
            "accountCode": "7350",
            "invoiceNumber": "K-77",
        },
    )
    [reason] = [r for r in proposed["confidence"]["reasons"] if r["signal"] == "vat-deduction"]
    said = m.sentence(reason["detail"], m.NORWEGIAN)
    assert said.startswith("ingen fradragsrett for representasjon (konto 7350"), said
    approved = await api.approve(proposed["proposalId"])
    assert approved.status_code == 200, approved.text
    await api.executed(proposed["proposalId"])
    [request] = fiken.purchase_requests.values()
    assert [(ln["vatType"], ln["netPrice"], ln.get("vat", 0)) for ln in request["lines"]] == [
        ("NONE", 125000, 0)
    ]
    trial = await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)
    accounts = {a["account"]: a for a in trial.json()["accounts"]}
    assert "2710" not in accounts and accounts["7350"]["debit"] == "1250.00"


async def test_a_manual_entry_deducting_vat_on_representation_is_refused(
    fiken_world: tuple[Api, FakeFiken],
) -> None:
    api, _ = fiken_world
    accountant = api.headers("anna", "accountant")
    entry = {
        "date": "2026-11-02",
        "description": "Kundemiddag",
        "lines": [
            {"account": "7350", "debit": "80.00", "vatCode": "1", "vatPart": "base"},
            {"account": "2710", "debit": "20.00", "vatCode": "1", "vatPart": "tax"},
            {"account": "1920", "credit": "100.00"},
        ],
    }
    refused = await api.client.post(f"{API}/journal-entries", json=entry, headers=accountant)
    problem = assert_problem(refused, 422)
    assert "7350" in problem["detail"] and "deduction" in problem["detail"]
    gross = {
        **entry,
        "lines": [
            {"account": "7350", "debit": "100.00", "vatCode": "0"},
            {"account": "1920", "credit": "100.00"},
        ],
    }
    accepted = await api.client.post(f"{API}/journal-entries", json=gross, headers=accountant)
    assert accepted.status_code == 201, accepted.text


async def test_the_review_page_says_why_after_a_correction_to_representation(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        proposed = await api.propose("ExpenseRegistrationProposed", dinner())
        await login(api, "per", "reviewer")
        before = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
        assert "ingen fradragsrett" not in before
        approved = await api.approve(
            proposed["proposalId"], {"corrections": {"accountCode": "7350"}}
        )
        assert approved.status_code == 200, approved.text
        page = (await api.client.get(f"{APP}/review/{proposed['proposalId']}")).text
        assert "ingen fradragsrett for representasjon (konto 7350" in page, page
