"""Reading probe 7: 24 documents written as real ones are, in layouts the other sets do not
use, with what a person reads on each.

A till roll with a "MVA-grunnlag" table of two rates and "Kort"; a grocery receipt at 15 %
and 25 % printed as "Herav mva"; a giro invoice whose giro part asks for another amount
than its "Å betale"; an invoice with KID, account and "7. des. 2026"; a credit note dated
"2026-12-07"; a restaurant bill with "Driks"; a hotel's 12 % room beside 25 % food; an
English SaaS invoice in USD with reverse charge; a British one in GBP with its own VAT; a
German receipt in EUR with 7 % and 19 % MwSt; a sole trader outside the VAT register;
a kiosk's "kr 1234,5"; a subscription's "NOK 99,-"; a fuel slip with litres; a taxi at
12 %; and as images: a low-resolution noisy scan (PNG), a crooked phone photo of a till
roll (JPEG), a screenshot of a parking app and a scanned invoice (an image-only PDF).

Each `Probe` carries the fields of `tests.unseen_documents.FIELDS` a person reads, and
`rates`: the VAT per rate a person reads (rate -> VAT amount). Check digits are real,
amounts add up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

from tests.documents import Cells, bank_account, kid_mod10, org_number, pdf_columns
from tests.unseen_documents import (
    EXPENSE,
    FIELDS,
    INVOICE,
    JPEG,
    PDF,
    PNG,
    ROLL,
    Row,
    _d,
    _fields,
    crooked_photo,
    dotted,
    pdf,
    scanned_pdf,
    screenshot,
    spaced,
)


@dataclasses.dataclass(frozen=True)
class Probe:
    name: str
    content: bytes
    media_type: str
    expected: dict[str, object]
    #: VAT rate -> VAT amount, as a person reads the document's VAT per rate.
    rates: dict[Decimal, Decimal]
    proposal: str
    #: Substrings of warnings a reviewer must be shown.
    warns: tuple[str, ...] = ()
    photo: bool = False


def low_res_scan(pdf_bytes: bytes, *, turn: float = -1.6, fmt: str = "PNG") -> bytes:
    """A page through a cheap scanner at about 110 dpi: grey paper, a slight turn, grain."""
    import numpy as np
    import pypdfium2 as pdfium
    from PIL import Image

    page = pdfium.PdfDocument(pdf_bytes)[0]
    image = page.render(scale=1.55, grayscale=True).to_pil().convert("L")
    image = image.rotate(turn, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=225)
    arr = np.asarray(image, dtype=np.float32) * 0.9 + 12
    arr = arr + np.random.default_rng(7).normal(0, 9, arr.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(out, format=fmt)
    return out.getvalue()


REMA = org_number("91378265")
NAERBUTIKK = org_number("98341276")
VVS = org_number("91825347")
VVS_KID = kid_mod10("20261207001")
VVS_ACCOUNT = bank_account("1506441278")
KONTOR = org_number("99544322")
KONTOR_KID = kid_mod10("55012345")
KONTOR_ACCOUNT = bank_account("1822334455")
GRAFISK = org_number("91122334")
BISTRO = org_number("99887766")
HOTEL = org_number("98877665")
FRISOR = org_number("92233445")
KIOSK = org_number("97766555")
STREAM = org_number("91544333")
STASJON = org_number("98822110")
TAXI = org_number("99311224")
MALER = org_number("92811335")
MALER_KID = kid_mod10("771200345")
MALER_ACCOUNT = bank_account("9235117789")
BAKERI = org_number("98456123")
PARKERING = org_number("91765432")
REGNSKAP = org_number("99123457")
REGNSKAP_ACCOUNT = bank_account("1254334455")
REGNSKAP_KID = kid_mod10("40040012")
SNEKKER = org_number("91655443")
SNEKKER_KID = kid_mod10("100200300")
SNEKKER_ACCOUNT = bank_account("3624112233")
ELSERVICE = org_number("99766001")
ELSERVICE_ACCOUNT = bank_account("1080223344")
LAGER = org_number("92477110")


# --- receipts ---------------------------------------------------------------------------------


def till_roll_two_rates() -> Probe:
    """A till roll: many lines, "SUM", a "MVA-grunnlag" table over 15 % and 25 %, "Kort"."""
    rows: list[Row] = [
        "REMA 1000 GRÜNERLØKKA",
        "Thorvald Meyers gate 40",
        f"Foretaksregisteret NO {REMA} MVA",
        "Tlf 22 11 33 44",
        ("Melk lett 1,75L", "27,90"),
        ("Brød grovt", "34,90"),
        ("Egg 12 stk", "49,90"),
        ("Bananer 1,02 kg", "24,38"),
        ("Kaffe filter 500g", "79,90"),
        ("Pant", "6,00"),
        ("Oppvaskmiddel", "32,90"),
        ("Tannkrem", "29,90"),
        ("Batterier AA 4pk", "59,90"),
        ("SUM 9 VARER", "346,28"),
        ("Kort", "346,28"),
        "MVA%   MVA-grunnlag   MVA",
        ("15%   188,78", "28,30"),
        ("25%   102,56", "25,64"),
        "BankAxept ************4411",
        "07.12.2026 16:41  Kasse 3  Bong 41277",
        "Takk for handelen!",
    ]
    return Probe(
        "till_roll_two_rates",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="REMA 1000 GRÜNERLØKKA",
            organization_number=REMA,
            date=dt.date(2026, 12, 7),
            gross=_d("346.28"),
            currency="NOK",
            vat_amount=_d("53.94"),
            document_number="41277",
        ),
        {_d("15"): _d("28.30"), _d("25"): _d("25.64")},
        EXPENSE,
    )


def grocery_herav() -> Probe:
    """A local grocery's receipt: "Herav mva 15 %" and "Herav mva 25 %" under "Totalt"."""
    rows: list[Row] = [
        "Nærbutikken Sjøsiden AS",
        f"Org.nr {spaced(NAERBUTIKK)} MVA",
        "Kvittering",
        ("Dato", "7. des. 2026"),
        ("Kvitteringsnr", "88213"),
        ("Rundstykker 6 stk", "45,00"),
        ("Ost Norvegia 1 kg", "129,00"),
        ("Juice 1 L", "32,50"),
        ("Stearinlys 10 pk", "89,00"),
        ("Servietter", "35,00"),
        ("Totalt", "kr 330,50"),
        ("Herav mva 15 %", "27,00"),
        ("Herav mva 25 %", "24,80"),
        ("Betalt med Visa", "330,50"),
    ]
    return Probe(
        "grocery_herav",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Nærbutikken Sjøsiden AS",
            organization_number=NAERBUTIKK,
            date=dt.date(2026, 12, 7),
            gross=_d("330.50"),
            currency="NOK",
            vat_amount=_d("51.80"),
            document_number="88213",
        ),
        {_d("15"): _d("27.00"), _d("25"): _d("24.80")},
        EXPENSE,
    )


