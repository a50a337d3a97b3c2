"""Every outbound HTTP call of ours, bounded in time and in size (OWASP API10, ADR 0026).

httpx's timeouts bound each wait on the network (connecting, each read), never an answer
as a whole: a server that sends its headers at once and then its body a byte every few
seconds holds the call — and whatever the caller holds meanwhile (Fiken's one-at-a-time
token, a tenant's executor worker, the OIDC key refresh lock) — for as long as it pleases.
And `response.content` reads an endless body until memory runs out.

`GuardedTransport` wraps the network (or any inner transport) so that every exchange
through it has

- `deadline`: the whole exchange, from sending the request to the answer's last byte,
  ends within this many seconds, or `AnswerTooSlow` (an httpx.ReadTimeout: adapters that
  read httpx's timeouts as "unavailable" read this one alike);
- `limit`: an answer's body larger than this many bytes — declared in Content-Length, or
  counted as it arrives — is read no further: `AnswerTooLarge` (an httpx.ReadError), so
  an endless or huge answer costs at most the limit in memory. The raw bytes are counted:
  `client()` asks for no compression (a compressed answer would be counted before it is
  inflated).

`GuardedSyncTransport` is the same for a synchronous client (google-auth's token refresh,
run in a thread): a blocking read cannot be interrupted, so there the deadline is checked
at each piece of the answer, and ends the exchange at most one read timeout late.

For a client that is not httpx's (the Anthropic SDK's is httpx2), `within(deadline)`
and `read_at_most(chunks, limit)` are the same two bounds around one exchange.

`client()` is the httpx.AsyncClient every adapter makes: its connect/read timeouts, the
guarded transport, no redirects followed, no compression asked for. `deadline_for(timeout)`
is the deadline an adapter gets unless told (three timeouts, as Fiken and Folio had).
Each adapter translates AnswerTooSlow and AnswerTooLarge into its own errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any, Final

import httpx

#: The largest answer read unless an adapter says otherwise (the books' and the bank's
#: APIs: a page of 100 purchases is ~100 KiB; an attachment is sent, never read back).
MAX_ANSWER_BYTES: Final = 8 * 1024 * 1024
#: An exchange's deadline as a whole, in timeouts (the timeout bounds each network wait).
DEADLINE_TIMEOUTS: Final = 3
#: Headers of every guarded client: the body is counted as it arrives, so uncompressed.
IDENTITY: Final = {"Accept-Encoding": "identity"}


def deadline_for(timeout: float, deadline: float | None = None) -> float:
    """`deadline` if given, else DEADLINE_TIMEOUTS timeouts."""
    return deadline if deadline is not None else DEADLINE_TIMEOUTS * timeout


class AnswerTooLarge(httpx.ReadError):
    """The answer's body is larger than the transport's limit (read no further)."""

    def __init__(self, limit: int, request: httpx.Request | None = None) -> None:
        super().__init__(f"an answer larger than {limit} bytes", request=request)
        self.limit = limit


class AnswerTooSlow(httpx.ReadTimeout):
    """The exchange, the answer's body included, did not end within the deadline."""

    def __init__(self, deadline: float, request: httpx.Request | None = None) -> None:
        super().__init__(f"no whole answer within {deadline:g} s", request=request)
        self.deadline = deadline


