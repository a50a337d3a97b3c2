"""Replay equals live state on the real engines (quality.md reliability 6): a few hundred
random commands through the handlers, then `rebuild_projections` must reproduce every row
of the projections exactly, column for column.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.schema import patterns, proposals
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.errors import ApplicationError
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import (
    Principal,
    ProposalView,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    BalanceQueriedData,
    Corrections,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    PatternSuggestionData,
    Payload,
    ReceiptAttachmentData,
)

COMMANDS = 300
TENANTS = ("acme", "globex")
MERCHANTS = ("Adobe Systems Ireland Ltd", "Rema 1000", "Kiwi", "Elkjøp Nordic AS", "Ukjent")
AMOUNTS = tuple(Decimal(a) for a in ("49.00", "199.00", "1250.50", "12000.00"))
RATES = tuple(Decimal(r) for r in ("25", "15", "12", "11.11", "0"))


def principal(subject: str, role: str, tenant: str) -> Principal:
    return Principal(subject=subject, tenant_id=tenant, roles=frozenset({role}))


def random_submission(rng: random.Random, tenant: str) -> tuple[str, Payload]:
    merchant = rng.choice(MERCHANTS)
    day = dt.date(2026, 11, 1) + dt.timedelta(days=rng.randrange(10))
    amount = rng.choice(AMOUNTS)
    rate = rng.choice(RATES)
    account = rng.choice(("6540", "6810", "6300"))
    roll = rng.random()
    if roll < 0.45:
        return "ReceiptAttachmentProposed", ReceiptAttachmentData(
            merchant_name=merchant,
            amount=amount,
            date=day,
            vat_rate=Decimal("25"),
            account_code=account,
            folio_event_id=f"ev-{rng.randrange(20)}",
            document_number=rng.choice((None, "K-1", "K-2")),
        )
    if roll < 0.6:
        return "PatternSuggested", PatternSuggestionData(
            merchant=merchant, account_code=account, vat_rate=Decimal("25")
        )
    if roll < 0.75:
        return "InvoiceRegistrationProposed", InvoiceRegistrationData(
            supplier=merchant,
            amount=amount,
            date=day,
            due_date=day + dt.timedelta(days=14),
            vat_rate=rate,
            account_code=account,
            invoice_number=rng.choice((None, f"F-{rng.randrange(5)}")),
        )
    if roll < 0.9:
        return "ExpenseRegistrationProposed", ExpenseRegistrationData(
            employee="kari",
            amount=amount,
            date=day,
            category="Reise",
            vat_rate=rate,
            account_code=account,
            merchant_name=rng.choice((None, merchant)),
        )
    return "BalanceQueried", BalanceQueriedData(accounts=(), as_of=day)


async def run_commands(handlers: Handlers, rng: random.Random, count: int) -> int:
    """Random proposals, approvals (some corrected) and rejections; returns how many ran."""
    made: dict[str, list[uuid.UUID]] = {tenant: [] for tenant in TENANTS}
    succeeded = 0
    for _ in range(count):
        tenant = rng.choice(TENANTS)
        reviewer = principal(rng.choice(("kari", "ola")), "reviewer", tenant)
        roll = rng.random()
        command: Any
        if roll < 0.5 or not made[tenant]:
            type_, data = random_submission(rng, tenant)
            command = SubmitEvent(
                principal=principal("book-e", "agent", tenant),
                type=type_,
                data=data,
                idempotency_key=rng.choice((None, None, f"key-{rng.randrange(8)}")),
                proposer_confidence=rng.choice((None, Decimal("0.95"), Decimal("0.4"))),
                bank_transaction_verified=rng.choice((None, True, False)),
            )
        elif roll < 0.85:
            fix = rng.choice((None, None, Corrections(account_code="6810")))
            command = ApproveProposal(
                principal=reviewer, proposal_id=rng.choice(made[tenant]), corrections=fix
            )
        else:
            command = RejectProposal(
                principal=reviewer, proposal_id=rng.choice(made[tenant]), reason="not ours"
            )
        try:
            result = await handlers.dispatch(command)
        except (DomainError, ApplicationError):
            continue
        succeeded += 1
        if isinstance(command, SubmitEvent):
            made[tenant].append(result.stream_id)
    return succeeded


async def snapshot(database: SqlDatabase) -> tuple[list[Any], list[Any]]:
    """Every row of both projections, every column, in key order."""
    async with database.engine.connect() as connection:
        proposal_rows = (await connection.execute(select(proposals).order_by(proposals.c.id))).all()
        pattern_rows = (
            await connection.execute(
                select(patterns).order_by(patterns.c.tenant_id, patterns.c.merchant_key)
            )
        ).all()
    return [tuple(r) for r in proposal_rows], [tuple(r) for r in pattern_rows]


async def test_replay_rebuilds_the_live_projections_exactly(sql_database: SqlDatabase) -> None:
    factory = sql_database.uow_factory()
    handlers = Handlers(factory, SystemClock(), UuidV7Ids(), RoleAuthorizer())
    succeeded = await run_commands(handlers, random.Random(20261121), COMMANDS)
    live_proposals, live_patterns = await snapshot(sql_database)
    # The run must have exercised the interesting paths, or the comparison proves little.
    assert succeeded > COMMANDS // 2
    statuses = {row[4] for row in live_proposals}
    assert {"PROPOSED", "APPROVED", "REJECTED", "EXECUTED"} <= statuses
    assert live_patterns

    report = await rebuild_projections(factory, batch=97)

    assert await snapshot(sql_database) == (live_proposals, live_patterns)
    assert report.proposals == len(live_proposals)
    assert report.patterns == len(live_patterns)
    # And a second replay over the rebuilt state changes nothing either.
    await rebuild_projections(factory)
    assert await snapshot(sql_database) == (live_proposals, live_patterns)


class ReplaySpy:
    """A unit-of-work factory that records replay's reads and bulk writes, in order."""

    def __init__(self, factory: UnitOfWorkFactory) -> None:
        self._factory = factory
        self.calls: list[tuple[str, int]] = []

    def __call__(self) -> UnitOfWork:
        uow = self._factory()
        read, write = uow.events.read_by_stream, uow.proposals.upsert_many

        async def read_by_stream(**kwargs: Any) -> list[RecordedEvent]:
            page = await read(**kwargs)
            self.calls.append(("read", len(page)))
            return page

        async def upsert_many(views: Sequence[ProposalView]) -> None:
            self.calls.append(("write", len(views)))
            await write(views)

        uow.events.read_by_stream = read_by_stream  # type: ignore[method-assign]
        uow.proposals.upsert_many = upsert_many  # type: ignore[method-assign]
        return uow


