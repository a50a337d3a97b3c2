"""Every route of the OpenAPI document refuses every untrustworthy token the same way.

test_http_auth.py and test_http_oidc.py try each attack on one route; here each attack is
sent to every route the OpenAPI document lists (read from `/schema/openapi.json`, so a new
route is covered without editing this file), with the route's own request from the role
matrix, once with the embedded local key and once with an external OIDC issuer configured.
Besides the classic attacks (alg=none, HS256 keyed with the public key, expired, not yet
valid, wrong audience or issuer, an unknown kid …), a validly signed token whose tenant
claim is missing or of the wrong type (a number, a list, an object, true, empty, blank)
must not reach any handler either. Each answer is the same 401 problem
(`invalid-token`, `WWW-Authenticate: Bearer error="invalid_token"`), never naming the token.
POST /events goes through the lean path (ADR 0045): the same answer there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.oidc import ATTACKS, FakeIssuer, attack_tokens, running_fake_issuer
from tests.http_helpers import API, TENANT, Api, bearer, running_api
from tests.integration.test_http_auth import BAD_TOKEN_NAMES, _bad_tokens, _claims
from tests.integration.test_http_oidc import oidc_container
from tests.integration.test_http_role_matrix import PUBLIC
from tests.integration.test_tenant_route_walk import Route, _send, routes_of

#: A tenant claim that is there but unusable: each must be a 401, never a principal.
WRONG_TENANTS: Final[dict[str, Any]] = {
    "tenant a number": 42,
    "tenant a list": [TENANT],
    "tenant an object": {"id": TENANT},
    "tenant true": True,
    "tenant empty": "",
    "tenant blank": "   ",
    "tenant null": None,
    "tenant with a control character": "acme\n",
    "tenant the wildcard": "*",
    "tenant a list of names": "acme,globex",
    "tenant with a surrounding blank": " acme",
}
SAMPLE_VALUES: Final = {
    "event_id": "0192f0c4-0000-7000-8000-000000000001",
    "proposal_id": "0192f0c4-0000-7000-8000-000000000001",
    "correlation_id": "0192f0c4-0000-7000-8000-000000000001",
    "entry_id": "0192f0c4-0000-7000-8000-000000000001",
    "sha256": "ab" * 32,
    "tenant": TENANT,
    "provider": "fiken",
    "kind": "period",
    "start": "2026-01-01",
    "year": "2026",
    "term": "1",
}


def _url(route: Route) -> str:
    path = route.template
    for name in route.parameters:
        path = path.replace("{" + name + "}", SAMPLE_VALUES[name])
    return API + path


async def _walk(api: Api, tokens: dict[str, str]) -> tuple[int, list[str]]:
    schema = (await api.client.get("/schema/openapi.json")).json()
    routes = routes_of(schema)
    assert len(routes) > 40, "the route table is not what this walk expects"
    failures: list[str] = []
    cells = 0
    for route in routes:
        for name, token in tokens.items():
            cells += 1
            response = await _send(api, route, _url(route), bearer(token))
            where = f"{route.method} {route.template} with {name}"
            if response.status_code != 401:
                failures.append(f"{where}: {response.status_code} {response.text[:160]}")
                continue
            if not response.headers.get("content-type", "").startswith("application/problem"):
                failures.append(f"{where}: not a problem: {response.headers.get('content-type')}")
            if 'error="invalid_token"' not in response.headers.get("www-authenticate", ""):
                failures.append(
                    f"{where}: WWW-Authenticate {response.headers.get('www-authenticate')}"
                )
            body = response.json()
            if body.get("code") != "invalid-token" or body.get("status") != 401:
                failures.append(f"{where}: {body}")
            if token in json.dumps(body) or token in str(response.headers):
                failures.append(f"{where}: the answer repeats the token")
    return cells, failures


async def test_every_route_refuses_every_bad_local_token(api: Api) -> None:
    key = api.container.signing_key()
    tokens = {name: _bad_tokens(api)[name] for name in BAD_TOKEN_NAMES}
    for name, tenant in WRONG_TENANTS.items():
        tokens[name] = jwt.encode(_claims(tenant=tenant), key, algorithm="EdDSA")
    tokens["tenant claim missing"] = jwt.encode(
        {k: v for k, v in _claims().items() if k != "tenant"}, key, algorithm="EdDSA"
    )
    # The control: the same claims with a usable tenant get through authentication.
    good = jwt.encode(_claims(), key, algorithm="EdDSA")
    assert (await api.client.get(f"{API}/events", headers=bearer(good))).status_code == 200
    cells, failures = await _walk(api, tokens)
    assert not failures, f"{len(failures)} of {cells}:\n" + "\n".join(failures)


async def test_the_public_routes_answer_whatever_token_is_sent(api: Api) -> None:
    """The health checks and the metrics are outside authentication: a probe that sends
    a bad token (a balancer configured with a stale one) gets the answer it gets without
    one, not a 401 that takes the replica out."""
    tokens = _bad_tokens(api)
    for _, path in sorted(PUBLIC):
        plain = await api.client.get(path)
        assert plain.status_code == 200, f"{path}: {plain.status_code}"
        for name in BAD_TOKEN_NAMES:
            response = await api.client.get(path, headers=bearer(tokens[name]))
            assert response.status_code == 200, f"{path} with {name}: {response.status_code}"


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def issuer(issuer_key: rsa.RSAPrivateKey) -> AsyncIterator[FakeIssuer]:
    async with running_fake_issuer() as fake:
        fake.add_key("RS256", key=issuer_key)
        yield fake


@pytest.mark.long
async def test_every_route_refuses_every_bad_issuer_token(
    tmp_path: Path, issuer: FakeIssuer
) -> None:
    async with running_api(tmp_path, container=oidc_container(tmp_path, issuer)) as api:
        kid = next(iter(issuer.keys))
        # The valid token first, so that the keys are known and each attack meets them.
        valid = await api.client.get(f"{API}/events", headers=bearer(issuer.token()))
        assert valid.status_code == 200, valid.text
        attacks = attack_tokens(issuer, kid)
        tokens = {name: attacks[name] for name in ATTACKS}
        for name, tenant in WRONG_TENANTS.items():
            tokens[name] = issuer.token(issuer.claims(tenant=tenant), kid=kid)
        cells, failures = await _walk(api, tokens)
    assert not failures, f"{len(failures)} of {cells}:\n" + "\n".join(failures)
