"""The compliance context (issue 12): each posted journal entry checked, after the fact,
against the rules valid on its date.

`ComplianceContext` is a subscriber of the log (application/dispatch.py): it is handed
each `JournalEntryPosted` right after its commit and otherwise follows the log from its
tracking position, so a posting never waits for it and none is missed. The checks
(domain/rules.compliance_findings): a VAT code not valid for the date or country, or VAT
that is not its basis × the rate valid then; amounts with more decimals than the
currency allows; an entry with VAT lines in a locked VAT term (which no posting path
writes any more, ADR 0040 addendum: kept for what was posted before that rule and for an
`import events` restore; imported books history is exempt); input VAT deducted on an entry
dated before the company's VAT registration took effect (`vatRegisteredFrom`; imported
history exempt likewise); an account the chart does not know.

A finding records `TransactionFailedCompliance` (the rules and their evidence) and an
`AlertRaised`, and proposes a reversal of the entry's proposal as the compliance
principal — a reversal is always reviewed (domain/review), so a person decides. Every id
is derived from the entry (event_log.compliance_id), so handling an entry twice records
nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Final

from bookkeeper.application.authorization import COMPLIANCE_ROLE
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    DuplicateEvent,
    NotFound,
)
from bookkeeper.application.event_log import compliance_id, stamp
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import BooksSource
from bookkeeper.application.ports import (
    COMPLIANCE_PRINCIPAL,
    BooksProvider,
    Clock,
    Principal,
    RecordedEvent,
    UnitOfWorkFactory,
)
from bookkeeper.application.tax_rates import tenant_tax_table
from bookkeeper.application.ttl_cache import TtlCache
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    AlertRaisedData,
    ComplianceFinding,
    JournalEntryPostedData,
    ReversalData,
    TransactionFailedComplianceData,
)
from bookkeeper.domain.rules import NOK, NORWAY, VAT_TERM, compliance_findings

log = logging.getLogger("bookkeeper.compliance")

JOURNAL_ENTRY_POSTED: Final = "JournalEntryPosted"
TRANSACTION_FAILED_COMPLIANCE: Final = "TransactionFailedCompliance"
ALERT_RAISED: Final = "AlertRaised"
REVERSAL_PROPOSED: Final = "ReversalProposed"
#: Seconds a tenant's chart of accounts is reused before the books are asked again.
CHART_TTL: Final = 300.0
#: Tenants whose chart is kept at most, oldest dropped first.
CHART_CACHE_SIZE: Final = 1024


class ComplianceContext:
    """Checks each posted entry; records findings, alerts and proposes reversals."""

    #: Its tracking record (fixed forever).
    name = "compliance"
    types = frozenset({JOURNAL_ENTRY_POSTED})

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        handlers: Handlers,
        clock: Clock,
        *,
        books_source: BooksSource | None = None,
        country: str = NORWAY,
        currency: str = NOK,
    ) -> None:
        self._uow = uow_factory
        self._handlers = handlers
        self._clock = clock
        self._books_source = books_source
        self._books: BooksProvider | None = None
        #: The charts' codes per tenant; the entries meeting a tenant's miss while its chart
        #: is read wait for that read instead of each asking the books.
        self._charts: TtlCache[str, tuple[str, ...]] = TtlCache(CHART_TTL, CHART_CACHE_SIZE)
        self._country = country
        self._currency = currency

    async def handle(self, event: RecordedEvent) -> None:
        """The Subscriber port: check one posted entry."""
        if event.type == JOURNAL_ENTRY_POSTED and isinstance(event.data, JournalEntryPostedData):
            await self.check(event)

    async def check(self, event: RecordedEvent) -> TransactionFailedComplianceData | None:
        """Check one posted entry; what was found (None: nothing, or already recorded)."""
        assert isinstance(event.data, JournalEntryPostedData)
        entry = event.data
        tenant = event.tenant_id
        finding_id = compliance_id(event.id, "finding")
        async with self._uow() as uow:
            if await uow.events.read_stream(tenant, finding_id):
                return None  # handled before
            table = await tenant_tax_table(uow, tenant, self._country)
            locked = await uow.rules.periods(tenant, VAT_TERM)
            currency = await uow.rules.currency(self._currency)
            company = await uow.settings.review_rules(tenant)
        chart = await self._chart(tenant)
        findings = compliance_findings(
            entry,
            table=table,
            country=self._country,
            minor_units=currency.minor_units if currency is not None else 2,
            currency=self._currency,
            locked=locked,
            chart=chart,
            # No input VAT deducted before the registration took effect (ADR 0064 addendum).
            registered_from=company.vat_registered_from if company.vat_registered else None,
        )
        if not findings:
            return None
        reversal_id = await self._propose_reversal(event, entry, findings)
        record = TransactionFailedComplianceData(
            entry_id=str(event.stream_id),
            entry_date=entry.date,
            findings=tuple(
                ComplianceFinding(rule=f.rule, message=f.message, evidence=f.evidence)
                for f in findings
            ),
            reversal_proposal_id=None if reversal_id is None else str(reversal_id),
        )
        now = self._clock.now()
        rules = ", ".join(sorted({f.rule for f in findings}))
        alert = AlertRaisedData(
            severity="warning",
            code="compliance",
            message=(
                f"entry {event.stream_id} of {entry.date} breaks {rules}: "
                + "; ".join(f.message for f in findings)
            )[:1000],
            proposal_id=None if reversal_id is None else str(reversal_id),
        )
        alert_id = compliance_id(event.id, "alert")
        async with self._uow() as uow:
            try:
                await uow.events.append(
                    tenant,
                    finding_id,
                    0,
                    [
                        stamp(
                            TRANSACTION_FAILED_COMPLIANCE,
                            record,
                            event_id=finding_id,
                            actor=COMPLIANCE_PRINCIPAL,
                            at=now,
                            correlation_id=event.correlation_id,
                            parent_id=event.id,
                        )
                    ],
                )
                await uow.events.append(
                    tenant,
                    alert_id,
                    0,
                    [
                        stamp(
                            ALERT_RAISED,
                            alert,
                            event_id=alert_id,
                            actor=COMPLIANCE_PRINCIPAL,
                            at=now,
                            correlation_id=event.correlation_id,
                            parent_id=finding_id,
                        )
                    ],
                )
                await uow.commit()
            except (DuplicateEvent, ConcurrencyConflict):
                return None  # another process recorded it first
        log.warning("compliance: %s", alert.message)
        return record

    async def _propose_reversal(
        self,
        event: RecordedEvent,
        entry: JournalEntryPostedData,
        findings: Iterable[object],
    ) -> uuid.UUID | None:
        """Propose reversing the proposal that posted the entry, or the entry itself when
        no proposal posted it (a manual or bus entry, ADR 0040 §4) — as the compliance
        principal; reviewed like any reversal. Its id."""
        target = entry.proposal_id if entry.proposal_id is not None else str(event.stream_id)
        reversal_id = compliance_id(event.id, "reversal")
        rules = sorted({getattr(f, "rule", "") for f in findings})
        principal = Principal(
            subject=COMPLIANCE_PRINCIPAL,
            tenant_id=event.tenant_id,
            roles=frozenset({COMPLIANCE_ROLE}),
        )
        command = SubmitEvent(
            principal=principal,
            type=REVERSAL_PROPOSED,
            data=ReversalData(
                target_proposal_id=target,
                reason=f"compliance: {', '.join(rules)} (entry {event.stream_id})",
            ),
            event_id=reversal_id,
            correlation_id=event.correlation_id,
        )
        try:
            await self._handlers.submit(command)
        except (DomainError, NotFound) as error:
            # Already reversed or being reversed (ours, from an earlier attempt, or a
            # person's): the finding stands and says which proposal it concerns.
            log.info("compliance: no reversal of %s: %s", target, error)
            async with self._uow() as uow:
                if not await uow.events.read_stream(event.tenant_id, reversal_id):
                    return None
        return reversal_id

    async def _chart(self, tenant: str) -> tuple[str, ...] | None:
        """The tenant's chart of accounts, best effort (None: not checked — an empty chart,
        or one that could not be read, which the next check asks for again), read from the
        books at most every CHART_TTL seconds per tenant and once for the entries that miss
        it at once (Fiken is rate-limited)."""
        if self._books_source is None:
            return None
        try:
            chart = await self._charts.get_or_load(tenant, lambda: self._read_chart(tenant))
        except (ApplicationError, OSError) as error:
            log.warning("compliance: chart of %s unavailable: %s", tenant, error)
            return None
        # An empty chart knows no account, so every line of every entry would be a finding
        # and each entry reversed: books that list no accounts (a company not set up yet, an
        # answer that lost its list) check nothing, as the account check at proposal time.
        return chart or None

    async def _read_chart(self, tenant: str) -> tuple[str, ...]:
        """Ask the books for the tenant's chart's codes (`_chart` keeps them)."""
        assert self._books_source is not None
        if self._books is None:
            self._books = await self._books_source()
        return tuple(account.code for account in await self._books(tenant).accounts())
