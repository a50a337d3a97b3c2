"""The journal entries an executed proposal posts to the ledger.

A proposal's booking (`posting_for` of its effective data) is posted when it is executed,
under an entry id derived from the proposal (`posting_id`), so a retried execution cannot
post it twice. A reversal posts the mirror of its target's posting; a correction posts that
mirror (as its "reversal") and then the corrected booking. Mirrors are dated in the
company's calendar. Posting them is `ledger.post_entry`'s, in the executor's record.

A correction's two entries share one date, so no period or VAT term holds one without the
other (ADR 0040 addendum): the date of the entry it corrects when that date is in no closed
period or locked VAT term, else the correction's own date (or the first open day after
it). A correction that changes the document date is the exception: its reversal is dated
so, its corrected entry on the new date, or the first open day after the closed periods
and locked terms holding it. A plain reversal is dated on the day it is executed, or the
first open day after it (ADR 0040 §4). Each entry's description says which date and why
(ADR 0040 addendum "every kind of posting").
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.application.event_log import posting_id
from bookkeeper.application.ports import RecordedEvent, UnitOfWork, UnitOfWorkFactory
from bookkeeper.application.tax_rates import read_tax_table, tenant_tax_table
from bookkeeper.domain.errors import NokAmountMissing, NotCompensable
from bookkeeper.domain.events import (
    CorrectionData,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    ProposalData,
    ReceiptAttachmentData,
    ReversalData,
    Step,
    event_type,
)
from bookkeeper.domain.ledger import MAX_DESCRIPTION, mirror, posting_for
from bookkeeper.domain.proposals import Proposal, apply_corrections
from bookkeeper.domain.rules import (
    VAT_TERM,
    Exchange,
    FiscalPeriod,
    TaxTable,
    exchange_for,
    first_open_day,
    foreign_currency,
    in_nok,
    shut_note,
    shut_on,
    touches_vat,
)

#: The executor posts these entries; what it cannot post is in its log.
log = logging.getLogger("bookkeeper.executor")

#: Reversals are dated in the company's calendar, not UTC's.
BOOKS_TIME_ZONE: Final = ZoneInfo("Europe/Oslo")


def booking(
    data: ProposalData,
    proposal_id: uuid.UUID,
    *,
    payment_account: str,
    payables_account: str,
    rates: TaxTable | None = None,
) -> JournalEntryPostedData | None:
    """The entry `data` books when executed (None: it books nothing); the DomainError
    (UnbalancedEntry …) when it cannot be posted. With `rates` (issue 12), each VAT rate
    is booked under the code the tax rates give it on the document's date."""
    return posting_for(
        data,
        proposal_id=str(proposal_id),
        payment_account=payment_account,
        payables_account=payables_account,
        rates=rates,
    )


async def executed_postings(
    uow: UnitOfWork,
    tenant_id: str,
    proposal_id: uuid.UUID,
    data: ProposalData,
    *,
    now: dt.datetime,
    payment_account: str,
    payables_account: str,
    stream: Sequence[RecordedEvent] = (),
    rates: TaxTable | None = None,
    closed: Sequence[FiscalPeriod] | None = None,
) -> list[tuple[uuid.UUID, JournalEntryPostedData]]:
    """The ledger entries the executed proposal (its effective `data`) posts, in order,
    with their derived ids. `stream`: the proposal's own stream when the caller holds it
    (the executor's claim read it), so its exchange record is not read again; `rates`: the
    tenant's tax rates as `uow` read them for the caller (None: read them now); `closed`:
    the tenant's closed periods and locked VAT terms as read in this unit (None: asked)."""
    pid = proposal_id
    today = now.astimezone(BOOKS_TIME_ZONE).date()
    if rates is None:
        rates = await tenant_tax_table(uow, tenant_id)

    def book(of: ProposalData) -> JournalEntryPostedData | None:
        return booking(
            of,
            pid,
            payment_account=payment_account,
            payables_account=payables_account,
            rates=rates,
        )

    result: list[tuple[uuid.UUID, JournalEntryPostedData]] = []
    match data:
        case ReversalData() | CorrectionData():
            target_id = uuid.UUID(data.target_proposal_id)
            target_entry_id = posting_id(target_id)
            target_entry = await posted_entry(uow, tenant_id, target_entry_id)
            if target_entry is None and isinstance(data, ReversalData):
                # ADR 0040 §4: the target is a journal entry itself (manual or bus).
                direct = await posted_entry(uow, tenant_id, target_id)
                if direct is not None:
                    target_entry_id, target_entry = target_id, direct
            dating: CorrectionDate | None = None
            corrected: JournalEntryPostedData | None = None
            target: Proposal | None = None
            moved = False  # a correction that changes the document date
            if isinstance(data, CorrectionData):
                target = await _executed_proposal(uow, tenant_id, target_id)
                exchange = await proposal_exchange(uow, tenant_id, target_id)
                fixed = apply_corrections(target.effective_data, data.changes)
                corrected = book(booked_in_nok(fixed, exchange))
                moved = _document_date(fixed) != _document_date(target.effective_data)
            if target_entry is None:
                log.warning("target %s of %s has no ledger posting to reverse", target_id, pid)
            else:
                # A correction posts the mirror and then the corrected entry, on one date.
                purpose = "reversal" if isinstance(data, CorrectionData) else "posting"
                mirror_id = posting_id(pid, purpose)
                reversed_entry = mirror(
                    target_entry,
                    entry_id=str(target_entry_id),
                    date=today,
                    proposal_id=str(pid),
                )
                vat = touches_vat(target_entry) or (
                    corrected is not None and touches_vat(corrected)
                )
                if isinstance(data, CorrectionData):
                    dating = await correction_date(
                        uow, tenant_id, target_entry.date, today, closed=closed, vat=vat
                    )
                else:
                    dating = await correction_date(
                        uow,
                        tenant_id,
                        target_entry.date,
                        today,
                        closed=closed,
                        vat=vat,
                        reversal=True,
                    )
                reversed_entry = dating.applied(reversed_entry)
                result.append((mirror_id, reversed_entry))
            if corrected is not None:
                if moved and target is not None:
                    # The cost belongs to another date: posted there, or on the first open
                    # day after it (`post_entry` moves it and says so), not on the
                    # reversal's date (ADR 0040 addendum, dated corrections).
                    was = _document_date(target.effective_data)
                    corrected = _with_note(corrected, f" (dokumentdato korrigert, var {was})")
                elif dating is not None:
                    corrected = dating.applied(corrected)
                result.append((posting_id(pid), corrected))
        case _:
            exchange = (
                exchange_of(stream, pid) if stream else await proposal_exchange(uow, tenant_id, pid)
            )
            entry = book(booked_in_nok(data, exchange))
            if entry is not None:
                result.append((posting_id(pid), entry))
    return result


