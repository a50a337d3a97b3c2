"""The SAF-T export on the in-memory adapters: a valid 1.30 file whose figures are the
ledger's, streamed; the rules of the period, the company, the grouping and VAT lines."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.memory_saft import MemoryAuditReads
from bookkeeper.adapters.saft import groupings as default_module
from bookkeeper.adapters.saft.xml_writer import (
    render,
    standard_tax_code_descriptions,
    written_standard_code,
)
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.errors import Forbidden
from bookkeeper.application.ledger import LedgerService, post_entry
from bookkeeper.application.ports import BooksAccount, BooksCompany
from bookkeeper.application.saft import (
    AuditLine,
    CompanySettings,
    CompanyUnknown,
    Grouping,
    SaftExport,
    filename,
    grouping_of,
    rate_of_table,
    standard_tax_code,
    transaction_of,
)
from bookkeeper.domain.events import JournalEntryPostedData, Party
from bookkeeper.domain.ledger import InvalidReportPeriod, RatePeriod, rate_periods
from bookkeeper.domain.rules import NORWAY, NORWAY_TAX_RATES, TaxRate, TaxTable
from tests.http_helpers import FixedClock
from tests.saft_checks import (
    NS,
    check_against_trial_balance,
    check_customers,
    customers,
    file_summary,
    validate,
)
from tests.saft_ledger import END, START, build_ledger, cr, dr, expected_customers
from tests.unit.conftest import VIEWER, principal

ACCOUNTANT = principal("anna", "accountant")
NOW = dt.datetime(2026, 4, 2, 8, 30, 15, tzinfo=dt.UTC)
COMPANY = CompanySettings(name="Acme AS", orgnr="923609016", contact="Anna Regnskap")


class StubBooks:
    name = "stub"

    async def company(self) -> BooksCompany:
        return BooksCompany(slug="acme", name="Acme fra bøkene AS", organization_number="999888777")

    async def accounts(self) -> list[BooksAccount]:
        return [
            BooksAccount(code="6800", name="Kontorrekvisita"),
            BooksAccount(code="2400", name="Leverandørgjeld"),
        ]


async def _books_source() -> Any:
    return lambda tenant: StubBooks()


def _export(
    factory: MemoryUnitOfWorkFactory,
    *,
    company: CompanySettings | None = COMPANY,
    page_size: int = 3,
    now: dt.datetime = NOW,
    **kw: Any,
) -> SaftExport:
    return SaftExport(
        MemoryAuditReads(factory.db, **kw),
        RoleAuthorizer(),
        FixedClock(now),
        render,
        software_version="0.1.0",
        company=company,
        books_source=_books_source,
        page_size=page_size,
    )


async def _bytes(
    export: SaftExport, start: dt.date = START, end: dt.date = END, **kw: Any
) -> tuple[str, bytes]:
    file = await export.export(ACCOUNTANT, start, end, **kw)
    return file.filename, b"".join([chunk async for chunk in file.chunks])


@pytest.fixture
async def factory() -> MemoryUnitOfWorkFactory:
    factory = MemoryUnitOfWorkFactory()
    await build_ledger(factory)
    return factory


async def test_customers_and_their_receivables(factory: MemoryUnitOfWorkFactory) -> None:
    """Customers from the translators' and manual receivables lines, with their balances
    per receivables account; CustomerID on exactly the receivables lines that name one."""
    builder = await build_ledger(fresh := MemoryUnitOfWorkFactory())
    root = validate((await _bytes(_export(fresh)))[1])
    check_customers(root, expected_customers([builder], START, END))
    found = customers(root)
    # Nordlys: 5000 invoiced in December, 3000 paid in January, 500 credited in February.
    assert found["K-1001"] == (
        "Nordlys AS",
        "987654321",
        {"1500": (Decimal("5000.00"), Decimal("1500.00"))},
    )
    assert found["K-1002"] == ("Fjord Fisk AS", None, {"1500": (Decimal(0), Decimal("12500.00"))})
    assert set(found) == {"K-1001", "K-1002"}  # not the later one, not another tenant's
    transactions = root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS)
    payment = next(
        t for t in transactions if t.findtext("s:TransactionDate", namespaces=NS) == "2026-01-25"
    )
    assert payment.findtext("s:CustomerID", namespaces=NS) == "K-1001"
    bank, receivable = payment.findall("s:Line", NS)
    assert bank.find("s:CustomerID", NS) is None
    assert receivable.findtext("s:CustomerID", namespaces=NS) == "K-1001"
    # Another period: December's invoice is the turnover, nothing opens before it.
    december = validate(
        (await _bytes(_export(fresh), dt.date(2025, 12, 1), dt.date(2025, 12, 31)))[1]
    )
    check_customers(
        december,
        expected_customers([builder], dt.date(2025, 12, 1), dt.date(2025, 12, 31)),
    )
    assert customers(december) == {
        "K-1001": ("Nordlys AS", "987654321", {"1500": (Decimal(0), Decimal("5000.00"))})
    }


async def test_the_file_is_valid_and_its_figures_are_the_ledgers(
    factory: MemoryUnitOfWorkFactory,
) -> None:
    name, xml = await _bytes(_export(factory))
    assert name == "SAF-T Financial_923609016_20260402103015_1_1.xml"
    root = validate(xml)
    ledger = LedgerService(factory, FixedClock(NOW), UuidV7Ids(), RoleAuthorizer())
    period = await ledger.trial_balance(ACCOUNTANT, START, END)
    to_end = await ledger.trial_balance(ACCOUNTANT, None, END)
    before = await ledger.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1))
    check_against_trial_balance(root, period, to_end, START, before)
    summary = file_summary(root)
    # office, food, train, the reversal, mixed, receipt, the payment, the sale, and
    # Nordlys' payment and credit note
    assert summary["entries"] == 10
    assert "6300" not in summary["accounts"]  # only after the period (and in another tenant)
    assert summary["accounts"]["2000"] == (Decimal("-100000.00"), Decimal("-100000.00"))


async def test_income_accounts_open_the_year_at_zero_and_earlier_results_open_in_equity(
    factory: MemoryUnitOfWorkFactory,
) -> None:
    """2025 was never closed: its revenue and costs open 2026 in 2050 Annen egenkapital,
    not on 3xxx–8xxx; from February, those accounts open with January's turnover only."""
    ledger = LedgerService(factory, FixedClock(NOW), UuidV7Ids(), RoleAuthorizer())
    before = await ledger.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1))
    earlier = sum((a.balance for a in before.accounts if a.account[:1] in "345678"), Decimal(0))
    assert earlier != 0  # the ledger has an unclosed 2025 result to carry
    for start in (START, dt.date(2026, 2, 1)):
        root = validate((await _bytes(_export(factory), start, END))[1])
        period = await ledger.trial_balance(ACCOUNTANT, start, END)
        to_end = await ledger.trial_balance(ACCOUNTANT, None, END)
        check_against_trial_balance(root, period, to_end, start, before)
        opening_2050 = file_summary(root)["accounts"]["2050"][0]
        assert opening_2050 == earlier


