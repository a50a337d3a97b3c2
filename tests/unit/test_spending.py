"""Cost snapshots, revisions, budgets and reports on the in-memory log (issue 11)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.errors import ExternalUnavailable, Forbidden
from bookkeeper.application.event_log import cost_snapshot_id, stamp
from bookkeeper.application.ports import EventFilter
from bookkeeper.application.spending import (
    CostRecord,
    ExchangeRate,
    InvalidSpending,
    SpendingService,
    UnknownSource,
)
from bookkeeper.domain.events import (
    BudgetThresholdReachedData,
    DocumentExtractedData,
    PriceTableSetData,
    UnitPrice,
)
from tests.unit.conftest import FixedClock, principal

D = Decimal
DAY = dt.date(2026, 11, 18)
ADMIN = principal("anne", "admin")
VIEWER = principal("vera", "viewer")
SYSTEM = principal("cron", "system")


@dataclass
class Source:
    """The UsageSource port answering from a list (a provider whose figures change)."""

    name: str
    records: list[CostRecord] = field(default_factory=list)
    down: bool = False

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        if self.down:
            raise ExternalUnavailable("down", system=self.name)
        return [r for r in self.records if start <= r.day <= end]


class Rates:
    """NOK per USD: 10 on weekdays; a weekend takes Friday's (11.00 on Fridays)."""

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        if currency == "NOK":
            return ExchangeRate(currency="NOK", date=day, rate=D(1))
        published = day - dt.timedelta(days=max(day.weekday() - 4, 0))
        rate = D("11.00") if published.weekday() == 4 else D("10.00")
        return ExchangeRate(currency=currency, date=published, rate=rate)


def usd(source: str, day: dt.date, amount: str, model: str = "m1", **kw: object) -> CostRecord:
    return CostRecord(
        source=source,
        day=day,
        service="api",
        model=model,
        currency="USD",
        amount=D(amount),
        **kw,  # type: ignore[arg-type]
    )


def service(
    uow: MemoryUnitOfWorkFactory, clock: FixedClock, *sources: Source, **kw: object
) -> SpendingService:
    return SpendingService(
        uow,
        clock,
        UuidV7Ids(),
        RoleAuthorizer(),
        Rates(),
        sources,
        **kw,  # type: ignore[arg-type]
    )


async def events(uow: MemoryUnitOfWorkFactory, *types: str) -> list[object]:
    async with uow() as unit:
        found = await unit.events.query("acme", EventFilter(types=types, limit=10_000))
    return [e.data for e in found]


