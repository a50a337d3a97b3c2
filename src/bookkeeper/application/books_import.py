"""P5: the company's existing books brought into the local ledger (`import fiken`, ADR 0037).

Each journal entry, purchase and sale the books hold becomes one or more imported
`JournalEntryPosted` events (source "import", `external_ref` "fiken:<what>:<id>"), under
ids derived from the books' id (`event_log.imported_entry_id`), so importing the same
record again writes nothing:

* a **journal entry**: its lines as they are (debit positive), VAT codes kept; a line on
  a VAT account (27xx) is the VAT itself, the others the basis. A cancelled entry also
  posts its mirror (the books posted a counter-entry).
* a **purchase**: each line's cost account takes the net amount (basis, input code of its
  vatType), the input VAT account the VAT (a vatType without deductible VAT: the cost
  takes it all); the gross is credited to the payment account (cash purchase) or to the
  supplier's payables (supplier purchase), whose payments are entries of their own
  (payables against the account paid from). A reverse-charge line (services from abroad,
  emissions allowances, gold: SAF-T 86–89, 91/92) is owed at its net amount, and the
  buyer's calculated VAT on it is posted as output VAT and, when deductible, as input
  VAT — at the tenant's rate of the code's tax type on the purchase's date (ADR 0047).
* a **sale**: the mirror image with output codes: receivables (or the account paid into,
  cash sale) against revenue and output VAT; payments of an invoice are their own entries.
* a deleted purchase or sale posts its mirror too (Fiken keeps it with a reversal).

A purchase bookkeeper itself executed (it carries our reference and its proposal's
`fikenPurchaseId` is this purchase) is not posted again: the execution posted it.

A record that cannot be booked (a vatType we do not map, lines that do not balance, no
account …) is a `HistoryProblem` (what, id, reason) and nothing of it is written; the rest
go on. Each page is written in one transaction, after the page arrived (no transaction
waits on the books).

**Incremental.** Each run (not a dry run) records `BooksImported` in the tenant's runs
stream: the newest modification date of the journal entries and sales it saw, and the
newest purchase date. The next run with the same or a later start asks only for what was
modified (purchases: dated, or settled) since then; overlapping is harmless. A run with
an end date, or an earlier start, reads its whole range and does not move the marks.

**Refused records are asked for again.** A run records the records it refused (and the
ones it did not get to) as `pending`; the next incremental run first asks the books for
each by id (at most `retry_limit`, the rest the time after): booked when it can be booked
now (fixed in the books, or a vatType learned since), pending again (and reported once)
when still refused, dropped when the books no longer have it (reported as gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any, Final

import msgspec

from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    ExternalAnswerInvalid,
)
from bookkeeper.application.event_log import books_import_runs_id, imported_entry_id, stamp
from bookkeeper.application.ledger import JOURNAL_ENTRY_POSTED, fold_journal_entries
from bookkeeper.application.ports import (
    BooksAccountBalance,
    BooksHistory,
    Clock,
    HistoryJournalEntry,
    HistoryOrderLine,
    HistoryPage,
    HistoryPayment,
    HistoryProblem,
    HistoryQuery,
    HistoryTrade,
    NewEvent,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.postings import BOOKS_TIME_ZONE, EXCHANGE_METADATA
from bookkeeper.application.tax_rates import tenant_tax_table
from bookkeeper.domain import money, statements
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    BooksImportedData,
    BooksRecordPartsData,
    BooksTransactionKnownData,
    JournalEntryPostedData,
    JournalLine,
    Party,
    PendingRecord,
    Status,
)
from bookkeeper.domain.ledger import (
    BASE,
    CUSTOMER,
    SUPPLIER,
    TAX,
    check_balanced,
    check_description,
    check_entry_date,
    mirror,
    reverse_charge_lines,
)
from bookkeeper.domain.rules import (
    IMPORTED,
    PERIOD,
    REVERSE_CHARGE,
    VAT_TOLERANCE,
    Exchange,
    FiscalPeriod,
    TaxTable,
    implied_exchange,
    is_vat_account,
    reverse_charge_rate,
    shut_on,
    touches_vat,
)
from bookkeeper.domain.text import STEERING, control_in, has_visible

log = logging.getLogger("bookkeeper.import")

#: The books' history is imported as it was dated and reported, closed periods and locked
#: VAT terms included (ADR 0040 addendum on every kind of posting): the compliance checks
#: do not flag it as posted into a locked term.
SOURCE: Final = IMPORTED
BOOKS_IMPORTED: Final = "BooksImported"
#: What an imported purchase or sale holds besides its posting (payments, a write-off).
BOOKS_RECORD_PARTS: Final = "BooksRecordParts"
#: A transaction of the books the import knows (what a journal entry listed with it is).
BOOKS_TRANSACTION_KNOWN: Final = "BooksTransactionKnown"
#: The purpose of that record's stream (`imported_entry_id`).
PARTS: Final = "parts"
#: Who the imported entries are recorded as.
IMPORT_ACTOR: Final = "system:books-import"

JOURNAL_ENTRY: Final = "journal entry"
#: The books' balances before the first day imported (inngående balanse).
OPENING: Final = "opening balance"
OPENING_REF: Final = "fiken:openingBalance"
PURCHASE: Final = "purchase"
SALE: Final = "sale"

#: A purchase line's vatType → (SAF-T input code, input VAT account; None: not deductible).
PURCHASE_VAT: Final[dict[str, tuple[str, str | None]]] = {
    "NONE": ("0", None),
    "HIGH": ("1", "2710"),
    "MEDIUM": ("11", "2711"),
    "RAW_FISH": ("12", "2712"),
    "LOW": ("13", "2713"),
    # Import of goods: the import VAT paid at the border (to customs or a forwarder) is
    # deducted directly (SAF-T 14/15); the goods themselves are its basis (21/22/23),
    # with no VAT on their line. 23 is Fiken's code, as its own postings show it; SAF-T's
    # standard code for it is 20 (application.saft.STANDARD_TAX_CODE_OF, ADR 0047).
    "HIGH_DIRECT": ("14", "2710"),
    "MEDIUM_DIRECT": ("15", "2711"),
    "HIGH_BASIS": ("21", None),
    "MEDIUM_BASIS": ("22", None),
    "NONE_IMPORT_BASIS": ("23", None),
}
#: Purchase vatTypes of reverse charge (omvendt avgiftsplikt) → their SAF-T code: the buyer
#: calculates the VAT on the net amount at the rate of the code's tax type and books it as
#: output VAT, and deducts it as input VAT where the code allows (rules.REVERSE_CHARGE,
#: Standard_Tax_Codes.csv; the Fiken spec's vatCode table, ADR 0047). The spec documents
#: no vatType of the self-assessed import of goods (81–85): Fiken books a customs
#: declaration as a journal entry ("fri postering") with the code, which is imported with
#: its codes as they are (ADR 0047 addendum 3).
PURCHASE_REVERSE_CHARGE: Final[dict[str, str]] = {
    "HIGH_FOREIGN_SERVICE_DEDUCTIBLE": "86",
    "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE": "87",
    "LOW_FOREIGN_SERVICE_DEDUCTIBLE": "88",
    "LOW_FOREIGN_SERVICE_NONDEDUCTIBLE": "89",
    "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_DEDUCTIBLE": "91",
    "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE": "92",
}
#: The vatTypes of basis only (import of goods): a line under one carries no VAT itself.
BASIS_ONLY: Final = frozenset({"HIGH_BASIS", "MEDIUM_BASIS", "NONE_IMPORT_BASIS"})
#: A sale line's vatType → (SAF-T output code, output VAT account; None: no VAT).
SALE_VAT: Final[dict[str, tuple[str, str | None]]] = {
    "HIGH": ("3", "2700"),
    "MEDIUM": ("31", "2700"),
    "RAW_FISH": ("32", "2700"),
    "LOW": ("33", "2700"),
    "EXEMPT": ("5", None),
    "EXEMPT_IMPORT_EXPORT": ("52", None),
    "OUTSIDE": ("6", None),
    "EXEMPT_REVERSE": ("51", None),
    "NONE": ("7", None),
}
#: The refused records a run asks the books for again by id, at most (the rest wait for
#: the next run): at Fiken's four requests a second, 25 s.
RETRY_LIMIT: Final = 100
PAYABLES: Final = "2400"
#: Where a foreign-currency payment's difference to the booked NOK amount goes (NS 4102:
#: valutagevinst (agio), valutatap (disagio)), as Fiken books it.
CURRENCY_GAIN: Final = "8060"
CURRENCY_LOSS: Final = "8160"
RECEIVABLES: Final = "1500"
#: A payment's fee (NS 4102 7770 Bank- og kortgebyrer).
BANK_FEES: Final = "7770"
#: A sale written off: tap på fordringer, fradragsberettiget (NS 4102 7830).
BAD_DEBTS: Final = "7830"
#: The key of a written-off sale's loss entry among the sale's entries.
WRITE_OFF: Final = "write-off"
#: How a cancelled journal entry's balancing transaction is kept among the run's
#: transactions (`BooksImportedData.trade_transactions`): its entries are not booked.
OFFSET: Final = "offset:"
#: How a booked journal entry's own transaction is kept there: a cancelled entry read
#: after the books' balancing entry (on a later page or run) posts no mirror of its own.
BOOKED_ENTRY: Final = "entry:"
#: How a sale's write-off is kept there (`WRITE_OFF_KEY`): the books' own posting of it,
#: where /journalEntries lists it (its own transaction), is not booked besides ours.
WRITTEN_OFF: Final = "writeOff:"
#: Accounts a write-off's posting moves besides the receivable: the loss (class 7,
#: 7830 tap på fordringer) and the output VAT given back (27xx).
_WRITE_OFF_ACCOUNTS: Final = ("7", "27")
CASH_KINDS: Final = frozenset({"cash_purchase", "cash_sale"})
_ZERO: Final = Decimal("0.00")
_MAX_TEXT: Final = 200


class BooksNotConfigured(ApplicationError):
    """No books to import from (no Fiken credentials in the environment)."""

    code = "books-not-configured"


class BooksRangeRefused(ApplicationError):
    """A run whose range would book records the imported opening balance holds already."""

    code = "books-range-refused"


class NotImportable(ValueError):
    """A record of the books that cannot be booked; the message says why."""


Entries = list[tuple[uuid.UUID, JournalEntryPostedData]]


# --- mapping (pure) ---------------------------------------------------------------------


def _text(value: str, fallback: str) -> str:
    # A control character or a bidi override (which the books refuse, ADR 0049) becomes a
    # space: the imported text reads as it is stored; one of nothing visible, the fallback.
    if not value.isprintable():
        value = "".join(" " if ch in STEERING or control_in(ch) else ch for ch in value)
    text = " ".join(value.split())
    if not has_visible(text):
        text = fallback
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _lines(
    signed: Iterable[tuple[str, Decimal, str | None, str | None, str | None, Party | None]],
) -> tuple[JournalLine, ...]:
    """(account, amount debit-positive, description, vat code, vat part, party) as lines;
    zero amounts dropped."""
    lines = []
    for account, amount, description, code, part, party in signed:
        if amount == 0:
            continue
        lines.append(
            JournalLine(
                account=account,
                debit=amount if amount > 0 else _ZERO,
                credit=-amount if amount < 0 else _ZERO,
                description=description,
                vat_code=code,
                vat_part=part if code else None,
                party=party,
            )
        )
    return tuple(lines)


def _entry(
    date: dt.date, description: str, lines: tuple[JournalLine, ...], ref: str
) -> JournalEntryPostedData:
    entry = JournalEntryPostedData(
        date=date, description=description, lines=lines, source=SOURCE, external_ref=ref
    )
    try:
        check_entry_date(date)
        check_description(description)
        check_balanced(lines)
    except DomainError as error:
        raise NotImportable(str(error)) from None
    return entry


def _with_mirror(
    tenant_id: str, what: str, books_id: str, posting: JournalEntryPostedData, reverse: bool
) -> Entries:
    posting_id = imported_entry_id(tenant_id, what, books_id, "posting")
    entries: Entries = [(posting_id, posting)]
    if reverse:
        reversal = mirror(posting, entry_id=str(posting_id), date=posting.date, proposal_id=None)
        reversal = msgspec.structs.replace(
            reversal, source=SOURCE, external_ref=f"{posting.external_ref}:reversal"
        )
        entries.append((imported_entry_id(tenant_id, what, books_id, "reversal"), reversal))
    return entries


def journal_entry_entries(tenant_id: str, record: HistoryJournalEntry) -> Entries:
    """The imported entries of one general journal entry (NotImportable: why not)."""
    ref = f"fiken:journalEntry:{record.id}"
    number = f" {record.number}" if record.number else ""
    description = _text(record.description, f"Fiken bilag{number or ' ' + record.id}")
    signed = []
    for line in record.lines:
        code = line.vat_code if line.vat_code not in (None, "") else None
        part = (TAX if is_vat_account(line.account) else BASE) if code else None
        signed.append((line.account, line.amount, None, code, part, _ledger_party(line.account)))
    lines = _lines(signed)
    if not lines:
        raise NotImportable("the entry has no amounts")
    entry = _entry(record.date, description, lines, ref)
    return _with_mirror(tenant_id, JOURNAL_ENTRY, record.id, entry, record.cancelled)


def _org_number(value: str | None) -> str | None:
    """An organisation number as SAF-T's RegistrationNumber: without blanks, ≤ 35."""
    text = "".join((value or "").replace("\x00", "").split())
    return text[:35] or None


