"""Every route of the OpenAPI document × every role, over HTTP on a migrated SQLite file:
403 exactly where the seeded policy (the `casbin_rule` rows migration 0006 wrote, read back
from the database) denies the route's action, something else where it grants it.

The one table written here is which action each route needs (the API's contract); whether a
role has it comes from the database, never from the code's defaults.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from dependency_injector import providers

from bookkeeper.container import Container
from bookkeeper.settings import Settings
from tests.http_helpers import API, Api, FixedClock, receipt, running_api, submission

ROLES = ("admin", "accountant", "reviewer", "agent", "viewer", "system", "compliance")
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SOME_ID = "0192f0c4-0000-7000-8000-000000000001"
SOME_SHA = "ab" * 32

Call = Callable[[Api, dict[str, str]], Awaitable[httpx.Response]]


def _get(path: str, **params: Any) -> Call:
    async def call(api: Api, headers: dict[str, str]) -> httpx.Response:
        return await api.client.get(f"{API}{path}", params=params, headers=headers)

    return call


def _post(path: str, body: Any = None, content: bytes | None = None, **headers: str) -> Call:
    async def call(api: Api, auth: dict[str, str]) -> httpx.Response:
        if content is not None:
            return await api.client.post(f"{API}{path}", content=content, headers=auth | headers)
        return await api.client.post(f"{API}{path}", json=body, headers=auth)

    return call


def _upload(path: str) -> Call:
    async def call(api: Api, auth: dict[str, str]) -> httpx.Response:
        files = {"file": ("r.pdf", PDF, "application/pdf")}
        return await api.client.post(f"{API}{path}", files=files, headers=auth)

    return call


def _put(path: str, body: Any) -> Call:
    async def call(api: Api, auth: dict[str, str]) -> httpx.Response:
        return await api.client.put(f"{API}{path}", json=body, headers=auth)

    return call


def _delete(path: str) -> Call:
    async def call(api: Api, auth: dict[str, str]) -> httpx.Response:
        return await api.client.delete(f"{API}{path}", headers=auth)

    return call


#: The routes outside the API (at the root), open to anyone: the health report, liveness,
#: readiness (ADR 0044 addendum) and the metrics.
PUBLIC: set[tuple[str, str]] = {
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
}
#: The public routes that ask the database (and answer 503 when it does not answer).
HEALTH_PROBES: Final = ("/health", "/health/ready")

#: (method, OpenAPI path) → (the action the route needs, a request that a role holding the
#: action gets through authorization with).
ROUTES: dict[tuple[str, str], tuple[str, Call]] = {
    ("POST", "/events"): (
        "events:propose",
        _post("/events", submission("ReceiptAttachmentProposed", receipt())),
    ),
    ("GET", "/events"): ("events:read", _get("/events")),
    ("GET", "/events/{event_id}"): ("events:read", _get(f"/events/{SOME_ID}")),
    ("POST", "/events/{event_id}/approve"): (
        "proposals:decide",
        _post(f"/events/{SOME_ID}/approve"),
    ),
    ("POST", "/events/{event_id}/reject"): (
        "proposals:decide",
        _post(f"/events/{SOME_ID}/reject", {"reason": "not ours"}),
    ),
    # A failed execution sent back to execution: a reviewer's decision (ADR 0009 addendum).
    ("POST", "/events/{event_id}/retry"): (
        "proposals:decide",
        _post(f"/events/{SOME_ID}/retry"),
    ),
    ("GET", "/proposals"): ("proposals:read", _get("/proposals")),
    ("GET", "/proposals/{proposal_id}"): ("proposals:read", _get(f"/proposals/{SOME_ID}")),
    ("GET", "/correlations/{correlation_id}"): (
        "events:read",
        _get(f"/correlations/{SOME_ID}"),
    ),
    ("GET", "/patterns"): ("patterns:read", _get("/patterns")),
    ("GET", "/reports/approval-rate"): ("reports:read", _get("/reports/approval-rate")),
    ("POST", "/files"): (
        "documents:write",
        _post("/files", content=PDF, **{"Content-Type": "application/pdf"}),
    ),
    ("GET", "/files/{sha256}"): ("documents:read", _get(f"/files/{SOME_SHA}")),
    # Also needs events:propose, which every role with documents:write has by default.
    ("POST", "/documents"): ("documents:write", _upload("/documents")),
    ("POST", "/bus/events"): (
        "bus:ingest",
        _post(
            "/bus/events",
            {
                "type": "InvoiceIssued",
                "source": "invoicing",
                "tenant": "acme",
                "data": {
                    "invoice_id": "M-1",
                    "issue_date": "2026-03-01",
                    "net_amount": "8.00",
                    "vat_amount": "2.00",
                },
            },
        ),
    ),
    ("POST", "/journal-entries"): (
        "ledger:post",
        _post(
            "/journal-entries",
            {
                "date": "2026-03-01",
                "description": "Matrix",
                "lines": [
                    {"account": "6300", "debit": "10"},
                    {"account": "1920", "credit": "10"},
                ],
            },
        ),
    ),
    ("GET", "/journal-entries/{entry_id}"): (
        "reports:read",
        _get(f"/journal-entries/{SOME_ID}"),
    ),
    ("GET", "/reports/trial-balance"): ("reports:read", _get("/reports/trial-balance")),
    ("GET", "/reports/general-ledger"): (
        "reports:read",
        _get("/reports/general-ledger", account="1920"),
    ),
    ("GET", "/reports/vat"): ("reports:read", _get("/reports/vat", year=2026, term=1)),
    ("GET", "/reports/unknown-accounts"): ("reports:read", _get("/reports/unknown-accounts")),
    ("GET", "/reports/income-statement"): ("reports:read", _get("/reports/income-statement")),
    ("GET", "/reports/balance-sheet"): ("reports:read", _get("/reports/balance-sheet")),
    ("GET", "/bank/accounts"): ("bank:read", _get("/bank/accounts")),
    ("GET", "/bank/transactions"): ("bank:read", _get("/bank/transactions")),
    ("GET", "/bank/missing-receipts"): ("bank:read", _get("/bank/missing-receipts")),
    ("GET", "/books/supplier-invoices"): ("books:read", _get("/books/supplier-invoices")),
    ("GET", "/books/expenses"): ("books:read", _get("/books/expenses")),
    ("POST", "/check/missing-receipts"): ("checks:run", _post("/check/missing-receipts")),
    ("POST", "/check/costs"): ("checks:run", _post("/check/costs")),
    ("POST", "/check/unknown-accounts"): ("checks:run", _post("/check/unknown-accounts")),
    ("POST", "/check/executions"): ("checks:run", _post("/check/executions")),
    # A failed execution marked dealt with: a reviewer's decision about a proposal.
    ("POST", "/check/executions/{proposal_id}/resolved"): (
        "proposals:decide",
        _post(f"/check/executions/{SOME_ID}/resolved", {}),
    ),
    # Issue 11: spending (the cost report and budgets read like reports; setting them
    # needs spending:write; a pull on demand is a check).
    ("GET", "/reports/costs"): ("reports:read", _get("/reports/costs")),
    ("GET", "/spending/budgets"): ("reports:read", _get("/spending/budgets")),
    ("GET", "/spending/forecast"): ("reports:read", _get("/spending/forecast")),
    ("PUT", "/spending/budgets"): (
        "spending:write",
        _put("/spending/budgets", {"source": "anthropic", "monthlyNok": "1000.00"}),
    ),
    ("GET", "/spending/prices"): ("reports:read", _get("/spending/prices", source="cloudflare")),
    ("PUT", "/spending/prices"): (
        "spending:write",
        _put(
            "/spending/prices",
            {
                "source": "cloudflare",
                "currency": "USD",
                "prices": [{"metric": "requests", "price": "0.30", "per": "1000000"}],
            },
        ),
    ),
    ("POST", "/spending/pull"): ("checks:run", _post("/spending/pull")),
    ("GET", "/exports/saf-t"): (
        "exports:read",
        _get("/exports/saf-t", **{"from": "2026-01-01", "to": "2026-03-31"}),
    ),
    # Issue 12: rules as data (migration 0016's grants).
    ("GET", "/rules/tax-rates"): ("rules:read", _get("/rules/tax-rates", on="2026-01-01")),
    ("POST", "/rules/tax-rates"): (
        "rules:manage",
        _post("/rules/tax-rates", {"saftCode": "3", "rate": "25.00", "validFrom": "2099-01-01"}),
    ),
    ("GET", "/rules/currencies"): ("rules:read", _get("/rules/currencies")),
    ("GET", "/rules/countries"): ("rules:read", _get("/rules/countries")),
    ("GET", "/rules/periods"): ("rules:read", _get("/rules/periods")),
    ("POST", "/rules/periods"): (
        "periods:close",
        _post("/rules/periods", {"start": "2020-01-01", "end": "2020-01-31"}),
    ),
    ("DELETE", "/rules/periods/{kind}/{start}"): (
        "rules:manage",
        _delete("/rules/periods/period/2020-01-01"),
    ),
    ("POST", "/rules/vat-terms/{year}/{term}/lock"): (
        "periods:close",
        _post("/rules/vat-terms/2020/1/lock"),
    ),
    ("GET", "/rules/review-rules"): ("rules:read", _get("/rules/review-rules")),
    ("PUT", "/rules/review-rules"): (
        "rules:manage",
        _put("/rules/review-rules", {"maxAutoAmount": "10000"}),
    ),
    # Issue 14: a tenant's own credentials (migration 0018's grant: admins only).
    ("PUT", "/tenants/{tenant}/credentials/{provider}"): (
        "credentials:manage",
        _put("/tenants/acme/credentials/folio", {"token": "matrix-token"}),
    ),
    ("GET", "/tenants/{tenant}/credentials/{provider}"): (
        "credentials:manage",
        _get("/tenants/acme/credentials/folio"),
    ),
    ("DELETE", "/tenants/{tenant}/credentials/{provider}"): (
        "credentials:manage",
        _delete("/tenants/acme/credentials/folio"),
    ),
}


def seeded_grants(sqlite_path: Path) -> dict[str, set[str]]:
    """role → actions allowed in every tenant, as the migrated database says."""
    with sqlite3.connect(sqlite_path) as connection:
        rows = connection.execute(
            "SELECT v0, v1, v2, v3, v4 FROM casbin_rule WHERE ptype = 'p'"
        ).fetchall()
    connection.close()
    grants: dict[str, set[str]] = {}
    for role, tenant, obj, act, effect in rows:
        assert (tenant, effect) == ("*", "allow"), "the seed is defaults only"
        grants.setdefault(role, set()).add(f"{obj}:{act}")
    return grants


def policy_container(data_dir: Path, database_url: str) -> Container:
    container = Container()
    settings = Settings.for_data_dir(
        data_dir, database_url=database_url, executor_enabled=False, policy_reload_seconds=0
    )
    container.settings.override(providers.Object(settings))
    container.clock.override(providers.Object(FixedClock()))
    return container


@pytest.fixture
async def api(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Api]:
    async with running_api(tmp_path, container=policy_container(tmp_path, sqlite_url)) as api:
        yield api


async def test_every_route_answers_403_exactly_where_the_seeded_policy_denies(
    api: Api, sqlite_path: Path
) -> None:
    grants = seeded_grants(sqlite_path)
    assert set(grants) == set(ROLES)
    schema = (await api.client.get("/schema/openapi.json")).json()
    routes = {
        (method.upper(), path.removeprefix(API))
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete") and path.startswith(API)
    }
    assert routes == set(ROUTES), "every API route needs its action in ROUTES"
    public = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete") and not path.startswith(API)
    }
    assert public == PUBLIC, "a route outside the API is open to anyone: name it in PUBLIC"

    mismatches: list[str] = []
    for (method, path), (action, call) in sorted(ROUTES.items()):
        for role in ROLES:
            response = await call(api, api.headers(f"matrix-{role}", role))
            granted = action in grants[role]
            if (response.status_code == 403) == granted or response.status_code in (401, 500):
                mismatches.append(
                    f"{method} {path} as {role} ({action} {'granted' if granted else 'denied'})"
                    f": {response.status_code} {response.text[:120]}"
                )
    assert not mismatches, "\n".join(mismatches)


async def test_the_public_routes_answer_every_role_and_no_token_alike(api: Api) -> None:
    """The health checks and the metrics need no grant: no role is refused them, and a
    probe without a token gets the same answer. What the answer says of the database is
    not this test's (a health check that waited 5 s for SQLite on a loaded machine said
    503 `unavailable`, as it should): a 503 here must be the health's own, never a
    refusal."""

    def answered(response: httpx.Response, who: str) -> None:
        if path in HEALTH_PROBES and response.status_code == 503:
            assert response.json()["status"] in ("unavailable", "degraded"), who
            return
        assert response.status_code == 200, f"{path} {who}: {response.text[:120]}"

    for method, path in sorted(PUBLIC):
        assert method == "GET"
        answered(await api.client.get(path), "without a token")
        for role in ROLES:
            response = await api.client.get(path, headers=api.headers(f"matrix-{role}", role))
            answered(response, f"as {role}")


async def test_a_role_with_no_grant_is_403_everywhere(api: Api) -> None:
    for (method, path), (_, call) in sorted(ROUTES.items()):
        response = await call(api, api.headers("nobody", "auditor"))
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert response.json()["code"] == "forbidden"


async def test_a_tenant_allow_written_to_the_database_opens_the_route_there_only(
    api: Api, sqlite_path: Path
) -> None:
    """A row the migration did not write — added with plain SQL — is honoured on the next
    request, in its tenant only."""
    entry = ROUTES[("POST", "/journal-entries")][1]
    assert (await entry(api, api.headers("vera", "viewer"))).status_code == 403
    with sqlite3.connect(sqlite_path) as connection:
        connection.execute(
            "INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
            "VALUES ('p', 'viewer', 'acme', 'ledger', 'post', 'allow')"
        )
    connection.close()
    assert (await entry(api, api.headers("vera", "viewer"))).status_code == 201
    other = await entry(api, api.headers("vera", "viewer", tenant="globex"))
    assert other.status_code == 403
