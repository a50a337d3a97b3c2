"""Documents the reader has not been tuned on: 25 realistic supplier invoices and receipts.

The external check reads documents we have never seen, so these are written the way real
ones are, not the way the corpus generator (tests/corpus) draws them: Telenor, a
regnskapsfører with "Betalingsfrist 14 dager", a Swedish supplier in SEK, a German SaaS in
EUR with "Reverse charge", a US SaaS in USD with no VAT, an order confirmation that is no
invoice, a kreditnota, a purring, KID and "Forfall"; taxi, hotel (12 %), restaurant with tip,
parking, a Vipps receipt, a "KORTKJØP" terminal slip and a crooked photo. They use the
spellings a reader meets: "Org.nr. 912 345 678 MVA" / "NO 912345678 MVA", "1. desember
2026" / "01.12.26" / "2026-12-01" / "Dec 1, 2026", "kr 1 234,50" / "NOK 1.234,50" /
"1,234.50" / "1 234,-".

Each `Unseen` carries what a person reads on it (`expected`: Extraction field -> value, for
the fields of `FIELDS`), the proposal the pipeline should make (`proposal`) and the
warnings a reviewer must be shown (`warns`: substrings). Photos (`photo=True`) need
Tesseract; the others are PDFs with a text layer. Check digits are real, amounts add up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from fpdf import FPDF

from tests.documents import bank_account, kid_mod10, org_number

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_MONO = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")

#: The fields a person reads off a document, in the order of the reading table.
FIELDS = (
    "document_type",
    "merchant_name",
    "organization_number",
    "date",
    "due_date",
    "gross",
    "currency",
    "vat_rate",
    "vat_amount",
    "kid",
    "document_number",
    "bank_account",
    "iban",
)

INVOICE = "InvoiceRegistrationProposed"
EXPENSE = "ExpenseRegistrationProposed"


@dataclasses.dataclass(frozen=True)
class Unseen:
    name: str
    content: bytes
    media_type: str
    #: field -> what a person reads (None: nothing to read there). Currency is the
    #: document's; a Norwegian one without "kr"/"NOK" is NOK as well.
    expected: dict[str, object]
    proposal: str
    warns: tuple[str, ...] = ()
    photo: bool = False


def _d(value: str) -> Decimal:
    return Decimal(value)


def spaced(org: str) -> str:
    return f"{org[:3]} {org[3:6]} {org[6:]}"


def dotted(account: str) -> str:
    return f"{account[:4]}.{account[4:6]}.{account[6:]}"


# Sellers (real check digits; the names are made up or well known, the numbers are not theirs)
TELENOR = org_number("97696763")
TALLRIKTIG = org_number("91634052")
ELEKTRO = org_number("98244310")
FJORDKRAFT = org_number("97694480")
BERG = org_number("99312774")
FJORDBYTE = org_number("92551236")
LIE = org_number("98765432")
KOMMUNE = org_number("97477880")
TAXI = org_number("97102211")
HOTEL = org_number("99137705")
BRASSERIE = org_number("92312345")
BYPARK = org_number("91987654")
KAFFE = org_number("98011223")
KIWI = org_number("91213141")
MENY = org_number("98123456")
CIRCLE = org_number("97133445")
RUTER = org_number("99160940")
BUYER = org_number("92000011")

TELENOR_KID = kid_mod10("0044019283771")
FJORDKRAFT_KID = kid_mod10("20261201553")
PURRING_KID = kid_mod10("778123400")
KOMMUNE_KID = kid_mod10("8001234563")
FJORDBYTE_KID = kid_mod10("20260455")

TELENOR_ACCOUNT = bank_account("8601111794")
TALLRIKTIG_ACCOUNT = bank_account("1503224489")
FJORDKRAFT_ACCOUNT = bank_account("5205060708")
BERG_ACCOUNT = bank_account("9710050124")
FJORDBYTE_ACCOUNT = bank_account("1207113355")
LIE_ACCOUNT = bank_account("6011050422")
KOMMUNE_ACCOUNT = bank_account("1644221100")
ELEKTRO_ACCOUNT = bank_account("3000151617")

SE_IBAN = "SE4550000000058398257466"
DE_IBAN = "DE89370400440532013000"
GB_IBAN = "GB29NWBK60161331926819"


# --- rendering ------------------------------------------------------------------------------

Row = str | tuple[str, str] | tuple[str, str, str]


def pdf(rows: Sequence[Row], *, width: float = 210, size: float = 10, title_rows: int = 1) -> bytes:
    """A page as a supplier's system prints it: lines, (left, right-aligned) pairs or
    (left, middle, right) rows, in DejaVu (€, ö, ø) on A4 or a narrow till roll."""
    doc = FPDF(unit="mm", format=(width, 297))
    doc.set_auto_page_break(auto=True, margin=10)
    margin = 6 if width < 100 else 18
    doc.set_margins(margin, 10)
    doc.add_page()
    doc.add_font("DejaVu", "", str(DEJAVU))
    doc.add_font("DejaVu", "B", str(DEJAVU))
    usable = width - 2 * margin
    for index, row in enumerate(rows):
        bold = index < title_rows
        doc.set_font("DejaVu", "B" if bold else "", size + 4 if bold else size)
        height = size * 0.62 if bold else size * 0.5
        if isinstance(row, str):
            doc.cell(usable, height, row, new_x="LMARGIN", new_y="NEXT")
        elif len(row) == 2:
            doc.cell(usable * 0.68, height, row[0])
            doc.cell(usable * 0.32, height, row[1], align="R", new_x="LMARGIN", new_y="NEXT")
        else:
            doc.cell(usable * 0.5, height, row[0])
            doc.cell(usable * 0.25, height, row[1], align="R")
            doc.cell(usable * 0.25, height, row[2], align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def screenshot(pdf_bytes: bytes) -> bytes:
    """A phone screenshot of the page: rendered sharp, as a PNG (what Vipps or a bank app
    shares)."""
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(pdf_bytes)[0]
    image = page.render(scale=2.4).to_pil().convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def crooked_photo(pdf_bytes: bytes, seed: int) -> bytes:
    """A phone photo taken in a hurry: the corpus's photo (blur, light, noise, perspective)
    of a page turned further than the corpus turns it."""
    from PIL import Image

    from tests.corpus.generate import photo

    image = Image.open(io.BytesIO(photo(pdf_bytes, seed))).convert("L")
    turned = image.rotate(7, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=90)
    out = io.BytesIO()
    turned.convert("RGB").save(out, format="JPEG", quality=80)
    return out.getvalue()


def _fields(**values: object) -> dict[str, object]:
    expected: dict[str, object] = dict.fromkeys(FIELDS)
    unknown = set(values) - set(FIELDS)
    assert not unknown, unknown
    expected.update(values)
    return expected


# --- invoices -------------------------------------------------------------------------------


def telenor() -> Unseen:
    """Telenor's monthly invoice: written date, "Forfall", KID, "kr 1 234,50"."""
    rows: list[Row] = [
        "Telenor Norge AS",
        "Postboks 800, 1331 Fornebu",
        f"Org.nr. {spaced(TELENOR)} MVA",
        "FAKTURA",
        ("Fakturanummer", "5512093847"),
        ("Fakturadato", "1. desember 2026"),
        ("Forfall", "18. desember 2026"),
        ("Kundenummer", "40012345"),
        "Fjordlys Konsulent AS",
        "Storgata 1, 0155 Oslo",
        ("Mobilabonnement Bedrift Fri+ 30 GB, desember", "549,00"),
        ("Mobilabonnement Bedrift Fri+ 10 GB, desember", "399,00"),
        ("Bruk utover abonnement, november", "286,50"),
        ("Sum eks. mva", "987,60"),
        ("Mva 25 %", "246,90"),
        ("Å betale", "kr 1 234,50"),
        f"KID: {TELENOR_KID}",
        f"Kontonummer: {dotted(TELENOR_ACCOUNT)}",
        "Betal med eFaktura eller AvtaleGiro - da slipper du å taste KID.",
    ]
    return Unseen(
        "telenor",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Telenor Norge AS",
            organization_number=TELENOR,
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 18),
            gross=_d("1234.50"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("246.90"),
            kid=TELENOR_KID,
            document_number="5512093847",
            bank_account=TELENOR_ACCOUNT,
        ),
        INVOICE,
    )


