"""The Google Cloud billing adapter against a loopback fake of BigQuery's REST API and the
OAuth token endpoint: a real service-account key, a real JWT grant, every page."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bookkeeper.adapters.google_billing import GoogleBillingUsage
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from tests.fakes.bigquery import PROJECT, TABLE, ExportRow, FakeBigQuery, running_fake_bigquery

D = Decimal
DAY = dt.date(2026, 11, 1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBigQuery]:
    async with running_fake_bigquery() as running:
        yield running


def source(fake: FakeBigQuery, **kw: object) -> GoogleBillingUsage:
    options: dict[str, object] = {"project": PROJECT, "table": TABLE, "poll_interval": 0.0}
    options.update(kw)
    return GoogleBillingUsage(
        fake.key_info(forged=bool(options.pop("forged", False))),
        base_url=f"{fake.url}/bigquery/v2",
        **options,  # type: ignore[arg-type]
    )


def day(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n)


async def test_net_cost_per_day_and_sku_over_every_page_with_credits(fake: FakeBigQuery) -> None:
    for n in range(30):
        for sku in ("Gemini 2.5 Flash input tokens", "Gemini 2.5 Flash output tokens"):
            fake.rows.append(ExportRow(day(n), "Vertex AI", sku, "0.123456", ("-0.023456",)))
            fake.rows.append(ExportRow(day(n), "Vertex AI", sku, "1.000000"))
        fake.rows.append(ExportRow(day(n), "Compute Engine", "N2 core", "9.99"))
    google = source(fake)
    try:
        records = await google.costs(day(0), day(29))
    finally:
        await google.aclose()
    assert len(records) == 60  # two SKUs a day; Compute Engine is not asked for
    assert {r.amount for r in records} == {D("1.100000")}
    assert {(r.source, r.service, r.currency) for r in records} == {("google", "Vertex AI", "USD")}
    assert [r.day for r in records[::2]] == [day(n) for n in range(30)]
    pages = [r for r in fake.requests if r[0] == "results"]
    assert len(pages) == 0  # 60 rows fit the first page of 1000
    assert fake.tokens_issued == 1


async def test_more_rows_than_a_page_are_read_with_page_tokens(
    fake: FakeBigQuery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bookkeeper.adapters.google_billing.PAGE_ROWS", 7)
    for n in range(10):
        for k in range(3):
            fake.rows.append(ExportRow(day(n), "Gemini API", f"sku-{k}", "0.01"))
    google = source(fake)
    try:
        records = await google.costs(day(0), day(9))
        again = await google.costs(day(0), day(9))
    finally:
        await google.aclose()
    assert len(records) == 30 and records == again
    pages = [r for r in fake.requests if r[0] == "results"]
    assert len(pages) == 2 * 4  # 30 rows, 7 a page: the first answer and four more pages
    assert all("pageToken" in query for _, _, query in pages)
    assert fake.tokens_issued == 1  # the token is kept until it expires


async def test_a_job_not_complete_is_polled_until_it_is(fake: FakeBigQuery) -> None:
    fake.pending_polls = 3
    fake.rows.append(ExportRow(day(0), "Vertex AI", "Gemini", "2.50"))
    google = source(fake)
    try:
        [record] = await google.costs(day(0), day(0))
    finally:
        await google.aclose()
    assert record.amount == D("2.50")
    polls = [q for kind, _, q in fake.requests if kind == "results"]
    assert len(polls) == 3 and all("pageToken" not in q for q in polls)
    assert {q.get("location") for q in polls} == {"EU"}


async def test_a_late_or_revised_figure_is_what_the_next_query_returns(fake: FakeBigQuery) -> None:
    fake.rows.append(ExportRow(day(0), "Vertex AI", "Gemini", "1.00"))
    google = source(fake)
    try:
        [first] = await google.costs(day(0), day(0))
        fake.rows.append(ExportRow(day(0), "Vertex AI", "Gemini", "0.50", ("-0.25",)))
        [later] = await google.costs(day(0), day(0))
    finally:
        await google.aclose()
    assert (first.amount, later.amount) == (D("1.00"), D("1.25"))


async def test_a_key_the_token_endpoint_refuses_is_an_auth_failure(fake: FakeBigQuery) -> None:
    google = source(fake, forged=True)
    try:
        with pytest.raises(ExternalAuthFailed) as raised:
            await google.costs(day(0), day(0))
    finally:
        await google.aclose()
    assert "PRIVATE KEY" not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (503, "backendError", ExternalUnavailable),
        (500, "internalError", ExternalUnavailable),
        (403, "accessDenied", ExternalAuthFailed),
        (403, "rateLimitExceeded", ExternalRateLimited),
        (429, "rateLimitExceeded", ExternalRateLimited),
        (404, "notFound", ExternalNotFound),
        (400, "invalidQuery", ExternalRejected),
    ],
)
async def test_errors_are_translated(
    fake: FakeBigQuery, status: int, reason: str, error: type[Exception]
) -> None:
    fake.fail_next(status, reason, n=4)  # a rate limit is waited out three times first

    async def sleep(seconds: float) -> None:
        pass

    google = source(fake, sleep=sleep)
    try:
        with pytest.raises(error):
            await google.costs(day(0), day(0))
    finally:
        await google.aclose()


async def test_a_finished_job_with_errors_is_rejected(fake: FakeBigQuery) -> None:
    fake.errors_next()
    google = source(fake)
    try:
        with pytest.raises(ExternalRejected, match="the query failed"):
            await google.costs(day(0), day(0))
    finally:
        await google.aclose()


async def test_a_revoked_token_is_an_auth_failure_and_a_wrong_table_not_found(
    fake: FakeBigQuery,
) -> None:
    google = source(fake)
    other = source(fake, table="acme-billing.billing.other_table")
    try:
        await google.costs(day(0), day(0))
        fake.forget_tokens()
        with pytest.raises(ExternalAuthFailed):
            await google.costs(day(0), day(0))
        with pytest.raises(ExternalNotFound):
            await other.costs(day(0), day(0))
    finally:
        await google.aclose()
        await other.aclose()


def test_a_table_name_that_could_change_the_query_is_refused(fake: FakeBigQuery) -> None:
    with pytest.raises(ValueError, match="table"):
        source(fake, table="a.b` WHERE 1=1 --")
    with pytest.raises(ValueError, match="service-account"):
        GoogleBillingUsage({"type": "service_account"}, project=PROJECT, table=TABLE)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "rateLimitExceeded"),
        (403, "quotaExceeded"),
        (503, "backendError"),
        (500, "internalError"),
    ],
)
async def test_a_rate_limit_or_transient_5xx_is_waited_out_as_retry_after_asks_then_read(
    fake: FakeBigQuery, status: int, reason: str
) -> None:
    """One 429 (or 403 rateLimitExceeded/quotaExceeded, BigQuery's way) made the whole
    source fail for the pull: the morning said "Kostnader ikke hentet: google" for a limit
    that asked to come back in 2 seconds. BigQuery's backendError (503) and internalError
    (500) are transient, and Google asks clients to retry them: one did the same."""
    fake.rows.append(ExportRow(day(0), "Vertex AI", "Gemini 2.5 Flash output tokens", "2.50"))
    fake.fail_next(status, reason, n=2, retry_after="2")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    google = source(fake, sleep=sleep)
    try:
        [record] = await google.costs(day(0), day(0))
    finally:
        await google.aclose()
    assert record.amount == D("2.50")
    assert slept == [2.0, 2.0]


async def test_a_billing_export_down_through_every_attempt_says_it_stayed_down(
    fake: FakeBigQuery,
) -> None:
    fake.fail_next(503, "backendError", n=4)

    async def sleep(seconds: float) -> None:
        pass

    google = source(fake, sleep=sleep)
    try:
        with pytest.raises(ExternalUnavailable, match="still down after 4 attempts"):
            await google.costs(day(0), day(0))
    finally:
        await google.aclose()
