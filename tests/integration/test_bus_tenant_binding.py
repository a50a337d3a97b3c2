"""The NATS bus is bound to tenants (BOOKKEEPER_BUS_TENANTS, ADR 0030 addendum), as
`serve` wires it, against the real nats-server: bound to tenants, it books only messages
naming one of them and dead-letters the others with a reason and an alert in
`_bus` (never booked, never lost); and it publishes only those tenants' ledger, so that a
reader of the outbound stream does not read every company of the deployment. Unset or
`*`, it is the bus of one company: every tenant a message names.

Needs NATS JetStream (skipped without it, except under CI=true).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from dependency_injector import providers

from bookkeeper.adapters.nats.config import NatsSettings, load_bus_tenants
from bookkeeper.adapters.nats.consumer import CODE_HEADER, REASON_HEADER
from bookkeeper.application.bus import UNKNOWN_TENANT
from bookkeeper.application.event_log import external_entry_id
from bookkeeper.settings import SettingsError
from tests.http_helpers import API, Api, MemoryDatabase, memory_container, running_api
from tests.integration.test_nats_bus import bus, nats_url, publish
from tests.polling import polls
from tests.unit.conftest import FixedClock

__all__ = ["bus", "nats_url"]  # the fixtures, imported for this module's tests

ACME, GLOBEX = "acme", "globex"


def _invoice(tenant: str, key: str) -> bytes:
    return json.dumps(
        {
            "type": "InvoiceIssued",
            "source": "invoicing",
            "tenant": tenant,
            "data": {
                "invoice_id": key,
                "issue_date": "2026-03-01",
                "net_amount": "1000.00",
                "vat_amount": "250.00",
            },
        }
    ).encode()


def _entry(tenant: str, key: str) -> str:
    return str(external_entry_id(tenant, "invoicing", "InvoiceIssued", key))


@contextlib.asynccontextmanager
async def _served(
    tmp_path: Path, settings: NatsSettings, database: MemoryDatabase
) -> AsyncIterator[Api]:
    """`serve` on NATS as the container wires it: the bus's tenants from the environment."""
    container = memory_container(tmp_path, clock=FixedClock(), database=database)
    container.nats_settings.override(providers.Object(settings))
    async with running_api(tmp_path, container=container) as api:
        yield api


async def _events(database: MemoryDatabase) -> list[Any]:
    async with database.factory() as uow:
        return list(await uow.events.read_all(limit=100_000))


