"""What the app resolves from the container once, at startup, for its routes to use."""

from __future__ import annotations

from dataclasses import dataclass

from bookkeeper.application.documents import Documents
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.lookups import Lookups
from bookkeeper.application.pipeline import DocumentPipeline
from bookkeeper.application.queries import Queries
from bookkeeper.backends import Backends
from bookkeeper.container import Database
from bookkeeper.entrypoints.executor import ExecutorService


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
    executor_service: ExecutorService | None = None

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

    def get_lookups(self) -> Lookups:
        if self.lookups is None:
            raise NotStarted("the application has not started")
        return self.lookups
