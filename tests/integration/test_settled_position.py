"""A client paging the log (`GET /events`) or the proposals by last change (`GET
/proposals`) after the last position it got sees every row exactly once on PostgreSQL,
where positions are drawn at insert and commit in another order: a page stops below a
position a running writer holds (migration 0029, ADR 0030 addendum)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ports import (
    EventFilter,
    Principal,
    ProposalFilter,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import fold_proposal
from bookkeeper.application.queries import Queries
from tests.http_helpers import API, receipt, running_api, sqlite_container
from tests.integration.builders import proposed

TENANT = "acme"  # the HTTP helpers' tenant too
READER = Principal(subject="client", tenant_id=TENANT, roles=frozenset({"admin"}))


async def _propose(uow: UnitOfWork) -> uuid.UUID:
    """One proposal's first event and its projection row, in `uow` (not committed)."""
    stream = uuid.uuid4()
    recorded = await uow.events.append(TENANT, stream, 0, [proposed(stream)])
    view = fold_proposal(recorded)
    assert view is not None
    await uow.proposals.upsert(view)
    return stream


async def _committed(factory: UnitOfWorkFactory) -> uuid.UUID:
    async with factory() as uow:
        stream = await _propose(uow)
        await uow.commit()
    return stream


@pytest.mark.postgres
async def test_a_page_stops_below_a_position_a_running_writer_holds(
    postgres_database: SqlDatabase,
) -> None:
    factory = postgres_database.uow_factory()
    queries = Queries(factory, RoleAuthorizer())
    first = await _committed(factory)
    seen_events: list[uuid.UUID] = []
    seen_proposals: list[uuid.UUID] = []
    event_after = proposal_after = 0

    async def page() -> None:
        nonlocal event_after, proposal_after
        events = await queries.events(
            READER, EventFilter(after_position=event_after), resumable=True
        )
        seen_events.extend(e.stream_id for e in events)
        event_after = events[-1].position if events else event_after
        views = await queries.proposals(
            READER, ProposalFilter(after_position=proposal_after), resumable=True
        )
        seen_proposals.extend(v.id for v in views)
        proposal_after = views[-1].last_position if views else proposal_after

    async with factory() as slow:
        held = await _propose(slow)  # took its position, not committed yet
        later = await _committed(factory)  # a higher position, committed first
        await page()
        # Not the later one: a cursor past it would leave the held one out for good.
        assert seen_events == [first]
        assert seen_proposals == [first]
        await page()  # nothing more while the writer runs: the cursor stays
        assert seen_events == [first]
        await slow.commit()
    await page()
    assert seen_events == [first, held, later]
    assert seen_proposals == [first, held, later]
    await page()
    assert seen_events == [first, held, later]  # each exactly once


@pytest.mark.postgres
async def test_a_page_is_bounded_by_the_oldest_running_writer_only(
    postgres_database: SqlDatabase,
) -> None:
    """A writer that began after the held one, or one rolled back (its positions a
    hole for good), holds nothing back once it has ended; the held one's events and
    what follows them come once it commits."""
    factory = postgres_database.uow_factory()
    queries = Queries(factory, RoleAuthorizer())
    async with factory() as rolled_back:
        await _propose(rolled_back)  # a hole for good: never committed
    before = await _committed(factory)
    async with factory() as slow:
        held = await _propose(slow)
        also_held = await _propose(slow)  # the same writer again: no second floor
        after = await _committed(factory)
        page = await queries.events(READER, EventFilter(), resumable=True)
        assert [e.stream_id for e in page] == [before]
        await slow.commit()
    page = await queries.events(
        READER, EventFilter(after_position=page[-1].position), resumable=True
    )
    assert [e.stream_id for e in page] == [held, also_held, after]
    async with factory() as uow:  # every floor let go with its transaction
        assert await uow.tracking.settled() == max(e.position for e in page)


@pytest.mark.postgres
async def test_the_http_pages_stop_below_a_running_writer(
    postgres_url: str, tmp_path: Path
) -> None:
    """GET /events and GET /proposals are such pages: a later proposal committed while
    an earlier position is open is listed only once the earlier one can be too."""
    writer = SqlDatabase(postgres_url, pool_size=2, max_overflow=0)
    try:
        async with running_api(tmp_path, container=sqlite_container(tmp_path, postgres_url)) as api:

            async def listed(path: str, after: int) -> list[str]:
                response = await api.client.get(f"{API}/{path}?after={after}", headers=api.viewer)
                assert response.status_code == 200, response.text
                return [str(item.get("streamId", item["id"])) for item in response.json()["items"]]

            async with writer.uow_factory()() as slow:
                held = str(await _propose(slow))
                later = (await api.propose("ReceiptAttachmentProposed", receipt()))["proposalId"]
                assert await listed("events", 0) == []
                assert await listed("proposals", 0) == []
                await slow.commit()
            assert await listed("events", 0) == [held, later]
            assert await listed("proposals", 0) == [held, later]
    finally:
        await writer.dispose()


async def test_until_position_bounds_events_and_proposals_on_every_store(
    uow_factory: UnitOfWorkFactory,
) -> None:
    streams = [await _committed(uow_factory) for _ in range(3)]
    async with uow_factory() as uow:
        everything = await uow.events.query(TENANT, EventFilter())
        bound = everything[1].position
        events = await uow.events.query(TENANT, EventFilter(until_position=bound))
        views = await uow.proposals.page(TENANT, ProposalFilter(until_position=bound))
        settled = await uow.tracking.settled()
    assert [e.stream_id for e in events] == streams[:2]
    assert [v.id for v in views] == streams[:2]
    # Nothing runs: PostgreSQL's bound is the head; elsewhere positions commit in order.
    assert settled in (None, everything[-1].position)
