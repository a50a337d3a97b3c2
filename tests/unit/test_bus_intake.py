"""BusIntake: what a bus adapter does with a delivery, through the in-memory unit of work."""

from __future__ import annotations

import json

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import UNKNOWN_TENANT, BusIntake, Outcome, tenant_of
from bookkeeper.application.errors import Forbidden, StorageUnavailable
from bookkeeper.application.event_log import dead_letter_alert_id
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.translation import Ingest, Translators, bus_principal, discover
from bookkeeper.application.translation import fingerprint as sha
from tests.unit.conftest import FixedClock, principal
from tests.unit.test_translation import invoice, message


def intake(factory: object) -> BusIntake:
    clock = FixedClock()
    ledger = LedgerService(factory, clock, UuidV7Ids(), RoleAuthorizer())  # type: ignore[arg-type]
    return BusIntake(
        Ingest(Translators(discover()), ledger),
        factory,  # type: ignore[arg-type]
        clock,
        bus_principal(),
        RoleAuthorizer(),
    )


async def test_booked_then_duplicate_then_dead() -> None:
    bus = intake(MemoryUnitOfWorkFactory())
    assert (await bus.receive(invoice())).outcome is Outcome.BOOKED
    assert (await bus.receive(invoice())).outcome is Outcome.DUPLICATE
    dead = await bus.receive(b"{not json")
    assert (dead.outcome, dead.code) == (Outcome.DEAD, "malformed-message")
    unknown = await bus.receive(message("Nonsense", {}))
    assert (unknown.outcome, unknown.code) == (Outcome.DEAD, "unknown-event-type")
    changed = await bus.receive(invoice(net="999.00"))  # same key, other amounts
    assert (changed.outcome, changed.code) == (Outcome.DEAD, "not-bookable")


class Down:
    def __call__(self) -> MemoryUnitOfWork:
        raise StorageUnavailable("down")


async def test_a_database_that_is_down_is_a_retry() -> None:
    delivery = await intake(Down()).receive(invoice())
    assert delivery.outcome is Outcome.RETRY and "down" in delivery.reason


async def test_a_dead_letter_raises_one_alert_per_message() -> None:
    factory = MemoryUnitOfWorkFactory()
    bus = intake(factory)
    raw = message("Nonsense", {}, tenant="globex")
    first = await bus.dead_lettered(raw, "no translator", "unknown-event-type", "DLQ #1")
    again = await bus.dead_lettered(raw, "no translator", "unknown-event-type", "DLQ #2")
    assert first == again == dead_letter_alert_id("globex", sha(raw))
    async with factory() as uow:
        alerts = [e for e in await uow.events.read_all() if e.type == "AlertRaised"]
    assert len(alerts) == 1 and alerts[0].tenant_id == "globex"
    assert alerts[0].data.code == "unknown-event-type"


@pytest.mark.parametrize(
    ("raw", "tenant"),
    [
        (b"\xff\xfe", UNKNOWN_TENANT),
        (b"[1, 2]", UNKNOWN_TENANT),
        (json.dumps({"tenant": ""}).encode(), UNKNOWN_TENANT),
        (json.dumps({"tenant": "a\nb"}).encode(), UNKNOWN_TENANT),
        (json.dumps({"tenant": 7}).encode(), UNKNOWN_TENANT),
        (json.dumps({"tenant": "acme", "data": "?"}).encode(), "acme"),
        # Read as json reads them, though the envelope's check refuses them: the alert
        # goes to the tenant named.
        (b'{"tenant": "acme", "x": NaN}', "acme"),
        (json.dumps({"tenant": "acme"}).encode("utf-16"), "acme"),
        (b'{"tenant": "acme", "tenant": "globex"}', "globex"),
    ],
)
def test_the_tenant_of_a_body_is_read_leniently(raw: bytes, tenant: str) -> None:
    assert tenant_of(raw) == tenant


async def test_submit_is_for_bus_ingest_and_the_callers_tenant_only() -> None:
    bus = intake(MemoryUnitOfWorkFactory())
    with pytest.raises(Forbidden):
        await bus.submit(principal("anna", "accountant"), invoice())
    with pytest.raises(Forbidden):
        await bus.submit(principal("ada", "admin", tenant="globex"), invoice())
    posted = await bus.submit(principal("ada", "admin"), invoice())
    assert posted.actor == "human:ada" and not posted.replayed


