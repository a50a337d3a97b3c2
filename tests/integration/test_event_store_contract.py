"""Contract of the storage ports (EventStore, projections, settings, tracking positions,
UnitOfWork and its hand-over of committed events), one suite run against every adapter:
in-memory (the reference), SQLite and PostgreSQL.

Only behaviour the port promises is asserted here; what a single engine adds (triggers,
pools, locking) is tested beside it in test_sql_* and test_postgres_*.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import msgspec
import psycopg
import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.errors import ConcurrencyConflict, DuplicateEvent
from bookkeeper.application.ports import (
    AfterCommit,
    ApprovalCounts,
    DuplicateProbe,
    EventFilter,
    NewEvent,
    PatternView,
    ProposalFilter,
    ProposalView,
    RecordedEvent,
    ScoringInputs,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import fold_proposal
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain import events
from bookkeeper.domain.events import (
    CATALOGUE,
    AccountBalance,
    AccountMasterData,
    AlertRaisedData,
    ApprovedData,
    BalanceQueriedData,
    CorrectionData,
    Corrections,
    CostsCheckedData,
    CostTotal,
    DateRange,
    DocumentExtractedData,
    EndorsedData,
    ExecutedData,
    ExecutionFailedData,
    ExecutionFailureResolvedData,
    ExecutionRetriedData,
    ExecutionsCheckedData,
    ExecutionStartedData,
    ExpenseRegistrationData,
    FailedData,
    IntentClassifiedData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    JournalLine,
    LineItem,
    MissingReceiptsCheckedData,
    MorningCheckClaimedData,
    MorningCheckRanData,
    MorningSummaryPostedData,
    Party,
    PatternSuggestionData,
    Payload,
    ProposalNotedData,
    PurchasesQueriedData,
    ReceiptAttachmentData,
    RejectedData,
    ReversalData,
    Status,
    TransactionsQueriedData,
    UnknownAccountsCheckedData,
)
from bookkeeper.domain.review import DEFAULT_RULES

ACME = "acme"
GLOBEX = "globex"
T0 = dt.datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 20)


@dataclass
class Backend:
    """One adapter under test, and a way to look at its committed state from outside."""

    name: str
    factory: UnitOfWorkFactory
    committed_ids: Callable[[], Awaitable[set[uuid.UUID]]]
    #: Whether two units of work may be open at once in one task (SQLite serialises them).
    interleaves: bool
    #: A factory of units of work on the same database that hand their committed events over.
    handing_over: Callable[[AfterCommit], UnitOfWorkFactory]


def _memory_backend() -> Backend:
    factory = MemoryUnitOfWorkFactory()

    async def committed() -> set[uuid.UUID]:
        return set(factory.db.by_id)

    def handing_over(after_commit: AfterCommit) -> UnitOfWorkFactory:
        return cast(UnitOfWorkFactory, MemoryUnitOfWorkFactory(factory.db, after_commit))

    # cast: mypy finds MemoryUnitOfWork's concrete attribute types incompatible with the
    # protocol's mutable ones (invariance), though it satisfies the port at run time.
    return Backend(
        "memory", cast(UnitOfWorkFactory, factory), committed, True, handing_over=handing_over
    )


def _sqlite_committed(url: str) -> Callable[[], Awaitable[set[uuid.UUID]]]:
    path = url.removeprefix("sqlite:///")

    async def committed() -> set[uuid.UUID]:
        # A separate connection, as another process would read the file.
        connection = sqlite3.connect(path)
        try:
            return {uuid.UUID(row[0]) for row in connection.execute("SELECT id FROM events")}
        finally:
            connection.close()

    return committed


def _postgres_committed(url: str) -> Callable[[], Awaitable[set[uuid.UUID]]]:
    async def committed() -> set[uuid.UUID]:
        async with await psycopg.AsyncConnection.connect(url) as connection:
            cursor = await connection.execute("SELECT id FROM events")
            return {row[0] for row in await cursor.fetchall()}

    return committed


async def _open_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield _memory_backend()
        return
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
        committed = _sqlite_committed(url)
    else:
        url = request.getfixturevalue("postgres_url")
        committed = _postgres_committed(url)
    database = SqlDatabase(url, pool_size=5, max_overflow=10)
    try:
        yield Backend(
            request.param,
            database.uow_factory(),
            committed,
            interleaves=database.dialect == "postgresql",
            handing_over=database.uow_factory,
        )
    finally:
        await database.dispose()


POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async for opened in _open_backend(request):
        yield opened


@pytest.fixture(params=["memory", POSTGRES])
async def interleaving_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The adapters that allow two open units of work in one task (SQLite serialises them)."""
    async for opened in _open_backend(request):
        yield opened


# --- helpers ---------------------------------------------------------------------------

RECEIPT = ReceiptAttachmentData(
    merchant_name="Adobe Systems Software Ireland Ltd",
    amount=Decimal("199.00"),
    date=DAY,
    vat_rate=Decimal("25"),
    account_code="6540",
    folio_event_id="ev-123",
    vat_amount=Decimal("39.80"),
    document_number="INV-1",
    description="Ærlig «kvittering» – 100 % 😀",
)

