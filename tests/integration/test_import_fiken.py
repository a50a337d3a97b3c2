"""`bookkeeper import fiken` (issue 14, P5): the company's Fiken journal entries, purchases
and sales land in the local ledger through the real adapter and the loopback Fiken fake, on
memory, SQLite and PostgreSQL — once (a second run writes nothing), incrementally (the next
run asks only for what changed and picks up just that), within Fiken's limits (never two
requests in flight, never more than four in a second), a malformed record reported with its
id and nothing of it written, and the trial balance and VAT report showing it all."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from xml.etree import ElementTree

import msgspec
import pytest

from bookkeeper.adapters.fiken import FikenBooks, FikenClient, SlidingWindow
from bookkeeper.adapters.fiken.history import FikenHistory
from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.saft import SqlAuditReads
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.books_import import BooksImport, BooksImportReport, summary
from bookkeeper.application.compliance import ComplianceContext
from bookkeeper.application.event_log import books_import_runs_id, stamp
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal, UnitOfWorkFactory
from bookkeeper.application.saft import CompanySettings, SaftExport
from bookkeeper.domain.events import (
    BooksImportedData,
    JournalEntryPostedData,
    Status,
    decode_payload,
)
from tests.fakes.fiken import (
    BANK_ACCOUNT_CODE,
    DEFAULT_TOKEN,
    FakeFiken,
    cash_purchase,
    running_fake_fiken,
)
from tests.saft_checks import NS, check_against_trial_balance, file_summary, validate
from tests.saft_ledger import _view
from tests.unit.conftest import FixedClock
from tests.unit.external_doubles import Harness

TENANT = "acme"
ACCOUNTANT = Principal(subject="anna", tenant_id=TENANT, roles=frozenset({"accountant"}))
START = dt.date(2026, 1, 1)
FIRST_RUN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def kr(value: str) -> Decimal:
    return Decimal(value)


class Books:
    """The fake's seeded company and what each record should post."""

    def __init__(self, fake: FakeFiken) -> None:
        self.fake = fake
        fake.accounts.update({"2700": "Utgående merverdiavgift, høy sats"})
        self.supplier = fake.add_contact("Kontor AS", "913312465")
        self.customer = fake.add_contact("Kunde AS", supplier=False, customer=True)
        self.rent = fake.add_journal_entry(
            dt.date(2026, 2, 3),
            [("6300", 1_000_000), (BANK_ACCOUNT_CODE, -1_000_000)],
            "Husleie februar",
        )
        self.with_vat = fake.add_journal_entry(
            dt.date(2026, 2, 4),
            [("6800", 10_000, "1"), ("2710", 2_500, "1"), (BANK_ACCOUNT_CODE, -12_500)],
            "Fri postering registrert via API: Kontorrekvisita",
        )
        self.cash = fake.create_purchase(
            cash_purchase(
                "2026-02-10",
                [
                    {
                        "description": "Skriver",
                        "vatType": "HIGH",
                        "netPrice": 40_000,
                        "vat": 10_000,
                        "account": "6540",
                    }
                ],
            )
        )
        self.invoice = fake.create_purchase(
            {
                "date": "2026-02-12",
                "kind": "supplier",
                "paid": False,
                "currency": "NOK",
                "supplierId": self.supplier,
                "identifier": "F-2001",
                "lines": [
                    {
                        "description": "Leie kontormaskiner",
                        "vatType": "HIGH",
                        "netPrice": 80_000,
                        "vat": 20_000,
                        "account": "6300",
                    },
                    {
                        "description": "Gebyr",
                        "vatType": "NONE",
                        "netPrice": 5_000,
                        "account": "7770",
                    },
                ],
            }
        )
        self.sale = fake.add_sale(
            dt.date(2026, 2, 20),
            [
                {
                    "description": "Rådgivning",
                    "vatType": "HIGH",
                    "netPrice": 200_000,
                    "vat": 50_000,
                    "account": "3000",
                }
            ],
            customer_id=self.customer,
            sale_number="S-1",
            payments=[(dt.date(2026, 2, 25), BANK_ACCOUNT_CODE, 250_000)],
            modified=dt.date(2026, 2, 25),
        )


@contextlib.asynccontextmanager
async def fiken_history(
    base_url: str, *, unhurried: bool = False, **options: object
) -> AsyncIterator[FikenHistory]:
    """The company's history through a client of the fake, closed afterwards; through
    Fiken's 4 requests a second, or with `unhurried` a gate that never waits (for tests
    of what is read, not of how fast: a page of one record is a request each)."""
    window = SlidingWindow(limit=1000) if unhurried else None
    client = FikenClient(base_url, DEFAULT_TOKEN, **({"window": window} if window else {}))
    try:
        yield FikenHistory(client, "fiken-demo-as", **options)  # type: ignore[arg-type]
    finally:
        await client.aclose()


@pytest.fixture
async def fiken() -> AsyncIterator[tuple[FakeFiken, str]]:
    async with running_fake_fiken(today=dt.date(2026, 2, 26)) as served:
        yield served


async def imported_entries(uow_factory: UnitOfWorkFactory) -> dict[str, JournalEntryPostedData]:
    """The imported entries of the tenant by external reference."""
    async with uow_factory() as uow:
        events = await uow.events.read_all(limit=10_000)
    return {
        e.data.external_ref or "": e.data
        for e in events
        if isinstance(e.data, JournalEntryPostedData) and e.data.source == "import"
    }


def ledger(uow_factory: UnitOfWorkFactory, clock: FixedClock) -> LedgerService:
    from bookkeeper.adapters.system import UuidV7Ids

    return LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())


