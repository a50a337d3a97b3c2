"""Spending: what the company pays its providers, per day, service and model.

A `UsageSource` (the Anthropic Admin API, Google Cloud's billing export, Cloudflare) answers
with `CostRecord`s — one per UTC day, service and model, in the provider's own currency —
and an `ExchangeRates` source (Norges Bank) converts them to NOK with the rate of their
day. The service's own Claude calls are the fourth source (`bookkeeper`, from the log:
extractions, DocumentExtracted, and the chat's intent classifications, IntentClassified).
`SpendingService` records them as cost snapshot events, keeps budgets and price tables as
tenant data, raises the budget alerts and answers the report, the morning
summary and the chat (ADR 0031).
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    DuplicateEvent,
    ExternalStayedDown,
)
from bookkeeper.application.event_log import (
    budget_alert_id,
    cost_revision_id,
    cost_snapshot_id,
    record_alone,
    spending_setting_id,
    stamp,
)
from bookkeeper.application.ports import (
    Authorizer,
    Clock,
    CostSnapshotRow,
    EventFilter,
    Ids,
    Principal,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    BudgetSetData,
    BudgetThresholdReachedData,
    CostSnapshotData,
    DateRange,
    DocumentExtractedData,
    IntentClassifiedData,
    Payload,
    PriceTableSetData,
    SourceSpend,
    SourceSpending,
    SpendingQueriedData,
    UnitPrice,
)

log = logging.getLogger("bookkeeper.spending")
OSLO: Final = ZoneInfo("Europe/Oslo")


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
    #: "billed": the provider's figure; "estimated": computed by us from tokens or usage;
    #: "usage": metered quantities only, priced from the tenant's price table on recording.
    basis: str = "billed"
    #: Metered quantities (metric → quantity) behind a "usage" or "estimated" record.
    quantities: dict[str, int] = {}


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


# --- snapshots, reports, budgets (issue 11) ----------------------------------------------
#
# A pull asks every configured UsageSource (and the log, for the service's own extraction
# calls) for the costs of recent UTC days and records one cost snapshot per (tenant,
# source, day, service, model) as an event whose stream id is derived from that key
# (event_log.cost_snapshot_id): the first figure is CostSnapshotRecorded (version 1), a
# different later figure CostSnapshotRevised (the next version), an equal one nothing.
# The projection (`snapshots`) folds the log and keeps the latest version of each stream;
# the log keeps every figure. Amounts stay in the source's currency and are converted to
# NOK with Norges Bank's rate of the day (kept with the rate's date).

SNAPSHOT_TYPES: Final = ("CostSnapshotRecorded", "CostSnapshotRevised")
#: The service's own calls to Claude (DocumentExtracted events): source `bookkeeper`.
OWN_SOURCE: Final = "bookkeeper"
OWN_SERVICE: Final = "extraction"
#: The chat's calls to Claude (IntentClassified events): source `bookkeeper` too.
CONVERSATION_SERVICE: Final = "conversation"
#: The log's records of the service's own model calls, and the service each one is.
OWN_RECORDS: Final[Mapping[str, str]] = {
    "DocumentExtracted": OWN_SERVICE,
    "IntentClassified": CONVERSATION_SERVICE,
}
#: Budget alert thresholds, percent of the month's budget.
THRESHOLDS: Final = (80, 100)
#: Days a pull looks back by default (providers revise recent days; data arrives late).
PULL_DAYS: Final = 3
#: How long one source may take to answer a pull before it is that pull's failure (the
#: sources are read side by side; the morning bounds its whole pull at CHECK_SECONDS).
SOURCE_SECONDS: Final = 120.0
#: The longest range a pull or a report may span.
MAX_RANGE_DAYS: Final = 400
GROUPS: Final = ("source", "service", "model", "day")
REPORT_ACTION: Final = "reports:read"
SETTINGS_ACTION: Final = "spending:write"
PULL_ACTION: Final = "checks:run"
SPENDING_ACTOR: Final = "system:cron"
#: Words that name a group of sources in a question ("AI" is every model provider).
AI_SOURCES: Final = ("anthropic", "google", OWN_SOURCE)
_PAGE: Final = 500
_AMOUNT_PLACES: Final = Decimal("0.000001")
_HUNDRED: Final = Decimal(100)


class InvalidSpending(DomainError):
    """A budget, price table, source or range the spending reports refuse."""

    code = "invalid-spending"


class InvalidSpendingRange(InvalidSpending):
    """A range reversed or longer than MAX_RANGE_DAYS: `field` names the end that is
    wrong (`from`, `to`), so the API answers it as a 400 naming that query parameter."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class RateUnavailable(ApplicationError):
    """No NOK rate for a figure's currency and day (the rates' source down or silent): the
    figure's source is named in the pull's `failed` with this, and read again next pull."""

    code = "rate-unavailable"


