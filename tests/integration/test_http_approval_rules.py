"""ABAC over HTTP (domain.approval): self-approval, the uploader of the document, approval
limits, two approvers, department scoping — each refusal a 403 problem with its own code,
and each decision naming the rules that allowed it. Then the same on SQLite and PostgreSQL:
the new columns (migration 0005) and replay of endorsements.

The tokens are the real local ones; the ABAC attributes (`approval_limit`, `department`)
are added by a verifier wrapped around the real one, so these tests do not depend on which
claims the token issuer can mint.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from dependency_injector import providers

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.documents import Documents
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import Principal, TokenVerifier
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.approval import OwnDocumentApprovalNotAllowed
from bookkeeper.domain.events import InvoiceRegistrationData, Status
from bookkeeper.domain.review import ReviewRules
from tests.http_helpers import (
    API,
    TENANT,
    Api,
    FixedClock,
    MemoryDatabase,
    assert_problem,
    invoice,
    memory_container,
    receipt,
    running_api,
)

PDF = b"%PDF-1.4\n% a receipt\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

#: The ABAC attributes of each subject, as an identity provider would put them in tokens.
ATTRIBUTES: dict[str, dict[str, str]] = {
    "kari": {"approval_limit": "5000.00"},
    "ola": {"approval_limit": "100000.00"},
    "per": {"approval_limit": "100000.00", "department": "sales"},
    "ida": {"approval_limit": "100000.00", "department": "it"},
    "siri": {"department": "sales"},
    "ada": {"department": "it"},
}


class WithAttributes:
    """The real verifier, with the test's attributes added to the principals it returns."""

    def __init__(self, inner: TokenVerifier, attributes: Mapping[str, dict[str, str]]) -> None:
        self._inner = inner
        self._attributes = attributes

    def verify(self, token: str) -> Principal:
        principal = self._inner.verify(token)
        extra = self._attributes.get(principal.subject, {})
        return msgspec.structs.replace(principal, attributes={**principal.attributes, **extra})


@pytest.fixture
async def database() -> MemoryDatabase:
    return MemoryDatabase()


@contextlib.asynccontextmanager
async def api_with_attributes(
    tmp_path: Path, database: MemoryDatabase, attributes: Mapping[str, dict[str, str]]
) -> AsyncIterator[Api]:
    """The API on the memory store, its principals carrying `attributes` (by subject)."""
    container = memory_container(tmp_path, clock=FixedClock(), database=database)
    inner = container.token_verifier()
    container.token_verifier.override(providers.Object(WithAttributes(inner, attributes)))
    async with running_api(tmp_path, database=database, container=container) as running:
        yield running


@pytest.fixture
async def api(tmp_path: Path, database: MemoryDatabase) -> AsyncIterator[Api]:
    async with api_with_attributes(tmp_path, database, ATTRIBUTES) as running:
        yield running


def set_rules(database: MemoryDatabase, rules: ReviewRules) -> None:
    database.factory.db.rules[TENANT] = rules


async def _pending(api: Api, type_: str = "ReceiptAttachmentProposed", **data: Any) -> str:
    payload = receipt(**data) if type_ == "ReceiptAttachmentProposed" else invoice(**data)
    created = await api.propose(type_, payload)
    assert created["decision"]["outcome"] == "awaiting_review"
    proposal_id: str = created["proposalId"]
    return proposal_id


async def _proposal(api: Api, proposal_id: str) -> dict[str, Any]:
    response = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_self_approval_is_still_a_403(api: Api) -> None:
    created = await api.submit(
        "ReceiptAttachmentProposed", receipt(), headers=api.headers("ola", "accountant")
    )
    assert created.status_code == 201, created.text
    response = await api.approve(created.json()["proposalId"], headers=api.headers("ola", "admin"))
    assert_problem(response, 403, "self-approval")


