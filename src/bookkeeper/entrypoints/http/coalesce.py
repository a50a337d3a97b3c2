"""One write per response under uvicorn (ADR 0039, coalesced-writes addendum).

uvicorn's httptools protocol writes a response's head when the app sends
`http.response.start` and its body when the app sends `http.response.body`: two
`transport.write` calls, and asyncio's socket transport sends each at once — two `send`
system calls per response, and two wake-ups of the client on its side. An API answer is
small and both parts are sent in the same step of the event loop, so the protocol here
hands uvicorn a transport that keeps what is written until the end of that step and
sends it in one write (`loop.call_soon`). Nothing waits longer than the current step, the
order of the bytes is kept, and a close sends what is kept first.

This is one half of the protocol `serve` runs; served_protocol.py composes it with the
bounded request head of bounded_head.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose writes of one event-loop step go out as one write."""

    __slots__ = ("_loop", "_parts", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def flush(self) -> None:
        """Send what this step wrote (a no-op when it was sent already)."""
        if not self._parts:
            return
        parts, self._parts = self._parts, []
        if self._transport.is_closing():
            return
        self._transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._parts = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(p) for p in self._parts)

    def __getattr__(self, name: str) -> Any:
        # is_closing, get_extra_info, pause_reading, resume_reading, set_protocol, …
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # FlowControl keeps the real transport (pausing reads, write-buffer limits).
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
