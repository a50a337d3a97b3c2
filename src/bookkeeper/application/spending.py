"""Spending: what the company pays its providers, per day, service and model.

A `UsageSource` (the Anthropic Admin API; later Google Cloud and Cloudflare) answers with
`CostRecord`s — one per UTC day, service and model, in the provider's own currency — and an
`ExchangeRates` source (Norges Bank) converts them to NOK with the rate of their day.
The service's own extraction calls are the first source (application/checks.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Protocol

import msgspec


class CostRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What one source charged for one day, service and model (UTC days, own currency)."""

    source: str
    day: dt.date
    service: str
    model: str | None
    currency: str
    amount: Decimal
    input_tokens: int = 0
    output_tokens: int = 0


class UsageSource(Protocol):
    """A provider's usage and cost reports."""

    name: str

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        """Every cost of the UTC days [start, end] (all pages); ExternalError if the
        provider refuses or is down."""
        ...


class ExchangeRate(msgspec.Struct, frozen=True, kw_only=True):
    """NOK per one unit of `currency`, as published for `date` (on or before the day asked)."""

    currency: str
    date: dt.date
    rate: Decimal


class ExchangeRates(Protocol):
    """Daily exchange rates to NOK."""

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        """The rate for `day`: that day's, or the last published before it (weekends,
        holidays); ExternalError when none is found or the source is down."""
        ...
