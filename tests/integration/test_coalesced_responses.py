"""uvicorn with the coalescing protocol (entrypoints/http/coalesce.py) over a real socket:
every response arrives whole and in order — pipelined requests, a streamed body whose
chunks are written in different steps, a body larger than the socket's buffer, a
`Connection: close`, an `Expect: 100-continue` — and the server's own answers (a
malformed request's 400) still reach the client."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from bookkeeper.entrypoints.http.bounded_head import BoundedHttpToolsProtocol
from bookkeeper.entrypoints.http.coalesce import CoalescingHttpToolsProtocol
from bookkeeper.entrypoints.http.served_protocol import ServedHttpProtocol
from bookkeeper.entrypoints.http.server import uvicorn_options
from tests.polling import polls

BIG = 4 * 1024 * 1024


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(3):
            await send({"type": "http.response.body", "body": b"part%d;" % n, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"end"})
        return
    payload = b"x" * BIG if path == "/big" else path.encode() + b":" + body
    headers = [(b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@asynccontextmanager
async def serving() -> AsyncIterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, http=ServedHttpProtocol, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in polls():
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def exchange(port: int, request: bytes, until: bytes | None = None) -> bytes:
    """Send `request`, read until the server closes (or `until` has arrived)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    received = b""
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), timeout=10)
        received += chunk
        if not chunk or (until is not None and received.endswith(until)):
            break
    writer.close()
    return received


def test_the_served_app_uses_the_coalescing_and_bounded_protocol() -> None:
    served = uvicorn_options("127.0.0.1", 0, "INFO", False)["http"]
    assert served is ServedHttpProtocol
    assert issubclass(served, CoalescingHttpToolsProtocol)
    assert issubclass(served, BoundedHttpToolsProtocol)


async def test_pipelined_requests_are_answered_whole_and_in_order() -> None:
    async with serving() as port:
        request = (
            b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        received = await exchange(port, request)
    answers = received.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert [a.rsplit(b"\r\n\r\n", 1)[1] for a in answers] == [b"/one:abc", b"/two:", b"/three:"]


async def test_a_streamed_body_arrives_whole() -> None:
    async with serving() as port:
        received = await exchange(
            port, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    head, _, chunked = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    text = b"".join(chunked.split(b"\r\n")[1::2])
    assert text == b"part0;part1;part2;end"


async def test_a_body_larger_than_the_socket_buffer_arrives_whole() -> None:
    async with serving() as port:
        received = await exchange(
            port, b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b"x" * BIG


async def test_expect_continue_then_the_answer() -> None:
    async with serving() as port:
        received = await exchange(
            port,
            b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\n\r\nhi",
        )
    assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    assert received.endswith(b"/up:hi")


async def test_a_malformed_request_still_gets_the_servers_400() -> None:
    async with serving() as port:
        received = await exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 Bad Request")
    # As problem details, like every other refusal (ADR 0049), not uvicorn's plain text.
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert (problem["status"], problem["title"]) == (400, "Bad Request")
    assert problem["detail"]


async def test_a_control_byte_in_the_request_line_is_a_problem_document() -> None:
    async with serving() as port:
        received = await exchange(port, b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request")
    assert json.loads(body)["status"] == 400