def regnskapsforer() -> Unseen:
    """An accountant's invoice: "NO 912345678 MVA", "01.12.26", "Betalingsfrist 14 dager"
    (the due date is the date plus 14 days), "NOK 10.843,75"."""
    rows: list[Row] = [
        "Tallriktig Regnskap AS",
        "Kirkegata 4, 2000 Lillestrøm",
        f"NO {TALLRIKTIG} MVA",
        "Faktura",
        "Faktura nr. 2026-1187",
        "Fakturadato: 01.12.26",
        "Betalingsfrist: 14 dager",
        "Kunde: Fjordlys Konsulent AS",
        ("Beskrivelse", "Beløp"),
        ("Regnskapsføring november, 6,5 timer à 950,00", "6 175,00"),
        ("Årsoppgjør 2026, a konto", "2 500,00"),
        ("Netto", "8 675,00"),
        ("MVA 25 %", "2 168,75"),
        ("Totalt", "NOK 10.843,75"),
        f"Betales til konto {dotted(TALLRIKTIG_ACCOUNT)}. Merk betalingen med fakturanummer.",
    ]
    return Unseen(
        "regnskapsforer",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Tallriktig Regnskap AS",
            organization_number=TALLRIKTIG,
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 15),
            gross=_d("10843.75"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("2168.75"),
            document_number="2026-1187",
            bank_account=TALLRIKTIG_ACCOUNT,
        ),
        INVOICE,
    )


