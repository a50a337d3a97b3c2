"""Dates in JSON bodies are bounded like those in queries (issue 16, ADR 0026): a
well-formed date outside 1900-01-01..2200-12-31 anywhere in a body — a proposal's data,
an approval's corrections, a journal entry — is a 400/422 problem naming it, never a 500
(date arithmetic on 0001-01-01 or 9999-12-31 overflows). On SQLite, the real storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import (
    API,
    Api,
    expense,
    invoice,
    receipt,
    running_api,
    sqlite_container,
)

OUTSIDE = ["0001-01-01", "1899-12-31", "2201-01-01", "9999-12-31"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path, container=sqlite_container(tmp_path)) as running:
        yield running


def _assert_refused(answer: Any, date: str) -> None:
    assert answer.status_code in (400, 422), (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert date in answer.text or "date" in answer.text.lower(), answer.text


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("ReceiptAttachmentProposed", receipt(), "date"),
    ("InvoiceRegistrationProposed", invoice(), "date"),
    ("InvoiceRegistrationProposed", invoice(), "dueDate"),
    ("ExpenseRegistrationProposed", expense(), "date"),
]


@pytest.mark.parametrize("date", OUTSIDE)
@pytest.mark.parametrize(("type_", "data", "field"), CASES)
async def test_a_proposal_dated_outside_the_window_is_refused(
    api: Api, type_: str, data: dict[str, Any], field: str, date: str
) -> None:
    body = {"type": type_, "data": data | {field: date}}
    answer = await api.client.post(f"{API}/events", json=body, headers=api.agent)
    _assert_refused(answer, date)


@pytest.mark.parametrize("date", OUTSIDE)
async def test_a_correction_dated_outside_the_window_is_refused(api: Api, date: str) -> None:
    submitted = await api.client.post(
        f"{API}/events",
        json={"type": "InvoiceRegistrationProposed", "data": invoice()},
        headers=api.agent,
    )
    assert submitted.status_code == 201, submitted.text
    proposal = submitted.json()["proposalId"]
    for field in ("date", "dueDate"):
        answer = await api.client.post(
            f"{API}/events/{proposal}/approve",
            json={"corrections": {field: date}},
            headers=api.reviewer,
        )
        _assert_refused(answer, date)


@pytest.mark.parametrize("date", OUTSIDE)
async def test_a_journal_entry_dated_outside_the_window_is_refused(api: Api, date: str) -> None:
    entry = {
        "date": date,
        "description": "Out of range",
        "lines": [
            {"account": "6540", "debit": "100.00", "credit": "0.00"},
            {"account": "1920", "debit": "0.00", "credit": "100.00"},
        ],
    }
    headers = api.headers("acc", "accountant")
    answer = await api.client.post(f"{API}/journal-entries", json=entry, headers=headers)
    _assert_refused(answer, date)
