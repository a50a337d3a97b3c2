"""Concurrent writers on PostgreSQL (quality.md reliability 1 and 2): the unique indexes
arbitrate, so exactly one of many racing appends or approvals wins, and nothing leaves a gap
or a second copy of an event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from decimal import Decimal

import msgspec
import psycopg
import pytest
from sqlalchemy import text

from bookkeeper.adapters.sql import SqlDatabase, SqlUnitOfWork
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.errors import ConcurrencyConflict, DuplicateEvent, StorageUnavailable
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import EventFilter, NewEvent, Principal, RecordedEvent
from bookkeeper.domain.errors import ProposalNotPending
from bookkeeper.domain.events import (
    ApprovedData,
    ExecutedData,
    InvoiceRegistrationData,
    Status,
)
from tests.integration.builders import NOW, proposed

pytestmark = pytest.mark.postgres

TENANT = "acme"


def approved(parent: uuid.UUID, actor: str) -> NewEvent:
    return NewEvent(
        id=uuid.uuid4(),
        type="ReceiptAttachmentApproved",
        schema_version=1,
        status=Status.APPROVED,
        actor=actor,
        data=ApprovedData(comment=actor),
        metadata={},
        parent_id=parent,
        correlation_id=parent,
        created_at=NOW,
    )


def executed(parent: uuid.UUID) -> NewEvent:
    return NewEvent(
        id=uuid.uuid4(),
        type="ReceiptAttachmentExecuted",
        schema_version=1,
        status=Status.EXECUTED,
        actor="system:executor",
        data=ExecutedData(attempt=1),
        metadata={},
        parent_id=parent,
        correlation_id=parent,
        created_at=NOW,
    )


async def read_stream(database: SqlDatabase, stream: uuid.UUID) -> list[RecordedEvent]:
    async with database.uow_factory()() as uow:
        return await uow.events.read_stream(TENANT, stream)


async def race(
    database: SqlDatabase, attempts: list[list[NewEvent]], expected: int, stream: uuid.UUID
) -> Counter[str]:
    """Append every attempt at the same expected version at once; count the outcomes."""
    factory = database.uow_factory()
    start = asyncio.Event()

    async def attempt(events: list[NewEvent]) -> str:
        await start.wait()
        try:
            async with factory() as uow:
                await uow.events.append(TENANT, stream, expected, events)
                await uow.commit()
        except ConcurrencyConflict:
            return "conflict"
        except DuplicateEvent:
            return "duplicate"
        return "won"

    tasks = [asyncio.create_task(attempt(events)) for events in attempts]
    start.set()
    return Counter(await asyncio.gather(*tasks))


async def test_twenty_concurrent_appends_at_one_version_have_one_winner(
    postgres_database: SqlDatabase,
) -> None:
    stream = uuid.uuid4()
    outcomes = await race(postgres_database, [[proposed(stream)]], 0, stream)
    assert outcomes == {"won": 1}

    outcomes = await race(
        postgres_database, [[approved(stream, f"human:r{i}")] for i in range(20)], 1, stream
    )
    assert outcomes == {"won": 1, "conflict": 19}

    # Two-event appends race the same way; a loser's second event must not slip in.
    stream_events = await read_stream(postgres_database, stream)
    head = stream_events[-1].id
    outcomes = await race(
        postgres_database,
        [[approved(head, f"human:s{i}"), executed(head)] for i in range(20)],
        2,
        stream,
    )
    assert outcomes == {"won": 1, "conflict": 19}
    stream_events = await read_stream(postgres_database, stream)
    assert [e.version for e in stream_events] == [1, 2, 3, 4]


async def test_twenty_concurrent_creations_of_one_stream_have_one_winner(
    postgres_database: SqlDatabase,
) -> None:
    stream = uuid.uuid4()
    # Different event ids (e.g. two translators deriving the same stream id).
    attempts = [[msgspec.structs.replace(proposed(stream), id=uuid.uuid4())] for _ in range(20)]
    outcomes = await race(postgres_database, attempts, 0, stream)
    assert outcomes == {"won": 1, "conflict": 19}
    assert [e.version for e in await read_stream(postgres_database, stream)] == [1]


async def test_one_event_id_appended_concurrently_is_stored_once(
    postgres_database: SqlDatabase,
) -> None:
    event = proposed(uuid.uuid4())
    factory = postgres_database.uow_factory()
    start = asyncio.Event()

    async def attempt() -> str:
        await start.wait()
        try:
            async with factory() as uow:
                # Each retry lands in a stream of its own: only the id can collide.
                await uow.events.append(TENANT, uuid.uuid4(), 0, [event])
                await uow.commit()
        except DuplicateEvent:
            return "duplicate"
        return "won"

    tasks = [asyncio.create_task(attempt()) for _ in range(20)]
    start.set()
    assert Counter(await asyncio.gather(*tasks)) == {"won": 1, "duplicate": 19}
    async with factory() as uow:
        everything = await uow.events.read_all()
    assert [e.id for e in everything] == [event.id]


REVIEWERS = [
    Principal(subject=f"reviewer-{i}", tenant_id=TENANT, roles=frozenset({"reviewer"}))
    for i in range(50)
]
AGENT = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))


@pytest.mark.parametrize("round_", range(3))
async def test_fifty_concurrent_approvals_give_one_approval(
    postgres_database: SqlDatabase, round_: int
) -> None:
    handlers = Handlers(
        postgres_database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer()
    )
    invoice = InvoiceRegistrationData(
        supplier="Elkjøp",
        amount=Decimal("1250.00") + round_,
        date=dt.date(2026, 11, 20),
        due_date=dt.date(2026, 12, 4),
        vat_rate=Decimal("25"),
        account_code="6553",
    )
    submitted = await handlers.submit(
        SubmitEvent(principal=AGENT, type="InvoiceRegistrationProposed", data=invoice)
    )
    proposal_id = submitted.stream_id
    start = asyncio.Event()

    async def approve(reviewer: Principal) -> str:
        await start.wait()
        try:
            await handlers.approve(ApproveProposal(principal=reviewer, proposal_id=proposal_id))
        except (ConcurrencyConflict, ProposalNotPending):
            return "refused"
        return "approved"

    tasks = [asyncio.create_task(approve(reviewer)) for reviewer in REVIEWERS]
    start.set()
    assert Counter(await asyncio.gather(*tasks)) == {"approved": 1, "refused": 49}

    async with postgres_database.uow_factory()() as uow:
        stream = await uow.events.read_stream(TENANT, proposal_id)
        approvals = await uow.events.query(
            TENANT, EventFilter(types=("InvoiceRegistrationApproved",), limit=100)
        )
        view = await uow.proposals.get(TENANT, proposal_id)
    assert [e.type for e in stream] == [
        "InvoiceRegistrationProposed",
        "InvoiceRegistrationApproved",
    ]
    assert [e.stream_id for e in approvals] == [proposal_id]
    assert view is not None and view.status is Status.APPROVED
    assert view.decided_by == stream[1].actor and view.version == 2


async def test_a_lost_connection_is_storage_unavailable_and_then_replaced(
    postgres_url: str,
) -> None:
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    stream = uuid.uuid4()

    async def killed_before(step: str) -> None:
        async with database.uow_factory()() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            await uow.events.append(TENANT, uuid.uuid4(), 0, [proposed(uuid.uuid4())])
            pid = (await uow.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            if step == "hot path":
                await uow.events.read_stream(TENANT, stream)
            await uow.commit()

    try:
        for step in ("hot path", "commit"):
            with pytest.raises(StorageUnavailable):
                await killed_before(step)
        # The one pooled connection was discarded; the next unit of work gets a new one.
        async with database.uow_factory()() as uow:
            await uow.events.append(TENANT, stream, 0, [proposed(stream)])
            await uow.commit()
        async with database.uow_factory()() as uow:
            assert [e.id for e in await uow.events.read_all()] == [stream]
    finally:
        await database.dispose()


async def test_the_hot_path_and_sqlalchemy_share_one_transaction_and_leave_none_open(
    postgres_url: str,
) -> None:
    # One pooled connection, so every unit of work below reuses the same one.
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    try:
        async with database.uow_factory()() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            await uow.events.append(TENANT, kept, 0, [proposed(kept)])
            # A statement through SQLAlchemy sees the hot path's uncommitted row, and the
            # commit then covers both.
            count = (await uow.execute(text("SELECT count(*) FROM events"))).scalar_one()
            assert count == 1
            await uow.commit()
        async with database.uow_factory()() as uow:
            await uow.events.append(TENANT, dropped, 0, [proposed(dropped)])
            # Left without commit: rolled back before the connection goes back to the pool.
        # The pool's one connection comes back idle: not in a transaction left open.
        async with database.engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert isinstance(raw, psycopg.AsyncConnection)
            assert raw.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
        async with database.uow_factory()() as uow:
            assert [e.id for e in await uow.events.read_all()] == [kept]
    finally:
        await database.dispose()
