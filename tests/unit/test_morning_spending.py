"""The morning run with spending (issue 11): it pulls the costs first, the summary says
yesterday's and this month's NOK per source with budget use and which sources could not be
read, and the chart of the last 30 days goes to notifiers that take pictures."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from PIL import Image

from bookkeeper.adapters.chart import PillowChart
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.checks import Checks
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.event_log import stamp
from bookkeeper.application.ledger import UnknownAccountsReport
from bookkeeper.application.morning import MorningCheck, MorningSummaries, StaticTenants
from bookkeeper.application.ports import BankTransaction, EventFilter
from bookkeeper.application.spending import CostRecord, ExchangeRate, SpendingService
from bookkeeper.domain.events import DocumentExtractedData, MorningCheckRanData
from tests.unit.conftest import FixedClock, principal

D = Decimal
TODAY = dt.date(2026, 11, 20)  # the clock: 2026-11-20 09:00 UTC


@dataclass
class Source:
    name: str
    records: list[CostRecord] = field(default_factory=list)
    down: bool = False

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        if self.down:
            raise ExternalUnavailable("down", system=self.name)
        return [r for r in self.records if start <= r.day <= end]


class Rates:
    async def to_nok(self, currency: str, day: dt.date) -> ExchangeRate:
        return ExchangeRate(currency=currency, date=day, rate=D("10"))


class Bank:
    name = "bank"

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return []


class Ledger:
    async def unknown_accounts(self, _principal: Any) -> UnknownAccountsReport:
        return UnknownAccountsReport(backend="sandbox", chart_size=0, accounts=[])


@dataclass
class PictureNotifier:
    name: str = "pictures"
    posts: list[str] = field(default_factory=list)
    images: list[tuple[bytes, str]] = field(default_factory=list)

    async def post(self, tenant_id: str, text: str, *, key: str | None = None) -> None:
        self.posts.append(text)

    async def post_image(
        self, tenant_id: str, png: bytes, filename: str, text: str, *, key: str | None = None
    ) -> None:
        self.images.append((png, filename))


def usd(source: str, day: dt.date, amount: str) -> CostRecord:
    return CostRecord(
        source=source, day=day, service="api", model="m", currency="USD", amount=D(amount)
    )


async def test_the_summary_reports_spending_per_source_in_nok_with_budget_use_and_a_chart() -> None:
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    anthropic = Source("anthropic", [usd("anthropic", TODAY - dt.timedelta(days=n), "1.5")
                                     for n in range(1, 3)])  # fmt: skip
    google = Source("google", down=True)
    spending = SpendingService(
        uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [anthropic, google]
    )
    await spending.set_budget(principal("anne", "admin"), "anthropic", D("40"))
    # An earlier pull of this month (the 5th), outside the morning's pull window.
    anthropic.records.append(usd("anthropic", dt.date(2026, 11, 5), "0.5"))
    await spending.pull("acme", dt.date(2026, 11, 5), dt.date(2026, 11, 5))
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    morning = MorningCheck(checks, uow, clock, StaticTenants(["acme"]), spending=spending)
    [outcome] = await morning.run()
    assert outcome.ran and outcome.summary is not None
    lines = outcome.summary.splitlines()
    # Yesterday 15 kr; month 15 + 15 + 5 = 35 kr of 40 (87.5 %).
    assert "  anthropic: 15,00 / 35,00 / 40,00 (87,5 % brukt)" in lines
    # At the rate of the month's 19 whole days (35 kr), its 30 days end at 55,26 kr.
    assert (
        "Prognose for måneden med takten så langt (NOK): anthropic 55,26 (over budsjett 40,00)"
        in lines
    )
    assert "Kostnader ikke hentet: google" in lines
    async with uow() as unit:
        [run] = await unit.events.query("acme", EventFilter(types=("MorningCheckRan",)))
        alerts = await unit.events.query("acme", EventFilter(types=("BudgetThresholdReached",)))
    assert isinstance(run.data, MorningCheckRanData)
    assert [(s.source, s.month_nok, s.budget_used_percent) for s in run.data.spending] == [
        ("anthropic", D("35.00"), D("87.5"))
    ]
    assert [a.data.threshold for a in alerts] == [80]  # type: ignore[attr-defined]

    notifier = PictureNotifier()
    summaries = MorningSummaries(uow, clock, [notifier], spending=spending, chart=PillowChart())
    await summaries.handle(run)
    assert notifier.posts == [outcome.summary]
    [(png, filename)] = notifier.images
    assert filename == "forbruk-2026-11-20.png"
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (640, 320))
    await summaries.handle(run)  # posted once: the run stream records it
    assert len(notifier.posts) == 1 and len(notifier.images) == 1


def test_the_chart_draws_each_source_in_its_own_colour() -> None:
    series = {"anthropic": [D(0), D(10), D(5)], "google": [D(2), D(2), D(2)]}
    png = PillowChart().render(series, dt.date(2026, 11, 1))
    with Image.open(io.BytesIO(png)) as image:
        colours = {c for _, c in image.convert("RGB").getcolors(maxcolors=100_000) or []}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours
    empty = PillowChart().render({}, dt.date(2026, 11, 1))
    assert empty.startswith(b"\x89PNG")


class BrokenBank:
    """A tenant's bank adapter with a bug (not an ApplicationError): a KeyError."""

    name = "broken"

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        raise KeyError("amount")