def restaurant_driks() -> Probe:
    """A restaurant bill: food at 25 %, "Driks" added on the terminal, "1.234,50"."""
    rows: list[Row] = [
        "Bistro Bryggen AS",
        "Bryggen 7, 5003 Bergen",
        f"Org.nr: NO {BISTRO} MVA",
        "Bord 12   Regning nr 30071",
        ("2 x Fiskesuppe", "398,00"),
        ("2 x Lammeskank", "598,00"),
        ("1 x Flaske vin", "238,50"),
        ("Sum mat og drikke", "1.234,50"),
        ("herav MVA 25%", "246,90"),
        ("Driks", "120,00"),
        ("Totalt belastet", "1.354,50"),
        "Mastercard  07.12.2026 21:14",
    ]
    return Probe(
        "restaurant_driks",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Bistro Bryggen AS",
            organization_number=BISTRO,
            date=dt.date(2026, 12, 7),
            gross=_d("1354.50"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("246.90"),
            document_number="30071",
        ),
        # the tip is a part of its own at 0 % (ADR 0033, addendum 3)
        {_d("25"): _d("246.90"), _d("0"): _d("0.00")},
        EXPENSE,
    )


def kiosk_one_decimal() -> Probe:
    """A kiosk's receipt with "kr 1234,5" as its total (one decimal, no thousands)."""
    rows: list[Row] = [
        "Narvesen Torget",
        f"Kiosken Torget AS  Org.nr {KIOSK}",
        "Dato 2026-12-07 08:12",
        ("Gavekort Spotify", "1 000,00"),
        ("Kaffe stor", "39,00"),
        ("Skolebolle", "32,50"),
        ("Avis", "163,00"),
        "Totalt kr 1234,5",
        "Gavekort er unntatt mva",
        ("Mva 25 %", "14,30"),
        "Visa kontaktløs",
    ]
    return Probe(
        "kiosk_one_decimal",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            # the chain's name is the shop's sign; the seller is the company with the number
            merchant_name="Kiosken Torget AS",
            organization_number=KIOSK,
            date=dt.date(2026, 12, 7),
            gross=_d("1234.50"),
            currency="NOK",
            vat_amount=_d("14.30"),
        ),
        # the gift card and the newspaper are outside VAT: a 0 % part beside 25 %
        {_d("25"): _d("14.30"), _d("0"): _d("0.00")},
        EXPENSE,
    )


