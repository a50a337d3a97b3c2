"""Posts the morning summary to the Discord tenant's morning channel over Discord's REST
API (no gateway connection needed: a process without the bot posts too), through the
guarded client of adapters/outbound.py: a deadline, and at most MAX_ANSWER bytes of
Discord's answer read (hikari's REST client read the answer whole, however large).

A post carries a nonce derived from what it posts (the run's event id and the part), with
Discord's `enforce_nonce`: Discord answers a second
message of the same nonce from the same bot within a few minutes with the first one and
creates none, so a retry after a post whose answer was lost, or whose recording failed,
does not post the summary twice (ADR 0023 addendum, "the morning post once"). Discord's
refusals and outages are our errors (application/errors.py): the subscriber that posts
says them in one line and tries again later.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any, Final, NoReturn

import httpx

from bookkeeper.adapters import outbound
from bookkeeper.adapters.retry_after import retry_after
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)

#: Discord's longest message.
MAX_MESSAGE: int = 2000
#: Discord's REST API (hikari's default) unless another is given.
API_URL: Final = "https://discord.com/api/v10"
#: The most of Discord's answer read: a message object is a few KiB.
MAX_ANSWER: Final = 256 * 1024
#: Seconds of each network wait, and of back-off per attempt after a 5xx or lost answer.
TIMEOUT: Final = 10.0
BACKOFF: Final = 1.0
#: The longest wait a 429 asks for that is waited out here (longer: ExternalRateLimited).
MAX_WAIT: Final = 60.0
USER_AGENT: Final = "DiscordBot (https://github.com/bookkeeper, 1) bookkeeper"

#: What Discord reads as markdown in a message: emphasis (* _ ~), code (`), spoilers (|),
#: quotes and headings (> #), masked links ([text](url)) and mentions, channels, emoji
#: and timestamps (<…>); the backslash that escapes them escaped first.
_MARKDOWN: Final = re.compile(r"([\\*_~`|>#\[\]<])")


def discord_escaped(text: str) -> str:
    """`text` shown as written: every markdown character escaped. The bot writes no
    markdown of its own, but its messages quote what documents and people said (a
    merchant name, a supplier, a description, a file name): unescaped, "[Betal
    her](https://…)" is a link in the bot's voice in the review channel, and
    "||…||" hides part of a name from the reviewer."""
    return _MARKDOWN.sub(r"\\\1", text)


#: Messages one answer is split into at most (the rest is cut, "…").
MAX_PIECES: Final = 5


def pieces(text: str) -> list[str]:
    """An answer as the messages it is sent in: markdown escaped, split between lines into
    messages within Discord's length limit (a line longer than that between characters,
    never inside an escape), at most MAX_PIECES, the last cut with "…" if it had to be.
    A long answer (a journal, a balance sheet, every supplier's costs) or morning summary
    was cut at 2,000 characters, its end lost."""
    escaped = discord_escaped(text)
    found: list[str] = []
    current = ""
    for line in escaped.split("\n"):
        while len(line) > MAX_MESSAGE:
            cut = MAX_MESSAGE
            if (cut - len(line[:cut].rstrip("\\"))) % 2:
                cut -= 1  # not between an escape and what it escapes
            if current:
                found.append(current)
                current = ""
            found.append(line[:cut])
            line = line[cut:]
        joined = f"{current}\n{line}" if current else line
        if len(joined) <= MAX_MESSAGE:
            current = joined
        else:
            found.append(current)
            current = line
    if current or not found:
        found.append(current)
    if len(found) > MAX_PIECES:
        last = found[MAX_PIECES - 1]
        found = [*found[: MAX_PIECES - 1], last[: MAX_MESSAGE - 1] + "…"]
    return found


#: Discord takes a nonce of at most 25 characters.
NONCE_LENGTH: Final = 25


def message_nonce(key: str) -> str:
    """The nonce of the message posted for `key`: the same key, the same nonce; 24
    characters of base32 (Discord allows 25)."""
    digest = hashlib.blake2b(key.encode(), digest_size=15).digest()
    return base64.b32encode(digest).decode("ascii")


class DiscordNotifier:
    """The Notifier port for one tenant's channel (the Discord tenant's)."""

    name = "discord"

    def __init__(
        self,
        token: str,
        tenant_id: str,
        channel_id: int,
        *,
        api_url: str | None = None,
        retries: int = 3,
    ) -> None:
        self._token = token
        self._tenant_id = tenant_id
        self._channel_id = channel_id
        #: Discord's REST API base (API_URL when None).
        self._api_url = (api_url or API_URL).rstrip("/")
        #: Tries again after a 5xx, a short 429 or a lost connection, with back-off.
        self._retries = retries

    async def post(self, tenant_id: str, text: str, *, key: str | None = None) -> None:
        """Post `text` when the tenant is the Discord tenant (others have no channel), in
        at most MAX_PIECES messages. `key` names what is posted: a retry with the same key
        posts nothing new."""
        if tenant_id != self._tenant_id:
            return
        # Escaped (bank texts and merchant names, shown as written) and split between
        # lines as the chat's answers are: a long summary was cut at 2,000 characters.
        # Each message has a key of its own (the first the post's), so a retry posts
        # none of those already posted again.
        for index, piece in enumerate(pieces(text)):
            part = key if key is None or index == 0 else f"{key}#{index + 1}"
            await self._create(piece, key=part)

    async def post_image(
        self, tenant_id: str, png: bytes, filename: str, text: str, *, key: str | None = None
    ) -> None:
        """Post a picture (the morning spending chart) with a caption, for the Discord
        tenant only."""
        if tenant_id != self._tenant_id:
            return
        text = discord_escaped(text)
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        await self._create(text, key=key, attachment=(png, filename))

    async def _create(
        self, content: str, *, key: str | None, attachment: tuple[bytes, str] | None = None
    ) -> None:
        """POST one message to Discord's REST API over the guarded client (outbound.client:
        a deadline and MAX_ANSWER bytes of answer at most — hikari's REST client read
        Discord's answer whole, however large). A 5xx or a lost connection is tried again
        `retries` times with back-off; a 429 asking to wait at most MAX_WAIT is waited out,
        longer is our ExternalRateLimited, tried again by the subscriber later."""
        payload: dict[str, Any] = {"content": content}
        if key is not None:
            payload.update(nonce=message_nonce(key), enforce_nonce=True)
        url = f"{self._api_url}/channels/{self._channel_id}/messages"
        headers = {"Authorization": f"Bot {self._token}", "User-Agent": USER_AGENT}
        attempt = 0
        async with outbound.client(
            timeout=TIMEOUT, deadline=outbound.deadline_for(TIMEOUT), limit=MAX_ANSWER
        ) as http:
            while True:
                try:
                    if attachment is None:
                        response = await http.post(url, json=payload, headers=headers)
                    else:
                        data, filename = attachment
                        response = await http.post(
                            url,
                            data={
                                "payload_json": json.dumps(
                                    {**payload, "attachments": [{"id": 0, "filename": filename}]}
                                )
                            },
                            files={"files[0]": (filename, data, "image/png")},
                            headers=headers,
                        )
                except outbound.AnswerTooLarge as error:
                    # Posted or not, the answer is no message of Discord's: the subscriber
                    # tries again later, and the nonce keeps a posted one to one message.
                    raise ExternalUnavailable(
                        f"Discord answered the post in channel {self._channel_id} with more "
                        f"than {MAX_ANSWER} bytes",
                        system="discord",
                    ) from error
                except httpx.HTTPError as error:
                    if attempt < self._retries:
                        attempt += 1
                        await asyncio.sleep(BACKOFF * attempt)
                        continue
                    raise ExternalUnavailable(
                        f"Discord did not answer: {type(error).__name__}", system="discord"
                    ) from error
                status = response.status_code
                if status < 300:
                    return
                said = _said(response)
                if status == 429:
                    wait = _wait(response)
                    if wait <= MAX_WAIT and attempt < self._retries:
                        attempt += 1
                        await asyncio.sleep(wait)
                        continue
                    raise ExternalRateLimited(
                        f"Discord asks to wait {wait:.0f} s before posting in channel "
                        f"{self._channel_id}",
                        system="discord",
                        retry_after=wait,
                    )
                if status >= 500 and attempt < self._retries:
                    attempt += 1
                    await asyncio.sleep(BACKOFF * attempt)
                    continue
                self._refused(status, said)

    def _refused(self, status: int, said: str) -> NoReturn:
        """Discord's refusal as our error, naming the channel and Discord's own words."""
        channel = self._channel_id
        if status == 401:
            raise ExternalAuthFailed(
                f"Discord refused the bot's token{said}", system="discord", status=401
            )
        if status == 404:
            raise ExternalNotFound(
                f"Discord knows no channel {channel} for the bot{said}",
                system="discord",
                status=404,
            )
        if status == 403:
            raise ExternalRejected(
                f"Discord does not let the bot post in channel {channel}{said} (its "
                "permissions: View Channel, Send Messages, Attach Files)",
                system="discord",
                status=403,
            )
        if 400 <= status < 500:
            raise ExternalRejected(
                f"Discord refused the post in channel {channel}{said}",
                system="discord",
                status=status,
            )
        raise ExternalUnavailable(
            f"Discord failed the post in channel {channel}{said}", system="discord", status=status
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _wait(response: httpx.Response) -> float:
    """Seconds a 429 asks to wait: the body's `retry_after`, else the headers'."""
    raw = _json(response).get("retry_after")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 <= raw < 1e6:
        return float(raw)
    return retry_after(response.headers) or BACKOFF


def _said(response: httpx.Response) -> str:
    """': <status> <Discord's message> (code N)', or '' when Discord said nothing."""
    body = _json(response)
    message = body.get("message")
    code = body.get("code")
    parts = [str(response.status_code)]
    if isinstance(message, str) and message:
        parts.append(message[:200])
    if isinstance(code, int) and code:
        parts.append(f"(code {code})")
    return ": " + " ".join(parts)
