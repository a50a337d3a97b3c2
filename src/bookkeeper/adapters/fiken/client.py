"""HTTP client for Fiken API v2: auth, limits, retries, paging and error translation.

Errors (application.errors), by what Fiken or the network did:

    ExternalError                 a 2xx answer we cannot read
    ├── ExternalUnavailable       timeout, connection failure, 5xx, a 201 without Location
    │   └── ExternalRateLimited   429 still after backing off (`retry_after` if Fiken said)
    └── ExternalRejected          400, 422 and other 4xx: the body text, cut to 500 characters
        ├── ExternalAuthFailed    401, 403
        └── ExternalNotFound      404

`timeout` bounds each wait on the network (connecting, each read); an attempt as a whole,
the answer's last byte included, has `deadline` (three timeouts unless told): a server
that trickles its answer a byte at a time would otherwise hold the token, and the tenant's
executor worker, for as long as it pleased.

Only reads are retried on timeouts and 5xx (twice, from 0.5 s, doubling): Fiken has no
idempotency, so a POST that timed out may have committed; the executor looks it up by our
reference instead of sending it again. Every request is retried on 429, since Fiken refused
it without doing it. The token goes into the Authorization header and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from typing import Any, Final, TypeVar, cast

import httpx
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from bookkeeper.adapters import outbound
from bookkeeper.adapters.answers import decode_json, require_json, too_large
from bookkeeper.adapters.fiken.ratelimit import (
    FikenGate,
    GatePaused,
    Monotonic,
    RequestGate,
    Sleep,
    SlidingWindow,
)
from bookkeeper.adapters.metrics import metered
from bookkeeper.adapters.outbound import AnswerTooLarge, AnswerTooSlow
from bookkeeper.adapters.retry_after import retry_after as read_retry_after
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalAuthFailed,
    ExternalError,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.ports import waiting_turn

SYSTEM: Final = "fiken"
DEFAULT_BASE_URL: Final = "https://api.fiken.no/api/v2"
#: Fiken's largest page; both page and pageSize must be sent for paging to apply.
PAGE_SIZE: Final = 100
#: A guard against a server that keeps announcing more pages (100 000 objects).
MAX_PAGES: Final = 1000
#: How often a list that changes while it is paged is read again from an earlier page
#: before the read gives up (FikenClient.pages).
MAX_STEPS_BACK: Final = 10
MAX_BODY_IN_MESSAGE: Final = 500
#: An attempt's deadline as a whole, in timeouts (the timeout bounds each network wait).
DEADLINE_TIMEOUTS: Final = outbound.DEADLINE_TIMEOUTS
#: Idempotent methods, retried on timeouts and 5xx.
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})

T = TypeVar("T")
#: Types read as they are (each record decoded on its own later).
_RAW_TYPES: Final[tuple[object, ...]] = (msgspec.Raw, list[msgspec.Raw])
QueryParams = Mapping[str, str | int | bool]
_log = logging.getLogger(__name__)


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How hard to try: attempts per request and the exponential back-off between them."""

    #: Attempts of a request answered 429 (the first one included).
    rate_limited_attempts: int = 4
    #: Attempts of a read that timed out or got a 5xx (the first one included).
    read_attempts: int = 3
    first_backoff: float = 0.5
    max_backoff: float = 8.0
    #: A Retry-After longer than this is not slept through here: the request fails with
    #: ExternalRateLimited(retry_after) and the caller schedules it later.
    max_retry_after: float = 30.0


