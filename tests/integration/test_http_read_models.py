"""The stories over HTTP, and the read models: /proposals, /patterns, /reports."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import (
    API,
    Api,
    invoice,
    pattern,
    problem_fields,
    receipt,
    running_api,
    sqlite_container,
)


async def _get(api: Api, path: str, headers: dict[str, str] | None = None) -> Any:
    response = await api.client.get(f"{API}{path}", headers=headers or api.viewer)
    assert response.status_code == 200, response.text
    return response.json()


# --- the stories --------------------------------------------------------------------------


async def test_story_known_merchant_is_approved_automatically(api: Api) -> None:
    """A reviewer approves the pattern "Adobe" → 6540 at 25 %; a later receipt from Adobe's
    legal entity, complete and consistent, is approved without a person."""
    suggested = await api.propose("PatternSuggested", pattern("Adobe", "6540", "25"))
    assert suggested["decision"]["outcome"] == "awaiting_review"
    approved = await api.approve(suggested["proposalId"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["proposal"]["status"] == "EXECUTED"  # a pattern applies at once

    created = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(
            merchantName="Adobe Systems Software Ireland Ltd",
            amount="199.00",
            vatAmount="39.80",
            folioEventId="ev-123",
        ),
    )
    assert created["decision"]["outcome"] == "auto_approved"
    assert created["decision"]["rule"] == "auto-approve-known-pattern"
    assert created["confidence"]["score"] == 0.95
    assert created["status"] == "APPROVED"
    signals = {r["signal"]: r["effect"] for r in created["confidence"]["reasons"]}
    assert signals["pattern"] == "0.60"

    history = await _get(api, f"/correlations/{created['correlationId']}")
    assert [e["type"] for e in history["items"]] == [
        "ReceiptAttachmentProposed",
        "ReceiptAttachmentApproved",
    ]
    assert history["items"][1]["actor"] == "system:review-rules"
    queue = await _get(api, "/proposals?status=PROPOSED")
    assert queue["items"] == []


async def test_story_unknown_merchant_waits_for_review(api: Api) -> None:
    created = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(merchantName="Ukjent Kiosk ANS", amount="87.50", vatAmount="17.50"),
    )
    assert created["decision"]["outcome"] == "awaiting_review"
    assert created["decision"]["band"] == "review_required"
    assert created["confidence"]["score"] < 0.7
    assert created["status"] == "PROPOSED"
    queue = await _get(api, "/proposals?status=PROPOSED")
    assert [p["id"] for p in queue["items"]] == [created["proposalId"]]


async def test_a_proposers_claimed_confidence_cannot_raise_the_score(api: Api) -> None:
    created = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(merchantName="Ukjent Kiosk ANS"),
        proposerConfidence=1.0,
        bankTransactionVerified=True,
    )
    assert created["confidence"]["score"] < 0.7
    assert created["decision"]["outcome"] == "awaiting_review"


# --- /proposals ---------------------------------------------------------------------------


async def _mixed(api: Api) -> dict[str, str]:
    receipt_id = (await api.propose("ReceiptAttachmentProposed", receipt()))["proposalId"]
    invoice_id = (await api.propose("InvoiceRegistrationProposed", invoice()))["proposalId"]
    rejected = (await api.propose("InvoiceRegistrationProposed", invoice(invoiceNumber="F-2")))[
        "proposalId"
    ]
    await api.reject(rejected, {"reason": "duplicate"})
    return {"receipt": receipt_id, "invoice": invoice_id, "rejected": rejected}


async def test_the_review_queue(api: Api) -> None:
    ids = await _mixed(api)
    queue = await _get(api, "/proposals?status=PROPOSED")
    assert [p["id"] for p in queue["items"]] == [ids["receipt"], ids["invoice"]]
    assert queue["nextAfter"] is None
    first = queue["items"][0]
    assert first["kind"] == "receipt_attachment"
    assert first["merchantName"] == "Adobe Systems Software Ireland Ltd"
    assert first["amount"] == "199.00"
    assert first["vatRate"] == "25"
    assert isinstance(first["confidence"], float)
    assert first["reviewOutcome"] == "awaiting_review"


async def test_proposals_filter_by_kind_and_status(api: Api) -> None:
    ids = await _mixed(api)
    invoices = await _get(api, "/proposals?kind=invoice_registration")
    assert {p["id"] for p in invoices["items"]} == {ids["invoice"], ids["rejected"]}
    rejected = await _get(api, "/proposals?status=REJECTED&kind=invoice_registration")
    assert [p["id"] for p in rejected["items"]] == [ids["rejected"]]
    everything = await _get(api, "/proposals")
    assert len(everything["items"]) == 3


async def test_proposals_are_paged(api: Api) -> None:
    await _mixed(api)
    first = await _get(api, "/proposals?limit=2")
    assert len(first["items"]) == 2
    assert first["nextAfter"] == first["items"][-1]["lastPosition"]
    rest = await _get(api, f"/proposals?limit=2&after={first['nextAfter']}")
    assert len(rest["items"]) == 1
    assert rest["nextAfter"] is None


@pytest.mark.parametrize(("query", "field"), [("?status=PENDING", "status"), ("?kind=x", "kind")])
async def test_bad_proposal_filters_are_400(api: Api, query: str, field: str) -> None:
    response = await api.client.get(f"{API}/proposals{query}", headers=api.viewer)
    assert response.status_code == 400
    assert problem_fields(response.json()) == {field}


async def test_one_proposal(api: Api) -> None:
    ids = await _mixed(api)
    proposal = await _get(api, f"/proposals/{ids['rejected']}")
    assert proposal["status"] == "REJECTED"
    assert proposal["rejectionReason"] == "duplicate"
    assert proposal["documentNumber"] == "F-2"


async def test_an_unknown_or_foreign_proposal_is_404(api: Api) -> None:
    ids = await _mixed(api)
    for proposal_id, headers in ((str(uuid.uuid4()), api.viewer), (ids["receipt"], api.foreigner)):
        response = await api.client.get(f"{API}/proposals/{proposal_id}", headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "not-found"


# --- /patterns ----------------------------------------------------------------------------


async def test_patterns_are_the_applied_ones_of_the_tenant(api: Api) -> None:
    assert (await _get(api, "/patterns"))["items"] == []
    await api.learn_adobe()
    await api.propose("PatternSuggested", pattern("Kiwi", "4000", "15"))  # not approved
    items = (await _get(api, "/patterns"))["items"]
    assert items == [
        {
            "merchantKey": "adobe",
            "merchantName": "Adobe",
            "accountCode": "6540",
            "vatRate": "25",
            "suggestionId": items[0]["suggestionId"],
            "approvedBy": "human:kari",
            "appliedAt": items[0]["appliedAt"],
        }
    ]
    assert (await _get(api, "/patterns", headers=api.foreigner))["items"] == []


async def test_patterns_are_listed_a_page_at_a_time_with_a_cursor(api: Api) -> None:
    """GET /patterns answered every pattern at once, however many a tenant learned: it
    pages as the other lists do (`limit`, `cursor` = `nextCursor`), documented so."""
    for name in ("Kiwi", "Adobe", "Telenor"):
        suggested = await api.propose("PatternSuggested", pattern(name, "6540", "25"))
        assert (await api.approve(suggested["proposalId"])).status_code == 200
    first = await _get(api, "/patterns?limit=2")
    assert [p["merchantKey"] for p in first["items"]] == ["adobe", "kiwi"]
    assert first["nextCursor"]
    second = await _get(api, f"/patterns?limit=2&cursor={first['nextCursor']}")
    assert [p["merchantKey"] for p in second["items"]] == ["telenor"]
    assert second["nextCursor"] is None
    whole = await _get(api, "/patterns")  # the default page holds them all: as before
    assert [p["merchantKey"] for p in whole["items"]] == ["adobe", "kiwi", "telenor"]
    bad = await api.client.get(f"{API}/patterns?cursor=%21%21", headers=api.viewer)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    schema = (await api.client.get("/schema/openapi.json")).json()
    listed = schema["paths"][f"{API}/patterns"]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {"cursor", "limit"}


# --- /reports/approval-rate ---------------------------------------------------------------


async def test_the_approval_rate(api: Api) -> None:
    await api.learn_adobe()
    await api.propose("ReceiptAttachmentProposed", receipt())  # auto-approved
    await api.propose("InvoiceRegistrationProposed", invoice())  # pending
    rejected = await api.propose("InvoiceRegistrationProposed", invoice(invoiceNumber="F-9"))
    await api.reject(rejected["proposalId"], {"reason": "duplicate"})
    report = await _get(api, "/reports/approval-rate")
    assert report["proposed"] == 4
    assert report["approved"] == 2
    assert report["autoApproved"] == 1
    assert report["rejected"] == 1
    assert report["pending"] == 1
    assert report["approvalRate"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["autoApprovalRate"] == 0.5
    assert {k["kind"] for k in report["byKind"]} == {
        "pattern_suggestion",
        "receipt_attachment",
        "invoice_registration",
    }


async def test_the_approval_rate_of_a_period(api: Api) -> None:
    await api.propose("InvoiceRegistrationProposed", invoice())
    api.clock.advance(days=2)
    await api.propose("InvoiceRegistrationProposed", invoice(invoiceNumber="F-2"))
    report = await _get(api, "/reports/approval-rate?from=2026-11-21T00:00:00Z")
    assert report["proposed"] == 1
    assert report["start"].startswith("2026-11-21T00:00:00")
    empty = await _get(api, "/reports/approval-rate?to=2026-11-01T00:00:00Z")
    assert empty["proposed"] == 0
    assert empty["approvalRate"] is None


async def test_a_naive_report_period_is_400(api: Api) -> None:
    response = await api.client.get(
        f"{API}/reports/approval-rate?from=2026-11-21T00:00:00", headers=api.viewer
    )
    assert response.status_code == 400
    assert problem_fields(response.json()) == {"from"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_rate_is_spelt_the_same_by_every_store_and_every_answer(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A rate has one spelling ("25", "11.11", "0") whether it comes from the approval's
    answer or from the database's numeric column ("25.00" on SQLite and PostgreSQL)."""
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as api:
        receipt_id = (await api.propose("ReceiptAttachmentProposed", receipt()))["proposalId"]
        fish = await api.propose(
            "ReceiptAttachmentProposed",
            receipt(vatRate="11.11", vatAmount="19.90", documentNumber="R-2", folioEventId="e2"),
        )
        queue = await _get(api, "/proposals?status=PROPOSED")
        rates = {p["id"]: p["vatRate"] for p in queue["items"]}
        assert rates == {receipt_id: "25", fish["proposalId"]: "11.11"}
        approved = await api.approve(receipt_id, headers=api.reviewer)
        assert approved.status_code == 200, approved.text
        assert approved.json()["proposal"]["vatRate"] == "25"
        assert (await _get(api, f"/proposals/{receipt_id}"))["vatRate"] == "25"
        await api.propose("PatternSuggested", pattern("Adobe", "6540", "25"))
        suggestion = (await _get(api, "/proposals?status=PROPOSED&kind=pattern_suggestion"))[
            "items"
        ][0]
        assert suggestion["vatRate"] == "25"