async def test_one_tenants_failing_run_does_not_stop_the_others_and_is_tried_again() -> None:
    # The scheduler's run went tenant after tenant: an error for the first ended the run,
    # so every later company had no morning check, and the hourly catch-up stopped at the
    # same company every hour, all day.
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    banks: dict[str, Any] = {"acme": BrokenBank(), "beta": Bank()}
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), banks.__getitem__)  # type: ignore[arg-type]
    morning = MorningCheck(checks, uow, clock, StaticTenants(["acme", "beta"]))
    acme, beta = await morning.run()
    assert (acme.tenant_id, acme.ran, acme.error) == ("acme", False, "KeyError")
    assert (beta.tenant_id, beta.ran, beta.error) == ("beta", True, None)
    assert await morning.ran("acme", TODAY) is None
    banks["acme"] = Bank()  # fixed: the next catch-up runs it, and only it
    again = await morning.run()
    assert [(o.tenant_id, o.ran) for o in again] == [("acme", True), ("beta", False)]


async def test_yesterdays_own_spending_is_the_same_norwegian_day_in_both_lines() -> None:
    # "Forbruk i går" summed the service's own model calls per day in Norway, the
    # per-source line per UTC day: a call at 00:30 in Oslo (23:30 UTC the day before) was
    # yesterday's in one line and the day before's in the other, on the same summary.
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    calls = [
        (dt.datetime(2026, 11, 18, 23, 30, tzinfo=dt.UTC), "0.40"),  # 19.11 00:30 in Oslo
        (dt.datetime(2026, 11, 19, 23, 30, tzinfo=dt.UTC), "0.10"),  # 20.11 00:30 in Oslo
    ]
    async with uow() as unit:
        for n, (at, cost) in enumerate(calls, 1):
            event_id = uuid.UUID(int=n)
            data = DocumentExtractedData(
                document_hash=f"h{n}", extractor="claude", document_type="receipt",
                model="m", cost_usd=D(cost),
            )  # fmt: skip
            await unit.events.append(
                "acme",
                event_id,
                0,
                [
                    stamp(
                        "DocumentExtracted",
                        data,
                        event_id=event_id,
                        actor="x",
                        at=at,
                        correlation_id=event_id,
                    )
                ],
            )
        await unit.commit()
    spending = SpendingService(uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [])
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    morning = MorningCheck(checks, uow, clock, StaticTenants(["acme"]), spending=spending)
    [outcome] = await morning.run()
    assert outcome.summary is not None
    lines = outcome.summary.splitlines()
    assert "Forbruk i går: bookkeeper 0,40 USD" in lines
    assert "  bookkeeper: 4,00 / 5,00" in lines  # 0,40 USD at 10 kr: the same day


async def test_the_morning_reads_the_whole_month_so_a_late_figure_or_revision_counts() -> None:
    # The morning pulled only its last three days: a figure of the 10th that arrived late
    # (a billing export's backfill, a credit applied days after) or was revised later was
    # never read, and "this month" against the budget stayed short of the bill for good.
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    tenth = dt.date(2026, 11, 10)
    google = Source("google", [usd("google", tenth, "1.00")])
    spending = SpendingService(uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [google])
    await spending.pull("acme", tenth, tenth)
    google.records = [usd("google", tenth, "3.00"), usd("google", dt.date(2026, 11, 12), "2")]
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    morning = MorningCheck(checks, uow, clock, StaticTenants(["acme"]), spending=spending)
    [outcome] = await morning.run()
    assert outcome.summary is not None
    assert "  google: 0,00 / 50,00" in outcome.summary.splitlines()