async def _stream(settings: NatsSettings, stream: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """(subject, body, headers) of every message in `stream` (none when it is missing)."""
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    kept: list[tuple[str, bytes, dict[str, str]]] = []
    try:
        info = await js.stream_info(stream)
        held = range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ()
        for seq in held:
            message = await js.get_msg(stream, seq)
            kept.append((message.subject or "", message.data or b"", dict(message.headers or {})))
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()
    return kept


async def _post_entry(api: Api, tenant: str, description: str) -> str:
    posted = await api.client.post(
        f"{API}/journal-entries",
        json={
            "date": "2026-03-01",
            "description": description,
            "lines": [{"account": "6300", "debit": "10"}, {"account": "1920", "credit": "10"}],
        },
        headers=api.headers("anna", "accountant", tenant=tenant),
    )
    assert posted.status_code == 201, posted.text
    return str(posted.json()["entryId"])


def _posted(events: list[Any], tenant: str) -> set[str]:
    return {
        str(e.stream_id) for e in events if e.tenant_id == tenant and e.type == "JournalEntryPosted"
    }


def test_the_setting_names_the_tenants_or_every_tenant() -> None:
    assert load_bus_tenants({}) is None  # unset: every tenant, as before
    assert load_bus_tenants({"BOOKKEEPER_BUS_TENANTS": " , "}) is None
    assert load_bus_tenants({"BOOKKEEPER_BUS_TENANTS": " acme, globex.no ,"}) == frozenset(
        {"acme", "globex.no"}
    )
    assert load_bus_tenants({"BOOKKEEPER_BUS_TENANTS": " * "}) is None  # every tenant
    for refused in ("*,acme", "acme,_bus", "ac*me"):
        with pytest.raises(SettingsError, match="BOOKKEEPER_BUS_TENANTS"):
            load_bus_tenants({"BOOKKEEPER_BUS_TENANTS": refused})


async def test_bound_to_one_tenant_the_bus_books_and_publishes_that_tenants_ledger_only(
    bus: NatsSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BOOKKEEPER_BUS_TENANTS=acme: acme's message is booked, globex's dead-lettered; and
    of the entries booked by hand in both companies, only acme's reach the outbound
    stream. Before, globex's entry and its lines were published beside acme's, for anyone
    reading `<out_prefix>.>` (acme's services) to read."""
    monkeypatch.setenv("BOOKKEEPER_BUS_TENANTS", ACME)
    database = MemoryDatabase()
    async with _served(tmp_path, bus, database) as api:
        by_hand = await _post_entry(api, ACME, "By hand in acme")
        await _post_entry(api, GLOBEX, "By hand in globex")
        await publish(bus, [_invoice(ACME, "B-1"), _invoice(GLOBEX, "B-2")])
        wanted = {by_hand, _entry(ACME, "B-1")}
        entries: set[str] = set()
        health: dict[str, Any] = {}
        for _ in polls():
            out = await _stream(bus, bus.out_stream)
            entries = {json.loads(body)["entry_id"] for _, body, _ in out}
            health = (await api.client.get("/health")).json()
            if entries >= wanted and health["bus"]["publisher"]["behind"] == 0:
                break
            await asyncio.sleep(0.1)
        assert entries == wanted
        assert health["bus"]["publisher"]["behind"] == 0, health
        dead = await _stream(bus, bus.dead_letter_stream)
    assert [json.loads(body)["tenant"] for _, body, _ in dead] == [GLOBEX]
    assert dead[0][2][CODE_HEADER] == "unknown-tenant"
    assert "the bus books for acme, not for tenant 'globex'" in dead[0][2][REASON_HEADER]
    events = await _events(database)
    alerts = [e for e in events if e.tenant_id == UNKNOWN_TENANT]
    assert [a.data.code for a in alerts] == ["unknown-tenant"]  # the operator's, not globex's
    assert _posted(events, ACME) == wanted
    assert len(_posted(events, GLOBEX)) == 1  # booked by hand, kept, not published
    out = await _stream(bus, bus.out_stream)
    assert {subject.split(".")[-2] for subject, _, _ in out} == {ACME}
    assert {json.loads(body)["tenant"] for _, body, _ in out} == {ACME}
    posted = [body for subject, body, _ in out if subject.endswith(".JournalEntryPosted")]
    assert len(posted) == 2  # each entry once (and its lines)


@pytest.mark.parametrize("setting", [None, "*"], ids=["unset", "star"])
async def test_unset_or_star_books_and_publishes_every_tenant_named_as_before(
    bus: NatsSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    setting: str | None,
) -> None:
    """BOOKKEEPER_BUS_TENANTS unset or `*`: the bus of one company, every tenant a message
    names (the unset case warns at start: with a second company it must be set). Before,
    `*` was taken for a tenant's name and every message was dead-lettered."""
    if setting is None:
        monkeypatch.delenv("BOOKKEEPER_BUS_TENANTS", raising=False)
    else:
        monkeypatch.setenv("BOOKKEEPER_BUS_TENANTS", setting)
    database = MemoryDatabase()
    async with _served(tmp_path, bus, database) as api:
        await publish(bus, [_invoice(ACME, "B-1"), _invoice(GLOBEX, "B-2")])
        wanted = {_entry(ACME, "B-1"), _entry(GLOBEX, "B-2")}
        entries: set[str] = set()
        for _ in polls():
            out = await _stream(bus, bus.out_stream)
            entries = {json.loads(body)["entry_id"] for _, body, _ in out}
            if entries >= wanted:
                break
            await asyncio.sleep(0.1)
        assert entries == wanted
        assert (await api.client.get("/health")).json()["bus"]["pending"] == 0
    events = await _events(database)
    assert _posted(events, ACME) | _posted(events, GLOBEX) == wanted
    assert await _stream(bus, bus.dead_letter_stream) == []
    unbound = [r for r in caplog.records if "BOOKKEEPER_BUS_TENANTS is unset" in r.getMessage()]
    assert len(unbound) == (1 if setting is None else 0)
