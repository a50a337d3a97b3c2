"""The web page's OIDC login (OidcLogin) reads its identity provider's answers bounded in
size and time, and takes plain http only from an issuer on loopback (ADR 0049, round five).

A mock transport stands in for the provider; nothing goes on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bookkeeper.adapters.auth import oidc_login
from bookkeeper.adapters.auth.oidc_login import OidcLogin
from bookkeeper.application.errors import ExternalUnavailable, InvalidToken

ISSUER = "https://issuer.test"
DISCOVERY = (
    b'{"issuer": "https://issuer.test", "authorization_endpoint": "https://issuer.test/auth",'
    b' "token_endpoint": "https://issuer.test/token"}'
)


class Chunks(httpx.AsyncByteStream):
    """`chunks()` one by one, `pause` seconds apart; counts how many were taken."""

    def __init__(self, chunks: Callable[[], AsyncIterator[bytes]]) -> None:
        self.chunks = chunks
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks():
            self.taken += 1
            yield chunk


def login(stream: httpx.AsyncByteStream) -> OidcLogin:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=stream)

    return OidcLogin(ISSUER, "bookkeeper", transport=httpx.MockTransport(handler))


async def test_a_discovery_document_is_read_and_its_endpoints_kept() -> None:
    async def whole() -> AsyncIterator[bytes]:
        yield DISCOVERY

    endpoints = await login(Chunks(whole)).endpoints()
    assert endpoints == ("https://issuer.test/auth", "https://issuer.test/token")


async def test_an_endless_answer_is_read_no_further_than_the_bound() -> None:
    # It was read whole (`response.content`) before being cut to 64 KiB.
    async def endless() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0)  # lets the test's own deadline end a read that never does
            yield b" " * 4096

    stream = Chunks(endless)
    with pytest.raises(InvalidToken, match="not JSON"):
        await asyncio.wait_for(login(stream).endpoints(), 10)
    assert stream.taken * 4096 <= 2 * oidc_login.MAX_BYTES


async def test_an_answer_trickled_past_the_timeout_is_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # httpx's timeouts bound each read; each chunk here comes in time, the answer does not.
    monkeypatch.setattr(oidc_login, "TIMEOUT", 0.3)

    async def trickle() -> AsyncIterator[bytes]:
        for start in range(0, len(DISCOVERY), 8):
            await asyncio.sleep(0.05)
            yield DISCOVERY[start : start + 8]

    with pytest.raises(ExternalUnavailable):
        await asyncio.wait_for(login(Chunks(trickle)).endpoints(), 10)


@pytest.mark.parametrize("field", [b'"https://issuer.test/auth"', b'"https://issuer.test/token"'])
async def test_an_https_issuer_cannot_name_http_on_loopback(field: bytes) -> None:
    document = DISCOVERY.replace(field, b'"http://127.0.0.1:6379/x"')

    async def whole() -> AsyncIterator[bytes]:
        yield document

    with pytest.raises(InvalidToken, match="names http"):
        await login(Chunks(whole)).endpoints()