class UnknownSource(InvalidSpending):
    """A budget or price table for a source the service does not have, configured or not
    ("nosuch" was kept, and shown as "0,0 % brukt" every morning)."""

    code = "unknown-source"


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The latest figure of one (source, day, service, model), and its stream."""

    stream_id: uuid.UUID
    version: int
    recorded_at: dt.datetime
    data: CostSnapshotData


class PullResult(msgspec.Struct, kw_only=True):
    tenant_id: str
    start: dt.date
    end: dt.date
    recorded: int = 0
    revised: int = 0
    unchanged: int = 0
    #: Sources that could not be read (source → why), e.g. a provider that is down.
    failed: dict[str, str] = {}
    #: Of `failed`, those that stayed down through every attempt of a transient 5xx
    #: (source → attempts): a provider's outage, not a moment's error.
    down: dict[str, int] = {}
    alerts: list[BudgetThresholdReachedData] = []


class MonthForecast(msgspec.Struct, frozen=True, kw_only=True):
    """Where one source's month ends at the rate of its whole Oslo days so far."""

    source: str
    #: The month's spending through the day before `day` (its whole days), NOK unrounded.
    spent_nok: Decimal
    #: None when no whole day of the month has passed (the 1st).
    forecast_nok: Decimal | None
    budget_nok: Decimal | None = None


class SpendingForecast(msgspec.Struct, frozen=True, kw_only=True):
    """The month of `day` (an Oslo date): its whole days so far and each source's end."""

    month: str
    day: dt.date
    days_passed: int
    days_in_month: int
    sources: list[MonthForecast]


def month_end_forecast(spent: Decimal, days_passed: int, days_in_month: int) -> Decimal | None:
    """`spent` over the month's first `days_passed` whole days, carried on at that rate to
    its last day: spent ÷ days_passed × days_in_month (unrounded; rounded where shown).
    None when no whole day has passed (no rate to carry on)."""
    if days_passed <= 0:
        return None
    return spent * days_in_month / min(days_passed, days_in_month)


class CostRow(msgspec.Struct, frozen=True, kw_only=True):
    """One group of a cost report: its key, the source currency's total, and NOK."""

    key: str
    currency: str
    amount: Decimal
    amount_nok: Decimal
    records: int
    input_tokens: int = 0
    output_tokens: int = 0


class CostReport(msgspec.Struct, frozen=True, kw_only=True):
    start: dt.date
    end: dt.date
    group_by: str
    rows: list[CostRow]
    total_nok: Decimal
    #: Totals per source currency.
    totals: dict[str, Decimal]


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    monthly_nok: Decimal


class SettingAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """A budget or price table recorded: its event, the source as kept, and a warning
    when nothing is read for that source yet (not configured)."""

    event_id: uuid.UUID
    source: str
    warning: str | None = None


def _currency_code(text: str) -> bool:
    """Whether `text` has a currency code's shape (three ASCII letters; which codes the
    rates know is theirs to say)."""
    return len(text) == 3 and text.isascii() and text.isalpha()


def fingerprint(data: CostSnapshotData) -> str:
    """What makes two figures of one snapshot the same. The rate's date is in it: a figure
    converted before its day's rate was published (the last before it was used) is revised
    once the day's own rate is out; a published rate never changes."""
    return ":".join(
        (
            data.currency,
            data.rate_date.isoformat(),
            str(data.amount.normalize()),
            str(data.input_tokens),
            str(data.output_tokens),
            data.basis,
            ",".join(f"{k}={v}" for k, v in sorted(data.quantities.items())),
        )
    )


def price_usage(record: CostRecord, table: PriceTableSetData) -> tuple[Decimal, str]:
    """The cost of a record's metered quantities on `table` (a month's included quantity
    spread evenly over its days), and the table's currency."""
    days = calendar.monthrange(record.day.year, record.day.month)[1]
    total = Decimal(0)
    for price in table.prices:
        quantity = Decimal(record.quantities.get(price.metric, 0))
        free = Decimal(price.included_per_month) / days
        billable = max(quantity - free, Decimal(0))
        total += billable * price.price / Decimal(price.per)
    return total.quantize(_AMOUNT_PLACES, rounding=ROUND_HALF_UP), table.currency


