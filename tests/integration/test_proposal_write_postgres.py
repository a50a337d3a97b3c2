"""A proposal's write on PostgreSQL (ADR 0041): its event and its row in one statement,
run alone in autocommit after reads that opened no transaction — two round trips for a
proposal (the scoring read, the write), none of them BEGIN or COMMIT — and still both or
neither when the write fails half-way."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import Principal
from bookkeeper.domain.events import ReceiptAttachmentData, Status
from tests.integration.builders import proposed

pytestmark = pytest.mark.postgres

TENANT = "acme"
AGENT = Principal(subject="book-e", tenant_id=TENANT, roles=frozenset({"agent"}))
REVIEWER = Principal(subject="kari", tenant_id=TENANT, roles=frozenset({"reviewer"}))


def receipt(merchant: str) -> ReceiptAttachmentData:
    return ReceiptAttachmentData(
        merchant_name=merchant,
        amount=Decimal("45.00"),
        date=dt.date(2026, 11, 20),
        vat_rate=Decimal("15"),
        account_code="6540",
    )


@contextmanager
def sent_to_postgres() -> Iterator[tuple[list[bytes], list[str]]]:
    """What psycopg sends meanwhile: its transaction commands (BEGIN, COMMIT, ROLLBACK)
    and the statements of the hot path (raw cursor)."""
    commands: list[bytes] = []
    statements: list[str] = []
    exec_command = psycopg.AsyncConnection._exec_command
    raw_execute = psycopg.AsyncRawCursor.execute

    def command_spy(self: Any, command: bytes, *args: Any, **kwargs: Any) -> Any:
        commands.append(command)
        return exec_command(self, command, *args, **kwargs)

    async def execute_spy(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(query)[:40])
        return await raw_execute(self, query, *args, **kwargs)

    psycopg.AsyncConnection._exec_command = command_spy  # type: ignore[method-assign]
    psycopg.AsyncRawCursor.execute = execute_spy  # type: ignore[method-assign]
    try:
        yield commands, statements
    finally:
        psycopg.AsyncConnection._exec_command = exec_command  # type: ignore[method-assign]
        psycopg.AsyncRawCursor.execute = raw_execute  # type: ignore[method-assign]


async def _rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as connection:
        cursor = await connection.execute(query, params)
        return await cursor.fetchall()


async def test_a_proposal_and_a_decision_are_two_statements_and_no_begin_or_commit(
    postgres_url: str,
) -> None:
    database = SqlDatabase(postgres_url, pool_size=2, max_overflow=0)
    handlers = Handlers(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
    try:
        # The first proposal fills the review rules' and tax rates' caches (SQLAlchemy).
        await handlers.submit(
            SubmitEvent(principal=AGENT, type="ReceiptAttachmentProposed", data=receipt("Warm-up"))
        )
        with sent_to_postgres() as (commands, statements):
            submitted = await handlers.submit(
                SubmitEvent(
                    principal=AGENT,
                    type="ReceiptAttachmentProposed",
                    data=receipt("Kaffebrenneriet"),
                )
            )
        assert commands == []
        assert len(statements) == 2  # the scoring read; the event with the proposal's row
        assert statements[1].startswith("WITH appended AS")
        with sent_to_postgres() as (commands, statements):
            decided = await handlers.approve(
                ApproveProposal(principal=REVIEWER, proposal_id=submitted.stream_id)
            )
        assert commands == []
        assert len(statements) == 2  # the stream; the approval with the row
        assert decided.proposal.status is Status.APPROVED
        async with database.uow_factory()() as uow:
            stream = await uow.events.read_stream(TENANT, submitted.stream_id)
            view = await uow.proposals.get(TENANT, submitted.stream_id)
        assert view == decided.proposal
        assert view is not None and view.last_position == stream[-1].position
        assert [e.version for e in stream] == [1, 2]
        # The pool gets its connections back as psycopg's default has them.
        async with database.engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            assert driver.autocommit is False
    finally:
        await database.dispose()


@pytest.mark.parametrize("transaction_open", [False, True])
async def test_a_write_failing_at_the_proposals_row_leaves_neither_row_nor_event(
    postgres_url: str, transaction_open: bool
) -> None:
    """A failure injected between the event and its row (a trigger on proposals refuses
    the row) writes neither, whether the statement ran alone in autocommit or inside a
    transaction the unit had opened; the connection serves the next unit."""
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.merchant_name = 'Refused' THEN RAISE EXCEPTION 'injected'; END IF; "
            "RETURN NEW; END $$"
        )
        admin.execute(
            "CREATE TRIGGER refuse_row BEFORE INSERT OR UPDATE ON proposals "
            "FOR EACH ROW EXECUTE FUNCTION refuse_row()"
        )
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    stream = uuid.uuid4()
    event = proposed(stream, data=receipt("Refused"))
    try:
        async with database.uow_factory()() as uow:
            if transaction_open:
                await uow.execute(text("SELECT 1"))  # through SQLAlchemy: a transaction
            with pytest.raises(DBAPIError, match="injected"):
                await uow.commit_proposal(TENANT, stream, [], [event])
        assert await _rows(postgres_url, "SELECT id FROM events WHERE id = %s", stream) == []
        assert await _rows(postgres_url, "SELECT id FROM proposals WHERE id = %s", stream) == []
        fine = uuid.uuid4()
        async with database.uow_factory()() as uow:
            recorded, view = await uow.commit_proposal(TENANT, fine, [], [proposed(fine)])
        rows = await _rows(postgres_url, "SELECT last_position FROM proposals WHERE id = %s", fine)
        assert rows == [(recorded[0].position,)] and view.last_position == recorded[0].position
    finally:
        await database.dispose()


async def test_reads_before_the_write_see_what_a_unit_wrote_once_it_wrote(
    postgres_url: str,
) -> None:
    """A standalone read runs outside a transaction only while none is open: after a
    write, the unit's reads see its own uncommitted rows (the port's promise)."""
    database = SqlDatabase(postgres_url, pool_size=1, max_overflow=0)
    stream = uuid.uuid4()
    try:
        async with database.uow_factory()() as uow:
            assert await uow.events.read_stream(TENANT, stream) == []
            recorded = await uow.events.append(TENANT, stream, 0, [proposed(stream)])
            assert await uow.events.read_stream(TENANT, stream) == recorded
        async with database.uow_factory()() as uow:  # left without commit: rolled back
            assert await uow.events.read_stream(TENANT, stream) == []
    finally:
        await database.dispose()
