"""Who may decide a proposal: attribute-based rules, per tenant, kept as data.

Role-based authorization (Casbin) says who may reach "decide" at all; these rules say who
may decide *this* proposal, from the decider's attributes (the token's `approval_limit` and
`department`), the proposal's facts and the tenant's ReviewRules:

1. four eyes: nobody approves a proposal they made (also checked by the aggregate) nor one
   whose document (`documentHash`) they uploaded;
2. approval limit: the gross amount at stake in NOK (after this approver's corrections; a
   foreign-currency document's NOK amount, ADR 0051) must not be above the approver's
   limit, nor the largest amount the proposal carried before (as proposed, as endorsed):
   lowering an amount is for an approver whose limit covers what it was. The limit comes
   from the token, else the tenant's default; with neither, unlimited unless the tenant
   requires a limit. A malformed limit grants nothing;
3. two approvers: above `two_approvers_above` (the largest amount carried, as in 2) the
   first approval is an endorsement and a second, different person (not the proposer, not
   the uploader) approves;
4. departments (when the tenant enables them): a decider with a department decides only
   proposals made by someone of that department; admins and deciders without a department
   are tenant-wide.

Every grant names the rules that allowed it, e.g.
"four-eyes;department:sales;approval-limit:5000.00;two-approvers:2/2", which is recorded on
the decision event. Refusals are named errors: ApprovalRefused (403) and its subclasses, or
a SelfApprovalNotAllowed subclass for the four-eyes rules.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

import msgspec

from bookkeeper.domain import money
from bookkeeper.domain.errors import DomainError, NokAmountMissing, SelfApprovalNotAllowed
from bookkeeper.domain.review import ReviewRules

#: The attribute names the token verifier fills (application.ports.Principal.attributes).
APPROVAL_LIMIT_ATTRIBUTE: Final = "approval_limit"
DEPARTMENT_ATTRIBUTE: Final = "department"
#: Where a proposal's department is kept: the first event's metadata (set from the
#: proposer's attribute at submission, never from the request body).
DEPARTMENT_METADATA: Final = "department"
MAX_DEPARTMENT_LENGTH: Final = 100


class ApprovalRefused(DomainError):
    """The decider's attributes do not allow this decision (HTTP 403)."""

    code = "approval-refused"


class ApprovalLimitExceeded(ApprovalRefused):
    """The amount at stake is above the approver's limit (or the approver has none)."""

    code = "approval-limit-exceeded"


class DepartmentMismatch(ApprovalRefused):
    """The proposal belongs to another department than the decider's."""

    code = "department-mismatch"


class OwnDocumentApprovalNotAllowed(SelfApprovalNotAllowed):
    """Nobody approves a proposal whose document they uploaded themselves."""

    code = "own-document-approval"


class SecondApproverRequired(SelfApprovalNotAllowed):
    """The second of two approvals must come from a different person than the first."""

    code = "second-approver-required"


class Decider(msgspec.Struct, frozen=True, kw_only=True):
    """Who decides, as the rules see them: the actor name and the token's attributes."""

    actor: str
    #: The raw `approval_limit` attribute (a decimal string such as "5000.00"), if any.
    approval_limit: str | None = None
    department: str | None = None
    #: Admins are exempt from department scoping (not from limits or four eyes).
    admin: bool = False


class ApprovalFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules need to know of the proposal being decided."""

    proposed_by: str
    #: The gross amount at stake after the decider's corrections (a reversal or correction:
    #: its target's amount); None when the proposal moves no money (a pattern suggestion).
    #: In NOK: a foreign-currency document's NOK amount (ADR 0051), never its own.
    amount: Decimal | None = None
    #: The largest gross amount in NOK the proposal carried before this decision (as
    #: proposed, as an endorser corrected it); None when not known. The limit and the
    #: two-approver threshold hold against it as well as against `amount`: a reviewer does
    #: not correct an amount down under their limit (or the threshold) and approve it.
    carried: Decimal | None = None
    #: The currency of a foreign-currency document whose NOK amount is not known (yet):
    #: `amount` is then None, and a limit or the two-approver threshold cannot be applied
    #: to it (NokAmountMissing: the approver gives the NOK amount).
    unconverted: str | None = None
    #: Who uploaded the proposal's document, if it has one and the upload was recorded.
    uploaded_by: str | None = None
    department: str | None = None
    #: Who already endorsed it (the first of two approvals), in order.
    endorsed_by: tuple[str, ...] = ()


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """An allowed approval: the rules that allowed it and how many approvals it needs."""

    rule: str
    approvals_required: int


def clean_department(value: str | None) -> str | None:
    """A department attribute as kept: trimmed; None when absent, empty, too long or
    holding control characters (it then counts as no department)."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_DEPARTMENT_LENGTH or any(ord(ch) < 32 for ch in value):
        return None
    return value


