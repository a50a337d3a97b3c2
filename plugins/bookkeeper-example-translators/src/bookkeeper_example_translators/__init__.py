"""Example translators for bookkeeper's bus (decision 7): a plugin, not part of the core.

Each validates one business event of another service against its schema and books it as
one balanced journal entry whose id derives from the event's business key, so a
redelivery is a duplicate. Accounts follow NS 4102 (the Norwegian standard chart):

* InvoiceIssued       1500 receivables (gross) / 3000 sales revenue (net) and 2700 output
                      VAT, both under the SAF-T code of the invoice's own rate (3: 25 %,
                      31: 15 %, 33: 12 %, 32: 11.11 %); a sale without VAT on 3100 under
                      5 (zero-rated) or 52 (export), or on 3200 under 6 (outside the VAT
                      Act). A credit note (`credit_note`, or negative amounts) turned round.
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
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Final

import msgspec

from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.translation import ExternalMessage
from bookkeeper.domain.events import JournalLine, Party
from bookkeeper.domain.ledger import MAX_DESCRIPTION
from bookkeeper.domain.rules import Exchange

Amount = Decimal
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Text = Annotated[str, msgspec.Meta(max_length=200)]
Department = Annotated[str, msgspec.Meta(max_length=100)]
#: A customer's key and organisation number (SAF-T CustomerID/RegistrationNumber: 35).
PartyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=35)]

#: Output VAT, standard rate (SAF-T standard tax code 3).
OUTPUT_VAT_STANDARD: Final = "3"
_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
#: The SAF-T codes of sales an invoice may name, with their rate (norway.md's table) and
#: the NS 4102 revenue account their base is booked on: 3000 taxable, 3100 zero-rated
#: (at home or exported), 3200 outside the VAT Act.
SALES_CODES: Final[dict[str, tuple[Decimal, str]]] = {
    "3": (Decimal("25"), "3000"),
    "31": (Decimal("15"), "3000"),
    "33": (Decimal("12"), "3000"),
    "32": (Decimal("11.11"), "3000"),  # raw fish
    "5": (_ZERO, "3100"),  # zero-rated at home
    "52": (_ZERO, "3100"),  # export of goods and services
    "6": (_ZERO, "3200"),  # outside the VAT Act (no VAT is charged)
}
#: How far an invoice's VAT may lie from its net × rate: the VAT of each of its lines is
#: rounded to øre, so the sum may miss by a few øre (norway.md: checked within one krone),
#: or, on an invoice of very many lines, by up to 0.1 % of its net (far from any other
#: rate: the two nearest, 11.11 and 12 %, lie 0.89 % of the net apart).
#: At 0 % (codes 5, 52, 6) nothing is rounded: the VAT is 0, exactly. VAT on a net of 0
#: fits no rate.
VAT_TOLERANCE: Final = Decimal("1.00")
VAT_TOLERANCE_SHARE: Final = Decimal("0.001")


def _tolerance(net: Decimal) -> Decimal:
    return max(VAT_TOLERANCE, net * VAT_TOLERANCE_SHARE)


Code = Annotated[str, msgspec.Meta(min_length=1, max_length=4)]
#: ISO 4217: three capital letters.
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
NOK: Final = "NOK"
_ORE: Final = Decimal("0.01")
#: Agio and disagio (NS 4102: 8060 valutagevinst, 8160 valutatap).
EXCHANGE_GAIN: Final = "8060"
EXCHANGE_LOSS: Final = "8160"
Country = Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{2}$")]


class InvoiceIssued(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    invoice_id: Key
    issue_date: dt.date
    net_amount: Amount
    vat_amount: Amount
    customer: Text | None = None
    customer_id: PartyKey | None = None
    customer_org_number: PartyKey | None = None
    department: Department | None = None
    #: The invoice's VAT rate in percent ("15") and/or SAF-T code of sales ("31", "52");
    #: without either the rate is the one its amounts show (vat / net).
    vat_rate: Decimal | None = None
    vat_code: Code | None = None
    #: The customer's country (ISO 3166 alpha-2): a sale without VAT to a customer abroad
    #: is an export (code 52), at home zero-rated (code 5).
    customer_country: Country | None = None
    #: A credit note (its amounts positive, or both negative without this flag).
    credit_note: bool = False
    credited_invoice_id: Key | None = None
    #: The invoice's currency and its rate (NOK per unit) for the books, which are in NOK
    #: (ADR 0051: booked in NOK or not at all — no rate, no booking).
    currency: Currency = NOK
    exchange_rate: Decimal | None = None

    def __post_init__(self) -> None:
        _check_exchange(self.currency, self.exchange_rate)
        net, vat = self.net_amount, self.vat_amount
        if (net < 0 < vat) or (vat < 0 < net):
            raise ValueError(
                "net_amount and vat_amount must have the same sign "
                "(both negative, or credit_note with both positive, for a credit note)"
            )
        _check_amounts(self, signed=net < 0 or vat < 0)
        sales_code(self)  # a VAT that fits no rate it names is malformed

    @property
    def is_credit(self) -> bool:
        return self.credit_note or self.net_amount < 0 or self.vat_amount < 0


def _check_exchange(currency: str, rate: Decimal | None) -> None:
    """A foreign currency has a positive rate; NOK has none (or 1)."""
    if currency == NOK:
        if rate is not None and rate != 1:
            raise ValueError("exchange_rate is only for a currency other than NOK")
        return
    if rate is None:
        raise ValueError(
            f"exchange_rate (NOK per {currency}) is required for an amount in {currency}: "
            "the books are in NOK"
        )
    if not rate.is_finite() or rate <= 0:
        raise ValueError("exchange_rate must be a positive number of NOK per unit")


def in_nok(amount: Decimal, currency: str, rate: Decimal | None) -> Decimal:
    """`amount` in NOK, rounded to øre half up (NOK amounts as they are)."""
    if currency == NOK or rate is None:
        return amount
    return (amount * rate).quantize(_ORE, rounding=ROUND_HALF_UP)


def _in_currency(currency: str, amount: Decimal, rate: Decimal | None) -> str:
    return "" if currency == NOK else f" ({currency} {amount} à {rate})"


#: Exchange.source of a conversion at the rate the sending system gave with its event.
EXCHANGE_FROM_SENDER: Final = "sender"


def _exchange(
    currency: str, amount: Decimal, nok_amount: Decimal, rate: Decimal | None, day: dt.date
) -> Exchange | None:
    """How a document in another currency than NOK was booked (`amount` in it, at
    `rate`, `nok_amount` in the books), recorded with the entry so that SAF-T can give
    its lines' currency amounts (ADR 0020 addendum); None for NOK."""
    if currency == NOK or rate is None or amount <= 0 or nok_amount <= 0:
        return None
    return Exchange(
        currency=currency,
        amount=amount,
        nok_amount=nok_amount,
        rate=rate,
        rate_date=day,
        source=EXCHANGE_FROM_SENDER,
    )


