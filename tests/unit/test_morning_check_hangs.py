"""A morning run whose check of the outside hangs (ADR 0023 addendum): the run goes tenant
by tenant, so a bank listing that never answered held every company after it — and, the
job running one instance at a time, the next mornings and catch-ups too. Now the check is
reported unavailable in the tenant's run and summary as a bank that timed out is, its other
checks run, and so do the other tenants'."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.checks import Checks
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.event_log import stamp
from bookkeeper.application.ledger import UnknownAccountsReport
from bookkeeper.application.morning import LogTenants, MorningCheck, StaticTenants
from bookkeeper.application.ports import BankTransaction
from bookkeeper.domain.events import AlertRaisedData, MorningCheckRanData
from tests.unit.conftest import FixedClock

NOW = dt.datetime(2027, 4, 2, 5, 0, tzinfo=dt.UTC)  # 07:00 in Norway


class Bank:
    """acme's bank never answers, beta's is down (an error of ours), gamma's answers."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        if self.tenant == "acme":
            await asyncio.Event().wait()  # hangs
        if self.tenant == "beta":
            raise ExternalUnavailable("bank: timed out", system="folio")
        return []


class Ledger:
    async def unknown_accounts(self, _principal: Any) -> UnknownAccountsReport:
        return UnknownAccountsReport(backend="sandbox", chart_size=3, accounts=["9999"])


async def test_a_hung_or_broken_check_is_reported_and_the_rest_still_run() -> None:
    clock = FixedClock(NOW)
    uow = MemoryUnitOfWorkFactory()
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), Bank)  # type: ignore[arg-type]
    morning = MorningCheck(
        checks, uow, clock, StaticTenants(("acme", "beta", "gamma")), check_seconds=0.2
    )

    outcomes = await asyncio.wait_for(morning.run(), timeout=10)

    assert [(o.tenant_id, o.ran, o.error) for o in outcomes] == [
        ("acme", True, None),
        ("beta", True, None),
        ("gamma", True, None),
    ]
    for tenant in ("acme", "beta"):
        run = await morning.ran(tenant, dt.date(2027, 4, 2))
        assert run is not None and isinstance(run.data, MorningCheckRanData)
        assert run.data.missing_receipts is None
        assert run.data.unavailable == ("missing-receipts",)
        # The other checks ran: the unknown account is named, the VAT deadline given.
        assert run.data.unknown_accounts == ("9999",)
        assert "Manglende kvitteringer: banken svarte ikke" in run.data.summary
        assert "Ukjente kontoer: 9999" in run.data.summary
    gamma = await morning.ran("gamma", dt.date(2027, 4, 2))
    assert gamma is not None and isinstance(gamma.data, MorningCheckRanData)
    assert (gamma.data.missing_receipts, gamma.data.unavailable) == (0, ())


async def test_the_tenants_are_read_page_after_page() -> None:
    """Configured (StaticTenants) and read from the log (LogTenants, the memory store):
    every tenant, however small the page."""
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock(NOW)
    unused: Any = None
    names = ["a", "b", "c", "d", "e"]
    static = MorningCheck(unused, uow, clock, StaticTenants(names), tenant_page=2)
    assert await static.tenants() == names
    for name in reversed(names):
        await record_alert(uow, name, clock)
    logged = MorningCheck(unused, uow, clock, LogTenants(uow), tenant_page=2)
    assert await logged.tenants() == names


async def record_alert(uow: MemoryUnitOfWorkFactory, tenant: str, clock: FixedClock) -> None:
    alert_id = uuid.uuid4()
    event = stamp(
        "AlertRaised",
        AlertRaisedData(severity="info", code="probe", message="x"),
        event_id=alert_id,
        actor="system:probe",
        at=clock.now(),
        correlation_id=alert_id,
    )
    async with uow() as unit:
        await unit.events.append(tenant, alert_id, 0, [event])
        await unit.commit()
