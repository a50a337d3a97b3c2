"""Discord (hikari 2.x): documents and questions in, proposals, answers, reviews and news out."""

from bookkeeper.adapters.discord.bot import DiscordBot
from bookkeeper.adapters.discord.handler import (
    DiscordHandler,
    DiscordUser,
    conversation_channel,
    custom_id,
    parse_corrections,
    parse_users,
)
from bookkeeper.adapters.discord.reviews import ReviewSubscriber

__all__ = [
    "DiscordBot",
    "DiscordHandler",
    "DiscordUser",
    "ReviewSubscriber",
    "conversation_channel",
    "custom_id",
    "parse_corrections",
    "parse_users",
]
