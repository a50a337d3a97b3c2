"""The ledger: a balanced entry becomes a JournalEntryPosted event and its lines; reports.

Every posting — by the executor for an executed proposal (which entries: postings.py), or
a manual entry by an accountant — is one JournalEntryPosted event in its own stream (the
entry id), appended at version 0 so that posting the same entry twice is refused by the log
itself, and folded into the ledger projection in the same transaction.

`LedgerService` is the use-case layer of POST /journal-entries and of the reports: trial
balance, general ledger (keyset pages with running balances), VAT per bi-monthly term,
and the account codes the tenant's chart of accounts (from the books) does not know. Every
balance is debit minus credit. `ledger_lines`/`daily_totals` compute the projection's rows
once for every adapter, and `fold_journal_entries` is the ledger's part of a replay.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, Protocol, runtime_checkable

import msgspec

from bookkeeper.application import account_names as accounts_master
from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    DuplicateEvent,
    IdempotencyConflict,
    NotFound,
)
from bookkeeper.application.event_log import manual_entry_id, stamp
from bookkeeper.application.ports import (
    Authorizer,
    Books,
    BooksProvider,
    Clock,
    Ids,
    LedgerLineView,
    NewEvent,
    Principal,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.postings import BOOKS_TIME_ZONE, EXCHANGE_METADATA
from bookkeeper.application.queries import clamp_limit
from bookkeeper.application.tax_rates import tenant_tax_table
from bookkeeper.application.ttl_cache import TtlCache
from bookkeeper.domain import approval, money, statements, vat_registration
from bookkeeper.domain.events import (
    JournalEntryPostedData,
    JournalLine,
    encode_payload,
)
from bookkeeper.domain.ledger import (
    INPUT,
    MAX_DESCRIPTION,
    OUTPUT,
    PURCHASES,
    RETURN_CODES,
    SALES,
    VAT_ONLY_RETURN_CODES,
    InvalidReportPeriod,
    VatTerm,
    check_account_codes,
    check_balanced,
    check_deductions,
    check_description,
    check_entry_date,
    company_vat_term,
    files_return_for,
    natural_amount,
    return_line_deviation,
    return_line_remark,
    saft_vat_code,
    unknown_accounts,
    vat_term,
    vat_term_to_show,
)
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.rules import (
    PERIOD,
    REVERSE_CHARGE,
    Exchange,
    FiscalPeriod,
    PeriodClosed,
    VatTermLocked,
    first_open_day,
    shut_note,
    shut_on,
    touches_vat,
)
from bookkeeper.domain.statements import BalanceSheet, IncomeStatement

JOURNAL_ENTRY_POSTED = "JournalEntryPosted"
#: The action that lets a principal book entries translated from external events (the
#: bus consumer's service principal, the local bus route's callers: system and admin).
BUS_INGEST: Final = "bus:ingest"

#: What post_entry does with an entry dated into a closed period: refuse it (409) …
REFUSE: Final = "refuse"
#: … or date it on the first open day after the period (the executor's postings).
NEXT_OPEN: Final = "next-open"


async def post_entry(
    uow: UnitOfWork,
    tenant_id: str,
    entry: JournalEntryPostedData,
    *,
    entry_id: uuid.UUID,
    actor: str,
    correlation_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    now: dt.datetime,
    metadata: dict[str, Any] | None = None,
    fold: bool = True,
    into_closed: str = REFUSE,
    closed: Sequence[FiscalPeriod] | None = None,
) -> RecordedEvent:
    """Append the entry (UnbalancedEntry unless it balances) and fold it into the ledger.

    The caller commits. A second post of the same entry id raises ConcurrencyConflict or
    DuplicateEvent from the log. With `fold=False` the caller folds the returned event
    itself, before committing (`fold_journal_entries`, several entries in one go).

    An entry dated into a closed period (issue 12), or with VAT lines into a locked VAT
    term (ADR 0040 addendum), raises PeriodClosed or VatTermLocked (409), or with
    `into_closed=NEXT_OPEN` (the executor, whose action in the books is already done; an
    entry from the bus) is dated the first day after them instead, which says so.
    `closed`: the tenant's closed periods and locked terms, when the caller read them in
    this unit (`closed_periods`)."""
    new = await entry_event(
        uow,
        tenant_id,
        entry,
        entry_id=entry_id,
        actor=actor,
        correlation_id=correlation_id,
        parent_id=parent_id,
        now=now,
        metadata=metadata,
        into_closed=into_closed,
        closed=closed,
    )
    [recorded] = await uow.events.append(tenant_id, entry_id, 0, [new])
    if fold:
        # The entry as appended: moved past closed periods (NEXT_OPEN), not as asked.
        posted = recorded.data
        assert isinstance(posted, JournalEntryPostedData)
        await uow.ledger.post(tenant_id, entry_id, recorded.position, now, posted)
    return recorded


async def entry_event(
    uow: UnitOfWork,
    tenant_id: str,
    entry: JournalEntryPostedData,
    *,
    entry_id: uuid.UUID,
    actor: str,
    correlation_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    now: dt.datetime,
    metadata: dict[str, Any] | None = None,
    into_closed: str = REFUSE,
    closed: Sequence[FiscalPeriod] | None = None,
) -> NewEvent:
    """`post_entry`'s event, checked (balanced, its period open or moved past it), not yet
    appended: the first event of the stream `entry_id` (the executor appends several
    entries at once, EventStore.append_many)."""
    check_balanced(entry.lines)
    entry = await open_period_entry(uow, tenant_id, entry, into_closed=into_closed, closed=closed)
    return stamp(
        JOURNAL_ENTRY_POSTED,
        entry,
        event_id=entry_id,
        actor=actor,
        at=now,
        correlation_id=correlation_id,
        parent_id=parent_id,
        metadata=metadata,
    )


async def open_period_entry(
    uow: UnitOfWork,
    tenant_id: str,
    entry: JournalEntryPostedData,
    *,
    into_closed: str = REFUSE,
    closed: Sequence[FiscalPeriod] | None = None,
) -> JournalEntryPostedData:
    """`entry` when its date is open to it: in no closed period and, for an entry with
    VAT lines, in no locked (reported) VAT term. Else PeriodClosed or VatTermLocked (409),
    or (NEXT_OPEN) the entry moved to the first day after the periods and terms it falls
    into, its description saying which. `closed`: the tenant's closed periods and locked
    VAT terms as read in this unit (`RulesStore.closed_periods`, under the period lock);
    None: read now, under the lock (`periods(lock_for="posting")`)."""
    if closed is None:
        closed = await uow.rules.periods(tenant_id, lock_for="posting")
    vat = touches_vat(entry)
    period = shut_on(entry.date, closed, vat=vat)
    if period is None:
        return entry
    if into_closed != NEXT_OPEN:
        if period.kind == PERIOD:
            raise PeriodClosed(period, entry.date)
        raise VatTermLocked(period, entry.date)
    day, passed = first_open_day(entry.date, closed, vat=vat)
    note = f" (dokumentdato {entry.date}, {shut_note(passed)})"
    description = entry.description
    if len(description) + len(note) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1 - len(note)] + "…"
    return msgspec.structs.replace(entry, date=day, description=description + note)


# --- the projection's rows, computed once for every adapter -----------------------------


class LedgerPosting(msgspec.Struct, frozen=True, kw_only=True):
    """One JournalEntryPosted as the ledger projection takes it."""

    tenant_id: str
    entry_id: uuid.UUID
    position: int
    posted_at: dt.datetime
    entry: JournalEntryPostedData

    @classmethod
    def of(
        cls,
        tenant_id: str,
        entry_id: uuid.UUID,
        position: int,
        posted_at: dt.datetime,
        entry: JournalEntryPostedData,
    ) -> LedgerPosting:
        """The posting of one entry, for projections whose `post` is `post_many` of one."""
        return cls(
            tenant_id=tenant_id,
            entry_id=entry_id,
            position=position,
            posted_at=posted_at,
            entry=entry,
        )


@runtime_checkable
class BulkLedger(Protocol):
    """What a ledger projection may offer beyond the port: posting many entries in a few
    statements, which a replay of a long log needs (a `post` per entry is a round trip or
    two each). Not in ports.py (yet): replay falls back to `post` without it."""

    async def post_many(self, postings: Sequence[LedgerPosting]) -> None:
        """`post` for each posting (each idempotent by entry id), in order."""
        ...


def _optional_uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def ledger_lines(posting: LedgerPosting) -> list[LedgerLineView]:
    """The `journal_lines` rows of a posting, numbered from 1, in øre; a line without a
    description of its own carries the entry's (so a general ledger reads on its own)."""
    entry = posting.entry
    proposal_id = _optional_uuid(entry.proposal_id)
    return [
        LedgerLineView(
            tenant_id=posting.tenant_id,
            entry_id=posting.entry_id,
            line_no=number,
            position=posting.position,
            date=entry.date,
            account=line.account,
            debit=money.round_kr(line.debit),
            credit=money.round_kr(line.credit),
            description=line.description or entry.description,
            vat_code=line.vat_code,
            vat_part=line.vat_part,
            source=entry.source,
            proposal_id=proposal_id,
            posted_at=posting.posted_at,
        )
        for number, line in enumerate(entry.lines, start=1)
    ]


