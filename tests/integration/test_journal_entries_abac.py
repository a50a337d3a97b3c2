"""ABAC on POST /journal-entries (decision 4): the regression of issue 10 — an accountant
with a 100 kr limit could post 10,000 kr — and department scoping, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.domain.review import ReviewRules
from tests.http_helpers import (
    API,
    TENANT,
    Api,
    MemoryDatabase,
    assert_problem,
)
from tests.integration.test_http_approval_rules import api_with_attributes

ATTRIBUTES: dict[str, dict[str, str]] = {
    "anna": {"approval_limit": "100"},
    "per": {"approval_limit": "100000.00", "department": "sales"},
}


@pytest.fixture
async def database() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
async def api(tmp_path: Path, database: MemoryDatabase) -> AsyncIterator[Api]:
    async with api_with_attributes(tmp_path, database, ATTRIBUTES) as running:
        yield running


def body(amount: str, **extra: Any) -> dict[str, Any]:
    return {
        "date": "2026-03-01",
        "description": "Husleie",
        "lines": [{"account": "6300", "debit": amount}, {"account": "1920", "credit": amount}],
        **extra,
    }


async def entries(api: Api) -> int:
    response = await api.client.get(
        f"{API}/reports/trial-balance", headers=api.headers("vera", "viewer")
    )
    assert response.status_code == 200, response.text
    return len(response.json()["accounts"])


async def test_an_accountant_cannot_post_above_their_limit(api: Api) -> None:
    anna = api.headers("anna", "accountant")
    refused = await api.client.post(f"{API}/journal-entries", json=body("10000.00"), headers=anna)
    assert_problem(refused, 403, "approval-limit-exceeded")
    assert await entries(api) == 0
    allowed = await api.client.post(f"{API}/journal-entries", json=body("100.00"), headers=anna)
    assert allowed.status_code == 201, allowed.text


async def test_a_poster_with_a_department_posts_only_for_it(
    api: Api, database: MemoryDatabase
) -> None:
    database.factory.db.rules[TENANT] = ReviewRules(departments=True)
    per = api.headers("per", "accountant")
    refused = await api.client.post(
        f"{API}/journal-entries", json=body("10.00", department="it"), headers=per
    )
    assert_problem(refused, 403, "department-mismatch")
    own = await api.client.post(f"{API}/journal-entries", json=body("10.00"), headers=per)
    assert own.status_code == 201, own.text