def _party(kind: str, record: HistoryTrade) -> Party | None:
    """The supplier or customer of a purchase or sale, keyed by its sub-ledger account's
    number (`2400:20001` → `20001`), as a journal entry on that account is."""
    account = record.party_account or ""
    key = account.partition(":")[2]
    if not key:
        return None
    return Party(
        kind=kind,
        id=key[:35],
        name=_text(record.party_name or "", key),
        org_number=_org_number(record.party_org_number),
    )


def _ledger_party(account: str) -> Party | None:
    """The counterparty a journal entry line's account names: a supplier's sub-ledger
    account (`24xx:key`, Fiken's supplierAccountCode) or a customer's (`15xx:key`)."""
    base, _, key = account.partition(":")
    if not key or len(base) != 4 or not base.isdigit():
        return None
    if base.startswith("24"):
        return Party(kind=SUPPLIER, id=key[:35])
    if base.startswith("15"):
        return Party(kind=CUSTOMER, id=key[:35])
    return None


def _vat_type_refusal(vat_type: str, purchase: bool) -> str:
    """Why a line's vatType is not booked (every documented one is mapped or named here)."""
    if purchase and vat_type in SALE_VAT:
        return f"vatType {vat_type} is for sales, not purchases"
    if not purchase and (vat_type in PURCHASE_VAT or vat_type in PURCHASE_REVERSE_CHARGE):
        return f"vatType {vat_type} is for purchases, not sales"
    return f"vatType {vat_type} is not one the books document"


Signed = list[tuple[str, Decimal, str | None, str | None, str | None, Party | None]]


def _reverse_charge(
    where: str,
    line: HistoryOrderLine,
    account: str,
    text: str,
    date: dt.date,
    rates: TaxTable | None,
) -> Signed:
    """A reverse-charge purchase line (ADR 0047): the cost at the net amount (the basis),
    the VAT calculated on it at the rate of its code's tax type valid on the purchase's
    date, credited as output VAT (2700) and debited as input VAT (2710 / 2713) when
    deductible, else to the cost. The supplier is owed the net amount: it charged no
    Norwegian VAT. NotImportable when the rate, or what the line's VAT is, is not known."""
    code = PURCHASE_REVERSE_CHARGE[line.vat_type]
    charge = REVERSE_CHARGE[code]
    rate = None if rates is None else reverse_charge_rate(rates, code, date)
    if rate is None:
        raise NotImportable(
            f"{where}: vatType {line.vat_type} (SAF-T {code}) is calculated at the "
            f"{charge.tax_type} rate, which the tax rates do not give for {date.isoformat()}"
        )
    vat = money.vat_of_net(line.net, rate)
    if line.vat:
        # Fiken's own figure for the calculated VAT, when it gives one, is the books'; a
        # figure that is not the rate's is something else (what the supplier charged?).
        if abs(line.vat - vat) > VAT_TOLERANCE:
            raise NotImportable(
                f"{where}: vatType {line.vat_type} (SAF-T {code}) carries VAT {line.vat}, "
                f"not the {rate} % of {line.net} the buyer calculates ({vat}); what it is "
                "cannot be told"
            )
        vat = line.vat
    # The posting rule is the domain's (the cost at net, 2700, the deduction or the cost).
    return [
        (posted.account, posted.debit - posted.credit, text, posted.vat_code, posted.vat_part, None)
        for posted in reverse_charge_lines(code, account, line.net, vat, text)
    ]


