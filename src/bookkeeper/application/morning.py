"""The morning check: once per tenant and day, the checks and one summary.

`MorningCheck.run(now)` is the scheduler's job (BOOKKEEPER_MORNING_CRON, by default
`0 7 * * *`: 07:00 Europe/Oslo), what
`bookkeeper check run` calls from an external cron, and what a process starting after 07:00
calls once to catch a missed day up. For each tenant (`TenantDirectory`) and the day in
Norway it:

1. derives the run's id from (tenant, job, date) (application/event_log.py) and skips the
   tenant when that stream exists (the day ran);
2. takes the tenant's day (`MorningCheckClaimed`, appended at the next version of the day's
   claim stream, a lease of `claim_seconds`) and skips the tenant when another replica
   holds it: with N replicas the bank, the books and the cost sources are asked once, not
   N times (Fiken serves one request at a time). A claim whose lease ran out (its holder
   died) is taken by the next run or catch-up; a run that fails gives its claim back;
3. finds what the checks find (missing receipts, spending yesterday and this month, the
   next VAT due date, failed or stuck executions, unknown accounts) without recording each.
   A check that asks the outside (the bank, the books, the cost sources) and fails with an
   error of ours, or does not answer within CHECK_SECONDS, is named unavailable in the run
   and its summary ("banken svarte ikke"); the other checks, and the other tenants, run
   all the same;
4. appends one MorningCheckRan carrying the findings and the summary, as the first event of
   the run's stream (expected version 0). A replica that took over an expired claim while
   the first holder was still at work gets a conflict there and skips: the log holds one
   run per tenant and day, however many processes tried.

Posting the summary is a subscriber (`MorningSummaries`) on MorningCheckRan, so a post
that fails is retried from the log; it records MorningSummaryPosted as the run stream's
second event and skips a run that has it (a post is never lost; it may repeat if the
process dies between posting and recording, except where the notifier tells a repeat by
its key: Discord within a few minutes, by the message's nonce).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from decimal import Decimal
from typing import Final, Protocol, TypeVar

import msgspec

from bookkeeper.application import messages as m
from bookkeeper.application.bus import UNKNOWN_TENANT
from bookkeeper.application.checks import OSLO, Checks
from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    DuplicateEvent,
)
from bookkeeper.application.event_log import (
    run_claim_id,
    run_notice_id,
    scheduled_run_id,
    stamp,
)
from bookkeeper.application.lookups import DEFAULT_DAYS
from bookkeeper.application.messages import date_text
from bookkeeper.application.ports import (
    Clock,
    EventFilter,
    Principal,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.spending import PULL_DAYS, SpendingService
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    CostTotal,
    MissingReceipt,
    MorningCheckClaimedData,
    MorningCheckRanData,
    MorningSummaryPostedData,
    OverdueVatReturn,
    SourceSpending,
)
from bookkeeper.domain.ledger import (
    BIMONTHLY,
    VatTerm,
    VatTermLength,
    files_return_for,
    vat_term_of,
)
from bookkeeper.domain.money import amount_text, kroner_text
from bookkeeper.domain.rules import VAT_TERM

log = logging.getLogger("bookkeeper.morning")

MORNING_JOB: Final = "morning"
#: The scheduler's principal: what the morning run's events are written as.
CRON_ACTOR: Final = "system:cron"
#: Tenants one query of the directory returns at most; a run reads page after page (keyset
#: on the tenant id) until a page is short, so the 1001st company has its run too.
MAX_TENANTS: Final = 1000
#: Transactions without a receipt the summary lists (the rest are counted), and the
#: event keeps (a busy company's 30 days may have hundreds; the count is always whole).
MISSING_SHOWN: Final = 10
MISSING_KEPT: Final = 100
#: How long one check of the outside (the bank's listing, the books' chart, the cost pull)
#: may take in a morning run before it is reported unavailable: the run goes tenant by
#: tenant, so one that hung held every company after it (and, the job being one instance
#: at a time, the next runs and catch-ups too).
CHECK_SECONDS: Final = 300.0
#: How long a replica's claim on a tenant's day lasts, in CHECK_SECONDS: the three checks
#: of the outside at most, and the rest of the run. A holder that died leaves the day to
#: the first catch-up after that (hourly).
CLAIM_CHECKS: Final = 4
_T = TypeVar("_T")


class TenantDirectory(Protocol):
    """The tenants a scheduled job runs for."""

    async def tenants(self, limit: int = MAX_TENANTS, after: str | None = None) -> list[str]:
        """At most `limit` tenants, in the directory's order, those after `after` (None:
        from the first)."""
        ...


class RunSchedule(Protocol):
    """When a scheduled run fires (adapters/cron.py: a cron expression in Europe/Oslo)."""

    def first_run_on(self, day: dt.date) -> dt.datetime | None:
        """Its first time on `day` (a date in Norway), or None when it does not run then."""
        ...


class Notifier(Protocol):
    """Where a tenant's morning summary is posted (Discord, the log …)."""

    name: str

    async def post(self, tenant_id: str, text: str, *, key: str | None = None) -> None:
        """Post the text; raises when it could not (the subscriber retries). `key` names
        what is posted: a notifier that can (Discord's nonce) posts a key at most once."""
        ...


