"""Ports: what the application needs from the outside, as typing.Protocols named by role."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self, TypeVar

import msgspec

from bookkeeper.application.errors import ConcurrencyConflict, DuplicateEvent
from bookkeeper.domain.events import CostSnapshotData, JournalEntryPostedData, Payload, Status
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.rules import Country, Currency, FiscalPeriod, TaxRate, TaxTable
from bookkeeper.domain.statements import YearTotal

# --- events -----------------------------------------------------------------------------


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event ready to be appended; the store assigns version and position."""

    id: uuid.UUID
    type: str
    schema_version: int
    status: Status | None
    actor: str
    data: Payload
    metadata: dict[str, Any]
    parent_id: uuid.UUID | None
    correlation_id: uuid.UUID
    created_at: dt.datetime


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored in the log."""

    position: int
    id: uuid.UUID
    tenant_id: str
    stream_id: uuid.UUID
    version: int
    type: str
    schema_version: int
    status: Status | None
    actor: str
    data: Payload
    metadata: dict[str, Any]
    parent_id: uuid.UUID | None
    correlation_id: uuid.UUID
    created_at: dt.datetime


class EventFilter(msgspec.Struct, frozen=True, kw_only=True):
    types: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    actor: str | None = None
    correlation_id: uuid.UUID | None = None
    stream_id: uuid.UUID | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    after_position: int = 0
    #: None above this position (None: no bound): a client's page stops where a position
    #: below it could still commit (`TrackingStore.settled`).
    until_position: int | None = None
    limit: int = 50
    #: Newest first (descending position): the latest `limit` events that match (the
    #: chat's "siste bilag"), one backward walk of the (tenant, type, position) index.
    newest_first: bool = False


class EventStore(Protocol):
    """The append-only event log, bound to the unit of work's transaction."""

    async def append(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> list[RecordedEvent]:
        """Append to one stream at versions expected+1…; ConcurrencyConflict or DuplicateEvent."""
        ...

    async def append_first(
        self, items: Sequence[tuple[str, uuid.UUID, NewEvent]]
    ) -> list[RecordedEvent | None]:
        """Start many streams at once: each (tenant, stream id, event) is appended as its
        stream's first event (expected version 0), in the order given, in as few round
        trips as the store can (one multi-row insert on SQL). Per item its RecordedEvent,
        or None when nothing was inserted because the event id or the stream is taken
        (also by an earlier item of the same call) — the transaction stays intact, and
        the caller tells a retry from a conflict by reading the id."""
        ...

    async def append_many(
        self, items: Sequence[tuple[str, uuid.UUID, int, NewEvent]]
    ) -> list[RecordedEvent | None]:
        """One event on each of many streams: each (tenant, stream id, expected version,
        event) is appended at version expected + 1, as `append` would, in the order given,
        in as few round trips as the store can (one multi-row insert on PostgreSQL). Per
        item its RecordedEvent, or None when nothing was inserted for it because the
        stream has moved on (or is not at that version for the tenant) or the event id is
        taken — also by an earlier item of the same call. The transaction stays intact;
        the caller tells a retry from a conflict by reading (issue 14: the executor's
        claims and records)."""
        ...

    async def read_stream(self, tenant_id: str, stream_id: uuid.UUID) -> list[RecordedEvent]:
        """All events of one stream of one tenant, by version (empty if none)."""
        ...

    async def read_streams(
        self, streams: Sequence[tuple[str, uuid.UUID]]
    ) -> dict[uuid.UUID, list[RecordedEvent]]:
        """`read_stream` of each (tenant, stream id) in one read, by stream id."""
        ...

    async def get(self, tenant_id: str, event_id: uuid.UUID) -> RecordedEvent | None:
        """One event of the tenant by id."""
        ...

    async def query(self, tenant_id: str, where: EventFilter) -> list[RecordedEvent]:
        """The tenant's events matching a filter, by position, after `after_position`."""
        ...

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Every tenant's events after a position, in position order (replay, publishing)."""
        ...

    async def read_by_stream(
        self, *, after: tuple[uuid.UUID, int] | None = None, limit: int = 1000
    ) -> list[RecordedEvent]:
        """Every tenant's events in (stream_id, version) order, after the event `after`
        names by (stream_id, version) (None: from the start): a stream's events arrive
        together, so replay can fold each stream as soon as it is complete."""
        ...


async def append_each(
    store: EventStore, items: Sequence[tuple[str, uuid.UUID, int, NewEvent]]
) -> list[RecordedEvent | None]:
    """`EventStore.append_many` by one `append` per item, for a store (or a batch) without a
    multi-row insert: an item `append` refuses (ConcurrencyConflict, DuplicateEvent) is None.
    A refused single-event append inserted nothing, so the transaction stays intact."""
    out: list[RecordedEvent | None] = []
    for tenant_id, stream_id, expected, event in items:
        try:
            [recorded] = await store.append(tenant_id, stream_id, expected, [event])
        except (ConcurrencyConflict, DuplicateEvent):
            out.append(None)
            continue
        out.append(recorded)
    return out


# --- read models ------------------------------------------------------------------------


class ProposalView(msgspec.Struct, frozen=True, kw_only=True):
    """Current state of one proposal (the `proposals` projection)."""

    id: uuid.UUID
    tenant_id: str
    kind: str
    type: str
    status: Status
    version: int
    correlation_id: uuid.UUID
    proposed_by: str
    proposed_at: dt.datetime
    updated_at: dt.datetime
    merchant_key: str | None
    merchant_name: str | None
    amount: Decimal | None
    document_date: dt.date | None
    document_number: str | None
    account_code: str | None
    vat_rate: Decimal | None
    data: dict[str, Any]
    corrections: dict[str, Any] | None
    confidence: Decimal | None
    review_outcome: str | None
    review_band: str | None
    review_rule: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_rule: str | None
    rejection_reason: str | None
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    external_ids: dict[str, str]
    target_proposal_id: uuid.UUID | None
    last_position: int
    #: Until when an executor holds the current attempt (None when not executing).
    lease_until: dt.datetime | None = None
    #: Who gave the first of two required approvals (migration 0005), if anyone did.
    endorsed_by: str | None = None
    #: The supplier's/merchant's organisation number, digits only (migration 0020).
    org_number: str | None = None


class PatternView(msgspec.Struct, frozen=True, kw_only=True):
    """An applied merchant pattern (the `patterns` projection)."""

    tenant_id: str
    merchant_key: str
    merchant_name: str
    account_code: str
    vat_rate: Decimal
    suggestion_id: uuid.UUID
    approved_by: str
    applied_at: dt.datetime
    last_position: int


class ProposalFilter(msgspec.Struct, frozen=True, kw_only=True):
    statuses: tuple[Status, ...] = ()
    kinds: tuple[str, ...] = ()
    after_position: int = 0
    #: None changed last above this position (None: no bound), as EventFilter's.
    until_position: int | None = None
    limit: int = 50


class DuplicateProbe(msgspec.Struct, frozen=True, kw_only=True):
    merchant_key: str
    amount: Decimal
    date_from: dt.date
    date_to: dt.date
    document_number: str | None
    exclude_id: uuid.UUID

    @property
    def middle(self) -> dt.date:
        """The middle of the date window (the document's own date, as the propose path
        builds the probe)."""
        return self.date_from + dt.timedelta(days=(self.date_to - self.date_from).days // 2)

    def order_key(
        self, same_number: bool, document_date: dt.date | None, proposal_id: uuid.UUID
    ) -> tuple[int, int, int, int]:
        """The order of duplicate candidates: the same document number first (by id), then
        by days from the middle of the window, the later side first, and on each side
        outwards from the middle by document date then id (ascending after the middle,
        descending before it, so that either side is one index walk)."""
        if same_number or document_date is None:
            return (0 if same_number else 2, 0, 0, proposal_id.int)
        days = (document_date - self.middle).days
        if days >= 0:
            return (1, days, 0, proposal_id.int)
        return (1, -days, 1, -proposal_id.int)


class ApprovalCounts(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    proposed: int
    approved: int
    auto_approved: int
    rejected: int
    pending: int
    executed: int
    failed: int


class ProposalProjection(Protocol):
    """The `proposals` read model."""

    async def upsert(self, view: ProposalView) -> None:
        """Insert or replace one proposal's current state."""
        ...

    async def upsert_many(self, views: Sequence[ProposalView]) -> None:
        """`upsert` of each view, in order (a later view of the same id wins), in as few
        statements as the store allows (replay)."""
        ...

    async def get(self, tenant_id: str, proposal_id: uuid.UUID) -> ProposalView | None:
        """One proposal of the tenant."""
        ...

    async def page(self, tenant_id: str, where: ProposalFilter) -> list[ProposalView]:
        """Proposals by last change position (keyset paging with after_position)."""
        ...

    async def find_duplicates(self, tenant_id: str, probe: DuplicateProbe) -> list[uuid.UUID]:
        """Earlier, not rejected proposals that look like the same document: at most
        DUPLICATE_LIMIT, by `DuplicateProbe.order_key` (the same number first, then the
        nearest document dates). Bounded by an index whatever the tenant's size (ADR 0032)."""
        ...

    async def same_document(
        self, tenant_id: str, document_hash: str, exclude_id: uuid.UUID
    ) -> list[uuid.UUID]:
        """Other, not rejected proposals of the tenant whose document (`documentHash`, the
        SHA-256 of the file, compared in lower case) is `document_hash`, whatever their
        fields say: at most DUPLICATE_LIMIT, first proposed first. The same receipt file
        sent again with another merchant spelling, amount, date or event id is the same
        receipt. Bounded by the (tenant, document) index whatever the tenant's size."""
        ...

    async def settled_data(
        self, tenant_id: str, kind: str, merchant_key: str, limit: int
    ) -> list[dict[str, Any]]:
        """The data (with its corrections applied) of the tenant's newest `limit` APPROVED
        or EXECUTED proposals of `kind` for the merchant key, newest change first: what is
        known of a supplier (issue 13). Bounded by LIMIT on the (tenant, merchant key)
        index whatever the tenant's size."""
        ...

    async def settled_data_of_org(
        self, tenant_id: str, kind: str, org_number: str, limit: int
    ) -> list[dict[str, Any]]:
        """As `settled_data`, for the counterparty's organisation number (digits) instead of
        its name: a supplier that changed its trade name is the same supplier (issue 13).
        Bounded by LIMIT on the (tenant, org number, kind) index (migration 0020)."""
        ...

    async def open_compensations(self, tenant_id: str, target_id: uuid.UUID) -> list[uuid.UUID]:
        """Reversals/corrections of a target that are pending, approved or executed."""
        ...

    async def bank_event_claims(self, tenant_id: str, folio_event_id: str) -> list[ProposalView]:
        """The tenant's APPROVED or EXECUTED receipts and corrections that name the bank
        event `folio_event_id` (a receipt's data or its approval's corrections, a
        correction's changes), by proposal time, at most BANK_CLAIMS_LIMIT (ADR 0051
        addendum: one bank transaction is paid out once in the books)."""
        ...

    async def lock_purchase(self, tenant_id: str, marks: Sequence[str]) -> None:
        """Serialise this unit of work, until it ends, with every other that locks one of
        the same marks of the tenant (what would make two proposals one purchase: the
        merchant's amount, its document number, the file), each mark once and all in one
        order, so that two units never wait for each other: PostgreSQL transaction-scoped
        advisory locks; where units of work are serialised already (SQLite's write turn)
        or single-process, nothing."""
        ...

    async def lock_bank_event(self, tenant_id: str, folio_event_id: str) -> None:
        """Serialise this unit of work, until it ends, with every other that locks the
        same bank event of the tenant (an approval's check and its commit, by a person or
        by the review rules at proposal time; ADR 0051 addendum): PostgreSQL a
        transaction-scoped advisory lock; where units of work are serialised already
        (SQLite's write turn) or single-process, nothing."""
        ...

    async def lock_compensations(self, tenant_id: str, target_id: uuid.UUID) -> None:
        """Serialise this unit of work, until it ends, with every other that proposes a
        reversal or correction of the same target of the tenant (its check that the target
        has none, `open_compensations`, and its commit): PostgreSQL a transaction-scoped
        advisory lock; where units of work are serialised already (SQLite's write turn)
        or single-process, nothing."""
        ...

    async def approval_counts(
        self, tenant_id: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[ApprovalCounts]:
        """Counts per kind of proposals made in [start, end)."""
        ...

    async def claim_due(
        self, now: dt.datetime, limit: int, exclude_tenants: Sequence[str] = ()
    ) -> list[ProposalView]:
        """Every tenant's APPROVED proposals that are due for an execution attempt: no retry
        time in the future and no executor's lease still running at `now`, oldest first;
        none of `exclude_tenants` (those a pass is still working for, issue 14).

        The rows are locked for the rest of the unit of work and skipped by other units
        doing the same (PostgreSQL: FOR UPDATE SKIP LOCKED), so two executors never claim
        the same proposal; the claimer records ExecutionStarted with a lease before commit."""
        ...

    async def renew_lease(
        self, tenant_id: str, proposal_id: uuid.UUID, attempt: int, lease_until: dt.datetime
    ) -> bool:
        """Extend the lease of a running attempt (the executor's heartbeat, ADR 0026): True
        when the proposal is still APPROVED under attempt `attempt` with a lease, so its
        lease now runs until `lease_until`; False when another attempt (or an outcome) has
        replaced it. Only the projection row changes: the event keeps the first lease, so
        a replay gives a lease that has run out, which the next claim reconciles."""
        ...

    async def clear(self) -> None:
        """Drop every row (before a replay)."""
        ...


class PatternProjection(Protocol):
    """The `patterns` read model."""

    async def upsert(self, view: PatternView) -> None:
        """Insert or replace the pattern of one merchant."""
        ...

    async def for_tenant(self, tenant_id: str) -> list[PatternView]:
        """All applied patterns of the tenant, by merchant."""
        ...

    async def page(self, tenant_id: str, after: str, limit: int) -> list[PatternView]:
        """At most `limit` of the tenant's applied patterns whose merchant key comes after
        `after` ("": from the first), by merchant key (GET /patterns, a page at a time)."""
        ...

    async def candidates(self, tenant_id: str, merchant_key: str) -> list[PatternView]:
        """The tenant's patterns that `domain.patterns.best_match` can pick for a merchant
        of this normalised key, by merchant key, without reading the others (ADR 0032):
        always the pattern of the key itself, of its word prefixes (`key_prefixes`) and the
        first one that extends it by whole words; then a bounded few near ones (the same
        first word, alphabetical neighbours, and on PostgreSQL the nearest by trigram
        distance). A store may return more (the in-memory one returns them all)."""
        ...

    async def clear(self) -> None:
        """Drop every row (before a replay)."""
        ...


#: How many duplicate candidates the propose path reads at most (scoring shows three).
DUPLICATE_LIMIT = 3
#: How many proposals naming one bank event `bank_event_claims` reads at most.
BANK_CLAIMS_LIMIT = 20
#: How many of a supplier's earlier settled invoices are read for its known payment account.
KNOWN_SUPPLIER_LIMIT = 5
#: How many near patterns each bounded part of a pattern lookup reads at most.
NEAR_PATTERN_LIMIT = 8


class ScoringInputs(msgspec.Struct, frozen=True, kw_only=True):
    """What scoring a new proposal reads: the merchant's candidate patterns (by merchant
    key, see PatternProjection.candidates) and the earlier proposals that look like the
    same document (see ProposalProjection.find_duplicates)."""

    patterns: list[PatternView]
    duplicates: list[uuid.UUID]


class ScoringReads(Protocol):
    """The reads of the propose path, answered together (one round trip on SQL)."""

    async def inputs(
        self, tenant_id: str, merchant_key: str, probe: DuplicateProbe | None
    ) -> ScoringInputs:
        """`patterns.candidates(tenant_id, merchant_key)` and, given a probe,
        `proposals.find_duplicates` (no duplicates without one), as of one moment."""
        ...


class TenantSettings(Protocol):
    """Per-tenant configuration kept as data."""

    async def review_rules(self, tenant_id: str) -> ReviewRules:
        """The tenant's review rules, or the defaults."""
        ...

    async def save_review_rules(self, tenant_id: str, rules: ReviewRules, now: dt.datetime) -> None:
        """Replace the tenant's review rules (issue 12: the admin API and CLI)."""
        ...


# --- documents --------------------------------------------------------------------------


class StoredDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A receipt or invoice file, kept by the SHA-256 of its content (hex)."""

    tenant_id: str
    sha256: str
    content_type: str
    filename: str
    size: int
    created_at: dt.datetime
    #: The actor who first uploaded it (migration 0005; None for files stored before).
    uploaded_by: str | None = None


class DocumentStore(Protocol):
    """Receipt and invoice files by content hash, in the same database as the log."""

    async def put(
        self,
        tenant_id: str,
        content: bytes,
        content_type: str,
        filename: str,
        now: dt.datetime,
        *,
        uploaded_by: str | None = None,
    ) -> tuple[StoredDocument, bool]:
        """Store a file (a no-op when the tenant already has this content: the first
        uploader stays recorded); the document and whether it was new."""
        ...

    async def get(self, tenant_id: str, sha256: str) -> StoredDocument | None:
        """The document's metadata, if the tenant has it."""
        ...

    async def content(self, tenant_id: str, sha256: str) -> bytes | None:
        """The document's bytes, if the tenant has it."""
        ...

    async def read(
        self, tenant_id: str, sha256: str, *, max_size: int | None = None
    ) -> tuple[StoredDocument, bytes] | None:
        """The document and its bytes in one read, if the tenant has it and it has at most
        `max_size` bytes (None: any size)."""
        ...

    async def read_many(
        self, keys: Sequence[tuple[str, str]], *, max_size: int
    ) -> dict[tuple[str, str], tuple[StoredDocument, bytes]]:
        """`read` of each (tenant, sha256) in one read: the ones stored, of at most
        `max_size` bytes, by key."""
        ...


# --- ledger ---------------------------------------------------------------------------


class LedgerLineView(msgspec.Struct, frozen=True, kw_only=True):
    """One posted journal line, denormalised with its entry (the `journal_lines` projection)."""

    tenant_id: str
    entry_id: uuid.UUID
    line_no: int
    position: int
    date: dt.date
    account: str
    debit: Decimal
    credit: Decimal
    description: str
    vat_code: str | None
    vat_part: str | None
    source: str
    proposal_id: uuid.UUID | None
    posted_at: dt.datetime


class AccountTotal(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.debit - self.credit


class VatTotal(msgspec.Struct, frozen=True, kw_only=True):
    """A code's basis and VAT over a period, each debit minus credit."""

    vat_code: str
    base: Decimal
    vat: Decimal
    #: The part of `vat` on output VAT accounts (2700–2709), debit minus credit: what a
    #: reverse-charge code calculated, the rest being what it deducted (ADR 0047).
    output: Decimal = Decimal("0.00")
    #: The part of `base` on income accounts (domain.ledger.is_income_account), debit
    #: minus credit: a code without a direction is a sale there, a purchase elsewhere.
    income: Decimal = Decimal("0.00")


class LedgerProjection(Protocol):
    """The double-entry ledger read model, written in the transaction of JournalEntryPosted."""

    async def post(
        self,
        tenant_id: str,
        entry_id: uuid.UUID,
        position: int,
        posted_at: dt.datetime,
        entry: JournalEntryPostedData,
    ) -> None:
        """Add one posted entry and its lines; idempotent by id."""
        ...

    async def trial_balance(
        self, tenant_id: str, start: dt.date | None, end: dt.date | None
    ) -> list[AccountTotal]:
        """Debits and credits per account over [start, end] (inclusive), by account."""
        ...

    async def opening_balance(self, tenant_id: str, account: str, before: dt.date) -> Decimal:
        """Debit minus credit of the account before a date."""
        ...

    async def year_totals(
        self, tenant_id: str, start: dt.date | None, end: dt.date | None
    ) -> list[YearTotal]:
        """Per account and calendar year, every line up to `end` (inclusive; None: all):
        debit minus credit of those before `start`, debits and credits of the others (of
        all, for no `start`). One aggregate of the daily totals; rows: accounts × years."""
        ...

    async def last_date(self, tenant_id: str) -> dt.date | None:
        """The date of the tenant's latest line (None: the ledger is empty)."""
        ...

    async def first_date(self, tenant_id: str) -> dt.date | None:
        """The date of the tenant's earliest line (None: the ledger is empty)."""
        ...

    async def general_ledger(
        self,
        tenant_id: str,
        account: str,
        start: dt.date | None,
        end: dt.date | None,
        after: tuple[dt.date, int, int] | None,
        limit: int,
    ) -> list[LedgerLineView]:
        """The account's lines by (date, position, line_no), after a keyset cursor."""
        ...

    async def vat_totals(self, tenant_id: str, start: dt.date, end: dt.date) -> list[VatTotal]:
        """Base and VAT per VAT code over [start, end]."""
        ...

    async def accounts_used(self, tenant_id: str) -> list[str]:
        """Every account code the tenant's ledger has a line on."""
        ...

    async def entry_lines(self, tenant_id: str, entry_id: uuid.UUID) -> list[LedgerLineView]:
        """The lines of one entry."""
        ...

    async def clear(self) -> None:
        """Drop every row (before a replay)."""
        ...


class StoredCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """Issue 14 (ADR 0036): one row of a tenant's own credentials, the secret only as
    ciphertext."""

    tenant_id: str
    provider: str
    company: str | None
    base_url: str | None
    ciphertext: str
    fingerprint: str
    set_by: str
    set_at: dt.datetime
    #: 1 when first set, +1 on every change (a replica compares it to its cached client).
    version: int = 1


class CredentialsStore(Protocol):
    """The encrypted per-tenant credentials (migration 0018), in the unit's transaction, so
    a change and its audit event are committed together or not at all (ADR 0044 §1)."""

    async def get(self, tenant_id: str, provider: str) -> StoredCredentials | None: ...

    async def put(self, credentials: StoredCredentials) -> StoredCredentials:
        """Insert or replace the row; the stored version is the previous one + 1."""
        ...

    async def remove(self, tenant_id: str, provider: str) -> bool:
        """Delete the row; False when there was none (the unit must not be committed)."""
        ...

    async def listing(self, tenant_id: str | None = None) -> list[StoredCredentials]:
        """The rows of one tenant (every tenant: None), by tenant and provider."""
        ...

    async def revision(self) -> int:
        """A number that changes whenever any row is put or removed (one cheap read)."""
        ...

    async def tenant_count(self) -> int:
        """How many tenants have credentials of their own."""
        ...

    async def rewrap(self, rewrap: Callable[[str], str]) -> list[StoredCredentials]:
        """Replace every row's ciphertext by `rewrap(ciphertext)`; the rows rewritten, by
        tenant and provider. The version is kept: the secret itself is unchanged."""
        ...


class UnitOfWork(Protocol):
    """One transaction: the log, the projections written with it, and the commit.

    Reads inside a unit of work see its own uncommitted writes; other units see them only
    after commit."""

    events: EventStore
    proposals: ProposalProjection
    patterns: PatternProjection
    settings: TenantSettings
    scoring: ScoringReads
    ledger: LedgerProjection
    documents: DocumentStore
    tracking: TrackingStore
    #: Issue 12: tax rates, currencies and closed periods (rules as data).
    rules: RulesStore
    #: ADR 0040 §6: the latest figure of each cost snapshot, by day (the cost report).
    costs: CostSnapshotProjection

    @property
    def credentials(self) -> CredentialsStore:
        """Issue 14: the tenants' own credentials (ADR 0036, ADR 0044 §1)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make everything done in this unit durable at once."""
        ...

    async def commit_proposal(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        existing: Sequence[RecordedEvent],
        events: Sequence[NewEvent],
    ) -> tuple[list[RecordedEvent], ProposalView]:
        """Append `events` to a proposal's stream after `existing` (its events so far: the
        expected version is their number), upsert the proposal's view (`fold_proposal` of
        the whole stream, its last_position the last event's) and commit the unit: what
        `events.append`, `proposals.upsert` and `commit` do in turn, as one write where
        the store can (PostgreSQL: one statement, ADR 0041). The appended events and the
        view; ConcurrencyConflict or DuplicateEvent as `append` (then nothing of this call
        is written, and the unit is not committed)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]

AfterCommit = Callable[[Sequence[RecordedEvent]], Awaitable[None]]
"""Called by a unit of work with the events it committed, after it has released its
connection: the dispatcher (application/dispatch.py). Errors are logged, never raised."""


class TrackingStore(Protocol):
    """How far each subscriber of the log has got (tracking records), in the unit's
    transaction: a subscriber that stores its position with its own writes handles each
    event once; one that stores it after them handles each at least once."""

    async def position(self, subscriber: str) -> int:
        """The position of the last event the subscriber has handled (0: none yet)."""
        ...

    async def advance(self, subscriber: str, expected: int, position: int) -> bool:
        """Move the subscriber from `expected` to `position`; False (and nothing written)
        when another process moved it first."""
        ...

    async def all(self) -> dict[str, int]:
        """Every subscriber's position (health, lag)."""
        ...

    async def head(self) -> int:
        """The highest position in the log this unit sees (0: the log is empty); a
        subscriber's lag is head minus its position (holes counted)."""
        ...

    async def horizon(self) -> tuple[int, int] | None:
        """(xmin, xmax) of the database's current snapshot where it can say which writers
        may still commit (PostgreSQL: every transaction below xmin has ended, none at or
        above xmax had begun); None elsewhere. Lets a subscriber tell a hole in the
        positions that a running transaction will still fill from one left for good."""
        ...

    async def settled(self) -> int | None:
        """A position at or below which no writer still running can commit an event
        (None where positions commit in their order: SQLite's one writer, memory). Read it
        before a page that a client resumes after its last position (`until_position`):
        positions are drawn at insert, so one may commit after a higher one, and a cursor
        past the higher one would never see it."""
        ...


class CostSnapshotRow(msgspec.Struct, frozen=True, kw_only=True):
    """The latest figure of one cost snapshot stream (application/spending)."""

    stream_id: uuid.UUID
    version: int
    recorded_at: dt.datetime
    data: CostSnapshotData


class CostSnapshotProjection(Protocol):
    """The latest figure of every cost snapshot stream, by its UTC day (migration 0019,
    ADR 0040 §6): what the cost report, the budgets and the morning summary read instead of
    folding the log, so a report's cost follows its days, not the log's length. Written in
    the unit that appends the snapshot's event."""

    async def put(self, tenant_id: str, row: CostSnapshotRow) -> None:
        """Keep `row` as its stream's figure, unless a later version is kept already."""
        ...

    async def between(self, tenant_id: str, start: dt.date, end: dt.date) -> list[CostSnapshotRow]:
        """The figures of the UTC days [start, end] (through the (tenant, day) index), in
        any order."""
        ...

    async def clear(self) -> None:
        """Forget every row (replay folds the log into it again)."""
        ...


#: Which period lock a read of the periods takes first (PostgreSQL; ADR 0040 §3): shared
#: for a posting, exclusive for a close.
PeriodLock = Literal["posting", "closing"]


class RulesStore(Protocol):
    """Rules as data (issue 12, migration 0016): tax rates by validity, currencies, and
    each tenant's closed periods and locked VAT terms, in the unit's transaction."""

    async def tax_rates(
        self, country: str | None = None, *, tenant_id: str | None = None
    ) -> list[TaxRate]:
        """Every tax rate row (of `country`, when given), in any order: the shipped
        defaults, with `tenant_id`'s own rows of a code instead of the defaults of that
        code (domain/rules.overlay_rates; ADR 0040). None: the defaults alone."""
        ...

    async def tax_table(
        self, country: str | None = None, *, tenant_id: str | None = None
    ) -> TaxTable:
        """`tax_rates`'s rows as a TaxTable. A store that keeps the rows a few seconds
        (the SQL store's TaxRatesCache) keeps the table built of them too, so the lookups
        it remembers (`valid_vat_rates`, `purchase`) serve every unit meanwhile."""
        ...

    async def put_tax_rate(self, rate: TaxRate, *, tenant_id: str | None = None) -> None:
        """Insert a row, or replace the row of the same country, code and valid_from, of
        `tenant_id` (None: the shipped defaults every tenant falls back to)."""
        ...

    async def currencies(self) -> list[Currency]: ...

    async def currency(self, code: str) -> Currency | None: ...

    async def countries(self) -> list[Country]: ...

    async def periods(
        self, tenant_id: str, kind: str | None = None, *, lock_for: PeriodLock | None = None
    ) -> list[FiscalPeriod]:
        """The tenant's closed periods and locked VAT terms (of `kind`), by start."""
        ...

    async def closed_period_on(self, tenant_id: str, day: dt.date) -> FiscalPeriod | None:
        """The closed period (kind "period") containing `day`, if any. Serialised with
        `add_period` of the tenant until the unit ends (ADR 0040 §3): a close committed
        before this check is seen, and a close started after it waits for the unit."""
        ...

    async def closed_periods(self, tenant_ids: Sequence[str]) -> dict[str, list[FiscalPeriod]]:
        """Each tenant's closed periods and locked VAT terms (every kind: a posting with
        VAT lines is held by both), by start, serialised with
        `add_period` until the unit ends as `closed_period_on` is: what a posting of these
        tenants checks against for the rest of the unit, in as few statements as the store
        can whatever the number of tenants (two on PostgreSQL; issue 14, the executor's
        group commit)."""
        ...

    async def add_period(self, period: FiscalPeriod) -> bool:
        """Close a period or lock a term; False when the same (kind, start) is there.
        Waits for the tenant's units that checked `closed_period_on` to end."""
        ...

    async def remove_period(self, tenant_id: str, kind: str, start: dt.date) -> bool:
        """Reopen; False when there was none."""
        ...


# --- time, ids, identity ----------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class Ids(Protocol):
    def new_id(self) -> uuid.UUID:
        """A fresh, time-ordered unique id."""
        ...


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The verified caller: who, for which tenant, with which roles and attributes."""

    subject: str
    tenant_id: str
    roles: frozenset[str]
    attributes: dict[str, str] = {}
    #: What the person is called (the token's `name` or `preferred_username` claim), for
    #: people to read (application/people.py); never written on events: `actor` is.
    name: str | None = None

    @property
    def actor(self) -> str:
        """The name written on events: service principals as they are, anyone else as
        human:<subject> — so no token can write as an internal actor such as the auto-approver
        (system:review-rules), whatever its subject says."""
        if self.subject in SERVICE_PRINCIPALS:
            return self.subject
        return f"human:{self.subject}"


#: The agent's own principal (book-e): it reads documents and makes proposals.
AGENT: Final = "book-e"
#: Principals that act under their own name: the agent, the review bot, the scheduler.
SERVICE_PRINCIPALS = frozenset({AGENT, "review-e", "system:cron", "system:bus"})
#: Issue 12: the compliance context proposes reversals under its own name.
COMPLIANCE_PRINCIPAL: Final = "system:compliance"
SERVICE_PRINCIPALS = SERVICE_PRINCIPALS | {COMPLIANCE_PRINCIPAL}


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal of a valid bearer token; raises InvalidToken otherwise."""
        ...


class Authorizer(Protocol):
    def check(self, principal: Principal, action: str) -> None:
        """Return if the principal may perform `action` in its tenant; raise Forbidden if not."""
        ...


# --- the books (Fiken) and the bank (Folio) ---------------------------------------------
# Amounts are Decimal kroner here, whatever the wire format (Fiken: integer øre; Folio:
# decimal strings). Adapters raise the ExternalError tree of application.errors.


class BooksCompany(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    name: str
    organization_number: str | None = None
    vat_type: str | None = None
    has_api_access: bool = True
    test_company: bool = False


class BooksAccount(msgspec.Struct, frozen=True, kw_only=True):
    """One account of the chart of accounts ("6800", or a sub-ledger "2400:20001")."""

    code: str
    name: str


class BooksAccountBalance(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    balance: Decimal


class BooksBankAccount(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    account_code: str  # e.g. "1920:10001": what a purchase's paymentAccount takes
    bank_account_number: str | None = None
    inactive: bool = False


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    organization_number: str | None = None
    supplier_account_code: str | None = None


class PurchaseLine(msgspec.Struct, frozen=True, kw_only=True):
    description: str
    net: Decimal
    vat: Decimal
    vat_type: str  # Fiken's vatType name: HIGH, MEDIUM, LOW, RAW_FISH, NONE …
    account: str
    #: Issue 12: a foreign-currency purchase's line in NOK too (net and VAT are in the
    #: purchase's currency then), at the rate recorded with the proposal.
    net_nok: Decimal | None = None
    vat_nok: Decimal | None = None


class NewPurchase(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase to register: `supplier` (an invoice, paid later) or `cash_purchase`."""

    kind: str
    date: dt.date
    currency: str
    lines: tuple[PurchaseLine, ...]
    #: Our reference (derived from the proposal id); the adapter stores it where a lookup
    #: can find it again, so a crashed attempt is reconciled instead of repeated.
    reference: str
    identifier: str | None = None
    due_date: dt.date | None = None
    supplier_id: str | None = None
    paid: bool = False
    payment_account: str | None = None
    payment_date: dt.date | None = None
    kid: str | None = None


class Purchase(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    date: dt.date
    identifier: str | None
    gross: Decimal
    currency: str
    paid: bool
    deleted: bool
    supplier_id: str | None = None
    due_date: dt.date | None = None
    reference: str | None = None
    transaction_id: str | None = None
    attachments: tuple[str, ...] = ()  # file names
    #: Attachments whose file name the books do not tell (Fiken's attachment has no name
    #: field; its download URL need not end in one).
    unnamed_attachments: int = 0
    #: What the purchase was, as a person names it: the supplier's name, else its first
    #: line's text (without our reference).
    description: str | None = None


class JournalEntryLineOut(msgspec.Struct, frozen=True, kw_only=True):
    """A Fiken-style journal line: amount on a debit and/or credit account (net for debit
    lines with a VAT code, gross for credit lines), VAT as numeric codes."""

    amount: Decimal
    debit_account: str | None = None
    debit_vat_code: int | None = None
    credit_account: str | None = None
    credit_vat_code: int | None = None


class BooksJournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A general journal entry found in the books: its id, whether it was cancelled
    (a counter-entry offsets it), and the file names attached to it (and how many
    attachments it has whose name the books do not tell)."""

    id: str
    cancelled: bool = False
    attachments: tuple[str, ...] = ()  # file names
    unnamed_attachments: int = 0


class NewJournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    date: dt.date
    description: str
    lines: tuple[JournalEntryLineOut, ...]
    reference: str


class Books(Protocol):
    """One company's books (Fiken, or the sandbox). Bound to a tenant by BooksProvider."""

    name: str

    async def company(self) -> BooksCompany: ...

    async def company_key(self) -> str | None:
        """Which company these books are, as a key for what every tenant booking into it
        shares (the supplier lock, ADR 0047): Fiken's "fiken:<company slug>", known without
        a request; None when not known (the tenant then stands for its company). A method,
        not an attribute: a tenant's books may be resolved on the first awaited call."""
        ...

    async def accounts(self) -> list[BooksAccount]:
        """The chart of accounts of the current year."""
        ...

    async def account_balances(self, date: dt.date) -> list[BooksAccountBalance]: ...

    async def bank_accounts(self) -> list[BooksBankAccount]: ...

    async def find_supplier(self, organization_number: str | None, name: str) -> Contact | None:
        """The supplier with this organisation number (else with exactly this name)."""
        ...

    async def create_supplier(self, name: str, organization_number: str | None) -> Contact: ...

    async def create_purchase(self, purchase: NewPurchase) -> str:
        """Register a purchase; its id."""
        ...

    async def find_purchase(self, reference: str, date: dt.date) -> Purchase | None:
        """The purchase carrying our reference, registered with this date, if any."""
        ...

    async def purchases(
        self, start: dt.date, end: dt.date, kind: str | None = None
    ) -> list[Purchase]:
        """Purchases dated in [start, end], every page, optionally of one kind."""
        ...

    async def attach_to_purchase(
        self, purchase_id: str, filename: str, content: bytes, content_type: str
    ) -> None: ...

    async def delete_purchase(self, purchase_id: str, description: str) -> None:
        """Reverse a purchase (Fiken keeps it, marked deleted, with a reversal transaction)."""
        ...

    async def create_journal_entry(self, entry: NewJournalEntry) -> str:
        """Post a general journal entry; its id."""
        ...

    async def find_journal_entry(self, reference: str, date: dt.date) -> BooksJournalEntry | None:
        """The general journal entry of `date` whose description carries `reference` (a
        live one before a cancelled one), if any: how a retry finds what an earlier
        attempt posted (a supplier's credit note, ADR 0054)."""
        ...

    async def attach_to_journal_entry(
        self, entry_id: str, filename: str, content: bytes, content_type: str
    ) -> None:
        """Attach a file to a general journal entry (a credit note's document); its name
        is read back in `find_journal_entry(...).attachments`."""
        ...


class BankAccount(msgspec.Struct, frozen=True, kw_only=True):
    account_number: str
    name: str
    type: str
    balance: Decimal
    currency: str = "NOK"


class BankBalance(msgspec.Struct, frozen=True, kw_only=True):
    account_number: str
    date: dt.date
    incoming: Decimal
    outgoing: Decimal


class BankAttachment(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    filename: str | None
    mime_type: str | None = None


class BankTransaction(msgspec.Struct, frozen=True, kw_only=True):
    """A booked transaction or a (pending) event; amounts are negative for money out."""

    id: str
    event_id: str | None
    date: dt.date
    description: str
    amount: Decimal
    currency: str
    merchant_name: str | None = None
    account_number: str | None = None
    complete: bool = False
    attachments: tuple[BankAttachment, ...] = ()


class Bank(Protocol):
    """One company's bank (Folio, or the sandbox). Bound to a tenant by BankProvider."""

    name: str

    async def accounts(self) -> list[BankAccount]: ...

    async def balance(self, account_number: str, date: dt.date) -> BankBalance: ...

    async def transactions(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        """Booked transactions in [start, end]."""
        ...

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        """Events (anything that is or will become a transaction) in [start, end]."""
        ...

    async def attach_receipt(
        self, event_id: str, filename: str, content: bytes, content_type: str
    ) -> str:
        """Attach a file to an event; the attachment id."""
        ...

    async def find_attachment(
        self, event_id: str, filename: str, around: dt.date, *, size: int | None = None
    ) -> str | None:
        """The id of an attachment with this file name on the event (looked up among the
        events within a few days of `around`), if any; given `size`, only one of that many
        bytes (a different file under the same name is not the one looked for)."""
        ...

    async def mark_complete(self, event_id: str) -> None: ...

    async def mark_incomplete(self, event_id: str) -> None: ...

    async def annotate(self, event_id: str, note: str, around: dt.date) -> None:
        """Add `note` to the event's note (ADR 0052: a receipt's parts per VAT rate, which
        Folio has no field for): after what the note says, once; a note already holding it
        is left as it is. `around`: the event's date, to find it among the events."""
        ...


BooksProvider = Callable[[str], Books]
"""Books of a tenant (one configured company today; per-tenant credentials later)."""

BankProvider = Callable[[str], Bank]
"""Bank of a tenant."""


# --- document extraction (Claude, or the offline rules) -----------------------------------
# What an extractor read from a receipt or an invoice. It is data, never instructions: text
# inside a document cannot choose an action, an account or a confidence — the pipeline
# decides those from these fields, and the extractor's own `confidence` can only lower the
# computed score (ADR 0002).


class ExtractedLine(msgspec.Struct, frozen=True, kw_only=True):
    description: str
    gross: Decimal | None = None
    net: Decimal | None = None
    vat_amount: Decimal | None = None
    vat_rate: Decimal | None = None


class ExtractionUsage(msgspec.Struct, frozen=True, kw_only=True):
    """What one model call cost (the offline extractor has none)."""

    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


class Extraction(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of one document, each with the text it was read from (`evidence`)."""

    extractor: str  # "claude" or "offline"
    document_type: str  # "receipt", "invoice" or "unknown"
    merchant_name: str | None = None
    organization_number: str | None = None  # 9 digits, MOD11-checked, else None
    document_number: str | None = None
    date: dt.date | None = None
    due_date: dt.date | None = None
    currency: str | None = None
    gross: Decimal | None = None
    net: Decimal | None = None
    vat_amount: Decimal | None = None
    vat_rate: Decimal | None = None
    lines: tuple[ExtractedLine, ...] = ()
    kid: str | None = None
    bank_account: str | None = None
    #: The payee's IBAN (compact, checked), Norwegian or foreign; its Norwegian account is
    #: `bank_account` as well.
    iban: str | None = None
    #: field name → the snippet of the document it was read from.
    evidence: dict[str, str] = {}
    #: What the extractor could not read or doubts ("no organisation number", "image
    #: without text: needs review" …).
    warnings: tuple[str, ...] = ()
    #: The extractor's own estimate in [0, 1]; it can only lower the computed confidence.
    confidence: Decimal = Decimal("0")
    usage: ExtractionUsage | None = None
    #: A supplier's credit note (kreditnota, ADR 0054): its amounts may be printed negative;
    #: it is proposed as a credit of the invoice it names (`credited_invoice`).
    credit_note: bool = False
    credited_invoice: str | None = None
    #: The document says its VAT is reverse charged ("reverse charge", "omvendt
    #: avgiftsplikt"): the buyer calculates it (ADR 0056).
    reverse_charge: bool = False
    #: A tip in the total (tips, driks, gratuity): outside the VAT base, booked at 0 %
    #: (ADR 0052, addendum). Pant (bottle deposit) is no tip: it is in its drink's base.
    tip: Decimal | None = None


class DocumentExtractor(Protocol):
    """Reads a PDF or an image into an Extraction; ExtractionFailed when it cannot."""

    name: str

    async def extract(
        self, content: bytes, content_type: str, filename: str | None
    ) -> Extraction: ...


class ImageConverter(Protocol):
    """Turns a photo in a format the books and the bank do not take (HEIC/HEIF from an
    iPhone, WebP) into one they do: JPEG, or PNG for an image with transparency. Returns
    (bytes, media type); raises ImageNotConvertible when the bytes are no readable image."""

    async def convert(self, content: bytes, media_type: str) -> tuple[bytes, str]: ...


class ImageNotConvertible(Exception):
    """The image could not be decoded (broken, hostile or too many pixels)."""


# --- intents of questions -------------------------------------------------------------------

IntentName = Literal[
    "balance",
    "missing_receipts",
    "supplier_invoices",
    "expenses",
    "help",
    "spending",
    "vat",
    "result",
    "payables",
    "receivables",
    "costs",
    "account_balance",
    "journal",
    "proposal_status",
    "balance_sheet",
    "supplier_costs",
    "monthly_costs",
]
INTENT_NAMES: tuple[IntentName, ...] = (
    "balance",
    "missing_receipts",
    "supplier_invoices",
    "expenses",
    "help",
    # Issue 11: what the company spent on its providers (the cost snapshots).
    "spending",
    # What the VAT return of a term pays and when (the ledger's VAT report).
    "vat",
    # Story 8: questions about the books themselves, answered from the ledger.
    "result",  # the income statement's result of a period (year to date by default)
    "payables",  # leverandørgjeld (2400) and the open supplier invoices
    "receivables",  # kundefordringer (1500)
    "costs",  # costs of an account or an account group (programvare, reise, mat …)
    "account_balance",  # the ledger balance of one account ("saldo på konto 6810")
    "journal",  # the latest journal entries ("vis de siste 5 bilagene")
    # What became of a document sent in ("er kvitteringen fra Adobe godkjent?").
    "proposal_status",
    "balance_sheet",  # assets, equity and liabilities at a day ("vis balansen")
    "supplier_costs",  # costs of one supplier, or per supplier ("brukt hos Adobe")
    "monthly_costs",  # the costs of each month of a period ("kostnader per måned i år")
)


class Intent(msgspec.Struct, frozen=True, kw_only=True):
    """The read-only question a message asks, with an optional inclusive date range."""

    name: IntentName = "help"
    start: dt.date | None = None
    end: dt.date | None = None
    #: For `spending`: the sources asked about (none: every source).
    sources: tuple[str, ...] = ()
    #: For `account_balance` / `costs`: the account asked about ("6810").
    account: str | None = None
    #: For `costs`: what the costs were for, as the user wrote it ("programvare"); for
    #: `supplier_costs`: the supplier named ("Adobe"; none: every supplier's).
    topic: str | None = None
    #: For `journal`: how many entries were asked for.
    count: int | None = None
    #: What the model call that classified the message cost (None: no model was called,
    #: e.g. the keyword classifier); recorded as IntentClassified so that it counts.
    usage: ExtractionUsage | None = None


class IntentClassifier(Protocol):
    """Tells which read-only question a message asks (keywords offline, or a model that may
    choose among the read-only intents only). Never raises for a bad answer: falls back."""

    async def classify(self, text: str) -> Intent: ...


# --- retention (issue 12) -----------------------------------------------------------------


class RetainedDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A stored document as the purge sees it: metadata, its retention class and the
    date of what it documents in the books."""

    document: StoredDocument
    retention: str
    #: The latest journal-entry date booked for the proposals that name this document (and
    #: the corrections and reversals of those): its financial year is this date's. None
    #: while nothing it documents is booked — then it is kept.
    booked_on: dt.date | None = None


class DocumentRetentionStore(Protocol):
    """The purge's view of the document store (application/retention.py)."""

    async def documents(self, tenant_id: str) -> list[RetainedDocument]:
        """The tenant's stored documents (metadata only), oldest first."""
        ...

    async def purge(
        self,
        tenant_id: str,
        sha256: str,
        *,
        financial_year: int,
        retained_until: dt.date,
        purged_at: dt.datetime,
        purged_by: str,
    ) -> bool:
        """Record the purge and delete the document in one transaction (the database's
        trigger computes the retention itself from the booking's date and lets the delete
        through only when it has ended and the record names that same last day); False
        when the tenant has no such document."""


# --- the external bus's status (/health) ----------------------------------------------


class BusPlace(msgspec.Struct, frozen=True, kw_only=True):
    """A message's place in its stream, the same on every redelivery: the stream, its
    sequence there and the time the stream stored it (a stream made again numbers from 1
    again, later). `str()` is what tells apart messages without an id (ADR 0030 addendum);
    the fields order messages of the bus by when the bus took them, not by when this
    process committed them (ADR 0030, addendum "renames in the bus's order")."""

    stream: str
    sequence: int
    stored: dt.datetime

    def __str__(self) -> str:
        return f"{self.stream}:{self.sequence}:{self.stored.timestamp():.9f}"


#: How a bus client stands, as it last saw itself: `connected`; `reconnecting` (the socket
#: was lost, the client is connecting again by itself); `closed` (the server closed the
#: connection for good: it is made again on the next try); `failing` (connected, but its
#: latest pull or publish failed); `stopped` (it does not run).
BusState = Literal["connected", "reconnecting", "closed", "failing", "stopped"]


class BusConnection(msgspec.Struct, frozen=True, kw_only=True):
    """A bus client's state and, unless connected, why (never its URL or credentials)."""

    state: BusState
    reason: str | None = None


class BusConsumerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One durable consumer of the external bus and how far behind it is: `waiting`
    messages of its stream not yet delivered to it, `unacknowledged` delivered and not yet
    acknowledged; both None when the bus does not answer (in time). `connection`: what
    the consumer knows of its connection without asking the server."""

    durable: str
    stream: str
    role: Literal["ledger", "accounts-master"]
    connection: BusConnection
    waiting: int | None = None
    unacknowledged: int | None = None


class BusStatus(Protocol):
    """What /health asks of the external bus (ADR 0044 §7): its consumers and their lag."""

    @property
    def durable(self) -> str:
        """The ledger consumer's durable name (the bus's own)."""
        ...

    async def consumers_status(self, wait_seconds: float) -> list[BusConsumerStatus]:
        """Every durable consumer, the ledger's first; a consumer whose lag is not known
        within `wait_seconds` has None for it."""
        ...


class BusPublisherStatus(Protocol):
    """What /health asks of the bus-publisher (the ledger sent out on the bus)."""

    @property
    def name(self) -> str:
        """Its subscriber name (its tracking position's)."""
        ...

    def connection(self) -> BusConnection:
        """Its connection as it last saw it (no round trip to the server)."""
        ...


# --- bulk import (P5, ADR 0032) -------------------------------------------------------


class EventImport(Protocol):
    """Bulk writing of events that were recorded elsewhere (an export, another install)."""

    async def insert_all(self, batches: Iterable[Sequence[RecordedEvent]]) -> int:
        """Append, in one transaction, the events of every batch (taken in order, one at a
        time) whose id the log does not hold yet; how many were new. `position` is ignored
        (the log assigns its own). Another event at an event's (stream, version) is a
        ConcurrencyConflict; an event whose id the log holds as another event is
        application.importing.KnownIdDiffers; an event at version v > 1 whose stream holds
        no v − 1 of its tenant once its batch is in is application.importing.StreamGap; any
        of these, or an exception raised while taking the next batch, rolls everything
        back."""
        ...


class EventExport(Protocol):
    """Reading the whole log, or one tenant's part of it, for `bookkeeper export events`."""

    def pages(self, tenant_id: str | None, page: int) -> AsyncIterator[list[RecordedEvent]]:
        """The events in position order, `page` at a time, every tenant's (None) or one's,
        all from ONE snapshot of the log: an event committed while the export runs is in
        it entirely or not at all, and no later event is without an earlier one that was
        committed before the export began."""
        ...


# --- the books' history (`bookkeeper import fiken`, issue 14 P5, ADR 0037) ---------------


class HistoryLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a journal entry read from the books: the amount signed (debit
    positive), in kroner, with the books' VAT code when the line has one."""

    account: str
    amount: Decimal
    vat_code: str | None = None


class HistoryJournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A general journal entry of the books (Fiken's "fri postering"), as it stands."""

    id: str
    date: dt.date
    description: str
    lines: tuple[HistoryLine, ...]
    number: str | None = None
    #: The entry was cancelled: the books posted its balancing counter-entry.
    cancelled: bool = False
    modified: dt.date | None = None
    #: The books' transaction the entry belongs to (Fiken's transactionId): a purchase's
    #: or a sale's own posting shares it with that purchase or sale.
    transaction: str | None = None
    #: A cancelled entry's balancing transaction (Fiken's offsetTransactionId): its own
    #: journal entries, when the books list them, are the mirror the import posts.
    offset_transaction: str | None = None


class HistoryOrderLine(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase or sale line: net and VAT in NOK kroner, the books' vatType name."""

    description: str
    account: str | None
    net: Decimal
    vat: Decimal
    vat_type: str
    #: The line's net and VAT in the purchase's currency, when it is not NOK and the books
    #: give them (Fiken's netPriceInCurrency / vatInCurrency): SAF-T's CurrencyAmount.
    net_in_currency: Decimal | None = None
    vat_in_currency: Decimal | None = None


class HistoryPayment(msgspec.Struct, frozen=True, kw_only=True):
    """A payment of a purchase or sale, in NOK kroner, from or to `account`."""

    id: str | None
    date: dt.date
    account: str
    amount: Decimal
    #: A payment in another currency than NOK: its currency and amount in it (Fiken's
    #: amount beside amountInNok), for SAF-T's CurrencyAmount.
    currency: str | None = None
    amount_in_currency: Decimal | None = None
    #: A fee paid with it (Fiken's `fee`: NOK, "additional to the amount paid"), kroner.
    fee: Decimal | None = None


class HistoryTrade(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase ("purchase") or a sale ("sale") of the books, amounts in NOK kroner.

    `kind` is the books' (cash_purchase, supplier; cash_sale, invoice, external_invoice);
    `party_account` the supplier's or customer's sub-ledger account, when it has one;
    `reference` ours (bk-…) when bookkeeper itself created the object."""

    what: str
    id: str
    date: dt.date
    kind: str
    lines: tuple[HistoryOrderLine, ...]
    currency: str = "NOK"
    identifier: str | None = None
    party_name: str | None = None
    party_account: str | None = None
    #: The supplier's or customer's organisation number, when the books know it.
    party_org_number: str | None = None
    payments: tuple[HistoryPayment, ...] = ()
    deleted: bool = False
    reference: str | None = None
    modified: dt.date | None = None
    #: The books' transaction of the purchase's or sale's posting (Fiken's transactionId).
    transaction: str | None = None
    #: A sale written off (Fiken's `writeOff`, tapsføring): what it left open is a loss.
    write_off: bool = False
    #: When the books marked it settled (Fiken's `settledDate`), when they say.
    settled_date: dt.date | None = None


class HistoryProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A record of the books that cannot be read or booked: what, its id, and why; the
    books' transaction of a purchase or sale when it could be read (its own posting,
    where the books list it among the journal entries, waits with it)."""

    what: str
    id: str
    reason: str
    transaction: str | None = None


class HistoryQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which records to read: dated in [start, end]; of those, only the ones modified on
    or after `modified_since` (journal entries, sales) or, for purchases, dated on or
    after `dated_since` plus the ones settled on or after `settled_since`."""

    start: dt.date
    end: dt.date | None = None
    modified_since: dt.date | None = None
    dated_since: dt.date | None = None
    settled_since: dt.date | None = None


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of records as the books answered it; the ones that could not be read are
    among `problems` (the rest of the page is still good). `total`: the list's size, when
    the books say."""

    entries: list[HistoryJournalEntry] = []
    trades: list[HistoryTrade] = []
    problems: list[HistoryProblem] = []
    total: int | None = None


class BooksHistory(Protocol):
    """The books' existing records, read page by page (every request within the books'
    limits). Each method is an async iterator of pages."""

    name: str

    def journal_entries(self, query: HistoryQuery) -> AsyncIterator[HistoryPage]: ...

    def purchases(self, query: HistoryQuery) -> AsyncIterator[HistoryPage]: ...

    def sales(self, query: HistoryQuery) -> AsyncIterator[HistoryPage]: ...

    async def record(self, what: str, record_id: str) -> HistoryPage | None:
        """One record by its id ("journal entry", "purchase" or "sale"), within the same
        limits: a page of that record alone (or its problem, when it cannot be read);
        None when the books no longer have it (deleted)."""
        ...

    async def balances(self, at: dt.date) -> list[BooksAccountBalance]:
        """Every account's closing balance on `at` (debit positive, kroner), within the
        same limits: what the books held before the first day an import reads."""
        ...


class Exclusive(Protocol):
    """Sections that run one holder at a time per key, in every process that shares what
    backs the port (issue 14, ADR 0043, ADR 0047's addendum): the application decides
    *what* must not run twice at once (a supplier's find-and-create in a Fiken company),
    the adapter *how* — asyncio locks in one process (memory, SQLite), PostgreSQL
    advisory locks across replicas. Keys are plain text chosen by the caller; the adapter
    may hash them (two keys sharing a hash only wait for each other)."""

    def hold(self, keys: Sequence[str]) -> AbstractAsyncContextManager[None]:
        """Hold every key for the block, taken in one fixed order (two holders of
        overlapping keys never deadlock). The wait is a wait for a turn: it runs inside
        `turn_wait` when set. ExternalUnavailable when the keys cannot be had in time or
        the backing store fails (nothing was done under them)."""
        ...


#: Waiting for a turn at a remote system (Fiken's one request per token, held by another
#: caller or replica) is not work: the executor sets this around a tenant's attempts to a
#: context that gives the tenant's slot back while an adapter waits for its turn (issue
#: 14, ADR 0035). Adapters enter it, when set, around that wait only.
turn_wait: contextvars.ContextVar[Callable[[], AbstractAsyncContextManager[None]] | None] = (
    contextvars.ContextVar("turn_wait", default=None)
)

_Entered = TypeVar("_Entered")


@contextlib.asynccontextmanager
async def waiting_turn(section: AbstractAsyncContextManager[_Entered]) -> AsyncIterator[_Entered]:
    """Enter `section` — a wait for a turn (a lock, a gate) — inside `turn_wait` when set,
    and hold it for the block: the caller's slot is given back while it waits and taken
    again before the block runs; the section is left after the block, slot held."""
    waiting = turn_wait.get()
    async with contextlib.AsyncExitStack() as held:
        if waiting is None:
            entered = await held.enter_async_context(section)
        else:
            async with waiting():
                entered = await held.enter_async_context(section)
        yield entered
