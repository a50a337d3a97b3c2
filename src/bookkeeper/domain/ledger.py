"""Double-entry postings: what an executed action writes to the ledger.

Every entry balances (debits == credits, both in whole øre). Posting rules for executed
proposals follow norway.md: the cost account takes the net amount tagged with the input VAT
code, the input VAT account (2710 / 2711 / 2713 …) the VAT, and the credit side the gross
amount — the bank (1920) for what was paid at once, supplier payables (2400) for an invoice.
A reversal posts the mirror image of the entry it reverses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Final, Literal

import msgspec

from bookkeeper.domain import money
from bookkeeper.domain.deduction import no_deduction
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    JournalLine,
    LineItem,
    Party,
    ProposalData,
    ReceiptAttachmentData,
    is_credit_note,
    line_items_of,
)
from bookkeeper.domain.rules import (
    OUTPUT_VAT_ACCOUNT,
    REVERSE_CHARGE,
    VAT_TOLERANCE,
    TaxTable,
    reverse_charge_rate,
)
from bookkeeper.domain.text import has_visible, unfit_in
from bookkeeper.domain.workdays import next_working_day

BANK_ACCOUNT: Final = "1920"
SUPPLIER_PAYABLES: Final = "2400"

BASE: Final = "base"
TAX: Final = "tax"

_MAX_LINES = 500
_MAX_ACCOUNT = 32
#: A journal entry's description is at most this long (JournalEntryPosted's schema).
MAX_DESCRIPTION: Final = 200


class UnbalancedEntry(DomainError):
    """A journal entry whose debits and credits differ, or with a malformed line."""

    code = "unbalanced-entry"


class InvalidParty(DomainError):
    """A line's party (customer or supplier) that names no one SAF-T can carry: an unknown
    kind, an id that is empty, blank, too long or not fit to read, a bad name or number."""

    code = "invalid-party"


class InvalidJournalEntry(DomainError):
    """A journal entry that is malformed apart from its lines (no description …)."""

    code = "invalid-journal-entry"


class VatTreatment(msgspec.Struct, frozen=True, kw_only=True):
    """How one purchase VAT rate is booked: SAF-T input code, input VAT account, Fiken name."""

    rate: Decimal
    saft_code: str
    vat_account: str | None
    fiken_vat_type: str


#: Input (purchase) VAT by rate (norway.md, integrations.md § vatType).
INPUT_VAT: Final[dict[Decimal, VatTreatment]] = {
    Decimal("25"): VatTreatment(
        rate=Decimal("25"), saft_code="1", vat_account="2710", fiken_vat_type="HIGH"
    ),
    Decimal("15"): VatTreatment(
        rate=Decimal("15"), saft_code="11", vat_account="2711", fiken_vat_type="MEDIUM"
    ),
    Decimal("12"): VatTreatment(
        rate=Decimal("12"), saft_code="13", vat_account="2713", fiken_vat_type="LOW"
    ),
    Decimal("11.11"): VatTreatment(
        rate=Decimal("11.11"), saft_code="12", vat_account="2712", fiken_vat_type="RAW_FISH"
    ),
    Decimal("0"): VatTreatment(
        rate=Decimal("0"), saft_code="0", vat_account=None, fiken_vat_type="NONE"
    ),
}


def input_vat(
    rate: Decimal, rates: TaxTable | None = None, on: dt.date | None = None
) -> VatTreatment:
    """The booking of a purchase VAT rate; UnbalancedEntry for a rate we cannot book.

    With the tax rates as data (`rates`) and the document's date (`on`, issue 12): the
    input code that has this rate on that date (a rate change needs no deploy); a rate not
    valid then is booked under the code that last had it (the compliance context flags
    it), and only a rate no code ever had falls back to the built-in table."""
    if rates is not None and on is not None:
        row = rates.purchase(rate, on)
        if row is not None and row.rate is not None:
            return VatTreatment(
                rate=row.rate.normalize() if row.rate else Decimal(0),
                saft_code=row.saft_code,
                vat_account=row.account,
                fiken_vat_type=_FIKEN_VAT_TYPE.get(row.tax_type, "NONE"),
            )
    try:
        return INPUT_VAT[rate.normalize() if rate else Decimal("0")]
    except KeyError:
        raise UnbalancedEntry(f"no input VAT treatment for rate {rate}") from None


#: A purchase on an account without an input VAT deduction right (domain.deduction,
#: ADR 0055): its whole gross amount on the cost account, no input VAT line, the SAF-T
#: code 0 (no VAT treatment, in no VAT return) and Fiken's vatType NONE.
NO_DEDUCTION: Final = VatTreatment(
    rate=Decimal("0"), saft_code="0", vat_account=None, fiken_vat_type="NONE"
)


def purchase_vat(
    account: str, rate: Decimal, rates: TaxTable | None = None, on: dt.date | None = None
) -> VatTreatment:
    """`input_vat` of a purchase booked on `account`: NO_DEDUCTION when the account carries
    no deduction right (the rate is still checked: a rate no code has is refused)."""
    treatment = input_vat(rate, rates, on)
    return NO_DEDUCTION if no_deduction(account) else treatment


#: Fiken's vatType of a purchase, by the tax type of its rate (integrations.md § vatType).
_FIKEN_VAT_TYPE: Final[dict[str, str]] = {
    "regular": "HIGH",
    "middle": "MEDIUM",
    "low": "LOW",
    "raw-fish": "RAW_FISH",
    "zero": "NONE",
    "none": "NONE",
}


def check_balanced(lines: Iterable[JournalLine]) -> None:
    """Raise UnbalancedEntry unless the lines form a valid, balanced entry."""
    lines = list(lines)
    if len(lines) < 2:
        raise UnbalancedEntry("a journal entry needs at least two lines")
    if len(lines) > _MAX_LINES:
        raise UnbalancedEntry(f"a journal entry has at most {_MAX_LINES} lines")
    debit = credit = _ZERO
    # Every bus entry and proposal passes here (twice for a batch, ADR 0046): the checks
    # are the same as ever, in the same order, with the same messages, only without
    # building a label, tuples or constants per line when nothing is wrong.
    for index, line in enumerate(lines):
        account = line.account
        if not account or len(account) > _MAX_ACCOUNT or _SPACE_OR_NUL.search(account):
            raise UnbalancedEntry(f"lines[{index}].account must be a non-empty code without spaces")
        _check_amount(line.debit, index, "debit")
        _check_amount(line.credit, index, "credit")
        if (line.debit == 0) == (line.credit == 0):
            raise UnbalancedEntry(f"lines[{index}] must have either a debit or a credit amount")
        vat_part = line.vat_part
        if vat_part is not None and (vat_part not in (BASE, TAX) or not line.vat_code):
            raise UnbalancedEntry(f"lines[{index}].vatPart must be 'base' or 'tax', with a vatCode")
        description = line.description
        if description is not None:
            if len(description) > MAX_DESCRIPTION or "\x00" in description:
                raise UnbalancedEntry(f"lines[{index}].description is too long or contains NUL")
            unfit = unfit_in(description, breaks=True)
            if unfit is not None:
                raise UnbalancedEntry(f"lines[{index}].description must not contain {unfit}")
        if line.party is not None:
            check_party(line.party, f"lines[{index}].party")
        debit += line.debit
        credit += line.credit
    if debit != credit:
        raise UnbalancedEntry(f"debits ({debit}) do not equal credits ({credit})")


_ZERO: Final = Decimal(0)
_IMPLAUSIBLE: Final = Decimal("1e12")
#: What str.isspace() calls whitespace (re's \s on str is the same set), or NUL.
_SPACE_OR_NUL: Final = re.compile(r"[\s\x00]")


def _check_amount(value: Decimal, index: int, name: str) -> None:
    # Size before øre: a figure of more digits than the context holds cannot be rounded
    # to øre either, and "not an amount in øre" would send its sender after decimals.
    if not value.is_finite() or value < 0:
        raise UnbalancedEntry(f"lines[{index}].{name} must be a non-negative amount in øre")
    if value >= _IMPLAUSIBLE:
        raise UnbalancedEntry(f"lines[{index}].{name} is implausibly large")
    if not money.has_at_most_two_decimals(value):
        raise UnbalancedEntry(f"lines[{index}].{name} must be a non-negative amount in øre")


CUSTOMER: Final = "customer"
SUPPLIER: Final = "supplier"
#: SAF-T's CustomerID/SupplierID and RegistrationNumber are SAFmiddle1text (35).
_MAX_PARTY_ID = 35


def check_party(party: Party, where: str = "party") -> None:
    """Raise InvalidParty unless the party is a customer or supplier with a usable id."""
    if party.kind not in (CUSTOMER, SUPPLIER):
        raise InvalidParty(f"{where}.kind must be 'customer' or 'supplier'")
    if not has_visible(party.id) or len(party.id) > _MAX_PARTY_ID or "\x00" in party.id:
        raise InvalidParty(
            f"{where}.id must name the party: 1 to {_MAX_PARTY_ID} characters, not only "
            "blanks, no NUL"
        )
    if party.name is not None and (len(party.name) > MAX_DESCRIPTION or "\x00" in party.name):
        raise InvalidParty(f"{where}.name is too long or contains NUL")
    number = party.org_number
    if number is not None and (
        not number.strip() or len(number) > _MAX_PARTY_ID or "\x00" in number
    ):
        raise InvalidParty(f"{where}.orgNumber must be 1 to {_MAX_PARTY_ID} characters")
    # What an audit line, a report or SAF-T shows must read as it is stored (ADR 0049).
    for field, value in (("id", party.id), ("name", party.name), ("orgNumber", number)):
        unfit = None if value is None else unfit_in(value)
        if unfit is not None:
            raise InvalidParty(f"{where}.{field} must not contain {unfit}")


def check_account_codes(lines: Iterable[JournalLine]) -> None:
    """Raise UnbalancedEntry unless every line's account is visible ASCII, as a proposal's
    is (ADR 0049, round two): a full-width "６３００", an Arabic-Indic "٦٣٠٠" or "63\u200b00"
    is an account of its own beside 6300 that reads, and `int()` parses, as 6300. Checked
    where an entry comes in (the API, the bus), not in `check_balanced`, so an entry
    already in the books can still be reversed."""
    for index, line in enumerate(lines):
        if not line.account.isascii() or not line.account.isprintable():
            raise UnbalancedEntry(
                f"lines[{index}].account must be a code of visible ASCII characters"
            )


def check_description(description: str) -> None:
    """Raise InvalidJournalEntry unless the entry's description is fit for the books."""
    if not has_visible(description):  # also a zero-width space alone (ADR 0049)
        raise InvalidJournalEntry("a journal entry needs a description")
    if len(description) > MAX_DESCRIPTION or "\x00" in description:
        raise InvalidJournalEntry(
            f"the description has at most {MAX_DESCRIPTION} characters and no NUL"
        )
    unfit = unfit_in(description, breaks=True)
    if unfit is not None:
        raise InvalidJournalEntry(f"the description must not contain {unfit}")


