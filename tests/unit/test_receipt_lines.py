"""ADR 0052: a receipt (or expense) with several VAT rates is booked at each rate.

The reading (the offline reader's VAT breakdowns → the pipeline's parts per rate), the
payload (optional, unset and unwritten for one rate), the posting per rate, the refused
single-value corrections, Fiken's purchase lines and the review message."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.discord.handler import review_text
from bookkeeper.adapters.extraction.offline import OfflineExtractor, extract_text_fields
from bookkeeper.application.execution.books_actions import purchase_lines
from bookkeeper.application.ports import ExtractedLine
from bookkeeper.domain import money
from bookkeeper.domain.confidence import ScoringContext, score
from bookkeeper.domain.errors import InvalidCorrection, InvalidProposal
from bookkeeper.domain.events import (
    Corrections,
    ExpenseRegistrationData,
    LineItem,
    ReceiptAttachmentData,
    decode_payload,
    encode_payload,
)
from bookkeeper.domain.ledger import check_balanced, posting_for
from bookkeeper.domain.proposals import Proposal, apply_corrections, validate
from bookkeeper.domain.review import ReviewRules
from tests import documents
from tests.unit.external_doubles import PDF, Harness, agent
from tests.unit.test_pipeline import Setup, adobe_receipt

D = Decimal
DAY = dt.date(2026, 3, 14)
EXTRACTOR = OfflineExtractor(use_ocr=False)


def _parts(*pairs: tuple[str, str]) -> tuple[LineItem, ...]:
    return tuple(
        LineItem(description=f"{rate} % mva", amount=D(gross), vat_rate=D(rate))
        for rate, gross in pairs
    )


def grocery(**changes: Any) -> ReceiptAttachmentData:
    """REMA 1000: 152,00 of food at 15 % and 41,90 of other goods at 25 %."""
    values: dict[str, Any] = {
        "merchant_name": "REMA 1000 Grünerløkka",
        "amount": D("193.90"),
        "date": DAY,
        "vat_rate": D("15"),
        "vat_amount": D("28.21"),
        "account_code": "5990",
        "folio_event_id": "ev-1",
        "line_items": _parts(("15", "152.00"), ("25", "41.90")),
    }
    values.update(changes)
    return ReceiptAttachmentData(**values)


# --- reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(documents.MULTI_RATE_RECEIPTS))
async def test_each_layout_of_vat_breakdown_becomes_the_receipts_parts_per_rate(
    name: str,
) -> None:
    """Unseen layouts (a table of rate/base/VAT/sum, the base first and the rate in its own
    column, "Herav mva 15 % av <gross>", the VAT alone): the proposal has one part per
    rate, gross, adding up to the total; the headline rate is the largest part's and the
    VAT the sum of the parts'."""
    content, content_type, expected = documents.MULTI_RATE_RECEIPTS[name]()
    extraction = EXTRACTOR.extract_sync(content, content_type, None)
    setup = Setup(extraction)
    result = await setup.pipeline.process(agent(), content, content_type, f"{name}.pdf")
    [event] = await setup.harness.stream(result.proposal.id)
    data = event.data
    assert isinstance(data, ExpenseRegistrationData)
    parts = [(item.vat_rate, item.amount) for item in data.line_items]  # type: ignore[union-attr]
    assert parts == documents.MULTI_RATE_PARTS[name]
    assert sum(amount for _, amount in parts) == data.amount == expected["gross"]
    largest = max(parts, key=lambda p: p[1])
    assert data.vat_rate == largest[0]
    assert data.vat_amount == sum(money.vat_of_gross(a, r) for r, a in parts)
    assert not any("assumed" in w for w in result.warnings), result.warnings


def test_the_breakdowns_vat_is_the_printed_vat_of_each_rate() -> None:
    """Booked per part from its gross, each rate's VAT is what the receipt printed."""
    for name, build in documents.MULTI_RATE_RECEIPTS.items():
        content, content_type, _ = build()
        extraction = EXTRACTOR.extract_sync(content, content_type, None)
        printed = {line.vat_rate: line.vat_amount for line in extraction.lines}
        for rate, gross in documents.MULTI_RATE_PARTS[name]:
            assert money.vat_of_gross(gross, rate) == printed[rate], (name, rate)