def streaming_dash() -> Probe:
    """A subscription's e-mail receipt: "NOK 99,-" with the VAT inside."""
    rows: list[Row] = [
        "Strømmetjenesten Norge AS",
        f"Org. nr. {STREAM} MVA",
        "Kvittering for abonnement",
        ("Ordrenummer", "SN-2026-55120"),
        ("Kjøpsdato", "07.12.2026"),
        ("Premium, 1 måned", "NOK 99,-"),
        ("Totalt", "NOK 99,-"),
        ("herav mva (25 %)", "NOK 19,80"),
        "Betalt med kort som slutter på 0042",
    ]
    return Probe(
        "streaming_dash",
        pdf(rows),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Strømmetjenesten Norge AS",
            organization_number=STREAM,
            date=dt.date(2026, 12, 7),
            gross=_d("99.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("19.80"),
            document_number="SN-2026-55120",
        ),
        {_d("25"): _d("19.80")},
        EXPENSE,
    )


def fuel_litres() -> Probe:
    """A fuel slip: litres and price per litre beside the amount."""
    rows: list[Row] = [
        "Stasjonen Kolbotn",
        f"Drivstoff Sør AS Org.nr {spaced(STASJON)} MVA",
        "07.12.26  07:55",
        "Pumpe 4  Diesel",
        ("42,31 l x 21,49", "909,24"),
        ("Spylervæske", "89,00"),
        ("Å BETALE", "998,24"),
        ("MVA 25%", "199,65"),
        ("NETTO", "798,59"),
        "BankAxept  Ref 772910",
    ]
    return Probe(
        "fuel_litres",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Drivstoff Sør AS",
            organization_number=STASJON,
            date=dt.date(2026, 12, 7),
            gross=_d("998.24"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("199.65"),
            document_number="772910",
        ),
        {_d("25"): _d("199.65")},
        EXPENSE,
    )


def taxi_12() -> Probe:
    """A taxi receipt at 12 %: "Mva 12 %" and a trip number."""
    rows: list[Row] = [
        "Oslo Drosje Løyve 1123",
        f"Løyvehaver: Fjordtaxi AS org.nr {TAXI}",
        "Tur nr 558821",
        "Dato: 07.12.2026 kl. 23:48",
        "Fra: Oslo S  Til: Majorstuen",
        ("Takst", "287,00"),
        ("Totalt", "kr 287,00"),
        ("Mva 12 %", "30,75"),
        "Betalt: Visa",
    ]
    return Probe(
        "taxi_12",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Fjordtaxi AS",
            organization_number=TAXI,
            date=dt.date(2026, 12, 7),
            gross=_d("287.00"),
            currency="NOK",
            vat_rate=_d("12"),
            vat_amount=_d("30.75"),
            document_number="558821",
        ),
        {_d("12"): _d("30.75")},
        EXPENSE,
    )