@pytest.mark.parametrize("batch", [1, 7])
async def test_replay_folds_stream_by_stream_in_bounded_batches(
    sql_database: SqlDatabase, batch: int
) -> None:
    """With tiny pages every stream is cut across pages, and the views are written as the
    log is read (each write at most a page's worth), not after it: memory stays bounded."""
    factory = sql_database.uow_factory()
    handlers = Handlers(factory, SystemClock(), UuidV7Ids(), RoleAuthorizer())
    await run_commands(handlers, random.Random(7), 120)
    live = await snapshot(sql_database)
    assert live[0] and live[1]

    spy = ReplaySpy(factory)
    report = await rebuild_projections(spy, batch=batch)

    assert await snapshot(sql_database) == live
    assert report.proposals == len(live[0]) and report.patterns == len(live[1])
    reads = [index for index, (kind, _) in enumerate(spy.calls) if kind == "read"]
    writes = [(index, size) for index, (kind, size) in enumerate(spy.calls) if kind == "write"]
    assert sum(size for kind, size in spy.calls if kind == "read") == report.events
    assert sum(size for _, size in writes) == report.proposals
    assert all(size <= batch for _, size in writes)
    # Most of the writing happened before the log had been read to its end.
    assert sum(size for index, size in writes if index < reads[-1]) > report.proposals // 2


async def test_a_retried_then_executed_proposal_has_no_last_error_live_or_replayed(
    sql_database: SqlDatabase,
) -> None:
    """An attempt that failed and a retry that succeeded: the live row and the replayed
    one both say EXECUTED without the failed attempt's error (it stays in the log)."""
    from bookkeeper.application.execution import ExecutionPolicy
    from tests.unit.external_doubles import Harness, invoice

    factory = sql_database.uow_factory()
    h = Harness(uow_factory=factory, policy=ExecutionPolicy(max_attempts=3))
    pid = await h.approved(invoice())
    h.world.faults.fail_next(1, operations={"find_supplier"})
    assert (await h.executor.run_once()).retried == 1
    h.clock.advance(seconds=30)
    assert (await h.executor.run_once()).executed == 1
    live = await h.view(pid)
    assert live.status.value == "EXECUTED" and live.last_error is None
    assert any(e.type.endswith("ExecutionFailed") for e in await h.stream(pid))
    before = await snapshot(sql_database)

    await rebuild_projections(factory)

    assert await snapshot(sql_database) == before
    assert (await h.view(pid)).last_error is None
