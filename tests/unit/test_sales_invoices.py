"""Sales invoices over the bus (the example plugin's InvoiceIssued) are booked at their own
VAT rate, a zero-rated or export sale under its own code, a credit note turned round.

Found by probe3's walk: every InvoiceIssued was booked under SAF-T code 3 (25 %) whatever
its VAT — a 15 % food sale, a 12 % ticket and a 0 % export sale all landed on code 3, so the
VAT report showed a 25 % base whose VAT was not 25 % of it — and a sales credit note could
not be sent at all (negative amounts were refused, and there was no other way to say it).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.memory_saft import MemoryAuditReads
from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.saft import CompanySettings, SaftExport
from bookkeeper.application.translation import (
    Ingest,
    MalformedMessage,
    bus_principal,
)
from tests.saft_checks import NS, validate
from tests.unit.conftest import FixedClock, principal
from tests.unit.sales import moves, sale

D = Decimal


async def vat_lines(ledger: LedgerService) -> dict[str, tuple[Decimal, Decimal]]:
    report = await ledger.vat_report(principal("kari", "reviewer"), 2026, 2)
    return {line.vat_code: (line.base, line.vat) for line in report.lines}


@pytest.mark.parametrize(
    ("net", "vat", "extra", "revenue", "code"),
    [
        ("1000.00", "250.00", {}, "3000", "3"),
        ("1000.00", "150.00", {}, "3000", "31"),  # food and drink
        ("1000.00", "120.00", {}, "3000", "33"),  # passenger transport, hotel rooms
        ("999.99", "150.01", {}, "3000", "31"),  # per-line rounding, within one krone
        # many lines' rounding: 3 kr off on a million, within 0.1 % of the net
        ("1000000.00", "250003.00", {"vat_rate": "25"}, "3000", "3"),
        ("1000.00", "150.00", {"vat_rate": "15"}, "3000", "31"),
        ("5000.00", "0.00", {"customer_country": "DE"}, "3100", "52"),  # export
        ("5000.00", "0.00", {"vat_code": "52"}, "3100", "52"),
        ("5000.00", "0.00", {}, "3100", "5"),  # zero-rated at home
        ("5000.00", "0.00", {"vat_code": "6"}, "3200", "6"),  # outside the VAT Act
    ],
)
async def test_a_sale_is_booked_under_the_code_of_its_own_rate(
    ingest: Ingest,
    ledger: LedgerService,
    net: str,
    vat: str,
    extra: dict[str, str],
    revenue: str,
    code: str,
) -> None:
    posted = await ingest.book(sale("F-1", net, vat, **extra), bus_principal())
    gross = D(net) + D(vat)
    expected = {("1500", gross, D("0.00"), None), (revenue, D("0.00"), D(net), code)}
    if D(vat):
        expected.add(("2700", D("0.00"), D(vat), code))
    assert moves(posted) == expected
    assert (await vat_lines(ledger))[code] == (D(net), D(vat))


@pytest.mark.parametrize(
    ("net", "vat", "extra", "says"),
    [
        ("1000.00", "200.00", {}, "no Norwegian VAT rate"),  # 20 %: not ours
        ("0.00", "100.00", {}, r"net_amount 0\.00 is no Norwegian VAT rate"),
        ("1000.00", "150.00", {"vat_rate": "25"}, "25 %"),
        ("1000.00", "150.00", {"vat_code": "3"}, "code 3"),
        ("1000.00", "250.00", {"vat_code": "1"}, "not a code of sales"),  # an input code
        ("1000.00", "250.00", {"vat_rate": "25", "vat_code": "31"}, "code 31"),
        ("1000.00", "0.00", {"vat_rate": "25"}, "25 %"),
        # A zero-rated, exported or untaxed sale has no VAT at all: no line of it rounds
        # to an øre of VAT, so the one-krone tolerance of a taxed rate is not its.
        ("5000.00", "0.50", {"vat_code": "6"}, "0 % of net_amount"),
        ("5000.00", "1.00", {"vat_code": "5"}, "0 % of net_amount"),
        ("5000.00", "0.99", {"vat_code": "52"}, "0 % of net_amount"),
        ("5000.00", "0.01", {"customer_country": "DE", "vat_rate": "0"}, "0 % of net_amount"),
        # VAT on nothing: no rate gives it, whatever the tolerance.
        ("0.00", "0.99", {}, "no rate gives VAT on nothing"),
        ("-0.00", "-0.50", {}, "no rate gives VAT on nothing"),
    ],
)
async def test_a_sale_whose_vat_fits_no_rate_it_names_is_refused_and_books_nothing(
    ingest: Ingest,
    uow_factory: MemoryUnitOfWorkFactory,
    net: str,
    vat: str,
    extra: dict[str, str],
    says: str,
) -> None:
    with pytest.raises(MalformedMessage, match=says):
        await ingest.book(sale("F-1", net, vat, **extra), bus_principal())
    async with uow_factory() as uow:
        assert await uow.events.read_all(after_position=0, limit=10) == []


@pytest.mark.parametrize(
    ("net", "vat", "extra"),
    [
        ("400.00", "100.00", {"credit_note": True}),
        ("-400.00", "-100.00", {}),  # the minus signs say it
        ("-400.00", "-100.00", {"credit_note": True}),
    ],
)
async def test_a_sales_credit_note_is_booked_turned_round(
    ingest: Ingest, ledger: LedgerService, net: str, vat: str, extra: dict[str, Any]
) -> None:
    await ingest.book(sale("F-1", "1000.00", "250.00"), bus_principal())
    credit = sale("K-1", net, vat, credited_invoice_id="F-1", **extra)
    posted = await ingest.book(credit, bus_principal())
    assert moves(posted) == {
        ("3000", D("400.00"), D("0.00"), "3"),
        ("2700", D("100.00"), D("0.00"), "3"),
        ("1500", D("0.00"), D("500.00"), None),
    }
    receivable = next(ln for ln in posted.entry.lines if ln.account == "1500")
    assert receivable.party is not None and receivable.party.name == "Kunde AS"
    assert posted.entry.description == "Kreditnota K-1 for faktura F-1 Kunde AS"
    assert (await vat_lines(ledger))["3"] == (D("600.00"), D("150.00"))


async def test_a_credit_note_at_15_percent_takes_back_its_own_code(
    ingest: Ingest, ledger: LedgerService
) -> None:
    await ingest.book(sale("F-1", "1000.00", "150.00"), bus_principal())
    await ingest.book(sale("K-1", "-200.00", "-30.00"), bus_principal())
    assert (await vat_lines(ledger)) == {"31": (D("800.00"), D("120.00"))}


@pytest.mark.parametrize(("net", "vat"), [("-400.00", "100.00"), ("400.00", "-100.00")])
async def test_amounts_of_both_signs_are_malformed(ingest: Ingest, net: str, vat: str) -> None:
    with pytest.raises(MalformedMessage, match="same sign"):
        await ingest.book(sale("K-1", net, vat), bus_principal())


@pytest.mark.parametrize(
    ("extra", "code"),
    [({"vat_rate": "0", "customer_country": "SE"}, "52"), ({"vat_rate": "0.00"}, "5")],
)
async def test_a_sale_at_a_stated_zero_rate_is_zero_rated_or_exported(
    ingest: Ingest, extra: dict[str, str], code: str
) -> None:
    posted = await ingest.book(sale("F-1", "700.00", "0.00", **extra), bus_principal())
    assert moves(posted) == {
        ("1500", D("700.00"), D("0.00"), None),
        ("3100", D("0.00"), D("700.00"), code),
    }


async def test_a_stated_zero_rate_with_vat_is_malformed(ingest: Ingest) -> None:
    with pytest.raises(MalformedMessage, match="0 %"):
        await ingest.book(sale("F-1", "700.00", "175.00", vat_rate="0"), bus_principal())


async def test_the_saft_file_carries_each_sales_code_with_its_lines(
    ingest: Ingest, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    await ingest.book(sale("F-1", "1000.00", "150.00"), bus_principal())
    await ingest.book(sale("F-2", "1000.00", "120.00"), bus_principal())
    await ingest.book(sale("F-3", "5000.00", "0.00", customer_country="DE"), bus_principal())
    await ingest.book(sale("K-1", "-200.00", "-30.00", credited_invoice_id="F-1"), bus_principal())
    export = SaftExport(
        MemoryAuditReads(uow_factory.db),
        RoleAuthorizer(),
        FixedClock(),
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Acme AS", orgnr="923609016", contact="Anna"),
        books_source=None,
    )
    file = await export.export(
        principal("anna", "accountant"), dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    )
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    table = {
        el.findtext("s:StandardTaxCode", namespaces=NS)
        for el in root.iterfind(".//s:TaxCodeDetails", NS)
    }
    assert {"31", "33", "52"} <= table
    taxed = {
        (
            line.findtext("s:AccountID", namespaces=NS),
            line.findtext("s:TaxInformation/s:TaxCode", namespaces=NS),
        )
        for line in root.iterfind(".//s:Line", NS)
    }
    # the tax lines (2700) are carried as the bases' TaxAmount, not lines of their own
    assert {("3000", "31"), ("3000", "33"), ("3100", "52")} <= taxed


async def test_a_long_customer_name_is_cut_in_the_description_not_refused(
    ingest: Ingest,
) -> None:
    name = ("Norsk Forening for Bærekraftig Kystkultur, Fiskerinæring og Reiseliv " * 3)[:190]
    raw = sale("F-2026-000123", "100.00", "25.00", customer=name.strip())
    posted = await ingest.book(raw, bus_principal())  # the schema allows 200 characters
    assert len(posted.entry.description) <= 200
    assert posted.entry.description.startswith("Faktura F-2026-000123 Norsk Forening")
    receivable = next(ln for ln in posted.entry.lines if ln.account == "1500")
    assert receivable.party is not None and receivable.party.name == name.strip()
