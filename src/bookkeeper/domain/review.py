"""Review rules as data: which proposals are approved automatically and which need a person.

The defaults are the seed's table (002, "Review Rules" and "Confidence Scoring"): queries are
never reviewed; a receipt attachment with an approved pattern and confidence above 0.9 is
approved automatically; invoices, expenses, pattern suggestions and compensating proposals
are always reviewed; 0.7–0.9 is "review recommended", below 0.7 "review required".
A tenant may store its own rules; they replace the defaults as a whole.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Final, Literal

import msgspec

from bookkeeper.domain.events import Kind
from bookkeeper.domain.money import kroner_text


class Band(StrEnum):
    AUTO = "auto"
    REVIEW_RECOMMENDED = "review_recommended"
    REVIEW_REQUIRED = "review_required"


class Outcome(StrEnum):
    AUTO_APPROVED = "auto_approved"
    AWAITING_REVIEW = "awaiting_review"
    RECORDED = "recorded"  # read-only query, never reviewed


class ReviewRules(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    """Per-tenant review rules; every field has the seed's default."""

    auto_approve_above: Decimal = Decimal("0.9")
    review_recommended_from: Decimal = Decimal("0.7")
    auto_approvable_kinds: frozenset[Kind] = frozenset({Kind.RECEIPT_ATTACHMENT})
    auto_approve_requires_pattern: bool = True
    #: Amounts (gross, NOK) inside these bounds count as plausible for this tenant.
    amount_min: Decimal = Decimal("1")
    amount_max: Decimal = Decimal("50000")
    #: No automatic approval above this gross amount, whatever the confidence.
    max_auto_amount: Decimal = Decimal("10000")
    #: Days either side of a document date in which the same merchant and amount is suspect.
    duplicate_window_days: int = 3
    # --- who may approve (domain.approval) ------------------------------------------------
    #: Above this gross amount two different people must approve (None: one is enough);
    #: never approved automatically.
    two_approvers_above: Decimal | None = Decimal("50000")
    #: The limit of a reviewer whose token carries no `approval_limit` (None: see below).
    default_approval_limit: Decimal | None = None
    #: With no limit from the token nor a default: refuse (True) or unlimited (False, the
    #: behaviour before approval limits existed).
    require_approval_limit: bool = False
    #: Reviewers with a `department` decide only proposals of their department; admins and
    #: reviewers without one are tenant-wide.
    departments: bool = False
    # --- company facts ----------------------------------------------------------------------
    #: The company is registered in the VAT register (Merverdiavgiftsregisteret). Only a
    #: registered company accounts for reverse charge on services bought from abroad in its
    #: return (ADR 0056, addendum 3); the pipeline proposes it only then. Default: registered.
    vat_registered: bool = True
    #: The VAT term granted: "bimonthly" (the six ordinary terms) or "yearly" (årstermin,
    #: for turnover under NOK 1 M, by Skatteetaten's decision): the VAT report, the morning
    #: check's deadline, the chat and the VAT term locks follow it (ADR 0064).
    vat_term: Literal["bimonthly", "yearly"] = "bimonthly"
    #: The day the registration took effect ("registrert fra" in the register; ADR 0064,
    #: addendum): a company registered in the middle of a year files no return for a term
    #: that ended before it — its first is the term holding that day. None: registered
    #: for as long as the books go back.
    vat_registered_from: dt.date | None = None

    def band(self, score: Decimal) -> Band:
        if score > self.auto_approve_above:
            return Band.AUTO
        if score >= self.review_recommended_from:
            return Band.REVIEW_RECOMMENDED
        return Band.REVIEW_REQUIRED


DEFAULT_RULES = ReviewRules()

#: The widest duplicate window a tenant may set: a year either side of a document.
MAX_DUPLICATE_WINDOW_DAYS = 366
#: No threshold of ours is an amount a document could not have (proposals stop there).
_MAX_AMOUNT = Decimal("1e12")


def review_rules_problem(rules: ReviewRules) -> str | None:
    """Why these rules cannot be kept (every proposal of the tenant is scored and decided
    by them, so a NaN, an infinity or a negative threshold would break or bend them all),
    or None when they can."""
    scores = {
        "autoApproveAbove": rules.auto_approve_above,
        "reviewRecommendedFrom": rules.review_recommended_from,
    }
    for name, score in scores.items():
        if not score.is_finite() or not 0 <= score <= 1:
            return f"{name} is a confidence between 0 and 1"
    amounts = {
        "amountMin": rules.amount_min,
        "amountMax": rules.amount_max,
        "maxAutoAmount": rules.max_auto_amount,
        "twoApproversAbove": rules.two_approvers_above,
        "defaultApprovalLimit": rules.default_approval_limit,
    }
    for name, amount in amounts.items():
        if amount is not None and (not amount.is_finite() or not 0 <= amount < _MAX_AMOUNT):
            return f"{name} is an amount between 0 and {_MAX_AMOUNT:,.0f}"
    if rules.amount_min > rules.amount_max:
        return "amountMin is at most amountMax"
    if rules.review_recommended_from > rules.auto_approve_above:
        return "reviewRecommendedFrom is at most autoApproveAbove"
    if not 0 <= rules.duplicate_window_days <= MAX_DUPLICATE_WINDOW_DAYS:
        return f"duplicateWindowDays is between 0 and {MAX_DUPLICATE_WINDOW_DAYS}"
    return None


