"""Readings an outside probe of new realistic documents found wrong (reading probe 6): a US
document's ambiguous slashed date, "07-DEC-2026", a total with one decimal, two VAT rates
on one till line, and number labels a receipt prints ("Bestillingsnummer", "Kvitto nr",
"Ticket number", a Stripe-style "ch_…" id)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.extraction.offline import extract_text_fields, find_dates


def test_a_us_documents_slashed_dates_are_all_month_first() -> None:
    """A due date of 12/31/2026 can only be month first, so the same document's invoice
    date 12/01/2026 is December 1, not January 12."""
    text = (
        "Microsoft Ireland Operations Ltd\nInvoice date\t12/01/2026\nDue date\t12/31/2026\n"
        "Total\tNOK 3,300.00\n"
    )
    result = extract_text_fields(text)
    assert result.date == dt.date(2026, 12, 1)
    assert result.due_date == dt.date(2026, 12, 31)


def test_a_day_first_document_stays_day_first() -> None:
    text = "Firma Ltd\nInvoice date\t12/01/2026\nDue date\t26/01/2026\nTotal\t100.00\n"
    result = extract_text_fields(text)
    assert result.date == dt.date(2026, 1, 12)
    assert result.due_date == dt.date(2026, 1, 26)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Invoice Date 07-DEC-2026", dt.date(2026, 12, 7)),
        ("Fakturadato 3-des-2026", dt.date(2026, 12, 3)),
        ("Date: 1-May-2026", dt.date(2026, 5, 1)),
    ],
)
def test_a_date_with_its_month_named_between_dashes(line: str, expected: dt.date) -> None:
    assert [d for _, _, d in find_dates(line)] == [expected]


@pytest.mark.parametrize(
    ("line", "gross"),
    [
        ("Totalt\t1234.5", "1234.50"),
        ("Totalt kr 1234,5", "1234.50"),
        ("Total NOK 1,234.5", "1234.50"),
    ],
)
def test_a_total_with_one_decimal(line: str, gross: str) -> None:
    assert extract_text_fields(f"Ruter AS\n{line}\n").gross == Decimal(gross)


@pytest.mark.parametrize("line", ["Totalt 0,5 L", "Totalt 12,5 %", "Sum 1,5 kg"])
def test_a_quantity_with_one_decimal_is_no_total(line: str) -> None:
    assert extract_text_fields(f"Butikk AS\n{line}\n").gross is None


def test_two_vat_rates_on_one_till_line_are_two_vat_lines() -> None:
    text = (
        "7-Eleven Storgata\nDato 16.12.2026\nPølse i brød\t35,00\nSolo 0,5L\t32,90\n"
        "Sum\t69,90\nMVA 15%: 8,83\tMVA 25%: 0,00\nVisa\t69,90\n"
    )
    result = extract_text_fields(text)
    assert (result.vat_rate, result.vat_amount) == (Decimal("15"), Decimal("8.83"))


def test_two_used_vat_rates_on_one_line_add_up() -> None:
    text = "Kiosk AS\nSum 112,50\nMva 25 % 12,50 Mva 15 % 7,50\n"
    result = extract_text_fields(text)
    assert result.vat_amount == Decimal("20.00")
    assert [(ln.vat_rate, ln.vat_amount) for ln in result.lines] == [
        (Decimal("15"), Decimal("7.50")),
        (Decimal("25"), Decimal("12.50")),
    ]


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("Bestillingsnummer\tfd-n4x9-23kk", "fd-n4x9-23kk"),
        ("Bestillingsnr: 4471-22", "4471-22"),
        ("Kvitto nr 5523101", "5523101"),
        ("Ticket number\t117-2400123456", "117-2400123456"),
        ("Transaction ID\tch_3PqR7x", "ch_3PqR7x"),
    ],
)
def test_receipt_number_labels(line: str, number: str) -> None:
    text = f"Butikk AS\n{line}\nTotalt 199,00\n"
    assert extract_text_fields(text).document_number == number


def test_a_footers_seller_is_the_name_before_its_address() -> None:
    """Invoice systems print the seller in the footer, the buyer's address at the top."""
    text = (
        "FAKTURA\nFjordlys Konsulent AS\nStorgata 1\n0155 Oslo\n"
        "Fakturadato 01.12.2026\nÅ betale\t3 171,25\n"
        "Webfabrikken AS · Industriveien 12, 1481 Hagan · Org.nr 914553993 MVA · post@web.no\n"
    )
    assert extract_text_fields(text).merchant_name == "Webfabrikken AS"


