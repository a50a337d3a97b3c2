"""The HTTP API on a real SQLite file: the container's own database resource, migrated
by the app at start, surviving a restart."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.http_helpers import API, Api, invoice, pattern, receipt, running_api, sqlite_container

pytest.importorskip("bookkeeper.adapters.sql")


async def test_a_fresh_data_dir_is_migrated_and_serves_the_story(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "bookkeeper"
    async with running_api(tmp_path, container=sqlite_container(data_dir)) as api:
        health = await api.client.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["database"] == {
            "dialect": "sqlite",
            "url": f"sqlite:///{data_dir / 'bookkeeper.db'}",
        }
        await api.learn_adobe()
        created = await api.propose("ReceiptAttachmentProposed", receipt())
        assert created["decision"]["outcome"] == "auto_approved"
        assert created["confidence"]["score"] == 0.95
    assert (data_dir / "bookkeeper.db").exists()
    assert (data_dir / "jwt-signing-key.pem").exists()


async def test_data_survives_a_restart(tmp_path: Path, sqlite_url: str) -> None:
    async with running_api(tmp_path, container=sqlite_container(tmp_path, sqlite_url)) as api:
        created = await api.propose("InvoiceRegistrationProposed", invoice())
    async with running_api(tmp_path, container=sqlite_container(tmp_path, sqlite_url)) as api:
        response = await api.client.get(
            f"{API}/proposals/{created['proposalId']}", headers=api.viewer
        )
        assert response.status_code == 200
        assert response.json()["amount"] == "1250.00"
        decided = await api.approve(created["proposalId"])
        assert decided.status_code == 200, decided.text
        again = await api.approve(created["proposalId"], headers=api.headers("ola", "reviewer"))
        assert again.status_code == 409


async def test_idempotency_filters_and_isolation_on_sql(tmp_path: Path, sqlite_url: str) -> None:
    async with running_api(tmp_path, container=sqlite_container(tmp_path, sqlite_url)) as api:
        await _exercise(api)


async def _exercise(api: Api) -> None:
    key = api.agent | {"Idempotency-Key": "sql-1"}
    first = await api.submit("PatternSuggested", pattern(), headers=key)
    again = await api.submit("PatternSuggested", pattern(), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    conflict = await api.submit("PatternSuggested", pattern("Kiwi"), headers=key)
    assert conflict.status_code == 409

    await api.approve(first.json()["proposalId"])
    await api.propose("InvoiceRegistrationProposed", invoice())
    page = (await api.client.get(f"{API}/events?limit=2", headers=api.viewer)).json()
    assert len(page["items"]) == 2
    assert page["nextAfter"] == page["items"][-1]["position"]
    rest = (
        await api.client.get(f"{API}/events?after={page['nextAfter']}", headers=api.viewer)
    ).json()
    assert [e["type"] for e in rest["items"]] == ["PatternApplied", "InvoiceRegistrationProposed"]
    approved = (
        await api.client.get(f"{API}/events?status=APPROVED&actor=human:kari", headers=api.viewer)
    ).json()
    assert [e["type"] for e in approved["items"]] == ["PatternApproved"]
    patterns = (await api.client.get(f"{API}/patterns", headers=api.viewer)).json()["items"]
    assert [p["merchantKey"] for p in patterns] == ["adobe"]

    foreign = await api.client.get(f"{API}/events/{first.json()['eventId']}", headers=api.foreigner)
    assert foreign.status_code == 404
    unknown = await api.client.get(f"{API}/correlations/{uuid.uuid4()}", headers=api.viewer)
    assert unknown.status_code == 404
    bad = await api.submit("ReceiptAttachmentProposed", receipt(vatRate="24"))
    assert bad.status_code == 422