class CreditBeyondInvoice(msgspec.Struct, frozen=True, kw_only=True):
    """A supplier's credit note that, with the invoice's earlier credit notes, credits more
    than the invoice it names (ADR 0054): a person must see both amounts (`sentence`, the
    proposal's warning; the rule's explanation only names the rule)."""

    credited: Decimal  # this credit note and the invoice's earlier ones, together
    invoice: Decimal
    currency: str = "NOK"

    @property
    def sentence(self) -> str:
        return (
            f"the invoice's credit notes come to {kroner_text(self.credited, self.currency)} "
            f"with this one, more than the invoice's {kroner_text(self.invoice, self.currency)}"
        )


#: The credit-beyond-invoice rule's explanation (its amounts are the proposal's warning).
CREDIT_BEYOND_INVOICE: Final = "a credit note for more than its invoice is always reviewed"


def credit_beyond_invoice(
    amount: Decimal, credited_before: Decimal, invoice: Decimal, currency: str = "NOK"
) -> CreditBeyondInvoice | None:
    """The excess when a credit note of `amount`, after `credited_before` credited by the
    invoice's earlier credit notes, credits more than the invoice's `invoice`; else None."""
    credited = amount + credited_before
    if credited <= invoice:
        return None
    return CreditBeyondInvoice(credited=credited, invoice=invoice, currency=currency)


class ReviewDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules decided for one proposal, and which rule decided it."""

    outcome: Outcome
    band: Band | None
    rule: str
    explanation: str


def decide(
    rules: ReviewRules,
    *,
    kind: Kind | None,
    score: Decimal,
    approved_pattern: bool,
    duplicate_suspected: bool,
    amount: Decimal | None,
    bank_mismatch: bool = False,
    unknown_account: bool = False,
    payment_account_changed: bool = False,
    nok_amount_missing: bool = False,
    credit_note: bool = False,
    credit_beyond_invoice: CreditBeyondInvoice | None = None,
    sender_reservation: bool = False,
) -> ReviewDecision:
    """Apply the rules to a scored proposal (kind None = a read-only query). A receipt that
    disagrees with the bank event it names (`bank_mismatch`) is never approved
    automatically, nor is a proposal booking to an account the chart does not know
    (`unknown_account`), nor a foreign-currency purchase without a NOK amount
    (`nok_amount_missing`, ADR 0051: a person must give it), nor a credit note that credits
    more than its invoice (`credit_beyond_invoice`, ADR 0054), nor a document its sender
    handed in with words against booking it as read (`sender_reservation`: "privat",
    "ikke bokfør", "feil beløp")."""
    if kind is None:
        return ReviewDecision(
            outcome=Outcome.RECORDED,
            band=None,
            rule="query-never-reviewed",
            explanation="read-only query: recorded, never reviewed",
        )
    band = rules.band(score)
    waiting = Outcome.AWAITING_REVIEW
    if sender_reservation:
        # The sender's own words come first: whatever the pattern, a person reads them.
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="sender-reservation",
            explanation="the sender wrote a reservation with the document",
        )
    # Before the per-kind rule, so that the reason a person must look is the one named
    # (issue 13: a changed payment account is how invoice fraud looks).
    if payment_account_changed:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="payment-account-changed",
            explanation="the payment account differs from the supplier's known account",
        )
    if nok_amount_missing:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="nok-amount-missing",
            explanation="the foreign-currency document has no NOK amount: give it on approval",
        )
    if credit_beyond_invoice is not None:
        # Before the plain credit-note rule: the reason named is the one to check.
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="credit-beyond-invoice",
            # The amounts are the proposal's warning (what the reviewer checks), shown once.
            explanation=CREDIT_BEYOND_INVOICE,
        )
    if credit_note:
        # ADR 0054: a supplier's credit note reverses an earlier purchase; a person
        # confirms what it credits, whatever the patterns and the score.
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="credit-note",
            explanation="a supplier's credit note is always reviewed",
        )
    if kind not in rules.auto_approvable_kinds:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule=f"always-review-{kind.value}",
            explanation=f"{kind.value.replace('_', ' ')} is always reviewed",
        )
    if bank_mismatch:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="bank-mismatch",
            explanation="the receipt does not match the bank event it names",
        )
    if unknown_account:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="unknown-account",
            explanation="the account code is not in the books' chart of accounts",
        )
    if band is not Band.AUTO:
        rule = "review-recommended" if band is Band.REVIEW_RECOMMENDED else "review-required"
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule=rule,
            explanation=f"confidence {score} is not above {rules.auto_approve_above}",
        )
    if rules.auto_approve_requires_pattern and not approved_pattern:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="no-approved-pattern",
            explanation="no human-approved pattern matches this merchant exactly",
        )
    if duplicate_suspected:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="duplicate-suspected",
            explanation="a possible duplicate is never approved automatically",
        )
    if amount is not None and amount > rules.max_auto_amount:
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="above-auto-approval-limit",
            explanation=f"amount {kroner_text(amount)} is above the automatic limit "
            f"{kroner_text(rules.max_auto_amount)}",
        )
    if (
        amount is not None
        and rules.two_approvers_above is not None
        and amount > rules.two_approvers_above
    ):
        return ReviewDecision(
            outcome=waiting,
            band=band,
            rule="two-approvers-required",
            explanation=f"amount {kroner_text(amount)} above "
            f"{kroner_text(rules.two_approvers_above)} needs two approvers",
        )
    return ReviewDecision(
        outcome=Outcome.AUTO_APPROVED,
        band=band,
        rule="auto-approve-known-pattern",
        explanation=f"approved pattern and confidence {score} above {rules.auto_approve_above}",
    )
