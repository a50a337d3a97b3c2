"""A posting racing the close of its period on PostgreSQL (ADR 0040 §3): nothing enters a
period after its close has committed.

Each round posts an entry into a month while that month is closed, on two connections,
in either order. The posting holds its transaction open after its closed-period check for a
moment (as a slow posting would: more lines, the ledger fold, a busy database), and an
observer reads the month's entry the moment the close has committed. Serialised (the close
waits for postings that passed their check; a posting's check waits for a close under
way), what the observer sees then is final: either the entry was there before the close,
or the posting was refused. Without the lock the close commits inside the posting's window
and the entry appears in the closed month afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from decimal import Decimal

import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import SystemClock
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import post_entry
from bookkeeper.application.ports import Principal, UnitOfWorkFactory
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.events import JournalEntryPostedData, JournalLine
from bookkeeper.domain.rules import PeriodClosed

pytestmark = pytest.mark.postgres

TENANT = "acme"
ROUNDS = 12
#: How long a posting past its check holds its transaction open for a close to slip in.
WINDOW = 0.5
#: A deadline for what must happen, however loaded the machine.
WITHIN = 60
ACCOUNTANT = Principal(subject="anna", tenant_id=TENANT, roles=frozenset({"accountant"}))


def _entry(day: dt.date) -> JournalEntryPostedData:
    amount = Decimal("100.00")
    return JournalEntryPostedData(
        date=day,
        description="Husleie",
        lines=(
            JournalLine(account="6300", debit=amount),
            JournalLine(account="1920", credit=amount),
        ),
    )


async def _round(
    uows: UnitOfWorkFactory, rules: RulesService, n: int
) -> tuple[str, list[bool], bool]:
    """One race: the outcome of the posting, what the observer saw the moment the close
    committed, and whether the entry is there in the end."""
    clock = SystemClock()
    start = dt.date(2030 + n // 12, n % 12 + 1, 1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    entry_id = uuid.uuid4()
    closed = asyncio.Event()
    checked = asyncio.Event()
    seen_at_close: list[bool] = []

    async def entry_there() -> bool:
        async with uows() as uow:
            return bool(await uow.events.read_stream(TENANT, entry_id))

    async def close() -> None:
        await rules.close_period(ACCOUNTANT, start, end)
        seen_at_close.append(await entry_there())
        closed.set()

    async def post() -> str:
        async with uows() as uow:
            try:
                await post_entry(
                    uow,
                    TENANT,
                    _entry(start + dt.timedelta(days=14)),
                    entry_id=entry_id,
                    actor="human:anna",
                    correlation_id=entry_id,
                    parent_id=None,
                    now=clock.now(),
                )
            except PeriodClosed:
                checked.set()
                return "refused"
            checked.set()
            # The posting's window: its check has passed, it has not committed yet. Give a
            # close under way the chance to commit inside it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), timeout=WINDOW)
            await uow.commit()
            return "posted"

    if n % 2:  # the close starts first
        closing = asyncio.create_task(close())
        await asyncio.sleep(0)
        outcome = await post()
        await closing
    else:  # the posting starts first: the close begins once its check has passed (a fixed
        # head start was not enough on a loaded machine: every round could be refused)
        posting = asyncio.create_task(post())
        await asyncio.wait_for(checked.wait(), WITHIN)
        await close()
        outcome = await posting
    return outcome, seen_at_close, await entry_there()


async def test_no_entry_lands_in_a_period_after_its_close_committed(
    postgres_database: SqlDatabase,
) -> None:
    uows = postgres_database.uow_factory()
    rules = RulesService(uows, SystemClock(), RoleAuthorizer())
    outcomes = []
    for n in range(ROUNDS):
        outcome, seen_at_close, there = await _round(uows, rules, n)
        outcomes.append(outcome)
        # What the observer saw the moment the close committed is what stays.
        assert seen_at_close == [there], (n, outcome)
    assert "posted" in outcomes  # the race was run both ways, not just refused


async def test_a_batch_postings_period_read_holds_a_close_until_it_commits(
    postgres_database: SqlDatabase,
) -> None:
    """The bus's batch append reads the tenant's periods once (`periods(lock_for="posting")`,
    ADR 0034) instead of `closed_period_on` per entry: that read takes the same shared
    lock, so a close waits for the batch's commit and cannot slip in between."""
    from bookkeeper.domain.rules import PERIOD

    uows = postgres_database.uow_factory()
    rules = RulesService(uows, SystemClock(), RoleAuthorizer())
    start, end = dt.date(2031, 3, 1), dt.date(2031, 3, 31)
    async with uows() as uow:
        assert await uow.rules.periods(TENANT, PERIOD, lock_for="posting") == []
        closing = asyncio.create_task(rules.close_period(ACCOUNTANT, start, end))
        done, _ = await asyncio.wait({closing}, timeout=0.5)
        assert not done  # the close waits for the posting's transaction
        await uow.commit()
    await asyncio.wait_for(closing, timeout=WITHIN)
    async with uows() as uow:
        assert [p.start for p in await uow.rules.periods(TENANT, PERIOD)] == [start]