class FikenClient:
    """One Fiken API token: an httpx client behind a RequestGate (one request at a time,
    at most 4 in any second), with retries and errors translated to ours.

    Create one per token and process and share it; close it with `aclose()`. `gate` keeps
    the limits (by default a RequestGate of this client's own; a PostgresGate keeps them
    across replicas, ADR 0035). `transport`, `clock`, `sleep`, `window` and `retry` are
    seams for tests."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        window: SlidingWindow | None = None,
        retry: RetryPolicy | None = None,
        gate: FikenGate | None = None,
        deadline: float | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Fiken API token is required")
        #: An attempt's whole exchange, the answer's body included, ends within this
        #: (outbound.GuardedTransport), and reads at most outbound.MAX_ANSWER_BYTES.
        self._deadline = outbound.deadline_for(timeout, deadline)
        self._http = outbound.client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            deadline=self._deadline,
            transport=metered(SYSTEM, transport),
        )
        self._token = token
        self._gate: FikenGate = gate or RequestGate(window, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._retry = retry or RetryPolicy()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- requests -----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        body: bytes | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        """One logical request (2xx answer) with the token held throughout, retries included.

        `body` is JSON already encoded; `data` and `files` make a multipart form."""
        method = method.upper()
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda error: self._retryable(method, error)),
            stop=self._stop,
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        gate = self._gate
        # The token's turn is waited for outside the caller's executor slot (turn_wait).
        async with waiting_turn(gate.exclusive()):
            try:
                async for attempt in retrying:
                    with attempt:
                        try:
                            async with gate.attempt(self._retry.max_retry_after):
                                return await self._send(
                                    method, path, params=params, body=body, data=data, files=files
                                )
                        except GatePaused as paused:
                            raise ExternalRateLimited(
                                f"{SYSTEM} {method} {path} not sent: the token is paused "
                                "after a 429",
                                system=SYSTEM,
                                status=None,
                                retry_after=paused.seconds,
                            ) from None
            except ExternalRateLimited as error:
                # Given up on a 429 with Retry-After: every later holder of the token, in
                # every process, waits for it too (while retrying here, the token is held).
                if error.status == 429 and error.retry_after is not None:
                    gate.pause(error.retry_after)
                raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def get_json(self, path: str, decoder: msgspec.json.Decoder[T], **params: Any) -> T:
        """GET one object."""
        response = await self.request("GET", path, params=params or None)
        return decode(decoder, response, path)

    async def get_all(
        self,
        path: str,
        decoder: msgspec.json.Decoder[list[T]],
        params: QueryParams | None = None,
    ) -> list[T]:
        """GET every page of a list (`page` from 0, `pageSize` 100), as `pages` reads them."""
        items: list[T] = []
        async for batch, _ in self.pages(path, decoder, params):
            items.extend(batch)
        return items

    async def pages(
        self,
        path: str,
        decoder: msgspec.json.Decoder[list[T]],
        params: QueryParams | None = None,
        *,
        page_size: int = PAGE_SIZE,
        key: Callable[[T], Hashable | None] | None = None,
    ) -> AsyncIterator[tuple[list[T], int | None]]:
        """Every page of a list, one at a time, each with Fiken-Api-Result-Count (the total,
        when Fiken says it), so a long list is handled as it arrives. Each page is its own
        request through the gate: one at a time, at most four a second.

        The last page is the one the Fiken-Api-Page-Count header says; without the header
        (the spec does not require it), a short one (shorter than Fiken-Api-Page-Size when
        the server pages at a smaller size than asked). Either way, while fewer records
        were read than Fiken-Api-Result-Count says there are, the next page is asked for
        (an empty one ends the list). A counterpart that does not page
        ends it too: more records than a page holds are the whole list, and a page
        answered with the previous one's very bytes means `page` was not heard (reading
        on would only repeat it).

        With `key` (a record's identity; None: none to tell it by), a list that changes
        while it is paged is still read whole, each record once: a record created or
        deleted in Fiken between two page requests moves the later ones across the page
        boundary (one is then read twice, or skipped). Every record whose key was yielded
        before is left out, and when Fiken-Api-Result-Count differs from the previous
        page's the list changed in between: the pages before are read again (one, or as
        many as the count fell by) before going on, at most MAX_STEPS_BACK times a list."""
        previous: bytes | None = None
        seen: set[Hashable] = set()
        #: What each page held when last read (a page read again replaces it).
        held: dict[int, int] = {}
        last_total: int | None = None
        steps_back = 0
        page = 0
        while page < MAX_PAGES:
            query: dict[str, str | int | bool] = dict(params or {})
            query.update(page=page, pageSize=page_size)
            response = await self.request("GET", path, params=query)
            if previous is not None and response.content == previous:
                _log.warning(
                    "%s %s answered page %d as page %d: not paged", SYSTEM, path, page, page - 1
                )
                return
            batch = decode(decoder, response, path)
            total = _int_header(response, "Fiken-Api-Result-Count")
            # A server paging at a smaller size of its own says it in Fiken-Api-Page-Size:
            # a full page of that size is no short one.
            size = _int_header(response, "Fiken-Api-Page-Size")
            full = size if size is not None and 0 < size < page_size else page_size
            if key is not None:
                fresh = []
                for record in batch:
                    identity = key(record)
                    if identity is None:
                        fresh.append(record)
                    elif identity not in seen:
                        seen.add(identity)
                        fresh.append(record)
                yield fresh, total
                if (
                    last_total is not None
                    and total is not None
                    and total != last_total
                    and page > 0
                ):
                    # Records came or went since the previous page: those after them moved
                    # across the boundary. The pages before are read again as they are now.
                    steps_back += 1
                    if steps_back > MAX_STEPS_BACK:
                        raise ExternalError(
                            f"{SYSTEM}: {path} kept changing while it was read "
                            f"({steps_back - 1} times); run again",
                            system=SYSTEM,
                        )
                    back = max(1, -(-(last_total - total) // full))
                    _log.info(
                        "%s %s changed while paged (%d records, then %d): page %d read again",
                        SYSTEM,
                        path,
                        last_total,
                        total,
                        max(0, page - back),
                    )
                    held[page] = len(batch)
                    last_total = total
                    page = max(0, page - back)
                    previous = None
                    continue
            else:
                yield batch, total
            last_total = total
            held[page] = len(batch)
            read = sum(held.get(index, 0) for index in range(page + 1))
            count = _int_header(response, "Fiken-Api-Page-Count")
            if len(batch) > page_size or not batch:
                return
            # Fewer records read than Fiken counts: a server paging at a smaller size of
            # its own (whatever its page count says, reckoned by the size asked for) has
            # more to give; an empty page ends it all the same (records gone meanwhile).
            short = total is not None and read < total
            if not short and (
                (page + 1 >= count) if count is not None else total is not None or len(batch) < full
            ):
                return
            previous = response.content
            page += 1
        raise ExternalError(f"{SYSTEM}: {path} has more than {MAX_PAGES} pages", system=SYSTEM)

    async def create(self, path: str, body: bytes) -> str:
        """POST a JSON body; the new object's id, the last segment of the Location header."""
        response = await self.request("POST", path, body=body)
        return location_id(response, path)

    async def create_at(self, path: str, body: bytes) -> list[str]:
        """POST a JSON body; the path segments of the Location header (absolute or
        relative), for a caller that must see which resource it names."""
        response = await self.request("POST", path, body=body)
        location_id(response, path)  # a Location with an id, or ExternalUnavailable
        return location_segments(response)

    # --- one attempt --------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None,
        body: bytes | None,
        data: Mapping[str, str] | None,
        files: Mapping[str, tuple[str, bytes, str]] | None,
    ) -> httpx.Response:
        request_id = str(uuid.uuid4())
        headers = {"X-Request-ID": request_id}
        if body is not None:
            headers["Content-Type"] = "application/json"
        where = f"{SYSTEM} {method} {path}"
        try:
            response = await self._http.request(
                method,
                path,
                params=_query(params),
                content=body,
                data=data,
                files=files,
                headers=headers,
            )
        except AnswerTooSlow:
            _log.warning(
                "%s not answered within %g s (request %s)", where, self._deadline, request_id
            )
            raise ExternalUnavailable(
                f"{where} not answered within {self._deadline:g} s", system=SYSTEM
            ) from None
        except AnswerTooLarge as error:
            _log.warning("%s answered too much (request %s)", where, request_id)
            write = method not in SAFE_METHODS
            raise too_large(error, system=SYSTEM, where=where, write=write) from None
        except httpx.TimeoutException as error:
            _log.warning("%s timed out (request %s)", where, request_id)
            raise ExternalUnavailable(
                f"{where} timed out ({type(error).__name__})", system=SYSTEM
            ) from None
        except httpx.TransportError as error:
            _log.warning("%s failed: %s (request %s)", where, type(error).__name__, request_id)
            raise ExternalUnavailable(
                f"{where} failed: {type(error).__name__}", system=SYSTEM
            ) from None
        if response.is_success:
            return response
        _log.warning("%s answered %s (request %s)", where, response.status_code, request_id)
        raise error_for(response, where, secret=self._token)

    # --- retry policy -------------------------------------------------------------------

    def _retryable(self, method: str, error: BaseException) -> bool:
        if isinstance(error, ExternalRateLimited):
            return True
        return isinstance(error, ExternalUnavailable) and method in SAFE_METHODS

    def _stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        # A Retry-After (a 429's, or a 5xx's: how long Fiken expects to be down) longer
        # than we wait here goes to the caller, which schedules the next attempt.
        if (
            isinstance(error, ExternalUnavailable)
            and error.retry_after is not None
            and error.retry_after > self._retry.max_retry_after
        ):
            return True
        if isinstance(error, ExternalRateLimited):
            return state.attempt_number >= self._retry.rate_limited_attempts
        return state.attempt_number >= self._retry.read_attempts

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ExternalUnavailable) and error.retry_after is not None:
            return error.retry_after
        backoff: float = self._retry.first_backoff * 2.0 ** (state.attempt_number - 1)
        return min(backoff, self._retry.max_backoff)


