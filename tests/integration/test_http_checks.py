"""POST /check/*: each check answers with what it found and records its event; who may run
them is the role matrix's (test_http_role_matrix)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from bookkeeper.application.event_log import stamp
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.container import resolve
from bookkeeper.domain.events import DocumentExtractedData
from tests.http_helpers import API, Api, assert_problem, pattern

SYSTEM = ("system:cron", "system")


async def extracted(api: Api, tenant: str, at: dt.datetime, cost: str, tokens: int) -> None:
    """A DocumentExtracted record, as the pipeline writes one."""
    uow: UnitOfWorkFactory = await resolve(api.container.uow_factory)
    event_id = uuid.uuid4()
    event = stamp(
        "DocumentExtracted",
        DocumentExtractedData(
            document_hash=uuid.uuid4().hex * 2,
            extractor="claude",
            document_type="receipt",
            model="claude-haiku-4-5",
            input_tokens=tokens,
            output_tokens=tokens // 4,
            cost_usd=Decimal(cost),
        ),
        event_id=event_id,
        actor="book-e",
        at=at,
        correlation_id=event_id,
    )
    async with uow() as unit:
        await unit.events.append(tenant, event_id, 0, [event])
        await unit.commit()


async def recorded(api: Api, event_id: str) -> dict[str, Any]:
    response = await api.client.get(f"{API}/events/{event_id}", headers=api.headers("ada", "admin"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_costs_sum_the_own_extractions_of_the_range_and_tenant_only(api: Api) -> None:
    # The clock says 2026-11-20 09:00 UTC (10:00 in Oslo).
    utc = dt.UTC
    await extracted(api, "acme", dt.datetime(2026, 11, 19, 12, 0, tzinfo=utc), "0.0125", 1000)
    await extracted(api, "acme", dt.datetime(2026, 11, 1, 8, 0, tzinfo=utc), "1.5", 4000)
    # 23:30 UTC on 31 October is 00:30 on 1 November in Oslo: this month.
    await extracted(api, "acme", dt.datetime(2026, 10, 31, 23, 30, tzinfo=utc), "0.25", 10)
    await extracted(api, "acme", dt.datetime(2026, 10, 31, 22, 30, tzinfo=utc), "9", 10)
    await extracted(api, "beta", dt.datetime(2026, 11, 19, 12, 0, tzinfo=utc), "7", 10)

    response = await api.client.post(f"{API}/check/costs", headers=api.headers(*SYSTEM))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"]) == ("2026-11-01", "2026-11-20")
    assert body["totals"] == [
        {
            "source": "bookkeeper",
            "currency": "USD",
            "amount": "1.76",  # 0.0125 + 1.5 + 0.25
            "inputTokens": 5010,
            "outputTokens": 250 + 1000 + 2,
            "records": 3,
        }
    ]
    event = await recorded(api, body["checkEventId"])
    assert event["type"] == "CostsChecked"
    assert event["actor"] == "system:cron"
    assert event["data"]["totals"][0]["amount"] == "1.7625"  # the log keeps every digit

    yesterday = await api.client.post(
        f"{API}/check/costs",
        params={"from": "2026-11-19", "to": "2026-11-19"},
        headers=api.headers("ada", "admin"),
    )
    assert [t["amount"] for t in yesterday.json()["totals"]] == ["0.01"]


async def test_a_reversed_range_is_a_400_and_records_nothing(api: Api) -> None:
    for path in ("/check/costs", "/check/missing-receipts"):
        response = await api.client.post(
            f"{API}{path}",
            params={"from": "2026-11-20", "to": "2026-11-01"},
            headers=api.headers(*SYSTEM),
        )
        assert_problem(response, 400)
    events = await api.client.get(
        f"{API}/events",
        params={"type": ["CostsChecked", "MissingReceiptsChecked"]},
        headers=api.headers("ada", "admin"),
    )
    assert events.status_code == 200, events.text
    assert events.json()["items"] == []


async def test_executions_and_missing_receipts_and_unknown_accounts_record_their_events(
    api: Api,
) -> None:
    headers = api.headers(*SYSTEM)
    executions = await api.client.post(f"{API}/check/executions", headers=headers)
    assert executions.status_code == 200, executions.text
    assert executions.json()["failed"] == [] and executions.json()["stuck"] == []
    assert (await recorded(api, executions.json()["checkEventId"]))["type"] == ("ExecutionsChecked")

    missing = await api.client.post(f"{API}/check/missing-receipts", headers=headers)
    assert missing.status_code == 200, missing.text
    event = await recorded(api, missing.json()["queryEventId"])
    assert event["type"] == "MissingReceiptsChecked"
    assert event["data"]["count"] == missing.json()["count"]

    unknown = await api.client.post(f"{API}/check/unknown-accounts", headers=headers)
    assert unknown.status_code == 200, unknown.text
    event = await recorded(api, unknown.json()["checkEventId"])
    assert event["type"] == "UnknownAccountsChecked"
    assert event["data"]["accounts"] == unknown.json()["accounts"]


async def test_a_client_cannot_submit_a_check_record_or_a_morning_run(api: Api) -> None:
    for type_ in ("CostsChecked", "MorningCheckRan", "MorningSummaryPosted"):
        response = await api.client.post(
            f"{API}/events",
            json={"type": type_, "data": {}},
            headers=api.headers("ada", "admin"),
        )
        assert 400 <= response.status_code < 500, (type_, response.status_code)


async def test_a_failed_execution_is_marked_resolved_by_a_reviewer_only_when_failed(
    api: Api,
) -> None:
    # Proposed, not failed: 409 not-failed; another id: 404; a note too long: 400; a viewer
    # 403. (Resolving a FAILED one and the counts: tests/unit/test_failed_executions_resolved.)
    submitted = await api.submit("PatternSuggested", pattern())
    assert submitted.status_code == 201, submitted.text
    proposal_id = submitted.json()["eventId"]
    reviewer = api.headers("kari", "reviewer")
    path = f"{API}/check/executions/{proposal_id}/resolved"
    refused = await api.client.post(path, json={"note": "done"}, headers=reviewer)
    assert assert_problem(refused, 409)["code"] == "not-failed"
    missing = await api.client.post(
        f"{API}/check/executions/{uuid.uuid4()}/resolved", json={}, headers=reviewer
    )
    assert_problem(missing, 404)
    assert_problem(await api.client.post(path, json={"note": "x" * 501}, headers=reviewer), 400)
    assert_problem(await api.client.post(path, json={}, headers=api.viewer), 403)
