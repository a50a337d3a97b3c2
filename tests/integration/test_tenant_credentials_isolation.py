"""Issue 14: one tenant's Fiken 429s never delay another tenant's executions.

Two tenants with their own Fiken credentials (different tokens, companies and — through the
operator's base URL override — two loopback fakes), resolved per tenant by TenantBackends
with the real FikenClient and FikenBooks. Tenant A's Fiken answers 429 with Retry-After to
everything; tenant B's answers normally. One executor pass carries both out: B's invoice is
EXECUTED in B's Fiken while A's attempt is still waiting out its own 429s, and nothing of
A's reached B's Fiken or the other way round (each fake refuses a foreign token with 401).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet

from bookkeeper.adapters.credentials import secret_box
from bookkeeper.adapters.tenant_backends import TenantBackends
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.credentials import CredentialsService
from bookkeeper.application.execution import ExecutionPolicy
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import Status
from tests.fakes.fiken import FakeFiken, running_fake_fiken
from tests.unit.external_doubles import Harness, invoice

POLICY = ExecutionPolicy(
    base_delay=dt.timedelta(seconds=30),
    lease=dt.timedelta(minutes=5),
    lease_margin=dt.timedelta(seconds=30),
    payment_account="1920:10001",
    tenant_concurrency=8,
)
#: Long enough that B finishing first is not a race: A's client sleeps this per 429.
RETRY_AFTER = 5
#: How long the test waits at most for B (a bound against a hang, not a timing assertion).
GUARD_SECONDS = 60.0


def admin(tenant: str) -> Principal:
    return Principal(subject="ops", tenant_id=tenant, roles=frozenset({"admin"}))


@pytest.fixture
async def fikens() -> AsyncIterator[tuple[tuple[FakeFiken, str], tuple[FakeFiken, str]]]:
    async with (
        running_fake_fiken(token="token-of-a", company="a-as") as a,
        running_fake_fiken(token="token-of-b", company="b-as") as b,
    ):
        yield a, b


async def test_one_tenants_429s_never_delay_another_tenants_execution(
    fikens: tuple[tuple[FakeFiken, str], tuple[FakeFiken, str]],
) -> None:
    (fake_a, url_a), (fake_b, url_b) = fikens
    harness = Harness(policy=POLICY)
    credentials = CredentialsService(
        secret_box(Fernet.generate_key().decode()),
        harness.uow_factory,
        harness.clock,
        harness.ids,
        RoleAuthorizer(),
    )
    await credentials.set(admin("a"), "a", "fiken", "token-of-a", company="a-as", base_url=url_a)
    await credentials.set(admin("b"), "b", "fiken", "token-of-b", company="b-as", base_url=url_b)

    def no_default(tenant: str) -> None:
        raise AssertionError(f"tenant {tenant} has its own credentials")

    backends = TenantBackends(
        credentials,
        no_default,  # type: ignore[arg-type]
        harness.world.bank,
        fiken_base_url="https://api.fiken.no/api/v2",
        folio_base_url="https://api.folio.no/v2",
    )
    credentials.on_change(backends.invalidate)
    executor = harness.new_executor("executor", books=backends.books)
    proposal_a = await harness.approved(invoice(await harness.store(tenant="a")), "a")
    proposal_b = await harness.approved(invoice(await harness.store(tenant="b")), "b")
    fake_a.rate_limit_next(1000, retry_after=RETRY_AFTER)

    running = asyncio.create_task(executor.run_once())
    try:
        async with asyncio.timeout(GUARD_SECONDS):
            while (await harness.view(proposal_b, "b")).status is not Status.EXECUTED:
                assert not running.done(), running.result() if running.done() else None
                await asyncio.sleep(0.05)
        # B is done while A's attempt is still waiting out A's own 429s.
        assert not running.done()
        assert (await harness.view(proposal_a, "a")).status is Status.APPROVED
        assert fake_a.requests and all(r.status == 429 for r in fake_a.requests if r.status)
    finally:
        executor.stop()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await backends.aclose()

    # Each tenant's calls went to its own Fiken with its own token, none refused as foreign.
    assert all(r.authorized for r in fake_a.requests + fake_b.requests)
    assert len(fake_b.purchases) == 1 and not fake_a.purchases
    assert fake_b.concurrent_violations == 0 and fake_a.concurrent_violations == 0
    assert backends.client_count == 0  # closed
