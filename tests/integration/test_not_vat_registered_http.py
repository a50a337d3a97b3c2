"""ADR 0056 addendum 4 end to end, on SQLite and PostgreSQL: a company outside the VAT
register (`vatRegistered` false) deducts no input VAT and files no VAT return.

A Clas Ohlson receipt of 1 250 kr with 250 kr VAT at 25 % goes in through POST /documents
(the real offline reader), is proposed at 0 % with the gross as the cost and told why,
approved, executed against the loopback Fiken fake as one purchase line of vatType NONE
at 1 250 kr, and posted with nothing on 2710; the VAT report says there is no return. A
reviewer's correction that adds VAT or reverse charge is a 422 problem, a proposal with
VAT submitted over REST too, and a manual entry or a bus sale carrying a VAT code is
refused with its reason."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.application import messages as m
from bookkeeper.application.documents import PDF
from bookkeeper.domain.vat_registration import NO_VAT_RETURN, NOT_VAT_REGISTERED
from tests import documents
from tests.fakes.fiken import FakeFiken
from tests.http_helpers import API, Api, api_with_fiken, assert_problem
from tests.integration.test_web_pages import APP, login
from tests.saft_checks import NS, validate

TOKEN = "fiken-not-registered-token"
COMPANY = "not-registered-as"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Api, FakeFiken]]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with api_with_fiken(tmp_path, url, TOKEN, COMPANY) as (api, fiken):
        admin = api.headers("ada", "admin")
        saved = await api.client.put(
            f"{API}/rules/review-rules", json={"vatRegistered": False}, headers=admin
        )
        assert saved.status_code == 200, saved.text
        yield api, fiken


def _receipt() -> bytes:
    return documents.pdf(
        [
            "Clas Ohlson AS",
            "Karl Johans gate 5, 0154 Oslo",
            f"Foretaksregisteret NO {documents.spaced_org(documents.CLAS_ORG)} MVA",
            "Kvittering nr 55501234",
            "12.11.26 14:03",
            ("Drill/skrutrekker 18 V", "1 250,00"),
            ("Å betale", "kr 1 250,00"),
            ("MVA 25%", "250,00"),
            ("Kortbetaling Visa", "1 250,00"),
        ]
    )


async def _proposed(api: Api) -> dict[str, Any]:
    response = await api.client.post(
        f"{API}/documents", files={"file": ("clas.pdf", _receipt(), PDF)}, headers=api.agent
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_receipt_with_vat_is_a_cost_of_its_gross_and_no_return_is_due(
    world: tuple[Api, FakeFiken],
) -> None:
    api, fiken = world
    body = await _proposed(api)
    proposal = body["proposal"]
    shown = (await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)).json()
    data = shown["data"]
    assert (data["amount"], data["vatRate"], data["vatAmount"]) == ("1250.00", "0", "0.00")
    assert "reverseCharge" not in data
    [reason] = [r for r in proposal["confidence"]["reasons"] if r["signal"] == "vat-registration"]
    said = m.sentence(reason["detail"], m.NORWEGIAN)
    assert said.startswith("selskapet er ikke mva-registrert: ingen fradragsrett"), said
    warned = [m.sentence(w, m.NORWEGIAN) for w in body["warnings"]]
    assert any(w.startswith("selskapet er ikke mva-registrert: mva-en på bilaget") for w in warned)

    # The review page offers no reverse charge to such a company (it would be refused).
    await login(api, "kari", "reviewer")
    review = (await api.client.get(f"{APP}/review/{proposal['id']}")).text
    assert 'id="corrections"' in review
    assert 'name="reverse_charge"' not in review
    assert "selskapet er ikke mva-registrert: ingen fradragsrett" in review

    approved = await api.approve(proposal["id"])
    assert approved.status_code == 200, approved.text
    await api.executed(proposal["id"])

    [request] = fiken.purchase_requests.values()
    assert [(ln["vatType"], ln["netPrice"], ln.get("vat", 0)) for ln in request["lines"]] == [
        ("NONE", 125000, 0)
    ]
    trial = await api.client.get(f"{API}/reports/trial-balance", headers=api.viewer)
    accounts = {a["account"]: a for a in trial.json()["accounts"]}
    assert "2710" not in accounts, accounts
    assert accounts[data["accountCode"]]["debit"] == "1250.00"

    report = await api.client.get(
        f"{API}/reports/vat", params={"year": 2026, "term": 6}, headers=api.viewer
    )
    assert report.status_code == 200, report.text
    vat = report.json()
    assert vat["vatRegistered"] is False and vat["dueDate"] is None
    assert vat["note"] == NO_VAT_RETURN
    assert vat["lines"] == [] and vat["payable"] == "0.00" and vat["inputVat"] == "0.00"
    assert [(ln["vatCode"], ln["base"]) for ln in vat["notInReturn"]] == [("0", "1250.00")]
    # The CSV says it too: a note row after the totals (0.00: no return pays them).
    exported = await api.client.get(
        f"{API}/reports/vat",
        params={"year": 2026, "term": 6, "format": "csv"},
        headers=api.viewer,
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][7] == "note"
    assert ["note", "", "", "", "", "", "", NO_VAT_RETURN, "", ""] in rows
    assert rows.index(["note", "", "", "", "", "", "", NO_VAT_RETURN, "", ""]) == 4  # payable

    # The web page says so instead of a due date and a sum to pay.
    page = (await api.client.get(f"{APP}/reports/vat?year=2026&term=6")).text
    assert m.text("web.no_vat_return", m.NORWEGIAN) in page
    assert "01.11.2026 – 31.12.2026" in page and "10.02.2027" not in page


@pytest.mark.parametrize(
    "corrections",
    [{"vatRate": "25"}, {"vatAmount": "250.00"}, {"reverseCharge": True}],
    ids=["rate", "vat-amount", "reverse-charge"],
)
async def test_a_correction_adding_vat_or_reverse_charge_is_a_422(
    world: tuple[Api, FakeFiken], corrections: dict[str, Any]
) -> None:
    api, _ = world
    proposal = (await _proposed(api))["proposal"]
    refused = await api.approve(proposal["id"], {"corrections": corrections})
    problem = assert_problem(refused, 422, "not-vat-registered")
    assert problem["detail"] == NOT_VAT_REGISTERED
    state = await api.client.get(f"{API}/proposals/{proposal['id']}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"
    # The same proposal is approved as it was proposed.
    approved = await api.approve(proposal["id"], {"corrections": {"vatRate": "0"}})
    assert approved.status_code == 200, approved.text


async def test_a_proposal_with_vat_submitted_over_rest_is_a_422(
    world: tuple[Api, FakeFiken],
) -> None:
    api, _ = world
    response = await api.submit(
        "ExpenseRegistrationProposed",
        {
            "employee": "Kari Nordmann",
            "merchantName": "Clas Ohlson AS",
            "category": "utstyr",
            "amount": "1250.00",
            "date": "2026-11-12",
            "vatRate": "25",
            "vatAmount": "250.00",
            "accountCode": "6540",
        },
    )
    problem = assert_problem(response, 422, "not-vat-registered")
    assert problem["detail"] == NOT_VAT_REGISTERED


async def test_a_manual_entry_or_a_bus_sale_with_vat_is_refused_with_its_reason(
    world: tuple[Api, FakeFiken],
) -> None:
    api, _ = world
    accountant = api.headers("anna", "accountant")
    entry = {
        "date": "2026-11-02",
        "description": "Verktøy",
        "lines": [
            {"account": "6540", "debit": "1000.00", "vatCode": "1", "vatPart": "base"},
            {"account": "2710", "debit": "250.00", "vatCode": "1", "vatPart": "tax"},
            {"account": "1920", "credit": "1250.00"},
        ],
    }
    refused = await api.client.post(f"{API}/journal-entries", json=entry, headers=accountant)
    problem = assert_problem(refused, 422, "invalid-journal-entry")
    assert "not VAT-registered, so VAT code 1 cannot be used" in problem["detail"]
    gross = {
        **entry,
        "lines": [
            {"account": "6540", "debit": "1250.00", "vatCode": "0"},
            {"account": "1920", "credit": "1250.00"},
        ],
    }
    accepted = await api.client.post(f"{API}/journal-entries", json=gross, headers=accountant)
    assert accepted.status_code == 201, accepted.text

    system = api.headers("billing-service", "system")

    def invoice(invoice_id: str, vat: str) -> dict[str, Any]:
        data = {
            "invoice_id": invoice_id,
            "issue_date": "2026-11-03",
            "net_amount": "1000.00",
            "vat_amount": vat,
            "customer_country": "NO",
        }
        return {"type": "InvoiceIssued", "source": "invoicing", "tenant": "acme", "data": data}

    with_vat = await api.client.post(
        f"{API}/bus/events", json=invoice("F-1", "250.00"), headers=system
    )
    problem = assert_problem(with_vat, 422, "not-bookable")
    assert "VAT code 3 (output VAT) cannot be used" in problem["detail"]
    assert "merverdiavgiftsloven § 11-3" in problem["detail"]
    without = await api.client.post(
        f"{API}/bus/events", json=invoice("F-2", "0.00"), headers=system
    )
    assert without.status_code == 201, without.text


async def test_the_saft_header_claims_no_vat_registration(
    world: tuple[Api, FakeFiken],
) -> None:
    """SAF-T's Company/TaxRegistration is the company's VAT number (orgnr + "MVA"),
    "mandatory if the company is subject to VAT": the file of a company outside the
    register names none (probe4: it said "<orgnr>MVA" whatever the company's rules)."""
    api, _ = world
    auditor = api.headers("revisor", "admin")
    period = {"from": "2026-01-01", "to": "2026-12-31"}
    unregistered = await api.client.get(f"{API}/exports/saf-t", params=period, headers=auditor)
    assert unregistered.status_code == 200, unregistered.text
    root = validate(unregistered.content)
    assert root.find("s:Header/s:Company/s:TaxRegistration", NS) is None
    assert root.findtext("s:Header/s:Company/s:RegistrationNumber", namespaces=NS)

    saved = await api.client.put(
        f"{API}/rules/review-rules",
        json={"vatRegistered": True},
        headers=api.headers("ada", "admin"),
    )
    assert saved.status_code == 200, saved.text
    registered = validate(
        (await api.client.get(f"{API}/exports/saf-t", params=period, headers=auditor)).content
    )
    number = registered.findtext(
        "s:Header/s:Company/s:TaxRegistration/s:TaxRegistrationNumber", namespaces=NS
    )
    orgnr = registered.findtext("s:Header/s:Company/s:RegistrationNumber", namespaces=NS)
    assert number == f"{orgnr}MVA"

    # Registered from 2027 (`vatRegisteredFrom`): not in the register in 2026, so 2026's
    # file claims no VAT number (it did, whatever the date), and 2027's does; both valid.
    later = await api.client.put(
        f"{API}/rules/review-rules",
        json={"vatRegistered": True, "vatRegisteredFrom": "2027-01-01"},
        headers=api.headers("ada", "admin"),
    )
    assert later.status_code == 200, later.text
    before = validate(
        (await api.client.get(f"{API}/exports/saf-t", params=period, headers=auditor)).content
    )
    assert before.find("s:Header/s:Company/s:TaxRegistration", NS) is None
    after = validate(
        (
            await api.client.get(
                f"{API}/exports/saf-t",
                params={"from": "2027-01-01", "to": "2027-12-31"},
                headers=auditor,
            )
        ).content
    )
    assert (
        after.findtext(
            "s:Header/s:Company/s:TaxRegistration/s:TaxRegistrationNumber", namespaces=NS
        )
        == f"{orgnr}MVA"
    )
