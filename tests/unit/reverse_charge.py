"""What the reverse-charge tests (ADR 0055, ADR 0056 and its addendum) set up alike: a
service bought from abroad without Norwegian VAT, its posting as rows and its SAF-T lines
(the in-memory ledger to post it in is conftest.memory_ledger)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec

from bookkeeper.application.saft import AuditLine, SaftLine, transaction_of
from bookkeeper.domain.events import InvoiceRegistrationData, JournalEntryPostedData
from bookkeeper.domain.ledger import posting_for
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxTable

TABLE = TaxTable(NORWAY_TAX_RATES)
DAY = dt.date(2026, 3, 12)

#: A posted line as the tests compare it: account, debit, credit, VAT code, VAT part.
Row = tuple[str, str, str, str | None, str | None]


def reverse_charge_invoice(**changes: Any) -> InvoiceRegistrationData:
    """Figma's invoice of NOK 1053.00 without VAT, flagged reverse charge, with `changes`."""
    data = InvoiceRegistrationData(
        supplier="Figma, Inc.",
        amount=Decimal("1053.00"),
        date=DAY,
        due_date=DAY + dt.timedelta(days=30),
        vat_rate=Decimal("0"),
        vat_amount=Decimal("0.00"),
        account_code="6540",
        invoice_number="FIG-1",
        reverse_charge=True,
    )
    return msgspec.structs.replace(data, **changes) if changes else data


def posting(data: Any, table: TaxTable | None = TABLE) -> JournalEntryPostedData:
    """The journal entry a purchase is posted as (one there must be)."""
    entry = posting_for(data, proposal_id="p1", rates=table)
    assert entry is not None
    return entry


def rows(entry: JournalEntryPostedData) -> list[Row]:
    return [
        (ln.account, f"{ln.debit:.2f}", f"{ln.credit:.2f}", ln.vat_code, ln.vat_part)
        for ln in entry.lines
    ]


def saft_vat_lines(entry: JournalEntryPostedData) -> list[SaftLine]:
    """The SAF-T transaction lines of an entry posted on DAY that carry a VAT code."""
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
    return [x for x in transaction_of(audit).lines if x.vat_code]