class ChartRenderer(Protocol):
    """Draws spending per source and day as a PNG (adapters/chart.py)."""

    def render(self, series: Mapping[str, Sequence[Decimal]], first_day: dt.date) -> bytes: ...


class ImageNotifier(Protocol):
    """A Notifier that can also post a picture (Discord)."""

    name: str

    async def post_image(
        self, tenant_id: str, png: bytes, filename: str, text: str, *, key: str | None = None
    ) -> None: ...


#: Days the morning chart shows (up to yesterday).
CHART_DAYS: Final = 30


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    date: dt.date
    ran: bool  # False: the day's run was already in the log (this or another process)
    run_id: str
    summary: str | None = None
    #: The kind of error that kept the tenant's run from being recorded (None: it was
    #: recorded or already in the log); the next run or catch-up tries it again.
    error: str | None = None


class StaticTenants:
    """A configured list of tenants (BOOKKEEPER_MORNING_TENANTS)."""

    def __init__(self, tenants: Sequence[str]) -> None:
        self._tenants = list(dict.fromkeys(t for t in tenants if t))

    async def tenants(self, limit: int = MAX_TENANTS, after: str | None = None) -> list[str]:
        start = 0 if after is None else self._tenants.index(after) + 1
        return self._tenants[start : start + limit]


def next_vat_due(
    day: dt.date,
    reported: Collection[dt.date] = (),
    length: VatTermLength = BIMONTHLY,
    registered_from: dt.date | None = None,
) -> dt.date:
    """The first VAT return due on or after `day` (the term before may still be open)
    that is not `reported` already (the start days of the tenant's locked terms). On the
    yearly term (ADR 0064) the terms are years: last year's return is due on 10 March. A
    company registered from `registered_from` has no return for a term that ended before
    that day (ADR 0064, addendum): registered on 15 March, on 2 April its first return is
    term 2's, due 10 June, not term 1's of 10 April."""
    current = vat_term_of(day, length)
    previous = vat_term_of(current.start - dt.timedelta(days=1), length)
    if (
        previous.due >= day
        and previous.start not in reported
        and files_return_for(previous, registered_from)
    ):
        return previous.due
    if not files_return_for(current, registered_from):
        assert registered_from is not None  # a registration yet to take effect
        return vat_term_of(registered_from, length).due
    return current.due


#: How far back (days before the run's day) a return due and not reported is still flagged:
#: the terms of the last year. Older ones are not the morning's news (and a company that
#: starts using the service has its earlier terms unlocked, reported elsewhere).
OVERDUE_VAT_DAYS: Final = 365


