"""Hostile input found by probing a running server from outside (ADR 0049): each case here
once answered a 500, was stored in a spelling no other answer uses, or left the tenant
unable to propose. Every one must now be a problem document of the right 4xx, lose
nothing, and change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_helpers import API, Api, assert_problem, expense, invoice, pattern, receipt

#: Not numbers at all, though Python's Decimal reads them: a NaN compares with nothing
#: (a signalling NaN raises on any comparison or hash), an infinity is no amount.
NOT_FINITE = ["NaN", "sNaN", "-sNaN", "Infinity", "-Infinity"]


async def _events(api: Api) -> list[dict[str, Any]]:
    listed = await api.client.get(f"{API}/events", headers=api.viewer)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


# --- numbers that are not finite ----------------------------------------------------------


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize(
    ("type_", "data", "field"),
    [
        ("ReceiptAttachmentProposed", receipt(), "vatAmount"),
        ("ReceiptAttachmentProposed", receipt(), "vatRate"),
        ("InvoiceRegistrationProposed", invoice(), "vatAmount"),
        ("ExpenseRegistrationProposed", expense(), "vatRate"),
        ("PatternSuggested", pattern(), "vatRate"),
    ],
)
async def test_a_proposal_with_a_number_that_is_not_finite_is_422(
    api: Api, type_: str, data: dict[str, Any], field: str, value: str
) -> None:
    response = await api.submit(type_, {**data, field: value})
    problem = assert_problem(response, 422, "invalid-proposal")
    assert field in problem["detail"]
    assert await _events(api) == []


@pytest.mark.parametrize("value", ["NaN", "sNaN"])
async def test_an_invoice_line_that_is_not_finite_is_422(api: Api, value: str) -> None:
    line = {"description": "Abonnement", "amount": "1250.00", "vatRate": value}
    response = await api.submit("InvoiceRegistrationProposed", invoice(lineItems=[line]))
    problem = assert_problem(response, 422, "invalid-proposal")
    assert "lineItems[0].vatRate" in problem["detail"]


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize("field", ["amount", "vatAmount", "vatRate"])
async def test_a_correction_that_is_not_finite_is_422_and_decides_nothing(
    api: Api, field: str, value: str
) -> None:
    proposed = await api.submit("ReceiptAttachmentProposed", receipt())
    assert proposed.status_code == 201, proposed.text
    proposal_id = proposed.json()["proposalId"]
    response = await api.client.post(
        f"{API}/events/{proposal_id}/approve",
        json={"corrections": {field: value}},
        headers=api.reviewer,
    )
    assert_problem(response, 422, "invalid-correction")
    state = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert state.json()["status"] == "PROPOSED"


# --- corrections keep the one spelling of an amount ---------------------------------------


@pytest.mark.parametrize(
    ("field", "given", "recorded"),
    [
        ("amount", "1.99e2", "199.00"),
        ("amount", "199", "199.00"),
        ("vatAmount", "-0", "0.00"),
        ("vatAmount", "0E-1000", "0.00"),
        ("vatRate", "25.000", "25"),
    ],
)
async def test_corrected_amounts_are_recorded_with_two_decimals(
    api: Api, field: str, given: str, recorded: str
) -> None:
    proposed = await api.submit("ReceiptAttachmentProposed", receipt())
    proposal_id = proposed.json()["proposalId"]
    approved = await api.client.post(
        f"{API}/events/{proposal_id}/approve",
        json={"corrections": {field: given}},
        headers=api.reviewer,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["proposal"]["corrections"] == {field: recorded}
    history = await api.client.get(f"{API}/correlations/{proposal_id}", headers=api.viewer)
    decision = history.json()["items"][1]
    assert decision["data"]["corrections"] == {field: recorded}