#: The dates an entry may carry (ADR 0026): those every date query is held to, so that a
#: period around any booked date can be computed and read back.
EARLIEST_ENTRY_DATE: Final = dt.date(1900, 1, 1)
LATEST_ENTRY_DATE: Final = dt.date(2200, 12, 31)


def check_entry_date(date: dt.date) -> None:
    """Raise InvalidJournalEntry for a date outside EARLIEST..LATEST_ENTRY_DATE."""
    if not EARLIEST_ENTRY_DATE <= date <= LATEST_ENTRY_DATE:
        raise InvalidJournalEntry(
            f"date {date.isoformat()} must lie between {EARLIEST_ENTRY_DATE.isoformat()} "
            f"and {LATEST_ENTRY_DATE.isoformat()}"
        )


def _cost_lines(
    account: str,
    gross: Decimal,
    rate: Decimal,
    description: str,
    vat_amount: Decimal | None,
    rates: TaxTable | None = None,
    on: dt.date | None = None,
) -> list[JournalLine]:
    treatment = purchase_vat(account, rate, rates, on)
    vat = money.vat_of_gross(gross, rate) if vat_amount is None else vat_amount
    if treatment.vat_account is None:
        vat = Decimal(0)
    net = gross - vat
    lines = [
        JournalLine(
            account=account,
            debit=net,
            description=description,
            vat_code=treatment.saft_code,
            vat_part=BASE,
        )
    ]
    if vat:
        assert treatment.vat_account is not None
        lines.append(
            JournalLine(
                account=treatment.vat_account,
                debit=vat,
                description=f"Inngående mva {treatment.rate} %",
                vat_code=treatment.saft_code,
                vat_part=TAX,
            )
        )
    return lines


