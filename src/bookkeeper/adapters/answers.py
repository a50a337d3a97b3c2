"""Answers from outside, read as untrusted (OWASP API10, ADR 0026).

What every HTTP adapter of ours shares when it reads a foreign API's answer (Fiken,
Folio, the Anthropic API, the usage sources, Norges Bank; the OIDC issuer's bound is
64 KiB):

- the transport of every outbound client (outbound.py) ends the read of a body larger
  than a limit (declared or streamed) with `AnswerTooLarge`, and of an answer not whole
  within a deadline with `AnswerTooSlow`;
- `require_json` refuses a 2xx answer whose content type is not JSON (`application/json`
  or `…+json`) before a decoder sees it;
- `decode_json` reads a member that is null as one left out (`without_nulls`), so that a
  counterpart serialising unset optional fields as null (FastAPI with models generated
  from an OpenAPI document does by default) is read as the spec means, while a null where
  a value is required stays a broken answer;
- `utc_day` reads a provider's bucket or charge period start as its UTC day: an instant
  with an offset is converted, one without (a plain date, or a time with no offset) is
  UTC, never the process's local time.

The adapters turn both into their named errors (application/errors.py:
ExternalAnswerInvalid for the books and the bank, ExtractionFailed for extraction), and
decode bodies strictly into typed structures (msgspec), so nothing of a malformed,
truncated (httpx: RemoteProtocolError), oversized, schema-violating or mislabelled answer
is ever used as data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import msgspec

from bookkeeper.adapters.outbound import AnswerTooLarge, AnswerTooSlow
from bookkeeper.application.errors import ExternalAnswerInvalid, ExternalUnavailable

T = TypeVar("T")


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


@contextlib.contextmanager
def reading_errors(*, system: str, where: str, deadline: float) -> Iterator[None]:
    """A read-only exchange's network failures as ours: not whole within the deadline, a
    timeout or a transport error is ExternalUnavailable (retryable), an answer cut off at
    the limit ExternalAnswerInvalid (`too_large`). The status is the caller's to judge."""
    try:
        yield
    except AnswerTooSlow:
        raise ExternalUnavailable(
            f"{where}: not answered within {deadline:g} s", system=system
        ) from None
    except AnswerTooLarge as error:
        raise too_large(error, system=system, where=where, write=False) from None
    except httpx.TimeoutException as error:
        raise ExternalUnavailable(f"{where}: timed out", system=system) from error
    except httpx.TransportError as error:
        raise ExternalUnavailable(f"{where}: {type(error).__name__}", system=system) from error


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


def utc_day(raw: str) -> dt.date:
    """The UTC day of an ISO 8601 date or instant ("2026-11-01", "2026-11-01T00:00:00Z",
    "…+01:00"); a value without an offset is UTC (ValueError if it is neither)."""
    moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(dt.UTC).date()
