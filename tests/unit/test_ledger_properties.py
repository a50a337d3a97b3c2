"""Properties of the ledger (Hypothesis): every posting balances, and whatever is posted
— executed proposals, manual entries, reversals — the reports agree with a plain model:
total debit equals total credit, the balances sum to zero, and paging the general ledger
shows every line exactly once, ending on the account's balance.

`check_ledger_invariants` is run on SQLite too (tests/integration/test_ledger_sql.py).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService, TrialBalance, post_entry
from bookkeeper.application.ports import Principal, UnitOfWorkFactory
from bookkeeper.domain import money, statements
from bookkeeper.domain.events import JournalEntryPostedData, JournalLine
from bookkeeper.domain.ledger import check_balanced, mirror, posting_for
from tests.unit.conftest import FixedClock
from tests.unit.strategies import dates, expenses, invoices, receipts

ACCOUNTS = ["1920", "2400:20001", "6300", "6540", "2710", "3000", "1500", "2050", "8300"]
documents = st.one_of(receipts, invoices(), expenses)


@st.composite
def manual_lines(draw: st.DrawFn) -> list[JournalLine]:
    """A balanced entry: some debits, and their total split over one to three credits."""
    debits = draw(st.lists(st.integers(1, 10**8), min_size=1, max_size=4))
    total = sum(debits)
    cuts = sorted(draw(st.sets(st.integers(1, max(total - 1, 1)), max_size=2)) - {total})
    edges = [0, *cuts, total]
    credits = [b - a for a, b in itertools.pairwise(edges) if b > a]
    account = st.sampled_from(ACCOUNTS)
    return [
        *(JournalLine(account=draw(account), debit=money.from_ore(d)) for d in debits),
        *(JournalLine(account=draw(account), credit=money.from_ore(c)) for c in credits),
    ]


actions = st.lists(
    st.one_of(
        st.tuples(st.just("proposal"), documents),
        st.tuples(st.just("manual"), dates, manual_lines()),
        st.tuples(st.just("mirror"), st.integers(0, 20), dates),
    ),
    min_size=1,
    max_size=10,
)
windows = st.tuples(st.none() | dates, st.none() | dates)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@given(documents)
def test_every_posting_of_a_document_balances(data: Any) -> None:
    entry = posting_for(data, proposal_id=str(uuid.uuid4()))
    assert entry is not None
    check_balanced(entry.lines)
    debit = sum((line.debit for line in entry.lines), Decimal(0))
    credit = sum((line.credit for line in entry.lines), Decimal(0))
    assert debit == credit == data.amount
    assert all(line.debit >= 0 and line.credit >= 0 for line in entry.lines)
    assert all(money.has_at_most_two_decimals(line.debit + line.credit) for line in entry.lines)


@given(manual_lines())
def test_the_manual_entry_strategy_balances(lines: list[JournalLine]) -> None:
    check_balanced(lines)


def model_balances(
    posted: list[tuple[uuid.UUID, JournalEntryPostedData]],
    until: Any,
    year: int,
    *,
    inclusive: bool,
) -> dict[str, Decimal]:
    """Debit − credit per account of the lines up to `until` (None: all) as of `year`:
    an income-statement account with that year's lines only, 2050 with every earlier
    year's result besides its own lines (a plain model of statements.carry_forward)."""
    balances: dict[str, Decimal] = defaultdict(Decimal)
    for _, entry in posted:
        day = entry.date
        if until is not None and (day > until if inclusive else day >= until):
            continue
        for line in entry.lines:
            amount = line.debit - line.credit
            if statements.is_result_account(line.account) and day.year < year:
                balances[statements.RETAINED_EARNINGS] += amount
            else:
                balances[line.account] += amount
    return {a: b for a, b in balances.items() if b}