def _purchase_lines(
    data: ReceiptAttachmentData | ExpenseRegistrationData | InvoiceRegistrationData,
    parts: Sequence[LineItem],
    description: str,
    part_description: Callable[[LineItem], str],
    rates: TaxTable | None,
) -> list[JournalLine]:
    """A purchase's cost and input VAT lines: one pair per part (its own account, else
    the purchase's; its VAT reckoned from its gross), else one for the whole amount (with
    the VAT amount the document states) — each rate under the code the tenant's table has
    on the document's date."""
    if is_reverse_charge(data):
        return _reverse_charge_purchase(data, parts, description, part_description, rates)
    if not parts:
        return _cost_lines(
            data.account_code,
            data.amount,
            data.vat_rate,
            description,
            data.vat_amount,
            rates,
            data.date,
        )
    lines: list[JournalLine] = []
    for part in parts:
        lines.extend(
            _cost_lines(
                part.account_code or data.account_code,
                part.amount,
                part.vat_rate,
                part_description(part),
                None,
                rates,
                data.date,
            )
        )
    return lines


#: The SAF-T code of a service bought from abroad, regular rate, deductible (ADR 0056).
FOREIGN_SERVICE_CODE: Final = "86"
#: The same without a deduction right (ADR 0056 addendum: a cost ADR 0055 allows no
#: deduction on, e.g. representation on 7350): the output VAT is payable, the cost carries it.
FOREIGN_SERVICE_NO_DEDUCTION_CODE: Final = "87"
#: Fiken's vatType of it (integrations.md § vatType).
FOREIGN_SERVICE_FIKEN_VAT_TYPE: Final = "HIGH_FOREIGN_SERVICE_DEDUCTIBLE"
#: Fiken's vatType per foreign-service code (the spec's purchase vatTypes 86 and 87).
FOREIGN_SERVICE_FIKEN_VAT_TYPES: Final[dict[str, str]] = {
    FOREIGN_SERVICE_CODE: FOREIGN_SERVICE_FIKEN_VAT_TYPE,
    FOREIGN_SERVICE_NO_DEDUCTION_CODE: "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE",
}


def foreign_service_code(account: str) -> str:
    """The SAF-T code of a service bought from abroad booked on `account`: 87 on an
    account without a deduction right (deduction.no_deduction, ADR 0055), else 86."""
    return FOREIGN_SERVICE_NO_DEDUCTION_CODE if no_deduction(account) else FOREIGN_SERVICE_CODE


