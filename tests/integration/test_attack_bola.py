"""Cross-tenant object access (BOLA, quality.md security 1).

Every route with an id in its path is read from the OpenAPI document; each must have a
probe here (a new id-bearing route without one fails `test_every_id_bearing_route_has_a_probe`).
The object is created in tenant A; every role of tenant B (each alone, and all at once)
then calls the route with A's id. The answer must be exactly what B gets for an id that
exists nowhere: a 404 problem whenever B's role may perform the action at all, the same
403 problem for a role that may not perform it on any object (agent, viewer or system
deciding) — so the answer never depends on A's object existing, never is a 2xx, and its
body says nothing of A's object beyond the id B sent. Write routes record nothing in
either tenant's log. A's own roles get their normal answers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from bookkeeper.settings import Settings
from tests.http_helpers import API, TENANT, Api, memory_container, receipt, running_api

OTHER = "globex"
ROLES = ("admin", "accountant", "reviewer", "agent", "system", "viewer")
#: Strings of tenant A's objects that must never appear in an answer to tenant B.
A_MARKERS = ("Adobe", "R-A-1", "alice", "anna", TENANT, "Secret ledger line", "a-receipt.png")
#: Issue 14: tenant A's own Fiken credentials, set by A's admin in the world.
A_TOKEN, A_COMPANY = "a-fiken-secret-token", "a-company-slug"
A_MARKERS = (*A_MARKERS, A_TOKEN, A_COMPANY, "sha256:")
CREDENTIALS_KEY = "xv2Yq3cQj0m9mHq2sD3kq6cTnJdYwZ1bS0j1yQnRk2E="
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32) + b"tenant-a"


@dataclass
class World:
    api: Api
    event_id: str
    proposal_id: str
    correlation_id: str
    entry_id: str
    sha256: str
    #: Issue 14: tenant A itself, the id in /tenants/{tenant}/credentials/{provider}.
    tenant: str = TENANT


Probe = Callable[[World, str], tuple[str, str, Any]]  # (method, url, json body)


def _decision(action: str, body: Any) -> Probe:
    def probe(world: World, object_id: str) -> tuple[str, str, Any]:
        return "POST", f"{API}/events/{object_id}/{action}", body

    return probe


def _resolved(world: World, object_id: str) -> tuple[str, str, Any]:
    return "POST", f"{API}/check/executions/{object_id}/resolved", {"note": "dealt with"}


def _get(collection: str) -> Probe:
    def probe(world: World, object_id: str) -> tuple[str, str, Any]:
        return "GET", f"{API}/{collection}/{object_id}", None

    return probe


def _credentials(method: str, body: Any = None) -> Probe:
    def probe(world: World, object_id: str) -> tuple[str, str, Any]:
        return method, f"{API}/tenants/{object_id}/credentials/fiken", body

    return probe


#: (method, path template) → probe, and which of A's ids it takes and how to invent one.
PROBES: dict[tuple[str, str], tuple[Probe, str]] = {
    ("GET", f"{API}/events/{{event_id}}"): (_get("events"), "event_id"),
    ("POST", f"{API}/events/{{event_id}}/approve"): (_decision("approve", None), "proposal_id"),
    ("POST", f"{API}/events/{{event_id}}/reject"): (
        _decision("reject", {"reason": "not ours"}),
        "proposal_id",
    ),
    ("POST", f"{API}/events/{{event_id}}/retry"): (_decision("retry", {}), "proposal_id"),
    ("GET", f"{API}/proposals/{{proposal_id}}"): (_get("proposals"), "proposal_id"),
    ("POST", f"{API}/check/executions/{{proposal_id}}/resolved"): (_resolved, "proposal_id"),
    ("GET", f"{API}/correlations/{{correlation_id}}"): (_get("correlations"), "correlation_id"),
    ("GET", f"{API}/journal-entries/{{entry_id}}"): (_get("journal-entries"), "entry_id"),
    ("GET", f"{API}/files/{{sha256}}"): (_get("files"), "sha256"),
    # Issue 14: tenant A's credentials (set by A's admin in the world) through B's token.
    ("PUT", f"{API}/tenants/{{tenant}}/credentials/{{provider}}"): (
        _credentials("PUT", {"token": "b-token-for-a", "company": "b-company"}),
        "tenant",
    ),
    ("GET", f"{API}/tenants/{{tenant}}/credentials/{{provider}}"): (
        _credentials("GET"),
        "tenant",
    ),
    ("DELETE", f"{API}/tenants/{{tenant}}/credentials/{{provider}}"): (
        _credentials("DELETE"),
        "tenant",
    ),
}


#: Routes whose path parameters name a period of the caller's own tenant (a date, a kind, a
#: VAT term), not an object that belongs to a tenant: there is no other tenant's object to
#: reach through them. test_a_period_route_acts_on_the_callers_tenant_only shows it.
TENANT_SCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("DELETE", f"{API}/rules/periods/{{kind}}/{{start}}"),
        ("POST", f"{API}/rules/vat-terms/{{year}}/{{term}}/lock"),
    }
)


def _unknown(kind: str) -> str:
    return uuid.uuid4().hex * 2 if kind == "sha256" else str(uuid.uuid4())


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    container = memory_container(tmp_path)
    container.settings.override(
        providers.Object(
            Settings.for_data_dir(tmp_path, executor_enabled=False, credentials_key=CREDENTIALS_KEY)
        )
    )
    async with running_api(tmp_path, container=container) as api:
        agent = api.headers("alice", "agent")
        proposed = await api.client.post(
            f"{API}/events",
            json={"type": "ReceiptAttachmentProposed", "data": receipt(documentNumber="R-A-1")},
            headers=agent,
        )
        assert proposed.status_code == 201, proposed.text
        body = proposed.json()
        assert body["status"] == "PROPOSED", body
        entry = await api.client.post(
            f"{API}/journal-entries",
            json={
                "date": "2026-11-02",
                "description": "Secret ledger line",
                "lines": [
                    {"account": "6800", "debit": "100.00"},
                    {"account": "1920", "credit": "100.00"},
                ],
            },
            headers=api.headers("anna", "accountant"),
        )
        assert entry.status_code == 201, entry.text
        upload = await api.client.post(
            f"{API}/files",
            params={"filename": "a-receipt.png"},
            content=PNG,
            headers={**agent, "Content-Type": "image/png"},
        )
        assert upload.status_code == 201, upload.text
        # Issue 14: A's own Fiken credentials (set last: A's later calls would go to Fiken).
        credentials = await api.client.put(
            f"{API}/tenants/{TENANT}/credentials/fiken",
            json={"token": A_TOKEN, "company": A_COMPANY},
            headers=api.headers("adam", "admin"),
        )
        assert credentials.status_code == 200, credentials.text
        yield World(
            api=api,
            event_id=body["eventId"],
            proposal_id=body["proposalId"],
            correlation_id=body["correlationId"],
            entry_id=entry.json()["entryId"],
            sha256=upload.json()["sha256"],
        )


async def _call(
    api: Api, probe: Probe, world: World, object_id: str, headers: dict[str, str]
) -> httpx.Response:
    method, url, body = probe(world, object_id)
    if method == "GET":
        return await api.client.get(url, headers=headers)
    if method == "DELETE":
        return await api.client.delete(url, headers=headers)
    if method == "PUT":
        return await api.client.put(url, json=body, headers=headers)
    return await api.client.post(url, json=body, headers=headers)


async def _log(api: Api, tenant: str) -> list[dict[str, Any]]:
    auditor = api.headers("auditor", "viewer", tenant=tenant)
    response = await api.client.get(f"{API}/events", params={"limit": 500}, headers=auditor)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _principals(api: Api) -> list[tuple[str, dict[str, str]]]:
    """Every role of tenant B alone, and one principal holding all of them."""
    single = [(role, api.headers(f"bob-{role}", role, tenant=OTHER)) for role in ROLES]
    return [*single, ("all roles", api.headers("bob-root", *ROLES, tenant=OTHER))]


async def test_every_id_bearing_route_has_a_probe(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        document = (await api.client.get("/schema/openapi.json")).json()
    id_bearing = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
        and any(p.get("in") == "path" for p in operation.get("parameters", ()))
    }
    assert id_bearing - TENANT_SCOPED == set(PROBES), "a route with a path id needs a BOLA probe"
    assert id_bearing >= TENANT_SCOPED, "a tenant-scoped route is gone: drop it from the list"


async def test_a_period_route_acts_on_the_callers_tenant_only(tmp_path: Path) -> None:
    """Tenant A closes November and locks term 6; tenant B's admin reopening the same period
    and term reopens nothing of A's: A's period and term stay closed, A's postings into
    November are still refused."""
    async with running_api(tmp_path) as api:
        accountant_a = api.headers("anna", "accountant")
        closed = await api.client.post(
            f"{API}/rules/periods",
            json={"start": "2026-11-01", "end": "2026-11-30"},
            headers=accountant_a,
        )
        assert closed.status_code == 201, closed.text
        locked = await api.client.post(f"{API}/rules/vat-terms/2026/6/lock", headers=accountant_a)
        assert locked.status_code == 201, locked.text

        admin_b = api.headers("bob", "admin", "accountant", tenant=OTHER)
        for kind, start in (("period", "2026-11-01"), ("vat-term", "2026-11-01")):
            reopened = await api.client.delete(
                f"{API}/rules/periods/{kind}/{start}", headers=admin_b
            )
            assert reopened.status_code == 404, reopened.text
        own = await api.client.get(f"{API}/rules/periods", headers=admin_b)
        assert own.status_code == 200 and own.json() == [], own.text

        still = await api.client.get(f"{API}/rules/periods", headers=accountant_a)
        assert {p["kind"] for p in still.json()} == {"period", "vat-term"}, still.text
        refused = await api.client.post(
            f"{API}/journal-entries",
            json={
                "date": "2026-11-15",
                "description": "Into a closed month",
                "lines": [
                    {"account": "6800", "debit": "10.00"},
                    {"account": "1920", "credit": "10.00"},
                ],
            },
            headers=accountant_a,
        )
        assert refused.status_code == 409, refused.text


@pytest.mark.parametrize("route", list(PROBES), ids=[f"{m} {p}" for m, p in PROBES])
async def test_another_tenant_gets_404_never_the_object(
    world: World, route: tuple[str, str]
) -> None:
    api = world.api
    probe, kind = PROBES[route]
    target = str(getattr(world, kind))
    logs_before = (await _log(api, TENANT), await _log(api, OTHER))
    granted_somewhere = False
    for name, headers in _principals(api):
        answer = await _call(api, probe, world, target, headers)
        unknown_id = _unknown(kind)
        reference = await _call(api, probe, world, unknown_id, headers)
        context = f"{route} as {OTHER} {name}: {answer.status_code} {answer.text}"
        assert not answer.is_success, context
        assert answer.status_code in {403, 404}, context
        assert answer.headers["content-type"].startswith("application/problem+json"), context
        # Indistinguishable from an id that exists nowhere: same status, same problem.
        assert answer.status_code == reference.status_code, context
        assert answer.text.replace(target, "<id>") == reference.text.replace(unknown_id, "<id>")
        for marker in A_MARKERS:
            assert marker not in answer.text, context
        if answer.status_code == 404:
            granted_somewhere = True
        # May do this in B: so it is a 404 (a tenant's credentials are its admins' only).
        if name in (
            {"admin", "all roles"} if kind == "tenant" else {"admin", "accountant", "all roles"}
        ):
            assert answer.status_code == 404, context
    assert granted_somewhere
    # Nothing recorded in either tenant by any of those calls.
    assert (await _log(api, TENANT), await _log(api, OTHER)) == logs_before
    proposal = await api.client.get(f"{API}/proposals/{world.proposal_id}", headers=api.viewer)
    assert proposal.json()["status"] == "PROPOSED"


async def test_a_correlation_filter_with_another_tenants_id_finds_nothing(world: World) -> None:
    api = world.api
    for name, headers in _principals(api):
        response = await api.client.get(
            f"{API}/events", params={"correlationId": world.correlation_id}, headers=headers
        )
        assert response.status_code == 200, f"{name}: {response.text}"
        assert response.json()["items"] == [], name
        listed = await api.client.get(f"{API}/proposals", headers=headers)
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"] == [], name


async def test_the_owning_tenant_gets_its_normal_answers(world: World) -> None:
    api = world.api
    # Every role reads A's objects; a tenant's credentials are its admins' (below).
    reads = [route for route in PROBES if route[0] == "GET" and PROBES[route][1] != "tenant"]
    for role in ROLES:
        headers = api.headers(f"a-{role}", role)
        for route in reads:
            probe, kind = PROBES[route]
            response = await _call(api, probe, world, str(getattr(world, kind)), headers)
            assert response.status_code == 200, f"{route} as {role}: {response.text}"
    own = await api.client.get(
        f"{API}/tenants/{TENANT}/credentials/fiken", headers=api.headers("a-admin", "admin")
    )
    assert own.status_code == 200, own.text
    assert own.json()["company"] == A_COMPANY and A_TOKEN not in own.text
    # Removed again by A's admin: A's books are the sandbox's again for the calls below.
    removed = await api.client.delete(
        f"{API}/tenants/{TENANT}/credentials/fiken", headers=api.headers("a-admin", "admin")
    )
    assert removed.status_code == 204, removed.text
    download = await api.client.get(f"{API}/files/{world.sha256}", headers=api.viewer)
    assert download.content == PNG
    # The reviewer of A decides A's proposals.
    approved = await api.approve(world.proposal_id)
    assert approved.status_code == 200, approved.text
    assert approved.json()["proposal"]["status"] == "APPROVED"
    other = await api.propose("ReceiptAttachmentProposed", receipt(documentNumber="R-A-2"))
    rejected = await api.reject(other["proposalId"], {"reason": "duplicate"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["proposal"]["status"] == "REJECTED"


async def test_a_tax_rate_change_is_the_changing_tenants_alone(tmp_path: Path) -> None:
    """Tenant B's admin changes the low rate (code 13) from 2027-02-01 (ADR 0040): B reads
    10 % from then on, tenant A still the 12 % default, and B keeps the code's history (the
    pandemic's 6 % in 2020) — its first change copied the defaults' rows of the code."""
    async with running_api(tmp_path) as api:
        admin_b = api.headers("bob", "admin", tenant=OTHER)
        changed = await api.client.post(
            f"{API}/rules/tax-rates",
            json={"saftCode": "13", "rate": "10", "validFrom": "2027-02-01"},
            headers=admin_b,
        )
        assert changed.status_code == 201, changed.text

        async def low(headers: dict[str, str], on: str) -> str:
            got = await api.client.get(f"{API}/rules/tax-rates", params={"on": on}, headers=headers)
            assert got.status_code == 200, got.text
            return str({r["saftCode"]: r["rate"] for r in got.json()}["13"])

        accountant_a = api.headers("anna", "accountant")
        assert await low(admin_b, "2027-03-01") == "10.00"
        assert await low(admin_b, "2027-01-31") == "12.00"
        assert await low(admin_b, "2020-06-01") == "6.00"
        assert await low(accountant_a, "2027-03-01") == "12.00"
        assert await low(accountant_a, "2020-06-01") == "6.00"
        # A's admin changing the same code from the same day is A's own first change, not
        # refused as "already has a rate from 2027-02-01" by B's row.
        admin_a = api.headers("ada", "admin")
        own = await api.client.post(
            f"{API}/rules/tax-rates",
            json={"saftCode": "13", "rate": "11", "validFrom": "2027-02-01"},
            headers=admin_a,
        )
        assert own.status_code == 201, own.text
        assert await low(accountant_a, "2027-03-01") == "11.00"
        assert await low(admin_b, "2027-03-01") == "10.00"