@pytest.mark.parametrize("tenant", ["acme ", " acme", "acme,globex", "*", UNKNOWN_TENANT])
async def test_a_message_naming_no_bookable_tenant_is_dead_lettered_not_booked(
    tenant: str,
) -> None:
    """A tenant the alerts could not be filed under (padded, `*`, a list) or the operator's
    own `_bus` is no tenant to book for: `acme ` was booked into books of that name beside
    acme's, and `_bus` into the tenant where dead letters are alerted."""
    factory = MemoryUnitOfWorkFactory()
    bus = intake(factory)
    raw = json.loads(invoice())
    raw["tenant"] = tenant
    delivery = await bus.receive(json.dumps(raw).encode())
    assert (delivery.outcome, delivery.code) == (Outcome.DEAD, "malformed-message")
    assert "tenant" in delivery.reason
    many = await bus.receive_many([json.dumps(raw).encode(), invoice()])
    assert [d.outcome for d in many] == [Outcome.DEAD, Outcome.BOOKED]
    async with factory() as uow:
        posted = [e for e in await uow.events.read_all() if e.type == "JournalEntryPosted"]
    assert [e.tenant_id for e in posted] == ["acme"]


@pytest.mark.parametrize(
    "data",
    [
        {"customer": "Nordlys \u202eSA"},  # reads "Nordlys AS"
        {"customer": "Nordlys AS", "customer_id": "K\u20661\u2069"},
        {"invoice_id": "F-\u202e0001"},  # "Faktura F-\u202e0001" reads "Faktura F-1000"
        {"customer": "Nordlys\x1b[2J AS"},
    ],
)
async def test_a_message_whose_names_steer_or_control_is_dead_lettered(
    data: dict[str, str],
) -> None:
    """Bidi overrides and control characters would make an audit line read otherwise than
    it stores (ADR 0049, round four): never booked, dead-lettered with the reason."""
    fields = json.loads(invoice())["data"] | data
    delivery = await intake(MemoryUnitOfWorkFactory()).receive(message("InvoiceIssued", fields))
    assert (delivery.outcome, delivery.code) == (Outcome.DEAD, "not-bookable")
    assert "bidi" in delivery.reason or "control" in delivery.reason


def foreign_invoice(invoice_id: str, currency: str) -> bytes:
    return message(
        "InvoiceIssued",
        {
            "invoice_id": invoice_id,
            "issue_date": "2026-03-01",
            "net_amount": "100.00",
            "vat_amount": "0.00",
            "currency": currency,
            "exchange_rate": "11.50",
        },
    )


async def test_a_currency_the_currencies_table_does_not_know_is_dead_lettered() -> None:
    """'ABC' has the shape of a currency code (three capitals) and is none: as a proposal
    is refused, a bus message is dead-lettered with the reason, one by one and in a batch."""
    bus = intake(MemoryUnitOfWorkFactory())
    dead = await bus.receive(foreign_invoice("F-1", "ABC"))
    assert (dead.outcome, dead.code) == (Outcome.DEAD, "malformed-message")
    assert "currency 'ABC' is not an ISO 4217 currency" in dead.reason
    assert dead.reason.startswith("InvoiceIssued: ")
    assert (await bus.receive(foreign_invoice("F-2", "EUR"))).outcome is Outcome.BOOKED

    batch = await bus.receive_many(
        [foreign_invoice("F-3", "XYZ"), foreign_invoice("F-4", "SEK"), invoice("F-5")]
    )
    assert [d.outcome for d in batch] == [Outcome.DEAD, Outcome.BOOKED, Outcome.BOOKED]
    assert batch[0].code == "malformed-message" and "'XYZ'" in batch[0].reason


async def test_bound_to_another_tenant_a_message_is_dead_and_the_http_bus_still_books() -> None:
    """BOOKKEEPER_BUS_TENANTS=globex: a delivered message naming acme, alone or in a
    batch, is dead-lettered with a reason that names the setting; the in-process bus, bound
    by its caller's token rather than by the setting, still books for the caller's tenant."""
    factory = MemoryUnitOfWorkFactory()
    bus = intake(factory)
    bus._tenants = frozenset({"globex"})  # load_bus_tenants({"BOOKKEEPER_BUS_TENANTS": "globex"})
    alone = await bus.receive(invoice())
    [in_batch, other] = await bus.receive_many([invoice(), invoice("F-2")])
    for dead in (alone, in_batch, other):
        assert (dead.outcome, dead.code) == (Outcome.DEAD, "unknown-tenant")
        assert dead.reason == "the bus books for globex, not for tenant 'acme'"
    async with factory() as uow:
        assert await uow.events.read_all() == []
    posted = await bus.submit(principal("ada", "admin"), invoice())
    assert posted.actor == "human:ada" and not posted.replayed