async def test_header_master_files_and_lines(factory: MemoryUnitOfWorkFactory) -> None:
    root = validate((await _bytes(_export(factory)))[1])
    header = root.find("s:Header", NS)
    assert header is not None
    assert header.findtext("s:AuditFileVersion", namespaces=NS) == "1.30"
    assert header.findtext("s:Company/s:Name", namespaces=NS) == "Acme AS"
    assert (
        header.findtext("s:Company/s:Contact/s:ContactPerson/s:LastName", namespaces=NS)
        == "Regnskap"
    )
    assert (
        header.findtext("s:SelectionCriteria/s:SelectionStartDate", namespaces=NS) == "2026-01-01"
    )
    accounts = {
        a.findtext("s:AccountID", namespaces=NS): a
        for a in root.findall("s:MasterFiles/s:GeneralLedgerAccounts/s:Account", NS)
    }
    office = accounts["6800"]
    assert office.findtext("s:AccountDescription", namespaces=NS) == "Kontorrekvisita"
    assert office.findtext("s:GroupingCategory", namespaces=NS) == "annenDriftskostnad"
    assert office.findtext("s:GroupingCode", namespaces=NS) == "6995"
    assert accounts["2710"].findtext("s:GroupingCode", namespaces=NS) == "2740"
    suppliers = root.findall("s:MasterFiles/s:Suppliers/s:Supplier", NS)
    assert sorted(s.findtext("s:Name", namespaces=NS) or "" for s in suppliers) == [
        "Adobe Systems",
        "Flytoget AS",
        "Kontorland AS",
        "Matbutikken AS",
    ]
    food = next(s for s in suppliers if s.findtext("s:Name", namespaces=NS) == "Matbutikken AS")
    assert food.findtext("s:BalanceAccount/s:AccountID", namespaces=NS) == "2400"
    # The manual payment names no supplier: the sub-ledger keeps the invoice open.
    assert food.findtext("s:BalanceAccount/s:ClosingCreditBalance", namespaces=NS) == "1150.00"
    adobe = next(s for s in suppliers if s.findtext("s:Name", namespaces=NS) == "Adobe Systems")
    assert adobe.find("s:BalanceAccount", NS) is None  # paid at once, no payables
    # The organisation number where a purchase's document carries one (spaces dropped).
    assert {
        s.findtext("s:Name", namespaces=NS): s.findtext("s:RegistrationNumber", namespaces=NS)
        for s in suppliers
    } == {
        "Adobe Systems": None,
        "Flytoget AS": None,
        "Kontorland AS": "912345678",
        "Matbutikken AS": "998877665",
    }
    codes = {
        c.findtext("s:TaxCode", namespaces=NS): c.findtext("s:TaxPercentage", namespaces=NS)
        for c in root.findall("s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails", NS)
    }
    assert codes == {"1": "25", "11": "15", "13": "12", "3": "25"}
    transactions = root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS)
    dates = [t.findtext("s:TransactionDate", namespaces=NS) or "" for t in transactions]
    assert dates == sorted(dates)
    train = next(
        t for t in transactions if t.findtext("s:TransactionDate", namespaces=NS) == "2026-02-05"
    )
    assert train.findtext("s:SourceID", namespaces=NS) == "executor"
    assert train.findtext("s:Period", namespaces=NS) == "2"
    cost = train.findall("s:Line", NS)[0]
    assert cost.findtext("s:TaxInformation/s:TaxCode", namespaces=NS) == "13"
    assert cost.findtext("s:TaxInformation/s:TaxBase", namespaces=NS) == "1000.00"
    assert cost.findtext("s:TaxInformation/s:DebitTaxAmount/s:Amount", namespaces=NS) == "120.00"
    payable = train.findall("s:Line", NS)[-1]
    assert payable.findtext("s:SupplierID", namespaces=NS) is not None
    sale = next(
        t for t in transactions if t.findtext("s:TransactionDate", namespaces=NS) == "2026-03-15"
    )
    assert sale.findtext("s:Description", namespaces=NS) == 'Salg & <konsulent> "tjenester"'
    assert sale.findtext("s:SourceID", namespaces=NS) == "anna"
    revenue = sale.findall("s:Line", NS)[1]
    assert (
        revenue.findtext("s:TaxInformation/s:CreditTaxAmount/s:Amount", namespaces=NS) == "2500.00"
    )