def trade_entries(
    tenant_id: str,
    record: HistoryTrade,
    *,
    payments_only: bool = False,
    rates: TaxTable | None = None,
) -> Entries:
    """The imported entries of one purchase or sale: its posting (and mirror when it was
    deleted) and its payments' entries (a non-cash one). `payments_only`: only those (the
    purchase itself was posted by its execution). `rates`: the tenant's tax rates, which a
    reverse-charge line is calculated with (without them it is refused). NotImportable:
    why not."""
    purchase = record.what == PURCHASE
    if record.what not in (PURCHASE, SALE):
        raise NotImportable(f"unknown record kind {record.what!r}")
    if not record.lines:
        raise NotImportable(f"the {record.what} has no lines")
    sign = Decimal(1) if purchase else Decimal(-1)  # purchases debit the lines
    table = PURCHASE_VAT if purchase else SALE_VAT
    name = "Kjøp" if purchase else "Salg"
    who = f" {record.party_name}" if record.party_name else ""
    number = f" {record.identifier}" if record.identifier else f" {record.id}"
    description = _text(f"Fiken {name.lower()}{number}{who}", f"Fiken {name.lower()}")
    ref = f"fiken:{record.what}:{record.id}"
    party = _party(SUPPLIER if purchase else CUSTOMER, record)
    signed: Signed = []
    gross = _ZERO
    for number_, line in enumerate(record.lines):
        where = f"lines[{number_}]"
        if not line.account:
            raise NotImportable(f"{where} has no account")
        if purchase and line.vat_type in PURCHASE_REVERSE_CHARGE:
            text = _text(line.description, description)
            signed.extend(_reverse_charge(where, line, line.account, text, record.date, rates))
            gross += line.net
            continue
        if line.vat_type not in table:
            raise NotImportable(f"{where}: {_vat_type_refusal(line.vat_type, purchase)}")
        code, vat_account = table[line.vat_type]
        text = _text(line.description, description)
        if vat_account is None and line.vat and (not purchase or line.vat_type in BASIS_ONLY):
            raise NotImportable(f"{where} has VAT under vatType {line.vat_type}")
        if vat_account is None:  # nothing deductible: the cost takes it all
            signed.append((line.account, sign * (line.net + line.vat), text, code, BASE, None))
        else:
            signed.append((line.account, sign * line.net, text, code, BASE, None))
            signed.append((vat_account, sign * line.vat, text, code, TAX, None))
        gross += line.net + line.vat
    cash = record.kind in CASH_KINDS
    for index, payment in enumerate(record.payments):
        if payment.fee is not None and payment.fee < 0:
            raise NotImportable(f"payments[{index}] has a negative fee ({payment.fee})")
    if cash:
        if not record.payments:
            raise NotImportable(f"a {record.kind} without a payment account")
        # Paid at once: no sub-ledger line, so the payment line names the counterparty
        # (the SAF-T file lists the supplier or customer, without a balance).
        signed.extend(_cash_counter(record, gross, sign, party))
    else:
        counter = record.party_account or (PAYABLES if purchase else RECEIVABLES)
        signed.append((counter, -sign * gross, None, None, None, party))
    entries: Entries = []
    lines = _lines(signed)
    if not payments_only and lines:
        # A purchase or sale of nothing (an invoice at 0.00, all discounted) posts
        # nothing: it is no problem to report and ask for again on every run.
        posting = _entry(record.date, description, lines, ref)
        entries = _with_mirror(tenant_id, record.what, record.id, posting, record.deleted)
    if cash:
        return entries
    cleared_total = _ZERO
    clearing = _clearing(record, gross)
    for index, (payment, cleared) in enumerate(zip(record.payments, clearing, strict=True)):
        key = payment.id or f"{index}:{payment.date.isoformat()}:{payment.amount}"
        cleared_total += cleared
        difference = sign * (payment.amount - cleared)
        paid = _lines(
            [
                (counter, sign * cleared, None, None, None, party),
                *_paid_from(payment, sign),
                (
                    CURRENCY_LOSS if difference > 0 else CURRENCY_GAIN,
                    difference,
                    None,
                    None,
                    None,
                    None,
                ),
            ]
        )
        if not paid:
            continue
        text = _text(f"Betaling: {description}", description)
        entry = _entry(payment.date, text, paid, f"{ref}:payment:{key}")
        entries.append(
            (imported_entry_id(tenant_id, record.what, record.id, f"payment:{key}"), entry)
        )
    if record.write_off and not purchase and not record.deleted:
        written_off = _write_off(record, description, ref, counter, party, gross - cleared_total)
        if written_off is not None:
            entries.append(
                (imported_entry_id(tenant_id, record.what, record.id, WRITE_OFF), written_off)
            )
    return entries


def _clearing(record: HistoryTrade, gross: Decimal) -> list[Decimal]:
    """What each payment of a non-cash purchase or sale clears of its NOK `gross`. A
    payment in the document's currency clears what it paid of it at the rate the document
    was booked at; what the bank paid more or less is a currency loss or gain
    (agio/disagio), so a settled invoice leaves nothing open. The running total in the
    currency makes the full payment clear the whole NOK amount. Others clear their NOK
    amount."""
    in_currency = _gross_in_currency(record)
    paid_in_currency = _ZERO
    found: list[Decimal] = []
    for payment in record.payments:
        cleared = payment.amount
        if (
            in_currency is not None
            and payment.amount_in_currency is not None
            and (payment.currency or "").strip().upper() == record.currency.strip().upper()
        ):
            before = money.two_places(gross * paid_in_currency / in_currency)
            paid_in_currency += payment.amount_in_currency
            cleared = money.two_places(gross * paid_in_currency / in_currency) - before
        found.append(cleared)
    return found


def _refused_write_off_key(record: HistoryTrade) -> str | None:
    """The key (`WRITTEN_OFF`) the books' posting of a refused sale's write-off would be
    told by — what its payments left open of its lines' gross on its receivables — so the
    posting waits with the sale instead of being booked as a journal entry. None for a
    record without a write-off, or one whose figures give none."""
    if (
        record.what != SALE
        or not record.write_off
        or record.deleted
        or record.kind in CASH_KINDS
        or not record.lines
    ):
        return None
    gross = sum((line.net + line.vat for line in record.lines), _ZERO)
    left = gross - sum(_clearing(record, gross), _ZERO)
    if gross <= 0 or left <= 0:
        return None
    return _written_off(record.party_account or RECEIVABLES, left)


def _paid_from(payment: HistoryPayment, sign: Decimal) -> Signed:
    """The lines of what a payment moved on the account paid from or into: its NOK amount
    and, when it carries one, the fee (NOK, "additional to the amount paid": the account
    paid it besides, 7770 bank charges took it) — so a purchase's payment takes amount
    plus fee from the bank, a sale's brings in the amount less the fee."""
    fee = payment.fee or _ZERO
    return [
        (payment.account, -sign * payment.amount - fee, None, None, None, None),
        (BANK_FEES, fee, None, None, None, None),
    ]


def _cash_counter(
    record: HistoryTrade, gross: Decimal, sign: Decimal, party: Party | None
) -> Signed:
    """The counter lines of a cash purchase or sale: the account paid from or into.

    A NOK one: the gross, on the first payment's account (and its fees). A foreign-
    currency one: what each payment moved in NOK (Fiken's `amountInNok`, what the bank
    paid or received — `paymentAmountInNok` of the purchase —, or its amount when it was
    paid in NOK), and the difference to the lines' NOK total a realised currency loss
    (8160) or gain (8060), as an invoice's payment at another rate is (ADR 0051: paid at
    once, nothing stays unrealised)."""
    first = record.payments[0]
    foreign = record.currency.strip().upper() != "NOK"
    if not foreign:
        fees = [(BANK_FEES, p.fee, None, None, None, None) for p in record.payments if p.fee]
        fees_out = [(p.account, -p.fee, None, None, None, None) for p in record.payments if p.fee]
        return [(first.account, -sign * gross, None, None, None, party), *fees, *fees_out]
    signed: Signed = []
    paid = _ZERO
    for number, payment in enumerate(record.payments):
        lines = _paid_from(payment, sign)
        if number == 0:
            account, amount, text, code, part, _ = lines[0]
            lines[0] = (account, amount, text, code, part, party)
        signed.extend(lines)
        paid += payment.amount
    difference = sign * (paid - gross)
    signed.append(
        (CURRENCY_LOSS if difference > 0 else CURRENCY_GAIN, difference, None, None, None, None)
    )
    return signed


def _write_off(
    record: HistoryTrade,
    description: str,
    ref: str,
    receivables: str,
    party: Party | None,
    left: Decimal,
) -> JournalEntryPostedData | None:
    """A sale written off (tapsføring): what its payments left open is a loss on
    receivables (7830), and the output VAT on that part is given back (Fiken: "fører det
    som en utgift, og redusert mva"): each line's share of the open amount, its VAT on
    2700 and its net on 7830 under the line's code, so the VAT return's basis and VAT
    of the code go down by it. Dated when the books settled it, else when they last
    modified it (the read model has no write-off date), never before the sale. None when
    nothing is open."""
    if left <= 0:
        return None
    gross = sum((line.net + line.vat for line in record.lines), _ZERO)
    if gross <= 0:
        return None
    signed: Signed = []
    shared = _ZERO
    for line in record.lines:
        code, vat_account = SALE_VAT.get(line.vat_type, (None, None))
        net = money.two_places(line.net * left / gross)
        vat = money.two_places(line.vat * left / gross) if vat_account else _ZERO
        if vat_account is None:
            net = money.two_places((line.net + line.vat) * left / gross)
        signed.append((BAD_DEBTS, net, None, code if vat_account else None, BASE, None))
        if vat:
            signed.append((vat_account or "2700", vat, None, code, TAX, None))
        shared += net + vat
    # Rounding of the shares: the loss line takes it (what was open is credited whole).
    signed.append((BAD_DEBTS, left - shared, None, None, None, None))
    signed.append((receivables, -left, None, None, None, party))
    day = record.settled_date or record.modified or record.date
    text = _text(f"Tapsført: {description}", description)
    return _entry(max(day, record.date), text, _merged(_lines(signed)), f"{ref}:{WRITE_OFF}")


def _write_off_key(record: HistoryJournalEntry) -> str | None:
    """The key (`WRITTEN_OFF`) a journal entry would be the books' posting of a sale's
    write-off under: one line on the receivable, the others on the loss (class 7) and
    output VAT (27xx) accounts, in either direction (the write-off or its cancellation).
    None for any other entry."""
    lines = [line for line in record.lines if line.amount]
    others = [line for line in lines if not line.account.startswith(_WRITE_OFF_ACCOUNTS)]
    if len(others) != 1 or len(lines) < 2:
        return None
    [receivable] = others
    return _written_off(receivable.account, abs(receivable.amount))


def _write_off_keys(entries: Entries) -> set[str]:
    """The key of the write-off among a sale's entries (the receivable it credits and
    by how much), as `_write_off_key` reads the books' own posting of it."""
    keys: set[str] = set()
    for _, entry in entries:
        if not entry.external_ref or not entry.external_ref.endswith(f":{WRITE_OFF}"):
            continue
        for line in entry.lines:
            if line.credit and not line.account.startswith(_WRITE_OFF_ACCOUNTS):
                keys.add(_written_off(line.account, line.credit))
    return keys