def swedish_sek() -> Unseen:
    """A Swedish supplier: SEK, Swedish labels, no Swedish VAT (reverse charge)."""
    rows: list[Row] = [
        "Kontorsmaterial Norden AB",
        "Sveavägen 44, 111 34 Stockholm",
        "Org.nr 556123-4567  Momsreg.nr SE556123456701",
        "FAKTURA",
        ("Fakturanummer", "88213"),
        ("Fakturadatum", "2026-12-01"),
        ("Förfallodatum", "2026-12-31"),
        "Kund: Fjordlys Konsulent AS, Storgata 1, 0155 Oslo, Norge",
        ("Kontorsstol Ergo 300, 3 st", "10 485,00"),
        ("Frakt", "1 860,00"),
        ("Summa exkl. moms", "12 345,00"),
        ("Moms 0 %", "0,00"),
        "Omvänd betalningsskyldighet / reverse charge",
        ("Att betala SEK", "12 345,00"),
        "Bankgiro 5050-1055",
        "IBAN SE45 5000 0000 0583 9825 7466  BIC ESSESESS",
    ]
    return Unseen(
        "swedish_sek",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Kontorsmaterial Norden AB",
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 31),
            gross=_d("12345.00"),
            currency="SEK",
            vat_rate=_d("0"),
            vat_amount=_d("0.00"),
            document_number="88213",
            iban=SE_IBAN,
        ),
        INVOICE,
    )


def german_saas() -> Unseen:
    """A German SaaS in EUR: "Dec 1, 2026", "€1,234.50", VAT 0 % reverse charge, a buyer's
    Norwegian VAT number that is not the seller's."""
    rows: list[Row] = [
        "Wolkenwerk GmbH",
        "Torstraße 140, 10119 Berlin, Germany",
        "USt-IdNr. DE 298 765 432",
        "Invoice",
        ("Invoice number", "WW-2026-12-0042"),
        ("Invoice date", "Dec 1, 2026"),
        ("Due date", "Dec 15, 2026"),
        f"Bill to: Fjordlys Konsulent AS, VAT no. NO {BUYER} MVA",
        ("Team plan, 10 seats, December 2026", "€1,234.50"),
        ("Subtotal", "€1,234.50"),
        ("VAT 0% (Reverse charge)", "€0.00"),
        ("Total", "€1,234.50"),
        ("Amount due", "EUR 1,234.50"),
        "Reverse charge: VAT to be accounted for by the recipient (Art. 196 VAT Directive).",
        "IBAN DE89 3704 0044 0532 0130 00  BIC COBADEFFXXX",
    ]
    return Unseen(
        "german_saas_eur",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Wolkenwerk GmbH",
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 15),
            gross=_d("1234.50"),
            currency="EUR",
            vat_rate=_d("0"),
            vat_amount=_d("0.00"),
            document_number="WW-2026-12-0042",
            iban=DE_IBAN,
        ),
        INVOICE,
    )


def us_saas() -> Unseen:
    """A US SaaS in USD: no VAT line at all (a US seller charges none)."""
    rows: list[Row] = [
        "Datastack, Inc.",
        "548 Market St, San Francisco, CA 94104, United States",
        "Invoice",
        ("Invoice number", "8F3A2C1-0007"),
        ("Date of issue", "December 1, 2026"),
        ("Date due", "December 31, 2026"),
        "Bill to: Fjordlys Konsulent AS, Storgata 1, 0155 Oslo, Norway",
        ("Description", "Qty", "Amount"),
        ("Pro plan (Dec 1 - Dec 31, 2026)", "1", "$1,234.50"),
        ("Subtotal", "$1,234.50"),
        ("Total", "$1,234.50"),
        ("Amount due", "$1,234.50 USD"),
        "Questions? Contact billing@datastack.example",
    ]
    return Unseen(
        "us_saas_usd",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Datastack, Inc.",
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 31),
            gross=_d("1234.50"),
            currency="USD",
            vat_rate=_d("0"),
            vat_amount=_d("0.00"),
            document_number="8F3A2C1-0007",
        ),
        INVOICE,
    )


def order_confirmation() -> Unseen:
    """An online shop's order confirmation: it says itself that it is no invoice."""
    rows: list[Row] = [
        "amazon.se",
        "Order Confirmation",
        "Hello Kari, thank you for your order.",
        ("Order #", "403-7719257-6634712"),
        ("Order placed", "1 December 2026"),
        "Arriving: Friday 4 December - Monday 7 December",
        ("Logitech MX Keys S keyboard", "SEK 1 234,50"),
        ("Shipping", "SEK 0,00"),
        ("Order Total:", "SEK 1 234,50"),
        "This is not a VAT invoice. Your invoice will be available in Your Orders once the",
        "item has shipped.",
        "Payment method: Visa ending in 4242",
    ]
    return Unseen(
        "order_confirmation",
        pdf(rows),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="amazon.se",
            date=dt.date(2026, 12, 1),
            gross=_d("1234.50"),
            currency="SEK",
            document_number="403-7719257-6634712",
        ),
        EXPENSE,
        warns=("an order confirmation",),
    )


