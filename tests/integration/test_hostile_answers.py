"""Hostile or broken answers from outside (OWASP API10, issue 16, ADR 0026): each loopback
fake (Fiken, Folio, Anthropic, the OIDC issuer) switched to answer malformed, truncated,
oversized, schema-violating or wrongly typed bodies (tests/fakes/hostile.py). Each adapter
decodes strictly and raises one of our named errors — never returns the answer as data,
never lets a foreign exception out; the executor records a retryable failure and executes
exactly once when the answers are sound again; the HTTP API answers 401, never 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.adapters.auth.oidc import OidcVerifier
from bookkeeper.adapters.extraction.claude import ClaudeExtractor
from bookkeeper.adapters.fiken import FikenBooks, FikenClient
from bookkeeper.adapters.fiken.ratelimit import SlidingWindow
from bookkeeper.adapters.folio import FolioBank, FolioClient
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalError,
    ExternalUnavailable,
    ExtractionFailed,
    InvalidToken,
)
from bookkeeper.application.execution import reference
from bookkeeper.domain.events import ExecutionFailedData, Status
from tests.fakes.anthropic import running_fake_anthropic
from tests.fakes.fiken import FakeFiken, running_fiken_server
from tests.fakes.folio import FakeFolio, running_fake_folio
from tests.fakes.hostile import MODES
from tests.fakes.oidc import AUDIENCE, running_fake_issuer
from tests.http_helpers import API, bearer, running_api
from tests.integration.test_execution_crash_matrix import World
from tests.integration.test_http_oidc import _assert_invalid_token, oidc_container
from tests.unit.external_doubles import invoice

WITHIN = 20.0


async def _no_sleep(_: float) -> None:
    return None


def _assert_named(error: BaseException, mode: str) -> None:
    """One of ours: a truncated answer is a transport failure (retryable); an answer that
    arrived whole but cannot be read is ExternalAnswerInvalid (not retryable for a read)."""
    if mode == "truncated":
        assert isinstance(error, ExternalUnavailable), repr(error)
        assert error.retryable
        return
    assert isinstance(error, ExternalAnswerInvalid), repr(error)
    assert not error.retryable
    if mode == "oversized":
        assert "larger than" in error.message


# --- Fiken ---------------------------------------------------------------------------------


@pytest.fixture
async def fiken() -> AsyncIterator[tuple[FakeFiken, FikenBooks]]:
    async with running_fiken_server() as server:
        client = FikenClient(
            server.base_url,
            server.fake.token,
            timeout=5,
            window=SlidingWindow(limit=1000),
            sleep=_no_sleep,
        )
        try:
            yield server.fake, FikenBooks(client, server.fake.slug)
        finally:
            await client.aclose()


@pytest.mark.parametrize("mode", MODES)
async def test_fiken_broken_answers_are_our_named_error(
    fiken: tuple[FakeFiken, FikenBooks], mode: str
) -> None:
    fake, books = fiken
    fake.misbehave.always(mode, method="GET", path=r"/bankAccounts$")
    with pytest.raises(ExternalError) as raised:
        await asyncio.wait_for(books.bank_accounts(), WITHIN)
    _assert_named(raised.value, mode)
    assert fake.misbehave.seen and set(fake.misbehave.seen) == {mode}
    fake.misbehave.clear()
    assert [a.account_code for a in await books.bank_accounts()]  # the client still works


@pytest.mark.parametrize("mode", MODES)
async def test_a_broken_answer_to_a_write_is_executed_exactly_once(
    mode: str,
) -> None:
    async with running_fiken_server() as fiken_server, running_fake_folio() as folio:
        # No answer hangs here: a generous timeout, so that a busy machine cannot turn
        # the first attempt into a timeout that leaves the broken answer for the second.
        world = World(fiken_server, folio, timeout=WITHIN)
        try:
            document = await world.harness.store(content=b"%PDF-1.7\nhostile " + mode.encode())
            data: Any = invoice(document, account_code="6900", invoice_number=f"H-{mode}")
            pid = await world.harness.approved(data)
            # Fiken creates the purchase, then its answer is broken.
            world.fiken.misbehave.next(mode, method="POST", path=r"/purchases$")
            first = await world.executor("first").run_once()
            if mode in ("schema", "content-type"):
                # A 201 is read for its Location only; its body is never used as data.
                assert (first.claimed, first.executed) == (1, 1), first
            else:
                assert (first.claimed, first.retried, first.executed) == (1, 1, 0), first
                failed = (await world.harness.stream(pid))[-1].data
                assert isinstance(failed, ExecutionFailedData) and failed.retryable
                world.harness.clock.advance(minutes=61)
                again = await world.executor("second").run_once()
                assert (again.executed, again.reconciled) == (1, 1), again
            assert (await world.harness.view(pid)).status is Status.EXECUTED
            assert len(world.fiken.purchases_with_reference(reference(pid))) == 1
        finally:
            await world.close()


# --- Folio ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_folio_broken_answers_are_our_named_error(mode: str) -> None:
    async with running_fake_folio() as (fake, base_url):
        client = FolioClient(base_url, fake.token, timeout=5, sleep=_no_sleep)
        bank = FolioBank(client)
        try:
            fake_folio: FakeFolio = fake
            fake_folio.misbehave.always(mode, method="GET", path=r"/accounts")
            with pytest.raises(ExternalError) as raised:
                await asyncio.wait_for(bank.accounts(), WITHIN)
            _assert_named(raised.value, mode)
            fake_folio.misbehave.clear()
            assert await bank.accounts()
        finally:
            await client.aclose()


# --- Anthropic -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_anthropic_broken_answers_fail_the_extraction_by_name(mode: str) -> None:
    async with running_fake_anthropic() as (fake, base_url):
        claude = ClaudeExtractor(fake.api_key, base_url=base_url, max_retries=0, timeout=5)
        try:
            fake.misbehave.next(mode, method="POST", path=r"/messages")
            with pytest.raises(ExtractionFailed) as raised:
                await asyncio.wait_for(
                    claude.extract(b"%PDF-1.7\nreceipt", "application/pdf", None), WITHIN
                )
            if mode == "oversized":
                assert "larger than" in raised.value.message
            # The next answer is sound: the extractor is not stuck.
            extracted = await claude.extract(b"%PDF-1.7\nreceipt", "application/pdf", None)
            assert extracted is not None
        finally:
            await claude.aclose()


# --- the OIDC issuer -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["/.well-known/openid-configuration", "/jwks"])
@pytest.mark.parametrize("mode", MODES)
async def test_oidc_broken_issuer_answers_make_the_token_invalid(mode: str, where: str) -> None:
    async with running_fake_issuer() as fake:
        fake.add_key("ES256")
        verifier = OidcVerifier(issuer=fake.issuer, audience=AUDIENCE)
        fake.misbehave.always(mode, path=f"^{where}$")
        with pytest.raises(InvalidToken):
            await asyncio.wait_for(verifier.averify(fake.token()), WITHIN)
        assert mode in fake.misbehave.seen


@pytest.mark.parametrize("mode", ["malformed", "schema", "oversized"])
async def test_the_api_answers_401_not_500_when_the_issuer_answers_garbage(
    tmp_path: Path, mode: str
) -> None:
    async with running_fake_issuer() as fake:
        fake.add_key("ES256")
        fake.misbehave.always(mode, path="^/jwks$")
        async with running_api(tmp_path, container=oidc_container(tmp_path, fake)) as api:
            token = fake.token()
            answer = await api.client.get(f"{API}/events", headers=bearer(token))
            _assert_invalid_token(answer, token)
