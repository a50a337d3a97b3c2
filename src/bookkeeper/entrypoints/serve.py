"""What runs in the process, built from the container: the one place that starts things.

`open_services(container)` is what every entrypoint shares: the database (the embedded
SQLite migrated first), the application services, and the dispatcher with its
subscribers, so that a proposal approved through `bookkeeper chat` learns a pattern just
as one approved over HTTP does. `start_process(container)` adds what only a serving
process runs: the scheduler with its jobs and the Discord bot.

The scheduler's jobs (one registration each):

    executor             every BOOKKEEPER_EXECUTOR_INTERVAL s and on every approval:
                         carry out what is due (ADR 0009)
    subscriptions        at start and every SUBSCRIPTIONS_INTERVAL s: the log's
                         subscribers catch up from their tracking positions
    conversation-purge   daily at 02:00 UTC: forget messages past retention
    sealer               every SEAL_INTERVAL s: extend the event log's hash chain over
                         what committed (ADR 0024), beside the writers
    morning (+catch-up)  daily at 07:00 Europe/Oslo: the checks and one summary per
                         tenant, exactly once a day (entrypoints/morning_job.py)
    spending-pull        every 6 h (with the morning's switch): the providers' costs of
                         the last days as cost snapshots (entrypoints/spending_job.py)
    first-statistics     PostgreSQL only, every FIRST_STATISTICS_INTERVAL s until done:
                         ANALYZE each hot table never analysed once it holds rows enough,
                         so no prepared statement keeps a plan made without statistics
                         (adapters/sql/first_statistics.py, ADR 0048)

The executor runs in every process, on the process's scheduler; the others (and the
Discord bot) are the serve's shared jobs, on a scheduler of their own: with `bookkeeper
serve --workers N` only the worker holding the jobs lock (BOOKKEEPER_JOBS_LOCK, set by
the server) starts it, and another takes over within TAKEOVER_SECONDS if it dies (issue
14, P7: the other workers do not carry their memory). Each job stays safe to run in
several replicas at once (derived ids, tracking positions).

Reactions to committed events (application/dispatch.py): an approval wakes the executor.

The bus (issue 10): with BOOKKEEPER_NATS_URL set, the JetStream consumer books external
events in the background (`start_bus`) and the bus-publisher subscriber publishes the
committed ledger (`start_publisher`); without it, only the in-process route books.

Once a process has started (`start_process`), what it imported and built is frozen out of
the garbage collector (`freeze_started_heap`): a full collection otherwise walks all of it
and stopped the event loop for 70-200 ms on a loaded machine, every few seconds under
bus load (issue 14, P10; ADR 0034's addendum).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol

from bookkeeper.adapters.metrics import PROPOSAL_EVENT_TYPES, MeteredPass, count_proposal_events
from bookkeeper.application.bus import BusIntake
from bookkeeper.application.conversation import ConversationService
from bookkeeper.application.dispatch import Dispatcher, LogFollower, Subscriber, Subscriptions
from bookkeeper.application.documents import Documents
from bookkeeper.application.execution import Executor
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.lookups import Lookups
from bookkeeper.application.people import People
from bookkeeper.application.pipeline import DocumentPipeline
from bookkeeper.application.queries import Queries
from bookkeeper.application.seal import Sealer
from bookkeeper.application.spending import SpendingService
from bookkeeper.backends import Backends
from bookkeeper.container import Container, Database, migrated_database, resolve, shutdown
from bookkeeper.domain.events import APPROVAL_TYPES, RETRY_TYPES
from bookkeeper.entrypoints.morning_job import register_morning
from bookkeeper.entrypoints.scheduler import Scheduler, executor_run
from bookkeeper.entrypoints.spending_job import register_spending

if TYPE_CHECKING:  # loaded where used: hikari and nats (aiohttp) only when configured (P7)
    from bookkeeper.adapters.discord import DiscordBot, DiscordHandler
    from bookkeeper.adapters.nats.config import NatsSettings
    from bookkeeper.adapters.nats.consumer import NatsConsumer
    from bookkeeper.adapters.nats.publisher import NatsPublisher
    from bookkeeper.adapters.sql.first_statistics import FirstStatistics

log = logging.getLogger("bookkeeper")

EXECUTOR_JOB: Final = "executor"
SUBSCRIPTIONS_JOB: Final = "subscriptions"
PURGE_JOB: Final = "conversation-purge"
#: Seconds between two catch-ups of the log's subscribers (each is also handed its events
#: right after their commit; this is the retry and the crash recovery).
SUBSCRIPTIONS_INTERVAL: Final = 15.0
#: How often the review channel reads the log for proposals committed by another process
#: (another worker of the serve, another replica): the bot runs in one worker (P7), and a
#: reviewer should not wait for the subscriptions' catch-up to see them.
REVIEWS_FOLLOW_SECONDS: Final = 1.0
#: When the conversation purge runs (UTC): at night, in the quiet hours.
PURGE_HOUR_UTC: Final = 2
SEAL_JOB: Final = "sealer"
#: Seconds between two runs of the sealer (it seals what is older than its margin).
SEAL_INTERVAL: Final = 60.0
FIRST_STATISTICS_JOB: Final = "first-statistics"
#: Seconds between two looks at whether a hot table still needs its first ANALYZE (one
#: pg_stat query): a wrong generic plan costs a fresh database's first proposals until
#: then, while autovacuum may take a minute.
FIRST_STATISTICS_INTERVAL: Final = 5.0
#: Seconds between two attempts of a worker that does not run the shared jobs to take
#: the jobs lock (BOOKKEEPER_JOBS_LOCK) over.
TAKEOVER_SECONDS: Final = 5.0


@dataclass
class Services:
    """The application services an entrypoint uses, resolved once."""

    database: Database
    database_url: str
    handlers: Handlers
    queries: Queries
    ledger: LedgerService
    lookups: Lookups
    documents: Documents
    pipeline: DocumentPipeline
    conversation: ConversationService
    backends: Backends
    dispatcher: Dispatcher
    subscriptions: Subscriptions
    #: Issue 11: cost snapshots from the configured sources (None: not resolved).
    spending: SpendingService | None = None


@dataclass
class Process:
    """A serving process: its services, and what runs beside the requests."""

    services: Services
    #: The executor's scheduler (every process runs one).
    scheduler: Scheduler | None = None
    #: The shared jobs' scheduler (start_shared), in the process that runs them.
    shared_scheduler: Scheduler | None = None
    discord: DiscordBot | None = None
    executor: Executor | None = None
    #: The shared jobs (start_shared): here, or in the worker holding the jobs lock.
    shared: SharedJobs | None = None
    #: How long running jobs may go on at shutdown before they are cancelled (ADR 0021).
    shutdown_grace_seconds: float | None = None
    #: The bus: the intake of the in-process route, and the NATS consumer when configured.
    bus_intake: BusIntake | None = None
    bus: NatsConsumer | None = None
    bus_publisher: NatsPublisher | None = None
    #: The review channel's follower of the log (with the Discord bot).
    reviews_follower: LogFollower | None = None

    @property
    def jobs(self) -> list[str]:
        """The scheduled jobs this process runs."""
        return [job for scheduler in self._schedulers for job in scheduler.jobs]

    @property
    def _schedulers(self) -> list[Scheduler]:
        return [s for s in (self.scheduler, self.shared_scheduler) if s is not None]

    async def close(self) -> None:
        """Stop the bus consumer, the bot and the schedulers (letting running jobs finish,
        within the grace). The executor stops taking work first and hands back what it has
        not started."""
        if self.executor is not None:
            self.executor.stop()
        if self.shared is not None:
            await self.shared.stop()
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        if self.bus_publisher is not None:
            if self.bus_publisher.follower is not None:
                await self.bus_publisher.follower.stop()
            await self.bus_publisher.close()
            self.bus_publisher = None
        if self.reviews_follower is not None:
            await self.reviews_follower.stop()
            self.reviews_follower = None
        if self.discord is not None:
            await self.discord.close()
            self.discord = None
        # Together: the jobs of both go on within the one grace.
        await asyncio.gather(*(s.stop(self.shutdown_grace_seconds) for s in self._schedulers))
        self.scheduler = self.shared_scheduler = None
        if self.shared is not None:
            # After the jobs stopped: the next holder never runs them beside these.
            self.shared.release()
            self.shared = None


async def open_services(container: Container) -> Services:
    """Resolve the services every entrypoint needs and subscribe the log's subscribers
    (idempotent per container)."""
    database: Database = await migrated_database(container)
    people: People = container.people()
    people.keep_in(await resolve(container.name_store))
    dispatcher: Dispatcher = await resolve(container.dispatcher)
    subscribers: list[Subscriber] = await resolve(container.subscribers)
    for subscriber in subscribers:
        if subscriber not in dispatcher.subscribers:
            dispatcher.subscribe(subscriber)
    return Services(
        database=database,
        database_url=await resolve(container.redacted_database_url),
        handlers=await resolve(container.handlers),
        queries=await resolve(container.queries),
        ledger=await resolve(container.ledger),
        lookups=await resolve(container.lookups),
        documents=await resolve(container.documents),
        pipeline=await resolve(container.pipeline),
        conversation=await resolve(container.conversation),
        backends=await resolve(container.backends),
        dispatcher=dispatcher,
        subscriptions=await resolve(container.subscriptions),
        spending=await resolve(container.spending),
    )


def _log_document_reader(container: Container) -> None:
    """Say how documents are read; without OCR the service starts all the same (issue 13)."""
    describe = getattr(container.extractor(), "describe", None)
    if callable(describe):
        ready, sentence = describe()
        (log.info if ready else log.warning)("documents: %s", sentence)


#: Whether this process has frozen its started heap (once per process: see below).
_heap_frozen = False


def freeze_started_heap() -> bool:
    """Move everything alive now (modules, the container, pools, compiled statements) out
    of the garbage collector's generations, once per process; True if this call did it.

    Those objects live as long as the process, yet every full (generation 2) collection
    walks them all: under bus load such a collection ran every 1-3 s and held the event
    loop 70-200 ms each time (bench/bus.py), which is P10's p99. Frozen, they are not
    traversed (what is allocated afterwards is collected as before); garbage is collected
    first, so none of it is kept. Once only: a later start in the same process (tests)
    would otherwise freeze the previous start's objects after they were let go, and a
    cycle among them would never be freed."""
    global _heap_frozen
    if _heap_frozen:
        return False
    _heap_frozen = True
    gc.collect()
    gc.freeze()
    log.info(
        "started heap frozen: %d objects left out of garbage collection", gc.get_freeze_count()
    )
    return True


async def start_process(container: Container) -> Process:
    """Open the services, start the scheduler's jobs and the Discord bot (if configured).

    The executor runs in every process (each claims its own work, and an approval wakes
    the executor of the process that recorded it). The shared jobs (`start_shared`) run
    here unless BOOKKEEPER_JOBS_LOCK names a lock: then only in the worker holding it
    (issue 14, P7), the others asking again every TAKEOVER_SECONDS."""
    services = await open_services(container)
    settings = container.settings()
    log.info("serving with %s database %s", services.database.dialect, services.database_url)
    log.info("JWT signing key: %s", settings.jwt_private_key_file)
    _log_document_reader(container)
    process = Process(services=services)
    process.shutdown_grace_seconds = settings.shutdown_grace_seconds
    try:
        scheduler = Scheduler()
        if settings.executor_enabled:
            executor: Executor = await resolve(container.executor)
            process.executor = executor
            scheduler.every(
                EXECUTOR_JOB,
                settings.executor_interval_seconds,
                executor_run(MeteredPass(executor)),
            )
            # An approval, or a person's retry of a failed execution: due at once.
            services.dispatcher.on(
                APPROVAL_TYPES | RETRY_TYPES, lambda _event: scheduler.wake(EXECUTOR_JOB)
            )
            log.info(
                "executor started: approved actions go to books=%s, bank=%s",
                services.backends.books_backend,
                services.backends.bank_backend,
            )
            if services.backends.tenants is not None:
                log.info("per tenant: a tenant's own Fiken/Folio credentials come first")
        else:
            log.info("executor off (BOOKKEEPER_EXECUTOR=off): approved actions wait")
        services.dispatcher.on(PROPOSAL_EVENT_TYPES, count_proposal_events)
        process.scheduler = scheduler
        process.shared = SharedJobs(
            container.jobs_lock(), partial(start_shared, container, process), TAKEOVER_SECONDS
        )
        await process.shared.begin()
        await scheduler.start()
        # The bus's clients connect at the same time (with NATS down, the start waits out
        # one attempt, not one per client).
        (process.bus_intake, process.bus), process.bus_publisher = await asyncio.gather(
            start_bus(container), start_publisher(container, services)
        )
    except BaseException:
        await process.close()
        await shutdown(container)
        raise
    freeze_started_heap()
    return process


async def start_shared(container: Container, process: Process) -> None:
    """The jobs one process of a serve runs for all of them: the subscribers' catch-up,
    the conversation purge, the sealer, the morning run with its catch-up, the spending
    pull, the first statistics (PostgreSQL), and the Discord bot (one gateway connection).
    On a scheduler of their own (`process.shared_scheduler`), started once all are
    registered: a failure to register them leaves nothing running, and the executor's
    scheduler is never touched."""
    services = process.services
    shared = Scheduler()
    shared.every(SUBSCRIPTIONS_JOB, SUBSCRIPTIONS_INTERVAL, _catch_up(services.subscriptions))
    shared.daily(PURGE_JOB, services.conversation.purge, hour=PURGE_HOUR_UTC)
    sealer: Sealer | None = await resolve(container.sealer)
    if sealer is not None:
        shared.every(SEAL_JOB, SEAL_INTERVAL, sealer.run)
    first_statistics: FirstStatistics | None = await resolve(container.first_statistics)
    if first_statistics is not None:
        shared.every(FIRST_STATISTICS_JOB, FIRST_STATISTICS_INTERVAL, first_statistics.run)
    await register_morning(container, shared)
    await register_spending(container, shared)
    # In the background: the gateway connects while the API already serves.
    started = await start_discord(container, services)
    if started is not None:
        process.discord, process.reviews_follower = started
    process.shared_scheduler = shared
    await shared.start()


class JobsLock(Protocol):
    """Who runs the shared jobs (adapters/process_lock.FileLock)."""

    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


class SharedJobs:
    """The shared jobs of a serve, started in this process when it holds the jobs lock
    (or always, without a lock). Without the lock it asks again every `retry_seconds`
    until it gets it: the holder released it (shut down) or died (the kernel releases a
    dead process's lock)."""

    def __init__(
        self,
        lock: JobsLock | None,
        start: Callable[[], Awaitable[None]],
        retry_seconds: float = TAKEOVER_SECONDS,
    ) -> None:
        self._lock = lock
        self._start = start
        self._retry = retry_seconds
        self._waiting: asyncio.Task[None] | None = None
        self.running = False

    async def begin(self) -> None:
        """Start them now if the lock is free (a failure to start is raised), else wait
        for it in the background."""
        if not await self._start_holding():
            log.info(
                "scheduled jobs: another worker runs them; this one (pid %d) takes over if "
                "it stops",
                os.getpid(),
            )
            self._waiting = asyncio.create_task(self._take_over(), name="shared-jobs-takeover")
        elif self._lock is not None:
            log.info("scheduled jobs: this worker (pid %d) runs them", os.getpid())

    async def _take_over(self) -> None:
        while True:
            await asyncio.sleep(self._retry)
            try:
                if await self._start_holding():
                    log.info("scheduled jobs: this worker (pid %d) took them over", os.getpid())
                    return
            except Exception:
                # Another worker may do better; this one asks again later.
                log.exception("scheduled jobs: could not take them over; asking again later")

    async def _start_holding(self) -> bool:
        """Take the lock (none: nothing to take) and start the jobs; False when another
        worker holds it. A start that fails gives the lock back and raises."""
        if self._lock is not None and not self._lock.try_acquire():
            return False
        try:
            await self._start()
        except Exception:
            if self._lock is not None:
                self._lock.release()
            raise
        self.running = True
        return True

    async def stop(self) -> None:
        """Stop waiting for the lock. The lock itself is given back by `release`, once
        the jobs have stopped (Process.close)."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting

    def release(self) -> None:
        self.running = False
        if self._lock is not None:
            self._lock.release()


def _catch_up(subscriptions: Subscriptions) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        await subscriptions.catch_up()
        return False

    return run


async def start_discord(
    container: Container, services: Services
) -> tuple[DiscordBot, LogFollower] | None:
    """Start the bot configured by BOOKKEEPER_DISCORD_*, and the review channel's follower
    of the log; None when no token is set."""
    settings = container.settings()
    if not settings.discord_token or not settings.discord_tenant:
        log.info("Discord bot off (BOOKKEEPER_DISCORD_TOKEN unset)")
        return None
    from bookkeeper.adapters.discord import DiscordBot, DiscordHandler, parse_users
    from bookkeeper.adapters.discord.reviews import ReviewSubscriber

    authorizer = await resolve(container.authorizer)
    fetcher = await resolve(container.document_fetcher)
    users = parse_users(settings.discord_users)
    tenant = settings.discord_tenant

    def make_handler(rest: Any) -> DiscordHandler:
        return DiscordHandler(
            rest=rest,
            conversation=services.conversation,
            handlers=services.handlers,
            queries=services.queries,
            authorizer=authorizer,
            fetcher=fetcher,
            tenant=tenant,
            users=users,
            invoices_channel=settings.discord_invoices_channel,
            review_channel=settings.discord_review_channel,
        )

    bot = DiscordBot(settings.discord_token, make_handler)
    # Every proposal awaiting review is posted, and every decision edits its message,
    # whichever entrypoint made it (ADR 0028).
    follower = follow_reviews(services, ReviewSubscriber(bot.handler, services.queries))
    await bot.start()
    log.info("Discord bot starting for tenant %s (%d mapped user(s))", tenant, len(users))
    return bot, follower


def follow_reviews(services: Services, reviews: Subscriber) -> LogFollower:
    """Hand the review channel's subscriber this process's commits at once, and follow
    the log for it every REVIEWS_FOLLOW_SECONDS: a proposal another worker or replica
    committed is posted within about a second (it is idempotent per event, so meeting
    an event both ways posts it once)."""
    if not any(s.name == reviews.name for s in services.dispatcher.subscribers):
        services.dispatcher.subscribe(reviews)
    follower = LogFollower(services.subscriptions, reviews, interval=REVIEWS_FOLLOW_SECONDS)
    follower.start()
    return follower


async def start_bus(container: Container) -> tuple[BusIntake, NatsConsumer | None]:
    """The bus's intake, and the NATS JetStream consumer booking through it in the
    background when BOOKKEEPER_NATS_URL is set (None: the in-process route only)."""
    intake: BusIntake = await resolve(container.bus_intake)
    settings: NatsSettings | None = container.nats_settings()
    if settings is None:
        log.info("bus: in-process (POST /bus/events); BOOKKEEPER_NATS_URL unset")
        return intake, None
    from bookkeeper.adapters.nats.config import shown_url
    from bookkeeper.adapters.nats.consumer import NatsConsumer

    consumer = NatsConsumer(intake, settings)
    # The Accounts Master's AccountCreated / AccountUpdated: their own stream and durable.
    consumer.accounts = NatsConsumer(intake, settings.accounts())
    # At once: with the server down, each waits out one attempt before it connects in the
    # background (reconnect.py, `Reconnecting.first`), and the start waits for one only.
    await asyncio.gather(consumer.start(), consumer.accounts.start())
    log.info(
        "bus: NATS JetStream at %s, durable consumer %s", shown_url(settings.url), settings.durable
    )
    log.info(
        "bus: Accounts Master from %s.> (durable %s)",
        settings.accounts_prefix,
        settings.accounts_durable,
    )
    # Unbound (the setting unset), any service that may publish on the inbound subjects
    # books into any company: right for one company, said at start for more (ADR 0030).
    if intake.tenants is None and not os.environ.get("BOOKKEEPER_BUS_TENANTS", "").strip():
        log.warning(
            "bus: BOOKKEEPER_BUS_TENANTS is unset — the bus books for every tenant a message "
            "names and publishes every tenant's ledger; with more than one company, set it "
            "to the tenants this bus serves (ADR 0030)"
        )
    else:
        which = "every tenant's" if intake.tenants is None else "only their"
        log.info("bus: %s, and publishes %s ledger", intake.binding(), which)
    return intake, consumer


async def start_publisher(container: Container, services: Services) -> NatsPublisher | None:
    """The bus-publisher subscriber (the committed ledger to NATS) when NATS is configured;
    the `subscriptions` job's catch-up publishes what was committed while it was away."""
    publisher: NatsPublisher | None = await resolve(container.bus_publisher)
    if publisher is None:
        return None
    await publisher.start()
    if publisher not in services.dispatcher.subscribers:
        # In order: fed only from the log, woken by each commit (per-tenant order kept).
        services.dispatcher.subscribe(publisher, in_order=True)
        follower = LogFollower(services.subscriptions, publisher)
        services.dispatcher.on(publisher.types, follower.wake)
        follower.start()
        publisher.follower = follower
    log.info("bus: publishing the ledger as subscriber %s", publisher.name)
    return publisher