async def test_a_breakdown_that_does_not_add_up_is_one_line_with_a_warning() -> None:
    extraction = adobe_receipt(
        merchant_name="Kiwi 555",
        gross=D("200.00"),
        vat_amount=D("30.00"),
        vat_rate=None,
        lines=(
            ExtractedLine(description="MVA 15 %", gross=D("100.00"), vat_rate=D("15")),
            ExtractedLine(description="MVA 25 %", gross=D("90.00"), vat_rate=D("25")),
        ),
    )
    setup = Setup(extraction)
    result = await setup.pipeline.process(agent(), PDF, None, "kiwi.pdf")
    [event] = await setup.harness.stream(result.proposal.id)
    assert isinstance(event.data, ExpenseRegistrationData)
    assert event.data.line_items is msgspec.UNSET
    assert "lineItems" not in encode_payload(event.data).decode()
    assert any("does not add up" in w for w in result.warnings), result.warnings


async def test_a_single_rate_receipts_stored_json_is_unchanged() -> None:
    """No lineItems key for one rate: what is stored is byte for byte what it was, and an
    event stored before ADR 0052 decodes to exactly its old payload and back."""
    content, content_type, _ = documents.grocery_receipt()
    setup = Setup(EXTRACTOR.extract_sync(content, content_type, None))
    result = await setup.pipeline.process(agent(), content, content_type, "rema.pdf")
    [event] = await setup.harness.stream(result.proposal.id)
    assert "lineItems" not in encode_payload(event.data).decode()
    old = (
        b'{"merchantName":"Kiwi","amount":"100.00","date":"2026-03-14","vatRate":"15",'
        b'"accountCode":"5990","folioEventId":null,"fileUrl":null,"currency":"NOK",'
        b'"vatAmount":null,"merchantOrgNumber":null,"documentNumber":null,'
        b'"description":null,"documentHash":null}'
    )
    decoded = decode_payload("ReceiptAttachmentProposed", old, 1)
    assert isinstance(decoded, ReceiptAttachmentData)
    assert decoded.line_items is msgspec.UNSET
    assert encode_payload(decoded) == old


def test_the_reader_splits_a_vat_only_breakdown_from_the_total() -> None:
    text = "Deli AS\nTOTALT\t1 234,00\nmva 15 %\t128,09\nmva 25 %\t50,40\n"
    result = extract_text_fields(text)
    lines = {line.vat_rate: line for line in result.lines}
    assert sum(line.gross or 0 for line in lines.values()) == D("1234.00")
    for rate, line in lines.items():
        assert line.gross is not None and money.vat_of_gross(line.gross, rate) == line.vat_amount


@pytest.mark.parametrize("header", ["Mva%   Grunnlag   Mva   Sum", "Sats\tGrunnlag\tMva\tSum"])
def test_a_vat_table_whose_rate_column_has_no_percent_signs_is_read(header: str) -> None:
    # The heading says the column is the rate ("Mva%", "Sats"): its rows print "15,00",
    # not "15,00 %", and were no VAT at all (25 % assumed on a grocery receipt).
    text = (
        f"Rema 1000 Torshov\nSUM NOK 180,20\n{header}\n"
        "15,00  104,33  15,65  120,98\n25,00  47,38  11,84  59,22\n"
    )
    result = extract_text_fields(text)
    parts = {line.vat_rate: (line.net, line.vat_amount) for line in result.lines}
    assert parts == {D("15"): (D("104.33"), D("15.65")), D("25"): (D("47.38"), D("11.84"))}
    assert result.vat_amount == D("27.49")


def test_figures_under_a_vat_heading_are_no_rate_unless_the_heading_names_one() -> None:
    # "12" is a Norwegian rate, but under "Mva Grunnlag Sum" it is a quantity, not a rate.
    text = "Firma AS\nTotalt 1 250,00\nMva   Grunnlag   Sum\n12  250,00  1 000,00\n"
    assert extract_text_fields(text).vat_rate != D("12")