# --- translation helpers ----------------------------------------------------------------


def error_for(response: httpx.Response, where: str, *, secret: str = "") -> ExternalError:
    """Our error for a non-2xx answer; the body goes into the message, with `secret` (the
    token, should a server ever echo it) blanked out."""
    status = response.status_code
    if status == 429:
        retry_after = read_retry_after(response.headers)
        return ExternalRateLimited(
            f"{where} was rate limited (429)", system=SYSTEM, retry_after=retry_after
        )
    if status >= 500:
        # A 503 may say how long the outage lasts (RFC 9110): the executor waits as long.
        return ExternalUnavailable(
            f"{where} answered {status}",
            system=SYSTEM,
            status=status,
            retry_after=read_retry_after(response.headers),
        )
    text = _body_text(response, secret)
    message = f"{where} answered {status}: {text}" if text else f"{where} answered {status}"
    if status in (401, 403):
        return ExternalAuthFailed(message, system=SYSTEM, status=status)
    if status == 404:
        return ExternalNotFound(message, system=SYSTEM, status=status)
    return ExternalRejected(message, system=SYSTEM, status=status)


def location_id(response: httpx.Response, path: str) -> str:
    """The id in a 201's Location header (Fiken: the full URL of the new object).

    Without one we cannot tell what was created, though something was: ExternalUnavailable,
    so the caller reconciles by reference."""
    segments = location_segments(response)
    segment = segments[-1] if segments else ""
    if not segment:
        raise ExternalUnavailable(
            f"{SYSTEM} POST {path} answered {response.status_code} without a Location",
            system=SYSTEM,
            status=response.status_code,
        )
    return segment