@dataclass
class HangingSource:
    """A provider that accepts the connection and never answers."""

    name: str

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        await asyncio.Event().wait()
        return []


async def test_a_source_that_never_answers_hides_neither_the_others_nor_what_was_recorded() -> None:
    # The pull read the sources one after the other and the morning bounded the whole
    # pull: one provider that hung made the pull "unavailable", the morning then showed no
    # spending at all — not the other sources' figures of this pull, nor those recorded
    # before — only "Kostnader ikke hentet".
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    yesterday = TODAY - dt.timedelta(days=1)
    anthropic = Source("anthropic", [usd("anthropic", dt.date(2026, 11, 5), "1")])
    spending = SpendingService(
        uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [HangingSource("google"), anthropic],
        source_seconds=0.2,
    )  # fmt: skip
    await spending.pull("acme", dt.date(2026, 11, 5), dt.date(2026, 11, 5))
    anthropic.records.append(usd("anthropic", yesterday, "2"))
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    morning = MorningCheck(
        checks, uow, clock, StaticTenants(["acme"]), spending=spending, check_seconds=5.0
    )
    [outcome] = await morning.run()
    assert outcome.summary is not None
    lines = outcome.summary.splitlines()
    assert "  anthropic: 20,00 / 30,00" in lines
    assert "Kostnader ikke hentet: google" in lines


async def test_a_pull_that_fails_as_a_whole_still_shows_what_was_recorded_and_says_so() -> None:
    # The pull not done within the morning's bound (or failing as a whole) left the
    # summary without a line of spending, and said "Kostnader ikke hentet: costs".
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    anthropic = Source("anthropic", [usd("anthropic", dt.date(2026, 11, 5), "1")])
    before = SpendingService(uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [anthropic])
    await before.set_budget(principal("anne", "admin"), "anthropic", D("40"))
    await before.pull("acme", dt.date(2026, 11, 5), dt.date(2026, 11, 5))
    spending = SpendingService(
        uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [HangingSource("google"), anthropic]
    )
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    morning = MorningCheck(
        checks, uow, clock, StaticTenants(["acme"]), spending=spending, check_seconds=0.3
    )
    [outcome] = await morning.run()
    assert outcome.summary is not None
    lines = outcome.summary.splitlines()
    assert "  anthropic: 0,00 / 10,00 / 40,00 (25,0 % brukt)" in lines
    assert "Kostnader ikke hentet: hentingen ble ikke ferdig (tallene er fra før)" in lines


def test_a_month_end_forecast_carries_the_whole_days_rate_to_the_months_end() -> None:
    from bookkeeper.application.spending import month_end_forecast

    assert month_end_forecast(D("300"), 10, 30) == D("900")
    assert month_end_forecast(D("100"), 3, 28) == D("100") * 28 / 3
    assert month_end_forecast(D("310"), 31, 31) == D("310")  # a month that is over
    assert month_end_forecast(D("0"), 5, 30) == D("0")
    assert month_end_forecast(D("50"), 0, 30) is None  # the 1st: no whole day yet


