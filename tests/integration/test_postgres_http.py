"""The HTTP API on PostgreSQL: races decided by the database, answered as 409s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.http_helpers import API, pattern, receipt, running_api, served_api, sqlite_container
from tests.integration.test_http_sqlite import _exercise

pytestmark = pytest.mark.postgres


async def test_50_concurrent_approvals_give_one_approval_and_409s(
    tmp_path: Path, postgres_url: str
) -> None:
    async with served_api(tmp_path, container=sqlite_container(tmp_path, postgres_url)) as api:
        created = await api.propose("ReceiptAttachmentProposed", receipt(merchantName="Ukjent"))
        proposal = created["proposalId"]
        reviewers = [api.headers(f"reviewer-{i}", "reviewer") for i in range(50)]
        answers = await asyncio.gather(
            *(api.approve(proposal, headers=headers) for headers in reviewers)
        )
        codes = sorted(a.status_code for a in answers)
        assert codes.count(200) == 1, codes
        assert codes.count(409) == 49, codes
        assert {a.json()["code"] for a in answers if a.status_code == 409} <= {
            "concurrency-conflict",
            "proposal-not-pending",
        }
        history = (
            await api.client.get(
                f"{API}/correlations/{created['correlationId']}", headers=api.viewer
            )
        ).json()["items"]
        assert [e["type"] for e in history] == [
            "ReceiptAttachmentProposed",
            "ReceiptAttachmentApproved",
        ]
        assert [e["version"] for e in history] == [1, 2]


async def test_concurrent_retries_of_one_idempotency_key_have_one_effect(
    tmp_path: Path, postgres_url: str
) -> None:
    async with served_api(tmp_path, container=sqlite_container(tmp_path, postgres_url)) as api:
        headers = api.agent | {"Idempotency-Key": "retry-storm"}
        answers = await asyncio.gather(
            *(api.submit("PatternSuggested", pattern(), headers=headers) for _ in range(20))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["eventId"] for a in answers}) == 1
        events = (await api.client.get(f"{API}/events", headers=api.viewer)).json()["items"]
        assert len(events) == 1


async def test_the_api_story_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    async with running_api(tmp_path, container=sqlite_container(tmp_path, postgres_url)) as api:
        await _exercise(api)
        await api.learn_adobe()
        created = await api.propose("ReceiptAttachmentProposed", receipt(documentNumber="A-9"))
        assert created["decision"]["outcome"] == "auto_approved"
