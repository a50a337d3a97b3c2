"""/reports: figures derived from the read models."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from bookkeeper.application.queries import Queries
from bookkeeper.entrypoints.http.params import From, To, aware
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import ApprovalRateOut, approval_rate_out


class ReportController(Controller):
    """Reports of the caller's tenant."""

    path = "/reports"
    tags = ["reports"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/approval-rate",
        operation_id="getApprovalRate",
        summary="Approval rate of proposals",
        responses=documented(401, 403),
    )
    async def approval_rate(
        self,
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
        created_from: From = None,
        created_to: To = None,
    ) -> ApprovalRateOut:
        """Counts of proposals made in [from, to) by outcome, per kind and in total, with
        the approval rate (approved / decided) and the share approved automatically."""
        rate = await queries.approval_rate(
            request.user, aware(created_from, "from"), aware(created_to, "to")
        )
        return approval_rate_out(rate)
