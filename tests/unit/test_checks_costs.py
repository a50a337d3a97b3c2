"""Costs from the service's own extraction records, over many pages of the log."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.checks import Checks
from bookkeeper.application.event_log import stamp
from bookkeeper.domain.events import DocumentExtractedData
from tests.unit.conftest import FixedClock

START = dt.datetime(2026, 10, 31, 22, 0, tzinfo=dt.UTC)  # 23:00 in Oslo, 31 October


def checks(uow: MemoryUnitOfWorkFactory, clock: FixedClock) -> Checks:
    unused: Any = None
    return Checks(uow, clock, unused, RoleAuthorizer(), unused, unused, unused)


async def record(uow: MemoryUnitOfWorkFactory, at: dt.datetime, cost: Decimal) -> None:
    event_id = uuid.uuid4()
    data = DocumentExtractedData(
        document_hash="ab" * 32,
        extractor="claude",
        document_type="receipt",
        input_tokens=10,
        output_tokens=1,
        cost_usd=cost,
    )
    async with uow() as unit:
        event = stamp(
            "DocumentExtracted",
            data,
            event_id=event_id,
            actor="book-e",
            at=at,
            correlation_id=event_id,
        )
        await unit.events.append("acme", event_id, 0, [event])
        await unit.commit()


@settings(max_examples=5, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 26 * 60), st.decimals("0", "5", places=4)),
        min_size=700,
        max_size=1100,
    )
)
async def test_the_total_of_a_norwegian_day_counts_every_record_of_it(
    calls: list[tuple[int, Decimal]],
) -> None:
    uow = MemoryUnitOfWorkFactory()
    for minutes, cost in calls:
        await record(uow, START + dt.timedelta(minutes=minutes), cost)
    clock = FixedClock(START + dt.timedelta(days=4))
    day = dt.date(2026, 11, 1)
    found = await checks(uow, clock).find_costs("acme", day, day)
    oslo = [
        (START + dt.timedelta(minutes=m)).astimezone(dt.timezone(dt.timedelta(hours=1))).date()
        for m, _ in calls
    ]  # November 2026 in Norway is UTC+1
    expected = [cost for (_, cost), d in zip(calls, oslo, strict=True) if d == day]
    if not expected:
        assert found.totals == []
        return
    [total] = found.totals
    assert total.amount == sum(expected, Decimal(0))
    assert total.records == len(expected)
    assert (total.input_tokens, total.output_tokens) == (10 * len(expected), len(expected))
    assert await checks(uow, clock).find_costs("beta", day, day) == type(found)(
        start=day, end=day, totals=[]
    )
