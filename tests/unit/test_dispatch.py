"""After-commit dispatch and subscribers following the log, on the in-memory store."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from bookkeeper.application.dispatch import Dispatcher, Subscriptions
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.event_log import stamp
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.domain.events import BalanceQueriedData

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
QUERY = "BalanceQueried"


class Recorder:
    """A subscriber that remembers what it was handed, and can be made to fail."""

    name = "recorder"
    types = frozenset({QUERY})

    def __init__(self) -> None:
        self.seen: list[uuid.UUID] = []
        self.fail_on: set[uuid.UUID] = set()

    async def handle(self, event: RecordedEvent) -> None:
        if event.id in self.fail_on:
            raise RuntimeError("boom")
        self.seen.append(event.id)


def _query(event_id: uuid.UUID | None = None) -> tuple[uuid.UUID, list[object]]:
    event_id = event_id or uuid.uuid4()
    return event_id, [
        stamp(
            QUERY,
            BalanceQueriedData(accounts=()),
            event_id=event_id,
            actor="book-e",
            at=T0,
            correlation_id=event_id,
        )
    ]


async def _append(factory: MemoryUnitOfWorkFactory, *, commit: bool = True) -> uuid.UUID:
    event_id, new = _query()
    async with factory() as uow:
        await uow.events.append("acme", event_id, 0, new)  # type: ignore[arg-type]
        if commit:
            await uow.commit()
    return event_id


async def test_committed_events_reach_reactions_and_subscribers_once_in_order() -> None:
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    reacted: list[uuid.UUID] = []
    dispatcher.on([QUERY], lambda event: reacted.append(event.id))
    recorder = Recorder()
    dispatcher.subscribe(recorder)

    first = await _append(factory)
    second = await _append(factory)
    await _append(factory, commit=False)  # rolled back: nothing handed over

    assert reacted == [first, second]
    assert recorder.seen == [first, second]


async def test_a_failing_reaction_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    reacted: list[uuid.UUID] = []

    def explode(event: RecordedEvent) -> None:
        raise RuntimeError("reaction broke")

    dispatcher.on([QUERY], explode)
    dispatcher.on([QUERY], lambda event: reacted.append(event.id))

    event_id = await _append(factory)  # the writer never sees the failure

    assert reacted == [event_id]
    assert "reaction" in caplog.text and "failed" in caplog.text
    async with factory() as uow:
        assert await uow.events.get("acme", event_id) is not None  # the commit stands


def test_a_subscriber_name_is_registered_once() -> None:
    dispatcher = Dispatcher()
    dispatcher.subscribe(Recorder())
    with pytest.raises(ValueError, match="already registered"):
        dispatcher.subscribe(Recorder())


async def test_catch_up_handles_from_the_tracking_position_and_stores_it() -> None:
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory()  # no hand-over: only the log is followed
    recorder = Recorder()
    dispatcher.subscribe(recorder)
    subscriptions = Subscriptions(factory, dispatcher, batch=2)
    ids = [await _append(factory) for _ in range(5)]

    assert await subscriptions.catch_up() == {"recorder": 5}
    assert recorder.seen == ids
    positions = await subscriptions.positions()
    assert positions["recorder"] > 0

    later = await _append(factory)
    assert await subscriptions.catch_up() == {"recorder": 1}
    assert recorder.seen == [*ids, later]


class Appender(Recorder):
    """A subscriber during whose handling a writer commits more events (`more` times)."""

    def __init__(self, factory: MemoryUnitOfWorkFactory, more: int) -> None:
        super().__init__()
        self.factory = factory
        self.more = more
        self.appended: list[uuid.UUID] = []

    async def handle(self, event: RecordedEvent) -> None:
        await super().handle(event)
        if self.more > 0:
            self.more -= 1
            self.appended.append(await _append(self.factory))


@pytest.mark.parametrize(("follow", "handled"), [(0, 1), (2, 3), (10, 4)])
async def test_following_reads_on_while_commits_keep_coming(follow: int, handled: int) -> None:
    """`follow` pages past the head: events committed while the subscriber works are
    handled in the same call, up to that many more pages; the position is stored for
    everything handled, and what is left is handled by the next call."""
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory()
    appender = Appender(factory, more=3)
    dispatcher.subscribe(appender)
    subscriptions = Subscriptions(factory, dispatcher)
    first = await _append(factory)

    assert await subscriptions.catch_up_one(appender, follow=follow) == handled
    assert appender.seen == [first, *appender.appended][:handled]
    async with factory() as uow:
        log = await uow.events.read_all()
    positions = await subscriptions.positions()
    assert positions["recorder"] == log[handled - 1].position
    await subscriptions.catch_up_one(appender)
    assert appender.seen[: handled + 1] == [first, *appender.appended][: handled + 1]
    assert set(appender.seen) <= {first, *appender.appended}


async def test_a_failed_event_is_retried_from_the_log_and_nothing_is_lost() -> None:
    dispatcher = Dispatcher()
    recorder = Recorder()
    dispatcher.subscribe(recorder)
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    subscriptions = Subscriptions(factory, dispatcher)
    first = await _append(factory)
    poisoned_id, new = _query()
    recorder.fail_on.add(poisoned_id)
    async with factory() as uow:
        await uow.events.append("acme", poisoned_id, 0, new)  # type: ignore[arg-type]
        await uow.commit()
    third = await _append(factory)
    assert recorder.seen == [first, third]  # the direct hand-over failed on the second

    await subscriptions.catch_up()  # stops before the poisoned event
    assert recorder.seen == [first, third, first]

    recorder.fail_on.clear()
    await subscriptions.catch_up()  # retried from the log: now handled, then the rest
    assert recorder.seen == [first, third, first, poisoned_id, third]


class Away(Recorder):
    """A subscriber whose counterpart is away (an outage): it says so as ours."""

    name = "away"

    async def handle(self, event: RecordedEvent) -> None:
        if event.id in self.fail_on:
            raise ExternalUnavailable("the ledger is not published to NATS: gone", system="nats")
        self.seen.append(event.id)


async def test_an_outage_is_a_warning_without_traceback_and_the_event_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscriber that cannot reach what it sends to (NATS down) fails every page until
    it is back: each try is one warning saying why, not an ERROR with a traceback; a
    failure of another kind still is one."""
    dispatcher = Dispatcher()
    away = Away()
    dispatcher.subscribe(away)
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    subscriptions = Subscriptions(factory, dispatcher)
    event_id, new = _query()
    away.fail_on.add(event_id)
    with caplog.at_level("WARNING", logger="bookkeeper.dispatch"):
        async with factory() as uow:
            await uow.events.append("acme", event_id, 0, new)  # type: ignore[arg-type]
            await uow.commit()  # handed over at once: fails
        assert (await subscriptions.catch_up())["away"] == 0  # from the log: fails again
    outage = [r for r in caplog.records if "not published to NATS" in r.getMessage()]
    assert len(outage) == 2
    assert all(r.levelname == "WARNING" and r.exc_info is None for r in outage)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]

    away.fail_on.clear()
    assert (await subscriptions.catch_up())["away"] == 1
    assert away.seen == [event_id]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_hole_in_the_positions_is_waited_for_then_passed() -> None:
    dispatcher = Dispatcher()
    recorder = Recorder()
    dispatcher.subscribe(recorder)
    factory = MemoryUnitOfWorkFactory()
    monotonic = FakeMonotonic()
    subscriptions = Subscriptions(factory, dispatcher, gap_timeout=10, monotonic=monotonic)
    first = await _append(factory)
    await subscriptions.catch_up()
    async with factory() as uow:  # a position taken and never committed
        event_id, new = _query()
        await uow.events.append("acme", event_id, 0, new)  # type: ignore[arg-type]
    after_hole = await _append(factory)

    await subscriptions.catch_up()
    assert recorder.seen == [first]  # waits: the hole may still be filled
    monotonic.now = 11
    await subscriptions.catch_up()
    assert recorder.seen == [first, after_hole]


