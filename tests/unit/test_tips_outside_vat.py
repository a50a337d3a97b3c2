"""A tip on a receipt is outside the VAT base (ADR 0052, addendum): the VAT is reckoned on
the bill without it and the tip is a 0 % part on the same cost account. Pant (bottle
deposit) is no tip: it stays in its drink's base."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

from bookkeeper.adapters.extraction.offline import extract_text_fields
from bookkeeper.application.ports import ExtractedLine
from bookkeeper.domain.events import LineItem, ReceiptAttachmentData
from bookkeeper.domain.ledger import posting_for
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxTable
from tests.unit.test_services_used_abroad import _extraction, _proposed

TIP_WARNING = "a tip of 50,00 kr is in the total (no VAT on it)"


def _restaurant(**fields: Any) -> Any:
    base: dict[str, Any] = {
        "merchant_name": "Restaurant Fjord",
        "organization_number": "974760673",
        "currency": "NOK",
        "gross": D("550.00"),
        "vat_rate": D("25"),
        "vat_amount": None,
        "tip": D("50.00"),
    }
    base.update(fields)
    return _extraction(**base)


def _parts(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["vatRate"], item["amount"]) for item in data.get("lineItems", [])]


async def test_the_vat_is_reckoned_on_the_bill_without_the_tip() -> None:
    proposed = await _proposed(_restaurant())
    data = proposed["data"]
    assert _parts(data) == [("25", "500.00"), ("0", "50.00")]
    assert data["vatAmount"] == "100.00"  # 25 % of 500, not of 550 (110.00)
    assert data["amount"] == "550.00"
    assert all(item.get("accountCode") is None for item in data["lineItems"])  # the same cost
    assert TIP_WARNING in proposed["warnings"]


async def test_a_breakdown_without_the_tip_gets_the_tip_as_its_own_part() -> None:
    lines = (
        ExtractedLine(description="MVA 25 %", gross=D("300.00"), vat_rate=D("25")),
        ExtractedLine(description="MVA 15 %", gross=D("200.00"), vat_rate=D("15")),
    )
    proposed = await _proposed(_restaurant(lines=lines))
    data = proposed["data"]
    assert _parts(data) == [("25", "300.00"), ("15", "200.00"), ("0", "50.00")]
    assert data["vatAmount"] == "86.09"  # 60.00 + 26.09


async def test_a_breakdown_that_holds_the_tip_already_is_not_counted_twice() -> None:
    lines = (
        ExtractedLine(description="MVA 25 %", gross=D("500.00"), vat_rate=D("25")),
        ExtractedLine(description="Tips", gross=D("50.00"), vat_rate=D("0")),
    )
    proposed = await _proposed(_restaurant(lines=lines, vat_amount=D("100.00")))
    assert _parts(proposed["data"]) == [("25", "500.00"), ("0", "50.00")]
    assert proposed["data"]["vatAmount"] == "100.00"


async def test_a_tip_stays_outside_an_assumed_rate_too() -> None:
    """No rate read ("inkl. mva"): the bill at the rate assumed, the tip still at 0 %."""
    proposed = await _proposed(_restaurant(vat_rate=None))
    assert _parts(proposed["data"]) == [("25", "500.00"), ("0", "50.00")]
    assert proposed["data"]["vatAmount"] == "100.00"
    assert "no VAT rate read; 25 % assumed" in proposed["warnings"]


async def test_without_a_tip_nothing_changes() -> None:
    proposed = await _proposed(_restaurant(tip=None, gross=D("500.00")))
    assert "lineItems" not in proposed["data"]
    assert proposed["data"]["vatRate"] == "25"


def test_the_offline_reader_reads_the_tip_even_when_no_vat_amount_is_printed() -> None:
    text = (
        "Restaurant Fjord AS\nOrg.nr 974 760 673 MVA\nDato 20.11.2026\n"
        "Fiskesuppe 500,00\nTips 50,00\nTotalt 550,00\nAlle priser inkl. 25 % mva\n"
    )
    read = extract_text_fields(text)
    assert read.tip == D("50.00")
    assert read.gross == D("550.00")


def test_pant_is_no_tip() -> None:
    text = (
        "KIWI 505 Majorstuen\nOrg.nr 974 760 673 MVA\nDato 20.11.2026\n"
        "Cola 1,5l 32,90\nPant 3,00\nTotalt 35,90\nMVA 15 % 4,68\n"
    )
    assert extract_text_fields(text).tip is None


def test_the_tip_is_booked_on_the_cost_without_vat() -> None:
    data = ReceiptAttachmentData(
        merchant_name="Restaurant Fjord",
        amount=D("550.00"),
        date=dt.date(2026, 11, 20),
        vat_rate=D("25"),
        vat_amount=D("100.00"),
        account_code="5990",
        folio_event_id="evt-1",
        line_items=(
            LineItem(description="25 % mva", amount=D("500.00"), vat_rate=D("25")),
            LineItem(description="0 % mva", amount=D("50.00"), vat_rate=D("0")),
        ),
    )
    entry = posting_for(data, proposal_id="p1", rates=TaxTable(NORWAY_TAX_RATES))
    assert entry is not None
    debits = {(ln.account, ln.vat_code): ln.debit for ln in entry.lines if ln.debit}
    assert sum(v for (a, _), v in debits.items() if a.startswith("27")) == D("100.00")
    assert sum(v for (a, _), v in debits.items() if a == "5990") == D("450.00")
