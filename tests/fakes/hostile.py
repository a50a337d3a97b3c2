"""Switchable misbehaviour of a fake's answers (OWASP API10, unsafe consumption of APIs).

Every fake (Fiken, Folio, Anthropic, the OIDC issuer) has a `misbehave` (a Misbehaviour)
around its ASGI app. `fake.misbehave.next("malformed", method="GET", path=r"/contacts")`
makes the next matching request's answer broken in one of these ways, after the fake has
done the request (a server that did the work and then answered badly):

    malformed     200, application/json, a body that is not JSON
    truncated     the real status and headers, then half the body and the connection closed
    oversized     200, application/json, valid JSON of OVERSIZED bytes (chunked, no length)
    schema        the real answer with every value of the wrong JSON type
    content-type  the real answer labelled text/html

`seen` lists the modes served, in order.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MODES: Final = ("malformed", "truncated", "oversized", "schema", "content-type")
#: Bigger than any answer limit of ours (the OIDC documents 64 KiB, Fiken/Folio 8 MiB).
OVERSIZED: Final = 12 * 1024 * 1024
_CHUNK: Final = 256 * 1024


@dataclasses.dataclass
class _Planned:
    mode: str
    remaining: int
    method: str | None
    path: re.Pattern[str] | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


def violate(value: Any) -> Any:
    """The same shape with every leaf of another JSON type (and lists made objects when
    empty): whatever schema the answer had, it no longer fits it."""
    if isinstance(value, dict):
        return {key: violate(item) for key, item in value.items()} or ["not", "an", "object"]
    if isinstance(value, list):
        return [violate(item) for item in value] if value else {"not": "a list"}
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return "not a number"
    if isinstance(value, str):
        return 12345
    return {"was": "null"}


class Misbehaviour:
    """Planned broken answers of one fake."""

    def __init__(self) -> None:
        self._planned: list[_Planned] = []
        self.seen: list[str] = []

    def next(
        self, mode: str, n: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Break the next n matching answers in `mode` (see MODES)."""
        if mode not in MODES:
            raise ValueError(f"unknown misbehaviour {mode!r}; one of {MODES}")
        pattern = re.compile(path) if path else None
        self._planned.append(_Planned(mode, n, method.upper() if method else None, pattern))

    def always(self, mode: str, *, method: str | None = None, path: str | None = None) -> None:
        self.next(mode, 10**9, method=method, path=path)

    def clear(self) -> None:
        self._planned.clear()

    def _take(self, method: str, path: str) -> str | None:
        for planned in self._planned:
            if planned.remaining > 0 and planned.matches(method, path):
                planned.remaining -= 1
                return planned.mode
        return None

    def wrap(self, app: App) -> App:
        """`app` with the planned misbehaviour (a plain coroutine function: ASGI 3)."""

        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            await self.serve(app, scope, receive, send)

        return wrapped

    async def serve(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request through `app`, broken if it is planned to be."""
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        mode = self._take(str(scope["method"]), str(scope["path"]))
        if mode is None:
            await app(scope, receive, send)
            return
        self.seen.append(mode)
        status, headers, body = await _captured(app, scope, receive)
        await _misbehave(mode, status, headers, body, send)


async def _captured(app: App, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
    status = 500
    headers: list[Any] = []
    parts: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            parts.append(bytes(message.get("body", b"")))

    await app(scope, receive, capture)
    return status, headers, b"".join(parts)


def _without(headers: list[Any], *names: bytes) -> list[Any]:
    return [(k, v) for k, v in headers if bytes(k).lower() not in names]


async def _misbehave(mode: str, status: int, headers: list[Any], body: bytes, send: Send) -> None:
    json_type = (b"content-type", b"application/json")
    if mode == "malformed":
        broken = b'{"data": [1, 2, '
        await _answer(send, 200, [json_type, (b"content-length", b"%d" % len(broken))], broken)
    elif mode == "truncated":
        whole = body or b'{"data": "an answer that never arrives whole"}'
        kept = [*_without(headers, b"content-length"), (b"content-length", b"%d" % len(whole))]
        await send({"type": "http.response.start", "status": status, "headers": kept})
        # Half the declared body, then the app ends: the server closes the connection.
        await send({"type": "http.response.body", "body": whole[: len(whole) // 2]})
    elif mode == "oversized":
        await send({"type": "http.response.start", "status": 200, "headers": [json_type]})
        await send({"type": "http.response.body", "body": b'{"pad": "', "more_body": True})
        for _ in range(OVERSIZED // _CHUNK):
            await send({"type": "http.response.body", "body": b"a" * _CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b'"}'})
    elif mode == "schema":
        try:
            broken = json.dumps(violate(json.loads(body))).encode() if body else b"[]"
        except ValueError:
            broken = b'"not the documented shape"'
        kept = [*_without(headers, b"content-length"), (b"content-length", b"%d" % len(broken))]
        await _answer(send, status, kept, broken)
    elif mode == "content-type":
        kept = [*_without(headers, b"content-type"), (b"content-type", b"text/html")]
        await _answer(send, status, kept, body)
    else:  # pragma: no cover - next() refuses unknown modes
        raise AssertionError(mode)


async def _answer(send: Send, status: int, headers: list[Any], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
