"""/reports: figures derived from the read models."""

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from bookkeeper.application.queries import Queries
from bookkeeper.entrypoints.http.csv_out import CsvOperation, ReportFormat, csv_response, wants_csv
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
        operation_class=CsvOperation,
    )
    async def approval_rate(
        self,
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
        created_from: From = None,
        created_to: To = None,
        format: ReportFormat = None,
    ) -> Response[ApprovalRateOut]:
        """Counts of proposals made in [from, to) by outcome, per kind and in total, with
        the approval rate (approved / decided) and the share approved automatically. CSV
        (one row per kind and a total row) with `Accept: text/csv` or `?format=csv`."""
        rate = await queries.approval_rate(
            request.user, aware(created_from, "from"), aware(created_to, "to")
        )
        out = approval_rate_out(rate)
        if wants_csv(request, format):
            columns = ("proposed", "approved", "auto_approved", "rejected", "pending",
                       "executed", "failed")  # fmt: skip
            return csv_response(
                "approval-rate.csv",
                ["kind", *(c.replace("_a", "A") for c in columns), "approvalRate"],
                [
                    *([k.kind, *(getattr(k, c) for c in columns), None] for k in out.by_kind),
                    ["total", *(getattr(out, c) for c in columns), out.approval_rate],
                ],
            )
        return Response(out)