class _GuardedStream(httpx.AsyncByteStream):
    def __init__(
        self,
        inner: httpx.AsyncByteStream,
        request: httpx.Request,
        *,
        limit: int,
        deadline: float,
        expires: float,
    ) -> None:
        self._inner = inner
        self._request = request
        self._limit = limit
        self._deadline = deadline
        self._expires = expires

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pieces = self._inner.__aiter__()
        size = 0
        while True:
            try:
                async with asyncio.timeout_at(self._expires):
                    chunk = await anext(pieces)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise AnswerTooSlow(self._deadline, self._request) from None
            size += len(chunk)
            if size > self._limit:
                raise AnswerTooLarge(self._limit, self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """`inner` (by default the network), with every exchange ended at `deadline` seconds
    and every answer's body bounded to `limit` bytes (the module docstring)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        deadline: float,
        limit: int = MAX_ANSWER_BYTES,
    ) -> None:
        if deadline <= 0 or limit < 1:
            raise ValueError("a deadline and a limit must be positive")
        self._inner = inner or httpx.AsyncHTTPTransport()
        self.deadline = deadline
        self.limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        expires = asyncio.get_running_loop().time() + self.deadline
        try:
            async with asyncio.timeout_at(expires):
                response = await self._inner.handle_async_request(request)
        except TimeoutError:
            raise AnswerTooSlow(self.deadline, request) from None
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await response.aclose()
            raise AnswerTooLarge(self.limit, request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_GuardedStream(
                stream, request, limit=self.limit, deadline=self.deadline, expires=expires
            ),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedSyncStream(httpx.SyncByteStream):
    def __init__(
        self,
        inner: httpx.SyncByteStream,
        request: httpx.Request,
        *,
        limit: int,
        deadline: float,
        expires: float,
    ) -> None:
        self._inner = inner
        self._request = request
        self._limit = limit
        self._deadline = deadline
        self._expires = expires

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._inner:
            if time.monotonic() > self._expires:
                raise AnswerTooSlow(self._deadline, self._request)
            size += len(chunk)
            if size > self._limit:
                raise AnswerTooLarge(self._limit, self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class GuardedSyncTransport(httpx.BaseTransport):
    """GuardedTransport for a synchronous client: the deadline is checked as each piece
    of the answer arrives (a blocking read is bounded by the client's read timeout)."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        deadline: float,
        limit: int = MAX_ANSWER_BYTES,
    ) -> None:
        if deadline <= 0 or limit < 1:
            raise ValueError("a deadline and a limit must be positive")
        self._inner = inner or httpx.HTTPTransport()
        self.deadline = deadline
        self.limit = limit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        expires = time.monotonic() + self.deadline
        response = self._inner.handle_request(request)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            response.close()
            raise AnswerTooLarge(self.limit, request)
        if time.monotonic() > expires:
            response.close()
            raise AnswerTooSlow(self.deadline, request)
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_GuardedSyncStream(
                stream, request, limit=self.limit, deadline=self.deadline, expires=expires
            ),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


@contextlib.asynccontextmanager
async def within(deadline: float) -> AsyncIterator[None]:
    """The block within `deadline` seconds, or AnswerTooSlow: the deadline of a client that
    is not httpx's (the Anthropic SDK's httpx2), around one exchange."""
    try:
        async with asyncio.timeout(deadline):
            yield
    except TimeoutError:
        raise AnswerTooSlow(deadline) from None


async def read_at_most(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The body arriving as `chunks`, read no further than `limit` bytes: AnswerTooLarge
    beyond (the size cap of a client that is not httpx's)."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise AnswerTooLarge(limit)
    return bytes(body)


def client(
    *,
    timeout: float | httpx.Timeout,
    deadline: float,
    limit: int = MAX_ANSWER_BYTES,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> httpx.AsyncClient:
    """An httpx.AsyncClient with `timeout` on each network wait and every exchange guarded
    (`deadline`, `limit`) over `transport` (the network by default); no redirects are
    followed and no compression asked for. `options` go to httpx.AsyncClient."""
    options.setdefault("follow_redirects", False)
    return httpx.AsyncClient(
        timeout=timeout,
        transport=GuardedTransport(transport, deadline=deadline, limit=limit),
        headers={**(headers or {}), **IDENTITY},
        **options,
    )


def sync_client(
    *,
    timeout: float,
    deadline: float,
    limit: int = MAX_ANSWER_BYTES,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The synchronous `client()`."""
    return httpx.Client(
        timeout=timeout,
        transport=GuardedSyncTransport(transport, deadline=deadline, limit=limit),
        headers=IDENTITY,
        follow_redirects=False,
    )
