"""DiscordBot: hikari's GatewayBot wired to the DiscordHandler, run inside `bookkeeper serve`.

`start()` connects in a background task (a bad token or a network failure is logged, never
raised into the HTTP server), then rebuilds the thread map and posts news every
`interval` seconds; `close()` stops both. It is handed its handler's dependencies by
entrypoints/serve.py, which builds it when BOOKKEEPER_DISCORD_TOKEN is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Final

import hikari

from bookkeeper.adapters.discord.handler import DiscordHandler
from bookkeeper.application.conversation import RETENTION

log = logging.getLogger("bookkeeper.discord")

#: Seconds between two posts of news into the document threads.
UPDATE_INTERVAL: Final = 30.0
INTENTS: Final = (
    hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.MESSAGE_CONTENT  # privileged: enable it
)


class DiscordBot:
    """The gateway connection and the periodic news, around one DiscordHandler."""

    def __init__(
        self,
        token: str,
        make_handler: Callable[[Any], DiscordHandler],
        *,
        interval: float = UPDATE_INTERVAL,
    ) -> None:
        self.bot = hikari.GatewayBot(
            token=token,
            intents=INTENTS,
            banner=None,
            logs=None,  # the app's logging configuration stays as it is
            suppress_optimization_warning=True,
        )
        self.handler = make_handler(self.bot.rest)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self.bot.subscribe(hikari.MessageCreateEvent, self._on_message)
        self.bot.subscribe(hikari.InteractionCreateEvent, self._on_interaction)

    async def _on_message(self, event: hikari.MessageCreateEvent) -> None:
        await self.handler.on_message(event)

    async def _on_interaction(self, event: hikari.InteractionCreateEvent) -> None:
        await self.handler.on_interaction(event)

    async def start(self) -> None:
        """Connect and run in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="discord-bot")

    async def _run(self) -> None:
        try:
            await self.bot.start()
        except Exception:
            log.exception("the Discord bot could not start")
            return
        log.info("Discord bot connected (tenant %s)", self.handler.tenant)
        try:
            since = dt.datetime.now(dt.UTC) - RETENTION
            found = await self.handler.recover(since)
            log.info("Discord: %d document thread(s) recovered", found)
        except Exception:
            log.exception("Discord: could not recover the document threads")
        try:
            reviews = await self.handler.recover_reviews()
            log.info("Discord: %d review message(s) recovered", reviews)
        except Exception:
            log.exception("Discord: could not recover the review messages")
        while True:
            await asyncio.sleep(self.interval)
            await self.handler.post_updates()

    async def close(self) -> None:
        """Stop the news and disconnect (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.bot.is_alive:
            await self.bot.close()