#: One valid payload of every payload type, with the awkward values a store can get wrong:
#: Decimals with trailing zeros and negative signs, dates, nested structs, unicode.
SAMPLES: dict[type[Payload], Payload] = {
    ReceiptAttachmentData: RECEIPT,
    InvoiceRegistrationData: InvoiceRegistrationData(
        supplier="Elkjøp Nordic AS",
        amount=Decimal("1250.50"),
        date=DAY,
        due_date=DAY + dt.timedelta(days=14),
        vat_rate=Decimal("25"),
        account_code="6553",
        invoice_number="F-2026-001",
        line_items=(
            LineItem(description="Skjerm", amount=Decimal("1000.00"), vat_rate=Decimal("25")),
            LineItem(
                description="Kabel",
                amount=Decimal("250.50"),
                vat_rate=Decimal("25"),
                account_code="6540",
            ),
        ),
        vat_amount=Decimal("250.10"),
        kid="1234567890",
    ),
    ExpenseRegistrationData: ExpenseRegistrationData(
        employee="kari",
        amount=Decimal("0.01"),
        date=DAY,
        category="Reise",
        vat_rate=Decimal("12"),
        account_code="7140",
        merchant_name="Vy",
    ),
    PatternSuggestionData: PatternSuggestionData(
        merchant="Adobe", account_code="6540", vat_rate=Decimal("11.11"), reason="seen 3×"
    ),
    ReversalData: ReversalData(target_proposal_id=str(uuid.UUID(int=7)), reason="wrong"),
    CorrectionData: CorrectionData(
        target_proposal_id=str(uuid.UUID(int=8)),
        reason="account",
        changes=Corrections(account_code="6810", amount=Decimal("10.50"), date=DAY),
    ),
    ApprovedData: ApprovedData(
        corrections=Corrections(vat_rate=Decimal("15"), due_date=DAY), rule="r", comment="ok"
    ),
    EndorsedData: EndorsedData(
        corrections=Corrections(amount=Decimal("60000.50")), rule="two-approvers:1/2"
    ),
    RejectedData: RejectedData(reason="Not ours"),
    ExecutionStartedData: ExecutionStartedData(
        attempt=1,
        executor="host:1",
        lease_until=dt.datetime(2026, 11, 20, 10, 5, tzinfo=dt.UTC),
    ),
    ExecutedData: ExecutedData(attempt=2, external_ids={"fikenPurchaseId": "99"}),
    ExecutionFailedData: ExecutionFailedData(
        attempt=1,
        error="503",
        retryable=True,
        next_attempt_at=dt.datetime(2026, 11, 20, 10, 0, 0, 1, tzinfo=dt.UTC),
        outage=True,
        failing_since=dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
    ),
    FailedData: FailedData(attempt=5, error="gave up"),
    ExecutionRetriedData: ExecutionRetriedData(attempt=5, comment="Fiken er oppe igjen"),
    BalanceQueriedData: BalanceQueriedData(
        accounts=(
            AccountBalance(account="1920", balance=Decimal("-1234567.89"), name="Bank"),
            AccountBalance(account="2400", balance=Decimal("0.00")),
        ),
        as_of=DAY,
    ),
    TransactionsQueriedData: TransactionsQueriedData(
        count=3, date_range=DateRange(start=DAY, end=DAY + dt.timedelta(days=1))
    ),
    MissingReceiptsCheckedData: MissingReceiptsCheckedData(count=2, events=("a", "b")),
    PurchasesQueriedData: PurchasesQueriedData(
        kind="supplier", count=4, date_range=DateRange(start=DAY, end=DAY)
    ),
    DocumentExtractedData: DocumentExtractedData(
        document_hash="ab" * 32,
        extractor="claude",
        document_type="receipt",
        model="claude-test",
        input_tokens=1200,
        output_tokens=300,
        cost_usd=Decimal("0.0081"),
        warnings=("no organisation number",),
    ),
    IntentClassifiedData: IntentClassifiedData(
        classifier="claude",
        intent="missing_receipts",
        model="claude-haiku-4-5",
        input_tokens=1500,
        output_tokens=300,
        cost_usd=Decimal("0.003"),
    ),
    CostsCheckedData: CostsCheckedData(
        date_range=DateRange(start=DAY, end=DAY),
        totals=(
            CostTotal(
                source="bookkeeper",
                currency="USD",
                amount=Decimal("0.0081"),
                input_tokens=1200,
                output_tokens=300,
                records=1,
            ),
        ),
    ),
    UnknownAccountsCheckedData: UnknownAccountsCheckedData(
        backend="sandbox", chart_size=40, accounts=("6301", "2400:20001")
    ),
    ExecutionFailureResolvedData: ExecutionFailureResolvedData(
        proposal_id="0192f0c4-0000-7000-8000-000000000001", note="booked by hand in Fiken"
    ),
    ExecutionsCheckedData: ExecutionsCheckedData(
        failed=("a",), stuck=("b", "c"), stuck_after_minutes=60
    ),
    ProposalNotedData: ProposalNotedData(
        proposal_id="0192f0c4-0000-7000-8000-000000000001",
        text="feil, det skal være konto 6540 «ikke» 5990",
        channel="discord",
    ),
    MorningCheckRanData: MorningCheckRanData(
        job="morning",
        date=DAY,
        missing_receipts=3,
        costs_yesterday=(CostTotal(source="bookkeeper", currency="USD", amount=Decimal("1.50")),),
        costs_month=(),
        next_vat_due=DAY,
        failed_executions=("a",),
        unknown_accounts=None,
        unavailable=("unknown-accounts",),
        summary="Morgensjekk",
    ),
    MorningSummaryPostedData: MorningSummaryPostedData(channels=("log", "discord")),
    MorningCheckClaimedData: MorningCheckClaimedData(
        job="morning",
        date=DAY,
        holder="0f3c",
        until=dt.datetime(2026, 11, 20, 6, 20, tzinfo=dt.UTC),
    ),
    JournalEntryPostedData: JournalEntryPostedData(
        date=DAY,
        description="Husleie",
        lines=(
            JournalLine(account="6300", debit=Decimal("8000.00"), vat_code="1", vat_part="base"),
            JournalLine(account="2710", debit=Decimal("2000.00"), vat_code="1", vat_part="tax"),
            JournalLine(
                account="1920",
                credit=Decimal("10000.00"),
                party=Party(kind="supplier", id="L-1", name="Gårdeier AS", org_number="9"),
            ),
        ),
        proposal_id=str(uuid.UUID(int=9)),
    ),
    AlertRaisedData: AlertRaisedData(
        severity="error", code="execution-failed", message="gave up", proposal_id="p"
    ),
    AccountMasterData: AccountMasterData(
        code="2400:20001",
        name="Leverandørgjeld Elkjøp",
        source="accounts-master",
        message_id="m",
        stream="BOOKKEEPER_ACCOUNTS",
        sequence=17,
        stored=T0,
    ),
    # Issue 12: a compliance finding on a posted entry.
    events.TransactionFailedComplianceData: events.TransactionFailedComplianceData(
        entry_id=str(uuid.UUID(int=11)),
        entry_date=DAY,
        findings=(
            events.ComplianceFinding(
                rule="vat-rate-not-valid",
                message="VAT code 11 at 16 % is not valid on 2026-11-18",
                # In jsonb's own key order (shorter first), as PostgreSQL gives a dict back.
                evidence={"vat": "16.00", "base": "100.00", "code": "11", "rate": "16"},
            ),
        ),
        reversal_proposal_id=str(uuid.UUID(int=12)),
    ),
    # Issue 11: spending.
    events.CostSnapshotData: events.CostSnapshotData(
        source="google",
        day=DAY,
        service="Vertex AI",
        model="Gemini 2.5 Flash output tokens",
        currency="USD",
        amount=Decimal("0.123456789"),
        amount_nok=Decimal("1.3580"),
        rate=Decimal("11.0003"),
        rate_date=DAY,
        input_tokens=7,
        basis="estimated",
        quantities={"requests": 12},
        revision=2,
        previous_amount=Decimal("0.1"),
    ),
    events.BudgetSetData: events.BudgetSetData(source="anthropic", monthly_nok=Decimal("2500.00")),
    events.PriceTableSetData: events.PriceTableSetData(
        source="cloudflare",
        currency="USD",
        prices=(events.UnitPrice(metric="requests", price=Decimal("0.30"), per=1_000_000),),
    ),
    events.BudgetThresholdReachedData: events.BudgetThresholdReachedData(
        source="anthropic",
        month="2026-11",
        threshold=80,
        budget_nok=Decimal("100.00"),
        spent_nok=Decimal("80.10"),
    ),
    events.BooksImportedData: events.BooksImportedData(
        source="fiken",
        start=DAY,
        journal_entries_modified=DAY,
        sales_modified=DAY,
        purchases_dated=DAY,
        ran_on=DAY,
        imported=6,
        known=2,
        executed_here=1,
        problems=1,
    ),
    events.BooksRecordPartsData: events.BooksRecordPartsData(
        what="sale", id="1234", parts=("payment:55", "write-off")
    ),
    events.BooksTransactionKnownData: events.BooksTransactionKnownData(key="offset:9876"),
    # Issue 14: a tenant's own credentials set and removed (no secret in either).
    events.CredentialsSetData: events.CredentialsSetData(
        provider="fiken", fingerprint="sha256:0123456789ab", company="acme-as"
    ),
    events.CredentialsRemovedData: events.CredentialsRemovedData(provider="folio"),
    events.PeriodChangedData: events.PeriodChangedData(
        kind="vat-term", name="2026-5", start=dt.date(2026, 9, 1), end=dt.date(2026, 10, 31)
    ),
    events.CredentialsReencryptedData: events.CredentialsReencryptedData(
        providers=("fiken", "folio"), fingerprints=("sha256:0123456789ab", "sha256:ba9876543210")
    ),
    events.VatQueriedData: events.VatQueriedData(
        year=2026,
        term=5,
        output_vat=Decimal("250.00"),
        input_vat=Decimal("39.80"),
        payable=Decimal("210.20"),
        due=dt.date(2026, 12, 10),
    ),
    events.LedgerQueriedData: events.LedgerQueriedData(
        question="costs",
        start=DAY,
        end=DAY,
        accounts=("6540", "6552"),
        amount=Decimal("398.00"),
    ),
    events.SpendingQueriedData: events.SpendingQueriedData(
        date_range=DateRange(start=DAY, end=DAY),
        sources=("anthropic",),
        totals=(events.SourceSpend(source="anthropic", amount_nok=Decimal("12.50")),),
    ),
}


def new_event(
    type_: str = "ReceiptAttachmentProposed",
    *,
    data: Payload | None = None,
    event_id: uuid.UUID | None = None,
    actor: str = "book-e",
    correlation_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    created_at: dt.datetime = T0,
    metadata: dict[str, Any] | None = None,
) -> NewEvent:
    etype = CATALOGUE[type_]
    return NewEvent(
        id=event_id or uuid.uuid4(),
        type=type_,
        schema_version=etype.schema_version,
        status=etype.status,
        actor=actor,
        data=data if data is not None else SAMPLES[etype.payload],
        metadata=metadata if metadata is not None else {},
        parent_id=parent_id,
        correlation_id=correlation_id or uuid.uuid4(),
        created_at=created_at,
    )


async def append(
    backend: Backend,
    tenant: str,
    stream: uuid.UUID,
    expected: int,
    *events: NewEvent,
) -> list[RecordedEvent]:
    async with backend.factory() as uow:
        recorded = await uow.events.append(tenant, stream, expected, list(events))
        await uow.commit()
    return recorded


async def read_stream(backend: Backend, tenant: str, stream: uuid.UUID) -> list[RecordedEvent]:
    async with backend.factory() as uow:
        return await uow.events.read_stream(tenant, stream)


async def query(backend: Backend, tenant: str, **where: Any) -> list[RecordedEvent]:
    async with backend.factory() as uow:
        return await uow.events.query(tenant, EventFilter(**where))