def check_years(
    report: TrialBalance,
    posted: list[tuple[uuid.UUID, JournalEntryPostedData]],
    start: Any,
    end: Any,
) -> None:
    """Opening + movement + carried = closing per account, each column balancing, and
    opening and closing as the model has them on the start's and the end's day."""
    for a in report.accounts:
        assert a.opening + a.debit - a.credit + a.carried == a.closing
    assert report.opening == report.carried == report.closing == 0
    opening = {a.account: a.opening for a in report.accounts if a.opening}
    closing = {a.account: a.closing for a in report.accounts if a.closing}
    if start is None:
        assert opening == {}
    else:
        assert opening == model_balances(posted, start, start.year, inclusive=False)
    last = end.year if end else max([e.date.year for _, e in posted] + [start.year if start else 0])
    assert closing == model_balances(posted, end, last, inclusive=True)
    if start is not None and last == start.year:  # within one financial year
        assert all(a.carried == 0 for a in report.accounts)


async def check_ledger_invariants(
    factory: UnitOfWorkFactory, tenant: str, steps: list[Any], window: tuple[Any, Any], page: int
) -> None:
    """Post `steps` for `tenant`, then hold the reports against a model of the lines."""
    clock = FixedClock()
    service = LedgerService(factory, clock, UuidV7Ids(), RoleAuthorizer())
    accountant = Principal(subject="anna", tenant_id=tenant, roles=frozenset({"accountant"}))
    posted: list[tuple[uuid.UUID, JournalEntryPostedData]] = []
    for step in steps:
        clock.advance(seconds=1)
        if step[0] == "manual":
            result = await service.post_manual(accountant, step[1], "Manuell", step[2])
            posted.append((result.entry_id, result.entry))
            continue
        if step[0] == "proposal":
            entry = posting_for(step[1], proposal_id=str(uuid.uuid4()))
        elif posted:
            target_id, target = posted[step[1] % len(posted)]
            entry = mirror(target, entry_id=str(target_id), date=step[2], proposal_id=None)
        else:
            continue
        assert entry is not None
        entry_id = uuid.uuid4()
        async with factory() as uow:
            await post_entry(
                uow,
                tenant,
                entry,
                entry_id=entry_id,
                actor="system:executor",
                correlation_id=entry_id,
                parent_id=None,
                now=clock.now(),
            )
            await uow.commit()
        posted.append((entry_id, entry))

    start, end = window
    model: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    lines_of: dict[str, int] = defaultdict(int)
    for _, entry in posted:
        for line in entry.lines:
            lines_of[line.account] += 1
            if (start is None or entry.date >= start) and (end is None or entry.date <= end):
                model[line.account][0] += line.debit
                model[line.account][1] += line.credit

    viewer = Principal(subject="vera", tenant_id=tenant, roles=frozenset({"viewer"}))
    everything = await service.trial_balance(viewer, None, None)
    assert everything.debit == everything.credit
    assert sum((a.balance for a in everything.accounts), Decimal(0)) == 0
    check_years(everything, posted, None, None)
    if start is None or end is None or start <= end:
        period = await service.trial_balance(viewer, start, end)
        assert period.debit == period.credit
        assert sum((a.balance for a in period.accounts), Decimal(0)) == 0
        moved = {a.account: [a.debit, a.credit] for a in period.accounts if a.debit or a.credit}
        assert moved == dict(model)
        check_years(period, posted, start, end)
        for line in period.accounts:
            opened = await service.general_ledger(viewer, line.account, start, end, None, page)
            assert opened.opening_balance == line.opening
            ledger = await service.general_ledger(viewer, line.account, start, end, None, 10**4)
            assert ledger.closing_balance == line.closing

    for account in everything.accounts:
        seen: list[tuple[uuid.UUID, int]] = []
        cursor = None
        while True:
            result = await service.general_ledger(viewer, account.account, None, None, cursor, page)
            seen.extend((item.line.entry_id, item.line.line_no) for item in result.lines)
            cursor = result.next_cursor
            if cursor is None:
                # The whole books close in the last year: 3xxx–8xxx with that year's lines.
                assert result.closing_balance == account.closing
                break
        assert len(seen) == len(set(seen)) == lines_of[account.account]


@settings(max_examples=60, deadline=None)
@given(actions, windows, st.integers(1, 4))
def test_the_reports_agree_with_what_was_posted_in_memory(
    steps: list[Any], window: tuple[Any, Any], page: int
) -> None:
    run(check_ledger_invariants(MemoryUnitOfWorkFactory(), "acme", steps, window, page))