DayKey = tuple[str, str, dt.date]


def daily_totals(lines: Iterable[LedgerLineView]) -> dict[DayKey, tuple[Decimal, Decimal]]:
    """Debits and credits per (tenant, account, date): the `ledger_daily` increments. One
    row per key, as an upsert of several rows may touch each row only once."""
    totals: dict[DayKey, tuple[Decimal, Decimal]] = {}
    for line in lines:
        key = (line.tenant_id, line.account, line.date)
        debit, credit = totals.get(key, (Decimal("0.00"), Decimal("0.00")))
        totals[key] = (debit + line.debit, credit + line.credit)
    return totals


async def fold_journal_entries(uow: UnitOfWork, events: Iterable[RecordedEvent]) -> int:
    """Fold the JournalEntryPosted events among `events` into the ledger (replay); how many."""
    postings = [
        LedgerPosting(
            tenant_id=event.tenant_id,
            entry_id=event.stream_id,
            position=event.position,
            posted_at=event.created_at,
            entry=event.data,
        )
        for event in events
        if event.type == JOURNAL_ENTRY_POSTED and isinstance(event.data, JournalEntryPostedData)
    ]
    ledger = uow.ledger
    if isinstance(ledger, BulkLedger):
        await ledger.post_many(postings)
    else:
        for p in postings:
            await ledger.post(p.tenant_id, p.entry_id, p.position, p.posted_at, p.entry)
    return len(postings)


# --- manual entries and reports ---------------------------------------------------------

MANUAL: Final = "manual"


def into_closed_for(source: str) -> str:
    """What a posting of `source` does with a date in a closed period or (with VAT
    lines) a locked VAT term: a manual entry is refused (409: the accountant dates it
    again); an entry from the bus (an invoice another service issued: a fact, not a
    request) is booked on the first open day, saying so, as the executor's postings are
    — dead-lettering it would leave it out of the books."""
    return REFUSE if source == MANUAL else NEXT_OPEN


BooksSource = Callable[[], Awaitable[BooksProvider]]
"""Opens the books backend when a report first needs it (Fiken, or the sandbox)."""


class ChartUnavailable(ApplicationError):
    """No books backend was given to the service (a wiring error: the container gives one)."""

    code = "chart-unavailable"


