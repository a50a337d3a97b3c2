"""POST /events, GET /events, GET /events/{id}, GET /correlations/{id} over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    invoice,
    pattern,
    problem_fields,
    receipt,
    submission,
)


async def _events(api: Api, query: str = "", headers: dict[str, str] | None = None) -> Any:
    response = await api.client.get(f"{API}/events{query}", headers=headers or api.viewer)
    assert response.status_code == 200, response.text
    return response.json()


# --- POST /events -------------------------------------------------------------------------


async def test_a_proposal_is_created(api: Api) -> None:
    response = await api.submit("PatternSuggested", pattern())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "eventId",
        "streamId",
        "proposalId",
        "correlationId",
        "type",
        "status",
        "confidence",
        "decision",
    }
    assert body["proposalId"] == body["streamId"] == body["eventId"]
    assert body["correlationId"] == body["eventId"]
    assert body["type"] == "PatternSuggested"
    assert body["status"] == "PROPOSED"
    assert isinstance(body["confidence"]["score"], float)
    assert all(isinstance(r["effect"], str) for r in body["confidence"]["reasons"])
    assert body["decision"]["outcome"] == "awaiting_review"
    assert set(body["decision"]) == {"outcome", "band", "rule", "explanation"}
    assert response.headers["location"] == f"{API}/events/{body['eventId']}"
    assert "idempotent-replayed" not in response.headers


async def test_a_query_record_is_recorded_not_reviewed(api: Api) -> None:
    data = {"accounts": [{"account": "1920", "balance": "1520.50"}], "asOf": "2026-11-20"}
    response = await api.submit("BalanceQueried", data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["proposalId"] is None
    assert body["confidence"] is None
    assert body["status"] == "EXECUTED"
    assert body["decision"]["outcome"] == "recorded"


async def test_supplied_correlation_and_source_are_kept(api: Api) -> None:
    correlation = str(uuid.uuid4())
    created = await api.propose(
        "PatternSuggested",
        pattern(),
        correlationId=correlation,
        source={"discordMessageId": "123"},
    )
    assert created["correlationId"] == correlation
    event = (await api.client.get(f"{API}/events/{created['eventId']}", headers=api.viewer)).json()
    assert event["correlationId"] == correlation
    assert event["metadata"]["source"] == {"discordMessageId": "123"}


@pytest.mark.parametrize("field", ["status", "actor", "tenantId", "tenant", "confidence"])
async def test_server_owned_fields_are_refused(api: Api, field: str) -> None:
    body = submission("PatternSuggested", pattern()) | {field: "APPROVED"}
    response = await api.client.post(f"{API}/events", json=body, headers=api.agent)
    problem = assert_problem(response, 400, "validation-failed")
    assert problem_fields(problem) == {f"$.{field}"}


async def test_unknown_field_in_data_is_refused_with_its_path(api: Api) -> None:
    response = await api.submit("PatternSuggested", pattern() | {"confidence": "1.0"})
    problem = assert_problem(response, 400, "validation-failed")
    assert problem_fields(problem) == {"$.data.confidence"}


async def test_data_of_the_wrong_shape_names_the_field(api: Api) -> None:
    response = await api.submit("ReceiptAttachmentProposed", receipt(amount=True))
    problem = assert_problem(response, 400)
    assert problem_fields(problem) == {"$.data.amount"}
    assert "$.data.amount" in problem["detail"]


async def test_missing_required_data_field_is_400(api: Api) -> None:
    response = await api.submit("ReceiptAttachmentProposed", receipt(merchantName=None))
    problem = assert_problem(response, 400)
    assert problem_fields(problem) == {"$.data.merchantName"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {}}, "$.type"),
        ({"type": "PatternSuggested"}, "$.data"),
        ({"type": "PatternSuggested", "data": ["merchant"]}, "$.data"),
        ({"type": 42, "data": {}}, "$.type"),
        (
            {"type": "PatternSuggested", "data": {}, "proposerConfidence": 1.5},
            "$.proposerConfidence",
        ),
        ({"type": "PatternSuggested", "data": {}, "id": "not-a-uuid"}, "$.id"),
    ],
)
async def test_malformed_submissions_are_400(api: Api, body: dict[str, Any], field: str) -> None:
    response = await api.client.post(f"{API}/events", json=body, headers=api.agent)
    problem = assert_problem(response, 400, "validation-failed")
    assert field in problem_fields(problem)


async def test_invalid_json_is_400(api: Api) -> None:
    response = await api.client.post(
        f"{API}/events",
        content=b'{"type": "PatternSuggested", "data": ',
        headers=api.agent | {"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "validation-failed")


async def test_an_empty_body_is_400(api: Api) -> None:
    response = await api.client.post(f"{API}/events", headers=api.agent)
    assert_problem(response, 400)


async def test_an_unknown_type_is_422(api: Api) -> None:
    response = await api.submit("ReceiptTeleported", receipt())
    assert_problem(response, 422, "unknown-event-type")


async def test_a_decision_type_cannot_be_submitted(api: Api) -> None:
    response = await api.submit("ReceiptAttachmentApproved", {})
    assert_problem(response, 422, "invalid-proposal")


@pytest.mark.parametrize(
    "amount",
    ["-5.00", "0", "19.999", "199.00000000001", "NaN", "Infinity", "0.0015", "1000000000000"],
)
async def test_bad_amounts_are_refused(api: Api, amount: str) -> None:
    response = await api.submit("ReceiptAttachmentProposed", receipt(amount=amount))
    assert_problem(response, 422, "invalid-proposal")


@pytest.mark.parametrize("amount", ["abc", "", "1,50", "1.5e-3", "1e12", " 199.00"])
async def test_amounts_that_are_not_plain_numbers_are_422(api: Api, amount: str) -> None:
    """Not a number, or one in a spelling the API does not take (ADR 0049, round two):
    one 422 naming the field (these were a 400, or taken and normalised)."""
    response = await api.submit("ReceiptAttachmentProposed", receipt(amount=amount))
    problem = assert_problem(response, 422)
    assert problem_fields(problem) == {"$.data.amount"}


@pytest.mark.parametrize("rate", ["24", "8", "100", "-25"])
async def test_a_rate_that_is_not_a_norwegian_vat_rate_is_422(api: Api, rate: str) -> None:
    response = await api.submit("ReceiptAttachmentProposed", receipt(vatRate=rate))
    problem = assert_problem(response, 422, "invalid-proposal")
    assert "VAT" in problem["detail"]


async def test_an_invoice_due_before_its_date_is_422(api: Api) -> None:
    response = await api.submit("InvoiceRegistrationProposed", invoice(dueDate="2026-10-01"))
    assert_problem(response, 422, "invalid-proposal")


async def test_a_reversal_of_an_unknown_proposal_is_404(api: Api) -> None:
    data = {"targetProposalId": str(uuid.uuid4()), "reason": "duplicate"}
    response = await api.submit("ReversalProposed", data)
    assert_problem(response, 404, "not-found")


async def test_a_reversal_of_a_pending_proposal_is_409(api: Api) -> None:
    pending = await api.propose("InvoiceRegistrationProposed", invoice())
    data = {"targetProposalId": pending["proposalId"], "reason": "duplicate"}
    response = await api.submit("ReversalProposed", data)
    assert_problem(response, 409, "not-compensable")


async def test_a_body_larger_than_the_limit_is_413(api: Api) -> None:
    huge = pattern() | {"reason": "x" * 1_100_000}
    response = await api.submit("PatternSuggested", huge)
    assert_problem(response, 413, "payload-too-large")


# --- idempotency --------------------------------------------------------------------------


async def test_a_replayed_idempotency_key_answers_the_original(api: Api) -> None:
    headers = api.agent | {"Idempotency-Key": "receipt-42"}
    first = await api.submit("ReceiptAttachmentProposed", receipt(), headers=headers)
    again = await api.submit("ReceiptAttachmentProposed", receipt(), headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len((await _events(api))["items"]) == 1


async def test_the_same_key_with_another_body_is_409(api: Api) -> None:
    headers = api.agent | {"Idempotency-Key": "receipt-42"}
    first = await api.submit("ReceiptAttachmentProposed", receipt(), headers=headers)
    assert first.status_code == 201
    other = await api.submit("ReceiptAttachmentProposed", receipt(amount="200.00"), headers=headers)
    assert_problem(other, 409, "idempotency-conflict")


async def test_keys_are_scoped_to_the_caller(api: Api) -> None:
    key = {"Idempotency-Key": "same-key"}
    mine = await api.submit("PatternSuggested", pattern(), headers=api.agent | key)
    theirs = await api.submit("PatternSuggested", pattern(), headers=api.foreigner | key)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["eventId"] != theirs.json()["eventId"]


async def test_a_supplied_event_id_makes_a_retry_safe(api: Api) -> None:
    event_id = str(uuid.uuid4())
    first = await api.submit("PatternSuggested", pattern(), id=event_id)
    again = await api.submit("PatternSuggested", pattern(), id=event_id)
    assert first.json()["eventId"] == again.json()["eventId"] == event_id
    assert again.headers["idempotent-replayed"] == "true"
    conflicting = await api.submit("PatternSuggested", pattern("Kiwi"), id=event_id)
    assert_problem(conflicting, 409, "idempotency-conflict")


@pytest.mark.parametrize("key", ["k" * 201, ""])
async def test_an_unusable_idempotency_key_is_400(api: Api, key: str) -> None:
    response = await api.submit(
        "PatternSuggested", pattern(), headers=api.agent | {"Idempotency-Key": key}
    )
    problem = assert_problem(response, 400, "validation-failed")
    assert problem_fields(problem) == {"Idempotency-Key"}


# --- GET /events --------------------------------------------------------------------------


async def _seed(api: Api) -> dict[str, Any]:
    """A pattern (approved and applied), an invoice (pending) and a query record."""
    suggested = await api.propose("PatternSuggested", pattern())
    await api.approve(suggested["proposalId"])
    api.clock.advance(hours=1)
    pending = await api.propose("InvoiceRegistrationProposed", invoice())
    api.clock.advance(hours=1)
    query = await api.propose("BalanceQueried", {"accounts": []})
    return {"suggested": suggested, "pending": pending, "query": query}


async def test_events_are_listed_in_log_order_with_their_wire_shape(api: Api) -> None:
    await _seed(api)
    page = await _events(api)
    items = page["items"]
    assert [e["type"] for e in items] == [
        "PatternSuggested",
        "PatternApproved",
        "PatternApplied",
        "InvoiceRegistrationProposed",
        "BalanceQueried",
    ]
    assert page["nextAfter"] is None
    positions = [e["position"] for e in items]
    assert positions == sorted(positions)
    invoice_event = items[3]
    assert set(invoice_event) == {
        "id",
        "position",
        "streamId",
        "version",
        "type",
        "schemaVersion",
        "status",
        "actor",
        "data",
        "metadata",
        "parentId",
        "correlationId",
        "createdAt",
    }
    assert invoice_event["data"]["amount"] == "1250.00"
    assert invoice_event["data"]["dueDate"] == "2026-11-15"
    assert invoice_event["createdAt"].endswith("Z") or "+00:00" in invoice_event["createdAt"]
    approved = items[1]
    assert approved["parentId"] == items[0]["id"]
    assert approved["actor"] == "human:kari"


async def test_events_filter_by_type_status_actor_and_correlation(api: Api) -> None:
    seeded = await _seed(api)
    by_type = await _events(api, "?type=PatternApproved&type=BalanceQueried")
    assert [e["type"] for e in by_type["items"]] == ["PatternApproved", "BalanceQueried"]
    by_status = await _events(api, "?status=PROPOSED")
    assert {e["type"] for e in by_status["items"]} == {
        "PatternSuggested",
        "InvoiceRegistrationProposed",
    }
    by_statuses = await _events(api, "?status=APPROVED&status=EXECUTED")
    assert len(by_statuses["items"]) == 3
    by_actor = await _events(api, "?actor=human:kari")
    assert [e["type"] for e in by_actor["items"]] == ["PatternApproved"]
    correlation = seeded["suggested"]["correlationId"]
    by_correlation = await _events(api, f"?correlationId={correlation}")
    assert len(by_correlation["items"]) == 3


async def test_events_filter_by_time(api: Api) -> None:
    await _seed(api)
    later = await _events(api, "?from=2026-11-20T10:00:00Z")
    assert [e["type"] for e in later["items"]] == [
        "InvoiceRegistrationProposed",
        "BalanceQueried",
    ]
    window = await _events(api, "?from=2026-11-20T10:00:00%2B01:00&to=2026-11-20T10:30:00Z")
    assert [e["type"] for e in window["items"]] == [
        "PatternSuggested",
        "PatternApproved",
        "PatternApplied",
        "InvoiceRegistrationProposed",
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=2026-11-20T10:00:00", "from"),
        ("?to=2026-11-20", "to"),
        ("?from=yesterday", "from"),
        ("?status=DONE", "status"),
        ("?after=-1", "after"),
        ("?limit=many", "limit"),
        ("?correlationId=nope", "correlationId"),
    ],
)
async def test_bad_event_filters_are_400(api: Api, query: str, field: str) -> None:
    response = await api.client.get(f"{API}/events{query}", headers=api.viewer)
    problem = assert_problem(response, 400, "validation-failed")
    assert problem_fields(problem) == {field}


async def test_events_are_paged_with_after_and_limit(api: Api) -> None:
    await _seed(api)
    seen: list[str] = []
    query = "?limit=2"
    pages = 0
    while True:
        page = await _events(api, query)
        pages += 1
        seen.extend(e["type"] for e in page["items"])
        if page["nextAfter"] is None:
            break
        assert len(page["items"]) == 2
        query = f"?limit=2&after={page['nextAfter']}"
    assert pages == 3
    assert len(seen) == 5 == len(set(seen))


@pytest.mark.parametrize(("limit", "expected"), [("0", 1), ("-3", 1), ("1000", 5)])
async def test_the_limit_is_clamped(api: Api, limit: str, expected: int) -> None:
    await _seed(api)
    page = await _events(api, f"?limit={limit}")
    assert len(page["items"]) == expected


async def test_events_of_another_tenant_are_invisible(api: Api) -> None:
    await _seed(api)
    assert (await _events(api, headers=api.foreigner))["items"] == []


# --- GET /events/{id} ---------------------------------------------------------------------


async def test_one_event_by_id(api: Api) -> None:
    created = await api.propose("PatternSuggested", pattern())
    response = await api.client.get(f"{API}/events/{created['eventId']}", headers=api.viewer)
    assert response.status_code == 200
    event = response.json()
    assert event["id"] == created["eventId"]
    assert event["data"]["merchant"] == "Adobe"
    assert event["actor"] == "book-e"
    assert event["metadata"]["review"]["outcome"] == "awaiting_review"
    assert "tenantId" not in event


async def test_an_unknown_event_is_404(api: Api) -> None:
    response = await api.client.get(f"{API}/events/{uuid.uuid4()}", headers=api.viewer)
    assert_problem(response, 404, "not-found")


async def test_another_tenants_event_is_404(api: Api) -> None:
    created = await api.propose("PatternSuggested", pattern())
    response = await api.client.get(f"{API}/events/{created['eventId']}", headers=api.foreigner)
    assert_problem(response, 404, "not-found")


async def test_an_id_that_is_not_a_uuid_is_a_4xx_problem(api: Api) -> None:
    response = await api.client.get(f"{API}/events/not-a-uuid", headers=api.viewer)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


# --- GET /correlations/{id} ---------------------------------------------------------------


async def test_a_correlation_lists_the_whole_action_oldest_first(api: Api) -> None:
    suggested = await api.propose("PatternSuggested", pattern())
    await api.approve(suggested["proposalId"])
    await api.propose("InvoiceRegistrationProposed", invoice())
    correlation = suggested["correlationId"]
    response = await api.client.get(f"{API}/correlations/{correlation}", headers=api.viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["correlationId"] == correlation
    assert [e["type"] for e in body["items"]] == [
        "PatternSuggested",
        "PatternApproved",
        "PatternApplied",
    ]
    assert [e["version"] for e in body["items"]] == [1, 2, 3]


async def test_an_unknown_correlation_is_404(api: Api) -> None:
    response = await api.client.get(f"{API}/correlations/{uuid.uuid4()}", headers=api.viewer)
    assert_problem(response, 404, "not-found")


async def test_another_tenants_correlation_is_404(api: Api) -> None:
    created = await api.propose("PatternSuggested", pattern())
    response = await api.client.get(
        f"{API}/correlations/{created['correlationId']}", headers=api.foreigner
    )
    assert_problem(response, 404, "not-found")
