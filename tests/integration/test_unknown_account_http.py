"""Issue 15: an account code the books' chart does not know is a reason when the proposal
is made — on the embedded default (SQLite, the sandbox books' chart) through POST /events —
and keeps it in review, instead of a 400 from the books after approval."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import API, Api, running_api, sqlite_container


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path, container=sqlite_container(tmp_path)) as running:
        yield running


def _expense(account: str) -> dict[str, Any]:
    return {
        "merchantName": "Kontorland AS",
        "amount": "250.00",
        "date": "2026-11-18",
        "vatRate": "25",
        "accountCode": account,
    }


def _unknown(body: dict[str, Any]) -> list[str]:
    return [r["detail"] for r in body["confidence"]["reasons"] if r["signal"] == "unknown-account"]


async def test_an_account_the_chart_lacks_is_a_reason_shown_to_the_reviewer(api: Api) -> None:
    body = await api.propose("ReceiptAttachmentProposed", _expense("6999"))
    assert _unknown(body) == ["account 6999 is not in the books' chart of accounts"]
    assert body["status"] == "PROPOSED"
    assert body["decision"]["rule"] == "unknown-account"
    shown = await api.client.get(f"{API}/events/{body['proposalId']}", headers=api.reviewer)
    assert shown.status_code == 200, shown.text
    assert "account 6999 is not in the books' chart of accounts" in shown.text


async def test_an_account_the_chart_has_is_not(api: Api) -> None:
    body = await api.propose("ReceiptAttachmentProposed", _expense("6800"))
    assert _unknown(body) == []
    assert body["decision"]["rule"] != "unknown-account"