def kreditnota() -> Unseen:
    """A credit note: negative amounts, "Gjelder faktura"."""
    rows: list[Row] = [
        "Elektroservice Nord AS",
        f"Org.nr. {spaced(ELEKTRO)} MVA",
        "KREDITNOTA",
        ("Kreditnotanr.", "10045"),
        ("Dato", "03.12.2026"),
        "Gjelder faktura 10012 av 15.11.2026",
        "Kunde: Fjordlys Konsulent AS",
        ("Retur: kabeltrommel 25 m, 2 stk", "-987,60"),
        ("Sum eks. mva", "-987,60"),
        ("Mva 25 %", "-246,90"),
        ("Totalt å kreditere", "kr -1 234,50"),
        "Beløpet trekkes fra neste faktura.",
    ]
    return Unseen(
        "kreditnota",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Elektroservice Nord AS",
            organization_number=ELEKTRO,
            date=dt.date(2026, 12, 3),
            gross=_d("-1234.50"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("-246.90"),
            document_number="10045",
        ),
        INVOICE,
        warns=("a credit note",),
    )


def purring() -> Unseen:
    """A payment reminder: the invoice is booked already; a new due date and a fee."""
    rows: list[Row] = [
        "Fjordkraft AS",
        f"Org.nr. {spaced(FJORDKRAFT)} MVA",
        "PURRING - betalingspåminnelse",
        ("Dato", "01.12.2026"),
        "Vi kan ikke se å ha mottatt betaling for faktura 7781234 med forfall 15.11.2026.",
        ("Fakturanr.", "7781234"),
        ("Opprinnelig beløp", "kr 1 234,50"),
        ("Purregebyr", "kr 35,00"),
        ("Å betale", "kr 1 269,50"),
        ("Ny forfallsdato", "15.12.2026"),
        f"KID: {PURRING_KID}",
        f"Kontonr.: {dotted(FJORDKRAFT_ACCOUNT)}",
        "Har du betalt i mellomtiden, kan du se bort fra denne påminnelsen.",
    ]
    return Unseen(
        "purring",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Fjordkraft AS",
            organization_number=FJORDKRAFT,
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 15),
            gross=_d("1269.50"),
            currency="NOK",
            kid=PURRING_KID,
            document_number="7781234",
            bank_account=FJORDKRAFT_ACCOUNT,
        ),
        INVOICE,
        warns=("a payment reminder",),
    )


def fjordkraft_strom() -> Unseen:
    """An electricity bill: ISO dates, "NOK 1.234,50", "herav mva", kWh figures."""
    rows: list[Row] = [
        "Fjordkraft AS",
        f"Org.nr.: NO {FJORDKRAFT} MVA",
        "Faktura for strøm, november 2026",
        ("Fakturanr", "9912345678"),
        ("Fakturadato", "2026-12-01"),
        ("Forfallsdato", "2026-12-20"),
        "Målepunkt-ID 707057500012345678, forbruk 1 234 kWh",
        ("Strøm, spotpris + påslag", "NOK 1.071,70"),
        ("Fastbeløp", "NOK 162,80"),
        ("Beløp å betale", "NOK 1.234,50"),
        ("herav mva 25 %", "NOK 246,90"),
        f"KID {FJORDKRAFT_KID}",
        f"Kontonummer {dotted(FJORDKRAFT_ACCOUNT)}",
    ]
    return Unseen(
        "fjordkraft_strom",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Fjordkraft AS",
            organization_number=FJORDKRAFT,
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 20),
            gross=_d("1234.50"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("246.90"),
            kid=FJORDKRAFT_KID,
            document_number="9912345678",
            bank_account=FJORDKRAFT_ACCOUNT,
        ),
        INVOICE,
    )


def rorlegger() -> Unseen:
    """A plumber's invoice in whole kroner: "12 340,-"."""
    rows: list[Row] = [
        "Rørleggermester Berg AS",
        f"Org nr {spaced(BERG)} MVA",
        "Faktura",
        "Fakturanr: 3391",
        "Dato: 02.12.2026",
        "Forfallsdato: 16.12.2026",
        "Kunde: Fjordlys Konsulent AS",
        ("Utskifting blandebatteri, 4 timer arbeid", "3 960,-"),
        ("Blandebatteri Tapwell + deler", "5 912,-"),
        ("Sum eks. mva", "9 872,-"),
        ("Mva 25 %", "2 468,-"),
        ("Å betale", "12 340,-"),
        f"Kontonr: {BERG_ACCOUNT[:4]} {BERG_ACCOUNT[4:6]} {BERG_ACCOUNT[6:]}",
    ]
    return Unseen(
        "rorlegger_kr_dash",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Rørleggermester Berg AS",
            organization_number=BERG,
            date=dt.date(2026, 12, 2),
            due_date=dt.date(2026, 12, 16),
            gross=_d("12340.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("2468.00"),
            document_number="3391",
            bank_account=BERG_ACCOUNT,
        ),
        INVOICE,
    )