def foreign_service_fiken_vat_type(account: str) -> str:
    """Fiken's vatType of a service bought from abroad booked on `account`."""
    return FOREIGN_SERVICE_FIKEN_VAT_TYPES[foreign_service_code(account)]


def foreign_service_vat(
    net: Decimal, on: dt.date, rates: TaxTable | None, code: str = FOREIGN_SERVICE_CODE
) -> Decimal:
    """The VAT the buyer calculates on a service bought from abroad (SAF-T 86 / 87, ADR
    0056): the net amount × the regular rate valid on `on` in the tenant's table (the
    built-in 25 % without one), to the øre. UnbalancedEntry when the table gives no rate."""
    rate = Decimal("25") if rates is None else reverse_charge_rate(rates, code, on)
    if rate is None:
        raise UnbalancedEntry(
            f"VAT code {code} is calculated at the regular rate, which the "
            f"tax rates do not give for {on.isoformat()}"
        )
    return money.vat_of_net(net, rate)


def is_reverse_charge(data: object) -> bool:
    """Whether a purchase is a service bought from abroad under reverse charge (ADR 0056:
    an invoice; its addendum: a card-paid receipt or an expense too)."""
    return getattr(data, "reverse_charge", None) is True


def _reverse_charge_purchase(
    data: ReceiptAttachmentData | ExpenseRegistrationData | InvoiceRegistrationData,
    parts: Sequence[LineItem],
    description: str,
    part_description: Callable[[LineItem], str],
    rates: TaxTable | None,
) -> list[JournalLine]:
    """A service bought from abroad (ADR 0056): each part (else the whole amount) is the
    cost at its net amount — the supplier charged no VAT — with the VAT the buyer
    calculates on it credited to 2700 and deducted on 2710, all under SAF-T 86; on an
    account without a deduction right under 87, the VAT debited to the cost instead. The
    caller credits the supplier (or the bank) with the amount.

    Each basis is followed by its output VAT line and the deductions come last: SAF-T
    pairs a basis with its code's next unclaimed VAT line (application.saft), so with
    several parts an interleaved deduction would be taken for the next part's VAT."""
    lines: list[JournalLine] = []
    deductions: list[JournalLine] = []
    for account, net, text in [
        (part.account_code or data.account_code, part.amount, part_description(part))
        for part in parts
    ] or [(data.account_code, data.amount, description)]:
        code = foreign_service_code(account)
        deduction_account = REVERSE_CHARGE[code].input_account
        vat = foreign_service_vat(net, data.date, rates, code)
        for line in reverse_charge_lines(code, account, net, vat, text):
            is_deduction = (
                deduction_account is not None
                and line.account == deduction_account
                and line.vat_part == TAX
            )
            (deductions if is_deduction else lines).append(line)
    return lines + deductions


def posting_for(
    data: ProposalData,
    *,
    proposal_id: str,
    payment_account: str = BANK_ACCOUNT,
    payables_account: str = SUPPLIER_PAYABLES,
    rates: TaxTable | None = None,
) -> JournalEntryPostedData | None:
    """The entry an executed proposal posts; None for kinds without one (patterns). With
    `rates`, each VAT rate is booked under the code valid on the document's date.

    Reversals and corrections are posted by the caller with `mirror` (and `posting_for` of
    the corrected data), since they need the target's posted entry."""
    match data:
        case ReceiptAttachmentData() | ExpenseRegistrationData():
            who = data.merchant_name or getattr(data, "employee", "") or "kvittering"
            description = _trim(f"{who} {data.date.isoformat()}")
            # A receipt with several VAT rates (ADR 0052): each part named after it.
            lines = _purchase_lines(
                data,
                line_items_of(data),
                description,
                lambda part: _trim(f"{description} {part.description}"),
                rates,
            )
            lines.append(
                JournalLine(account=payment_account, credit=data.amount, description=description)
            )
        case InvoiceRegistrationData():
            number = f" {data.invoice_number}" if data.invoice_number else ""
            credit_note = is_credit_note(data)
            word = "kreditnota" if credit_note else "faktura"
            description = _trim(f"{data.supplier} {word}{number}")
            lines = _purchase_lines(
                data,
                data.line_items or (),
                description,
                lambda item: _trim(item.description),
                rates,
            )
            lines.append(
                JournalLine(account=payables_account, credit=data.amount, description=description)
            )
            if credit_note:
                # A supplier's credit note (ADR 0054) is the invoice's booking turned
                # round: the payable debited, the cost credited, the input VAT reversed at
                # each rate (the same codes, so the VAT report counts it negative).
                lines = [
                    msgspec.structs.replace(line, debit=line.credit, credit=line.debit)
                    for line in lines
                ]
        case _:
            return None
    entry = JournalEntryPostedData(
        date=data.date,
        description=description,
        lines=tuple(lines),
        source="execution",
        proposal_id=proposal_id,
    )
    check_balanced(entry.lines)
    return entry


