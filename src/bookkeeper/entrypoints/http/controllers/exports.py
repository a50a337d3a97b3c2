"""/exports: files of the whole ledger for the authorities — SAF-T Financial 1.30.

The file streams: the response starts once the caller and the period are checked and the
company is known, and its bytes are produced as the ledger is read (application.saft), so
neither side holds a year of lines in memory. `export_routes(container)` is what the app
mounts: the export service is resolved from the container on first use.
"""

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Controller, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Response, Stream

from bookkeeper.application.saft import CompanyUnknown, SaftExport
from bookkeeper.entrypoints.http.problems import documented, problem_response
from bookkeeper.entrypoints.http.routing import FreshRouter
from bookkeeper.entrypoints.http.security import AuthenticatedRequest

XML = "application/xml"

FromDate = Annotated[
    dt.date,
    QueryParameter(name="from", description="First day of the period (YYYY-MM-DD), inclusive"),
]
ToDate = Annotated[
    dt.date,
    QueryParameter(name="to", description="Last day of the period (YYYY-MM-DD), inclusive"),
]


class SaftExportController(Controller):
    """SAF-T Financial files of the caller's tenant."""

    path = "/saf-t"
    tags = ["exports"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/",
        operation_id="exportSaftFinancial",
        summary="SAF-T Financial 1.30 file of a period",
        media_type=XML,
        response_headers=[
            ResponseHeader(
                name="Content-Disposition",
                description='attachment; filename="SAF-T Financial_<orgnr>_<time>_1_1.xml"',
                documentation_only=True,
            )
        ],
        responses=documented(401, 403, 422, 503),
    )
    async def saft(
        self,
        request: AuthenticatedRequest,
        saft_export: NamedDependency[SaftExport],
        start: FromDate,
        end: ToDate,
    ) -> Stream | Response[Any]:
        """The tenant's ledger for [from, to] as a SAF-T Financial 1.30 file (Skatteetaten's
        XSD): header, accounts with opening and closing balances, suppliers, VAT codes and
        every journal entry of the period. Needs the `exports:read` permission. A missing or
        malformed date is a 400; a period that ends before it starts, or is longer than two
        years, is a 422 (like every business rule)."""
        try:
            file = await saft_export.export(request.user, start, end)
        except CompanyUnknown as error:
            return problem_response(503, error.message, error.code)
        return Stream(
            file.chunks,
            media_type=XML,
            headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
        )


def export_routes(container: Any) -> FreshRouter:
    """The /exports routes, with the export service resolved from `container` on first use
    (the container's resources are opened by the app's lifespan before any request)."""
    from bookkeeper.container import resolve

    resolved: list[SaftExport] = []

    async def provide_saft_export() -> SaftExport:
        if not resolved:
            resolved.append(await resolve(container.saft_export))
        return resolved[0]

    provider: Callable[[], Awaitable[SaftExport]] = provide_saft_export
    return FreshRouter(
        path="/exports",
        route_handlers=[SaftExportController],
        dependencies={"saft_export": Provide(provider, use_cache=True)},
    )
