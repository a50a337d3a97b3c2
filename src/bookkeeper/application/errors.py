"""Errors raised by the application layer and by adapters, translated from foreign ones.

One root, `BookkeeperError` (domain/errors.py); adapters translate what their libraries
raise (httpx, SQLAlchemy, psycopg, PyJWT, Anthropic, hikari) into these before it leaves
them. HTTP maps them to problem details (entrypoints/http/problems.py).

    BookkeeperError
    ├── DomainError                      a business rule (422 unless said otherwise)
    │   ├── InvalidProposal, InvalidCorrection, RejectionReasonRequired, UnknownEventType
    │   ├── IllegalTransition ── ProposalNotPending, ProposalNotApproved, ProposalNotFailed,
    │   │                       NotCompensable
    │   ├── SelfApprovalNotAllowed, ApprovalRefused (domain/approval.py) …
    │   ├── InvalidJournalEntry, InvalidParty, InvalidReportPeriod (domain/ledger.py)
    │   └── InvalidDateRange (application/lookups.py)
    └── ApplicationError
        ├── NotFound                     another tenant's object is NotFound too
        ├── Forbidden
        ├── InvalidToken                 the bearer token cannot be trusted (401)
        ├── ConcurrencyConflict          a stale expected version
        ├── DuplicateEvent               the append was a retry
        ├── IdempotencyConflict          a key reused for another request
        ├── StorageUnavailable           the database is unreachable or failed transiently
        ├── ExternalError                books, bank (retryable or not)
        │   ├── ExternalUnavailable ── ExternalRateLimited, ExternalStayedDown
        │   ├── ExternalAnswerInvalid    a 2xx answer not fit to be read (ADR 0026)
        │   └── ExternalRejected ── ExternalAuthFailed, ExternalNotFound
        ├── ExtractionFailed             a document could not be read
        ├── ExecutionRefused, LeaseLost  (application/execution)
        └── ChartUnavailable, InvalidCursor (application/ledger.py)
"""

from __future__ import annotations

import uuid

from bookkeeper.domain.errors import BookkeeperError


class ApplicationError(BookkeeperError):
    """Base of the application's errors (see the tree above)."""

    code = "application-error"


class NotFound(ApplicationError):
    """The object does not exist for this tenant (another tenant's object is also NotFound)."""

    code = "not-found"


class Forbidden(ApplicationError):
    """The principal is authenticated but not allowed to do this."""

    code = "forbidden"


class InvalidToken(ApplicationError):
    """A bearer token that is malformed, forged, expired or meant for someone else.

    The message says why in words safe to show the caller; it never contains the token.
    """

    code = "invalid-token"


class ConcurrencyConflict(ApplicationError):
    """Another writer appended to the stream first; the expected version is stale."""

    code = "concurrency-conflict"

    def __init__(self, stream_id: uuid.UUID, expected_version: int) -> None:
        super().__init__(
            f"stream {stream_id} is no longer at version {expected_version}; reload and retry"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version


class DuplicateEvent(ApplicationError):
    """An event with this id is already stored: the append was a retry."""

    code = "duplicate-event"

    def __init__(self, event_id: uuid.UUID) -> None:
        super().__init__(f"event {event_id} is already stored")
        self.event_id = event_id


class IdempotencyConflict(ApplicationError):
    """The idempotency key (or event id) was used before for a different request."""

    code = "idempotency-conflict"


class StorageUnavailable(ApplicationError):
    """The database could not be reached or failed transiently."""

    code = "storage-unavailable"


class SchemaChanged(StorageUnavailable):
    """The database's schema moved while this process ran (another replica or an operator
    migrated it): its writes are refused rather than made with the old schema's
    assumptions, until it runs a version that knows the new one (ADR 0035 addendum). A
    StorageUnavailable, so what retries on an unavailable database retries on it too."""

    code = "schema-changed"


# --- external systems (Fiken, Folio, the sandbox) ----------------------------------------


class SchemaUnknown(ApplicationError):
    """The database's schema is at a revision this version does not know: a newer version
    migrated it. Nothing is changed; run that version, or restore a backup."""

    code = "schema-unknown"


class SchemaBehind(ApplicationError):
    """The database's schema is older than this version's (or was never migrated): what
    `serve` refuses on a database it does not migrate itself. `bookkeeper migrate` fixes it."""

    code = "schema-behind"


class ExternalError(ApplicationError):
    """An external system (books or bank) refused or failed a request.

    `retryable` says whether trying the same request later may succeed (timeouts, 5xx,
    429); `system` names the backend ("fiken", "folio", "sandbox-books" …). Messages never
    carry credentials."""

    code = "external-error"
    retryable = False

    def __init__(self, message: str, *, system: str, status: int | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.status = status


class ExternalUnavailable(ExternalError):
    """Timeout, connection failure or 5xx: the request may or may not have taken effect.
    `retry_after`: seconds the server said it will stay unavailable (a 503's Retry-After,
    RFC 9110), if it said."""

    code = "external-unavailable"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status)
        self.retry_after = retry_after


class ExternalStayedDown(ExternalUnavailable):
    """A transient 5xx asked again (retry_after.backing_off) that answered the same every
    time: the source stayed down through `attempts` requests."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        retry_after: float | None = None,
        attempts: int,
    ) -> None:
        super().__init__(message, system=system, status=status, retry_after=retry_after)
        self.attempts = attempts


class ExternalRateLimited(ExternalUnavailable):
    """429 even after backing off; `retry_after` seconds if the server said so."""

    code = "external-rate-limited"

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, retry_after=retry_after)


class ExternalAnswerInvalid(ExternalError):
    """A 2xx answer that cannot be trusted as data (OWASP API10): not JSON, not the
    documented shape, the wrong content type, or larger than any sound answer. Never used
    as data. Not retryable for a read (asking again returns the same bytes: a person is
    alerted); `retryable` for a write, whose effect is unknown: the next attempt looks it
    up by reference (ADR 0009)."""

    code = "external-answer-invalid"

    def __init__(
        self, message: str, *, system: str, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message, system=system, status=status)
        self.retryable = retryable


class ExternalRejected(ExternalError):
    """4xx validation error: the same request will fail again."""

    code = "external-rejected"


class ExternalAuthFailed(ExternalRejected):
    """401/403: the token is wrong, revoked or lacks access (e.g. no Fiken API module)."""

    code = "external-auth-failed"


class ExternalNotFound(ExternalRejected):
    """404: the remote object does not exist."""

    code = "external-not-found"


class ExtractionFailed(ApplicationError):
    """A document could not be read (corrupt file, model refused, malformed output …).

    `retryable` when trying later may succeed (rate limited, overloaded, timeout); never for
    a reached spend limit."""

    code = "extraction-failed"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class StorageDegraded(StorageUnavailable):
    """The database answers a ping, but the recent units of work on it failed (a statement
    timeout, poisoned sessions): not ready, though not down (ADR 0021)."""

    code = "storage-degraded"