def german_receipt() -> Probe:
    """A German shop's receipt in EUR: 7 % and 19 % MwSt (foreign VAT)."""
    rows: list[Row] = [
        "Buchhandlung am Markt GmbH",
        "Marktplatz 3, 20095 Hamburg",
        "USt-IdNr. DE123456789",
        "Beleg-Nr. 4471",
        "Datum 07.12.2026 14:22",
        ("Buch: Nordische Küche", "24,00 EUR"),
        ("Geschenkpapier", "3,50 EUR"),
        ("Summe", "27,50 EUR"),
        ("MwSt 7 % von 22,43", "1,57"),
        ("MwSt 19 % von 2,94", "0,56"),
        "Kartenzahlung girocard",
    ]
    return Probe(
        "german_receipt",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Buchhandlung am Markt GmbH",
            date=dt.date(2026, 12, 7),
            gross=_d("27.50"),
            currency="EUR",
            vat_amount=_d("2.13"),
            document_number="4471",
        ),
        {_d("7"): _d("1.57"), _d("19"): _d("0.56")},
        EXPENSE,
    )


def london_receipt() -> Probe:
    """A London shop's receipt with its British VAT number written bare ("VAT No.
    287345567": nine digits that fail the Norwegian check, as they should)."""
    rows: list[Row] = [
        "Foyles Charing Cross Ltd",
        "107 Charing Cross Road, London WC2H 0DT",
        "VAT No. 287345567",
        ("Receipt no", "000412-7731"),
        ("Date", "07/12/2026 13:05"),
        ("Notebook A5", "£14.00"),
        ("Pen set", "£9.40"),
        ("Total", "£23.40"),
        ("VAT 20% incl.", "£3.90"),
        "Contactless VISA",
    ]
    return Probe(
        "london_receipt",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Foyles Charing Cross Ltd",
            date=dt.date(2026, 12, 7),
            gross=_d("23.40"),
            currency="GBP",
            vat_rate=_d("20"),
            vat_amount=_d("3.90"),
            document_number="000412-7731",
        ),
        {_d("20"): _d("3.90")},
        EXPENSE,
    )


# --- invoices ---------------------------------------------------------------------------------


def vvs_invoice() -> Probe:
    """A plumber's invoice: two-column head, KID, account, "7. des. 2026", "1.234,50"."""
    rows: list[Row] = [
        "Rør & Varme Vestby AS",
        ("Industriveien 14, 1540 Vestby", "FAKTURA"),
        (f"Org.nr.: NO {spaced(VVS)} MVA", "Fakturanr. 2026-118"),
        ("Tlf 64 95 00 00", "Fakturadato 7. des. 2026"),
        ("", "Forfallsdato 21. des. 2026"),
        "Faktura til:",
        "Fjordlys Konsulent AS",
        "Storgata 1, 0155 Oslo",
        ("Beskrivelse", "Antall", "Beløp"),
        ("Arbeid rørlegger", "6 t", "5.100,00"),
        ("Blandebatteri", "1", "2.890,00"),
        ("Kjøring", "1", "450,00"),
        ("Sum eks. mva", "", "8.440,00"),
        ("Mva 25 %", "", "2.110,00"),
        ("Å betale", "", "10.550,00"),
        f"Betales til konto {dotted(VVS_ACCOUNT)} med KID {VVS_KID}",
    ]
    return Probe(
        "vvs_invoice",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Rør & Varme Vestby AS",
            organization_number=VVS,
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 21),
            gross=_d("10550.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("2110.00"),
            kid=VVS_KID,
            document_number="2026-118",
            bank_account=VVS_ACCOUNT,
        ),
        {_d("25"): _d("2110.00")},
        INVOICE,
    )


def giro_mismatch() -> Probe:
    """An office supplier's invoice with a giro part that asks for another amount than the
    invoice's "Å betale": a person does not pay before asking which is right."""
    rows: list[Row] = [
        "Kontorpartner AS",
        f"Org.nr {spaced(KONTOR)} MVA",
        "FAKTURA",
        ("Fakturanummer", "77120"),
        ("Fakturadato", "07.12.2026"),
        ("Forfall", "21.12.2026"),
        ("Kopipapir A4, 10 pk", "1 196,00"),
        ("Toner svart", "764,00"),
        ("Sum eks. mva", "1 960,00"),
        ("Mva 25 %", "490,00"),
        ("Å betale", "2 450,00"),
        "GIRO",
        ("Betalingsinformasjon", ""),
        (f"Til konto {dotted(KONTOR_ACCOUNT)}", f"KID {KONTOR_KID}"),
        ("Beløp", "2 540,00"),
        ("Betalingsfrist", "21.12.2026"),
    ]
    return Probe(
        "giro_mismatch",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Kontorpartner AS",
            organization_number=KONTOR,
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 21),
            gross=_d("2450.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("490.00"),
            kid=KONTOR_KID,
            document_number="77120",
            bank_account=KONTOR_ACCOUNT,
        ),
        {_d("25"): _d("490.00")},
        INVOICE,
        warns=("2 540,00", "2 450,00"),
    )


