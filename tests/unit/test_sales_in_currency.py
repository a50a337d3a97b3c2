"""A sale invoiced in another currency is booked in NOK at the rate it names, and its
payment's exchange difference is agio or disagio (ADR 0057, addendum 2).

Found by probe3's walk: an InvoiceIssued in EUR could not be sent at all (`currency` was an
unknown field, so the message was dead-lettered), and sent without it its EUR figures
were booked as kroner.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.translation import (
    Ingest,
    MalformedMessage,
    bus_principal,
)
from tests.unit import sales
from tests.unit.conftest import principal
from tests.unit.sales import bus_message, moves

D = Decimal


def sale(net: str, vat: str, **extra: Any) -> bytes:
    return sales.sale("F-9", net, vat, customer="Kunde GmbH", **extra)


def payment(amount: str, **extra: Any) -> bytes:
    data = {"payment_id": "P-9", "date": "2026-03-20", "amount": amount, "invoice_id": "F-9"}
    return bus_message("PaymentReceived", data | {"customer": "Kunde GmbH"} | extra)


async def test_an_export_in_euro_is_booked_in_kroner_at_its_rate(
    ingest: Ingest, ledger: LedgerService
) -> None:
    posted = await ingest.book(
        sale("1000.00", "0.00", currency="EUR", exchange_rate="11.4563"), bus_principal()
    )
    # 1 000 EUR × 11,4563 = 11 456,30 kr; a foreign currency without a country: abroad (52)
    assert moves(posted) == {
        ("1500", D("11456.30"), D("0.00"), None),
        ("3100", D("0.00"), D("11456.30"), "52"),
    }
    assert "EUR 1000.00" in posted.entry.description
    report = await ledger.vat_report(principal("kari", "reviewer"), 2026, 2)
    assert {(line.vat_code, line.base) for line in report.lines} == {("52", D("11456.30"))}


async def test_a_taxed_sale_in_euro_rounds_each_figure_to_ore(ingest: Ingest) -> None:
    posted = await ingest.book(
        sale("333.33", "83.33", currency="EUR", exchange_rate="11.5", customer_country="NO"),
        bus_principal(),
    )
    # 333,33 × 11,5 = 3 833,295 → 3 833,30; 83,33 × 11,5 = 958,295 → 958,30 (half up)
    assert moves(posted) == {
        ("1500", D("4791.60"), D("0.00"), None),
        ("3000", D("0.00"), D("3833.30"), "3"),
        ("2700", D("0.00"), D("958.30"), "3"),
    }


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"currency": "EUR"}, "exchange_rate"),  # booked in NOK or not at all (ADR 0051)
        ({"currency": "NOK", "exchange_rate": "11.2"}, "exchange_rate"),
        ({"currency": "EUR", "exchange_rate": "0"}, "exchange_rate"),
        ({"currency": "EUR", "exchange_rate": "-1"}, "exchange_rate"),
        ({"currency": "euro", "exchange_rate": "11"}, "currency"),
    ],
)
async def test_a_sale_in_another_currency_needs_its_rate(
    ingest: Ingest, extra: dict[str, str], says: str
) -> None:
    with pytest.raises(MalformedMessage, match=says):
        await ingest.book(sale("1000.00", "0.00", **extra), bus_principal())


@pytest.mark.parametrize(
    ("rate", "difference"),
    [
        ("11.6000", ("8060", D("0.00"), D("143.70"))),  # the euro rose: agio, a gain
        ("11.3000", ("8160", D("156.30"), D("0.00"))),  # the euro fell: disagio, a loss
    ],
)
async def test_a_payment_in_euro_settles_the_receivable_at_its_booked_kroner(
    ingest: Ingest, rate: str, difference: tuple[str, Decimal, Decimal]
) -> None:
    await ingest.book(
        sale("1000.00", "0.00", currency="EUR", exchange_rate="11.4563"), bus_principal()
    )
    posted = await ingest.book(
        payment("1000.00", currency="EUR", exchange_rate=rate, settled_nok_amount="11456.30"),
        bus_principal(),
    )
    received = (D("1000.00") * D(rate)).quantize(D("0.01"))
    assert moves(posted) == {
        ("1920", received, D("0.00"), None),
        ("1500", D("0.00"), D("11456.30"), None),
        (*difference, None),
    }


async def test_a_payment_in_euro_without_the_settled_kroner_credits_what_came_in(
    ingest: Ingest,
) -> None:
    posted = await ingest.book(
        payment("500.00", currency="EUR", exchange_rate="11.5"), bus_principal()
    )
    assert moves(posted) == {
        ("1920", D("5750.00"), D("0.00"), None),
        ("1500", D("0.00"), D("5750.00"), None),
    }


async def test_a_payment_in_kroner_has_no_exchange_difference(ingest: Ingest) -> None:
    with pytest.raises(MalformedMessage, match="settled_nok_amount"):
        await ingest.book(payment("500.00", settled_nok_amount="400.00"), bus_principal())