def merge_records(records: Sequence[CostRecord], failed: dict[str, str]) -> list[CostRecord]:
    """One record per snapshot (source, day, service, model): a provider that answers one
    of them in several rows (a billing export's line items, one SKU on two result pages)
    has them summed — amounts, tokens and quantities — instead of each row recording over
    the one before. Rows of one snapshot in two currencies or bases cannot be one figure:
    that snapshot is left out and its source named in `failed`."""
    merged: dict[tuple[str, dt.date, str, str], CostRecord] = {}
    clashing: set[tuple[str, dt.date, str, str]] = set()
    for record in records:
        key = (record.source, record.day, record.service, record.model or "")
        known = merged.get(key)
        if known is None:
            merged[key] = record
            continue
        if (known.currency.upper(), known.basis) != (record.currency.upper(), record.basis):
            clashing.add(key)
            continue
        quantities = dict(known.quantities)
        for metric, quantity in record.quantities.items():
            quantities[metric] = quantities.get(metric, 0) + quantity
        merged[key] = msgspec.structs.replace(
            known,
            amount=known.amount + record.amount,
            input_tokens=known.input_tokens + record.input_tokens,
            output_tokens=known.output_tokens + record.output_tokens,
            quantities=quantities,
        )
    for key in sorted(clashing, key=lambda k: (k[0], k[1], k[2], k[3])):
        source, day, service, model = key
        del merged[key]
        failed.setdefault(
            source,
            f"{source}: {day} {service} {model or '-'} came in more than one currency or basis",
        )
    return list(merged.values())


def _nothing(data: CostSnapshotData) -> CostSnapshotData:
    """A snapshot's figure once its source no longer reports it: nothing, in the same
    currency, rate and basis (so a later pull finds it unchanged)."""
    return msgspec.structs.replace(
        data,
        amount=Decimal(0),
        amount_nok=Decimal(0),
        input_tokens=0,
        output_tokens=0,
        quantities={},
    )


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


