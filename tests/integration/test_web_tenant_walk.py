"""The web page (/app) between two tenants: every page route the app serves, walked by
every role of tenant B, logged in through the form, against a filled tenant A.

The page routes are read from the app's route table (everything under /app but the login,
the OIDC hand-off and the static files), so a new page is walked without editing this
file; only a new kind of path parameter needs a value here. A page with A's proposal or
file in its path answers B exactly what it answers for one that exists nowhere (status and
page with the id replaced); no page shows anything of A's; B's approve and reject of A's
proposal change nothing (A's proposal is still pending, A's log as before).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.http_helpers import API, Api, mint, running_api
from tests.integration.test_tenant_route_walk import (
    A_STRINGS,
    OTHER,
    ROLES,
    _container,
    _fill_tenant_a,
)

APP: Final = "/app"
#: Not pages of a signed-in user: the login and logout, the OIDC hand-off, static files.
NOT_PAGES: Final = frozenset({"/app/login", "/app/logout", "/app/oidc/start", "/app/oidc/callback"})
#: A report page's query (the pages answer their default period without one too).
QUERIES: Final = {
    "/app/reports/general-ledger": "?account=1920",
    "/app/reports/vat": "?year=2026&term=6",
}


@pytest.fixture
async def filled(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[Api, dict[str, str]]]:
    async with running_api(tmp_path, container=_container(tmp_path, sqlite_url)) as api:
        yield api, await _fill_tenant_a(api)


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


async def _login(api: Api, subject: str, *roles: str, tenant: str) -> str:
    api.client.cookies.clear()
    page = await api.client.get(f"{APP}/login")
    done = await api.client.post(
        f"{APP}/login",
        data={
            "token": mint(api.container, subject, *roles, tenant=tenant),
            "_csrf_token": _csrf(page.text),
            "next": f"{APP}/review",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return _csrf((await api.client.get(f"{APP}/review")).text)


def _pages(api: Api) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path template, path parameter names) of every page under /app."""
    found = []
    app: Any = api.client.app
    for route in app.routes:
        path = route.path
        if not path.startswith(APP + "/") and path != APP:
            continue
        if path in NOT_PAGES or path.startswith(APP + "/static"):
            continue
        names = tuple(re.findall(r"{(\w+)(?::\w+)?}", path))
        template = re.sub(r"{(\w+):\w+}", r"{\1}", path)
        found.extend((method, template, names) for method in route.methods if method != "HEAD")
    return sorted(set(found))


async def test_tenant_b_walks_every_page_and_never_reaches_tenant_a(
    filled: tuple[Api, dict[str, str]],
) -> None:
    api, ids = filled
    a_values = {"proposal_id": ids["proposal_id"], "sha256": ids["sha256"]}
    markers = (*A_STRINGS, *ids.values())
    pages = _pages(api)
    assert {t for _, t, _ in pages} >= {
        "/app/review",
        "/app/review/{proposal_id}",
        "/app/files/{sha256}",
        "/app/review/{proposal_id}/approve",
    }
    unknown_kinds = {n for _, _, names in pages for n in names} - set(a_values)
    assert not unknown_kinds, f"a new kind of page parameter needs a value: {unknown_kinds}"
    viewer_a = api.headers("a-auditor", "viewer")
    log_before = (await api.client.get(f"{API}/events", headers=viewer_a)).json()["items"]

    failures: list[str] = []
    cells = 0
    for name, roles in [*((r, (r,)) for r in ROLES), ("all roles", ROLES)]:
        csrf = await _login(api, f"web-b-{name.replace(' ', '-')}", *roles, tenant=OTHER)

        async def call(method: str, url: str) -> Any:
            if method == "GET":
                return await api.client.get(url, follow_redirects=False)
            form = {"_csrf_token": csrf, "reason": "not ours", "comment": "b"}  # noqa: B023
            return await api.client.post(url, data=form, follow_redirects=False)

        for method, template, names in pages:
            cells += 1
            url = template
            for n in names:
                url = url.replace("{" + n + "}", a_values[n])
            url += QUERIES.get(template, "")
            where = f"{method} {template} as {OTHER} {name}"
            answer = await call(method, url)
            text = answer.text
            for n in names:
                text = text.replace(a_values[n], "<id>")
            if answer.status_code >= 500 or (answer.status_code in (200, 303) and names):
                failures.append(f"{where}: {answer.status_code} for A's object")
            if leaked := [m for m in markers if m in text]:
                failures.append(f"{where}: shows A's {leaked}")
            if names:
                fresh = {
                    n: (uuid.uuid4().hex * 2 if n == "sha256" else str(uuid.uuid4())) for n in names
                }
                other = template
                for n in names:
                    other = other.replace("{" + n + "}", fresh[n])
                reference = await call(method, other + QUERIES.get(template, ""))
                theirs = reference.text
                for n in names:
                    theirs = theirs.replace(fresh[n], "<id>")
                if (answer.status_code, text) != (reference.status_code, theirs):
                    failures.append(
                        f"{where}: A's object {answer.status_code}, a missing one "
                        f"{reference.status_code}; pages differ: {text != theirs}"
                    )
    assert not failures, f"{len(failures)} of {cells}:\n" + "\n".join(failures)

    still = await api.client.get(f"{API}/proposals/{ids['proposal_id']}", headers=viewer_a)
    assert still.json()["status"] == "PROPOSED", still.text
    log_after = (await api.client.get(f"{API}/events", headers=viewer_a)).json()["items"]
    assert log_after == log_before


async def test_what_needs_no_token_shows_nothing_of_any_tenant(
    filled: tuple[Api, dict[str, str]],
) -> None:
    """/health (and its liveness and readiness), /metrics, the login page and the OpenAPI
    document are open to anyone: nothing of tenant A's (names, amounts, ids, file names,
    credentials) is in them."""
    api, ids = filled
    api.client.cookies.clear()
    markers = [m for m in (*A_STRINGS, *ids.values()) if m != "acme"]
    public = ("/health", "/health/live", "/health/ready", "/metrics", f"{APP}/login")
    for path in (*public, "/schema/openapi.json"):
        response = await api.client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        assert not [m for m in markers if m in response.text], path
    # The tenant's name only where the document gives an example of one.
    assert "acme" not in (await api.client.get("/health")).text
    assert "acme" not in (await api.client.get("/metrics")).text
