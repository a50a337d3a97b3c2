"""What every call of ours to the Anthropic Messages API shares: the client, the bounded
retry loop and how failures are classified (integrations.md § 6).

A reached spend limit or a billing problem is never retried; 408, 409, 429 and 5xx (529 =
overloaded) are, a bounded number of times, honouring `retry-after(-ms)`, else exponential
back-off with jitter. Messages carry status, error type, error code and request id — never
the API's free text, never the key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

import anthropic

from bookkeeper.adapters.answers import is_json

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


def new_client(api_key: str, base_url: str | None, timeout: float) -> anthropic.AsyncAnthropic:
    """The async SDK client with its own retries off (ours are bounded and injectable) and
    the documented headers pinned: this SDK version sends the key only as a bearer token and
    a newer anthropic-version."""
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


async def read_json(raw: Any, label: str, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The body of a streamed Messages answer (`with_streaming_response`), read as
    untrusted (ADR 0026): refused for good unless labelled JSON or when larger than
    `limit` (read no further); an answer that breaks off is a retryable failure."""
    content_type = raw.headers.get("content-type")
    if not is_json(content_type):
        shown = (content_type or "no content type")[:60]
        raise AnthropicCallFailed(f"{label}: answered {shown!r}, not JSON", retryable=False)
    body = bytearray()
    try:
        async for chunk in raw.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise AnthropicCallFailed(
                    f"{label}: an answer larger than {limit} bytes", retryable=False
                )
    except AnthropicCallFailed:
        raise
    except Exception as exc:  # the SDK's HTTP library: the answer broke off
        raise AnthropicCallFailed(
            f"{label}: the answer broke off ({type(exc).__name__})", retryable=True
        ) from None
    return bytes(body)


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


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds the server asked to wait (`retry-after-ms` or `retry-after`), else -1."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) / scale
        except ValueError:
            continue
        if 0 <= seconds < 3600:
            return seconds
    return -1


async def with_retries(
    send: Callable[[], Awaitable[T]],
    *,
    label: str,
    max_retries: int,
    backoff_base: float,
    max_delay: float,
    sleep: Sleep,
    jitter: Callable[[], float],
) -> T:
    """`send()`, retried while the failure is retryable and retries remain."""
    attempt = 0
    while True:
        try:
            return await send()
        except anthropic.APIStatusError as exc:
            failure = status_failure(label, exc)
            delay = retry_after(exc.response.headers)
        except anthropic.APITimeoutError:
            failure = AnthropicCallFailed(f"{label}: the request timed out", retryable=True)
            delay = -1
        except anthropic.APIConnectionError:
            failure = AnthropicCallFailed(f"{label}: could not reach the API", retryable=True)
            delay = -1
        if not failure.retryable or attempt >= max_retries:
            if failure.retryable:
                failure = AnthropicCallFailed(
                    f"{failure.message} (gave up after {attempt + 1} attempts)", retryable=True
                )
            raise failure from None
        if delay < 0:
            delay = backoff_base * 2**attempt * (0.5 + jitter() / 2)
        delay = min(delay, max_delay)
        attempt += 1
        log.warning("%s; retry %d in %.1fs", failure.message, attempt, delay)
        await sleep(delay)