class InvalidCursor(ApplicationError):
    """A general-ledger cursor that this query did not hand out."""

    code = "invalid-cursor"


class PostedEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A journal entry as posted; `replayed` when an Idempotency-Key retry found it."""

    entry_id: uuid.UUID
    position: int
    posted_at: dt.datetime
    actor: str
    entry: JournalEntryPostedData
    replayed: bool = False


class TrialBalanceLine(msgspec.Struct, frozen=True, kw_only=True):
    """One account; every balance debit − credit (statements.period_balances)."""

    account: str
    #: Inngående balanse at the start: a balance-sheet account with every line before it,
    #: an income-statement account with its financial year's lines before it (zero on
    #: 1 January), 2050 with earlier years' result too; zero for an open start.
    opening: Decimal
    debit: Decimal
    credit: Decimal
    balance: Decimal  # debit − credit: the period's movement
    #: Ended years' result moved from 3xxx–8xxx to 2050 inside the period (a period that
    #: crosses a year end); zero within one financial year.
    carried: Decimal
    #: Utgående balanse at the end (opening + balance + carried), by the same rule.
    closing: Decimal


class TrialBalance(msgspec.Struct, frozen=True, kw_only=True):
    """Opening balance, turnover and closing balance per account over [start, end];
    debit always equals credit in the totals, and the opening, carried and closing
    columns each sum to zero."""

    start: dt.date | None
    end: dt.date | None
    accounts: list[TrialBalanceLine]
    debit: Decimal
    credit: Decimal
    balance: Decimal
    opening: Decimal
    carried: Decimal
    closing: Decimal


class GeneralLedgerLine(msgspec.Struct, frozen=True, kw_only=True):
    line: LedgerLineView
    #: Running: the opening balance plus every line up to this one. On the first line of
    #: a later financial year an income-statement account starts again from zero, and
    #: 2050 takes in the result of the years ended (as the trial balance's closing does).
    balance: Decimal


class GeneralLedgerPage(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    start: dt.date | None
    end: dt.date | None
    #: As the trial balance's opening: an income-statement account from its own year only.
    opening_balance: Decimal
    lines: list[GeneralLedgerLine]
    next_cursor: str | None
    #: On the last page only: the balance after the period's last line.
    closing_balance: Decimal | None


class VatReportLine(msgspec.Struct, frozen=True, kw_only=True):
    """One SAF-T code of a term, amounts in the sign a VAT return shows them."""

    vat_code: str
    rate: Decimal | None
    direction: str | None
    base: Decimal
    vat: Decimal
    #: Of a code without a direction (0, 6, 7, 20, an unknown code): SALES when its basis
    #: was booked on income accounts (shown credit-positive, as turnover), else PURCHASES
    #: (debit-positive); None for the others (ADR 0047 addendum 4).
    side: str | None = None
    #: A return line with a basis (output VAT, the reverse-charge VAT calculated) whose VAT
    #: lies more than a krone from basis × rate: by how much (VAT − basis × rate), else
    #: None. Skatteetaten marks such a return as deviating (R019, ADR 0064 addendum 3).
    deviation: Decimal | None = None
    #: A return line of the sign opposite to its kind (a sale's basis below zero, a
    #: deduction that pays): the rule that asks a remark (merknad) for it in the return,
    #: "R020" or "R021", else None (domain.ledger.return_line_remark, ADR 0064 addendum 4).
    remark: str | None = None


class VatReport(msgspec.Struct, frozen=True, kw_only=True):
    term: VatTerm
    #: The return's lines (mva-melding): its codes as it shows them (14 / 15 VAT only).
    lines: list[VatReportLine]
    input_vat: Decimal
    output_vat: Decimal
    #: Output minus input VAT: what the term's return pays (negative: a refund).
    payable: Decimal
    #: What the term booked under a code the return has no line for (0, 7, 20, 21–23, an
    #: unknown code), a purchase under 6, and the basis of 14 / 15: shown apart so nothing
    #: booked disappears, never counted in the totals.
    not_in_return: list[VatReportLine] = msgspec.field(default_factory=list)
    #: False for a company outside the VAT register (ADR 0056, addendum 4): it has no
    #: return, so nothing is in one (every line is `not_in_return`, the totals 0) and no
    #: due date applies. False too for a term that ended before the company's registration
    #: took effect (ADR 0064, addendum): then `registered_from` says when it did.
    vat_registered: bool = True
    registered_from: dt.date | None = None


#: The unknown-accounts report's backend when the Accounts Master's chart was used.
ACCOUNTS_MASTER: Final = "accounts-master"


class UnknownAccountsReport(msgspec.Struct, frozen=True, kw_only=True):
    backend: str  # the Books adapter whose chart was used ("fiken", "sandbox" …)
    chart_size: int
    accounts: list[str]


_ZERO: Final = Decimal("0.00")
_CURSOR_VERSION: Final = 1


class _Cursor(msgspec.Struct, frozen=True, array_like=True):
    """The keyset of the last line shown, the query it belongs to, and the running balance
    there — carried, so the next page continues the balance the client saw."""

    version: int
    account: str
    start: dt.date | None
    end: dt.date | None
    date: dt.date
    position: int
    line_no: int
    balance: Decimal


_cursor_encoder = msgspec.json.Encoder(decimal_format="string")
_cursor_decoder = msgspec.json.Decoder(_Cursor)


def _encode_cursor(cursor: _Cursor) -> str:
    return base64.urlsafe_b64encode(_cursor_encoder.encode(cursor)).decode().rstrip("=")


def _decode_cursor(text: str, account: str, start: dt.date | None, end: dt.date | None) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = _cursor_decoder.decode(raw)
    except (ValueError, msgspec.DecodeError):
        raise InvalidCursor("the cursor is not one this report handed out") from None
    if cursor.version != _CURSOR_VERSION or (cursor.account, cursor.start, cursor.end) != (
        account,
        start,
        end,
    ):
        raise InvalidCursor("the cursor belongs to another account or period")
    if not cursor.balance.is_finite():
        raise InvalidCursor("the cursor is not one this report handed out")
    return cursor


def _poster(principal: Principal) -> approval.Decider:
    """The principal as the posting rules see it (ABAC attributes from the token)."""
    return approval.Decider(
        actor=principal.actor,
        approval_limit=principal.attributes.get(approval.APPROVAL_LIMIT_ATTRIBUTE),
        department=principal.attributes.get(approval.DEPARTMENT_ATTRIBUTE),
        admin="admin" in principal.roles,
    )


def _posted(event: RecordedEvent) -> PostedEntry:
    assert isinstance(event.data, JournalEntryPostedData)
    return PostedEntry(
        entry_id=event.stream_id,
        position=event.position,
        posted_at=event.created_at,
        actor=event.actor,
        entry=event.data,
    )


def _replay_of(original: RecordedEvent | None, fingerprint: str) -> PostedEntry:
    """The entry already in the log answering a repeat of the same entry (`replayed`);
    IdempotencyConflict when the id holds something else."""
    if (
        original is None
        or original.type != JOURNAL_ENTRY_POSTED
        or not isinstance(original.data, JournalEntryPostedData)
        or original.metadata.get("requestHash") != fingerprint
    ):
        raise IdempotencyConflict(
            "this idempotency key was already used for a different journal entry"
        )
    return msgspec.structs.replace(_posted(original), replayed=True)


def entry_fingerprint(entry: JournalEntryPostedData) -> str:
    """A hash of what a manual post asked for, to tell a retry from a reused key."""
    return hashlib.sha256(encode_payload(entry)).hexdigest()


def _no_carry(year: int | None) -> Decimal:
    """No earlier result carried (every account but 2050)."""
    return _ZERO


def _check_period(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidReportPeriod(f"the period starts ({start}) after it ends ({end})")


def _plain_rate(rate: Decimal) -> Decimal:
    """A rate as the report has always shown it: 25, 11.11 (not 25.00 nor 1E+1)."""
    plain = rate.normalize()
    return plain.quantize(Decimal(1)) if plain.as_tuple().exponent > 0 else plain  # type: ignore[operator]


def _reverse_charge_lines(
    vat_code: str, rate: Decimal | None, base: Decimal, vat: Decimal, output: Decimal
) -> list[VatReportLine]:
    """A reverse-charge code as the return shows it (ADR 0047): the basis (a purchase's
    cost, debit) with the output VAT calculated on it, and — for a deductible code, or
    whenever something was deducted — the deduction as input VAT (no basis of its own)."""
    lines = [VatReportLine(vat_code=vat_code, rate=rate, direction=OUTPUT, base=base, vat=-output)]
    deducted = vat - output
    if deducted or REVERSE_CHARGE[vat_code].input_account is not None:
        lines.append(
            VatReportLine(vat_code=vat_code, rate=rate, direction=INPUT, base=_ZERO, vat=deducted)
        )
    return lines


def _sided_lines(
    vat_code: str,
    rate: Decimal | None,
    totals: tuple[Decimal, Decimal, Decimal, Decimal],
) -> list[VatReportLine]:
    """A code without a direction, split by the side it was booked on (addendum 4): the
    basis on income accounts and the VAT on output VAT accounts as a sale, credit-positive
    (a sale outside the Act shows a positive turnover); the rest as a purchase,
    debit-positive. A side with nothing is no line; a code whose both sides net to zero is
    one zero line of its purchases."""
    base, vat, output, income = totals
    lines = []
    if income or output:
        lines.append(
            VatReportLine(
                vat_code=vat_code, rate=rate, direction=None, base=-income, vat=-output, side=SALES
            )
        )
    if base - income or vat - output or not lines:
        lines.append(
            VatReportLine(
                vat_code=vat_code,
                rate=rate,
                direction=None,
                base=base - income,
                vat=vat - output,
                side=PURCHASES,
            )
        )
    return lines


def _code_order(code: str) -> tuple[int, str]:
    return (int(code), code) if code.isdigit() else (10**9, code)


class LedgerService:
    """Manual journal entries and the ledger's reports, for one caller at a time."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        authorizer: Authorizer,
        backends_books: BooksProvider | None = None,
        *,
        books_source: BooksSource | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._authorizer = authorizer
        self._books = backends_books
        self._books_source = books_source
        #: tenant → (code → name): the chart's names, see `account_names`.
        self._names: TtlCache[str, dict[str, str]] = TtlCache(NAMES_TTL, NAMES_CACHE_SIZE)

    async def unknown_currencies(self, codes: Iterable[str]) -> frozenset[str]:
        """Of `codes`, those the currencies table (ISO 4217, GET /rules/currencies) lacks,
        read in one unit of work (StorageUnavailable propagates)."""
        async with self._uow() as uow:
            return frozenset(
                [code for code in set(codes) if await uow.rules.currency(code) is None]
            )

    # --- POST /journal-entries ----------------------------------------------------------

    async def post_manual(
        self,
        principal: Principal,
        date: dt.date,
        description: str,
        lines: Sequence[JournalLine],
        idempotency_key: str | None = None,
        department: str | None = None,
    ) -> PostedEntry:
        """POST /journal-entries: `record` of a manual entry."""
        return await self.record(
            principal,
            RecordJournalEntry(
                date=date,
                description=description,
                lines=tuple(lines),
                department=department,
                idempotency_key=idempotency_key,
            ),
        )

    async def record(self, principal: Principal, command: RecordJournalEntry) -> PostedEntry:
        """Post a balanced entry (UnbalancedEntry, InvalidJournalEntry otherwise), for any
        source: RBAC (`ledger:post` for a manual entry, `bus:ingest` for one translated
        from an external event), then the ABAC rule of decision 4 (domain.approval.
        authorise_posting: approval limit, department), recorded on the event.

        The entry id is the command's (an external event's derived id), else derived from
        tenant, actor and Idempotency-Key, else new. A post of an id already in the log
        finds the original: the same entry answers it (`replayed`), another one raises
        IdempotencyConflict."""
        self._check(principal, command)
        async with self._uow() as uow:
            rules = await uow.settings.review_rules(principal.tenant_id)
        entry, fingerprint, rule = self._prepare(principal, command, rules)
        key = command.idempotency_key
        entry_id = command.entry_id
        if entry_id is None and key is not None:
            entry_id = manual_entry_id(principal.tenant_id, principal.actor, key)
        exchange = command.exchange
        if entry_id is None:
            return await self._post(
                principal, entry, self._ids.new_id(), fingerprint, None, rule, exchange
            )
        try:
            return await self._post(principal, entry, entry_id, fingerprint, key, rule, exchange)
        except (DuplicateEvent, ConcurrencyConflict):
            return await self._replayed(principal, entry_id, fingerprint)

    def _check(self, principal: Principal, command: RecordJournalEntry) -> None:
        """RBAC and the entry's own shape (before anything is read)."""
        manual = command.source == MANUAL
        self._authorizer.check(principal, "ledger:post" if manual else BUS_INGEST)
        check_description(command.description)
        check_entry_date(command.date)
        check_balanced(command.lines)
        check_account_codes(command.lines)
        check_deductions(command.lines)

    def _prepare(
        self, principal: Principal, command: RecordJournalEntry, rules: ReviewRules
    ) -> tuple[JournalEntryPostedData, str, str]:
        """The entry as it will be posted, its fingerprint and the ABAC rule allowing it.
        A company outside the VAT register books no VAT code that carries VAT (ADR 0056,
        addendum 4): refused here, for REST and the bus alike (a bus message is
        dead-lettered with the reason)."""
        if not rules.vat_registered:
            vat_registration.check_entry(command.lines)
        lines = tuple(
            msgspec.structs.replace(
                line, debit=money.round_kr(line.debit), credit=money.round_kr(line.credit)
            )
            for line in command.lines
        )
        decider = _poster(principal)
        department = command.department
        if department is None and rules.departments and not decider.admin:
            department = approval.clean_department(decider.department)
        amount = sum((line.debit for line in lines), _ZERO)
        rule = approval.authorise_posting(rules, amount, department, decider)
        entry = JournalEntryPostedData(
            date=command.date,
            description=command.description,
            lines=lines,
            source=command.source,
            department=department,
            external_ref=command.external_ref,
        )
        return entry, entry_fingerprint(entry), rule

    async def record_many(
        self, items: Sequence[tuple[Principal, RecordJournalEntry]]
    ) -> list[PostedEntry | Exception]:
        """`record` of many external entries (each with its own `entry_id`) in ONE unit
        of work and one commit — the bus's batch append. Per item the same checks, ABAC
        rule and exactly-once answer as `record`: a PostedEntry (`replayed` for an id
        already in the log or twice in the batch) or the error that refused it (RBAC,
        ABAC, unbalanced, IdempotencyConflict); an entry dated into a closed period or (with
        VAT lines) a locked VAT term is booked on the first open day after it, as `record`
        books an entry from the bus (`into_closed_for`).
        StorageUnavailable (or any failure of the unit itself) propagates: nothing of the
        batch was committed.

        The unit's round trips do not grow with the batch: the tenants' review rules and
        closed periods are read once per tenant, every new entry goes in with one
        multi-row append (`EventStore.append_first`, expected version 0: an id already
        taken is skipped, not an error), their ledger lines with one fold, and the
        originals of the duplicates with one read."""
        results: list[PostedEntry | Exception | None] = [None] * len(items)
        checked: list[int] = []
        for index, (principal, command) in enumerate(items):
            try:
                if command.entry_id is None:
                    raise ValueError("a batch entry needs its entry_id")
                self._check(principal, command)
                checked.append(index)
            except Exception as error:
                results[index] = error
        if not checked:
            return [r if r is not None else RuntimeError("not recorded") for r in results]
        tenants = sorted({items[i][0].tenant_id for i in checked})
        now = self._clock.now()
        async with self._uow() as uow:
            rules_of: dict[str, ReviewRules] = {}
            closed_of: dict[str, list[FiscalPeriod]] = {}
            for tenant in tenants:
                rules_of[tenant] = await uow.settings.review_rules(tenant)
                closed_of[tenant] = await uow.rules.periods(tenant, lock_for="posting")
            prepared: list[tuple[int, Principal, JournalEntryPostedData, uuid.UUID, str]] = []
            new_events: list[tuple[str, uuid.UUID, NewEvent]] = []
            for index in checked:
                principal, command = items[index]
                try:
                    entry, fingerprint, rule = self._prepare(
                        principal, command, rules_of[principal.tenant_id]
                    )
                    check_balanced(entry.lines)
                    entry = await open_period_entry(
                        uow,
                        principal.tenant_id,
                        entry,
                        into_closed=into_closed_for(command.source),
                        closed=closed_of[principal.tenant_id],
                    )
                except Exception as error:
                    results[index] = error
                    continue
                assert command.entry_id is not None
                metadata = _entry_metadata(fingerprint, rule, command.exchange)
                prepared.append((index, principal, entry, command.entry_id, fingerprint))
                new_events.append(
                    (
                        principal.tenant_id,
                        command.entry_id,
                        stamp(
                            JOURNAL_ENTRY_POSTED,
                            entry,
                            event_id=command.entry_id,
                            actor=principal.actor,
                            at=now,
                            correlation_id=command.entry_id,
                            metadata=metadata,
                        ),
                    )
                )
            # One order of inserts for every batch: two replicas' batches holding the same
            # ids wait for each other on PostgreSQL, but never deadlock.
            order = sorted(range(len(prepared)), key=lambda k: prepared[k][3])
            prepared = [prepared[k] for k in order]
            appended = await uow.events.append_first([new_events[k] for k in order])
            folded: list[RecordedEvent] = []
            duplicates: list[tuple[int, Principal, uuid.UUID, str]] = []
            for (index, principal, entry, entry_id, fingerprint), recorded in zip(
                prepared, appended, strict=True
            ):
                if recorded is None:  # the id is in the log, or earlier in this batch
                    duplicates.append((index, principal, entry_id, fingerprint))
                    continue
                folded.append(recorded)
                results[index] = PostedEntry(
                    entry_id=entry_id,
                    position=recorded.position,
                    posted_at=recorded.created_at,
                    actor=recorded.actor,
                    entry=entry,
                )
            # The batch's ledger lines in one go (one statement on SQL).
            await fold_journal_entries(uow, folded)
            found: dict[uuid.UUID, list[RecordedEvent]] = {}
            if duplicates:
                # The originals (committed by others, or inserted above) in one read.
                found = await uow.events.read_streams(
                    [(principal.tenant_id, entry_id) for _, principal, entry_id, _ in duplicates]
                )
            await uow.commit()
        for index, _principal, entry_id, fingerprint in duplicates:
            original = next((e for e in found.get(entry_id, []) if e.id == entry_id), None)
            try:
                results[index] = _replay_of(original, fingerprint)
            except IdempotencyConflict as error:
                results[index] = error
        return [r if r is not None else RuntimeError("not recorded") for r in results]

    async def _post(
        self,
        principal: Principal,
        entry: JournalEntryPostedData,
        entry_id: uuid.UUID,
        fingerprint: str,
        idempotency_key: str | None,
        rule: str = "",
        exchange: Exchange | None = None,
    ) -> PostedEntry:
        metadata = _entry_metadata(fingerprint, rule, exchange)
        if idempotency_key is not None:
            metadata["idempotencyKey"] = idempotency_key
        now = self._clock.now()
        async with self._uow() as uow:
            recorded = await post_entry(
                uow,
                principal.tenant_id,
                entry,
                entry_id=entry_id,
                actor=principal.actor,
                correlation_id=entry_id,
                parent_id=None,
                now=now,
                metadata=metadata,
                into_closed=into_closed_for(entry.source),
            )
            await uow.commit()
        return _posted(recorded)  # as posted: moved past closed periods, for the bus

    async def _replayed(
        self, principal: Principal, entry_id: uuid.UUID, fingerprint: str
    ) -> PostedEntry:
        async with self._uow() as uow:
            original = await uow.events.get(principal.tenant_id, entry_id)
        return _replay_of(original, fingerprint)

    async def entry(self, principal: Principal, entry_id: uuid.UUID) -> PostedEntry:
        """One posted entry of the tenant, as its event recorded it."""
        self._authorizer.check(principal, "reports:read")
        async with self._uow() as uow:
            event = await uow.events.get(principal.tenant_id, entry_id)
        if event is None or not isinstance(event.data, JournalEntryPostedData):
            raise NotFound(f"journal entry {entry_id} not found")
        return _posted(event)

    # --- reports ------------------------------------------------------------------------

    async def trial_balance(
        self, principal: Principal, start: dt.date | None, end: dt.date | None
    ) -> TrialBalance:
        """Opening balance, debits, credits, their difference and closing balance per
        account over [start, end] (statements.period_balances): one aggregate of the daily
        totals up to `end`, per account and year. An open end closes in the year of the
        last line in the books."""
        self._authorizer.check(principal, "reports:read")
        _check_period(start, end)
        async with self._uow() as uow:
            totals = await uow.ledger.year_totals(principal.tenant_id, start, end)
        accounts = [
            TrialBalanceLine(
                account=b.account,
                opening=b.opening,
                debit=b.debit,
                credit=b.credit,
                balance=b.debit - b.credit,
                carried=b.carried,
                closing=b.closing,
            )
            for b in statements.period_balances(totals, start, end)
        ]
        debit = sum((a.debit for a in accounts), _ZERO)
        credit = sum((a.credit for a in accounts), _ZERO)
        return TrialBalance(
            start=start,
            end=end,
            accounts=accounts,
            debit=debit,
            credit=credit,
            balance=debit - credit,
            opening=sum((a.opening for a in accounts), _ZERO),
            carried=sum((a.carried for a in accounts), _ZERO),
            closing=sum((a.closing for a in accounts), _ZERO),
        )

    async def _turnover(
        self, principal: Principal, start: dt.date | None, end: dt.date | None
    ) -> dict[str, Decimal]:
        """Debit − credit per account over [start, end]: the statements' input."""
        self._authorizer.check(principal, "reports:read")
        _check_period(start, end)
        async with self._uow() as uow:
            totals = await uow.ledger.trial_balance(principal.tenant_id, start, end)
        return {t.account: t.balance for t in totals}

    async def general_ledger(
        self,
        principal: Principal,
        account: str,
        start: dt.date | None,
        end: dt.date | None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> GeneralLedgerPage:
        """One page of the account's lines in [start, end] by (date, position, line), with
        the opening balance at `start` and the running balance on every line, by the
        trial balance's rule: an income-statement account opens each financial year at
        zero, 2050 with the earlier years' result (statements.carry_forward)."""
        self._authorizer.check(principal, "reports:read")
        _check_period(start, end)
        size = clamp_limit(limit)
        after = None if cursor is None else _decode_cursor(cursor, account, start, end)
        tenant = principal.tenant_id
        result_account = statements.is_result_account(account)
        equity = account == statements.RETAINED_EARNINGS
        opening = _ZERO
        async with self._uow() as uow:
            if start is not None:  # on every page, as the page shows it
                opening = await uow.ledger.opening_balance(tenant, account, start)
                if result_account:
                    first_day = statements.year_start(start)
                    opening -= await uow.ledger.opening_balance(tenant, account, first_day)
            keyset = None if after is None else (after.date, after.position, after.line_no)
            found = await uow.ledger.general_ledger(tenant, account, start, end, keyset, size + 1)
            more = len(found) > size
            shown = found[:size]
            # The year the balance so far is in: the last line shown, else the start's.
            year = after.date.year if after is not None else start.year if start else None
            closing_year = None
            if not more and (result_account or equity):
                until = end if end is not None else await uow.ledger.last_date(tenant)
                closing_year = None if until is None else until.year
            carried: Callable[[int | None], Decimal] = _no_carry
            first_year = None if start is None else start.year
            shown_years = (x.date.year for x in shown)
            years = [y for y in (first_year, year, closing_year, *shown_years) if y]
            if equity and years:
                eve = dt.date(max(years), 1, 1) - dt.timedelta(days=1)
                carried = statements.carried_before(await uow.ledger.year_totals(tenant, None, eve))
        if start is not None and equity:
            opening += carried(start.year)
        balance = opening if after is None else after.balance

        def into(day_year: int | None) -> None:
            """The balance carried into a later financial year (`year` → `day_year`)."""
            nonlocal balance, year
            if day_year is None or (year is not None and day_year <= year):
                return
            if result_account:
                balance = _ZERO
            elif equity:
                balance += carried(day_year) - carried(year)
            year = day_year

        lines: list[GeneralLedgerLine] = []
        for line in shown:
            into(line.date.year)
            balance += line.debit - line.credit
            lines.append(GeneralLedgerLine(line=line, balance=balance))
        if not more:
            into(closing_year)
        next_cursor = None
        if more:
            last = lines[-1].line
            next_cursor = _encode_cursor(
                _Cursor(
                    version=_CURSOR_VERSION,
                    account=account,
                    start=start,
                    end=end,
                    date=last.date,
                    position=last.position,
                    line_no=last.line_no,
                    balance=balance,
                )
            )
        return GeneralLedgerPage(
            account=account,
            start=start,
            end=end,
            opening_balance=opening,
            lines=lines,
            next_cursor=next_cursor,
            closing_balance=None if more else balance,
        )

    async def vat_report(
        self, principal: Principal, year: int | None = None, term: int | None = None
    ) -> VatReport:
        """Basis and VAT per SAF-T code of one term, with the return's due date: the
        bi-monthly `term` of `year`, or the year for a company on the yearly term (ADR
        0064; any of 1–6 asks for it). Without a year and a term: the term to report
        today as the company's calendar has it (`vat_term_to_show`, ADR 0064 addendum)."""
        self._authorizer.check(principal, "reports:read")
        if year is not None and term is not None:
            vat_term(year, term)  # 1–6, whatever the company's term
        today = self._clock.now().astimezone(BOOKS_TIME_ZONE).date()
        # Issue 12: each code's rate is the one valid on the posting's date; a term in
        # which a rate changes is summed in parts split at the change, one line per
        # (code, rate).
        async with self._uow() as uow:
            company = await uow.settings.review_rules(principal.tenant_id)
            if year is None or term is None:
                period = vat_term_to_show(today, company.vat_term, company.vat_registered_from)
            else:
                period = company_vat_term(year, term, company.vat_term)
            registered = company.vat_registered and files_return_for(
                period, company.vat_registered_from
            )
            table = await tenant_tax_table(uow, principal.tenant_id)
            starts = [period.start, *table.boundaries(period.start, period.end)]
            parts = []
            for first, after in zip(starts, [*starts[1:], None], strict=True):
                last = period.end if after is None else after - dt.timedelta(days=1)
                parts.append((first, await uow.ledger.vat_totals(principal.tenant_id, first, last)))
        merged: dict[tuple[str, Decimal | None], tuple[Decimal, Decimal, Decimal, Decimal]] = {}
        for first, totals in parts:
            for total in totals:
                row = table.rate_row(total.vat_code, first)
                rate = row.rate if row is not None else None
                if rate is None:
                    rate = saft_vat_code(total.vat_code).rate
                rate = None if rate is None else _plain_rate(rate)
                base, vat, output, income = merged.get(
                    (total.vat_code, rate), (_ZERO, _ZERO, _ZERO, _ZERO)
                )
                merged[(total.vat_code, rate)] = (
                    base + total.base,
                    vat + total.vat,
                    output + total.output,
                    income + total.income,
                )
        # The return's lines as the mva-melding shows them; the rest apart (addendum 4).
        lines: list[VatReportLine] = []
        apart: list[VatReportLine] = []
        for (vat_code, rate), summed in sorted(
            merged.items(), key=lambda item: (_code_order(item[0][0]), item[0][1] or 0)
        ):
            base, vat, output, _ = summed
            code = saft_vat_code(vat_code)
            if vat_code in REVERSE_CHARGE:
                lines.extend(_reverse_charge_lines(vat_code, rate, base, vat, output))
            elif code.direction is None:
                for line in _sided_lines(vat_code, rate, summed):
                    in_return = vat_code in RETURN_CODES and line.side == SALES
                    (lines if in_return else apart).append(line)
            else:
                line = VatReportLine(
                    vat_code=vat_code,
                    rate=rate,
                    direction=code.direction,
                    base=natural_amount(code, base),
                    vat=natural_amount(code, vat),
                )
                if vat_code in VAT_ONLY_RETURN_CODES:
                    lines.append(msgspec.structs.replace(line, base=_ZERO))
                    if line.base:
                        apart.append(msgspec.structs.replace(line, vat=_ZERO))
                else:
                    (lines if vat_code in RETURN_CODES else apart).append(line)
        if not registered:
            # No VAT return (ADR 0056, addendum 4): whatever was booked with a code is
            # shown apart, nothing counted.
            return VatReport(
                term=period,
                lines=[],
                input_vat=_ZERO,
                output_vat=_ZERO,
                payable=_ZERO,
                not_in_return=[*lines, *apart],
                vat_registered=False,
                registered_from=company.vat_registered_from if company.vat_registered else None,
            )
        lines = [
            msgspec.structs.replace(
                line,
                deviation=return_line_deviation(line.base, line.vat, line.rate)
                if line.direction == OUTPUT
                else None,
                remark=return_line_remark(line.vat_code, line.direction, line.base, line.vat),
            )
            for line in lines
        ]
        input_vat = sum((line.vat for line in lines if line.direction == INPUT), _ZERO)
        output_vat = sum((line.vat for line in lines if line.direction == OUTPUT), _ZERO)
        return VatReport(
            term=period,
            lines=lines,
            input_vat=input_vat,
            output_vat=output_vat,
            payable=output_vat - input_vat,
            not_in_return=apart,
        )

    async def unknown_accounts(self, principal: Principal) -> UnknownAccountsReport:
        """Account codes the ledger uses that the tenant's chart (from the books) lacks."""
        self._authorizer.check(principal, "reports:read")
        # Read before the unit of work: no transaction stays open across a remote call. A
        # failure of the books (ExternalError) is the caller's to see, as for any lookup.
        async with self._uow() as uow:
            master = await accounts_master.names(uow, principal.tenant_id)
            if master:  # the Accounts Master's chart where the tenant has one (issue 10)
                used = await uow.ledger.accounts_used(principal.tenant_id)
                return UnknownAccountsReport(
                    backend=ACCOUNTS_MASTER,
                    chart_size=len(master),
                    accounts=unknown_accounts(used, master),
                )
        books = await self._books_of(principal.tenant_id)
        chart = await books.accounts()
        async with self._uow() as uow:
            used = await uow.ledger.accounts_used(principal.tenant_id)
        return UnknownAccountsReport(
            backend=books.name,
            chart_size=len(chart),
            accounts=unknown_accounts(used, (account.code for account in chart)),
        )

    async def _books_of(self, tenant_id: str) -> Books:
        if self._books is None and self._books_source is not None:
            self._books = await self._books_source()
        if self._books is None:
            raise ChartUnavailable("no books backend is configured")
        return self._books(tenant_id)

    # --- account names and statements (issue 15) ---------------------------------------

    async def account_names(self, principal: Principal) -> AccountNames:
        """The names the tenant's chart gives its account codes, best effort: the chart is
        read from the books at most every `NAMES_TTL` seconds per tenant (and once for the
        reports that miss it at once), and a report is never refused because the books are
        down (its names are then empty; the next report asks the books again)."""
        self._authorizer.check(principal, "reports:read")
        tenant = principal.tenant_id
        async with self._uow() as uow:
            master = await accounts_master.names(uow, tenant)
        try:
            names = await self._names.get_or_load(tenant, lambda: self._chart_names(tenant))
        except (ApplicationError, OSError) as error:
            _log.warning("account names unavailable for %s: %s", tenant, error)
            return AccountNames(master)
        # The Accounts Master's names over the chart's (it owns the chart, decision 12).
        return AccountNames(names | master)

    async def _chart_names(self, tenant: str) -> dict[str, str]:
        """Ask the books for the names of the tenant's chart (`account_names` keeps them)."""
        chart = await (await self._books_of(tenant)).accounts()
        return {account.code: account.name for account in chart if account.name}

    async def income_statement(
        self, principal: Principal, start: dt.date | None, end: dt.date | None
    ) -> IncomeStatement:
        """Revenue, costs and result over [start, end], grouped by NS 4102 classes."""
        turnover = await self._turnover(principal, start, end)
        names = await self.account_names(principal)
        return statements.income_statement(turnover.items(), names)

    async def balance_sheet(self, principal: Principal, at: dt.date | None) -> BalanceSheet:
        """Assets, equity and liabilities at the end of `at` (every posting up to it; no
        `at`: today's financial year, today as the company's calendar has it — at 23:30
        UTC on 31 December it is already 1 January in Oslo). The result of the year is
        unallocated; earlier years' that no closing entries moved is in equity
        (statements.carry_forward)."""
        report = await self._turnover(principal, None, at)
        today = self._clock.now().astimezone(BOOKS_TIME_ZONE).date()
        eve = statements.year_start(at or today) - dt.timedelta(days=1)
        earlier = await self._turnover(principal, None, eve)
        names = await self.account_names(principal)
        balances = statements.carry_forward(report, earlier)
        return statements.balance_sheet(balances.items(), names)


#: Seconds the chart's account names are reused before the books are asked again.
NAMES_TTL: Final = 300.0
#: Tenants whose names are kept at most, oldest dropped first.
NAMES_CACHE_SIZE: Final = 1024
_log = logging.getLogger(__name__)


class AccountNames:
    """Account code → name from the chart; a sub-ledger code without its own name takes
    its main account's ("2400:20001" → the name of "2400")."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names

    def __call__(self, code: str) -> str | None:
        return self._names.get(code) or self._names.get(code.split(":", 1)[0])

    def __bool__(self) -> bool:
        return bool(self._names)


def _entry_metadata(fingerprint: str, rule: str, exchange: Exchange | None) -> dict[str, Any]:
    """A posted entry's metadata: its fingerprint, the ABAC rule that allowed it and, for
    a foreign-currency document, its conversion (as a proposal's stream records one)."""
    metadata: dict[str, Any] = {"requestHash": fingerprint}
    if rule:
        metadata["rule"] = rule
    if exchange is not None:
        metadata[EXCHANGE_METADATA] = msgspec.to_builtins(exchange)
    return metadata