def same_event(stored: RecordedEvent, sent: NewEvent) -> None:
    assert stored.id == sent.id
    assert stored.type == sent.type
    assert stored.schema_version == sent.schema_version
    assert stored.status == sent.status
    assert stored.actor == sent.actor
    assert stored.data == sent.data
    assert stored.metadata == sent.metadata
    assert stored.parent_id == sent.parent_id
    assert stored.correlation_id == sent.correlation_id
    assert stored.created_at == sent.created_at


# --- appending and reading -------------------------------------------------------------


async def test_append_numbers_versions_and_reads_back_in_order(backend: Backend) -> None:
    stream = uuid.uuid4()
    proposed = new_event(event_id=stream, metadata={"requestHash": "abc", "n": [1, 2]})
    approved = new_event("ReceiptAttachmentApproved", actor="human:kari", parent_id=stream)
    executed = new_event("ReceiptAttachmentExecuted", actor="system:executor")

    first = await append(backend, ACME, stream, 0, proposed)
    rest = await append(backend, ACME, stream, 1, approved, executed)

    assert [e.version for e in first + rest] == [1, 2, 3]
    positions = [e.position for e in first + rest]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert all(e.tenant_id == ACME and e.stream_id == stream for e in first + rest)
    stored = await read_stream(backend, ACME, stream)
    assert stored == first + rest
    for got, sent in zip(stored, [proposed, approved, executed], strict=True):
        same_event(got, sent)
    async with backend.factory() as uow:
        assert await uow.events.get(ACME, approved.id) == rest[0]
        assert await uow.events.get(ACME, uuid.uuid4()) is None
        assert await uow.events.read_stream(ACME, uuid.uuid4()) == []


async def test_a_stale_expected_version_conflicts(backend: Backend) -> None:
    stream = uuid.uuid4()
    await append(backend, ACME, stream, 0, new_event(event_id=stream))
    await append(backend, ACME, stream, 1, new_event("ReceiptAttachmentApproved"))

    for stale in (0, 1):
        late = new_event("ReceiptAttachmentRejected")
        with pytest.raises(ConcurrencyConflict) as raised:
            await append(backend, ACME, stream, stale, late)
        assert raised.value.stream_id == stream
        assert raised.value.expected_version == stale
        assert late.id not in await backend.committed_ids()
    assert [e.version for e in await read_stream(backend, ACME, stream)] == [1, 2]


async def test_a_too_high_expected_version_conflicts_and_leaves_no_gap(backend: Backend) -> None:
    stream = uuid.uuid4()
    await append(backend, ACME, stream, 0, new_event(event_id=stream))
    for too_high in (2, 5):
        with pytest.raises(ConcurrencyConflict):
            await append(backend, ACME, stream, too_high, new_event("ReceiptAttachmentApproved"))
    with pytest.raises(ConcurrencyConflict):
        await append(backend, ACME, uuid.uuid4(), 1, new_event())  # no such stream yet
    assert [e.version for e in await read_stream(backend, ACME, stream)] == [1]


async def test_a_retried_event_id_is_a_duplicate_and_stored_once(backend: Backend) -> None:
    stream = uuid.uuid4()
    event = new_event(event_id=stream)
    await append(backend, ACME, stream, 0, event)

    with pytest.raises(DuplicateEvent) as same_stream:
        await append(backend, ACME, stream, 0, event)
    assert same_stream.value.event_id == event.id
    # The id is unique across streams and tenants, not just within one stream.
    with pytest.raises(DuplicateEvent):
        await append(backend, ACME, uuid.uuid4(), 0, msgspec.structs.replace(event))
    with pytest.raises(DuplicateEvent):
        await append(backend, GLOBEX, uuid.uuid4(), 0, event)

    async with backend.factory() as uow:
        everything = await uow.events.read_all()
    assert [e.id for e in everything].count(event.id) == 1


async def test_an_append_with_a_taken_id_stores_none_of_its_events(backend: Backend) -> None:
    stream = uuid.uuid4()
    taken = new_event()
    await append(backend, ACME, uuid.uuid4(), 0, taken)
    fresh = new_event(event_id=stream)
    async with backend.factory() as uow:
        with pytest.raises(DuplicateEvent):
            await uow.events.append(
                ACME, stream, 0, [fresh, new_event("ReceiptAttachmentApproved", event_id=taken.id)]
            )
    assert fresh.id not in await backend.committed_ids()
    assert await read_stream(backend, ACME, stream) == []


async def test_append_first_starts_many_streams_and_skips_what_is_taken(
    backend: Backend,
) -> None:
    """The batch append: each item its stream's first event, in one call; an id already
    in the log, a stream already started, and a second copy within the call give None
    and store nothing, the rest is stored as `append` at version 0 would, and the unit
    hands the new events over after commit in log order."""
    booked = new_event()
    await append(backend, ACME, booked.id, 0, booked)
    started = uuid.uuid4()
    await append(backend, ACME, started, 0, new_event(event_id=started))
    first, second, third = new_event(), new_event(), new_event()
    items = [
        (ACME, first.id, first),
        (ACME, booked.id, booked),  # the id is in the log
        (GLOBEX, second.id, second),
        (ACME, started, new_event()),  # the stream is started
        (ACME, first.id, first),  # twice in the call
        (ACME, third.id, third),
    ]
    handed: list[RecordedEvent] = []

    async def after_commit(events: Sequence[RecordedEvent]) -> None:
        handed.extend(events)

    async with backend.handing_over(after_commit)() as uow:
        results = await uow.events.append_first(items)
        await uow.commit()
    assert [r is None for r in results] == [False, True, False, True, True, False]
    stored = [r for r in results if r is not None]
    for got, (tenant, stream, sent) in zip(stored, [items[0], items[2], items[5]], strict=True):
        assert (got.tenant_id, got.stream_id, got.version) == (tenant, stream, 1)
        same_event(got, sent)
        assert await read_stream(backend, tenant, stream) == [got]
    positions = [r.position for r in stored]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert handed == sorted(stored, key=lambda e: e.position)
    async with backend.factory() as uow:
        everything = await uow.events.read_all(limit=1000)
        assert await uow.tracking.head() == max(e.position for e in everything)
    assert len(everything) == 5


async def test_append_many_appends_at_each_expected_version_and_refuses_the_rest(
    backend: Backend,
) -> None:
    """One event on each of many streams (the executor's claims and records, issue 14):
    each at its expected version as `append` would; a stale or too-high version, another
    tenant's stream, a taken id and a second copy within the call give None and store
    nothing; the transaction stays usable and the rest commits."""
    moving, fresh, gap, theirs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for stream in (moving, gap):
        await append(backend, ACME, stream, 0, new_event(), new_event())
    await append(backend, GLOBEX, theirs, 0, new_event())
    taken = new_event()
    await append(backend, ACME, uuid.uuid4(), 0, taken)
    on_moving, on_fresh, copy = new_event(), new_event(), new_event()
    items = [
        (ACME, moving, 2, on_moving),  # at its version: stored as version 3
        (ACME, gap, 1, new_event()),  # stale
        (ACME, gap, 5, new_event()),  # too high: no gap is left
        (ACME, theirs, 1, new_event()),  # another tenant's stream
        (ACME, uuid.uuid4(), 0, taken),  # the id is in the log
        (ACME, fresh, 0, on_fresh),  # a new stream
        (ACME, uuid.uuid4(), 0, on_fresh),  # twice in the call
        (ACME, uuid.uuid4(), 3, copy),  # a stream that does not exist
    ]
    async with backend.factory() as uow:
        results = await uow.events.append_many(items)
        later = uuid.uuid4()
        await uow.events.append(ACME, later, 0, [new_event()])  # still usable
        await uow.commit()
    assert [r is None for r in results] == [False, True, True, True, True, False, True, True]
    stored_moving, stored_fresh = results[0], results[5]
    assert stored_moving is not None and stored_fresh is not None
    assert (stored_moving.stream_id, stored_moving.version) == (moving, 3)
    assert (stored_fresh.stream_id, stored_fresh.version) == (fresh, 1)
    same_event(stored_moving, on_moving)
    same_event(stored_fresh, on_fresh)
    assert stored_moving.position < stored_fresh.position
    assert (await read_stream(backend, ACME, moving))[-1] == stored_moving
    assert await read_stream(backend, ACME, fresh) == [stored_fresh]
    assert [e.version for e in await read_stream(backend, ACME, gap)] == [1, 2]
    assert len(await read_stream(backend, GLOBEX, theirs)) == 1
    assert len(await read_stream(backend, ACME, later)) == 1


@pytest.fixture(params=[POSTGRES])
async def postgres_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async for opened in _open_backend(request):
        yield opened


