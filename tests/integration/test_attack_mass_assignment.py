"""Mass assignment (quality.md security 4): a client cannot set what the server owns.

Every write route's body is sent once per server-owned field (status, tenant, actor,
approver, proposer, execution state, positions and versions, computed confidence, ids the
server assigns), at the top level and in nested objects: each is a 400 problem naming that
field's JSON path, and nothing is recorded in the log. The upload takes no JSON, so its
query string is tried instead: it cannot move the file to another tenant.

And no response schema of the OpenAPI document has a property that looks like a secret;
the few names that contain such a word but are not secrets are listed explicitly.
"""

from __future__ import annotations

import re
from typing import Any

from tests.http_helpers import API, Api, pattern, problem_fields, receipt

#: Fields the server sets and a client must not: by name, with a plausible value.
SERVER_OWNED: dict[str, Any] = {
    "status": "APPROVED",
    "tenant": "globex",
    "tenantId": "globex",
    "actor": "human:boss",
    "approver": "human:boss",
    "approvedBy": "human:boss",
    "decidedBy": "human:boss",
    "decidedAt": "2026-11-20T09:00:00Z",
    "proposedBy": "human:boss",
    "attempts": 0,
    "externalIds": {"fiken": "1"},
    "executed": True,
    "executedAt": "2026-11-20T09:00:00Z",
    "lastError": "boom",
    "position": 1,
    "version": 7,
    "confidence": 1.0,
    "reviewOutcome": "auto_approved",
    "createdAt": "2026-11-20T09:00:00Z",
    "streamId": "00000000-0000-0000-0000-000000000001",
}
#: The same where the server assigns the id too.
SERVER_OWNED_WITH_ID: dict[str, Any] = {
    **SERVER_OWNED,
    "id": "00000000-0000-0000-0000-000000000002",
    "eventId": "00000000-0000-0000-0000-000000000003",
    "proposalId": "00000000-0000-0000-0000-000000000004",
}
JOURNAL_ENTRY_OWNED: dict[str, Any] = {
    **SERVER_OWNED_WITH_ID,
    "entryId": "00000000-0000-0000-0000-000000000005",
    "postedAt": "2026-11-20T09:00:00Z",
    "source": "proposal",
    "reversesEntryId": "00000000-0000-0000-0000-000000000006",
}
LINE_OWNED = {"lineNo": 1, "balance": "0.00", "entryId": "00000000-0000-0000-0000-000000000005"}

ENTRY = {
    "date": "2026-11-02",
    "description": "Office supplies",
    "lines": [{"account": "6800", "debit": "100.00"}, {"account": "1920", "credit": "100.00"}],
}

#: Words that mark a secret in a property name …
SECRET = re.compile(
    r"token|passw|secret|key|credential|private|salt|apikey|jwt|bearer|cookie", re.I
)
#: … and the response properties that contain one but are not secrets.
NOT_SECRETS = frozenset(
    {
        "merchantKey",  # the normalised merchant name patterns are keyed by
        "idempotencyKey",  # the client's own retry key
        "documentHash",  # the SHA-256 of a stored file
        "inputTokens",  # counts of LLM tokens a cost check reports (/check/costs)
        "outputTokens",
    }
)


async def _log(api: Api) -> list[dict[str, Any]]:
    response = await api.client.get(f"{API}/events", params={"limit": 500}, headers=api.viewer)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _assert_refused(response: Any, path: str) -> None:
    assert response.status_code == 400, f"{path}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert path in problem_fields(response.json()), f"{path}: {response.text}"


async def test_a_submission_cannot_set_server_owned_fields(api: Api) -> None:
    before = await _log(api)
    for field, value in SERVER_OWNED.items():
        body = {"type": "ReceiptAttachmentProposed", "data": receipt(), field: value}
        response = await api.client.post(f"{API}/events", json=body, headers=api.agent)
        _assert_refused(response, f"$.{field}")
        nested = {"type": "ReceiptAttachmentProposed", "data": receipt(**{field: value})}
        response = await api.client.post(f"{API}/events", json=nested, headers=api.agent)
        _assert_refused(response, f"$.data.{field}")
    # Also for a kind with other payload fields, and for a query record.
    for field, value in SERVER_OWNED.items():
        body = {"type": "PatternSuggested", "data": {**pattern(), field: value}}
        response = await api.client.post(f"{API}/events", json=body, headers=api.agent)
        _assert_refused(response, f"$.data.{field}")
    assert await _log(api) == before