async def test_pages_and_chunks_do_not_change_the_file(factory: MemoryUnitOfWorkFactory) -> None:
    seen: list[int] = []
    one = (await _bytes(_export(factory, page_size=1), progress=seen.append))[1]
    many = (await _bytes(_export(factory, page_size=1000)))[1]
    assert one == many
    assert seen == sorted(seen) and seen[-1] > 20


async def test_an_empty_period_is_a_valid_file(factory: MemoryUnitOfWorkFactory) -> None:
    root = validate((await _bytes(_export(factory), dt.date(2030, 1, 1), dt.date(2030, 1, 31)))[1])
    assert file_summary(root)["entries"] == 0


async def test_the_caller_needs_exports_read(factory: MemoryUnitOfWorkFactory) -> None:
    with pytest.raises(Forbidden):
        await _export(factory).export(VIEWER, START, END)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, END),
        (START, None),
        (END, START),
        (dt.date(2020, 1, 1), dt.date(2026, 1, 1)),
        # Two financial years, however short: one file per year (ADR 0062 addendum).
        (dt.date(2025, 12, 31), dt.date(2026, 1, 1)),
        (dt.date(2025, 7, 1), dt.date(2026, 6, 30)),
        (dt.date(1960, 1, 1), dt.date(1960, 2, 1)),
    ],
)
async def test_bad_periods_are_refused(
    factory: MemoryUnitOfWorkFactory, start: dt.date | None, end: dt.date | None
) -> None:
    with pytest.raises(InvalidReportPeriod):
        await _export(factory).export(ACCOUNTANT, start, end)