def credit_note() -> Probe:
    """A credit note with negative amounts, ISO dates and the invoice it credits."""
    rows: list[Row] = [
        "Grafisk Trykk AS",
        f"Org.nr. {spaced(GRAFISK)} MVA",
        "KREDITNOTA",
        ("Kreditnotanr.", "K-2026-014"),
        ("Dato", "2026-12-07"),
        "Gjelder faktura 2026-0931",
        ("Feiltrykk brosjyrer, 500 stk", "-1 800,00"),
        ("Sum eks. mva", "-1 800,00"),
        ("Mva 25 %", "-450,00"),
        ("Å kreditere", "-2 250,00"),
        "Beløpet motregnes neste faktura.",
    ]
    return Probe(
        "credit_note",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Grafisk Trykk AS",
            organization_number=GRAFISK,
            date=dt.date(2026, 12, 7),
            gross=_d("-2250.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("-450.00"),
            document_number="K-2026-014",
        ),
        {_d("25"): _d("-450.00")},
        INVOICE,
    )


def hotel_two_rates() -> Probe:
    """A hotel invoice: the room at 12 %, dinner and minibar at 25 %, a VAT table."""
    rows: list[Row] = [
        "Fjordhotellet Loen AS",
        f"Org.nr: {spaced(HOTEL)} MVA",
        "HOTELLREGNING",
        ("Faktura nr", "H-88120"),
        ("Ankomst", "05.12.2026"),
        ("Avreise", "07.12.2026"),
        ("Fakturadato", "07.12.2026"),
        ("Overnatting 2 netter", "3 360,00"),
        ("Middag restaurant", "1 125,00"),
        ("Minibar", "125,00"),
        ("Totalt NOK", "4 610,00"),
        ("Mva-sats", "Grunnlag", "Mva"),
        ("12 %", "3 000,00", "360,00"),
        ("25 %", "1 000,00", "250,00"),
        ("Betalt Visa", "4 610,00"),
    ]
    return Probe(
        "hotel_two_rates",
        pdf(rows),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Fjordhotellet Loen AS",
            organization_number=HOTEL,
            date=dt.date(2026, 12, 7),
            gross=_d("4610.00"),
            currency="NOK",
            vat_amount=_d("610.00"),
            document_number="H-88120",
        ),
        {_d("12"): _d("360.00"), _d("25"): _d("250.00")},
        EXPENSE,
    )


def saas_reverse_charge() -> Probe:
    """An English SaaS invoice in USD: "VAT reverse charge", no VAT amount."""
    rows: list[Row] = [
        "Linear Orbit, Inc.",
        "548 Market St, San Francisco, CA 94104, USA",
        "INVOICE",
        ("Invoice number", "LO-2026-12-0457"),
        ("Date of issue", "December 7, 2026"),
        ("Date due", "December 21, 2026"),
        "Bill to: Fjordlys Konsulent AS, Oslo, Norway, NO 912 345 678 MVA",
        ("Team plan, 8 seats, Dec 7 - Jan 6", "$640.00"),
        ("Subtotal", "$640.00"),
        ("Tax (0%)", "$0.00"),
        ("Amount due", "$640.00 USD"),
        "VAT reverse charge: the customer accounts for VAT (Art. 196)",
    ]
    return Probe(
        "saas_reverse_charge",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Linear Orbit, Inc.",
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 21),
            gross=_d("640.00"),
            currency="USD",
            vat_rate=_d("0"),
            vat_amount=_d("0.00"),
            document_number="LO-2026-12-0457",
        ),
        {_d("0"): _d("0.00")},
        INVOICE,
    )


