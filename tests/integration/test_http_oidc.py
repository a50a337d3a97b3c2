"""HTTP authentication with an external OIDC issuer: the app (real container, OIDC settings)
against the fake issuer on a loopback socket. Every JWT attack is a 401 problem; the key set
is discovered, rotated and protected from unknown-kid floods."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from dependency_injector import providers

from bookkeeper.adapters.auth.oidc import OidcVerifier
from bookkeeper.container import Container
from bookkeeper.settings import Settings
from tests.fakes.oidc import (
    ATTACKS,
    AUDIENCE,
    FakeIssuer,
    attack_tokens,
    new_key,
    running_fake_issuer,
)
from tests.http_helpers import API, Api, bearer, memory_container, mint, running_api, served_api


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def fake(issuer_key: rsa.RSAPrivateKey) -> AsyncIterator[FakeIssuer]:
    async with running_fake_issuer() as issuer:
        issuer.add_key("RS256", key=issuer_key)
        yield issuer


def oidc_container(data_dir: Path, fake: FakeIssuer) -> Container:
    container = memory_container(data_dir)
    container.settings.override(
        providers.Object(
            Settings.for_data_dir(data_dir, executor_enabled=False, oidc_issuer=fake.issuer)
        )
    )
    return container


@pytest.fixture
async def api(tmp_path: Path, fake: FakeIssuer) -> AsyncIterator[Api]:
    async with running_api(tmp_path, container=oidc_container(tmp_path, fake)) as running:
        yield running


@pytest.fixture
async def served(tmp_path: Path, fake: FakeIssuer) -> AsyncIterator[Api]:
    """The app served on a socket: a flood's requests are in it at the same time."""
    async with served_api(tmp_path, container=oidc_container(tmp_path, fake)) as running:
        yield running


def _assert_invalid_token(response: Any, token: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    body = response.json()
    assert body["code"] == "invalid-token"
    assert token not in json.dumps(body)


async def test_the_app_verifies_with_the_issuers_keys(api: Api, fake: FakeIssuer) -> None:
    assert isinstance(api.container.token_verifier(), OidcVerifier)
    response = await api.client.get(f"{API}/events", headers=bearer(fake.token()))
    assert response.status_code == 200, response.text
    assert (fake.discovery_requests, fake.jwks_requests) == (1, 1)


async def test_a_local_token_is_refused_when_an_issuer_is_configured(
    api: Api, fake: FakeIssuer
) -> None:
    token = mint(api.container, "vera", "viewer")
    _assert_invalid_token(await api.client.get(f"{API}/events", headers=bearer(token)), token)


@pytest.mark.parametrize("name", ATTACKS)
async def test_every_jwt_attack_is_401(api: Api, fake: FakeIssuer, name: str) -> None:
    kid = next(iter(fake.keys))
    # The valid token first, so that the keys are known and each attack meets them.
    assert (await api.client.get(f"{API}/events", headers=bearer(fake.token()))).status_code == 200
    token = attack_tokens(fake, kid)[name]
    _assert_invalid_token(await api.client.get(f"{API}/events", headers=bearer(token)), token)


async def test_an_attack_before_any_key_is_known_is_401_too(api: Api, fake: FakeIssuer) -> None:
    token = attack_tokens(fake, next(iter(fake.keys)))["another key under a known kid"]
    _assert_invalid_token(await api.client.get(f"{API}/events", headers=bearer(token)), token)


async def test_an_unknown_kid_flood_costs_at_most_one_fetch(served: Api, fake: FakeIssuer) -> None:
    api = served
    assert (await api.client.get(f"{API}/events", headers=bearer(fake.token()))).status_code == 200
    attacker = new_key("ES256")
    tokens = [
        jwt.encode(fake.claims(), attacker, algorithm="ES256", headers={"kid": uuid.uuid4().hex})
        for _ in range(50)
    ]
    responses = await asyncio.gather(
        *(api.client.get(f"{API}/events", headers=bearer(t)) for t in tokens)
    )
    assert [r.status_code for r in responses] == [401] * 50
    # The first fetch (for the valid token) started the cool-down: the flood fetched nothing.
    assert fake.jwks_requests == 1


async def test_a_flood_on_a_cold_start_costs_one_fetch(served: Api, fake: FakeIssuer) -> None:
    api = served
    attacker = new_key("ES256")
    tokens = [
        jwt.encode(fake.claims(), attacker, algorithm="ES256", headers={"kid": uuid.uuid4().hex})
        for _ in range(50)
    ]
    responses = await asyncio.gather(
        *(api.client.get(f"{API}/events", headers=bearer(t)) for t in tokens)
    )
    assert {r.status_code for r in responses} == {401}
    assert fake.jwks_requests == 1


async def test_key_rotation(tmp_path: Path, fake: FakeIssuer) -> None:
    """A new key is used once the cool-down allows a fetch; the old one is refused once the
    issuer stops publishing it and the keys are refreshed."""
    monotonic = ManualMonotonic()
    container = oidc_container(tmp_path, fake)
    container.token_verifier.override(
        providers.Object(OidcVerifier(issuer=fake.issuer, audience=AUDIENCE, monotonic=monotonic))
    )
    old = next(iter(fake.keys))
    async with running_api(tmp_path, container=container) as api:

        async def status(kid: str) -> int:
            response = await api.client.get(f"{API}/events", headers=bearer(fake.token(kid=kid)))
            return response.status_code

        assert await status(old) == 200
        new = fake.add_key("ES256")
        assert await status(new) == 401  # within the cool-down: not fetched yet
        monotonic.now += 61
        assert [await status(new) for _ in range(3)] == [200] * 3
        assert await status(old) == 200  # both published during the overlap
        assert fake.jwks_requests == 2
        fake.remove_key(old)
        monotonic.now += 301
        assert await status(new) == 200  # the periodic refresh
        assert await status(old) == 401
        assert fake.jwks_requests == 3


async def test_an_unreachable_issuer_is_401_not_500(tmp_path: Path) -> None:
    async with running_fake_issuer() as gone:
        issuer = gone.base_url
    fake = FakeIssuer(issuer)
    fake.add_key("ES256")
    async with running_api(tmp_path, container=oidc_container(tmp_path, fake)) as api:
        token = fake.token()
        _assert_invalid_token(await api.client.get(f"{API}/events", headers=bearer(token)), token)
