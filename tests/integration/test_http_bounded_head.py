"""A request's head (request line and headers) is bounded where `bookkeeper serve` reads it:
uvicorn with the options serve gives it (server.uvicorn_options), on a real socket.

httptools has no bound of its own: a 64 MB header was read into the worker and the request
answered 200. Now a head over 64 KiB is a 431 and the connection is closed; heads below it,
large bodies and pipelined requests are served as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from bookkeeper.entrypoints.http import bounded_head
from bookkeeper.entrypoints.http.bounded_head import MAX_HEAD_BYTES
from bookkeeper.entrypoints.http.problems import TYPE_PREFIX
from bookkeeper.entrypoints.http.server import uvicorn_options


async def _echo_size(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 with the number of body bytes it read."""
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[int]:
    options = uvicorn_options("127.0.0.1", 0, "warning", False)
    options.pop("factory")
    options.pop("port")
    config = uvicorn.Config(_echo_size, lifespan="off", **options)
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def _exchange(port: int, request: bytes) -> bytes:
    """What the server answered; b"reset" when it closed the connection under the client's
    feet (it may refuse a head before the client has finished sending it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        try:
            await writer.drain()
            return await asyncio.wait_for(reader.read(), 30)
        except ConnectionError:
            with contextlib.suppress(ConnectionError):
                answer = await asyncio.wait_for(reader.read(), 30)
                if answer:
                    return answer
            return b"reset"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _get(headers: bytes = b"", close: bool = True) -> bytes:
    end = b"Connection: close\r\n" if close else b""
    return b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + end + b"\r\n"


@pytest.mark.parametrize("size", [MAX_HEAD_BYTES + 1, 8 * 1024 * 1024])
async def test_a_head_over_the_bound_is_431_and_closed(size: int) -> None:
    async with served() as port:
        answer = await _exchange(port, _get(b"X-Big: " + b"a" * size + b"\r\n"))
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"reset"


async def test_many_headers_over_the_bound_are_431() -> None:
    many = b"".join(b"X-%d: %s\r\n" % (i, b"a" * 60) for i in range(2000))
    async with served() as port:
        answer = await _exchange(port, _get(many))
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"reset"
    if answer != b"reset":  # problem details, like every other refusal (ADR 0049)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"content-type: application/problem+json" in head
        assert b'"status":431' in body


async def test_heads_below_the_bound_large_bodies_and_pipelining_are_served() -> None:
    body = b"b" * (4 * 1024 * 1024)
    upload = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    ) + body
    async with served() as port:
        near = await _exchange(port, _get(b"X-Big: " + b"a" * (MAX_HEAD_BYTES - 200) + b"\r\n"))
        uploaded = await _exchange(port, upload)
        # Pipelined: one write with many small requests adds up to more than the bound.
        pipelined = await _exchange(
            port, _get(b"X-Pad: " + b"p" * 1000 + b"\r\n", close=False) * 100 + _get()
        )
    assert near.startswith(b"HTTP/1.1 200 ")
    assert uploaded.startswith(b"HTTP/1.1 200 ") and uploaded.endswith(str(len(body)).encode())
    assert pipelined.count(b"HTTP/1.1 200 ") == 101 and b" 431 " not in pipelined


async def _drip(port: int, parts: list[bytes], every: float) -> tuple[bytes, float]:
    """Sends `parts` one every `every` seconds (stopping when the server closes); what the
    server answered (b"" if it closed without an answer, b"reset" if it closed under the
    client's feet: bytes still arriving at a closed socket make its kernel reset) and
    after how long."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.ensure_future(reader.read())
    try:
        for part in parts:
            if answer.done():
                break
            writer.write(part)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.wait([answer], timeout=every)
        try:
            result = await asyncio.wait_for(answer, 2 * every)
        except ConnectionError:
            result = b"reset"
        return result, loop.time() - started
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_head_that_does_not_arrive_in_time_is_408_and_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Slowloris: uvicorn timed only the idle wait between requests, so a connection that
    # sent nothing, or a head a byte at a time, stayed open for as long as the client liked.
    monkeypatch.setattr(bounded_head, "HEAD_TIMEOUT_SECONDS", 0.5, raising=False)
    head = _get(b"X-Slow: " + b"s" * 40 + b"\r\n")
    async with served() as port:
        silent, silent_after = await _drip(port, [b""] * 8, 0.25)
        dripped, dripped_after = await _drip(port, [bytes([b]) for b in head], 0.1)
        prompt = await _exchange(port, _get())
        # Keep-alive: the deadline is each head's own, not the connection's.
        slow_second = await _drip(port, [_get(close=False), *[bytes([b]) for b in _get()]], 0.2)
    assert silent.startswith(b"HTTP/1.1 408 ") and b'"status":408' in silent
    assert dripped == b"reset" or dripped.startswith(b"HTTP/1.1 408 ")
    assert silent_after < 3.0 and dripped_after < 3.0
    assert prompt.startswith(b"HTTP/1.1 200 ")
    assert slow_second[0].startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in slow_second[0]


async def test_a_body_that_comes_too_slowly_is_408_and_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A slow POST: the head at once, then the body a byte at a time. The app awaited it for
    # as long as the client liked. Now: BODY_TIMEOUT_SECONDS, plus a second per
    # BODY_MIN_RATE bytes received.
    monkeypatch.setattr(bounded_head, "BODY_TIMEOUT_SECONDS", 0.5, raising=False)
    monkeypatch.setattr(bounded_head, "BODY_MIN_RATE", 500.0, raising=False)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nConnection: close\r\n\r\n"
    async with served() as port:
        dripped, after = await _drip(port, [head, *[b"b"] * 40], 0.1)
        steady, _ = await _drip(port, [head, b"b" * 20, b"b" * 20], 0.1)
    assert dripped == b"reset" or (
        dripped.startswith(b"HTTP/1.1 408 ") and b'"status":408' in dripped
    )
    assert after < 3.0
    assert steady.startswith(b"HTTP/1.1 200 ") and steady.endswith(b"40")


async def test_the_431_is_a_problem_typed_and_coded_like_every_other() -> None:
    """The 431 (and the 400, 408 written beside it) carried `type: about:blank` and no
    `code`, unlike every problem the app answers (`urn:bookkeeper:problem:<code>`)."""
    head = _get(b"X-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n")
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            # Just under the bound first, then the bytes that cross it: the server has
            # read everything sent when it refuses, so it closes without a reset.
            writer.write(head[: MAX_HEAD_BYTES - 16])
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(head[MAX_HEAD_BYTES - 16 : MAX_HEAD_BYTES + 16])
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 30)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        bad = await _exchange(port, b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n")
    for status, code, raw in (
        (431, "request-header-fields-too-large", answer),
        (400, "bad-request", bad),
    ):
        head_part, _, body = raw.partition(b"\r\n\r\n")
        assert head_part.startswith(b"HTTP/1.1 %d " % status), raw[:200]
        assert b"content-type: application/problem+json" in head_part
        problem = json.loads(body)
        assert problem["status"] == status
        assert problem["code"] == code
        assert problem["type"] == TYPE_PREFIX + code
        assert problem["detail"]