def _written_off(account: str, amount: Decimal) -> str:
    """The key of a write-off: the receivables account it credits by its main account
    (the sale may name no customer account where the books post to one: 1500 and
    1500:10001 alike) and the amount."""
    return f"{WRITTEN_OFF}{account.partition(':')[0]}:{money.two_places(amount)}"


def _merged(lines: tuple[JournalLine, ...]) -> tuple[JournalLine, ...]:
    """Lines of one account, code and part added up (a loss line without code stays)."""
    merged: dict[tuple[str, str | None, str | None], JournalLine] = {}
    for line in lines:
        key = (line.account, line.vat_code, line.vat_part)
        held = merged.get(key)
        if held is None:
            merged[key] = line
            continue
        amount = held.debit - held.credit + line.debit - line.credit
        merged[key] = msgspec.structs.replace(
            held,
            debit=amount if amount > 0 else _ZERO,
            credit=-amount if amount < 0 else _ZERO,
        )
    return tuple(line for line in merged.values() if line.debit or line.credit)


def _gross_in_currency(record: HistoryTrade) -> Decimal | None:
    """What a foreign-currency trade's counter line holds, in its currency (the gross; a
    reverse-charge line's net): None for a NOK trade or one whose lines do not all give
    their amounts in the currency."""
    if record.currency.strip().upper() == "NOK":
        return None
    total = _ZERO
    for line in record.lines:
        if line.net_in_currency is None:
            return None
        reverse = record.what == PURCHASE and line.vat_type in PURCHASE_REVERSE_CHARGE
        total += line.net_in_currency + (_ZERO if reverse else line.vat_in_currency or _ZERO)
    return total or None


#: Who converted an imported foreign-currency document: the books (Exchange.source).
EXCHANGE_FROM_BOOKS: Final = "books"


def trade_exchanges(tenant_id: str, record: HistoryTrade) -> dict[uuid.UUID, Exchange]:
    """How the entries `trade_entries` makes of a foreign-currency purchase or sale were
    converted, by entry id (ADR 0056 addendum): the posting (and its mirror) at the rate
    its amounts in the currency and in NOK imply — Fiken's netPriceInCurrency and
    vatInCurrency beside netPrice and vat — and each payment of its own at its amount
    and amountInNok. The SAF-T export gives their lines CurrencyCode, CurrencyAmount and
    ExchangeRate from it, as an executed purchase's (ADR 0051). Nothing for a NOK trade,
    nor where the books do not give the amounts in the currency."""
    if record.currency == "NOK":
        return {}
    found: dict[uuid.UUID, Exchange] = {}
    reference = f"fiken:{record.what}:{record.id}"
    purchase = record.what == PURCHASE
    nok = foreign = _ZERO
    for line in record.lines:
        if line.net_in_currency is None:
            foreign = _ZERO
            break
        reverse = purchase and line.vat_type in PURCHASE_REVERSE_CHARGE
        nok += line.net if reverse else line.net + line.vat
        foreign += line.net_in_currency + (_ZERO if reverse else line.vat_in_currency or _ZERO)
    exchange = _exchange(record.currency, foreign, nok, record.date, reference)
    if exchange is not None:
        found[imported_entry_id(tenant_id, record.what, record.id, "posting")] = exchange
        if record.deleted:
            found[imported_entry_id(tenant_id, record.what, record.id, "reversal")] = exchange
    if record.kind in CASH_KINDS:
        return found
    for index, payment in enumerate(record.payments):
        if payment.amount_in_currency is None:
            continue
        key = payment.id or f"{index}:{payment.date.isoformat()}:{payment.amount}"
        paid = _exchange(
            payment.currency or record.currency,
            payment.amount_in_currency,
            payment.amount,
            payment.date,
            f"{reference}:payment:{key}",
        )
        if paid is not None:
            found[imported_entry_id(tenant_id, record.what, record.id, f"payment:{key}")] = paid
    return found


def _exchange(
    currency: str, amount: Decimal, nok_amount: Decimal, day: dt.date, reference: str
) -> Exchange | None:
    """The conversion implied by an amount in `currency` and the same in NOK (both of one
    sign: a credit's are negative); None when there is none to imply."""
    if amount == 0 or nok_amount == 0 or (amount < 0) != (nok_amount < 0):
        return None
    return implied_exchange(
        currency.strip().upper(),
        abs(amount),
        abs(nok_amount),
        day=day,
        source=EXCHANGE_FROM_BOOKS,
        reference=reference,
    )


def _by_code(balances: Sequence[BooksAccountBalance]) -> dict[str, Decimal]:
    """Balances by account, a base account listed with its sub-ledger accounts' sum left
    out (it is their total)."""
    by_code: dict[str, Decimal] = {}
    for row in balances:
        code = row.code.strip()
        if row.balance and code:
            by_code[code] = by_code.get(code, _ZERO) + row.balance
    subs: dict[str, Decimal] = {}
    for code, amount in by_code.items():
        base, sep, _ = code.partition(":")
        if sep:
            subs[base] = subs.get(base, _ZERO) + amount
    for base, total in subs.items():
        if by_code.get(base) == total:
            del by_code[base]
    return by_code


def opening_entry_id(tenant_id: str) -> uuid.UUID:
    """The tenant's imported opening balance: one entry, its revisions the later ones."""
    return imported_entry_id(tenant_id, OPENING, "books", "posting")


def opening_entries(
    tenant_id: str,
    start: dt.date,
    balances: Sequence[BooksAccountBalance],
    earlier: Sequence[BooksAccountBalance] = (),
) -> Entries:
    """The books' closing balances on the day before `start` as one opening entry dated
    that day (inngående balanse): every account with a balance, debit positive, a
    sub-ledger account's line naming its supplier or customer. A base account listed
    beside its sub-ledger accounts (1500 and 1500:10001) with their sum is their total
    and is left out. The books' balances are cumulative: an income-statement account
    (3000–8999) carries only that day's financial year, less its balance at the end of
    the year before (`earlier`: the balances then), and what earlier years held is
    equity on 2050 (statements.carry_forward, as the ledger carries an ended year's
    result). Nothing when no account has a balance; NotImportable when they do not add
    up."""
    day = start - dt.timedelta(days=1)
    by_code = statements.carry_forward(_by_code(balances), _by_code(earlier))
    by_code = {code: amount for code, amount in by_code.items() if amount}
    total = sum(by_code.values(), _ZERO)
    if total != 0:
        raise NotImportable(
            f"the account balances on {day.isoformat()} do not add up: they differ by {total}"
        )
    lines = _lines(
        (code, amount, None, None, None, _ledger_party(code))
        for code, amount in sorted(by_code.items())
    )
    if not lines:
        return []
    description = f"Inngående balanse fra Fiken per {day.isoformat()}"
    return [(opening_entry_id(tenant_id), _entry(day, description, lines, OPENING_REF))]


# --- the use case -----------------------------------------------------------------------


class BooksImportReport(msgspec.Struct, kw_only=True):
    """What a run read and did. `records`: read per kind; `imported`: entries written
    (a dry run: that would be); `known`: entries already in the log; `executed_here`:
    purchases bookkeeper executed itself (not posted again)."""

    records: dict[str, int] = {}
    imported: int = 0
    known: int = 0
    executed_here: int = 0
    #: Accounts of the opening balance this run booked or found (0: none asked or none).
    opening_accounts: int = 0
    #: Payments (and write-offs) the books no longer list that the ledger held: cancelled.
    removed: int = 0
    #: Entries the books changed since they were imported (of `imported`: each is booked
    #: again as a revision, with the cancellation of what the ledger held).
    revised: int = 0
    #: Journal entries that are a purchase's or sale's own posting (not imported twice).
    same_as_trade: int = 0
    #: The books' transactions of the purchases and sales this run read.
    trade_transactions: set[str] = set()
    problems: list[HistoryProblem] = []
    dry_run: bool = False
    start: dt.date
    end: dt.date | None = None
    #: Where this run started from (the last run's marks), when it was incremental.
    since: BooksImportedData | None = None
    #: Records an earlier run refused, asked for again by id in this one.
    retried: int = 0
    #: Of those, the ones the books no longer have (deleted): dropped, not asked again.
    gone: list[PendingRecord] = []
    #: Refused records not asked for again this run (over the limit): the next run will.
    deferred: int = 0
    #: What the next incremental run asks for again (this run's refused and deferred).
    pending: list[PendingRecord] = []
    #: The opening balance held is booked by financial year (`BooksImportedData`).
    opening_by_year: bool = False
    #: Entries (of `imported`) dated in a closed period or, with VAT lines, a locked VAT
    #: term, by that period ("closed period 2025", "locked VAT term 2026-1"): imported at
    #: their date in the books all the same — the import mirrors the books and moves
    #: nothing to the first open day, as automatic postings are (ADR 0040 addendum).
    in_shut_periods: dict[str, int] = {}


Progress = Callable[[int, int | None], None]


