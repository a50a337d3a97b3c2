"""The HTTP edge, hardened (quality.md, Security 5): rate limits per tenant and principal,
413 for every oversized body, clamped page sizes, CORS closed unless configured, security
headers on every answer, and nothing secret or internal in any answer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from bookkeeper.application.queries import MAX_PAGE, Queries
from bookkeeper.container import Container
from bookkeeper.entrypoints.http.ratelimit import parse_limits
from bookkeeper.settings import Settings, SettingsError, load_settings
from tests.http_helpers import (
    API,
    Api,
    assert_problem,
    memory_container,
    pattern,
    running_api,
    submission,
)

PDF = b"%PDF-1.7\n"


def _container(tmp_path: Path, **settings: Any) -> Container:
    container = memory_container(tmp_path)
    settings.setdefault("executor_enabled", False)
    container.settings.override(providers.Object(Settings.for_data_dir(tmp_path, **settings)))
    return container


def _assert_api_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


# --- rate limits ------------------------------------------------------------------------


async def test_a_principal_over_its_budget_gets_a_429_with_retry_after(tmp_path: Path) -> None:
    container = _container(tmp_path, rate_limit="3/minute", rate_limit_writes="off")
    async with running_api(tmp_path, container=container) as api:
        kari = api.reviewer
        for _ in range(3):
            assert (await api.client.get(f"{API}/events", headers=kari)).status_code == 200
        refused = await api.client.get(f"{API}/events", headers=kari)
        body = assert_problem(refused, 429, "too-many-requests")
        assert "3 per 1 minute" in body["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        _assert_api_security_headers(refused)
        # Not keyed by address: claiming another one changes nothing.
        spoofed = {**kari, "X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
        assert (await api.client.get(f"{API}/events", headers=spoofed)).status_code == 429
        # Another principal of the tenant, and the same subject in another tenant, have
        # budgets of their own.
        others = [api.viewer, api.headers("kari", "reviewer", tenant="globex")]
        for headers in others:
            assert (await api.client.get(f"{API}/events", headers=headers)).status_code == 200


async def test_writes_have_a_stricter_budget_of_their_own(tmp_path: Path) -> None:
    container = _container(tmp_path, rate_limit="100/minute", rate_limit_writes="2/minute")
    async with running_api(tmp_path, container=container) as api:
        for merchant in ("A", "B"):
            await api.propose("PatternSuggested", pattern(merchant=merchant))
        refused = await api.submit("PatternSuggested", pattern(merchant="C"))
        body = assert_problem(refused, 429, "too-many-requests")
        assert "writes" in body["detail"]
        assert refused.headers["retry-after"]
        assert (await api.client.get(f"{API}/events", headers=api.agent)).status_code == 200


async def test_health_docs_and_unauthenticated_calls_are_not_counted(tmp_path: Path) -> None:
    container = _container(tmp_path, rate_limit="1/minute")
    async with running_api(tmp_path, container=container) as api:
        for _ in range(4):
            assert (await api.client.get("/health")).status_code == 200
            assert (await api.client.get("/schema/openapi.json")).status_code == 200
            assert (await api.client.get(f"{API}/events")).status_code == 401
        assert (await api.client.get(f"{API}/events", headers=api.viewer)).status_code == 200
        assert (await api.client.get(f"{API}/events", headers=api.viewer)).status_code == 429


async def test_limits_can_be_switched_off(tmp_path: Path) -> None:
    container = _container(tmp_path, rate_limit="off", rate_limit_writes="off")
    async with running_api(tmp_path, container=container) as api:
        for _ in range(30):
            assert (await api.client.get(f"{API}/events", headers=api.viewer)).status_code == 200


def test_rate_limit_settings() -> None:
    defaults = load_settings({"HOME": "/tmp"})
    assert (defaults.rate_limit, defaults.rate_limit_writes) == ("600/minute", "120/minute")
    custom = load_settings(
        {"BOOKKEEPER_RATE_LIMIT": "10/second;600/minute", "BOOKKEEPER_RATE_LIMIT_WRITES": "OFF"}
    )
    assert len(parse_limits(custom.rate_limit)) == 2
    assert parse_limits(custom.rate_limit_writes) == ()
    for bad in ("lots", "600", "-1/minute", "600/fortnight"):
        with pytest.raises(SettingsError, match="BOOKKEEPER_RATE_LIMIT"):
            load_settings({"BOOKKEEPER_RATE_LIMIT": bad})


# --- body size limits -------------------------------------------------------------------


async def _chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body of unknown length: httpx sends it chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _post(
    api: Api, url: str, content: bytes, headers: dict[str, str], *, chunked: bool
) -> Any:
    """POST through httpx's ASGI transport, which streams a chunked body to the app in
    pieces (Litestar's test client cannot send one); the lifespan already ran."""
    transport = httpx.ASGITransport(app=api.client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        body = _chunked(content) if chunked else content
        return await client.post(url, content=body, headers=headers)


def _typed(headers: dict[str, str], content_type: str) -> dict[str, str]:
    return {**headers, "Content-Type": content_type}


JSON_ROUTES = [
    "/events",
    "/journal-entries",
    "/events/018f0000-0000-7000-8000-000000000000/approve",
]


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_json_body_is_a_413_problem(
    api: Api, route: str, *, chunked: bool
) -> None:
    body = b'{"type": "PatternSuggested", "data": {"reason": "' + b"x" * 1_100_000 + b'"}}'
    headers = _typed(api.agent, "application/json")
    response = await _post(api, f"{API}{route}", body, headers, chunked=chunked)
    assert ("content-length" in response.request.headers) is not chunked
    assert_problem(response, 413, "payload-too-large")
    _assert_api_security_headers(response)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_upload_over_10_mib_is_a_413_problem(api: Api, *, chunked: bool) -> None:
    content = PDF + b"\0" * (10 * 1024 * 1024)
    headers = _typed(api.agent, "application/pdf")
    response = await _post(api, f"{API}/files", content, headers, chunked=chunked)
    assert ("content-length" in response.request.headers) is not chunked
    assert_problem(response, 413, "payload-too-large")


async def test_an_upload_larger_than_the_json_limit_but_within_10_mib_is_stored(api: Api) -> None:
    content = PDF + b"\0" * 2_000_000
    headers = _typed(api.agent, "application/pdf")
    response = await _post(api, f"{API}/files", content, headers, chunked=True)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(content)


# --- page sizes ---------------------------------------------------------------------------


async def test_every_limit_parameter_documents_its_maximum(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    documented = {
        (method, path): param.get("description", "")
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for param in operation.get("parameters", [])
        if param.get("name") == "limit"
    }
    assert {path for _, path in documented} >= {
        f"{API}/events",
        f"{API}/proposals",
        f"{API}/reports/general-ledger",
    }
    for key, description in documented.items():
        assert f"1..{MAX_PAGE}" in description, key


async def test_event_and_proposal_pages_are_clamped_not_refused(tmp_path: Path) -> None:
    container = _container(tmp_path, rate_limit="off", rate_limit_writes="off")
    async with running_api(tmp_path, container=container) as api:
        for n in range(MAX_PAGE + 3):
            await api.propose("PatternSuggested", pattern(merchant=f"Merchant {n}"))
        for path in ("/events", "/proposals"):
            for limit, expected in (("1000000", MAX_PAGE), (str(10**30), MAX_PAGE), ("0", 1)):
                response = await api.client.get(
                    f"{API}{path}", params={"limit": limit}, headers=api.viewer
                )
                assert response.status_code == 200, (path, limit, response.text)
                page = response.json()
                assert len(page["items"]) == expected, (path, limit)
                assert page["nextAfter"] is not None
            bad = await api.client.get(f"{API}{path}?limit=many", headers=api.viewer)
            assert_problem(bad, 400, "validation-failed")


async def test_general_ledger_pages_are_clamped_not_refused(api: Api) -> None:
    accountant = api.headers("anna", "accountant")
    lines = [{"account": "6300", "debit": "1.00"} for _ in range(MAX_PAGE + 5)]
    lines.append({"account": "1920", "credit": f"{MAX_PAGE + 5}.00"})
    entry = {"date": "2026-03-01", "description": "Many lines", "lines": lines}
    posted = await api.client.post(f"{API}/journal-entries", json=entry, headers=accountant)
    assert posted.status_code == 201, posted.text
    url = f"{API}/reports/general-ledger"
    for limit, expected in (("1000000", MAX_PAGE), ("-5", 1)):
        response = await api.client.get(
            url, params={"account": "6300", "limit": limit}, headers=api.viewer
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == expected
        assert response.json()["nextCursor"] is not None


# --- CORS and headers -------------------------------------------------------------------

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


async def test_cors_is_closed_by_default(api: Api) -> None:
    origin = {"Origin": "https://app.example.com"}
    answers = [
        await api.client.options(f"{API}/events", headers={**origin, **PREFLIGHT}),
        await api.client.get(f"{API}/events", headers={**origin, **api.viewer}),
        await api.client.get(f"{API}/events", headers=origin),
        await api.client.get("/health", headers=origin),
    ]
    for response in answers:
        assert not [h for h in response.headers if h.startswith("access-control-")], response


async def test_cors_allows_only_the_configured_origins(tmp_path: Path) -> None:
    allowed = "https://app.example.com"
    container = _container(tmp_path, cors_origins=(allowed,))
    async with running_api(tmp_path, container=container) as api:
        ok = await api.client.options(f"{API}/events", headers={"Origin": allowed, **PREFLIGHT})
        assert ok.status_code in (200, 204)
        assert ok.headers["access-control-allow-origin"] == allowed
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers
        read = await api.client.get(f"{API}/events", headers={"Origin": allowed, **api.viewer})
        assert read.headers["access-control-allow-origin"] == allowed
        evil = {"Origin": "https://evil.example"}
        refused = await api.client.options(f"{API}/events", headers={**evil, **PREFLIGHT})
        assert "access-control-allow-origin" not in refused.headers
        assert refused.status_code >= 400
        other = await api.client.get(f"{API}/events", headers={**evil, **api.viewer})
        assert "access-control-allow-origin" not in other.headers


def test_cors_and_fetch_settings() -> None:
    env = {
        "BOOKKEEPER_CORS_ORIGINS": "https://App.example.com, http://localhost:5173",
        "BOOKKEEPER_FETCH_ALLOWED_HOSTS": "cdn.discordapp.com",
    }
    settings = load_settings(env)
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:5173")
    assert settings.fetch_allowed_hosts == ("cdn.discordapp.com",)
    defaults = load_settings({})
    assert defaults.cors_origins == ()
    assert defaults.fetch_allowed_hosts == ("cdn.discordapp.com", "media.discordapp.net")
    for bad in ("*", "https://app.example.com/", "app.example.com", "https://*.example.com"):
        with pytest.raises(SettingsError, match="CORS_ORIGINS"):
            load_settings({"BOOKKEEPER_CORS_ORIGINS": bad})
    for bad in ("127.0.0.1", "2130706433", "*.discordapp.com", "cdn.discordapp.com:443"):
        with pytest.raises(SettingsError, match="FETCH_ALLOWED_HOSTS"):
            load_settings({"BOOKKEEPER_FETCH_ALLOWED_HOSTS": bad})


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger", "/schema/openapi.json"])
async def test_the_docs_pages_may_not_be_framed(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


# --- nothing secret, nothing internal ---------------------------------------------------

PASSWORD = "S3cret-pw-4242"
DATABASE_URL = f"postgresql://bookkeeper:{PASSWORD}@db.internal:5432/books"


class ExplodingQueries(Queries):
    """Listing events fails with a message full of things no client may see."""

    def __init__(self) -> None:
        pass

    async def events(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"could not connect to {DATABASE_URL} (see /srv/app/queries.py)")


async def test_an_unexpected_error_in_a_route_is_a_generic_500(tmp_path: Path) -> None:
    container = _container(tmp_path, database_url=DATABASE_URL)
    container.queries.override(providers.Object(ExplodingQueries()))
    async with running_api(tmp_path, container=container) as api:
        response = await api.client.get(f"{API}/events", headers=api.viewer)
    body = assert_problem(response, 500, "internal-error")
    assert body["detail"] == "the server could not complete the request; it has been logged"
    for leak in (PASSWORD, "db.internal", "RuntimeError", "Traceback", "queries.py", "/srv"):
        assert leak not in response.text
    _assert_api_security_headers(response)


async def test_no_answer_of_a_smoke_run_carries_a_secret(tmp_path: Path) -> None:
    container = _container(tmp_path, database_url=DATABASE_URL, rate_limit_writes="3/minute")
    container.redacted_database_url.reset_override()  # the real masking, on a real URL
    container.queries.override(providers.Object(ExplodingQueries()))
    async with running_api(tmp_path, container=container) as api:
        token = api.agent["Authorization"].removeprefix("Bearer ")
        key_file = str(container.settings().jwt_private_key_file)
        key_pem = await asyncio.to_thread(Path(key_file).read_text)
        calls = [
            api.client.get("/health"),
            api.client.get("/schema/openapi.json"),
            api.client.get(f"{API}/events"),
            api.client.get(f"{API}/events", headers={"Authorization": "Bearer nonsense"}),
            api.client.get(f"{API}/events", headers=api.agent),  # 500
            api.client.get(f"{API}/nowhere", headers=api.agent),  # 404
            api.client.delete(f"{API}/events", headers=api.agent),  # 405
            api.client.post(f"{API}/events", json={"type": 1}, headers=api.agent),  # 400
            api.client.post(
                f"{API}/events", json=submission("PatternSuggested", pattern()), headers=api.agent
            ),  # 201
            api.client.post(f"{API}/events", content=b"x" * 1_100_000, headers=api.agent),  # 413
            api.client.post(
                f"{API}/events", json=submission("PatternSuggested", pattern()), headers=api.agent
            ),  # 429: the fourth write
        ]
        responses = [await call for call in calls]
    statuses = {response.status_code for response in responses}
    assert {200, 201, 401, 404, 405, 400, 429, 413, 500} <= statuses
    health = responses[0].json()
    assert health["database"]["url"].startswith("postgresql://bookkeeper:")
    key_body = "".join(key_pem.splitlines()[1:-1])
    for response in responses:
        seen = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for secret in (PASSWORD, token, key_file, key_body[:40], "Traceback"):
            assert secret not in seen, (response.request.url, response.status_code)
        assert not re.search(r'File "[^"]+\.py", line \d+', seen)
