"""What every call of ours to the Anthropic Messages API shares: the client, the bounded
retry loop (tenacity; the SDK's own retries are off, so ours are bounded and their sleep
injectable) and how failures are classified (integrations.md § 6).

A reached spend limit or a billing problem is never retried; 408, 409, 429 and 5xx (529 =
overloaded) are, a bounded number of times, honouring `retry-after(-ms)`, else exponential
back-off with jitter. Messages carry status, error type, error code and request id — never
the API's free text, never the key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import anthropic
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bookkeeper.adapters import outbound
from bookkeeper.adapters.answers import is_json
from bookkeeper.adapters.outbound import AnswerTooLarge, AnswerTooSlow
from bookkeeper.adapters.retry_after import retry_after

log = logging.getLogger("bookkeeper.anthropic")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
#: The largest Messages answer read (ours ask for a few thousand tokens; ADR 0026).
MAX_ANSWER_BYTES: Final = 2 * 1024 * 1024


class AnthropicCallFailed(Exception):
    """One call failed for good (after retries, if it was worth retrying)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        #: Seconds the server asked to wait before trying again, if it said.
        self.retry_after: float | None = None


def new_client(api_key: str, base_url: str | None, timeout: float) -> anthropic.AsyncAnthropic:
    """The async SDK client with its own retries off (ours are bounded and injectable) and
    the documented headers pinned: this SDK version sends the key only as a bearer token and
    a newer anthropic-version. (The SDK's HTTP library is httpx2, not httpx: its answers
    are bounded by `with_retries`' deadline and `read_json`, outbound.py's non-httpx
    pieces.)"""
    if not api_key:
        raise ValueError("an Anthropic API key is required")
    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=timeout,
        default_headers={
            "x-api-key": api_key,
            "anthropic-version": "2023-06-01",
            # Answers are bounded as they arrive (read_json): uncompressed.
            "accept-encoding": "identity",
        },
    )


async def read_json(raw: Any, label: str) -> bytes:
    """The body of a streamed Messages answer (`with_streaming_response`), read as
    untrusted (ADR 0026): refused for good unless labelled JSON or when larger than
    MAX_ANSWER_BYTES (read no further); an answer that breaks off is a retryable
    failure."""
    content_type = raw.headers.get("content-type")
    if not is_json(content_type):
        shown = (content_type or "no content type")[:60]
        raise AnthropicCallFailed(f"{label}: answered {shown!r}, not JSON", retryable=False)
    try:
        return await outbound.read_at_most(raw.iter_bytes(), MAX_ANSWER_BYTES)
    except AnswerTooLarge as exc:
        raise _too_large(label, exc) from None
    except Exception as exc:  # the SDK's HTTP library: the answer broke off
        raise AnthropicCallFailed(
            f"{label}: the answer broke off ({type(exc).__name__})", retryable=True
        ) from None


def status_failure(label: str, exc: anthropic.APIStatusError) -> AnthropicCallFailed:
    """An error answer as a failure, retryable or not."""
    status, kind, code = exc.status_code, exc.type or "unknown", exc.error_code
    what = f"{status} {kind}" + (f"/{code}" if code else "")
    if exc.request_id:
        what += f", request {exc.request_id}"
    if (code and "spend_limit" in code) or status == 402 or kind == "billing_error":
        return AnthropicCallFailed(
            f"{label}: spend limit or billing problem ({what})", retryable=False
        )
    if status in (408, 409, 429) or status >= 500:
        reason = {429: "rate limited", 529: "overloaded"}.get(status, "temporarily failed")
        return AnthropicCallFailed(f"{label}: {reason} ({what})", retryable=True)
    reason = {401: "the API key was refused", 403: "permission denied"}.get(status, "refused")
    return AnthropicCallFailed(f"{label}: {reason} ({what})", retryable=False)


#: A Retry-After this long or longer is not honoured here (exponential back-off instead).
MAX_HONOURED_RETRY_AFTER = 3600.0


def _too_large(label: str, error: AnswerTooLarge) -> AnthropicCallFailed:
    return AnthropicCallFailed(
        f"{label}: an answer larger than {error.limit} bytes", retryable=False
    )


def _failure_of(label: str, error: Exception) -> AnthropicCallFailed:
    """The SDK's exception as our failure, with the server's Retry-After (if any)."""
    if isinstance(error, anthropic.APIStatusError):
        failure = status_failure(label, error)
        failure.retry_after = retry_after(error.response.headers)
        return failure
    if isinstance(error, anthropic.APITimeoutError):
        return AnthropicCallFailed(f"{label}: the request timed out", retryable=True)
    return AnthropicCallFailed(f"{label}: could not reach the API", retryable=True)


async def with_retries(
    send: Callable[[], Awaitable[T]],
    *,
    label: str,
    max_retries: int,
    backoff_base: float,
    max_delay: float,
    sleep: Sleep,
    jitter: Callable[[], float],
    deadline: float,
) -> T:
    """`send()`, retried (tenacity) while the failure is retryable and retries remain:
    after what the server asked (`retry-after(-ms)`), else exponential back-off with
    jitter, never longer than `max_delay`. Each attempt, the answer's last byte included,
    ends within `deadline` seconds (outbound.within; the SDK's timeout bounds each network
    wait): one not whole by then is a retryable failure."""

    async def attempt() -> T:
        try:
            async with outbound.within(deadline):
                return await send()
        except AnswerTooSlow:
            raise AnthropicCallFailed(
                f"{label}: not answered within {deadline:g} s", retryable=True
            ) from None
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as error:
            # APITimeoutError is an APIConnectionError.
            raise _failure_of(label, error) from None

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        asked = getattr(failure, "retry_after", None)
        if asked is not None and asked < MAX_HONOURED_RETRY_AFTER:
            delay: float = asked
        else:
            delay = backoff_base * 2 ** (state.attempt_number - 1) * (0.5 + jitter() / 2)
        return min(delay, max_delay)

    def before_sleep(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s; retry %d in %.1fs", failure, state.attempt_number, pause)

    retrying = AsyncRetrying(
        retry=retry_if_exception(lambda e: isinstance(e, AnthropicCallFailed) and e.retryable),
        stop=stop_after_attempt(max_retries + 1),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return await retrying(attempt)
    except AnthropicCallFailed as failure:
        if not failure.retryable:
            raise
        attempts = retrying.statistics.get("attempt_number", 1)
        raise AnthropicCallFailed(
            f"{failure.message} (gave up after {attempts} attempts)", retryable=True
        ) from None
