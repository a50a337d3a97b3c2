"""A fake of Discord's REST API for creating messages, on a loopback socket.

`POST /api/v10/channels/{channel}/messages` as Discord documents it ("Create Message"):
`Authorization: Bot <token>`; a JSON body, or `multipart/form-data` with the JSON in
`payload_json` and the files as `files[n]`; `content` at most 2,000 characters; `nonce` an
integer or a string of at most 25 characters, and with `enforce_nonce` a second message of
the same nonce by the same author within a few minutes is not created — the first one is
answered. Errors in Discord's JSON shape (`{"message", "code"}`): 401 for another token,
404 `Unknown Channel` (10003), 403 `Missing Permissions` (50013) for a channel the bot may
not post in, 400 `Invalid Form Body` (50035). `refuse_files` refuses a message with files
(403, the bot lacks Attach Files). `fail_next(n, status)` answers 5xx, or 429 with
`retry_after` in the body and the `Retry-After`/`X-RateLimit-*` headers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from typing import Any

from litestar import Litestar, Request, Response, post

#: How long Discord remembers an enforced nonce ("the past few minutes").
NONCE_WINDOW = dt.timedelta(minutes=5)

BOT_USER: dict[str, Any] = {
    "id": "900000000000000001",
    "username": "bookkeeper",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
    "public_flags": 0,
}


def _error(status: int, message: str, code: int, **extra: Any) -> Response[Any]:
    return Response({"message": message, "code": code, **extra}, status_code=status)


@dataclasses.dataclass
class FakeDiscordRest:
    token: str = "fake-bot-token"
    #: Channels that exist; the bot may post in those not in `forbidden`.
    channels: set[int] = dataclasses.field(default_factory=set)
    forbidden: set[int] = dataclasses.field(default_factory=set)
    #: The bot lacks Attach Files: a message with files is refused (403, 50013).
    refuse_files: bool = False
    #: Bytes of padding in the answer to a created message (a broken or hostile Discord
    #: that answers without end): 0 for Discord's own answer.
    answer_padding: int = 0
    #: Every created message, in order.
    messages: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Every request that reached the route (created or not).
    requests: int = 0
    _failures: list[int] = dataclasses.field(default_factory=list)
    _ids: itertools.count[int] = dataclasses.field(
        default_factory=lambda: itertools.count(1_100_000_000_000_000_000)
    )

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        self._failures.extend([status] * n)

    def posted(self, channel: int) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["channel_id"] == str(channel)]

    @property
    def app(self) -> Litestar:
        fake = self

        @post("/api/v10/channels/{channel:str}/messages")
        async def create_message(request: Request[Any, Any, Any]) -> Response[Any]:
            return await fake._create(request, request.path_params["channel"])

        return Litestar([create_message], openapi_config=None)

    async def _create(self, request: Request[Any, Any, Any], channel: str) -> Response[Any]:
        self.requests += 1
        if request.headers.get("authorization") != f"Bot {self.token}":
            return _error(401, "401: Unauthorized", 0)
        if self._failures:
            status = self._failures.pop(0)
            if status == 429:
                return Response(
                    {"message": "You are being rate limited.", "retry_after": 0.2, "global": False},
                    status_code=429,
                    headers={
                        "Retry-After": "1",
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": "0.2",
                        "X-RateLimit-Bucket": "fake-bucket",
                        "X-RateLimit-Scope": "user",
                    },
                )
            return _error(status, "Internal Server Error", 0)
        if not channel.isdigit() or int(channel) not in self.channels:
            return _error(404, "Unknown Channel", 10003)
        if int(channel) in self.forbidden:
            return _error(403, "Missing Permissions", 50013)
        payload, files = await self._body(request)
        if payload is None:
            return _error(400, "Invalid Form Body", 50035)
        if files and self.refuse_files:
            return _error(403, "Missing Permissions", 50013)
        content = payload.get("content") or ""
        nonce = payload.get("nonce")
        problems: dict[str, Any] = {}
        if not isinstance(content, str) or len(content) > 2000:
            problems["content"] = "Must be 2000 or fewer in length."
        if nonce is not None and not (
            (isinstance(nonce, int) and not isinstance(nonce, bool))
            or (isinstance(nonce, str) and len(nonce) <= 25)
        ):
            problems["nonce"] = "Must be 25 or fewer in length."
        if not content and not files:
            problems["content"] = "Cannot send an empty message"
        if problems:
            return _error(400, "Invalid Form Body", 50035, errors=problems)
        now = dt.datetime.now(dt.UTC)
        if nonce is not None and payload.get("enforce_nonce"):
            for earlier in self.messages:
                made = dt.datetime.fromisoformat(earlier["timestamp"])
                if earlier["nonce"] == nonce and now - made <= NONCE_WINDOW:
                    return Response(earlier, status_code=200)
        message = {
            "id": str(next(self._ids)),
            "channel_id": channel,
            "author": BOT_USER,
            "content": content,
            "timestamp": now.isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(next(self._ids)),
                    "filename": name,
                    "size": len(data),
                    "url": f"https://cdn.discordapp.com/attachments/{channel}/{name}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{channel}/{name}",
                    "content_type": "image/png",
                }
                for name, data in files
            ],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "nonce": nonce,
            "components": [],
        }
        self.messages.append(message)
        if self.answer_padding:
            return Response({**message, "padding": "x" * self.answer_padding}, status_code=200)
        return Response(message, status_code=200)

    async def _body(
        self, request: Request[Any, Any, Any]
    ) -> tuple[dict[str, Any] | None, list[tuple[str, bytes]]]:
        """The message's JSON and its files, or None when the body is not Discord's."""
        kind = request.headers.get("content-type", "")
        try:
            if kind.startswith("application/json"):
                body = json.loads(await request.body())
                return (body if isinstance(body, dict) else None), []
            if kind.startswith("multipart/form-data"):
                form = await request.form()
                raw = form.get("payload_json")
                if raw is None:
                    return None, []
                text = raw if isinstance(raw, str) else (await raw.read()).decode()
                body = json.loads(text)
                files = []
                for name, value in form.multi_items():
                    if name.startswith("files[") and not isinstance(value, str):
                        files.append((value.filename or name, await value.read()))
                return (body if isinstance(body, dict) else None), files
        except (ValueError, UnicodeDecodeError):
            return None, []
        return None, []
