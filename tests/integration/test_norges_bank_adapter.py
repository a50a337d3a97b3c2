"""Norges Bank's exchange rates against a loopback fake of its SDMX-JSON API."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.norges_bank import NorgesBankRates
from bookkeeper.application.errors import (
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from tests.fakes.norges_bank import FakeNorgesBank, running_fake_norges_bank

FRIDAY = dt.date(2026, 11, 13)


@pytest.fixture
async def bank() -> AsyncIterator[tuple[FakeNorgesBank, NorgesBankRates]]:
    async with running_fake_norges_bank() as (fake, url):
        rates = NorgesBankRates(base_url=url)
        try:
            yield fake, rates
        finally:
            await rates.aclose()


async def test_a_banking_day_has_its_own_rate_and_a_weekend_the_last_published(
    bank: tuple[FakeNorgesBank, NorgesBankRates],
) -> None:
    fake, rates = bank
    fake.rates[("USD", FRIDAY - dt.timedelta(days=1))] = Decimal("11.0102")
    fake.rates[("USD", FRIDAY)] = Decimal("11.1234")
    fake.rates[("USD", FRIDAY + dt.timedelta(days=3))] = Decimal("11.3000")  # Monday
    got = await rates.to_nok("usd", FRIDAY)
    assert (got.currency, got.date, got.rate) == ("USD", FRIDAY, Decimal("11.1234"))
    for weekend in (FRIDAY + dt.timedelta(days=1), FRIDAY + dt.timedelta(days=2)):
        got = await rates.to_nok("USD", weekend)
        assert (got.date, got.rate) == (FRIDAY, Decimal("11.1234"))
    monday = await rates.to_nok("USD", FRIDAY + dt.timedelta(days=3))
    assert monday.rate == Decimal("11.3000")
    asked = fake.requests[0]
    assert asked["key"] == "B.USD.NOK.SP" and asked["format"] == "sdmx-json"
    assert asked["endPeriod"] == FRIDAY.isoformat()


async def test_a_rate_per_hundred_units_is_divided_and_nok_is_one(
    bank: tuple[FakeNorgesBank, NorgesBankRates],
) -> None:
    fake, rates = bank
    fake.unit_mult["SEK"] = 2
    fake.rates[("SEK", FRIDAY)] = Decimal("106.50")
    assert (await rates.to_nok("SEK", FRIDAY)).rate == Decimal("1.065")
    assert (await rates.to_nok("NOK", FRIDAY)).rate == Decimal(1)


async def test_no_rate_in_the_window_and_a_failing_service_are_external_errors(
    bank: tuple[FakeNorgesBank, NorgesBankRates],
) -> None:
    fake, rates = bank
    with pytest.raises(ExternalNotFound):
        await rates.to_nok("USD", FRIDAY)
    fake.rates[("USD", FRIDAY)] = Decimal("11")
    fake.fail_next(1, 503)
    with pytest.raises(ExternalUnavailable):
        await rates.to_nok("USD", FRIDAY)
    assert (await rates.to_nok("USD", FRIDAY)).rate == Decimal("11")
    fake.fail_next(1, 429)
    with pytest.raises(ExternalRateLimited) as limited:
        await rates.to_nok("USD", FRIDAY + dt.timedelta(days=7))
    assert limited.value.retry_after == 120.0
    with pytest.raises(ValueError, match="currency"):
        await rates.to_nok("US$", FRIDAY)


def _no_time_period(body: dict[str, Any]) -> None:
    body["data"]["structure"]["dimensions"]["observation"] = [{"id": "TIME", "values": []}]


def _data_sets_of_lists(body: dict[str, Any]) -> None:
    body["data"]["dataSets"] = [[]]


def _series_as_a_list(body: dict[str, Any]) -> None:
    body["data"]["dataSets"][0]["series"] = ["0:0:0:0"]


@pytest.mark.parametrize("mangle", [_no_time_period, _data_sets_of_lists, _series_as_a_list])
async def test_an_answer_not_in_the_sdmx_shape_is_the_banks_error(
    bank: tuple[FakeNorgesBank, NorgesBankRates], mangle: Callable[[dict[str, Any]], None]
) -> None:
    # Nonsense from the bank is ExternalRejected (a cost figure waits for the next pull),
    # not a RuntimeError (StopIteration out of a coroutine) or an AttributeError that ends
    # the pull of every source and the morning run with it.
    fake, rates = bank
    fake.rates[("USD", FRIDAY)] = Decimal("11")
    fake.mangle = mangle
    with pytest.raises(ExternalRejected, match="SDMX"):
        await rates.to_nok("USD", FRIDAY)
    fake.mangle = None
    assert (await rates.to_nok("USD", FRIDAY)).rate == Decimal("11")


async def test_a_days_rate_read_before_it_is_published_is_asked_again_later(
    bank: tuple[FakeNorgesBank, NorgesBankRates],
) -> None:
    # Norges Bank publishes a banking day's rate in the afternoon: asked in the morning, the
    # day takes the last published one (Thursday's). That answer was kept for the process's
    # life, so Friday's costs stayed at Thursday's rate after Friday's was out.
    fake, rates = bank
    thursday = FRIDAY - dt.timedelta(days=1)
    fake.rates[("USD", thursday)] = Decimal("11.0102")
    early = await rates.to_nok("USD", FRIDAY)
    assert (early.date, early.rate) == (thursday, Decimal("11.0102"))
    fake.rates[("USD", FRIDAY)] = Decimal("11.1234")  # published at 16:00
    late = await rates.to_nok("USD", FRIDAY)
    assert (late.date, late.rate) == (FRIDAY, Decimal("11.1234"))
    asked = len(fake.requests)
    assert (await rates.to_nok("USD", FRIDAY)).rate == Decimal("11.1234")
    assert len(fake.requests) == asked  # the day's own rate is final: kept, not asked again
