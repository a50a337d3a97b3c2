"""The event catalogue: every event type, its payload schema, status and schema version.

Payloads are explicit frozen msgspec Structs whose wire names are camelCase, as in the seed
(`merchantName`, `vatRate`, `folioEventId`). Amounts are Decimal and travel as strings.
A stored event carries its schema version; older versions are upcast on read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, TypeGuard

import msgspec

from bookkeeper.domain.errors import UnknownEventType


class Status(StrEnum):
    """The lifecycle step an event records (the `status` column)."""

    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"


class Kind(StrEnum):
    """What a proposal asks to do."""

    RECEIPT_ATTACHMENT = "receipt_attachment"
    INVOICE_REGISTRATION = "invoice_registration"
    EXPENSE_REGISTRATION = "expense_registration"
    PATTERN_SUGGESTION = "pattern_suggestion"
    REVERSAL = "reversal"
    CORRECTION = "correction"


class Step(StrEnum):
    """The lifecycle step of an event type, independent of its kind."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    #: A partial approval: the first of two required approvals (status stays PROPOSED).
    ENDORSED = "endorsed"
    REJECTED = "rejected"
    EXECUTION_STARTED = "execution_started"
    EXECUTED = "executed"
    EXECUTION_FAILED = "execution_failed"
    FAILED = "failed"
    #: A person sends a FAILED proposal back to execution (APPROVED, a fresh attempt budget).
    EXECUTION_RETRIED = "execution_retried"
    QUERY = "query"
    POSTED = "posted"
    ALERT = "alert"