def uk_invoice_gbp() -> Probe:
    """A British supplier's invoice in GBP with its own 20 % VAT."""
    rows: list[Row] = [
        "Harbour Analytics Ltd",
        "12 Queen Street, Edinburgh EH2 1JE",
        "VAT Reg No GB 123 4567 89",
        "TAX INVOICE",
        ("Invoice No.", "HA-3310"),
        ("Invoice Date", "07/12/2026"),
        ("Payment terms", "14 days"),
        ("Data audit workshop", "£1,250.00"),
        ("Net total", "£1,250.00"),
        ("VAT @ 20%", "£250.00"),
        ("Total due", "£1,500.00"),
    ]
    return Probe(
        "uk_invoice_gbp",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Harbour Analytics Ltd",
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 21),
            gross=_d("1500.00"),
            currency="GBP",
            vat_rate=_d("20"),
            vat_amount=_d("250.00"),
            document_number="HA-3310",
        ),
        {_d("20"): _d("250.00")},
        INVOICE,
    )


def sole_trader_no_vat() -> Probe:
    """A sole trader outside the VAT register: no VAT, "Ikke mva-registrert"."""
    rows: list[Row] = [
        "Frisør Lise Berg",
        f"Org.nr {spaced(FRISOR)}",
        "Ikke mva-registrert",
        ("Kvittering nr", "1207"),
        ("Dato", "07.12.2026"),
        ("Klipp og vask", "650,00"),
        ("Å betale", "kr 650,00"),
        "Betalt med Vipps",
    ]
    return Probe(
        "sole_trader_no_vat",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Frisør Lise Berg",
            organization_number=FRISOR,
            date=dt.date(2026, 12, 7),
            gross=_d("650.00"),
            currency="NOK",
            vat_rate=_d("0"),
            vat_amount=_d("0.00"),
            document_number="1207",
        ),
        {_d("0"): _d("0.00")},
        EXPENSE,
    )


def accountant_multi_rate_invoice() -> Probe:
    """A bookkeeper's invoice: fees at 25 % and a pass-through fee outside VAT (0 %)."""
    rows: list[Row] = [
        "Regnskapshuset Nord AS",
        f"Org.nr {spaced(REGNSKAP)} MVA",
        "Faktura 40040",
        ("Fakturadato", "07.12.2026"),
        ("Betalingsfrist", "14 dager"),
        ("Regnskapsføring november", "4 800,00"),
        ("Årsoppgjør, a konto", "2 000,00"),
        ("Gebyr Brønnøysundregistrene (utlegg)", "250,00"),
        ("Sum eks. mva", "7 050,00"),
        ("Mva 25 % av 6 800,00", "1 700,00"),
        ("Mva 0 % av 250,00", "0,00"),
        ("Å betale", "8 750,00"),
        f"Kontonr {REGNSKAP_ACCOUNT}  KID {REGNSKAP_KID}",
    ]
    return Probe(
        "accountant_multi_rate_invoice",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Regnskapshuset Nord AS",
            organization_number=REGNSKAP,
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 21),
            gross=_d("8750.00"),
            currency="NOK",
            vat_amount=_d("1700.00"),
            kid=REGNSKAP_KID,
            document_number="40040",
            bank_account=REGNSKAP_ACCOUNT,
        ),
        {_d("25"): _d("1700.00"), _d("0"): _d("0.00")},
        INVOICE,
    )


def payment_strip_invoice() -> Probe:
    """A carpenter's invoice whose payment details are a strip of labels over values at the
    foot: "Kontonummer | KID | Beløp | Forfallsdato" (no "Å betale" anywhere else)."""
    rows: list[str | Cells] = [
        "Snekker Nilsen AS",
        f"Org.nr {spaced(SNEKKER)} MVA",
        "Faktura",
        ("Fakturanr", "2291"),
        ("Fakturadato", "07.12.2026"),
        ("Beskrivelse", "Antall", "Pris", "Sum"),
        ("Terrassebord", "40", "89,00", "3 560,00"),
        ("Arbeid", "12", "650,00", "7 800,00"),
        ("Sum eks. mva", "", "", "11 360,00"),
        ("Mva 25 %", "", "", "2 840,00"),
        "",
        ("Kontonummer", "KID", "Beløp", "Forfallsdato"),
        (dotted(SNEKKER_ACCOUNT), SNEKKER_KID, "14 200,00", "28.12.2026"),
    ]
    return Probe(
        "payment_strip_invoice",
        pdf_columns(rows, widths=(60, 40, 40, 40)),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Snekker Nilsen AS",
            organization_number=SNEKKER,
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 28),
            gross=_d("14200.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("2840.00"),
            kid=SNEKKER_KID,
            document_number="2291",
            bank_account=SNEKKER_ACCOUNT,
        ),
        {_d("25"): _d("2840.00")},
        INVOICE,
    )