def overdue_vat_returns(
    day: dt.date,
    reported: Collection[dt.date] = (),
    length: VatTermLength = BIMONTHLY,
    registered_from: dt.date | None = None,
) -> list[VatTerm]:
    """The terms whose return was due before `day` (its due date passed) and is not
    `reported` (the start days of the locked terms), of the company's terms (none that
    ended before `registered_from`), due after the day OVERDUE_VAT_DAYS before `day`; oldest
    first. `next_vat_due` moves on past such a term: this is what keeps it in sight."""
    earliest = day - dt.timedelta(days=OVERDUE_VAT_DAYS)
    found: list[VatTerm] = []
    term = vat_term_of(day, length)
    while True:
        term = vat_term_of(term.start - dt.timedelta(days=1), length)
        if term.due <= earliest or not files_return_for(term, registered_from):
            break
        if term.due < day and term.start not in reported:
            found.append(term)
    return found[::-1]


class MorningCheck:
    """The daily run of the checks (see the module docstring)."""

    def __init__(
        self,
        checks: Checks,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        tenants: TenantDirectory,
        job: str = MORNING_JOB,
        spending: SpendingService | None = None,
        check_seconds: float = CHECK_SECONDS,
        tenant_page: int = MAX_TENANTS,
        claim_seconds: float | None = None,
    ) -> None:
        self._checks = checks
        self._check_seconds = check_seconds
        self._claim = dt.timedelta(
            seconds=CLAIM_CHECKS * check_seconds if claim_seconds is None else claim_seconds
        )
        #: Who holds a claim (for the log; the claim's stream version decides).
        self._holder = uuid.uuid4().hex
        self._tenant_page = max(tenant_page, 1)
        self._uow = uow_factory
        self._clock = clock
        self._tenants = tenants
        self.job = job
        #: Issue 11: the run pulls the last days' costs first and reports them in NOK.
        self._spending = spending

    async def tenants(self) -> list[str]:
        """The tenants a run is for, every one of them (the directory read a page of
        `tenant_page` at a time; a single page stopped at the 1000th, and every company
        after it had no morning check and no spending pull, silently): no pseudo-tenant of
        the log (the bus's dead letters that name no tenant the bus books for are alerted
        under `_bus`, which is no company: a run for it read the default company's bank as
        `_bus`'s)."""
        found: list[str] = []
        after: str | None = None
        while True:
            page = await self._tenants.tenants(self._tenant_page, after)
            found += page
            if len(page) < self._tenant_page:
                return [t for t in found if t != UNKNOWN_TENANT]
            after = page[-1]

    def day_of(self, now: dt.datetime) -> dt.date:
        """The day a run at `now` is for: the date in Norway."""
        return now.astimezone(OSLO).date()

    async def run(self, now: dt.datetime | None = None) -> list[RunOutcome]:
        """Run the day's check for every tenant that has not had it (the scheduler job)."""
        day = self.day_of(now or self._clock.now())
        return await self.run_tenants(await self.tenants(), day)

    async def run_tenants(self, tenants: Sequence[str], day: dt.date) -> list[RunOutcome]:
        """Run `day`'s check for each of `tenants` in turn: one that fails is named in its
        outcome (`error`) and the others run all the same (the scheduler's run and
        `check run` alike)."""
        outcomes: list[RunOutcome] = []
        for tenant_id in tenants:
            try:
                outcomes.append(await self.run_tenant(tenant_id, day))
            except Exception as error:  # one company's failure is not every company's
                log.exception(
                    "%s run of %s for %s failed; the other tenants go on, and the next "
                    "catch-up tries this one again",
                    self.job,
                    tenant_id,
                    day,
                )
                run_id = scheduled_run_id(tenant_id, self.job, day)
                outcomes.append(
                    RunOutcome(
                        tenant_id=tenant_id,
                        date=day,
                        ran=False,
                        run_id=str(run_id),
                        error=type(error).__name__,
                    )
                )
        return outcomes

    async def catch_up(self, now: dt.datetime, at: dt.time | RunSchedule) -> list[RunOutcome]:
        """At start-up (and hourly): if today (in Norway) is a day the run is scheduled for
        and its first time today has passed, run what is missing for today (each tenant at
        most once, as always); nothing before that time, nothing on a day it does not run
        (a Saturday of a weekdays-only schedule). `at` is a schedule (BOOKKEEPER_MORNING_CRON)
        or a time of every day."""
        day = self.day_of(now)
        if isinstance(at, dt.time):
            if now.astimezone(OSLO).time() < at:
                return []
            return await self.run(now)
        due = at.first_run_on(day)
        if due is None or now < due:
            return []
        return await self.run(now)

    async def ran(self, tenant_id: str, day: dt.date) -> RecordedEvent | None:
        """The day's MorningCheckRan of a tenant, if it is in the log."""
        run_id = scheduled_run_id(tenant_id, self.job, day)
        async with self._uow() as uow:
            return await uow.events.get(tenant_id, run_id)

    async def run_tenant(self, tenant_id: str, day: dt.date) -> RunOutcome:
        """One tenant's run for `day`: skipped when the log already has it."""
        run_id = scheduled_run_id(tenant_id, self.job, day)
        if await self.ran(tenant_id, day) is not None:
            return RunOutcome(tenant_id=tenant_id, date=day, ran=False, run_id=str(run_id))
        claim = await self._take(tenant_id, day, run_id)
        if claim is None:
            log.info("%s run of %s for %s: another process is running it", self.job, tenant_id, day)
            return RunOutcome(tenant_id=tenant_id, date=day, ran=False, run_id=str(run_id))
        try:
            data = await self._findings(tenant_id, day)
        except BaseException:
            await self._give_back(tenant_id, day, run_id, claim)
            raise
        event = stamp(
            "MorningCheckRan",
            data,
            event_id=run_id,
            actor=CRON_ACTOR,
            at=self._clock.now(),
            correlation_id=run_id,
            metadata={"source": "scheduler", "job": self.job},
        )
        try:
            async with self._uow() as uow:
                await uow.events.append(tenant_id, run_id, 0, [event])
                await uow.commit()
        except (ConcurrencyConflict, DuplicateEvent):
            log.info("%s run of %s for %s: another process ran it", self.job, tenant_id, day)
            return RunOutcome(tenant_id=tenant_id, date=day, ran=False, run_id=str(run_id))
        log.info("%s run of %s for %s recorded", self.job, tenant_id, day)
        return RunOutcome(
            tenant_id=tenant_id, date=day, ran=True, run_id=str(run_id), summary=data.summary
        )

    async def _take(self, tenant_id: str, day: dt.date, run_id: uuid.UUID) -> int | None:
        """Claim the tenant's day before anything outside is asked: the claim's version, or
        None when another process holds an unexpired claim or took the turn first."""
        stream = run_claim_id(run_id)
        now = self._clock.now()
        async with self._uow() as uow:
            claims = await uow.events.read_stream(tenant_id, stream)
        if claims:
            last = claims[-1].data
            if isinstance(last, MorningCheckClaimedData) and last.until > now:
                return None
        return await self._claim_at(tenant_id, day, run_id, len(claims), now + self._claim)

    async def _give_back(self, tenant_id: str, day: dt.date, run_id: uuid.UUID, held: int) -> None:
        """A run that failed ends its claim now, so the next catch-up tries the day again
        (best effort: otherwise the claim runs out by itself)."""
        try:
            await self._claim_at(tenant_id, day, run_id, held, self._clock.now())
        except Exception:
            log.warning("%s run of %s for %s: claim not given back", self.job, tenant_id, day)

    async def _claim_at(
        self, tenant_id: str, day: dt.date, run_id: uuid.UUID, version: int, until: dt.datetime
    ) -> int | None:
        """Append a claim of the day until `until` after `version` claims (None: another
        process appended there first)."""
        stream = run_claim_id(run_id)
        event_id = run_claim_id(run_id, version + 1)
        event = stamp(
            "MorningCheckClaimed",
            MorningCheckClaimedData(job=self.job, date=day, holder=self._holder, until=until),
            event_id=event_id,
            actor=CRON_ACTOR,
            at=self._clock.now(),
            correlation_id=run_id,
            metadata={"source": "scheduler", "job": self.job},
        )
        try:
            async with self._uow() as uow:
                await uow.events.append(tenant_id, stream, version, [event])
                await uow.commit()
        except (ConcurrencyConflict, DuplicateEvent):
            return None
        return version + 1

    async def _outside(
        self, tenant_id: str, check: str, work: Callable[[], Awaitable[_T]]
    ) -> _T | None:
        """One check that asks the outside, or None when it failed with an error of ours
        (the bank or the books down) or did not answer within `check_seconds`, as if it
        had timed out itself (logged; the caller names it unavailable)."""
        try:
            async with asyncio.timeout(self._check_seconds):
                return await work()
        except TimeoutError:
            log.warning(
                "morning check of %s: %s unavailable: no answer within %g s",
                tenant_id,
                check,
                self._check_seconds,
            )
        except (ApplicationError, DomainError) as error:
            log.warning("morning check of %s: %s unavailable: %s", tenant_id, check, error)
        # Anything else (an adapter's bug) fails the tenant's run, which the next catch-up
        # tries again (`run`).
        return None

    async def _findings(self, tenant_id: str, day: dt.date) -> MorningCheckRanData:
        checks = self._checks
        principal = Principal(subject=CRON_ACTOR, tenant_id=tenant_id, roles=frozenset({"system"}))
        unavailable: list[str] = []
        missing: int | None = None
        listed: tuple[MissingReceipt, ...] = ()
        receipts = await self._outside(
            tenant_id,
            "missing receipts",
            lambda: checks.find_missing_receipts(
                tenant_id, day - dt.timedelta(days=DEFAULT_DAYS - 1), day
            ),
        )
        if receipts is None:
            unavailable.append("missing-receipts")
        else:
            missing = len(receipts)
            listed = tuple(
                MissingReceipt(
                    date=t.date,
                    description=t.merchant_name or t.description,
                    amount=t.amount,
                    currency=t.currency,
                    event_id=t.event_id,
                )
                for t in sorted(receipts, key=lambda t: (t.date, t.id))[:MISSING_KEPT]
            )
        found = await self._outside(
            tenant_id, "unknown accounts", lambda: checks.find_unknown_accounts(principal)
        )
        unknown = None if found is None else tuple(found)
        if unknown is None:
            unavailable.append("unknown-accounts")
        yesterday = day - dt.timedelta(days=1)
        costs_yesterday = (await checks.find_costs(tenant_id, yesterday, yesterday)).totals
        month_start = day.replace(day=1)
        costs_month = (await checks.find_costs(tenant_id, month_start, day)).totals
        executions = await checks.find_executions(tenant_id)
        async with self._uow() as uow:  # a locked term's return was reported (ADR 0040)
            locked = await uow.rules.periods(tenant_id, VAT_TERM)
            company = await uow.settings.review_rules(tenant_id)
            # The company's books here start with its first event (or an earlier entry's
            # date: history booked or imported back in time); without `vatRegisteredFrom`
            # a term that ended before them is not flagged: a company new here alarmed
            # about every unlocked term of the last year, when nothing was booked then
            # (its returns were filed elsewhere).
            since = company.vat_registered_from
            if since is None:
                since = await _books_since(uow, tenant_id, day)
        # A company outside the VAT register has no return, so no deadline (ADR 0056, add. 4).
        reported = {p.start for p in locked}
        due = (
            next_vat_due(day, reported, company.vat_term, company.vat_registered_from)
            if company.vat_registered
            else None
        )
        overdue = (
            tuple(
                OverdueVatReturn(start=t.start, end=t.end, due=t.due)
                for t in overdue_vat_returns(day, reported, company.vat_term, since)
            )
            if company.vat_registered
            else ()
        )
        spending: tuple[SourceSpending, ...] = ()
        costs_down: tuple[str, ...] = ()
        service = self._spending
        if service is not None:
            pulled = await self._outside(
                tenant_id,
                "spending",
                # The whole month so far (and at least the last PULL_DAYS days): "this
                # month" against the budget then holds a figure that arrived late or was
                # revised after its last days of being pulled (a billing export's
                # backfill, a credit applied days after).
                lambda: service.pull(
                    tenant_id,
                    min(day.replace(day=1), day - dt.timedelta(days=PULL_DAYS)),
                    day,
                    actor=CRON_ACTOR,
                ),
            )
            if pulled is None:
                unavailable.append("costs")
            else:
                unavailable += [f"costs:{source}" for source in sorted(pulled.failed)]
                costs_down = tuple(sorted(pulled.down))
            # What was recorded is shown all the same (earlier pulls' figures, and this
            # one's up to where it stopped): a pull that failed says so beside it.
            spending = await service.morning(tenant_id, day)
        data = MorningCheckRanData(
            job=self.job,
            date=day,
            missing_receipts=missing,
            missing=listed,
            costs_yesterday=tuple(costs_yesterday),
            costs_month=tuple(costs_month),
            next_vat_due=due,
            overdue_vat=overdue,
            failed_executions=tuple(str(p.id) for p in executions.failed),
            stuck_executions=tuple(str(p.id) for p in executions.stuck),
            unknown_accounts=unknown,
            unavailable=tuple(unavailable),
            costs_down=costs_down,
            summary="",
            spending=spending,
        )
        return msgspec.structs.replace(data, summary=compose_summary(data))


