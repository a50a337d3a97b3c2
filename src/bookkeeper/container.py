"""The composition root: one dependency-injector container that declares what exists.

Declaring the container builds nothing; providers run when an entrypoint first asks for
them. What *runs* — the HTTP app, the Discord bot, the scheduler's jobs, the reactions
to committed events — is built from these providers by entrypoints/serve.py (for
`bookkeeper serve`, and the subsets the CLI commands need); this module imports no
entrypoint. The database is a Resource: its async generator opens the engine and
disposes it on `shutdown_resources()`. Tests replace providers with
`container.<provider>.override(...)` — typically `database` (an in-memory stand-in),
`clock` and `settings` — which is the one seam they need.

    settings ──▶ database ──▶ uow_factory ──▶ handlers, queries, services …
                    dispatcher ──┘ (every unit of work hands it what it committed)
        └──────▶ signing_key ──▶ token_issuer, token_verifier (or the OIDC issuer's JWKS)
    clock, ids, authorizer ──▶ handlers, ledger ◀── backends (books, on first use)
    subscribers (pattern learner, …) ──▶ subscriptions (follow the log from tracking)
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dependency_injector import containers, providers

from bookkeeper.adapters.auth.casbin_authorizer import open_authorizer
from bookkeeper.adapters.auth.local_jwt import (
    LocalJwtIssuer,
    LocalJwtVerifier,
    load_or_create_signing_key,
)
from bookkeeper.adapters.auth.oidc import OidcVerifier
from bookkeeper.adapters.fetch import SafeFetcher
from bookkeeper.adapters.images import PillowImageConverter
from bookkeeper.adapters.nats.config import (
    load_bus_approval_limit,
    load_bus_tenants,
    load_nats_settings,
)
from bookkeeper.adapters.process_lock import FileLock
from bookkeeper.adapters.saft.wiring import saft_export as build_saft_export
from bookkeeper.adapters.sealing import sealer_for
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.accounts_master import AccountsMaster
from bookkeeper.application.bus import BusIntake, PublishAlerts
from bookkeeper.application.checks import Checks
from bookkeeper.application.compliance import ComplianceContext
from bookkeeper.application.conversation import ConversationService, ConversationStore
from bookkeeper.application.credentials import CredentialsService
from bookkeeper.application.dispatch import Dispatcher, Subscriptions
from bookkeeper.application.documents import Documents
from bookkeeper.application.execution import ExecutionPolicy, Executor
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import BooksSource, LedgerService
from bookkeeper.application.lookups import Lookups
from bookkeeper.application.morning import MorningCheck, MorningSummaries
from bookkeeper.application.pattern_learning import PatternLearner
from bookkeeper.application.people import NameStore, People, parse_people
from bookkeeper.application.pipeline import DocumentPipeline
from bookkeeper.application.ports import (
    AfterCommit,
    BankProvider,
    Clock,
    DocumentExtractor,
    IntentClassifier,
    TokenVerifier,
    UnitOfWorkFactory,
)
from bookkeeper.application.queries import Queries
from bookkeeper.application.rules import RulesService
from bookkeeper.application.spending import SpendingService
from bookkeeper.application.translation import Ingest, bus_principal, discovered_translators
from bookkeeper.backends import Backends, open_backends
from bookkeeper.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bookkeeper.adapters.nats.config import NatsSettings
    from bookkeeper.adapters.nats.publisher import NatsPublisher

T = TypeVar("T")


def publisher_of(
    settings: NatsSettings | None,
    alerts: PublishAlerts | None,
    tenants: frozenset[str] | None,
) -> NatsPublisher | None:
    """The bus-publisher when NATS is configured; nats (and aiohttp) load only then (P7).
    `alerts`: told about an entry too large for the bus; `tenants`: those whose ledger it
    publishes (BOOKKEEPER_BUS_TENANTS; None: every tenant's)."""
    if settings is None:
        return None
    from bookkeeper.adapters.nats.publisher import publisher_of as build

    return build(settings, alerts, tenants)


class Database(Protocol):
    """What the entrypoints need of a database adapter (SqlDatabase, or a test stand-in)."""

    @property
    def dialect(self) -> str:
        """The SQL dialect: sqlite or postgresql (a stand-in may say something else)."""
        ...

    def uow_factory(self, after_commit: AfterCommit | None = None) -> UnitOfWorkFactory:
        """The factory of units of work on this database; each hands what it committed to
        `after_commit`."""
        ...

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (alembic upgrade head)."""
        ...

    async def check_schema(self) -> None:
        """Return if the schema is at the newest revision; raise (SchemaBehind, SchemaUnknown,
        StorageUnavailable) otherwise."""
        ...

    async def ping(self) -> None:
        """Return if the database answers; raise otherwise."""
        ...

    async def dispose(self) -> None:
        """Close every pooled connection."""
        ...


async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The configured SQL database for the container's lifetime, disposed at shutdown."""
    from bookkeeper.adapters.sql import SqlDatabase  # the SQL stack loads only when used

    sqlite_file = sqlite_path(settings.database_url)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    database = SqlDatabase(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        group_writers=settings.db_group_writers,
        pool_recycle_seconds=settings.db_pool_recycle_seconds,
    )
    try:
        yield database
    finally:
        await database.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:/// URL, None for other URLs and in-memory SQLite."""
    scheme, _, rest = url.partition(":///")
    if not scheme.startswith("sqlite") or not rest or rest.startswith(":memory:"):
        return None
    return Path(rest.split("?", 1)[0])


def display_url(url: str) -> str:
    """The database URL with its password masked, fit for logs and /health."""
    from bookkeeper.adapters.sql import redact_url

    return str(redact_url(url))


def _uow_factory_of(database: Database, dispatcher: Dispatcher) -> UnitOfWorkFactory:
    return database.uow_factory(after_commit=dispatcher.dispatch)


#: `bookkeeper replay`: rebuild every projection from the log (progress hears events read).
Replay = Callable[[Callable[[int], None] | None], Awaitable[Any]]


#: Every tenant of the log, for a replay (the directory's listing is bounded otherwise).
ALL_TENANTS = 10_000_000


def _replay_of(database: Database, uow_factory: UnitOfWorkFactory) -> Replay:
    """On PostgreSQL the projections are rebuilt beside the live ones and swapped in, so
    writers are held back only for the swap (ADR 0038); elsewhere they are refolded in
    place in one transaction (SQLite has one writer at a time anyway)."""
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.application.replay import rebuild_projections

    if isinstance(database, SqlDatabase) and database.dialect == "postgresql":
        from bookkeeper.adapters.sql.shadow_replay import ShadowReplay
        from bookkeeper.adapters.sql.tenants import SqlTenantDirectory
        from bookkeeper.application.replay import rebuild_cost_snapshots

        async def costs() -> int:
            # The cost snapshots (ADR 0040 §6) are not among the shadow tables: refilled on
            # their own after the swap, in a short transaction (few rows, read by index).
            tenants = await SqlTenantDirectory(database).tenants(limit=ALL_TENANTS)
            return await rebuild_cost_snapshots(uow_factory, tenants)

        return ShadowReplay(database.engine, then=costs).run

    async def in_place(progress: Callable[[int], None] | None) -> Any:
        return await rebuild_projections(uow_factory, progress=progress)

    return in_place


def _execution_policy(settings: Settings) -> ExecutionPolicy:
    """The execution policy the process is configured with (BOOKKEEPER_EXECUTOR_*)."""
    return ExecutionPolicy(
        max_attempts=settings.executor_max_attempts,
        # Outages are retried on the capped back-off until the give-up time (ADR 0009
        # addendum); 0 hours: they count against max_attempts.
        give_up_after=(
            dt.timedelta(hours=settings.executor_give_up_hours)
            if settings.executor_give_up_hours
            else None
        ),
        tenant_concurrency=settings.executor_tenant_concurrency,
        payment_account=settings.payment_account,
        # A short lease renewed by a heartbeat (ADR 0026): no remote call is started in
        # its last third, and it is renewed three times in the rest.
        lease=dt.timedelta(seconds=settings.executor_lease_seconds),
        lease_margin=dt.timedelta(seconds=settings.executor_lease_seconds) / 3,
        base_delay=dt.timedelta(seconds=settings.executor_retry_seconds),
    )


def process_name() -> str:
    """This process's name on the attempts it claims: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _token_verifier(
    settings: Settings, signing_key: Callable[[], Ed25519PrivateKey]
) -> TokenVerifier:
    """The OIDC verifier when an issuer is configured (the local key is then neither read
    nor created for verifying), else the verifier of the local key."""
    if settings.oidc_issuer is not None:
        return OidcVerifier.from_settings(settings)
    return LocalJwtVerifier.for_private_key(
        signing_key(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        max_lifetime=dt.timedelta(hours=settings.jwt_max_lifetime_hours),
    )


def _extractor(settings: Settings) -> DocumentExtractor:
    """Claude when an Anthropic API key is configured, else the offline rules (imported
    here, so that neither is loaded unless documents are read)."""
    api_key = getattr(settings, "anthropic_api_key", None)
    if api_key:
        from bookkeeper.adapters.extraction.claude import ClaudeExtractor

        options: dict[str, Any] = {}
        if getattr(settings, "anthropic_model", None):
            options["model"] = settings.anthropic_model
        if getattr(settings, "anthropic_base_url", None):
            options["base_url"] = settings.anthropic_base_url
        return ClaudeExtractor(api_key, **options)
    # Issue 14 (P7): the offline reader's libraries load on the first document.
    from bookkeeper.adapters.extraction.lazy import LazyOfflineExtractor

    return LazyOfflineExtractor()


def _intent_classifier(settings: Settings, clock: Clock) -> IntentClassifier:
    """Which read-only question a chat message asks: Claude (choosing among the read-only
    intents only, keywords as its fallback) with an Anthropic API key, else the keywords."""
    api_key = getattr(settings, "anthropic_api_key", None)
    if api_key:
        from bookkeeper.adapters.intents.claude import ClaudeIntentClassifier
        from bookkeeper.application.lookups import OSLO

        options: dict[str, Any] = {}
        if getattr(settings, "anthropic_model", None):
            options["model"] = settings.anthropic_model
        if getattr(settings, "anthropic_base_url", None):
            options["base_url"] = settings.anthropic_base_url
        return ClaudeIntentClassifier(
            api_key, today=lambda: clock.now().astimezone(OSLO).date(), **options
        )
    from bookkeeper.application.conversation import KeywordClassifier

    return KeywordClassifier()


def _people(settings: Settings, clock: Clock) -> People:
    """Configured names, then learnt ones (kept in the database once the services open:
    `name_store`, entrypoints/serve.open_services)."""
    return People(parse_people(settings.people), now=clock.now)


def _name_store(database: Database) -> NameStore | None:
    """Learnt names in the SQL database (`people_names`) so that a restart or another
    replica shows them too; none on a test stand-in (memory only, as before)."""
    from bookkeeper.adapters.sql import SqlDatabase

    if not isinstance(database, SqlDatabase):
        return None
    from bookkeeper.adapters.sql.people import SqlNameStore

    return SqlNameStore(database)


def _conversation_store(database: Database) -> ConversationStore:
    """Messages in the SQL database; in memory on a test stand-in database."""
    from bookkeeper.adapters.sql import SqlDatabase

    if isinstance(database, SqlDatabase):
        from bookkeeper.adapters.sql.conversations import SqlConversationStore

        return SqlConversationStore(database)
    from bookkeeper.adapters.memory_conversations import MemoryConversationStore

    return MemoryConversationStore()


def _backend_source(
    backends: providers.Provider[Any], pick: Callable[[Backends], T]
) -> Callable[[], Awaitable[T]]:
    """Opens the `backends` resource on first call and hands out what `pick` takes of it
    (the books or the bank), so nothing waits on Fiken or Folio to start."""

    async def open_backend() -> T:
        opened: Backends = await resolve(backends)
        return pick(opened)

    return open_backend


def _books_source(backends: providers.Provider[Any]) -> BooksSource:
    return _backend_source(backends, lambda opened: opened.books)


def _norges_bank(settings: Settings) -> Any:
    """The one exchange-rate adapter (and its one cache) of the process (ADR 0040 §7):
    Norges Bank at BOOKKEEPER_EXCHANGE_RATES's address (or the deprecated
    BOOKKEEPER_NORGES_BANK_URL's), else at its own."""
    from bookkeeper.adapters.norges_bank import BASE_URL, NorgesBankRates

    return NorgesBankRates(
        base_url=settings.exchange_rates_url or settings.norges_bank_url or BASE_URL
    )


def _exchange_rates(settings: Settings, rates: Any) -> Any:
    """The rates documents are converted at when BOOKKEEPER_EXCHANGE_RATES names a source,
    else None (no conversion)."""
    return rates if settings.exchange_rates_url is not None else None


def _tenant_directory(settings: Settings, database: Database, uow_factory: Any) -> Any:
    """The morning run's tenants: BOOKKEEPER_MORNING_TENANTS, else those with events."""
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.application.morning import LogTenants, StaticTenants

    if settings.morning_tenants:
        return StaticTenants(settings.morning_tenants)
    if isinstance(database, SqlDatabase):
        from bookkeeper.adapters.sql.tenants import SqlTenantDirectory

        return SqlTenantDirectory(database)
    return LogTenants(uow_factory)


def _notifiers(settings: Settings) -> list[Any]:
    """Where morning summaries go: the log always, Discord when a morning channel is set."""
    from bookkeeper.application.morning import LoggingNotifier

    notifiers: list[Any] = [LoggingNotifier()]
    token, tenant = settings.discord_token, settings.discord_tenant
    if token and tenant and settings.discord_morning_channel is not None:
        from bookkeeper.adapters.discord.notifier import DiscordNotifier

        notifiers.append(DiscordNotifier(token, tenant, settings.discord_morning_channel))
    return notifiers


def _bank_source(backends: providers.Provider[Any]) -> Callable[[], Awaitable[BankProvider]]:
    return _backend_source(backends, lambda opened: opened.bank)


def _usage_sources(settings: Settings) -> tuple[list[Any], dict[str, str]]:
    """The cost sources configured by credentials (issue 11), and why each other is absent
    (for /health). Each adapter is imported only when configured."""
    sources: list[Any] = []
    absent: dict[str, str] = {}
    if settings.anthropic_admin_key:
        from bookkeeper.adapters.anthropic_admin import AnthropicAdminUsage

        options: dict[str, Any] = {}
        if settings.anthropic_admin_base_url:
            options["base_url"] = settings.anthropic_admin_base_url
        sources.append(AnthropicAdminUsage(settings.anthropic_admin_key, **options))
    else:
        absent["anthropic"] = "BOOKKEEPER_ANTHROPIC_ADMIN_KEY unset"
    if settings.google_billing_key_file is not None and settings.google_billing_table:
        import json

        from bookkeeper.adapters.google_billing import DEFAULT_SERVICES, GoogleBillingUsage

        try:
            info = json.loads(settings.google_billing_key_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            # The message names the file and the failure, never the key's content.
            raise SettingsError(
                f"BOOKKEEPER_GOOGLE_BILLING_KEY_FILE {settings.google_billing_key_file}: "
                f"not a readable service-account key ({type(error).__name__})"
            ) from None
        google: dict[str, Any] = {
            "project": settings.google_billing_project or str(info.get("project_id", "")),
            "table": settings.google_billing_table,
            "services": settings.google_billing_services or DEFAULT_SERVICES,
            "location": settings.google_billing_location,
        }
        if settings.google_bigquery_url:
            google["base_url"] = settings.google_bigquery_url
        sources.append(GoogleBillingUsage(info, **google))
    else:
        absent["google"] = "BOOKKEEPER_GOOGLE_BILLING_KEY_FILE unset"
    if settings.cloudflare_token and settings.cloudflare_account:
        from bookkeeper.adapters.cloudflare import CloudflareUsage

        cloudflare: dict[str, Any] = {}
        if settings.cloudflare_base_url:
            cloudflare["base_url"] = settings.cloudflare_base_url
        sources.append(
            CloudflareUsage(settings.cloudflare_token, settings.cloudflare_account, **cloudflare)
        )
    else:
        absent["cloudflare"] = "BOOKKEEPER_CLOUDFLARE_TOKEN unset"
    return sources, absent


def _chart() -> Any:
    """The morning post's spending chart (Pillow; imported when first drawn)."""
    from bookkeeper.adapters.chart import PillowChart

    return PillowChart()


def _spending_service(
    settings: Settings,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    ids: Any,
    authorizer: Any,
    rates: Any = None,
) -> SpendingService:
    """Cost snapshots from the configured sources and the service's own calls, in NOK at
    Norges Bank's rates (its open API needs no credentials): the container's one adapter."""
    from bookkeeper.adapters.cloudflare import DEFAULT_PRICES

    sources, absent = _usage_sources(settings)
    rates = rates if rates is not None else _norges_bank(settings)
    return SpendingService(
        uow_factory,
        clock,
        ids,
        authorizer,
        rates,
        sources,
        default_prices={"cloudflare": DEFAULT_PRICES},
        external_tenants=settings.costs_tenants,
        absent=absent,
    )


async def _books_import(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: Clock, credentials: Any
) -> AsyncIterator[Any]:
    """The Fiken import (issue 14, P5, ADR 0037) per tenant: the tenant's own Fiken
    credentials (ADR 0036), else the environment's; BooksNotConfigured without either.
    Fiken's limits through the same gate as the executors' (ADR 0035)."""
    from bookkeeper.adapters.fiken.history import TenantBooksImport
    from bookkeeper.application.books_import import BooksImport
    from bookkeeper.backends import fiken_gates

    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        yield TenantBooksImport(
            lambda history: BooksImport(uow_factory, history, clock),
            credentials=credentials,
            base_url=settings.fiken_base_url,
            token=settings.fiken_token,
            company=settings.fiken_company,
            gates=fiken_gates(settings, closers),
        )
    finally:
        for close in closers:
            await close()


async def _exclusive(settings: Settings) -> AsyncIterator[Any]:
    """Issue 14 (ADR 0043, ADR 0047's addendum): what makes a supplier's find-and-create
    one at a time — PostgreSQL advisory locks on sessions of their own across the
    replicas (this process's callers queued first); asyncio locks on SQLite (one
    process)."""
    scheme = settings.database_url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("postgres", "postgresql"):
        from bookkeeper.adapters.memory_locks import InProcessLocks

        yield InProcessLocks()
        return
    from bookkeeper.adapters.sql.advisory_locks import PostgresLocks
    from bookkeeper.adapters.sql.urls import libpq_url

    locks = PostgresLocks(libpq_url(settings.database_url))
    try:
        yield locks
    finally:
        await locks.aclose()


def _jobs_lock(settings: Settings) -> FileLock | None:
    """The lock whose holder runs the serve's shared jobs; None: this process runs them."""
    return FileLock(settings.jobs_lock) if settings.jobs_lock is not None else None


def _first_statistics(database: Any) -> Any:
    """ADR 0048: the hot tables' first ANALYZE on PostgreSQL (a FirstStatistics), None on
    SQLite or an in-memory stand-in (the SQL stack loads only when used)."""
    from bookkeeper.adapters.sql.first_statistics import first_statistics_for

    return first_statistics_for(database)


def _credentials_box(settings: Settings) -> Any:
    """Issue 14: the Fernet box of BOOKKEEPER_CREDENTIALS_KEY (None when unset)."""
    from bookkeeper.adapters.credentials.fernet import InvalidCredentialsKey, secret_box

    try:
        return secret_box(settings.credentials_key)
    except InvalidCredentialsKey as error:
        raise SettingsError(str(error)) from None


def check_settings(container: Container) -> Settings:
    """Every BOOKKEEPER_* variable, checked before a command does anything: those of
    Settings and those its adapters read themselves (the bus's, the credentials key).
    Read only when first used, a bad one reached `serve`'s operator as a traceback of the
    app's start and exit status 3, not as one line naming it and status 2."""
    settings: Settings = container.settings()
    container.nats_settings()
    container.bus_tenants()
    load_bus_approval_limit()
    _credentials_box(settings)
    return settings


class Container(containers.DeclarativeContainer):
    """Every long-lived object of the process, built on first use."""

    settings = providers.Singleton(load_settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UuidV7Ids)

    database = providers.Resource(open_database, settings=settings)
    redacted_database_url = providers.Callable(display_url, settings.provided.database_url)
    #: Reactions and subscribers to committed events, registered by entrypoints/serve.py.
    dispatcher = providers.Singleton(Dispatcher)
    uow_factory = providers.Singleton(_uow_factory_of, database, dispatcher)
    replay = providers.Singleton(_replay_of, database, uow_factory)
    #: Casbin, with the policy in the database (the defaults in memory without one); it
    #: notices a `bookkeeper policy` change within BOOKKEEPER_POLICY_RELOAD_SECONDS.
    authorizer = providers.Resource(
        open_authorizer, database, reload_seconds=settings.provided.policy_reload_seconds
    )

    signing_key = providers.Singleton(
        load_or_create_signing_key, settings.provided.jwt_private_key_file
    )
    token_issuer = providers.Singleton(
        LocalJwtIssuer,
        signing_key,
        issuer=settings.provided.jwt_issuer,
        audience=settings.provided.jwt_audience,
        # Token times are checked against the wall clock, so they are minted on it too,
        # whatever clock the application runs on (tests fix that one).
        clock=providers.Singleton(SystemClock),
    )
    #: The issuer's JWKS when BOOKKEEPER_OIDC_ISSUER is set, else the local key.
    token_verifier = providers.Singleton(_token_verifier, settings, signing_key.provider)

    handlers = providers.Singleton(
        Handlers, uow_factory=uow_factory, clock=clock, ids=ids, authorizer=authorizer
    )
    #: Story 2: a reviewer's approval suggests a pattern for the merchant.
    pattern_learner = providers.Singleton(
        PatternLearner, uow_factory=uow_factory, handlers=handlers
    )
    #: What follows the committed log from a tracking position (application/dispatch.py).
    subscribers = providers.List(pattern_learner)
    subscriptions = providers.Singleton(
        Subscriptions, uow_factory=uow_factory, dispatcher=dispatcher
    )
    queries = providers.Singleton(Queries, uow_factory=uow_factory, authorizer=authorizer)

    #: Fiken/Folio when configured, else the sandbox books and bank in the local database.
    backends = providers.Resource(open_backends, settings=settings, database=database, clock=clock)
    #: Issue 15: a receipt is checked against the bank event it names at proposal time.
    handlers.add_kwargs(bank_source=providers.Callable(_bank_source, backends.provider))
    #: Issue 15: an account code the books' chart does not know is a reason at proposal time.
    handlers.add_kwargs(books_source=providers.Callable(_books_source, backends.provider))
    #: ADR 0040 §7: one exchange-rate adapter (one cache) for documents and spending.
    exchange_rates = providers.Singleton(_norges_bank, settings)
    #: Issue 12: foreign-currency documents converted at Norges Bank's rate of their date.
    handlers.add_kwargs(
        exchange_rates=providers.Singleton(_exchange_rates, settings, exchange_rates)
    )

    #: Receipt and invoice files (POST/GET /files), in the database.
    documents = providers.Singleton(
        Documents, uow_factory=uow_factory, clock=clock, authorizer=authorizer
    )
    #: Issue 13: HEIC/WebP photos are accepted and stored as JPEG/PNG (ADR 0033).
    documents.add_kwargs(image_converter=providers.Singleton(PillowImageConverter))
    #: Carries approved proposals out in the books and the bank, exactly once (ADR 0009);
    #: `serve` runs it as a scheduler job, `bookkeeper execute` once.
    executor = providers.Singleton(
        Executor,
        uow_factory=uow_factory,
        books=backends.provided.books,
        bank=backends.provided.bank,
        clock=clock,
        ids=ids,
        policy=providers.Singleton(_execution_policy, settings),
        name=providers.Singleton(process_name),
        exclusive=providers.Resource(_exclusive, settings),
    )

    #: Manual entries and the ledger's reports; the books are opened only when a report
    #: first needs the chart of accounts, so the ledger never waits on Fiken to start.
    ledger = providers.Singleton(
        LedgerService,
        uow_factory=uow_factory,
        clock=clock,
        ids=ids,
        authorizer=authorizer,
        books_source=providers.Callable(_books_source, backends.provider),
    )

    #: SAF-T Financial files (GET /exports/saf-t, `bookkeeper export saf-t`).
    saft_export = providers.Singleton(
        build_saft_export,
        database=database,
        authorizer=authorizer,
        clock=clock,
        settings=settings,
        books_source=providers.Callable(_books_source, backends.provider),
    )

    #: Read-only questions to the bank and the books, each recorded as a query event.
    lookups = providers.Singleton(
        Lookups,
        uow_factory=uow_factory,
        clock=clock,
        ids=ids,
        authorizer=authorizer,
        books=backends.provided.books,
        bank=backends.provided.bank,
    )

    #: Reads receipts and invoices: Claude with BOOKKEEPER_ANTHROPIC_API_KEY, else offline.
    extractor = providers.Singleton(_extractor, settings)
    #: Document → extraction → bank match → proposal (POST /documents).
    pipeline = providers.Singleton(
        DocumentPipeline,
        documents=documents,
        extractor=extractor,
        bank=backends.provided.bank,
        handlers=handlers,
        uow_factory=uow_factory,
        clock=clock,
        ids=ids,
        authorizer=authorizer,
    )

    #: The conversation (Discord, `bookkeeper chat`): documents in, proposals and answers
    #: out; messages kept 30 days (`purge`).
    conversation_store = providers.Singleton(_conversation_store, database)
    #: Questions in plain language: Claude's read-only intents with an API key, else keywords.
    intent_classifier = providers.Singleton(_intent_classifier, settings, clock)
    #: What people are called where people read (BOOKKEEPER_PEOPLE, then names learnt
    #: from logins and Discord); events keep the principal.
    people = providers.Singleton(_people, settings, clock)
    name_store = providers.Singleton(_name_store, database)
    conversation = providers.Singleton(
        ConversationService,
        pipeline=pipeline,
        lookups=lookups,
        store=conversation_store,
        uow_factory=uow_factory,
        clock=clock,
        ids=ids,
        authorizer=authorizer,
        classifier=intent_classifier,
        ledger=ledger,
        people=people,
    )

    #: Issue 10: the translators of every installed plugin (entry-point group
    #: `book_keeper.translators`) and the ingest that books external events through them.
    translators = providers.Singleton(discovered_translators)
    ingest = providers.Singleton(Ingest, translators=translators, ledger=ledger)
    #: The bus: BOOKKEEPER_NATS_* (None: the in-process route only) and the intake every
    #: bus adapter books through, as the bus's service principal.
    nats_settings = providers.Singleton(load_nats_settings)
    #: The Accounts Master's AccountCreated / AccountUpdated, kept as tenant data (issue 10).
    accounts_master = providers.Singleton(AccountsMaster, uow_factory=uow_factory, clock=clock)
    #: The tenants the NATS bus books for and publishes the ledger of
    #: (BOOKKEEPER_BUS_TENANTS: unset none, `*` every one; ADR 0030 addendum).
    bus_tenants = providers.Singleton(load_bus_tenants)
    bus_intake = providers.Singleton(
        BusIntake,
        ingest=ingest,
        uow_factory=uow_factory,
        clock=clock,
        principal_for=providers.Callable(
            bus_principal, providers.Callable(load_bus_approval_limit)
        ),
        authorizer=authorizer,
        accounts=accounts_master,
        tenants=bus_tenants,
    )
    #: The bus-publisher Subscriber (the ledger to NATS, of the bus's tenants only), None
    #: without NATS.
    bus_publisher = providers.Singleton(
        publisher_of,
        nats_settings,
        providers.Singleton(PublishAlerts, uow_factory=uow_factory, clock=clock),
        bus_tenants,
    )

    #: Fetches document URLs (Discord attachments) from BOOKKEEPER_FETCH_ALLOWED_HOSTS only,
    #: pinned to public addresses (adapters/fetch); for the document pipeline.
    document_fetcher = providers.Singleton(
        SafeFetcher, allowed_hosts=settings.provided.fetch_allowed_hosts
    )

    #: The event log's hash chain and seals (ADR 0024); None on an in-memory stand-in.
    sealer = providers.Singleton(sealer_for, database, clock)
    #: A fresh PostgreSQL database's first statistics (ADR 0048); None on SQLite.
    first_statistics = providers.Singleton(_first_statistics, database)
    #: Which worker of a serve runs the shared scheduled jobs (BOOKKEEPER_JOBS_LOCK, P7).
    jobs_lock = providers.Singleton(_jobs_lock, settings)
    #: The checks (POST /check/*, `bookkeeper check`) and the morning run (ADR 0023).
    checks = providers.Singleton(
        Checks,
        uow_factory=uow_factory,
        clock=clock,
        ids=ids,
        authorizer=authorizer,
        lookups=lookups,
        ledger=ledger,
        bank=backends.provided.bank,
    )
    tenant_directory = providers.Singleton(_tenant_directory, settings, database, uow_factory)
    morning_check = providers.Singleton(
        MorningCheck,
        checks=checks,
        uow_factory=uow_factory,
        clock=clock,
        tenants=tenant_directory,
    )
    morning_summaries = providers.Singleton(
        MorningSummaries,
        uow_factory=uow_factory,
        clock=clock,
        notifiers=providers.Singleton(_notifiers, settings),
    )

    #: Issue 12 (ADR 0029): the compliance context checks each posted entry after the
    #: fact; the rules as data are managed through RulesService (/rules, `bookkeeper rules`).
    compliance = providers.Singleton(
        ComplianceContext,
        uow_factory=uow_factory,
        handlers=handlers,
        clock=clock,
        books_source=providers.Callable(_books_source, backends.provider),
    )
    rules = providers.Singleton(
        RulesService, uow_factory=uow_factory, clock=clock, authorizer=authorizer
    )
    #: Issue 11: cost snapshots, budgets and the cost report, from every configured source.
    spending = providers.Singleton(
        _spending_service,
        settings=settings,
        uow_factory=uow_factory,
        clock=clock,
        ids=ids,
        authorizer=authorizer,
        rates=exchange_rates,
    )

    #: Issue 14 (ADR 0036): per-tenant Fiken and Folio credentials, encrypted at rest with
    #: BOOKKEEPER_CREDENTIALS_KEY (`bookkeeper credentials`, /tenants/{t}/credentials/{p}).
    credentials = providers.Singleton(
        CredentialsService,
        box=providers.Singleton(_credentials_box, settings),
        uow_factory=uow_factory,
        clock=clock,
        ids=ids,
        authorizer=authorizer,
    )

    #: Issue 14 (P5, ADR 0037): `bookkeeper import fiken`, the tenant's credentials or the
    #: environment's, through the token's gate.
    books_import = providers.Resource(
        _books_import,
        settings=settings,
        uow_factory=uow_factory,
        clock=clock,
        credentials=credentials,
    )


#: Issue 14: the backends resolve each tenant's books and bank through its credentials.
Container.backends.add_kwargs(credentials=Container.credentials)

#: The morning summaries follow the log like every subscriber (declared after the list).
Container.subscribers.add_args(Container.morning_summaries)
#: Issue 12: the compliance context follows the log too (ADR 0029).
Container.subscribers.add_args(Container.compliance)
#: Issue 11: the morning run pulls the costs and reports them in NOK with budget use; its
#: summary carries a chart of the last 30 days; the conversation answers spending questions.
Container.morning_check.add_kwargs(spending=Container.spending)
Container.morning_summaries.add_kwargs(
    spending=Container.spending, chart=providers.Singleton(_chart)
)
Container.conversation.add_kwargs(spending=Container.spending)


async def resolve(provider: providers.Provider[Any]) -> Any:
    """Call a provider and await it if it is asynchronous (it is while `database` is a
    Resource; an override with a plain object makes it synchronous)."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value


async def migrated_database(container: Container) -> Database:
    """The container's database, its schema brought up to date first on the embedded
    SQLite (PostgreSQL is migrated by `bookkeeper migrate`, never by a command's start),
    and watched: writes stop if the schema moves while the process runs."""
    database: Database = await resolve(container.database)
    if database.dialect == "sqlite":
        await database.migrate()  # watches the schema from here on (ADR 0035 addendum)
    else:
        # Checked before the process started (`serve`, or the command itself): from here
        # on a migration by another replica or an operator stops this one's writes.
        watch = getattr(database, "watch_schema", None)
        if watch is not None:
            watch()
    return database


async def shutdown(container: Container) -> None:
    """Release every resource the container opened (the database pool)."""
    result = container.shutdown_resources()
    if inspect.isawaitable(result):
        await result
