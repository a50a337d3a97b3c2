"""The scheduled spending pull (entrypoints/spending_job.py): one tenant's failure, ours or
not, is not every tenant's; it is logged and said, and the next tenants are pulled."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.spending import PullResult
from bookkeeper.entrypoints.spending_job import pull_every_tenant, spending_pull

DAY = dt.date(2026, 12, 7)


class Pulls:
    """A stand-in SpendingService whose pull of some tenants raises."""

    def __init__(self, raises: dict[str, Exception]) -> None:
        self.raises = raises
        self.pulled: list[str] = []

    async def pull(self, tenant_id: str) -> PullResult:
        self.pulled.append(tenant_id)
        if tenant_id in self.raises:
            raise self.raises[tenant_id]
        return PullResult(tenant_id=tenant_id, start=DAY, end=DAY, recorded=1)


async def test_an_unexpected_error_of_one_tenant_leaves_the_others_pulled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pulls = Pulls({"a": KeyError("rate"), "b": ExternalUnavailable("down", system="fiken")})

    async def tenants() -> list[str]:
        return ["a", "b", "c"]

    with caplog.at_level(logging.INFO, logger="bookkeeper.spending"):
        more = await spending_pull(pulls, tenants)()

    assert more is False
    assert pulls.pulled == ["a", "b", "c"]
    failed = {r.message.split()[3]: r for r in caplog.records if "failed" in r.message}
    assert failed["a"].levelno == logging.ERROR and failed["a"].exc_info is not None
    assert failed["b"].levelno == logging.WARNING
    assert any("spending pull of c: 1 recorded" in r.message for r in caplog.records)


async def test_what_failed_is_said_per_tenant_without_a_foreign_errors_text() -> None:
    pulls = Pulls({"a": RuntimeError("postgresql://user:secret@db"), "c": ValueError("x")})
    failed = await pull_every_tenant(pulls, ["a", "b", "c"])
    assert failed == {
        "a": "unexpected error (RuntimeError)",
        "c": "unexpected error (ValueError)",
    }
    assert pulls.pulled == ["a", "b", "c"]