def _same_department(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def parse_limit(raw: str | None) -> Decimal | None:
    """The approval limit of an attribute value; None when absent. A value that is not a
    finite, non-negative amount raises ApprovalLimitExceeded: a malformed limit grants
    nothing."""
    if raw is None:
        return None
    try:
        limit = Decimal(raw.strip())
    except (InvalidOperation, ValueError):
        limit = Decimal("NaN")
    if not limit.is_finite() or limit < 0:
        raise ApprovalLimitExceeded(
            f"the approval_limit attribute {raw[:40]!r} is not an amount; nothing can be "
            "approved with it"
        )
    return limit


def required_approvals(rules: ReviewRules, amount: Decimal | None) -> int:
    """How many different people must approve a proposal of this amount: 1 or 2."""
    if amount is not None and rules.two_approvers_above is not None:
        return 2 if amount > rules.two_approvers_above else 1
    return 1


def _department_rule(rules: ReviewRules, facts: ApprovalFacts, decider: Decider) -> str | None:
    if not rules.departments:
        return None
    if decider.admin:
        return "department:admin"
    mine = clean_department(decider.department)
    if mine is None:
        return "department:tenant-wide"
    theirs = clean_department(facts.department)
    if theirs is None or not _same_department(mine, theirs):
        raise DepartmentMismatch(
            f"{decider.actor} decides proposals of department {mine!r} only; this one is "
            + (f"of {theirs!r}" if theirs is not None else "of no department")
        )
    return f"department:{mine}"


def _limit_rule(rules: ReviewRules, facts: ApprovalFacts, decider: Decider) -> str | None:
    if facts.amount is None and facts.unconverted is None:
        return None
    limit = parse_limit(decider.approval_limit)
    source = ""
    if limit is None and rules.default_approval_limit is not None:
        limit, source = rules.default_approval_limit, "default:"
    if limit is None:
        if rules.require_approval_limit:
            raise ApprovalLimitExceeded(
                f"{decider.actor} has no approval limit and this tenant requires one"
            )
        return "approval-limit:unlimited"
    shown = limit.quantize(money.ORE) if limit < Decimal("1e15") else limit
    if facts.amount is None:
        raise NokAmountMissing(
            f"the {facts.unconverted} document has no NOK amount to hold against the approval "
            f"limit {money.kroner_text(shown)} of {decider.actor}: approve it with "
            "corrections.nokAmount, the amount paid in NOK"
        )
    if facts.amount > limit:
        raise ApprovalLimitExceeded(
            f"the amount {money.kroner_text(facts.amount)} is above the approval limit "
            f"{money.kroner_text(shown)} of {decider.actor}"
        )
    if facts.carried is not None and facts.carried > limit:
        raise ApprovalLimitExceeded(
            f"the proposal carried the amount {money.kroner_text(facts.carried)} before it "
            f"was corrected to {money.kroner_text(facts.amount)}, above the approval limit "
            f"{money.kroner_text(shown)} of {decider.actor}: an amount is lowered by an "
            "approver whose limit covers the amount it had"
        )
    return f"approval-limit:{source}{shown}"


def authorise_approval(rules: ReviewRules, facts: ApprovalFacts, decider: Decider) -> Grant:
    """The grant for `decider` approving the proposal, or the named refusal."""
    actor = decider.actor
    if actor == facts.proposed_by:
        raise SelfApprovalNotAllowed(f"{actor} cannot approve a proposal they made")
    if facts.uploaded_by is not None and actor == facts.uploaded_by:
        raise OwnDocumentApprovalNotAllowed(
            f"{actor} cannot approve a proposal whose document they uploaded"
        )
    if actor in facts.endorsed_by:
        raise SecondApproverRequired(
            f"{actor} already approved this proposal; a second person must approve it"
        )
    parts = ["four-eyes"]
    department = _department_rule(rules, facts, decider)
    if department is not None:
        parts.append(department)
    limit = _limit_rule(rules, facts, decider)
    if limit is not None:
        parts.append(limit)
    if facts.unconverted is not None and rules.two_approvers_above is not None:
        raise NokAmountMissing(
            f"the {facts.unconverted} document has no NOK amount to tell whether it needs two "
            "approvers: approve it with corrections.nokAmount, the amount paid in NOK"
        )
    # The threshold too holds against the largest amount carried: correcting an amount
    # under it does not spare the second approver.
    at_stake = facts.amount
    if at_stake is not None and facts.carried is not None:
        at_stake = max(at_stake, facts.carried)
    required = max(required_approvals(rules, at_stake), 1)
    if required > 1:
        parts.append(f"two-approvers:{min(len(facts.endorsed_by) + 1, required)}/{required}")
    return Grant(rule=";".join(parts), approvals_required=required)


def authorise_rejection(rules: ReviewRules, facts: ApprovalFacts, decider: Decider) -> str | None:
    """The rule that allows `decider` to reject (None when no attribute rule applies), or
    DepartmentMismatch. A proposer may always withdraw their own proposal; approval limits
    do not apply, since a rejection causes no booking."""
    if not rules.departments:
        return None
    if decider.actor == facts.proposed_by:
        return "department:proposer"
    return _department_rule(rules, facts, decider)


# --- posting a journal entry (RecordJournalEntry, decision 4) ----------------------------


def authorise_posting(
    rules: ReviewRules, amount: Decimal, department: str | None, poster: Decider
) -> str:
    """The rule that allows `poster` to post an entry moving `amount` (its debits) for
    `department`, or the named refusal: the same approval limit as for a decision (from the
    token, else the tenant's default; a malformed limit grants nothing), and — where the
    tenant uses departments — a poster with a department posts only for that department
    (admins and posters without one are tenant-wide)."""
    parts: list[str] = []
    if rules.departments and not poster.admin:
        mine = clean_department(poster.department)
        theirs = clean_department(department)
        if mine is not None:
            if theirs is None or not _same_department(mine, theirs):
                raise DepartmentMismatch(
                    f"{poster.actor} posts entries of department {mine!r} only; this one is "
                    + (f"of {theirs!r}" if theirs is not None else "of no department")
                )
            parts.append(f"department:{mine}")
        else:
            parts.append("department:tenant-wide")
    elif rules.departments:
        parts.append("department:admin")
    facts = ApprovalFacts(proposed_by="", amount=amount, department=department)
    limit = _limit_rule(rules, facts, poster)
    if limit is not None:
        parts.append(limit)
    return ";".join(parts)