class CorrectionDate(msgspec.Struct, frozen=True, kw_only=True):
    """The date of a correction's reversal (and, unless it changes the document date, of
    its corrected entry), or of a plain reversal, and why."""

    date: dt.date
    #: The date of the entry the correction reverses.
    original: dt.date
    #: The closed period or locked VAT term holding `original`; None: it is open.
    closed_by: FiscalPeriod | None = None
    #: A plain reversal (ADR 0040 §4): dated on the day it is executed, `today`.
    reversal: bool = False
    today: dt.date | None = None
    #: The closed periods and locked terms the date was moved past from `today`.
    passed: tuple[FiscalPeriod, ...] = ()

    @property
    def note(self) -> str:
        """What the entries' descriptions say about their date (Norwegian, as the books);
        empty for a reversal dated today whose original is open."""
        what = "reversering" if self.reversal else "korrigering"
        if self.closed_by is not None:
            kind = "MVA-termin" if self.closed_by.kind == VAT_TERM else "periode"
            return (
                f" ({what} datert {self.date}: opprinnelig dato {self.original} "
                f"i lukket {kind} {self.closed_by.name})"
            )
        if not self.reversal:
            return f" (korrigering datert opprinnelig dato {self.original}: perioden er åpen)"
        if self.passed:
            return f" (reversering datert {self.date}: {self.today}, {shut_note(self.passed)})"
        return ""

    def applied(self, entry: JournalEntryPostedData) -> JournalEntryPostedData:
        """`entry` dated on the correction's date, its description saying why."""
        return msgspec.structs.replace(_with_note(entry, self.note), date=self.date)


def _with_note(entry: JournalEntryPostedData, note: str) -> JournalEntryPostedData:
    """`entry` with `note` after its description, trimmed to MAX_DESCRIPTION."""
    if not note:
        return entry
    description = entry.description
    if len(description) + len(note) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1 - len(note)] + "…"
    return msgspec.structs.replace(entry, description=description + note)


def _document_date(data: ProposalData) -> dt.date | None:
    return getattr(data, "date", None)


async def correction_date(
    uow: UnitOfWork,
    tenant_id: str,
    original: dt.date,
    today: dt.date,
    *,
    closed: Sequence[FiscalPeriod] | None = None,
    vat: bool = True,
    reversal: bool = False,
) -> CorrectionDate:
    """The one date of a correction of an entry dated `original` (ADR 0040 addendum): that
    date while it is in no closed period and (`vat`: the entries have VAT lines) no locked
    VAT term (a reported term); else the correction's date `today`, or the first day after
    the closed periods and locked terms holding it. A plain reversal (`reversal`) is dated
    `today` or the first open day after it whatever its original's date (ADR 0040 §4), and
    says why when that is not today or its original is shut. `closed`: the tenant's closed
    periods and locked terms as read in this unit (under the period lock); None: read now."""
    if closed is None:
        closed = await uow.rules.periods(tenant_id, lock_for="posting")
    period = shut_on(original, closed, vat=vat)
    if period is None and not reversal:
        return CorrectionDate(date=original, original=original)
    day, passed = first_open_day(today, closed, vat=vat)
    return CorrectionDate(
        date=day,
        original=original,
        closed_by=period,
        reversal=reversal,
        today=today,
        passed=tuple(passed),
    )


