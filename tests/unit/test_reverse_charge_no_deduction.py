"""A service bought from abroad booked on an account without a deduction right (ADR 0055:
representation, 7350/7360) is SAF-T 87 (ADR 0056 addendum): the buyer's output VAT is
calculated and payable, nothing is deducted — the cost carries the VAT. The ledger, the
VAT report, SAF-T and the Fiken purchase agree."""

from __future__ import annotations

from decimal import Decimal

from bookkeeper.application.execution.books_actions import purchase_lines
from bookkeeper.domain.events import InvoiceRegistrationData, LineItem
from bookkeeper.domain.rules import compliance_findings
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


def _invoice(**changes: object) -> InvoiceRegistrationData:
    """Eventbrite's invoice for representation (7350), bought from abroad."""
    eventbrite = {
        "supplier": "Eventbrite Ltd",
        "amount": D("1000.00"),
        "account_code": "7350",
        "invoice_number": "EB-7",
    }
    return reverse_charge_invoice(**(eventbrite | changes))


def _lines(data: InvoiceRegistrationData) -> list[Row]:
    return rows(posting(data))


def test_representation_bought_abroad_is_87_the_cost_carries_the_vat() -> None:
    assert _lines(_invoice()) == [
        ("7350", "1000.00", "0.00", "87", "base"),
        ("2700", "0.00", "250.00", "87", "tax"),
        ("7350", "250.00", "0.00", None, None),  # no deduction: the cost takes it
        ("2400", "0.00", "1000.00", None, None),
    ]
    # A sub-ledger code counts as its main account, 7360 as 7350.
    assert _lines(_invoice(account_code="7360"))[0] == ("7360", "1000.00", "0.00", "87", "base")


def test_parts_each_take_their_own_code() -> None:
    items = (
        LineItem(description="Software", amount=D("800.00"), vat_rate=D("0")),
        LineItem(description="Dinner", amount=D("200.00"), vat_rate=D("0"), account_code="7350"),
    )
    assert _lines(_invoice(account_code="6540", line_items=items)) == [
        ("6540", "800.00", "0.00", "86", "base"),
        ("2700", "0.00", "200.00", "86", "tax"),
        ("7350", "200.00", "0.00", "87", "base"),
        ("2700", "0.00", "50.00", "87", "tax"),
        ("7350", "50.00", "0.00", None, None),
        ("2710", "200.00", "0.00", "86", "tax"),
        ("2400", "0.00", "1000.00", None, None),
    ]


def test_fiken_gets_the_nondeductible_foreign_service_vat_type() -> None:
    [line] = purchase_lines(_invoice(), TABLE)
    assert (line.vat_type, line.net, line.vat, line.account) == (
        "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE",
        D("1000.00"),
        D(0),
        "7350",
    )
    items = (
        LineItem(description="Software", amount=D("800.00"), vat_rate=D("0")),
        LineItem(description="Dinner", amount=D("200.00"), vat_rate=D("0"), account_code="7350"),
    )
    both = purchase_lines(_invoice(account_code="6540", line_items=items), TABLE)
    assert [x.vat_type for x in both] == [
        "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
        "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE",
    ]


async def test_the_vat_report_has_87_payable_and_no_deduction() -> None:
    service = memory_ledger()
    entry = posting(_invoice())
    # Accepted as a journal entry on 7350 (87 deducts nothing, ADR 0055 §3).
    await service.post_manual(ACCOUNTANT, DAY, "Eventbrite", list(entry.lines))
    report = await service.vat_report(VIEWER, 2026, 2)
    shown = [(x.vat_code, str(x.rate), x.direction, str(x.base), str(x.vat)) for x in report.lines]
    assert shown == [("87", "25", "output", "1000.00", "250.00")]
    assert (report.output_vat, report.input_vat, report.payable) == (
        D("250.00"),
        D("0.00"),
        D("250.00"),
    )


def test_compliance_finds_nothing() -> None:
    assert compliance_findings(posting(_invoice()), table=TABLE) == []


def test_saft_gives_the_basis_its_calculated_vat_under_87() -> None:
    shown = [
        (x.account, x.vat_code, None if x.tax_amount is None else f"{x.tax_amount:.2f}")
        for x in saft_vat_lines(posting(_invoice()))
    ]
    assert shown == [("7350", "87", "250.00"), ("2700", "87", None)]
