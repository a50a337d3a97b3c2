"""The web page under /app is rate-limited like the API (ADR 0040 §5): its pages spend
from the session principal's budget (the same budget as the principal's API calls), and
login attempts from the client's address."""

from __future__ import annotations

from pathlib import Path

from bookkeeper.settings import load_settings
from tests.http_helpers import API, mint, running_api
from tests.integration.test_http_hardening import _container
from tests.integration.test_web_pages import APP, _csrf, login


async def test_pages_spend_the_session_principals_budget(tmp_path: Path) -> None:
    container = _container(tmp_path, rate_limit="4/minute", rate_limit_writes="off")
    async with running_api(tmp_path, container=container) as api:
        await login(api, "kari", "reviewer")  # the queue after login: one request
        for _ in range(2):
            assert (await api.client.get(f"{APP}/review")).status_code == 200
        # The principal's API calls share the budget: the fourth request of kari's.
        assert (await api.client.get(f"{API}/events", headers=api.reviewer)).status_code == 200
        refused = await api.client.get(f"{APP}/review")
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "text/html" in refused.headers["content-type"]  # a page, not a problem
        # Another principal has a budget of its own.
        await login(api, "vera", "viewer")
        assert (await api.client.get(f"{APP}/reports")).status_code == 200


async def test_login_attempts_are_limited_per_address(tmp_path: Path) -> None:
    container = _container(tmp_path, rate_limit="off", rate_limit_login="3/minute")
    async with running_api(tmp_path, container=container) as api:
        page = await api.client.get(f"{APP}/login")
        csrf = _csrf(page.text)
        for _ in range(3):
            wrong = await api.client.post(
                f"{APP}/login", data={"token": "not-a-jwt", "_csrf_token": csrf}
            )
            assert wrong.status_code == 401, wrong.text
        # Even the right token is not tried any more from this address for a while.
        token = mint(api.container, "kari", "reviewer")
        refused = await api.client.post(
            f"{APP}/login",
            data={"token": token, "_csrf_token": csrf},
            follow_redirects=False,
        )
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"]
        assert "bk_session=" not in refused.headers.get("set-cookie", "")
        # The login form itself (a GET) is not an attempt.
        assert (await api.client.get(f"{APP}/login")).status_code == 200


def test_the_login_limit_setting() -> None:
    assert load_settings({"HOME": "/tmp"}).rate_limit_login == "10/minute"
    assert load_settings({"BOOKKEEPER_RATE_LIMIT_LOGIN": "off"}).rate_limit_login == "off"