async def test_the_company_falls_back_to_the_books(factory: MemoryUnitOfWorkFactory) -> None:
    name, xml = await _bytes(_export(factory, company=None))
    assert name.startswith("SAF-T Financial_999888777_")
    root = validate(xml)
    assert root.findtext("s:Header/s:Company/s:Name", namespaces=NS) == "Acme fra bøkene AS"
    # The contact person defaults to the exporting user.
    assert (
        root.findtext("s:Header/s:Company/s:Contact/s:ContactPerson/s:FirstName", namespaces=NS)
        == "anna"
    )


async def test_no_company_is_an_error() -> None:
    export = SaftExport(
        MemoryAuditReads(MemoryUnitOfWorkFactory().db),
        RoleAuthorizer(),
        FixedClock(NOW),
        render,
        software_version="0.1.0",
    )
    with pytest.raises(CompanyUnknown):
        await export.export(ACCOUNTANT, START, END)


async def test_a_tenant_grouping_wins_over_the_default(factory: MemoryUnitOfWorkFactory) -> None:
    own = Grouping(first=6800, last=6800, category="annenDriftskostnad", code="7700")
    xml = (await _bytes(_export(factory, tenant_groupings={"acme": [own]})))[1]
    root = validate(xml)
    office = next(
        a
        for a in root.findall("s:MasterFiles/s:GeneralLedgerAccounts/s:Account", NS)
        if a.findtext("s:AccountID", namespaces=NS) == "6800"
    )
    assert office.findtext("s:GroupingCode", namespaces=NS) == "7700"


def test_grouping_of_accounts() -> None:
    groupings = default_module.default_groupings()
    assert grouping_of("1920", groupings).code == "1920"
    assert grouping_of("2400:20001", groupings).code == "2400"
    assert grouping_of("7770", groupings).code == "7700"
    assert grouping_of("kasse", groupings).code == "7700"


def test_every_default_grouping_is_one_skatteetaten_lists() -> None:
    """Each (GroupingCategory, GroupingCode) the defaults give an account is a row of
    Skatteetaten's naeringsspesifikasjon.csv: a code under another category, or one not
    on the list, is refused by the recipient whatever the XSD says."""
    from tests.saft_checks import listed_groupings

    listed = listed_groupings()
    given = {(g.category, g.code) for g in default_module.default_groupings()}
    assert given <= listed, sorted(given - listed)


def written(code: str) -> str:
    """The StandardTaxCode the export writes for an entry's VAT code."""
    return written_standard_code(standard_tax_code(code))


def test_standard_tax_codes() -> None:
    assert written("1") == "1"
    assert written("33") == "33"
    assert written("6") == "6"
    assert written("X9") == "NA"
    # Fiken's 23 (NONE_IMPORT_BASIS) is not in Standard_Tax_Codes.csv: its cost of imported
    # goods without VAT is 20 there.
    assert written("23") == "20"
    assert written("21") == "21"


def test_every_standard_tax_code_is_its_own_in_the_export() -> None:
    """A manual or imported entry may use any of Skatteetaten's codes, rate known to us or
    not (81-85 imports of goods, 51, 32, 20, 7): each was written as NA before."""
    listed = set(standard_tax_code_descriptions())
    for code in listed:
        assert written(code) == code
    for code in ("81", "85", "51", "32", "20", "7", "0"):
        assert written(code) == code
    assert written("99") == "NA"
    assert written("") == "NA"


def test_filename() -> None:
    assert filename("923609016", NOW) == "SAF-T Financial_923609016_20260402103015_1_1.xml"


def test_a_lone_vat_line_carries_its_own_amount() -> None:
    def line(no: int, account: str, debit: str, credit: str, part: str | None) -> AuditLine:
        code = "1" if part else None
        return AuditLine(
            entry_id=uuid.UUID(int=1),
            line_no=no,
            position=5,
            date=START,
            account=account,
            debit=Decimal(debit),
            credit=Decimal(credit),
            description="x",
            entry_description="x",
            vat_code=code,
            vat_part=part,
            source="manual",
            posted_at=NOW,
            actor="anna",
            supplier_id=None,
        )

    tx = transaction_of([line(1, "2710", "25", "0", "tax"), line(2, "1920", "0", "25", None)])
    assert tx.lines[0].tax_amount == Decimal("25") and tx.lines[0].tax_base is None
    assert tx.lines[1].tax_base is None and tx.lines[1].tax_amount is None