async def test_the_uploader_of_the_document_cannot_approve(api: Api) -> None:
    uploader = api.headers("ola", "accountant")
    uploaded = await api.client.post(
        f"{API}/files",
        content=PDF,
        params={"filename": "kvittering.pdf"},
        headers=uploader | {"Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    proposal_id = await _pending(api, documentHash=hashlib.sha256(PDF).hexdigest())
    assert_problem(await api.approve(proposal_id, headers=uploader), 403, "own-document-approval")
    assert (await _proposal(api, proposal_id))["status"] == "PROPOSED"
    approved = await api.approve(proposal_id)  # kari did not upload it
    assert approved.status_code == 200, approved.text


async def test_an_approval_above_the_reviewers_limit_is_refused(api: Api) -> None:
    proposal_id = await _pending(api, amount="6250.00", vatAmount="1250.00")
    assert_problem(await api.approve(proposal_id), 403, "approval-limit-exceeded")  # kari: 5000
    # A correction that raises the amount above the limit is refused as well …
    small = await _pending(
        # Another purchase, paid by its own bank transaction (ADR 0051 addendum).
        api,
        amount="4000.00",
        vatAmount="800.00",
        documentNumber="R-2",
        folioEventId="ev-124",
    )
    raised = await api.approve(small, {"corrections": {"amount": "5000.01", "vatAmount": "0"}})
    assert_problem(raised, 403, "approval-limit-exceeded")
    # … and within it, the decision says which limit allowed it.
    response = await api.approve(small)
    assert response.status_code == 200, response.text
    assert response.json()["proposal"]["decisionRule"] == "four-eyes;approval-limit:5000.00"
    allowed = await api.approve(proposal_id, headers=api.headers("ola", "reviewer"))
    assert allowed.status_code == 200, allowed.text


async def test_a_tenant_may_require_a_limit(api: Api, database: MemoryDatabase) -> None:
    set_rules(database, ReviewRules(require_approval_limit=True))
    proposal_id = await _pending(api)
    no_limit = api.headers("vilde", "reviewer")
    assert_problem(await api.approve(proposal_id, headers=no_limit), 403, "approval-limit-exceeded")
    set_rules(database, ReviewRules(default_approval_limit=Decimal("1000")))
    response = await api.approve(proposal_id, headers=no_limit)
    assert response.status_code == 200, response.text
    assert response.json()["proposal"]["decisionRule"] == (
        "four-eyes;approval-limit:default:1000.00"
    )


async def test_two_different_approvers_above_the_threshold(
    api: Api, database: MemoryDatabase
) -> None:
    set_rules(database, ReviewRules(two_approvers_above=Decimal("50000")))
    proposal_id = await _pending(api, "InvoiceRegistrationProposed", amount="60000.00")
    ola, ida = api.headers("ola", "reviewer"), api.headers("ida", "accountant")
    first = await api.approve(proposal_id, {"corrections": {"accountCode": "6810"}}, ola)
    assert first.status_code == 200, first.text
    endorsed = first.json()["proposal"]
    assert endorsed["status"] == "PROPOSED"
    assert (endorsed["endorsedBy"], endorsed["decidedBy"]) == ("human:ola", None)
    assert endorsed["accountCode"] == "6810"
    event = await api.client.get(f"{API}/events/{first.json()['eventId']}", headers=api.viewer)
    assert event.json()["type"] == "InvoiceRegistrationEndorsed"
    assert event.json()["data"]["rule"] == "four-eyes;approval-limit:100000.00;two-approvers:1/2"
    # Still waiting for review: in the queue, and the same person cannot finish it.
    queue = await api.client.get(
        f"{API}/proposals", params={"status": "PROPOSED"}, headers=api.viewer
    )
    assert proposal_id in {p["id"] for p in queue.json()["items"]}
    assert_problem(await api.approve(proposal_id, headers=ola), 403, "second-approver-required")
    changed = await api.approve(proposal_id, {"corrections": {"amount": "59000.00"}}, ida)
    assert_problem(changed, 422, "invalid-correction")
    second = await api.approve(proposal_id, headers=ida)
    assert second.status_code == 200, second.text
    approved = second.json()["proposal"]
    assert approved["status"] == "APPROVED"
    assert (approved["endorsedBy"], approved["decidedBy"]) == ("human:ola", "human:ida")
    assert approved["decisionRule"] == "four-eyes;approval-limit:100000.00;two-approvers:2/2"
    assert approved["accountCode"] == "6810"
    # A further approval is a conflict, as before.
    late = await api.approve(proposal_id, headers=api.headers("per", "reviewer"))
    assert_problem(late, 409, "proposal-not-pending")


async def test_rejecting_an_endorsed_proposal_rejects_it(api: Api) -> None:
    proposal_id = await _pending(api, "InvoiceRegistrationProposed", amount="60000.00")
    first = await api.approve(proposal_id, headers=api.headers("ola", "reviewer"))
    assert first.json()["proposal"]["status"] == "PROPOSED"
    rejected = await api.reject(proposal_id, {"reason": "not ours"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["proposal"]["status"] == "REJECTED"
    assert rejected.json()["proposal"]["endorsedBy"] == "human:ola"


async def test_department_scoping(api: Api, database: MemoryDatabase) -> None:
    set_rules(database, ReviewRules(departments=True))
    created = await api.submit(
        "ReceiptAttachmentProposed", receipt(), headers=api.headers("siri", "accountant")
    )
    assert created.status_code == 201, created.text
    proposal_id = created.json()["proposalId"]
    first = await api.client.get(f"{API}/events/{proposal_id}", headers=api.viewer)
    assert first.json()["metadata"]["department"] == "sales"
    it = api.headers("ida", "reviewer")
    assert_problem(await api.approve(proposal_id, headers=it), 403, "department-mismatch")
    assert_problem(await api.reject(proposal_id, {"reason": "no"}, it), 403, "department-mismatch")
    response = await api.approve(proposal_id, headers=api.headers("per", "reviewer"))
    assert response.status_code == 200, response.text
    assert response.json()["proposal"]["decisionRule"] == (
        "four-eyes;department:sales;approval-limit:100000.00"
    )
    # Admins are exempt; a department reviewer cannot take the agent's (department-less) work.
    other = await api.submit(
        "ReceiptAttachmentProposed",
        receipt(documentNumber="R-9", folioEventId="ev-129"),  # its own payment
        headers=api.headers("siri", "accountant"),
    )
    admin = await api.approve(other.json()["proposalId"], headers=api.headers("ada", "admin"))
    assert admin.status_code == 200, admin.text
    assert "department:admin" in admin.json()["proposal"]["decisionRule"]
    agents = await _pending(api, documentNumber="R-10")
    assert_problem(await api.approve(agents, headers=it), 403, "department-mismatch")


async def test_the_body_cannot_set_the_department(api: Api, database: MemoryDatabase) -> None:
    set_rules(database, ReviewRules(departments=True))
    forged = await api.submit(
        "ReceiptAttachmentProposed",
        receipt(),
        source={"department": "it"},
    )
    assert forged.status_code in (201, 400, 422), forged.text
    if forged.status_code == 201:
        proposal_id = forged.json()["proposalId"]
        assert_problem(
            await api.approve(proposal_id, headers=api.headers("ida", "reviewer")),
            403,
            "department-mismatch",
        )


# --- the same on SQL: the new columns, and replay of endorsements -----------------------


def _human(subject: str, role: str = "reviewer", **attributes: str) -> Principal:
    return Principal(
        subject=subject, tenant_id=TENANT, roles=frozenset({role}), attributes=attributes
    )


async def test_uploader_and_endorsement_are_stored_and_replayed_on_sql(
    sql_database: SqlDatabase,
) -> None:
    factory = sql_database.uow_factory()
    clock = SystemClock()
    documents = Documents(factory, clock, RoleAuthorizer())
    handlers = Handlers(factory, clock, UuidV7Ids(), RoleAuthorizer())
    upload = await documents.upload(_human("ola", "accountant"), PDF, "application/pdf", "r.pdf")
    assert (await documents.get(_human("ida"), upload.document.sha256)).uploaded_by == "human:ola"
    data = msgspec.convert(
        invoice(amount="60000.00", documentHash=upload.document.sha256),
        InvoiceRegistrationData,
        strict=False,
    )
    submitted = await handlers.submit(
        SubmitEvent(
            principal=_human("siri", "accountant", department="sales"),
            type="InvoiceRegistrationProposed",
            data=data,
        )
    )
    pid = submitted.stream_id
    with pytest.raises(OwnDocumentApprovalNotAllowed):
        await handlers.approve(ApproveProposal(principal=_human("ola"), proposal_id=pid))
    first = await handlers.approve(ApproveProposal(principal=_human("kari"), proposal_id=pid))
    assert (first.proposal.status, first.proposal.endorsed_by) == (Status.PROPOSED, "human:kari")
    second = await handlers.approve(
        ApproveProposal(principal=_human("ida", approval_limit="60000"), proposal_id=pid)
    )
    live = second.proposal
    assert (live.status, live.endorsed_by, live.decided_by) == (
        Status.APPROVED,
        "human:kari",
        "human:ida",
    )
    assert live.decision_rule == "four-eyes;approval-limit:60000.00;two-approvers:2/2"
    async with factory() as uow:
        stored = await uow.proposals.get(TENANT, pid)
    assert stored is not None
    assert (stored.status, stored.endorsed_by, stored.decided_by, stored.decision_rule) == (
        live.status,
        live.endorsed_by,
        live.decided_by,
        live.decision_rule,
    )
    await rebuild_projections(factory)
    async with factory() as uow:
        assert await uow.proposals.get(TENANT, pid) == stored
