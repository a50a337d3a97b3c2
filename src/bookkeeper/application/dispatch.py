"""After-commit dispatch: what the process does about events once they are committed.

A unit of work collects the events appended in it and, after a successful commit and once
its connection is released, hands them to `Dispatcher.dispatch` (the `AfterCommit` port).
Nothing here runs inside the writer's transaction, so nothing here can undo or delay a
commit, and a failure is logged, never raised into the writer.

Two kinds of listener, registered by type when the process is composed:

* **Reactions** (`Dispatcher.on`): in-process, best effort, for what is cheap to miss
  because something else catches up anyway — waking the executor (which also polls),
  nudging a channel.
* **Subscribers** (`Dispatcher.subscribe`): what must not be lost — learning a pattern
  from an approval, and later publishing to the bus or checking compliance. Each also
  follows the committed log from a stored position (tracking records, one per subscriber,
  `Subscriptions.catch_up`), run by a scheduler job and at start-up; so an event whose
  direct hand-over failed, or that was committed just before a crash, is handled from the
  log later. A subscriber must therefore be idempotent per event (a deterministic id for
  what it appends does that, see application/event_log.py): it may see an event twice,
  never zero times.

The log's positions are allocated when an event is inserted, not when it commits, so on
PostgreSQL a position can become visible after a higher one (and a rolled-back insert
leaves a permanent hole). `catch_up` stops before a hole and waits for it for a bounded
time (`gap_timeout`), then goes past it: a hole that old is a rolled-back append.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final, Protocol

from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.ports import RecordedEvent, UnitOfWorkFactory

#: A page of the log as one catch-up reads it: (the position read after, the database's
#: horizon at the read, the events).
_Page = tuple[int, tuple[int, int] | None, Sequence[RecordedEvent]]

log = logging.getLogger("bookkeeper.dispatch")

Reaction = Callable[[RecordedEvent], Awaitable[None] | None]
"""An in-process reaction to one committed event."""

#: How long catch_up waits for a hole in the positions to be filled.
GAP_TIMEOUT_SECONDS: Final = 10.0
#: Events read from the log per step of catch_up.
CATCH_UP_BATCH: Final = 500
#: Pages a LogFollower reads on past the head while new events keep coming (then it
#: lets others have the subscriber's lock, e.g. the scheduler's catch-up).
FOLLOW_PAGES: Final = 20


def _subscriber_failed(error: Exception, message: str, *args: object) -> None:
    """The one rule for a subscriber's failure, handed over after commit, followed from the
    log or finishing its batch (retried in every case): when what it sends to is away
    (ExternalUnavailable: an outage, failing every try until it is back) one warning per
    try saying why, without a traceback; anything else an ERROR with its traceback."""
    if isinstance(error, ExternalUnavailable):
        log.warning(message + ": %s", *args, error)
    else:
        log.error(message, *args, exc_info=error)


class Subscriber(Protocol):
    """Follows the committed log: handles each event of its types at least once."""

    #: The key of its tracking record: fixed forever (renaming it replays the whole log).
    name: str
    #: The event types it handles; others only move its position.
    types: frozenset[str]

    async def handle(self, event: RecordedEvent) -> None:
        """React to one committed event; idempotent (the same event may come twice)."""
        ...


class Flushing(Protocol):
    """A subscriber that hands its work on asynchronously (e.g. pipelined publishes):
    `flush()` returns once everything handled so far is done, or raises. The log's
    catch-up calls it before it moves the tracking position."""

    async def flush(self) -> None: ...


class Dispatcher:
    """Hands committed events to the reactions and subscribers registered for their type."""

    def __init__(self) -> None:
        self._reactions: defaultdict[str, list[Reaction]] = defaultdict(list)
        self._subscribers: list[Subscriber] = []
        #: Subscribers fed only from the log (in position order), never right after commit.
        self._log_only: set[str] = set()

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        return tuple(self._subscribers)

    def on(self, types: Iterable[str], reaction: Reaction) -> None:
        """Call `reaction` with each committed event of these types (best effort)."""
        for name in types:
            self._reactions[name].append(reaction)

    def subscribe(self, subscriber: Subscriber, *, in_order: bool = False) -> None:
        """Hand `subscriber` each committed event of its types at once, and let
        `Subscriptions` follow the log for it (a subscriber is registered once).

        `in_order`: the subscriber is fed only by `Subscriptions` from the log, strictly in
        position order (a hole is waited for), never right after commit (where a later
        entry may come before an earlier one that committed later); a `LogFollower` wakes
        its catch-up on each commit."""
        if any(s.name == subscriber.name for s in self._subscribers):
            raise ValueError(f"a subscriber named {subscriber.name!r} is already registered")
        self._subscribers.append(subscriber)
        if in_order:
            self._log_only.add(subscriber.name)

    async def dispatch(self, events: Sequence[RecordedEvent]) -> None:
        """The AfterCommit port: every reaction and subscriber for each event, in commit
        order. A failure is logged and the rest still run."""
        for event in events:
            for reaction in self._reactions.get(event.type, ()):
                try:
                    result = reaction(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception(
                        "reaction %s to %s %s failed", _name(reaction), event.type, event.id
                    )
            for subscriber in self._subscribers:
                if event.type not in subscriber.types or subscriber.name in self._log_only:
                    continue
                try:
                    await subscriber.handle(event)
                    flush = getattr(subscriber, "flush", None)
                    if flush is not None:
                        await flush()
                except Exception as error:
                    _subscriber_failed(
                        error,
                        "subscriber %s failed on %s %s; it is retried from the log",
                        subscriber.name,
                        event.type,
                        event.id,
                    )


class Subscriptions:
    """Runs each subscriber over the committed log from its tracking position."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        dispatcher: Dispatcher,
        *,
        batch: int = CATCH_UP_BATCH,
        gap_timeout: float = GAP_TIMEOUT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be positive")
        self._uow = uow_factory
        self._dispatcher = dispatcher
        self._batch = batch
        self._gap_timeout = gap_timeout
        self._monotonic = monotonic
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: (subscriber, missing position) → when the hole was first seen.
        self._holes: dict[tuple[str, int], float] = {}
        #: (subscriber, missing position) → the snapshot's xmax when first seen (PG).
        self._horizons: dict[tuple[str, int], int] = {}

    async def catch_up(self) -> dict[str, int]:
        """Bring every subscriber up to the head of the log; events handled, by name. A
        subscriber that fails stops at the event before the failure (logged) and is
        retried from there on the next call; the others go on."""
        handled: dict[str, int] = {}
        for subscriber in self._dispatcher.subscribers:
            try:
                handled[subscriber.name] = await self.catch_up_one(subscriber)
            except Exception:
                log.exception("catching up subscriber %s failed", subscriber.name)
                handled[subscriber.name] = 0
        return handled

    async def catch_up_one(self, subscriber: Subscriber, *, follow: int = 0) -> int:
        """Follow the log for one subscriber up to its head (or a hole, or a failure).

        `follow` (the LogFollower's): after a page that reached the head, read on for up
        to that many more pages while new events keep coming, the tracking position's
        commit of one page overlapping the read of the next — a writer committing all
        the time is followed without a fresh start (and its round trips) per commit.

        While a Flushing subscriber waits for what it was handed (the bus-publisher for
        JetStream's acks), the next page is already being read; it is handed over only
        once that flush succeeded (a failed one drops it), so nothing of a later page is
        sent before an earlier one is done."""
        count = 0
        name = subscriber.name
        async with self._locks[name]:
            start: int | None = None
            advancing: asyncio.Task[bool] | None = None
            reading_next: asyncio.Task[_Page] | None = None
            extra = follow
            try:
                while True:
                    if reading_next is not None:
                        reading, reading_next = reading_next, None
                        start, horizon, events = await reading
                    else:
                        start, horizon, events = await self._read(name, start)
                    if advancing is not None:
                        moved, advancing = await advancing, None
                        if not moved:  # another process is ahead of us; it carries on
                            return count
                    if not events:
                        return count
                    reached, done, complete = await self._handle(subscriber, start, events, horizon)
                    if complete and (len(events) == self._batch or extra > 0):
                        reading_next = asyncio.create_task(self._read(name, reached))
                    if reached > start and not await self._flushed(subscriber):
                        return count
                    count += done
                    if reached > start:
                        advancing = asyncio.create_task(self._advance(name, start, reached))
                        start = reached
                    if not complete:
                        return count
                    if len(events) < self._batch:
                        if extra <= 0:
                            return count
                        extra -= 1
            finally:
                if reading_next is not None:  # a page read ahead and not handed over
                    reading_next.cancel()
                    with contextlib.suppress(BaseException):
                        await reading_next
                if advancing is not None:
                    await advancing  # a failure to store the position is raised here

    async def _read(self, name: str, start: int | None) -> _Page:
        """(the position read after, the database's horizon, the next page): one unit."""
        async with self._uow() as uow:
            if start is None:
                start = await uow.tracking.position(name)
            # Each statement has its own snapshot (READ COMMITTED). Before the read: a
            # writer that ended before it is visible to it, so its xmin settles a hole
            # only once the writer that took the position has ended and the read still
            # misses it. A hole first seen is dated by a horizon read after the page: the
            # writer that took a position below one the read saw committed began before
            # it, so its xid is below that xmax (dated before the read, a writer that began
            # between the two had an xid above it, and its hole counted as settled while
            # it was still open — ADR 0030 addendum).
            horizon = await uow.tracking.horizon()
            events = await uow.events.read_all(after_position=start, limit=self._batch)
            if horizon is not None and self._new_hole(name, start, events):
                after = await uow.tracking.horizon()
                if after is not None:
                    horizon = (horizon[0], after[1])
        return start, horizon, events

    def _new_hole(self, name: str, start: int, events: Sequence[RecordedEvent]) -> bool:
        """Whether the page has a hole (its first missing position) not yet dated."""
        previous = start
        for event in events:
            if event.position != previous + 1 and (name, previous + 1) not in self._horizons:
                return True
            previous = event.position
        return False

    async def _advance(self, name: str, start: int, reached: int) -> bool:
        """Store a subscriber's new position (False: another process moved it first)."""
        async with self._uow() as uow:
            moved = await uow.tracking.advance(name, start, reached)
            await uow.commit()
        return moved

    async def _handle(
        self,
        subscriber: Subscriber,
        start: int,
        events: Sequence[RecordedEvent],
        horizon: tuple[int, int] | None = None,
    ) -> tuple[int, int, bool]:
        """Handle events in order: (position reached, events handled, whether all were)."""
        reached = start
        handled = 0
        for event in events:
            if event.position != reached + 1 and not self._hole_settled(
                subscriber.name, reached + 1, horizon
            ):
                return reached, handled, False
            if event.type in subscriber.types:
                try:
                    await subscriber.handle(event)
                except Exception as error:
                    _subscriber_failed(
                        error,
                        "subscriber %s failed on %s %s (position %s); retried later",
                        subscriber.name,
                        event.type,
                        event.id,
                        event.position,
                    )
                    return reached, handled, False
                handled += 1
            reached = event.position
            self._holes.pop((subscriber.name, reached), None)  # a hole that filled up
            self._horizons.pop((subscriber.name, reached), None)
        return reached, handled, True

    async def _flushed(self, subscriber: Subscriber) -> bool:
        """Whether a Flushing subscriber finished what it was handed (no flush: True)."""
        flush = getattr(subscriber, "flush", None)
        if flush is None:
            return True
        try:
            await flush()
        except Exception as error:
            _subscriber_failed(
                error, "subscriber %s could not finish its batch; retried", subscriber.name
            )
            return False
        return True

    def _hole_settled(
        self, name: str, position: int, horizon: tuple[int, int] | None = None
    ) -> bool:
        """Whether a missing position will stay missing. With the database's horizon
        (PostgreSQL): once every transaction that was running when the hole was first
        seen has ended — the one that took the position began before the next one was
        read — the hole is a rolled-back or skipped insert (ON CONFLICT DO NOTHING takes
        a position too), at once and for sure. Otherwise (no horizon, or a writer of
        that time still running): once missing for gap_timeout, as before."""
        if horizon is not None:
            xmin, xmax = horizon
            seen_at = self._horizons.setdefault((name, position), xmax)
            if xmin >= seen_at:
                self._horizons.pop((name, position), None)
                self._holes.pop((name, position), None)
                return True
            # A writer that began before is still running (possibly one that has nothing
            # to do with the hole, in another database of the server): wait, by time too.
        now = self._monotonic()
        first_seen = self._holes.setdefault((name, position), now)
        if now - first_seen < self._gap_timeout:
            return False
        del self._holes[(name, position)]
        self._horizons.pop((name, position), None)
        log.info("subscriber %s: position %s never committed; going past it", name, position)
        return True

    def waiting_for_hole(self, name: str) -> bool:
        """Whether the subscriber's last catch-up stopped before a hole in the positions."""
        return any(holder == name for holder, _ in self._holes)

    async def positions(self) -> dict[str, int]:
        """Every registered subscriber's tracking position (0: none handled yet)."""
        async with self._uow() as uow:
            stored = await uow.tracking.all()
        return {s.name: stored.get(s.name, 0) for s in self._dispatcher.subscribers}

    async def lag(self) -> tuple[int, dict[str, int]]:
        """The head of the log and every registered subscriber's tracking position, read
        in one unit (health: how far behind each one is)."""
        async with self._uow() as uow:
            head = await uow.tracking.head()
            stored = await uow.tracking.all()
        return head, {s.name: stored.get(s.name, 0) for s in self._dispatcher.subscribers}