class BooksImport:
    """`bookkeeper import fiken`: the books' records as imported ledger entries."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        history: BooksHistory,
        clock: Clock,
        *,
        actor: str = IMPORT_ACTOR,
        retry_limit: int = RETRY_LIMIT,
    ) -> None:
        self._uow = uow_factory
        self._history = history
        self._clock = clock
        self._actor = actor
        self._retry_limit = retry_limit

    async def last_run(self, tenant_id: str) -> BooksImportedData | None:
        """The last recorded run of the tenant (None: never)."""
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant_id, books_import_runs_id(tenant_id))
        for event in reversed(events):
            if isinstance(event.data, BooksImportedData):
                return event.data
        return None

    async def run(
        self,
        tenant_id: str,
        start: dt.date,
        end: dt.date | None = None,
        *,
        dry_run: bool = False,
        progress: Progress = lambda done, total: None,
    ) -> BooksImportReport:
        if end is not None and end < start:
            raise ValueError(f"the period starts ({start}) after it ends ({end})")
        last = await self.last_run(tenant_id)
        earliest = await self._earliest_start(tenant_id)
        if (
            earliest is not None
            and end is not None
            and start < earliest
            and end < earliest - dt.timedelta(days=1)
            and await self._opening_held(tenant_id)
        ):
            # The opening balance held (the books before `earliest`) holds these records
            # already; moving it to `start` would lose the ones after `end` instead.
            raise BooksRangeRefused(
                f"the ledger opens on {earliest.isoformat()} with the books' balances before "
                f"it: a run from {start.isoformat()} must reach that day (--to "
                f"{(earliest - dt.timedelta(days=1)).isoformat()} or later, or none)"
            )
        incremental = last is not None and end is None and last.end is None and last.start <= start
        since = last if incremental else None
        report = BooksImportReport(start=start, end=end, dry_run=dry_run, since=since)
        today = self._clock.now().astimezone(BOOKS_TIME_ZONE).date()
        marks = {
            JOURNAL_ENTRY: since.journal_entries_modified if since else None,
            SALE: since.sales_modified if since else None,
            PURCHASE: since.purchases_dated if since else None,
        }
        newest = dict(marks)
        done = 0
        totals: dict[str, int | None] = {}

        # Purchases and sales first: a journal entry that is one of their own postings
        # (the same transaction) is then known before it is read (ADR 0044 §6). The
        # purchases of the whole range, every run: they have no lastModified filter, and
        # one registered after the last run but dated before its newest (a receipt
        # entered late), changed, paid or deleted since, is only seen so — read from the
        # mark, it was missed, or booked from its journal entry and then again by a full
        # run (ADR 0037 addendum). Known ones are skipped as any known record is.
        lists: list[tuple[str, AsyncIterator[HistoryPage]]] = [
            (PURCHASE, self._history.purchases(HistoryQuery(start=start, end=end))),
            (
                SALE,
                self._history.sales(HistoryQuery(start=start, end=end, modified_since=marks[SALE])),
            ),
            (
                JOURNAL_ENTRY,
                self._history.journal_entries(
                    HistoryQuery(start=start, end=end, modified_since=marks[JOURNAL_ENTRY])
                ),
            ),
        ]
        # What the books held before the start, when no earlier run started before it
        # (the records from an earlier start are the ledger's already): asked by every
        # run of that start, incremental ones too. The lists are read from the start on,
        # so a change the books back-date before it (a receipt for December entered in
        # January) reaches the ledger only through the balances; an unchanged answer
        # writes nothing (ADR 0037 addendum "leftovers").
        opening_pending = any(p.what == OPENING for p in (last.pending if last else ()))
        by_year = last is not None and last.opening_by_year
        opening_asked = earliest is None or start <= earliest
        if opening_asked:
            await self._opening(tenant_id, start, report)
            by_year = not any(p.what == OPENING for p in report.problems)
        report.opening_by_year = by_year
        #: Transactions of purchases and sales: of earlier runs, and of this one as read.
        trades = _Known(await self.trade_transactions(tenant_id))
        #: The tenant's closed periods and locked VAT terms (counted, not enforced).
        async with self._uow() as uow:
            shut = await uow.rules.periods(tenant_id)
        # What the last run refused: asked for again by id first (an incremental run only:
        # a full run reads its range anyway), within the limit; the rest wait.
        # Purchases are not: the list reads them all again (above); only the ones it does
        # not answer with are asked for by id after it (gone, or outside the range).
        pending = [p for p in (last.pending if last else ()) if p.what in _KINDS]
        waiting = pending
        room = self._retry_limit
        pending_purchases = [p for p in pending if p.what == PURCHASE]
        if since is not None and pending:
            first = [p for p in pending if p.what != PURCHASE]
            asked, waiting = first[:room], first[room:]
            room -= len(asked)
            await self._retry(tenant_id, asked, report, trades, shut)
        #: The records the lists answered with (a pending one read there is settled there).
        listed: set[tuple[str, str]] = set()
        async for what, page in _read_ahead(lists):
            if page.total is not None and what not in totals:
                totals[what] = page.total
            count = len(page.entries) + len(page.trades) + len(page.problems)
            report.records[what] = report.records.get(what, 0) + count
            listed.update((what, r.id) for r in page.entries)
            listed.update((what, r.id) for r in page.trades)
            listed.update((what, r.id) for r in page.problems)
            await self._book(tenant_id, page, report, trades, shut)
            for entry in page.entries:
                newest[what] = _later(newest[what], entry.modified)
            for trade in page.trades:
                newest[what] = _later(newest[what], trade.modified if what == SALE else trade.date)
            done += count
            progress(done, sum(t for t in totals.values() if t is not None) or None)
        if since is not None and pending_purchases:
            unlisted = [p for p in pending_purchases if (p.what, p.id) not in listed]
            if unlisted[:room]:
                await self._retry(tenant_id, unlisted[:room], report, trades, shut)
            waiting = [*waiting, *unlisted[room:]]
        # A record refused both by id and in a list is reported once.
        report.problems = _once(report.problems, {(p.what, p.id) for p in pending})
        once = {(p.what, p.id): p for p in report.problems}
        deferred = [
            p for p in waiting if (p.what, p.id) not in listed and (p.what, p.id) not in once
        ]
        report.deferred = len(deferred) if since is not None else 0
        refused = [PendingRecord(what=w, id=i) for w, i in once if w in _KINDS and i != "?"]
        # An opening balance refused (or not asked this run, and refused before) is asked
        # for again by the next incremental run.
        opening = [PendingRecord(what=w, id=i) for w, i in once if w == OPENING]
        if not opening_asked and opening_pending and last is not None:
            opening = [p for p in last.pending if p.what == OPENING]
        report.pending = [*deferred, *refused, *opening]
        if not dry_run:
            await self._record_run(tenant_id, report, newest, today)
        return report

    async def _retry(
        self,
        tenant_id: str,
        pending: Sequence[PendingRecord],
        report: BooksImportReport,
        trades: _Known,
        shut: Sequence[FiscalPeriod] = (),
    ) -> None:
        """Ask the books for each pending record by id (one request at a time, through
        the same gate as the lists) and book the ones that can be booked now, as a page."""
        entries: list[HistoryJournalEntry] = []
        found_trades: list[HistoryTrade] = []
        problems: list[HistoryProblem] = []
        for record in pending:
            found = await self._history.record(record.what, record.id)
            report.retried += 1
            if found is None:
                log.info("import: %s %s is gone from the books: dropped", record.what, record.id)
                report.gone.append(record)
                continue
            entries.extend(found.entries)
            found_trades.extend(found.trades)
            problems.extend(found.problems)
        page = HistoryPage(entries=entries, trades=found_trades, problems=problems)
        await self._book(tenant_id, page, report, trades, shut)

    async def _book(
        self,
        tenant_id: str,
        page: HistoryPage,
        report: BooksImportReport,
        trades: _Known,
        shut: Sequence[FiscalPeriod] = (),
    ) -> None:
        """A page read from a list or asked for by id: its refused records reported, its
        purchases' and sales' transactions added to `trades` (their own journal entries are
        then skipped) and to the run's, and its records booked (`_page`)."""
        report.problems.extend(page.problems)
        for problem in page.problems:
            log.warning("import: %s %s skipped: %s", problem.what, problem.id, problem.reason)
        seen = {t.transaction for t in page.trades if t.transaction is not None}
        # A purchase or sale refused as it was read (it breaks the contract) whose
        # transaction could be read: its own posting, where the books list it among the
        # journal entries, waits with it (booked from the record once it can be read).
        seen |= {
            p.transaction
            for p in page.problems
            if p.transaction is not None and p.what in (PURCHASE, SALE)
        }
        # A cancelled journal entry's balancing transaction (kept as "offset:<id>"): the
        # import posts the entry's mirror itself, so the books' own counter-entry, when
        # they list it, is not booked again (`_page`).
        seen |= {
            f"{OFFSET}{e.offset_transaction}"
            for e in page.entries
            if e.offset_transaction is not None
        }
        report.trade_transactions |= seen
        trades |= seen
        if page.entries or page.trades or not seen <= trades.stored:
            await self._page(tenant_id, page, report, trades, shut)

    async def trade_transactions(self, tenant_id: str) -> set[str]:
        """The keys earlier runs kept in their records (`BooksImportedData.
        trade_transactions`): runs before each key had a stream of its own
        (`BooksTransactionKnown`) kept every one there; later runs keep none."""
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant_id, books_import_runs_id(tenant_id))
        found: set[str] = set()
        for event in events:
            if isinstance(event.data, BooksImportedData):
                found.update(event.data.trade_transactions)
        return found

    async def _page(
        self,
        tenant_id: str,
        page: HistoryPage,
        report: BooksImportReport,
        trades: _Known,
        shut: Sequence[FiscalPeriod] = (),
    ) -> None:
        """Map the page's records and write the new entries in one transaction. A journal
        entry of a purchase's or sale's transaction (`trades`) is not imported: the
        purchase or sale posts it (Fiken lists it among the journal entries too)."""
        records: list[tuple[HistoryJournalEntry | HistoryTrade, Entries]] = []
        async with self._uow() as uow:
            # The tenant's rates (reverse charge is calculated with them): the store's
            # cache answers, one read per page at most.
            rates = await tenant_tax_table(uow, tenant_id) if page.trades else None
            # What earlier runs (or pages) learnt of the transactions these journal
            # entries name: one read of their keys' streams.
            await _look_up(uow, tenant_id, trades, _keys_of(page.entries))
            # Trades first: a write-off they book is known before a journal entry of it.
            everything: list[HistoryJournalEntry | HistoryTrade] = [*page.trades, *page.entries]
            for record in everything:
                what = record.what if isinstance(record, HistoryTrade) else JOURNAL_ENTRY
                try:
                    if isinstance(record, HistoryTrade):
                        ours = record.what == PURCHASE and await _executed_here(
                            uow, tenant_id, record
                        )
                        if ours:
                            report.executed_here += 1
                        entries = trade_entries(tenant_id, record, payments_only=ours, rates=rates)
                        seen = _write_off_keys(entries)
                        report.trade_transactions |= seen
                        trades |= seen
                    elif record.transaction is not None and record.transaction in trades:
                        report.same_as_trade += 1
                        continue
                    elif (
                        record.transaction is not None
                        and record.offset_transaction is None
                        and f"{OFFSET}{record.transaction}" in trades
                    ):
                        # The balancing entry of a cancelled one, whose mirror is posted
                        # with it (one that is cancelled itself is booked, with its own).
                        report.same_as_trade += 1
                        continue
                    elif await _posted_here(uow, tenant_id, record):
                        # A credit note's journal entry, or its counter-entry, that the
                        # executor posted (ADR 0054): the ledger has it from the proposal.
                        report.executed_here += 1
                        continue
                    elif _write_off_key(record) in trades:
                        # The books' own posting of a write-off the import booked from
                        # the sale (or its cancellation, the write-off undone).
                        report.same_as_trade += 1
                        continue
                    else:
                        entries = journal_entry_entries(tenant_id, record)
                        offset = record.offset_transaction
                        if offset is not None and f"{BOOKED_ENTRY}{offset}" in trades:
                            # The books' balancing entry was read (and booked) before this
                            # one on an earlier page or run: it is the reversal.
                            entries = entries[:1]
                        elif record.transaction is not None and offset is None:
                            booked = {f"{BOOKED_ENTRY}{record.transaction}"}
                            report.trade_transactions |= booked
                            trades |= booked
                except NotImportable as error:
                    if isinstance(record, HistoryTrade):
                        # The books' own posting of its write-off, where /journalEntries
                        # lists it, waits with the sale (its transaction is the sale's
                        # already): booked as a journal entry now, it was booked again by
                        # the sale once fixed.
                        waiting = _refused_write_off_key(record)
                        if waiting is not None:
                            report.trade_transactions.add(waiting)
                            trades.add(waiting)
                    problem = HistoryProblem(what=what, id=record.id, reason=str(error))
                    log.warning("import: %s %s skipped: %s", what, record.id, problem.reason)
                    report.problems.append(problem)
                    continue
                records.append((record, entries))
            metadata: dict[uuid.UUID, dict[str, Any]] = {}
            for record, _ in records:
                if isinstance(record, HistoryTrade):
                    for entry_id, exchange in trade_exchanges(tenant_id, record).items():
                        metadata[entry_id] = {EXCHANGE_METADATA: msgspec.to_builtins(exchange)}
            ids = [entry_id for _, entries in records for entry_id, _ in entries]
            # The parts (payments, write-off) each purchase and sale held when last read.
            parts = {
                imported_entry_id(tenant_id, record.what, record.id, PARTS): (
                    record,
                    _parts(record, entries),
                )
                for record, entries in records
                if isinstance(record, HistoryTrade)
            }
            # Each entry's stream and its first revision's, in one read: a record the books
            # changed since (or changed back) is told from one they did not; and the
            # streams of the keys this run learnt that are not known to be kept yet.
            unsure = {
                transaction_key_id(tenant_id, key): key
                for key in trades - trades.stored - trades.looked
            }
            trades.looked |= set(unsure.values())
            asked = [*ids, *(revision_id(i, 1) for i in ids), *parts, *unsure]
            existing = (
                await uow.events.read_streams([(tenant_id, i) for i in asked]) if asked else {}
            )
            trades.stored |= {key for stream, key in unsure.items() if existing.get(stream)}
            keep = sorted(trades - trades.stored)
            fresh: Entries = []
            restored: set[uuid.UUID] = set()
            listed: list[tuple[uuid.UUID, int, NewEvent]] = []
            for parts_id, (trade, now_parts) in parts.items():
                held_events = existing.get(parts_id) or []
                held = held_events[-1].data if held_events else None
                if not isinstance(held, BooksRecordPartsData):
                    if now_parts:  # first listed (or imported before parts were kept)
                        listed.append(self._parts_event(parts_id, trade, now_parts, 0))
                    continue
                if set(held.parts) == set(now_parts):
                    continue
                for part in sorted(set(held.parts) - set(now_parts)):
                    # Gone from the books (a payment removed in Fiken): the version the
                    # ledger holds is cancelled.
                    part_id = imported_entry_id(tenant_id, trade.what, trade.id, part)
                    gone = await _withdrawn(uow, tenant_id, part_id, existing, metadata)
                    report.removed += 1 if gone else 0
                    fresh.extend(gone)
                for part in set(now_parts) - set(held.parts):
                    part_id = imported_entry_id(tenant_id, trade.what, trade.id, part)
                    if existing.get(part_id):
                        restored.add(part_id)  # listed again after it was removed
                listed.append(self._parts_event(parts_id, trade, now_parts, len(held_events)))
            for _, entries in records:
                for entry_id, entry in entries:
                    if not existing.get(entry_id):
                        fresh.append((entry_id, entry))
                        continue
                    revised = await _revised(
                        uow, tenant_id, entry_id, entry, existing, metadata, entry_id in restored
                    )
                    if revised:
                        report.revised += 1
                        fresh.extend(revised)
                    else:
                        report.known += 1
            report.imported += len(fresh)
            _count_shut(report, fresh, shut)
            if report.dry_run or not (fresh or listed or keep):
                return
            markers = [self._known_event(tenant_id, key) for key in keep]
            await self._write(uow, tenant_id, fresh, metadata, listed, markers)
            trades.stored |= set(keep)

    async def _write(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        fresh: Entries,
        metadata: dict[uuid.UUID, dict[str, Any]],
        listed: Sequence[tuple[uuid.UUID, int, NewEvent]] = (),
        markers: Sequence[tuple[str, uuid.UUID, NewEvent]] = (),
    ) -> None:
        """Append the new entries (each its own stream at version 0), the records' parts and
        the keys learnt (`markers`, each its own stream: one another run kept meanwhile is
        left as it is), fold the entries into the ledger and commit."""
        now = self._clock.now()
        # Every new entry starts its own stream, and so does a record's first parts record:
        # all in one `append_first` (one multi-row insert on SQL). A stream taken meanwhile
        # (another run booked it) fails the page as a stale `append` would.
        first: list[tuple[str, uuid.UUID, NewEvent]] = []
        for entry_id, entry in fresh:
            event = stamp(
                JOURNAL_ENTRY_POSTED,
                entry,
                event_id=entry_id,
                actor=self._actor,
                at=now,
                correlation_id=entry_id,
                # A foreign-currency document's conversion, as a proposal's stream
                # records an executed one's (ADR 0051): SAF-T's currency of its lines.
                metadata=metadata.get(entry_id),
            )
            first.append((tenant_id, entry_id, event))
        first.extend((tenant_id, stream, event) for stream, version, event in listed if not version)
        appended = await uow.events.append_first(first) if first else []
        for (_, stream_id, _), done in zip(first, appended, strict=True):
            if done is None:
                raise ConcurrencyConflict(stream_id, 0)
        for stream_id, version, event in listed:
            if version:
                await uow.events.append(tenant_id, stream_id, version, [event])
        if markers:
            await uow.events.append_first(markers)
        recorded = [e for e in appended if e is not None and e.type == JOURNAL_ENTRY_POSTED]
        await fold_journal_entries(uow, recorded)
        await uow.commit()

    async def _opening(self, tenant_id: str, start: dt.date, report: BooksImportReport) -> None:
        """The books' balances before `start` as one opening entry dated the day before
        (ADR 0037 addendum): booked once; a run from an earlier start books that one's
        instead (the held one cancelled, as a revision), and balances the books changed
        since are booked again the same way. A balance list that does not add up, or an
        answer that breaks the contract, is a problem and nothing of it is written."""
        day = start - dt.timedelta(days=1)
        try:
            balances = await self._history.balances(day)
            # The books' balances are cumulative: what the result accounts held at the end
            # of the year before that day's is earlier years' result (asked only when a
            # result account has a balance).
            earlier: Sequence[BooksAccountBalance] = ()
            if any(r.balance and statements.is_result_account(r.code) for r in balances):
                earlier = await self._history.balances(
                    statements.year_start(day) - dt.timedelta(days=1)
                )
            entries = opening_entries(tenant_id, start, balances, earlier)
        except (NotImportable, ExternalAnswerInvalid) as error:
            problem = HistoryProblem(what=OPENING, id=day.isoformat(), reason=str(error)[:300])
            log.warning("import: opening balance skipped: %s", problem.reason)
            report.problems.append(problem)
            return
        entry_id = opening_entry_id(tenant_id)
        async with self._uow() as uow:
            asked = [(tenant_id, entry_id), (tenant_id, revision_id(entry_id, 1))]
            existing = await uow.events.read_streams(asked)
            fresh: Entries = []
            if not entries:  # nothing before the start (any more): none held
                fresh = await _withdrawn(uow, tenant_id, entry_id, existing, {})
            elif not existing.get(entry_id):
                fresh = entries
            else:
                [(_, entry)] = entries
                fresh = await _revised(uow, tenant_id, entry_id, entry, existing, {}, restored=True)
                report.revised += 1 if fresh else 0
                report.known += 0 if fresh else 1
            report.opening_accounts = len(entries[0][1].lines) if entries else 0
            report.imported += len(fresh)
            if report.dry_run or not fresh:
                return
            await self._write(uow, tenant_id, fresh, {})

    async def _opening_held(self, tenant_id: str) -> bool:
        """Whether the tenant's ledger holds an imported opening balance (or did)."""
        entry_id = opening_entry_id(tenant_id)
        async with self._uow() as uow:
            found = await uow.events.read_streams([(tenant_id, entry_id)])
        return bool(found.get(entry_id))

    async def _earliest_start(self, tenant_id: str) -> dt.date | None:
        """The earliest start of the tenant's recorded runs (None: never ran)."""
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant_id, books_import_runs_id(tenant_id))
        starts = [e.data.start for e in events if isinstance(e.data, BooksImportedData)]
        return min(starts, default=None)

    def _known_event(self, tenant_id: str, key: str) -> tuple[str, uuid.UUID, NewEvent]:
        """The record that the books' transaction key `key` is known, in its own stream."""
        stream_id = transaction_key_id(tenant_id, key)
        event = stamp(
            BOOKS_TRANSACTION_KNOWN,
            BooksTransactionKnownData(key=key),
            event_id=uuid.uuid5(stream_id, "0"),
            actor=self._actor,
            at=self._clock.now(),
            correlation_id=stream_id,
        )
        return tenant_id, stream_id, event

    def _parts_event(
        self, stream_id: uuid.UUID, trade: HistoryTrade, parts: tuple[str, ...], version: int
    ) -> tuple[uuid.UUID, int, NewEvent]:
        """The record of what `trade` holds besides its posting, appended after `version`."""
        data = BooksRecordPartsData(what=trade.what, id=trade.id, parts=parts)
        event = stamp(
            BOOKS_RECORD_PARTS,
            data,
            event_id=uuid.uuid5(stream_id, str(version)),
            actor=self._actor,
            at=self._clock.now(),
            correlation_id=stream_id,
        )
        return stream_id, version, event

    async def _record_run(
        self,
        tenant_id: str,
        report: BooksImportReport,
        newest: dict[str, dt.date | None],
        today: dt.date,
    ) -> None:
        run = BooksImportedData(
            source=self._history.name,
            start=report.start,
            end=report.end,
            journal_entries_modified=newest[JOURNAL_ENTRY],
            sales_modified=newest[SALE],
            purchases_dated=newest[PURCHASE],
            ran_on=today,
            imported=report.imported,
            known=report.known,
            executed_here=report.executed_here,
            problems=len(report.problems),
            same_as_trade=report.same_as_trade,
            # Kept in streams of their own (BooksTransactionKnown): the record stays the
            # same size however many records the run read.
            pending=tuple(report.pending),
            opening_by_year=report.opening_by_year,
        )
        stream = books_import_runs_id(tenant_id)
        async with self._uow() as uow:
            version = len(await uow.events.read_stream(tenant_id, stream))
            event_id = uuid.uuid5(stream, str(version + 1))
            await uow.events.append(
                tenant_id,
                stream,
                version,
                [
                    stamp(
                        BOOKS_IMPORTED,
                        run,
                        event_id=event_id,
                        actor=self._actor,
                        at=self._clock.now(),
                        correlation_id=stream,
                    )
                ],
            )
            await uow.commit()


