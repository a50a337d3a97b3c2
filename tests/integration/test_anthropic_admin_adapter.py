"""The Anthropic Admin API adapter against a loopback fake of the documented contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bookkeeper.adapters.anthropic_admin import AnthropicAdminUsage
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from tests.fakes.anthropic_admin import (
    CostRow,
    FakeAnthropicAdmin,
    UsageRow,
    running_fake_anthropic_admin,
)

KEY = "sk-ant-admin01-secret-key"
D = dt.date(2026, 10, 1)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAnthropicAdmin, str]]:
    async with running_fake_anthropic_admin() as running:
        yield running


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


async def test_costs_of_every_page_in_dollars_with_tokens_per_day_and_model(
    fake: tuple[FakeAnthropicAdmin, str],
) -> None:
    state, url = fake
    # 45 days: two pages of at most 31 days each.
    for n in range(45):
        state.costs.append(CostRow(day=day(n), model="claude-haiku-4-5", amount_cents="123.45"))
        state.costs.append(
            CostRow(
                day=day(n),
                model="claude-haiku-4-5",
                amount_cents="0.55",
                token_type="uncached_input_tokens",
            )
        )
        state.usage.append(
            UsageRow(
                day=day(n),
                model="claude-haiku-4-5",
                uncached_input_tokens=1000,
                cache_read_input_tokens=10,
                cache_5m=1,
                cache_1h=2,
                output_tokens=300,
            )
        )
    state.costs.append(CostRow(day=day(3), model="claude-sonnet-4-5", amount_cents="1"))
    source = AnthropicAdminUsage(KEY, base_url=url)
    try:
        records = await source.costs(day(0), day(44))
    finally:
        await source.aclose()
    haiku = [r for r in records if r.model == "claude-haiku-4-5"]
    assert [r.day for r in haiku] == [day(n) for n in range(45)]
    assert {r.amount for r in haiku} == {Decimal("1.24")}  # (123.45 + 0.55) cents
    assert {(r.input_tokens, r.output_tokens) for r in haiku} == {(1013, 300)}
    [sonnet] = [r for r in records if r.model == "claude-sonnet-4-5"]
    assert (sonnet.day, sonnet.amount, sonnet.currency) == (day(3), Decimal("0.01"), "USD")
    cost_pages = [q for path, q in state.requests if path.endswith("cost_report")]
    assert len(cost_pages) == 2
    assert ("group_by[]", "description") in cost_pages[0]
    assert ("ending_at", "2026-11-15T00:00:00Z") in cost_pages[0]  # exclusive end
    assert any(name == "page" for name, _ in cost_pages[1])


async def test_a_revised_day_reads_the_new_figure(fake: tuple[FakeAnthropicAdmin, str]) -> None:
    state, url = fake
    state.costs.append(CostRow(day=day(0), model="m", amount_cents="100"))
    source = AnthropicAdminUsage(KEY, base_url=url)
    try:
        assert [r.amount for r in await source.costs(day(0), day(0))] == [Decimal("1")]
        state.costs[0].amount_cents = "250.5"  # the provider revised the day
        state.costs.append(CostRow(day=day(0), model="late", amount_cents="7"))  # arrived late
        records = await source.costs(day(0), day(0))
    finally:
        await source.aclose()
    assert {(r.model, r.amount) for r in records} == {
        ("m", Decimal("2.505")),
        ("late", Decimal("0.07")),
    }


async def test_429_is_retried_after_retry_after_then_given_up(
    fake: tuple[FakeAnthropicAdmin, str],
) -> None:
    state, url = fake
    state.costs.append(CostRow(day=day(0), model="m", amount_cents="100"))
    source = AnthropicAdminUsage(KEY, base_url=url)
    try:
        state.rate_limit_next(2, retry_after=0)
        assert [r.amount for r in await source.costs(day(0), day(0))] == [Decimal("1")]
        state.rate_limit_next(10, retry_after=0)
        with pytest.raises(ExternalRateLimited):
            await source.costs(day(0), day(0))
    finally:
        await source.aclose()


async def test_errors_are_external_errors_without_the_key(
    fake: tuple[FakeAnthropicAdmin, str],
) -> None:
    _, url = fake
    wrong = AnthropicAdminUsage("sk-ant-api03-not-an-admin-key", base_url=url)
    try:
        with pytest.raises(ExternalAuthFailed) as refused:
            await wrong.costs(day(0), day(0))
    finally:
        await wrong.aclose()
    assert "sk-ant" not in str(refused.value)
    state, _ = fake
    state.fail_next(4, 503)  # down through every attempt (a transient 5xx is asked again)

    async def sleep(seconds: float) -> None:
        pass

    source = AnthropicAdminUsage(KEY, base_url=url, sleep=sleep)
    try:
        with pytest.raises(ExternalUnavailable, match="still down after 4 attempts"):
            await source.costs(day(0), day(0))
    finally:
        await source.aclose()
    down = AnthropicAdminUsage(KEY, base_url="http://127.0.0.1:9")
    try:
        with pytest.raises(ExternalUnavailable):
            await down.costs(day(0), day(0))
    finally:
        await down.aclose()


async def test_429_waits_what_retry_after_says_capped(
    fake: tuple[FakeAnthropicAdmin, str],
) -> None:
    state, url = fake
    state.costs.append(CostRow(day=day(0), model="m", amount_cents="100"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    source = AnthropicAdminUsage(KEY, base_url=url, sleep=sleep)
    try:
        state.rate_limit_next(1, retry_after=7)
        state.rate_limit_next(1, retry_after=600)
        assert [r.amount for r in await source.costs(day(0), day(0))] == [Decimal("1")]
    finally:
        await source.aclose()
    assert slept == [7.0, 60.0]  # as asked; a long wait is capped at MAX_RETRY_AFTER


@pytest.mark.parametrize(
    "nonsense",
    [
        {"output_tokens": "lots"},  # a number as words: int() raised ValueError
        {"uncached_input_tokens": {"n": 1}},  # an object: int() raised TypeError
        {"cache_5m": ["x"]},  # cache_creation's count as a list
        {"output_tokens": -5},  # fewer than none
    ],
)
async def test_a_usage_report_of_nonsense_is_rejected_as_the_sources_error(
    fake: tuple[FakeAnthropicAdmin, str], nonsense: dict[str, object]
) -> None:
    # A source answering nonsense is that source's failure (ExternalRejected, which the
    # pull names in `failed`), never a ValueError that ends the morning run of every tenant.
    state, url = fake
    state.costs.append(CostRow(day=day(0), model="m", amount_cents="100"))
    row = UsageRow(day=day(0), model="m", output_tokens=1)
    for name, value in nonsense.items():
        setattr(row, name, value)
    state.usage.append(row)
    source = AnthropicAdminUsage(KEY, base_url=url)
    try:
        with pytest.raises(ExternalRejected, match="token"):
            await source.costs(day(0), day(0))
    finally:
        await source.aclose()


async def test_a_result_that_is_not_an_object_is_rejected(
    fake: tuple[FakeAnthropicAdmin, str],
) -> None:
    state, url = fake
    state.costs.append(CostRow(day=day(0), model="m", amount_cents="100"))
    state.nonsense_results = True
    source = AnthropicAdminUsage(KEY, base_url=url)
    try:
        with pytest.raises(ExternalRejected):
            await source.costs(day(0), day(0))
    finally:
        await source.aclose()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_transient_5xx_is_asked_again_as_retry_after_says_then_read(
    fake: tuple[FakeAnthropicAdmin, str], status: int
) -> None:
    """A 5xx was the source's failure at once: the day's figure was lost until the next
    pull (six hours, or the next morning)."""
    state, url = fake
    state.costs.append(CostRow(day=day(0), model="m", amount_cents="250"))
    state.fail_next(2, status, retry_after="5")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    source = AnthropicAdminUsage(KEY, base_url=url, sleep=sleep)
    try:
        assert [r.amount for r in await source.costs(day(0), day(0))] == [Decimal("2.5")]
    finally:
        await source.aclose()
    assert slept == [5.0, 5.0]
