"""ADR 0056: an invoice for a service bought from abroad without VAT (reverse charge,
omvendt avgiftsplikt, mval. § 3-30) is proposed as such and booked under SAF-T 86: the cost
at its (NOK) net, the buyer's 25 % on 2700 and its deduction on 2710; the VAT report shows
86 on both sides, and Fiken gets HIGH_FOREIGN_SERVICE_DEDUCTIBLE."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from bookkeeper.adapters.extraction.offline import extract_text_fields
from bookkeeper.application.execution.books_actions import purchase_lines
from bookkeeper.application.pipeline import _Facts
from bookkeeper.application.ports import Extraction
from bookkeeper.domain.errors import InvalidCorrection
from bookkeeper.domain.events import Corrections, InvoiceRegistrationData, LineItem
from bookkeeper.domain.ledger import UnbalancedEntry
from bookkeeper.domain.proposals import InvalidProposal, apply_corrections, normalise, validate
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxRate, TaxTable, compliance_findings
from tests.unit.conftest import VIEWER, memory_ledger, principal
from tests.unit.reverse_charge import (
    DAY,
    TABLE,
    Row,
    posting,
    reverse_charge_invoice,
    rows,
    saft_vat_lines,
)

D = Decimal
ACCOUNTANT = principal("anna", "accountant")
_invoice = reverse_charge_invoice


def _lines(data: InvoiceRegistrationData, table: TaxTable | None = TABLE) -> list[Row]:
    return rows(posting(data, table))


def test_the_cost_is_the_net_with_the_buyers_vat_on_2700_and_its_deduction_on_2710() -> None:
    assert _lines(_invoice()) == [
        ("6540", "1053.00", "0.00", "86", "base"),
        ("2700", "0.00", "263.25", "86", "tax"),
        ("2710", "263.25", "0.00", "86", "tax"),
        ("2400", "0.00", "1053.00", None, None),
    ]


def test_without_the_flag_the_same_invoice_is_an_ordinary_purchase_at_0() -> None:
    assert _lines(_invoice(reverse_charge=msgspec.UNSET)) == [
        ("6540", "1053.00", "0.00", "0", "base"),
        ("2400", "0.00", "1053.00", None, None),
    ]


def test_each_line_item_is_its_own_basis_on_its_own_account() -> None:
    items = (
        LineItem(description="Figma Professional", amount=D("853.00"), vat_rate=D("0")),
        LineItem(description="FigJam", amount=D("200.00"), vat_rate=D("0"), account_code="6550"),
    )
    assert _lines(_invoice(line_items=items)) == [
        ("6540", "853.00", "0.00", "86", "base"),
        ("2700", "0.00", "213.25", "86", "tax"),
        ("6550", "200.00", "0.00", "86", "base"),
        ("2700", "0.00", "50.00", "86", "tax"),
        ("2710", "213.25", "0.00", "86", "tax"),
        ("2710", "50.00", "0.00", "86", "tax"),
        ("2400", "0.00", "1053.00", None, None),
    ]


def test_the_rate_is_the_regular_rate_of_the_tenants_table_on_the_date() -> None:
    """A tenant whose regular output rate (code 3) is 20 % from 2026 calculates 20 %; a
    table without a regular rate on the date refuses rather than guess; no table: 25 %."""
    changed = [
        row
        if row.saft_code != "3"
        else msgspec.structs.replace(row, rate=D("20"), valid_from=dt.date(2026, 1, 1))
        for row in NORWAY_TAX_RATES
    ]
    assert _lines(_invoice(), TaxTable(changed))[1] == ("2700", "0.00", "210.60", "86", "tax")
    assert _lines(_invoice(), None)[1] == ("2700", "0.00", "263.25", "86", "tax")
    without: list[TaxRate] = [r for r in NORWAY_TAX_RATES if r.saft_code not in ("3", "86")]
    with pytest.raises(UnbalancedEntry, match="regular rate"):
        _lines(_invoice(), TaxTable(without))


def test_fiken_gets_the_net_under_the_foreign_service_vat_type() -> None:
    [line] = purchase_lines(_invoice(), TABLE)
    assert (line.vat_type, line.net, line.vat, line.account) == (
        "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
        D("1053.00"),
        D(0),
        "6540",
    )
    [ordinary] = purchase_lines(_invoice(reverse_charge=msgspec.UNSET), TABLE)
    assert ordinary.vat_type == "NONE"


async def test_the_vat_report_shows_86_on_both_sides_and_nothing_to_pay() -> None:
    service = memory_ledger()
    entry = posting(_invoice())
    await service.post_manual(ACCOUNTANT, DAY, "Figma", list(entry.lines))
    report = await service.vat_report(VIEWER, 2026, 2)
    shown = [(x.vat_code, str(x.rate), x.direction, str(x.base), str(x.vat)) for x in report.lines]
    assert shown == [
        ("86", "25", "output", "1053.00", "263.25"),
        ("86", "25", "input", "0.00", "263.25"),
    ]
    assert report.not_in_return == []
    assert (report.output_vat, report.input_vat, report.payable) == (
        D("263.25"),
        D("263.25"),
        D("0.00"),
    )


def test_a_reverse_charge_invoice_carries_no_vat_of_its_supplier() -> None:
    validate(_invoice())
    with pytest.raises(InvalidProposal, match="reverse-charge"):
        validate(_invoice(vat_rate=D("25"), vat_amount=D("210.60")))
    with pytest.raises(InvalidProposal, match="reverse-charge"):
        validate(
            _invoice(line_items=(LineItem(description="x", amount=D("1053"), vat_rate=D("25")),))
        )


def test_the_reviewer_turns_reverse_charge_on_and_off() -> None:
    plain = _invoice(reverse_charge=msgspec.UNSET)
    on = apply_corrections(plain, Corrections(reverse_charge=True))
    assert isinstance(on, InvoiceRegistrationData) and on.reverse_charge is True
    off = apply_corrections(on, Corrections(reverse_charge=False))
    assert isinstance(off, InvoiceRegistrationData) and off.reverse_charge is msgspec.UNSET
    assert b"reverseCharge" not in msgspec.json.encode(normalise(off))
    with pytest.raises(InvalidCorrection, match="reverse-charge"):
        apply_corrections(
            _invoice(reverse_charge=msgspec.UNSET, vat_rate=D("25"), vat_amount=D("210.60")),
            Corrections(reverse_charge=True),
        )


def _facts(**fields: object) -> _Facts:
    base: dict[str, object] = {
        "extractor": "offline",
        "document_type": "invoice",
        "merchant_name": "Figma, Inc.",
        "date": DAY,
        "currency": "EUR",
        "gross": D("90.00"),
        "vat_amount": D("0.00"),
        "vat_rate": D("0"),
    }
    base.update(fields)
    return _Facts(Extraction(**base), [], DAY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),  # billed in EUR, no VAT, no Norwegian organisation number
        ({"currency": "NOK", "reverse_charge": True}, True),  # says so
        ({"currency": "NOK", "evidence": {"vat_rate": "VAT 0 % (reverse charge)"}}, True),
        ({"currency": "NOK"}, False),  # a Norwegian invoice without VAT: exempt, not ours
        ({"organization_number": "974760673"}, False),  # a Norwegian seller
        ({"vat_rate": D("25"), "vat_amount": D("18.00")}, False),
        ({"vat_rate": None, "vat_amount": D("18.00")}, False),
    ],
)
def test_which_invoice_is_proposed_as_reverse_charge(
    fields: dict[str, object], expected: bool
) -> None:
    facts = _facts(**fields)
    rate = facts.vat_rate if facts.vat_rate is not None else D("25")
    assert facts.reverse_charge(rate, ()) is expected


def test_a_line_with_vat_is_no_reverse_charge() -> None:
    items = (LineItem(description="x", amount=D("90"), vat_rate=D("25")),)
    assert _facts().reverse_charge(D("0"), items) is False


@pytest.mark.parametrize(
    "wording",
    [
        "VAT 0% - reverse charge",
        "Reverse-charge: the customer accounts for VAT",
        "VAT reverse charged",
        "Omvendt avgiftsplikt",
        "Autoliquidation",
        "Steuerschuldnerschaft des Leistungsempfängers",
        "Article 196 Directive 2006/112/EC",
    ],
)
def test_the_offline_reader_notices_the_wording(wording: str) -> None:
    text = f"Acme Ltd\nInvoice\nInvoice date: 2026-03-12\n{wording}\nTotal EUR 90.00\n"
    assert extract_text_fields(text).reverse_charge is True
    plain = "Acme Ltd\nInvoice\nInvoice date: 2026-03-12\nTotal EUR 90.00\n"
    assert extract_text_fields(plain).reverse_charge is False


def test_the_reviewer_reads_the_warning_in_norwegian() -> None:
    from bookkeeper.application import messages
    from bookkeeper.application.pipeline import REVERSE_CHARGE_WARNING

    said = messages.sentence(REVERSE_CHARGE_WARNING, messages.NORWEGIAN)
    assert said.startswith("en tjeneste kjøpt fra utlandet uten mva"), said


def test_the_posting_passes_the_compliance_checks() -> None:
    """Both sides of 86 are basis × the rate valid on the date (ADR 0047 §4)."""
    items = (
        LineItem(description="a", amount=D("333.33"), vat_rate=D("0")),
        LineItem(description="b", amount=D("719.67"), vat_rate=D("0")),
    )
    for data in (_invoice(), _invoice(line_items=items)):
        assert compliance_findings(posting(data), table=TABLE) == []


def _two(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def test_in_saft_each_basis_carries_its_own_calculated_vat() -> None:
    """SAF-T pairs a basis with its code's next unclaimed VAT line: with two parts, each
    basis carries its own output VAT (credit), the deductions their own (debit)."""
    items = (
        LineItem(description="Figma Professional", amount=D("853.00"), vat_rate=D("0")),
        LineItem(description="FigJam", amount=D("200.00"), vat_rate=D("0"), account_code="6550"),
    )
    entry = posting(_invoice(line_items=items))
    shown = [
        (x.account, _two(x.tax_base), _two(x.tax_amount), x.tax_side) for x in saft_vat_lines(entry)
    ]
    assert shown == [
        ("6540", "853.00", "213.25", "credit"),
        ("2700", None, None, None),  # claimed by the basis above
        ("6550", "200.00", "50.00", "credit"),
        ("2700", None, None, None),
        ("2710", None, "213.25", "debit"),
        ("2710", None, "50.00", "debit"),
    ]
