"""LedgerService on the in-memory adapters: manual entries, idempotency, the reports."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, cast

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.errors import (
    ExternalUnavailable,
    Forbidden,
    IdempotencyConflict,
    NotFound,
)
from bookkeeper.application.event_log import posting_id
from bookkeeper.application.ledger import (
    ChartUnavailable,
    InvalidCursor,
    LedgerService,
    post_entry,
)
from bookkeeper.application.ports import BooksAccount, BooksProvider
from bookkeeper.domain.events import ReceiptAttachmentData
from bookkeeper.domain.ledger import (
    InvalidJournalEntry,
    InvalidReportPeriod,
    UnbalancedEntry,
    mirror,
    posting_for,
)
from tests.unit.conftest import (
    AGENT,
    REVIEWER,
    VIEWER,
    FixedClock,
    GatedChart,
    credit,
    debit,
    open_when_all_wait,
    principal,
)

D = Decimal
ACCOUNTANT = principal("anna", "accountant")
OTHER_ACCOUNTANT = principal("ola", "accountant")
FOREIGN_ACCOUNTANT = principal("fred", "accountant", tenant="globex")
DAY = dt.date(2026, 3, 10)


RENT = [debit("6300", "1000"), credit("1920", "1000")]


class ChartBooks:
    name = "stub-books"

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.calls = 0

    async def accounts(self) -> list[BooksAccount]:
        self.calls += 1
        return [BooksAccount(code=code, name=f"Konto {code}") for code in self.codes]


@pytest.fixture
def service(uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock) -> LedgerService:
    books = ChartBooks(["1920", "2400", "2710", "6300", "6540"])
    return LedgerService(
        uow_factory,
        clock,
        UuidV7Ids(),
        RoleAuthorizer(),
        cast(BooksProvider, lambda tenant: books),
    )


# --- manual entries ---------------------------------------------------------------------


async def test_a_manual_entry_is_an_event_and_ledger_lines(
    service: LedgerService, uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    posted = await service.post_manual(ACCOUNTANT, DAY, "Husleie mars", RENT)
    assert posted.actor == "human:anna"
    assert posted.entry.source == "manual"
    assert [str(line.debit) for line in posted.entry.lines] == ["1000.00", "0.00"]
    assert posted.posted_at == clock.now()
    async with uow_factory() as uow:
        event = await uow.events.get("acme", posted.entry_id)
        lines = await uow.ledger.entry_lines("acme", posted.entry_id)
    assert event is not None
    assert (event.type, event.stream_id, event.version) == (
        "JournalEntryPosted",
        posted.entry_id,
        1,
    )
    assert event.position == posted.position
    assert [(line.line_no, line.account, line.description) for line in lines] == [
        (1, "6300", "Husleie mars"),
        (2, "1920", "Husleie mars"),
    ]
    assert (await service.entry(VIEWER, posted.entry_id)).entry == posted.entry


async def test_unbalanced_and_malformed_entries_post_nothing(
    service: LedgerService, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    with pytest.raises(UnbalancedEntry):
        await service.post_manual(
            ACCOUNTANT, DAY, "Feil", [debit("6300", "10"), credit("1920", "9")]
        )
    with pytest.raises(InvalidJournalEntry):
        await service.post_manual(ACCOUNTANT, DAY, " ", RENT)
    async with uow_factory() as uow:
        assert await uow.events.read_all() == []
        assert await uow.ledger.accounts_used("acme") == []


@pytest.mark.parametrize("who", [AGENT, REVIEWER, VIEWER])
async def test_only_accountants_and_admins_post(service: LedgerService, who: Any) -> None:
    with pytest.raises(Forbidden):
        await service.post_manual(who, DAY, "Husleie", RENT)


async def test_the_same_key_and_body_answer_the_original(service: LedgerService) -> None:
    first = await service.post_manual(ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1")
    again = await service.post_manual(ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1")
    assert again.replayed and not first.replayed
    assert (again.entry_id, again.position, again.entry) == (
        first.entry_id,
        first.position,
        first.entry,
    )
    balance = await service.trial_balance(VIEWER, None, None)
    assert balance.debit == D("1000.00")


async def test_the_same_key_with_another_body_conflicts(service: LedgerService) -> None:
    await service.post_manual(ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1")
    with pytest.raises(IdempotencyConflict):
        await service.post_manual(ACCOUNTANT, DAY, "Husleie april", RENT, idempotency_key="k1")


async def test_keys_are_per_actor_and_tenant(service: LedgerService) -> None:
    mine = await service.post_manual(ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1")
    theirs = await service.post_manual(OTHER_ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1")
    foreign = await service.post_manual(
        FOREIGN_ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1"
    )
    assert len({mine.entry_id, theirs.entry_id, foreign.entry_id}) == 3
    assert not (theirs.replayed or foreign.replayed)


async def test_a_key_is_not_shared_with_the_event_endpoint(service: LedgerService) -> None:
    posted = await service.post_manual(ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1")
    assert posted.entry_id != uuid.uuid5(
        uuid.UUID("6f1c1d2e-8a51-4a57-9d0e-3b1f0c4e2a90"), "acme\x00human:anna\x00k1"
    )


async def test_a_keyed_entry_id_is_derived_as_it_always_was(service: LedgerService) -> None:
    """Entries already in logs were posted under this id: a retry must find them again."""
    posted = await service.post_manual(ACCOUNTANT, DAY, "Husleie", RENT, idempotency_key="k1")
    assert posted.entry_id == uuid.uuid5(
        uuid.UUID("3b7f5a0c-2d64-4c1e-9a8f-6e0d1c5b7a42"), "acme\x00human:anna\x00k1"
    )


async def test_another_tenants_entry_is_not_found(service: LedgerService) -> None:
    posted = await service.post_manual(ACCOUNTANT, DAY, "Husleie", RENT)
    with pytest.raises(NotFound):
        await service.entry(FOREIGN_ACCOUNTANT, posted.entry_id)
    with pytest.raises(NotFound):
        await service.entry(VIEWER, uuid.uuid4())


# --- trial balance ----------------------------------------------------------------------


async def test_the_trial_balance_sums_each_account_over_the_period(
    service: LedgerService,
) -> None:
    await service.post_manual(ACCOUNTANT, dt.date(2026, 1, 31), "Jan", RENT)
    await service.post_manual(ACCOUNTANT, dt.date(2026, 2, 1), "Feb", RENT)
    await service.post_manual(
        ACCOUNTANT,
        dt.date(2026, 2, 28),
        "Kjøp",
        [debit("6540", "80"), debit("2710", "20"), credit("1920", "100")],
    )
    await service.post_manual(FOREIGN_ACCOUNTANT, dt.date(2026, 2, 1), "Andre", RENT)

    every = await service.trial_balance(VIEWER, None, None)
    assert [(a.account, str(a.debit), str(a.credit), str(a.balance)) for a in every.accounts] == [
        ("1920", "0.00", "2100.00", "-2100.00"),
        ("2710", "20.00", "0.00", "20.00"),
        ("6300", "2000.00", "0.00", "2000.00"),
        ("6540", "80.00", "0.00", "80.00"),
    ]
    assert (every.debit, every.credit, every.balance) == (D("2100.00"), D("2100.00"), D(0))

    february = await service.trial_balance(VIEWER, dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert [a.account for a in february.accounts] == ["1920", "2710", "6300", "6540"]
    assert february.debit == february.credit == D("1100.00")
    january = await service.trial_balance(VIEWER, None, dt.date(2026, 1, 31))
    assert january.debit == D("1000.00")
    # After the last posting: no turnover, the balances it opens and closes with.
    after = await service.trial_balance(VIEWER, dt.date(2026, 3, 1), None)
    assert (after.debit, after.credit) == (D(0), D(0))
    assert [
        (a.account, str(a.opening), str(a.balance), str(a.closing)) for a in after.accounts
    ] == [
        ("1920", "-2100.00", "0.00", "-2100.00"),
        ("2710", "20.00", "0.00", "20.00"),
        ("6300", "2000.00", "0.00", "2000.00"),
        ("6540", "80.00", "0.00", "80.00"),
    ]


async def test_a_period_that_ends_before_it_starts_is_refused(service: LedgerService) -> None:
    with pytest.raises(InvalidReportPeriod):
        await service.trial_balance(VIEWER, dt.date(2026, 2, 1), dt.date(2026, 1, 1))


async def test_reports_need_the_read_permission(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    nobody = principal("x", "nobody")
    service = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())
    with pytest.raises(Forbidden):
        await service.trial_balance(nobody, None, None)
    with pytest.raises(Forbidden):
        await service.general_ledger(nobody, "1920", None, None)
    with pytest.raises(Forbidden):
        await service.vat_report(nobody, 2026, 1)
    with pytest.raises(Forbidden):
        await service.unknown_accounts(nobody)


# --- general ledger ---------------------------------------------------------------------


async def test_the_general_ledger_pages_with_running_balances(service: LedgerService) -> None:
    for day in range(1, 8):
        await service.post_manual(
            ACCOUNTANT,
            dt.date(2026, 3, day),
            f"Salg {day}",
            [debit("1920", f"{day}00"), credit("3000", f"{day}00")],
        )
    await service.post_manual(
        ACCOUNTANT, dt.date(2026, 3, 4), "Gebyr", [debit("7770", "50"), credit("1920", "50")]
    )
    start, end = dt.date(2026, 3, 2), dt.date(2026, 3, 6)
    first = await service.general_ledger(VIEWER, "1920", start, end, limit=2)
    assert first.opening_balance == D("100.00")
    assert [(i.line.description, str(i.balance)) for i in first.lines] == [
        ("Salg 2", "300.00"),
        ("Salg 3", "600.00"),
    ]
    assert first.next_cursor is not None and first.closing_balance is None
    second = await service.general_ledger(VIEWER, "1920", start, end, first.next_cursor, 2)
    assert [(i.line.description, str(i.balance)) for i in second.lines] == [
        ("Salg 4", "1000.00"),
        ("Gebyr", "950.00"),
    ]
    third = await service.general_ledger(VIEWER, "1920", start, end, second.next_cursor, 2)
    assert [(i.line.description, str(i.balance)) for i in third.lines] == [
        ("Salg 5", "1450.00"),
        ("Salg 6", "2050.00"),
    ]
    assert third.next_cursor is None
    assert third.closing_balance == D("2050.00")
    assert third.opening_balance == D("100.00")


async def test_an_empty_account_has_a_closing_balance_equal_to_its_opening(
    service: LedgerService,
) -> None:
    await service.post_manual(ACCOUNTANT, dt.date(2026, 1, 5), "Husleie", RENT)
    page = await service.general_ledger(VIEWER, "6300", dt.date(2026, 2, 1), None)
    assert (page.lines, page.opening_balance, page.closing_balance) == ([], D(1000), D(1000))
    assert page.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage", "", "W10", "e30"])
async def test_a_cursor_that_was_not_handed_out_is_refused(
    service: LedgerService, cursor: str
) -> None:
    with pytest.raises(InvalidCursor):
        await service.general_ledger(VIEWER, "1920", None, None, cursor)


async def test_a_cursor_is_bound_to_its_account_and_period(service: LedgerService) -> None:
    for day in (1, 2, 3):
        await service.post_manual(ACCOUNTANT, dt.date(2026, 3, day), "Husleie", RENT)
    page = await service.general_ledger(VIEWER, "1920", None, None, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursor):
        await service.general_ledger(VIEWER, "6300", None, None, page.next_cursor)
    with pytest.raises(InvalidCursor):
        await service.general_ledger(VIEWER, "1920", DAY, None, page.next_cursor)


# --- VAT --------------------------------------------------------------------------------


async def test_the_vat_report_sums_a_term_by_code(
    service: LedgerService, uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    receipt = ReceiptAttachmentData(
        merchant_name="Adobe",
        amount=D("199.00"),
        date=dt.date(2026, 3, 20),
        vat_rate=D("25"),
        vat_amount=D("39.80"),
        account_code="6540",
    )
    proposal = uuid.uuid4()
    entry = posting_for(receipt, proposal_id=str(proposal))
    assert entry is not None
    async with uow_factory() as uow:
        await post_entry(
            uow,
            "acme",
            entry,
            entry_id=posting_id(proposal),
            actor="system:executor",
            correlation_id=proposal,
            parent_id=None,
            now=clock.now(),
        )
        # Its reversal in the next term counts there, negatively.
        await post_entry(
            uow,
            "acme",
            mirror(
                entry,
                entry_id=str(posting_id(proposal)),
                date=dt.date(2026, 5, 2),
                proposal_id=None,
            ),
            entry_id=posting_id(proposal, "reversal"),
            actor="system:executor",
            correlation_id=proposal,
            parent_id=None,
            now=clock.now(),
        )
        await uow.commit()
    await service.post_manual(
        ACCOUNTANT,
        dt.date(2026, 4, 30),
        "Salg",
        [
            debit("1500", "1250"),
            credit("3000", "1000", vat_code="3", vat_part="base"),
            credit("2700", "250", vat_code="3", vat_part="tax"),
        ],
    )
    await service.post_manual(ACCOUNTANT, dt.date(2026, 5, 1), "Utenfor", RENT)

    report = await service.vat_report(VIEWER, 2026, 2)
    assert (report.term.start, report.term.end, report.term.due) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 4, 30),
        dt.date(2026, 6, 10),
    )
    assert [(v.vat_code, v.rate, v.direction, str(v.base), str(v.vat)) for v in report.lines] == [
        ("1", D("25"), "input", "159.20", "39.80"),
        ("3", D("25"), "output", "1000.00", "250.00"),
    ]
    assert (report.input_vat, report.output_vat, report.payable) == (
        D("39.80"),
        D("250.00"),
        D("210.20"),
    )
    next_term = await service.vat_report(VIEWER, 2026, 3)
    assert [(v.vat_code, str(v.base), str(v.vat)) for v in next_term.lines] == [
        ("1", "-159.20", "-39.80")
    ]
    assert next_term.payable == D("39.80")


async def test_the_vat_report_shows_reverse_charge_as_output_vat_and_its_deduction(
    service: LedgerService,
) -> None:
    """ADR 0047: a reverse-charge code's basis carries the VAT the buyer calculated (output
    VAT), and its deduction (input VAT) is a line of its own; a code without deduction has
    only the first, so the term pays it."""
    saas = [
        debit("6420", "1000", vat_code="86", vat_part="base"),
        credit("2700", "250", vat_code="86", vat_part="tax"),
        debit("2710", "250", vat_code="86", vat_part="tax"),
        credit("2400", "1000"),
    ]
    advice = [
        debit("6700", "400", vat_code="87", vat_part="base"),
        credit("2700", "100", vat_code="87", vat_part="tax"),
        debit("6700", "100"),
        credit("2400", "400"),
    ]
    await service.post_manual(ACCOUNTANT, dt.date(2026, 3, 5), "SaaS fra utlandet", saas)
    await service.post_manual(ACCOUNTANT, dt.date(2026, 3, 6), "Rådgivning utland", advice)

    report = await service.vat_report(VIEWER, 2026, 2)

    assert [(v.vat_code, v.rate, v.direction, str(v.base), str(v.vat)) for v in report.lines] == [
        ("86", D("25"), "output", "1000.00", "250.00"),
        ("86", D("25"), "input", "0.00", "250.00"),
        ("87", D("25"), "output", "400.00", "100.00"),
    ]
    assert (report.input_vat, report.output_vat, report.payable) == (
        D("250.00"),
        D("350.00"),
        D("100.00"),
    )


async def test_a_term_outside_1_to_6_is_refused(service: LedgerService) -> None:
    with pytest.raises(InvalidReportPeriod):
        await service.vat_report(VIEWER, 2026, 7)


# --- unknown accounts -------------------------------------------------------------------


async def test_unknown_accounts_compare_the_ledger_with_the_books_chart(
    service: LedgerService,
) -> None:
    await service.post_manual(
        ACCOUNTANT,
        DAY,
        "Diverse",
        [debit("6300", "10"), debit("9999", "5"), credit("2400:20001", "10"), credit("0042", "5")],
    )
    await service.post_manual(
        FOREIGN_ACCOUNTANT, DAY, "Andre", [debit("8888", "1"), credit("1920", "1")]
    )
    report = await service.unknown_accounts(VIEWER)
    assert (report.backend, report.chart_size, report.accounts) == (
        "stub-books",
        5,
        ["0042", "9999"],
    )


async def test_the_books_are_opened_once_on_first_use(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    books = ChartBooks(["1920"])
    opened: list[str] = []

    async def source() -> BooksProvider:
        opened.append("books")
        return cast(BooksProvider, lambda tenant: books)

    service = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), books_source=source)
    assert opened == []  # building the service opens nothing
    await service.unknown_accounts(VIEWER)
    await service.unknown_accounts(VIEWER)
    assert (opened, books.calls) == (["books"], 2)


async def test_without_books_there_is_no_chart(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    service = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())
    with pytest.raises(ChartUnavailable):
        await service.unknown_accounts(VIEWER)


# --- the chart's account names ------------------------------------------------------------


def ledger_over(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock, books: GatedChart
) -> LedgerService:
    return LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer(), books.provider())


async def test_reports_missing_the_names_at_once_read_the_chart_once(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    """Fails without the single flight: each of the eight reports read the chart itself."""
    books = GatedChart(["1920", "6300"], held=True)
    service = ledger_over(uow_factory, clock, books)
    asking = [asyncio.create_task(service.account_names(VIEWER)) for _ in range(8)]
    await open_when_all_wait(books)
    answers = await asyncio.gather(*asking)
    assert books.reads == 1
    assert [names("6300") for names in answers] == ["Konto 6300"] * 8


async def test_names_that_could_not_be_read_are_read_again_by_the_next_report(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    books = GatedChart(["1920", "6300"])
    books.fail = ExternalUnavailable("fiken is down", system="fiken")
    service = ledger_over(uow_factory, clock, books)
    assert not await service.account_names(VIEWER)  # the report goes on without names
    assert (await service.account_names(VIEWER))("6300") == "Konto 6300"
    assert books.reads == 2
