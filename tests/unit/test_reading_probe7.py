"""Reading probe 7 (tests/readprobe_documents.py): documents written as real ones are, in
layouts the other sets do not use, read as a person reads them, field by field and VAT per
rate; and the rules the probe found missing, each on its own: a giro whose amount is not the
invoice's "Å betale", "7/12-2026", "Regning nr", "Kontantsalg nr", "Kvittering 6612",
"Beleg-Nr.", a foreign seller's own number that fails the Norwegian check (it crashed
the reader), "VAT 20% incl. £3.90", and an exempt part ("Gavekort er unntatt mva")
beside one rate. The photos and scans are read in tests/integration/test_readprobe_photos.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.extraction.offline import (
    OfflineExtractor,
    extract_text_fields,
    find_dates,
)
from bookkeeper.application import messages
from bookkeeper.application.ports import Extraction
from tests.readprobe_documents import Probe, build_all, vat_by_rate
from tests.unit.external_doubles import Harness, agent
from tests.unit.pipeline_doubles import pipeline_without_bank
from tests.unseen_documents import FIELDS, accuracy, marks, table

DOCUMENTS = {doc.name: doc for doc in build_all()}
TEXT = [doc for doc in DOCUMENTS.values() if not doc.photo]
READER = OfflineExtractor(use_ocr=False)

READ = """
document                       type merch   org  date   due gross   cur  rate   vat   kid    no  acct  iban
till_roll_two_rates               +     +     +     +     .     +     +     .     +     .     +     .     .
grocery_herav                     +     +     +     +     .     +     +     .     +     .     +     .     .
restaurant_driks                  +     +     +     +     .     +     +     +     +     .     +     .     .
kiosk_one_decimal                 +     +     +     +     .     +     +     .     +     .     .     .     .
streaming_dash                    +     +     +     +     .     +     +     +     +     .     +     .     .
fuel_litres                       +     +     +     +     .     +     +     +     +     .     +     .     .
taxi_12                           +     +     +     +     .     +     +     +     +     .     +     .     .
german_receipt                    +     +     .     +     .     +     +     .     +     .     +     .     .
london_receipt                    +     +     .     +     .     +     +     +     +     .     +     .     .
vvs_invoice                       +     +     +     +     +     +     +     +     +     +     +     +     .
giro_mismatch                     +     +     +     +     +     +     +     +     +     +     +     +     .
credit_note                       +     +     +     +     .     +     +     +     +     .     +     .     .
hotel_two_rates                   +     +     +     +     .     +     +     .     +     .     +     .     .
saas_reverse_charge               +     +     .     +     +     +     +     +     +     .     +     .     .
uk_invoice_gbp                    +     +     .     +     +     +     +     +     +     .     +     .     .
sole_trader_no_vat                +     +     +     +     .     +     +     +     +     .     +     .     .
accountant_multi_rate_invoice     +     +     +     +     +     +     +     .     +     +     +     +     .
payment_strip_invoice             +     +     +     +     +     +     +     +     +     +     +     +     .
due_and_total_over_values         +     +     +     +     +     +     +     +     +     .     +     +     .
slash_dash_date                   +     +     +     +     .     +     +     +     +     .     +     .     .
"""  # noqa: E501


def _read(doc: Probe) -> Extraction:
    return READER.extract_sync(doc.content, doc.media_type, None)


def test_the_set_has_both_kinds_several_currencies_and_images() -> None:
    assert len(DOCUMENTS) == 24
    assert {doc.expected["document_type"] for doc in DOCUMENTS.values()} == {
        "invoice",
        "receipt",
    }
    assert {"NOK", "EUR", "USD", "GBP"} <= {doc.expected["currency"] for doc in TEXT}
    assert sum(doc.photo for doc in DOCUMENTS.values()) == 4


def test_the_reading_table_of_the_text_documents() -> None:
    rows = {doc.name: marks(doc, _read(doc)) for doc in TEXT}
    assert table(rows) == READ.strip("\n")
    right, total = accuracy(rows)
    assert right == total


@pytest.mark.parametrize("name", [doc.name for doc in TEXT])
def test_each_field_and_the_vat_per_rate_a_person_reads(name: str) -> None:
    doc = DOCUMENTS[name]
    result = _read(doc)
    for field in FIELDS:
        got = getattr(result, field)
        if field == "currency":
            got = got or "NOK"
        assert got == doc.expected[field], field
    assert vat_by_rate(result) == doc.rates
    for wanted in doc.warns:
        assert any(wanted in warning for warning in result.warnings), wanted


@pytest.mark.parametrize("name", [doc.name for doc in TEXT])
async def test_each_becomes_the_proposal_a_person_would_make(name: str) -> None:
    doc = DOCUMENTS[name]
    h = Harness()
    pipeline = pipeline_without_bank(h, READER)
    result = await pipeline.process(agent(), doc.content, doc.media_type, f"{name}.pdf")
    assert result.proposal.type == doc.proposal
    for warning in result.warnings:
        assert messages.sentence(warning, messages.NORWEGIAN) != warning, warning
    for wanted in doc.warns:  # what the reader doubts reaches the reviewer
        assert any(wanted in warning for warning in result.warnings), wanted


# --- a giro that asks for another amount than the invoice -----------------------------------


def test_a_giro_amount_that_is_not_the_invoices_amount_to_pay_is_a_doubt() -> None:
    """The invoice says "Å betale 2 450,00", its giro "Beløp 2 540,00": a person asks the
    supplier before paying. Both are named; the "Å betale" stays the total; the reading
    scores below the same invoice whose giro agrees."""
    doc = DOCUMENTS["giro_mismatch"]
    result = _read(doc)
    assert result.gross == Decimal("2450.00")
    (warning,) = [w for w in result.warnings if "amounts to pay" in w]
    assert warning == (
        "different amounts to pay on one document (2 450,00 kr, 2 540,00 kr): ask the "
        "supplier which is right before paying"
    )
    assert messages.sentence(warning, messages.NORWEGIAN).startswith("ulike beløp å betale")
    agreeing = extract_text_fields(_text_of_giro("2 450,00"))
    differing = extract_text_fields(_text_of_giro("2 540,00"))
    assert not any("amounts to pay" in w for w in agreeing.warnings)
    assert any("amounts to pay" in w for w in differing.warnings)
    assert differing.confidence < agreeing.confidence


def _text_of_giro(giro_amount: str) -> str:
    return (
        "Kontorpartner AS\nOrg.nr 995443212 MVA\nFAKTURA\nFakturanummer\t77120\n"
        "Fakturadato\t07.12.2026\nForfall\t21.12.2026\nMva 25 %\t490,00\nÅ betale\t2 450,00\n"
        f"GIRO\nTil konto 1822.33.44551\tKID 550123459\nBeløp\t{giro_amount}\n"
    )


def test_a_giros_kroner_and_ore_boxes_are_compared_too() -> None:
    text = (
        "Lunde AS\nFaktura 12\nÅ betale\t5 000,00\n"
        "Kundeidentifikasjon (KID)\nKroner 5 500\nØre 00\nTil konto 1503.22.44898\n"
    )
    assert any("5 000,00 kr, 5 500,00 kr" in w for w in extract_text_fields(text).warnings)


@pytest.mark.parametrize(
    "text",
    [
        # a paid order: nothing left to pay is no second amount
        "Nettbutikk AS\nTotalt\t1 250,00\nÅ betale\t0,00\nBeløp\t1 250,00\n",
        # the amount due in the invoice's currency beside its NOK counter-value
        "Cloudly Inc.\nAmount due\tUSD 640.00\nAmount due\t6 912,00\n",
        # what was paid already is not asked for
        "Lunde AS\nÅ betale\t300,00\nBeløp betalt\t200,00\n",
        # a total and the rest to pay after a prepayment are not two amounts to pay
        "Lunde AS\nTotalt\t1 000,00\nForskudd\t-400,00\nÅ betale\t600,00\n",
    ],
)
def test_amounts_that_may_differ_are_no_doubt(text: str) -> None:
    assert not any("amounts to pay" in w for w in extract_text_fields(text).warnings)


# --- dates and numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Dato 7/12-2026", dt.date(2026, 12, 7)),
        ("07/12-26 kl. 14:02", dt.date(2026, 12, 7)),
        ("Levert 1/2-2027", dt.date(2027, 2, 1)),
    ],
)
def test_a_date_written_day_slash_month_dash_year(line: str, expected: dt.date) -> None:
    assert [d for _, _, d in find_dates(line)] == [expected]
    # day first even on a document that writes its slashed dates month first
    assert [d for _, _, d in find_dates(line, us_order=True)] == [expected]


def test_a_phone_number_with_a_slash_is_no_date() -> None:
    assert find_dates("Tlf 22/11-3344") == []


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("Bord 12   Regning nr 30071", "30071"),
        ("Regningsnr: 5521", "5521"),
        ("Kontantsalg nr 88120", "88120"),
        ("Salg nr. 4410", "4410"),
        ("Dato 07.12.2026  Kvittering 6612", "6612"),
        ("Beleg-Nr. 4471", "4471"),
        ("Rechnungsnr. RE-2026-118", "RE-2026-118"),
    ],
)
def test_more_receipt_number_labels(line: str, number: str) -> None:
    assert extract_text_fields(f"Butikk AS\n{line}\nTotalt 199,00\n").document_number == number


@pytest.mark.parametrize(
    "line", ["Kvittering 07.12.2026", "Kvittering for abonnement", "Kvittering 1 av 2"]
)
def test_a_receipts_title_before_a_date_or_words_is_no_number(line: str) -> None:
    assert extract_text_fields(f"Butikk AS\n{line}\nTotalt 199,00\n").document_number is None


# --- an exempt part beside one rate --------------------------------------------------------


def test_an_exempt_statement_beside_one_rate_is_a_zero_rate_part() -> None:
    """A kiosk's "Gavekort er unntatt mva" and "Mva 25 % 14,30" under a total of 1 234,50:
    the 25 % part is the 71,50 its VAT is the VAT of; the rest is exempt (0 %), not a VAT
    that "does not match 25 % of 1 234,50"."""
    result = _read(DOCUMENTS["kiosk_one_decimal"])
    assert not any("does not match" in w for w in result.warnings)
    assert [(ln.vat_rate, ln.gross, ln.vat_amount) for ln in result.lines] == [
        (Decimal("0"), Decimal("1163.00"), Decimal("0.00")),
        (Decimal("25"), Decimal("71.50"), Decimal("14.30")),
    ]
    # without a word of anything exempt, the same figures are still a doubt
    bare = extract_text_fields("Kiosk AS\nTotalt\t1 234,50\nMva 25 %\t14,30\n")
    assert any("does not match" in w for w in bare.warnings)
    # a VAT that is all of the total is one rate, whatever else the paper says
    whole = extract_text_fields(
        "Kiosk AS\nTotalt\t1 234,50\nMva 25 %\t246,90\nPant er unntatt mva\n"
    )
    assert (whole.vat_rate, whole.lines) == (Decimal("25"), ())


# --- a seller abroad and its own numbers --------------------------------------------------


def test_a_foreign_sellers_number_that_fails_the_norwegian_check_is_no_error() -> None:
    """A British VAT number written bare ("VAT No. 287345567") is nine digits that fail
    the Norwegian MOD11 check, as they should: the reader raised ValueError on it (the
    doubt replaced the "no organisation number" it went to remove). It is no misreading
    for a document in another currency; on a Norwegian one it still is."""
    result = _read(DOCUMENTS["london_receipt"])
    assert result.organization_number is None
    assert "foreign seller: no Norwegian organisation number expected" in result.warnings
    assert not any("MOD11" in w for w in result.warnings)
    euro = extract_text_fields("Acme SARL\nOrg.nr 123 456 789\nTotal\t1 234,50 €\n")
    assert not any("MOD11" in w for w in euro.warnings)
    norwegian = extract_text_fields("Norsk AS\nOrg.nr 123 456 789\nTotalt\t1 234,50\n")
    assert "organisation number 123456789 fails the MOD11 check" in norwegian.warnings


@pytest.mark.parametrize(
    ("line", "rate", "vat"),
    [("VAT 20% incl.\t£3.90", "20", "3.90"), ("Mva 25 % inkl.\t246,90", "25", "246.90")],
)
def test_a_vat_line_that_says_the_total_includes_it(line: str, rate: str, vat: str) -> None:
    result = extract_text_fields(f"Shop Ltd\nTotal\t1 234,50\n{line}\n")
    assert (result.vat_rate, result.vat_amount) == (Decimal(rate), Decimal(vat))
    # a total that says it includes the VAT stays the total
    total = extract_text_fields("Firma AS\nTotalt inkl. mva 25 %\t1 234,50\nMva\t246,90\n")
    assert (total.gross, total.vat_amount) == (Decimal("1234.50"), Decimal("246.90"))