def test_the_migration_seeds_the_defaults_the_memory_adapter_serves() -> None:
    import importlib.util

    path = Path(__file__).parents[2] / "migrations" / "versions" / "0008_saft_export.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.EXACT_CODES == default_module.EXACT_CODES
    assert module.RANGES == default_module.RANGES


async def test_suppliers_named_on_lines_are_listed_with_their_payables() -> None:
    """ADR 0044 §5: a supplier a line names (as `import fiken` names the suppliers of
    imported purchases and of journal entries on their sub-ledger accounts) is among the
    file's Suppliers beside the merchants of executed purchases, with its organisation
    number and its payables balances; its payables lines carry its SupplierID."""
    fresh = MemoryUnitOfWorkFactory()
    builder = await build_ledger(fresh)
    office = Party(kind="supplier", id="20001", name="Kontor AS", org_number="913312465")
    shop = Party(kind="supplier", id="20003", name="Elektro AS", org_number="987654321")
    await builder.manual(
        "imported invoice",
        dt.date(2026, 1, 12),
        "Fiken kjøp F-2001 Kontor AS",
        dr("6300", "800"),
        dr("2710", "200"),
        cr("2400:20001", "1000", party=office),
    )
    await builder.manual(
        "imported cash purchase",
        dt.date(2026, 1, 14),
        "Fiken kjøp Elektro AS",
        dr("6540", "100"),
        cr("1920", "100", party=shop),
    )
    # A journal entry on the sub-ledger account names the supplier by its key alone.
    await builder.manual(
        "journal entry",
        dt.date(2026, 2, 2),
        "Delbetaling",
        dr("2400:20001", "400", party=Party(kind="supplier", id="20001")),
        cr("1920", "400"),
    )
    root = validate((await _bytes(_export(fresh)))[1])
    suppliers = {
        s.findtext("s:SupplierID", namespaces=NS): (
            s.findtext("s:Name", namespaces=NS),
            s.findtext("s:RegistrationNumber", namespaces=NS),
            {
                b.findtext("s:AccountID", namespaces=NS): b.findtext(
                    "s:ClosingCreditBalance", namespaces=NS
                )
                for b in s.findall("s:BalanceAccount", NS)
            },
        )
        for s in root.findall("s:MasterFiles/s:Suppliers/s:Supplier", NS)
    }
    assert suppliers["20001"] == ("Kontor AS", "913312465", {"2400:20001": "600.00"})
    assert suppliers["20003"] == ("Elektro AS", "987654321", {})
    # The executed purchases' merchants are still there.
    assert any(key.startswith("S") for key in suppliers)
    named = [
        line.findtext("s:SupplierID", namespaces=NS)
        for line in root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction/s:Line", NS)
        if line.findtext("s:AccountID", namespaces=NS) == "2400:20001"
    ]
    assert named == ["20001", "20001"]