async def test_import_books_the_whole_books_once_and_the_reports_show_them(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    books = Books(fake)
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        report = await service.run(TENANT, START)
        assert report.problems == []
        assert report.records == {"journal entry": 2, "purchase": 2, "sale": 1}
        # 2 journal entries, 2 purchases, the sale and its payment.
        assert (report.imported, report.known) == (6, 0)

        entries = await imported_entries(uow_factory)
        assert set(entries) == {
            f"fiken:journalEntry:{books.rent}",
            f"fiken:journalEntry:{books.with_vat}",
            f"fiken:purchase:{books.cash}",
            f"fiken:purchase:{books.invoice}",
            f"fiken:sale:{books.sale}",
            f"fiken:sale:{books.sale}:payment:{fake.sales[books.sale]['salePayments'][0]['paymentId']}",
        }
        assert entries[f"fiken:journalEntry:{books.with_vat}"].description == "Kontorrekvisita"
        invoice = entries[f"fiken:purchase:{books.invoice}"]
        credit = [line for line in invoice.lines if line.credit]
        supplier_account = fake.contacts[books.supplier]["supplierAccountCode"]
        assert [(c.account, c.credit) for c in credit] == [(supplier_account, kr("1050.00"))]
        assert credit[0].party is not None and credit[0].party.name == "Kontor AS"

        # The trial balance and the VAT report include what was imported.
        reports = ledger(uow_factory, clock)
        trial = await reports.trial_balance(ACCOUNTANT, START, dt.date(2026, 2, 28))
        balance = {line.account: line.balance for line in trial.accounts}
        assert trial.debit == trial.credit
        assert balance["6300"] == kr("10800.00")  # rent 10,000 + machines 800
        assert balance["2710"] == kr("325.00")  # 25 + 100 + 200 input VAT
        assert balance["2700"] == kr("-500.00")
        assert balance["3000"] == kr("-2000.00")
        assert balance[BANK_ACCOUNT_CODE] == kr("-10000.00") - kr("125.00") - kr("500") + kr("2500")
        customer_account = fake.contacts[books.customer]["customerAccountCode"]
        assert balance[customer_account] == kr("0.00")
        vat = await reports.vat_report(ACCOUNTANT, 2026, 1)
        by_code = {line.vat_code: line for line in vat.lines}
        assert by_code["1"].vat == kr("325.00") and by_code["1"].base == kr("1300.00")
        assert by_code["3"].vat == kr("500.00") and by_code["3"].base == kr("2000.00")
        assert vat.payable == kr("175.00")

        # Again: nothing new is written, and the run says all of it is known.
        async with uow_factory() as uow:
            before = len(await uow.events.read_all(limit=10_000))
        again = await BooksImport(uow_factory, source, clock).run(TENANT, START, dry_run=False)
        assert (again.imported, again.problems) == (0, [])
        async with uow_factory() as uow:
            after = len(await uow.events.read_all(limit=10_000))
        assert after == before + 1  # the run's own record only
        trial_again = await reports.trial_balance(ACCOUNTANT, START, dt.date(2026, 2, 28))
        assert trial_again == trial


async def test_the_next_run_asks_only_for_what_changed_and_picks_up_just_that(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    books = Books(fake)
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert first.imported == 6 and first.since is None
        async with uow_factory() as uow:
            runs = await uow.events.read_stream(TENANT, books_import_runs_id(TENANT))
        assert [type(r.data) for r in runs] == [BooksImportedData]
        mark = runs[0].data
        assert isinstance(mark, BooksImportedData)
        assert mark.journal_entries_modified == dt.date(2026, 2, 26)
        assert mark.sales_modified == dt.date(2026, 2, 25)
        assert mark.purchases_dated == dt.date(2026, 2, 12)

        # A week later: a new journal entry, a new purchase, and the invoice paid.
        fake._today = dt.date(2026, 3, 6)
        new_entry = fake.add_journal_entry(
            dt.date(2026, 3, 2), [("7790", 30_000), (BANK_ACCOUNT_CODE, -30_000)], "Gebyr"
        )
        fake.pay_purchase(books.invoice, dt.date(2026, 3, 5), BANK_ACCOUNT_CODE, 105_000)
        clock.advance(days=7)
        fake.requests.clear()
        second = await service.run(TENANT, START)
        assert second.since is not None and second.problems == []
        assert second.imported == 2  # the new entry and the payment
        asked = {r.path.rsplit("/", 1)[-1]: r.query for r in fake.requests}
        assert asked["journalEntries"]["lastModifiedGe"] == "2026-02-26"
        assert asked["sales"]["lastModifiedGe"] == "2026-02-25"
        # Purchases have no lastModified filter: all of the range again (one entered
        # late, dated before the mark, is seen so; ADR 0037 addendum).
        assert asked["purchases"]["dateGe"] == "2026-01-01"
        # What changed came back, and what was modified on the last mark's day again
        # (dates are all Fiken has; known ones are skipped), and every purchase.
        assert second.records == {"journal entry": 3, "purchase": 2, "sale": 1}
        assert second.known == 6
        entries = await imported_entries(uow_factory)
        assert f"fiken:journalEntry:{new_entry}" in entries
        payment = fake.purchases[books.invoice]["payments"][0]["paymentId"]
        paid = entries[f"fiken:purchase:{books.invoice}:payment:{payment}"]
        supplier_account = fake.contacts[books.supplier]["supplierAccountCode"]
        assert {(line.account, line.debit, line.credit) for line in paid.lines} == {
            (supplier_account, kr("1050.00"), kr("0.00")),
            (BANK_ACCOUNT_CODE, kr("0.00"), kr("1050.00")),
        }
        # An overlapping full run (an earlier start) writes nothing new.
        full = await service.run(TENANT, dt.date(2025, 1, 1))
        assert full.since is None and full.imported == 0 and full.known == 8


async def test_journal_entries_that_are_purchases_or_sales_are_not_imported_twice(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """ADR 0044 §6: Fiken lists the postings of purchases and sales among the journal
    entries too, under the purchase's or sale's transactionId. Each is booked once (from
    the purchase or sale), in the first run and in a later incremental run that sees such
    a journal entry again without reading its purchase; the trial balance is the same as
    when Fiken listed manual entries only."""
    async with running_fake_fiken(today=dt.date(2026, 2, 26), lists_trade_postings=True) as (
        fake,
        base_url,
    ):
        books = Books(fake)
        clock = FixedClock(FIRST_RUN)
        async with fiken_history(base_url) as source:
            service = BooksImport(uow_factory, source, clock)
            first = await service.run(TENANT, START)
            assert first.problems == []
            # 2 manual entries + the postings of 2 purchases and 1 sale.
            assert first.records == {"purchase": 2, "sale": 1, "journal entry": 5}
            assert first.same_as_trade == 3
            assert (first.imported, first.known) == (6, 0)
            entries = await imported_entries(uow_factory)
            postings = {str(e["journalEntryId"]) for e in fake.trade_postings()}
            assert not any(ref.split(":")[2] in postings for ref in entries if "journal" in ref)
            reports = ledger(uow_factory, clock)
            trial = await reports.trial_balance(ACCOUNTANT, START, dt.date(2026, 2, 28))
            balance = {line.account: line.balance for line in trial.accounts}
            assert balance["6300"] == kr("10800.00") and balance["2710"] == kr("325.00")
            assert balance["3000"] == kr("-2000.00")

            # A week later Fiken touches the cash purchase's posting again and a manual
            # entry is added.
            fake._today = dt.date(2026, 3, 6)
            cash_tx = fake.purchases[books.cash]["transactionId"]
            fake.trade_postings()  # built
            fake._trade_postings[cash_tx]["lastModifiedDate"] = "2026-03-06"
            fake.add_journal_entry(
                dt.date(2026, 3, 2), [("7790", 30_000), (BANK_ACCOUNT_CODE, -30_000)], "Gebyr"
            )
            clock.advance(days=7)
            second = await service.run(TENANT, START)
            assert second.since is not None and second.problems == []
            # Every purchase of the range is read again (ADR 0037 addendum), so the
            # postings of both are known as theirs.
            assert str(cash_tx) in second.trade_transactions
            assert second.same_as_trade == 2
            assert second.imported == 1  # the new manual entry only
            again = await reports.trial_balance(ACCOUNTANT, START, dt.date(2026, 2, 28))
            assert again == trial


async def test_a_malformed_record_is_reported_by_id_and_nothing_of_it_written(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    books = Books(fake)
    # Not the contract's shape: an amount that is not an integer.
    fake.add_raw(
        "journalEntries",
        {
            "journalEntryId": 990001,
            "date": "2026-02-05",
            "description": "Ødelagt",
            "lines": [{"account": "6800", "amount": "12.50"}, {"account": "1920", "amount": -1250}],
        },
    )
    # The contract's shape, but lines that do not balance (debits 100, credits 90).
    broken = fake.add_journal_entry(
        dt.date(2026, 2, 6), [("6800", 10_000), (BANK_ACCOUNT_CODE, -9_000)], "Skjev"
    )
    # Reverse charge with a VAT figure that is not the rate's: what it is cannot be told.
    foreign = fake.create_purchase(
        cash_purchase(
            "2026-02-07",
            [
                {
                    "description": "SaaS",
                    "vatType": "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
                    "netPrice": 10_000,
                    "vat": 1_000,
                    "account": "6800",
                }
            ],
        )
    )
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, FixedClock(FIRST_RUN)).run(TENANT, START)
    problems = {(p.what, p.id): p.reason for p in report.problems}
    assert set(problems) == {
        ("journal entry", "990001"),
        ("journal entry", str(broken)),
        ("purchase", str(foreign)),
    }
    assert "int" in problems[("journal entry", "990001")]
    assert "do not equal" in problems[("journal entry", str(broken))]
    assert "HIGH_FOREIGN_SERVICE_DEDUCTIBLE" in problems[("purchase", str(foreign))]
    assert "cannot be told" in problems[("purchase", str(foreign))]
    entries = await imported_entries(uow_factory)
    assert len(entries) == report.imported == 6
    assert not [ref for ref in entries if "990001" in ref or str(broken) in ref]
    assert not [ref for ref in entries if str(foreign) in ref]
    assert f"fiken:purchase:{books.cash}" in entries


async def test_a_purchase_bookkeeper_executed_is_not_booked_again(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    proposal = uuid.uuid4()
    reference = f"bk-{proposal.hex}"
    ours = fake.create_purchase(
        cash_purchase(
            "2026-02-11",
            [
                {
                    "description": f"Kaffe [{reference}]",
                    "vatType": "MEDIUM",
                    "netPrice": 4_000,
                    "vat": 600,
                    "account": "7350",
                }
            ],
            identifier=reference,
        )
    )
    # Same reference, but the execution recorded another purchase: this one is imported.
    other = fake.create_purchase(
        cash_purchase(
            "2026-02-11",
            [{"description": "Kaffe", "vatType": "NONE", "netPrice": 100, "account": "7350"}],
            identifier=reference,
        )
    )
    # A third carries the reference of a proposal being executed right now (approved, no
    # purchase recorded yet): its execution will find it by the reference and post it.
    running = uuid.uuid4()
    fake.create_purchase(
        cash_purchase(
            "2026-02-12",
            [{"description": "Te", "vatType": "NONE", "netPrice": 300, "account": "7350"}],
            identifier=f"bk-{running.hex}",
        )
    )
    view = msgspec.structs.replace(
        _view(proposal, TENANT, "Kafé", None), external_ids={"fikenPurchaseId": str(ours)}
    )
    approved = msgspec.structs.replace(_view(running, TENANT, "Te", None), status=Status.APPROVED)
    async with uow_factory() as uow:
        await uow.proposals.upsert(view)
        await uow.proposals.upsert(approved)
        await uow.commit()
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, FixedClock(FIRST_RUN)).run(TENANT, START)
    assert report.executed_here == 2
    entries = await imported_entries(uow_factory)
    assert set(entries) == {f"fiken:purchase:{other}"}


async def test_a_credit_note_bookkeeper_posted_is_not_booked_again(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """ADR 0054: the journal entry of a supplier's credit note the executor posted, and the
    counter-entry of its reversal, carry our reference; the ledger has them already. An
    entry with the reference of a proposal this tenant does not have is imported."""
    fake, base_url = fiken
    credit, reversal, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lines = [
        {"amount": 125_000, "debitAccount": "2400"},
        {"amount": 125_000, "creditAccount": "7350"},
    ]
    for description in (
        f"Kreditnota K-1 Kafé AS [bk-{credit.hex}]",
        f"Reversert: feil [bk-{reversal.hex}-r]",
        f"Kreditnota K-2 Kafé AS [bk-{stranger.hex}]",
    ):
        fake._create_journal_entries(
            {"journalEntries": [{"description": description, "date": "2026-02-11", "lines": lines}]}
        )
    async with uow_factory() as uow:
        await uow.proposals.upsert(
            msgspec.structs.replace(_view(credit, TENANT, "Kafé", None), status=Status.EXECUTED)
        )
        await uow.proposals.upsert(
            msgspec.structs.replace(_view(reversal, TENANT, "Kafé", None), status=Status.APPROVED)
        )
        await uow.commit()
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, FixedClock(FIRST_RUN)).run(TENANT, START)
    assert report.executed_here == 2
    assert len(await imported_entries(uow_factory)) == 1


async def test_every_request_keeps_fikens_limits_and_a_429_is_waited_out(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    Books(fake)
    for day in range(1, 9):
        fake.add_journal_entry(
            dt.date(2026, 1, day), [("6800", 100 * day), (BANK_ACCOUNT_CODE, -100 * day)], "Små"
        )
    fake.rate_limit_next(1, retry_after=1, path=r"/sales$")
    client = FikenClient(base_url, DEFAULT_TOKEN)  # one client: the history's and the books'
    source = FikenHistory(client, "fiken-demo-as", page_size=2)
    other = FikenBooks(client, "fiken-demo-as")
    try:
        service = BooksImport(uow_factory, source, FixedClock(FIRST_RUN))

        async def meanwhile() -> None:  # another caller of the same token, at the same time
            for _ in range(3):
                await other.accounts()

        report, _ = await asyncio.gather(service.run(TENANT, START), meanwhile())
    finally:
        await client.aclose()
    assert isinstance(report, BooksImportReport) and report.problems == []
    assert report.records["journal entry"] == 10
    assert len(fake.requests) >= 10  # more than two seconds of requests at 4/s
    assert fake.concurrent_violations == 0 and fake.max_in_flight == 1
    assert fake.max_requests_in_any_second() <= 4
    assert any(r.status == 429 for r in fake.requests)


async def test_a_dry_run_reads_and_counts_but_writes_nothing(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    Books(fake)
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, FixedClock(FIRST_RUN)).run(
            TENANT, START, dry_run=True
        )
    assert report.dry_run and report.imported == 6
    async with uow_factory() as uow:
        assert await uow.events.read_all(limit=10) == []


async def imported_and_exported(base_url: str, sql_database: SqlDatabase) -> ElementTree.Element:
    """Import the fake's books (nothing refused), export January-February 2026 as SAF-T:
    the file's root, valid against the XSD and equal to the trial balance."""
    factory = sql_database.uow_factory()
    async with fiken_history(base_url) as source:
        report = await BooksImport(factory, source, FixedClock(FIRST_RUN)).run(TENANT, START)
    assert report.problems == []
    end = dt.date(2026, 2, 28)
    export = SaftExport(
        SqlAuditReads(sql_database),
        RoleAuthorizer(),
        FixedClock(FIRST_RUN),
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Fiken Demo AS", orgnr="912345678"),
    )
    file = await export.export(ACCOUNTANT, START, end)
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    books = ledger(factory, FixedClock(FIRST_RUN))
    period = await books.trial_balance(ACCOUNTANT, START, end)
    before = await books.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1))
    check_against_trial_balance(root, period, period, START, before)
    return root


async def test_the_saf_t_export_holds_the_imported_books_their_customers_and_suppliers(
    fiken: tuple[FakeFiken, str], sql_database: SqlDatabase
) -> None:
    """ADR 0044 §5: the suppliers of imported purchases — a supplier purchase (on its
    sub-ledger account), a cash purchase that names its supplier, and a journal entry on
    the supplier's sub-ledger account (a payment booked by hand) — are in the file's
    Suppliers with their organisation numbers and payables balances, and the payables
    lines carry their SupplierID; the file is valid against the SAF-T 1.30 XSD."""
    fake, base_url = fiken
    books = Books(fake)
    shop = fake.add_contact("Elektro AS", "987 654 321")
    fake.create_purchase(
        cash_purchase(
            "2026-02-14",
            [
                {
                    "description": "Kabler",
                    "vatType": "HIGH",
                    "netPrice": 8_000,
                    "vat": 2_000,
                    "account": "6540",
                }
            ],
            supplierId=shop,
        )
    )
    supplier_account = fake.contacts[books.supplier]["supplierAccountCode"]
    fake.add_journal_entry(
        dt.date(2026, 2, 26),
        [(supplier_account, 50_000), (BANK_ACCOUNT_CODE, -50_000)],
        "Delbetaling Kontor AS",
    )
    root = await imported_and_exported(base_url, sql_database)
    assert file_summary(root)["entries"] == 8
    customers = {
        c.findtext("s:Name", namespaces=NS)
        for c in root.findall("s:MasterFiles/s:Customers/s:Customer", NS)
    }
    # The customer comes from the imported receivables lines' party.
    assert customers == {"Kunde AS"}
    suppliers = {
        s.findtext("s:SupplierID", namespaces=NS): (
            s.findtext("s:Name", namespaces=NS),
            s.findtext("s:RegistrationNumber", namespaces=NS),
            [
                (
                    b.findtext("s:AccountID", namespaces=NS),
                    b.findtext("s:ClosingCreditBalance", namespaces=NS),
                )
                for b in s.findall("s:BalanceAccount", NS)
            ],
        )
        for s in root.findall("s:MasterFiles/s:Suppliers/s:Supplier", NS)
    }
    kontor_id = supplier_account.partition(":")[2]
    elektro_id = fake.contacts[shop]["supplierAccountCode"].partition(":")[2]
    assert suppliers == {
        # 1,050 kr invoiced, 500 kr paid by a journal entry on its sub-ledger account.
        kontor_id: ("Kontor AS", "913312465", [(supplier_account, "550.00")]),
        # Paid at once: listed, with no payables balance.
        elektro_id: ("Elektro AS", "987654321", []),
    }
    payables_lines = [
        line.findtext("s:SupplierID", namespaces=NS)
        for line in root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction/s:Line", NS)
        if line.findtext("s:AccountID", namespaces=NS) == supplier_account
    ]
    assert payables_lines == [kontor_id, kontor_id]


class ForeignPurchases:
    """Reverse-charge purchases as the loopback Fiken serves them (the spec's vatType
    names; ADR 0047): a SaaS subscription bought from abroad with deduction (SAF-T 86),
    paid at once; foreign advice at the low rate without deduction (89) on a supplier
    invoice, where Fiken gives its own figure of the VAT; a gold coin without deduction
    (92)."""

    def __init__(self, fake: FakeFiken) -> None:
        fake.accounts.update(
            {
                "2700": "Utgående merverdiavgift, høy sats",
                "6420": "Leie datasystemer",
                "6700": "Fremmed tjeneste",
                "7790": "Annen kostnad",
            }
        )
        self.fake = fake
        self.vendor = fake.add_contact("Cloud Ltd")
        self.saas = fake.create_purchase(
            cash_purchase(
                "2026-02-03",
                [
                    {
                        "description": "SaaS februar",
                        "vatType": "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
                        "netPrice": 100_000,
                        "account": "6420",
                    }
                ],
            )
        )
        self.advice = fake.create_purchase(
            {
                "date": "2026-02-09",
                "kind": "supplier",
                "paid": False,
                "currency": "NOK",
                "supplierId": self.vendor,
                "identifier": "INV-77",
                "lines": [
                    {
                        "description": "Advice",
                        "vatType": "LOW_FOREIGN_SERVICE_NONDEDUCTIBLE",
                        "netPrice": 50_000,
                        "vat": 6_000,
                        "account": "6700",
                    }
                ],
            }
        )
        self.gold = fake.create_purchase(
            cash_purchase(
                "2026-02-11",
                [
                    {
                        "description": "Gullmynt",
                        "vatType": "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE",
                        "netPrice": 20_000,
                        "account": "7790",
                    }
                ],
            )
        )


async def test_reverse_charge_purchases_are_booked_and_the_reports_show_them(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """ADR 0047: nothing refused; the trial balance balances and agrees with the books'
    own balances; the VAT report shows each code's calculated VAT as output VAT and the
    deduction as input VAT; the term pays what was not deductible."""
    fake, base_url = fiken
    foreign = ForeignPurchases(fake)
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, clock).run(TENANT, START)
    assert report.problems == []
    assert (report.records["purchase"], report.imported) == (3, 3)

    entries = await imported_entries(uow_factory)
    saas = entries[f"fiken:purchase:{foreign.saas}"]
    assert [(x.account, x.debit, x.credit, x.vat_code, x.vat_part) for x in saas.lines] == [
        ("6420", kr("1000.00"), kr("0.00"), "86", "base"),
        ("2700", kr("0.00"), kr("250.00"), "86", "tax"),
        ("2710", kr("250.00"), kr("0.00"), "86", "tax"),
        (BANK_ACCOUNT_CODE, kr("0.00"), kr("1000.00"), None, None),
    ]

    reports = ledger(uow_factory, clock)
    end = dt.date(2026, 2, 28)
    trial = await reports.trial_balance(ACCOUNTANT, START, end)
    balance = {line.account: line.balance for line in trial.accounts}
    assert trial.debit == trial.credit
    supplier_account = fake.contacts[foreign.vendor]["supplierAccountCode"]
    assert balance["2700"] == kr("-360.00")  # 250 + 60 (Fiken's figure) + 50
    assert balance["2710"] == kr("250.00")
    assert balance["6700"] == kr("560.00") and balance["7790"] == kr("250.00")
    assert balance[supplier_account] == kr("-500.00")  # owed the net amount
    assert balance[BANK_ACCOUNT_CODE] == kr("-1200.00")
    books = {row["code"]: row["balance"] for row in fake.balances(end)}
    for account in ("2700", "2710", "6420", "6700", "7790", BANK_ACCOUNT_CODE):
        assert balance[account] == Decimal(books[account]) / 100, account

    vat = await reports.vat_report(ACCOUNTANT, 2026, 1)
    assert [(v.vat_code, v.rate, v.direction, v.base, v.vat) for v in vat.lines] == [
        ("86", kr("25"), "output", kr("1000.00"), kr("250.00")),
        ("86", kr("25"), "input", kr("0.00"), kr("250.00")),
        ("89", kr("12"), "output", kr("500.00"), kr("60.00")),
        ("92", kr("25"), "output", kr("200.00"), kr("50.00")),
    ]
    assert (vat.output_vat, vat.input_vat, vat.payable) == (
        kr("360.00"),
        kr("250.00"),
        kr("110.00"),
    )


async def test_the_saf_t_export_of_reverse_charge_purchases_has_each_lines_tax_code(
    fiken: tuple[FakeFiken, str], sql_database: SqlDatabase
) -> None:
    """ADR 0047: valid against the SAF-T 1.30 XSD, totals equal to the trial balance, the
    reverse-charge codes in the TaxTable, and each VAT line's TaxCode its code: the basis
    with the calculated (credit) VAT, the deduction with its debit VAT."""
    fake, base_url = fiken
    foreign = ForeignPurchases(fake)
    root = await imported_and_exported(base_url, sql_database)
    table = {
        code.findtext("s:TaxCode", namespaces=NS): (
            code.findtext("s:StandardTaxCode", namespaces=NS),
            code.findtext("s:TaxPercentage", namespaces=NS),
        )
        for code in root.findall("s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails", NS)
    }
    assert {code: table[code] for code in ("86", "89", "92")} == {
        "86": ("86", "25"),
        "89": ("89", "12"),
        "92": ("92", "25"),
    }
    lines: dict[str, list[tuple[str | None, ...]]] = {}
    for transaction in root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS):
        rows = []
        for line in transaction.findall("s:Line", NS):
            tax = line.find("s:TaxInformation", NS)
            rows.append(
                (
                    line.findtext("s:AccountID", namespaces=NS),
                    None if tax is None else tax.findtext("s:TaxCode", namespaces=NS),
                    None if tax is None else tax.findtext("s:TaxBase", namespaces=NS),
                    None
                    if tax is None
                    else tax.findtext("s:DebitTaxAmount/s:Amount", namespaces=NS)
                    or "-" + (tax.findtext("s:CreditTaxAmount/s:Amount", namespaces=NS) or ""),
                )
            )
        lines[transaction.findtext("s:Description", namespaces=NS) or ""] = rows
    supplier_account = fake.contacts[foreign.vendor]["supplierAccountCode"]
    assert sorted(lines.values()) == sorted(
        [
            [
                ("6420", "86", "1000.00", "-250.00"),
                ("2700", None, None, None),
                ("2710", "86", None, "250.00"),
                (BANK_ACCOUNT_CODE, None, None, None),
            ],
            [
                ("6700", "89", "500.00", "-60.00"),
                ("2700", None, None, None),
                ("6700", None, None, None),
                (supplier_account, None, None, None),
            ],
            [
                ("7790", "92", "200.00", "-50.00"),
                ("2700", None, None, None),
                ("7790", None, None, None),
                (BANK_ACCOUNT_CODE, None, None, None),
            ],
        ]
    )


def refused_purchase(fake: FakeFiken, date: str, description: str) -> int:
    """A cash purchase whose line carries a vatType the books do not document (seeded
    valid, then changed: Fiken's own validation is not the point here)."""
    purchase_id = fake.create_purchase(
        cash_purchase(
            date,
            [
                {
                    "description": description,
                    "vatType": "HIGH",
                    "netPrice": 8_000,
                    "vat": 2_000,
                    "account": "6800",
                }
            ],
        )
    )
    fake.purchases[purchase_id]["lines"][0]["vatType"] = "SOMETHING_NEW"
    return purchase_id


def refused_sale(fake: FakeFiken, date: str, description: str) -> int:
    """A sale modified on its date (before the last run's mark) whose line carries a
    vatType the books do not document; fixed later without a new lastModifiedDate (as a
    vatType the import learns to book would be), so only asking by id finds it again."""
    day = dt.date.fromisoformat(date)
    line = {
        "description": description,
        "vatType": "HIGH",
        "netPrice": 8_000,
        "vat": 2_000,
        "account": "3000",
    }
    sale_id = fake.add_sale(day, [line], modified=day)
    fake.sales[sale_id]["lines"][0]["vatType"] = "SOMETHING_NEW"
    return sale_id


def by_id(fake: FakeFiken) -> list[str]:
    """The records the fake was asked for by id (GET …/purchases/{id} and the like)."""
    return [
        r.path.split("/", 3)[3]
        for r in fake.requests
        if r.method == "GET" and r.path.rsplit("/", 1)[-1].isdigit() and "/companies/" in r.path
    ]


async def test_a_refused_record_is_asked_for_again_and_booked_once_it_can_be(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """ADR 0037, addendum: a purchase refused on run 1 is booked on run 2 once fixed in
    Fiken, without an earlier --from (the list reads every purchase of the range again,
    so it is not asked for by id); one still refused stays pending and is reported once
    per run; one deleted (no longer listed) is asked for by id and dropped."""
    fake, base_url = fiken
    Books(fake)
    fixed = refused_purchase(fake, "2026-02-05", "Fikses")
    # Dated on the mark's day (the invoice's): the list reads it again on run 2 too.
    still = refused_purchase(fake, "2026-02-12", "Fortsatt ukjent")
    deleted = refused_purchase(fake, "2026-02-06", "Slettes")
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        first = await service.run(TENANT, START)
        assert {(p.what, p.id) for p in first.problems} == {
            ("purchase", str(fixed)),
            ("purchase", str(still)),
            ("purchase", str(deleted)),
        }
        assert first.retried == 0
        mark = await service.last_run(TENANT)
        assert mark is not None
        assert {(p.what, p.id) for p in mark.pending} == {
            ("purchase", str(fixed)),
            ("purchase", str(still)),
            ("purchase", str(deleted)),
        }

        # In Fiken: one fixed, one deleted for good, one left as it was.
        fake.purchases[fixed]["lines"][0]["vatType"] = "HIGH"
        del fake.purchases[deleted]
        fake._today = dt.date(2026, 3, 6)
        clock.advance(days=7)
        fake.requests.clear()
        second = await service.run(TENANT, START)
        assert second.since is not None
        assert by_id(fake) == [f"purchases/{deleted}"]
        assert second.retried == 1
        # Through the same gate as the lists: one at a time, at most four a second.
        assert fake.max_in_flight == 1 and fake.max_requests_in_any_second() <= 4
        assert [(g.what, g.id) for g in second.gone] == [("purchase", str(deleted))]
        assert [(p.what, p.id) for p in second.problems] == [("purchase", str(still))]
        assert "SOMETHING_NEW" in second.problems[0].reason
        entries = await imported_entries(uow_factory)
        booked = entries[f"fiken:purchase:{fixed}"]
        assert {(line.account, line.debit, line.credit) for line in booked.lines} == {
            ("6800", kr("80.00"), kr("0.00")),
            ("2710", kr("20.00"), kr("0.00")),
            (BANK_ACCOUNT_CODE, kr("0.00"), kr("100.00")),
        }
        assert not [ref for ref in entries if str(still) in ref or str(deleted) in ref]
        lines = "\n".join(summary(second))
        assert f"skipped purchase {still}" in lines
        assert lines.count(f"purchase {still}") == 1
        assert f"dropped purchase {deleted}" in lines
        mark = await service.last_run(TENANT)
        assert mark is not None
        assert [(p.what, p.id) for p in mark.pending] == [("purchase", str(still))]

        # Run 3: the one still refused is read (by the list) and refused again; the
        # booked one is not booked twice (read again by an overlapping run: known).
        fake.requests.clear()
        clock.advance(days=1)
        third = await service.run(TENANT, START)
        assert by_id(fake) == []
        assert [(p.what, p.id) for p in third.problems] == [("purchase", str(still))]
        full = await service.run(TENANT, dt.date(2025, 1, 1))
        assert full.imported == 0
        again = await imported_entries(uow_factory)
        assert [ref for ref in again if ref.startswith(f"fiken:purchase:{fixed}")] == [
            f"fiken:purchase:{fixed}"
        ]


async def test_refused_records_over_the_limit_wait_for_the_next_run(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    Books(fake)
    # Sales: the list asks for the ones modified since the mark only (a purchase is read
    # by the list every run, ADR 0037 addendum), so these are asked for by id.
    refused = [refused_sale(fake, f"2026-02-0{day}", f"Ukjent {day}") for day in (5, 6, 7)]
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock, retry_limit=2)
        await service.run(TENANT, START)
        for sale_id in refused:
            fake.sales[sale_id]["lines"][0]["vatType"] = "HIGH"
        clock.advance(days=7)
        fake.requests.clear()
        second = await service.run(TENANT, START)
        assert (second.retried, second.deferred) == (2, 1)
        assert len(by_id(fake)) == 2
        assert any("not asked for again yet" in line for line in summary(second))
        fake.requests.clear()
        clock.advance(days=1)
        third = await service.run(TENANT, START)
        assert (third.retried, third.deferred, third.imported) == (1, 0, 1)
        assert len(by_id(fake)) == 1
        entries = await imported_entries(uow_factory)
        assert all(f"fiken:sale:{i}" in entries for i in refused)
        last = await service.last_run(TENANT)
        assert last is not None and last.pending == ()


async def test_a_dry_run_asks_again_but_keeps_the_pending_list(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    Books(fake)
    refused = refused_sale(fake, "2026-02-05", "Ukjent")
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        await service.run(TENANT, START)
        fake.sales[refused]["lines"][0]["vatType"] = "HIGH"
        clock.advance(days=7)
        dry = await service.run(TENANT, START, dry_run=True)
        assert (dry.retried, dry.imported) == (1, 1)
        last = await service.last_run(TENANT)
        assert last is not None and [p.id for p in last.pending] == [str(refused)]
        assert f"fiken:sale:{refused}" not in await imported_entries(uow_factory)


#: A run's record as the code before ADR 0037's addendum stored it (no `pending`).
OLD_RUN_RECORD = (
    b'{"source":"fiken","start":"2026-01-01","journalEntriesModified":"2026-02-26",'
    b'"salesModified":"2026-02-25","purchasesDated":"2026-02-12","ranOn":"2026-03-01",'
    b'"imported":6,"problems":1,"tradeTransactions":["17"]}'
)


async def test_an_older_runs_record_without_pending_replays_and_the_next_run_builds_on_it(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    fake, base_url = fiken
    Books(fake)
    old = decode_payload("BooksImported", OLD_RUN_RECORD, 1)
    assert isinstance(old, BooksImportedData) and old.pending == ()
    stream = books_import_runs_id(TENANT)
    async with uow_factory() as uow:
        event = stamp(
            "BooksImported",
            old,
            event_id=uuid.uuid5(stream, "1"),
            actor="system:books-import",
            at=FIRST_RUN,
            correlation_id=stream,
        )
        await uow.events.append(TENANT, stream, 0, [event])
        await uow.commit()
    clock = FixedClock(FIRST_RUN)
    clock.advance(days=7)
    async with fiken_history(base_url) as source:
        service = BooksImport(uow_factory, source, clock)
        assert await service.last_run(TENANT) == old
        report = await service.run(TENANT, START)
    assert report.since == old and report.retried == 0 and by_id(fake) == []
    assert {r.path.rsplit("/", 1)[-1]: r.query for r in fake.requests}["sales"][
        "lastModifiedGe"
    ] == "2026-02-25"
    assert "17" in await service.trade_transactions(TENANT)


def _goods_import(fake: FakeFiken, date: str, vat_type: str, net: int, vat: int = 0) -> int:
    """A cash purchase of one line: an import of goods as Fiken books it (ADR 0044 §6)."""
    line: dict[str, object] = {
        "description": f"Import {vat_type}",
        "vatType": vat_type,
        "netPrice": net,
        "account": "4300",
    }
    if vat:
        line["vat"] = vat
    purchase: int = fake.create_purchase(cash_purchase(date, [line]))
    return purchase


async def test_imported_goods_imports_raise_no_compliance_finding_unless_an_amount_is_wrong(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """ADR 0047 addendum: the import VAT deducted directly (14 / 15) and the goods' basis
    (21 / 22 / 23) as `import fiken` books them are valid codes with their rates in the
    tenant's tax table, so the compliance context finds nothing in a correct import (it
    used to find "VAT code 14 is not valid" in each); import VAT that is not its basis at
    the code's rate is still a finding."""
    fake, base_url = fiken
    fake.accounts.update({"4300": "Innkjøp av varer for videresalg"})
    correct = [
        _goods_import(fake, "2026-02-02", "HIGH_DIRECT", 400_000, 100_000),
        _goods_import(fake, "2026-02-03", "MEDIUM_DIRECT", 200_000, 30_000),
        _goods_import(fake, "2026-02-04", "HIGH_BASIS", 400_000),
        _goods_import(fake, "2026-02-05", "MEDIUM_BASIS", 200_000),
        _goods_import(fake, "2026-02-06", "NONE_IMPORT_BASIS", 50_000),
    ]
    tampered = _goods_import(fake, "2026-02-07", "HIGH_DIRECT", 400_000, 80_000)
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, clock).run(TENANT, START)
    assert report.problems == []
    assert report.imported == len(correct) + 1

    compliance = ComplianceContext(uow_factory, Harness(uow_factory=uow_factory).handlers, clock)
    async with uow_factory() as uow:
        events = await uow.events.read_all(limit=10_000)
    found: dict[str, list[dict[str, str]]] = {}
    codes: set[str] = set()
    for event in events:
        if not isinstance(event.data, JournalEntryPostedData) or event.data.source != "import":
            continue
        codes.update(line.vat_code or "" for line in event.data.lines)
        record = await compliance.check(event)
        if record is not None:
            found[event.data.external_ref or ""] = [f.evidence for f in record.findings]
    assert codes - {""} == {"14", "15", "21", "22", "23"}
    assert found == {
        f"fiken:purchase:{tampered}": [
            {
                "vatCode": "14",
                "date": "2026-02-07",
                "validRate": "25",
                "basis": "4000.00",
                "vat": "800.00",
            }
        ]
    }


async def test_the_saf_t_tax_table_maps_fikens_23_to_the_standard_code_20(
    fiken: tuple[FakeFiken, str], sql_database: SqlDatabase
) -> None:
    """ADR 0047 addendum: NONE_IMPORT_BASIS is Fiken's vatCode 23, which `import fiken`
    keeps (as Fiken's own postings show it); Standard_Tax_Codes.csv has no 23, and its
    cost of imported goods without VAT is 20. The TaxTable maps TaxCode 23 to
    StandardTaxCode 20 with 20's description (the XSD: every code mapped to a standard
    one); 14, 15, 21 and 22 are standard codes themselves. Valid against the XSD."""
    fake, base_url = fiken
    fake.accounts.update({"4300": "Innkjøp av varer for videresalg"})
    _goods_import(fake, "2026-02-02", "HIGH_DIRECT", 400_000, 100_000)
    _goods_import(fake, "2026-02-03", "MEDIUM_DIRECT", 200_000, 30_000)
    _goods_import(fake, "2026-02-04", "HIGH_BASIS", 400_000)
    _goods_import(fake, "2026-02-05", "MEDIUM_BASIS", 200_000)
    _goods_import(fake, "2026-02-06", "NONE_IMPORT_BASIS", 50_000)
    root = await imported_and_exported(base_url, sql_database)
    standard = {
        details.findtext("s:TaxCode", namespaces=NS): (
            details.findtext("s:StandardTaxCode", namespaces=NS),
            details.findtext("s:Description", namespaces=NS),
        )
        for details in root.findall("s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails", NS)
    }
    assert standard["23"] == (
        "20",
        "Kostnad ved innførsel av varer, ingen merverdiavgiftsbehandling",
    )
    for code in ("14", "15", "21", "22"):
        assert standard[code][0] == code
    lines = {
        tax.findtext("s:TaxCode", namespaces=NS)
        for tax in root.findall(
            "s:GeneralLedgerEntries/s:Journal/s:Transaction/s:Line/s:TaxInformation", NS
        )
    }
    assert {"14", "15", "21", "22", "23"} <= lines


async def test_customs_declarations_and_reverse_sales_import_and_report_as_the_return(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """ADR 0047 addendum 3: Fiken has no vatType for the self-assessed import of goods; a
    customs declaration is a journal entry ("fri postering": the cost account on both
    sides, the basis under 81–85, the calculated VAT on 2700 and its deduction) imported
    with its codes. The VAT report shows 81 / 83 on both sides, 82 as output only and 85
    at 0 %, a sale with EXEMPT_REVERSE (51) its basis and one with NONE (7) its basis apart
    from the return (addendum 4); the compliance
    context finds nothing in any of them (51, 7 and 85 were "not valid")."""
    fake, base_url = fiken
    fake.accounts.update({"4300": "Innkjøp av varer for videresalg", "3100": "Salg gull"})
    day = dt.date(2026, 2, 10)
    fake.add_journal_entry(
        day,
        [
            ("4300", 400_000, "81"),
            ("4300", -400_000),
            ("2700", -100_000, "81"),
            ("2710", 100_000, "81"),
        ],
        "Tolldeklarasjon 81",
    )
    fake.add_journal_entry(
        day,
        [("4300", 100_000, "82"), ("4300", -100_000), ("2700", -25_000, "82"), ("4300", 25_000)],
        "Tolldeklarasjon 82",
    )
    fake.add_journal_entry(
        day,
        [
            ("4300", 200_000, "83"),
            ("4300", -200_000),
            ("2700", -30_000, "83"),
            ("2711", 30_000, "83"),
        ],
        "Tolldeklarasjon 83",
    )
    fake.add_journal_entry(day, [("4300", 50_000, "85"), ("4300", -50_000)], "Tolldeklarasjon 85")
    fake.add_sale(
        day,
        [
            {
                "description": "Gull",
                "vatType": "EXEMPT_REVERSE",
                "netPrice": 500_000,
                "vat": 0,
                "account": "3100",
            },
            {
                "description": "Annet",
                "vatType": "NONE",
                "netPrice": 20_000,
                "vat": 0,
                "account": "3900",
            },
        ],
    )
    clock = FixedClock(FIRST_RUN)
    async with fiken_history(base_url) as source:
        report = await BooksImport(uow_factory, source, clock).run(TENANT, START)
    assert report.problems == []

    vat = await ledger(uow_factory, clock).vat_report(ACCOUNTANT, 2026, 1)
    assert [(v.vat_code, v.rate, v.direction, v.base, v.vat) for v in vat.lines] == [
        ("51", kr("0"), "output", kr("5000.00"), kr("0.00")),
        ("81", kr("25"), "output", kr("4000.00"), kr("1000.00")),
        ("81", kr("25"), "input", kr("0.00"), kr("1000.00")),
        ("82", kr("25"), "output", kr("1000.00"), kr("250.00")),
        ("83", kr("15"), "output", kr("2000.00"), kr("300.00")),
        ("83", kr("15"), "input", kr("0.00"), kr("300.00")),
        ("85", kr("0"), "output", kr("500.00"), kr("0.00")),
    ]
    assert (vat.output_vat, vat.input_vat, vat.payable) == (
        kr("1550.00"),
        kr("1300.00"),
        kr("250.00"),
    )
    # 7 is no code of the return: its sale (on an income account) is shown apart, as a
    # positive turnover (ADR 0047 addendum 4).
    assert [
        (v.vat_code, v.rate, v.direction, v.base, v.vat, v.side) for v in vat.not_in_return
    ] == [("7", kr("0"), None, kr("200.00"), kr("0.00"), "sales")]

    compliance = ComplianceContext(uow_factory, Harness(uow_factory=uow_factory).handlers, clock)
    async with uow_factory() as uow:
        events = await uow.events.read_all(limit=10_000)
    checked = 0
    for event in events:
        if isinstance(event.data, JournalEntryPostedData) and event.data.source == "import":
            checked += 1
            assert await compliance.check(event) is None, event.data.external_ref
    assert checked == report.imported


async def test_entries_dated_in_a_locked_vat_term_are_counted_kept_at_their_date(
    fiken: tuple[FakeFiken, str], uow_factory: UnitOfWorkFactory
) -> None:
    """ADR 0040 addendum: an automatic posting into a locked VAT term is moved to the first
    open day, an import is not (it mirrors the books). The summary counts the imported
    entries that lie in a closed period or a locked term, per period, so the operator sees
    them; each keeps its date in Fiken."""
    from bookkeeper.domain.rules import VAT_TERM, FiscalPeriod, shut_on, touches_vat

    fake, base_url = fiken
    Books(fake)
    term = FiscalPeriod(
        tenant_id=TENANT, kind=VAT_TERM, name="2026-1", start=START,
        end=dt.date(2026, 2, 28), closed_by="human:anna", closed_at=FIRST_RUN,
    )  # fmt: skip
    async with uow_factory() as uow:
        await uow.rules.add_period(term)
        await uow.commit()
    async with fiken_history(base_url) as source:
        dry = await BooksImport(uow_factory, source, FixedClock(FIRST_RUN)).run(
            TENANT, START, dry_run=True
        )
        report = await BooksImport(uow_factory, source, FixedClock(FIRST_RUN)).run(TENANT, START)

    entries = await imported_entries(uow_factory)
    with_vat = [e for e in entries.values() if touches_vat(e)]
    assert with_vat and len(with_vat) < len(entries)  # the sale's payment has no VAT line
    assert all(shut_on(e.date, [term], vat=True) is term for e in with_vat)  # not moved
    assert all("dokumentdato" not in e.description for e in entries.values())
    assert report.in_shut_periods == {"locked VAT term 2026-1": len(with_vat)}
    assert dry.in_shut_periods == report.in_shut_periods
    head, *rest = summary(report)
    assert f"; {len(with_vat)} dated in closed periods or locked VAT terms, kept there)" in head
    assert (
        "dated in closed periods or locked VAT terms, kept at their date in the books (not "
        f"moved to the first open day): {len(with_vat)} in locked VAT term 2026-1"
    ) in rest
