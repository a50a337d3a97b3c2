"""A pathological 1 MB message over the real nats-server: what the consumer reads of it
(its tenant, its type, an Accounts Master's envelope) is read in a worker thread, not on
the event loop — which it held for about a second (the other batch in flight, the HTTP
API, /health and the bus-publisher all waited). An ordinary batch is read in place, as
before (a thread's hand-off would cost it more). bench/bus_loop_stall.py measures it."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any

import nats
import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer
from bookkeeper.application import accounts_master, bus
from bookkeeper.application.bus import BusIntake, Outcome
from tests.integration.test_nats_bus import (
    TENANT,
    _settled_outcomes,
    intake_on_accounts,
    invoice,
    nats_url,
)
from tests.integration.test_nats_bus import bus as bus_settings

__all__ = ["bus_settings", "nats_url"]  # the fixtures, imported for this module's tests


def pathological(kind: str) -> bytes:
    """About 1 MB of repeated member names: the costliest body to read."""
    head = json.dumps({"type": kind, "source": "s", "tenant": TENANT}).encode()[:-1]
    head += b', "data": {"x": ['
    unit = b'{"a":1,"a":1},'
    return head + unit * ((1_000_000 - 200 - len(head)) // len(unit)) + b"0]}}"


def on_threads(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Record the thread each call of `module.name` runs on."""
    seen: list[int] = []
    original: Callable[..., Any] = getattr(module, name)

    def recording(*args: Any) -> Any:
        seen.append(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(module, name, recording)
    return seen


def intake(factory: MemoryUnitOfWorkFactory) -> BusIntake:
    made = intake_on_accounts(factory)
    made._tenants = frozenset({TENANT})  # BOOKKEEPER_BUS_TENANTS, as locked down
    return made


async def test_a_1mb_message_is_read_off_the_event_loop(
    bus_settings: NatsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(bus_settings, tenant_subjects=True)
    tenants = on_threads(monkeypatch, bus, "tenant_of")
    envelopes = on_threads(monkeypatch, accounts_master, "read_envelope")
    loop_thread = threading.get_ident()
    factory = MemoryUnitOfWorkFactory()
    ledger = NatsConsumer(intake(factory), settings)
    accounts = NatsConsumer(intake(factory), settings.accounts())
    await ledger.connect()
    await accounts.connect()
    outcomes = await _settled_outcomes(ledger)
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    try:
        await js.publish(
            f"{settings.subject_prefix}.{TENANT}.InvoiceIssued",
            pathological("InvoiceIssued"),
            stream=settings.stream,
        )
        await js.publish(
            f"{settings.accounts_prefix}.{TENANT}.AccountUpdated",
            pathological("AccountUpdated"),
            stream=settings.accounts_stream,
        )
        assert await ledger.pull_once(wait=2) == 1
        assert await accounts.pull_once(wait=2) == 1
        assert outcomes == [Outcome.DEAD]  # refused (repeated names), and dead-lettered
        assert tenants and envelopes
        assert loop_thread not in tenants + envelopes
        # An ordinary batch is read on the loop, as before.
        tenants.clear()
        for n in range(5):
            await js.publish(
                f"{settings.subject_prefix}.{TENANT}.InvoiceIssued",
                invoice(f"INV-{n}"),
                stream=settings.stream,
            )
        assert await ledger.pull_once(wait=2) == 5
        assert outcomes[1:] == [Outcome.BOOKED] * 5
        assert set(tenants) == {loop_thread}
    finally:
        await nc.close()
        await ledger.close()
        await accounts.close()
