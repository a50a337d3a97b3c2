"""A NATS publisher bound to its tenant (BOOKKEEPER_NATS_TENANT_SUBJECTS, ADR 0013 addendum).

On the HTTP bus a service principal posts for its own tenant only (403 otherwise). On NATS
there is no principal: whoever may publish on the inbound subjects could book for any
tenant the envelope names. With tenant subjects on, the inbound subject names the tenant
(`<prefix>.<tenant>.…`) and a message whose envelope names another tenant is dead-lettered
unbooked (`tenant-mismatch`), its alert in the operator's `_bus`, not in either tenant — so
a NATS account allowed to publish on `<prefix>.globex.>` only cannot book for acme.
Against the real nats-server, like test_nats_bus.py.
"""

from __future__ import annotations

import dataclasses
import json

import nats
import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.nats.config import NatsSettings, load_nats_settings, subject_token
from bookkeeper.adapters.nats.consumer import CODE_HEADER, TENANT_MISMATCH, NatsConsumer
from bookkeeper.application.bus import UNKNOWN_TENANT
from bookkeeper.application.event_log import dead_letter_alert_id, external_entry_id
from bookkeeper.application.translation import fingerprint
from bookkeeper.settings import SettingsError
from tests.integration.test_nats_bus import (  # noqa: F401 - fixtures
    TENANT,
    _pending_is,
    bus,
    drain,
    intake_on,
    invoice,
    nats_url,
)

OTHER = "globex"


async def _publish(settings: NatsSettings, subject: str, body: bytes) -> None:
    nc = await nats.connect(settings.url)
    await nc.jetstream().publish(
        f"{settings.subject_prefix}.{subject}", body, stream=settings.stream
    )
    await nc.close()


def _for(tenant: str, invoice_id: str) -> bytes:
    body = json.loads(invoice(invoice_id))
    body["tenant"] = tenant
    return json.dumps(body).encode()


async def _booked(factory: MemoryUnitOfWorkFactory) -> dict[str, list[object]]:
    async with factory() as uow:
        events = await uow.events.read_all(limit=100_000)
    found: dict[str, list[object]] = {}
    for event in events:
        if event.type == "JournalEntryPosted":
            found.setdefault(event.tenant_id, []).append(event.stream_id)
    return found


async def test_a_message_for_another_tenant_than_its_subject_is_dead_lettered_unbooked(
    bus: NatsSettings,  # noqa: F811
) -> None:
    settings = dataclasses.replace(bus, tenant_subjects=True)
    factory = MemoryUnitOfWorkFactory()
    consumer = NatsConsumer(intake_on(factory), settings)
    await consumer.connect()
    forged = _for(TENANT, "F-FORGED")  # names acme, published on globex's subject
    try:
        await _publish(settings, f"{OTHER}.invoicing.InvoiceIssued", forged)
        await _publish(settings, f"{TENANT}.invoicing.InvoiceIssued", _for(TENANT, "F-OWN"))
        await _publish(settings, f"{OTHER}.invoicing.InvoiceIssued", _for(OTHER, "G-OWN"))
        # No tenant token at all: nobody's.
        await _publish(settings, "InvoiceIssued", _for(TENANT, "F-NO-TENANT"))
        await drain(consumer, until=lambda: _pending_is(consumer, 0))
        booked = await _booked(factory)
        assert booked == {
            TENANT: [external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-OWN")],
            OTHER: [external_entry_id(OTHER, "invoicing", "InvoiceIssued", "G-OWN")],
        }
        nc = await nats.connect(settings.url)
        kept = await nc.jetstream().get_msg(settings.dead_letter_stream, seq=1)
        await nc.close()
        assert kept.data == forged
        assert kept.headers is not None and kept.headers[CODE_HEADER] == TENANT_MISMATCH
        async with factory() as uow:
            alert = await uow.events.get(
                UNKNOWN_TENANT, dead_letter_alert_id(UNKNOWN_TENANT, fingerprint(forged))
            )
            in_acme = await uow.events.get(
                TENANT, dead_letter_alert_id(TENANT, fingerprint(forged))
            )
        assert alert is not None and alert.data.code == TENANT_MISMATCH
        assert in_acme is None, "the forged message wrote into the tenant it named"
    finally:
        await consumer.close()


async def test_without_tenant_subjects_the_envelope_names_the_tenant_as_before(
    bus: NatsSettings,  # noqa: F811
) -> None:
    factory = MemoryUnitOfWorkFactory()
    consumer = NatsConsumer(intake_on(factory), bus)
    await consumer.connect()
    try:
        await _publish(bus, "invoicing.InvoiceIssued", _for(TENANT, "F-1"))
        await drain(consumer, until=lambda: _pending_is(consumer, 0))
        assert await _booked(factory) == {
            TENANT: [external_entry_id(TENANT, "invoicing", "InvoiceIssued", "F-1")]
        }
    finally:
        await consumer.close()


def test_the_setting_reads_on_and_off_and_refuses_anything_else() -> None:
    base = {"BOOKKEEPER_NATS_URL": "nats://127.0.0.1:4222"}
    default = load_nats_settings(base)
    assert default is not None and default.tenant_subjects is False
    on = load_nats_settings({**base, "BOOKKEEPER_NATS_TENANT_SUBJECTS": "on"})
    assert on is not None and on.tenant_subjects is True
    assert on.accounts().tenant_subjects is True  # the Accounts Master's subjects too
    off = load_nats_settings({**base, "BOOKKEEPER_NATS_TENANT_SUBJECTS": "off"})
    assert off is not None and off.tenant_subjects is False
    with pytest.raises(SettingsError):
        load_nats_settings({**base, "BOOKKEEPER_NATS_TENANT_SUBJECTS": "acme"})


def test_the_subject_names_its_tenant_in_the_first_token_after_the_prefix() -> None:
    settings = NatsSettings(url="nats://x", subject_prefix="bookkeeper.in")
    assert settings.subject_tenant("bookkeeper.in.acme.invoicing.InvoiceIssued") == "acme"
    assert settings.subject_tenant("bookkeeper.in.acme.InvoiceIssued") == "acme"
    assert settings.subject_tenant("bookkeeper.in.InvoiceIssued") is None
    assert settings.subject_tenant("bookkeeper.inx.acme.a") is None
    assert settings.subject_tenant("other.acme.a") is None


async def test_a_tenant_name_that_is_no_plain_token_is_bound_by_its_token(
    bus: NatsSettings,  # noqa: F811
) -> None:
    """`globex.no` publishes on `<prefix>.globex_no~<hash>.…` (the published ledger's token
    of it); on `<prefix>.globex_no.…` — another tenant's subjects — it is not booked."""
    settings = dataclasses.replace(bus, tenant_subjects=True)
    factory = MemoryUnitOfWorkFactory()
    consumer = NatsConsumer(intake_on(factory), settings)
    await consumer.connect()
    dotted = "globex.no"
    try:
        await _publish(settings, f"{subject_token(dotted)}.invoicing.X", _for(dotted, "D-1"))
        await _publish(settings, "globex_no.invoicing.X", _for(dotted, "D-2"))
        await drain(consumer, until=lambda: _pending_is(consumer, 0))
        assert await _booked(factory) == {
            dotted: [external_entry_id(dotted, "invoicing", "InvoiceIssued", "D-1")]
        }
    finally:
        await consumer.close()
