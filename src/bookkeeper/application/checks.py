"""The checks (`POST /check/*`, the morning run): what is missing, what it cost, what failed.

Each check finds something and, called on its own, records one event of what it found
(MissingReceiptsChecked, CostsChecked, UnknownAccountsChecked, ExecutionsChecked) in a
stream of its own, with the caller as actor. Running them needs `checks:run` (the `system`
and `admin` roles by default, migration 0012); the morning run (application/morning.py)
uses the `find_*` halves and records one MorningCheckRan instead.

A failed execution (a FAILED proposal, its history kept) counts as failing until a
person marks it resolved (`resolve_failure`, ExecutionFailureResolved, `proposals:decide`):
booked by hand in Fiken, submitted again, or not to be booked. An attempt that failed and
was retried into EXECUTED never counted (only the status FAILED does).

Costs come from what the log already holds: the service's own Claude calls
(DocumentExtracted, and the chat's IntentClassified: model, tokens, cost in USD) are the
first source, `bookkeeper`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Final, Generic, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.application.errors import ConcurrencyConflict, DuplicateEvent, NotFound
from bookkeeper.application.event_log import failure_resolved_id, record_alone, stamp
from bookkeeper.application.ledger import LedgerService, UnknownAccountsReport
from bookkeeper.application.lookups import BankTransactionsResult, Lookups, needs_receipt
from bookkeeper.application.ports import (
    Authorizer,
    BankProvider,
    BankTransaction,
    Clock,
    EventFilter,
    Ids,
    Principal,
    ProposalFilter,
    ProposalView,
    UnitOfWorkFactory,
)
from bookkeeper.domain.errors import IllegalTransition
from bookkeeper.domain.events import (
    CostsCheckedData,
    CostTotal,
    DateRange,
    DocumentExtractedData,
    ExecutionFailureResolvedData,
    ExecutionsCheckedData,
    IntentClassifiedData,
    Payload,
    Status,
    UnknownAccountsCheckedData,
)

OSLO: Final = ZoneInfo("Europe/Oslo")
CHECK_ACTION: Final = "checks:run"
#: Marking a failed execution resolved is a reviewer's decision about a proposal.
RESOLVE_ACTION: Final = "proposals:decide"
RESOLVED: Final = "ExecutionFailureResolved"
#: A resolution's note at most (characters).
MAX_NOTE: Final = 500
#: The service's own calls to Claude (DocumentExtracted and IntentClassified events).
OWN_SOURCE: Final = "bookkeeper"
#: An approved proposal not carried out after this long is reported as stuck.
STUCK_AFTER: Final = dt.timedelta(hours=1)
_PAGE: Final = 500
_ZERO: Final = Decimal("0")
T = TypeVar("T")


class ExecutionsFound(msgspec.Struct, frozen=True, kw_only=True):
    """Proposals whose execution failed for good, and approved ones waiting too long."""

    failed: list[ProposalView]
    stuck: list[ProposalView]
    stuck_after: dt.timedelta


class NotFailed(IllegalTransition):
    """Only a failed execution (a FAILED proposal) can be marked resolved (409)."""

    code = "not-failed"


class CostsFound(msgspec.Struct, frozen=True, kw_only=True):
    start: dt.date
    end: dt.date
    totals: list[CostTotal]


class CheckResult(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """What a check found, and the id of the event that records it."""

    event_id: uuid.UUID
    found: T


def oslo_day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in Norway, as UTC instants."""
    first = dt.datetime.combine(start, dt.time(), OSLO).astimezone(dt.UTC)
    after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), OSLO).astimezone(dt.UTC)
    return first, after