def location_segments(response: httpx.Response) -> list[str]:
    """The non-empty path segments of the answer's Location header (none without one)."""
    location = response.headers.get("Location", "").strip()
    if not location:
        return []
    return [segment for segment in httpx.URL(location).path.split("/") if segment]


def decode(decoder: msgspec.json.Decoder[T], response: httpx.Response, path: str) -> T:
    """A JSON answer decoded strictly into its documented type, a null member read as
    absent (answers.decode_json); anything else (another content type, not JSON, not the
    shape) is ExternalAnswerInvalid, never data. Raw records are left for `record`."""
    content = require_json(response, system=SYSTEM, where=f"{SYSTEM} {path}")
    return record(decoder, content, path)


def record(decoder: msgspec.json.Decoder[T], content: bytes, path: str) -> T:
    """`content` (a whole answer or one raw record of a list) as `decoder`'s type, a null
    member read as absent; ExternalAnswerInvalid if it is not that."""
    try:
        if decoder.type in _RAW_TYPES:
            return decoder.decode(content)
        return decode_json(content, cast("type[T]", decoder.type))
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        raise ExternalAnswerInvalid(
            f"{SYSTEM} {path}: unexpected answer ({str(error)[:200]})", system=SYSTEM
        ) from None


def _body_text(response: httpx.Response, secret: str) -> str:
    text = response.text.strip()
    if secret:
        text = text.replace(secret, "[token]")
    if len(text) > MAX_BODY_IN_MESSAGE:
        text = text[: MAX_BODY_IN_MESSAGE - 1] + "…"
    return text


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _query(params: QueryParams | None) -> list[tuple[str, str | int | float | bool | None]]:
    """Query parameters as Fiken spells them (booleans lower case)."""
    if not params:
        return []
    return [
        (key, ("true" if value else "false") if isinstance(value, bool) else str(value))
        for key, value in params.items()
    ]
