"""Translators: discovered from the installed example plugin, routed by type, booked once.

Through the in-memory unit of work: the example plugin's translators (installed by the
Makefile's set-up) turn business events into balanced entries with derived ids; what can
never succeed is a named Rejected (the bus dead-letters it); ABAC bounds the bus too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.event_log import external_entry_id
from bookkeeper.application.translation import (
    ENTRY_POINT_GROUP,
    Ingest,
    MalformedMessage,
    NotBookable,
    Translator,
    Translators,
    UnknownExternalType,
    bus_principal,
    discover,
)
from bookkeeper.domain.events import Party

PLUGIN_TYPES = {"InvoiceIssued", "PaymentReceived", "PayrollRunCompleted"}


def message(type_: str, data: dict[str, Any], tenant: str = "acme", **extra: Any) -> bytes:
    source = "payroll" if type_ == "PayrollRunCompleted" else "invoicing"
    envelope = {"type": type_, "source": source, "tenant": tenant, "data": data, **extra}
    return json.dumps(envelope).encode()


def invoice(invoice_id: str = "F-1001", net: str = "1000.00", vat: str = "250.00") -> bytes:
    return message(
        "InvoiceIssued",
        {
            "invoice_id": invoice_id,
            "issue_date": "2026-03-01",
            "net_amount": net,
            "vat_amount": vat,
        },
    )


def test_the_installed_plugin_is_discovered_through_its_entry_points() -> None:
    found = discover(ENTRY_POINT_GROUP)
    assert all(isinstance(t, Translator) for t in found)
    assert Translators(found).types >= PLUGIN_TYPES
    assert discover("book_keeper.no-such-group") == []


async def test_an_invoice_is_receivables_against_revenue_and_output_vat(
    ingest: Ingest, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    posted = await ingest.book(invoice(net="800.00", vat="200.00"), bus_principal())
    assert posted.entry_id == external_entry_id("acme", "invoicing", "InvoiceIssued", "F-1001")
    lines = {(ln.account, ln.debit, ln.credit, ln.vat_code) for ln in posted.entry.lines}
    assert lines == {
        ("1500", Decimal("1000.00"), Decimal("0.00"), None),
        ("3000", Decimal("0.00"), Decimal("800.00"), "3"),
        ("2700", Decimal("0.00"), Decimal("200.00"), "3"),
    }
    assert posted.actor == "system:bus" and posted.entry.source == "invoicing"


async def test_the_same_invoice_twice_is_one_entry(
    ingest: Ingest, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    first = await ingest.book(invoice(), bus_principal())
    again = await ingest.book(invoice(), bus_principal())
    other_tenant = await ingest.book(
        message("InvoiceIssued", json.loads(invoice())["data"], tenant="globex"), bus_principal()
    )
    assert (first.replayed, again.replayed, again.entry_id) == (False, True, first.entry_id)
    assert other_tenant.entry_id != first.entry_id
    async with uow_factory() as uow:
        assert len(await uow.events.read_all(after_position=0, limit=10)) == 2


async def test_payroll_books_salary_tax_contribution_and_net_pay(ingest: Ingest) -> None:
    run = {
        "payroll_run_id": "2026-03",
        "date": "2026-03-25",
        "gross_salary": "50000.00",
        "tax_withheld": "15000.00",
        "net_pay": "35000.00",
        "employer_contribution": "7050.00",
    }
    posted = await ingest.book(message("PayrollRunCompleted", run), bus_principal())
    by_account = {ln.account: ln.debit - ln.credit for ln in posted.entry.lines}
    assert by_account == {
        "5000": Decimal("50000.00"),
        "2600": Decimal("-15000.00"),
        "1920": Decimal("-35000.00"),
        "5400": Decimal("7050.00"),
        "2770": Decimal("-7050.00"),
    }
    unbalanced = message("PayrollRunCompleted", {**run, "payroll_run_id": "x", "net_pay": "1"})
    with pytest.raises(NotBookable, match="debits"):
        await ingest.book(unbalanced, bus_principal())


async def test_a_payment_is_bank_against_receivables(ingest: Ingest) -> None:
    data = {"payment_id": "P-1", "date": "2026-03-15", "amount": "1250"}
    posted = await ingest.book(message("PaymentReceived", data), bus_principal())
    assert {(ln.account, ln.debit, ln.credit) for ln in posted.entry.lines} == {
        ("1920", Decimal("1250.00"), Decimal("0.00")),
        ("1500", Decimal("0.00"), Decimal("1250.00")),
    }


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not json", MalformedMessage),
        (b'{"type": "InvoiceIssued"}', MalformedMessage),
        (message("InvoiceIssued", {"invoice_id": "F-1"}), MalformedMessage),
        (message("InvoiceIssued", {**json.loads(invoice())["data"], "extra": 1}), MalformedMessage),
        (
            message("InvoiceIssued", {**json.loads(invoice())["data"], "net_amount": "-5"}),
            MalformedMessage,
        ),
        (message("OrderShipped", {}), UnknownExternalType),
        (  # a repeated member: which amount was meant? (ADR 0049, round three)
            message("InvoiceIssued", json.loads(invoice())["data"]).replace(
                b'"data": {', b'"data": {"net_amount": "1.00", '
            ),
            MalformedMessage,
        ),
        (invoice()[:-1] + b', "tenant": "globex"}', MalformedMessage),
        (message("InvoiceIssued", json.loads(invoice())["data"], tenant=""), MalformedMessage),
        (
            message("InvoiceIssued", json.loads(invoice())["data"], tenant="ac\tme"),
            MalformedMessage,
        ),
        (message("InvoiceIssued", json.loads(invoice())["data"], tenant="a\x1f"), MalformedMessage),
        (message("InvoiceIssued", json.loads(invoice())["data"], tenant="\x00"), MalformedMessage),
        (
            message("InvoiceIssued", json.loads(invoice())["data"], tenant="x" * 256),
            MalformedMessage,
        ),
    ],
)
async def test_what_can_never_succeed_is_rejected_and_books_nothing(
    ingest: Ingest, uow_factory: MemoryUnitOfWorkFactory, raw: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await ingest.book(raw, bus_principal())
    async with uow_factory() as uow:
        assert await uow.events.read_all(after_position=0, limit=10) == []


async def test_the_bus_is_bounded_by_its_own_approval_limit(ingest: Ingest) -> None:
    with pytest.raises(NotBookable, match="approval limit"):
        await ingest.book(invoice(net="1000.00", vat="250.00"), bus_principal("1000"))
    posted = await ingest.book(invoice("F-2", net="800.00", vat="200.00"), bus_principal("1000"))
    assert posted.entry.description.startswith("Faktura F-2")


async def test_the_receivables_line_names_the_customer(ingest: Ingest) -> None:
    """By its id and organisation number when the event gives them; by a key from its name
    otherwise, the same for the invoice and the payment that name it alike."""
    data = json.loads(invoice())["data"]
    named = {**data, "customer": "Nordlys AS", "customer_id": "K-1"}
    posted = await ingest.book(
        message("InvoiceIssued", {**named, "customer_org_number": "987 654 321"}), bus_principal()
    )
    receivable = next(ln for ln in posted.entry.lines if ln.account == "1500")
    assert receivable.party == Party(
        kind="customer", id="K-1", name="Nordlys AS", org_number="987654321"
    )
    assert all(ln.party is None for ln in posted.entry.lines if ln.account != "1500")
    by_name = await ingest.book(
        message("InvoiceIssued", {**data, "invoice_id": "F-2", "customer": "Fjord  Fisk AS"}),
        bus_principal(),
    )
    paid = await ingest.book(
        message(
            "PaymentReceived",
            {
                "payment_id": "P-2",
                "date": "2026-03-15",
                "amount": "10",
                "customer": "fjord fisk as",
            },
        ),
        bus_principal(),
    )
    invoiced_to = next(ln.party for ln in by_name.entry.lines if ln.account == "1500")
    paid_by = next(ln.party for ln in paid.entry.lines if ln.account == "1500")
    assert invoiced_to is not None and paid_by is not None
    assert invoiced_to.id == paid_by.id and len(invoiced_to.id) <= 35
    assert invoiced_to.name == "Fjord  Fisk AS" and invoiced_to.org_number is None
    anonymous = await ingest.book(invoice("F-3"), bus_principal())
    assert all(ln.party is None for ln in anonymous.entry.lines)


async def test_a_customer_id_longer_than_saft_allows_is_malformed(ingest: Ingest) -> None:
    data = {**json.loads(invoice())["data"], "customer_id": "K" * 36}
    with pytest.raises(MalformedMessage):
        await ingest.book(message("InvoiceIssued", data), bus_principal())


@pytest.mark.parametrize("tenant", ["a b", "globex.no", "bjørn-ås", "x" * 100])
async def test_an_envelope_name_may_hold_anything_printable_up_to_its_length(
    ingest: Ingest, tenant: str
) -> None:
    """Only control characters below U+0020 (and empty or over-long names) are refused;
    a tenant is also printable (no DEL), unpadded, not `*`, a list or `_bus`
    (test_bus_intake)."""
    envelope, _ = ingest.translate(
        message("InvoiceIssued", json.loads(invoice())["data"], tenant=tenant)
    )
    assert envelope.tenant == tenant


@pytest.mark.parametrize(
    "raw",
    [
        # 10^27 EUR at 11.5: its NOK figure has more digits than a Decimal context holds,
        # so rounding it to øre raises decimal.InvalidOperation in the translator.
        message(
            "PaymentReceived",
            {
                "payment_id": "P-BIG",
                "date": "2026-05-01",
                "amount": "1" + "0" * 27,
                "currency": "EUR",
                "exchange_rate": "11.5",
            },
        ),
        # The same overflow while the schema checks the VAT (msgspec's __post_init__).
        invoice("F-BIG", net="1" + "0" * 30, vat="25" + "0" * 28),
    ],
)
async def test_a_figure_no_decimal_holds_is_rejected_not_retried(
    ingest: Ingest, uow_factory: MemoryUnitOfWorkFactory, raw: bytes
) -> None:
    """Translating is a pure function of the message: an arithmetic error there fails
    the same way on every delivery, so it is a Rejected with a reason a person can read
    (dead-lettered at once), never a transient failure redelivered until it runs out."""
    with pytest.raises((MalformedMessage, NotBookable), match="too large"):
        await ingest.book(raw, bus_principal())
    async with uow_factory() as uow:
        assert await uow.events.read_all(after_position=0, limit=10) == []
