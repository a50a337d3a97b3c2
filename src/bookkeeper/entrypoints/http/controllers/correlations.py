"""/correlations: everything that happened for one user action."""

import uuid

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from bookkeeper.application.queries import Queries
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import CorrelationOut, event_out


class CorrelationController(Controller):
    """Histories of user actions."""

    path = "/correlations"
    tags = ["events"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/{correlation_id:uuid}",
        operation_id="getCorrelation",
        summary="The history of one action",
        responses=documented(401, 403, 404),
    )
    async def get_correlation(
        self,
        correlation_id: FromPath[uuid.UUID],
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
    ) -> CorrelationOut:
        """All events of one action (proposal, decision, execution …), oldest first."""
        events = await queries.correlation(request.user, correlation_id)
        return CorrelationOut(correlation_id=correlation_id, items=[event_out(e) for e in events])
