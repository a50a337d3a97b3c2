"""Guards of the proposal lifecycle over HTTP, on memory, SQLite and PostgreSQL:

- the same receipt file proposed again, whatever its fields now say, is a suspected
  duplicate (review, never approved automatically) naming the earlier proposal;
- an approval limit holds against the largest amount a proposal has carried: a reviewer
  cannot correct an amount down under their limit and approve it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    invoice,
    memory_container,
    receipt,
    running_api,
    served_api,
    sqlite_container,
)
from tests.integration.test_http_approval_rules import WithAttributes

PDF = b"%PDF-1.4\n% kvittering Adobe\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
OTHER_PDF = b"%PDF-1.4\n% another receipt\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

#: The ABAC attributes of each subject, as an identity provider would put them in tokens.
ATTRIBUTES: dict[str, dict[str, str]] = {
    "kari": {"approval_limit": "5000.00"},
    "ola": {"approval_limit": "100000.00"},
    "ida": {"approval_limit": "100000.00"},
}


@contextlib.asynccontextmanager
async def _api(tmp_path: Path, url: str | None, *, served: bool = False) -> AsyncIterator[Api]:
    container = memory_container(tmp_path) if url is None else sqlite_container(tmp_path, url)
    inner = container.token_verifier()
    container.token_verifier.override(providers.Object(WithAttributes(inner, ATTRIBUTES)))
    run = served_api if served else running_api
    async with run(tmp_path, container=container) as running:
        yield running


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = {
        "memory": None,
        "sqlite": f"sqlite:///{tmp_path / 'guards.db'}",
        "postgres": None,
    }[request.param]
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    # Served on a socket where a test sends requests together (the test client would run
    # them one after another).
    served = request.node.get_closest_marker("at_once") is not None
    async with _api(tmp_path, url, served=served) as running:
        yield running


async def _upload(api: Api, content: bytes) -> str:
    uploaded = await api.client.post(
        f"{API}/files",
        content=content,
        params={"filename": "kvittering.pdf"},
        headers=api.agent | {"Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    return hashlib.sha256(content).hexdigest()


def _duplicate_reason(created: dict[str, Any]) -> str:
    details = [r["detail"] for r in created["confidence"]["reasons"] if r["signal"] == "duplicate"]
    assert len(details) == 1, created["confidence"]["reasons"]
    return str(details[0])


# --- the same document file -------------------------------------------------------------


async def test_the_same_file_with_other_fields_is_a_suspected_duplicate(api: Api) -> None:
    await api.learn_adobe()
    sha = await _upload(api, PDF)
    first = await api.propose("ReceiptAttachmentProposed", receipt(documentHash=sha))
    assert first["decision"]["outcome"] == "auto_approved"
    # The same file again: another amount, date, document number and bank event — nothing
    # the merchant-and-amount probe sees — and the hash in capitals.
    again = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(
            documentHash=sha.upper(),
            amount="249.00",
            vatAmount="49.80",
            date="2026-10-02",
            documentNumber="R-77",
            folioEventId="ev-777",
        ),
    )
    assert again["decision"]["outcome"] == "awaiting_review", again["decision"]
    # The duplicate's -0.50 takes it out of the automatic band (review required).
    assert again["decision"]["rule"] == "review-required"
    assert _duplicate_reason(again) == f"the same document file as {first['proposalId']}"
    # Another merchant spelling and an expense instead of a receipt: the same file still.
    respelled = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(documentHash=sha, merchantName="ADOBE IRELAND", folioEventId="ev-778"),
    )
    assert respelled["decision"]["outcome"] == "awaiting_review"
    assert first["proposalId"] in _duplicate_reason(respelled)
    # Another file of the same merchant is no duplicate of it.
    other = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(
            documentHash=await _upload(api, OTHER_PDF),
            amount="99.00",
            vatAmount="19.80",
            documentNumber="R-2",
            folioEventId="ev-124",
        ),
    )
    assert other["decision"]["outcome"] == "auto_approved", other["decision"]


@pytest.mark.at_once
async def test_one_file_proposed_many_times_at_once_is_approved_automatically_once(
    api: Api,
) -> None:
    """Eight requests at once (served on a socket): the rules approve one, and the others
    name an earlier proposal of the file."""
    await api.learn_adobe()
    sha = await _upload(api, PDF)
    answers = await asyncio.gather(
        *(
            api.submit(
                "ReceiptAttachmentProposed",
                receipt(
                    documentHash=sha,
                    amount=f"{100 + n}.00",
                    vatAmount=None,
                    documentNumber=f"R-{n}",
                    folioEventId=f"ev-{n}",
                ),
            )
            for n in range(8)
        )
    )
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    outcomes = sorted(a.json()["decision"]["outcome"] for a in answers)
    assert outcomes == ["auto_approved"] + ["awaiting_review"] * 7, outcomes


async def test_a_document_hash_is_a_sha256_kept_in_lower_case(api: Api) -> None:
    sha = await _upload(api, PDF)
    for wrong in (" " + sha, sha + "\n", sha[:63], "kvittering.pdf", sha[:-1] + "g"):
        refused = await api.submit("ReceiptAttachmentProposed", receipt(documentHash=wrong))
        problem = assert_problem(refused, 422)
        assert "documentHash" in problem["detail"], problem
    created = await api.propose("ReceiptAttachmentProposed", receipt(documentHash=sha.upper()))
    # As the file is kept: the executor finds it, and the same-file probe compares it.
    assert (await _status(api, created["proposalId"]))["data"]["documentHash"] == sha


async def test_a_rejected_proposal_of_the_file_is_no_obstacle(api: Api) -> None:
    sha = await _upload(api, PDF)
    wrong = await api.propose(
        "ReceiptAttachmentProposed", receipt(documentHash=sha, merchantName="Ukjent")
    )
    rejected = await api.reject(wrong["proposalId"], {"reason": "wrong merchant"})
    assert rejected.status_code == 200, rejected.text
    await api.learn_adobe()
    right = await api.propose("ReceiptAttachmentProposed", receipt(documentHash=sha))
    assert right["decision"]["outcome"] == "auto_approved", right["decision"]


# --- the approval limit holds against the largest amount carried ------------------------


async def _set_rules(api: Api, **rules: Any) -> None:
    response = await api.client.put(
        f"{API}/rules/review-rules", json=rules, headers=api.headers("ada", "admin")
    )
    assert response.status_code == 200, response.text


async def _status(api: Api, proposal_id: str) -> dict[str, Any]:
    response = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_correcting_the_amount_under_the_limit_does_not_approve_it(api: Api) -> None:
    created = await api.propose(
        "ReceiptAttachmentProposed", receipt(amount="6250.00", vatAmount="1250.00")
    )
    proposal_id = created["proposalId"]
    assert created["decision"]["outcome"] == "awaiting_review"
    # kari may approve 5000.00: correcting the 6250.00 down to 4000.00 is not hers to do.
    lowered = {"corrections": {"amount": "4000.00", "vatAmount": "800.00"}}
    problem = assert_problem(
        await api.approve(proposal_id, lowered), 403, "approval-limit-exceeded"
    )
    assert "carried the amount 6 250,00 kr" in problem["detail"], problem
    assert "corrected to 4 000,00 kr" in problem["detail"], problem
    state = await _status(api, proposal_id)
    assert (state["status"], state["amount"]) == ("PROPOSED", "6250.00")
    # ola's limit covers what it was: he may lower it.
    allowed = await api.approve(proposal_id, lowered, api.headers("ola", "reviewer"))
    assert allowed.status_code == 200, allowed.text
    assert (allowed.json()["proposal"]["status"], allowed.json()["proposal"]["amount"]) == (
        "APPROVED",
        "4000.00",
    )
    # A correction within the limit of a proposal within it is still hers (nothing carried
    # above 5000.00).
    small = await api.propose(
        "ReceiptAttachmentProposed",
        receipt(amount="4500.00", vatAmount="900.00", documentNumber="R-3", folioEventId="ev-3"),
    )
    fixed = await api.approve(
        small["proposalId"], {"corrections": {"amount": "4400.00", "vatAmount": "880.00"}}
    )
    assert fixed.status_code == 200, fixed.text


async def test_correcting_the_amount_under_the_threshold_still_needs_two(api: Api) -> None:
    await _set_rules(api, twoApproversAbove="50000.00")
    created = await api.propose("InvoiceRegistrationProposed", invoice(amount="60000.00"))
    proposal_id = created["proposalId"]
    ola = api.headers("ola", "reviewer")
    first = await api.approve(proposal_id, {"corrections": {"amount": "40000.00"}}, ola)
    assert first.status_code == 200, first.text
    endorsed = first.json()["proposal"]
    # An endorsement, not the approval: 60000.00 was proposed, above the threshold.
    assert (endorsed["status"], endorsed["endorsedBy"], endorsed["amount"]) == (
        "PROPOSED",
        "human:ola",
        "40000.00",
    )
    # The second approver needs a limit covering 60000.00 too, not only the 40000.00.
    kari = await api.approve(proposal_id)
    assert_problem(kari, 403, "approval-limit-exceeded")
    second = await api.approve(proposal_id, headers=api.headers("ida", "reviewer"))
    assert second.status_code == 200, second.text
    assert second.json()["proposal"]["status"] == "APPROVED"
