"""Example translators for bookkeeper's bus (decision 7): a plugin, not part of the core.

Each validates one business event of another service against its schema and books it as
one balanced journal entry whose id derives from the event's business key, so a
redelivery is a duplicate. Accounts follow NS 4102 (the Norwegian standard chart):

* InvoiceIssued       1500 receivables (gross) / 3000 sales revenue (net, VAT code 3)
                      and 2700 output VAT (VAT code 3)
* PaymentReceived     1920 bank / 1500 receivables

The receivables line names the customer (a `Party`) when the event does: its
`customer_id` (else a key derived from its name), name and organisation number, so the
SAF-T export lists the customer with its balance.
* PayrollRunCompleted 5000 salary (gross) / 2600 withholding tax and 1920 net pay;
                      5400 employer's contribution / 2770 contribution payable
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Annotated, Final

import msgspec

from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.translation import ExternalMessage
from bookkeeper.domain.events import JournalLine, Party

Amount = Decimal
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Text = Annotated[str, msgspec.Meta(max_length=200)]
Department = Annotated[str, msgspec.Meta(max_length=100)]
#: A customer's key and organisation number (SAF-T CustomerID/RegistrationNumber: 35).
PartyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=35)]

#: Output VAT, standard rate (SAF-T standard tax code 3).
OUTPUT_VAT_STANDARD: Final = "3"
_ZERO: Final = Decimal(0)


class InvoiceIssued(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    invoice_id: Key
    issue_date: dt.date
    net_amount: Amount
    vat_amount: Amount
    customer: Text | None = None
    customer_id: PartyKey | None = None
    customer_org_number: PartyKey | None = None
    department: Department | None = None

    def __post_init__(self) -> None:
        _check_amounts(self)


class PaymentReceived(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    payment_id: Key
    date: dt.date
    amount: Amount
    invoice_id: Key | None = None
    customer: Text | None = None
    customer_id: PartyKey | None = None
    customer_org_number: PartyKey | None = None
    department: Department | None = None

    def __post_init__(self) -> None:
        _check_amounts(self)


class PayrollRunCompleted(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    payroll_run_id: Key
    date: dt.date
    gross_salary: Amount
    tax_withheld: Amount
    net_pay: Amount
    employer_contribution: Amount
    department: Department | None = None

    def __post_init__(self) -> None:
        _check_amounts(self)


def _check_amounts(event: msgspec.Struct) -> None:
    """Amounts are finite, not negative and in whole øre (msgspec turns the ValueError
    into a ValidationError naming the field: "1.005" used to be refused later as
    "lines[0].debit must be a non-negative amount in øre", naming no field the sender
    wrote)."""
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if not isinstance(value, Decimal):
            continue
        if not value.is_finite() or value < 0:
            raise ValueError(f"{name} must be a finite amount of at least 0")
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise ValueError(f"{name} must be an amount in whole øre (at most two decimals)")


def _debit(account: str, amount: Decimal, **kw: str | Party | None) -> JournalLine:
    return JournalLine(account=account, debit=amount, **kw)  # type: ignore[arg-type]


def _credit(account: str, amount: Decimal, **kw: str | Party | None) -> JournalLine:
    return JournalLine(account=account, credit=amount, **kw)  # type: ignore[arg-type]


def customer_of(event: InvoiceIssued | PaymentReceived) -> Party | None:
    """The customer the event names: its id, else a stable key from its name (so an
    invoice and its payment that name the customer alike meet in one CustomerID)."""
    name = event.customer.strip() if event.customer else None
    key = event.customer_id
    if key is None and name:
        key = "C" + hashlib.sha256(" ".join(name.casefold().split()).encode()).hexdigest()[:16]
    if key is None:
        return None
    org_number = event.customer_org_number.replace(" ", "") if event.customer_org_number else None
    return Party(kind="customer", id=key, name=name or None, org_number=org_number or None)


def _present(*lines: JournalLine) -> tuple[JournalLine, ...]:
    """The lines that move money (a zero VAT or contribution line is left out)."""
    return tuple(line for line in lines if line.debit != _ZERO or line.credit != _ZERO)


class InvoiceIssuedTranslator:
    types = frozenset({"InvoiceIssued"})
    subject = "invoicing.InvoiceIssued"
    schema = InvoiceIssued

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        invoice: InvoiceIssued = message.data
        gross = invoice.net_amount + invoice.vat_amount
        who = f" {invoice.customer}" if invoice.customer else ""
        return RecordJournalEntry(
            entry_id=message.entry_id(invoice.invoice_id),
            date=invoice.issue_date,
            description=f"Faktura {invoice.invoice_id}{who}",
            lines=_present(
                _debit("1500", gross, party=customer_of(invoice)),
                _credit("3000", invoice.net_amount, vat_code=OUTPUT_VAT_STANDARD, vat_part="base"),
                _credit("2700", invoice.vat_amount, vat_code=OUTPUT_VAT_STANDARD, vat_part="tax"),
            ),
            source=message.source,
            department=invoice.department,
            external_ref=f"{message.type}:{message.source}:{invoice.invoice_id}",
        )


class PaymentReceivedTranslator:
    types = frozenset({"PaymentReceived"})
    subject = "invoicing.PaymentReceived"
    schema = PaymentReceived

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        payment: PaymentReceived = message.data
        of = f" for faktura {payment.invoice_id}" if payment.invoice_id else ""
        return RecordJournalEntry(
            entry_id=message.entry_id(payment.payment_id),
            date=payment.date,
            description=f"Innbetaling {payment.payment_id}{of}",
            lines=(
                _debit("1920", payment.amount),
                _credit("1500", payment.amount, party=customer_of(payment)),
            ),
            source=message.source,
            department=payment.department,
            external_ref=f"{message.type}:{message.source}:{payment.payment_id}",
        )


class PayrollRunCompletedTranslator:
    types = frozenset({"PayrollRunCompleted"})
    subject = "payroll.PayrollRunCompleted"
    schema = PayrollRunCompleted

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        run: PayrollRunCompleted = message.data
        # Not checked here: gross ≠ tax + net gives an unbalanced entry, which the
        # ledger refuses (the message is dead-lettered with that reason).
        return RecordJournalEntry(
            entry_id=message.entry_id(run.payroll_run_id),
            date=run.date,
            description=f"Lønnskjøring {run.payroll_run_id}",
            lines=_present(
                _debit("5000", run.gross_salary),
                _credit("2600", run.tax_withheld),
                _credit("1920", run.net_pay),
                _debit("5400", run.employer_contribution),
                _credit("2770", run.employer_contribution),
            ),
            source=message.source,
            department=run.department,
            external_ref=f"{message.type}:{message.source}:{run.payroll_run_id}",
        )
