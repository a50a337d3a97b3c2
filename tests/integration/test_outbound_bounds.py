"""Every outbound HTTP adapter against a loopback server that answers badly on purpose:
one that trickles its answer a byte at a time (each byte well within the read timeout,
the whole answer in 40 s), and one that sends a body far larger than any answer of ours
(64 MiB). httpx's timeouts bound each read only and `response.content` reads to the end,
so an adapter without a whole-answer deadline and a streamed size cap (adapters/outbound.py)
held the call for as long as the server dripped, or read the whole body into memory. Each
adapter must end the call near its deadline with its own error, and leave the large
answer unread (the server sees the connection go before it has sent it all).

The Discord notifier (hikari's aiohttp: 30 s total per attempt) and the SafeFetcher
(https on port 443 only; its deadline and cap have their own tests) are not here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bookkeeper.adapters.anthropic_admin import AnthropicAdminUsage
from bookkeeper.adapters.auth import oidc_login
from bookkeeper.adapters.auth.oidc import OidcVerifier
from bookkeeper.adapters.auth.oidc_login import OidcLogin
from bookkeeper.adapters.cloudflare import CloudflareUsage
from bookkeeper.adapters.extraction.claude import ClaudeExtractor
from bookkeeper.adapters.fiken import FikenClient
from bookkeeper.adapters.fiken.ratelimit import SlidingWindow
from bookkeeper.adapters.folio import FolioClient
from bookkeeper.adapters.google_billing import GoogleBillingUsage
from bookkeeper.adapters.intents.claude import ClaudeIntentClassifier
from bookkeeper.adapters.norges_bank import NorgesBankRates
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalUnavailable,
    ExtractionFailed,
    InvalidToken,
)
from tests.fakes.oidc import new_key
from tests.fakes.server import serve

#: Each adapter's timeout here (each network wait); its deadline is three of them, the
#: OIDC issuer's one.
TIMEOUT = 0.3
#: A byte of the trickled answer every DRIP seconds: well within the timeout.
DRIP = 0.1
TRICKLED = b'{"data": []}' + b" " * 400
#: The oversized answer, sent in pieces: far beyond every limit (8 MiB at most).
LARGE = 64 * 1024 * 1024
PIECE = 256 * 1024
#: The test's own bound on a call: a call that outlives it was never cut off.
WHOLE = 15.0
#: A read is tried three times (Fiken, Folio), each ending at its deadline.
WITHIN = 3 * (3 * TIMEOUT + TIMEOUT) + 2.0

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
DAY = dt.date(2026, 3, 2)


class Hostile:
    """Answers every request 200 (JSON) badly: `mode` "slow" trickles the answer, "large"
    sends LARGE bytes. `spared` paths (the token endpoint of a case that is about the call
    after it) get a sound token answer."""

    def __init__(self, mode: str, spared: tuple[str, ...] = ()) -> None:
        self.mode = mode
        self.spared = spared
        self.requests = 0
        self.sent = 0
        self.completed = False

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
        if scope["path"].endswith(self.spared) and self.spared:
            await send(start)
            token = b'{"access_token": "ya29.t", "expires_in": 3600, "token_type": "Bearer"}'
            await send({"type": "http.response.body", "body": token})
            return
        self.requests += 1
        gone = asyncio.Event()

        async def watch() -> None:  # uvicorn drops what is sent after a disconnect
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watching = asyncio.create_task(watch())
        try:
            await send(start)
            if self.mode == "slow":
                pieces = [TRICKLED[i : i + 1] for i in range(len(TRICKLED))]
                pause = DRIP
            else:
                pieces = [b'{"pad": "'] + [b"a" * PIECE] * (LARGE // PIECE)
                pause = 0.0
            for piece in pieces:
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                self.sent += len(piece)
                await asyncio.sleep(pause)
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b'"}'})
                self.completed = True
        finally:
            watching.cancel()


async def _no_sleep(_: float) -> None:
    return None


def _google_key(root: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "acme-billing",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "costs@acme-billing.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": f"{root}/token",
    }


# --- one call of each adapter (each closes what it opened) --------------------------------


async def fiken(root: str) -> object:
    client = FikenClient(
        root, "token", timeout=TIMEOUT, window=SlidingWindow(limit=1000), sleep=_no_sleep
    )
    try:
        return await client.request("GET", "/companies")
    finally:
        await client.aclose()


async def folio(root: str) -> object:
    client = FolioClient(root, "token", timeout=TIMEOUT, sleep=_no_sleep)
    try:
        return await client.request("GET", "/accounts", idempotent=True)
    finally:
        await client.aclose()


async def norges_bank(root: str) -> object:
    rates = NorgesBankRates(base_url=root, timeout=TIMEOUT)
    try:
        return await rates.to_nok("USD", DAY)
    finally:
        await rates.aclose()


async def anthropic_admin(root: str) -> object:
    source = AnthropicAdminUsage("sk-ant-admin01-key", base_url=root, timeout=TIMEOUT)
    try:
        return await source.costs(DAY, DAY)
    finally:
        await source.aclose()


async def cloudflare(root: str) -> object:
    source = CloudflareUsage("cf-token", "0" * 32, base_url=root, timeout=TIMEOUT)
    try:
        return await source.costs(DAY, DAY)
    finally:
        await source.aclose()


async def google(root: str) -> object:
    source = GoogleBillingUsage(
        _google_key(root),
        project="acme-billing",
        table="acme-billing.export.gcp_billing_export_v1",
        base_url=root,
        timeout=TIMEOUT,
        poll_interval=0.0,
    )
    try:
        return await source.costs(DAY, DAY)
    finally:
        await source.aclose()


async def oidc_keys(root: str) -> object:
    verifier = OidcVerifier(
        issuer=root, audience="bookkeeper", timeout=dt.timedelta(seconds=TIMEOUT)
    )
    token = jwt.encode(
        {"sub": "someone"}, new_key("ES256"), algorithm="ES256", headers={"kid": "k1"}
    )
    return await verifier.averify(token)


async def oidc_web_login(root: str) -> object:
    return await OidcLogin(root, "bookkeeper").endpoints()


async def claude_extraction(root: str) -> object:
    claude = ClaudeExtractor("sk-ant-key", base_url=root, timeout=TIMEOUT, max_retries=0)
    try:
        return await claude.extract(b"%PDF-1.7\nreceipt", "application/pdf", None)
    finally:
        await claude.aclose()


async def claude_intents(root: str) -> object:
    claude = ClaudeIntentClassifier("sk-ant-key", base_url=root, timeout=TIMEOUT, max_retries=0)
    try:
        return await claude.classify("hvor mye har vi brukt på programvare i år?")
    finally:
        await claude.aclose()


@dataclasses.dataclass(frozen=True)
class Case:
    call: Callable[[str], Awaitable[object]]
    #: What a trickled answer raises; what an oversized one does (None: the adapter falls
    #: back and answers, as the intent classifier does with keywords).
    slow: type[Exception] | None
    large: type[Exception] | None
    #: Said in the oversized answer's error.
    says: str = "larger than"
    #: Paths answered soundly (the call under test comes after them).
    spared: tuple[str, ...] = ()


CASES: dict[str, Case] = {
    "fiken": Case(fiken, ExternalUnavailable, ExternalAnswerInvalid),
    "folio": Case(folio, ExternalUnavailable, ExternalAnswerInvalid),
    "norges-bank": Case(norges_bank, ExternalUnavailable, ExternalAnswerInvalid),
    "anthropic-admin": Case(anthropic_admin, ExternalUnavailable, ExternalAnswerInvalid),
    "cloudflare": Case(cloudflare, ExternalUnavailable, ExternalAnswerInvalid),
    "google-bigquery": Case(google, ExternalUnavailable, ExternalAnswerInvalid, spared=("/token",)),
    "google-token": Case(google, ExternalUnavailable, ExternalUnavailable, says="token endpoint"),
    # The verifier keeps the keys it has when a fetch fails: the token names a key it
    # does not have.
    "oidc-keys": Case(oidc_keys, InvalidToken, InvalidToken, says="unknown key"),
    "oidc-login": Case(oidc_web_login, ExternalUnavailable, InvalidToken, says="not JSON"),
    "claude-extraction": Case(claude_extraction, ExtractionFailed, ExtractionFailed),
    "claude-intents": Case(claude_intents, None, None),
}


async def _run(case: Case, mode: str) -> tuple[Hostile, BaseException | None, float]:
    app = Hostile(mode, case.spared)
    async with serve(app) as root:
        started = time.monotonic()
        raised: BaseException | None = None
        try:
            await asyncio.wait_for(case.call(root), WHOLE)
        except Exception as error:
            raised = error
        return app, raised, time.monotonic() - started


@pytest.fixture(autouse=True)
def _short_login_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oidc_login, "TIMEOUT", TIMEOUT)


@pytest.mark.parametrize("name", list(CASES))
async def test_an_answer_trickled_in_ends_at_the_deadline(name: str) -> None:
    case = CASES[name]
    app, raised, took = await _run(case, "slow")
    assert not isinstance(raised, TimeoutError), f"{name} held the call for {took:.1f} s"
    if case.slow is None:
        assert raised is None
    else:
        assert isinstance(raised, case.slow), repr(raised)
    assert took < WITHIN, f"{name} took {took:.1f} s"
    assert app.requests >= 1 and not app.completed


@pytest.mark.parametrize("name", list(CASES))
async def test_an_oversized_answer_is_not_read_to_its_end(name: str) -> None:
    case = CASES[name]
    app, raised, took = await _run(case, "large")
    assert not isinstance(raised, TimeoutError), f"{name} held the call for {took:.1f} s"
    if case.large is None:
        assert raised is None
    else:
        assert isinstance(raised, case.large), repr(raised)
        assert case.says in str(raised), str(raised)
    assert app.requests >= 1
    # The client went away before the server had sent it all (socket buffers hold some).
    assert not app.completed, f"{name} read all {app.sent} bytes"
    assert app.sent < LARGE // 2