def due_and_total_over_values() -> Probe:
    """An electrician's invoice: "Forfallsdato | Å betale" over "21.12.2026 | NOK 2 450,00"."""
    rows: list[str | Cells] = [
        "Elservice Øst AS",
        f"Org.nr {spaced(ELSERVICE)} MVA",
        "FAKTURA 61022",
        ("Fakturadato", "07.12.2026"),
        ("Feilsøking sikringsskap", "", "1 960,00"),
        ("Mva 25 %", "", "490,00"),
        "",
        ("Forfallsdato", "Å betale", "Til konto"),
        ("21.12.2026", "NOK 2 450,00", dotted(ELSERVICE_ACCOUNT)),
    ]
    return Probe(
        "due_and_total_over_values",
        pdf_columns(rows, widths=(60, 60, 60)),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Elservice Øst AS",
            organization_number=ELSERVICE,
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 21),
            gross=_d("2450.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("490.00"),
            document_number="61022",
            bank_account=ELSERVICE_ACCOUNT,
        ),
        {_d("25"): _d("490.00")},
        INVOICE,
    )


def slash_dash_date() -> Probe:
    """A builders' merchant's counter receipt with the date written "7/12-2026" and VAT as
    "Mva 25,00% av 1 196,00 = 299,00"."""
    rows: list[Row] = [
        "Lagerhuset Byggvare AS",
        f"Org.nr {spaced(LAGER)} MVA",
        "Kontantsalg nr 88120",
        "Dato 7/12-2026",
        ("Skruer 5x50 1000 stk", "449,00"),
        ("Lim trelim 1 L", "147,00"),
        ("Sagblad", "899,00"),
        ("TOTALT", "1 495,00"),
        "Mva 25,00% av 1 196,00 = 299,00",
        ("Kort", "1 495,00"),
    ]
    return Probe(
        "slash_dash_date",
        pdf(rows, width=ROLL, size=8),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Lagerhuset Byggvare AS",
            organization_number=LAGER,
            date=dt.date(2026, 12, 7),
            gross=_d("1495.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("299.00"),
            document_number="88120",
        ),
        {_d("25"): _d("299.00")},
        EXPENSE,
    )


# --- images -----------------------------------------------------------------------------------


