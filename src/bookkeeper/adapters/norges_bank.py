"""Norges Bank's daily exchange rates (the open SDMX data API) as an ExchangeRates source.

    GET https://data.norges-bank.no/api/data/EXR/B.{CUR}.NOK.SP
        ?startPeriod=YYYY-MM-DD&endPeriod=YYYY-MM-DD&format=sdmx-json

A rate is published for banking days only, so the rate of a day is that day's or the last
one published before it (a weekend or a holiday takes Friday's): the window asked for is the
ten days up to the day. The answer is SDMX-JSON: the observations of the one series are
`data.dataSets[0].series["0:0:0:0"].observations{"i": ["rate", …]}`, their dates
`data.structure.dimensions.observation[TIME_PERIOD].values[i].id`; the attribute UNIT_MULT
says per how many units (10^n: JPY and SEK are quoted per 100), attached to the series as
Norges Bank does, or to the data set or the observation, or given as its default, as
SDMX-JSON allows any server to (`_unit_exponent`). A day's own rate
is kept per (currency, date) once read; the last one before it is not (the day's may not be
published yet: Norges Bank publishes in the afternoon), so it is asked again next time.
404 (no data in the window) is ExternalNotFound; 5xx, timeouts and an answer not whole
within its deadline (three timeouts; outbound.py) ExternalUnavailable; a 2xx answer that is
not that SDMX-JSON (a broken shape, an observation index outside the dates, a rate or
multiplier no Decimal holds) or larger than 8 MiB ExternalAnswerInvalid (ADR 0026); a currency
that is no ISO code has no rate: ExternalNotFound without asking. Nothing else leaves.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final

import httpx

from bookkeeper.adapters import outbound
from bookkeeper.adapters.answers import reading_errors
from bookkeeper.adapters.retry_after import retry_after
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.spending import ExchangeRate

SYSTEM: Final = "norges-bank"
BASE_URL: Final = "https://data.norges-bank.no/api"
#: Days looked back for the last published rate (Easter: five days without one).
LOOK_BACK: Final = 10


class NorgesBankRates:
    """The ExchangeRates port on Norges Bank's SDMX API."""

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        timeout: float = 20.0,
        deadline: float | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        #: Each GET's whole answer ends within this (outbound.GuardedTransport).
        self._deadline = outbound.deadline_for(timeout, deadline)
        self._client = client or outbound.client(
            base_url=base_url, timeout=timeout, deadline=self._deadline
        )
        self._known: dict[tuple[str, dt.date], ExchangeRate] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        currency = currency.upper()
        if currency == "NOK":
            return ExchangeRate(currency="NOK", date=day, rate=Decimal(1))
        if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
            raise ExternalNotFound(
                f"no rate for {currency[:12]!r}: not a currency code", system=SYSTEM, status=None
            )
        known = self._known.get((currency, day))
        if known is not None:
            return known
        start = day - dt.timedelta(days=LOOK_BACK)
        observations = await self._observations(currency, start, day)
        published = [(d, r) for d, r in observations if d <= day]
        if not published:
            raise ExternalNotFound(
                f"no {currency}/NOK rate published in {start}..{day}", system=SYSTEM, status=None
            )
        date, rate = max(published)
        found = ExchangeRate(currency=currency, date=date, rate=rate)
        if date == day:
            self._known[(currency, day)] = found
        return found

    async def _observations(
        self, currency: str, start: dt.date, end: dt.date
    ) -> list[tuple[dt.date, Decimal]]:
        path = f"/data/EXR/B.{currency}.NOK.SP"
        params = {
            "startPeriod": start.isoformat(),
            "endPeriod": end.isoformat(),
            "format": "sdmx-json",
        }
        with reading_errors(system=SYSTEM, where=path, deadline=self._deadline):
            response = await self._client.get(path, params=params)
        if response.status_code == 404:
            return []
        if response.status_code == 429:
            raise ExternalRateLimited(
                f"{path}: 429", system=SYSTEM, retry_after=retry_after(response.headers)
            )
        if response.status_code >= 500:
            raise ExternalUnavailable(
                f"{path}: {response.status_code}", system=SYSTEM, status=response.status_code
            )
        if response.status_code >= 400:
            raise ExternalRejected(
                f"{path}: {response.status_code}", system=SYSTEM, status=response.status_code
            )
        try:
            return parse_sdmx(response.json())
        except (
            KeyError,
            IndexError,
            TypeError,
            ValueError,
            AttributeError,  # a list where an object was expected
            ArithmeticError,  # decimal's InvalidOperation, Overflow, DivisionByZero
            RecursionError,  # JSON nested deeper than the parser goes
        ) as error:
            raise ExternalAnswerInvalid(
                f"{path}: not the SDMX-JSON expected ({type(error).__name__})",
                system=SYSTEM,
                status=response.status_code,
            ) from error


def parse_sdmx(body: dict[str, Any]) -> list[tuple[dt.date, Decimal]]:
    """(date, NOK per one unit) of each observation of the answer's one series."""
    data = body["data"]
    structure = data["structure"]
    # No TIME_PERIOD is a KeyError: a StopIteration out of next() would leave the caller's
    # coroutine as a RuntimeError.
    time = next(
        (d for d in structure["dimensions"]["observation"] if d["id"] == "TIME_PERIOD"), None
    )
    if time is None:
        raise KeyError("TIME_PERIOD")
    dates = [dt.date.fromisoformat(v["id"]) for v in time["values"]]
    data_set = data["dataSets"][0]
    series_list = list(data_set.get("series", {}).values())
    if not series_list:
        return []
    series = series_list[0]
    rates: list[tuple[dt.date, Decimal]] = []
    for index, values in series.get("observations", {}).items():
        raw = values[0]
        if raw is None:
            continue
        multiplier = Decimal(10) ** _unit_exponent(structure, data_set, series, values)
        rate = Decimal(str(raw)) / multiplier
        if not rate.is_finite() or rate <= 0:
            raise ValueError(f"rate {raw!r}")
        position = int(index)
        if not 0 <= position < len(dates):  # -1 would read as the window's last date
            raise IndexError(f"observation {index!r} of {len(dates)} dates")
        rates.append((dates[position], rate))
    return sorted(rates)


#: Where an attribute's value may be attached in SDMX-JSON, the most specific first: the
#: field guide lets a server attach it "physically in the message at a different level"
#: than the data structure defines (one value for the whole data set is typically given
#: once, at the data set), and a component's `default` applies where no level gives one.
_ATTACHMENT_LEVELS: Final = ("observation", "series", "dataSet")


def _unit_exponent(
    structure: dict[str, Any],
    data_set: dict[str, Any],
    series: dict[str, Any],
    observation: list[Any],
) -> int:
    """UNIT_MULT of one observation (the power of ten its rate is quoted per: JPY and SEK
    per 100), wherever the answer attaches it; 0 (per one unit) when it says nothing."""
    attributes = structure.get("attributes") or {}
    chosen_at: dict[str, list[Any]] = {
        "observation": observation[1:],
        "series": series.get("attributes") or [],
        "dataSet": data_set.get("attributes") or [],
    }
    for level in _ATTACHMENT_LEVELS:
        for position, attribute in enumerate(attributes.get(level) or []):
            if attribute.get("id") != "UNIT_MULT":
                continue
            chosen = chosen_at[level]
            index = chosen[position] if position < len(chosen) else None
            if index is not None:
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    raise ValueError(f"UNIT_MULT value index {index!r}")
                return int(attribute["values"][index]["id"])
            if attribute.get("default") is not None:
                return int(attribute["default"])
    return 0
