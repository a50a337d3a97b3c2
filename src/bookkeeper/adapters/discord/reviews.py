"""The Discord review channel follows the log: a dispatcher subscriber (ADR 0018, 0028).

Every proposal that needs a person — whatever channel it came from (HTTP, the page, the
bus, Discord, a pattern suggestion after an approval) — is posted to the review channel
with its buttons; every later step of it (approved or rejected on the page, over REST, in
Discord or by a rule; endorsed; executed; failed) edits that message. As a subscriber it is
handed each event right after its commit and also follows the committed log from its
tracking position, so a post that failed while Discord was unreachable is retried.

Idempotent per event: a proposal is posted once (the handler keeps proposal → message and
rebuilds it from the channel after a restart), an edit is made only when the text changes.
Events older than `max_age` are passed over (a first start does not post the whole past).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Final

from bookkeeper.adapters.discord.handler import (
    DiscordHandler,
    concerns,
    read_review_content,
)
from bookkeeper.application.errors import NotFound
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.application.queries import Queries
from bookkeeper.domain.events import CATALOGUE, Status, Step

log = logging.getLogger("bookkeeper.discord")

#: The subscriber's tracking key: fixed forever (renaming it re-reads the whole log).
NAME: Final = "discord-review"
#: Steps whose events post or edit a review message.
STEPS: Final = frozenset(
    {
        Step.PROPOSED,
        Step.APPROVED,
        Step.ENDORSED,
        Step.REJECTED,
        Step.EXECUTED,
        Step.FAILED,
        # A person's retry of a failed execution: the message no longer says "Feilet".
        Step.EXECUTION_RETRIED,
    }
)
__all__ = ["MAX_AGE", "NAME", "STEPS", "TYPES", "ReviewSubscriber", "concerns"]

TYPES: Final = frozenset(
    t.name for t in CATALOGUE.values() if t.kind is not None and t.step in STEPS
)
#: How old an event may be and still be posted or edited for.
MAX_AGE: Final = dt.timedelta(days=30)


class ReviewSubscriber:
    """Posts proposals awaiting review and edits their messages as they move on."""

    name = NAME
    types = TYPES

    def __init__(
        self,
        handler: DiscordHandler,
        queries: Queries,
        *,
        max_age: dt.timedelta = MAX_AGE,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._handler = handler
        self._queries = queries
        self._max_age = max_age
        self._now = now

    async def handle(self, event: RecordedEvent) -> None:
        if event.tenant_id != self._handler.tenant or self._handler.review_channel is None:
            return
        if event.created_at < self._now() - self._max_age:
            return
        try:
            view = await self._queries.proposal(self._handler.agent, event.stream_id)
        except NotFound:
            log.warning("Discord review: proposal %s of %s not found", event.stream_id, event.type)
            return
        # Where it stands now, not where this event left it: a proposal approved by a rule
        # in the same commit is never posted, and a late event never rolls a message back.
        if CATALOGUE[event.type].step is Step.PROPOSED:
            # The event at hand is what the handler would read for the message's content.
            self._handler.review_contents.setdefault(event.stream_id, read_review_content(event))
        if CATALOGUE[event.type].step is Step.PROPOSED and view.status is Status.PROPOSED:
            await self._handler.post_review_request(view)
        else:
            await self._handler.update_review(view)
