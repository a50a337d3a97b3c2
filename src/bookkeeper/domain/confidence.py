"""Confidence computed by the domain from signals, with every reason kept.

The proposer (an LLM, a person, another service) does not set the confidence: it may send its
own estimate, which can only pull the score down. Nothing written inside a document can raise
it, so a receipt saying "confidence 1.0, approve" gains nothing (prompt-injection safety).

Weights (sum 0.95 for a complete, consistent receipt of a known merchant, as in story 1):
  approved pattern, exact name and same account/VAT   +0.60
  approved pattern, near name                         +0.35
  approved pattern but other account or VAT           +0.20
  required fields complete (pro rata)                 +0.20
  VAT amount consistent with rate / not stated        +0.10 / +0.08
  VAT amount inconsistent with rate                   -0.30
  amount within the tenant's bounds / outside         +0.05 / -0.25
  bank transaction verified                           +0.05
  § 5-1-1 documentary field missing (each)            -0.02
  organisation number fails the MOD11 check           -0.10
  possible duplicate of an earlier document           -0.50
    (the same merchant and amount near its date, the same number, or the same file)
  payment account differs from the supplier's known one -0.30
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import msgspec
from stdnum.no import orgnr

from bookkeeper.domain import money
from bookkeeper.domain.deduction import no_deduction, no_deduction_reason
from bookkeeper.domain.events import (
    CorrectionData,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    PatternSuggestionData,
    ProposalData,
    ReceiptAttachmentData,
    ReversalData,
    line_items_of,
)
from bookkeeper.domain.ledger import foreign_service_code, is_reverse_charge
from bookkeeper.domain.patterns import MatchKind, PatternMatch
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.vat_registration import (
    NOT_VAT_REGISTERED_REASON,
    VAT_REGISTRATION_SIGNAL,
    is_purchase,
)

_kr = money.kroner_text


def _rate_text(rate: Decimal) -> str:
    """A VAT rate as written in a reason: \"25\", \"11.11\" (no trailing zeros)."""
    return format(rate.normalize(), "f") if rate == rate.to_integral() else str(rate)


ZERO = Decimal("0")
MAX_SCORE = Decimal("0.99")
TWO_PLACES = Decimal("0.01")


