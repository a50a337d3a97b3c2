"""A request the server cancels before it answered (a SIGTERM's grace over) is a 503
problem with Retry-After, not uvicorn's plain-text 500; one already answered stays cut."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bookkeeper.entrypoints.http.observability import STOPPED_RETRY_AFTER, observe

SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/api/book-keeper/v1/books/supplier-invoices",
    "headers": [],
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def test_a_request_cancelled_before_its_answer_is_a_503_problem() -> None:
    sent: list[dict[str, Any]] = []
    waiting = asyncio.Event()

    async def hangs(scope: Any, receive: Any, send: Any) -> None:
        waiting.set()
        await asyncio.sleep(3600)  # a books lookup on a hung Fiken

    async def send(message: Any) -> None:
        sent.append(message)

    task = asyncio.create_task(observe(hangs)(SCOPE, _receive, send))  # type: ignore[arg-type]
    await waiting.wait()
    task.cancel()
    await task  # answered: the request is over, as uvicorn's own 500 would end it

    start, body = sent
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"retry-after"] == str(STOPPED_RETRY_AFTER).encode()
    assert headers[b"connection"] == b"close"
    assert b"x-request-id" in headers
    problem = json.loads(body["body"])
    assert (problem["status"], problem["code"]) == (503, "service-unavailable")
    assert int(headers[b"content-length"]) == len(body["body"])


async def test_a_request_cancelled_after_its_answer_began_stays_cut() -> None:
    sent: list[dict[str, Any]] = []
    started = asyncio.Event()

    async def streams(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        started.set()
        await asyncio.sleep(3600)

    async def send(message: Any) -> None:
        sent.append(message)

    task = asyncio.create_task(observe(streams)(SCOPE, _receive, send))  # type: ignore[arg-type]
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [m["type"] for m in sent] == ["http.response.start"]