async def test_a_pull_records_each_figure_once_in_its_currency_and_nok(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    anthropic = Source(
        "anthropic", [usd("anthropic", DAY, "1.25"), usd("anthropic", DAY, "2", "m2")]
    )
    spending = service(uow_factory, clock, anthropic)
    first = await spending.pull("acme", DAY, DAY)
    assert (first.recorded, first.revised, first.unchanged, first.failed) == (2, 0, 0, {})
    again = await spending.pull("acme", DAY, DAY)
    assert (again.recorded, again.revised, again.unchanged) == (0, 0, 2)
    [one, two] = await spending.snapshots("acme", DAY, DAY)
    assert (one.data.amount, one.data.currency, one.data.amount_nok) == (
        D("1.25"),
        "USD",
        D("12.5"),
    )
    assert (one.data.rate, one.data.rate_date) == (D("10.00"), DAY)
    assert one.stream_id == cost_snapshot_id("acme", "anthropic", DAY, "api", "m1")
    assert two.data.amount_nok == D("20")
    assert len(await events(uow_factory, "CostSnapshotRecorded", "CostSnapshotRevised")) == 2


async def test_a_weekend_day_takes_the_last_published_rate_and_keeps_its_date(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    sunday = dt.date(2026, 11, 15)
    spending = service(uow_factory, clock, Source("anthropic", [usd("anthropic", sunday, "2")]))
    await spending.pull("acme", sunday, sunday)
    [snapshot] = await spending.snapshots("acme", sunday, sunday)
    assert (snapshot.data.rate_date, snapshot.data.rate) == (dt.date(2026, 11, 13), D("11.00"))
    assert snapshot.data.amount_nok == D("22")


class UnpublishedRates:
    """A day's rate not out yet (Norges Bank publishes in the afternoon): the day before's,
    until `published`."""

    def __init__(self) -> None:
        self.published = False

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        if self.published:
            return ExchangeRate(currency=currency, date=day, rate=D("11.00"))
        return ExchangeRate(currency=currency, date=day - dt.timedelta(days=1), rate=D("10.00"))


async def test_a_figure_converted_before_its_days_rate_was_out_is_revised_at_that_rate(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    # The figure was the same, so the pull saw nothing new and kept the day before's rate
    # for good: yesterday's NOK in the morning summary was at the wrong day's rate.
    rates = UnpublishedRates()
    source = Source("anthropic", [usd("anthropic", DAY, "2")])
    spending = SpendingService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), rates, [source])
    await spending.pull("acme", DAY, DAY)
    rates.published = True
    again = await spending.pull("acme", DAY, DAY)
    assert (again.recorded, again.revised) == (0, 1)
    [snapshot] = await spending.snapshots("acme", DAY, DAY)
    assert (snapshot.data.rate_date, snapshot.data.rate) == (DAY, D("11.00"))
    assert snapshot.data.amount_nok == D("22")
    assert (await spending.pull("acme", DAY, DAY)).unchanged == 1  # and then no more


async def test_a_revised_figure_is_a_revision_the_projection_shows_and_the_log_keeps_both(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    source = Source("anthropic", [usd("anthropic", DAY, "1.00")])
    spending = service(uow_factory, clock, source)
    await spending.pull("acme", DAY, DAY)
    source.records = [usd("anthropic", DAY, "1.40")]
    result = await spending.pull("acme", DAY, DAY)
    assert (result.recorded, result.revised) == (0, 1)
    assert (await spending.pull("acme", DAY, DAY)).unchanged == 1
    [latest] = await spending.snapshots("acme", DAY, DAY)
    assert (latest.data.amount, latest.data.revision, latest.data.previous_amount) == (
        D("1.40"),
        2,
        D("1.00"),
    )
    history = await spending.history("acme", latest.stream_id)
    assert [h.amount for h in history] == [D("1.00"), D("1.40")]
    report = await spending.report(ADMIN, DAY, DAY)
    assert report.total_nok == D("14.00")


async def test_a_source_that_fails_is_named_and_the_others_are_recorded(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    down = Source("google", [usd("google", DAY, "3")], down=True)
    up = Source("anthropic", [usd("anthropic", DAY, "1")])
    spending = service(uow_factory, clock, down, up)
    result = await spending.pull("acme", DAY, DAY)
    assert set(result.failed) == {"google"} and result.recorded == 1
    down.down = False
    assert (await spending.pull("acme", DAY, DAY)).recorded == 1


class StrictRates(Rates):
    """As Norges Bank's adapter: a currency that is not a code is a ValueError."""

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
            raise ValueError(f"not a currency code: {currency!r}")
        return await super().to_nok(currency, day)


@pytest.mark.parametrize("currency", ["US$", "ØRE", "1.5"])
async def test_a_figure_in_no_currency_fails_its_source_and_the_others_are_recorded(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock, currency: str
) -> None:
    # A provider's row in "US$" (Cloudflare's FOCUS export checks only the length) was a
    # ValueError out of the rates that ended the whole pull, and the morning run with it.
    odd = Source(
        "cloudflare", [msgspec.structs.replace(usd("cloudflare", DAY, "3"), currency=currency)]
    )
    up = Source("anthropic", [usd("anthropic", DAY, "1")])
    spending = SpendingService(
        uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), StrictRates(), [odd, up]
    )
    result = await spending.pull("acme", DAY, DAY)
    assert set(result.failed) == {"cloudflare"} and result.recorded == 1
    assert "currency" in result.failed["cloudflare"]


@dataclass
class Garbled:
    """A source whose adapter trips over an answer it did not expect (Cloudflare's
    `int(result_info.total_pages)` of "many"): a ValueError, not an ExternalError."""

    name: str = "cloudflare"

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        raise ValueError("invalid literal for int() with base 10: 'many'")


async def test_a_source_failing_in_a_way_not_foreseen_is_named_and_the_others_recorded(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    # Only ApplicationError and DomainError were caught: any other error of one source's
    # adapter ended the pull of every source, and with it the morning run.
    up = Source("anthropic", [usd("anthropic", DAY, "1")])
    spending = service(uow_factory, clock, Garbled(), up)  # type: ignore[arg-type]
    result = await spending.pull("acme", DAY, DAY)
    assert set(result.failed) == {"cloudflare"} and result.recorded == 1
    assert "ValueError" in result.failed["cloudflare"]


async def test_external_sources_are_pulled_only_for_their_tenant(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    spending = service(
        uow_factory,
        clock,
        Source("anthropic", [usd("anthropic", DAY, "1")]),
        external_tenants=("acme",),
    )
    assert (await spending.pull("globex", DAY, DAY)).recorded == 0
    assert (await spending.pull("acme", DAY, DAY)).recorded == 1


async def test_the_services_own_extractions_are_the_bookkeeper_source_per_oslo_day_and_model(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    # Days in Norway, as the morning's "Forbruk i går" counts them: 23:30 UTC is 00:30 the
    # next day in Oslo (this test pinned UTC days, which the summary's lines disagreed on).
    for hour, cost in ((0, "0.10"), (23, "0.05"), (24, "1.00")):
        at = dt.datetime.combine(DAY, dt.time(), dt.UTC) + dt.timedelta(hours=hour, minutes=30)
        event_id = uuid.uuid4()
        data = DocumentExtractedData(
            document_hash="ab" * 32,
            extractor="claude",
            document_type="receipt",
            model="claude-haiku-4-5",
            input_tokens=100,
            output_tokens=10,
            cost_usd=D(cost),
        )
        async with uow_factory() as unit:
            await unit.events.append(
                "acme",
                event_id,
                0,
                [
                    stamp(
                        "DocumentExtracted",
                        data,
                        event_id=event_id,
                        actor="book-e",
                        at=at,
                        correlation_id=event_id,
                    )
                ],
            )
            await unit.commit()
    spending = service(uow_factory, clock)
    await spending.pull("acme", DAY, DAY + dt.timedelta(days=1))
    snaps = await spending.snapshots("acme", DAY, DAY + dt.timedelta(days=1))
    assert [(s.data.source, s.data.day, s.data.amount, s.data.input_tokens) for s in snaps] == [
        ("bookkeeper", DAY, D("0.10"), 100),
        ("bookkeeper", DAY + dt.timedelta(days=1), D("1.05"), 200),
    ]
    assert {s.data.basis for s in snaps} == {"estimated"}


class Unreachable:
    """Exchange rates with the bank out of reach (a fresh `serve` offline)."""

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        raise ExternalUnavailable("ConnectError", system="norges-bank")


async def _extracted(uow: MemoryUnitOfWorkFactory, at: dt.datetime, model: str | None) -> None:
    event_id = uuid.uuid4()
    data = DocumentExtractedData(
        document_hash="cd" * 32,
        extractor="claude" if model else "offline",
        document_type="receipt",
        model=model,
        input_tokens=100 if model else 0,
        cost_usd=D("0.02") if model else D(0),
    )
    event = stamp(
        "DocumentExtracted", data, event_id=event_id, actor="book-e", at=at, correlation_id=event_id
    )
    async with uow() as unit:
        await unit.events.append("acme", event_id, 0, [event])
        await unit.commit()


async def test_an_extraction_without_a_model_call_is_no_cost_and_needs_no_rate(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    """With no model provider configured the offline extractor reads every document and
    records its extraction with no model and nothing spent: counted as a 0 USD figure of
    the service's own source, it needed a USD/NOK rate, and offline the morning said
    "Kostnader ikke hentet: bookkeeper" on every pull. A real call still needs its rate."""
    at = dt.datetime.combine(DAY, dt.time(10), dt.UTC)
    await _extracted(uow_factory, at, None)
    spending = SpendingService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), Unreachable(), ())
    pulled = await spending.pull("acme", DAY, DAY)
    assert (pulled.failed, pulled.recorded) == ({}, 0)
    assert await spending.snapshots("acme", DAY, DAY) == []
    await _extracted(uow_factory, at, "claude-haiku-4-5")
    assert "bookkeeper" in (await spending.pull("acme", DAY, DAY)).failed


async def test_budget_alerts_at_80_and_100_percent_once_each_per_month(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    source = Source("anthropic")
    spending = service(uow_factory, clock, source)
    await spending.set_budget(ADMIN, "anthropic", D("100"))
    source.records = [usd("anthropic", DAY, "7.9")]  # 79 NOK
    assert (await spending.pull("acme", DAY, DAY)).alerts == []
    source.records = [usd("anthropic", DAY, "7.9"), usd("anthropic", DAY, "0.1", "m2")]  # 80
    alerts = (await spending.pull("acme", DAY, DAY)).alerts
    assert [(a.threshold, a.spent_nok, a.budget_nok, a.month) for a in alerts] == [
        (80, D("80.00"), D("100.00"), "2026-11")
    ]
    assert (await spending.pull("acme", DAY, DAY)).alerts == []
    source.records.append(usd("anthropic", DAY, "5", "m3"))  # 130 NOK: the 100 % one only
    assert [a.threshold for a in (await spending.pull("acme", DAY, DAY)).alerts] == [100]
    assert [a.threshold for a in (await spending.pull("acme", DAY, DAY)).alerts] == []
    december = dt.date(2026, 12, 1)
    clock.current = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)
    source.records.append(usd("anthropic", december, "20"))
    assert [a.threshold for a in (await spending.pull("acme", december, december)).alerts] == [
        80,
        100,
    ]
    stored = await events(uow_factory, "BudgetThresholdReached")
    assert [
        (a.month, a.threshold) for a in stored if isinstance(a, BudgetThresholdReachedData)
    ] == [
        ("2026-11", 80),
        ("2026-11", 100),
        ("2026-12", 80),
        ("2026-12", 100),
    ]


async def test_budgets_are_tenant_data_set_by_admins_and_accountants_only(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    spending = service(uow_factory, clock, Source("anthropic"), absent=GOOGLE_ABSENT)
    with pytest.raises(Forbidden):
        await spending.set_budget(VIEWER, "anthropic", D("10"))
    with pytest.raises(InvalidSpending):
        await spending.set_budget(ADMIN, "anthropic", D("-1"))
    with pytest.raises(InvalidSpending):
        await spending.set_budget(ADMIN, "no such/source", D("1"))
    await spending.set_budget(ADMIN, "anthropic", D("10"))
    await spending.set_budget(principal("acc", "accountant"), "Anthropic", D("25.5"))
    await spending.set_budget(ADMIN, "google", D("5"))
    await spending.set_budget(ADMIN, "google", D("0"))
    assert [(b.source, b.monthly_nok) for b in await spending.budgets("acme")] == [
        ("anthropic", D("25.50"))
    ]
    assert await spending.budgets("globex") == []


async def test_usage_is_priced_from_the_tenants_table_with_the_monthly_allowance_spread(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    default = PriceTableSetData(
        source="cloudflare",
        currency="USD",
        prices=(
            UnitPrice(
                metric="requests", price=D("0.30"), per=1_000_000, included_per_month=30_000_000
            ),
        ),
    )
    usage = CostRecord(
        source="cloudflare",
        day=DAY,
        service="workers",
        model="api-worker",
        currency="USD",
        amount=D(0),
        basis="usage",
        quantities={"requests": 3_000_000},
    )
    spending = service(
        uow_factory, clock, Source("cloudflare", [usage]), default_prices={"cloudflare": default}
    )
    await spending.pull("acme", DAY, DAY)
    [snap] = await spending.snapshots("acme", DAY, DAY)
    # 3M requests, 1M free a day (30M / 30 days of November): 2M × 0.30 / 1M.
    assert (snap.data.amount, snap.data.basis, snap.data.quantities) == (
        D("0.6"),
        "estimated",
        {"requests": 3_000_000},
    )
    await spending.set_prices(
        ADMIN, "cloudflare", "usd", [UnitPrice(metric="requests", price=D("1"), per=1_000_000)]
    )
    result = await spending.pull("acme", DAY, DAY)
    assert result.revised == 1
    [snap] = await spending.snapshots("acme", DAY, DAY)
    assert snap.data.amount == D("3")
    with pytest.raises(InvalidSpending):
        await spending.set_prices(ADMIN, "cloudflare", "usd", [])


async def test_usage_without_any_price_table_is_reported_not_guessed(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    usage = CostRecord(
        source="cloudflare",
        day=DAY,
        service="workers",
        model=None,
        currency="USD",
        amount=D(0),
        basis="usage",
        quantities={"requests": 5},
    )
    spending = service(uow_factory, clock, Source("cloudflare", [usage]))
    result = await spending.pull("acme", DAY, DAY)
    assert result.recorded == 0 and "cloudflare" in result.failed


async def test_a_report_needs_reports_read_and_a_known_grouping(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    spending = service(uow_factory, clock)
    with pytest.raises(Forbidden):
        await spending.report(principal("x", "nobody"), DAY, DAY)
    with pytest.raises(InvalidSpending):
        await spending.report(VIEWER, DAY, DAY, "tenant")
    with pytest.raises(InvalidSpending):
        await spending.report(VIEWER, DAY, DAY - dt.timedelta(days=1))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["anthropic", "google", "cloudflare"]),
            st.integers(0, 9),
            st.sampled_from(["m1", "m2", "m3"]),
            st.decimals("0", "500", places=2),
        ),
        max_size=30,
    ),
    st.sampled_from(["source", "service", "model", "day"]),
)
async def test_every_grouping_adds_up_to_the_latest_figures(
    rows: list[tuple[str, int, str, Decimal]], group_by: str
) -> None:
    uow = MemoryUnitOfWorkFactory()
    sources = {name: Source(name) for name in ("anthropic", "google", "cloudflare")}
    latest: dict[tuple[str, int, str], Decimal] = {}
    for name, offset, model, amount in rows:
        day = DAY - dt.timedelta(days=offset)
        sources[name].records = [
            r for r in sources[name].records if (r.day, r.model) != (day, model)
        ] + [usd(name, day, str(amount), model)]
        latest[(name, offset, model)] = amount
    spending = service(uow, FixedClock(), *sources.values())
    start = DAY - dt.timedelta(days=9)
    await spending.pull("acme", start, DAY)
    report = await spending.report(ADMIN, start, DAY, group_by)
    rates = Rates()
    expected = D(0)
    for (_name, offset, _model), amount in latest.items():
        expected += amount * (await rates.to_nok("USD", DAY - dt.timedelta(days=offset))).rate
    assert report.total_nok == expected
    assert sum((r.amount_nok for r in report.rows), D(0)) == expected
    assert report.totals.get("USD", D(0)) == sum(latest.values(), D(0))
    assert sum(r.records for r in report.rows) == len(latest)


GOOGLE_ABSENT = {"google": "BOOKKEEPER_GOOGLE_BILLING_KEY_FILE unset"}


async def test_a_budget_for_a_source_the_service_does_not_know_is_refused(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    """'nosuch' was kept and shown as '0,0 % brukt' every morning; now it is refused,
    naming every source a budget may name (configured or not yet). Removing a budget (0)
    is never refused: one kept before this rule can be taken away."""
    spending = service(uow_factory, clock, Source("anthropic"), absent=GOOGLE_ABSENT)
    with pytest.raises(UnknownSource) as refused:
        await spending.set_budget(ADMIN, "nosuch", D("100"))
    assert refused.value.code == "unknown-source"
    for name in ("bookkeeper", "anthropic", "google"):
        assert name in refused.value.message
    assert await spending.budgets("acme") == []
    removed = await spending.set_budget(ADMIN, "nosuch", D("0"))
    assert removed.warning is None


async def test_a_budget_for_a_source_not_configured_yet_is_kept_with_a_warning(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    spending = service(uow_factory, clock, Source("anthropic"), absent=GOOGLE_ABSENT)
    configured = await spending.set_budget(ADMIN, "Anthropic", D("10"))
    assert (configured.source, configured.warning) == ("anthropic", None)
    absent = await spending.set_budget(ADMIN, "google", D("5"))
    assert absent.warning is not None
    assert "not configured" in absent.warning
    assert "BOOKKEEPER_GOOGLE_BILLING_KEY_FILE unset" in absent.warning
    assert [(b.source, b.monthly_nok) for b in await spending.budgets("acme")] == [
        ("anthropic", D("10.00")),
        ("google", D("5.00")),
    ]


async def test_a_price_table_for_a_source_the_service_does_not_know_is_refused(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    """set_prices kept a table for any name, where a budget is refused for one the
    service does not know: the same check, the same answer (naming the known sources);
    one not configured yet is kept with a warning, as a budget is."""
    spending = service(uow_factory, clock, Source("cloudflare"), absent=GOOGLE_ABSENT)
    table = [UnitPrice(metric="requests", price=D("1"), per=1_000_000)]
    with pytest.raises(UnknownSource) as refused:
        await spending.set_prices(ADMIN, "nosuch", "usd", table)
    assert refused.value.code == "unknown-source"
    for name in ("bookkeeper", "cloudflare", "google"):
        assert name in refused.value.message
    assert await spending.prices("acme", "nosuch") is None
    configured = await spending.set_prices(ADMIN, "Cloudflare", "usd", table)
    assert (configured.source, configured.warning) == ("cloudflare", None)
    absent = await spending.set_prices(ADMIN, "google", "usd", table)
    assert absent.warning is not None
    assert "not configured (BOOKKEEPER_GOOGLE_BILLING_KEY_FILE unset)" in absent.warning
    kept = await spending.prices("acme", "google")
    assert kept is not None and kept.currency == "USD"


async def test_records_of_one_snapshot_in_one_answer_are_summed_not_revised_in_turn(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    # A provider may answer one day, service and model in several rows (a billing export's
    # line items: usage, tax, an adjustment; one SKU split across result pages). Each was
    # recorded as a revision of the one before: the snapshot kept only the last row
    # (0.25 of 1.75 USD), and every later pull revised it back and forth.
    rows = [usd("google", DAY, "1.00"), usd("google", DAY, "0.50"), usd("google", DAY, "0.25")]
    source = Source("google", rows)
    spending = service(uow_factory, clock, source)
    first = await spending.pull("acme", DAY, DAY)
    assert (first.recorded, first.revised, first.failed) == (1, 0, {})
    [snapshot] = await spending.snapshots("acme", DAY, DAY)
    assert (snapshot.data.amount, snapshot.data.amount_nok) == (D("1.75"), D("17.5"))
    again = await spending.pull("acme", DAY, DAY)
    assert (again.recorded, again.revised, again.unchanged) == (0, 0, 1)
    assert (await spending.report(ADMIN, DAY, DAY)).total_nok == D("17.50")


class ExactRates:
    """NOK per USD with Norges Bank's four decimals."""

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        return ExchangeRate(currency=currency, date=day, rate=D("10.0001"))


async def test_nok_is_rounded_to_ore_once_at_the_end_not_per_snapshot(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    # Each snapshot's NOK was rounded to four decimals first: two models at
    # 0.000249995 USD × 10.0001 = 0.0025 NOK (from 0.00249997…) each made 0.01 NOK in all,
    # where the exact sum, 0.0049999…, is 0.00.
    rows = [usd("anthropic", DAY, "0.000249995", model) for model in ("m1", "m2")]
    spending = SpendingService(
        uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), ExactRates(), [Source("anthropic", rows)]
    )
    await spending.pull("acme", DAY, DAY)
    exact = sum((D("0.000249995") * D("10.0001") for _ in rows), D(0))
    report = await spending.report(ADMIN, DAY, DAY)
    assert report.total_nok == exact
    assert report.total_nok.quantize(D("0.01")) == D("0.00")
    assert (await spending.totals_nok("acme", DAY, DAY)) == {"anthropic": exact}


class DownRates:
    """Norges Bank down: every rate asked for is a 503 (counted)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dt.date]] = []

    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        self.asked.append((currency, day))
        raise ExternalUnavailable("/data/EXR/B.USD.NOK.SP: 503", system="norges-bank")


async def test_a_rate_that_cannot_be_had_is_asked_once_a_pull_and_named_as_the_rate(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    # With Norges Bank down, each of a day's records asked it again, and the pull said
    # {"anthropic": "/data/EXR/B.USD.NOK.SP: 503"}: Anthropic's costs looked broken.
    rows = [usd("anthropic", DAY, "1", model) for model in ("m1", "m2", "m3")]
    rates = DownRates()
    spending = SpendingService(
        uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), rates, [Source("anthropic", rows)]
    )
    result = await spending.pull("acme", DAY, DAY)
    assert rates.asked == [("USD", DAY)]
    assert result.recorded == 0
    assert result.failed["anthropic"] == (
        "no USD/NOK rate for 2026-11-18 (norges-bank: /data/EXR/B.USD.NOK.SP: 503)"
    )


async def test_a_figure_the_provider_no_longer_reports_is_revised_to_nothing(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    # A provider restating a day under other keys (a cost moved from one SKU or model to
    # another, Cloudflare's estimate replaced by its billed figure) left the first figure
    # standing beside the new one: the day was counted twice, for good.
    source = Source("google", [usd("google", DAY, "4.00", "sku-old")])
    spending = service(uow_factory, clock, source)
    await spending.pull("acme", DAY, DAY)
    source.records = [usd("google", DAY, "4.00", "sku-new")]
    result = await spending.pull("acme", DAY, DAY)
    assert (result.recorded, result.revised) == (1, 1)
    assert (await spending.report(ADMIN, DAY, DAY)).total_nok == D("40.00")
    old = cost_snapshot_id("acme", "google", DAY, "api", "sku-old")
    assert [h.amount for h in await spending.history("acme", old)] == [D("4.00"), D(0)]
    again = await spending.pull("acme", DAY, DAY)
    assert (again.recorded, again.revised) == (0, 0)
    # A source that failed says nothing of its figures: they stay as they were.
    source.down = True
    await spending.pull("acme", DAY, DAY)
    assert (await spending.report(ADMIN, DAY, DAY)).total_nok == D("40.00")


async def test_rows_of_one_snapshot_in_two_currencies_are_that_sources_failure(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    eur = msgspec.structs.replace(usd("google", DAY, "2.00"), currency="EUR")
    source = Source("google", [usd("google", DAY, "1.00"), eur, usd("google", DAY, "3", "m2")])
    spending = service(uow_factory, clock, source)
    result = await spending.pull("acme", DAY, DAY)
    assert result.recorded == 1  # m2 only
    assert "more than one currency" in result.failed["google"]
    [snapshot] = await spending.snapshots("acme", DAY, DAY)
    assert snapshot.data.model == "m2"
