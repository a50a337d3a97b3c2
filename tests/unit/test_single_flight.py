"""Concurrent misses of one cache key read once (application.single_flight; ADR 0045
addendum): the helper, the review-rules and tax-rates caches, and the propose path's bank
listing."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.sql.rules import TaxRatesCache
from bookkeeper.adapters.sql.tenant_settings import RulesCache
from bookkeeper.application.ports import BankTransaction
from bookkeeper.application.single_flight import SingleFlight
from bookkeeper.domain.review import DEFAULT_RULES, ReviewRules
from bookkeeper.domain.rules import TaxRate
from tests.unit.conftest import adobe_receipt_data as receipt


class GatedRead:
    """A read that counts its calls and answers only when `gate` is set."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0
        self.gate = asyncio.Event()
        self.fail: BaseException | None = None

    async def __call__(self) -> Any:
        self.calls += 1
        await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        return self.answer


async def started(read: GatedRead, calls: int) -> None:
    """Until `read` has been called `calls` times (each call stops at the gate)."""
    for _ in range(100):
        if read.calls >= calls:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{read.calls} calls, expected {calls}")


async def test_concurrent_misses_of_one_key_share_one_read() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    read = GatedRead("rows")
    waiting = [asyncio.create_task(flight.run("bench", read)) for _ in range(32)]
    await started(read, 1)
    read.gate.set()
    assert await asyncio.gather(*waiting) == ["rows"] * 32
    assert read.calls == 1
    # Done: the next miss reads anew (the caller's cache decides when that is).
    assert await flight.run("bench", read) == "rows"
    assert read.calls == 2


async def test_another_key_is_read_on_its_own() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    first, second = GatedRead("a"), GatedRead("b")
    a = asyncio.create_task(flight.run("a", first))
    b = asyncio.create_task(flight.run("b", second))
    await started(first, 1)
    await started(second, 1)
    first.gate.set()
    second.gate.set()
    assert (await a, await b) == ("a", "b")


async def test_a_failed_read_leaves_each_waiter_to_read_itself() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    read = GatedRead("rows")
    read.fail = ConnectionError("database gone")
    leader = asyncio.create_task(flight.run("bench", read))
    await started(read, 1)
    waiters = [asyncio.create_task(flight.run("bench", read)) for _ in range(3)]
    await asyncio.sleep(0)
    read.gate.set()
    with pytest.raises(ConnectionError):
        await leader  # the failure stays with the caller it happened to
    assert await asyncio.gather(*waiters) == ["rows"] * 3
    assert read.calls == 4


async def _reading_with_a_waiter(
    read: GatedRead,
) -> tuple[asyncio.Task[Any], asyncio.Task[Any]]:
    """A read of "bench" under way (held at its gate) and a second call waiting for it."""
    flight: SingleFlight[str, str] = SingleFlight()
    leader = asyncio.create_task(flight.run("bench", read))
    await started(read, 1)
    waiter = asyncio.create_task(flight.run("bench", read))
    await asyncio.sleep(0)  # it joins the read in flight
    return leader, waiter


async def test_a_cancelled_read_leaves_each_waiter_to_read_itself() -> None:
    read = GatedRead("rows")
    leader, waiter = await _reading_with_a_waiter(read)
    leader.cancel()
    await started(read, 2)
    read.gate.set()
    assert await waiter == "rows"
    assert leader.cancelled()


async def test_a_cancelled_waiter_does_not_cancel_the_read() -> None:
    read = GatedRead("rows")
    leader, waiter = await _reading_with_a_waiter(read)
    waiter.cancel()
    read.gate.set()
    assert await leader == "rows"
    assert waiter.cancelled()


async def test_forget_lets_a_later_miss_read_anew() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    before, after = GatedRead("old"), GatedRead("new")
    first = asyncio.create_task(flight.run("bench", before))
    await started(before, 1)
    joined = asyncio.create_task(flight.run("bench", before))
    await asyncio.sleep(0)
    flight.forget("bench")  # a change was made: what is read from now on must see it
    later = asyncio.create_task(flight.run("bench", after))
    await started(after, 1)
    before.gate.set()
    after.gate.set()
    assert (await first, await joined, await later) == ("old", "old", "new")


async def test_the_rules_cache_reads_a_tenants_rules_once_for_concurrent_misses() -> None:
    cache = RulesCache()
    strict = ReviewRules(auto_approve_above=Decimal("0.99"))
    read = GatedRead(strict)
    misses = [asyncio.create_task(cache.read_once("bench", read)) for _ in range(16)]
    await started(read, 1)
    read.gate.set()
    assert await asyncio.gather(*misses) == [strict] * 16
    assert read.calls == 1
    assert cache.get("bench") == strict  # kept for the units of work that come next
    cache.forget("bench")
    assert cache.get("bench") is None
    reread = GatedRead(DEFAULT_RULES)
    reread.gate.set()
    assert await cache.read_once("bench", reread) == DEFAULT_RULES  # a change is read anew


async def test_the_tax_rates_cache_reads_a_countrys_rates_once_for_concurrent_misses() -> None:
    cache = TaxRatesCache()
    rates = (
        TaxRate(
            country="NO",
            tax_type="regular",
            direction="input",
            saft_code="1",
            rate=Decimal("25"),
            account="2710",
            valid_from=dt.date(2016, 1, 1),
        ),
    )
    read = GatedRead(rates)
    misses = [asyncio.create_task(cache.read_once("NO", "bench", read)) for _ in range(16)]
    await started(read, 1)
    read.gate.set()
    assert await asyncio.gather(*misses) == [rates] * 16
    assert read.calls == 1
    assert cache.get("NO", "bench") == rates
    assert cache.get("NO", "other") is None  # per tenant


class SlowBank:
    """Lists one card event (ev-9) once `gate` is set, counting how often it was asked."""

    def __init__(self) -> None:
        self.listings = 0
        self.gate = asyncio.Event()

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        self.listings += 1
        await self.gate.wait()
        return [
            BankTransaction(
                id="ev-9",
                event_id="ev-9",
                date=dt.date(2026, 11, 20),
                description="VISA ADOBE 1234",
                amount=Decimal("-199.00"),
                currency="NOK",
                merchant_name="Adobe Systems Software Ireland Ltd",
            )
        ]


async def test_receipts_missing_the_same_window_at_once_list_the_bank_once() -> None:
    """Fails without the single flight: each of the eight lists the bank itself."""
    from bookkeeper.application.commands import SubmitEvent
    from tests.unit.conftest import AGENT, handlers_with_bank

    bank = SlowBank()
    handlers = handlers_with_bank(bank)
    submits = [
        asyncio.create_task(
            handlers.submit(
                SubmitEvent(
                    type="ReceiptAttachmentProposed",
                    data=receipt(folio_event_id="ev-9", document_number=f"R-{number}"),
                    principal=AGENT,
                )
            )
        )
        for number in range(8)
    ]
    for _ in range(100):
        if bank.listings:
            break
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)  # every submit reaches the bank check
    bank.gate.set()
    results = await asyncio.gather(*submits)
    assert bank.listings == 1
    # Each receipt was checked against the one listing, alike.
    checked = set()
    for result in results:
        assert result.confidence is not None
        checked.add(tuple(r for r in result.confidence.reasons if r.signal == "bank-mismatch"))
    assert len(checked) == 1