def english_norwegian() -> Unseen:
    """A Norwegian consultancy writing English: "1,234.50" style, "Dec 1, 2026", KID."""
    rows: list[Row] = [
        "Fjordbyte Consulting AS",
        f"Org. no.: NO {FJORDBYTE} MVA",
        "INVOICE",
        ("Invoice no.", "2026-0455"),
        ("Invoice date", "Dec 1, 2026"),
        ("Payment terms", "30 days"),
        ("Due date", "Dec 31, 2026"),
        "Customer: Fjordlys Konsulent AS",
        ("Consulting, November 2026, 10 h", "9,876.00"),
        ("Subtotal excl. VAT", "9,876.00"),
        ("VAT 25%", "2,469.00"),
        ("Total NOK", "12,345.00"),
        f"KID: {FJORDBYTE_KID}",
        f"Bank account: {dotted(FJORDBYTE_ACCOUNT)}",
    ]
    return Unseen(
        "english_norwegian",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Fjordbyte Consulting AS",
            organization_number=FJORDBYTE,
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 31),
            gross=_d("12345.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("2469.00"),
            kid=FJORDBYTE_KID,
            document_number="2026-0455",
            bank_account=FJORDBYTE_ACCOUNT,
        ),
        INVOICE,
    )


def advokat() -> Unseen:
    """A law firm: "Foretaksregisteret", "Betalingsbetingelser: 30 dager netto"."""
    rows: list[Row] = [
        "Advokatfirmaet Lie & Co AS",
        f"Foretaksregisteret NO {spaced(LIE)} MVA",
        "Faktura",
        ("Fakturanummer", "26-0231"),
        ("Fakturadato", "1. desember 2026"),
        "Betalingsbetingelser: 30 dager netto",
        "Klient: Fjordlys Konsulent AS",
        ("Bistand leiekontrakt, 8 timer à 2 469,00", "19 752,00"),
        ("Sum eksklusive mva", "19 752,00"),
        ("Merverdiavgift 25 %", "4 938,00"),
        ("Sum å betale", "kr 24 690,00"),
        f"Kontonummer {LIE_ACCOUNT[:4]} {LIE_ACCOUNT[4:6]} {LIE_ACCOUNT[6:]}",
    ]
    return Unseen(
        "advokat_30_dager",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Advokatfirmaet Lie & Co AS",
            organization_number=LIE,
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 31),
            gross=_d("24690.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("4938.00"),
            document_number="26-0231",
            bank_account=LIE_ACCOUNT,
        ),
        INVOICE,
    )


def danish_dkk() -> Unseen:
    """A Danish supplier in DKK: "I alt", "Forfaldsdato", omvendt betalingspligt."""
    rows: list[Row] = [
        "Designbureau Nørrebro ApS",
        "Jagtvej 12, 2200 København N, CVR-nr. 38112233",
        "Faktura",
        ("Fakturanr.", "1207"),
        ("Fakturadato", "1. december 2026"),
        ("Forfaldsdato", "15. december 2026"),
        "Kunde: Fjordlys Konsulent AS, Norge",
        ("Logo og visuel identitet", "9.876,00"),
        ("Moms 0 % (omvendt betalingspligt)", "0,00"),
        ("I alt DKK", "9.876,00"),
        "IBAN GB29 NWBK 6016 1331 9268 19",
    ]
    return Unseen(
        "danish_dkk",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Designbureau Nørrebro ApS",
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 15),
            gross=_d("9876.00"),
            currency="DKK",
            vat_rate=_d("0"),
            vat_amount=_d("0.00"),
            document_number="1207",
            iban=GB_IBAN,
        ),
        INVOICE,
    )


def kommune() -> Unseen:
    """A municipality's fee: outside VAT, KID and due date."""
    rows: list[Row] = [
        "Oslo kommune Bymiljøetaten",
        f"Org.nr. {spaced(KOMMUNE)}",
        "Faktura",
        ("Fakturanr", "800123456"),
        ("Fakturadato", "01.12.2026"),
        ("Forfallsdato", "31.12.2026"),
        "Kunde: Fjordlys Konsulent AS",
        ("Gebyr for gravetillatelse, Storgata 1", "1 234,50"),
        "Gebyret er ikke mva-pliktig.",
        ("Å betale", "1 234,50"),
        f"KID {KOMMUNE_KID}",
        f"Kontonr. {dotted(KOMMUNE_ACCOUNT)}",
    ]
    return Unseen(
        "kommune",
        pdf(rows),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Oslo kommune Bymiljøetaten",
            organization_number=KOMMUNE,
            date=dt.date(2026, 12, 1),
            due_date=dt.date(2026, 12, 31),
            gross=_d("1234.50"),
            currency="NOK",
            vat_rate=_d("0"),
            vat_amount=_d("0.00"),
            kid=KOMMUNE_KID,
            document_number="800123456",
            bank_account=KOMMUNE_ACCOUNT,
        ),
        INVOICE,
    )


