"""POST /events/{id}/approve and /reject over HTTP: four eyes, corrections, conflicts."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from bookkeeper.domain.events import Corrections
from bookkeeper.entrypoints.http.wire import CorrectionsIn
from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    invoice,
    problem_fields,
    receipt,
)


async def _pending_receipt(api: Api, **changes: Any) -> str:
    """A receipt of a merchant without a pattern: it waits for a reviewer."""
    created = await api.propose("ReceiptAttachmentProposed", receipt(**changes))
    assert created["decision"]["outcome"] == "awaiting_review"
    proposal_id: str = created["proposalId"]
    return proposal_id


# --- approve ------------------------------------------------------------------------------


async def test_a_reviewer_approves(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.approve(proposal_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"eventId", "proposal"}
    assert body["eventId"] != proposal_id
    proposal = body["proposal"]
    assert proposal["id"] == proposal_id
    assert proposal["status"] == "APPROVED"
    assert proposal["decidedBy"] == "human:kari"
    assert proposal["version"] == 2
    assert proposal["amount"] == "199.00"
    assert "tenantId" not in proposal
    event = (await api.client.get(f"{API}/events/{body['eventId']}", headers=api.viewer)).json()
    assert event["type"] == "ReceiptAttachmentApproved"
    assert event["parentId"] == proposal_id


@pytest.mark.parametrize(
    "body", [None, {}, {"comment": "looks right"}, {"corrections": {}, "comment": None}]
)
async def test_the_approval_body_is_optional(api: Api, body: Any) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.approve(proposal_id, body)
    assert response.status_code == 200, response.text


async def test_approval_with_corrections(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.approve(proposal_id, {"corrections": {"accountCode": "6810"}})
    assert response.status_code == 200, response.text
    proposal = response.json()["proposal"]
    assert proposal["accountCode"] == "6810"
    assert proposal["corrections"] == {"accountCode": "6810"}
    assert proposal["data"]["accountCode"] == "6810"


async def test_approving_twice_is_409(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    assert (await api.approve(proposal_id)).status_code == 200
    again = await api.approve(proposal_id, headers=api.headers("ola", "reviewer"))
    problem = assert_problem(again, 409, "proposal-not-pending")
    assert "APPROVED" in problem["detail"]


@pytest.mark.at_once
async def test_two_reviewers_at_once_give_one_approval_and_one_409(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    responses = await asyncio.gather(
        api.approve(proposal_id, headers=api.headers("kari", "reviewer")),
        api.approve(proposal_id, headers=api.headers("ola", "reviewer")),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    history = (
        await api.client.get(f"{API}/events?type=ReceiptAttachmentApproved", headers=api.viewer)
    ).json()
    assert len(history["items"]) == 1


async def test_approving_your_own_proposal_is_403(api: Api) -> None:
    accountant = api.headers("kari", "accountant")
    created = await api.submit("InvoiceRegistrationProposed", invoice(), headers=accountant)
    assert created.status_code == 201
    response = await api.approve(created.json()["proposalId"], headers=accountant)
    assert_problem(response, 403, "self-approval")


async def test_a_viewer_cannot_approve(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    assert_problem(await api.approve(proposal_id, headers=api.viewer), 403, "forbidden")


@pytest.mark.parametrize(
    ("corrections", "status", "code"),
    [
        ({"vatRate": "24"}, 422, "invalid-correction"),
        ({"amount": "-1.00"}, 422, "invalid-correction"),
        ({"amount": "10.001"}, 422, "invalid-correction"),
        ({"dueDate": "2026-12-01"}, 422, "invalid-correction"),
        ({"supplier": "Adobe"}, 422, "invalid-correction"),
        ({"accountCode": "65 40"}, 422, "invalid-correction"),
        ({"status": "EXECUTED"}, 400, "validation-failed"),
        ({"vatRate": True}, 400, "validation-failed"),
    ],
)
async def test_invalid_corrections_are_refused(
    api: Api, corrections: dict[str, Any], status: int, code: str
) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.approve(proposal_id, {"corrections": corrections})
    assert_problem(response, status, code)
    proposal = (await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)).json()
    assert proposal["status"] == "PROPOSED"


async def test_unknown_fields_in_the_approval_are_400(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.approve(proposal_id, {"comment": "ok", "actor": "review-e"})
    problem = assert_problem(response, 400, "validation-failed")
    assert problem_fields(problem) == {"$.actor"}


async def test_approving_an_unknown_proposal_is_404(api: Api) -> None:
    assert_problem(await api.approve(str(uuid.uuid4())), 404, "not-found")


async def test_approving_another_tenants_proposal_is_404(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    assert_problem(await api.approve(proposal_id, headers=api.foreigner), 404, "not-found")
    proposal = (await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)).json()
    assert proposal["status"] == "PROPOSED"


async def test_an_event_that_is_not_a_proposal_cannot_be_approved(api: Api) -> None:
    query = await api.propose("BalanceQueried", {"accounts": []})
    assert_problem(await api.approve(query["eventId"]), 404, "not-found")


def test_the_wire_corrections_mirror_the_domain_corrections() -> None:
    assert CorrectionsIn.__struct_fields__ == Corrections.__struct_fields__
    assert CorrectionsIn(account_code="6810").to_domain() == Corrections(account_code="6810")


# --- reject -------------------------------------------------------------------------------


async def test_a_reviewer_rejects_with_a_reason(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.reject(proposal_id, {"reason": "Not our purchase"})
    assert response.status_code == 200, response.text
    proposal = response.json()["proposal"]
    assert proposal["status"] == "REJECTED"
    assert proposal["rejectionReason"] == "Not our purchase"
    assert proposal["decidedBy"] == "human:kari"


@pytest.mark.parametrize(
    ("body", "status"),
    [(None, 400), ({}, 400), ({"reason": None}, 400), ({"reason": "   "}, 422)],
)
async def test_a_rejection_needs_a_reason(api: Api, body: Any, status: int) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.reject(proposal_id, body)
    assert_problem(response, status)


async def test_rejecting_a_decided_proposal_is_409(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    assert (await api.reject(proposal_id, {"reason": "wrong"})).status_code == 200
    assert_problem(await api.approve(proposal_id), 409, "proposal-not-pending")
    assert_problem(await api.reject(proposal_id, {"reason": "again"}), 409, "proposal-not-pending")


async def test_rejecting_another_tenants_proposal_is_404(api: Api) -> None:
    proposal_id = await _pending_receipt(api)
    response = await api.reject(proposal_id, {"reason": "mine now"}, headers=api.foreigner)
    assert_problem(response, 404, "not-found")


async def test_the_proposer_may_withdraw_their_own_proposal(api: Api) -> None:
    accountant = api.headers("kari", "accountant")
    created = await api.submit("InvoiceRegistrationProposed", invoice(), headers=accountant)
    response = await api.reject(created.json()["proposalId"], {"reason": "typo"}, accountant)
    assert response.status_code == 200, response.text
