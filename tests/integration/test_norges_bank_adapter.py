"""Norges Bank's exchange rates against a loopback fake of its SDMX-JSON API."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.norges_bank import NorgesBankRates
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalNotFound,
    ExternalRateLimited,
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
    # A code that is no currency has no rate: the port's error, not a bare ValueError
    # that the handlers (which catch ours) would let out as a 500. Nothing is asked.
    asked = len(fake.requests)
    with pytest.raises(ExternalNotFound, match="not a currency code"):
        await rates.to_nok("US$", FRIDAY)
    assert len(fake.requests) == asked


def _no_time_period(body: dict[str, Any]) -> None:
    body["data"]["structure"]["dimensions"]["observation"] = [{"id": "TIME", "values": []}]


def _data_sets_of_lists(body: dict[str, Any]) -> None:
    body["data"]["dataSets"] = [[]]


def _series_as_a_list(body: dict[str, Any]) -> None:
    body["data"]["dataSets"][0]["series"] = ["0:0:0:0"]


def _unit_mult(exponent: str) -> Callable[[dict[str, Any]], None]:
    def mangle(body: dict[str, Any]) -> None:
        attributes = body["data"]["structure"]["attributes"]["series"]
        next(a for a in attributes if a["id"] == "UNIT_MULT")["values"] = [{"id": exponent}]

    return mangle


def _rate(raw: str) -> Callable[[dict[str, Any]], None]:
    def mangle(body: dict[str, Any]) -> None:
        body["data"]["dataSets"][0]["series"]["0:0:0:0"]["observations"]["0"] = [raw]

    return mangle


def _observation_before_the_dates(body: dict[str, Any]) -> None:
    series = body["data"]["dataSets"][0]["series"]["0:0:0:0"]
    series["observations"] = {"-1": series["observations"]["0"]}


@pytest.mark.parametrize(
    "mangle",
    [
        _no_time_period,
        _data_sets_of_lists,
        _series_as_a_list,
        # Numbers no Decimal holds: decimal's Overflow and DivisionByZero are no ValueError
        # and left the adapter bare.
        pytest.param(_unit_mult("999999999"), id="unit-mult-overflow"),
        pytest.param(_unit_mult("-999999999"), id="unit-mult-to-zero"),
        pytest.param(_rate("1E+999999999"), id="rate-overflow"),
        # "-1" read as the window's last date: a rate booked for the wrong day.
        _observation_before_the_dates,
    ],
)
async def test_an_answer_not_in_the_sdmx_shape_is_the_banks_error(
    bank: tuple[FakeNorgesBank, NorgesBankRates], mangle: Callable[[dict[str, Any]], None]
) -> None:
    # Nonsense from the bank is ExternalAnswerInvalid (ADR 0026; a cost figure waits for
    # the next pull), not a RuntimeError (StopIteration out of a coroutine), an
    # AttributeError or a decimal.Overflow that ends the pull of every source.
    fake, rates = bank
    fake.rates[("USD", FRIDAY)] = Decimal("11")
    fake.mangle = mangle
    with pytest.raises(ExternalAnswerInvalid, match="SDMX") as invalid:
        await rates.to_nok("USD", FRIDAY)
    assert invalid.value.retryable is False
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
