"""Reversing a manual or bus-booked journal entry (ADR 0040 §4), over real HTTP: the same
command as an executed proposal's reversal (POST /events, ReversalProposed, the entry's id
as its target), decided under the same ABAC rules (the approver's limit against what the
entry moves, the entry's department) and posted under the same period rules (into the
first open day when today's period is closed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.container import resolve
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
    "lena": {"approval_limit": "100", "department": "it"},
    "per": {"approval_limit": "100000.00", "department": "sales"},
    "ivar": {"approval_limit": "100000.00", "department": "it"},
}


@pytest.fixture
async def database() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
async def api(tmp_path: Path, database: MemoryDatabase) -> AsyncIterator[Api]:
    async with api_with_attributes(tmp_path, database, ATTRIBUTES) as running:
        yield running


def rent(amount: str, **extra: Any) -> dict[str, Any]:
    return {
        "date": "2026-10-15",
        "description": "Husleie",
        "lines": [{"account": "6300", "debit": amount}, {"account": "1920", "credit": amount}],
        **extra,
    }


async def reverse(api: Api, target: str, who: dict[str, str]) -> Any:
    return await api.submit(
        "ReversalProposed", {"targetProposalId": target, "reason": "Feilført"}, headers=who
    )


async def test_a_manual_entry_is_reversed_like_an_executed_proposal(
    api: Api, database: MemoryDatabase
) -> None:
    database.factory.db.rules[TENANT] = ReviewRules(departments=True)
    admin = api.headers("ada", "admin")
    accountant = api.headers("anna", "accountant")
    posted = await api.client.post(
        f"{API}/journal-entries", json=rent("1000.00", department="it"), headers=admin
    )
    assert posted.status_code == 201, posted.text
    entry_id = posted.json()["entryId"]
    # Today (the fixed clock: 2026-11-20) is in a closed period.
    closed = await api.client.post(
        f"{API}/rules/periods", json={"start": "2026-10-01", "end": "2026-11-30"}, headers=admin
    )
    assert closed.status_code == 201, closed.text

    proposed = await reverse(api, entry_id, accountant)
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status"] == "PROPOSED"  # a reversal is reviewed
    reversal_id = proposed.json()["eventId"]
    # One reversal at a time.
    assert_problem(await reverse(api, entry_id, accountant), 422)

    # ABAC: the approver's limit is held against the 1000 kr the entry moves, and the
    # reversal is of the entry's department.
    over = await api.approve(reversal_id, headers=api.headers("lena", "reviewer"))
    assert_problem(over, 403, "approval-limit-exceeded")
    other = await api.approve(reversal_id, headers=api.headers("per", "reviewer"))
    assert_problem(other, 403, "department-mismatch")
    approved = await api.approve(reversal_id, headers=api.headers("ivar", "reviewer"))
    assert approved.status_code == 200, approved.text

    executor = await resolve(api.container.executor)
    await executor.run_once()
    decided = await api.client.get(f"{API}/proposals/{reversal_id}", headers=accountant)
    assert decided.json()["status"] == "EXECUTED", decided.text

    ledger = await api.client.get(
        f"{API}/reports/general-ledger", params={"account": "6300"}, headers=accountant
    )
    assert ledger.status_code == 200, ledger.text
    lines = [(i["date"], i["debit"], i["credit"]) for i in ledger.json()["items"]]
    # The mirror is dated the first day after the closed period.
    assert lines == [("2026-10-15", "1000.00", "0.00"), ("2026-12-01", "0.00", "1000.00")]
    assert ledger.json()["closingBalance"] == "0.00"
    [mirror] = [i for i in ledger.json()["items"] if i["date"] == "2026-12-01"]
    shown = await api.client.get(f"{API}/journal-entries/{mirror['entryId']}", headers=accountant)
    assert shown.json()["reversesEntryId"] == entry_id, shown.text

    # Reversed once: a second reversal, or one of the reversal itself, is refused.
    assert_problem(await reverse(api, entry_id, accountant), 422)
    assert_problem(await reverse(api, mirror["entryId"], accountant), 409, "not-compensable")


async def test_an_unknown_target_is_a_404(api: Api) -> None:
    missing = await reverse(
        api, "0193a000-0000-7000-8000-000000000000", api.headers("anna", "accountant")
    )
    assert_problem(missing, 404)
