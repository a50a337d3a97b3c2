"""The proposal aggregate: one requested accounting action and its lifecycle.

    PROPOSED ──approve──▶ APPROVED ──executed──▶ EXECUTED
       │  │                  │ └─failure (retry)─▶ APPROVED … ──final failure──▶ FAILED
       │  │                  ◀──────────── retry (a person; a fresh attempt budget) ──┘
       │  └─approve (1 of 2)─▶ PROPOSED + endorsed ──approve (another person)─▶ APPROVED
       └──reject──▶ REJECTED

The aggregate checks the rule, then records an event; its state changes only by applying
events, so the same code rebuilds it from the log. Corrections made by the reviewer are kept
apart from the proposed data and merged into `effective_data`, which is what gets executed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final, Protocol

import msgspec

from bookkeeper.domain import money
from bookkeeper.domain.approval import SecondApproverRequired
from bookkeeper.domain.errors import (
    InvalidCorrection,
    InvalidProposal,
    NotCompensable,
    ProposalNotApproved,
    ProposalNotFailed,
    ProposalNotPending,
    RejectionReasonRequired,
    SelfApprovalNotAllowed,
)
from bookkeeper.domain.events import (
    PROPOSAL_PAYLOAD,
    ApprovedData,
    CorrectionData,
    Corrections,
    EndorsedData,
    ExecutedData,
    ExecutionFailedData,
    ExecutionRetriedData,
    ExecutionStartedData,
    ExpenseRegistrationData,
    FailedData,
    InvoiceRegistrationData,
    Kind,
    PatternSuggestionData,
    Payload,
    ProposalData,
    ReceiptAttachmentData,
    RejectedData,
    ReversalData,
    Status,
    Step,
    event_type,
    line_items_of,
    line_rates,
    type_name,
)
from bookkeeper.domain.ledger import BANK_ACCOUNT, base_account
from bookkeeper.domain.rules import foreign_currency
from bookkeeper.domain.text import control_in, has_visible, steering_in, tidy, unfit_in
from bookkeeper.domain.walk import first

_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: A document's SHA-256 in hex, as POST /files answers (any case; kept in lower case).
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
#: A KID as Fiken takes it ("Number from 2 to 25 digits long"): ASCII digits only.
_KID: Final = re.compile(r"[0-9]{2,25}\Z")
_ENCODER: Final = msgspec.json.Encoder()
_MAX_TEXT = 200
_MAX_ACCOUNT = 32
_EARLIEST = dt.date(2000, 1, 1)
_LATEST = dt.date(2100, 12, 31)
MAX_REASON = 2000


class PendingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event recorded by the aggregate but not yet stored."""

    type: str
    data: Payload
    actor: str
    status: Status | None


class StoredEvent(Protocol):
    """What the aggregate needs of a stored event to rebuild itself."""

    @property
    def type(self) -> str: ...
    @property
    def data(self) -> Payload: ...
    @property
    def actor(self) -> str: ...
    @property
    def version(self) -> int: ...


def kind_of(data: ProposalData) -> Kind:
    for kind, payload in PROPOSAL_PAYLOAD.items():
        if type(data) is payload:
            return kind
    raise InvalidProposal(f"not a proposal payload: {type(data).__name__}")  # pragma: no cover


def counterparty(data: ProposalData) -> str | None:
    """Who the document is from: the merchant, supplier or pattern merchant, if named."""
    match data:
        case ReceiptAttachmentData() | ExpenseRegistrationData():
            return data.merchant_name
        case InvoiceRegistrationData():
            return data.supplier
        case PatternSuggestionData():
            return data.merchant
    return None


def _check_text(
    field: str, value: str | None, *, required: bool = True, breaks: bool = False
) -> None:
    """A name (`breaks`: free text, which may hold line breaks and tabs) that a reader
    sees: not only spaces or invisible characters (a zero-width space, a BOM, a no-break
    space), no control characters (ADR 0049, round three). An optional one may be ""."""
    if value is None:
        if required:
            raise InvalidProposal(f"{field} is required")
        return
    if control_in(value, breaks=breaks) is not None:
        raise InvalidProposal(f"{field} must not contain control characters")
    if steering_in(value) is not None:
        raise InvalidProposal(
            f"{field} must not contain bidi override characters (U+202A-U+202E, U+2066-U+2069)"
        )
    if (required or value) and not has_visible(value):
        raise InvalidProposal(f"{field} must not be empty or only invisible characters")
    if len(value) > _MAX_TEXT:
        raise InvalidProposal(f"{field} is longer than {_MAX_TEXT} characters")


def _check_account(field: str, value: str) -> None:
    # Account codes are opaque strings (001 #13); only their shape is checked here. They
    # are ASCII ("6540", "1920:10001"): a full-width "６５４０" passed as a code of its own,
    # which `isdigit()` and `int()` elsewhere then read as 6540 (ADR 0049, round two).
    if (
        not value
        or len(value) > _MAX_ACCOUNT
        or not value.isascii()
        or not value.isprintable()
        or any(ch.isspace() for ch in value)
    ):
        raise InvalidProposal(
            f"{field} must be a non-empty code without spaces (visible ASCII characters)"
        )


