"""HEAD is the GET's answer without its body (RFC 9110 §9.3.2; entrypoints/http/head.py):
the same status and headers on the API, the web pages, files and /health, the same
refusals, nothing sent after the head, and the access line still says HEAD."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_helpers import API, Api, expense, running_api
from tests.integration.test_web_pages import APP, login

#: Headers that differ between any two answers (the request's own id, the date).
VARYING = {"x-request-id", "date"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


def same_head(got: dict[str, str], want: dict[str, str]) -> None:
    assert {k: v for k, v in got.items() if k not in VARYING} == {
        k: v for k, v in want.items() if k not in VARYING
    }


@pytest.mark.parametrize("path", ["/health", "/health/ready", f"{API}/patterns"])
async def test_a_head_has_the_gets_status_and_headers_and_no_body(api: Api, path: str) -> None:
    get = await api.client.get(path, headers=api.viewer)
    head = await api.client.head(path, headers=api.viewer)
    assert get.status_code == 200 and get.content
    assert head.status_code == 200
    assert head.content == b""
    same_head(dict(head.headers), dict(get.headers))
    assert int(head.headers["content-length"]) == len(get.content)


async def test_a_head_of_a_proposal_is_refused_and_found_as_its_get(api: Api) -> None:
    created = await api.propose("ExpenseRegistrationProposed", expense())
    path = f"{API}/proposals/{created['proposalId']}"
    assert (await api.client.head(path, headers=api.reviewer)).status_code == 200
    refused = await api.client.head(path, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.content == b""
    assert refused.headers["content-type"] == "application/problem+json"
    assert "www-authenticate" in refused.headers
    assert (await api.client.head(path, headers=api.foreigner)).status_code == 404


async def test_a_head_on_a_path_without_get_is_405_naming_its_methods(api: Api) -> None:
    refused = await api.client.head(f"{API}/check/costs", headers=api.reviewer)
    assert refused.status_code == 405
    assert "POST" in refused.headers["allow"]
    assert refused.content == b""


async def test_a_head_of_a_web_page_is_the_pages_head(api: Api) -> None:
    await login(api, "kari", "reviewer")
    page = await api.client.get(f"{APP}/review")
    head = await api.client.head(f"{APP}/review")
    assert page.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == page.headers["content-type"]
    assert head.headers["content-security-policy"] == page.headers["content-security-policy"]
    api.client.cookies.clear()
    away = await api.client.head(f"{APP}/review", follow_redirects=False)
    assert away.status_code in (302, 303)
    assert away.headers["location"].startswith(f"{APP}/login")


async def test_the_access_line_and_metrics_say_head_with_the_route(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    await api.client.head(f"{API}/patterns", headers=api.viewer)
    (line,) = [r for r in caplog.records if r.name == "bookkeeper.access"]
    assert line.__dict__["http_method"] == "HEAD"
    assert line.__dict__["route"] == f"{API}/patterns"
    assert line.__dict__["status"] == 200
    assert line.__dict__["actor"] == "human:vera"
    metrics = (await api.client.get("/metrics")).text
    assert f'method="HEAD",route="{API}/patterns",status="200"' in metrics