async def test_batch_appends_send_their_arrays_in_binary(
    postgres_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: append_first and append_many send their arrays
    in binary. psycopg's text format escapes every element with a regular expression (~50
    ms for 256 JSON texts); its raw cursor dumps lists that way whatever the SQL asks, so
    a statement with binary arrays must not run on it (the bus and the executor batch)."""

    text_dump = psycopg.types.array.ListDumper.dump

    def refuse(self: psycopg.types.array.ListDumper, obj: list[Any]) -> Any:
        # A list of nothing but NULLs has no element type to send in binary; it is cheap.
        if any(item is not None for item in obj):
            raise AssertionError("an array was dumped in text")
        return text_dump(self, obj)

    monkeypatch.setattr(psycopg.types.array.ListDumper, "dump", refuse)
    backend = postgres_backend
    taken = new_event()
    moving = uuid.uuid4()
    async with backend.factory() as uow:
        await uow.events.append(ACME, taken.id, 0, [taken])
        await uow.events.append(ACME, moving, 0, [new_event()])
        await uow.commit()
    first, second = new_event(), new_event()
    async with backend.factory() as uow:
        started = await uow.events.append_first(
            [(ACME, first.id, first), (ACME, taken.id, taken), (GLOBEX, second.id, second)]
        )
        moved = await uow.events.append_many(
            [(ACME, moving, 1, new_event()), (ACME, uuid.uuid4(), 0, new_event())]
        )
        await uow.commit()
    assert [r is None for r in started] == [False, True, False]
    assert [r is None for r in moved] == [False, False]
    assert len(await read_stream(backend, ACME, moving)) == 2


async def test_append_first_takes_no_position_for_an_id_already_in_the_log(
    postgres_backend: Backend,
) -> None:
    """PostgreSQL draws a row's position before ON CONFLICT skips it; a redelivered id
    must not leave that hole (the bus-publisher waits each one out, ADR 0030): the ids
    already in the log never reach the insert (ADR 0046)."""
    backend = postgres_backend
    booked = new_event()
    [before] = await append(backend, ACME, booked.id, 0, booked)
    fresh, after = new_event(), new_event()
    async with backend.factory() as uow:
        results = await uow.events.append_first(
            [(ACME, booked.id, booked), (ACME, fresh.id, fresh), (ACME, booked.id, booked)]
        )
        await uow.commit()
    assert [r is None for r in results] == [True, False, True]
    [later] = await append(backend, ACME, after.id, 0, after)
    stored = results[1]
    assert stored is not None
    assert (stored.position, later.position) == (before.position + 1, before.position + 2)


async def test_append_many_takes_no_position_for_a_taken_id_or_version(
    postgres_backend: Backend,
) -> None:
    """As append_first: an id already in the log (a record redone after a crash) or a
    version another writer took does not reach the insert, so it leaves no hole in the
    positions for the bus-publisher to wait out (ADR 0030)."""
    backend = postgres_backend
    stream = uuid.uuid4()
    booked = new_event()
    [before] = await append(backend, ACME, stream, 0, booked)
    fresh, after = new_event(), new_event()
    async with backend.factory() as uow:
        results = await uow.events.append_many(
            [
                (ACME, uuid.uuid4(), 0, booked),  # the id is in the log
                (ACME, stream, 0, new_event()),  # version 1 is taken
                (ACME, uuid.uuid4(), 0, fresh),
            ]
        )
        await uow.commit()
    assert [r is None for r in results] == [True, True, False]
    [later] = await append(backend, ACME, after.id, 0, after)
    stored = results[2]
    assert stored is not None
    assert (stored.position, later.position) == (before.position + 1, before.position + 2)


async def test_a_refused_append_leaves_the_unit_of_work_usable(backend: Backend) -> None:
    stream = uuid.uuid4()
    await append(backend, ACME, stream, 0, new_event(event_id=stream))
    other = uuid.uuid4()
    async with backend.factory() as uow:
        with pytest.raises(ConcurrencyConflict):
            await uow.events.append(ACME, stream, 0, [new_event()])
        with pytest.raises(DuplicateEvent):
            await uow.events.append(ACME, uuid.uuid4(), 0, [new_event(event_id=stream)])
        await uow.events.append(ACME, other, 0, [new_event(event_id=other)])
        await uow.commit()
    assert [e.id for e in await read_stream(backend, ACME, other)] == [other]


async def test_append_of_nothing_only_checks_the_version(backend: Backend) -> None:
    stream = uuid.uuid4()
    await append(backend, ACME, stream, 0, new_event(event_id=stream))
    assert await append(backend, ACME, stream, 1) == []
    assert await append(backend, ACME, uuid.uuid4(), 0) == []
    with pytest.raises(ConcurrencyConflict):
        await append(backend, ACME, stream, 0)
    with pytest.raises(ConcurrencyConflict):
        await append(backend, GLOBEX, stream, 1)


async def test_concurrent_appends_at_one_version_have_one_winner(backend: Backend) -> None:
    stream = uuid.uuid4()
    await append(backend, ACME, stream, 0, new_event(event_id=stream))

    async def decide(index: int) -> str:
        try:
            await append(backend, ACME, stream, 1, new_event("ReceiptAttachmentApproved"))
        except ConcurrencyConflict:
            return "conflict"
        return "won"

    outcomes = await asyncio.gather(*(decide(i) for i in range(8)))
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert [e.version for e in await read_stream(backend, ACME, stream)] == [1, 2]


# --- tenants ----------------------------------------------------------------------------


async def test_another_tenants_events_and_streams_are_invisible(backend: Backend) -> None:
    stream = uuid.uuid4()
    event = new_event(event_id=stream, correlation_id=stream)
    await append(backend, ACME, stream, 0, event)

    async with backend.factory() as uow:
        assert await uow.events.get(GLOBEX, event.id) is None
        assert await uow.events.read_stream(GLOBEX, stream) == []
        assert await uow.events.query(GLOBEX, EventFilter(correlation_id=stream)) == []
        assert await uow.events.query(GLOBEX, EventFilter(stream_id=stream)) == []
    # Nor can another tenant write into the stream, at any expected version.
    for expected in (0, 1):
        with pytest.raises(ConcurrencyConflict):
            await append(backend, GLOBEX, stream, expected, new_event("ReceiptAttachmentApproved"))
    assert [e.version for e in await read_stream(backend, ACME, stream)] == [1]


# --- transactions -----------------------------------------------------------------------


async def test_nothing_is_visible_before_commit(backend: Backend) -> None:
    stream = uuid.uuid4()
    event = new_event(event_id=stream)
    async with backend.factory() as writer:
        await writer.events.append(ACME, stream, 0, [event])
        assert event.id not in await backend.committed_ids()
        if backend.interleaves:
            async with backend.factory() as reader:
                assert await reader.events.get(ACME, event.id) is None
                assert await reader.events.read_stream(ACME, stream) == []
                assert await reader.events.read_all() == []
        await writer.commit()
    assert event.id in await backend.committed_ids()
    async with backend.factory() as reader:
        assert (await reader.events.get(ACME, event.id)) is not None


async def test_nothing_remains_after_leaving_without_commit(backend: Backend) -> None:
    stream, second = uuid.uuid4(), uuid.uuid4()
    async with backend.factory() as uow:
        await uow.events.append(ACME, stream, 0, [new_event(event_id=stream)])
        await uow.proposals.upsert(proposal_view(proposal_id=stream))

    async def fail_midway() -> None:
        async with backend.factory() as uow:
            await uow.events.append(ACME, second, 0, [new_event(event_id=second)])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()
    assert await backend.committed_ids() == set()
    async with backend.factory() as uow:
        assert await uow.events.read_all() == []
        assert await uow.proposals.get(ACME, stream) is None
    # The version is free again: the rolled-back append did not take it.
    await append(backend, ACME, stream, 0, new_event(event_id=stream))


async def test_an_interleaved_writer_that_read_a_stale_stream_conflicts(
    interleaving_backend: Backend,
) -> None:
    backend = interleaving_backend
    stream = uuid.uuid4()
    await append(backend, ACME, stream, 0, new_event(event_id=stream))
    async with backend.factory() as slow, backend.factory() as fast:
        seen = await slow.events.read_stream(ACME, stream)
        await fast.events.append(ACME, stream, 1, [new_event("ReceiptAttachmentApproved")])
        await fast.commit()
        with pytest.raises(ConcurrencyConflict):
            await slow.events.append(
                ACME, stream, len(seen), [new_event("ReceiptAttachmentRejected")]
            )
    assert [e.type for e in await read_stream(backend, ACME, stream)] == [
        "ReceiptAttachmentProposed",
        "ReceiptAttachmentApproved",
    ]


# --- queries ------------------------------------------------------------------------------


async def test_query_filters_by_every_field_in_position_order(backend: Backend) -> None:
    correlation = uuid.uuid4()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    t = [T0 + dt.timedelta(minutes=i) for i in range(4)]
    await append(
        backend, ACME, a, 0, new_event(event_id=a, correlation_id=correlation, created_at=t[0])
    )
    await append(
        backend,
        ACME,
        a,
        1,
        new_event(
            "ReceiptAttachmentApproved",
            actor="human:kari",
            correlation_id=correlation,
            parent_id=a,
            created_at=t[1],
        ),
    )
    await append(backend, ACME, b, 0, new_event("BalanceQueried", event_id=b, created_at=t[2]))
    await append(
        backend, GLOBEX, c, 0, new_event(event_id=c, correlation_id=correlation, created_at=t[3])
    )

    def types(events: list[RecordedEvent]) -> list[str]:
        return [e.type for e in events]

    everything = await query(backend, ACME)
    assert types(everything) == [
        "ReceiptAttachmentProposed",
        "ReceiptAttachmentApproved",
        "BalanceQueried",
    ]
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    assert types(await query(backend, ACME, types=("BalanceQueried", "PatternSuggested"))) == [
        "BalanceQueried"
    ]
    assert types(await query(backend, ACME, statuses=(Status.APPROVED, Status.EXECUTED))) == [
        "ReceiptAttachmentApproved",
        "BalanceQueried",
    ]
    assert types(await query(backend, ACME, actor="human:kari")) == ["ReceiptAttachmentApproved"]
    assert types(await query(backend, ACME, correlation_id=correlation)) == [
        "ReceiptAttachmentProposed",
        "ReceiptAttachmentApproved",
    ]
    assert types(await query(backend, ACME, stream_id=b)) == ["BalanceQueried"]
    # created_from is inclusive, created_to exclusive.
    assert types(await query(backend, ACME, created_from=t[1], created_to=t[2])) == [
        "ReceiptAttachmentApproved"
    ]
    in_oslo = dt.timezone(dt.timedelta(hours=1))
    assert types(await query(backend, ACME, created_from=t[2].astimezone(in_oslo))) == [
        "BalanceQueried"
    ]
    assert await query(backend, ACME, types=("BalanceQueried",), actor="human:kari") == []


async def test_query_pages_by_position(backend: Backend) -> None:
    streams = [uuid.uuid4() for _ in range(5)]
    for stream in streams:
        await append(backend, ACME, stream, 0, new_event(event_id=stream))
    seen: list[uuid.UUID] = []
    after = 0
    while page := await query(backend, ACME, after_position=after, limit=2):
        assert len(page) <= 2
        seen += [e.id for e in page]
        after = page[-1].position
    assert seen == streams


async def test_query_newest_first_reads_the_latest_of_a_type(backend: Backend) -> None:
    # Story 8 ("vis de siste 5 bilagene"): the latest `limit` events of a type, newest first.
    streams = [uuid.uuid4() for _ in range(5)]
    for n, stream in enumerate(streams):
        kind = "BalanceQueried" if n % 2 == 0 else "ReceiptAttachmentProposed"
        await append(backend, ACME, stream, 0, new_event(kind, event_id=stream))
    await append(backend, GLOBEX, uuid.uuid4(), 0, new_event("BalanceQueried"))
    latest = await query(backend, ACME, types=("BalanceQueried",), newest_first=True, limit=2)
    assert [e.id for e in latest] == [streams[4], streams[2]]
    every = await query(backend, ACME, newest_first=True)
    assert [e.id for e in every] == streams[::-1]


async def test_read_all_returns_every_tenant_in_position_order(backend: Backend) -> None:
    ids = []
    for index in range(6):
        stream = uuid.uuid4()
        await append(backend, (ACME, GLOBEX)[index % 2], stream, 0, new_event(event_id=stream))
        ids.append(stream)
    async with backend.factory() as uow:
        everything = await uow.events.read_all()
        assert [e.id for e in everything] == ids
        assert {e.tenant_id for e in everything} == {ACME, GLOBEX}
        page = await uow.events.read_all(after_position=everything[1].position, limit=3)
        assert [e.id for e in page] == ids[2:5]
        assert await uow.events.read_all(after_position=everything[-1].position) == []


async def test_read_by_stream_pages_every_stream_whole_in_stream_order(backend: Backend) -> None:
    streams = [uuid.uuid4() for _ in range(4)]
    # Interleaved in the log: versions 1 of every stream, then versions 2, then 3.
    for version in range(3):
        for index, stream in enumerate(streams):
            await append(backend, (ACME, GLOBEX)[index % 2], stream, version, new_event())
    expected = [(stream, version) for stream in sorted(streams) for version in (1, 2, 3)]
    async with backend.factory() as uow:
        everything = await uow.events.read_by_stream()
        assert [(e.stream_id, e.version) for e in everything] == expected
        assert {e.tenant_id for e in everything} == {ACME, GLOBEX}
        for limit in (1, 2, 5):
            seen: list[tuple[uuid.UUID, int]] = []
            after: tuple[uuid.UUID, int] | None = None
            while page := await uow.events.read_by_stream(after=after, limit=limit):
                assert len(page) <= limit
                seen.extend((e.stream_id, e.version) for e in page)
                after = seen[-1]
            assert seen == expected
        # Its own uncommitted events too, as every read of the unit of work.
        extra = await uow.events.append(ACME, streams[0], 3, [new_event()])
        tail = await uow.events.read_by_stream(after=(streams[0], 3))
        assert extra[0] in tail


# --- payloads and timestamps ----------------------------------------------------------


async def test_every_event_type_round_trips_with_decimals_and_dates_intact(
    backend: Backend,
) -> None:
    stream = uuid.uuid4()
    sent = [new_event(name) for name in sorted(CATALOGUE)]
    recorded = await append(backend, ACME, stream, 0, *sent)
    stored = await read_stream(backend, ACME, stream)
    assert stored == recorded
    for got, event in zip(stored, sent, strict=True):
        same_event(got, event)
        assert type(got.data) is type(event.data)
        # Exactly the same digits, not merely equal numbers: "199.00" stays "199.00".
        assert msgspec.json.encode(got.data) == msgspec.json.encode(event.data)


async def test_timestamps_come_back_aware_and_in_utc(backend: Backend) -> None:
    utc_stream, oslo_stream = uuid.uuid4(), uuid.uuid4()
    in_oslo = T0.astimezone(dt.timezone(dt.timedelta(hours=2)))
    await append(backend, ACME, utc_stream, 0, new_event(event_id=utc_stream))
    await append(backend, ACME, oslo_stream, 0, new_event(event_id=oslo_stream, created_at=in_oslo))
    async with backend.factory() as uow:
        utc = await uow.events.get(ACME, utc_stream)
        oslo = await uow.events.get(ACME, oslo_stream)
    assert utc is not None and oslo is not None
    assert utc.created_at == T0 and utc.created_at.utcoffset() == dt.timedelta(0)
    assert oslo.created_at == T0 and oslo.created_at.tzinfo is not None


# --- projections ------------------------------------------------------------------------


def proposal_view(
    *,
    proposal_id: uuid.UUID | None = None,
    tenant: str = ACME,
    **changes: Any,
) -> ProposalView:
    view = ProposalView(
        id=proposal_id or uuid.uuid4(),
        tenant_id=tenant,
        kind="receipt_attachment",
        type="ReceiptAttachmentProposed",
        status=Status.PROPOSED,
        version=1,
        correlation_id=uuid.uuid4(),
        proposed_by="book-e",
        proposed_at=T0,
        updated_at=T0,
        merchant_key="adobe",
        merchant_name="Adobe",
        amount=Decimal("199.00"),
        document_date=DAY,
        document_number="INV-1",
        account_code="6540",
        vat_rate=Decimal("25"),
        data=msgspec.to_builtins(RECEIPT),
        corrections=None,
        confidence=Decimal("0.85"),
        review_outcome="awaiting_review",
        review_band="review_recommended",
        review_rule="review-recommended",
        decided_by=None,
        decided_at=None,
        decision_rule=None,
        rejection_reason=None,
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        external_ids={},
        target_proposal_id=None,
        last_position=1,
    )
    return msgspec.structs.replace(view, **changes)


async def upsert(backend: Backend, *views: ProposalView) -> None:
    async with backend.factory() as uow:
        for view in views:
            await uow.proposals.upsert(view)
        await uow.commit()


async def test_a_proposal_view_round_trips_and_is_replaced_by_upsert(backend: Backend) -> None:
    full = proposal_view(
        status=Status.EXECUTED,
        version=4,
        updated_at=T0 + dt.timedelta(hours=1),
        corrections={"accountCode": "6810", "amount": "10.50"},
        decided_by="human:kari",
        decided_at=T0 + dt.timedelta(minutes=5),
        decision_rule="auto-approve-known-pattern",
        rejection_reason=None,
        attempts=2,
        next_attempt_at=T0 + dt.timedelta(minutes=30),
        last_error="timeout",
        external_ids={"fikenPurchaseId": "12"},
        target_proposal_id=uuid.uuid4(),
        confidence=Decimal("0.93"),
        last_position=17,
    )
    sparse = proposal_view(
        kind="pattern_suggestion",
        type="PatternSuggested",
        merchant_key=None,
        merchant_name=None,
        amount=None,
        document_date=None,
        document_number=None,
        account_code=None,
        vat_rate=None,
        confidence=None,
        review_outcome=None,
        review_band=None,
        review_rule=None,
    )
    await upsert(backend, full, sparse)
    async with backend.factory() as uow:
        assert await uow.proposals.get(ACME, full.id) == full
        assert await uow.proposals.get(ACME, sparse.id) == sparse
        assert await uow.proposals.get(GLOBEX, full.id) is None
        got = await uow.proposals.get(ACME, full.id)
        assert got is not None and got.updated_at.utcoffset() == dt.timedelta(0)
        assert got.status is Status.EXECUTED

    changed = msgspec.structs.replace(
        full, status=Status.FAILED, version=5, last_error="gave up", last_position=18
    )
    await upsert(backend, changed)
    async with backend.factory() as uow:
        assert await uow.proposals.get(ACME, full.id) == changed


async def test_upsert_many_inserts_and_replaces_with_the_last_view_winning(
    backend: Backend,
) -> None:
    kept = proposal_view(last_position=3)
    replaced = proposal_view(last_position=4, document_number=None)
    async with backend.factory() as uow:
        await uow.proposals.upsert_many([])
        await uow.proposals.upsert_many([kept, replaced])
        await uow.commit()
    newer = msgspec.structs.replace(
        replaced,
        status=Status.EXECUTED,
        version=4,
        corrections={"accountCode": "6810"},
        decided_by="human:kari",
        decided_at=T0 + dt.timedelta(minutes=5),
        external_ids={"fikenPurchaseId": "12"},
        target_proposal_id=uuid.uuid4(),
        last_position=9,
    )
    sparse = proposal_view(
        tenant=GLOBEX,
        merchant_key=None,
        amount=None,
        document_date=None,
        vat_rate=None,
        confidence=None,
        data={"text": 'æøå " \\ {}'},
    )
    stale = msgspec.structs.replace(newer, last_position=8)
    async with backend.factory() as uow:
        # The same id twice in one call: the later view wins, as upserts one by one.
        await uow.proposals.upsert_many([stale, sparse, newer])
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.proposals.get(ACME, kept.id) == kept
        assert await uow.proposals.get(ACME, replaced.id) == newer
        assert await uow.proposals.get(GLOBEX, sparse.id) == sparse


async def test_proposal_pages_filter_and_follow_the_last_change(backend: Backend) -> None:
    views = [
        proposal_view(last_position=10, status=Status.PROPOSED),
        proposal_view(last_position=30, status=Status.APPROVED),
        proposal_view(last_position=20, status=Status.PROPOSED, kind="invoice_registration"),
        proposal_view(last_position=40, status=Status.REJECTED),
        proposal_view(last_position=25, tenant=GLOBEX),
    ]
    await upsert(backend, *views)

    async def page(**where: Any) -> list[int]:
        async with backend.factory() as uow:
            found = await uow.proposals.page(ACME, ProposalFilter(**where))
        return [v.last_position for v in found]

    assert await page() == [10, 20, 30, 40]
    assert await page(statuses=(Status.PROPOSED,)) == [10, 20]
    assert await page(statuses=(Status.PROPOSED, Status.REJECTED)) == [10, 20, 40]
    assert await page(kinds=("invoice_registration",)) == [20]
    assert await page(kinds=("receipt_attachment",), statuses=(Status.PROPOSED,)) == [10]
    assert await page(after_position=10, limit=2) == [20, 30]
    assert await page(after_position=40) == []


async def test_find_duplicates_matches_documents_not_rejections(backend: Backend) -> None:
    probe_id = uuid.uuid4()
    same_amount_near = proposal_view(document_number=None, document_date=DAY + dt.timedelta(2))
    same_number = proposal_view(amount=Decimal("5.00"), document_date=DAY - dt.timedelta(90))
    rejected = proposal_view(status=Status.REJECTED)
    too_far = proposal_view(document_number=None, document_date=DAY + dt.timedelta(4))
    other_amount = proposal_view(document_number="INV-2", amount=Decimal("199.01"))
    other_merchant = proposal_view(merchant_key="kiwi")
    other_tenant = proposal_view(tenant=GLOBEX)
    no_date = proposal_view(document_number=None, document_date=None)
    itself = proposal_view(proposal_id=probe_id)
    executed = proposal_view(status=Status.EXECUTED, document_number="X")
    await upsert(
        backend,
        same_amount_near,
        same_number,
        rejected,
        too_far,
        other_amount,
        other_merchant,
        other_tenant,
        no_date,
        itself,
        executed,
    )
    probe = DuplicateProbe(
        merchant_key="adobe",
        amount=Decimal("199.0"),  # equal in value to 199.00
        date_from=DAY - dt.timedelta(3),
        date_to=DAY + dt.timedelta(3),
        document_number="INV-1",
        exclude_id=probe_id,
    )
    async with backend.factory() as uow:
        found = await uow.proposals.find_duplicates(ACME, probe)
        by_amount = await uow.proposals.find_duplicates(
            ACME, msgspec.structs.replace(probe, document_number=None)
        )
    assert set(found) == {same_amount_near.id, same_number.id, executed.id}
    assert len(found) == 3
    assert set(by_amount) == {same_amount_near.id, executed.id}


async def test_open_compensations_are_pending_approved_or_executed(backend: Backend) -> None:
    target = uuid.uuid4()
    views = {
        status: proposal_view(kind="reversal", status=status, target_proposal_id=target)
        for status in Status
    }
    elsewhere = proposal_view(kind="reversal", target_proposal_id=uuid.uuid4())
    foreign = proposal_view(kind="reversal", target_proposal_id=target, tenant=GLOBEX)
    await upsert(backend, *views.values(), elsewhere, foreign)
    async with backend.factory() as uow:
        found = await uow.proposals.open_compensations(ACME, target)
    assert set(found) == {views[s].id for s in (Status.PROPOSED, Status.APPROVED, Status.EXECUTED)}


async def test_approval_counts_per_kind_within_the_window(backend: Backend) -> None:
    auto: dict[str, Any] = {
        "decided_by": "system:review-rules",
        "decision_rule": "auto-approve-known-pattern",
    }
    in_window = T0 + dt.timedelta(hours=1)
    await upsert(
        backend,
        proposal_view(proposed_at=in_window),
        proposal_view(proposed_at=in_window, status=Status.APPROVED, decided_by="human:kari"),
        proposal_view(proposed_at=in_window, status=Status.EXECUTED, **auto),
        proposal_view(proposed_at=in_window, status=Status.FAILED, **auto),
        proposal_view(proposed_at=in_window, status=Status.REJECTED),
        proposal_view(proposed_at=in_window, kind="invoice_registration"),
        proposal_view(proposed_at=T0, status=Status.APPROVED),  # at start: inside
        proposal_view(proposed_at=T0 + dt.timedelta(days=1)),  # at end: outside
        proposal_view(proposed_at=in_window, tenant=GLOBEX),
    )
    async with backend.factory() as uow:
        window = await uow.proposals.approval_counts(ACME, T0, T0 + dt.timedelta(days=1))
        everything = await uow.proposals.approval_counts(ACME, None, None)
        since = await uow.proposals.approval_counts(ACME, T0 + dt.timedelta(hours=2), None)
    assert window == [
        ApprovalCounts(
            kind="invoice_registration",
            proposed=1,
            approved=0,
            auto_approved=0,
            rejected=0,
            pending=1,
            executed=0,
            failed=0,
        ),
        ApprovalCounts(
            kind="receipt_attachment",
            proposed=6,
            approved=4,
            auto_approved=2,
            rejected=1,
            pending=1,
            executed=1,
            failed=1,
        ),
    ]
    assert [c.proposed for c in everything] == [1, 7]
    assert [(c.kind, c.proposed, c.pending) for c in since] == [("receipt_attachment", 1, 1)]


def pattern(tenant: str, merchant_key: str, **changes: Any) -> PatternView:
    view = PatternView(
        tenant_id=tenant,
        merchant_key=merchant_key,
        merchant_name=merchant_key.title(),
        account_code="6540",
        vat_rate=Decimal("25"),
        suggestion_id=uuid.uuid4(),
        approved_by="human:kari",
        applied_at=T0,
        last_position=3,
    )
    return msgspec.structs.replace(view, **changes)


async def test_patterns_upsert_per_merchant_and_list_by_merchant(backend: Backend) -> None:
    kiwi, adobe = pattern(ACME, "kiwi"), pattern(ACME, "adobe")
    foreign = pattern(GLOBEX, "adobe")
    async with backend.factory() as uow:
        for view in (kiwi, adobe, foreign):
            await uow.patterns.upsert(view)
        await uow.commit()
    newer = pattern(ACME, "kiwi", account_code="6810", vat_rate=Decimal("15"), last_position=9)
    async with backend.factory() as uow:
        await uow.patterns.upsert(newer)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.patterns.for_tenant(ACME) == [adobe, newer]
        assert await uow.patterns.for_tenant(GLOBEX) == [foreign]
        assert await uow.patterns.for_tenant("initech") == []


async def test_patterns_are_read_a_page_at_a_time_by_merchant(backend: Backend) -> None:
    """GET /patterns read every pattern of the tenant in one answer, however many."""
    keys = ["adobe", "adobe stock", "github", "kiwi", "telenor"]
    async with backend.factory() as uow:
        for key in reversed(keys):
            await uow.patterns.upsert(pattern(ACME, key))
        await uow.patterns.upsert(pattern(GLOBEX, "bolt"))
        await uow.commit()
    async with backend.factory() as uow:
        pages: list[list[str]] = []
        after = ""
        while True:
            page = [p.merchant_key for p in await uow.patterns.page(ACME, after, 2)]
            pages.append(page)
            if len(page) < 2:
                break
            after = page[-1]
        assert await uow.patterns.page("initech", "", 2) == []
    assert pages == [["adobe", "adobe stock"], ["github", "kiwi"], ["telenor"]]


async def test_scoring_inputs_are_the_patterns_and_the_duplicates_together(
    backend: Backend,
) -> None:
    kiwi, adobe = pattern(ACME, "kiwi"), pattern(ACME, "adobe")
    async with backend.factory() as uow:
        for view in (kiwi, adobe, pattern(GLOBEX, "adobe")):
            await uow.patterns.upsert(view)
        await uow.commit()
    probe_id = uuid.uuid4()
    first = proposal_view(document_number=None, proposed_at=T0)
    later = proposal_view(document_number="INV-1", proposed_at=T0 + dt.timedelta(hours=1))
    only_number = proposal_view(amount=Decimal("5.00"), proposed_at=T0 + dt.timedelta(hours=2))
    await upsert(
        backend,
        later,
        first,
        only_number,
        proposal_view(status=Status.REJECTED),
        proposal_view(tenant=GLOBEX),
        proposal_view(proposal_id=probe_id),
    )
    probe = DuplicateProbe(
        merchant_key="adobe",
        amount=Decimal("199.00"),
        date_from=DAY - dt.timedelta(3),
        date_to=DAY + dt.timedelta(3),
        document_number="INV-1",
        exclude_id=probe_id,
    )
    async with backend.factory() as uow:
        both = await uow.scoring.inputs(ACME, "adobe", probe)
        by_amount = await uow.scoring.inputs(
            ACME, "adobe", msgspec.structs.replace(probe, document_number=None)
        )
        no_probe = await uow.scoring.inputs(ACME, "adobe", None)
        foreign = await uow.scoring.inputs(GLOBEX, "adobe", probe)
        nobody = await uow.scoring.inputs("initech", "adobe", probe)
        # The same answers as the two reads it replaces.
        assert both.patterns == await uow.patterns.candidates(ACME, "adobe")
        assert set(both.duplicates) == set(await uow.proposals.find_duplicates(ACME, probe))
    assert both.patterns == [adobe, kiwi]
    assert set(both.duplicates) == {first.id, later.id, only_number.id}
    assert len(both.duplicates) == 3
    assert set(by_amount.duplicates) == {first.id, later.id}
    assert by_amount.patterns == [adobe, kiwi]
    assert no_probe == ScoringInputs(patterns=[adobe, kiwi], duplicates=[])
    assert [p.tenant_id for p in foreign.patterns] == [GLOBEX]
    assert foreign.duplicates != [] and all(d not in both.duplicates for d in foreign.duplicates)
    assert nobody == ScoringInputs(patterns=[], duplicates=[])


async def test_clear_empties_the_projections_but_not_the_log(backend: Backend) -> None:
    stream = uuid.uuid4()
    await append(backend, ACME, stream, 0, new_event(event_id=stream))
    kept = proposal_view()
    await upsert(backend, proposal_view(proposal_id=stream), proposal_view(tenant=GLOBEX))
    async with backend.factory() as uow:
        await uow.patterns.upsert(pattern(ACME, "kiwi"))
        await uow.commit()
    async with backend.factory() as uow:
        await uow.proposals.clear()
        await uow.patterns.clear()
        await uow.proposals.upsert(kept)  # a replay writes right after clearing
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.proposals.page(ACME, ProposalFilter()) == [kept]
        assert await uow.proposals.page(GLOBEX, ProposalFilter()) == []
        assert await uow.patterns.for_tenant(ACME) == []
        assert len(await uow.events.read_stream(ACME, stream)) == 1


async def test_a_tenant_without_settings_gets_the_default_rules(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.settings.review_rules(ACME) == DEFAULT_RULES


# --- tracking positions -------------------------------------------------------------------


async def position(backend: Backend, subscriber: str) -> int:
    async with backend.factory() as uow:
        return await uow.tracking.position(subscriber)


async def test_a_subscriber_starts_at_position_zero(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.tracking.position("ledger") == 0
        assert await uow.tracking.all() == {}
        assert await uow.tracking.head() == 0  # an empty log


async def test_advance_moves_a_subscriber_from_zero_and_then_on(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.tracking.advance("mailer", 0, 5) is True
        assert await uow.tracking.position("mailer") == 5  # its own, uncommitted
        await uow.commit()
    assert await position(backend, "mailer") == 5
    async with backend.factory() as uow:
        assert await uow.tracking.advance("mailer", 5, 9) is True
        await uow.commit()
    assert await position(backend, "mailer") == 9


async def test_an_advance_from_a_stale_position_is_refused_and_writes_nothing(
    backend: Backend,
) -> None:
    async with backend.factory() as uow:
        assert await uow.tracking.advance("mailer", 0, 5) is True
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.tracking.advance("mailer", 0, 7) is False  # not from 0 any more
        assert await uow.tracking.advance("mailer", 3, 7) is False
        assert await uow.tracking.position("mailer") == 5
        await uow.commit()
    assert await position(backend, "mailer") == 5


async def test_an_advance_left_without_commit_is_not_kept(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.tracking.advance("mailer", 0, 5) is True
    assert await position(backend, "mailer") == 0
    async with backend.factory() as uow:
        assert await uow.tracking.advance("mailer", 0, 3) is True
        await uow.commit()
    assert await position(backend, "mailer") == 3


async def test_all_is_every_subscribers_position(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.tracking.advance("publisher", 0, 8)
        assert await uow.tracking.advance("ledger", 0, 3)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.tracking.advance("ledger", 3, 4)
        assert await uow.tracking.all() == {"ledger": 4, "publisher": 8}


async def test_concurrent_advances_from_one_position_have_one_winner(
    interleaving_backend: Backend,
) -> None:
    backend = interleaving_backend
    for start, (won, lost) in ((0, (5, 6)), (5, (9, 10))):
        async with backend.factory() as first, backend.factory() as second:
            assert await first.tracking.advance("mailer", start, won) is True
            # The second waits for the first (PostgreSQL: its row lock), then finds the
            # position moved.
            pending = asyncio.create_task(second.tracking.advance("mailer", start, lost))
            await asyncio.sleep(0.05)
            assert not pending.done()
            await first.commit()
            assert await pending is False
            await second.commit()
        assert await position(backend, "mailer") == won


async def test_an_advance_waiting_for_one_rolled_back_succeeds(
    interleaving_backend: Backend,
) -> None:
    backend = interleaving_backend
    async with backend.factory() as second:
        async with backend.factory() as first:
            assert await first.tracking.advance("mailer", 0, 5) is True
            pending = asyncio.create_task(second.tracking.advance("mailer", 0, 6))
            await asyncio.sleep(0.05)
            assert not pending.done()
        assert await pending is True
        await second.commit()
    assert await position(backend, "mailer") == 6


async def test_a_replay_leaves_tracking_positions_alone(backend: Backend) -> None:
    await append(backend, ACME, uuid.uuid4(), 0, new_event())
    async with backend.factory() as uow:
        assert await uow.tracking.advance("mailer", 0, 1)
        await uow.commit()
    await rebuild_projections(backend.factory)
    assert await position(backend, "mailer") == 1


# --- events handed over after commit ----------------------------------------------------


class Receiver:
    """An after_commit that keeps what it is given, and checks on each call that the unit
    has let go of the database: another unit of work can open and sees the events
    committed (on SQLite it would otherwise wait for the writer's turn of its own task)."""

    def __init__(self, backend: Backend, *, fail: bool = False) -> None:
        self.calls: list[list[RecordedEvent]] = []
        self.fail = fail
        self.factory = backend.handing_over(self)

    async def __call__(self, events: Sequence[RecordedEvent]) -> None:
        async with self.factory() as uow:
            for event in events:
                assert await uow.events.get(event.tenant_id, event.id) == event
        self.calls.append(list(events))
        if self.fail:
            raise ValueError("the receiver failed")


async def test_committed_events_are_handed_over_once_after_the_unit_ends_in_order(
    backend: Backend,
) -> None:
    receiver = Receiver(backend)
    first, second = uuid.uuid4(), uuid.uuid4()
    async with receiver.factory() as uow:
        recorded = await uow.events.append(ACME, first, 0, [new_event(), new_event()])
        recorded += await uow.events.append(GLOBEX, second, 0, [new_event()])
        await uow.commit()
        assert receiver.calls == []  # not before the unit ends
    assert receiver.calls == [recorded]
    assert [e.position for e in recorded] == sorted(e.position for e in recorded)
    async with receiver.factory() as uow:  # a unit that commits no event hands over nothing
        await uow.proposals.upsert(proposal_view())
        await uow.commit()
    assert receiver.calls == [recorded]


async def test_a_unit_rolled_back_hands_over_nothing(backend: Backend) -> None:
    receiver = Receiver(backend)
    async with receiver.factory() as uow:
        await uow.events.append(ACME, uuid.uuid4(), 0, [new_event()])

    async def failing() -> None:
        async with receiver.factory() as uow:
            await uow.events.append(ACME, uuid.uuid4(), 0, [new_event()])
            raise RuntimeError("failed before commit")

    with pytest.raises(RuntimeError, match="before commit"):
        await failing()
    assert receiver.calls == []
    assert await backend.committed_ids() == set()


async def test_events_committed_before_an_exception_are_handed_over(backend: Backend) -> None:
    receiver = Receiver(backend)
    stream = uuid.uuid4()
    recorded: list[RecordedEvent] = []

    async def failing() -> None:
        async with receiver.factory() as uow:
            recorded.extend(await uow.events.append(ACME, stream, 0, [new_event()]))
            await uow.commit()
            await uow.events.append(ACME, stream, 1, [new_event()])
            raise RuntimeError("failed after commit")

    with pytest.raises(RuntimeError, match="after commit"):
        await failing()
    assert receiver.calls == [recorded]
    assert await backend.committed_ids() == {recorded[0].id}


async def test_two_commits_in_one_unit_hand_over_both_batches_in_commit_order(
    backend: Backend,
) -> None:
    receiver = Receiver(backend)
    stream = uuid.uuid4()
    async with receiver.factory() as uow:
        first = await uow.events.append(ACME, stream, 0, [new_event()])
        await uow.commit()
        second = await uow.events.append(ACME, stream, 1, [new_event(), new_event()])
        await uow.commit()
        await uow.events.append(ACME, stream, 3, [new_event()])  # never committed
    assert receiver.calls == [first + second]
    assert {e.id for e in first + second} == await backend.committed_ids()


async def test_a_failing_after_commit_is_logged_and_undoes_nothing(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(backend, fail=True)
    with caplog.at_level(logging.ERROR, logger="bookkeeper.dispatch"):
        async with receiver.factory() as uow:
            recorded = await uow.events.append(ACME, uuid.uuid4(), 0, [new_event()])
            await uow.commit()
    assert receiver.calls == [recorded]
    assert await backend.committed_ids() == {recorded[0].id}
    [record] = [r for r in caplog.records if r.name == "bookkeeper.dispatch"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


# --- a proposal's events, its view and the commit in one call (ADR 0041) ------------------


async def test_commit_proposal_appends_upserts_the_folded_view_and_commits(
    backend: Backend,
) -> None:
    receiver = Receiver(backend)
    stream = uuid.uuid4()
    proposed = new_event(event_id=stream, correlation_id=stream, metadata={"requestHash": "h"})
    async with receiver.factory() as uow:
        recorded, view = await uow.commit_proposal(ACME, stream, [], [proposed])
        assert receiver.calls == []  # handed over when the unit ends, as after commit()
        assert await backend.committed_ids() == {proposed.id}  # committed already
    assert receiver.calls == [recorded]
    stored = await read_stream(backend, ACME, stream)
    assert stored == recorded and stored[0].version == 1
    same_event(stored[0], proposed)
    assert view == fold_proposal(stored)
    assert view.last_position == stored[0].position and view.status is Status.PROPOSED

    approved = new_event(
        "ReceiptAttachmentApproved",
        data=ApprovedData(comment="ok"),
        actor="human:kari",
        parent_id=stream,
        correlation_id=stream,
    )
    async with backend.factory() as uow:
        more, decided = await uow.commit_proposal(ACME, stream, stored, [approved])
    after = await read_stream(backend, ACME, stream)
    assert after == [*stored, *more] and more[0].version == 2
    assert decided == fold_proposal(after) and decided.status is Status.APPROVED
    assert decided.last_position == more[0].position > view.last_position
    async with backend.factory() as uow:
        assert await uow.proposals.get(ACME, stream) == decided


async def test_commit_proposal_of_several_events_writes_them_all_with_the_view(
    backend: Backend,
) -> None:
    stream = uuid.uuid4()
    proposed = new_event(event_id=stream, correlation_id=stream)
    approved = new_event(
        "ReceiptAttachmentApproved",
        data=ApprovedData(comment="rule"),
        actor="system:review-rules",
        parent_id=stream,
    )
    async with backend.factory() as uow:
        recorded, view = await uow.commit_proposal(ACME, stream, [], [proposed, approved])
    assert [e.version for e in recorded] == [1, 2]
    assert await read_stream(backend, ACME, stream) == recorded
    assert view == fold_proposal(recorded) and view.status is Status.APPROVED
    async with backend.factory() as uow:
        assert await uow.proposals.get(ACME, stream) == view


async def test_commit_proposal_refused_writes_nothing_and_commits_nothing(
    backend: Backend,
) -> None:
    """A reused id (the retried request) is DuplicateEvent, a stale version
    ConcurrencyConflict, as `append`; neither the event nor the view is written, nor
    anything else of the unit."""
    stream = uuid.uuid4()
    proposed = new_event(event_id=stream, correlation_id=stream)
    async with backend.factory() as uow:
        stored, _ = await uow.commit_proposal(ACME, stream, [], [proposed])

    elsewhere = uuid.uuid4()
    for target in (stream, elsewhere):
        async with backend.factory() as uow:
            with pytest.raises(DuplicateEvent) as duplicate:
                await uow.commit_proposal(ACME, target, [], [msgspec.structs.replace(proposed)])
        assert duplicate.value.event_id == proposed.id
    approved = new_event(
        "ReceiptAttachmentApproved",
        data=ApprovedData(comment="ok"),
        parent_id=stream,
        correlation_id=stream,
    )
    async with backend.factory() as uow:
        _, decided = await uow.commit_proposal(ACME, stream, stored, [approved])
    rejected = new_event("ReceiptAttachmentRejected", parent_id=stream, correlation_id=stream)
    other = proposal_view(proposal_id=uuid.uuid4())
    async with backend.factory() as uow:
        await uow.proposals.upsert(other)  # written in the same unit: not committed either
        with pytest.raises(ConcurrencyConflict) as conflict:
            await uow.commit_proposal(ACME, stream, stored, [rejected])  # read before approval
    assert conflict.value.stream_id == stream and conflict.value.expected_version == 1
    assert await backend.committed_ids() == {proposed.id, approved.id}
    async with backend.factory() as uow:
        assert await uow.proposals.get(ACME, stream) == decided
        assert await uow.proposals.get(ACME, elsewhere) is None
        assert await uow.proposals.get(other.tenant_id, other.id) is None
