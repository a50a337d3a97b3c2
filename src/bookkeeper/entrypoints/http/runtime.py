"""What the app resolves from the container once, at startup, for its routes to use."""

from __future__ import annotations

from dataclasses import dataclass

from bookkeeper.application.handlers import Handlers
from bookkeeper.application.queries import Queries
from bookkeeper.container import Database


class NotStarted(RuntimeError):
    """A route ran before the app's startup resolved its services."""


@dataclass
class Runtime:
    """The started services. Filled by the lifespan; read by the route dependencies."""

    database: Database | None = None
    database_url: str = ""
    handlers: Handlers | None = None
    queries: Queries | None = None

    def get_handlers(self) -> Handlers:
        if self.handlers is None:
            raise NotStarted("the application has not started")
        return self.handlers

    def get_queries(self) -> Queries:
        if self.queries is None:
            raise NotStarted("the application has not started")
        return self.queries