# --- the payload and its rules ----------------------------------------------------------


def test_a_multi_rate_receipt_round_trips_with_its_line_items() -> None:
    data = grocery()
    raw = encode_payload(data)
    assert b'"lineItems":[{' in raw
    assert decode_payload("ReceiptAttachmentProposed", raw, 1) == data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": D("200.00")}, "do not add up"),
        ({"vat_rate": D("25.00"), "line_items": _parts(("15", "152.00"), ("15", "41.90"))},
         "one per VAT rate"),
        ({"vat_rate": D("12")}, "rate of one of the line items"),
        ({"vat_amount": D("48.47")}, "is not the VAT of the line items"),
        ({"line_items": ()}, "parts per VAT rate"),
    ],
)  # fmt: skip
def test_line_items_that_do_not_describe_the_receipt_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidProposal, match=message):
        validate(grocery(**changes))


def test_a_correction_of_one_rate_on_a_multi_rate_receipt_is_refused_naming_its_parts() -> None:
    """A single vatRate (or amount, or VAT) cannot say which part it means: refused, with
    the parts named; the account is corrected on every part; the same value is no change."""
    data = grocery()
    with pytest.raises(InvalidCorrection) as refused:
        apply_corrections(data, Corrections(vat_rate=D("25")))
    assert "several VAT rates" in str(refused.value)
    assert "152,00 kr at 15 %" in str(refused.value) and "41,90 kr at 25 %" in str(refused.value)
    for changes in (Corrections(amount=D("193.00")), Corrections(vat_amount=D("30.00"))):
        with pytest.raises(InvalidCorrection, match="several VAT rates"):
            apply_corrections(data, changes)
    same = apply_corrections(data, Corrections(vat_rate=D("15"), account_code="5991"))
    entry = posting_for(same, proposal_id="p-1")
    assert entry is not None
    assert {line.account for line in entry.lines if line.vat_part == "base"} == {"5991"}


def test_a_proposal_with_parts_is_proposed_and_normalised() -> None:
    data = grocery(line_items=_parts(("15.0", "152"), ("25", "41.9")), vat_rate=D("15.00"))
    proposal = Proposal.propose("p-1", data, actor="agent")
    stored = proposal.pending[0].data
    assert isinstance(stored, ReceiptAttachmentData)
    assert [(i.vat_rate, str(i.amount)) for i in stored.line_items] == [  # type: ignore[union-attr]
        (D("15"), "152.00"),
        (D("25"), "41.90"),
    ]


# --- the ledger -------------------------------------------------------------------------


def test_a_multi_rate_receipt_posts_cost_and_input_vat_per_rate() -> None:
    entry = posting_for(grocery(), proposal_id="p-1")
    assert entry is not None
    rows = [(ln.account, ln.debit, ln.credit, ln.vat_code, ln.vat_part) for ln in entry.lines]
    assert rows == [
        ("5990", D("132.17"), D("0.00"), "11", "base"),
        ("2711", D("19.83"), D("0.00"), "11", "tax"),
        ("5990", D("33.52"), D("0.00"), "1", "base"),
        ("2710", D("8.38"), D("0.00"), "1", "tax"),
        ("1920", D("0.00"), D("193.90"), None, None),
    ]


def test_a_zero_rated_part_is_a_base_without_vat() -> None:
    data = grocery(
        amount=D("144.00"),
        vat_amount=D("14.65"),
        line_items=_parts(("15", "74.00"), ("0", "45.00"), ("25", "25.00")),
    )
    entry = posting_for(data, proposal_id="p-1")
    assert entry is not None
    zero = [ln for ln in entry.lines if ln.vat_code == "0"]
    assert [(ln.account, ln.debit, ln.vat_part) for ln in zero] == [("5990", D("45.00"), "base")]


_RATES = st.sampled_from([D("25"), D("15"), D("12"), D("0")])
_GROSS = st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2)