def test_one_supplier_per_organisation_number_else_per_name() -> None:
    """merge_suppliers: the same 9-digit org. no. (however spelt) is one supplier under the
    books' key, balances added per account; without a number, the same normalised name is
    one, joining the numbered party of that name only when exactly one has it."""
    from bookkeeper.application.saft import (
        BalanceOnAccount,
        SupplierBalance,
        aliases_of,
        merge_suppliers,
        org_key,
    )

    def supplier(key: str, name: str, org: str | None, *balances: tuple[str, str]) -> Any:
        return SupplierBalance(
            supplier_id=key,
            name=name,
            registration_number=org,
            balances=[
                BalanceOnAccount(account=a, opening=Decimal(0), closing=Decimal(c))
                for a, c in balances
            ],
        )

    assert org_key("NO 912 345 678 MVA") == org_key("912345678") == "912345678"
    assert org_key("12345") is None and org_key(None) is None
    executed = [
        supplier("Sa", "Kontorland AS", "912 345 678", ("2400", "-100.00")),
        supplier("Sb", "Lager AS", None, ("2400", "-5.00")),
        supplier("Sc", "Twin AS", "111111111"),
    ]
    named = [
        supplier("20002", "Kontorland", "NO912345678MVA", ("2400", "-1.00"), ("2400:20002", "-2")),
        supplier("20009", "LAGER AS", None),
        supplier("20010", "Twin AS", "222222222"),
        # No number, a name two numbered parties share: it joins neither.
        supplier("20011", "Twin AS", None),
    ]
    merged = merge_suppliers(executed, named)
    found = {
        s.supplier_id: (
            s.name,
            s.registration_number,
            [(b.account, b.closing) for b in s.balances],
            s.aliases,
        )
        for s in merged
    }
    assert found == {
        "20002": (
            "Kontorland",
            "912345678",
            [("2400", Decimal("-101.00")), ("2400:20002", Decimal("-2"))],
            ("Sa",),
        ),
        "20009": ("LAGER AS", None, [("2400", Decimal("-5.00"))], ("Sb",)),
        "Sc": ("Twin AS", "111111111", [], ()),
        "20010": ("Twin AS", "222222222", [], ()),
        "20011": ("Twin AS", None, [], ()),
    }
    assert aliases_of(merged) == {"Sa": "20002", "Sb": "20009"}
    # The order the sources come in does not change the result.
    assert merge_suppliers(list(reversed(executed)), list(reversed(named))) == merged


def test_a_codes_rate_periods_in_the_export_and_each_days_rate() -> None:
    """ADR 0047 addendum: the rows of a code valid in the period, oldest first, with their
    dates (88, which has no row of its own, the low output rate's); a code the table does
    not know keeps its one rate, undated; a line's rate is its date's."""
    table = TaxTable(NORWAY_TAX_RATES)
    start, end = dt.date(2021, 1, 1), dt.date(2021, 12, 31)
    low = [
        RatePeriod(
            rate=Decimal("6"), effective=dt.date(2020, 4, 1), expiration=dt.date(2021, 9, 30)
        ),
        RatePeriod(rate=Decimal("12"), effective=dt.date(2021, 10, 1)),
    ]
    assert rate_periods("13", table, start, end) == low
    assert rate_periods("88", table, start, end) == low
    assert rate_periods("13", table, dt.date(2026, 1, 1), dt.date(2026, 2, 28)) == low[1:]
    assert rate_periods("14", table, start, end) == [
        RatePeriod(rate=Decimal("25"), effective=dt.date(2005, 1, 1))
    ]
    assert rate_periods("99", table, start, end) == [RatePeriod(rate=None)]
    rate = rate_of_table(table, start, end)
    assert rate("13", dt.date(2021, 9, 30)) == Decimal("6")
    assert rate("89", dt.date(2021, 10, 1)) == Decimal("12")
    assert rate("1", dt.date(2021, 6, 1)) == Decimal("25")


def _each_day_once(periods: list[RatePeriod], start: dt.date, end: dt.date) -> None:
    """Every day from `start` to `end` lies in exactly one of the periods (an undated
    period covers every day), and the periods are in order."""
    day = start
    while day <= end:
        holding = [
            p
            for p in periods
            if (p.effective is None or p.effective <= day)
            and (p.expiration is None or day <= p.expiration)
        ]
        assert len(holding) == 1, (day, holding)
        day += dt.timedelta(days=1)
    firsts = [p.effective or dt.date.min for p in periods]
    assert firsts == sorted(firsts)


def _own_88(rate: str, start: dt.date, end: dt.date | None = None) -> TaxRate:
    return TaxRate(
        country=NORWAY,
        tax_type="low",
        direction=None,
        saft_code="88",
        rate=Decimal(rate),
        valid_from=start,
        valid_to=end,
    )


