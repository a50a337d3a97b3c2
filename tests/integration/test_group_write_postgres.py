"""New proposals written together on PostgreSQL (ADR 0053, adapters/sql/group_write.py):
what waits behind a write in flight is written by one statement and one commit, and
each proposal ends exactly as if it had been written alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.group_write import GroupWriter
from bookkeeper.adapters.sql.session import Hot, hot_dialect
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.handlers import Handlers, SubmitResult
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import ReceiptAttachmentData, Status

pytestmark = pytest.mark.postgres

TENANT = "acme"
AGENT = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))


def receipt(number: int) -> ReceiptAttachmentData:
    return ReceiptAttachmentData(
        merchant_name=f"Kafé nr. {number} «Søt»",
        amount=Decimal(40 + number) + Decimal("0.05"),
        date=dt.date(2026, 11, 1) + dt.timedelta(days=number % 28),
        vat_rate=Decimal("15") if number % 2 else Decimal("25"),
        account_code="6540",
        document_number=f"K-{number}",
        description="kaffe og bolle" if number % 3 else None,
    )


def submission(number: int, principal: Principal = AGENT, **extra: object) -> SubmitEvent:
    return SubmitEvent(
        principal=principal,
        type="ReceiptAttachmentProposed",
        data=receipt(number),
        proposer_confidence=Decimal("0.42"),
        **extra,  # type: ignore[arg-type]
    )


async def _handlers(url: str, *, leaders: int) -> tuple[SqlDatabase, Handlers]:
    database = SqlDatabase(url, pool_size=48, max_overflow=0, group_writers=leaders)
    handlers = Handlers(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    # The caches (review rules, tax rates) are filled by a first proposal.
    await handlers.submit(submission(999))
    return database, handlers


async def _assert_written_as_alone(database: SqlDatabase, results: list[SubmitResult]) -> None:
    """Every proposal's event is in the log and its view is its stream's fold, at the
    event's position."""
    async with database.uow_factory()() as uow:
        for result in results:
            stream = await uow.events.read_stream(TENANT, result.stream_id)
            view = await uow.proposals.get(TENANT, result.stream_id)
            assert [event.id for event in stream] == [result.event_id]
            assert view is not None
            assert view.last_position == stream[0].position
            assert view.status is result.status
            assert view.confidence == (result.confidence.score if result.confidence else None)
            data = stream[0].data
            assert isinstance(data, ReceiptAttachmentData)
            assert view.merchant_name == data.merchant_name
            assert view.amount == data.amount
            assert view.vat_rate == data.vat_rate
            assert view.document_date == data.date
            assert view.proposed_at == stream[0].created_at


async def test_concurrent_proposals_share_statements_and_each_is_written_whole(
    postgres_url: str,
) -> None:
    database, handlers = await _handlers(postgres_url, leaders=1)
    try:
        results = await asyncio.gather(*(handlers.submit(submission(n)) for n in range(40)))
        writer = database.proposal_writer
        assert writer is not None
        # One write in flight at a time: the others waited and went in batches.
        assert writer.batches >= 1
        assert writer.batched > writer.batches
        assert all(result.status is Status.PROPOSED for result in results)
        await _assert_written_as_alone(database, results)
        positions = []
        async with database.uow_factory()() as uow:
            for result in results:
                view = await uow.proposals.get(TENANT, result.stream_id)
                assert view is not None
                positions.append(view.last_position)
        assert len(set(positions)) == 40
    finally:
        await database.dispose()