async def test_the_forecast_counts_oslo_days_and_is_in_the_morning_summary() -> None:
    """A user expects "at this rate the month ends at X NOK, over or under budget". At
    00:30 in Oslo on 11 November (23:30 UTC on the 10th) ten whole days of the month
    have passed: the 10th's 100 kr count, and the rate is 190 kr over 10 days (570 kr in
    30) — not 90 kr over 9 UTC days (300 kr)."""
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock(dt.datetime(2026, 11, 10, 23, 30, tzinfo=dt.UTC))
    days = [usd("anthropic", dt.date(2026, 11, n), "1") for n in range(1, 10)]
    anthropic = Source("anthropic", [*days, usd("anthropic", dt.date(2026, 11, 10), "10")])
    google = Source("google", [usd("google", dt.date(2026, 11, n), "0.5") for n in (2, 4)])
    spending = SpendingService(
        uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [anthropic, google]
    )
    await spending.set_budget(principal("anne", "admin"), "anthropic", D("600"))
    await spending.set_budget(principal("anne", "admin"), "google", D("20"))
    await spending.pull("acme", dt.date(2026, 11, 1), dt.date(2026, 11, 10))
    forecast = await spending.forecast_as(principal("vera", "viewer"))
    assert (forecast.month, forecast.day, forecast.days_passed, forecast.days_in_month) == (
        "2026-11",
        dt.date(2026, 11, 11),
        10,
        30,
    )
    assert [(f.source, f.spent_nok, f.forecast_nok, f.budget_nok) for f in forecast.sources] == [
        ("anthropic", D("190"), D("570"), D("600")),
        ("google", D("10"), D("30"), D("20")),
    ]
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    morning = MorningCheck(checks, uow, clock, StaticTenants(["acme"]), spending=spending)
    [outcome] = await morning.run()
    assert outcome.summary is not None
    lines = outcome.summary.splitlines()
    assert (
        "Prognose for måneden med takten så langt (NOK): anthropic 570,00 (innenfor budsjett "
        "600,00), google 30,00 (over budsjett 20,00)"
    ) in lines, lines
    async with uow() as unit:
        [run] = await unit.events.query("acme", EventFilter(types=("MorningCheckRan",)))
    assert isinstance(run.data, MorningCheckRanData)
    assert [(s.source, s.forecast_nok) for s in run.data.spending] == [
        ("anthropic", D("570.00")),
        ("google", D("30.00")),
    ]


async def test_on_the_first_of_the_month_there_is_no_forecast_yet() -> None:
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock(dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC))  # 1 Dec in Oslo
    anthropic = Source("anthropic", [usd("anthropic", dt.date(2026, 11, 30), "1")])
    spending = SpendingService(uow, clock, UuidV7Ids(), RoleAuthorizer(), Rates(), [anthropic])
    await spending.set_budget(principal("anne", "admin"), "anthropic", D("600"))
    await spending.pull("acme", dt.date(2026, 11, 30), dt.date(2026, 11, 30))
    forecast = await spending.forecast_as(principal("vera", "viewer"))
    assert (forecast.month, forecast.days_passed, forecast.days_in_month) == ("2026-12", 0, 31)
    assert [(f.source, f.forecast_nok) for f in forecast.sources] == [("anthropic", None)]


@dataclass
class OutageSource:
    """A provider answering 503 to every request: the adapter's back-off asks it again
    (retry_after.backing_off, no real waiting here) until it gives up."""

    name: str
    requests: int = 0

    async def costs(self, start: dt.date, end: dt.date) -> list[CostRecord]:
        from bookkeeper.adapters.retry_after import backing_off

        async def once() -> list[CostRecord]:
            self.requests += 1
            raise ExternalUnavailable("cost_report: 503", system=self.name, status=503)

        async def no_wait(seconds: float) -> None:
            pass

        return await backing_off(once, sleep=no_wait)


async def test_a_source_that_stayed_down_through_every_attempt_is_said_to_be_down() -> None:
    """A transient 5xx is asked again now; the morning said only "Kostnader ikke hentet:
    google" whether Google answered one bad minute or stayed down through every attempt —
    the latter is an outage at the provider, and the summary says so."""
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    google = OutageSource("google")
    spending = SpendingService(
        uow,
        clock,
        UuidV7Ids(),
        RoleAuthorizer(),
        Rates(),
        [google, Source("cloudflare", down=True)],
    )
    pulled = await spending.pull("acme", TODAY, TODAY)
    assert pulled.down == {"google": 4} and google.requests == 4
    assert "still down after 4 attempts" in pulled.failed["google"]
    assert set(pulled.failed) == {"google", "cloudflare"}
    unused: Any = None
    checks = Checks(uow, clock, UuidV7Ids(), RoleAuthorizer(), unused, Ledger(), lambda _t: Bank())  # type: ignore[arg-type]
    morning = MorningCheck(checks, uow, clock, StaticTenants(["acme"]), spending=spending)
    [outcome] = await morning.run()
    assert outcome.summary is not None
    assert (
        "Kostnader ikke hentet: cloudflare, google (nede: svarte med feil på hvert forsøk)"
        in outcome.summary.splitlines()
    ), outcome.summary
    async with uow() as unit:
        [run] = await unit.events.query("acme", EventFilter(types=("MorningCheckRan",)))
    assert isinstance(run.data, MorningCheckRanData)
    assert run.data.costs_down == ("google",)