def _name(reaction: Reaction) -> str:
    return getattr(reaction, "__qualname__", None) or type(reaction).__name__


class LogFollower:
    """Runs one in-order subscriber's catch-up in the background: at once when woken (a
    commit of one of its types, `Dispatcher.on`), every `interval` seconds otherwise, and
    every `hole_poll` seconds while it waits behind a hole in the positions."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        subscriber: Subscriber,
        *,
        interval: float = 1.0,
        hole_poll: float = 0.02,
        follow: int = FOLLOW_PAGES,
    ) -> None:
        self._subscriptions = subscriptions
        self._subscriber = subscriber
        self._interval = interval
        self._hole_poll = hole_poll
        self._follow = follow
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self, _event: RecordedEvent | None = None) -> None:
        """Ask for a catch-up as soon as possible (a Reaction)."""
        self._woken.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"follow:{self._subscriber.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        wait = self._hole_poll
        while True:
            self._woken.clear()
            try:
                await self._subscriptions.catch_up_one(self._subscriber, follow=self._follow)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following the log for %s failed", self._subscriber.name)
            if self._subscriptions.waiting_for_hole(self._subscriber.name):
                # Behind a hole: look again soon, then less and less often (each look
                # reads a page of the log); a commit (perhaps the one filling it) wakes
                # it, but not more often than every hole_poll seconds.
                await asyncio.sleep(self._hole_poll)
                timeout, wait = wait, min(wait * 2, self._interval)
            else:
                timeout, wait = self._interval, self._hole_poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), timeout)
