"""Answers from outside, read as untrusted (OWASP API10, ADR 0026).

What every HTTP adapter of ours shares when it reads a foreign API's answer (Fiken,
Folio, the Anthropic API; the OIDC issuer has its own 64 KiB bound):

- `BoundedTransport` ends the read of a body larger than a limit (declared or streamed)
  with `AnswerTooLarge`, so an endless or huge answer costs at most the limit in memory;
- `require_json` refuses a 2xx answer whose content type is not JSON (`application/json`
  or `…+json`) before a decoder sees it;
- `decode_json` reads a member that is null as one left out (`without_nulls`), so that a
  counterpart serialising unset optional fields as null (FastAPI with models generated
  from an OpenAPI document does by default) is read as the spec means, while a null where
  a value is required stays a broken answer.

The adapters turn both into their named errors (application/errors.py:
ExternalAnswerInvalid for the books and the bank, ExtractionFailed for extraction), and
decode bodies strictly into typed structures (msgspec), so nothing of a malformed,
truncated (httpx: RemoteProtocolError), oversized, schema-violating or mislabelled answer
is ever used as data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final, TypeVar

import httpx
import msgspec

from bookkeeper.application.errors import ExternalAnswerInvalid

T = TypeVar("T")

#: The largest answer the books' and the bank's APIs give (a page of 100 purchases is
#: ~100 KiB; an attachment is sent, never read back).
MAX_ANSWER_BYTES: Final = 8 * 1024 * 1024


class AnswerTooLarge(httpx.ReadError):
    """The answer's body is larger than the transport's limit (read no further)."""

    def __init__(self, limit: int, request: httpx.Request) -> None:
        super().__init__(f"an answer larger than {limit} bytes", request=request)
        self.limit = limit


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, request: httpx.Request) -> None:
        self._inner = inner
        self._limit = limit
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                raise AnswerTooLarge(self._limit, self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class BoundedTransport(httpx.AsyncBaseTransport):
    """`inner` (by default the network), with every answer's body bounded to `limit`
    bytes as it arrives (the raw bytes: clients of ours ask for no compression)."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport | None = None, *, limit: int = MAX_ANSWER_BYTES
    ) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limit:
            await response.aclose()
            raise AnswerTooLarge(self._limit, request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_BoundedStream(stream, self._limit, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (application/json, application/problem+json …)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def require_json(response: httpx.Response, *, system: str, where: str) -> bytes:
    """The body of a JSON answer; ExternalAnswerInvalid for any other content type."""
    content_type = response.headers.get("content-type")
    if not is_json(content_type):
        shown = (content_type or "no content type")[:60]
        raise ExternalAnswerInvalid(
            f"{where} answered {shown!r}, not JSON", system=system, status=response.status_code
        )
    return response.content


def too_large(
    error: AnswerTooLarge, *, system: str, where: str, write: bool
) -> ExternalAnswerInvalid:
    """The error of an answer cut off at the limit (retryable after a write: its effect is
    unknown, the next attempt reconciles)."""
    return ExternalAnswerInvalid(
        f"{where}: an answer larger than {error.limit} bytes (not read further)",
        system=system,
        retryable=write,
    )


def without_nulls(value: Any) -> Any:
    """Decoded JSON with every object member whose value is null left out (at any depth);
    null items of arrays stay."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def decode_json(content: bytes, into: type[T]) -> T:
    """`content` decoded strictly into `into`, a null member read as absent (its default,
    or missing when required). Raises msgspec.DecodeError (ValidationError) as decoding
    does."""
    return msgspec.convert(without_nulls(msgspec.json.decode(content)), into)