def _check_amount(field: str, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise InvalidProposal(f"{field} must be a positive amount")
    if not money.has_at_most_two_decimals(value):
        raise InvalidProposal(f"{field} must have at most two decimals (øre)")
    if value >= Decimal("1e12"):
        raise InvalidProposal(f"{field} is implausibly large")


def _check_rate(field: str, value: Decimal, valid: frozenset[Decimal] | None = None) -> None:
    """`valid`: the rates valid on the document's date by the tax rates as data (issue 12);
    None: the built-in Norwegian rates."""
    known = money.NORWEGIAN_VAT_RATES if valid is None else valid
    if value not in known:
        rates = ", ".join(sorted(str(r.normalize()) for r in known))
        where = "a Norwegian VAT rate" if valid is None else "a VAT rate valid on its date"
        raise InvalidProposal(f"{field} {value} is not {where} ({rates})")


def _check_date(field: str, value: dt.date) -> None:
    if not _EARLIEST <= value <= _LATEST:
        raise InvalidProposal(f"{field} {value} is outside {_EARLIEST}–{_LATEST}")


def check_text_safe(payload: Payload) -> None:
    """Refuse NUL characters anywhere in a payload: no database keeps them in text or JSON,
    and no real document needs them."""
    # Every proposal asks (P1): JSON writes a NUL as `\u0000`, so without that text (in
    # C, a µs) there is none; with it, the walk tells a NUL from a written-out backslash.
    if b"\\u0000" not in _ENCODER.encode(payload):
        return
    if first(msgspec.to_builtins(payload), _nul) is not None:
        raise InvalidProposal("text must not contain NUL (\\u0000) characters")


def check_numbers_finite(payload: Payload) -> None:
    """Refuse NaN and infinities anywhere in a payload, before any rule compares them: a
    NaN compares with nothing (a signalling one raises on every comparison and hash), and
    no document states one."""
    # Every proposal asks (P1): JSON writes a Decimal as its str(), so without `NaN` or
    # `Infinity` in it there is none; with them, the walk tells a number from a text.
    encoded = _ENCODER.encode(payload)
    if b"NaN" not in encoded and b"Infinity" not in encoded:
        return
    found = first(payload, _non_finite)
    if found is not None:
        where, _ = found
        raise InvalidProposal(f"{where or 'a number'} must be a finite number")


def _non_finite(value: Any) -> bool | None:
    """True for a NaN or infinite Decimal."""
    return True if isinstance(value, Decimal) and not value.is_finite() else None


def _nul(value: Any) -> bool | None:
    """True for a text, or an object's member name, that holds a NUL."""
    if isinstance(value, str):
        return True if "\x00" in value else None
    if isinstance(value, dict):
        return True if any(isinstance(key, str) and "\x00" in key for key in value) else None
    return None


def check_document_date(data: ProposalData) -> None:
    """The date check alone, for a caller that uses the date before the full validation
    (which needs the VAT rates valid on that date): 9999-12-31 ± days overflows."""
    day = getattr(data, "date", None)
    if isinstance(day, dt.date):
        _check_date("date", day)


def check_cost_account(data: ProposalData) -> None:
    """Refuse a purchase (or a pattern for one) whose cost account is one its own entry
    books by itself (ledger.py): the bank (1920) it is paid from, which it would debit
    and credit at once, so the purchase would vanish from the accounts; or, when it books
    VAT, a VAT account (27xx), where its rate books the VAT, so the whole gross would be
    claimed as input VAT. Both are balanced entries no check downstream refuses, and both
    make the books wrong. A purchase without VAT (the VAT settlement paid, 2740 at 0 %)
    may name a VAT account. Checked when something is proposed, corrected or approved
    with a correction, never on a recorded event (old ones fold as they were)."""
    match data:
        case ReceiptAttachmentData() | ExpenseRegistrationData() | InvoiceRegistrationData():
            codes = [("accountCode", data.account_code)] + [
                (f"lineItems[{index}].accountCode", item.account_code)
                for index, item in enumerate(line_items_of(data))
                if item.account_code is not None
            ]
            books_vat = (
                data.vat_rate > 0
                or any(rate > 0 for rate in line_rates(data))
                or getattr(data, "reverse_charge", None) is True
            )
        case PatternSuggestionData():
            codes, books_vat = [("accountCode", data.account_code)], data.vat_rate > 0
        case _:
            return
    for field, code in codes:
        main = base_account(code)
        if main == BANK_ACCOUNT:
            raise InvalidProposal(
                f"{field} {code} is the bank account a purchase is paid from, not a cost "
                "account: its entry would debit and credit the bank and book no cost"
            )
        if books_vat and _VAT_ACCOUNT.fullmatch(main):
            raise InvalidProposal(
                f"{field} {code} is a VAT account: a purchase's VAT is booked there by its "
                "rate, its cost goes to a cost account (the whole amount would be input VAT)"
            )


#: The VAT accounts of the standard chart (NS 4102 27xx: output, input, settlement).
_VAT_ACCOUNT: Final = re.compile(r"27[0-9]{2}")


def validate(data: ProposalData, vat_rates: frozenset[Decimal] | None = None) -> None:
    """Raise InvalidProposal unless the data is acceptable for its kind. `vat_rates`: the
    VAT rates valid on the document's date (the tax rates as data), else the built-in."""
    check_text_safe(data)
    check_numbers_finite(data)
    match data:
        case ReceiptAttachmentData() | ExpenseRegistrationData() | InvoiceRegistrationData():
            _check_amount("amount", data.amount)
            _check_rate("vatRate", data.vat_rate, vat_rates)
            _check_account("accountCode", data.account_code)
            _check_date("date", data.date)
            if not _CURRENCY.match(data.currency):
                raise InvalidProposal("currency must be an ISO 4217 code such as NOK")
            if data.vat_amount is not None and (
                data.vat_amount < 0
                or data.vat_amount > data.amount
                or not money.has_at_most_two_decimals(data.vat_amount)
            ):
                raise InvalidProposal("vatAmount must be between 0 and the gross amount")
            if data.file_url is not None and len(data.file_url) > 2048:
                raise InvalidProposal("fileUrl is too long")
            if data.document_hash is not None and not _SHA256.fullmatch(data.document_hash):
                # Else accepted, approved, and FAILED at execution (no such file), and
                # another spelling of one file's hash is not seen as the same file.
                raise InvalidProposal(
                    "documentHash must be the SHA-256 of a stored file, 64 hexadecimal "
                    "characters (POST /files answers with it)"
                )
    match data:
        case ReceiptAttachmentData():
            _check_text("merchantName", data.merchant_name)
            _check_text("folioEventId", data.folio_event_id, required=False)
            _check_text("documentNumber", data.document_number, required=False)
            _check_text("description", data.description, required=False, breaks=True)
            _check_receipt_lines(data, vat_rates)
        case ExpenseRegistrationData():
            _check_text("employee", data.employee)
            _check_text("category", data.category)
            _check_text("merchantName", data.merchant_name, required=False)
            _check_text("documentNumber", data.document_number, required=False)
            _check_text("description", data.description, required=False, breaks=True)
            _check_receipt_lines(data, vat_rates)
        case InvoiceRegistrationData():
            _check_text("supplier", data.supplier)
            _check_date("dueDate", data.due_date)
            _check_text("paymentAccount", data.payment_account, required=False)
            _check_text("invoiceNumber", data.invoice_number, required=False)
            # Identifiers Fiken takes as they are (a contact's organizationNumber has
            # maxLength 200, a purchase's KID 2–25 digits): never cut, so refused here
            # rather than answered 400 after the approval.
            _check_text("supplierOrgNumber", data.supplier_org_number, required=False)
            if data.kid is not None and not _KID.match(data.kid):
                raise InvalidProposal("kid must be 2 to 25 digits (a KID number)")
            if data.due_date < data.date:
                raise InvalidProposal("dueDate is before the invoice date")
            if isinstance(data.credited_invoice, str):
                _check_text("creditedInvoice", data.credited_invoice)
            if isinstance(data.credited_invoice, str) and data.credit_note is not True:
                raise InvalidProposal("creditedInvoice is given on a credit note only")
            _check_lines(data, vat_rates)
    _check_reverse_charge(data)
    match data:
        case PatternSuggestionData():
            _check_text("merchant", data.merchant)
            _check_text("reason", data.reason, required=False, breaks=True)
            _check_account("accountCode", data.account_code)
            _check_rate("vatRate", data.vat_rate)
        case ReversalData() | CorrectionData():
            _check_text("targetProposalId", data.target_proposal_id)
            if not has_visible(data.reason) or len(data.reason) > MAX_REASON:
                raise InvalidProposal("a compensating proposal needs a reason")
            _check_text("reason", data.reason, breaks=True)
            if isinstance(data, CorrectionData) and not data.changes.as_dict():
                raise InvalidProposal("a correction must change at least one value")
            if isinstance(data, CorrectionData) and data.changes.nok_amount is not None:
                raise InvalidProposal(
                    "nokAmount is given when approving a foreign-currency document, "
                    "not in a correction of an executed one"
                )


def _check_lines(data: ProposalData, vat_rates: frozenset[Decimal] | None) -> None:
    """Each line item well-formed, and together they are the amount."""
    items = line_items_of(data)
    for index, line in enumerate(items):
        _check_text(f"lineItems[{index}].description", line.description, breaks=True)
        _check_amount(f"lineItems[{index}].amount", line.amount)
        _check_rate(f"lineItems[{index}].vatRate", line.vat_rate, vat_rates)
        if line.account_code is not None:
            _check_account(f"lineItems[{index}].accountCode", line.account_code)
    if items and sum(li.amount for li in items) != getattr(data, "amount", None):
        raise InvalidProposal("the line items do not add up to the amount")


def _check_receipt_lines(
    data: ReceiptAttachmentData | ExpenseRegistrationData, vat_rates: frozenset[Decimal] | None
) -> None:
    """A receipt's parts per VAT rate (ADR 0052): at most one per rate, adding up to the
    amount; the headline rate is one of theirs, and a stated VAT amount is their VAT."""
    if isinstance(data.line_items, msgspec.UnsetType):
        return
    items = data.line_items
    if not items:
        raise InvalidProposal("lineItems, when given, holds the receipt's parts per VAT rate")
    if len(items) > MAX_RECEIPT_LINES:
        raise InvalidProposal(f"a receipt has at most {MAX_RECEIPT_LINES} parts per VAT rate")
    _check_lines(data, vat_rates)
    rates = [_canonical_rate(item.vat_rate) for item in items]
    if len(set(rates)) != len(rates):
        raise InvalidProposal("a receipt's line items are one per VAT rate")
    if _canonical_rate(data.vat_rate) not in rates:
        raise InvalidProposal("vatRate must be the rate of one of the line items")
    if data.vat_amount is not None:
        parts = sum((money.vat_of_gross(i.amount, i.vat_rate) for i in items), Decimal(0))
        if abs(parts - data.vat_amount) > money.ONE_KRONE:
            raise InvalidProposal(
                f"vatAmount {data.vat_amount} is not the VAT of the line items ({parts})"
            )


#: A receipt's parts are one per VAT rate: Norway has five purchase rates.
MAX_RECEIPT_LINES: Final = 10


def _ore(amount: Decimal) -> Decimal:
    # Two decimals, and no negative zero ("-0" is 0.00, not -0.00).
    return amount.quantize(money.ORE) if amount else Decimal("0.00")


def _canonical_rate(rate: Decimal) -> Decimal:
    # "25", "25.0" and "25.00" are one rate; keep its shortest form ("25", "11.11", "0").
    return rate.quantize(money.ORE).normalize() if rate else Decimal("0")


def normalise(data: ProposalData) -> ProposalData:
    """Amounts in canonical øre form ("199.5" and 1.995e2 → 199.50) and rates in their shortest
    form, so that what is stored and compared is one spelling per value. Call after validate()."""
    changes: dict[str, Any] = {}
    for name in ("amount", "vat_amount"):
        value = getattr(data, name, None)
        if isinstance(value, Decimal):
            changes[name] = _ore(value)
    rate = getattr(data, "vat_rate", None)
    if isinstance(rate, Decimal):
        changes["vat_rate"] = _canonical_rate(rate)
    if items := line_items_of(data):
        changes["line_items"] = tuple(
            msgspec.structs.replace(
                line,
                amount=line.amount.quantize(money.ORE),
                vat_rate=_canonical_rate(line.vat_rate),
                description=tidy(line.description),
            )
            for line in items
        )
    if isinstance(data, CorrectionData):
        changes["changes"] = normalise_corrections(data.changes)
    for name in _TIDIED:
        text = getattr(data, name, None)
        if isinstance(text, str) and (tidied := tidy(text)) != text:
            changes[name] = tidied
    if getattr(data, "reverse_charge", None) is False:
        changes["reverse_charge"] = msgspec.UNSET  # one spelling: not reverse charge
    document_hash = getattr(data, "document_hash", None)
    if isinstance(document_hash, str) and document_hash != document_hash.lower():
        changes["document_hash"] = document_hash.lower()  # as files are kept
    return msgspec.structs.replace(data, **changes) if changes else data


#: The texts a person reads that `normalise` gives one spelling (NFC, nothing invisible
#: at the ends; ADR 0049, round three): names, numbers of documents, descriptions and
#: reasons. Ids of other systems (folioEventId, fileUrl) are kept as sent.
_TIDIED: Final = (
    "merchant_name",
    "supplier",
    "employee",
    "category",
    "merchant",
    "document_number",
    "invoice_number",
    "description",
    "reason",
)


def normalise_corrections(corrections: Corrections) -> Corrections:
    """Corrected amounts and rate in the canonical form `normalise` gives proposed data
    ("1e2" → 100.00, "-0" → 0.00): what is recorded and shown is one spelling per value.
    Call after the corrections were applied (and so validated)."""
    changes: dict[str, Any] = {}
    for name in ("amount", "vat_amount"):
        value = getattr(corrections, name)
        if value is not None:
            changes[name] = _ore(value)
    if corrections.vat_rate is not None:
        changes["vat_rate"] = _canonical_rate(corrections.vat_rate)
    for name in ("merchant_name", "supplier", "category"):
        text = getattr(corrections, name)
        if text is not None:
            changes[name] = tidy(text)
    return msgspec.structs.replace(corrections, **changes) if changes else corrections


def apply_corrections(data: ProposalData, corrections: Corrections | None) -> ProposalData:
    """The data with the reviewer's corrections merged in; unknown fields are refused."""
    if corrections is None:
        return data
    changes = corrections.as_dict()
    # The NOK amount is the document's conversion, not one of its fields: the approval
    # records it as the proposal's exchange (ADR 0051); checked here like any correction.
    nok_amount = changes.pop(NOK_AMOUNT_FIELD, None)
    if nok_amount is not None:
        _check_nok_amount(data, nok_amount)
    if not changes:
        return data
    if isinstance(data, ReversalData | CorrectionData):
        raise InvalidCorrection("a compensating proposal cannot be corrected; reject it")
    allowed = set(data.__struct_fields__)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        names = ", ".join(_camel(n) for n in unknown)
        raise InvalidCorrection(f"{names} cannot be corrected on a {kind_of(data).value}")
    _check_line_corrections(data, changes)
    merged = msgspec.structs.replace(data, **changes)
    try:
        validate(merged)
    except InvalidProposal as error:
        raise InvalidCorrection(f"correction makes the proposal invalid: {error}") from None
    return normalise(merged)


def check_corrected_cost_account(corrected: ProposalData, corrections: Corrections) -> None:
    """`check_cost_account` of what a correction of the account, rate or reverse charge
    makes of a proposal (InvalidCorrection); other corrections leave the account as it
    was proposed."""
    if (
        corrections.account_code is None
        and corrections.vat_rate is None
        and corrections.reverse_charge is None
    ):
        return
    try:
        check_cost_account(corrected)
    except InvalidProposal as error:
        raise InvalidCorrection(f"correction makes the proposal invalid: {error}") from None


def fitting_vat(data: ProposalData, corrections: Corrections) -> Decimal | None:
    """The VAT amount a corrected rate or amount implies when the document's stated VAT
    no longer fits them (more than a krone off), else None: a reviewer who corrects 25 %
    to 15 % means 15 % VAT, not the printed 25 % VAT booked as 15 % input VAT. None too
    when no VAT is stated, the correction gives its own, or neither rate nor amount
    changes. Call with corrections `apply_corrections` accepted."""
    stated = getattr(data, "vat_amount", None)
    # The rate or amount it shows, sent again (a review form sends what it showed), is no
    # change: the printed VAT stays as the reviewer saw it.
    changed = [
        name
        for name in ("vat_rate", "amount")
        if (value := getattr(corrections, name)) is not None and value != getattr(data, name, None)
    ]
    if (
        stated is None
        or corrections.vat_amount is not None
        or not changed
        or len(line_rates(data)) > 1  # each part's VAT is reckoned from its own rate
    ):
        return None
    merged = apply_corrections(data, corrections)
    amount, rate = getattr(merged, "amount", None), getattr(merged, "vat_rate", None)
    if amount is None or rate is None or money.vat_consistent(amount, rate, stated):
        return None
    return money.vat_of_gross(amount, rate)


def check_correction_vat(data: ProposalData, corrections: Corrections) -> None:
    """Raise InvalidProposal when a correction of an executed purchase changes its rate or
    amount and leaves a stated VAT that does not fit them: it would be booked as the new
    rate's VAT. The correction names its VAT amount instead (the API can say it)."""
    vat = fitting_vat(data, corrections)
    if vat is not None:
        stated = getattr(data, "vat_amount", None) or Decimal(0)
        raise InvalidProposal(
            f"the corrected rate or amount leaves the stated VAT {money.kroner_text(stated)}, "
            f"which does not fit it: give vatAmount too ({money.kroner_text(vat)} fits)"
        )
    # The VAT it names must fit the corrected rate and amount as well: a 25 % VAT named
    # with a rate corrected to 15 % was booked as 15 % input VAT, more than the rate gives.
    given = corrections.vat_amount
    if given is None or len(line_rates(data)) > 1:
        return  # a purchase at several rates: each part's VAT from its own rate
    changed = any(
        (value := getattr(corrections, name)) is not None and value != getattr(data, name, None)
        for name in ("vat_rate", "amount")
    )
    merged = apply_corrections(data, corrections)
    amount, rate = getattr(merged, "amount", None), getattr(merged, "vat_rate", None)
    if (
        changed
        and amount is not None
        and rate is not None
        and not money.vat_consistent(amount, rate, given)
    ):
        fits = money.vat_of_gross(amount, rate)
        raise InvalidProposal(
            f"vatAmount {money.kroner_text(given)} does not fit the corrected rate and "
            f"amount ({rate.normalize()} % of {money.kroner_text(amount)} is "
            f"{money.kroner_text(fits)})"
        )


def _with_fitting_vat(data: ProposalData, corrections: Corrections) -> Corrections:
    """The corrections with the VAT amount that fits them, when the stated one does not
    (the page and Discord offer only the account and the rate): recorded with the decision."""
    vat = fitting_vat(data, corrections)
    return corrections if vat is None else msgspec.structs.replace(corrections, vat_amount=vat)


def _check_reverse_charge(data: ProposalData) -> None:
    """A purchase under reverse charge (ADR 0056: an invoice; its addendum: a receipt or
    an expense) carries no VAT from its seller: no rate, no VAT amount, no part with VAT."""
    if getattr(data, "reverse_charge", None) is not True:
        return
    if (
        getattr(data, "vat_rate", 0)
        or getattr(data, "vat_amount", None)
        or any(item.vat_rate for item in line_items_of(data))
    ):
        raise InvalidProposal(
            f"a reverse-charge {_PURCHASE_WORD.get(type(data), 'purchase')} carries no VAT "
            "from its seller: vatRate and vatAmount must be 0"
        )


_PURCHASE_WORD: Final[dict[type, str]] = {
    InvoiceRegistrationData: "invoice",
    ReceiptAttachmentData: "receipt",
    ExpenseRegistrationData: "expense",
}


#: What a correction may not change on a purchase booked at several VAT rates (ADR 0052).
_PER_LINE_FIELDS: Final = ("amount", "vat_rate", "vat_amount")


def _check_line_corrections(data: ProposalData, changes: dict[str, Any]) -> None:
    """A purchase booked at several VAT rates (its line items) has no one rate, amount or
    VAT to correct: each is the sum, or the largest, of its parts. A single value would
    silently leave the parts as they are or break their sum, so it is refused, naming the
    parts; the reviewer rejects it and proposes it again with the right parts (ADR 0052).
    The account and every other field are corrected as on any purchase."""
    if len(line_rates(data)) < 2:
        return
    # The same value again (a review form sends what it showed) changes nothing.
    touched = [
        name
        for name in _PER_LINE_FIELDS
        if name in changes and changes[name] != getattr(data, name, None)
    ]
    if not touched:
        return
    names = ", ".join(_camel(name) for name in touched)
    raise InvalidCorrection(
        f"{names} cannot be corrected on a {kind_of(data).value} booked at several VAT rates "
        f"({_parts_text(data)}): reject it and propose it again with the right line items"
    )


def _parts_text(data: ProposalData) -> str:
    return ", ".join(
        f"{money.kroner_text(item.amount)} at {item.vat_rate} %" for item in line_items_of(data)
    )


def _check_rate_of_lines(data: ProposalData, corrections: Corrections) -> None:
    """A purchase with line items is booked at its lines' rates, not its headline rate: a
    corrected rate none of them has would be shown on the proposal while the ledger and
    Fiken book the lines' (an invoice's lines all at 25 %, corrected to 15 %). Refused,
    naming the lines, at the decision only, so approvals already recorded still read."""
    rates = {_canonical_rate(rate) for rate in line_rates(data)}
    corrected = corrections.vat_rate
    if (
        corrected is None
        or not rates
        or _canonical_rate(corrected) in rates
        # the rate it shows, sent again (a review form sends what it showed): no change
        or _canonical_rate(corrected) == _canonical_rate(getattr(data, "vat_rate", corrected))
    ):
        return
    raise InvalidCorrection(
        f"vatRate cannot be corrected to {_canonical_rate(corrected)} % on a "
        f"{kind_of(data).value} whose line items carry their own rates ({_parts_text(data)}): "
        "reject it and propose it again with the right line items"
    )


#: The correction that is the document's NOK amount rather than one of its fields.
NOK_AMOUNT_FIELD: Final = "nok_amount"


def _check_nok_amount(data: ProposalData, nok_amount: Decimal) -> None:
    """A reviewer's NOK amount: for a foreign-currency purchase only, positive, in øre."""
    if foreign_currency(data) is None:
        raise InvalidCorrection(
            "nokAmount is for a foreign-currency document; this one is not in a foreign currency"
        )
    try:
        _check_amount("nokAmount", nok_amount)
    except InvalidProposal as error:
        raise InvalidCorrection(str(error)) from None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Proposal:
    """One proposed action; rebuilt from its events, changed only by recording new ones."""

    def __init__(self, proposal_id: str) -> None:
        self.id = proposal_id
        self.kind: Kind | None = None
        self.status: Status | None = None
        self.version = 0
        self.data: ProposalData | None = None
        self.corrections: Corrections | None = None
        self.proposed_by: str | None = None
        self.decided_by: str | None = None
        self.decision_rule: str | None = None
        #: Who endorsed it (the first of two required approvals), in order.
        self.endorsed_by: tuple[str, ...] = ()
        self.rejection_reason: str | None = None
        self.attempts = 0
        self.executing = False
        #: Until when the current attempt's executor holds it (None when not executing).
        self.lease_until: dt.datetime | None = None
        self.external_ids: dict[str, str] = {}
        self.last_error: str | None = None
        self.next_attempt_at: dt.datetime | None = None
        #: The attempts made before the current attempt budget (a person's last retry).
        self.budget_from = 0
        #: Failed attempts of the current budget that were outages (not counted).
        self.outages = 0
        #: When the first failure of the current budget was recorded (None: none yet).
        self.failing_since: dt.datetime | None = None
        self.pending: list[PendingEvent] = []

    # --- construction -------------------------------------------------------------------

    @classmethod
    def propose(
        cls,
        proposal_id: str,
        data: ProposalData,
        *,
        actor: str,
        vat_rates: frozenset[Decimal] | None = None,
    ) -> Proposal:
        """A new proposal; InvalidProposal when the data breaks a rule of its kind (its VAT
        rate: one of `vat_rates`, those valid on its date, when given)."""
        validate(data, vat_rates)
        check_cost_account(data)
        data = normalise(data)
        proposal = cls(proposal_id)
        proposal._record(type_name(kind_of(data), Step.PROPOSED), data, actor)
        return proposal

    @classmethod
    def rehydrate(cls, proposal_id: str, events: Iterable[StoredEvent]) -> Proposal:
        proposal = cls(proposal_id)
        for event in events:
            proposal._apply(event.type, event.data, event.actor)
            proposal.version = event.version
        return proposal

    # --- commands -----------------------------------------------------------------------

    def approve(
        self,
        *,
        actor: str,
        corrections: Corrections | None = None,
        rule: str | None = None,
        comment: str | None = None,
        approvals_required: int = 1,
    ) -> None:
        """Approve; while fewer than `approvals_required` different people have approved,
        record an endorsement instead (the proposal stays PROPOSED). Corrections belong to
        the first approval: after an endorsement the next approver approves what it says."""
        self._require_pending("approve")
        if comment is not None and ("\x00" in comment or len(comment) > MAX_REASON):
            raise InvalidCorrection(f"a comment has at most {MAX_REASON} characters and no NUL")
        if comment is not None and (unfit := unfit_in(comment, breaks=True)) is not None:
            raise InvalidCorrection(f"the comment must not contain {unfit}")  # ADR 0049
        if actor == self.proposed_by:
            raise SelfApprovalNotAllowed(f"{actor} cannot approve a proposal they made")
        if actor in self.endorsed_by:
            raise SecondApproverRequired(
                f"{actor} already approved this proposal; a second person must approve it"
            )
        assert self.data is not None
        corrected = apply_corrections(self.data, corrections)
        if corrections is not None:
            check_corrected_cost_account(corrected, corrections)
            _check_rate_of_lines(self.data, corrections)
            corrections = _with_fitting_vat(self.data, corrections)
        kept = (
            normalise_corrections(corrections)
            if corrections is not None and corrections.as_dict()
            else None
        )
        if kept is not None and self.endorsed_by:
            raise InvalidCorrection(
                "this proposal was approved once already with what it says now; approve it "
                "as it is or reject it"
            )
        if len(self.endorsed_by) + 1 < approvals_required:
            self._record(
                self._name(Step.ENDORSED),
                EndorsedData(corrections=kept, rule=rule, comment=comment),
                actor,
            )
            return
        self._record(
            self._name(Step.APPROVED),
            ApprovedData(corrections=kept, rule=rule, comment=comment),
            actor,
        )

    def reject(self, *, actor: str, reason: str, rule: str | None = None) -> None:
        self._require_pending("reject")
        if not reason or not has_visible(reason):
            raise RejectionReasonRequired("a rejection needs a reason")
        if (unfit := unfit_in(reason, breaks=True)) is not None:  # ADR 0049, round four
            raise RejectionReasonRequired(f"the reason must not contain {unfit}")
        if "\x00" in reason:
            raise RejectionReasonRequired("the reason must not contain NUL characters")
        if len(reason) > MAX_REASON:
            raise RejectionReasonRequired(f"the reason is longer than {MAX_REASON} characters")
        # A proposer may withdraw (reject) their own proposal; only approval is four-eyes.
        self._record(self._name(Step.REJECTED), RejectedData(reason=tidy(reason), rule=rule), actor)

    def start_execution(
        self,
        *,
        actor: str,
        executor: str | None = None,
        lease_until: dt.datetime | None = None,
    ) -> None:
        """Record a new attempt, claimed by `executor` until `lease_until`.

        An earlier attempt that never recorded its outcome (a crash) may be superseded; the
        caller must have reconciled it with the remote side first."""
        self._require_approved("start executing")
        self._record(
            self._name(Step.EXECUTION_STARTED),
            ExecutionStartedData(
                attempt=self.attempts + 1, executor=executor, lease_until=lease_until
            ),
            actor,
        )

    def record_executed(
        self,
        *,
        actor: str,
        external_ids: dict[str, str] | None = None,
        reconciled: bool = False,
    ) -> None:
        """The action took effect remotely; `reconciled` when the remote object was found by
        our reference (an earlier attempt had made it) rather than created now."""
        self._require_approved("record execution of")
        self._record(
            self._name(Step.EXECUTED),
            ExecutedData(
                attempt=max(self.attempts, 1),
                external_ids=dict(external_ids or {}),
                reconciled=reconciled,
            ),
            actor,
        )

    def record_failure(
        self,
        *,
        actor: str,
        error: str,
        retryable: bool,
        next_attempt_at: dt.datetime | None,
        max_attempts: int,
        outage: bool = False,
        now: dt.datetime | None = None,
        give_up_after: dt.timedelta | None = None,
    ) -> None:
        """A failed attempt: retried later while the budget lasts, otherwise FAILED for good.

        An `outage` (the remote side unreachable or rate limited; the next attempt
        reconciles by reference, so retrying is safe) is retried until `give_up_after` has
        passed since the budget's first failure (`now` tells) and is not counted against
        `max_attempts`; without `give_up_after` it counts like any failure. Other
        retryable failures are retried while fewer than `max_attempts` counted attempts
        were made; a permanent one fails at once."""
        self._require_approved("record a failure of")
        attempt = max(self.attempts, 1)
        failing_since = self.failing_since or now
        counted = outage and give_up_after is not None
        if not retryable or next_attempt_at is None:
            retry = False
        elif counted:
            assert give_up_after is not None
            retry = now is None or failing_since is None or now < failing_since + give_up_after
        else:
            retry = self.counted_attempts < max_attempts
        if retry:
            self._record(
                self._name(Step.EXECUTION_FAILED),
                ExecutionFailedData(
                    attempt=attempt,
                    error=error[:2000],
                    retryable=True,
                    next_attempt_at=next_attempt_at,
                    outage=counted,
                    failing_since=failing_since,
                ),
                actor,
            )
        else:
            self._record(
                self._name(Step.FAILED), FailedData(attempt=attempt, error=error[:2000]), actor
            )

    def retry(self, *, actor: str, comment: str | None = None) -> None:
        """A person sends a FAILED proposal back to execution: APPROVED again with a fresh
        attempt budget (its attempts and give-up time count from now). What runs is what
        was approved; the next attempt looks our reference up remotely first, so an
        earlier attempt that took effect is reconciled, not repeated."""
        if self.status is not Status.FAILED:
            current = self.status.value if self.status else "NONE"
            raise ProposalNotFailed(
                f"cannot retry proposal {self.id}: it is {current}, not FAILED", current=current
            )
        if comment is not None and ("\x00" in comment or len(comment) > MAX_REASON):
            raise InvalidCorrection(f"a comment has at most {MAX_REASON} characters and no NUL")
        if comment is not None and (unfit := unfit_in(comment, breaks=True)) is not None:
            raise InvalidCorrection(f"the comment must not contain {unfit}")
        self._record(
            self._name(Step.EXECUTION_RETRIED),
            ExecutionRetriedData(attempt=self.attempts, comment=tidy(comment) if comment else None),
            actor,
        )

    @property
    def counted_attempts(self) -> int:
        """The attempts of the current budget that count against the maximum: every one
        since the last retry (including one under way) but the outages."""
        return self.attempts - self.budget_from - self.outages

    def ensure_compensable(self) -> None:
        """A reversal or correction may only target an executed financial action."""
        if self.status is not Status.EXECUTED:
            raise NotCompensable(
                f"proposal {self.id} is {self.status.value if self.status else 'unknown'}; "
                "only an executed action can be reversed or corrected",
                current=self.status.value if self.status else "NONE",
            )
        if self.kind in (Kind.PATTERN_SUGGESTION, Kind.REVERSAL, Kind.CORRECTION):
            raise NotCompensable(
                f"a {self.kind.value if self.kind else ''} cannot be compensated",
                current=self.status.value,
            )

    # --- state --------------------------------------------------------------------------

    @property
    def effective_data(self) -> ProposalData:
        """The proposed data with the reviewer's corrections applied: what gets executed."""
        assert self.data is not None
        return apply_corrections(self.data, self.corrections)

    def _require_pending(self, what: str) -> None:
        if self.status is not Status.PROPOSED:
            current = self.status.value if self.status else "NONE"
            raise ProposalNotPending(
                f"cannot {what} proposal {self.id}: it is {current}, not PROPOSED",
                current=current,
            )

    def _require_approved(self, what: str) -> None:
        if self.status is not Status.APPROVED:
            current = self.status.value if self.status else "NONE"
            raise ProposalNotApproved(
                f"cannot {what} proposal {self.id}: it is {current}, not APPROVED",
                current=current,
            )

    def _name(self, step: Step) -> str:
        assert self.kind is not None
        return type_name(self.kind, step)

    def _record(self, name: str, data: Payload, actor: str) -> None:
        self._apply(name, data, actor)
        self.version += 1
        self.pending.append(
            PendingEvent(type=name, data=data, actor=actor, status=event_type(name).status)
        )

    def _apply(self, name: str, data: Any, actor: str) -> None:
        step = event_type(name).step
        if step is Step.PROPOSED:
            self.kind = event_type(name).kind
            self.data = data
            self.status = Status.PROPOSED
            self.proposed_by = actor
        elif step is Step.APPROVED:
            self.status = Status.APPROVED
            if data.corrections is not None or not self.endorsed_by:
                self.corrections = data.corrections
            self.decided_by = actor
            self.decision_rule = data.rule
        elif step is Step.ENDORSED:
            self.endorsed_by = (*self.endorsed_by, actor)
            if data.corrections is not None:
                self.corrections = data.corrections
        elif step is Step.REJECTED:
            self.status = Status.REJECTED
            self.decided_by = actor
            self.decision_rule = data.rule
            self.rejection_reason = data.reason
        elif step is Step.EXECUTION_STARTED:
            self.attempts = data.attempt
            self.executing = True
            self.lease_until = data.lease_until
        elif step is Step.EXECUTED:
            self.status = Status.EXECUTED
            self.executing = False
            self.lease_until = None
            self.external_ids = dict(data.external_ids)
            self.next_attempt_at = None
            # Done: an earlier attempt's error is no longer the proposal's state (the page
            # showed it as "Siste feil" after success); the attempt stays in the history.
            self.last_error = None
        elif step is Step.EXECUTION_FAILED:
            self.executing = False
            self.lease_until = None
            self.last_error = data.error
            self.next_attempt_at = data.next_attempt_at
            self.outages += data.outage
            if self.failing_since is None:
                self.failing_since = data.failing_since
        elif step is Step.FAILED:
            self.status = Status.FAILED
            self.executing = False
            self.lease_until = None
            self.last_error = data.error
            self.next_attempt_at = None
        elif step is Step.EXECUTION_RETRIED:
            self.status = Status.APPROVED
            self.executing = False
            self.lease_until = None
            self.next_attempt_at = None
            self.budget_from = data.attempt
            self.outages = 0
            self.failing_since = None