#: A bi-monthly term is two months (at most 62 days); a yearly one (ADR 0064) the year.
_LONGEST_BIMONTHLY_DAYS: Final = 62


async def _books_since(uow: UnitOfWork, tenant_id: str, day: dt.date) -> dt.date:
    """The first day of the tenant's books here: the earlier of its first event's day in
    Norway and its earliest ledger line's date (`day` when it has neither)."""
    first = await uow.events.query(tenant_id, EventFilter(limit=1))
    days = [day] + [e.created_at.astimezone(OSLO).date() for e in first]
    line = await uow.ledger.first_date(tenant_id)
    if line is not None:
        days.append(line)
    return min(days)


def _costs_line(label: str, totals: Sequence[CostTotal]) -> str:
    if not totals:
        return f"{label}: ingenting registrert"
    parts = [f"{t.source} {_cost_text(t)}" for t in totals]
    return f"{label}: " + ", ".join(parts)


#: A cost this small shows as 0,00: it is said to be under a cent instead.
_UNDER_A_CENT: Final = Decimal("0.005")


def _cost_text(total: CostTotal) -> str:
    """A cost as people read it; one that rounds to 0,00 but is not nothing (a quiet day of
    the service's own model calls costs fractions of a cent) says "under 0,01"."""
    if 0 < total.amount < _UNDER_A_CENT:
        return "under " + kroner_text(Decimal("0.01"), total.currency)
    return kroner_text(total.amount, total.currency)


