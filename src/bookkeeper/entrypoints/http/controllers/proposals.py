"""/proposals: the review queue and the current state of one proposal (the read model)."""

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from bookkeeper.application.ports import ProposalFilter
from bookkeeper.application.queries import Queries
from bookkeeper.domain.events import Status
from bookkeeper.entrypoints.http.params import After, Limit, page_limit
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import (
    KindName,
    ProposalOut,
    ProposalPage,
    StatusName,
    proposal_out,
)


class ProposalController(Controller):
    """Proposals of the caller's tenant as they stand now."""

    path = "/proposals"
    tags = ["proposals"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/",
        operation_id="listProposals",
        summary="The review queue",
        responses=documented(401, 403),
    )
    async def list_proposals(
        self,
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
        statuses: Annotated[
            list[StatusName] | None,
            QueryParameter(
                name="status",
                description="Current status (PROPOSED = waiting for review); repeatable; "
                "all statuses when omitted",
            ),
        ] = None,
        kinds: Annotated[
            list[KindName] | None,
            QueryParameter(name="kind", description="What the proposal asks; repeatable"),
        ] = None,
        after: After = 0,
        limit: Limit = 50,
    ) -> ProposalPage:
        """Proposals ordered by their last change; page with `after` = `nextAfter`."""
        size = page_limit(limit)
        views = await queries.proposals(
            request.user,
            ProposalFilter(
                statuses=tuple(Status(s) for s in statuses or ()),
                kinds=tuple(kinds or ()),
                after_position=after,
                limit=size,
            ),
            resumable=True,
        )
        return ProposalPage(
            items=[proposal_out(v) for v in views],
            next_after=views[-1].last_position if len(views) == size else None,
        )

    @get(
        "/{proposal_id:uuid}",
        operation_id="getProposal",
        summary="One proposal",
        responses=documented(401, 403, 404),
    )
    async def get_proposal(
        self,
        proposal_id: FromPath[uuid.UUID],
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
    ) -> ProposalOut:
        """The current state of one proposal: status, confidence, decision, corrections."""
        return proposal_out(await queries.proposal(request.user, proposal_id))
