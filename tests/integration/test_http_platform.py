"""What every route shares: problem details for all errors, security headers, the OpenAPI
document, /health, and the app's start-up and shut-down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from tests.http_helpers import (
    API,
    Api,
    MemoryDatabase,
    assert_problem,
    memory_container,
    operation_ids,
    pattern,
    running_api,
)

ROUTES = {
    ("POST", f"{API}/events"): "submitEvent",
    ("GET", f"{API}/events"): "listEvents",
    ("GET", f"{API}/events/{{event_id}}"): "getEvent",
    ("POST", f"{API}/events/{{event_id}}/approve"): "approveProposal",
    ("POST", f"{API}/events/{{event_id}}/reject"): "rejectProposal",
    ("POST", f"{API}/events/{{event_id}}/retry"): "retryExecution",
    ("GET", f"{API}/proposals"): "listProposals",
    ("GET", f"{API}/proposals/{{proposal_id}}"): "getProposal",
    ("GET", f"{API}/correlations/{{correlation_id}}"): "getCorrelation",
    ("GET", f"{API}/patterns"): "listPatterns",
    ("GET", f"{API}/reports/approval-rate"): "getApprovalRate",
    ("POST", f"{API}/journal-entries"): "postJournalEntry",
    ("POST", f"{API}/bus/events"): "postBusEvent",
    ("GET", f"{API}/journal-entries/{{entry_id}}"): "getJournalEntry",
    ("GET", f"{API}/reports/trial-balance"): "getTrialBalance",
    ("GET", f"{API}/reports/general-ledger"): "getGeneralLedger",
    ("GET", f"{API}/reports/vat"): "getVatReport",
    ("GET", f"{API}/reports/unknown-accounts"): "getUnknownAccounts",
    ("GET", f"{API}/reports/income-statement"): "getIncomeStatement",
    ("GET", f"{API}/reports/balance-sheet"): "getBalanceSheet",
    ("GET", f"{API}/exports/saf-t"): "exportSaftFinancial",
    ("GET", f"{API}/bank/accounts"): "listBankAccounts",
    ("GET", f"{API}/bank/transactions"): "listBankTransactions",
    ("GET", f"{API}/bank/missing-receipts"): "listMissingReceipts",
    ("GET", f"{API}/books/supplier-invoices"): "listSupplierInvoices",
    ("GET", f"{API}/books/expenses"): "listExpenses",
    ("POST", f"{API}/files"): "uploadFile",
    ("GET", f"{API}/files/{{sha256}}"): "downloadFile",
    ("POST", f"{API}/documents"): "submitDocument",
    ("POST", f"{API}/check/missing-receipts"): "checkMissingReceipts",
    ("POST", f"{API}/check/costs"): "checkCosts",
    ("POST", f"{API}/check/unknown-accounts"): "checkUnknownAccounts",
    ("POST", f"{API}/check/executions"): "checkExecutions",
    ("POST", f"{API}/check/executions/{{proposal_id}}/resolved"): "resolveFailedExecution",
    # Issue 12: rules as data.
    ("GET", f"{API}/rules/tax-rates"): "listTaxRates",
    ("POST", f"{API}/rules/tax-rates"): "changeTaxRate",
    ("GET", f"{API}/rules/currencies"): "listCurrencies",
    ("GET", f"{API}/rules/countries"): "listCountries",
    ("GET", f"{API}/rules/periods"): "listClosedPeriods",
    ("POST", f"{API}/rules/periods"): "closePeriod",
    ("DELETE", f"{API}/rules/periods/{{kind}}/{{start}}"): "reopenPeriod",
    ("POST", f"{API}/rules/vat-terms/{{year}}/{{term}}/lock"): "lockVatTerm",
    ("GET", f"{API}/rules/review-rules"): "getReviewRules",
    ("PUT", f"{API}/rules/review-rules"): "setReviewRules",
    ("GET", f"{API}/reports/costs"): "getCostReport",
    ("GET", f"{API}/spending/budgets"): "listBudgets",
    ("GET", f"{API}/spending/forecast"): "getSpendingForecast",
    ("PUT", f"{API}/spending/budgets"): "setBudget",
    ("GET", f"{API}/spending/prices"): "getPriceTable",
    ("PUT", f"{API}/spending/prices"): "setPriceTable",
    ("POST", f"{API}/spending/pull"): "pullCosts",
    # Issue 14: a tenant's own Fiken and Folio credentials.
    ("PUT", f"{API}/tenants/{{tenant}}/credentials/{{provider}}"): "setTenantCredentials",
    ("GET", f"{API}/tenants/{{tenant}}/credentials/{{provider}}"): "getTenantCredentials",
    ("DELETE", f"{API}/tenants/{{tenant}}/credentials/{{provider}}"): "removeTenantCredentials",
    ("GET", "/health"): "getHealth",
    ("GET", "/health/live"): "getLiveness",
    ("GET", "/health/ready"): "getReadiness",
    ("GET", "/metrics"): "getMetrics",
}


# --- problem details for the framework's own errors --------------------------------------


async def test_an_unknown_route_is_a_404_problem(api: Api) -> None:
    body = assert_problem(await api.client.get(f"{API}/nothing-here", headers=api.viewer), 404)
    assert body["code"] == "not-found"


async def test_a_wrong_method_is_a_405_problem_with_allow(api: Api) -> None:
    response = await api.client.delete(f"{API}/events", headers=api.viewer)
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


class ExplodingClock:
    def now(self) -> Any:
        raise RuntimeError("password=hunter2 at /srv/secret/module.py line 42")


async def test_an_unhandled_error_is_a_500_that_tells_nothing_but_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    container = memory_container(tmp_path)
    container.clock.override(providers.Object(ExplodingClock()))
    async with running_api(tmp_path, container=container) as api:
        with caplog.at_level(logging.ERROR, logger="bookkeeper.http"):
            response = await api.submit("PatternSuggested", pattern())
    body = assert_problem(response, 500)
    assert body["code"] == "internal-error"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info for r in caplog.records)


async def test_the_storage_being_down_is_a_503_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bookkeeper.application.errors import StorageUnavailable

    class DownDatabase(MemoryDatabase):
        def uow_factory(self, after_commit: Any = None) -> Any:
            def broken() -> Any:
                raise StorageUnavailable("FATAL: sorry, too many clients already (db-host-7)")

            return broken

    async with running_api(tmp_path, database=DownDatabase()) as api:
        response = await api.client.get(f"{API}/events", headers=api.viewer)
    body = assert_problem(response, 503)
    assert body["code"] == "storage-unavailable"
    assert response.headers["retry-after"]
    assert "db-host-7" not in response.text
    assert any("too many clients" in r.getMessage() for r in caplog.records)


# --- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [f"{API}/events", f"{API}/nothing", "/health", "/health/live", "/health/ready"]
)
async def test_api_answers_carry_security_headers(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=api.viewer)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_errors_carry_security_headers_too(api: Api) -> None:
    response = await api.client.get(f"{API}/events")
    assert response.status_code == 401
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


# --- OpenAPI ------------------------------------------------------------------------------


async def test_the_openapi_document_lists_every_route_with_an_operation_id(api: Api) -> None:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert operation_ids(schema) == ROUTES


async def test_the_openapi_document_declares_the_bearer_scheme(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    for (method, path), _ in ROUTES.items():
        operation = schema["paths"][path][method.lower()]
        assert operation.get("description"), f"{method} {path} has no docstring"
        if path in ("/health", "/health/ready"):
            assert "security" not in operation
            assert "503" in operation["responses"]
        elif path in ("/health/live", "/metrics"):
            assert "security" not in operation
        else:
            assert operation["security"] == [{"bearerAuth": []}]
            assert {"400", "401"} <= operation["responses"].keys()


async def test_the_openapi_document_describes_the_wire_structs(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    components = schema["components"]["schemas"]
    submit = schema["paths"][f"{API}/events"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventSubmission"
    }
    assert set(components["EventSubmission"]["properties"]) == {
        "type",
        "data",
        "id",
        "correlationId",
        "proposerConfidence",
        "bankTransactionVerified",
        "source",
    }
    problem = submit["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    header_names = {p["name"] for p in submit["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in header_names


async def test_interactive_docs_are_served(api: Api) -> None:
    for path in ("/schema", "/schema/swagger"):
        response = await api.client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")


# --- /health ------------------------------------------------------------------------------


async def test_health_reports_the_database(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    from bookkeeper import __version__

    assert response.json() == {
        "status": "ok",
        "reasons": [],
        "database": {"dialect": "memory", "url": "memory://"},
        "version": __version__,
        "backends": {"books": "sandbox", "bank": "sandbox", "executor": "off"},
        # No BOOKKEEPER_NATS_URL: the in-process bus (POST /bus/events) only.
        "bus": {
            "kind": "in-process",
            "consumer": None,
            "pending": None,
            "consumers": [],
            "publisher": None,
        },
        # Issue 11: the service's own calls always; the providers absent without keys.
        "spending": {
            "sources": [
                {"name": "bookkeeper", "status": "configured"},
                {
                    "name": "anthropic",
                    "status": "absent",
                    "reason": "BOOKKEEPER_ANTHROPIC_ADMIN_KEY unset",
                },
                {
                    "name": "cloudflare",
                    "status": "absent",
                    "reason": "BOOKKEEPER_CLOUDFLARE_TOKEN unset",
                },
                {
                    "name": "google",
                    "status": "absent",
                    "reason": "BOOKKEEPER_GOOGLE_BILLING_KEY_FILE unset",
                },
            ]
        },
        # Issue 14: per-tenant credentials on; none stored, and no key to store any with.
        "tenantBackends": {"perTenant": "on", "canStore": False, "tenants": 0},
    }


async def test_health_is_503_when_the_database_does_not_answer(api: Api) -> None:
    assert api.database is not None
    api.database.healthy = False
    response = await api.client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_liveness_and_readiness_need_no_token_and_say_ok(api: Api) -> None:
    from bookkeeper import __version__

    live = await api.client.get("/health/live")
    assert live.status_code == 200, live.text
    assert live.json() == {"status": "ok", "version": __version__}
    ready = await api.client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok", "reasons": []}


async def test_without_its_database_the_process_is_live_and_not_ready(api: Api) -> None:
    """A liveness probe must not restart a process for what a restart does not bring back
    (the database); a balancer must not send it requests it cannot serve."""
    assert api.database is not None
    api.database.healthy = False
    live = await api.client.get("/health/live")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = await api.client.get("/health/ready")
    assert ready.status_code == 503, ready.text
    assert int(ready.headers["retry-after"]) >= 1
    assert ready.json() == {"status": "unavailable", "reasons": ["database: it does not answer"]}
    api.database.healthy = True
    assert (await api.client.get("/health/ready")).status_code == 200


async def test_a_degraded_database_keeps_the_process_ready(tmp_path: Path) -> None:
    """Answering a ping while its latest units of work failed: /health is degraded (503),
    but /health/ready lets requests in (200, `degraded`), since one that succeeds is what
    clears it."""
    from bookkeeper.application.errors import StorageDegraded

    class DegradedDatabase(MemoryDatabase):
        async def ping(self) -> None:
            raise StorageDegraded("the latest 3 units of work failed")

    async with running_api(tmp_path, database=DegradedDatabase()) as api:
        health = await api.client.get("/health")
        ready = await api.client.get("/health/ready")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "degraded",
        "reasons": ["database: its latest queries failed"],
    }


# --- lifespan -----------------------------------------------------------------------------


class SqliteStandIn(MemoryDatabase):
    dialect = "sqlite"


@pytest.mark.parametrize(("database", "migrations"), [(SqliteStandIn(), 1), (MemoryDatabase(), 0)])
async def test_only_the_embedded_sqlite_database_is_migrated_at_start(
    tmp_path: Path, database: MemoryDatabase, migrations: int
) -> None:
    async with running_api(tmp_path, database=database):
        pass
    assert database.migrations == migrations


async def test_the_database_resource_is_released_at_shutdown(tmp_path: Path) -> None:
    released: list[str] = []

    async def database_resource() -> AsyncIterator[MemoryDatabase]:
        yield MemoryDatabase()
        released.append("disposed")

    container = memory_container(tmp_path)
    container.database.override(providers.Resource(database_resource))
    async with running_api(tmp_path, container=container) as api:
        assert (await api.client.get(f"{API}/patterns", headers=api.viewer)).status_code == 200
        assert released == []
    assert released == ["disposed"]


async def test_the_signing_key_is_created_when_the_app_is_built(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "jwt-signing-key.pem"
    container = memory_container(tmp_path)
    from bookkeeper.settings import Settings

    container.settings.override(
        providers.Object(Settings.for_data_dir(tmp_path, jwt_private_key_file=key_file))
    )
    assert not key_file.exists()
    async with running_api(tmp_path, container=container):
        assert key_file.exists()
        assert key_file.stat().st_mode & 0o777 == 0o600
