"""Posts the morning summary to the Discord tenant's morning channel over hikari's REST
client (no gateway connection needed: a process without the bot posts too)."""

from __future__ import annotations

import re
from typing import Final

import hikari

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


class DiscordNotifier:
    """The Notifier port for one tenant's channel (the Discord tenant's)."""

    name = "discord"

    def __init__(self, token: str, tenant_id: str, channel_id: int) -> None:
        self._token = token
        self._tenant_id = tenant_id
        self._channel_id = channel_id

    async def post(self, tenant_id: str, text: str) -> None:
        """Post `text` when the tenant is the Discord tenant; others have no channel."""
        if tenant_id != self._tenant_id:
            return
        text = discord_escaped(text)  # bank texts and merchant names, shown as written
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        app = hikari.RESTApp()
        await app.start()
        try:
            async with app.acquire(self._token, hikari.TokenType.BOT) as rest:
                await rest.create_message(self._channel_id, text)
        finally:
            await app.close()

    async def post_image(self, tenant_id: str, png: bytes, filename: str, text: str) -> None:
        """Post a picture (the morning spending chart) with a caption, for the Discord
        tenant only."""
        if tenant_id != self._tenant_id:
            return
        app = hikari.RESTApp()
        await app.start()
        try:
            async with app.acquire(self._token, hikari.TokenType.BOT) as rest:
                await rest.create_message(
                    self._channel_id,
                    discord_escaped(text)[:MAX_MESSAGE],
                    attachment=hikari.Bytes(png, filename),
                )
        finally:
            await app.close()
