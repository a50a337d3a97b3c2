"""The named errors of the domain, and the root of every error bookkeeper raises.

Every illegal transition or input has a named DomainError. `BookkeeperError` is the one
root: the application's errors (application/errors.py, where the whole tree is drawn)
derive from it too, so an entrypoint tells ours from a bug by one `except`.
"""

from __future__ import annotations


class BookkeeperError(Exception):
    """The root of every error of ours. `code` is stable and machine-readable; `message`
    is safe to show the caller."""

    code = "bookkeeper-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DomainError(BookkeeperError):
    """Base of every business-rule violation."""

    code = "domain-error"


class InvalidProposal(DomainError):
    """The proposed data breaks a rule of its kind (amount, VAT rate, missing field …)."""

    code = "invalid-proposal"


class InvalidCorrection(DomainError):
    """A reviewer's correction names a field that cannot be corrected or has a bad value."""

    code = "invalid-correction"


class IllegalTransition(DomainError):
    """The proposal is not in a state that allows the requested step."""

    code = "illegal-transition"

    def __init__(self, message: str, *, current: str) -> None:
        super().__init__(message)
        self.current = current


class ProposalNotPending(IllegalTransition):
    """Approve/reject on a proposal that is no longer PROPOSED."""

    code = "proposal-not-pending"


class ProposalNotApproved(IllegalTransition):
    """Execution requested for a proposal that is not APPROVED."""

    code = "proposal-not-approved"


class ProposalNotFailed(IllegalTransition):
    """A retry of a proposal whose execution has not failed for good (only FAILED is)."""

    code = "proposal-not-failed"


class NotCompensable(IllegalTransition):
    """A reversal or correction targets a proposal that was never executed."""

    code = "not-compensable"


class BankEventTaken(IllegalTransition):
    """The bank transaction a receipt names is already another proposal's (approved,
    being carried out or executed, not reversed): one bank payment is booked once (ADR
    0051 addendum)."""

    code = "bank-event-taken"


class SelfApprovalNotAllowed(DomainError):
    """Nobody decides on a proposal they made themselves."""

    code = "self-approval"


class RejectionReasonRequired(DomainError):
    """A rejection must say why, so the proposer can be asked for clarification."""

    code = "reason-required"


class UnknownEventType(DomainError):
    """An event type that this version of the domain does not know."""

    code = "unknown-event-type"


class NokAmountMissing(DomainError):
    """A foreign-currency purchase without a NOK amount (no rate from the exchange-rate
    source, no bank payment, no reviewer's nokAmount): the ledger cannot book it (ADR 0051)."""

    code = "nok-amount-missing"


class NokAmountStale(NokAmountMissing):
    """A foreign-currency purchase whose amount was corrected after its NOK amount was
    taken from the bank payment or given by a reviewer: that NOK amount was for the old
    amount, and nobody has said what the corrected one is in NOK (ADR 0051 addendum)."""

    code = "nok-amount-stale"