async def test_two_overlapping_closes_racing_never_both_commit(
    postgres_database: SqlDatabase,
) -> None:
    """A close reads the tenant's periods under the exclusive period lock
    (`periods(lock_for="closing")`): of two closes of overlapping periods started at once,
    the second waits for the first to commit, then sees it and is refused."""
    from bookkeeper.domain.rules import PERIOD, InvalidRule

    uows = postgres_database.uow_factory()
    rules = RulesService(uows, SystemClock(), RoleAuthorizer())
    for n in range(8):
        month = dt.date(2032 + n, 1, 1)
        results = await asyncio.gather(
            rules.close_period(ACCOUNTANT, month, month.replace(month=3, day=31)),
            rules.close_period(ACCOUNTANT, month.replace(month=2), month.replace(month=4, day=30)),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, InvalidRule)]
        assert len(refused) == 1, (n, results)
        async with uows() as uow:
            found = [
                p for p in await uow.rules.periods(TENANT, PERIOD) if p.start.year == month.year
            ]
        assert len(found) == 1, (n, found)


async def test_the_executors_period_read_for_several_tenants_holds_their_closes(
    postgres_database: SqlDatabase,
) -> None:
    """The executor's group record reads the closed periods of all its tenants at once
    (`closed_periods`, issue 14): it holds every one of those tenants' period locks, so a
    close of any of them waits for the record's commit; a close committed before is seen."""
    uows = postgres_database.uow_factory()
    rules = RulesService(uows, SystemClock(), RoleAuthorizer())
    other = "globex"
    other_accountant = Principal(subject="ola", tenant_id=other, roles=frozenset({"accountant"}))
    january = (dt.date(2033, 1, 1), dt.date(2033, 1, 31))
    await rules.close_period(ACCOUNTANT, *january)
    async with uows() as uow:
        found = await uow.rules.closed_periods([TENANT, other])
        assert [(p.start, p.end) for p in found[TENANT]] == [january]
        assert found[other] == []
        closes = [
            asyncio.create_task(rules.close_period(who, dt.date(2033, 2, 1), dt.date(2033, 2, 28)))
            for who in (ACCOUNTANT, other_accountant)
        ]
        done, _ = await asyncio.wait(closes, timeout=0.5)
        assert not done  # both closes wait for the record's transaction
        await uow.commit()
    await asyncio.wait_for(asyncio.gather(*closes), timeout=WITHIN)
    async with uows() as uow:
        found = await uow.rules.closed_periods([other, TENANT])
    assert [p.start for p in found[TENANT]] == [january[0], dt.date(2033, 2, 1)]
    assert [p.start for p in found[other]] == [dt.date(2033, 2, 1)]
