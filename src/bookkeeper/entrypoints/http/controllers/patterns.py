"""/patterns: the merchant patterns a reviewer approved for the tenant."""

from litestar import Controller, get
from litestar.di import NamedDependency

from bookkeeper.application.queries import Queries
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import PatternList, pattern_out


class PatternController(Controller):
    """Applied merchant patterns."""

    path = "/patterns"
    tags = ["patterns"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/",
        operation_id="listPatterns",
        summary="Applied merchant patterns",
        responses=documented(401, 403),
    )
    async def list_patterns(
        self, request: AuthenticatedRequest, queries: NamedDependency[Queries]
    ) -> PatternList:
        """Every applied pattern of the tenant (merchant → account and VAT rate), by merchant."""
        return PatternList(items=[pattern_out(p) for p in await queries.patterns(request.user)])
