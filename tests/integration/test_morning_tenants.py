"""Who the morning check runs for when BOOKKEEPER_MORNING_TENANTS is unset: every tenant
with events in the log (SQLite and PostgreSQL) — but not `_bus`, where the bus alerts
about dead letters that name no tenant it books for. A run for `_bus` read the default
company's bank and books as if they were `_bus`'s, recorded a MorningCheckRan there and
posted its summary."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from dependency_injector import providers

from bookkeeper.application.bus import UNKNOWN_TENANT
from bookkeeper.application.event_log import stamp
from bookkeeper.application.morning import MAX_TENANTS, MorningCheck
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.domain.events import AlertRaisedData
from bookkeeper.settings import Settings
from tests.http_helpers import FixedClock


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def test_the_morning_check_runs_for_the_tenants_of_the_log_but_not_the_bus(
    tmp_path: Path, database_url: str
) -> None:
    container = Container()
    settings = Settings.for_data_dir(tmp_path, database_url=database_url, executor_enabled=False)
    container.settings.override(providers.Object(settings))
    clock = FixedClock()
    try:
        uow: UnitOfWorkFactory = await resolve(container.uow_factory)
        for tenant in ("acme", UNKNOWN_TENANT, "beta"):
            alert_id = uuid.uuid4()
            event = stamp(
                "AlertRaised",
                AlertRaisedData(severity="error", code="dead-letter", message="x"),
                event_id=alert_id,
                actor="system:bus",
                at=clock.now(),
                correlation_id=alert_id,
            )
            async with uow() as unit:
                await unit.events.append(tenant, alert_id, 0, [event])
                await unit.commit()
        morning: MorningCheck = await resolve(container.morning_check)
        found = await morning.tenants()
        assert UNKNOWN_TENANT not in found
        assert {"acme", "beta"} <= set(found)
    finally:
        await shutdown(container)


async def test_the_morning_check_runs_for_every_tenant_past_a_thousand(
    tmp_path: Path, database_url: str
) -> None:
    """The directory's query stopped at MAX_TENANTS (1,000): the 1,001st company of the
    log — and every later one — had no morning check and no spending pull, silently. The
    run now reads the tenants a page at a time until a short page."""
    container = Container()
    settings = Settings.for_data_dir(tmp_path, database_url=database_url, executor_enabled=False)
    container.settings.override(providers.Object(settings))
    clock = FixedClock()
    names = [f"t{n:04d}" for n in range(MAX_TENANTS + 5)]
    try:
        uow: UnitOfWorkFactory = await resolve(container.uow_factory)
        async with uow() as unit:
            for tenant in names:
                alert_id = uuid.uuid4()
                event = stamp(
                    "AlertRaised",
                    AlertRaisedData(severity="info", code="probe", message="x"),
                    event_id=alert_id,
                    actor="system:probe",
                    at=clock.now(),
                    correlation_id=alert_id,
                )
                await unit.events.append(tenant, alert_id, 0, [event])
            await unit.commit()
        morning: MorningCheck = await resolve(container.morning_check)
        assert await morning.tenants() == names
    finally:
        await shutdown(container)