def _spending_line(spend: SourceSpending) -> str:
    # NOK amounts in columns headed "(NOK)": "1 234,50".
    line = f"  {spend.source}: {amount_text(spend.yesterday_nok)} / {amount_text(spend.month_nok)}"
    if spend.budget_nok is not None and spend.budget_used_percent is not None:
        used = f"{spend.budget_used_percent:.1f}".replace(".", ",")
        line += f" / {amount_text(spend.budget_nok)} ({used} % brukt)"
    return line


def _forecast_line(spending: Sequence[SourceSpending]) -> str | None:
    """Where each source's month ends at the rate of its whole days so far, and whether
    that is over its budget (ADR 0031 addendum, vatspend); None before a whole day of the
    month has passed (or with no spending)."""
    parts = []
    for spend in spending:
        if spend.forecast_nok is None:
            continue
        part = f"{spend.source} {amount_text(spend.forecast_nok)}"
        if spend.budget_nok:
            over = spend.forecast_nok > spend.budget_nok
            part += f" ({'over' if over else 'innenfor'} budsjett {amount_text(spend.budget_nok)})"
        parts.append(part)
    if not parts:
        return None
    return "Prognose for måneden med takten så langt (NOK): " + ", ".join(parts)


def compose_summary(data: MorningCheckRanData) -> str:
    """The summary people read (Norwegian, dates as in Norway)."""
    lines = [f"Morgensjekk {date_text(data.date)}"]
    if data.missing_receipts is None:
        lines.append("Manglende kvitteringer: banken svarte ikke")
    else:
        lines.append(
            f"Manglende kvitteringer (siste {DEFAULT_DAYS} dager): {data.missing_receipts}"
        )
        # Story 7: the transactions themselves, oldest first (the nearest to being
        # forgotten), as many as a message holds; the rest counted.
        shown = data.missing[:MISSING_SHOWN]
        lines += [
            "  "
            + m.text(
                "missing.line",
                "nb",
                date=date_text(t.date),
                description=t.description,
                amount=m.kroner(t.amount, t.currency),
            )
            for t in shown
        ]
        if shown and data.missing_receipts > len(shown):
            lines.append("  " + m.text("more", "nb", count=data.missing_receipts - len(shown)))
    lines.append(_costs_line("Forbruk i går", data.costs_yesterday))
    lines.append(_costs_line("Forbruk denne måneden", data.costs_month))
    if data.spending:
        lines.append("Forbruk per kilde (NOK): i går / denne måneden / budsjett")
        lines += [_spending_line(s) for s in data.spending]
        forecast = _forecast_line(data.spending)
        if forecast is not None:
            lines.append(forecast)
    failed_sources = [u.removeprefix("costs:") for u in data.unavailable if u.startswith("costs:")]
    if "costs" in data.unavailable:  # the pull as a whole: not done in time, or failed
        lines.append("Kostnader ikke hentet: hentingen ble ikke ferdig (tallene er fra før)")
    elif failed_sources:
        # A source that stayed down through every attempt is said to be down (an outage
        # at the provider), not only named (ADR 0031 addendum, vatspend).
        named = [
            f"{source} (nede: svarte med feil på hvert forsøk)"
            if source in data.costs_down
            else source
            for source in failed_sources
        ]
        lines.append("Kostnader ikke hentet: " + ", ".join(named))
    lines += [
        m.text(
            "morning.vat_overdue",
            "nb",
            start=date_text(t.start),
            end=date_text(t.end),
            due=date_text(t.due),
        )
        for t in data.overdue_vat
    ]
    if data.overdue_vat:  # how to silence it, named with the oldest term's numbers
        oldest = data.overdue_vat[0].start
        yearly = (data.overdue_vat[0].end - oldest).days > _LONGEST_BIMONTHLY_DAYS
        number = 1 if yearly else (oldest.month + 1) // 2
        lines.append(m.text("morning.vat_overdue_hint", "nb", year=oldest.year, term=number))
    if data.next_vat_due is None:
        lines.append(m.text("morning.no_vat_return", "nb"))
    else:
        lines.append(f"Neste mva-frist: {date_text(data.next_vat_due)}")
    lines.append(
        f"Feilede utføringer: {len(data.failed_executions)}"
        f", ventende over tid: {len(data.stuck_executions)}"
    )
    if data.unknown_accounts is None:
        lines.append("Ukjente kontoer: regnskapet svarte ikke")
    elif data.unknown_accounts:
        lines.append("Ukjente kontoer: " + ", ".join(data.unknown_accounts))
    return "\n".join(lines)


