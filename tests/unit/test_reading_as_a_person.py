"""Documents written the way Norwegian suppliers and shops abroad print them, read as a
person reads them (an outside reading probe, ADR 0033): each test is a rule a person uses,
on a PDF with a text layer built here (tests.unseen_documents.pdf)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fpdf import FPDF

from bookkeeper.adapters.extraction.offline import OfflineExtractor, extract_text_fields
from bookkeeper.application.ports import Extraction
from tests.documents import bank_account, dotted_account, org_number
from tests.unit.external_doubles import TENANT, Harness, agent
from tests.unit.pipeline_doubles import pipeline_without_bank
from tests.unseen_documents import DEJAVU, Row, pdf, spaced

READER = OfflineExtractor(use_ocr=False)
SELLER = org_number("91234568")
BUYER = org_number("92000011")
ACCOUNT = bank_account("1503224489")


def _read(rows: list[Row]) -> Extraction:
    return READER.extract_sync(pdf(rows), "application/pdf", None)


def _invoice_to_a_buyer(*, seller_in_footer: bool) -> list[Row]:
    rows: list[Row] = [
        "Faktura til:",
        "Bakeriet Lille AS",
        f"Org.nr. {BUYER}",
        "Storgata 9, 0155 Oslo",
        ("Faktura nr 7781", "Dato 07.12.2026"),
        ("Renhold desember", "2 000,00"),
        ("Mva 25 %", "500,00"),
        ("Å betale", "2 500,00"),
        ("Forfall 21.12.2026", f"Konto {ACCOUNT}"),
    ]
    if seller_in_footer:
        rows.append(f"Rent & Pent AS · Sandakerveien 10, 0477 Oslo · Org.nr. {spaced(SELLER)} MVA")
    return rows


def test_the_buyers_block_is_not_the_seller() -> None:
    """ "Faktura til: / Bakeriet Lille AS / Org.nr. …" at the top names the buyer (the
    company booking it); the seller is in the footer. Read as the seller, the invoice went
    to the wrong supplier (the buyer's own number) at full confidence."""
    result = _read(_invoice_to_a_buyer(seller_in_footer=True))
    assert result.organization_number == SELLER
    assert result.merchant_name == "Rent & Pent AS"
    assert result.gross == Decimal("2500.00")


def test_a_buyers_number_alone_is_no_sellers_number() -> None:
    result = _read(_invoice_to_a_buyer(seller_in_footer=False))
    assert result.organization_number is None
    assert "no organisation number" in result.warnings


def test_a_seller_beside_the_buyers_block_keeps_its_number() -> None:
    """Two columns: the buyer's block on the left, the seller's number on the right of the
    same lines."""
    result = _read([
        ("Kunde:", "Rent & Pent AS"),
        ("Bakeriet Lille AS", f"Org.nr. {spaced(SELLER)} MVA"),
        ("Storgata 9, 0155 Oslo", "Faktura 7781"),
        ("Dato 07.12.2026", ""),
        ("Å betale", "2 500,00"),
        ("Herav mva 25 %", "500,00"),
    ])  # fmt: skip
    assert result.organization_number == SELLER


def _german_receipt() -> list[Row]:
    return [
        "Brauhaus am Markt GmbH",
        "Marktplatz 3, 80331 München",
        "Rechnung Nr. 4471",
        "Datum: 07.12.2026",
        ("2x Weißbier", "11,00"),
        ("Schweinebraten", "18,90"),
        ("Summe EUR", "29,90"),
        ("MwSt 19 %", "4,77"),
        ("Netto", "25,13"),
    ]


def test_a_german_receipts_total_and_vat_are_read() -> None:
    """ "Summe" is the total and "MwSt 19 %" its VAT: not a receipt without VAT."""
    result = _read(_german_receipt())
    assert (result.gross, result.vat_amount, result.vat_rate) == (
        Decimal("29.90"),
        Decimal("4.77"),
        Decimal("19"),
    )
    assert result.currency == "EUR"
    assert result.date == dt.date(2026, 12, 7)
    assert not any("no VAT stated" in w for w in result.warnings)
    assert not any("only amount" in w for w in result.warnings)


async def test_a_meal_abroad_with_its_vat_is_not_booked_as_reverse_charge() -> None:
    """Read as "no VAT stated", a restaurant bill from Germany was proposed as a service
    bought from abroad with reverse charge (25 % output and input VAT); foreign VAT is
    simply no Norwegian input VAT: booked gross at 0 %."""
    h = Harness()
    pipeline = pipeline_without_bank(h, READER)
    result = await pipeline.process(agent(), pdf(_german_receipt()), "application/pdf", "b.pdf")
    async with h.uow_factory() as uow:
        view = await uow.proposals.get(TENANT, result.proposal.id)
    assert view is not None
    assert not view.data.get("reverseCharge")
    assert not any("reverse charge (SAF-T 86)" in w for w in result.warnings)
    assert view.data["vatRate"] == "0"


def test_a_total_and_its_vat_on_one_line() -> None:
    """ "Totalt kr 598,00 herav mva 25% kr 119,60": a small till prints both on one line.
    The VAT word made the whole line a VAT line, and the total was not read at all."""
    result = _read([
        "Peppes Pizza Aker Brygge",
        f"Peppes AS NO{SELLER}MVA",
        "Dato 07.12.26",
        ("2 Pizza Large", "598,00"),
        "Totalt kr 598,00 herav mva 25% kr 119,60",
    ])  # fmt: skip
    assert (result.gross, result.vat_amount, result.vat_rate) == (
        Decimal("598.00"),
        Decimal("119.60"),
        Decimal("25"),
    )
    assert "no total amount" not in result.warnings
    two_rates = _read([
        "Fjordhotellet AS",
        f"Org.nr. {spaced(SELLER)} MVA",
        "07.12.2026",
        "Totalt 2 365,00 (inkl. mva 12 % 240,00, mva 25 % 25,00)",
    ])  # fmt: skip
    assert (two_rates.gross, two_rates.vat_amount) == (Decimal("2365.00"), Decimal("265.00"))
    assert {line.vat_rate for line in two_rates.lines} == {Decimal("12"), Decimal("25")}


def test_a_total_heading_over_its_sums() -> None:
    """A shop prints "TOTALT  MVA  NETTO" over "548,00  109,60  438,40". The VAT word made
    the heading a VAT table's, whose rows name their rate, so nothing under it was read:
    no total, 0,01 standing in. A row of sums without a rate under a heading that names
    the total is one value per label."""
    result = _read([
        "Elkjøp Norge AS",
        f"NO {spaced(SELLER)} MVA",
        "Kvittering 100-2231",
        "7. desember 2026",
        ("USB-C kabel", "199,00"),
        ("Mus trådløs", "349,00"),
        ("TOTALT", "MVA", "NETTO"),
        ("548,00", "109,60", "438,40"),
    ])  # fmt: skip
    assert (result.gross, result.vat_amount, result.net) == (
        Decimal("548.00"),
        Decimal("109.60"),
        Decimal("438.40"),
    )


def test_a_vat_tables_rows_under_a_sum_heading_stay_a_table() -> None:
    result = _read([
        "Kiwi Majorstuen",
        f"Kiwi Norge AS Org.nr: {SELLER} MVA",
        "07.12.2026",
        ("TOTALT", "300,00"),
        ("MVA-sats  Grunnlag", "MVA", "Brutto"),
        ("25 %  80,00", "20,00", "100,00"),
        ("15 %  130,43", "19,57", "150,00"),
        ("0 %  50,00", "0,00", "50,00"),
    ])  # fmt: skip
    assert result.gross == Decimal("300.00")
    assert result.vat_amount == Decimal("39.57")
    assert {line.vat_rate for line in result.lines} == {Decimal("0"), Decimal("15"), Decimal("25")}


def test_a_credit_notes_title_carries_its_number() -> None:
    """ "KREDITNOTA 5003" is the credit note's number as "Faktura 10023" is an invoice's;
    "Kreditering av faktura 4471" is the invoice it credits, not its own number."""
    result = _read([
        "Kontorland AS",
        f"Org nr: {SELLER} MVA",
        "KREDITNOTA 5003",
        "Dato: 07.12.2026",
        "Kreditering av faktura 4471",
        ("Retur skrivebordsstol", "987,60"),
        ("Mva 25 %", "246,90"),
        ("Å kreditere", "1 234,50"),
    ])  # fmt: skip
    assert result.credit_note
    assert (result.document_number, result.credited_invoice) == ("5003", "4471")


def test_a_foreign_sellers_own_rate_is_no_doubt_about_the_reading() -> None:
    """MwSt 19 % is Germany's rate, not a misreading: counted as a doubt, the reading that
    found it scored below one that missed the VAT line (0.58 against 0.68), and a photo
    kept the worse of its two OCR passes ("no VAT stated": a meal booked as reverse
    charge). On a Norwegian document a rate that is not Norway's stays a doubt."""
    text = "\n".join(r if isinstance(r, str) else "\t".join(r) for r in _german_receipt())
    with_vat = extract_text_fields(text)
    without = extract_text_fields("\n".join(ln for ln in text.split("\n") if "MwSt" not in ln))
    assert with_vat.vat_amount == Decimal("4.77")
    assert with_vat.confidence >= without.confidence
    norwegian = extract_text_fields(
        f"Kafe AS\nOrg.nr {SELLER} MVA\n07.12.2026\nTotalt\t119,00\nMva 19 %\t19,00"
    )
    assert (
        norwegian.confidence
        < extract_text_fields(
            f"Kafe AS\nOrg.nr {SELLER} MVA\n07.12.2026\nTotalt\t125,00\nMva 25 %\t25,00"
        ).confidence
    )


def _giro_invoice() -> bytes:
    """An invoice whose only amount to pay is in its giro: "Kundeidentifikasjon (KID) |
    Kroner | Øre | Til konto" over their values, each in its own box."""
    doc = FPDF(unit="mm", format="A4")
    doc.add_page()
    doc.add_font("DejaVu", "", str(DEJAVU))
    doc.set_font("DejaVu", "", 10)
    rows: list[list[tuple[float, str]]] = [
        [(15, "Lillestrøm Regnskap AS")],
        [(15, f"Org.nr {SELLER} MVA")],
        [(15, "FAKTURA 5522")],
        [(15, "Fakturadato 01.12.2026")],
        [(15, "Regnskapsføring november, inkl. mva 1 000,00")],
        [(15, "Betalingsfrist"), (80, "15.12.2026")],
        [(15, "Kundeidentifikasjon (KID)"), (90, "Kroner"), (120, "Øre"), (150, "Til konto")],
        [(15, "2026120700013"), (90, "5 000"), (120, "00"), (150, dotted_account(ACCOUNT))],
    ]
    for number, row in enumerate(rows):
        for x, text in row:
            doc.set_xy(x, 15 + 6 * number)
            doc.cell(55, 5, text)
    return bytes(doc.output())


def test_a_giros_kroner_and_ore_boxes_are_the_amount_to_pay() -> None:
    """A Norwegian giro prints the amount in two boxes under "Kroner" and "Øre", beside
    the KID and the account; with no other total on the invoice it was not read (0,01
    stood in). The KID and the account beside it are never the amount."""
    result = READER.extract_sync(_giro_invoice(), "application/pdf", None)
    assert result.gross == Decimal("5000.00")
    assert result.vat_amount == Decimal("1000.00")
    assert result.bank_account == ACCOUNT
    assert result.due_date == dt.date(2026, 12, 15)


def test_a_zero_rate_line_beside_a_rate_whose_vat_is_not_all_of_the_total() -> None:
    """A kiosk's "Herav mva 0 % 0,00" and "Herav mva 15 % 5,09" under "Sum 84,00": a
    newspaper at 0 % and a coffee at 15 %. The 0 % line was dropped as a till's unused
    rate and the receipt read as 15 % that "does not match" (in review at one rate). The
    15 % part is the gross of its VAT, the 0 % part the rest, the VAT as printed."""
    result = _read([
        "Narvesen Oslo S",
        f"Reitan Convenience Norway AS Org.nr {SELLER} MVA",
        "07.12.2026 07:55",
        ("Aftenposten", "45,00"),
        ("Kaffe stor", "39,00"),
        ("Sum", "84,00"),
        ("Herav mva 0 %", "0,00"),
        ("Herav mva 15 %", "5,09"),
    ])  # fmt: skip
    parts = {line.vat_rate: line for line in result.lines}
    assert set(parts) == {Decimal("0"), Decimal("15")}
    assert parts[Decimal("15")].vat_amount == Decimal("5.09")
    assert abs(parts[Decimal("15")].gross - Decimal("39.00")) <= Decimal("0.10")
    assert parts[Decimal("0")].gross + parts[Decimal("15")].gross == Decimal("84.00")
    assert not any("does not match" in w for w in result.warnings)


def test_a_tills_unused_zero_rate_stays_unused() -> None:
    result = _read([
        "Kiwi Majorstuen",
        f"Kiwi Norge AS Org.nr {SELLER} MVA",
        "07.12.2026",
        ("Brød", "39,90"),
        ("Sum", "39,90"),
        ("Mva 0 %", "0,00"),
        ("Mva 15 %", "5,20"),
    ])  # fmt: skip
    assert result.lines == ()
    assert result.vat_rate == Decimal("15")
