"""Conversation messages in memory (unit tests, and stand-ins without a database)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bookkeeper.application.conversation import HISTORY_LIMIT, ConversationMessage


class MemoryConversationStore:
    """The ConversationStore port on a list."""

    def __init__(self) -> None:
        self.messages: list[ConversationMessage] = []

    async def add(self, messages: Sequence[ConversationMessage]) -> None:
        self.messages.extend(messages)

    async def history(
        self, tenant_id: str, channel_id: str, limit: int = HISTORY_LIMIT
    ) -> list[ConversationMessage]:
        found = [
            m for m in self.messages if m.tenant_id == tenant_id and m.channel_id == channel_id
        ]
        return found[-limit:] if limit > 0 else []

    async def purge(self, before: dt.datetime) -> int:
        kept = [m for m in self.messages if m.created_at >= before]
        removed = len(self.messages) - len(kept)
        self.messages = kept
        return removed
