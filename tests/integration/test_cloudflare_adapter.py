"""The Cloudflare adapter against a loopback fake of the GraphQL Analytics API and the
billable-usage endpoint: 200-with-errors, windows, paging, and the degraded path."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from bookkeeper.adapters.cloudflare import CloudflareUsage
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from tests.fakes.cloudflare import (
    ACCOUNT,
    TOKEN,
    BilledRow,
    FakeCloudflare,
    Invocations,
    running_fake_cloudflare,
)

D = Decimal
DAY = dt.date(2026, 11, 1)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeCloudflare, str]]:
    async with running_fake_cloudflare() as running:
        yield running


def day(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n)


async def costs(url: str, start: dt.date, end: dt.date, **kw: object) -> list:  # type: ignore[type-arg]
    source = CloudflareUsage(str(kw.pop("token", TOKEN)), ACCOUNT, base_url=url, **kw)  # type: ignore[arg-type]
    try:
        return await source.costs(start, end)
    finally:
        await source.aclose()


async def test_without_billable_usage_workers_and_pages_usage_is_summed_per_day(
    fake: tuple[FakeCloudflare, str],
) -> None:
    state, url = fake
    for n in range(20):  # 20 days: three windows of at most 7 days
        state.usage.append(Invocations(day(n), "api", 1_000_000, cpu_time_us=5_000_000))
        state.usage.append(Invocations(day(n), "cron", 10, cpu_time_us=2_500))
        state.usage.append(Invocations(day(n), "pages-worker--1-production", 7, pages=True))
    source = CloudflareUsage(TOKEN, ACCOUNT, base_url=url)
    try:
        records = await source.costs(day(0), day(19))
    finally:
        await source.aclose()
    assert source.billing == "estimated"
    assert [r.day for r in records] == [day(n) for n in range(20)]
    assert {(r.basis, r.service, r.amount) for r in records} == {("usage", "workers", D(0))}
    assert {tuple(sorted(r.quantities.items())) for r in records} == {
        (("cpuMs", 5002), ("requests", 1_000_017))
    }
    windows = [v for path, v in state.calls if path == "graphql"]
    assert [(w["start"], w["end"]) for w in windows] == [
        ("2026-11-01", "2026-11-07"),
        ("2026-11-08", "2026-11-14"),
        ("2026-11-15", "2026-11-20"),
    ]
    assert [p for p, _ in state.calls].count("billable-usage") == 1  # probed once


async def test_a_window_that_hits_the_row_limit_is_asked_again_day_by_day(
    fake: tuple[FakeCloudflare, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = fake
    monkeypatch.setattr("bookkeeper.adapters.cloudflare.ROW_LIMIT", 5)
    for n in range(3):
        for script in range(3):
            state.usage.append(Invocations(day(n), f"s{script}", 1))
    records = await costs(url, day(0), day(2))
    assert [r.quantities["requests"] for r in records] == [3, 3, 3]
    windows = [(v["start"], v["end"]) for p, v in state.calls if p == "graphql"]
    assert windows[0] == ("2026-11-01", "2026-11-03") and len(windows) == 4


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not authorized: the token may not read Account Analytics", ExternalAuthFailed),
        ("rate limit exceeded: 300 queries per 5 minutes", ExternalRateLimited),
        ("cannot request a time range wider than a month", ExternalRejected),
    ],
)
async def test_http_200_with_errors_is_an_error_never_an_empty_month(
    fake: tuple[FakeCloudflare, str], message: str, error: type[Exception]
) -> None:
    state, url = fake
    state.usage.append(Invocations(day(0), "api", 5))
    state.errors_next(message, n=4)  # a rate limit is waited out three times first

    async def sleep(seconds: float) -> None:
        pass

    with pytest.raises(error):
        await costs(url, day(0), day(0), billable_usage=False, sleep=sleep)


async def test_a_bad_token_and_a_429_are_translated(fake: tuple[FakeCloudflare, str]) -> None:
    state, url = fake
    with pytest.raises(ExternalAuthFailed) as raised:
        await costs(url, day(0), day(0), token="wrong-token-secret", billable_usage=False)
    assert "wrong-token-secret" not in str(raised.value)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    state.rate_limit_next(4)  # the first try and three more
    with pytest.raises(ExternalRateLimited):
        await costs(url, day(0), day(0), billable_usage=False, sleep=sleep)
    assert slept == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("billable", ["available", "missing"])
async def test_a_429_is_waited_out_as_retry_after_asks_then_read(
    fake: tuple[FakeCloudflare, str], billable: str
) -> None:
    # One 429 (300 GraphQL queries per 5 minutes, or the REST API's limit) made the whole
    # source fail for the pull: the morning summary said "Kostnader ikke hentet:
    # cloudflare" for a limit that said to come back in 3 seconds.
    state, url = fake
    state.billable = billable
    state.usage.append(Invocations(day(0), "api", 42))
    state.billed.append(BilledRow(day(0), "0.50"))
    state.rate_limit_next(2, retry_after="3")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    [record] = await costs(url, day(0), day(0), sleep=sleep)
    assert slept == [3.0, 3.0]
    if billable == "available":
        assert (record.basis, record.amount) == ("billed", D("0.50"))
    else:
        assert (record.basis, record.quantities["requests"]) == ("usage", 42)


async def test_billable_usage_where_the_account_has_it_is_billed_every_page(
    fake: tuple[FakeCloudflare, str],
) -> None:
    state, url = fake
    state.billable = "available"
    state.per_page = 4
    for n in range(5):
        state.billed.append(BilledRow(day(n), "0.123456789"))
        state.billed.append(BilledRow(day(n), "1.5", sku="workers-standard-cpu"))
    source = CloudflareUsage(TOKEN, ACCOUNT, base_url=url)
    try:
        records = await source.costs(day(0), day(4))
    finally:
        await source.aclose()
    assert source.billing == "billed"
    assert len(records) == 10
    assert {r.amount for r in records} == {D("0.123456789"), D("1.5")}  # exact, no float
    assert {r.basis for r in records} == {"billed"}
    assert [p for p, _ in state.calls].count("billable-usage") == 3
    assert not any(p == "graphql" for p, _ in state.calls)


async def test_a_forbidden_billable_usage_endpoint_degrades_to_graphql(
    fake: tuple[FakeCloudflare, str],
) -> None:
    state, url = fake
    state.billable = "forbidden"
    state.usage.append(Invocations(day(0), "api", 42))
    [record] = await costs(url, day(0), day(0))
    assert (record.basis, record.quantities["requests"]) == ("usage", 42)


@pytest.fixture
def oslo_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is Norway's (TZ=Europe/Oslo, as a host may set)."""
    monkeypatch.setenv("TZ", "Europe/Oslo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def test_a_charge_period_without_an_offset_is_a_utc_day_whatever_the_local_zone(
    fake: tuple[FakeCloudflare, str], oslo_local_time: None
) -> None:
    # "2026-11-01" (or "2026-11-01T00:00:00") was read in the process's local time: with
    # TZ=Europe/Oslo it became 2026-10-31T23:00Z, and the day's cost went to the 31st,
    # out of the window asked for, and was dropped.
    state, url = fake
    state.billable = "available"
    state.plain_dates = True
    state.billed.append(BilledRow(day(0), "0.75"))
    [record] = await costs(url, day(0), day(0))
    assert (record.day, record.amount, record.basis) == (day(0), D("0.75"), "billed")