def scanned_painter_png() -> Probe:
    """A painter's invoice through a cheap scanner: ~110 dpi, turned, grainy (PNG)."""
    rows: list[Row] = [
        "Malermester Dahl AS",
        f"Org.nr {spaced(MALER)} MVA",
        "FAKTURA",
        ("Fakturanr", "5512"),
        ("Fakturadato", "07.12.2026"),
        ("Forfallsdato", "28.12.2026"),
        ("Maling stue og gang", "14 000,00"),
        ("Materiell", "2 400,00"),
        ("Sum eks. mva", "16 400,00"),
        ("Mva 25 %", "4 100,00"),
        ("Å betale", "20 500,00"),
        f"KID {MALER_KID}",
        f"Konto {dotted(MALER_ACCOUNT)}",
    ]
    return Probe(
        "scanned_painter_png",
        low_res_scan(pdf(rows, size=11)),
        PNG,
        _fields(
            document_type="invoice",
            merchant_name="Malermester Dahl AS",
            organization_number=MALER,
            date=dt.date(2026, 12, 7),
            due_date=dt.date(2026, 12, 28),
            gross=_d("20500.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("4100.00"),
            kid=MALER_KID,
            document_number="5512",
            bank_account=MALER_ACCOUNT,
        ),
        {_d("25"): _d("4100.00")},
        INVOICE,
        photo=True,
    )


def bakery_photo() -> Probe:
    """A bakery's till roll photographed crooked (JPEG): 15 % take-away and 25 % goods."""
    rows: list[Row] = [
        "Baker Hansen Majorstuen",
        f"Org.nr {spaced(BAKERI)} MVA",
        "Dato 07.12.2026  Kvittering 6612",
        ("Kanelbolle x2", "78,00"),
        ("Brød surdeig", "69,00"),
        ("Handlenett", "30,00"),
        ("SUM", "177,00"),
        ("Mva 15 %", "19,30"),
        ("Mva 25 %", "6,00"),
        ("Kort", "177,00"),
    ]
    return Probe(
        "bakery_photo",
        crooked_photo(pdf(rows, width=ROLL, size=9), seed=71),
        JPEG,
        _fields(
            document_type="receipt",
            merchant_name="Baker Hansen Majorstuen",
            organization_number=BAKERI,
            date=dt.date(2026, 12, 7),
            gross=_d("177.00"),
            currency="NOK",
            vat_amount=_d("25.30"),
            document_number="6612",
        ),
        {_d("15"): _d("19.30"), _d("25"): _d("6.00")},
        EXPENSE,
        photo=True,
    )


def parking_screenshot() -> Probe:
    """A parking app's receipt as a screenshot: "Totalt NOK 45,00 inkl. mva 9,00"."""
    rows: list[Row] = [
        "Bypark Drift AS",
        f"Org.nr {PARKERING}",
        "Parkeringskvittering",
        ("Sone", "3041 Aker Brygge"),
        ("Start", "07.12.2026 10:02"),
        ("Slutt", "07.12.2026 11:02"),
        ("Transaksjons-ID", "P-7781220"),
        ("Totalt NOK 45,00", "inkl. mva 9,00"),
    ]
    return Probe(
        "parking_screenshot",
        screenshot(pdf(rows, width=100, size=10)),
        PNG,
        _fields(
            document_type="receipt",
            merchant_name="Bypark Drift AS",
            organization_number=PARKERING,
            date=dt.date(2026, 12, 7),
            gross=_d("45.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("9.00"),
            document_number="P-7781220",
        ),
        {_d("25"): _d("9.00")},
        EXPENSE,
        photo=True,
    )


def scanned_giro_mismatch() -> Probe:
    """The giro invoice whose giro amount is not its "Å betale", scanned (image-only PDF)."""
    doc = giro_mismatch()
    return dataclasses.replace(
        doc, name="scanned_giro_mismatch", content=scanned_pdf(doc.content), photo=True
    )


BUILDERS: tuple[Callable[[], Probe], ...] = (
    till_roll_two_rates,
    grocery_herav,
    restaurant_driks,
    kiosk_one_decimal,
    streaming_dash,
    fuel_litres,
    taxi_12,
    german_receipt,
    london_receipt,
    vvs_invoice,
    giro_mismatch,
    credit_note,
    hotel_two_rates,
    saas_reverse_charge,
    uk_invoice_gbp,
    sole_trader_no_vat,
    accountant_multi_rate_invoice,
    payment_strip_invoice,
    due_and_total_over_values,
    slash_dash_date,
    scanned_painter_png,
    bakery_photo,
    parking_screenshot,
    scanned_giro_mismatch,
)


def build_all() -> list[Probe]:
    return [build() for build in BUILDERS]


def vat_by_rate(result: object) -> dict[Decimal, Decimal]:
    """The VAT per rate of a reading: its lines' rates, else its one rate."""
    lines = getattr(result, "lines", ())
    by_rate: dict[Decimal, Decimal] = {}
    for line in lines:
        if line.vat_rate is not None and line.vat_amount is not None:
            by_rate[line.vat_rate] = by_rate.get(line.vat_rate, Decimal(0)) + line.vat_amount
    if by_rate:
        return by_rate
    rate, vat = getattr(result, "vat_rate", None), getattr(result, "vat_amount", None)
    return {rate: vat} if rate is not None and vat is not None else {}


__all__ = ["FIELDS", "Probe", "build_all", "vat_by_rate"]
