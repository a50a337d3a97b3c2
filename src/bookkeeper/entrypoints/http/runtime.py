"""What the app resolves from the container once, at startup, for its routes to use."""

from __future__ import annotations

from dataclasses import dataclass

from bookkeeper.application.bus import BusIntake
from bookkeeper.application.dispatch import Subscriptions
from bookkeeper.application.documents import Documents
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.lookups import Lookups
from bookkeeper.application.pipeline import DocumentPipeline
from bookkeeper.application.ports import BusPublisherStatus, BusStatus
from bookkeeper.application.queries import Queries
from bookkeeper.application.spending import SpendingService
from bookkeeper.backends import Backends
from bookkeeper.container import Database
from bookkeeper.entrypoints.scheduler import Scheduler
from bookkeeper.entrypoints.serve import Process


class NotStarted(RuntimeError):
    """A route ran before the app's startup resolved its services."""


@dataclass
class Runtime:
    """The started services. Filled by the lifespan; read by the route dependencies."""

    database: Database | None = None
    database_url: str = ""
    handlers: Handlers | None = None
    queries: Queries | None = None
    ledger: LedgerService | None = None
    lookups: Lookups | None = None
    documents: Documents | None = None
    pipeline: DocumentPipeline | None = None
    backends: Backends | None = None
    scheduler: Scheduler | None = None
    executor_running: bool = False
    bus_intake: BusIntake | None = None
    #: The external bus (NATS), through the port /health reads; None: the in-process bus.
    bus: BusStatus | None = None
    spending: SpendingService | None = None
    #: The log's subscribers (health: the bus-publisher's lag), and that publisher when it
    #: runs (health: its name and its connection).
    subscriptions: Subscriptions | None = None
    bus_publisher: BusPublisherStatus | None = None

    def start(self, process: Process) -> None:
        """Take the started process's services (the lifespan calls it once)."""
        services = process.services
        self.database = services.database
        self.database_url = services.database_url
        self.handlers = services.handlers
        self.queries = services.queries
        self.ledger = services.ledger
        self.lookups = services.lookups
        self.documents = services.documents
        self.pipeline = services.pipeline
        self.backends = services.backends
        self.scheduler = process.scheduler
        self.executor_running = process.executor is not None
        self.bus_intake = process.bus_intake
        self.bus = process.bus
        self.spending = services.spending
        self.subscriptions = services.subscriptions
        self.bus_publisher = process.bus_publisher

    def get_documents(self) -> Documents:
        if self.documents is None:
            raise NotStarted("the application has not started")
        return self.documents

    def get_pipeline(self) -> DocumentPipeline:
        if self.pipeline is None:
            raise NotStarted("the application has not started")
        return self.pipeline

    def get_handlers(self) -> Handlers:
        if self.handlers is None:
            raise NotStarted("the application has not started")
        return self.handlers

    def get_ledger(self) -> LedgerService:
        if self.ledger is None:
            raise NotStarted("the application has not started")
        return self.ledger

    def get_queries(self) -> Queries:
        if self.queries is None:
            raise NotStarted("the application has not started")
        return self.queries

    def get_bus_intake(self) -> BusIntake:
        if self.bus_intake is None:
            raise NotStarted("the application has not started")
        return self.bus_intake

    def get_lookups(self) -> Lookups:
        if self.lookups is None:
            raise NotStarted("the application has not started")
        return self.lookups

    def get_spending(self) -> SpendingService:
        if self.spending is None:
            raise NotStarted("the application has not started")
        return self.spending