async def _read_ahead(
    lists: Sequence[tuple[str, AsyncIterator[HistoryPage]]], ahead: int = 2
) -> AsyncIterator[tuple[str, HistoryPage]]:
    """The pages of every list in order, the next ones read while the caller writes this
    one (at most `ahead` waiting): the books' rate limit, not our writing, sets the pace.
    An error reading is raised here after the pages before it; stopping early stops the
    reading."""
    queue: asyncio.Queue[tuple[str, HistoryPage] | None] = asyncio.Queue(maxsize=ahead)
    failed: list[Exception] = []

    async def read() -> None:
        try:
            for what, pages in lists:
                async for page in pages:
                    await queue.put((what, page))
        except Exception as error:  # handed to the caller below, in order
            failed.append(error)
        await queue.put(None)

    reader = asyncio.create_task(read())
    try:
        while (item := await queue.get()) is not None:
            yield item
        if failed:
            raise failed[0]
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


_KINDS: Final = frozenset({JOURNAL_ENTRY, PURCHASE, SALE})


def _once(
    problems: list[HistoryProblem], asked: AbstractSet[tuple[str, str]]
) -> list[HistoryProblem]:
    """The problems with each record asked for again (`asked`) once: it may have been
    refused by id and again in a list. Others stay as they are (records without a
    readable id may share one)."""
    kept: list[HistoryProblem] = []
    shown: set[tuple[str, str]] = set()
    for problem in problems:
        key = (problem.what, problem.id)
        if key in asked:
            if key in shown:
                continue
            shown.add(key)
        kept.append(problem)
    return kept


