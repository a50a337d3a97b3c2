"""Issue 12 on in-memory storage: rules as data (tax rates by validity, closed periods,
locked VAT terms, review rules) and the compliance context — a finding recorded once per
entry, with an alert and a reversal that waits for review."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.compliance import ComplianceContext
from bookkeeper.application.dispatch import Subscriptions
from bookkeeper.application.errors import ExternalUnavailable, Forbidden
from bookkeeper.application.event_log import compliance_id
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import COMPLIANCE_PRINCIPAL, RecordedEvent
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.errors import InvalidProposal
from bookkeeper.domain.events import (
    AlertRaisedData,
    JournalEntryPostedData,
    ReversalData,
    Status,
    TransactionFailedComplianceData,
)
from bookkeeper.domain.ledger import BASE, TAX
from bookkeeper.domain.rules import (
    IMPORTED,
    INPUT_VAT_BEFORE_REGISTRATION,
    LOCKED_VAT_TERM,
    NORWAY,
    NORWAY_TAX_RATES,
    RATE_NOT_VALID,
    TOO_MANY_DECIMALS,
    UNKNOWN_ACCOUNT,
    FiscalPeriod,
    InvalidRule,
    PeriodClosed,
    TaxRate,
    TaxTable,
    VatTermLocked,
    compliance_findings,
    is_output_vat_account,
    is_vat_account,
    valid_vat_rates,
)
from tests.unit.conftest import (
    FixedClock,
    GatedChart,
    credit,
    debit,
    open_when_all_wait,
    principal,
)
from tests.unit.external_doubles import PDF, Harness, expense, receipt

ADMIN = principal("ada", "admin")
ACCOUNTANT = principal("anna", "accountant")
REVIEWER = principal("kari", "reviewer")
AGENT = principal("book-e", "agent")
TABLE = TaxTable(NORWAY_TAX_RATES)
DAY_2026 = dt.date(2026, 5, 4)


def entry(day: dt.date, *lines: object, **kw: object) -> JournalEntryPostedData:
    return JournalEntryPostedData(date=day, description="Test", lines=tuple(lines), **kw)  # type: ignore[arg-type]


def purchase(day: dt.date, net: str, vat: str, code: str = "1") -> JournalEntryPostedData:
    gross = str(Decimal(net) + Decimal(vat))
    return entry(
        day,
        debit("6800", net, vat_code=code, vat_part=BASE),
        debit("2710", vat, vat_code=code, vat_part=TAX),
        credit("1920", gross),
    )


# --- the rates as data --------------------------------------------------------------------


def test_the_low_rate_has_its_history() -> None:
    assert TABLE.code("13", dt.date(2020, 6, 1)).rate == Decimal("6")  # type: ignore[union-attr]
    assert TABLE.code("13", dt.date(2021, 10, 1)).rate == Decimal("12")  # type: ignore[union-attr]
    assert TABLE.code("33", dt.date(2017, 5, 1)).rate == Decimal("10")  # type: ignore[union-attr]
    assert TABLE.code("11", dt.date(2011, 5, 1)) is None  # 15 % only from 2012


@given(st.dates(min_value=dt.date(2005, 1, 1), max_value=dt.date(2100, 1, 1)))
def test_each_seeded_code_has_at_most_one_rate_a_day(day: dt.date) -> None:
    valid = TABLE.on(day)
    assert len({r.saft_code for r in valid}) == len(valid)


def test_a_change_ends_the_previous_row_the_day_before() -> None:
    new = NORWAY_TAX_RATES[1].__class__(
        country="NO",
        tax_type="regular",
        direction="input",
        saft_code="1",
        rate=Decimal("26"),
        account="2710",
        valid_from=dt.date(2027, 3, 1),
    )
    ended, added = TABLE.change(new)
    assert [(r.saft_code, r.valid_to) for r in ended] == [("1", dt.date(2027, 2, 28))]
    with pytest.raises(InvalidRule):
        TaxTable([*TABLE.rates, added]).change(
            new.__class__(
                **{**new.__dict__}
                if False
                else {
                    "country": "NO",
                    "tax_type": "regular",
                    "direction": "input",
                    "saft_code": "1",
                    "rate": Decimal("27"),
                    "valid_from": dt.date(2027, 1, 1),
                }
            )
        )


# --- the compliance checks -----------------------------------------------------------------


def test_a_correct_purchase_has_no_finding() -> None:
    assert compliance_findings(purchase(dt.date(2026, 5, 4), "100.00", "25.00"), table=TABLE) == []


def test_vat_that_is_not_the_rate_valid_on_the_date_is_a_finding() -> None:
    [finding] = compliance_findings(purchase(dt.date(2026, 5, 4), "100.00", "15.00"), table=TABLE)
    assert finding.rule == RATE_NOT_VALID
    assert finding.evidence["validRate"] == "25"


def test_a_finding_writes_the_rate_as_people_do_whatever_scale_the_store_keeps() -> None:
    # The SQL stores read rates from a NUMERIC(6, 2) column (25.00), memory from the seed (25):
    # the same finding either way.
    scaled = TaxTable(
        [
            msgspec.structs.replace(r, rate=r.rate.quantize(Decimal("0.01"))) if r.rate else r
            for r in NORWAY_TAX_RATES
        ]
    )
    wrong = purchase(dt.date(2026, 5, 4), "100.00", "15.00")
    [seed] = compliance_findings(wrong, table=TABLE)
    [stored] = compliance_findings(wrong, table=scaled)
    assert stored.evidence == seed.evidence and stored.evidence["validRate"] == "25"
    assert stored.message == seed.message and "the 25 % valid" in stored.message


def test_a_code_not_valid_on_the_date_is_a_finding() -> None:
    # 15 % food VAT (code 11) came in 2012.
    [finding] = compliance_findings(
        purchase(dt.date(2010, 5, 4), "100.00", "15.00", code="11"), table=TABLE
    )
    assert finding.rule == RATE_NOT_VALID and finding.evidence["vatCode"] == "11"


def _reverse_charge(
    day: dt.date, code: str, net: str, out: str, deducted: str
) -> JournalEntryPostedData:
    return JournalEntryPostedData(
        date=day,
        description="Tjeneste fra utlandet",
        lines=(
            debit("6420", net, vat_code=code, vat_part=BASE),
            credit("2700", out, vat_code=code, vat_part=TAX),
            debit(
                "2713" if code in ("88", "89") else "2710", deducted, vat_code=code, vat_part=TAX
            ),
            credit("2400", net),
        ),
    )


def test_reverse_charge_is_checked_at_its_tax_types_rate_on_each_side() -> None:
    """ADR 0047: 86 is calculated at the regular rate, 88 at the low rate valid then (6 %
    in 2021); the calculated and the deducted VAT are each checked against it."""
    assert (
        compliance_findings(_reverse_charge(DAY_2026, "86", "100", "25", "25"), table=TABLE) == []
    )
    assert (
        compliance_findings(
            _reverse_charge(dt.date(2021, 3, 1), "88", "100", "6", "6"), table=TABLE
        )
        == []
    )
    [finding] = compliance_findings(_reverse_charge(DAY_2026, "86", "100", "25", "15"), table=TABLE)
    assert finding.rule == RATE_NOT_VALID and finding.evidence["vat"] == "15.00"


def _import_of_goods(day: dt.date, code: str, basis: str, vat: str) -> JournalEntryPostedData:
    """A Fiken purchase as `import fiken` books HIGH_DIRECT / MEDIUM_DIRECT (ADR 0044 §6):
    the basis under 14 / 15 and the import VAT deducted on 2710 / 2711."""
    gross = str(Decimal(basis) + Decimal(vat))
    return entry(
        day,
        debit("4300", basis, vat_code=code, vat_part=BASE),
        debit("2710" if code == "14" else "2711", vat, vat_code=code, vat_part=TAX),
        credit("2400", gross),
    )


@pytest.mark.parametrize(
    ("code", "basis", "vat"), [("14", "1000.00", "250.00"), ("15", "1000.00", "150.00")]
)
def test_import_vat_deducted_directly_is_its_basis_at_the_codes_rate(
    code: str, basis: str, vat: str
) -> None:
    """ADR 0047 addendum: 14 / 15 have their rows (regular / middle rate), so a correctly
    imported import-VAT line raises nothing; a wrong amount still does."""
    assert compliance_findings(_import_of_goods(DAY_2026, code, basis, vat), table=TABLE) == []
    [finding] = compliance_findings(_import_of_goods(DAY_2026, code, basis, "120.00"), table=TABLE)
    assert finding.rule == RATE_NOT_VALID
    assert finding.evidence["vatCode"] == code and finding.evidence["vat"] == "120.00"
    assert finding.evidence["validRate"] == ("25" if code == "14" else "15")


@pytest.mark.parametrize("code", ["21", "22", "23"])
def test_the_basis_of_imported_goods_is_valid_and_carries_no_vat(code: str) -> None:
    """21–23: the goods' cost as the basis of import VAT, a line without VAT: valid on the
    date (no "not valid" finding), and any VAT under the code is a finding."""
    basis = entry(
        DAY_2026, debit("4300", "1000.00", vat_code=code, vat_part=BASE), credit("2400", "1000.00")
    )
    assert compliance_findings(basis, table=TABLE) == []
    with_vat = entry(
        DAY_2026,
        debit("4300", "1000.00", vat_code=code, vat_part=BASE),
        debit("2710", "0.50", vat_code=code, vat_part=TAX),
        credit("2400", "1000.50"),
    )
    [finding] = compliance_findings(with_vat, table=TABLE)
    assert finding.rule == RATE_NOT_VALID
    assert finding.evidence == {
        "vatCode": code,
        "date": DAY_2026.isoformat(),
        "validRate": "0",
        "basis": "1000.00",
        "vat": "0.50",
    }


def test_import_codes_are_never_a_receipts_code_by_its_rate() -> None:
    """The import codes' rows do not change how a purchase at a rate is booked: 25 % is
    still code 1, 15 % code 11 (before 2012: the newest 15 % input code, 11), 0 % code 0."""
    assert TABLE.purchase(Decimal("25"), DAY_2026).saft_code == "1"  # type: ignore[union-attr]
    assert TABLE.purchase(Decimal("15"), DAY_2026).saft_code == "11"  # type: ignore[union-attr]
    assert TABLE.purchase(Decimal("15"), dt.date(2010, 1, 1)).saft_code == "11"  # type: ignore[union-attr]
    assert TABLE.purchase(Decimal("0"), DAY_2026).saft_code == "0"  # type: ignore[union-attr]
    changed = TaxTable(
        [
            *(r for r in NORWAY_TAX_RATES if r.saft_code != "1"),
            TaxRate(
                country="NO",
                tax_type="regular",
                direction="input",
                saft_code="1",
                rate=Decimal("26"),
                account="2710",
                valid_from=dt.date(2005, 1, 1),
            ),
        ]
    )
    # Code 1 no longer has 25 %: the newest 25 % input code is still not an import's.
    assert changed.purchase(Decimal("25"), DAY_2026) is None


def test_too_many_decimals_for_the_currency() -> None:
    yen = entry(dt.date(2026, 5, 4), debit("6800", "100.50"), credit("1920", "100.50"))
    assert compliance_findings(yen, table=TABLE) == []
    rules = [f.rule for f in compliance_findings(yen, table=TABLE, minor_units=0, currency="JPY")]
    assert rules == [TOO_MANY_DECIMALS, TOO_MANY_DECIMALS]


def test_unknown_account_and_a_reversal_is_not_checked() -> None:
    posted = entry(dt.date(2026, 5, 4), debit("6999", "10.00"), credit("1920", "10.00"))
    [finding] = compliance_findings(posted, table=TABLE, chart=["1920", "6800"])
    assert finding.rule == UNKNOWN_ACCOUNT and finding.evidence["accounts"] == "6999"
    reversing = entry(
        dt.date(2026, 5, 4),
        debit("6999", "10.00"),
        credit("1920", "10.00"),
        reverses_entry_id=str(uuid.uuid4()),
    )
    assert compliance_findings(reversing, table=TABLE, chart=["1920"]) == []


def test_a_locked_term_finding_is_an_entry_with_vat_lines_and_not_imported_history() -> None:
    term = FiscalPeriod(
        tenant_id="acme",
        kind="vat-term",
        name="2026-3",
        start=dt.date(2026, 5, 1),
        end=dt.date(2026, 6, 30),
        closed_by="anna",
        closed_at=dt.datetime(2026, 7, 10, tzinfo=dt.UTC),
    )
    bought = purchase(dt.date(2026, 5, 4), "100.00", "25.00")
    [finding] = compliance_findings(bought, table=TABLE, locked=[term])
    assert finding.rule == LOCKED_VAT_TERM and finding.evidence["term"] == "2026-3"
    salary = entry(dt.date(2026, 5, 4), debit("5000", "10.00"), credit("1920", "10.00"))
    assert compliance_findings(salary, table=TABLE, locked=[term]) == []
    imported = msgspec.structs.replace(bought, source="import")
    assert compliance_findings(imported, table=TABLE, locked=[term]) == []


# --- periods --------------------------------------------------------------------------------


async def test_a_closed_period_refuses_postings_and_reopens() -> None:
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    rules = RulesService(uow, clock, RoleAuthorizer())
    ledger = LedgerService(uow, clock, UuidV7Ids(), RoleAuthorizer())
    lines = [debit("6300", "1000.00"), credit("1920", "1000.00")]
    period, new = await rules.close_period(ACCOUNTANT, dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert new and period.name == "2026-01"
    assert (await rules.close_period(ACCOUNTANT, period.start, period.end))[1] is False
    with pytest.raises(PeriodClosed) as refused:
        await ledger.post_manual(ACCOUNTANT, dt.date(2026, 1, 31), "Husleie", lines)
    assert "2026-01" in str(refused.value)
    await ledger.post_manual(ACCOUNTANT, dt.date(2026, 2, 1), "Husleie", lines)
    with pytest.raises(InvalidRule):  # overlapping
        await rules.close_period(ACCOUNTANT, dt.date(2026, 1, 15), dt.date(2026, 2, 15))
    with pytest.raises(Forbidden):
        await rules.reopen(ACCOUNTANT, "period", period.start)
    assert await rules.reopen(ADMIN, "period", period.start)
    await ledger.post_manual(ACCOUNTANT, dt.date(2026, 1, 31), "Husleie", lines)


async def test_review_rules_and_the_approval_threshold_are_data() -> None:
    rules = RulesService(MemoryUnitOfWorkFactory(), FixedClock(), RoleAuthorizer())
    changed = await rules.set_review_rules(ADMIN, {"twoApproversAbove": "20000"})
    assert changed.two_approvers_above == Decimal("20000")
    assert (await rules.review_rules(REVIEWER)).two_approvers_above == Decimal("20000")
    with pytest.raises(InvalidRule):
        await rules.set_review_rules(ADMIN, {"noSuchRule": 1})
    with pytest.raises(Forbidden):
        await rules.set_review_rules(ACCOUNTANT, {"twoApproversAbove": "1"})


# --- the compliance context -----------------------------------------------------------------


async def compliance_events(h: Harness, type_name: str) -> list[RecordedEvent]:
    return [e for e in await h.all_events() if e.type == type_name]


async def test_a_finding_is_recorded_once_and_proposes_a_reviewable_reversal() -> None:
    h = Harness()
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    context = ComplianceContext(h.uow_factory, h.handlers, h.clock)
    h.dispatcher.subscribe(context)
    # A receipt of 18 November at 15 % food VAT is approved; then the rate is changed to
    # 16 % from 1 November (retroactively), before the receipt is executed.
    sha = await h.store()
    proposal = await h.approved(receipt(sha, amount=Decimal("1250.00")))
    await rules.change_tax_rate(
        ADMIN, saft_code="11", rate=Decimal("16"), valid_from=dt.date(2026, 11, 1)
    )
    await h.executor.run_once()
    [posted] = await compliance_events(h, "JournalEntryPosted")
    [found] = await compliance_events(h, "TransactionFailedCompliance")
    assert isinstance(found.data, TransactionFailedComplianceData)
    assert found.id == compliance_id(posted.id, "finding")
    assert [f.rule for f in found.data.findings] == [RATE_NOT_VALID]
    assert found.data.findings[0].evidence["validRate"] == "16"
    assert found.actor == COMPLIANCE_PRINCIPAL
    [alert] = await compliance_events(h, "AlertRaised")
    assert isinstance(alert.data, AlertRaisedData) and alert.data.code == "compliance"
    [proposed] = await compliance_events(h, "ReversalProposed")
    assert isinstance(proposed.data, ReversalData)
    assert proposed.data.target_proposal_id == str(proposal)
    view = await h.view(proposed.stream_id)
    assert view.status is Status.PROPOSED  # waits for a person: reversals are reviewed
    assert str(proposed.stream_id) == found.data.reversal_proposal_id

    # Handled again (the catch-up follows the log from position 0): nothing new.
    assert await context.check(posted) is None
    await Subscriptions(h.uow_factory, h.dispatcher).catch_up()
    for name in ("TransactionFailedCompliance", "AlertRaised", "ReversalProposed"):
        assert len(await compliance_events(h, name)) == 1

    # Approved and executed, the reversal posts the mirror, which is not a finding.
    await h.approve(proposed.stream_id)
    await h.executor.run_once()
    assert len(await compliance_events(h, "JournalEntryPosted")) == 2
    assert len(await compliance_events(h, "TransactionFailedCompliance")) == 1


async def test_a_proposal_s_vat_rate_must_be_valid_on_its_date() -> None:
    h = Harness()
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    await rules.change_tax_rate(
        ADMIN, saft_code="11", rate=Decimal("16"), valid_from=dt.date(2026, 11, 1)
    )
    sha = await h.store()
    with pytest.raises(InvalidProposal, match="16"):
        await h.propose(receipt(sha))  # 18 November at 15 %
    await h.propose(receipt(sha, vat_rate=Decimal("16")))
    await h.propose(receipt(sha, date=dt.date(2026, 10, 31), folio_event_id="ev-2"))


async def test_the_executor_posts_a_locked_term_document_in_the_next_open_term() -> None:
    """A locked (reported) VAT term takes no entry with VAT lines from any path (ADR 0040
    addendum on every kind of posting): the executor books the receipt on the first day
    after the term, saying so, and nothing is a finding. (This test said "a finding, not
    a refusal" before: the posting changed the reported return.)"""
    h = Harness()
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    context = ComplianceContext(h.uow_factory, h.handlers, h.clock)
    h.dispatcher.subscribe(context)
    await rules.lock_vat_term(ACCOUNTANT, 2026, 6)
    sha = await h.store()
    await h.approved(receipt(sha))  # 18 November 2026: term 6
    await h.executor.run_once()
    [posted] = await h.postings()
    assert posted.date == dt.date(2027, 1, 1)
    assert "(dokumentdato 2026-11-18, MVA-termin 2026-6 låst)" in posted.description
    assert await compliance_events(h, "TransactionFailedCompliance") == []


async def test_a_locked_term_refuses_a_manual_entry_with_vat_but_not_one_without() -> None:
    uow = MemoryUnitOfWorkFactory()
    clock = FixedClock()
    rules = RulesService(uow, clock, RoleAuthorizer())
    ledger = LedgerService(uow, clock, UuidV7Ids(), RoleAuthorizer())
    await rules.lock_vat_term(ACCOUNTANT, 2026, 5)
    with_vat = [
        debit("6300", "1000.00", vat_code="1", vat_part="base"),
        debit("2710", "250.00", vat_code="1", vat_part="tax"),
        credit("1920", "1250.00"),
    ]
    with pytest.raises(VatTermLocked) as refused:
        await ledger.post_manual(ACCOUNTANT, dt.date(2026, 10, 31), "Husleie", with_vat)
    assert refused.value.code == "vat-term-locked" and "2026-5" in str(refused.value)
    # No VAT line: no return changes, so the entry is booked where it belongs.
    salary = [debit("5000", "1000.00"), credit("1920", "1000.00")]
    posted = await ledger.post_manual(ACCOUNTANT, dt.date(2026, 10, 31), "Lønn", salary)
    assert posted.entry.date == dt.date(2026, 10, 31)
    await ledger.post_manual(ACCOUNTANT, dt.date(2026, 11, 1), "Husleie", with_vat)
    # Unlocked (admin), the term takes it again.
    assert await rules.reopen(ADMIN, "vat-term", dt.date(2026, 9, 1))
    await ledger.post_manual(ACCOUNTANT, dt.date(2026, 10, 31), "Husleie", with_vat)


async def test_the_executor_posts_a_closed_period_document_on_the_next_open_day() -> None:
    h = Harness()
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    await rules.close_period(ACCOUNTANT, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    sha = await h.store()
    await h.approved(receipt(sha))  # dated 18 November
    await h.executor.run_once()
    [posted] = await h.postings()
    assert posted.date == dt.date(2026, 12, 1)
    assert "2026-11" in posted.description


async def test_a_rate_change_takes_effect_from_its_date_in_the_vat_report() -> None:
    h = Harness()
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    ledger = LedgerService(h.uow_factory, h.clock, h.ids, RoleAuthorizer())
    await rules.change_tax_rate(
        ADMIN, saft_code="13", rate=Decimal("10"), valid_from=dt.date(2026, 11, 15)
    )
    for day, document in ((dt.date(2026, 11, 10), "K-1"), (dt.date(2026, 11, 20), "K-2")):
        sha = await h.store(PDF + document.encode())
        # The travel expense says 12 % before the change and 10 % after.
        rate = Decimal("12") if day.day < 15 else Decimal("10")
        await h.approved(
            expense(
                sha, date=day, vat_rate=rate, document_number=document, amount=Decimal("1100.00")
            )
        )
    await h.executor.run_once()
    report = await ledger.vat_report(ACCOUNTANT, 2026, 6)
    lines = [(line.vat_code, line.rate, line.base, line.vat) for line in report.lines]
    assert lines == [
        ("13", Decimal("10"), Decimal("1000.00"), Decimal("100.00")),
        ("13", Decimal("12"), Decimal("982.14"), Decimal("117.86")),
    ]


async def posted_manually(h: Harness, count: int) -> list[RecordedEvent]:
    """`count` manual entries of one tenant, each on an account the chart does not know
    (6999): their JournalEntryPosted events."""
    ledger = LedgerService(h.uow_factory, h.clock, h.ids, RoleAuthorizer())
    entry_ids = {
        (
            await ledger.post_manual(
                ACCOUNTANT,
                dt.date(2026, 11, 18),
                f"Diverse {number}",
                [debit("6999", "100.00"), credit("1920", "100.00")],
            )
        ).entry_id
        for number in range(count)
    }
    return [e for e in await compliance_events(h, "JournalEntryPosted") if e.stream_id in entry_ids]


async def test_entries_checked_at_once_read_the_tenants_chart_once() -> None:
    """Fails without the single flight: each of the four checks read the chart itself."""
    h = Harness()
    books = GatedChart(["1920", "6300"], held=True)
    context = ComplianceContext(h.uow_factory, h.handlers, h.clock, books_source=books.books_source)
    posted = await posted_manually(h, 4)
    checking = [asyncio.create_task(context.check(event)) for event in posted]
    await open_when_all_wait(books)
    found = await asyncio.gather(*checking)
    assert books.reads == 1
    assert [[f.rule for f in each.findings] if each else None for each in found] == [
        [UNKNOWN_ACCOUNT]
    ] * 4


async def test_a_chart_that_could_not_be_read_is_read_again_by_the_next_check() -> None:
    h = Harness()
    books = GatedChart(["1920", "6300"])
    books.fail = ExternalUnavailable("fiken is down", system="fiken")
    context = ComplianceContext(h.uow_factory, h.handlers, h.clock, books_source=books.books_source)
    first, second = await posted_manually(h, 2)
    assert await context.check(first) is None  # the chart unavailable: accounts not checked
    found = await context.check(second)
    assert found is not None and [f.rule for f in found.findings] == [UNKNOWN_ACCOUNT]
    assert books.reads == 2


async def test_books_that_list_no_accounts_check_no_account() -> None:
    """Fails when an empty chart is taken as a chart that knows nothing: the entry would be
    found on an unknown account and a reversal of it proposed."""
    h = Harness()
    books = GatedChart([])
    context = ComplianceContext(h.uow_factory, h.handlers, h.clock, books_source=books.books_source)
    [posted] = await posted_manually(h, 1)
    assert await context.check(posted) is None
    assert books.reads == 1
    assert await compliance_events(h, "TransactionFailedCompliance") == []


# --- foreign-currency documents -----------------------------------------------------------


class PublishedRates:
    """An ExchangeRates source: NOK per unit as published for a day (weekends: Friday's)."""

    def __init__(self, rates: dict[str, Decimal]) -> None:
        self.rates = rates
        self.asked: list[tuple[str, dt.date]] = []

    async def to_nok(self, currency: str, day: dt.date) -> Any:
        from bookkeeper.application.spending import ExchangeRate

        self.asked.append((currency, day))
        published = day - dt.timedelta(days=max(0, day.weekday() - 4))
        return ExchangeRate(currency=currency, date=published, rate=self.rates[currency])


async def test_a_foreign_currency_expense_keeps_its_amount_and_is_booked_in_nok() -> None:
    h = Harness()
    rates = PublishedRates({"EUR": Decimal("11.5")})
    h.handlers = Handlers(h.uow_factory, h.clock, h.ids, RoleAuthorizer(), exchange_rates=rates)
    sha = await h.store()
    # Sunday 15 November 2026: Friday the 13th's rate.
    data = expense(
        sha,
        currency="EUR",
        amount=Decimal("100.00"),
        vat_amount=Decimal("20.00"),
        vat_rate=Decimal("25"),
        date=dt.date(2026, 11, 15),
    )
    proposal = await h.approved(data)
    [first, *_] = await h.stream(proposal)
    assert first.data.currency == "EUR" and first.data.amount == Decimal("100.00")
    assert first.metadata["exchange"] == {
        "currency": "EUR",
        "amount": "100.00",
        "nokAmount": "1150.00",
        "rate": "11.5",
        "rateDate": "2026-11-13",
    }
    await h.executor.run_once()
    [posted] = await h.postings()
    credit_side = [line for line in posted.lines if line.credit]
    assert [(line.account, line.credit) for line in credit_side] == [("1920", Decimal("1150.00"))]
    vat = [line for line in posted.lines if line.vat_part == TAX]
    assert [line.debit for line in vat] == [Decimal("230.00")]
    [stored] = h.world.books("acme").purchases.values()
    [line] = stored.purchase.lines
    assert stored.purchase.currency == "EUR"
    assert (line.net, line.vat) == (Decimal("80.00"), Decimal("20.00"))
    assert (line.net_nok, line.vat_nok) == (Decimal("920.00"), Decimal("230.00"))


async def test_a_nok_document_asks_for_no_rate() -> None:
    h = Harness()
    rates = PublishedRates({})
    h.handlers = Handlers(h.uow_factory, h.clock, h.ids, RoleAuthorizer(), exchange_rates=rates)
    proposal = await h.approved(receipt(await h.store()))
    [first, *_] = await h.stream(proposal)
    assert "exchange" not in first.metadata and rates.asked == []


def test_a_foreign_currency_purchase_goes_to_fiken_with_its_nok_amounts() -> None:
    from bookkeeper.adapters.fiken.books import purchase_request
    from bookkeeper.application.ports import NewPurchase, PurchaseLine

    def line(**nok: Decimal) -> PurchaseLine:
        return PurchaseLine(
            description="Hotell",
            net=Decimal("80.00"),
            vat=Decimal("20.00"),
            vat_type="HIGH",
            account="7140",
            **nok,
        )

    def sent(*lines: PurchaseLine, currency: str = "EUR") -> Any:
        purchase = NewPurchase(
            kind="cash_purchase",
            date=dt.date(2026, 11, 13),
            currency=currency,
            lines=lines,
            reference="ref-1",
            paid=True,
            payment_account="1920:10001",
        )
        return purchase_request(purchase).lines[0]

    both = sent(line(net_nok=Decimal("920.00"), vat_nok=Decimal("230.00")))
    assert (both.net_price, both.vat) == (92000, 23000)
    assert (both.net_price_in_currency, both.vat_in_currency) == (8000, 2000)
    unknown = sent(line())  # no rate recorded: the in-currency amounts alone, as before
    assert (unknown.net_price, unknown.net_price_in_currency) == (None, 8000)
    nok = sent(line(), currency="NOK")
    assert (nok.net_price, nok.net_price_in_currency) == (8000, None)


def test_one_table_books_each_purchase_by_its_own_date_and_rate() -> None:
    """Issue 14: a table keeps `purchase`'s candidates per rate; the answer still depends
    on the date (a code valid then, else the newest) and the rate asked, call after call."""
    rate = {"country": "NO", "tax_type": "regular", "direction": "input", "rate": Decimal(24)}
    old = TaxRate(
        **rate, saft_code="1", valid_from=dt.date(2000, 1, 1), valid_to=dt.date(2004, 12, 31)
    )
    new = TaxRate(**rate, saft_code="91", valid_from=dt.date(2005, 1, 1))
    table = TaxTable([old, new])
    fresh = [
        TaxTable([old, new]).purchase(rate, day)
        for rate, day in [
            (Decimal("24"), dt.date(2003, 5, 1)),
            (Decimal("24.0"), dt.date(2010, 5, 1)),
            (Decimal("24"), dt.date(1999, 5, 1)),
            (Decimal("25"), dt.date(2010, 5, 1)),
        ]
    ]

    assert table.purchase(Decimal("24"), dt.date(2003, 5, 1)) is old
    assert table.purchase(Decimal("24.0"), dt.date(2010, 5, 1)) is new
    assert table.purchase(Decimal("24"), dt.date(1999, 5, 1)) is new  # none valid: newest
    assert table.purchase(Decimal("25"), dt.date(2010, 5, 1)) is None
    assert fresh == [old, new, new, None]


@pytest.mark.parametrize(
    ("account", "vat", "output"),
    [
        ("2700", True, True),
        ("2709:x", True, True),
        ("2710", True, False),
        ("2713:10001", True, False),
        ("2740", True, False),
        ("2749", True, False),
        ("2750", False, False),
        ("2699", False, False),
        ("1920", False, False),
        ("27000", False, False),
        ("02700", False, False),  # not 4 digits: not the standard chart's 2700
        ("27a0", False, False),
        ("", False, False),
    ],
)
def test_a_vat_account_is_one_test_of_the_standard_chart(
    account: str, vat: bool, output: bool
) -> None:
    """The VAT accounts (2700–2749, the import's VAT lines) and the output VAT accounts
    among them (2700–2709, the VAT report's output side) are one test in the domain; a
    sub-ledger account is its main account's."""
    assert is_vat_account(account) is vat
    assert is_output_vat_account(account) is output


def test_a_tables_valid_vat_rates_are_found_once_per_day_and_stay_right() -> None:
    """valid_vat_rates remembers its answer per table and day (a cached table answers many
    proposals): each day still gets the rates valid on it, also across a rate change."""
    ended = TaxRate(
        country=NORWAY,
        tax_type="regular",
        direction="input",
        saft_code="98",
        rate=Decimal("7"),
        account="2710",
        valid_from=dt.date(2030, 1, 1),
        valid_to=dt.date(2030, 12, 31),
    )
    table = TaxTable((*NORWAY_TAX_RATES, ended))
    fresh = TaxTable((*NORWAY_TAX_RATES, ended))
    days = [dt.date(2029, 12, 31), dt.date(2030, 1, 1), dt.date(2030, 12, 31), dt.date(2031, 1, 1)]
    first = [valid_vat_rates(table, day) for day in days]
    assert [valid_vat_rates(table, day) for day in reversed(days)] == first[::-1]
    assert first == [valid_vat_rates(TaxTable(fresh.rates), day) for day in days]
    assert [Decimal(7) in (rates or ()) for rates in first] == [False, True, True, False]
    assert valid_vat_rates(table, days[1], "SE") is None  # another country, another answer


def test_input_vat_before_the_registration_took_effect_is_a_finding() -> None:
    """A company VAT-registered from 15 March deducts no input VAT on a purchase of
    1 March (merverdiavgiftsloven § 8-1): the check ignored `vatRegisteredFrom`."""
    since = dt.date(2026, 3, 15)
    early = purchase(dt.date(2026, 3, 1), "800.00", "200.00")
    [found] = compliance_findings(early, table=TABLE, registered_from=since)
    assert found.rule == INPUT_VAT_BEFORE_REGISTRATION
    assert found.evidence == {
        "date": "2026-03-01",
        "vatRegisteredFrom": "2026-03-15",
        "lines": "2",
        "vatCodes": "1",
    }
    on_the_day = purchase(since, "800.00", "200.00")
    assert compliance_findings(on_the_day, table=TABLE, registered_from=since) == []
    assert compliance_findings(early, table=TABLE) == []  # registered all along
    # The books' imported history is as it was reported (as for a locked term).
    imported = msgspec.structs.replace(early, source=IMPORTED)
    assert compliance_findings(imported, table=TABLE, registered_from=since) == []


async def test_the_context_flags_a_receipt_dated_before_the_registration() -> None:
    h = Harness()
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    context = ComplianceContext(h.uow_factory, h.handlers, h.clock)
    h.dispatcher.subscribe(context)
    sha = await h.store()
    await h.approved(receipt(sha, amount=Decimal("1250.00")))  # 18 November, 15 %
    await rules.set_review_rules(ADMIN, {"vatRegisteredFrom": "2026-11-19"})
    await h.executor.run_once()
    [found] = await compliance_events(h, "TransactionFailedCompliance")
    assert isinstance(found.data, TransactionFailedComplianceData)
    assert [f.rule for f in found.data.findings] == [INPUT_VAT_BEFORE_REGISTRATION]
    assert len(await compliance_events(h, "ReversalProposed")) == 1  # a person decides