def reverse_charge_lines(
    code: str,
    account: str,
    net: Decimal,
    vat: Decimal,
    description: str | None = None,
) -> list[JournalLine]:
    """The lines of a purchase under a reverse-charge code (rules.REVERSE_CHARGE, ADR 0047:
    services from abroad, emissions allowances and gold, and the self-assessed import of
    goods 81–85): the cost — its basis — at the net amount, the VAT the buyer calculates
    on it credited as output VAT (2700) and, when the code is deductible, debited on its
    input VAT account (81, 86, 91: 2710; 83: 2711; 88: 2713); when not, debited to the
    cost without a code (it is no basis). `net` and `vat` are debit-positive (a credit
    note's are negative and book the other sides); a zero amount is no line (85's VAT).
    The lines add up to `net` (debit minus credit): the counter line owing it — the
    foreign supplier charged no Norwegian VAT — is the caller's. UnbalancedEntry for a
    code that is not reverse charge."""
    charge = REVERSE_CHARGE.get(code)
    if charge is None:
        raise UnbalancedEntry(f"VAT code {code} is not one the buyer calculates the VAT of")
    signed: list[tuple[str, Decimal, str | None, str | None]] = [
        (account, net, code, BASE),
        (OUTPUT_VAT_ACCOUNT, -vat, code, TAX),
    ]
    if charge.input_account is not None:
        signed.append((charge.input_account, vat, code, TAX))
    else:
        signed.append((account, vat, None, None))
    return [
        JournalLine(
            account=line_account,
            debit=amount if amount > 0 else _ZERO,
            credit=-amount if amount < 0 else _ZERO,
            description=description,
            vat_code=vat_code,
            vat_part=part,
        )
        for line_account, amount, vat_code, part in signed
        if amount
    ]


def mirror(
    entry: JournalEntryPostedData,
    *,
    entry_id: str,
    date: dt.date,
    proposal_id: str | None,
    description: str | None = None,
) -> JournalEntryPostedData:
    """The reversal of a posted entry: every debit becomes a credit and vice versa."""
    return JournalEntryPostedData(
        date=date,
        description=_trim(description or f"Reversering: {entry.description}"),
        lines=tuple(
            msgspec.structs.replace(
                line, debit=money.two_places(line.credit), credit=money.two_places(line.debit)
            )
            for line in entry.lines
        ),
        source="execution",
        proposal_id=proposal_id,
        reverses_entry_id=entry_id,
        department=entry.department,
    )


