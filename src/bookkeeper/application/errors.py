"""Errors raised by the application layer and by adapters, translated from foreign ones."""

from __future__ import annotations

import uuid


class ApplicationError(Exception):
    code = "application-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ApplicationError):
    """The object does not exist for this tenant (another tenant's object is also NotFound)."""

    code = "not-found"


class Forbidden(ApplicationError):
    """The principal is authenticated but not allowed to do this."""

    code = "forbidden"


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


# --- external systems (Fiken, Folio, the sandbox) ----------------------------------------


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
    """Timeout, connection failure or 5xx: the request may or may not have taken effect."""

    code = "external-unavailable"
    retryable = True


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
        super().__init__(message, system=system, status=status)
        self.retry_after = retry_after


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