class Flusher(Recorder):
    """A Flushing subscriber (like the bus-publisher) that notes its steps in `steps`, and
    whose flush waits a turn of the loop (JetStream's acks) and can be made to fail."""

    def __init__(self, steps: list[str]) -> None:
        super().__init__()
        self.steps = steps
        self.flush_fails = False

    async def handle(self, event: RecordedEvent) -> None:
        await super().handle(event)
        self.steps.append("handle")

    async def flush(self) -> None:
        self.steps.append("flush")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if self.flush_fails:
            self.steps.append("flush failed")
            raise RuntimeError("no ack")
        self.steps.append("flushed")


class CountingUnits:
    """The memory factory, noting each unit of work it opens in `steps`."""

    def __init__(self, inner: MemoryUnitOfWorkFactory, steps: list[str]) -> None:
        self.inner = inner
        self.steps = steps

    def __call__(self) -> MemoryUnitOfWork:
        self.steps.append("unit")
        return self.inner()


async def test_the_next_page_is_read_during_a_flush_and_handed_over_after_it() -> None:
    """While a Flushing subscriber waits for its acks, the next page is being read (its
    unit of work opens before the flush ends); nothing of that page is handed over until
    the flush succeeded, so pages reach the subscriber whole and in order."""
    steps: list[str] = []
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory()
    flusher = Flusher(steps)
    dispatcher.subscribe(flusher)
    subscriptions = Subscriptions(CountingUnits(factory, steps), dispatcher, batch=2)  # type: ignore[arg-type]
    ids = [await _append(factory) for _ in range(4)]

    assert await subscriptions.catch_up_one(flusher) == 4
    assert flusher.seen == ids
    first_flush = steps.index("flush")
    assert steps[first_flush - 2 : first_flush] == ["handle", "handle"]
    # A unit (the next page's read) opened while the first flush waited ...
    assert "unit" in steps[first_flush : steps.index("flushed")]
    # ... and the next page was handed over only after that flush succeeded.
    assert steps.index("handle", first_flush) > steps.index("flushed")
    assert (await subscriptions.positions())["recorder"] > 0


