"""What every part of the executor shares: the policy, the outcomes, the errors that steer an
attempt, and how our objects and errors are named on the remote side and in the log."""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from typing import Final

import msgspec

from bookkeeper.application import messages as m
from bookkeeper.application.errors import ApplicationError, ExternalError
from bookkeeper.application.ports import StoredDocument
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.ledger import BANK_ACCOUNT, SUPPLIER_PAYABLES

EXECUTOR_ACTOR: Final = "system:executor"
_MAX_ERROR = 1000
_SECRETS: Final = (
    re.compile(r"(?i)(bearer\s+)[^\s,;]+"),
    re.compile(
        r"(?i)((?:access_|api[_-]?)?(?:token|key|secret|password)[\"']?\s*[=:]\s*)[^\s,;&]+"
    ),
)
_EXTENSIONS: Final = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
#: The stored types the books and the bank take as an attachment.
ATTACHABLE_TYPES: Final = frozenset(_EXTENSIONS)


def reference(proposal_id: uuid.UUID) -> str:
    """Our reference of a proposal's remote objects, findable again after a crash."""
    return f"bk-{proposal_id.hex}"


def attachment_filename(proposal_id: uuid.UUID, document: StoredDocument) -> str:
    """The name a proposal's document is attached under: our reference, so an attempt
    after a crash finds it again (ExecutionRefused for a type that cannot be attached)."""
    extension = _EXTENSIONS.get(document.content_type)
    if extension is None:
        raise ExecutionRefused(
            m.text("refusal.content_type", m.ENGLISH, type=document.content_type)
        )
    return f"{reference(proposal_id)}.{extension}"


def safe_error(error: BaseException) -> str:
    """An error as text fit for an event, an alert and a log line: the kind of error, its
    message, nothing that looks like a credential, at most _MAX_ERROR characters."""
    if isinstance(error, ExternalError):
        status = f" {error.status}" if error.status is not None else ""
        text = f"{error.system}{status}: {error.message}"
    elif isinstance(error, ApplicationError | DomainError):
        text = error.message
    else:
        text = f"{type(error).__name__}: {error}"
    for pattern in _SECRETS:
        text = pattern.sub(r"\1***", text)
    text = text.replace("\x00", "")
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


class ExecutionRefused(ApplicationError):
    """A prerequisite of the action is missing (no bank event, no stored document …):
    trying again will not help, so the proposal fails at once and a person is alerted."""

    code = "execution-refused"
    retryable = False


class LeaseLost(ApplicationError):
    """The attempt's lease is (nearly) over: another executor may take the proposal now, so
    this one makes no further remote call and records nothing."""

    code = "lease-lost"


class ExecutionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How the executor retries, how long a claim holds, and which accounts it posts to."""

    #: Attempts before FAILED for failures that are not outages (refusals that wait,
    #: unexpected errors, attempts that never recorded an outcome); since a person's last
    #: retry. Outages count too when `give_up_after` is None.
    max_attempts: int = 6
    #: How long outages (ExternalUnavailable, rate limits) are retried on the capped
    #: back-off, from the first failed attempt since the approval or the last retry
    #: (ADR 0009 addendum); None: outages count against max_attempts like any failure.
    give_up_after: dt.timedelta | None = dt.timedelta(hours=24)
    base_delay: dt.timedelta = dt.timedelta(seconds=30)
    max_delay: dt.timedelta = dt.timedelta(hours=1)
    #: How long a claimed attempt is ours; after that it counts as crashed.
    lease: dt.timedelta = dt.timedelta(minutes=5)
    #: No remote call is started this close to the end of the lease.
    lease_margin: dt.timedelta = dt.timedelta(seconds=30)
    #: How often a running attempt renews its lease (ADR 0026); None: a third of the time
    #: between the claim and the margin, so two renewals may fail before the margin.
    heartbeat: dt.timedelta | None = None
    batch_size: int = 50
    #: How many tenants are executed at once (each tenant's proposals run one by one).
    tenant_concurrency: int = 8
    #: While a pass waits for a slow tenant, it claims what fell due this often, so that
    #: other tenants' new work does not wait for the slowest one (issue 14, ADR 0035);
    #: None: a pass claims only at its start.
    refill_interval: dt.timedelta | None = dt.timedelta(seconds=1)
    #: Documents up to this size are read with the claim (one statement for the chunk), so
    #: a pass holds at most batch_size of them; a larger one is read when it is sent.
    prefetch_document_bytes: int = 1024 * 1024
    #: The books' account expenses are paid from ("1920:10001"); unset: the first active
    #: bank account of the books. Also the ledger's credit account for paid receipts.
    payment_account: str | None = None
    payables_account: str = SUPPLIER_PAYABLES

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.batch_size < 1 or self.tenant_concurrency < 1:
            raise ValueError("max_attempts, batch_size and tenant_concurrency must be >= 1")
        if self.give_up_after is not None and self.give_up_after <= dt.timedelta(0):
            raise ValueError("give_up_after must be positive (or None)")
        if self.refill_interval is not None and self.refill_interval <= dt.timedelta(0):
            raise ValueError("refill_interval must be positive (or None)")
        if self.prefetch_document_bytes < 0:
            raise ValueError("prefetch_document_bytes must be >= 0")
        if not dt.timedelta(0) <= self.lease_margin < self.lease:
            raise ValueError("lease_margin must be shorter than the lease")
        if self.heartbeat is not None and not (
            dt.timedelta(0) < self.heartbeat < self.lease - self.lease_margin
        ):
            raise ValueError("heartbeat must be positive and shorter than lease - lease_margin")

    @property
    def heartbeat_interval(self) -> dt.timedelta:
        """How often a running attempt renews its lease."""
        if self.heartbeat is not None:
            return self.heartbeat
        return (self.lease - self.lease_margin) / 3

    def backoff(self, attempt: int, retry_after: float | None = None) -> dt.timedelta:
        """The wait before the attempt after `attempt`: base × 2^(attempt-1), capped, and
        never shorter than what the server asked for (Retry-After)."""
        exponent: int = min(max(attempt, 1) - 1, 30)
        delay: dt.timedelta = min(self.base_delay * (1 << exponent), self.max_delay)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, dt.timedelta(seconds=min(retry_after, 86_400)))
        return delay

    def gives_up(self, claim_failing_since: dt.datetime | None, now: dt.datetime) -> bool:
        """Whether an outage recorded `now` would end the proposal FAILED."""
        if self.give_up_after is None or claim_failing_since is None:
            return False
        return now >= claim_failing_since + self.give_up_after

    @property
    def ledger_payment_account(self) -> str:
        """The ledger account paid receipts and expenses are credited to."""
        return self.payment_account or BANK_ACCOUNT


class Outcome(enum.StrEnum):
    EXECUTED = "executed"
    RETRY = "retry"
    FAILED = "failed"
    #: Nothing recorded: the lease ran out, or recording itself failed (the lease will
    #: expire and the next attempt reconciles).
    ABANDONED = "abandoned"


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one pass did."""

    claimed: int = 0
    executed: int = 0
    retried: int = 0
    failed: int = 0
    abandoned: int = 0
    #: Executed ones whose remote object was found by reference instead of created.
    reconciled: int = 0
    #: The claim itself failed (the database was unavailable …); nothing was executed.
    claim_error: str | None = None
