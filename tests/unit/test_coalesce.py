"""A response's head and body leave in one write (entrypoints/http/coalesce.py): what one
step of the event loop writes is sent together at the end of that step, in order; a
close sends it first, an abort drops it, nothing waits past the step."""

from __future__ import annotations

import asyncio
from typing import Any

from bookkeeper.entrypoints.http.coalesce import CoalescingTransport


class RecordingTransport:
    """The socket transport's side that matters here: each write is one send."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


async def _next_step() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_step_go_out_as_one_write_in_order() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 201 Created\r\n\r\n")
    transport.write(memoryview(b'{"a":'))
    transport.write(bytearray(b"1}"))
    assert raw.writes == []  # not before the step ends
    assert transport.get_write_buffer_size() == len(b'HTTP/1.1 201 Created\r\n\r\n{"a":1}')
    await _next_step()
    assert raw.writes == [b'HTTP/1.1 201 Created\r\n\r\n{"a":1}']


async def test_each_step_is_its_own_write() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    for chunk in (b"one", b"two", b"three"):
        transport.write(chunk)
        await _next_step()
    assert raw.writes == [b"one", b"two", b"three"]


async def test_empty_writes_send_nothing() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"")
    await _next_step()
    assert raw.writes == []


async def test_close_sends_what_is_kept_first_and_the_later_flush_is_a_no_op() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.write(b"bad")
    transport.close()
    assert raw.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\nbad"]
    assert raw.closed
    await _next_step()  # the scheduled flush finds nothing
    assert raw.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\nbad"]


async def test_write_eof_sends_what_is_kept_first() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"last")
    transport.write_eof()
    assert raw.writes == [b"last"] and raw.eof


async def test_abort_drops_what_is_kept() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"never")
    transport.abort()
    await _next_step()
    assert raw.writes == [] and raw.aborted


async def test_a_transport_closed_meanwhile_is_not_written() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"late")
    raw.close()  # the peer went away within the step
    await _next_step()
    assert raw.writes == []


async def test_the_rest_of_the_transport_is_the_real_ones() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1234)
    assert transport.is_closing() is False