def _trim(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


# --- VAT reporting ----------------------------------------------------------------------

INPUT: Final = "input"
OUTPUT: Final = "output"
#: A code the buyer both calculates (output) and, when deductible, deducts (input) VAT
#: under: reverse charge (rules.REVERSE_CHARGE, ADR 0047).
REVERSE: Final = "reverse-charge"


class InvalidReportPeriod(DomainError):
    """A report asked for a period that does not exist (a VAT term outside 1–6 …)."""

    code = "invalid-report-period"


#: The length of a company's VAT term (ADR 0064): the ordinary six terms of two months, or
#: the yearly term (årstermin) Skatteetaten grants a company with turnover under NOK 1 M.
BIMONTHLY: Final = "bimonthly"
YEARLY: Final = "yearly"
VatTermLength = Literal["bimonthly", "yearly"]


class VatTerm(msgspec.Struct, frozen=True, kw_only=True):
    """One VAT reporting term: its dates (inclusive) and when the return is due. A yearly
    term (årstermin) is the calendar year, `term` 1, `length` "yearly"."""

    year: int
    term: int
    start: dt.date
    end: dt.date
    due: dt.date
    length: VatTermLength = "bimonthly"


#: (month, day) the return of each term is due (norway.md): the sixth term's falls in
#: February of the next year. A day off work moves it to the next working day (workdays).
_TERM_DUE: Final[dict[int, tuple[int, int]]] = {
    1: (4, 10),
    2: (6, 10),
    3: (8, 31),
    4: (10, 10),
    5: (12, 10),
    6: (2, 10),
}


def vat_term(year: int, term: int) -> VatTerm:
    """Term 1 = January–February … term 6 = November–December of `year`."""
    if term not in _TERM_DUE:
        raise InvalidReportPeriod(f"a VAT term is 1 to 6, not {term}")
    if not dt.MINYEAR < year < dt.MAXYEAR:
        raise InvalidReportPeriod(f"no VAT term in year {year}")
    first_month = 2 * term - 1
    start = dt.date(year, first_month, 1)
    after = dt.date(year + 1, 1, 1) if term == 6 else dt.date(year, first_month + 2, 1)
    month, day = _TERM_DUE[term]
    due = next_working_day(dt.date(year + 1 if term == 6 else year, month, day))
    return VatTerm(year=year, term=term, start=start, end=after - dt.timedelta(days=1), due=due)


#: (month, day) of the following year the yearly return is due (norway.md: 10 March).
_YEARLY_DUE: Final = (3, 10)


def vat_year(year: int) -> VatTerm:
    """The yearly term (årstermin) of `year`: 1 January – 31 December, its return due on 10
    March of the following year, moved to the next working day (ADR 0057 addendum)."""
    if not dt.MINYEAR < year < dt.MAXYEAR:
        raise InvalidReportPeriod(f"no VAT term in year {year}")
    month, day = _YEARLY_DUE
    return VatTerm(
        year=year,
        term=1,
        start=dt.date(year, 1, 1),
        end=dt.date(year, 12, 31),
        due=next_working_day(dt.date(year + 1, month, day)),
        length=YEARLY,
    )


def company_vat_term(year: int, term: int, length: VatTermLength = BIMONTHLY) -> VatTerm:
    """The company's term asked as (year, term): the bi-monthly `term`, or — for a company
    on the yearly term — the year, whichever of 1–6 is asked (its only term holds them
    all)."""
    period = vat_term(year, term)
    return vat_year(year) if length == YEARLY else period


def vat_term_of(date: dt.date, length: VatTermLength = BIMONTHLY) -> VatTerm:
    """The term a date falls in."""
    if length == YEARLY:
        return vat_year(date.year)
    return vat_term(date.year, (date.month + 1) // 2)


def files_return_for(term: VatTerm, registered_from: dt.date | None) -> bool:
    """Whether a company registered from `registered_from` (None: always) files a return
    for `term`: every term that has not ended before its registration took effect. The
    first return of a company registered on 15 March is term 2's (March–April, due 10
    June), none for January–February (ADR 0064, addendum)."""
    return registered_from is None or term.end >= registered_from


def vat_term_due_next(date: dt.date, length: VatTermLength = BIMONTHLY) -> VatTerm | None:
    """The ended term whose return is due next on `date`: the latest term that has ended
    and whose due date has not passed (on 6 December term 5, due 10 December; a yearly
    term: on 20 February last year's, due 10 March), or None when that return's due date
    has passed (on 11 December)."""
    ended = vat_term_of(vat_term_of(date, length).start - dt.timedelta(days=1), length)
    return ended if date <= ended.due else None


def vat_term_to_show(
    today: dt.date, length: VatTermLength = BIMONTHLY, registered_from: dt.date | None = None
) -> VatTerm:
    """The term a VAT report opens on when none is asked (ADR 0064, addendum 2): the ended
    term whose return is due next while it is (on 1 January at 00:30 in Oslo, term 6 of
    the year before, due 10 February; a yearly company: last year, due 10 March), else the
    term `today` is in. `today` is the company's calendar day (Europe/Oslo), never UTC's. An
    ended term before the company's VAT registration has no return, so it is not shown."""
    due_next = vat_term_due_next(today, length)
    if due_next is not None and files_return_for(due_next, registered_from):
        return due_next
    return vat_term_of(today, length)


class VatCode(msgspec.Struct, frozen=True, kw_only=True):
    """A SAF-T standard tax code: its rate (None when it has none) and whether it is
    purchase (input) or sales (output) VAT, or both (reverse charge) — None for codes
    outside either."""

    code: str
    rate: Decimal | None
    direction: str | None


def _saft_codes() -> dict[str, VatCode]:
    codes = {
        t.saft_code: VatCode(
            code=t.saft_code, rate=t.rate, direction=INPUT if t.vat_account else None
        )
        for t in INPUT_VAT.values()
    }
    for code, rate, direction in (
        ("3", Decimal("25"), OUTPUT),
        ("31", Decimal("15"), OUTPUT),
        ("33", Decimal("12"), OUTPUT),
        ("5", Decimal("0"), OUTPUT),  # zero-rated sales
        ("52", Decimal("0"), OUTPUT),  # export
        ("6", None, None),  # outside the VAT Act
        # No VAT treatment: income (7), the cost of imported goods (20); in no return.
        ("7", Decimal("0"), None),
        ("20", Decimal("0"), None),
        ("32", Decimal("11.11"), OUTPUT),  # sale of raw fish
        # A domestic sale under reverse charge (emissions allowances, gold): the seller
        # reports the basis at zero, the buyer the VAT (its 91 / 92).
        ("51", Decimal("0"), OUTPUT),
        # Imports of goods (ADR 0044 §6): the import VAT paid at the border, deducted
        # directly (14, 15), and the goods' cost as the basis of it (21, 22; 23 zero rate).
        ("14", Decimal("25"), INPUT),
        ("15", Decimal("15"), INPUT),
        ("21", Decimal("25"), INPUT),
        ("22", Decimal("15"), INPUT),
        ("23", Decimal("0"), INPUT),
    ):
        codes[code] = VatCode(code=code, rate=rate, direction=direction)
    # Reverse charge, the self-assessed import of goods included (81–85, ADR 0047): the
    # rate of its tax type's output code today (the postings, the VAT report and the
    # compliance checks read the one valid on the date, TaxTable.rate_row).
    for charge in REVERSE_CHARGE.values():
        codes[charge.saft_code] = VatCode(
            code=charge.saft_code, rate=codes[charge.rate_code].rate, direction=REVERSE
        )
    return codes


#: Every SAF-T standard code of Skatteetaten's list (Standard_Tax_Codes.csv; a test holds
#: them equal), and Fiken's 23.
SAFT_VAT_CODES: Final[dict[str, VatCode]] = _saft_codes()


class RatePeriod(msgspec.Struct, frozen=True, kw_only=True):
    """A code's rate over its dates (both ends inclusive; None: open), as SAF-T's
    TaxCodeDetails gives it with EffectiveDate / ExpirationDate."""

    rate: Decimal | None
    effective: dt.date | None = None
    expiration: dt.date | None = None


def rate_periods(
    code: str, table: TaxTable, start: dt.date, end: dt.date, country: str = "NO"
) -> list[RatePeriod]:
    """The rates `code` had over the days from `start` to `end`, oldest first, each with
    its dates, so that every day of them lies in exactly one period — the row
    TaxTable.rate_row reads that day: the code's own rows (a reverse-charge code, where
    it has none of its own: its tax type's output code's, cut to the days its own rows
    leave; a row of either that starts where another is valid is cut to the days after
    it, as rate_row takes the earlier one). Days in the period that no row gives, where
    some do: the code's one known rate (SAFT_VAT_CODES), as `rate_of_table` gives a line
    of such a day, dated to those days. A code the table has no row of for any of those
    days: its one known rate, undated."""
    own = [r for r in table.rates if r.country == country and r.saft_code == code]
    ranked = sorted(own, key=lambda r: r.valid_from)
    if code in REVERSE_CHARGE and country == "NO":
        rate_code = REVERSE_CHARGE[code].rate_code
        ranked += sorted(
            (r for r in table.rates if r.country == country and r.saft_code == rate_code),
            key=lambda r: r.valid_from,
        )
    # Each row's days that no row before it in `ranked` has (rate_row's choice), as
    # (first, last, rate); an open end is dt.date.max until the end.
    pieces: list[tuple[dt.date, dt.date, Decimal | None]] = []
    taken: list[tuple[dt.date, dt.date]] = []
    for row in ranked:
        span = (row.valid_from, row.valid_to or dt.date.max)
        pieces.extend((first, last, row.rate) for first, last in _days_left(span, taken))
        taken.append(span)
    touching = sorted(p for p in pieces if p[0] <= end and start <= p[1])
    if not touching:
        return [RatePeriod(rate=saft_vat_code(code).rate)]
    known = saft_vat_code(code).rate
    periods: list[RatePeriod] = []
    day = start
    for first, last, rate in touching:
        if day < first:  # days no row gives
            periods.append(_period(known, day, first - dt.timedelta(days=1)))
        periods.append(_period(rate, first, last))
        day = last + dt.timedelta(days=1) if last < end else dt.date.max
    if day <= end:
        periods.append(_period(known, day, end))
    return periods


def _days_left(
    span: tuple[dt.date, dt.date], taken: Sequence[tuple[dt.date, dt.date]]
) -> list[tuple[dt.date, dt.date]]:
    """The runs of days of `span` (both ends inclusive) that none of `taken` has."""
    left = [span]
    for first, last in taken:
        rest: list[tuple[dt.date, dt.date]] = []
        for a, b in left:
            if last < a or b < first:  # apart
                rest.append((a, b))
                continue
            if a < first:
                rest.append((a, first - dt.timedelta(days=1)))
            if last < b:
                rest.append((last + dt.timedelta(days=1), b))
        left = rest
    return left


def _period(rate: Decimal | None, first: dt.date, last: dt.date) -> RatePeriod:
    return RatePeriod(rate=rate, effective=first, expiration=None if last == dt.date.max else last)


def saft_vat_code(code: str) -> VatCode:
    """What we know of a SAF-T code; an unknown code has no rate and no direction."""
    return SAFT_VAT_CODES.get(code) or VatCode(code=code, rate=None, direction=None)


#: The codes the VAT return (mva-melding) has lines for: Skatteetaten's mvaKodeSAFT list.
#: 0, 7, 20 (no VAT treatment) and the import bases 21, 22 (and Fiken's 23) are SAF-T
#: codes of the books only (ADR 0047 addendum 3); the VAT report shows them apart.
RETURN_CODES: Final = frozenset(
    {"1", "3", "5", "6", "11", "12", "13", "14", "15", "31", "32", "33", "51", "52"}
    | {"81", "82", "83", "84", "85", "86", "87", "88", "89", "91", "92"}
)
#: Return codes whose line has the VAT only, no basis (mva-melding example of 14: the
#: deducted import VAT alone; its basis is the customs value, booked under 21 / 22).
VAT_ONLY_RETURN_CODES: Final = frozenset({"14", "15"})

#: The side a basis under a code without a direction (0, 6, 7, 20, an unknown code) was
#: booked on: an income account's is a sale (turnover), any other a purchase (ADR 0047
#: addendum 4).
SALES: Final = "sales"
PURCHASES: Final = "purchases"


def is_income_account(account: str) -> bool:
    """An income account of NS 4102: class 3 (operating revenue) or 80 (financial income).
    A basis booked there under a code without a direction is a sale (SALES)."""
    main = account.partition(":")[0]
    return len(main) == 4 and main.isdigit() and (main[0] == "3" or main[:2] == "80")


def return_line_deviation(base: Decimal, vat: Decimal, rate: Decimal | None) -> Decimal | None:
    """How far a return line's VAT lies from its basis × rate (VAT − basis × rate, to øre
    half up) when that is more than VAT_TOLERANCE (norway.md: one krone), else None.

    Skatteetaten validates every line of the mva-melding that has a basis (rule R019,
    "beregnet avgift i avgiftslinje er ulik produktet av grunnlag og sats"; input VAT
    lines have none) and marks a return whose line fails as deviating
    (AVVIKENDE_SKATTEMELDING). Each document's VAT is rounded to øre on its own, so a
    term's sum may lie some øre off; more than a krone is a document booked at a wrong
    rate or VAT, which the return would carry unless someone looks first (ADR 0064,
    addendum 3)."""
    if rate is None:
        return None
    deviation = vat - money.round_kr(base * rate / 100)
    return deviation if abs(deviation) > VAT_TOLERANCE else None


#: Skatteetaten's validation rules of the mva-melding (Skatteetaten/mva-meldingen,
#: "Valideringsregler"): a line of these codes with a basis below zero needs a remark
#: (merknad) — R020, "Merknad til beløp med motsatt fortegn som gjelder grunnlag og
#: utgående avgift mangler" (output VAT, and the VAT calculated under reverse charge).
REMARK_BASIS_CODES: Final = frozenset(
    {"3", "6", "31", "32", "33", "51", "52", "81", "82", "83", "84", "85", "86", "87", "88"}
    | {"89", "91", "92"}
)
#: R021, "Merknad til beløp med motsatt fortegn som gjelder fradragsført inngående avgift
#: mangler": a deduction line (no basis) of these codes whose VAT is a payment instead of
#: a deduction (in the return's sign above zero; in the report's, below).
REMARK_DEDUCTION_CODES: Final = frozenset(
    {"1", "11", "12", "13", "14", "15", "81", "83", "86", "88", "91"}
)
#: The rule that asks the remark, as Skatteetaten numbers it.
REMARK_BASIS: Final = "R020"
REMARK_DEDUCTION: Final = "R021"
#: What the report (JSON, CSV) says when a return line needs a remark; `codes` lists them.
VAT_REMARK_NEEDED: Final = (
    "the VAT return needs a remark (merknad) on {codes}: an amount of the opposite sign "
    "(credit notes or a correction of an earlier term outweigh the term); explain it in "
    "the return, or Skatteetaten marks it as deviating"
)


def return_line_remark(
    vat_code: str, direction: str | None, base: Decimal, vat: Decimal
) -> str | None:
    """The rule (R020 / R021) under which the return must carry a remark (merknad) on this
    line, else None: an amount of the sign opposite to its kind — a term whose credit
    notes or corrections of an earlier term outweigh what it booked. Without the remark
    Skatteetaten marks the return as deviating (AVVIKENDE_SKATTEMELDING).

    `direction` and the amounts are the report's (natural_amount): a deduction is INPUT
    with its VAT positive (the return shows it negative), every other return line has a
    basis, positive for a sale or a purchase under reverse charge."""
    if direction == INPUT:
        deducts = vat_code in REMARK_DEDUCTION_CODES and vat < 0
        return REMARK_DEDUCTION if deducts else None
    return REMARK_BASIS if vat_code in REMARK_BASIS_CODES and base < 0 else None


def natural_amount(code: VatCode, debit_minus_credit: Decimal) -> Decimal:
    """An amount in the sign a VAT return shows it: input VAT (and its basis) is booked as
    a debit, output VAT as a credit; codes of neither kind stay debit minus credit. A
    reversal therefore shows as a negative amount of its code."""
    return -debit_minus_credit if code.direction == OUTPUT else debit_minus_credit


# --- the chart of accounts --------------------------------------------------------------


def base_account(code: str) -> str:
    """The main account of a sub-ledger code ("2400:20001" → "2400"); else the code."""
    return code.partition(":")[0]


def unknown_accounts(used: Iterable[str], chart: Iterable[str]) -> list[str]:
    """The codes in `used` that the chart does not know, sorted. A sub-ledger code is known
    when the chart has it, or its main account (Fiken lists suppliers' sub-ledger accounts
    only under their main account)."""
    known = set(chart)
    return sorted({code for code in used if code not in known and base_account(code) not in known})


def _deducts(code: str) -> bool:
    """A VAT code under which the base line's input VAT is deducted: a domestic input
    code with an input VAT account (1, 11, 12, 13), the import VAT deducted directly
    (14, 15), a deductible reverse-charge code (81, 83, 86, 88, 91)."""
    charge = REVERSE_CHARGE.get(code)
    if charge is not None:
        return charge.input_account is not None
    known = SAFT_VAT_CODES.get(code)
    return known is not None and known.direction == INPUT and bool(known.rate)


def check_deductions(lines: Iterable[JournalLine]) -> None:
    """Raise InvalidJournalEntry when a line deducts input VAT on an account that carries
    no deduction right (domain.deduction, ADR 0055: representation, mval. § 8-3): such a
    cost is booked at its gross amount, without a VAT code (or code 0)."""
    for index, line in enumerate(lines):
        code = line.vat_code
        if code and no_deduction(line.account) and _deducts(code):
            raise InvalidJournalEntry(
                f"lines[{index}]: account {line.account} carries no input VAT deduction "
                f"(merverdiavgiftsloven § 8-3), so VAT code {code} cannot be used on it: "
                f"book the gross amount with VAT code 0"
            )
