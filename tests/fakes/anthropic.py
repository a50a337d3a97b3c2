"""A fake Anthropic Messages API (`POST /v1/messages`) on a loopback socket.

`FakeAnthropic` is the state and `.app` the ASGI application; `running_fake_anthropic()`
serves one and yields `(fake, base_url)` for `ClaudeExtractor(base_url=...)`.

What it checks, as the real API documents (integrations.md § 6): `x-api-key` (401
authentication_error), `anthropic-version: 2023-06-01`, a JSON body with `model` (a known
id, else 404 not_found_error), `max_tokens` (positive integer), `messages` (non-empty, starts
with a user turn; content blocks `text`, `image` with base64 jpeg/png/gif/webp, `document`
with base64 application/pdf, valid base64), `system` (string or text blocks), `tools` (name,
`input_schema` of type object) and `tool_choice` (`auto|any|none|tool`; `tool` must name a
declared tool); Haiku 5.5 rejects `temperature`/`top_p`/`top_k`. Errors are
`{"type":"error","error":{"type","message"},"request_id"}` with a `request-id` header.

Answers: a message whose content is one `tool_use` block calling the forced tool (or the
first tool) with `tool_input`, `stop_reason: "tool_use"` and `usage`. Faults on demand for the
next `n` requests: `fail_next(n, kind)` with kind `rate_limit` (429 + retry-after),
`overloaded` (529), `spend_limit` (429 with `error.details.error_code =
"enforced_spend_limit_reached"`), `billing` (402 billing_error), `server` (500);
`answer_next(n, ...)` with a scripted tool input, a text answer instead of the tool call, or
a raw content list. Every request is recorded (`requests`: headers and decoded body).
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import copy
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, Final

from tests.fakes.hostile import Misbehaviour
from tests.fakes.server import serve

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

DEFAULT_KEY: Final = "sk-ant-api03-fake-test-key-0123456789abcdef"
API_VERSION: Final = "2023-06-01"
MODELS: Final = frozenset({"claude-haiku-4-5", "claude-haiku-4-5-20251001", "claude-haiku-5-5"})
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,128}\Z")

#: A supermarket receipt as the model would record it (org number 923609016 passes MOD11).
RECEIPT: Final[dict[str, Any]] = {
    "document_type": "receipt",
    "merchant_name": "Rema 1000 Grünerløkka",
    "organization_number": "NO 923 609 016 MVA",
    "document_number": "48213",
    "date": "2026-11-03",
    "due_date": None,
    "currency": "NOK",
    "gross": "1234.50",
    "net": 987.6,
    "vat_amount": "246.90",
    "vat_rate": 25,
    "lines": [
        {
            "description": "Kaffe 2x",
            "gross": "1234.50",
            "net": "987.60",
            "vat_amount": "246.90",
            "vat_rate": "25",
        }
    ],
    "kid": None,
    "bank_account": None,
    "evidence": [
        {"field": "gross", "snippet": "TOTALT 1 234,50"},
        {"field": "organization_number", "snippet": "Org.nr NO 923 609 016 MVA"},
        {"field": "date", "snippet": "03.11.2026 14:02"},
    ],
    "warnings": [],
    "confidence": 0.9,
}


@dataclasses.dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class FakeAnthropic:
    api_key: str = DEFAULT_KEY
    tool_input: dict[str, Any] = dataclasses.field(default_factory=lambda: copy.deepcopy(RECEIPT))
    input_tokens: int = 1500
    output_tokens: int = 300
    retry_after: str = "2"
    requests: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    _queue: collections.deque[Callable[[dict[str, Any]], Answer]] = dataclasses.field(
        default_factory=collections.deque
    )
    #: Broken answers on demand (tests/fakes/hostile.py).
    misbehave: Misbehaviour = dataclasses.field(default_factory=Misbehaviour)

    # --- switches ---------------------------------------------------------------------------

    def fail_next(self, n: int, kind: str) -> None:
        answer = {
            "rate_limit": lambda: _error(
                429, "rate_limit_error", "Number of request tokens has exceeded your per-minute "
                "rate limit", headers={"retry-after": self.retry_after},
            ),
            "overloaded": lambda: _error(529, "overloaded_error", "Overloaded"),
            "spend_limit": lambda: _error(
                429, "rate_limit_error", "You have reached your specified API usage limits.",
                details={"error_code": "enforced_spend_limit_reached"},
            ),
            "billing": lambda: _error(402, "billing_error", "Your credit balance is too low."),
            "server": lambda: _error(500, "api_error", "Internal server error"),
        }[kind]  # fmt: skip
        for _ in range(n):
            self._queue.append(lambda _body, make=answer: make())

    def answer_next(
        self,
        n: int = 1,
        *,
        tool_input: dict[str, Any] | None = None,
        text: str | None = None,
        content: list[dict[str, Any]] | None = None,
        stop_reason: str | None = None,
        model: str | None = None,
    ) -> None:
        def make(body: dict[str, Any]) -> Answer:
            if content is not None:
                blocks, reason = content, stop_reason or "end_turn"
            elif text is not None:
                blocks, reason = [{"type": "text", "text": text}], stop_reason or "end_turn"
            else:
                blocks = [self._tool_use(body, tool_input)]
                reason = stop_reason or "tool_use"
            return self._message(body, blocks, reason, model)

        for _ in range(n):
            self._queue.append(make)

    # --- the API ----------------------------------------------------------------------------

    def _tool_use(self, body: dict[str, Any], tool_input: dict[str, Any] | None) -> dict[str, Any]:
        choice = body.get("tool_choice") or {}
        name = choice.get("name") if choice.get("type") == "tool" else body["tools"][0]["name"]
        return {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:24]}",
            "name": name,
            "input": tool_input if tool_input is not None else self.tool_input,
        }

    def _message(
        self, body: dict[str, Any], blocks: list[dict[str, Any]], reason: str, model: str | None
    ) -> Answer:
        return Answer(
            200,
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": model or body["model"],
                "content": blocks,
                "stop_reason": reason,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": self.input_tokens,
                    "output_tokens": self.output_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "service_tier": "standard",
                },
            },
        )

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        if path != "/v1/messages":
            return _error(404, "not_found_error", f"Not found: {path}")
        if method != "POST":
            return _error(405, "invalid_request_error", "Method not allowed")
        if headers.get("x-api-key") != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if headers.get("anthropic-version") != API_VERSION:
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "invalid_request_error", "The request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "The request body must be an object")
        self.requests.append({"headers": headers, "body": body})
        problem = _validate(body)
        if problem is not None:
            return _error(404 if problem.startswith("model:") else 400,
                          "not_found_error" if problem.startswith("model:")
                          else "invalid_request_error", problem)  # fmt: skip
        if self._queue:
            return self._queue.popleft()(body)
        return self._message(body, [self._tool_use(body, None)], "tool_use", None)

    @property
    def app(self) -> FakeAnthropic:
        # The instance itself: uvicorn detects ASGI 3 from a coroutine `__call__`, not from
        # a bound method.
        return self

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:  # fmt: skip
        assert scope["type"] == "http"
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        answer = self.handle(scope["method"], scope["path"], headers, b"".join(chunks))
        payload = json.dumps(answer.body).encode()
        out = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"request-id", f"req_{uuid.uuid4().hex[:24]}".encode()),
            *((k.encode(), v.encode()) for k, v in answer.headers.items()),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": payload})


def _error(
    status: int,
    kind: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> Answer:
    error: dict[str, Any] = {"type": kind, "message": message}
    if details is not None:
        error["details"] = details
    body = {"type": "error", "error": error, "request_id": f"req_{uuid.uuid4().hex[:24]}"}
    return Answer(status, body, headers or {})


def _validate(body: dict[str, Any]) -> str | None:
    """The first problem with a Messages request body, or None."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required"
    if model not in MODELS:
        return f"model: {model}"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required (a positive integer)"
    if model == "claude-haiku-5-5":
        for name in ("temperature", "top_p", "top_k"):
            if name in body:
                return f"{name}: is not supported by {model}"
    system = body.get("system")
    if (
        system is not None
        and not isinstance(system, str)
        and (
            not isinstance(system, list)
            or any(
                not isinstance(b, dict)
                or b.get("type") != "text"
                or not isinstance(b.get("text"), str)
                for b in system
            )
        )
    ):
        return "system: must be a string or a list of text blocks"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        return "messages: first message must use the user role"
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: must be user or assistant"
        content = msg.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            return f"messages.{i}.content: must be a string or a non-empty list of blocks"
        for j, block in enumerate(content):
            problem = _validate_block(block)
            if problem is not None:
                return f"messages.{i}.content.{j}: {problem}"
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: must be a list"
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict) or not _TOOL_NAME.match(str(tool.get("name", ""))):
                return f"tools.{k}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                return f"tools.{k}.input_schema.type: Input should be 'object'"
            names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
        if choice["type"] in ("any", "tool") and not names:
            return "tool_choice: requires tools"
        if choice["type"] == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: tool {choice.get('name')!r} not found in tools"
    return None


def _validate_block(block: Any) -> str | None:
    if not isinstance(block, dict):
        return "must be an object"
    kind = block.get("type")
    if kind == "text":
        return None if isinstance(block.get("text"), str) and block["text"] else "text: empty"
    if kind not in ("image", "document"):
        return f"type: unsupported content block {kind!r}"
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        return "source.type: Input should be 'base64'"
    allowed = IMAGE_TYPES if kind == "image" else {"application/pdf"}
    if source.get("media_type") not in allowed:
        return f"source.media_type: Input should be one of {sorted(allowed)}"
    try:
        base64.b64decode(source.get("data", ""), validate=True)
    except (binascii.Error, ValueError):
        return "source.data: invalid base64 data"
    return None


@contextlib.asynccontextmanager
async def running_fake_anthropic(
    fake: FakeAnthropic | None = None,
) -> AsyncIterator[tuple[FakeAnthropic, str]]:
    fake = fake or FakeAnthropic()
    async with serve(fake.misbehave.wrap(fake.app)) as base_url:
        yield fake, base_url