def sales_code(invoice: InvoiceIssued) -> str:
    """The SAF-T code of sales an invoice's lines are booked under: the one it names, or
    the one of its rate, or the Norwegian rate its amounts show; ValueError when the VAT
    fits none of them (a 20 % VAT is no Norwegian rate, and booking it under code 3 would
    put a 25 % base with 20 % VAT into the VAT return)."""
    net, vat = abs(invoice.net_amount), abs(invoice.vat_amount)
    code = invoice.vat_code
    if code is not None and code not in SALES_CODES:
        raise ValueError(
            f"vat_code {code!r} is not a code of sales (one of {', '.join(SALES_CODES)})"
        )
    if invoice.vat_rate is not None:
        if not invoice.vat_rate.is_finite():
            raise ValueError("vat_rate must be a finite percentage")
        rate = invoice.vat_rate.normalize()
        fitting = [c for c, (r, _) in SALES_CODES.items() if r == rate]
        if not fitting:
            raise ValueError(f"vat_rate {rate} % is no Norwegian VAT rate of sales")
        if code is not None and code not in fitting:
            raise ValueError(f"vat_rate {rate} % is not the rate of code {code}")
        if code is None and rate:
            code = fitting[0]
    if code is None and (vat == _ZERO or invoice.vat_rate is not None):  # a sale at 0 %
        # Abroad: the customer's country says so, or, without one, a foreign currency.
        country = invoice.customer_country
        abroad = country.upper() != "NO" if country else invoice.currency != NOK
        code = "52" if abroad else "5"
    if net == _ZERO and vat != _ZERO:
        raise ValueError(
            f"vat_amount {vat} on net_amount {net} is no Norwegian VAT rate "
            "(no rate gives VAT on nothing)"
        )
    if code is None:
        code = _nearest_code(net, vat)
    rate = SALES_CODES[code][0]
    expected = (net * rate / _HUNDRED).quantize(Decimal("0.01"))
    # At 0 % every line's VAT is exactly 0: no rounding for a tolerance to forgive (a
    # zero-rated, exported or untaxed sale with 0.50 VAT put output VAT into the return
    # under a code that carries none).
    if abs(vat - expected) > (_tolerance(net) if rate else _ZERO):
        raise ValueError(
            f"vat_amount {vat} is not {rate.normalize()} % of net_amount {net} "
            f"({expected}), the rate of code {code}"
        )
    return code


