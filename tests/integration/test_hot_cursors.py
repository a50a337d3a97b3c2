"""A pooled PostgreSQL connection keeps one raw cursor per statement of the propose path
(`Hot.keep_cursor`; ADR 0045's last addendum): a cursor that executes the same statement
again keeps psycopg's Transformer and the dumpers it found for each parameter type,
instead of building them for every statement of every proposal. What must not change:
every proposal is stored as before, a refused statement leaves the cursor usable, and a
connection the pool opens anew (the old one lost) gets cursors of its own."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.errors import StorageUnavailable
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import ReceiptAttachmentData, Status

pytestmark = pytest.mark.postgres

TENANT = "acme"
AGENT = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))
REVIEWER = Principal(subject="kari", tenant_id=TENANT, roles=frozenset({"reviewer"}))


def proposal(merchant: str, event_id: uuid.UUID | None = None) -> SubmitEvent:
    return SubmitEvent(
        principal=AGENT,
        type="ReceiptAttachmentProposed",
        data=ReceiptAttachmentData(
            merchant_name=merchant,
            amount=Decimal("45.00"),
            date=dt.date(2026, 11, 20),
            vat_rate=Decimal("15"),
            account_code="6540",
        ),
        event_id=event_id,
    )


@contextmanager
def raw_cursors() -> Iterator[list[Any]]:
    """The raw cursors made meanwhile, each as the connection it was made on."""
    made: list[Any] = []
    init = psycopg.AsyncRawCursor.__init__

    def spy(self: Any, connection: Any, *args: Any, **kwargs: Any) -> None:
        made.append(connection)
        init(self, connection, *args, **kwargs)

    psycopg.AsyncRawCursor.__init__ = spy  # type: ignore[method-assign]
    try:
        yield made
    finally:
        psycopg.AsyncRawCursor.__init__ = init  # type: ignore[method-assign]


async def test_proposals_on_one_connection_reuse_its_cursors(postgres_url: str) -> None:
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    handlers = Handlers(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    try:
        # The first proposal, replay and decision make the cursors of their statements.
        first = await handlers.submit(proposal("Warm-up"))
        await handlers.submit(proposal("Warm-up", first.event_id))
        await handlers.approve(ApproveProposal(principal=REVIEWER, proposal_id=first.stream_id))
        with raw_cursors() as made:
            submitted = [await handlers.submit(proposal(f"Merchant {n}")) for n in range(5)]
            # A statement PostgreSQL refuses (the id is taken) leaves the cursor usable:
            # the idempotent replay answers, and the next proposal is written.
            replayed = await handlers.submit(proposal("Merchant 0", submitted[0].event_id))
            after = await handlers.submit(proposal("After the refusal"))
        assert made == []
        with raw_cursors() as made:
            decided = await handlers.approve(
                ApproveProposal(principal=REVIEWER, proposal_id=after.stream_id)
            )
        # The stream's read (any number of rows) is not kept; the approval's write is.
        assert len(made) == 1
        assert replayed.replayed and replayed.event_id == submitted[0].event_id
        assert decided.proposal.status is Status.APPROVED
        async with database.uow_factory()() as uow:
            for result in [*submitted, after]:
                view = await uow.proposals.get(TENANT, result.stream_id)
                stream = await uow.events.read_stream(TENANT, result.stream_id)
                assert view is not None and view.last_position == stream[-1].position
                assert view.merchant_name == stream[0].data.merchant_name  # type: ignore[attr-defined]
    finally:
        await database.dispose()


async def test_a_connection_opened_anew_gets_cursors_of_its_own(postgres_url: str) -> None:
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    handlers = Handlers(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    try:
        await handlers.submit(proposal("Before"))
        async with database.engine.connect() as connection:
            lost: Any = (await connection.get_raw_connection()).driver_connection
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (lost.info.backend_pid,))
        # The pool record's connection is gone under it: the unit that meets it fails and
        # the record connects again (the fault suite's "clean 503, heals").
        with pytest.raises(StorageUnavailable):
            await handlers.submit(proposal("Lost"))
        with raw_cursors() as made:
            after = await handlers.submit(proposal("After"))
        assert made and all(connection is not lost for connection in made)
        async with database.uow_factory()() as uow:
            view = await uow.proposals.get(TENANT, after.stream_id)
        assert view is not None and view.merchant_name == "After"
    finally:
        await database.dispose()
