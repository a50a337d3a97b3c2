"""The HTTP side of the Folio adapter: bearer auth, retries, and Folio's failures as ours.

    httpx / status                          raised (application.errors)
    connect error, pool or connect timeout  ExternalUnavailable (the request never left)
    read/write timeout, other transport     ExternalUnavailable (it may have taken effect)
    no whole answer within `deadline`       ExternalUnavailable (it may have taken effect)
    5xx (but 501)                           ExternalUnavailable
    429 after backing off                   ExternalRateLimited (retry_after if given)
    401, 403                                ExternalAuthFailed
    404                                     ExternalNotFound
    400, 422, 501, other 4xx                ExternalRejected (body cut to 500 characters)
    2xx with a body that breaks the spec    ExternalAnswerInvalid (wire.contract_broken)

Which failures are retried here, before the caller sees them:
- 429 on any request, up to `rate_limit_attempts`, waiting what Retry-After says (or a
  growing pause): the server refused the request, so repeating it cannot double anything.
  A Retry-After beyond `max_retry_after` is not waited out here: the caller gets
  ExternalRateLimited with it at once and can schedule the retry itself.
- ExternalUnavailable on idempotent requests (GETs, complete/uncomplete), up to `attempts`.
- Non-idempotent requests (the attachment upload) only when the request never left (the
  connection could not be made). After a timeout or a 5xx the upload may have been stored,
  so it is not repeated: the executor reconciles with `find_attachment` first.

The token is only ever in the Authorization header; no message or log line carries it
(messages are scrubbed of it anyway, in case a server echoes it back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeVar

import httpx
import msgspec
from tenacity import AsyncRetrying, RetryCallState

from bookkeeper.adapters import outbound
from bookkeeper.adapters.answers import decode_json, is_json, too_large
from bookkeeper.adapters.folio.wire import SYSTEM, contract_broken
from bookkeeper.adapters.metrics import metered
from bookkeeper.adapters.outbound import AnswerTooLarge, AnswerTooSlow
from bookkeeper.adapters.retry_after import retry_after as read_retry_after
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalError,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)

DEFAULT_BASE_URL: Final = "https://api.folio.no/v2"
BODY_EXCERPT: Final = 500
#: An attempt's deadline as a whole, in timeouts: httpx's timeout bounds each network wait,
#: so an answer trickled a byte at a time would otherwise never time out.
DEADLINE_TIMEOUTS: Final = outbound.DEADLINE_TIMEOUTS

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

_log = logging.getLogger("bookkeeper.adapters.folio")


class _NotSent(ExternalUnavailable):
    """The connection could not be made: the server never saw the request, so even a
    non-idempotent request may be repeated. Callers see an ordinary ExternalUnavailable."""


class FolioClient:
    """One httpx client for one Folio API key; closed with `aclose()`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 3,
        rate_limit_attempts: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Folio API key is required")
        self._token = token
        self._timeout = timeout
        #: An attempt's whole exchange, the answer's body included, ends within this
        #: (`timeout` bounds each network wait: a trickled answer never trips it), and
        #: reads at most outbound.MAX_ANSWER_BYTES (outbound.GuardedTransport).
        self._deadline = outbound.deadline_for(timeout, deadline)
        self._sleep = sleep
        self._attempts = max(1, attempts)
        self._rate_limit_attempts = max(1, rate_limit_attempts)
        self._backoff = backoff
        self._max_retry_after = max_retry_after
        self._http = outbound.client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout),
            deadline=self._deadline,
            transport=metered(SYSTEM, transport),
        )

    def __repr__(self) -> str:
        return f"FolioClient({str(self._http.base_url)!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- requests -------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, str] | None, into: type[T]) -> T:
        """GET a JSON body decoded into `into` (retried: GETs are idempotent)."""
        response = await self.request("GET", path, params=params, idempotent=True)
        return self.decode(response, into, f"GET {path}")

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one logical request, retried as the module docstring says; a 2xx response."""
        retrying = AsyncRetrying(
            sleep=self._sleep,
            retry=lambda state: self._should_retry(state, idempotent),
            stop=self._should_stop,
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, path, params, content, headers)
        raise AssertionError("unreachable: tenacity either returns or reraises")

    def decode(self, response: httpx.Response, into: type[T], what: str) -> T:
        """The body as `into`; a broken contract (not JSON, wrong shape, another content
        type) as ExternalAnswerInvalid, never data."""
        if not is_json(response.headers.get("content-type")):
            shown = (response.headers.get("content-type") or "no content type")[:60]
            raise contract_broken(
                f"{what}: answered {shown!r}, not JSON", status=response.status_code
            )
        try:
            return decode_json(response.content, into)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise contract_broken(
                f"{what}: {self._scrub(str(exc))}", status=response.status_code
            ) from exc

    # --- one attempt ----------------------------------------------------------------

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        what = f"{method} {path}"
        try:
            response = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except AnswerTooSlow:
            raise ExternalUnavailable(
                f"Folio {what}: not answered within {self._deadline:g} s", system=SYSTEM
            ) from None
        except AnswerTooLarge as exc:
            write = method not in ("GET", "HEAD")
            raise too_large(exc, system=SYSTEM, where=f"Folio {what}", write=write) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _NotSent(
                f"Folio {what}: could not connect ({type(exc).__name__})", system=SYSTEM
            ) from exc
        except httpx.TimeoutException as exc:
            raise ExternalUnavailable(
                f"Folio {what}: no answer within {self._timeout:g} s ({type(exc).__name__})",
                system=SYSTEM,
            ) from exc
        except httpx.TransportError as exc:
            raise ExternalUnavailable(
                f"Folio {what}: transport error ({type(exc).__name__})", system=SYSTEM
            ) from exc
        if response.is_success:
            return response
        raise self._status_error(what, response)

    def _status_error(self, what: str, response: httpx.Response) -> ExternalError:
        status = response.status_code
        message = f"Folio {what} answered {status}"
        excerpt = self._scrub(response.text[:BODY_EXCERPT].strip())
        if excerpt:
            message = f"{message}: {excerpt}"
        if status == 429:
            retry_after = read_retry_after(response.headers)
            return ExternalRateLimited(message, system=SYSTEM, retry_after=retry_after)
        if status in (401, 403):
            return ExternalAuthFailed(message, system=SYSTEM, status=status)
        if status == 404:
            return ExternalNotFound(message, system=SYSTEM, status=status)
        if status >= 500 and status != 501:  # 501: "not implemented", and it will stay so
            return ExternalUnavailable(
                message,
                system=SYSTEM,
                status=status,
                retry_after=read_retry_after(response.headers),
            )
        if 400 <= status < 600:
            return ExternalRejected(message, system=SYSTEM, status=status)
        return ExternalError(f"{message} (unexpected)", system=SYSTEM, status=status)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[token]")

    # --- retry policy (tenacity callbacks) --------------------------------------------

    @staticmethod
    def _should_retry(state: RetryCallState, idempotent: bool) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ExternalRateLimited | _NotSent):
            return True
        return idempotent and isinstance(error, ExternalUnavailable)

    def _should_stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ExternalRateLimited):
            too_long = error.retry_after is not None and error.retry_after > self._max_retry_after
            return too_long or state.attempt_number >= self._rate_limit_attempts
        return state.attempt_number >= self._attempts

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ExternalRateLimited) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff * 2 ** (state.attempt_number - 1))

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        _log.warning("%s; retrying in %.2f s (attempt %d)", error, pause, state.attempt_number)