# --- receipts -------------------------------------------------------------------------------

ROLL = 80.0  # a till roll, mm


def taxi() -> Unseen:
    rows: list[Row] = [
        "Oslo Taxi AS",
        f"Org.nr. {spaced(TAXI)} MVA",
        "KVITTERING",
        "Tur nr 558210",
        "01.12.2026 23:41",
        "Fra: Oslo lufthavn",
        "Til: Majorstuen",
        ("Taksameter", "734,00"),
        ("Totalt NOK", "734,00"),
        ("Herav mva 12 %", "78,64"),
        "Betalt med Visa ****4242",
    ]
    return Unseen(
        "taxi",
        pdf(rows, width=ROLL, size=9),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Oslo Taxi AS",
            organization_number=TAXI,
            date=dt.date(2026, 12, 1),
            gross=_d("734.00"),
            currency="NOK",
            vat_rate=_d("12"),
            vat_amount=_d("78.64"),
            document_number="558210",
        ),
        EXPENSE,
    )


def hotel() -> Unseen:
    """A hotel folio: accommodation at 12 %, arrival and departure dates."""
    rows: list[Row] = [
        "Scandic Bergen City",
        f"Scandic Hotels AS, Org.nr {spaced(HOTEL)} MVA",
        "Hotellregning",
        ("Folio nr", "448812"),
        ("Ankomst", "29.11.2026"),
        ("Avreise", "01.12.2026"),
        "Gjest: Kari Nordmann, rom 512",
        ("29.11.2026 Overnatting", "1 150,00"),
        ("30.11.2026 Overnatting", "1 150,00"),
        ("Totalt NOK", "2 300,00"),
        ("Mva 12 %", "246,43"),
        ("Betalt Mastercard", "2 300,00"),
    ]
    return Unseen(
        "hotel_12",
        pdf(rows),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Scandic Hotels AS",  # the company the org. no. names
            organization_number=HOTEL,
            date=dt.date(2026, 12, 1),
            gross=_d("2300.00"),
            currency="NOK",
            vat_rate=_d("12"),
            vat_amount=_d("246.43"),
            document_number="448812",
        ),
        EXPENSE,
    )


def restaurant_tip() -> Unseen:
    """A restaurant with a tip on the card: the VAT is on the bill, not on the tip."""
    rows: list[Row] = [
        "Brasserie Vest AS",
        f"Org.nr {spaced(BRASSERIE)} MVA",
        "Bord 12",
        "Bong nr 5521",
        "Dato 01.12.2026 20:14",
        ("2 x Fiskesuppe", "398,00"),
        ("2 x Entrecote", "658,00"),
        ("1 x Flaske vann", "104,00"),
        ("Sum", "1 160,00"),
        ("Herav mva 25 %", "232,00"),
        ("Tips", "120,00"),
        ("Totalt belastet", "1 280,00"),
        "Visa Contactless ****1234 GODKJENT",
    ]
    return Unseen(
        "restaurant_tip",
        pdf(rows, width=ROLL, size=9),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Brasserie Vest AS",
            organization_number=BRASSERIE,
            date=dt.date(2026, 12, 1),
            gross=_d("1280.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("232.00"),
            document_number="5521",
        ),
        EXPENSE,
    )


def parking() -> Unseen:
    rows: list[Row] = [
        "Bypark Oslo AS",
        f"Org.nr. {spaced(BYPARK)} MVA",
        "Parkeringskvittering",
        ("Kvitteringsnr", "99120331"),
        "Sone 3021 Tjuvholmen",
        ("Start", "01.12.2026 08:02"),
        ("Slutt", "01.12.2026 16:10"),
        "Reg.nr EL 12345",
        ("Beløp", "kr 245,00"),
        ("Herav mva 25 %", "kr 49,00"),
    ]
    return Unseen(
        "parking",
        pdf(rows, width=ROLL, size=9),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Bypark Oslo AS",
            organization_number=BYPARK,
            date=dt.date(2026, 12, 1),
            gross=_d("245.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("49.00"),
            document_number="99120331",
        ),
        EXPENSE,
    )


def fuel() -> Unseen:
    rows: list[Row] = [
        "Circle K Ullevål",
        f"Org.nr. {spaced(CIRCLE)} MVA",
        "Kvittering nr 20331",
        "2026-12-01 07:55",
        "Diesel pumpe 4",
        ("42,31 l x 21,90", "926,59"),
        ("Totalt kr", "926,59"),
        ("Mva 25 %", "185,32"),
        "Kontaktløs BankAxept",
    ]
    return Unseen(
        "fuel",
        pdf(rows, width=ROLL, size=9),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Circle K Ullevål",
            organization_number=CIRCLE,
            date=dt.date(2026, 12, 1),
            gross=_d("926.59"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("185.32"),
            document_number="20331",
        ),
        EXPENSE,
    )