class LoggingNotifier:
    """Writes the summary to the process log (always on, so a run is never silent)."""

    name = "log"

    async def post(self, tenant_id: str, text: str, *, key: str | None = None) -> None:
        log.info("morning summary for %s:\n%s", tenant_id, text)


class MorningSummaries:
    """Subscriber: posts each MorningCheckRan's summary, once it is committed."""

    name = "morning-summaries"
    types = frozenset({"MorningCheckRan"})

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        notifiers: Sequence[Notifier],
        spending: SpendingService | None = None,
        chart: ChartRenderer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._notifiers = list(notifiers)
        #: Issue 11: a chart of the last CHART_DAYS days' spending per source goes with
        #: the summary to the notifiers that take pictures.
        self._spending = spending
        self._chart = chart

    async def chart(self, tenant_id: str, day: dt.date) -> bytes | None:
        """The PNG of spending per source for the CHART_DAYS days before `day` (None when
        there is no chart renderer or nothing was spent)."""
        if self._spending is None or self._chart is None:
            return None
        yesterday = day - dt.timedelta(days=1)
        series = await self._spending.daily_nok(tenant_id, yesterday, CHART_DAYS)
        if not any(any(v) for v in series.values()):
            return None
        first = yesterday - dt.timedelta(days=CHART_DAYS - 1)
        return self._chart.render(series, first)

    async def handle(self, event: RecordedEvent) -> None:
        data = event.data
        if not isinstance(data, MorningCheckRanData):
            return
        async with self._uow() as uow:
            stream = await uow.events.read_stream(event.tenant_id, event.stream_id)
        if any(e.type == "MorningSummaryPosted" for e in stream):
            return
        png = await self.chart(event.tenant_id, data.date) if data.spending else None
        # The keys name the run and the part: a retry (the post's answer lost, the picture
        # or the record below failed) posts what was posted no second time where the
        # notifier can tell (Discord's nonce, a few minutes).
        for notifier in self._notifiers:
            await notifier.post(event.tenant_id, data.summary, key=f"{event.id}:summary")
            post_image = getattr(notifier, "post_image", None)
            if png is not None and post_image is not None:
                await post_image(
                    event.tenant_id,
                    png,
                    f"forbruk-{data.date.isoformat()}.png",
                    "Forbruk siste 30 dager per kilde (NOK)",
                    key=f"{event.id}:chart",
                )
        notice_id = run_notice_id(event.id)
        notice = stamp(
            "MorningSummaryPosted",
            MorningSummaryPostedData(channels=tuple(n.name for n in self._notifiers)),
            event_id=notice_id,
            actor=CRON_ACTOR,
            at=self._clock.now(),
            correlation_id=event.correlation_id,
            parent_id=event.id,
        )
        try:
            async with self._uow() as uow:
                await uow.events.append(event.tenant_id, event.stream_id, event.version, [notice])
                await uow.commit()
        except (ConcurrencyConflict, DuplicateEvent):
            pass  # another process posted and recorded it at the same time