class Payload(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    """Base of every event payload."""


# --- proposal payloads -------------------------------------------------------------------


class LineItem(Payload, frozen=True, kw_only=True):
    description: str
    amount: Decimal
    vat_rate: Decimal
    account_code: str | None = None


class ReceiptAttachmentData(Payload, frozen=True, kw_only=True):
    merchant_name: str
    amount: Decimal
    date: dt.date
    vat_rate: Decimal
    account_code: str
    folio_event_id: str | None = None
    file_url: str | None = None
    currency: str = "NOK"
    vat_amount: Decimal | None = None
    merchant_org_number: str | None = None
    document_number: str | None = None
    description: str | None = None
    document_hash: str | None = None
    #: The parts of a receipt with several VAT rates (ADR 0052), gross per rate. Unset —
    #: and then not written — for a receipt at one rate, so its stored JSON is unchanged.
    line_items: tuple[LineItem, ...] | msgspec.UnsetType = msgspec.UNSET
    #: A service bought from abroad under reverse charge, paid by card (ADR 0056
    #: addendum): as an invoice's reverse_charge. Unset (not encoded): not.
    reverse_charge: bool | msgspec.UnsetType = msgspec.UNSET


class InvoiceRegistrationData(Payload, frozen=True, kw_only=True):
    supplier: str
    amount: Decimal
    date: dt.date
    due_date: dt.date
    vat_rate: Decimal
    account_code: str
    invoice_number: str | None = None
    supplier_org_number: str | None = None
    line_items: tuple[LineItem, ...] = ()
    vat_amount: Decimal | None = None
    currency: str = "NOK"
    kid: str | None = None
    file_url: str | None = None
    document_hash: str | None = None
    #: The account the supplier asks to be paid to (issue 13): a Norwegian account number
    #: or an IBAN, as read from the invoice; compared with the supplier's known one.
    payment_account: str | None = None
    #: A supplier's credit note (kreditnota, ADR 0054): the amounts (positive, as printed
    #: without their minus) reduce the supplier's debt — the cost credited, the input VAT
    #: reversed. Unset — and then not written — for an invoice, so its JSON is unchanged.
    credit_note: bool | msgspec.UnsetType = msgspec.UNSET
    #: The number of the invoice the credit note credits, as the credit note names it.
    credited_invoice: str | msgspec.UnsetType | None = msgspec.UNSET
    #: A service bought from abroad under reverse charge (omvendt avgiftsplikt, mval.
    #: § 3-30; ADR 0056): the supplier charged no VAT (vat_rate 0) and the buyer calculates
    #: it at the regular rate (SAF-T 86) and deducts it. Unset (not encoded): not.
    reverse_charge: bool | msgspec.UnsetType = msgspec.UNSET


class ExpenseRegistrationData(Payload, frozen=True, kw_only=True):
    employee: str
    amount: Decimal
    date: dt.date
    category: str
    vat_rate: Decimal
    account_code: str
    merchant_name: str | None = None
    vat_amount: Decimal | None = None
    currency: str = "NOK"
    document_number: str | None = None
    description: str | None = None
    file_url: str | None = None
    document_hash: str | None = None
    #: The parts of an expense with several VAT rates (ADR 0052), as on a receipt.
    line_items: tuple[LineItem, ...] | msgspec.UnsetType = msgspec.UNSET
    #: A service bought from abroad under reverse charge, paid by card (ADR 0056
    #: addendum): as an invoice's reverse_charge. Unset (not encoded): not.
    reverse_charge: bool | msgspec.UnsetType = msgspec.UNSET


class PatternSuggestionData(Payload, frozen=True, kw_only=True):
    merchant: str
    account_code: str
    vat_rate: Decimal
    reason: str | None = None
    source_proposal_id: str | None = None


class ReversalData(Payload, frozen=True, kw_only=True):
    target_proposal_id: str
    reason: str


class Corrections(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """Values a reviewer may correct before approving; None means "unchanged"."""

    account_code: str | None = None
    vat_rate: Decimal | None = None
    amount: Decimal | None = None
    vat_amount: Decimal | None = None
    date: dt.date | None = None
    due_date: dt.date | None = None
    merchant_name: str | None = None
    supplier: str | None = None
    category: str | None = None
    folio_event_id: str | None = None
    #: A foreign-currency purchase's amount in NOK, as the reviewer knows it (the card
    #: statement, the bank): not a field of the document but its conversion, recorded as
    #: the proposal's exchange when the approval has no other (ADR 0051).
    nok_amount: Decimal | None = None
    #: A purchase's reverse charge (ADR 0056 and its addendum: an invoice, a receipt, an
    #: expense): true books it as a service bought from abroad (SAF-T 86, or 87 on an
    #: account without a deduction right), false as an ordinary purchase.
    reverse_charge: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """Only the fields that were set, by attribute name."""
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not None
        }


class CorrectionData(Payload, frozen=True, kw_only=True):
    target_proposal_id: str
    reason: str
    changes: Corrections


def line_items_of(data: object) -> tuple[LineItem, ...]:
    """A purchase's line items (an invoice's lines, a receipt's parts per VAT rate, ADR
    0052); () when it has none, or is no purchase."""
    items = getattr(data, "line_items", ())
    return items if isinstance(items, tuple) else ()


def is_credit_note(data: object) -> TypeGuard[InvoiceRegistrationData]:
    """Whether a proposal's payload is a supplier's credit note (ADR 0054)."""
    return isinstance(data, InvoiceRegistrationData) and data.credit_note is True


def credited_invoice_of(data: object) -> str | None:
    """The invoice number a credit note names, if any (ADR 0054)."""
    if not is_credit_note(data):
        return None
    number = getattr(data, "credited_invoice", None)
    return number if isinstance(number, str) and number.strip() else None


def line_rates(data: object) -> tuple[Decimal, ...]:
    """The distinct VAT rates of a purchase's line items, in their order."""
    return tuple(dict.fromkeys(item.vat_rate for item in line_items_of(data)))


ProposalData = (
    ReceiptAttachmentData
    | InvoiceRegistrationData
    | ExpenseRegistrationData
    | PatternSuggestionData
    | ReversalData
    | CorrectionData
)

# --- decision and execution payloads ----------------------------------------------------


class ApprovedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    corrections: Corrections | None = None
    rule: str | None = None
    comment: str | None = None


class EndorsedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """The first of two required approvals (domain.approval): the proposal stays PROPOSED.
    Corrections are made here, so that the second approver approves exactly what the
    first one saw; `rule` names the rules that allowed it (e.g. "two-approvers:1/2")."""

    corrections: Corrections | None = None
    rule: str | None = None
    comment: str | None = None


class RejectedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    reason: str
    #: The rule that allowed the rejection (department scoping), when one applied.
    rule: str | None = None


class ExecutionStartedData(Payload, frozen=True, kw_only=True):
    attempt: int
    #: Which executor claimed the attempt, and until when no other executor may touch it
    #: (after that, the attempt counts as crashed and is reconciled before any retry).
    executor: str | None = None
    lease_until: dt.datetime | None = None


class ExecutedData(Payload, frozen=True, kw_only=True):
    attempt: int
    external_ids: dict[str, str] = {}
    #: True when the remote object was found by our reference instead of being created now.
    reconciled: bool = False


class ExecutionFailedData(Payload, frozen=True, kw_only=True):
    attempt: int
    error: str
    retryable: bool
    next_attempt_at: dt.datetime | None = None
    #: The remote side was unreachable or rate limited (ExternalUnavailable): such a failure
    #: is retried until `failingSince` + the give-up time, not counted against the attempts.
    outage: bool = False
    #: When the first failed attempt since the approval (or the last retry) was recorded.
    failing_since: dt.datetime | None = None


class FailedData(Payload, frozen=True, kw_only=True):
    attempt: int
    error: str


class ExecutionRetriedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """A person sends a FAILED proposal back to execution: it is APPROVED again with a
    fresh attempt budget, and the next attempt reconciles by reference before acting."""

    #: The attempts made before the retry (the next one is `attempt + 1`).
    attempt: int
    #: Why (what was fixed: Fiken is back, the supplier was corrected …); optional.
    comment: str | None = None


# --- the ledger ------------------------------------------------------------------------


class Party(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """Who a journal line is owed by or to (issue 12): a customer on receivables, a
    supplier on payables. `id` is the counterparty's own key in the books (SAF-T's
    CustomerID/SupplierID, at most 35 characters); `org_number` its organisation number
    when known (SAF-T's RegistrationNumber)."""

    kind: str  # "customer" | "supplier"
    id: str
    name: str | None = None
    org_number: str | None = None


class JournalLine(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """One line of a journal entry: a debit or a credit on an (opaque) account code.

    `vat_code` is the SAF-T standard tax code the line belongs to; `vat_part` says whether
    the line is the VAT basis ("base") or the VAT amount itself ("tax")."""

    account: str
    #: A side without an amount is 0.00, the one spelling amounts have (a reversal swaps
    #: the sides, so the zero side is written: it was a bare "0").
    debit: Decimal = Decimal("0.00")
    credit: Decimal = Decimal("0.00")
    description: str | None = None
    vat_code: str | None = None
    vat_part: str | None = None
    #: The customer or supplier the line is owed by or to, when known (issue 12).
    party: Party | None = None


class JournalEntryPostedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """A balanced double-entry journal entry posted to the local ledger."""

    date: dt.date
    description: str
    lines: tuple[JournalLine, ...]
    #: "execution" (posted by an executed proposal) or "manual" (POST /journal-entries).
    source: str = "manual"
    proposal_id: str | None = None
    #: The entry this one mirrors (a reversal), if any.
    reverses_entry_id: str | None = None
    #: The department the entry belongs to (ABAC, decision 4), when the tenant uses them.
    department: str | None = None
    #: What outside the ledger caused it ("InvoiceIssued:invoicing:F-1001"), for an entry
    #: booked from an external event.
    external_ref: str | None = None


class AlertRaisedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """Something a person must look at (e.g. an action that failed for good)."""

    severity: str
    code: str
    message: str
    proposal_id: str | None = None


class TransactionFailedComplianceData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """The compliance context found a posted entry breaking a rule (issue 12): which
    entry, which rules, the evidence, and the reversal it proposed for review."""

    entry_id: str
    entry_date: dt.date
    findings: tuple[ComplianceFinding, ...]
    reversal_proposal_id: str | None = None


class ComplianceFinding(Payload, frozen=True, kw_only=True):
    rule: str
    message: str
    evidence: dict[str, str]


# --- read-only query payloads -----------------------------------------------------------


class AccountBalance(Payload, frozen=True, kw_only=True):
    account: str
    balance: Decimal
    name: str | None = None
    currency: str = "NOK"


class DateRange(Payload, frozen=True, kw_only=True):
    start: dt.date
    end: dt.date


class BalanceQueriedData(Payload, frozen=True, kw_only=True):
    accounts: tuple[AccountBalance, ...]
    as_of: dt.date | None = None


class TransactionsQueriedData(Payload, frozen=True, kw_only=True):
    count: int
    date_range: DateRange


class MissingReceiptsCheckedData(Payload, frozen=True, kw_only=True):
    count: int
    events: tuple[str, ...] = ()


class PurchasesQueriedData(Payload, frozen=True, kw_only=True):
    """Supplier invoices (kind "supplier") or expenses ("cash_purchase") read from the books."""

    kind: str
    count: int
    date_range: DateRange


class DocumentExtractedData(Payload, frozen=True, kw_only=True):
    """One reading of a document by an extractor (application.pipeline): what it cost and
    what it took the document for. A read-only record, never reviewed; each extraction is
    recorded, so that spending on AI is known."""

    document_hash: str
    extractor: str
    document_type: str
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    warnings: tuple[str, ...] = ()


class IntentClassifiedData(Payload, frozen=True, kw_only=True):
    """One chat message classified by a model (application.conversation): which read-only
    intent it was taken for and what the call cost. A read-only record like
    DocumentExtracted, so that the conversation's tokens count in the spending figures.
    The message's text is not in it."""

    classifier: str
    intent: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")


# --- checks and the morning run (application/checks.py, application/morning.py) ------


class CostTotal(Payload, frozen=True, kw_only=True):
    """What one source cost over a period, in its own currency."""

    source: str
    currency: str
    amount: Decimal
    input_tokens: int = 0
    output_tokens: int = 0
    records: int = 0


class CostsCheckedData(Payload, frozen=True, kw_only=True):
    date_range: DateRange
    totals: tuple[CostTotal, ...] = ()


class UnknownAccountsCheckedData(Payload, frozen=True, kw_only=True):
    backend: str
    chart_size: int
    accounts: tuple[str, ...] = ()


class ExecutionsCheckedData(Payload, frozen=True, kw_only=True):
    """Approved proposals whose execution failed for good, or has been waiting too long."""

    failed: tuple[str, ...] = ()
    stuck: tuple[str, ...] = ()
    stuck_after_minutes: int


class ExecutionFailureResolvedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """A person says a failed execution (a FAILED proposal) is dealt with — booked by hand
    in Fiken, submitted again, or not to be booked — so the checks and the morning summary
    stop counting it as failing. The proposal and its history stay as they are."""

    proposal_id: str
    note: str | None = None


class ProposalNotedData(Payload, frozen=True, kw_only=True):
    """A person's note on a proposal, written where its document was handed in while it
    waited for review (a correction in its Discord thread: "feil, det skal være konto
    6540", "dette var privat"; ADR 0017 addendum). The proposal is unchanged — the
    reviewer decides — but the note is kept with it: in its correlation (the audit trail,
    the page's history and notes), the writer as the event's actor."""

    proposal_id: str
    #: What was written, as written (at most 500 characters).
    text: str
    #: Where it was written: "discord" (its thread is in the event's metadata).
    channel: str


class SourceSpending(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """One source's spending in NOK in the morning summary: yesterday, this month so far,
    and the month's budget with the share of it used (None: no budget set)."""

    source: str
    yesterday_nok: Decimal
    month_nok: Decimal
    budget_nok: Decimal | None = None
    budget_used_percent: Decimal | None = None
    #: Where the month ends at the rate of its whole Oslo days so far (the month's
    #: spending before the day ÷ those days × the month's days); None on the 1st.
    forecast_nok: Decimal | None = None


class MissingReceipt(Payload, frozen=True, kw_only=True):
    """A bank transaction the morning check found without a receipt (money out)."""

    date: dt.date
    description: str
    amount: Decimal
    currency: str = "NOK"
    event_id: str | None = None


class OverdueVatReturn(Payload, frozen=True, kw_only=True):
    """A VAT term whose return was due before the run's day and is not reported (the term
    is not locked): its dates (inclusive) and its due date."""

    start: dt.date
    end: dt.date
    due: dt.date


class MorningCheckRanData(Payload, frozen=True, kw_only=True):
    """One tenant's daily check for one day: what was found, and the summary sent. Its id
    is derived from (tenant, job, date) and it opens its own stream, so a day has one."""

    job: str
    date: dt.date
    missing_receipts: int | None = None
    costs_yesterday: tuple[CostTotal, ...] = ()
    costs_month: tuple[CostTotal, ...] = ()
    #: None: the company is not VAT-registered and has no VAT return (ADR 0056, add. 4).
    next_vat_due: dt.date | None
    failed_executions: tuple[str, ...] = ()
    stuck_executions: tuple[str, ...] = ()
    unknown_accounts: tuple[str, ...] | None = None
    #: Checks that could not run (the bank or the books were down), by name.
    unavailable: tuple[str, ...] = ()
    #: Cost sources of `unavailable` that stayed down through every attempt of a
    #: transient 5xx (asked again, as Retry-After said): an outage, said as one.
    costs_down: tuple[str, ...] = ()
    summary: str
    #: Spending per source in NOK from the cost snapshots (issue 11), with budget use.
    spending: tuple[SourceSpending, ...] = ()
    #: The transactions counted in `missing_receipts`, oldest first (at most
    #: application.morning.MISSING_KEPT; the count is always the whole number).
    missing: tuple[MissingReceipt, ...] = ()
    #: VAT returns past their due date and not reported (the term not locked), oldest
    #: first; flagged every morning until the term is locked.
    overdue_vat: tuple[OverdueVatReturn, ...] = ()


class MorningCheckClaimedData(Payload, frozen=True, kw_only=True):
    """A replica took a tenant's day of a daily job (ADR 0023, addendum): it alone asks the
    bank, the books and the cost sources for that day until `until` (UTC); a claim whose
    `until` has passed is free to take (its holder died, or gave it back on failure by
    recording one that ends when it failed). The claims of a day are their own stream."""

    job: str
    date: dt.date
    holder: str
    until: dt.datetime


class MorningSummaryPostedData(Payload, frozen=True, kw_only=True):
    """The morning summary of a run (the event before it in the stream) was posted."""

    channels: tuple[str, ...]


class AccountMasterData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """An account of the tenant's chart as the Accounts Master service announced it
    (AccountCreated / AccountUpdated, issue 10; decisions 12-14): tenant data, the
    latest (by the bus's order where known, by position otherwise) naming the code."""

    code: str
    name: str
    #: The service it came from and its message id (or the body's SHA-256).
    source: str
    message_id: str
    #: Where the bus kept the message: its stream, sequence there and stored time (absent
    #: on events recorded before they were kept, and from the in-process route). Of two
    #: events for one code that both have them, the one the bus stored later names it,
    #: whatever order they were committed in.
    stream: str = ""
    sequence: int = 0
    stored: dt.datetime | None = None


# --- spending (application/spending.py; issue 11) -----------------------------------------


class CostSnapshotData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """What one source charged for one UTC day and service/model, as a pull found it: in the
    source's own currency and in NOK at Norges Bank's rate of that day (the rate and the
    date it was published for are kept; a weekend takes Friday's). `revision` is 1 for the
    first figure of the day; a provider's revised figure is the next revision in the same
    stream, with the figure it replaces in `previousAmount`."""

    source: str
    day: dt.date
    service: str
    model: str | None = None
    currency: str
    amount: Decimal
    amount_nok: Decimal
    rate: Decimal
    rate_date: dt.date
    input_tokens: int = 0
    output_tokens: int = 0
    #: "billed" (the provider's own figure) or "estimated" (usage × the tenant's prices).
    basis: str = "billed"
    #: Metered quantities behind an estimate (metric → quantity), e.g. requests, cpuMs.
    quantities: dict[str, int] = {}
    revision: int = 1
    previous_amount: Decimal | None = None


class BudgetSetData(Payload, frozen=True, kw_only=True):
    """A tenant's monthly budget for one source, in NOK (0: no budget)."""

    source: str
    monthly_nok: Decimal


class UnitPrice(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """The price of one metered metric: `price` per `per` units, `included` free a month."""

    metric: str
    price: Decimal
    per: int = 1
    included_per_month: int = 0


class PriceTableSetData(Payload, frozen=True, kw_only=True):
    """A tenant's prices for a source billed by usage (Cloudflare Workers), in `currency`."""

    source: str
    currency: str
    prices: tuple[UnitPrice, ...]


class BudgetThresholdReachedData(Payload, frozen=True, kw_only=True):
    """A source's spending this month reached `threshold` percent of its budget (once per
    source, month and threshold)."""

    source: str
    month: str
    threshold: int
    budget_nok: Decimal
    spent_nok: Decimal


class PendingRecord(Payload, frozen=True, kw_only=True):
    """A record of the books a run of `import fiken` refused (ADR 0037, addendum): its
    kind ("journal entry", "purchase", "sale") and the books' id, asked for again by id."""

    what: str
    id: str


class BooksImportedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """One run of `bookkeeper import fiken` (issue 14, P5): what it asked the books for,
    where it got to (the newest modification date and the newest purchase date it saw,
    which the next run starts from) and what it did."""

    source: str
    start: dt.date
    end: dt.date | None = None
    dry_run: bool = False
    journal_entries_modified: dt.date | None = None
    sales_modified: dt.date | None = None
    purchases_dated: dt.date | None = None
    ran_on: dt.date
    imported: int = 0
    known: int = 0
    executed_here: int = 0
    problems: int = 0
    #: Journal entries the books also list as a purchase's or sale's own posting (the
    #: same transaction), not imported twice (ADR 0044 §6).
    same_as_trade: int = 0
    #: The books' transactions of the purchases and sales this run read: a later run
    #: knows a journal entry of one of them without reading the purchase or sale again.
    #: "offset:<id>": a cancelled journal entry's balancing transaction (its mirror);
    #: "entry:<id>": a journal entry's own, booked; "writeOff:<account>:<amount>": a
    #: sale's write-off the import booked (ADR 0037 addendum on listing order).
    trade_transactions: tuple[str, ...] = ()
    #: The records still refused (or not yet asked for again) after this run: the next
    #: incremental run asks the books for each by id first. Absent in older runs' records.
    pending: tuple[PendingRecord, ...] = ()
    #: The opening balance held carries only its financial year's result on the income
    #: accounts (earlier years' on 2050): asked for and booked so by this run or one
    #: before it. False (absent) in older runs' records: the next run asks for it again.
    opening_by_year: bool = False


class BooksRecordPartsData(Payload, frozen=True, kw_only=True):
    """The entries one imported purchase or sale holds besides its posting, as the books
    last listed them (`import fiken`, ADR 0037 addendum): its payments' keys
    ("payment:<id>") and a write-off ("write-off"). The next run that reads the record
    cancels each part the books no longer list (a payment removed in Fiken)."""

    what: str
    id: str
    parts: tuple[str, ...] = ()


class BooksTransactionKnownData(Payload, frozen=True, kw_only=True):
    """A transaction of the books (or a key beside one) that tells `import fiken` what a
    journal entry listed with it is (ADR 0037 addendum "leftovers"): a purchase's or
    sale's own ("<id>"), a cancelled entry's balancing one ("offset:<id>"), a journal
    entry's own, booked ("entry:<id>"), a sale's write-off ("writeOff:<account>:<amount>").
    One event in a stream derived from the key, so a later run asks for the keys of a
    page's journal entries instead of carrying every key in its run's record."""

    key: str


class SourceSpend(Payload, frozen=True, kw_only=True, omit_defaults=True):
    source: str
    amount_nok: Decimal


class SpendingQueriedData(Payload, frozen=True, kw_only=True):
    """A spending question answered from the cost snapshots (chat)."""

    date_range: DateRange
    sources: tuple[str, ...] = ()
    totals: tuple[SourceSpend, ...] = ()


class VatQueriedData(Payload, frozen=True, kw_only=True):
    """A VAT question answered from the ledger's VAT report of one term (chat): what the
    term's return pays (negative: a refund) and when it is due."""

    year: int
    term: int
    output_vat: Decimal
    input_vat: Decimal
    payable: Decimal
    due: dt.date
    #: "yearly" for a company on the yearly term (ADR 0064: `term` 1 is the year); unset
    #: (not written) for the bi-monthly terms, so earlier events are unchanged.
    term_length: str | msgspec.UnsetType = msgspec.UNSET


class LedgerQueriedData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """Story 8: a question about the books answered from the ledger (chat): which question
    (the intent: result, payables, receivables, costs, account_balance, journal), the
    period read, the accounts answered and the answer's figure (the result, the balance,
    the costs' sum; for `journal` the entries listed)."""

    question: str
    start: dt.date | None = None
    end: dt.date | None = None
    accounts: tuple[str, ...] = ()
    amount: Decimal | None = None
    count: int | None = None


class PeriodChangedData(Payload, frozen=True, kw_only=True):
    """A tenant's period was closed or reopened, or a VAT term locked or unlocked
    (`kind`: "period" or "vat-term"; ADR 0029 addendum): who did it is the event's actor.
    A reopened reported term can take entries again, so the log says when it was open."""

    kind: str
    name: str
    start: dt.date
    end: dt.date


class CredentialsSetData(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """Issue 14: a tenant's own Fiken or Folio credentials were set (or replaced). The
    secret is never in the log: only which provider, the company, and a short fingerprint
    (a prefix of the token's SHA-256) to tell two tokens apart."""

    provider: str
    fingerprint: str
    company: str | None = None
    base_url: str | None = None


class CredentialsRemovedData(Payload, frozen=True, kw_only=True):
    """Issue 14: a tenant's own credentials of a provider were removed (the environment's,
    or the sandbox, apply again)."""

    provider: str


class CredentialsReencryptedData(Payload, frozen=True, kw_only=True):
    """Issue 14 (ADR 0044 §2): `bookkeeper credentials rotate-key` re-encrypted this
    tenant's own credentials of these providers with the newest key. The secrets are
    unchanged (so are their fingerprints, listed in provider order); none is in the log."""

    providers: tuple[str, ...]
    fingerprints: tuple[str, ...] = ()


# --- the catalogue ----------------------------------------------------------------------


class EventType(msgspec.Struct, frozen=True):
    """What the log knows about one event type."""

    name: str
    payload: type[Payload]
    step: Step
    kind: Kind | None
    schema_version: int = 1

    @property
    def status(self) -> Status | None:
        return _STEP_STATUS[self.step]


_STEP_STATUS: Final[dict[Step, Status | None]] = {
    Step.PROPOSED: Status.PROPOSED,
    Step.APPROVED: Status.APPROVED,
    Step.ENDORSED: None,
    Step.REJECTED: Status.REJECTED,
    Step.EXECUTION_STARTED: None,
    Step.EXECUTED: Status.EXECUTED,
    Step.EXECUTION_FAILED: None,
    Step.FAILED: Status.FAILED,
    Step.EXECUTION_RETRIED: None,
    Step.QUERY: Status.EXECUTED,
    Step.POSTED: None,
    Step.ALERT: None,
}

_PREFIX: Final[dict[Kind, str]] = {
    Kind.RECEIPT_ATTACHMENT: "ReceiptAttachment",
    Kind.INVOICE_REGISTRATION: "InvoiceRegistration",
    Kind.EXPENSE_REGISTRATION: "ExpenseRegistration",
    Kind.PATTERN_SUGGESTION: "Pattern",
    Kind.REVERSAL: "Reversal",
    Kind.CORRECTION: "Correction",
}

PROPOSAL_PAYLOAD: Final[dict[Kind, type[Payload]]] = {
    Kind.RECEIPT_ATTACHMENT: ReceiptAttachmentData,
    Kind.INVOICE_REGISTRATION: InvoiceRegistrationData,
    Kind.EXPENSE_REGISTRATION: ExpenseRegistrationData,
    Kind.PATTERN_SUGGESTION: PatternSuggestionData,
    Kind.REVERSAL: ReversalData,
    Kind.CORRECTION: CorrectionData,
}

_STEP_PAYLOAD: Final[dict[Step, type[Payload]]] = {
    Step.APPROVED: ApprovedData,
    Step.ENDORSED: EndorsedData,
    Step.REJECTED: RejectedData,
    Step.EXECUTION_STARTED: ExecutionStartedData,
    Step.EXECUTED: ExecutedData,
    Step.EXECUTION_FAILED: ExecutionFailedData,
    Step.FAILED: FailedData,
    Step.EXECUTION_RETRIED: ExecutionRetriedData,
}

_SUFFIX: Final[dict[Step, str]] = {
    Step.PROPOSED: "Proposed",
    Step.APPROVED: "Approved",
    Step.ENDORSED: "Endorsed",
    Step.REJECTED: "Rejected",
    Step.EXECUTION_STARTED: "ExecutionStarted",
    Step.EXECUTED: "Executed",
    Step.EXECUTION_FAILED: "ExecutionFailed",
    Step.FAILED: "Failed",
    Step.EXECUTION_RETRIED: "ExecutionRetried",
}

# The seed names the pattern events PatternSuggested → PatternApproved → PatternApplied.
_PATTERN_NAMES: Final[dict[Step, str]] = {
    Step.PROPOSED: "PatternSuggested",
    Step.EXECUTED: "PatternApplied",
}


def type_name(kind: Kind, step: Step) -> str:
    """The event type name of a lifecycle step of a kind, e.g. InvoiceRegistrationApproved."""
    if kind is Kind.PATTERN_SUGGESTION and step in _PATTERN_NAMES:
        return _PATTERN_NAMES[step]
    return _PREFIX[kind] + _SUFFIX[step]


def _build_catalogue() -> dict[str, EventType]:
    catalogue: dict[str, EventType] = {}
    for kind, payload in PROPOSAL_PAYLOAD.items():
        for step in _SUFFIX:
            name = type_name(kind, step)
            step_payload = payload if step is Step.PROPOSED else _STEP_PAYLOAD[step]
            catalogue[name] = EventType(name, step_payload, step, kind)
    for name, query_payload in (
        ("BalanceQueried", BalanceQueriedData),
        ("TransactionsQueried", TransactionsQueriedData),
        ("MissingReceiptsChecked", MissingReceiptsCheckedData),
        ("PurchasesQueried", PurchasesQueriedData),
        ("DocumentExtracted", DocumentExtractedData),
        ("IntentClassified", IntentClassifiedData),
        ("CostsChecked", CostsCheckedData),
        ("UnknownAccountsChecked", UnknownAccountsCheckedData),
        ("ExecutionsChecked", ExecutionsCheckedData),
        ("ExecutionFailureResolved", ExecutionFailureResolvedData),
        ("ProposalNoted", ProposalNotedData),
        ("MorningCheckRan", MorningCheckRanData),
        ("MorningSummaryPosted", MorningSummaryPostedData),
        ("MorningCheckClaimed", MorningCheckClaimedData),
        ("CostSnapshotRecorded", CostSnapshotData),
        ("CostSnapshotRevised", CostSnapshotData),
        ("BudgetSet", BudgetSetData),
        ("PriceTableSet", PriceTableSetData),
        ("SpendingQueried", SpendingQueriedData),
        ("VatQueried", VatQueriedData),
        ("LedgerQueried", LedgerQueriedData),
        ("BooksImported", BooksImportedData),
        ("BooksRecordParts", BooksRecordPartsData),
        ("BooksTransactionKnown", BooksTransactionKnownData),
        # Issue 14: per-tenant credentials set and removed (an audit record, no secret).
        ("CredentialsSet", CredentialsSetData),
        ("CredentialsRemoved", CredentialsRemovedData),
        ("CredentialsReencrypted", CredentialsReencryptedData),
        # Closed periods and locked VAT terms: each close and reopening (ADR 0029 addendum).
        ("PeriodClosed", PeriodChangedData),
        ("PeriodReopened", PeriodChangedData),
    ):
        catalogue[name] = EventType(name, query_payload, Step.QUERY, None)
    catalogue["JournalEntryPosted"] = EventType(
        "JournalEntryPosted", JournalEntryPostedData, Step.POSTED, None
    )
    catalogue["AlertRaised"] = EventType("AlertRaised", AlertRaisedData, Step.ALERT, None)
    for name in ("AccountCreated", "AccountUpdated"):  # the Accounts Master (issue 10)
        catalogue[name] = EventType(name, AccountMasterData, Step.POSTED, None)
    catalogue["TransactionFailedCompliance"] = EventType(
        "TransactionFailedCompliance", TransactionFailedComplianceData, Step.ALERT, None
    )
    catalogue["BudgetThresholdReached"] = EventType(
        "BudgetThresholdReached", BudgetThresholdReachedData, Step.ALERT, None
    )
    return catalogue


CATALOGUE: Final[dict[str, EventType]] = _build_catalogue()

#: Types a client may submit through POST /events: proposals and read-only query records.
#: Records only the service itself writes (what an extraction cost) are not among them, so
#: no client can inflate the spending figures.
SERVICE_RECORDS: Final[frozenset[str]] = frozenset(
    {
        "DocumentExtracted",
        "IntentClassified",
        # The checks' records (application/checks.py): written by the service only.
        "CostsChecked",
        "UnknownAccountsChecked",
        "ExecutionsChecked",
        # A failed execution marked resolved: through its route (checks), not POST /events.
        "ExecutionFailureResolved",
        # A note written in a document's thread: the conversation's, not POST /events.
        "ProposalNoted",
        "MorningCheckRan",
        "MorningSummaryPosted",
        "MorningCheckClaimed",
        # Spending (application/spending.py): pulled, set and answered by the service only.
        "CostSnapshotRecorded",
        "CostSnapshotRevised",
        "BudgetSet",
        "PriceTableSet",
        "SpendingQueried",
        # A VAT question in the chat, answered from the ledger by the service only.
        "VatQueried",
        # Story 8: a question about the books in the chat, answered from the ledger.
        "LedgerQueried",
        # `bookkeeper import fiken` (issue 14): a run's record, the service's own.
        "BooksImported",
        "BooksRecordParts",
        "BooksTransactionKnown",
        # Issue 14: recorded by the credentials service only.
        "CredentialsSet",
        "CredentialsRemoved",
        "CredentialsReencrypted",
        # Recorded by the rules service only, with the close or reopening itself.
        "PeriodClosed",
        "PeriodReopened",
    }
)
SUBMITTABLE_TYPES: Final[frozenset[str]] = frozenset(
    t.name
    for t in CATALOGUE.values()
    if t.step in (Step.PROPOSED, Step.QUERY) and t.name not in SERVICE_RECORDS
)
#: Every event type that approves a proposal (a reviewer's or the review rules').
APPROVAL_TYPES: Final[frozenset[str]] = frozenset(
    t.name for t in CATALOGUE.values() if t.step is Step.APPROVED
)
#: Every event type that sends a FAILED proposal back to execution (a person's retry).
RETRY_TYPES: Final[frozenset[str]] = frozenset(
    t.name for t in CATALOGUE.values() if t.step is Step.EXECUTION_RETRIED
)


def event_type(name: str) -> EventType:
    """Look up an event type by name; unknown names raise UnknownEventType."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {name!r}") from None


# --- encoding and upcasting ------------------------------------------------------------

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
#: (type name, stored schema version) → function turning that version's dict into the next.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoders: dict[type[Payload], msgspec.json.Decoder[Any]] = {}


def encode_payload(payload: Payload) -> bytes:
    """Payload → JSON bytes (amounts as decimal strings)."""
    return _encoder.encode(payload)


def payload_to_builtins(payload: Payload) -> dict[str, Any]:
    """Payload → JSON-ready dict (amounts as decimal strings, dates as ISO strings)."""
    result: dict[str, Any] = msgspec.to_builtins(payload)
    return result


def decode_payload(type_name_: str, raw: bytes | dict[str, Any], schema_version: int) -> Payload:
    """Stored data → the current payload struct, upcasting older schema versions first."""
    etype = event_type(type_name_)
    if schema_version < etype.schema_version:
        data = raw if isinstance(raw, dict) else msgspec.json.decode(raw)
        for version in range(schema_version, etype.schema_version):
            data = UPCASTERS[(type_name_, version)](data)
        raw = data
    if isinstance(raw, dict):
        result: Payload = msgspec.convert(raw, type=etype.payload, strict=False)
        return result
    decoder = _decoders.get(etype.payload)
    if decoder is None:
        decoder = _decoders[etype.payload] = msgspec.json.Decoder(etype.payload)
    decoded: Payload = decoder.decode(raw)
    return decoded
