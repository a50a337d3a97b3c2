"""A service bought from abroad booked on an account without a deduction right (ADR 0055:
representation, 7350/7360) is SAF-T 87 (ADR 0056 addendum): the buyer's output VAT is
calculated and payable, nothing is deducted — the cost carries the VAT. The ledger, the
VAT report, SAF-T and the Fiken purchase agree."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.execution.books_actions import purchase_lines
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.saft import AuditLine, transaction_of
from bookkeeper.domain.events import InvoiceRegistrationData, LineItem
from bookkeeper.domain.ledger import posting_for
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxTable, compliance_findings
from tests.unit.conftest import VIEWER, FixedClock, principal

D = Decimal
TABLE = TaxTable(NORWAY_TAX_RATES)
ACCOUNTANT = principal("anna", "accountant")
DAY = dt.date(2026, 3, 12)


def _invoice(**changes: object) -> InvoiceRegistrationData:
    data = InvoiceRegistrationData(
        supplier="Eventbrite Ltd",
        amount=D("1000.00"),
        date=DAY,
        due_date=DAY + dt.timedelta(days=30),
        vat_rate=D("0"),
        vat_amount=D("0.00"),
        account_code="7350",
        invoice_number="EB-7",
        reverse_charge=True,
    )
    return msgspec.structs.replace(data, **changes) if changes else data


def _lines(data: InvoiceRegistrationData) -> list[tuple[str, str, str, str | None, str | None]]:
    entry = posting_for(data, proposal_id="p1", rates=TABLE)
    assert entry is not None
    return [
        (ln.account, f"{ln.debit:.2f}", f"{ln.credit:.2f}", ln.vat_code, ln.vat_part)
        for ln in entry.lines
    ]


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
    service = LedgerService(
        MemoryUnitOfWorkFactory(),
        FixedClock(),
        UuidV7Ids(),
        RoleAuthorizer(),
        lambda tenant: None,  # type: ignore[arg-type,return-value]
    )
    entry = posting_for(_invoice(), proposal_id="p1", rates=TABLE)
    assert entry is not None
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
    entry = posting_for(_invoice(), proposal_id="p1", rates=TABLE)
    assert entry is not None
    assert compliance_findings(entry, table=TABLE) == []


def test_saft_gives_the_basis_its_calculated_vat_under_87() -> None:
    entry = posting_for(_invoice(), proposal_id="p1", rates=TABLE)
    assert entry is not None
    entry_id = uuid.uuid4()
    audit = [
        AuditLine(
            entry_id=entry_id,
            line_no=index,
            position=1,
            date=DAY,
            account=line.account,
            debit=line.debit,
            credit=line.credit,
            description=line.description or "",
            entry_description=entry.description,
            vat_code=line.vat_code,
            vat_part=line.vat_part,
            source="execution",
            posted_at=dt.datetime(2026, 3, 12, tzinfo=dt.UTC),
            actor="human:per",
            supplier_id=None,
        )
        for index, line in enumerate(entry.lines, start=1)
    ]
    shown = [
        (x.account, x.vat_code, None if x.tax_amount is None else f"{x.tax_amount:.2f}")
        for x in transaction_of(audit).lines
        if x.vat_code
    ]
    assert shown == [("7350", "87", "250.00"), ("2700", "87", None)]
