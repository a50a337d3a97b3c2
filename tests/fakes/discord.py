"""A recording double of the hikari REST client, shared by the Discord adapter tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class Rest:
    """The hikari RESTClient double: records the calls the Discord handler makes and
    answers with objects that have ids."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.next_id = 5000

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def create_message(self, channel: int, content: str, **kwargs: Any) -> Any:
        self.calls.append(("create_message", (channel, content), kwargs))
        return SimpleNamespace(id=self._id(), channel_id=channel, content=content)

    async def create_message_thread(
        self, channel: int, message: Any, name: str, **kwargs: Any
    ) -> Any:
        self.calls.append(("create_message_thread", (channel, message.id, name), kwargs))
        return SimpleNamespace(id=self._id())

    def messages(self, channel: int) -> list[str]:
        return [a[1] for n, a, _ in self.calls if n == "create_message" and a[0] == channel]

    def threads(self) -> list[tuple[int, int, str]]:
        return [a for n, a, _ in self.calls if n == "create_message_thread"]

    def components(self, channel: int) -> list[Any]:
        return [kw.get("components") for n, a, kw in self.calls if a[0] == channel]