def test_an_account_id_is_32_hex_digits() -> None:
    with pytest.raises(ValueError, match="account"):
        CloudflareUsage(TOKEN, "acme")


@pytest.mark.parametrize("billable", ["available", "missing"])
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_transient_5xx_is_asked_again_as_retry_after_says_then_read(
    fake: tuple[FakeCloudflare, str], billable: str, status: int
) -> None:
    """A 502 from Cloudflare's edge (billable usage or GraphQL) failed the source for the
    pull at once: the day's figure was missing until the next one."""
    state, url = fake
    state.billable = billable
    state.usage.append(Invocations(day(0), "api", 42))
    state.billed.append(BilledRow(day(0), "0.50"))
    state.fail_next(2, status, retry_after="4")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    [record] = await costs(url, day(0), day(0), sleep=sleep)
    assert slept == [4.0, 4.0]
    if billable == "available":
        assert (record.basis, record.amount) == ("billed", D("0.50"))
    else:
        assert (record.basis, record.quantities["requests"]) == ("usage", 42)


async def test_a_source_down_through_every_attempt_says_it_stayed_down(
    fake: tuple[FakeCloudflare, str],
) -> None:
    state, url = fake
    state.fail_next(10, 503)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with pytest.raises(ExternalUnavailable, match="still down after 4 attempts"):
        await costs(url, day(0), day(0), billable_usage=False, sleep=sleep)
    assert slept == [1.0, 2.0, 4.0]