def uber() -> Unseen:
    """An English ride receipt in NOK with the VAT "included"."""
    rows: list[Row] = [
        "Uber",
        "Here's your receipt for your ride, Kari",
        "Dec 1, 2026",
        ("Total", "NOK 312.00"),
        ("Trip fare", "NOK 312.00"),
        ("Includes VAT 12%", "NOK 33.43"),
        "Paid with Visa ****4242",
        "Receipt number: RCPT-77A91D",
        "Uber B.V., Burgerweeshuispad 301, 1076 HR Amsterdam",
    ]
    return Unseen(
        "uber",
        pdf(rows),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Uber",
            date=dt.date(2026, 12, 1),
            gross=_d("312.00"),
            currency="NOK",
            vat_rate=_d("12"),
            vat_amount=_d("33.43"),
            document_number="RCPT-77A91D",
        ),
        EXPENSE,
    )


def ruter() -> Unseen:
    """A ticket in whole kroner: "kr 44,-"."""
    rows: list[Row] = [
        "Ruter AS",
        f"Org.nr. {spaced(RUTER)} MVA",
        "Billettkvittering",
        "Kjøpt: 01.12.2026 kl. 07:58",
        "Enkeltbillett voksen, 1 sone",
        ("Ordrenr", "88120455"),
        ("Totalt", "kr 44,-"),
        ("herav mva 12 %", "kr 4,71"),
    ]
    return Unseen(
        "ruter_whole_kroner",
        pdf(rows, width=ROLL, size=9),
        PDF,
        _fields(
            document_type="receipt",
            merchant_name="Ruter AS",
            organization_number=RUTER,
            date=dt.date(2026, 12, 1),
            gross=_d("44.00"),
            currency="NOK",
            vat_rate=_d("12"),
            vat_amount=_d("4.71"),
            document_number="88120455",
        ),
        EXPENSE,
    )


def vipps() -> Unseen:
    """A Vipps receipt as a screenshot: "Betalt til" names the seller, Vipps is the app."""
    rows: list[Row] = [
        "Vipps",
        "Kvittering",
        "Betalt til",
        "Kaffebrenneriet AS",
        f"Org.nr. {spaced(KAFFE)}",
        "1. desember 2026 kl. 09:14",
        ("Beløp", "kr 89,00"),
        ("Herav mva 15 %", "kr 11,61"),
        ("Transaksjons-ID", "1043877123"),
    ]
    return Unseen(
        "vipps_screenshot",
        screenshot(pdf(rows, width=ROLL, size=10)),
        PNG,
        _fields(
            document_type="receipt",
            merchant_name="Kaffebrenneriet AS",
            organization_number=KAFFE,
            date=dt.date(2026, 12, 1),
            gross=_d("89.00"),
            currency="NOK",
            vat_rate=_d("15"),
            vat_amount=_d("11.61"),
            document_number="1043877123",
        ),
        EXPENSE,
        photo=True,
    )


def card_slip() -> Unseen:
    """A BankAxept terminal slip: "KORTKJØP", the amount and no VAT."""
    rows: list[Row] = [
        "KIWI 505 TORSHOV",
        f"Org.nr {spaced(KIWI)}",
        "BankAxept",
        "KORTKJØP",
        "TERM 00123456 BAX 112233",
        "01.12.26 17:42",
        "Kort: ************1234",
        "Ref: 482211",
        ("BELØP NOK", "1 234,50"),
        "GODKJENT",
        "Kundens kopi",
    ]
    return Unseen(
        "card_slip_kortkjop",
        screenshot(pdf(rows, width=60, size=9)),
        PNG,
        _fields(
            document_type="receipt",
            merchant_name="KIWI 505 TORSHOV",
            organization_number=KIWI,
            date=dt.date(2026, 12, 1),
            gross=_d("1234.50"),
            currency="NOK",
            document_number="482211",
        ),
        EXPENSE,
        photo=True,
    )


def crooked() -> Unseen:
    """A grocery receipt photographed crooked, with blur, uneven light and noise."""
    rows: list[Row] = [
        "MENY Bislett",
        f"Org.nr. {spaced(MENY)} MVA",
        "Kvittering nr 771203",
        "Dato 01.12.2026 18:03",
        ("Kaffe Friele 500 g", "89,90"),
        ("Laks 4 stk", "219,00"),
        ("Ost Jarlsberg", "145,60"),
        ("Frukt og grønt", "780,00"),
        ("Totalt", "1 234,50"),
        ("Mva 15 %", "161,02"),
        "BankAxept ****5678",
    ]
    return Unseen(
        "crooked_photo",
        crooked_photo(pdf(rows, width=ROLL, size=10), 11),
        JPEG,
        _fields(
            document_type="receipt",
            merchant_name="MENY Bislett",
            organization_number=MENY,
            date=dt.date(2026, 12, 1),
            gross=_d("1234.50"),
            currency="NOK",
            vat_rate=_d("15"),
            vat_amount=_d("161.02"),
            document_number="771203",
        ),
        EXPENSE,
        photo=True,
    )