class Checks:
    """The checks, for the `/check/*` routes, the CLI and the morning run."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
        lookups: Lookups,
        ledger: LedgerService,
        bank: BankProvider,
        stuck_after: dt.timedelta = STUCK_AFTER,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer
        self._lookups = lookups
        self._ledger = ledger
        self._bank = bank
        self._stuck_after = stuck_after

    def authorize(self, principal: Principal) -> None:
        """Forbidden unless the principal may run checks."""
        self._authorizer.check(principal, CHECK_ACTION)

    def today(self) -> dt.date:
        return self._clock.now().astimezone(OSLO).date()

    # --- the checks as routes call them: authorize, find, record ----------------------

    async def missing_receipts(
        self, principal: Principal, start: dt.date | None = None, end: dt.date | None = None
    ) -> BankTransactionsResult:
        """Bank events lacking a receipt (recorded as MissingReceiptsChecked)."""
        self.authorize(principal)
        return await self._lookups.missing_receipts(principal, start, end, source="check")

    async def costs(
        self, principal: Principal, start: dt.date | None = None, end: dt.date | None = None
    ) -> CheckResult[CostsFound]:
        """Spending per source over [start, end] (default: this month up to today)."""
        self.authorize(principal)
        today = self.today()
        end = end or today
        start = start or end.replace(day=1)
        start, end = self._lookups.date_range(start, end)
        found = await self.find_costs(principal.tenant_id, start, end)
        data = CostsCheckedData(
            date_range=DateRange(start=start, end=end), totals=tuple(found.totals)
        )
        return CheckResult(
            event_id=await self._record(principal, "CostsChecked", data), found=found
        )

    async def unknown_accounts(self, principal: Principal) -> CheckResult[UnknownAccountsReport]:
        """Accounts the ledger uses that the books' chart lacks."""
        self.authorize(principal)
        report = await self._ledger.unknown_accounts(principal)
        data = UnknownAccountsCheckedData(
            backend=report.backend, chart_size=report.chart_size, accounts=tuple(report.accounts)
        )
        event_id = await self._record(principal, "UnknownAccountsChecked", data)
        return CheckResult(event_id=event_id, found=report)

    async def executions(self, principal: Principal) -> CheckResult[ExecutionsFound]:
        """Failed executions and approved proposals stuck before execution."""
        self.authorize(principal)
        found = await self.find_executions(principal.tenant_id)
        data = ExecutionsCheckedData(
            failed=tuple(str(p.id) for p in found.failed),
            stuck=tuple(str(p.id) for p in found.stuck),
            stuck_after_minutes=int(found.stuck_after.total_seconds() // 60),
        )
        event_id = await self._record(principal, "ExecutionsChecked", data)
        return CheckResult(event_id=event_id, found=found)

    # --- finding, without recording (the morning run records its own event) ------------

    async def find_missing_receipts(
        self, tenant_id: str, start: dt.date, end: dt.date
    ) -> list[BankTransaction]:
        """Bank events of [start, end] where money went out and no receipt is attached."""
        events = await self._bank(tenant_id).events(start, end)
        return sorted((e for e in events if needs_receipt(e)), key=lambda e: (e.date, e.id))

    async def find_unknown_accounts(self, principal: Principal) -> list[str]:
        """Accounts the ledger uses that the books' chart lacks (not recorded)."""
        return (await self._ledger.unknown_accounts(principal)).accounts

    async def find_costs(self, tenant_id: str, start: dt.date, end: dt.date) -> CostsFound:
        """Totals per source and currency of [start, end] (days in Norway)."""
        first, after = oslo_day_bounds(start, end)
        amounts: defaultdict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [_ZERO])
        tokens: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        position = 0
        while True:
            where = EventFilter(
                types=("DocumentExtracted", "IntentClassified"),
                created_from=first,
                created_to=after,
                after_position=position,
                limit=_PAGE,
            )
            async with self._uow() as uow:
                events = await uow.events.query(tenant_id, where)
            for event in events:
                data = event.data
                if not isinstance(data, DocumentExtractedData | IntentClassifiedData) or not (
                    first <= event.created_at < after
                ):
                    continue
                key = (OWN_SOURCE, "USD")
                amounts[key][0] += data.cost_usd
                counts = tokens[key]
                counts[0] += data.input_tokens
                counts[1] += data.output_tokens
                counts[2] += 1
            if len(events) < _PAGE:
                break
            position = events[-1].position
        totals = [
            CostTotal(
                source=source,
                currency=currency,
                amount=amounts[(source, currency)][0],
                input_tokens=tokens[(source, currency)][0],
                output_tokens=tokens[(source, currency)][1],
                records=tokens[(source, currency)][2],
            )
            for source, currency in sorted(amounts)
        ]
        return CostsFound(start=start, end=end, totals=totals)

    async def find_executions(self, tenant_id: str) -> ExecutionsFound:
        """FAILED proposals not marked resolved, and APPROVED ones decided longer than
        `stuck_after` ago (or whose executor's lease ran out) still not carried out."""
        now = self._clock.now()
        resolved = await self._resolved(tenant_id)
        failed: list[ProposalView] = []
        stuck: list[ProposalView] = []
        position = 0
        while True:
            where = ProposalFilter(
                statuses=(Status.FAILED, Status.APPROVED), after_position=position, limit=_PAGE
            )
            async with self._uow() as uow:
                page = await uow.proposals.page(tenant_id, where)
            for view in page:
                if view.status is Status.FAILED:
                    # Resolved after its last event: this failure. One resolved before a
                    # person's retry failed again (ADR 0009 addendum) counts again.
                    if resolved.get(view.id, -1) < view.last_position:
                        failed.append(view)
                elif _is_stuck(view, now, self._stuck_after):
                    stuck.append(view)
            if len(page) < _PAGE:
                break
            position = page[-1].last_position
        return ExecutionsFound(failed=failed, stuck=stuck, stuck_after=self._stuck_after)

    async def resolve_failure(
        self, principal: Principal, proposal_id: uuid.UUID, note: str | None = None
    ) -> uuid.UUID:
        """Mark a failed execution dealt with (ExecutionFailureResolved, its id derived from
        the proposal's, so marking it again changes nothing): the checks and the morning
        summary stop counting it. NotFound for no such proposal of the tenant, NotFailed
        unless it is FAILED."""
        self._authorizer.check(principal, RESOLVE_ACTION)
        tenant = principal.tenant_id
        async with self._uow() as uow:
            view = await uow.proposals.get(tenant, proposal_id)
        if view is None:
            raise NotFound(f"proposal {proposal_id} not found")
        if view.status is not Status.FAILED:
            raise NotFailed(
                f"proposal {proposal_id} is {view.status.value}: only a failed execution "
                "can be marked resolved",
                current=view.status.value,
            )
        event_id = failure_resolved_id(tenant, proposal_id, view.version)
        text = (note or "").strip()[:MAX_NOTE] or None
        data = ExecutionFailureResolvedData(proposal_id=str(proposal_id), note=text)
        event = stamp(
            RESOLVED,
            data,
            event_id=event_id,
            actor=principal.actor,
            at=self._clock.now(),
            correlation_id=view.correlation_id,
            metadata={"source": "check"},
        )
        # Marked before (by this person or another): it stays resolved, as it was.
        with contextlib.suppress(ConcurrencyConflict, DuplicateEvent):
            await record_alone(self._uow, tenant, event)
        return event_id

    async def _resolved(self, tenant_id: str) -> dict[uuid.UUID, int]:
        """The proposals of the tenant marked resolved: the log position of the last
        marking of each."""
        found: dict[uuid.UUID, int] = {}
        position = 0
        while True:
            where = EventFilter(types=(RESOLVED,), after_position=position, limit=_PAGE)
            async with self._uow() as uow:
                events = await uow.events.query(tenant_id, where)
            for event in events:
                if isinstance(event.data, ExecutionFailureResolvedData):
                    found[uuid.UUID(event.data.proposal_id)] = event.position
            if len(events) < _PAGE:
                return found
            position = events[-1].position

    async def _record(self, principal: Principal, type_name: str, data: Payload) -> uuid.UUID:
        event_id = self._ids.new_id()
        event = stamp(
            type_name,
            data,
            event_id=event_id,
            actor=principal.actor,
            at=self._clock.now(),
            correlation_id=event_id,
            metadata={"source": "check"},
        )
        await record_alone(self._uow, principal.tenant_id, event)
        return event_id


def _is_stuck(view: ProposalView, now: dt.datetime, after: dt.timedelta) -> bool:
    if view.lease_until is not None and view.lease_until < now - after:
        return True
    decided = view.decided_at or view.updated_at
    waiting_since = decided
    if view.next_attempt_at is not None and view.next_attempt_at > decided:
        waiting_since = view.next_attempt_at  # a retry is scheduled: stuck once it is overdue
    return now - waiting_since > after