def _nearest_code(net: Decimal, vat: Decimal) -> str:
    """The code of the taxed rate nearest the VAT the amounts show, within the tolerance."""
    taxed = [(c, r) for c, (r, _) in SALES_CODES.items() if r]
    code, rate = min(taxed, key=lambda item: abs(vat - net * item[1] / _HUNDRED))
    if abs(vat - net * rate / _HUNDRED) > _tolerance(net):
        shown = f" ({(vat * _HUNDRED / net).quantize(Decimal('0.01'))} %)" if net else ""
        raise ValueError(
            f"vat_amount {vat} on net_amount {net}{shown} is no Norwegian VAT rate "
            f"(25, 15, 12 or 11.11 %): send vat_rate or vat_code"
        )
    return code


class PaymentReceived(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    payment_id: Key
    date: dt.date
    amount: Amount
    invoice_id: Key | None = None
    customer: Text | None = None
    customer_id: PartyKey | None = None
    customer_org_number: PartyKey | None = None
    department: Department | None = None
    #: A payment in another currency: its rate on the day (NOK per unit), and the NOK the
    #: receivable it settles was booked at; the difference is agio (8060) or disagio (8160).
    currency: Currency = NOK
    exchange_rate: Decimal | None = None
    settled_nok_amount: Amount | None = None

    def __post_init__(self) -> None:
        _check_exchange(self.currency, self.exchange_rate)
        if self.settled_nok_amount is not None and self.currency == NOK:
            raise ValueError("settled_nok_amount is only for a payment in another currency")
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


def _check_amounts(event: msgspec.Struct, *, signed: bool = False) -> None:
    """Amounts are finite, not negative (`signed`: not positive) and in whole øre
    (msgspec turns the ValueError into a ValidationError naming the field: "1.005" used
    to be refused later as "lines[0].debit must be a non-negative amount in øre",
    naming no field the sender wrote). The VAT rate is no amount."""
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if not isinstance(value, Decimal) or name in ("vat_rate", "exchange_rate"):
            continue
        if not value.is_finite() or (value > 0 if signed else value < 0):
            if signed:
                raise ValueError(f"{name} must be a finite amount of at most 0")
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


def _described(text: str) -> str:
    """An entry's description within the ledger's limit: an invoice number and a customer
    name the schema allows (100 + 200 characters) are cut, not refused; the whole name
    stays on the receivables line's party."""
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _present(*lines: JournalLine) -> tuple[JournalLine, ...]:
    """The lines that move money (a zero VAT or contribution line is left out)."""
    return tuple(line for line in lines if line.debit != _ZERO or line.credit != _ZERO)


class InvoiceIssuedTranslator:
    types = frozenset({"InvoiceIssued"})
    subject = "invoicing.InvoiceIssued"
    schema = InvoiceIssued

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        invoice: InvoiceIssued = message.data
        code = sales_code(invoice)  # on the invoice's own figures: the rate is the same
        currency, rate = invoice.currency, invoice.exchange_rate
        net = in_nok(abs(invoice.net_amount), currency, rate)
        vat = in_nok(abs(invoice.vat_amount), currency, rate)
        foreign = _in_currency(currency, abs(invoice.net_amount + invoice.vat_amount), rate)
        revenue = SALES_CODES[code][1]
        who = f" {invoice.customer}" if invoice.customer else ""
        party = customer_of(invoice)
        if invoice.is_credit:
            # A sales credit note takes back revenue and output VAT under the invoice's
            # code (the VAT return shows it as a negative base and VAT) and lowers the
            # receivable, with the credit note as its own document and business key.
            of = (
                f" for faktura {invoice.credited_invoice_id}" if invoice.credited_invoice_id else ""
            )
            description = f"Kreditnota {invoice.invoice_id}{of}{who}{foreign}"
            lines = _present(
                _debit(revenue, net, vat_code=code, vat_part="base"),
                _debit("2700", vat, vat_code=code, vat_part="tax"),
                _credit("1500", net + vat, party=party),
            )
        else:
            description = f"Faktura {invoice.invoice_id}{who}{foreign}"
            lines = _present(
                _debit("1500", net + vat, party=party),
                _credit(revenue, net, vat_code=code, vat_part="base"),
                _credit("2700", vat, vat_code=code, vat_part="tax"),
            )
        total = abs(invoice.net_amount + invoice.vat_amount)
        return RecordJournalEntry(
            entry_id=message.entry_id(invoice.invoice_id),
            date=invoice.issue_date,
            description=_described(description),
            lines=lines,
            source=message.source,
            department=invoice.department,
            external_ref=f"{message.type}:{message.source}:{invoice.invoice_id}",
            exchange=_exchange(currency, total, net + vat, rate, invoice.issue_date),
        )


class PaymentReceivedTranslator:
    types = frozenset({"PaymentReceived"})
    subject = "invoicing.PaymentReceived"
    schema = PaymentReceived

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        payment: PaymentReceived = message.data
        of = f" for faktura {payment.invoice_id}" if payment.invoice_id else ""
        currency, rate = payment.currency, payment.exchange_rate
        received = in_nok(payment.amount, currency, rate)
        settled = payment.settled_nok_amount if payment.settled_nok_amount is not None else received
        difference = received - settled
        foreign = _in_currency(currency, payment.amount, rate)
        return RecordJournalEntry(
            entry_id=message.entry_id(payment.payment_id),
            date=payment.date,
            description=_described(f"Innbetaling {payment.payment_id}{of}{foreign}"),
            lines=_present(
                _debit("1920", received),
                _credit("1500", settled, party=customer_of(payment)),
                # The receivable was booked at the invoice's rate: what the rate moved
                # since is a financial item (agio / disagio), not revenue.
                _credit(EXCHANGE_GAIN, max(difference, _ZERO)),
                _debit(EXCHANGE_LOSS, max(-difference, _ZERO)),
            ),
            source=message.source,
            department=payment.department,
            external_ref=f"{message.type}:{message.source}:{payment.payment_id}",
            # With agio or disagio the receivable was booked at another rate than the
            # payment's: no one rate converts both lines, so none is recorded.
            exchange=None
            if difference
            else _exchange(currency, payment.amount, received, rate, payment.date),
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
