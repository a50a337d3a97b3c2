"""The sandbox books and bank against the behaviour the real adapters have, on each store:
in memory, on SQLite and on PostgreSQL. Plus what only the SQL store promises: seeding once
under concurrency (also from two "processes") and state that survives a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bookkeeper.adapters.sandbox import SandboxBank, SandboxBooks, sandbox_store
from bookkeeper.adapters.sandbox.seed import (
    BOOKS_BANK_ACCOUNT_CODE,
    CARD_EVENTS,
    CHART_OF_ACCOUNTS,
)
from bookkeeper.adapters.sandbox.sql import SqlSandboxStore
from bookkeeper.adapters.sandbox.store import MemorySandboxStore, SandboxStore
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.errors import ExternalNotFound, ExternalRejected
from bookkeeper.application.ports import (
    JournalEntryLineOut,
    NewJournalEntry,
    NewPurchase,
    PurchaseLine,
)
from tests.unit.conftest import FixedClock

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 20)
TENANT = "acme"
PDF = b"%PDF-1.4 receipt"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def store(database_url: str | None) -> AsyncIterator[SandboxStore]:
    if database_url is None:
        yield MemorySandboxStore()
        return
    database = SqlDatabase(database_url, pool_size=5, max_overflow=5)
    try:
        chosen = sandbox_store(database)
        assert isinstance(chosen, SqlSandboxStore)
        yield chosen
    finally:
        await database.dispose()


@pytest.fixture
def books(store: SandboxStore, clock: FixedClock) -> SandboxBooks:
    return SandboxBooks(store, TENANT, clock)


@pytest.fixture
def bank(store: SandboxStore, clock: FixedClock) -> SandboxBank:
    return SandboxBank(store, TENANT, clock)


def purchase(
    reference: str = "bk-0001",
    *,
    kind: str = "cash_purchase",
    date: dt.date = dt.date(2026, 11, 3),
    supplier_id: str | None = None,
    **changes: object,
) -> NewPurchase:
    fields: dict[str, object] = {
        "kind": kind,
        "date": date,
        "currency": "NOK",
        "lines": (
            PurchaseLine(
                description="Kontorrekvisita",
                net=Decimal("199.20"),
                vat=Decimal("49.80"),
                vat_type="HIGH",
                account="6800",
            ),
        ),
        "reference": reference,
        "identifier": "R-1",
        "supplier_id": supplier_id,
        "paid": kind == "cash_purchase",
        "payment_account": BOOKS_BANK_ACCOUNT_CODE if kind == "cash_purchase" else None,
        "due_date": date + dt.timedelta(days=14) if kind == "supplier" else None,
    }
    fields.update(changes)
    return NewPurchase(**fields)  # type: ignore[arg-type]


# --- books ------------------------------------------------------------------------------


async def test_the_books_are_seeded_with_a_company_a_chart_and_a_bank_account(
    books: SandboxBooks,
) -> None:
    assert books.name == "sandbox"
    company = await books.company()
    assert company.name == "acme (sandbox)"
    assert company.organization_number is not None and len(company.organization_number) == 9
    codes = {a.code: a.name for a in await books.accounts()}
    assert {"1920", "2400", "2710", "6540", "6800", "7770"} <= codes.keys()
    assert codes["1920"] == "Bankinnskudd"
    [account] = await books.bank_accounts()
    assert account.account_code == BOOKS_BANK_ACCOUNT_CODE
    assert not account.inactive


async def test_a_purchase_is_found_again_by_our_reference_and_its_date(
    books: SandboxBooks,
) -> None:
    purchase_id = await books.create_purchase(purchase("bk-0001"))
    assert purchase_id.isdigit()

    found = await books.find_purchase("bk-0001", dt.date(2026, 11, 3))
    assert found is not None
    assert found.id == purchase_id
    assert found.reference == "bk-0001"
    assert found.kind == "cash_purchase"
    assert found.gross == Decimal("249.00")
    assert found.paid and not found.deleted
    assert found.transaction_id is not None and found.transaction_id.isdigit()
    assert await books.find_purchase("bk-0001", dt.date(2026, 11, 4)) is None
    assert await books.find_purchase("bk-0002", dt.date(2026, 11, 3)) is None


async def test_purchases_are_listed_by_date_range_and_kind(books: SandboxBooks) -> None:
    supplier = await books.create_supplier("Telenor Norge AS", "976967631")
    early = await books.create_purchase(purchase("bk-early", date=dt.date(2026, 10, 1)))
    cash = await books.create_purchase(purchase("bk-cash", date=dt.date(2026, 11, 2)))
    invoice = await books.create_purchase(
        purchase("bk-invoice", kind="supplier", date=dt.date(2026, 11, 5), supplier_id=supplier.id)
    )
    late = await books.create_purchase(purchase("bk-late", date=dt.date(2026, 12, 1)))

    november = await books.purchases(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert [p.id for p in november] == [cash, invoice]
    assert [p.id for p in await books.purchases(TODAY.replace(day=1), TODAY, "supplier")] == [
        invoice
    ]
    assert [p.id for p in await books.purchases(dt.date(2026, 1, 1), TODAY, "cash_purchase")] == [
        early,
        cash,
    ]
    assert late not in {p.id for p in await books.purchases(dt.date(2026, 1, 1), TODAY)}
    [registered] = await books.purchases(dt.date(2026, 11, 5), dt.date(2026, 11, 5))
    assert registered.supplier_id == supplier.id
    assert registered.due_date == dt.date(2026, 11, 19)
    assert not registered.paid


async def test_a_supplier_is_found_by_organisation_number_else_by_exact_name(
    books: SandboxBooks,
) -> None:
    assert await books.find_supplier("976967631", "Telenor Norge AS") is None
    created = await books.create_supplier("Telenor  Norge AS", "976 967 631")
    assert created.id.isdigit()
    assert created.name == "Telenor Norge AS"
    assert created.organization_number == "976967631"
    assert created.supplier_account_code == f"2400:{created.id}"

    assert await books.find_supplier("976967631", "Anything") == created
    assert await books.find_supplier(None, "Telenor Norge AS") == created
    assert await books.find_supplier(None, "Telenor") is None
    # Same name, another organisation number: another company.
    assert await books.find_supplier("923609016", "Telenor Norge AS") is None
    unnumbered = await books.create_supplier("Kiosken", None)
    assert await books.find_supplier("923609016", "Kiosken") == unnumbered


async def test_files_attach_to_a_purchase_by_name(books: SandboxBooks) -> None:
    purchase_id = await books.create_purchase(purchase())
    await books.attach_to_purchase(purchase_id, "kvittering.pdf", PDF, "application/pdf")
    await books.attach_to_purchase(purchase_id, "scan", b"\x89PNG", "image/png")
    found = await books.find_purchase("bk-0001", dt.date(2026, 11, 3))
    assert found is not None
    assert found.attachments == ("kvittering.pdf", "scan.png")

    with pytest.raises(ExternalRejected):
        await books.attach_to_purchase(purchase_id, "notes.txt", b"hi", "text/plain")
    with pytest.raises(ExternalNotFound):
        await books.attach_to_purchase("999999", "x.pdf", PDF, "application/pdf")


async def test_a_deleted_purchase_is_kept_marked_deleted_and_not_deleted_twice(
    books: SandboxBooks,
) -> None:
    purchase_id = await books.create_purchase(purchase())
    await books.delete_purchase(purchase_id, "Feilregistrert")
    found = await books.find_purchase("bk-0001", dt.date(2026, 11, 3))
    assert found is not None and found.deleted
    [listed] = await books.purchases(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert listed.deleted

    with pytest.raises(ExternalRejected):
        await books.delete_purchase(purchase_id, "again")
    with pytest.raises(ExternalNotFound):
        await books.delete_purchase("999999", "nothing")

    # Registered again under the same reference: the live one is found.
    again = await books.create_purchase(purchase())
    found = await books.find_purchase("bk-0001", dt.date(2026, 11, 3))
    assert found is not None and found.id == again and not found.deleted


async def test_what_fiken_would_refuse_is_refused(books: SandboxBooks) -> None:
    refused = [
        purchase(kind="sale"),
        purchase(currency="kr"),
        purchase(lines=()),
        purchase(reference="x"),
        purchase(kind="supplier", supplier_id=None),
        purchase(kind="supplier", supplier_id="424242"),
        purchase(
            lines=(
                PurchaseLine(
                    description="x", net=Decimal(1), vat=Decimal(0), vat_type="EXEMPT", account="1"
                ),
            )
        ),
        purchase(
            lines=(
                PurchaseLine(
                    description="x",
                    net=Decimal("1.005"),
                    vat=Decimal(0),
                    vat_type="NONE",
                    account="6800",
                ),
            )
        ),
        purchase(payment_account=None),
    ]
    for bad in refused:
        with pytest.raises(ExternalRejected):
            await books.create_purchase(bad)
    assert await books.purchases(dt.date(2026, 1, 1), dt.date(2026, 12, 31)) == []


async def test_a_balanced_journal_entry_is_posted_and_moves_the_balances(
    books: SandboxBooks,
) -> None:
    entry = NewJournalEntry(
        date=dt.date(2026, 11, 10),
        description="Programvare",
        reference="bk-je-1",
        lines=(
            JournalEntryLineOut(amount=Decimal("400.00"), debit_account="6553", debit_vat_code=1),
            JournalEntryLineOut(amount=Decimal("500.00"), credit_account="1920"),
        ),
    )
    entry_id = await books.create_journal_entry(entry)
    assert entry_id.isdigit()
    await books.create_purchase(purchase())  # 199.20 + 49.80, paid from 1920:10001

    balances = {b.code: b.balance for b in await books.account_balances(TODAY)}
    assert balances["6553"] == Decimal("400.00")
    assert balances["2710"] == Decimal("149.80")
    assert balances["1920"] == Decimal("-500.00")
    assert balances["6800"] == Decimal("199.20")
    assert balances[BOOKS_BANK_ACCOUNT_CODE] == Decimal("-249.00")
    assert sum(balances.values()) == 0
    before = {b.code: b.balance for b in await books.account_balances(dt.date(2026, 11, 5))}
    assert before["6553"] == 0

    unbalanced = NewJournalEntry(
        date=dt.date(2026, 11, 10),
        description="Skjev",
        reference="bk-je-2",
        lines=(
            JournalEntryLineOut(amount=Decimal("400.00"), debit_account="6553"),
            JournalEntryLineOut(amount=Decimal("399.00"), credit_account="1920"),
        ),
    )
    with pytest.raises(ExternalRejected):
        await books.create_journal_entry(unbalanced)


async def test_a_credit_notes_entry_reverses_vat_and_is_found_by_its_reference(
    books: SandboxBooks,
) -> None:
    """ADR 0054: a supplier's credit note as Fiken takes it — the supplier debited with the
    gross, the cost credited with the gross under the input code, whose VAT the books
    derive — and found again on its date by our reference (a retry posts nothing twice)."""
    entry = NewJournalEntry(
        date=dt.date(2026, 11, 12),
        description="Kreditnota K-1 Leverandør AS",
        reference="bk-credit-1",
        lines=(
            JournalEntryLineOut(amount=Decimal("1250.00"), debit_account="2400"),
            JournalEntryLineOut(
                amount=Decimal("1250.00"), credit_account="6553", credit_vat_code=1
            ),
        ),
    )
    entry_id = await books.create_journal_entry(entry)
    balances = {b.code: b.balance for b in await books.account_balances(TODAY)}
    assert balances["6553"] == Decimal("-1000.00")
    assert balances["2710"] == Decimal("-250.00")
    assert balances["2400"] == Decimal("1250.00")
    found = await books.find_journal_entry("bk-credit-1", dt.date(2026, 11, 12))
    assert found is not None and found.id == entry_id and not found.cancelled
    assert await books.find_journal_entry("bk-credit-1", dt.date(2026, 11, 13)) is None
    assert await books.find_journal_entry("bk-credit-2", dt.date(2026, 11, 12)) is None


async def test_tenants_do_not_share_books(store: SandboxStore, clock: FixedClock) -> None:
    acme, globex = SandboxBooks(store, "acme", clock), SandboxBooks(store, "globex", clock)
    await acme.create_purchase(purchase())
    assert await globex.find_purchase("bk-0001", dt.date(2026, 11, 3)) is None
    assert (await globex.company()).name == "globex (sandbox)"


# --- bank -------------------------------------------------------------------------------


async def test_the_bank_is_seeded_with_two_accounts_and_two_months_of_card_events(
    bank: SandboxBank,
) -> None:
    assert bank.name == "sandbox"
    accounts = await bank.accounts()
    assert [a.type for a in accounts] == ["Operational", "Card"]
    assert all(len(a.account_number) == 11 and a.currency == "NOK" for a in accounts)
    card = accounts[1].account_number

    events = await bank.events(TODAY - dt.timedelta(days=60), TODAY)
    card_events = [e for e in events if e.account_number == card]
    assert len(card_events) == len(CARD_EVENTS) == 15
    assert all(e.amount < 0 for e in card_events)
    assert {"Clas Ohlson", "Adobe", "Ruter", "Rema 1000", "Elkjøp"} <= {
        e.merchant_name for e in card_events
    }
    with_receipt = [e for e in card_events if e.attachments]
    assert 0 < len(with_receipt) < len(card_events) / 2
    assert all(e.complete for e in with_receipt)
    assert events == sorted(events, key=lambda e: (e.date, e.id))
    assert all(e.id == e.event_id for e in events)


async def test_transactions_are_the_booked_events(bank: SandboxBank) -> None:
    start = TODAY - dt.timedelta(days=60)
    events = await bank.events(start, TODAY)
    transactions = await bank.transactions(start, TODAY)
    assert 0 < len(transactions) < len(events)  # the last card authorisations are pending
    by_event = {e.id: e for e in events}
    for transaction in transactions:
        assert transaction.id != transaction.event_id
        event = by_event[transaction.event_id or ""]
        assert (transaction.amount, transaction.date) == (event.amount, event.date)
    window = await bank.transactions(TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=5))
    assert all(
        TODAY - dt.timedelta(days=10) <= t.date <= TODAY - dt.timedelta(days=5) for t in window
    )


async def test_a_receipt_attaches_to_an_event_and_is_found_by_file_name(
    bank: SandboxBank,
) -> None:
    events = await bank.events(TODAY - dt.timedelta(days=60), TODAY)
    target = next(e for e in events if not e.attachments and e.amount < 0)
    attachment_id = await bank.attach_receipt(
        target.id, "bk-0001.pdf", PDF, "application/pdf; charset=binary"
    )
    assert await bank.find_attachment(target.id, "bk-0001.pdf", target.date) == attachment_id
    assert (
        await bank.find_attachment(target.id, "bk-0001.pdf", target.date + dt.timedelta(days=3))
        == attachment_id
    )
    assert await bank.find_attachment(target.id, "other.pdf", target.date) is None
    # By name and size, as Folio's: another file under the same name is not this one.
    found = await bank.find_attachment(target.id, "bk-0001.pdf", target.date, size=len(PDF))
    assert found == attachment_id
    other = await bank.find_attachment(target.id, "bk-0001.pdf", target.date, size=len(PDF) + 1)
    assert other is None
    assert (
        await bank.find_attachment(target.id, "bk-0001.pdf", target.date + dt.timedelta(days=30))
        is None
    )
    [after] = [e for e in await bank.events(target.date, target.date) if e.id == target.id]
    assert [(a.id, a.filename, a.mime_type) for a in after.attachments] == [
        (attachment_id, "bk-0001.pdf", "application/pdf")
    ]

    with pytest.raises(ExternalRejected):
        await bank.attach_receipt(target.id, "x.txt", b"x", "text/plain")
    with pytest.raises(ExternalNotFound):
        await bank.attach_receipt("no-such-event", "x.pdf", PDF, "application/pdf")


async def test_events_are_marked_complete_and_incomplete(bank: SandboxBank) -> None:
    [event, *_] = await bank.events(TODAY - dt.timedelta(days=60), TODAY)
    await bank.mark_complete(event.id)
    [marked] = [e for e in await bank.events(event.date, event.date) if e.id == event.id]
    assert marked.complete
    await bank.mark_incomplete(event.id)
    [unmarked] = [e for e in await bank.events(event.date, event.date) if e.id == event.id]
    assert not unmarked.complete
    with pytest.raises(ExternalNotFound):
        await bank.mark_complete("no-such-event")


async def test_balances_of_a_day_follow_the_events(bank: SandboxBank) -> None:
    card = (await bank.accounts())[1]
    today = await bank.balance(card.account_number, TODAY)
    assert today.outgoing == card.balance
    events = await bank.events(TODAY - dt.timedelta(days=60), TODAY)
    day = next(e for e in events if e.account_number == card.account_number)
    balance = await bank.balance(card.account_number, day.date)
    moved = sum(
        (
            e.amount
            for e in events
            if e.account_number == card.account_number and e.date == day.date
        ),
        Decimal(0),
    )
    assert balance.outgoing - balance.incoming == moved
    with pytest.raises(ExternalNotFound):
        await bank.balance("00000000000", TODAY)


async def test_the_seed_is_the_same_for_the_same_tenant_and_day(store: SandboxStore) -> None:
    elsewhere = SandboxBank(MemorySandboxStore(), TENANT, FixedClock())
    here = SandboxBank(store, TENANT, FixedClock())
    window = (TODAY - dt.timedelta(days=60), TODAY)
    assert await here.events(*window) == await elsewhere.events(*window)
    assert await here.accounts() == await elsewhere.accounts()
    other = SandboxBank(store, "globex", FixedClock())
    assert [e.amount for e in await other.events(*window)] != [
        e.amount for e in await here.events(*window)
    ]


async def test_concurrent_first_calls_seed_once(store: SandboxStore, clock: FixedClock) -> None:
    banks = [SandboxBank(store, "fresh", clock) for _ in range(8)]
    books = [SandboxBooks(store, "fresh", clock) for _ in range(8)]
    window = (TODAY - dt.timedelta(days=60), TODAY)
    event_lists, charts = await asyncio.gather(
        asyncio.gather(*(b.events(*window) for b in banks)),
        asyncio.gather(*(b.accounts() for b in books)),
    )
    assert all(events == event_lists[0] for events in event_lists)
    assert len(event_lists[0]) == len(CARD_EVENTS) + 2
    assert all(chart == charts[0] and len(chart) == len(CHART_OF_ACCOUNTS) for chart in charts)
    assert len(await banks[0].accounts()) == 2
    assert len(await books[0].bank_accounts()) == 1


# --- the SQL store only -----------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_two_processes_seed_a_tenant_once(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(f"{backend}_url")
    first, second = SqlDatabase(url, pool_size=5), SqlDatabase(url, pool_size=5)
    try:
        banks = [
            SandboxBank(sandbox_store(database), "twin", FixedClock())
            for database in (first, second)
            for _ in range(3)
        ]
        window = (TODAY - dt.timedelta(days=60), TODAY)
        results = await asyncio.gather(*(b.events(*window) for b in banks))
        assert all(r == results[0] for r in results)
        assert len(results[0]) == len(CARD_EVENTS) + 2
    finally:
        await first.dispose()
        await second.dispose()


async def test_the_sandbox_survives_a_restart(sqlite_url: str) -> None:
    database = SqlDatabase(sqlite_url)
    try:
        books = SandboxBooks(sandbox_store(database), TENANT, FixedClock())
        bank = SandboxBank(sandbox_store(database), TENANT, FixedClock())
        purchase_id = await books.create_purchase(purchase())
        await books.attach_to_purchase(purchase_id, "kvittering.pdf", PDF, "application/pdf")
        events = await bank.events(TODAY - dt.timedelta(days=60), TODAY)
        target = next(e for e in events if not e.attachments)
        attachment_id = await bank.attach_receipt(target.id, "r.pdf", PDF, "application/pdf")
    finally:
        await database.dispose()

    later = FixedClock(NOW + dt.timedelta(days=5))  # a restart days later: no second seed
    reopened = SqlDatabase(sqlite_url)
    try:
        store = sandbox_store(reopened)
        books = SandboxBooks(store, TENANT, later)
        bank = SandboxBank(store, TENANT, later)
        found = await books.find_purchase("bk-0001", dt.date(2026, 11, 3))
        assert found is not None
        assert (found.id, found.attachments) == (purchase_id, ("kvittering.pdf",))
        assert await bank.find_attachment(target.id, "r.pdf", target.date) == attachment_id
        after = await bank.events(TODAY - dt.timedelta(days=60), TODAY + dt.timedelta(days=5))
        assert [(e.id, e.date, e.amount) for e in after] == [
            (e.id, e.date, e.amount) for e in events
        ]
        assert await store.content(TENANT, "bank", attachment_id) == PDF
    finally:
        await reopened.dispose()


async def test_a_reverse_charge_purchase_posts_the_vat_the_buyer_calculates(
    books: SandboxBooks,
) -> None:
    """ADR 0056: a service bought from abroad (HIGH_FOREIGN_SERVICE_DEDUCTIBLE, no VAT
    charged) posts the net as the cost and what is paid, and the buyer's 25 % on 2700 and
    its deduction on 2710 (LOW_…_NONDEDUCTIBLE: 12 % on 2700, the cost takes it) — as
    Fiken and the ledger do."""
    lines = (
        PurchaseLine(
            description="Figma",
            net=Decimal("1053.00"),
            vat=Decimal("0"),
            vat_type="HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
            account="6540",
        ),
        PurchaseLine(
            description="E-bok",
            net=Decimal("100.00"),
            vat=Decimal("0"),
            vat_type="LOW_FOREIGN_SERVICE_NONDEDUCTIBLE",
            account="6800",
        ),
    )
    await books.create_purchase(purchase(lines=lines))
    balances = {b.code: b.balance for b in await books.account_balances(TODAY)}
    assert balances["6540"] == Decimal("1053.00")
    assert balances["2700"] == Decimal("-275.25")
    assert balances["2710"] == Decimal("263.25")
    assert balances["6800"] == Decimal("112.00")
    assert balances[BOOKS_BANK_ACCOUNT_CODE] == Decimal("-1153.00")
    assert sum(balances.values()) == 0