@given(st.dictionaries(_RATES, _GROSS, min_size=2, max_size=4))
def test_the_parts_add_up_to_the_gross_and_the_vat_to_the_parts_vat(
    by_rate: dict[Decimal, Decimal],
) -> None:
    parts = tuple(
        LineItem(description=f"{r} % mva", amount=g, vat_rate=r) for r, g in by_rate.items()
    )
    gross = sum(by_rate.values(), D(0))
    headline = max(parts, key=lambda p: p.amount).vat_rate
    vat = sum((money.vat_of_gross(g, r) for r, g in by_rate.items()), D(0))
    data = grocery(amount=gross, vat_rate=headline, vat_amount=vat, line_items=parts)
    validate(data)
    entry = posting_for(data, proposal_id="p-1")
    assert entry is not None
    check_balanced(entry.lines)
    debits = sum((ln.debit for ln in entry.lines), D(0))
    assert debits == gross == sum((ln.credit for ln in entry.lines), D(0))
    assert sum((ln.debit for ln in entry.lines if ln.vat_part == "tax"), D(0)) == vat
    codes = {D("25"): "1", D("15"): "11", D("12"): "13", D("0"): "0"}
    for rate, amount in by_rate.items():
        mine = [ln for ln in entry.lines if ln.vat_code == codes[rate]]
        assert sum((ln.debit for ln in mine), D(0)) == amount  # each base and VAT at its rate


# --- Fiken, the review and the score ----------------------------------------------------


def test_an_expense_with_parts_is_one_fiken_purchase_line_per_rate() -> None:
    receipt = grocery()
    expense = ExpenseRegistrationData(
        employee="kari",
        category="food",
        merchant_name=receipt.merchant_name,
        amount=receipt.amount,
        date=receipt.date,
        vat_rate=receipt.vat_rate,
        vat_amount=receipt.vat_amount,
        account_code="5990",
        line_items=receipt.line_items,
    )
    lines = purchase_lines(expense)
    assert [(ln.net, ln.vat, ln.vat_type, ln.account) for ln in lines] == [
        (D("132.17"), D("19.83"), "MEDIUM", "5990"),
        (D("33.52"), D("8.38"), "HIGH", "5990"),
    ]
    assert all(ln.description.startswith("REMA 1000 Grünerløkka food") for ln in lines)


async def test_the_review_message_names_each_rates_part() -> None:
    setup = Setup(adobe_receipt())
    proposal_id = await setup.harness.propose(grocery(folio_event_id=None))
    view = await setup.harness.view(proposal_id)
    text = review_text(view)
    assert "mva 25 % av 41,90 kr + 15 % av 152,00 kr" in text or (
        "mva 15 % av 152,00 kr + 25 % av 41,90 kr" in text
    ), text


def test_the_vat_signal_weighs_each_part_at_its_rate() -> None:
    result = score(grocery(), ScoringContext(), ReviewRules())
    [vat] = [r for r in result.reasons if r.signal == "vat"]
    assert vat.effect == D("0.10") and "15/25 %" in vat.detail, vat


# --- Folio: the parts in the bank event's note -------------------------------------------


async def test_an_attached_multi_rate_receipt_puts_its_parts_in_the_events_note() -> None:
    """Folio takes one VAT code per event: the parts go in its note, once; a receipt at
    one rate writes no note."""
    harness = Harness()
    sha = await harness.store(PDF)
    await harness.approved(grocery(document_hash=sha, folio_event_id="ev-7"))
    await harness.approved(
        grocery(
            document_hash=sha,
            folio_event_id="ev-8",
            document_number="R-2",
            line_items=msgspec.UNSET,
            amount=D("100.00"),
            vat_amount=None,
        )
    )
    await harness.executor.run_once()
    bank = harness.world.bank("acme")
    assert bank.state["ev-7"].complete and bank.state["ev-8"].complete
    assert bank.state["ev-7"].note == (
        "MVA per sats: 15 % av 152,00 kr (mva 19,83 kr); 25 % av 41,90 kr (mva 8,38 kr)"
    )
    assert bank.state["ev-8"].note == ""