def test_a_till_lists_an_unused_zero_rate_at_zero() -> None:
    """A till's "Mva 0 % 0,00" beside "Mva 25 % 43,80" (all of the total's VAT at 25 %) is
    no second rate: nothing is at 0 %. (Where the VAT is not all of the total, the rest is
    the 0 % part: tests/unit/test_reading_as_a_person.py.)"""
    text = "Posten Norge AS\nSum\t219,00\nMva 25 %\t43,80\nMva 0 %\t0,00\nBankAxept\t219,00\n"
    result = extract_text_fields(text)
    assert (result.vat_rate, result.vat_amount) == (Decimal("25"), Decimal("43.80"))


def test_ordre_hash_is_an_order_number() -> None:
    assert extract_text_fields("Nettbutikk AS\nOrdre #1042\nTotalt 677,00\n").document_number == (
        "1042"
    )


@pytest.mark.parametrize(
    ("line", "number"),
    [("Faktura 10023", "10023"), ("Invoice INV-0012-4471", "INV-0012-4471")],
)
def test_a_title_with_its_number(line: str, number: str) -> None:
    text = f"Lysaker Data AS\n{line}\nFakturadato 01.12.2026\nTotalt 199,00\n"
    assert extract_text_fields(text).document_number == number


def test_a_kid_after_its_name_in_brackets() -> None:
    text = "Lysaker Data AS\nÅ betale 2 487,50\nKundeidentifikasjon (KID)\t202612017774\n"
    assert extract_text_fields(text).kid == "202612017774"


@pytest.mark.parametrize(
    "line",
    [
        "Betales senest\t15.12.2026",
        "Beløpet bes innbetalt til konto 1503.66.77880 innen 15.12.2026. Merk betalingen.",
    ],
)
def test_due_dates_in_words(line: str) -> None:
    text = f"Grønn Hage AS\nFaktura nr 4410\nDato: 01.12.2026\nSum å betale 6 500,00\n{line}\n"
    result = extract_text_fields(text)
    assert (result.date, result.due_date) == (dt.date(2026, 12, 1), dt.date(2026, 12, 15))


def test_a_delivery_within_a_date_is_no_due_date() -> None:
    text = "Grønn Hage AS\nDato: 01.12.2026\nLevering innen 15.12.2026\nSum 6 500,00\n"
    assert extract_text_fields(text).due_date is None


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("IKEA AB\nOrg.nr 556036-0793\nAtt betala 614,00 kr\nMoms 25% 119,80\n", "SEK"),
        ("Netto A/S\nCVR 12345678\nI alt 614,00 kr\nHeraf moms 122,80\n", "DKK"),
        ("Clas Ohlson AS\nOrg.nr 937 214 499 MVA\nSUM 238,90 kr\nVarav moms 25% 47,78\n", "NOK"),
        ("Kiosk AS\nTotalt 99,00 kr\nMva 25% 19,80\n", "NOK"),
        ("Example Software AG\nTotal CHF 1'234.50\n", "CHF"),
    ],
)
def test_which_currency(text: str, currency: str) -> None:
    assert extract_text_fields(text).currency == currency


def test_a_name_after_its_label_on_the_org_line() -> None:
    text = "Oslo Taxi\nLøyvehaver: Kjør AS org.nr 977665558\nPris kr 312,00\n"
    assert extract_text_fields(text).merchant_name == "Kjør AS"


@pytest.mark.parametrize(
    "line", ["Faktura-nr.\t2026-055", "Fakt.nr.\t2026-055", "Fakt. nr 2026-055"]
)
def test_shortened_invoice_number_labels(line: str) -> None:
    text = f"Fjellet Arkitekter AS\n{line}\nFakturadato 12.12.2026\nÅ betale 25 000,00\n"
    assert extract_text_fields(text).document_number == "2026-055"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Dato 07/12/26 14:32", dt.date(2026, 12, 7)),  # a card terminal's two-digit year
        ("07.des.2026", dt.date(2026, 12, 7)),
        ("December 7th, 2026", dt.date(2026, 12, 7)),
        ("7th December 2026", dt.date(2026, 12, 7)),
        ("Invoice date: 1st Dec 2026", dt.date(2026, 12, 1)),
    ],
)
def test_more_written_and_short_dates(line: str, expected: dt.date) -> None:
    assert [d for _, _, d in find_dates(line)] == [expected]


@pytest.mark.parametrize(
    ("line", "gross"),
    [
        ("Totalt kr 1 234", "1234.00"),  # was read as 1,00
        ("Totalt: NOK 1.234", "1234.00"),
        ("Grand total $ 1,234", "1234.00"),
        ("Totalt 12 499,–", "12499.00"),  # an en dash for the øre
        ("Sum 499,—", "499.00"),
    ],
)
def test_whole_amounts_with_thousands_and_dashes(line: str, gross: str) -> None:
    assert extract_text_fields(f"Butikk AS\n{line}\n").gross == Decimal(gross)