def test_a_reverse_charge_codes_own_row_cuts_its_output_codes_periods_leaving_no_gap() -> None:
    """ADR 0047 addendum: a reverse-charge code's rate is its own row's where it has one,
    else its output code's (rate_row). An output-code period that only partly overlaps
    one of the code's own rows is cut to the days the own row leaves — it was left out, a
    gap of days without any TaxCodeDetails — so every day of the export has one period,
    the one whose rate a line of that day shows."""
    start, end = dt.date(2021, 1, 1), dt.date(2021, 12, 31)
    six_until = dt.date(2021, 9, 30)
    # Its own rate from 1 June on: the 6 % period ends the day before; the 12 % one from
    # October is the own row's days, so not listed.
    table = TaxTable([*NORWAY_TAX_RATES, _own_88("10", dt.date(2021, 6, 1))])
    periods = rate_periods("88", table, start, end)
    assert periods == [
        RatePeriod(
            rate=Decimal("6"), effective=dt.date(2020, 4, 1), expiration=dt.date(2021, 5, 31)
        ),
        RatePeriod(rate=Decimal("10"), effective=dt.date(2021, 6, 1)),
    ]
    _each_day_once(periods, start, end)
    # An own row within the 6 % period: that period before and after it.
    table = TaxTable([*NORWAY_TAX_RATES, _own_88("10", dt.date(2021, 3, 1), dt.date(2021, 6, 30))])
    periods = rate_periods("88", table, start, end)
    assert periods == [
        RatePeriod(
            rate=Decimal("6"), effective=dt.date(2020, 4, 1), expiration=dt.date(2021, 2, 28)
        ),
        RatePeriod(
            rate=Decimal("10"), effective=dt.date(2021, 3, 1), expiration=dt.date(2021, 6, 30)
        ),
        RatePeriod(rate=Decimal("6"), effective=dt.date(2021, 7, 1), expiration=six_until),
        RatePeriod(rate=Decimal("12"), effective=dt.date(2021, 10, 1)),
    ]
    _each_day_once(periods, start, end)
    # Each period's rate is what a line of its days shows (rate_of_table).
    rate = rate_of_table(table, start, end)
    for day, expected in (
        (dt.date(2021, 2, 28), "6"),
        (dt.date(2021, 3, 1), "10"),
        (dt.date(2021, 7, 1), "6"),
        (dt.date(2021, 10, 1), "12"),
    ):
        assert rate("88", day) == Decimal(expected), day


def test_days_of_the_export_no_row_gives_get_the_codes_one_rate_dated_to_them() -> None:
    """Code 15 (middle-rate import VAT) starts on 1 January 2012: an export of 2011–12
    lists its one known rate for the days before (what a line then shows) and its row
    from then; a code with no row touching the period keeps one undated period."""
    start, end = dt.date(2011, 7, 1), dt.date(2012, 6, 30)
    table = TaxTable(NORWAY_TAX_RATES)
    periods = rate_periods("15", table, start, end)
    assert periods == [
        RatePeriod(rate=Decimal("15"), effective=start, expiration=dt.date(2011, 12, 31)),
        RatePeriod(rate=Decimal("15"), effective=dt.date(2012, 1, 1)),
    ]
    _each_day_once(periods, start, end)
    for code in ("1", "13", "33", "88", "89", "99"):
        _each_day_once(rate_periods(code, table, start, end), start, end)


async def test_the_files_times_are_norways() -> None:
    """The file is read in Norway: its creation date, its name's time and each entry's
    SystemEntryDate are Oslo's, not UTC's. At 23:30 UTC on 31 December it is 00:30 on
    1 January in Oslo: a file made then, of an entry entered then for 1 January, said it
    was created in the old year and the entry entered the day before its own date."""
    factory = MemoryUnitOfWorkFactory()
    entered = dt.datetime(2026, 12, 31, 23, 30, 5, tzinfo=dt.UTC)
    entry = JournalEntryPostedData(
        date=dt.date(2027, 1, 1),
        description="Nyttårskasse",
        lines=(dr("6800", "100"), cr("1920", "100")),
        source="manual",
    )
    async with factory() as uow:
        entry_id = uuid.uuid4()
        await post_entry(
            uow,
            "acme",
            entry,
            entry_id=entry_id,
            actor="anna",
            correlation_id=entry_id,
            parent_id=None,
            now=entered,
        )
        await uow.commit()
    export = _export(factory, now=entered)
    name, xml = await _bytes(export, dt.date(2027, 1, 1), dt.date(2027, 1, 31))
    assert name == "SAF-T Financial_923609016_20270101003005_1_1.xml"
    root = validate(xml)
    assert root.findtext("s:Header/s:AuditFileDateCreated", namespaces=NS) == "2027-01-01"
    tx = root.find("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS)
    assert tx is not None
    assert tx.findtext("s:TransactionDate", namespaces=NS) == "2027-01-01"
    assert tx.findtext("s:SystemEntryDate", namespaces=NS) == "2027-01-01"