#: Where a foreign-currency proposal keeps its conversion (issue 12): the metadata of its
#: first event, written by Handlers.submit from the exchange-rate source or the bank
#: payment, or of the approval that gave the reviewer's NOK amount (ADR 0051).
EXCHANGE_METADATA: Final = "exchange"


async def proposal_exchange(
    uow: UnitOfWork, tenant_id: str, proposal_id: uuid.UUID
) -> Exchange | None:
    """The conversion recorded with a foreign-currency proposal, if any."""
    return exchange_of(await uow.events.read_stream(tenant_id, proposal_id), proposal_id)


def exchange_of(events: Sequence[RecordedEvent], proposal_id: uuid.UUID) -> Exchange | None:
    """The conversion recorded in a proposal's stream (`events`, read by the caller): the
    newest, so that a reviewer's NOK amount given on approval stands over the first
    event's (ADR 0051)."""
    return exchange_in([event.metadata for event in events], proposal_id)


def exchange_in(metadata: Sequence[Mapping[str, Any]], proposal_id: uuid.UUID) -> Exchange | None:
    """exchange_of over the metadata of a proposal's events, in the stream's order (for
    a reader that has only those, as the SAF-T export)."""
    for meta in reversed(metadata):
        raw = meta.get(EXCHANGE_METADATA)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            break
        try:
            return msgspec.convert(raw, Exchange, strict=False)
        except msgspec.ValidationError:
            break
    else:
        return None
    log.warning("proposal %s has an unreadable exchange record", proposal_id)
    return None


def booked_in_nok(data: ProposalData, exchange: Exchange | None) -> ProposalData:
    """What the ledger books of a proposal: a foreign-currency purchase in NOK at its
    recorded conversion; anything else as it is. A foreign-currency purchase without
    one is never booked in its own amounts as if they were NOK: NokAmountMissing
    (ADR 0051)."""
    currency = foreign_currency(data)
    if currency is None:
        return data
    exchange = exchange_for(data, exchange)
    if exchange is None:
        raise NokAmountMissing(
            f"the {currency} document has no NOK amount: approve it with the amount in "
            "NOK (nokAmount) or configure BOOKKEEPER_EXCHANGE_RATES"
        )
    assert isinstance(
        data, ReceiptAttachmentData | InvoiceRegistrationData | ExpenseRegistrationData
    )
    return in_nok(data, exchange)


async def tax_table(uow_factory: UnitOfWorkFactory, tenant_id: str) -> TaxTable:
    """Norway's tax rates as data in force for the tenant (issue 12, ADR 0040), read in a
    unit of work of their own."""
    return await read_tax_table(uow_factory, tenant_id)


async def posted_entry(
    uow: UnitOfWork, tenant_id: str, entry_id: uuid.UUID
) -> JournalEntryPostedData | None:
    """The journal entry posted under `entry_id`, if any."""
    for event in await uow.events.read_stream(tenant_id, entry_id):
        if isinstance(event.data, JournalEntryPostedData):
            return event.data
    return None


async def reversible_entry(
    uow: UnitOfWork, tenant_id: str, entry_id: uuid.UUID
) -> RecordedEvent | None:
    """The posting of a journal entry a reversal may target directly (ADR 0040 §4): one
    posted by hand (POST /journal-entries) or from the bus. None when `entry_id` names no
    journal entry. NotCompensable for a reversal (reverse what it reversed instead: post
    it again) and for an executed proposal's posting (reverse the proposal: its effect
    outside the ledger, in Fiken or Folio, is taken back with it)."""
    for event in await uow.events.read_stream(tenant_id, entry_id):
        entry = event.data
        if not isinstance(entry, JournalEntryPostedData):
            continue
        if entry.reverses_entry_id is not None:
            raise NotCompensable(
                f"journal entry {entry_id} is a reversal; it cannot be reversed",
                current="POSTED",
            )
        if entry.proposal_id is not None:
            raise NotCompensable(
                f"journal entry {entry_id} was posted by proposal {entry.proposal_id}: "
                "reverse that proposal",
                current="POSTED",
            )
        return event
    return None


async def _executed_proposal(uow: UnitOfWork, tenant_id: str, proposal_id: uuid.UUID) -> Proposal:
    """A correction's target, which the correction's execution found EXECUTED."""
    events = await uow.events.read_stream(tenant_id, proposal_id)
    assert events and event_type(events[0].type).step is Step.PROPOSED
    return Proposal.rehydrate(str(proposal_id), events)