async def test_a_failed_flush_drops_the_page_read_ahead_and_keeps_the_position() -> None:
    steps: list[str] = []
    dispatcher = Dispatcher()
    factory = MemoryUnitOfWorkFactory()
    flusher = Flusher(steps)
    dispatcher.subscribe(flusher)
    subscriptions = Subscriptions(factory, dispatcher, batch=2)
    ids = [await _append(factory) for _ in range(4)]

    flusher.flush_fails = True
    assert await subscriptions.catch_up_one(flusher) == 0
    assert flusher.seen == ids[:2]  # nothing of the page read ahead was handed over
    assert (await subscriptions.positions())["recorder"] == 0

    flusher.flush_fails = False
    assert await subscriptions.catch_up_one(flusher) == 4  # sent again from the log
    assert flusher.seen == [*ids[:2], *ids]


@pytest.mark.parametrize("outage", [True, False], ids=["outage", "defect"])
async def test_one_rule_for_a_failure_at_hand_over_in_the_log_and_at_flush(
    caplog: pytest.LogCaptureFixture, outage: bool
) -> None:
    """Handed over after commit, followed from the log, finishing its batch: an outage
    (ExternalUnavailable) is a WARNING saying why without a traceback, anything else an
    ERROR with its traceback, wherever the subscriber failed."""
    error: Exception = (
        ExternalUnavailable("NATS is away", system="nats") if outage else RuntimeError("bug")
    )

    class Failing(Flusher):
        async def handle(self, event: RecordedEvent) -> None:
            if self.fail_on:
                raise error
            await super().handle(event)

        async def flush(self) -> None:
            if self.flush_fails:
                raise error

    failing = Failing([])
    dispatcher = Dispatcher()
    dispatcher.subscribe(failing)
    factory = MemoryUnitOfWorkFactory(after_commit=dispatcher.dispatch)
    subscriptions = Subscriptions(factory, dispatcher)
    event_id, new = _query()
    failing.fail_on.add(event_id)
    with caplog.at_level("WARNING", logger="bookkeeper.dispatch"):
        async with factory() as uow:
            await uow.events.append("acme", event_id, 0, new)  # type: ignore[arg-type]
            await uow.commit()  # handed over at once: fails
        assert (await subscriptions.catch_up())["recorder"] == 0  # from the log: fails
        failing.fail_on.clear()
        failing.flush_fails = True
        assert (await subscriptions.catch_up())["recorder"] == 0  # handled, flush fails
    said = [r for r in caplog.records if r.name == "bookkeeper.dispatch"]
    assert len(said) == 3
    for record in said:
        if outage:
            assert record.levelname == "WARNING" and record.exc_info is None
            assert "NATS is away" in record.getMessage()
        else:
            assert record.levelname == "ERROR" and record.exc_info is not None
            assert record.exc_info[1] is error
