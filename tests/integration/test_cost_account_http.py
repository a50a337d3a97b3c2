"""A purchase's cost account is no account its own entry books by itself, over HTTP on
SQLite and PostgreSQL: the bank (1920) it is paid from, or, when it books VAT, a VAT
account (27xx). Proposed, corrected by a reviewer or by a CorrectionProposed, each is a
422 problem and nothing is decided or posted; an outside tester had booked a receipt to
1920 (the purchase vanished: the bank debited and credited) and to 2710 (its whole gross
claimed as input VAT), both executed. And a second compensation of one action is told
which one it already has."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    expense,
    pattern,
    receipt,
    running_api,
    sqlite_container,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


async def status_of(api: Api, proposal_id: str) -> str:
    got = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert got.status_code == 200, got.text
    status: str = got.json()["status"]
    return status


@pytest.mark.parametrize("account", ["1920", "1920:10001", "2710", "2711", "2740"])
async def test_a_reviewers_correction_to_the_bank_or_a_vat_account_is_422(
    api: Api, account: str
) -> None:
    proposed = await api.propose("ReceiptAttachmentProposed", receipt(merchantName="Ny AS"))
    target = proposed["proposalId"]
    response = await api.approve(target, {"corrections": {"accountCode": account}})
    problem = assert_problem(response, 422, "invalid-correction")
    assert account in problem["detail"]
    assert await status_of(api, target) == "PROPOSED"
    decided = await api.client.get(
        f"{API}/events", params={"correlationId": target}, headers=api.viewer
    )
    assert [e["type"] for e in decided.json()["items"]] == ["ReceiptAttachmentProposed"]
    # The right account is then taken.
    assert (await api.approve(target, {"corrections": {"accountCode": "6810"}})).status_code == 200


async def test_a_rate_corrected_to_vat_on_a_vat_account_is_422(api: Api) -> None:
    # Paying the VAT settlement (2740) books no VAT: allowed; corrected to 25 % it would.
    proposed = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(merchantName="Skatteetaten", vatRate="0", vatAmount=None, accountCode="2740"),
    )
    target = proposed["proposalId"]
    response = await api.approve(target, {"corrections": {"vatRate": "25"}})
    assert_problem(response, 422, "invalid-correction")
    assert await status_of(api, target) == "PROPOSED"


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        ("ReceiptAttachmentProposed", receipt(accountCode="1920")),
        ("ReceiptAttachmentProposed", receipt(accountCode="2710")),
        ("ExpenseRegistrationProposed", expense(accountCode="2713")),
        ("PatternSuggested", pattern(account="1920")),
        ("PatternSuggested", pattern(account="2710")),
    ],
)
async def test_proposing_a_purchase_on_the_bank_or_a_vat_account_is_422(
    api: Api, type_: str, data: dict[str, Any]
) -> None:
    response = await api.submit(type_, data)
    problem = assert_problem(response, 422, "invalid-proposal")
    assert data["accountCode"] in problem["detail"]
    listed = await api.client.get(f"{API}/proposals", headers=api.viewer)
    assert listed.json()["items"] == []


async def executed_expense(api: Api) -> str:
    proposed = await api.propose("ExpenseRegistrationProposed", expense())
    target: str = proposed["proposalId"]
    assert (await api.approve(target)).status_code == 200
    await api.executed(target)
    return target


async def test_a_correction_proposed_to_the_bank_account_is_422(api: Api) -> None:
    target = await executed_expense(api)
    wrong = {"targetProposalId": target, "reason": "Feil konto", "changes": {"accountCode": "1920"}}
    response = await api.submit(
        "CorrectionProposed", wrong, headers=api.headers("anna", "accountant")
    )
    problem = assert_problem(response, 422, "invalid-correction")
    assert "1920" in problem["detail"]
    listed = await api.client.get(
        f"{API}/proposals", params={"status": "PROPOSED"}, headers=api.viewer
    )
    # (the pattern suggestion its approval made waits; no correction does)
    assert [p["kind"] for p in listed.json()["items"]] == ["pattern_suggestion"]


async def test_a_second_reversal_of_a_reversed_action_names_the_first(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    target = await executed_expense(api)
    reversal = {"targetProposalId": target, "reason": "Ikke vårt kjøp"}
    first = await api.submit("ReversalProposed", reversal, headers=accountant)
    assert first.status_code == 201, first.text
    reversal_id = first.json()["proposalId"]
    assert (await api.approve(reversal_id)).status_code == 200
    await api.executed(reversal_id)
    # It is done, not "in progress": the answer says which one and that it may be done.
    again = await api.submit("ReversalProposed", reversal | {"reason": "Igjen"}, headers=accountant)
    problem = assert_problem(again, 422, "invalid-proposal")
    assert reversal_id in problem["detail"]
    assert "in progress or done" in problem["detail"]