class _Known(set[str]):
    """The books' transaction keys the run knows (`BooksTransactionKnownData`): of
    earlier runs and of this one as read. `stored`: the ones kept in the log (found
    there, or written by this run); `looked`: the ones looked for there."""

    def __init__(self, kept: Iterable[str] = ()) -> None:
        super().__init__(kept)
        self.stored: set[str] = set(self)
        self.looked: set[str] = set()


def transaction_key_id(tenant_id: str, key: str) -> uuid.UUID:
    """The stream that records the books' transaction key `key` as known."""
    return imported_entry_id(tenant_id, "transaction", key, "known")


def _keys_of(entries: Iterable[HistoryJournalEntry]) -> set[str]:
    """The keys that tell what each journal entry is (`_page`): its transaction (a
    purchase's or sale's), its balancing one, the one it cancels, a write-off's."""
    keys: set[str] = set()
    for entry in entries:
        if entry.transaction is not None:
            keys |= {entry.transaction, f"{OFFSET}{entry.transaction}"}
        if entry.offset_transaction is not None:
            keys.add(f"{BOOKED_ENTRY}{entry.offset_transaction}")
        written_off = _write_off_key(entry)
        if written_off is not None:
            keys.add(written_off)
    return keys


async def _look_up(uow: UnitOfWork, tenant_id: str, known: _Known, keys: set[str]) -> None:
    """Add to `known` the keys the log keeps of `keys` (each looked for once a run)."""
    unsure = {transaction_key_id(tenant_id, k): k for k in keys - known - known.looked}
    if not unsure:
        return
    known.looked |= set(unsure.values())
    found = await uow.events.read_streams([(tenant_id, stream) for stream in unsure])
    kept = {key for stream, key in unsure.items() if found.get(stream)}
    known |= kept
    known.stored |= kept


def _later(current: dt.date | None, seen: dt.date | None) -> dt.date | None:
    if seen is None:
        return current
    return seen if current is None or seen > current else current


async def _executed_here(uow: UnitOfWork, tenant_id: str, record: HistoryTrade) -> bool:
    """Whether bookkeeper executed this purchase itself: it carries our reference and
    that proposal's execution recorded this purchase's id — or is under way (approved,
    no purchase recorded yet: its execution will find this purchase by the reference and
    post it, ADR 0009)."""
    reference = record.reference or ""
    if not reference.startswith("bk-"):
        return False
    try:
        proposal_id = uuid.UUID(hex=reference[3:])
    except ValueError:
        return False
    view = await uow.proposals.get(tenant_id, proposal_id)
    if view is None:
        return False
    ids = view.external_ids
    if "fikenPurchaseId" not in ids and view.status is Status.APPROVED:
        return True
    return record.id in (ids.get("fikenPurchaseId"), ids.get("reversedFikenPurchaseId"))


def revision_id(entry_id: uuid.UUID, revision: int, *, cancel: bool = False) -> uuid.UUID:
    """The id of an imported entry's `revision` (1, 2, …: the books changed the record after
    it was imported), or of the cancellation of the version before it."""
    return uuid.uuid5(entry_id, f"revision:{revision}{':cancel' if cancel else ''}")


def _same_booking(held: JournalEntryPostedData, entry: JournalEntryPostedData) -> bool:
    """Whether two versions of an entry book the same (date, accounts, amounts, VAT): a
    renamed party or a reworded text is no change of the books."""

    def booked(data: JournalEntryPostedData) -> tuple[object, ...]:
        return (
            data.date,
            tuple(
                (line.account, line.debit, line.credit, line.vat_code, line.vat_part)
                for line in data.lines
            ),
        )

    return booked(held) == booked(entry)


