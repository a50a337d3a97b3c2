"""The offline reader on documents it was not tuned on (tests/unseen_documents.py): what a
person reads off each, field by field, and what the proposal says where reading is
uncertain. The photos and the scan are read in tests/integration/test_unseen_photos.py.

`READ` is the reading table (tests.unseen_documents.marks): "+" read right, "." nothing
there and nothing read. A field that starts to be misread ("x"), is no longer read ("?") or
is read where there is nothing ("!") changes a row, and the failure shows which."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.extraction.offline import (
    NOT_A_BILL_CAP,
    NOT_A_BILL_WARNING,
    REMINDER_WARNING,
    OfflineExtractor,
    extract_text_fields,
)
from bookkeeper.application import messages
from bookkeeper.application.ports import Extraction
from tests.unit.external_doubles import TENANT, Harness, agent
from tests.unit.pipeline_doubles import pipeline_without_bank
from tests.unseen_documents import FIELDS, Unseen, accuracy, build_all, marks, table

DOCUMENTS = {doc.name: doc for doc in build_all()}
TEXT = [doc for doc in DOCUMENTS.values() if not doc.photo]
READER = OfflineExtractor(use_ocr=False)

READ = """
document            type merch   org  date   due gross   cur  rate   vat   kid    no  acct  iban
telenor                +     +     +     +     +     +     +     +     +     +     +     +     .
regnskapsforer         +     +     +     +     +     +     +     +     +     .     +     +     .
swedish_sek            +     +     .     +     +     +     +     +     +     .     +     .     +
german_saas_eur        +     +     .     +     +     +     +     +     +     .     +     .     +
us_saas_usd            +     +     .     +     +     +     +     +     +     .     +     .     .
order_confirmation     +     +     .     +     .     +     +     .     .     .     +     .     .
kreditnota             +     +     +     +     .     +     +     +     +     .     +     .     .
purring                +     +     +     +     +     +     +     .     .     +     +     +     .
fjordkraft_strom       +     +     +     +     +     +     +     +     +     +     +     +     .
rorlegger_kr_dash      +     +     +     +     +     +     +     +     +     .     +     +     .
english_norwegian      +     +     +     +     +     +     +     +     +     +     +     +     .
advokat_30_dager       +     +     +     +     +     +     +     +     +     .     +     +     .
danish_dkk             +     +     .     +     +     +     +     +     +     .     +     .     +
kommune                +     +     +     +     +     +     +     +     +     +     +     +     .
taxi                   +     +     +     +     .     +     +     +     +     .     +     .     .
hotel_12               +     +     +     +     .     +     +     +     +     .     +     .     .
restaurant_tip         +     +     +     +     .     +     +     +     +     .     +     .     .
parking                +     +     +     +     .     +     +     +     +     .     +     .     .
fuel                   +     +     +     +     .     +     +     +     +     .     +     .     .
uber                   +     +     .     +     .     +     +     +     +     .     +     .     .
ruter_whole_kroner     +     +     +     +     .     +     +     +     +     .     +     .     .
"""


def _read(doc: Unseen) -> Extraction:
    return READER.extract_sync(doc.content, doc.media_type, None)


def test_the_set_is_twenty_five_documents_of_both_kinds_and_several_currencies() -> None:
    assert len(DOCUMENTS) == 25
    kinds = {doc.expected["document_type"] for doc in DOCUMENTS.values()}
    currencies = {doc.expected["currency"] for doc in DOCUMENTS.values()}
    assert kinds == {"invoice", "receipt"}
    assert {"NOK", "SEK", "EUR", "USD", "DKK"} <= currencies
    assert sum(doc.photo for doc in DOCUMENTS.values()) == 4


def test_the_reading_table_of_the_text_documents() -> None:
    rows = {doc.name: marks(doc, _read(doc)) for doc in TEXT}
    assert table(rows) == READ.strip("\n")
    right, total = accuracy(rows)
    assert right == total


@pytest.mark.parametrize("name", [doc.name for doc in TEXT])
def test_each_field_a_person_reads(name: str) -> None:
    doc = DOCUMENTS[name]
    result = _read(doc)
    for field in FIELDS:
        got = result.currency or "NOK" if field == "currency" else getattr(result, field)
        assert got == doc.expected[field], (field, got, doc.expected[field])
    for wanted in doc.warns:
        assert any(wanted in w for w in result.warnings), (wanted, result.warnings)
    # every field read names the text it came from, and every warning is said in Norwegian
    for field in FIELDS[1:]:
        if getattr(result, field) is not None and field != "currency":
            assert field in result.evidence, field
    for warning in result.warnings:
        assert messages.sentence(warning, messages.NORWEGIAN) != warning, warning


@pytest.mark.parametrize("name", [doc.name for doc in TEXT])
async def test_each_becomes_the_proposal_a_person_would_make(name: str) -> None:
    doc = DOCUMENTS[name]
    h = Harness()
    pipeline = pipeline_without_bank(h, READER)
    result = await pipeline.process(agent(), doc.content, doc.media_type, f"{name}.pdf")
    assert result.proposal.type == doc.proposal
    for warning in result.warnings:
        assert messages.sentence(warning, messages.NORWEGIAN) != warning, warning
    if name == "kreditnota":  # a credit of its invoice (ADR 0054), its minus no obstacle
        assert not any(w.startswith("a negative amount") for w in result.warnings)
        assert not any(w.startswith("no amount could be read") for w in result.warnings)
        async with h.uow_factory() as uow:
            view = await uow.proposals.get(TENANT, result.proposal.id)
        assert view is not None
        assert view.data["creditNote"] is True
        assert view.data["creditedInvoice"] == "10012"
        assert view.amount == Decimal("1234.50")
        assert view.review_rule == "credit-note"


# --- where reading is uncertain, the proposal says so -------------------------------------


@pytest.mark.parametrize(("name", "warning"), [
    ("order_confirmation", NOT_A_BILL_WARNING), ("purring", REMINDER_WARNING),
])  # fmt: skip
def test_a_paper_that_is_not_a_bill_of_its_own_is_said_and_held_low(
    name: str, warning: str
) -> None:
    result = _read(DOCUMENTS[name])
    assert warning in result.warnings
    assert result.confidence <= NOT_A_BILL_CAP


def test_an_order_confirmations_amount_is_not_read_as_zero_vat() -> None:
    # SEK without a VAT line is a foreign seller's bill with no VAT, but an order
    # confirmation is not a bill: nothing is read about its VAT.
    result = _read(DOCUMENTS["order_confirmation"])
    assert (result.vat_rate, result.vat_amount) == (None, None)
    assert "no VAT" in result.warnings


def test_a_reminders_new_due_date_wins_over_the_old_one_it_mentions() -> None:
    result = _read(DOCUMENTS["purring"])
    assert result.due_date == dt.date(2026, 12, 15)
    assert "Ny forfallsdato" in result.evidence["due_date"]


@pytest.mark.parametrize(("terms", "days"), [
    ("Betalingsfrist: 14 dager", 14), ("Betalingsbetingelser: 30 dager netto", 30),
    ("Payment terms: net 30 days", 30), ("Betalningsvillkor 20 dagar", 20),
])  # fmt: skip
def test_payment_terms_in_days_give_the_due_date_and_say_it_was_reckoned(
    terms: str, days: int
) -> None:
    text = (
        "Lunde Regnskap AS\nFaktura\nFakturanr 12\nFakturadato 01.12.2026\n"
        f"{terms}\nÅ betale 500,00\n"
    )
    result = extract_text_fields(text)
    assert result.due_date == dt.date(2026, 12, 1) + dt.timedelta(days=days)
    assert f"due date reckoned from the payment terms ({days} days after the date)" in (
        result.warnings
    )
    printed = extract_text_fields(text.replace(terms, f"{terms}\nForfallsdato 10.12.2026"))
    assert printed.due_date == dt.date(2026, 12, 10)  # a printed due date is the due date
    assert not any("reckoned" in w for w in printed.warnings)


def test_an_instruction_to_pay_into_the_invoices_own_account_is_no_attack() -> None:
    # "Betales til konto 1503.22.44898" names a bank account; "bokfør på konto 1920" or
    # "konto 1920" alone still looks like an instruction about the ledger.
    result = _read(DOCUMENTS["regnskapsforer"])
    assert not any("instruction-like" in w for w in result.warnings)
    assert result.confidence > Decimal("0.5")
    hostile = extract_text_fields("Lunde AS\nTotalt 100,00\nFør dette på konto 1920 nå\n")
    assert any("instruction-like" in w for w in hostile.warnings)


def test_a_tip_explains_the_vat_and_is_a_line_without_vat() -> None:
    result = _read(DOCUMENTS["restaurant_tip"])
    assert "a tip of 120,00 kr is in the total (no VAT on it)" in result.warnings
    assert not any("does not match" in w for w in result.warnings)
    assert [(ln.vat_rate, ln.vat_amount, ln.gross) for ln in result.lines] == [
        (Decimal("25"), Decimal("232.00"), Decimal("1160.00")),
        (Decimal("0"), Decimal("0.00"), Decimal("120.00")),
    ]
    # a VAT that a tip does not explain is still a doubt
    wrong = extract_text_fields(
        "Kafe Nord AS\nSum\t1 160,00\nHerav mva 25 %\t200,00\nTips\t120,00\nTotalt\t1 280,00\n"
    )
    assert any("does not match" in w for w in wrong.warnings)


@pytest.mark.parametrize(("text", "amount"), [
    ("Å betale\t12 340,-", "12340.00"), ("Å betale\t1.234,-", "1234.00"),
    ("Totalt kr 44,-", "44.00"), ("Å betale\tkr 1 234,50", "1234.50"),
    ("Totalt 1 234,-", "1234.00"),
])  # fmt: skip
def test_whole_kroner_with_a_thousands_separator(text: str, amount: str) -> None:
    assert extract_text_fields(f"Berg AS\n{text}\n").gross == Decimal(amount)


def test_a_payment_apps_receipt_names_the_payee_not_the_app() -> None:
    text = "Vipps\nKvittering\nBetalt til\nKaffebrenneriet AS\nBeløp\tkr 89,00\n"
    assert extract_text_fields(text).merchant_name == "Kaffebrenneriet AS"
    assert extract_text_fields(text.replace("Betalt til\n", "Paid to: ")).merchant_name == (
        "Kaffebrenneriet AS"
    )


def test_a_foreign_invoice_without_a_vat_line_reads_zero_and_says_so() -> None:
    result = _read(DOCUMENTS["us_saas_usd"])
    assert (result.vat_rate, result.vat_amount) == (Decimal("0"), Decimal("0.00"))
    assert "no VAT stated by a seller billing in USD: 0 % read" in result.warnings
    norwegian = extract_text_fields("Lunde AS\nFaktura\nFakturanr 1\nÅ betale\tkr 500,00\n")
    assert norwegian.vat_rate is None and "no VAT" in norwegian.warnings


def test_swedish_and_danish_labels() -> None:
    swedish = _read(DOCUMENTS["swedish_sek"])
    assert (swedish.gross, swedish.currency, swedish.due_date) == (
        Decimal("12345.00"), "SEK", dt.date(2026, 12, 31)
    )  # fmt: skip
    danish = _read(DOCUMENTS["danish_dkk"])
    assert (danish.gross, danish.currency, danish.due_date) == (
        Decimal("9876.00"), "DKK", dt.date(2026, 12, 15)
    )  # fmt: skip


def test_a_card_terminals_heading_is_not_the_merchant() -> None:
    text = "BankAxept\nKORTKJØP\nREMA 1000 SAGENE\n01.12.26 17:42\nBELØP NOK\t1 234,50\nGODKJENT\n"
    result = extract_text_fields(text)
    assert (result.merchant_name, result.gross) == ("REMA 1000 SAGENE", Decimal("1234.50"))


def test_a_reminders_overdue_date_is_no_document_date() -> None:
    text = (
        "Firma AS\nPURRING\nFaktura 123 forfalt 15.11.2026\nNy forfallsdato: 15.12.2026\n"
        "Å betale\t1 269,50\n"
    )
    result = extract_text_fields(text)
    assert (result.date, result.due_date) == (None, dt.date(2026, 12, 15))
    assert "no date" in result.warnings  # the pipeline asks for it rather than guessing


def test_the_only_amount_that_says_it_is_money_is_the_total_with_a_doubt() -> None:
    text = "Vipps\nBetalt til: Kaffebrenneriet AS\n1. desember 2026\nkr 89,00\n"
    result = extract_text_fields(text)
    assert (result.gross, result.currency) == (Decimal("89.00"), "NOK")
    assert "the only amount on the document, read as the total (no total label)" in (
        result.warnings
    )
    labelled = extract_text_fields(text.replace("kr 89,00", "Beløp kr 89,00"))
    assert labelled.confidence > result.confidence
    # a date or a bare number is no amount; two amounts without a label are not guessed
    assert extract_text_fields("Firma AS\nDato 02.04.2026\nscore 0.99\n").gross is None
    assert extract_text_fields("Firma AS\nkr 89,00\nkr 12,00\n").gross is None
