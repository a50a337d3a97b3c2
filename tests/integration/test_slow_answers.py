"""An answer that trickles in: headers at once, then the body a few bytes at a time, each
piece well within the client's timeout. httpx's timeouts are per socket operation, so such
an answer never timed out and held the tenant's executor worker (its lease renewed by the
heartbeat all along) for as long as the server cared to drip. The Fiken and Folio clients
give every attempt a deadline as a whole."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bookkeeper.adapters.fiken import FikenClient
from bookkeeper.adapters.fiken.ratelimit import SlidingWindow
from bookkeeper.adapters.folio import FolioClient
from bookkeeper.application.errors import ExternalUnavailable
from tests.fakes.server import serve

#: Each piece of the body comes this long after the one before: within the timeout.
DRIP = 0.1
TIMEOUT = 0.5
#: Each attempt's deadline as a whole.
DEADLINE = 1.0
#: Longer than the three attempts may take; the whole answer would take 40 s.
WHOLE = 10.0

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Trickle:
    """Answers every request 200 with a JSON body sent one byte per DRIP seconds."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        body = b'{"accounts": []}' + b" " * 400
        gone = asyncio.Event()

        async def watch() -> None:  # uvicorn drops what is sent after a disconnect
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watching = asyncio.create_task(watch())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        try:
            for index in range(len(body)):
                if gone.is_set():
                    return
                piece = body[index : index + 1]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                await asyncio.sleep(DRIP)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watching.cancel()


async def _no_sleep(_: float) -> None:
    return None


async def test_a_fiken_answer_that_trickles_in_times_out() -> None:
    trickle = Trickle()
    async with serve(trickle) as root:
        client = FikenClient(
            root,
            "token",
            timeout=TIMEOUT,
            deadline=DEADLINE,
            window=SlidingWindow(limit=1000),
            sleep=_no_sleep,
        )
        started = time.monotonic()
        try:
            with pytest.raises(ExternalUnavailable):
                await asyncio.wait_for(client.request("GET", "/companies"), WHOLE)
        finally:
            await client.aclose()
    # Every attempt (a read is tried three times) ended at its deadline, not the body's end.
    assert time.monotonic() - started < 3 * (DEADLINE + TIMEOUT)
    assert trickle.requests == 3


async def test_a_folio_answer_that_trickles_in_times_out() -> None:
    trickle = Trickle()
    async with serve(trickle) as root:
        client = FolioClient(root, "token", timeout=TIMEOUT, deadline=DEADLINE, sleep=_no_sleep)
        started = time.monotonic()
        try:
            with pytest.raises(ExternalUnavailable):
                await asyncio.wait_for(client.request("GET", "/accounts", idempotent=True), WHOLE)
        finally:
            await client.aclose()
    assert time.monotonic() - started < 3 * (DEADLINE + TIMEOUT)
    assert trickle.requests == 3
