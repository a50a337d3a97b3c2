"""uvicorn's httptools protocol with a bound on a request's head (its request line and
headers): over MAX_HEAD_BYTES the connection is answered 431 and closed.

httptools (llhttp) has no such bound and uvicorn sets none: a client could send one header
of tens of megabytes, all of it buffered in the worker before the app sees the request
(found by the probe2 helper: a 64 MB header was read and answered 200). nginx allows
4 × 8 KiB by default; 64 KiB leaves room for long tokens and cookies.

A head longer than one read of the transport is cut short as its bytes arrive (only bytes
read while a head is being read count: a read that starts inside a body, or in which a head
completes, does not, so large uploads and pipelined requests are untouched); a head that
arrived in one read is measured when it is complete.

A head must also arrive in time: HEAD_TIMEOUT_SECONDS from the connection (or from the first
byte of a later request on it) to the end of its headers, else a 408 and the connection
closed. uvicorn times only the idle wait between requests (timeout_keep_alive): a client
that opened a connection and sent nothing, or a head a byte at a time (slowloris), held its
socket and file descriptor for as long as it liked (found by the attacks helper: open after
minutes), so a few thousand such connections would exhaust the worker's descriptors. nginx's
client_header_timeout is 60 s; a client that means to send a request sends its head at once.
A body likewise (a slow POST): BODY_TIMEOUT_SECONDS from its head, a second more for every
BODY_MIN_RATE bytes that arrive, and never while the wait is ours (the app has not read
what came, or not yet asked for a body sent after `Expect: 100-continue`).
"""

from __future__ import annotations

import asyncio
from typing import Final

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bookkeeper.entrypoints.http.problems import TYPE_PREFIX

#: The most a request's line and headers may take together.
MAX_HEAD_BYTES: Final = 64 * 1024

#: Seconds a request's line and headers may take to arrive.
HEAD_TIMEOUT_SECONDS: Final = 20.0
#: A body must arrive within BODY_TIMEOUT_SECONDS of its head, plus a second for every
#: BODY_MIN_RATE bytes received (Apache mod_reqtimeout's default, body=20,MinRate=500).
BODY_TIMEOUT_SECONDS: Final = 20.0
BODY_MIN_RATE: Final = 500.0

_TOO_LARGE: Final = "request line and headers are larger than the server accepts"
_TOO_SLOW: Final = "the request line and headers did not arrive in time"
_BODY_TOO_SLOW: Final = "the request body did not arrive in time"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses a request head over MAX_HEAD_BYTES with a 431, and one
    that takes longer than HEAD_TIMEOUT_SECONDS with a 408."""

    _head_bytes: int = 0
    _heads_done: int = 0
    _in_body: bool = False
    _refused: bool = False
    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _body_deadline: float = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head_timer()  # a later request on the connection: its own deadline

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a response still being written: not the client's
            # delay alone; its deadline starts again (a 408 now would cut that response).
            self._start_head_timer()
            return
        self._refused = True
        self.logger.warning(
            "a request head took over %g s and was refused (408)", HEAD_TIMEOUT_SECONDS
        )
        self.transport.write(problem_response(408, "Request Timeout", _TOO_SLOW, "request-timeout"))
        self.transport.close()

    def _start_body_timer(self) -> None:
        self._cancel_body_timer()
        self._body_deadline = self.loop.time() + BODY_TIMEOUT_SECONDS
        self._body_timer = self.loop.call_later(BODY_TIMEOUT_SECONDS, self._body_too_slow)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self._refused or self.transport.is_closing() or not self._in_body:
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            return  # the app has answered: what is left of the body is uvicorn's
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            # Waiting for us (the app has not read what came, or has not asked for the
            # body yet): the client is not late.
            self._body_deadline = self.loop.time() + BODY_TIMEOUT_SECONDS
        remaining = self._body_deadline - self.loop.time()
        if remaining > 0:
            self._body_timer = self.loop.call_later(remaining, self._body_too_slow)
            return
        self._refused = True
        self.logger.warning("a request body came slower than %g bytes/s (408)", BODY_MIN_RATE)
        self.transport.write(
            problem_response(408, "Request Timeout", _BODY_TOO_SLOW, "request-timeout")
        )
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._heads_done += 1
        self._in_body = True
        if self._refused:
            return
        # A head that arrived in one read (up to the transport's read size) is measured
        # whole here; one longer than a read is cut short in data_received.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._refuse()
            return
        super().on_headers_complete()
        self._start_body_timer()  # cancelled at once when there is no body

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_body_timer()
        self._in_body = False
        if not self._refused:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._body_timer is not None:
            self._body_deadline += len(data) / BODY_MIN_RATE
        started_in_body, heads = self._in_body, self._heads_done
        super().data_received(data)
        if started_in_body or self._in_body or heads != self._heads_done:
            self._head_bytes = 0
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()

    def _refuse(self) -> None:
        """Answer 431 and close; nothing more of this connection reaches the app."""
        self._refused = True
        if self.transport.is_closing():
            return
        self.logger.warning("a request head over %d bytes was refused (431)", MAX_HEAD_BYTES)
        self.transport.write(
            problem_response(
                431,
                "Request Header Fields Too Large",
                _TOO_LARGE,
                "request-header-fields-too-large",
            )
        )
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refused (a control byte in the request
        line, a broken header), as problem details like every other refusal (ADR 0049)."""
        self.transport.write(problem_response(400, "Bad Request", msg, "bad-request"))
        self.transport.close()


def problem_response(status: int, title: str, detail: str, code: str) -> bytes:
    """A whole HTTP/1.1 response carrying RFC 9457 problem details, typed and coded as the
    app's (problems.problem_response); the connection closes."""
    body = msgspec.json.encode(
        {
            "type": TYPE_PREFIX + code,
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        }
    )
    return (
        f"HTTP/1.1 {status} {title}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode("ascii") + body