async def test_a_decision_cannot_set_server_owned_fields(api: Api) -> None:
    proposal = await api.propose("ReceiptAttachmentProposed", receipt())
    proposal_id = proposal["proposalId"]
    before = await _log(api)
    for field, value in SERVER_OWNED_WITH_ID.items():
        _assert_refused(await api.approve(proposal_id, {field: value}), f"$.{field}")
        _assert_refused(
            await api.approve(proposal_id, {"corrections": {field: value}}),
            f"$.corrections.{field}",
        )
        _assert_refused(await api.reject(proposal_id, {"reason": "no", field: value}), f"$.{field}")
    assert await _log(api) == before
    view = await api.client.get(f"{API}/proposals/{proposal_id}", headers=api.viewer)
    assert view.json()["status"] == "PROPOSED"


async def test_a_journal_entry_cannot_set_server_owned_fields(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    before = await _log(api)
    for field, value in JOURNAL_ENTRY_OWNED.items():
        response = await api.client.post(
            f"{API}/journal-entries", json={**ENTRY, field: value}, headers=accountant
        )
        _assert_refused(response, f"$.{field}")
    for field, value in {**LINE_OWNED, **SERVER_OWNED}.items():
        lines = [{**ENTRY["lines"][0], field: value}, ENTRY["lines"][1]]  # type: ignore[index]
        response = await api.client.post(
            f"{API}/journal-entries", json={**ENTRY, "lines": lines}, headers=accountant
        )
        _assert_refused(response, f"$.lines[0].{field}")
    assert await _log(api) == before
    # The same body without them is accepted: the refusals were about those fields.
    accepted = await api.client.post(f"{API}/journal-entries", json=ENTRY, headers=accountant)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["actor"] == "human:anna"


async def test_an_upload_cannot_be_placed_in_another_tenant(api: Api) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32) + b"mass"
    response = await api.client.post(
        f"{API}/files",
        params={"filename": "r.png", "tenant": "globex", "tenantId": "globex", "actor": "x"},
        content=png,
        headers={**api.agent, "Content-Type": "image/png"},
    )
    assert response.status_code == 201, response.text
    sha256 = response.json()["sha256"]
    assert set(response.json()) == {"sha256", "size", "contentType", "filename", "duplicate"}
    mine = await api.client.get(f"{API}/files/{sha256}", headers=api.viewer)
    assert mine.status_code == 200
    theirs = await api.client.get(f"{API}/files/{sha256}", headers=api.foreigner)
    assert theirs.status_code == 404


async def test_the_accepted_fields_really_are_the_clients(api: Api) -> None:
    """The control: the client-settable fields of a submission are accepted (so the
    refusals above are about ownership, not about any extra field)."""
    body = {
        "type": "ReceiptAttachmentProposed",
        "data": receipt(),
        "id": "0190f3f0-0000-7000-8000-000000000001",
        "correlationId": "0190f3f0-0000-7000-8000-000000000002",
        "proposerConfidence": 0.9,
        "source": {"channel": "test"},
    }
    response = await api.client.post(f"{API}/events", json=body, headers=api.agent)
    assert response.status_code == 201, response.text
    recorded = response.json()
    assert recorded["eventId"] == body["id"]
    event = await api.client.get(f"{API}/events/{body['id']}", headers=api.viewer)
    assert event.json()["actor"] == "book-e"  # from the token


def _properties(schema: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name reachable from a schema (references followed once)."""
    names: set[str] = set()
    if isinstance(schema, list):
        for item in schema:
            names |= _properties(item, components, seen)
    elif isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                names |= _properties(components[name], components, seen)
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                names |= set(value)
            if key not in {"$ref", "examples", "example", "enum", "const", "default"}:
                names |= _properties(value, components, seen)
    return names


async def test_no_response_schema_carries_a_secret(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    components = document.get("components", {}).get("schemas", {})
    names: set[str] = set()
    headers: set[str] = set()
    for item in document["paths"].values():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            for response in operation.get("responses", {}).values():
                names |= _properties(response.get("content", {}), components, set())
                headers |= set(response.get("headers", {}))
    assert {"merchantKey", "sha256", "actor"} <= names  # the walk reaches the bodies
    suspicious = {n for n in names | headers if SECRET.search(n)} - NOT_SECRETS
    assert not suspicious, f"response fields that look like secrets: {sorted(suspicious)}"