HANSEN = org_number("98866224")
HANSEN_KID = kid_mod10("3391200")
HANSEN_ACCOUNT = bank_account("1254053377")


def scanned_pdf(pdf_bytes: bytes) -> bytes:
    """The page printed and run through an office scanner: an image-only PDF, a little
    skewed, grey paper."""
    import pypdfium2 as pdfium
    from PIL import Image

    page = pdfium.PdfDocument(pdf_bytes)[0]
    image = page.render(scale=2.5, grayscale=True).to_pil().convert("L")
    image = image.point(lambda v: int(v * 0.92))  # type: ignore[no-any-return]
    skewed = image.rotate(-1.2, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=235)
    out = io.BytesIO()
    skewed.save(out, format="PDF", resolution=180)
    return out.getvalue()


def scanned_invoice() -> Unseen:
    """An electrician's invoice on paper, scanned: no text layer, read by OCR."""
    rows: list[Row] = [
        "Hansen Elektro AS",
        "Verkstedveien 3, 1405 Langhus",
        f"Org.nr. {spaced(HANSEN)} MVA",
        "FAKTURA",
        ("Fakturanr.", "33912"),
        ("Fakturadato", "04.12.2026"),
        ("Forfallsdato", "18.12.2026"),
        "Kunde: Fjordlys Konsulent AS",
        ("Montering av 6 downlights, 3 timer", "2 550,00"),
        ("Downlights LED 6 stk", "1 398,00"),
        ("Sum eks. mva", "3 948,00"),
        ("Mva 25 %", "987,00"),
        ("Å betale", "kr 4 935,00"),
        f"KID: {HANSEN_KID}",
        f"Kontonr.: {dotted(HANSEN_ACCOUNT)}",
    ]
    return Unseen(
        "scanned_invoice",
        scanned_pdf(pdf(rows, size=11)),
        PDF,
        _fields(
            document_type="invoice",
            merchant_name="Hansen Elektro AS",
            organization_number=HANSEN,
            date=dt.date(2026, 12, 4),
            due_date=dt.date(2026, 12, 18),
            gross=_d("4935.00"),
            currency="NOK",
            vat_rate=_d("25"),
            vat_amount=_d("987.00"),
            kid=HANSEN_KID,
            document_number="33912",
            bank_account=HANSEN_ACCOUNT,
        ),
        INVOICE,
        photo=True,
    )


BUILDERS: tuple[Callable[[], Unseen], ...] = (
    telenor,
    regnskapsforer,
    swedish_sek,
    german_saas,
    us_saas,
    order_confirmation,
    kreditnota,
    purring,
    fjordkraft_strom,
    rorlegger,
    english_norwegian,
    advokat,
    danish_dkk,
    kommune,
    taxi,
    hotel,
    restaurant_tip,
    parking,
    fuel,
    uber,
    ruter,
    vipps,
    card_slip,
    crooked,
    scanned_invoice,
)


def build_all() -> list[Unseen]:
    return [build() for build in BUILDERS]


class Expected(Protocol):
    """A document with what a person reads on it (`Unseen`, and the probes' own sets)."""

    @property
    def expected(self) -> dict[str, object]: ...


def marks(doc: Expected, result: object) -> dict[str, str]:
    """Per field: "+" read right, "x" read wrong, "?" not read (a value was there), "."
    nothing there and nothing read, "!" something read where there is nothing."""
    out: dict[str, str] = {}
    for field in FIELDS:
        got, want = getattr(result, field), doc.expected[field]
        if field == "currency":
            got = got or "NOK"  # as the pipeline books it: no currency mark is NOK
        if want is None:
            out[field] = "." if got is None else "!"
        elif got is None:
            out[field] = "?"
        else:
            out[field] = "+" if got == want else "x"
    return out


_SHORT = ("type", "merch", "org", "date", "due", "gross", "cur", "rate", "vat", "kid", "no",
          "acct", "iban")  # fmt: skip


def table(rows: dict[str, dict[str, str]]) -> str:
    """The reading table: one row per document, one column per field."""
    width = max(len(name) for name in rows)
    head = " ".join(f"{s:>5}" for s in _SHORT)
    lines = [f"{'document':<{width}} {head}"]
    for name, row in rows.items():
        lines.append(f"{name:<{width}} " + " ".join(f"{row[f]:>5}" for f in FIELDS))
    return "\n".join(lines)


def accuracy(rows: dict[str, dict[str, str]]) -> tuple[int, int]:
    """(right, total) over every field of every document, "nothing there" included."""
    marks_ = [m for row in rows.values() for m in row.values()]
    return sum(m in "+." for m in marks_), len(marks_)
