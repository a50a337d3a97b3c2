"""`bookkeeper replay` on PostgreSQL does not block writers (ADR 0038, issue 14 P3).

The replay rebuilds the projections into shadow tables while writers append and update the
live ones, catches up, and swaps. Here a writer in a thread of its own (its own event loop
and pool) proposes, approves and posts journal entries:

* in the middle of the bulk phase, synchronously from the replay's progress callback: if
  the replay held a lock a writer needs, that write could not finish and the test fails
  on its timeout, not on a timing figure;
* continuously while the replay runs, through the catch-up and the swap.

Afterwards every write is in the projections and the projections equal what an in-place
refold of the whole log gives, column for column; the swapped-in tables carry the live
tables' indexes (same names, same definitions) and the BI views read them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import random
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import msgspec
import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.shadow_replay import SHADOW, ShadowReplay
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.events import JournalLine, ReceiptAttachmentData
from tests.integration.test_sql_replay import run_commands
from tests.unit.external_doubles import Harness, invoice

pytestmark = pytest.mark.postgres

TENANT = "acme"
TABLES = ("proposals", "patterns", "journal_lines", "ledger_daily")
#: How long a write may take before the test calls it blocked (far above any real write).
BLOCKED_AFTER_S = 20.0


def _principal(subject: str, role: str) -> Principal:
    return Principal(subject=subject, tenant_id=TENANT, roles=frozenset({role}))


class Writer:
    """Handlers and a ledger on a database pool of their own, in a thread with its own
    event loop, so the test's loop (running the replay) can wait for a write to finish."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.database = SqlDatabase(url, pool_size=4, max_overflow=0)
        factory = self.database.uow_factory()
        clock, ids = SystemClock(), UuidV7Ids()
        self.handlers = Handlers(factory, clock, ids, RoleAuthorizer())
        self.ledger = LedgerService(factory, clock, ids, RoleAuthorizer())
        self.proposed: list[uuid.UUID] = []
        self.approved: list[uuid.UUID] = []
        self.entries = 0
        self.errors: list[BaseException] = []
        self._n = 0

    def call(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run a coroutine on the writer's loop and wait for it (blocking this thread)."""
        future = asyncio.run_coroutine_threadsafe(make(), self._loop)  # type: ignore[arg-type]
        try:
            return future.result(timeout=BLOCKED_AFTER_S)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"a write did not finish within {BLOCKED_AFTER_S} s during the replay")

    def start(self, make: Callable[[], Awaitable[Any]]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(make(), self._loop)  # type: ignore[arg-type]

    async def propose(self) -> uuid.UUID:
        self._n += 1
        result = await self.handlers.dispatch(
            SubmitEvent(
                principal=_principal("book-e", "agent"),
                type="ReceiptAttachmentProposed",
                data=ReceiptAttachmentData(
                    merchant_name=f"Written during replay {self._n}",
                    amount=Decimal("45.00") + self._n,
                    date=dt.date(2026, 11, 20),
                    vat_rate=Decimal("25"),
                    account_code="6540",
                    folio_event_id=f"ev-replay-{self._n}",
                ),
            )
        )
        self.proposed.append(result.stream_id)
        return result.stream_id

    async def approve(self, proposal_id: uuid.UUID) -> None:
        await self.handlers.dispatch(
            ApproveProposal(principal=_principal("kari", "reviewer"), proposal_id=proposal_id)
        )
        self.approved.append(proposal_id)

    async def post(self) -> None:
        self._n += 1
        await self.ledger.post_manual(
            _principal("regnskap", "accountant"),
            dt.date(2026, 11, 19),
            f"Bankgebyr {self._n}",
            [
                JournalLine(account="7770", debit=Decimal("49.00")),
                JournalLine(account="1920", credit=Decimal("49.00")),
            ],
        )
        self.entries += 1

    async def one_of_each(self, pending: list[uuid.UUID]) -> None:
        await self.approve(await self.propose())
        if pending:
            await self.approve(pending.pop())  # a stream the bulk phase may have folded
        await self.post()

    async def keep_writing(self, stop: threading.Event, pending: list[uuid.UUID]) -> int:
        rounds = 0
        while not stop.is_set():
            try:
                await self.one_of_each(pending)
            except Exception as error:
                self.errors.append(error)
                return rounds
            rounds += 1
        return rounds

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.database.dispose(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def writer(postgres_url: str) -> Iterator[Writer]:
    writer = Writer(postgres_url)
    try:
        yield writer
    finally:
        writer.close()


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def projections(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every projection, every column, in a fixed order."""
    return {t: rows(url, f"SELECT t::text FROM {t} t ORDER BY 1") for t in TABLES}


def indexes(url: str) -> list[tuple[Any, ...]]:
    return rows(
        url,
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename IN "
        "('proposals', 'patterns', 'journal_lines', 'ledger_daily') ORDER BY 1, 2",
    )


async def seed(database: SqlDatabase) -> list[uuid.UUID]:
    """A few hundred random commands, and proposals still waiting for approval."""
    factory = database.uow_factory()
    handlers = Handlers(factory, SystemClock(), UuidV7Ids(), RoleAuthorizer())
    await run_commands(handlers, random.Random(38), 200)
    pending: list[uuid.UUID] = []
    for n in range(12):
        result = await handlers.dispatch(
            SubmitEvent(
                principal=_principal("book-e", "agent"),
                type="ReceiptAttachmentProposed",
                data=ReceiptAttachmentData(
                    merchant_name=f"Waiting {n}",
                    amount=Decimal("100.00") + n,
                    date=dt.date(2026, 11, 18),
                    vat_rate=Decimal("25"),
                    account_code="6540",
                    folio_event_id=f"ev-waiting-{n}",
                ),
            )
        )
        pending.append(result.stream_id)
    return pending


async def test_writers_go_on_during_a_replay_and_the_swap_equals_a_fresh_fold(
    postgres_database: SqlDatabase, postgres_url: str, writer: Writer
) -> None:
    pending = await seed(postgres_database)
    before = indexes(postgres_url)
    pages: list[int] = []

    def progress(events: int) -> None:
        pages.append(events)
        if len(pages) in (2, 5):
            # In the bulk phase, with the replay's snapshot and shadow writes open.
            writer.call(lambda: writer.one_of_each(pending))

    stop = threading.Event()
    background = writer.start(lambda: writer.keep_writing(stop, pending))
    replay = ShadowReplay(
        postgres_database.engine, batch=20, final_delta=5, processes=2, parallel_from=1
    )
    try:
        report = await replay.run(progress)
    finally:
        stop.set()
        rounds = await asyncio.wrap_future(background)

    assert writer.errors == []
    assert len(pages) >= 5 and rounds >= 1
    assert replay.timings.caught_up_events > 0  # the catch-up had work to do
    after = projections(postgres_url)
    ids = rows(postgres_url, "SELECT id, status FROM proposals")
    status = {row[0]: row[1] for row in ids}
    # Every write made while the replay ran is in the swapped-in projections ...
    assert set(writer.proposed) <= set(status)
    assert all(status[p] == "APPROVED" for p in writer.approved)
    entries = rows(postgres_url, "SELECT count(DISTINCT entry_id) FROM journal_lines")[0][0]
    assert entries >= writer.entries
    # ... or else it was appended after the swap, into the swapped-in tables directly.
    assert report.proposals <= len(status)

    # The projections are what a refold of the whole log gives, column for column.
    await rebuild_projections(postgres_database.uow_factory())
    assert projections(postgres_url) == after
    # The swapped-in tables are indexed exactly as the live ones were; no shadow is left;
    # the BI views read the new tables.
    assert indexes(postgres_url) == before
    assert rows(postgres_url, f"SELECT count(*) FROM pg_namespace WHERE nspname = '{SHADOW}'") == [
        (0,)
    ]
    assert rows(postgres_url, "SELECT count(*) FROM bi_proposals")[0][0] == len(status)
    lines = rows(postgres_url, "SELECT count(*) FROM journal_lines")[0][0]
    assert rows(postgres_url, "SELECT count(*) FROM bi_journal_lines")[0][0] == lines


@pytest.mark.parametrize("processes", [1, 3])
async def test_a_replay_on_a_quiet_log_equals_the_in_place_fold(
    postgres_database: SqlDatabase, postgres_url: str, processes: int
) -> None:
    """Folded in one process, or cut into stream ranges folded by helper processes in the
    replay's exported snapshot: the same rows, the patterns merged by position."""
    await seed(postgres_database)
    live = projections(postgres_url)
    events = rows(postgres_url, "SELECT count(*) FROM events")[0][0]

    replay = ShadowReplay(postgres_database.engine, batch=7, processes=processes, parallel_from=1)
    report = await replay.run()

    assert replay.timings.processes == processes
    assert projections(postgres_url) == live
    assert report.events == events
    assert report.proposals == len(live["proposals"])
    assert report.patterns == len(live["patterns"])


async def test_a_failed_replay_leaves_the_live_projections_and_no_shadow(
    postgres_database: SqlDatabase, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(postgres_database)
    live = projections(postgres_url)

    async def broken(*_args: Any) -> None:
        raise RuntimeError("disk full while building an index")

    replay = ShadowReplay(postgres_database.engine)
    monkeypatch.setattr(replay, "_build_indexes", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        await replay.run()

    assert projections(postgres_url) == live
    assert rows(postgres_url, f"SELECT count(*) FROM pg_namespace WHERE nspname = '{SHADOW}'") == [
        (0,)
    ]
    # And the next replay runs (the advisory lock was let go).
    await ShadowReplay(postgres_database.engine).run()
    assert projections(postgres_url) == live


async def test_the_swap_gives_way_to_a_transaction_holding_a_projection_and_tries_again(
    postgres_database: SqlDatabase, postgres_url: str
) -> None:
    """A writer in the middle of a transaction that holds `proposals` (and may append next)
    would deadlock with a swap that waited for it: the swap's lock times out first, it
    catches up and tries again once the writer is done."""
    await seed(postgres_database)
    live = projections(postgres_url)
    blocker = await psycopg.AsyncConnection.connect(postgres_url)
    replay = ShadowReplay(postgres_database.engine, lock_timeout_ms=100)
    swap = replay._swap
    calls = 0

    async def swap_with_a_writer_in_the_way(*args: Any) -> tuple[int, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await blocker.execute("LOCK TABLE proposals IN ROW EXCLUSIVE MODE")
        else:
            await blocker.commit()
        return await swap(*args)

    replay._swap = swap_with_a_writer_in_the_way  # type: ignore[method-assign]
    try:
        await replay.run()
    finally:
        await blocker.close()

    assert calls == 2 and replay.timings.swap_attempts == 2
    assert projections(postgres_url) == live


async def test_a_lease_renewed_by_the_heartbeat_survives_the_swap(
    postgres_database: SqlDatabase,
) -> None:
    """The lease of a running attempt is in its ExecutionStarted event; the heartbeat
    renews it in the projection only (ADR 0026). After the swap it is still the renewed
    one: no other executor may claim the attempt still running."""
    factory = postgres_database.uow_factory()
    h = Harness(uow_factory=factory)
    running = await h.approved(invoice(invoice_number="F-9"))
    h.world.faults.crash(after=True, operations={"create_purchase"})
    with pytest.raises(BaseException, match="crash"):
        await h.executor.run_once()  # claimed (ExecutionStarted with a lease), never finished
    started = await h.view(running)
    assert started.lease_until is not None
    renewed = started.lease_until + dt.timedelta(minutes=10)
    async with factory() as uow:
        assert await uow.proposals.renew_lease("acme", running, started.attempts, renewed)
        await uow.commit()

    await ShadowReplay(postgres_database.engine).run()

    after = await h.view(running)
    assert after.lease_until == renewed
    assert msgspec.structs.replace(after, lease_until=started.lease_until) == started
    async with factory() as uow:
        assert running not in [v.id for v in await uow.proposals.claim_due(h.clock.now(), 10)]
