"""Lookups on the memory sandbox: date ranges, the query events, and failures."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.sandbox import sandbox_backends
from bookkeeper.adapters.sandbox.seed import BOOKS_BANK_ACCOUNT_CODE
from bookkeeper.adapters.sandbox.store import MemorySandboxStore
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.errors import ExternalUnavailable, Forbidden
from bookkeeper.application.lookups import InvalidDateRange, Lookups
from bookkeeper.application.ports import (
    Bank,
    BankProvider,
    EventFilter,
    NewPurchase,
    Principal,
    PurchaseLine,
    RecordedEvent,
)
from bookkeeper.domain.events import (
    BalanceQueriedData,
    MissingReceiptsCheckedData,
    PurchasesQueriedData,
    Status,
    TransactionsQueriedData,
)
from tests.unit.conftest import AGENT, VIEWER, FixedClock

TODAY = dt.date(2026, 11, 20)  # the fixed clock's 09:00 UTC is 10:00 in Oslo


class DownBank:
    name = "folio"

    def __getattr__(self, _: str) -> object:
        async def down(*_args: object) -> object:
            raise ExternalUnavailable("folio timed out", system="folio")

        return down


@pytest.fixture
def store() -> MemorySandboxStore:
    return MemorySandboxStore()


def make_lookups(
    uow_factory: MemoryUnitOfWorkFactory,
    clock: FixedClock,
    store: MemorySandboxStore,
    bank: BankProvider | None = None,
) -> Lookups:
    books, sandbox_bank = sandbox_backends(None, clock, store=store)
    return Lookups(uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), books, bank or sandbox_bank)


@pytest.fixture
def lookups(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock, store: MemorySandboxStore
) -> Lookups:
    return make_lookups(uow_factory, clock, store)


async def recorded(
    uow_factory: MemoryUnitOfWorkFactory, tenant: str = "acme"
) -> list[RecordedEvent]:
    async with uow_factory() as uow:
        return await uow.events.query(tenant, EventFilter(limit=100))


async def the_event(uow_factory: MemoryUnitOfWorkFactory, event_id: uuid.UUID) -> RecordedEvent:
    async with uow_factory() as uow:
        event = await uow.events.get("acme", event_id)
    assert event is not None
    return event


# --- date ranges ------------------------------------------------------------------------


def test_the_default_range_is_the_last_30_days_in_norway(
    lookups: Lookups, clock: FixedClock
) -> None:
    assert lookups.date_range(None, None) == (TODAY - dt.timedelta(days=29), TODAY)
    assert lookups.date_range(dt.date(2026, 11, 1), None) == (dt.date(2026, 11, 1), TODAY)
    clock.current = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 21st in Oslo
    assert lookups.date_range(None, None)[1] == dt.date(2026, 11, 21)
    assert lookups.date_range(None, dt.date(2026, 6, 30)) == (
        dt.date(2026, 6, 1),
        dt.date(2026, 6, 30),
    )


def test_a_range_is_forward_and_at_most_366_days(lookups: Lookups) -> None:
    assert lookups.date_range(dt.date(2024, 1, 1), dt.date(2024, 12, 31))  # leap year: 366
    with pytest.raises(InvalidDateRange) as reversed_range:
        lookups.date_range(dt.date(2026, 11, 2), dt.date(2026, 11, 1))
    assert reversed_range.value.field == "from"
    with pytest.raises(InvalidDateRange) as too_long:
        lookups.date_range(dt.date(2025, 1, 1), dt.date(2026, 1, 2))
    assert too_long.value.field == "to"
    with pytest.raises(InvalidDateRange):
        lookups.date_range(TODAY + dt.timedelta(days=1), None)


# --- the recorded queries -----------------------------------------------------------------


async def test_the_balance_query_is_recorded_with_the_balances(
    lookups: Lookups, uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    result = await lookups.bank_accounts(AGENT)
    assert result.backend == "sandbox"
    assert [a.type for a in result.accounts] == ["Operational", "Card"]
    event = await the_event(uow_factory, result.event_id)
    assert (event.type, event.status, event.actor) == ("BalanceQueried", Status.EXECUTED, "book-e")
    assert event.stream_id == event.id == event.correlation_id and event.version == 1
    assert event.metadata == {"source": "api", "backend": "sandbox"}
    assert event.created_at == clock.now()
    assert isinstance(event.data, BalanceQueriedData)
    assert event.data.as_of == TODAY
    assert [(b.account, b.balance) for b in event.data.accounts] == [
        (a.account_number, a.balance) for a in result.accounts
    ]


async def test_the_transactions_query_records_count_and_range(
    lookups: Lookups, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    result = await lookups.bank_transactions(VIEWER, dt.date(2026, 10, 1), TODAY)
    assert result.transactions and all(t.date >= dt.date(2026, 10, 1) for t in result.transactions)
    event = await the_event(uow_factory, result.event_id)
    assert event.actor == "human:vera"
    assert isinstance(event.data, TransactionsQueriedData)
    assert event.data.count == len(result.transactions)
    assert (event.data.date_range.start, event.data.date_range.end) == (dt.date(2026, 10, 1), TODAY)


async def test_missing_receipts_are_money_out_without_a_file(
    lookups: Lookups, uow_factory: MemoryUnitOfWorkFactory, store: MemorySandboxStore
) -> None:
    start = TODAY - dt.timedelta(days=60)
    result = await lookups.missing_receipts(AGENT, start, TODAY)
    everything = await sandbox_backends(None, store=store)[1]("acme").events(start, TODAY)
    expected = [e.id for e in everything if e.amount < 0 and not e.attachments]
    assert [t.id for t in result.transactions] == expected
    assert any(e.amount > 0 for e in everything) and any(e.attachments for e in everything)
    event = await the_event(uow_factory, result.event_id)
    assert isinstance(event.data, MissingReceiptsCheckedData)
    assert event.data.count == len(expected)
    assert list(event.data.events) == expected


async def test_supplier_invoices_and_expenses_are_the_purchases_of_their_kind(
    lookups: Lookups, uow_factory: MemoryUnitOfWorkFactory, store: MemorySandboxStore
) -> None:
    books = sandbox_backends(None, store=store)[0]("acme")
    supplier = await books.create_supplier("Telenor Norge AS", "976967631")
    line = PurchaseLine(
        description="Mobil",
        net=Decimal("1000.00"),
        vat=Decimal("250.00"),
        vat_type="HIGH",
        account="6900",
    )
    invoice_id = await books.create_purchase(
        NewPurchase(
            kind="supplier",
            date=dt.date(2026, 11, 1),
            currency="NOK",
            lines=(line,),
            reference="bk-invoice",
            supplier_id=supplier.id,
            due_date=dt.date(2026, 11, 15),
        )
    )
    expense_id = await books.create_purchase(
        NewPurchase(
            kind="cash_purchase",
            date=dt.date(2026, 11, 2),
            currency="NOK",
            lines=(line,),
            reference="bk-expense",
            paid=True,
            payment_account=BOOKS_BANK_ACCOUNT_CODE,
        )
    )

    invoices = await lookups.supplier_invoices(AGENT)
    expenses = await lookups.expenses(AGENT)
    assert [p.id for p in invoices.purchases] == [invoice_id]
    assert [p.id for p in expenses.purchases] == [expense_id]
    assert invoices.purchases[0].gross == Decimal("1250.00")
    # Named as a person knows them: the supplier, else the line's text.
    assert invoices.purchases[0].description == "Telenor Norge AS"
    assert expenses.purchases[0].description == "Mobil"
    for result, kind in ((invoices, "supplier"), (expenses, "cash_purchase")):
        event = await the_event(uow_factory, result.event_id)
        assert event.type == "PurchasesQueried"
        assert isinstance(event.data, PurchasesQueriedData)
        assert (event.data.kind, event.data.count) == (kind, 1)
        assert event.data.date_range.end == TODAY


# --- refusals and failures ------------------------------------------------------------------


async def test_a_failed_remote_read_records_nothing(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock, store: MemorySandboxStore
) -> None:
    def down(_: str) -> Bank:
        return DownBank()  # type: ignore[return-value]

    lookups = make_lookups(uow_factory, clock, store, bank=down)
    for query in (
        lookups.bank_accounts(AGENT),
        lookups.bank_transactions(AGENT),
        lookups.missing_receipts(AGENT),
    ):
        with pytest.raises(ExternalUnavailable):
            await query
    assert await recorded(uow_factory) == []


async def test_a_principal_without_the_right_asks_nothing(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock, store: MemorySandboxStore
) -> None:
    lookups = make_lookups(uow_factory, clock, store)
    nobody = Principal(subject="x", tenant_id="acme", roles=frozenset({"guest"}))
    with pytest.raises(Forbidden):
        await lookups.bank_accounts(nobody)
    with pytest.raises(Forbidden):
        await lookups.expenses(nobody)
    assert await recorded(uow_factory) == []
    assert await store.get("acme", "bank", "seed", "seed") is None  # the bank was not asked