@pytest.mark.parametrize(
    "text",
    [
        "TOTALT NOK 1 250,00\nMVA-GRUNNLAG 1 000,00\nMVA 250,00\n",
        "TOTALT NOK 1 250,00\nMva\t250,00\nMva-grunnlag\t1 000,00\n",
    ],
)
def test_a_vat_base_without_a_rate_is_not_the_vat(text: str) -> None:
    """A till's "MVA-GRUNNLAG 1 000,00" over "MVA 250,00" gave a VAT of 1 000,00."""
    result = extract_text_fields(f"Butikk AS\n{text}")
    assert (result.vat_amount, result.vat_rate) == (Decimal("250.00"), Decimal("25"))


@pytest.mark.parametrize(
    "line", ["Konto nr. 15032244898", "Kto.nr 1503 22 44898", "Giro: 1503 22 44898"]
)
def test_more_bank_account_labels(line: str) -> None:
    assert extract_text_fields(f"Firma AS\nÅ betale 100,00\n{line}\n").bank_account == "15032244898"


@pytest.mark.parametrize(
    "line",
    [
        "Organization no: 923609016",
        "Org: 923609016",
        "MVA-reg. 923 609 016 MVA",
        "NO-923609016-MVA",
    ],
)
def test_more_organisation_number_spellings(line: str) -> None:
    text = f"Firma AS\n{line}\nTotalt 100,00\n"
    assert extract_text_fields(text).organization_number == "923609016"


@pytest.mark.parametrize(
    "line",
    [
        "Faktura nummer: 10023",
        "Invoice ID: 10023",
        "Invoice: #10023",
        "Receipt #10023",
        "Ref.nr: 10023",
    ],
)
def test_more_document_number_labels(line: str) -> None:
    assert extract_text_fields(f"Firma AS\nTotalt 100,00\n{line}\n").document_number == "10023"


def test_a_dotted_bank_account_is_no_amount() -> None:
    """ "Å betale til konto 1503.22.44898" made 1 503,22 the total (a pay label beats
    "Totalt"): the account's first two groups were read as an amount."""
    text = "Firma AS\nTotalt 2 250,00\nÅ betale til konto 1503.22.44898\n"
    result = extract_text_fields(text)
    assert result.gross == Decimal("2250.00")
    assert result.bank_account == "15032244898"


@pytest.mark.parametrize(
    "line",
    [
        "Fakturabeløp 1 250,00",
        "Kortbeløp 1 250,00",
        "Endelig beløp 1 250,00",
        "Til sammen 1 250,00",
    ],
)
def test_more_total_labels(line: str) -> None:
    text = f"Firma AS\nVare 1 000,00\nMva 25 % 250,00\n{line}\n"
    assert extract_text_fields(text).gross == Decimal("1250.00")


@pytest.mark.parametrize(
    "line",
    [
        "Pay by 15 December 2026",
        "Siste betalingsdag: 15.12.2026",
        "Please pay before 15.12.2026",
        "Payable by 15.12.2026",
    ],
)
def test_more_due_date_labels(line: str) -> None:
    text = f"Firma AS\nFakturadato 01.12.2026\nÅ betale 100,00\n{line}\n"
    assert extract_text_fields(text).due_date == dt.date(2026, 12, 15)


@pytest.mark.parametrize(
    ("head", "merchant"),
    [
        ("Velkommen til\nREMA 1000 Storo\nVitaminveien 1", "REMA 1000 Storo"),
        ("Takk for handelen!\nJernia Storo", "Jernia Storo"),
        (
            "Side 1 av 1\nFaktura\nByggmester Hansen AS\nOrg.nr 923609016 MVA",
            "Byggmester Hansen AS",
        ),
        ("FAKTURA\nFra: Byggmester Hansen AS\nTil: Fjordlys AS", "Byggmester Hansen AS"),
        ("Selger: Byggmester Hansen AS\nKjøper: Fjordlys AS", "Byggmester Hansen AS"),
        ("Leverandør\nByggmester Hansen AS\nKunde\nFjordlys AS", "Byggmester Hansen AS"),
        ("Bill to:\nFjordlys AS\nFrom:\nCloudly Inc.", "Cloudly Inc."),
        ("Your receipt from Cloudly Inc. #1234-5678", "Cloudly Inc."),
    ],
)
def test_the_seller_not_a_greeting_a_page_number_or_the_buyer(head: str, merchant: str) -> None:
    assert extract_text_fields(f"{head}\nTotalt 100,00\n").merchant_name == merchant


@pytest.mark.parametrize(
    "head",
    [
        "Oslo Taxi\nFra: Oslo S\nTil: Sagene",
        "Nordvik AS\nVendor ID: 12345",
        "Elkjøp Storo\nSelger: Anne",  # the till's salesperson
        "Nordvik AS\nLeverandørnummer 12345",
    ],
)
def test_a_journey_a_salesperson_or_an_id_is_no_seller(head: str) -> None:
    assert extract_text_fields(f"{head}\nTotalt 100,00\n").merchant_name == head.split("\n")[0]
