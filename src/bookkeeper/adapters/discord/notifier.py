"""Posts the morning summary to the Discord tenant's morning channel over hikari's REST
client (no gateway connection needed: a process without the bot posts too).

A post carries a nonce derived from what it posts (the run's event id and the part), with
Discord's `enforce_nonce` (hikari sets it with every nonce): Discord answers a second
message of the same nonce from the same bot within a few minutes with the first one and
creates none, so a retry after a post whose answer was lost, or whose recording failed,
does not post the summary twice (ADR 0023 addendum, "the morning post once"). Discord's
refusals and outages are our errors (application/errors.py): the subscriber that posts
says them in one line and tries again later.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final, NoReturn

import aiohttp
import hikari

from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)

#: Discord's longest message.
MAX_MESSAGE: int = 2000

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
        #: Discord's REST API base (hikari's default, https://discord.com/api/v10, when None).
        self._api_url = api_url
        #: hikari's own tries again after a 5xx or a lost connection, with back-off.
        self._retries = retries

    async def post(self, tenant_id: str, text: str, *, key: str | None = None) -> None:
        """Post `text` when the tenant is the Discord tenant; others have no channel.
        `key` names what is posted: a retry with the same key posts nothing new."""
        if tenant_id != self._tenant_id:
            return
        text = discord_escaped(text)  # bank texts and merchant names, shown as written
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        await self._create(text, key=key)

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
        await self._create(text, key=key, attachment=hikari.Bytes(png, filename))

    async def _create(
        self, content: str, *, key: str | None, attachment: hikari.Bytes | None = None
    ) -> None:
        # A wait Discord asks for beyond a minute is its refusal, tried again by the
        # subscriber later, not a post that holds the summaries behind it for minutes.
        app = hikari.RESTApp(url=self._api_url, max_rate_limit=60.0, max_retries=self._retries)
        await app.start()
        try:
            async with app.acquire(self._token, hikari.TokenType.BOT) as rest:
                await rest.create_message(
                    self._channel_id,
                    content,
                    nonce=hikari.UNDEFINED if key is None else message_nonce(key),
                    attachment=hikari.UNDEFINED if attachment is None else attachment,
                )
        except hikari.HTTPError as error:
            self._translate(error)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise ExternalUnavailable(
                f"Discord did not answer: {type(error).__name__}", system="discord"
            ) from error
        finally:
            await app.close()

    def _translate(self, error: hikari.HTTPError) -> NoReturn:
        """Discord's refusal as our error, naming the channel and Discord's own words."""
        channel = self._channel_id
        said = _said(error)
        if isinstance(error, hikari.RateLimitTooLongError):
            raise ExternalRateLimited(
                f"Discord asks to wait {error.retry_after:.0f} s before posting in channel "
                f"{channel}",
                system="discord",
                retry_after=error.retry_after,
            ) from error
        if isinstance(error, hikari.UnauthorizedError):
            raise ExternalAuthFailed(
                f"Discord refused the bot's token{said}", system="discord", status=401
            ) from error
        if isinstance(error, hikari.NotFoundError):
            raise ExternalNotFound(
                f"Discord knows no channel {channel} for the bot{said}",
                system="discord",
                status=404,
            ) from error
        if isinstance(error, hikari.ForbiddenError):
            raise ExternalRejected(
                f"Discord does not let the bot post in channel {channel}{said} (its "
                "permissions: View Channel, Send Messages, Attach Files)",
                system="discord",
                status=403,
            ) from error
        if isinstance(error, hikari.ClientHTTPResponseError):
            raise ExternalRejected(
                f"Discord refused the post in channel {channel}{said}",
                system="discord",
                status=int(error.status),
            ) from error
        status = getattr(error, "status", None)
        raise ExternalUnavailable(
            f"Discord failed the post in channel {channel}{said}",
            system="discord",
            status=None if status is None else int(status),
        ) from error


def _said(error: hikari.HTTPError) -> str:
    """': <status> <Discord's message> (code N)', or '' when Discord said nothing."""
    status = getattr(error, "status", None)
    message = getattr(error, "message", "") or ""
    code = getattr(error, "code", 0) or 0
    parts = [str(int(status))] if status is not None else []
    if message:
        parts.append(message[:200])
    if code:
        parts.append(f"(code {code})")
    return (": " + " ".join(parts)) if parts else ""