async def _latest(
    uow: UnitOfWork,
    tenant_id: str,
    entry_id: uuid.UUID,
    existing: dict[uuid.UUID, list[RecordedEvent]],
) -> tuple[RecordedEvent | None, int]:
    """The version of an imported entry the ledger holds last (its own, or its latest
    revision's) and that revision's number (0: the entry's own); None when never booked.
    The entry's and its first revision's streams are taken from `existing` when there."""
    held = existing.get(entry_id)
    if held is None:
        first = revision_id(entry_id, 1)
        found = await uow.events.read_streams([(tenant_id, entry_id), (tenant_id, first)])
        held, following = found.get(entry_id), found.get(first)
    else:
        following = existing.get(revision_id(entry_id, 1))
    if not held:
        return None, 0
    latest, revision = held[0], 0
    while following:
        latest, revision = following[0], revision + 1
        later = revision_id(entry_id, revision + 1)
        following = (await uow.events.read_streams([(tenant_id, later)])).get(later)
    return latest, revision


def _base_ref(ref: str) -> str:
    """An imported entry's reference without its revision's suffix."""
    return re.sub(r":revision:\d+(?::cancel)?$", "", ref)


async def _revised(
    uow: UnitOfWork,
    tenant_id: str,
    entry_id: uuid.UUID,
    entry: JournalEntryPostedData,
    existing: dict[uuid.UUID, list[RecordedEvent]],
    metadata: dict[uuid.UUID, dict[str, Any]],
    restored: bool = False,
) -> Entries:
    """An imported entry the books hold otherwise now (a sale corrected in Fiken, a payment's
    amount changed): the cancellation of the version the ledger holds, dated as it was, and
    the new version as the next revision — nothing when the latest version books the same.
    Revision ids derive from the entry's, so the same change is never booked twice.
    `metadata` gains the new version's (the entry's conversion) and the cancellation's
    (the held version's). `restored`: a part of a purchase or sale the books list again
    after it was removed (its last version cancelled, `_withdrawn`): booked again as it is
    now, without a cancellation."""
    latest, revision = await _latest(uow, tenant_id, entry_id, existing)
    if latest is None:
        return []
    held = latest.data
    ref = entry.external_ref or ""
    if restored:
        cancelled = revision_id(entry_id, revision + 1, cancel=True)
        if (await uow.events.read_streams([(tenant_id, cancelled)])).get(cancelled):
            new_id = revision_id(entry_id, revision + 1)
            if entry_id in metadata:
                metadata[new_id] = metadata[entry_id]
            log.info("import: %s listed again in the books: booked again", ref)
            new = msgspec.structs.replace(entry, external_ref=f"{ref}:revision:{revision + 1}")
            return [(new_id, new)]
    if not isinstance(held, JournalEntryPostedData) or _same_booking(held, entry):
        return []
    revision += 1
    cancel = mirror(held, entry_id=str(latest.stream_id), date=held.date, proposal_id=None)
    cancel = msgspec.structs.replace(
        cancel,
        description=_text(f"Endret i Fiken: {held.description}", held.description),
        source=SOURCE,
        external_ref=f"{ref}:revision:{revision}:cancel",
    )
    new = msgspec.structs.replace(entry, external_ref=f"{ref}:revision:{revision}")
    cancel_id = revision_id(entry_id, revision, cancel=True)
    new_id = revision_id(entry_id, revision)
    if latest.metadata.get(EXCHANGE_METADATA) is not None:
        metadata[cancel_id] = {EXCHANGE_METADATA: latest.metadata[EXCHANGE_METADATA]}
    if entry_id in metadata:
        metadata[new_id] = metadata[entry_id]
    log.info("import: %s changed in the books: booked again (revision %d)", ref, revision)
    return [(cancel_id, cancel), (new_id, new)]


async def _withdrawn(
    uow: UnitOfWork,
    tenant_id: str,
    entry_id: uuid.UUID,
    existing: dict[uuid.UUID, list[RecordedEvent]],
    metadata: dict[uuid.UUID, dict[str, Any]],
) -> Entries:
    """A part of a purchase or sale (a payment) the books no longer list: the cancellation
    of the version the ledger holds, dated as it was, as the next revision's cancellation
    (a later listing of it again books it as that revision, `_revised`). Nothing when the
    ledger holds none, or holds it cancelled already."""
    latest, revision = await _latest(uow, tenant_id, entry_id, existing)
    if latest is None or not isinstance(latest.data, JournalEntryPostedData):
        return []
    cancel_id = revision_id(entry_id, revision + 1, cancel=True)
    if (await uow.events.read_streams([(tenant_id, cancel_id)])).get(cancel_id):
        return []
    held = latest.data
    ref = _base_ref(held.external_ref or "")
    cancel = mirror(held, entry_id=str(latest.stream_id), date=held.date, proposal_id=None)
    cancel = msgspec.structs.replace(
        cancel,
        description=_text(f"Fjernet i Fiken: {held.description}", held.description),
        source=SOURCE,
        external_ref=f"{ref}:revision:{revision + 1}:cancel",
    )
    if latest.metadata.get(EXCHANGE_METADATA) is not None:
        metadata[cancel_id] = {EXCHANGE_METADATA: latest.metadata[EXCHANGE_METADATA]}
    log.info("import: %s removed in the books: cancelled", ref)
    return [(cancel_id, cancel)]


def _parts(record: HistoryTrade, entries: Entries) -> tuple[str, ...]:
    """The parts of a purchase's or sale's entries besides its posting and reversal: the
    purpose each was derived under ("payment:<key>", "write-off")."""
    prefix = f"fiken:{record.what}:{record.id}:"
    found = []
    for _, entry in entries:
        ref = entry.external_ref or ""
        if ref.startswith(prefix) and ref[len(prefix) :] != "reversal":
            found.append(ref[len(prefix) :])
    return tuple(sorted(found))


def _count_shut(
    report: BooksImportReport,
    fresh: Sequence[tuple[uuid.UUID, JournalEntryPostedData]],
    shut: Sequence[FiscalPeriod],
) -> None:
    """Count the entries dated where an automatic posting would not be (`in_shut_periods`)."""
    if not shut:
        return
    for _, entry in fresh:
        period = shut_on(entry.date, shut, vat=touches_vat(entry))
        if period is not None:
            kind = "closed period" if period.kind == PERIOD else "locked VAT term"
            label = f"{kind} {period.name}"
            report.in_shut_periods[label] = report.in_shut_periods.get(label, 0) + 1


#: Our reference at the end of a journal entry's description: a proposal's (`bk-<hex>`),
#: or its counter-entry's (`bk-<hex>-r`, a reversed credit note, ADR 0054).
_OUR_ENTRY: Final = re.compile(r"\[bk-([0-9a-f]{32})(?:-r)?\]\s*$")


async def _posted_here(uow: UnitOfWork, tenant_id: str, record: HistoryJournalEntry) -> bool:
    """Whether bookkeeper posted this journal entry itself (a supplier's credit note or
    its cancelling counter-entry, ADR 0054): it carries the reference of a proposal of
    this tenant that was approved (being executed) or executed."""
    found = _OUR_ENTRY.search(record.description or "")
    if found is None:
        return False
    view = await uow.proposals.get(tenant_id, uuid.UUID(hex=found.group(1)))
    return view is not None and view.status in (Status.APPROVED, Status.EXECUTED)


def summary(report: BooksImportReport) -> Sequence[str]:
    """The report as lines for people."""
    read = ", ".join(f"{count:,} {_plural(what, count)}" for what, count in report.records.items())
    read = read or "nothing"
    verb = "would import" if report.dry_run else "imported"
    same = (
        f", {report.same_as_trade:,} journal {_plural('entry', report.same_as_trade)} of "
        "purchases and sales posted with them"
        if report.same_as_trade
        else ""
    )
    shut = sum(report.in_shut_periods.values())
    kept = f"; {shut:,} dated in closed periods or locked VAT terms, kept there" if shut else ""
    lines = [
        f"read {read}; {verb} {report.imported:,} entries "
        f"({report.known:,} already in the ledger, {report.executed_here:,} purchases "
        f"executed by bookkeeper{same}, {len(report.problems):,} records skipped{kept})"
    ]
    if report.in_shut_periods:
        lines.append(
            "dated in closed periods or locked VAT terms, kept at their date in the books "
            "(not moved to the first open day): "
            + ", ".join(f"{count:,} in {label}" for label, count in report.in_shut_periods.items())
        )
    if report.revised:
        lines.append(
            f"{report.revised:,} imported {_plural('entry', report.revised)} changed in the "
            "books since: the version held cancelled and booked again as the books hold it"
        )
    if report.opening_accounts:
        lines.append(
            f"opening balance before {report.start.isoformat()}: "
            f"{report.opening_accounts:,} {_plural('account', report.opening_accounts)}"
        )
    if report.removed:
        lines.append(
            f"{report.removed:,} imported {_plural('payment', report.removed)} no longer in "
            "the books: cancelled"
        )
    if report.retried:
        lines.append(
            f"asked again for {report.retried:,} {_plural('record', report.retried)} "
            f"refused before; {len(report.gone):,} of them gone from the books (dropped)"
        )
    if report.deferred:
        lines.append(
            f"{report.deferred:,} refused {_plural('record', report.deferred)} "
            "not asked for again yet: the next run will"
        )
    lines.extend(f"skipped {p.what} {p.id}: {p.reason}" for p in report.problems)
    lines.extend(
        f"dropped {g.what} {g.id}: not in the books any more (deleted there)" for g in report.gone
    )
    return lines


def _plural(what: str, count: int) -> str:
    if count == 1:
        return what
    return what[:-1] + "ies" if what.endswith("y") else what + "s"
