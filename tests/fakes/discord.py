"""A recording double of the hikari REST client, shared by the Discord adapter tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any


class Rest:
    """The hikari RESTClient double: records the calls the Discord handler makes and
    answers with objects that have ids."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.next_id = 5000
        #: channel id ─▶ message id ─▶ the message as Discord holds it now.
        self.stored: dict[int, dict[int, SimpleNamespace]] = {}
        #: Seconds each call takes (a slow Discord).
        self.delay = delay
        #: When set, every call raises it (Discord unreachable).
        self.error: Exception | None = None

    async def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.calls.append((name, args, kwargs))

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def create_message(self, channel: int, content: str, **kwargs: Any) -> Any:
        await self._call("create_message", (channel, content), kwargs)
        message = SimpleNamespace(
            id=self._id(),
            channel_id=channel,
            content=content,
            components=kwargs.get("components"),
        )
        self.stored.setdefault(channel, {})[message.id] = message
        return message

    async def edit_message(self, channel: int, message: int, content: str, **kwargs: Any) -> Any:
        """RESTClient.edit_message: Discord answers 404 (Unknown Message) for an id it
        does not hold in that channel."""
        await self._call("edit_message", (channel, message, content), kwargs)
        held = self.stored.get(channel, {}).get(int(message))
        if held is None:
            raise LookupError(f"Unknown Message {message} in channel {channel}")
        held.content = content
        if "components" in kwargs:
            held.components = kwargs["components"]
        return held

    async def create_message_thread(
        self, channel: int, message: Any, name: str, **kwargs: Any
    ) -> Any:
        await self._call("create_message_thread", (channel, message.id, name), kwargs)
        return SimpleNamespace(id=self._id())

    def fetch_messages(self, channel: int) -> Messages:
        """RESTClient.fetch_messages: a lazy iterator over the channel, newest first."""
        held = list(self.stored.get(channel, {}).values())
        return Messages(list(reversed(held)))

    def edits(self, channel: int) -> list[tuple[int, str, dict[str, Any]]]:
        return [
            (a[1], a[2], kw) for n, a, kw in self.calls if n == "edit_message" and a[0] == channel
        ]

    def messages(self, channel: int) -> list[str]:
        return [a[1] for n, a, _ in self.calls if n == "create_message" and a[0] == channel]

    def threads(self) -> list[tuple[int, int, str]]:
        return [a for n, a, _ in self.calls if n == "create_message_thread"]

    def components(self, channel: int) -> list[Any]:
        return [kw.get("components") for n, a, kw in self.calls if a[0] == channel]


class Messages:
    """The part of hikari's LazyIterator the handler uses: `.limit(n)` and `async for`."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def limit(self, count: int) -> Messages:
        return Messages(self._items[:count])

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        for item in self._items:
            yield item


class Interaction:
    """What a button press or modal submit answers, in the order Discord received it.

    `delay` is how long the Discord side of each answer takes. `acknowledged_after` is the
    time (by `clock`) from the event's arrival to the first answer: Discord shows
    "interaction failed" when it is over 3 s.
    """

    def __init__(self, clock: Any = None, journal: list[str] | None = None) -> None:
        self.answers: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        #: A shared record of what happened in which order (answers are appended by name).
        self.journal = journal if journal is not None else []
        self._clock = clock or asyncio.get_running_loop().time
        self._arrived = self._clock()
        self.acknowledged_after: float | None = None

    def _answer(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.acknowledged_after is None:
            self.acknowledged_after = self._clock() - self._arrived
        self.answers.append((name, args, kwargs))
        self.journal.append(name)

    async def create_initial_response(self, *args: Any, **kwargs: Any) -> None:
        if any(
            n in ("create_initial_response", "create_modal_response") for n, _, _ in self.answers
        ):
            raise RuntimeError("Interaction has already been acknowledged")
        self._answer("create_initial_response", args, kwargs)

    async def create_modal_response(self, *args: Any, **kwargs: Any) -> None:
        if self.answers:
            raise RuntimeError("Interaction has already been acknowledged")
        self._answer("create_modal_response", args, kwargs)

    async def edit_initial_response(self, *args: Any, **kwargs: Any) -> None:
        if not self.answers:
            raise RuntimeError("Unknown interaction: nothing to edit yet")
        self._answer("edit_initial_response", args, kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> None:
        if not self.answers:
            raise RuntimeError("Unknown interaction: a follow-up needs an answer first")
        self._answer("execute", args, kwargs)


def interaction(
    spec: type[Any],
    *,
    user: int,
    custom_id: str,
    channel: int,
    components: list[Any] | None = None,
    journal: list[str] | None = None,
) -> Any:
    """A hikari interaction stand-in that passes `isinstance(x, spec)` and answers through
    an `Interaction` (kept as `.fake`)."""
    from unittest import mock

    fake = Interaction(journal=journal)
    stand_in = mock.Mock(spec=spec)
    stand_in.custom_id = custom_id
    stand_in.user = SimpleNamespace(id=user)
    stand_in.channel_id = channel
    if components is not None:
        stand_in.components = components
    stand_in.create_initial_response = mock.AsyncMock(wraps=fake.create_initial_response)
    stand_in.create_modal_response = mock.AsyncMock(wraps=fake.create_modal_response)
    stand_in.edit_initial_response = mock.AsyncMock(wraps=fake.edit_initial_response)
    stand_in.execute = mock.AsyncMock(wraps=fake.execute)
    stand_in.fake = fake
    return stand_in


def decided(stand_in: Any) -> tuple[str, dict[str, Any]]:
    """A decision's answers: a deferred update at once, then the message edited to the
    outcome. (text, keyword arguments of the edit)."""
    import hikari

    (first, args, _), (second, edit_args, edit_kwargs) = stand_in.fake.answers
    assert first == "create_initial_response"
    assert args == (hikari.ResponseType.DEFERRED_MESSAGE_UPDATE,)
    assert second == "edit_initial_response"
    return str(edit_args[0]), edit_kwargs


def refusal(stand_in: Any) -> str:
    """An ephemeral refusal: at once, or as a follow-up after the deferred update."""
    import hikari

    answers = stand_in.fake.answers
    name, args, kwargs = answers[-1]
    assert kwargs["flags"] == hikari.MessageFlag.EPHEMERAL
    if name == "execute":
        assert answers[0][1] == (hikari.ResponseType.DEFERRED_MESSAGE_UPDATE,)
        return str(args[0])
    assert name == "create_initial_response" and len(answers) == 1
    assert args[0] is hikari.ResponseType.MESSAGE_CREATE
    return str(args[1])