async def test_a_batch_writes_what_one_alone_writes(postgres_url: str) -> None:
    """The batch's JSON path stores the same values, column by column, as the single
    statement's bound parameters (times, amounts, rates, scores, JSON)."""

    # Each receipt in a tenant of its own, so that none is the others' duplicate.
    def agent(tenant: str) -> Principal:
        return Principal(subject="book-e", tenant_id=tenant, roles=frozenset({"agent"}))

    alone_db, alone = await _handlers(postgres_url, leaders=0)
    try:
        solo = await alone.submit(submission(7, agent("solo")))
        async with alone_db.uow_factory()() as uow:
            solo_view = await uow.proposals.get("solo", solo.stream_id)
            solo_stream = await uow.events.read_stream("solo", solo.stream_id)
    finally:
        await alone_db.dispose()
    assert alone_db.proposal_writer is None
    database, handlers = await _handlers(postgres_url, leaders=1)
    try:
        tenants = [f"t{n}" for n in range(12)]
        for tenant in tenants:  # each tenant's caches filled first
            await handlers.submit(submission(900, agent(tenant)))
        results = await asyncio.gather(
            *(handlers.submit(submission(7, agent(tenant))) for tenant in tenants)
        )
        writer = database.proposal_writer
        assert writer is not None and writer.batches >= 1
        async with database.uow_factory()() as uow:
            for tenant, result in zip(tenants, results, strict=True):
                view = await uow.proposals.get(tenant, result.stream_id)
                stream = await uow.events.read_stream(tenant, result.stream_id)
                assert view is not None and solo_view is not None
                differ = {
                    "id",
                    "tenant_id",
                    "correlation_id",
                    "proposed_at",
                    "updated_at",
                    "last_position",
                }
                for field in view.__struct_fields__:
                    if field not in differ:
                        assert getattr(view, field) == getattr(solo_view, field), field
                assert stream[0].data == solo_stream[0].data
                assert stream[0].metadata == solo_stream[0].metadata
                assert stream[0].type == solo_stream[0].type
                assert stream[0].status is solo_stream[0].status
    finally:
        await database.dispose()


async def test_a_replayed_request_in_the_same_batch_is_written_once(postgres_url: str) -> None:
    database, handlers = await _handlers(postgres_url, leaders=1)
    try:
        event_id = uuid.uuid4()
        same = [submission(5, event_id=event_id, idempotency_key="k-5") for _ in range(6)]
        others = [submission(n) for n in range(10, 20)]
        results = await asyncio.gather(*(handlers.submit(s) for s in [*others, *same]))
        replays = results[len(others) :]
        assert len({r.stream_id for r in replays}) == 1
        assert sum(not r.replayed for r in replays) == 1
        await _assert_written_as_alone(database, [*results[: len(others)], replays[0]])
        async with database.uow_factory()() as uow:
            stream = await uow.events.read_stream(TENANT, replays[0].stream_id)
        assert [event.id for event in stream] == [event_id]
    finally:
        await database.dispose()


async def test_a_failing_batch_leaves_each_to_write_alone(postgres_url: str) -> None:
    """A batch statement that fails (here: one that always does) writes nothing; every
    proposal in it is then written alone and answered as usual."""
    database, handlers = await _handlers(postgres_url, leaders=1)
    try:
        writer = database.proposal_writer
        assert writer is not None
        broken = Hot(
            # Valid SQL that fails at run time, like a constraint the batch broke.
            __import__("sqlalchemy").text("SELECT CAST(:rows AS jsonb)::text::int"),
            hot_dialect("postgresql"),
        )
        writer._many = broken  # type: ignore[attr-defined]
        results = await asyncio.gather(*(handlers.submit(submission(n)) for n in range(20)))
        assert writer.batches == 0
        await _assert_written_as_alone(database, results)
    finally:
        await database.dispose()


async def test_a_cancelled_leader_sees_its_batch_through_and_passes_the_lead(
    postgres_url: str,
) -> None:
    database, handlers = await _handlers(postgres_url, leaders=1)
    try:
        writer = database.proposal_writer
        assert isinstance(writer, GroupWriter)
        tasks = [asyncio.create_task(handlers.submit(submission(n))) for n in range(30)]
        # Cancel some requests while they are in flight or waiting in the queue.
        await asyncio.sleep(0.01)
        for task in tasks[::4]:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        done = [r for r in outcomes if isinstance(r, SubmitResult)]
        assert all(isinstance(r, SubmitResult | asyncio.CancelledError) for r in outcomes)
        await _assert_written_as_alone(database, done)
        # The lead was not lost: later proposals are written.
        later = await asyncio.wait_for(
            asyncio.gather(*(handlers.submit(submission(n)) for n in range(40, 50))), 30
        )
        await _assert_written_as_alone(database, list(later))
        assert writer._in_flight == 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()
