"""The VAT report as the return (mva-melding) shows it (ADR 0047 addendum 4): its lines are
the return's codes (14 / 15 with the VAT only), what the return has no line for is listed
apart, a code without a direction shows a sale as a positive turnover, and the
self-assessed import of goods (81–85) is valid from 2017 for the compliance checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.application.ledger import LedgerService, VatReportLine
from bookkeeper.domain.events import JournalEntryPostedData, JournalLine
from bookkeeper.domain.ledger import RETURN_CODES, SAFT_VAT_CODES, is_income_account
from bookkeeper.domain.rules import (
    IMPORT_SELF_ASSESSED_CODES,
    NORWAY_TAX_RATES,
    RATE_NOT_VALID,
    REVERSE_CHARGE,
    TaxTable,
    compliance_findings,
)
from tests.unit.conftest import VIEWER, credit, debit, memory_ledger, principal

D = Decimal
TABLE = TaxTable(NORWAY_TAX_RATES)
ACCOUNTANT = principal("anna", "accountant")
DAY = dt.date(2026, 3, 12)


def _shown(
    lines: list[VatReportLine],
) -> list[tuple[str, str | None, str | None, str, str, str | None]]:
    return [
        (x.vat_code, None if x.rate is None else str(x.rate), x.direction, str(x.base),
         str(x.vat), x.side)
        for x in lines
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("account", "income"),
    [("3000", True), ("3900", True), ("3100:7", True), ("8050", True), ("8150", False),
     ("4300", False), ("6300", False), ("1500", False), ("2700", False), ("30", False)],
)  # fmt: skip
def test_income_accounts_are_class_3_and_financial_income(account: str, income: bool) -> None:
    assert is_income_account(account) is income


def test_the_return_codes_are_known_codes_and_leave_out_the_books_own() -> None:
    assert set(RETURN_CODES) <= set(SAFT_VAT_CODES)
    assert not {"0", "7", "20", "21", "22", "23"} & RETURN_CODES
    assert set(REVERSE_CHARGE) <= RETURN_CODES


async def _post(service: LedgerService, text: str, *lines: JournalLine) -> None:
    await service.post_manual(ACCOUNTANT, DAY, text, list(lines))


async def test_a_code_without_a_direction_is_signed_by_the_side_it_was_booked_on() -> None:
    """A sale outside the Act (6 on an income account) is a positive turnover in the
    return, a credit note on it takes from it; a purchase under 6 is no turnover and is
    shown apart, debit-positive. 7 on income is a sale, 0 and 20 on costs purchases —
    all apart, none in the totals."""
    service = memory_ledger()
    await _post(service, "Utleie", debit("1920", "800"), credit("3100", "800", vat_code="6"))
    await _post(service, "Kreditnota", debit("3100", "80", vat_code="6"), credit("1920", "80"))
    await _post(service, "Renter", debit("1920", "20"), credit("8050", "20", vat_code="6"))
    await _post(service, "Porto", debit("6300", "100", vat_code="6"), credit("1920", "100"))
    await _post(service, "Salg", debit("1500", "200"), credit("3900", "200", vat_code="7"))
    await _post(service, "Kjøp", debit("6800", "300", vat_code="0"), credit("1920", "300"))
    await _post(service, "Import", debit("4300", "400", vat_code="20"), credit("2400", "400"))

    report = await service.vat_report(VIEWER, 2026, 2)

    assert _shown(report.lines) == [("6", None, None, "740.00", "0.00", "sales")]
    assert _shown(report.not_in_return) == [
        ("0", "0", None, "300.00", "0.00", "purchases"),
        ("6", None, None, "100.00", "0.00", "purchases"),
        ("7", "0", None, "200.00", "0.00", "sales"),
        ("20", "0", None, "400.00", "0.00", "purchases"),
    ]
    assert (report.output_vat, report.input_vat, report.payable) == (D(0), D(0), D(0))


async def test_import_vat_paid_at_the_border_is_reported_with_its_vat_only() -> None:
    """14 / 15 have no basis in the return: the deducted VAT is the line; the basis booked
    under them and the customs value under 21 / 22 are shown apart. The totals are the
    return's."""
    service = memory_ledger()
    await _post(
        service,
        "Innførselsmva",
        debit("4300", "1000", vat_code="14", vat_part="base"),
        debit("2710", "250", vat_code="14", vat_part="tax"),
        credit("2400", "1250"),
    )
    await _post(
        service,
        "Innførselsmva, mat",
        debit("2711", "15", vat_code="15", vat_part="tax"),
        credit("2400", "15"),
    )
    await _post(
        service,
        "Tollverdi",
        debit("4300", "100", vat_code="22", vat_part="base"),
        credit("4300", "100"),
    )
    await _post(
        service,
        "Salg",
        debit("1500", "1250"),
        credit("3000", "1000", vat_code="3", vat_part="base"),
        credit("2700", "250", vat_code="3", vat_part="tax"),
    )

    report = await service.vat_report(VIEWER, 2026, 2)

    assert _shown(report.lines) == [
        ("3", "25", "output", "1000.00", "250.00", None),
        ("14", "25", "input", "0.00", "250.00", None),
        ("15", "15", "input", "0.00", "15.00", None),
    ]
    # 15 booked no basis, so it has no line apart.
    assert _shown(report.not_in_return) == [
        ("14", "25", "input", "1000.00", "0.00", None),
        ("22", "15", "input", "100.00", "0.00", None),
    ]
    assert (report.output_vat, report.input_vat, report.payable) == (
        D("250.00"),
        D("265.00"),
        D("-15.00"),
    )


def _customs(code: str, day: dt.date) -> JournalEntryPostedData:
    lines = [debit("4300", "1000", vat_code=code, vat_part="base"), credit("4300", "1000")]
    return JournalEntryPostedData(date=day, description="Tolldeklarasjon", lines=tuple(lines))


@pytest.mark.parametrize("code", sorted(IMPORT_SELF_ASSESSED_CODES))
def test_the_self_assessed_import_of_goods_is_valid_from_2017(code: str) -> None:
    """Before 1 January 2017 the customs collected the import VAT: an entry under 81–85
    dated earlier is a finding that says from when the code is valid."""
    (finding,) = compliance_findings(_customs(code, dt.date(2016, 12, 31)), table=TABLE)
    assert finding.rule == RATE_NOT_VALID
    assert finding.evidence == {
        "vatCode": code,
        "date": "2016-12-31",
        "country": "NO",
        "validFrom": "2017-01-01",
    }
    assert "valid from 2017-01-01, not on 2016-12-31" in finding.message
    # A basis alone is right on and after the first day (the VAT's rate is checked as
    # before: test_standard_tax_codes).
    assert compliance_findings(_customs(code, dt.date(2017, 1, 1)), table=TABLE) == []


def test_the_start_changes_no_rate_and_no_other_reverse_charge_code() -> None:
    """The rate a date gets is its rate code's, whatever the start (the postings, the
    report and SAF-T read it); services from abroad (86) have no such start."""
    for day in (dt.date(2016, 12, 31), dt.date(2017, 1, 1)):
        row = TABLE.rate_row("81", day)
        assert row is not None and row.rate == D("25")
    services = JournalEntryPostedData(
        date=dt.date(2015, 6, 1),
        description="Tjenester fra utlandet",
        lines=(
            debit("6700", "1000", vat_code="86", vat_part="base"),
            credit("2400", "1000"),
            credit("2700", "250", vat_code="86", vat_part="tax"),
            debit("2710", "250", vat_code="86", vat_part="tax"),
        ),
    )
    assert compliance_findings(services, table=TABLE) == []