async def todays_summary(
    uow_factory: UnitOfWorkFactory, clock: Clock, tenant_id: str
) -> str | None:
    """The summary of the tenant's morning run for today (in Norway), if any."""
    today = clock.now().astimezone(OSLO).date()
    midnight = dt.datetime.combine(today, dt.time(), OSLO).astimezone(dt.UTC)
    return await latest_summary(uow_factory, tenant_id, midnight, day=today)


async def latest_summary(
    uow_factory: UnitOfWorkFactory,
    tenant_id: str,
    since: dt.datetime,
    *,
    day: dt.date | None = None,
) -> str | None:
    """The summary of the tenant's latest morning run recorded since `since` (for chat),
    of the run for `day` when given: a past day caught up later (`check run --date`) is
    recorded today too, and is not today's summary."""
    where = EventFilter(types=("MorningCheckRan",), created_from=since, limit=100)
    async with uow_factory() as uow:
        events = await uow.events.query(tenant_id, where)
    runs = [
        e.data
        for e in events
        if isinstance(e.data, MorningCheckRanData) and (day is None or e.data.date == day)
    ]
    return runs[-1].summary if runs else None


class LogTenants:
    """The TenantDirectory port read from the log through units of work (for stores with
    no query of their own, the in-memory one): at most `scan` events are looked at."""

    def __init__(self, uow_factory: UnitOfWorkFactory, scan: int = 100_000) -> None:
        self._uow = uow_factory
        self._scan = scan

    async def tenants(self, limit: int = MAX_TENANTS, after: str | None = None) -> list[str]:
        found: set[str] = set()
        position = 0
        seen = 0
        while seen < self._scan:
            async with self._uow() as uow:
                page = await uow.events.read_all(after_position=position, limit=1000)
            if not page:
                break
            found.update(e.tenant_id for e in page if after is None or e.tenant_id > after)
            seen += len(page)
            position = page[-1].position
        return sorted(found)[:limit]
