"""Logging in to the web page at an OIDC issuer (authorization code + PKCE), against the fake
issuer on a loopback socket: the access token it gives is verified by the same verifier as
the API's bearer tokens, and the page then acts with its principal."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from dependency_injector import providers

from bookkeeper.settings import Settings
from tests.fakes.oidc import FakeIssuer, running_fake_issuer
from tests.http_helpers import Api, memory_container, running_api

APP = "/app"


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def fake(issuer_key: rsa.RSAPrivateKey) -> AsyncIterator[FakeIssuer]:
    async with running_fake_issuer() as issuer:
        issuer.add_key("RS256", key=issuer_key)
        yield issuer


@pytest.fixture
async def api(tmp_path: Path, fake: FakeIssuer) -> AsyncIterator[Api]:
    container = memory_container(tmp_path)
    container.settings.override(
        providers.Object(
            Settings.for_data_dir(
                tmp_path,
                executor_enabled=False,
                oidc_issuer=fake.issuer,
                oidc_client_id=fake.client_id,
            )
        )
    )
    async with running_api(tmp_path, container=container) as running:
        yield running


async def _at_issuer(url: str) -> str:
    """Follow the browser to the issuer; the callback URL it sends the browser back to."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def test_the_login_page_offers_the_company_login(api: Api) -> None:
    page = await api.client.get(f"{APP}/login")
    assert 'href="/app/oidc/start?next=' in page.text


async def test_a_person_logs_in_at_the_issuer_and_reviews(api: Api, fake: FakeIssuer) -> None:
    start = await api.client.get(f"{APP}/oidc/start?next=%2Fapp%2Freports", follow_redirects=False)
    assert start.status_code == 303
    location = start.headers["location"]
    assert location.startswith(f"{fake.base_url}/authorize?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://testserver.local/app/oidc/callback"]
    callback = urllib.parse.urlsplit(await _at_issuer(location))
    back = await api.client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == f"{APP}/reports"
    assert fake.token_requests == 1
    page = await api.client.get(f"{APP}/reports")
    assert page.status_code == 200
    assert "kari (acme)" in page.text


async def test_a_callback_with_another_state_is_refused(api: Api, fake: FakeIssuer) -> None:
    start = await api.client.get(f"{APP}/oidc/start", follow_redirects=False)
    callback = urllib.parse.urlsplit(await _at_issuer(start.headers["location"]))
    code = urllib.parse.parse_qs(callback.query)["code"][0]
    forged = await api.client.get(f"{callback.path}?code={code}&state=forged")
    assert forged.status_code == 401
    assert "innloggingen ble ikke startet her" in forged.text  # in the page's words
    assert "bk_session" not in forged.headers.get("set-cookie", "")
    assert fake.token_requests == 0


async def test_a_code_is_good_once(api: Api, fake: FakeIssuer) -> None:
    start = await api.client.get(f"{APP}/oidc/start", follow_redirects=False)
    cookies = dict(api.client.cookies)
    callback = urllib.parse.urlsplit(await _at_issuer(start.headers["location"]))
    first = await api.client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert first.status_code == 303
    api.client.cookies.clear()
    api.client.cookies.update(cookies)
    again = await api.client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert again.status_code == 401


async def test_a_token_the_issuer_gives_without_a_tenant_is_refused(
    api: Api, fake: FakeIssuer
) -> None:
    fake.login_claims = {"sub": "kari", "roles": ["reviewer"], "tenant": None}
    start = await api.client.get(f"{APP}/oidc/start", follow_redirects=False)
    callback = urllib.parse.urlsplit(await _at_issuer(start.headers["location"]))
    back = await api.client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert back.status_code == 401
    assert "tenant" in back.text