class Reason(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One signal's contribution to the score, in words a reviewer understands."""

    signal: str
    effect: Decimal
    detail: str


class Confidence(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    score: Decimal
    reasons: tuple[Reason, ...]
    pattern_id: str | None = None
    approved_pattern: bool = False
    duplicate_of: tuple[str, ...] = ()


class ScoringContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the application found out about a proposal before scoring it."""

    pattern_match: PatternMatch | None = None
    duplicate_of: tuple[str, ...] = ()
    #: Earlier proposals whose document is the same file (its content hash), whatever
    #: their fields: the same receipt sent again. Duplicates too (`Confidence.duplicate_of`
    #: names them first), and the reason says why.
    same_document_as: tuple[str, ...] = ()
    bank_transaction_verified: bool | None = None
    proposer_estimate: Decimal | None = None
    #: How a receipt disagrees with the bank event it names (bank_matching.Mismatch
    #: details): each is a reason, and any keeps the proposal in review.
    bank_mismatches: tuple[str, ...] = ()
    #: Account codes the tenant's chart of accounts does not know (the books would refuse
    #: them after approval): each is a reason, and any keeps the proposal in review.
    unknown_accounts: tuple[str, ...] = ()
    #: The supplier's payment account known from its earlier approved or executed invoices,
    #: when this invoice asks to be paid to another one (issue 13): a reason, and it keeps
    #: the proposal in review.
    known_payment_account: str | None = None
    #: A foreign-currency purchase's currency when no NOK amount was found for it (no
    #: published rate, no bank payment in NOK): a reason saying how to give it, and it
    #: keeps the proposal in review (ADR 0051).
    nok_amount_missing: str | None = None
    #: A foreign-currency purchase's amount in NOK (its exchange: a published rate, the
    #: bank payment or the reviewer's figure): what the usual-range band, which is in NOK,
    #: weighs instead of the document's own amount.
    nok_amount: Decimal | None = None
    #: The structured document the fields were taken from ("EHF e-invoice"): said as a
    #: reason of no weight (certain fields, the checks above still apply).
    structured_source: str | None = None


def reverse_charge_reason(codes: list[str]) -> str:
    """Why a purchase is booked with reverse charge (ADR 0056), in English for the record
    (messages says it in Norwegian): the seller abroad charged no VAT, the buyer calculates
    it under `codes` — 86 deducted, 87 (no deduction right) carried by the cost."""
    said = " and ".join(codes)
    return (
        f"a service bought from abroad without VAT: reverse charge (mval. § 3-30), the VAT "
        f"calculated under SAF-T {said}"
        + (", with no deduction on 87 (the cost carries it)" if "87" in codes else "")
    )


def valid_org_number(value: str) -> bool:
    """Norwegian organisation number: 9 digits with a valid MOD11 check digit (python-stdnum),
    also as a VAT number ("NO 923 609 016 MVA")."""
    digits = value.upper().replace(" ", "").removeprefix("NO").removesuffix("MVA")
    return digits.isascii() and bool(orgnr.is_valid(digits))


def payment_account_key(value: str | None) -> str | None:
    """An account number or IBAN in the form two readings of it share: no spaces, dots or
    dashes, upper case, and a Norwegian IBAN (NOkk + 11 digits) as its 11-digit account
    number, so "NO93 8601 1117 947" and "8601.11.17947" are the same account."""
    if value is None:
        return None
    compact = "".join(ch for ch in value if ch.isalnum()).upper()
    if len(compact) == 15 and compact.startswith("NO") and compact[2:].isdigit():
        compact = compact[4:]
    return compact or None


def payment_account_changed(known: str | None, new: str | None) -> bool:
    """Whether an invoice asks to be paid to another account than the supplier's known one
    (nothing known, or nothing read, is no change)."""
    known_key, new_key = payment_account_key(known), payment_account_key(new)
    return known_key is not None and new_key is not None and known_key != new_key


def _required(data: ProposalData) -> list[tuple[str, object]]:
    match data:
        case ReceiptAttachmentData():
            return [
                ("merchantName", data.merchant_name),
                ("amount", data.amount),
                ("date", data.date),
                ("vatRate", data.vat_rate),
                ("accountCode", data.account_code),
                ("folioEventId", data.folio_event_id),
            ]
        case InvoiceRegistrationData():
            return [
                ("supplier", data.supplier),
                ("amount", data.amount),
                ("date", data.date),
                ("dueDate", data.due_date),
                ("vatRate", data.vat_rate),
                ("accountCode", data.account_code),
                ("invoiceNumber", data.invoice_number),
            ]
        case ExpenseRegistrationData():
            return [
                ("employee", data.employee),
                ("amount", data.amount),
                ("date", data.date),
                ("category", data.category),
                ("vatRate", data.vat_rate),
                ("accountCode", data.account_code),
            ]
        case PatternSuggestionData():
            return [
                ("merchant", data.merchant),
                ("accountCode", data.account_code),
                ("vatRate", data.vat_rate),
            ]
        case ReversalData() | CorrectionData():
            return [("targetProposalId", data.target_proposal_id), ("reason", data.reason)]
    return []  # pragma: no cover - exhaustive over ProposalData


def _documentary(data: ProposalData) -> list[tuple[str, str | None]]:
    """§ 5-1-1 fields that a booked document should carry, beyond what the action needs.
    A seller that bills in another currency is foreign (a VOEC or SaaS seller): it has no
    Norwegian organisation number to miss, so none is asked of it (issue 13)."""
    foreign = getattr(data, "currency", "NOK") != "NOK"
    match data:
        case ReceiptAttachmentData():
            return [("documentNumber", data.document_number)] + (
                [] if foreign else [("merchantOrgNumber", data.merchant_org_number)]
            )
        case InvoiceRegistrationData():
            return [] if foreign else [("supplierOrgNumber", data.supplier_org_number)]
        case ExpenseRegistrationData():
            return [("documentNumber", data.document_number)]
    return []


def _present(value: object) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def score(data: ProposalData, context: ScoringContext, rules: ReviewRules) -> Confidence:
    """Score a proposal's data from the signals in `context`; every step leaves a reason."""
    reasons: list[Reason] = []

    def add(signal: str, effect: str, detail: str) -> None:
        reasons.append(Reason(signal=signal, effect=Decimal(effect), detail=detail))

    approved_pattern = False
    pattern_id: str | None = None
    account = getattr(data, "account_code", None)
    vat_rate = getattr(data, "vat_rate", None)
    has_merchant = isinstance(
        data, ReceiptAttachmentData | InvoiceRegistrationData | ExpenseRegistrationData
    )
    match = context.pattern_match
    if has_merchant and match is not None:
        pattern = match.pattern
        pattern_id = pattern.suggestion_id
        agrees = pattern.account_code == account and pattern.vat_rate == vat_rate
        if not agrees:
            add(
                "pattern",
                "0.20",
                f"approved pattern for {pattern.merchant_name!r} says account "
                f"{pattern.account_code} at {_rate_text(pattern.vat_rate)} %, the proposal says "
                f"{account} at {_rate_text(vat_rate) if vat_rate is not None else vat_rate} %",
            )
        elif match.kind is MatchKind.EXACT:
            approved_pattern = True
            add(
                "pattern",
                "0.60",
                f"approved pattern for {pattern.merchant_name!r}: account "
                f"{pattern.account_code}, {_rate_text(pattern.vat_rate)} % VAT",
            )
        else:
            add(
                "pattern",
                "0.35",
                f"similar to the approved pattern for {pattern.merchant_name!r} "
                f"(similarity {match.score:.2f})",
            )
    elif has_merchant:
        add("pattern", "0", "no approved pattern for this merchant")

    required = _required(data)
    missing = [name for name, value in required if not _present(value)]
    if required:
        share = Decimal(len(required) - len(missing)) / Decimal(len(required))
        effect = (Decimal("0.20") * share).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
        detail = (
            "all required fields present" if not missing else ("missing: " + ", ".join(missing))
        )
        reasons.append(Reason(signal="completeness", effect=effect, detail=detail))

    for name, value in _documentary(data):
        if not _present(value):
            add("documentation", "-0.02", f"§ 5-1-1 field {name} is missing")
    org = getattr(data, "merchant_org_number", None) or getattr(data, "supplier_org_number", None)
    if _present(org) and not valid_org_number(str(org)):
        add("documentation", "-0.10", f"organisation number {org} fails the MOD11 check")

    amount = getattr(data, "amount", None)
    currency = getattr(data, "currency", None) or "NOK"

    def _kr(value: Decimal) -> str:  # in the document's currency, not always kroner
        return money.kroner_text(value, currency)

    if isinstance(amount, Decimal) and isinstance(vat_rate, Decimal):
        vat_amount = getattr(data, "vat_amount", None)
        expected = money.vat_of_gross(amount, vat_rate)
        items = getattr(data, "line_items", None) or ()
        if items and sum(item.amount for item in items) == amount:
            # An invoice of several lines: each line's VAT at its own rate (as it is posted)
            expected = sum(
                (money.vat_of_gross(item.amount, item.vat_rate) for item in items), Decimal(0)
            )
            rates = "/".join(dict.fromkeys(_rate_text(item.vat_rate) for item in items))
        else:
            rates = _rate_text(vat_rate)
        if vat_amount is None:
            add(
                "vat",
                "0.08",
                f"VAT amount not stated; {rates} % of {_kr(amount)} is {_kr(expected)}",
            )
        elif abs(expected - vat_amount) <= money.ONE_KRONE:
            add("vat", "0.10", f"VAT {_kr(vat_amount)} matches {rates} % of {_kr(amount)}")
        else:
            add(
                "vat",
                "-0.30",
                f"VAT {_kr(vat_amount)} does not match {rates} % of {_kr(amount)} "
                f"(expected {_kr(expected)})",
            )

    if isinstance(amount, Decimal):
        # The usual range is in NOK (ReviewRules): a foreign document is weighed by its NOK
        # amount, and without one (nok-amount, below) not weighed at all.
        foreign = currency != "NOK"
        weighed = context.nok_amount if foreign else amount
        low, high = money.kroner_text(rules.amount_min), money.kroner_text(rules.amount_max)
        if weighed is None:
            add("amount", "0", f"{_kr(amount)} not weighed against the usual range {low}–{high}")
        else:
            said = money.kroner_text(weighed) + (f" ({_kr(amount)})" if foreign else "")
            if rules.amount_min <= weighed <= rules.amount_max:
                add("amount", "0.05", f"{said} is within the usual range {low}–{high}")
            else:
                add("amount", "-0.25", f"{said} is outside the usual range {low}–{high}")

    for mismatch in context.bank_mismatches:
        add("bank-mismatch", "-0.30", mismatch)
    for code in context.unknown_accounts:
        add("unknown-account", "-0.30", f"account {code} is not in the books' chart of accounts")
    if context.nok_amount_missing is not None:
        add(
            "nok-amount",
            "-0.30",
            f"no NOK amount for this {context.nok_amount_missing} document (no exchange rate, "
            "no bank payment in NOK): approve it with the amount in NOK (nokAmount)",
        )
    new_account = getattr(data, "payment_account", None)
    if payment_account_changed(context.known_payment_account, new_account):
        add(
            "payment-account",
            "-0.30",
            f"payment account {new_account} differs from the supplier's known account "
            f"{context.known_payment_account}",
        )
    # A named bank event that disagrees earns no credit for being there.
    if context.bank_transaction_verified is True and not context.bank_mismatches:
        add("bank", "0.05", "a matching bank transaction was found")
    elif context.bank_transaction_verified is False:
        add("bank", "-0.20", "no matching bank transaction was found")

    # No input VAT deduction on the account (ADR 0055): booked at the gross amount, which
    # the reviewer is told; it neither raises nor lowers the score.
    if has_merchant:
        items = line_items_of(data)
        used: list[str | None] = [account, *(item.account_code or account for item in items)]
        for booked in dict.fromkeys(used):
            if isinstance(booked, str) and no_deduction(booked):
                add("vat-deduction", "0", no_deduction_reason(booked))

    # A company outside the VAT register (ADR 0056, addendum 4): why no VAT is deducted;
    # it neither raises nor lowers the score.
    if not rules.vat_registered and is_purchase(data):
        add(VAT_REGISTRATION_SIGNAL, "0", NOT_VAT_REGISTERED_REASON)

    # A service bought from abroad (ADR 0056 and its addendum): why the purchase is booked
    # with reverse charge, and under which code; it neither raises nor lowers the score.
    if is_reverse_charge(data):
        items = line_items_of(data)
        used_accounts = [item.account_code or account for item in items] or [account]
        codes = sorted(
            {foreign_service_code(booked) for booked in used_accounts if isinstance(booked, str)}
        )
        if codes:
            add("reverse-charge", "0", reverse_charge_reason(codes))

    # The same file first: it is the surest sign, and the one the reason names first.
    duplicates = tuple(dict.fromkeys((*context.same_document_as, *context.duplicate_of)))
    if duplicates:
        shown = duplicates[:3]
        same_file = [d for d in shown if d in context.same_document_as]
        others = [d for d in shown if d not in context.same_document_as]
        parts: list[str] = []
        if same_file:
            parts.append("the same document file as " + ", ".join(same_file))
        if others:
            parts.append("possible duplicate of " + ", ".join(others))
        add("duplicate", "-0.50", "; ".join(parts))

    if context.structured_source:
        add(
            "source",
            "0",
            f"fields read from the elements of a structured {context.structured_source}, "
            "not guessed from text; the checks still apply",
        )

    total = sum((r.effect for r in reasons), ZERO)
    total = min(max(total, ZERO), MAX_SCORE)

    estimate = context.proposer_estimate
    if estimate is not None:
        estimate = min(max(estimate, ZERO), Decimal("1"))
        if estimate < total:
            pull = ((total - estimate) / 2).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
            reasons.append(
                Reason(
                    signal="proposer-estimate",
                    effect=-pull,
                    detail=f"the proposer's own estimate {estimate} lowers the score",
                )
            )
            total -= pull
        else:
            reasons.append(
                Reason(
                    signal="proposer-estimate",
                    effect=ZERO,
                    detail=f"the proposer's own estimate {estimate} cannot raise the score",
                )
            )

    return Confidence(
        score=total.quantize(TWO_PLACES, rounding=ROUND_HALF_UP),
        reasons=tuple(reasons),
        pattern_id=pattern_id,
        approved_pattern=approved_pattern,
        duplicate_of=duplicates,
    )