class SpendingService:
    """Cost snapshots, the cost report, budgets and their alerts (see above)."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
        rates: ExchangeRates | None,
        sources: Sequence[UsageSource] = (),
        *,
        default_prices: Mapping[str, PriceTableSetData] | None = None,
        external_tenants: Sequence[str] = (),
        absent: Mapping[str, str] | None = None,
        source_seconds: float = SOURCE_SECONDS,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer
        self._rates = rates
        self._sources = list(sources)
        self._default_prices = dict(default_prices or {})
        self._external_tenants = frozenset(external_tenants)
        self._source_seconds = source_seconds
        #: Sources not configured, and why (for /health).
        self.absent = dict(absent or {})

    @property
    def rates(self) -> ExchangeRates | None:
        """Where the figures' NOK rates come from (the container's one adapter)."""
        return self._rates

    def authorize_read(self, principal: Principal) -> None:
        """Forbidden unless the principal may read reports (budgets, price tables)."""
        self._authorizer.check(principal, REPORT_ACTION)

    @property
    def source_names(self) -> list[str]:
        """The configured sources, the service's own first."""
        return [OWN_SOURCE, *(s.name for s in self._sources)]

    def today(self) -> dt.date:
        return self._clock.now().astimezone(OSLO).date()

    # --- pulling -------------------------------------------------------------------------

    async def pull_as(
        self, principal: Principal, start: dt.date | None = None, end: dt.date | None = None
    ) -> PullResult:
        """A pull asked for over HTTP or the CLI (needs `checks:run`)."""
        self._authorizer.check(principal, PULL_ACTION)
        return await self.pull(principal.tenant_id, start, end, actor=principal.actor)

    async def pull(
        self,
        tenant_id: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        actor: str = SPENDING_ACTOR,
    ) -> PullResult:
        """Record the costs of [start, end] (default: the last PULL_DAYS days up to today)
        from every source: new figures, revisions, nothing for figures already recorded.
        A source that fails is named in `failed`; the others are still recorded. Then the
        budgets of the months touched are checked."""
        end = end or self.today()
        start = start or end - dt.timedelta(days=PULL_DAYS - 1)
        _check_range(start, end)
        result = PullResult(
            tenant_id=tenant_id, start=start, end=end, failed={}, down={}, alerts=[]
        )
        records: list[CostRecord] = []
        asked = [OWN_SOURCE]
        try:
            records += await self._own_costs(tenant_id, start, end)
        except (ApplicationError, DomainError) as error:
            result.failed[OWN_SOURCE] = str(error)
        if not self._external_tenants or tenant_id in self._external_tenants:
            # Side by side, each within source_seconds: a provider that is slow or hangs
            # fails alone, not the pull (and the morning's bound on it) with the others.
            answers = await asyncio.gather(
                *(self._read(s, start, end, result.down) for s in self._sources)
            )
            for source, answer in zip(self._sources, answers, strict=True):
                asked.append(source.name)
                if isinstance(answer, str):
                    result.failed[source.name] = answer
                else:
                    records += answer
        records = merge_records(records, result.failed)
        latest = {s.stream_id: s for s in await self.snapshots(tenant_id, start, end)}
        answered = set(asked) - set(result.failed)
        reported = {
            cost_snapshot_id(tenant_id, r.source, r.day, r.service, r.model) for r in records
        }
        for stream, known in list(latest.items()):
            # A source that answered for these days answered for all of them: a figure it
            # no longer reports (restated under another SKU or model; an estimate its
            # billed figure replaced) is nothing now, not counted beside its successor.
            if known.data.source in answered and stream not in reported:
                await self._record(tenant_id, _nothing(known.data), latest, result, actor)
        tables: dict[str, PriceTableSetData | None] = {}
        rates: dict[tuple[str, dt.date], ExchangeRate | RateUnavailable] = {}
        for record in records:
            try:
                data = await self._snapshot_data(tenant_id, record, tables, rates)
            except (ApplicationError, DomainError) as error:
                result.failed.setdefault(record.source, str(error))
                continue
            if data is None:
                result.failed.setdefault(record.source, f"no price table for {record.source}")
                continue
            await self._record(tenant_id, data, latest, result, actor)
        for month in sorted({(d.year, d.month) for d in _days(start, end)}):
            result.alerts += await self.check_budgets(
                tenant_id, dt.date(month[0], month[1], 1), actor=actor
            )
        return result

    async def _read(
        self, source: UsageSource, start: dt.date, end: dt.date, down: dict[str, int]
    ) -> list[CostRecord] | str:
        """A source's records of [start, end], or why there are none (its failure); one
        that stayed down through every attempt is put in `down` too."""
        try:
            async with asyncio.timeout(self._source_seconds):
                return await source.costs(start, end)
        except ExternalStayedDown as error:
            log.warning("costs of %s unavailable: %s", source.name, error)
            down[source.name] = error.attempts
            return str(error)
        except TimeoutError:
            log.warning(
                "costs of %s unavailable: no answer within %g s", source.name, self._source_seconds
            )
            return f"no answer within {self._source_seconds:g} s"
        except (ApplicationError, DomainError) as error:
            log.warning("costs of %s unavailable: %s", source.name, error)
            return str(error)
        except Exception as error:  # an adapter's bug is its source's failure only
            log.exception("costs of %s: unexpected error", source.name)
            return f"unexpected error ({type(error).__name__})"

    async def _snapshot_data(
        self,
        tenant_id: str,
        record: CostRecord,
        tables: dict[str, PriceTableSetData | None],
        rates: dict[tuple[str, dt.date], ExchangeRate | RateUnavailable],
    ) -> CostSnapshotData | None:
        amount, currency, basis = record.amount, record.currency.upper(), record.basis
        if record.basis == "usage":
            if record.source not in tables:
                tables[record.source] = await self.prices(tenant_id, record.source)
            table = tables[record.source]
            if table is None:
                return None
            amount, currency = price_usage(record, table)
            basis = "estimated"
        if not _currency_code(currency):
            # A provider's row in "US$" is that source's failure (named in the pull's
            # `failed`) in words saying so, before the rates are asked for a rate of it.
            raise InvalidSpending(f"{record.source}: {currency!r} is not a currency code")
        if self._rates is None:
            if currency != "NOK":
                raise InvalidSpending("no exchange rates configured for " + currency)
            rate = ExchangeRate(currency="NOK", date=record.day, rate=Decimal(1))
        else:
            rate = await self._rate(currency, record.day, rates)
        return CostSnapshotData(
            source=record.source,
            day=record.day,
            service=record.service,
            model=record.model,
            currency=currency,
            amount=amount,
            # Exact: rounded to øre once, where a total is shown (_kr); four decimals here
            # added up over a month's snapshots could move that total by an øre.
            amount_nok=amount * rate.rate,
            rate=rate.rate,
            rate_date=rate.date,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            basis=basis,
            quantities=dict(record.quantities),
        )

    async def _rate(
        self,
        currency: str,
        day: dt.date,
        known: dict[tuple[str, dt.date], ExchangeRate | RateUnavailable],
    ) -> ExchangeRate:
        """The NOK rate of (currency, day), asked once a pull (a day's records share it;
        a rate that could not be had is not asked again for each of them). Not had: a
        RateUnavailable saying it is the rate that is missing, not the provider's figure."""
        assert self._rates is not None
        found = known.get((currency, day))
        if found is None:
            try:
                found = await self._rates.to_nok(currency, day)
            except ApplicationError as error:
                system = getattr(error, "system", None)
                why = f"{system}: {error}" if system else str(error)
                found = RateUnavailable(f"no {currency}/NOK rate for {day} ({why})")
            known[(currency, day)] = found
        if isinstance(found, RateUnavailable):
            raise RateUnavailable(str(found))
        return found

    async def _record(
        self,
        tenant_id: str,
        data: CostSnapshotData,
        latest: dict[uuid.UUID, Snapshot],
        result: PullResult,
        actor: str,
    ) -> None:
        stream = cost_snapshot_id(tenant_id, data.source, data.day, data.service, data.model)
        known = latest.get(stream)
        now = self._clock.now()
        if known is None:
            event = stamp(
                "CostSnapshotRecorded",
                data,
                event_id=stream,
                actor=actor,
                at=now,
                correlation_id=stream,
                metadata={"source": "spending"},
            )
            expected = 0
        else:
            if fingerprint(known.data) == fingerprint(data):
                result.unchanged += 1
                return
            revision = known.data.revision + 1
            data = msgspec.structs.replace(
                data, revision=revision, previous_amount=known.data.amount
            )
            event = stamp(
                "CostSnapshotRevised",
                data,
                event_id=cost_revision_id(stream, revision, fingerprint(data)),
                actor=actor,
                at=now,
                correlation_id=stream,
                metadata={"source": "spending"},
            )
            expected = known.version
        try:
            async with self._uow() as uow:
                [recorded] = await uow.events.append(tenant_id, stream, expected, [event])
                await uow.costs.put(
                    tenant_id,
                    CostSnapshotRow(
                        stream_id=stream,
                        version=recorded.version,
                        recorded_at=recorded.created_at,
                        data=data,
                    ),
                )
                await uow.commit()
        except (ConcurrencyConflict, DuplicateEvent):
            result.unchanged += 1  # another pull recorded this figure (or a newer one)
            return
        latest[stream] = Snapshot(
            stream_id=stream, version=recorded.version, recorded_at=now, data=data
        )
        if known is None:
            result.recorded += 1
        else:
            result.revised += 1

    async def _own_costs(self, tenant_id: str, start: dt.date, end: dt.date) -> list[CostRecord]:
        """The service's own model calls (DocumentExtracted, IntentClassified), per day in
        Norway, service and model: the days the morning summary's "Forbruk i går" counts
        (Checks.find_costs), so its `bookkeeper` total and the per-source line of the same
        source agree (a call at 00:30 in Oslo is that day's, not the UTC day before). The
        providers' own sources answer per UTC day, which no pull can split."""
        first = dt.datetime.combine(start, dt.time(), OSLO).astimezone(dt.UTC)
        after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), OSLO).astimezone(dt.UTC)
        sums: dict[tuple[dt.date, str, str | None], list[Any]] = {}
        position = 0
        while True:
            where = EventFilter(
                types=tuple(OWN_RECORDS),
                created_from=first,
                created_to=after,
                after_position=position,
                limit=_PAGE,
            )
            async with self._uow() as uow:
                events = await uow.events.query(tenant_id, where)
            for event in events:
                data = event.data
                if not isinstance(data, DocumentExtractedData | IntentClassifiedData):
                    continue
                if not first <= event.created_at < after:
                    continue
                if data.model is None and not (
                    data.cost_usd or data.input_tokens or data.output_tokens
                ):
                    # No model was called (the offline extractor, an EHF read from its
                    # XML): no cost. Counted as a 0 USD figure it needed a USD/NOK rate,
                    # and where Norges Bank could not be reached (a fresh `serve` with no
                    # model provider, offline) the own source failed on every pull.
                    continue
                service = OWN_RECORDS[event.type]
                key = (event.created_at.astimezone(OSLO).date(), service, data.model)
                entry = sums.setdefault(key, [Decimal(0), 0, 0])
                entry[0] += data.cost_usd
                entry[1] += data.input_tokens
                entry[2] += data.output_tokens
            if len(events) < _PAGE:
                break
            position = events[-1].position
        return [
            CostRecord(
                source=OWN_SOURCE,
                day=day,
                service=service,
                model=model,
                currency="USD",
                amount=amount,
                input_tokens=inputs,
                output_tokens=outputs,
                basis="estimated",
            )
            for (day, service, model), (amount, inputs, outputs) in sorted(
                sums.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or "")
            )
        ]

    # --- the projection --------------------------------------------------------------------

    async def snapshots(self, tenant_id: str, start: dt.date, end: dt.date) -> list[Snapshot]:
        """The latest figure of every snapshot of the UTC days [start, end], from the cost
        snapshot projection (ADR 0040 §6): a read of those days' rows, whatever the log
        holds (it was a fold of every snapshot event recorded since `start`)."""
        async with self._uow() as uow:
            rows = await uow.costs.between(tenant_id, start, end)
        return sorted(
            (
                Snapshot(
                    stream_id=r.stream_id,
                    version=r.version,
                    recorded_at=r.recorded_at,
                    data=r.data,
                )
                for r in rows
            ),
            key=lambda s: (s.data.day, s.data.source, s.data.service, s.data.model or ""),
        )

    async def history(self, tenant_id: str, stream_id: uuid.UUID) -> list[CostSnapshotData]:
        """Every figure of one snapshot, first to latest (the log keeps them all)."""
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant_id, stream_id)
        return [e.data for e in events if isinstance(e.data, CostSnapshotData)]

    async def report(
        self, principal: Principal, start: dt.date, end: dt.date, group_by: str = "source"
    ) -> CostReport:
        """Totals of [start, end] grouped by source, service, model or day: in the source
        currency (per currency) and in NOK."""
        self._authorizer.check(principal, REPORT_ACTION)
        if group_by not in GROUPS:
            raise InvalidSpending(f"groupBy must be one of {', '.join(GROUPS)}")
        _check_range(start, end)
        snapshots = await self.snapshots(principal.tenant_id, start, end)
        return build_report(snapshots, start, end, group_by)

    async def totals_nok(
        self, tenant_id: str, start: dt.date, end: dt.date, sources: Sequence[str] = ()
    ) -> dict[str, Decimal]:
        """NOK per source over [start, end] (only `sources` when given)."""
        totals: dict[str, Decimal] = {}
        for snapshot in await self.snapshots(tenant_id, start, end):
            source = snapshot.data.source
            if sources and source not in sources:
                continue
            totals[source] = totals.get(source, Decimal(0)) + snapshot.data.amount_nok
        return dict(sorted(totals.items()))

    async def daily_nok(
        self, tenant_id: str, end: dt.date, days: int = 30
    ) -> dict[str, list[Decimal]]:
        """NOK per source and day for the `days` days up to `end` (the chart's series)."""
        start = end - dt.timedelta(days=days - 1)
        series: dict[str, list[Decimal]] = {}
        for snapshot in await self.snapshots(tenant_id, start, end):
            data = snapshot.data
            values = series.setdefault(data.source, [Decimal(0)] * days)
            values[(data.day - start).days] += data.amount_nok
        return dict(sorted(series.items()))

    # --- budgets and price tables (tenant data, as events) --------------------------------

    @property
    def known_sources(self) -> list[str]:
        """Every source a budget or price table may name: the configured ones, then those
        absent (either may be set before the source's credentials are)."""
        return [*self.source_names, *sorted(set(self.absent) - set(self.source_names))]

    def _known_source(self, source: str, until: str) -> str | None:
        """Refuse a source the service does not know (UnknownSource, naming the known
        ones); for one not configured yet, the warning (what shows nothing `until` it
        is). Budgets and price tables both ask it."""
        known = self.known_sources
        if source not in known:
            raise UnknownSource(f"unknown source {source!r}; the known sources: {', '.join(known)}")
        if source in self.source_names:
            return None
        return f"{source} is not configured ({self.absent[source]}): {until}"

    async def set_budget(
        self, principal: Principal, source: str, monthly_nok: Decimal
    ) -> SettingAccepted:
        """Set a source's monthly budget in NOK (0 removes it, whatever the source). A
        source the service does not know is refused (UnknownSource, naming the known
        ones); one that is not configured yet is accepted with a warning."""
        self._authorizer.check(principal, SETTINGS_ACTION)
        source = _source_name(source)
        if not monthly_nok.is_finite() or monthly_nok < 0 or monthly_nok >= Decimal("1e12"):
            raise InvalidSpending("a budget is a non-negative amount in NOK")
        warning = None
        if monthly_nok > 0:
            warning = self._known_source(
                source, "its costs are not read, and the budget shows none spent until it is"
            )
        data = BudgetSetData(source=source, monthly_nok=_kr(monthly_nok))
        event_id = await self._set(principal, "budget", source, "BudgetSet", data)
        return SettingAccepted(event_id=event_id, source=source, warning=warning)

    async def budgets(self, tenant_id: str) -> list[Budget]:
        """The tenant's budgets (latest per source, none at 0)."""
        found: dict[str, Decimal] = {}
        for data in await self._settings(tenant_id, "BudgetSet"):
            if isinstance(data, BudgetSetData):
                found[data.source] = data.monthly_nok
        return [Budget(source=s, monthly_nok=v) for s, v in sorted(found.items()) if v > 0]

    async def set_prices(
        self, principal: Principal, source: str, currency: str, prices: Sequence[UnitPrice]
    ) -> SettingAccepted:
        """Set the price table a source's metered usage is priced with. A source the
        service does not know is refused as a budget's is (UnknownSource); one not
        configured yet is accepted with a warning."""
        self._authorizer.check(principal, SETTINGS_ACTION)
        source = _source_name(source)
        warning = self._known_source(
            source, "its usage is not read, and the table prices nothing until it is"
        )
        currency = currency.upper()
        if not _currency_code(currency):
            raise InvalidSpending(f"not a currency code: {currency!r}")
        metrics = [p.metric for p in prices]
        if not prices or len(set(metrics)) != len(metrics):
            raise InvalidSpending("a price table names each metric once, and at least one")
        for price in prices:
            if not price.price.is_finite() or price.price < 0 or price.per < 1:
                raise InvalidSpending(f"bad price for {price.metric!r}")
            if price.included_per_month < 0:
                raise InvalidSpending(f"bad included quantity for {price.metric!r}")
        data = PriceTableSetData(source=source, currency=currency, prices=tuple(prices))
        event_id = await self._set(principal, "prices", source, "PriceTableSet", data)
        return SettingAccepted(event_id=event_id, source=source, warning=warning)

    async def prices(self, tenant_id: str, source: str) -> PriceTableSetData | None:
        """The tenant's price table of a source, else the default one (None: none)."""
        async with self._uow() as uow:
            events = await uow.events.read_stream(
                tenant_id, spending_setting_id(tenant_id, "prices", source)
            )
        tables = [e.data for e in events if isinstance(e.data, PriceTableSetData)]
        return tables[-1] if tables else self._default_prices.get(source)

    async def _set(
        self, principal: Principal, kind: str, source: str, type_name: str, data: Payload
    ) -> uuid.UUID:
        stream = spending_setting_id(principal.tenant_id, kind, source)
        event_id = self._ids.new_id()
        for _ in range(5):
            async with self._uow() as uow:
                version = len(await uow.events.read_stream(principal.tenant_id, stream))
                event = stamp(
                    type_name,
                    data,
                    event_id=event_id,
                    actor=principal.actor,
                    at=self._clock.now(),
                    correlation_id=event_id,
                    metadata={"source": "spending"},
                )
                try:
                    await uow.events.append(principal.tenant_id, stream, version, [event])
                    await uow.commit()
                except ConcurrencyConflict:
                    continue
            return event_id
        raise ConcurrencyConflict(stream, version)

    async def _settings(self, tenant_id: str, type_name: str) -> list[Payload]:
        found: list[Payload] = []
        position = 0
        while True:
            where = EventFilter(types=(type_name,), after_position=position, limit=_PAGE)
            async with self._uow() as uow:
                events = await uow.events.query(tenant_id, where)
            found += [e.data for e in events]
            if len(events) < _PAGE:
                return found
            position = events[-1].position

    # --- alerts ----------------------------------------------------------------------------

    async def check_budgets(
        self, tenant_id: str, day: dt.date, *, actor: str = SPENDING_ACTOR
    ) -> list[BudgetThresholdReachedData]:
        """Raise BudgetThresholdReached for each source whose spending in `day`'s month has
        reached 80 % or 100 % of its budget: once per source, month and threshold (the
        event's id is derived from them and appended at version 0)."""
        budgets = await self.budgets(tenant_id)
        if not budgets:
            return []
        first = day.replace(day=1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        spent = await self.totals_nok(tenant_id, first, last)
        raised: list[BudgetThresholdReachedData] = []
        for budget in budgets:
            amount = spent.get(budget.source, Decimal(0))
            for threshold in THRESHOLDS:
                if amount * _HUNDRED < budget.monthly_nok * threshold:
                    continue
                data = BudgetThresholdReachedData(
                    source=budget.source,
                    month=month_of(first),
                    threshold=threshold,
                    budget_nok=budget.monthly_nok,
                    spent_nok=amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
                )
                alert = budget_alert_id(tenant_id, budget.source, data.month, threshold)
                event = stamp(
                    "BudgetThresholdReached",
                    data,
                    event_id=alert,
                    actor=actor,
                    at=self._clock.now(),
                    correlation_id=alert,
                    metadata={"source": "spending"},
                )
                try:
                    await record_alone(self._uow, tenant_id, event)
                except (ConcurrencyConflict, DuplicateEvent):
                    continue  # raised before (this month, this threshold)
                log.warning(
                    "%s: %s reached %d %% of its budget for %s",
                    tenant_id,
                    budget.source,
                    threshold,
                    data.month,
                )
                raised.append(data)
        return raised

    # --- the morning summary and the conversation -----------------------------------------

    async def forecast(self, tenant_id: str, day: dt.date) -> SpendingForecast:
        """Where each source's month of `day` (an Oslo date: the service's today) ends at
        the rate of its whole days before `day`; `day` itself is not over, and a provider
        has not reported it yet. Every source with spending this month or a budget."""
        first = day.replace(day=1)
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        days_passed = (day - first).days
        spent: dict[str, Decimal] = {}
        if days_passed:
            spent = await self.totals_nok(tenant_id, first, day - dt.timedelta(days=1))
        budgets = {b.source: b.monthly_nok for b in await self.budgets(tenant_id)}
        return SpendingForecast(
            month=month_of(day),
            day=day,
            days_passed=days_passed,
            days_in_month=days_in_month,
            sources=[
                MonthForecast(
                    source=source,
                    spent_nok=spent.get(source, Decimal(0)),
                    forecast_nok=month_end_forecast(
                        spent.get(source, Decimal(0)), days_passed, days_in_month
                    ),
                    budget_nok=budgets.get(source),
                )
                for source in sorted(set(spent) | set(budgets))
            ],
        )

    async def forecast_as(self, principal: Principal) -> SpendingForecast:
        """The forecast of this month (in Oslo) for a reader of reports."""
        self._authorizer.check(principal, REPORT_ACTION)
        return await self.forecast(principal.tenant_id, self.today())

    async def morning(self, tenant_id: str, day: dt.date) -> tuple[SourceSpending, ...]:
        """Yesterday's and this month's spending per source in NOK, with budget use and
        where the month ends at its rate so far (`forecast`)."""
        yesterday = day - dt.timedelta(days=1)
        month = await self.totals_nok(tenant_id, day.replace(day=1), day)
        before = await self.totals_nok(tenant_id, yesterday, yesterday)
        budgets = {b.source: b.monthly_nok for b in await self.budgets(tenant_id)}
        ahead = {f.source: f.forecast_nok for f in (await self.forecast(tenant_id, day)).sources}
        lines: list[SourceSpending] = []
        for source in sorted(set(month) | set(before) | set(budgets)):
            spent = month.get(source, Decimal(0))
            budget = budgets.get(source)
            forecast = ahead.get(source)
            lines.append(
                SourceSpending(
                    source=source,
                    yesterday_nok=_kr(before.get(source, Decimal(0))),
                    month_nok=_kr(spent),
                    budget_nok=budget,
                    budget_used_percent=(
                        (spent * _HUNDRED / budget).quantize(Decimal("0.1"), ROUND_HALF_UP)
                        if budget
                        else None
                    ),
                    forecast_nok=None if forecast is None else _kr(forecast),
                )
            )
        return tuple(lines)

    async def answer(
        self,
        principal: Principal,
        start: dt.date,
        end: dt.date,
        sources: Sequence[str] = (),
        *,
        source: str = "chat",
    ) -> tuple[dict[str, Decimal], uuid.UUID]:
        """A spending question (chat): NOK per source over [start, end], recorded as a
        SpendingQueried event with the asker as actor."""
        self._authorizer.check(principal, REPORT_ACTION)
        _check_range(start, end)
        totals = await self.totals_nok(principal.tenant_id, start, end, sources)
        event_id = self._ids.new_id()
        data = SpendingQueriedData(
            date_range=DateRange(start=start, end=end),
            sources=tuple(sources),
            totals=tuple(SourceSpend(source=s, amount_nok=_kr(v)) for s, v in totals.items()),
        )
        event = stamp(
            "SpendingQueried",
            data,
            event_id=event_id,
            actor=principal.actor,
            at=self._clock.now(),
            correlation_id=event_id,
            metadata={"source": source},
        )
        await record_alone(self._uow, principal.tenant_id, event)
        return totals, event_id


async def put_cost_snapshots(uow: UnitOfWork, events: Sequence[RecordedEvent]) -> None:
    """Keep the cost snapshot events among `events` in the projection (replay, ADR 0040
    §6): each stream's highest version wins, whatever the order."""
    for event in events:
        if event.type in SNAPSHOT_TYPES and isinstance(event.data, CostSnapshotData):
            row = CostSnapshotRow(
                stream_id=event.stream_id,
                version=event.version,
                recorded_at=event.created_at,
                data=event.data,
            )
            await uow.costs.put(event.tenant_id, row)


def build_report(
    snapshots: Sequence[Snapshot], start: dt.date, end: dt.date, group_by: str
) -> CostReport:
    """Group latest snapshots by `group_by` (and currency)."""
    rows: dict[tuple[str, str], list[Any]] = {}
    totals: dict[str, Decimal] = {}
    total_nok = Decimal(0)
    for snapshot in snapshots:
        data = snapshot.data
        key = {
            "source": data.source,
            "service": f"{data.source}/{data.service}",
            "model": data.model or "",
            "day": data.day.isoformat(),
        }[group_by]
        row = rows.setdefault((key, data.currency), [Decimal(0), Decimal(0), 0, 0, 0])
        row[0] += data.amount
        row[1] += data.amount_nok
        row[2] += 1
        row[3] += data.input_tokens
        row[4] += data.output_tokens
        totals[data.currency] = totals.get(data.currency, Decimal(0)) + data.amount
        total_nok += data.amount_nok
    return CostReport(
        start=start,
        end=end,
        group_by=group_by,
        rows=[
            CostRow(
                key=key,
                currency=currency,
                amount=v[0],
                amount_nok=v[1],
                records=v[2],
                input_tokens=v[3],
                output_tokens=v[4],
            )
            for (key, currency), v in sorted(rows.items())
        ],
        total_nok=total_nok,
        totals=dict(sorted(totals.items())),
    )


def _kr(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def _check_range(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise InvalidSpendingRange("from is after to", field="from")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise InvalidSpendingRange(f"a range spans at most {MAX_RANGE_DAYS} days", field="to")


def _source_name(source: str) -> str:
    name = source.strip().lower()
    if not name or len(name) > 40 or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidSpending(f"not a source name: {source!r}")
    return name
