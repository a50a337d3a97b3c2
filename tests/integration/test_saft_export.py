"""The SAF-T export on SQLite and PostgreSQL: the SQL reads against the trial balance and
the XSD, and GET /exports/saf-t on the real app (streaming, problems, permissions)."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql import saft as sql_saft
from bookkeeper.adapters.sql.saft import SqlAuditReads
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import BooksAccount, BooksCompany, Principal
from bookkeeper.application.saft import CompanySettings, SaftExport
from bookkeeper.application.tax_rates import read_tax_table
from bookkeeper.backends import Backends
from bookkeeper.container import Container
from bookkeeper.domain.events import Party
from bookkeeper.domain.ledger import BASE, TAX
from bookkeeper.domain.rules import TaxTable
from bookkeeper.settings import Settings
from tests.http_helpers import API, Api, FixedClock, running_api
from tests.saft_checks import (
    NS,
    check_against_trial_balance,
    check_customers,
    customers,
    file_summary,
    validate,
)
from tests.saft_ledger import END, START, LedgerBuilder, build_ledger, cr, dr, expected_customers

ACCOUNTANT = Principal(subject="anna", tenant_id="acme", roles=frozenset({"accountant"}))


class StubBooks:
    name = "stub-books"

    async def company(self) -> BooksCompany:
        return BooksCompany(slug="acme", name="Acme AS", organization_number="923609016")

    async def accounts(self) -> list[BooksAccount]:
        return [BooksAccount(code="6800", name="Kontorrekvisita")]


def _container(data_dir: Path, database_url: str) -> Container:
    container = Container()
    container.settings.override(
        providers.Object(
            Settings.for_data_dir(data_dir, executor_enabled=False, database_url=database_url)
        )
    )
    container.clock.override(providers.Object(FixedClock()))
    books = StubBooks()

    def no_bank(tenant: str) -> Any:
        raise AssertionError("the export never asks the bank")

    container.backends.override(
        providers.Object(
            Backends(
                books=lambda tenant: books,  # type: ignore[arg-type,return-value]
                bank=no_bank,
                books_backend="stub",
                bank_backend="stub",
            )
        )
    )
    return container


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(database_url, pool_size=2, max_overflow=2)
    try:
        yield database
    finally:
        await database.dispose()


def _sql_export(database: SqlDatabase, *, tax_table: bool = False, **options: Any) -> SaftExport:
    """The export over the SQL store's audit reads, for Acme AS; `tax_table`: the tenant's
    tax table read from the store (else the export's default)."""
    factory = database.uow_factory()

    async def read(tenant_id: str) -> TaxTable:
        return await read_tax_table(factory, tenant_id)

    if tax_table:
        options["tax_table"] = read
    return SaftExport(
        SqlAuditReads(database),
        RoleAuthorizer(),
        FixedClock(),
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Acme AS", orgnr="923609016"),
        **options,
    )


async def test_the_sql_export_is_valid_and_equals_the_trial_balance(
    database: SqlDatabase,
) -> None:
    factory = database.uow_factory()
    builder = await build_ledger(factory)
    export = _sql_export(database, page_size=4)
    file = await export.export(ACCOUNTANT, START, END)
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    period = await ledger.trial_balance(ACCOUNTANT, START, END)
    to_end = await ledger.trial_balance(ACCOUNTANT, None, END)
    before = await ledger.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1))
    check_against_trial_balance(root, period, to_end, START, before)
    summary = file_summary(root)
    assert summary["entries"] == 10
    suppliers = root.findall("s:MasterFiles/s:Suppliers/s:Supplier", NS)
    assert len(suppliers) == 4
    office = next(s for s in suppliers if s.findtext("s:Name", namespaces=NS) == "Kontorland AS")
    # Opened with the December invoice (500), the January one reversed in February, the
    # March one (2400) still open.
    assert office.findtext("s:BalanceAccount/s:OpeningCreditBalance", namespaces=NS) == "500.00"
    assert office.findtext("s:BalanceAccount/s:ClosingCreditBalance", namespaces=NS) == "2900.00"
    actors = {
        t.findtext("s:SourceID", namespaces=NS)
        for t in root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS)
    }
    assert actors == {"anna", "executor", "bus"}
    # Customers from the translators' and manual receivables lines, as on memory.
    check_customers(root, expected_customers([builder], START, END))
    assert customers(root)["K-1001"] == (
        "Nordlys AS",
        "987654321",
        {"1500": (Decimal("5000.00"), Decimal("1500.00"))},
    )
    assert {
        s.findtext("s:Name", namespaces=NS): s.findtext("s:RegistrationNumber", namespaces=NS)
        for s in suppliers
    } == {
        "Adobe Systems": None,
        "Flytoget AS": None,
        "Kontorland AS": "912345678",
        "Matbutikken AS": "998877665",
    }


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    # Built before the app starts, on a database object of this loop: the app runs in the
    # test client's own event loop, with its own pool and SQLite turn lock.
    builder = SqlDatabase(database_url)
    try:
        await build_ledger(builder.uow_factory())
    finally:
        await builder.dispose()
    async with running_api(tmp_path, container=_container(tmp_path, database_url)) as running:
        yield running


async def test_get_streams_the_file(api: Api) -> None:
    response = await api.client.get(
        f"{API}/exports/saf-t",
        params={"from": "2026-01-01", "to": "2026-03-31"},
        headers=api.headers("anna", "accountant"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="SAF-T Financial_923609016_')
    assert disposition.endswith('_1_1.xml"')
    root = validate(response.content)
    assert file_summary(root)["entries"] == 10


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2026-01-01"}, 400),
        ({"to": "2026-03-31"}, 400),
        ({"from": "2026-13-01", "to": "2026-03-31"}, 400),
        # Backwards: the request's own parameters disagree, a 400 (ADR 0007 addendum).
        ({"from": "2026-03-31", "to": "2026-01-01"}, 400),
        ({"from": "2020-01-01", "to": "2026-03-31"}, 422),
        # Across a year end: one file per financial year (ADR 0062 addendum "years").
        ({"from": "2025-12-01", "to": "2026-01-31"}, 422),
    ],
)
async def test_a_bad_or_missing_period_is_a_problem(
    api: Api, params: dict[str, str], status: int
) -> None:
    """Missing, malformed or backwards: 400; well-formed but against the rules of a SAF-T
    file (one financial year): 422, as elsewhere."""
    response = await api.client.get(
        f"{API}/exports/saf-t", params=params, headers=api.headers("anna", "admin")
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if params.get("from") == "2025-12-01":
        problem = response.json()
        assert problem["code"] == "invalid-report-period"
        assert "one financial year" in problem["detail"]


@pytest.mark.parametrize("role", ["viewer", "reviewer", "agent", "system"])
async def test_roles_without_exports_read_get_403(api: Api, role: str) -> None:
    response = await api.client.get(
        f"{API}/exports/saf-t",
        params={"from": "2026-01-01", "to": "2026-03-31"},
        headers=api.headers("vera", role),
    )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_lines_name_their_customer_with_or_without_the_master_data_read_first(
    database: SqlDatabase,
) -> None:
    await build_ledger(database.uow_factory())
    reads = SqlAuditReads(database)

    async def named(read_customers_first: bool) -> dict[tuple[str, str], str | None]:
        async with reads.snapshot("acme") as snapshot:
            if read_customers_first:
                await snapshot.customers(START, END)
            lines = await snapshot.lines(START, END, None, 1000)
        return {
            (str(line.date), line.account): line.customer_id
            for line in lines
            if str(line.date) in ("2026-01-25", "2026-03-15") and line.account in ("1500", "1920")
        }

    expected = {
        ("2026-01-25", "1920"): None,
        ("2026-01-25", "1500"): "K-1001",
        ("2026-03-15", "1500"): "K-1002",
    }
    assert await named(False) == expected
    assert await named(True) == expected


async def test_the_customers_of_a_ledger_full_of_sales_are_folded_as_they_are_read(
    database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The customer and supplier master data fold the events that name a party. They were
    read all at once, decoded into a list and kept with a map of every sales line: an
    export's memory grew with the ledger's sales (a year of a busy shop: a million), not
    flat as P11 promises. They are now read a page at a time and folded per party, and the
    map of lines is dropped beyond a bound (the line pages look theirs up instead): four
    times the sales take no more memory, and the balances and the lines are the same."""
    monkeypatch.setattr(sql_saft, "PARTY_PAGE", 30, raising=False)
    monkeypatch.setattr(sql_saft, "LINE_PARTIES_KEPT", 20, raising=False)
    builder = LedgerBuilder(database.uow_factory())
    customers = [Party(kind="customer", id=f"K-{n}", name=f"Kunde {n} AS") for n in range(3)]

    async def sell(count: int) -> None:
        for n in range(count):
            await builder.manual(
                f"sale {len(builder.entries)}",
                START + dt.timedelta(days=n % 80),
                "Salg",
                dr("1500", "125.00", party=customers[n % 3]),
                cr("3000", "100.00", vat_code="3", vat_part=BASE),
                cr("2700", "25.00", vat_code="3", vat_part=TAX),
            )

    reads = SqlAuditReads(database)

    async def peak() -> tuple[int, dict[str, Any], int]:
        async with reads.snapshot("acme") as snapshot:
            tracemalloc.start()
            try:
                found = await snapshot.customers(START, END)
                await snapshot.suppliers(START, END)
                most = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            lines = await snapshot.lines(START, END, None, 100_000)
        named = sum(1 for line in lines if line.customer_id is not None)
        return most, {c.customer_id: c for c in found}, named

    await sell(90)
    small, _, _ = await peak()
    await sell(270)
    large, found, named = await peak()
    assert named == 360
    for n, customer in enumerate(customers):
        [balance] = found[customer.id].balances
        assert (balance.account, balance.opening, balance.closing) == (
            "1500",
            Decimal(0),
            Decimal(125 * 120),
        ), n
    assert large - small < 100_000, (small, large)


async def test_the_tax_table_lists_each_rate_period_of_a_code_in_the_export(
    database: SqlDatabase,
) -> None:
    """ADR 0047 addendum: the low rate was 6 % from 1 April 2020 to 30 September 2021 and
    12 % since. An export of September–October 2021 lists codes 13 and 33 (and the
    reverse-charge 88, whose rate is the low rate's) once per rate, each with its dates,
    read from the tenant's tax table, and each line's TaxPercentage is its date's rate;
    the file stays valid against the 1.30 XSD."""
    factory = database.uow_factory()
    builder = LedgerBuilder(factory, ACCOUNTANT.tenant_id)
    for day, net, vat in ((dt.date(2021, 9, 15), "100", "6"), (dt.date(2021, 10, 15), "100", "12")):
        await builder.manual(
            f"taxi {day}",
            day,
            "Taxi",
            dr("7140", net, vat_code="13", vat_part=BASE),
            dr("2713", vat, vat_code="13", vat_part=TAX),
            cr("1920", str(Decimal(net) + Decimal(vat))),
        )
    await builder.manual(
        "sale",
        dt.date(2021, 10, 20),
        "Kinobilletter",
        dr("1920", "112"),
        cr("3030", "100", vat_code="33", vat_part=BASE),
        cr("2700", "12", vat_code="33", vat_part=TAX),
    )
    await builder.manual(
        "foreign",
        dt.date(2021, 9, 20),
        "Tjeneste fra utlandet",
        dr("6700", "100", vat_code="88", vat_part=BASE),
        cr("2700", "6", vat_code="88", vat_part=TAX),
        dr("2713", "6", vat_code="88", vat_part=TAX),
        cr("1920", "100"),
    )
    start, end = dt.date(2021, 9, 1), dt.date(2021, 10, 31)

    export = _sql_export(database, tax_table=True)
    file = await export.export(ACCOUNTANT, start, end)
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    details: dict[str, list[tuple[str | None, ...]]] = {}
    for code in root.findall("s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails", NS):
        details.setdefault(code.findtext("s:TaxCode", namespaces=NS) or "", []).append(
            (
                code.findtext("s:TaxPercentage", namespaces=NS),
                code.findtext("s:EffectiveDate", namespaces=NS),
                code.findtext("s:ExpirationDate", namespaces=NS),
                code.findtext("s:StandardTaxCode", namespaces=NS),
            )
        )
    for code in ("13", "33", "88"):
        assert details[code] == [
            ("6", "2020-04-01", "2021-09-30", code),
            ("12", "2021-10-01", None, code),
        ], code
    # Each line's TaxPercentage is the rate of its entry's date.
    rates = sorted(
        (
            transaction.findtext("s:TransactionDate", namespaces=NS) or "",
            tax.findtext("s:TaxCode", namespaces=NS) or "",
            tax.findtext("s:TaxPercentage", namespaces=NS) or "",
        )
        for transaction in root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS)
        for tax in transaction.findall("s:Line/s:TaxInformation", NS)
    )
    assert rates == [  # the basis lines; 88's deduction line speaks for itself
        ("2021-09-15", "13", "6"),
        ("2021-09-20", "88", "6"),
        ("2021-09-20", "88", "6"),
        ("2021-10-15", "13", "12"),
        ("2021-10-20", "33", "12"),
    ]


@pytest.mark.postgres
async def test_a_driver_error_reading_lines_is_translated_as_storage_error(
    postgres_url: str,
) -> None:
    """The pages of lines are read through psycopg's own cursor on PostgreSQL
    (`_driver_rows`); its errors are ours as storage_error makes them: a query cancelled
    by the statement timeout is StorageUnavailable (a retry may cure it), a bug in the
    statement is raised as psycopg raised it."""
    import psycopg
    from sqlalchemy import text

    from bookkeeper.adapters.sql.saft import SqlAuditSnapshot
    from bookkeeper.application.errors import StorageUnavailable

    database = SqlDatabase(postgres_url, pool_size=2, max_overflow=2)
    try:
        reads = SqlAuditReads(database)
        async with reads.snapshot("acme") as snapshot:
            assert isinstance(snapshot, SqlAuditSnapshot)
            await snapshot._execute(text("SET LOCAL statement_timeout = '20ms'"))
            with pytest.raises(StorageUnavailable, match="database unavailable: canceling"):
                await snapshot._driver_rows(text("SELECT pg_sleep(5)"))
        async with reads.snapshot("acme") as snapshot:
            assert isinstance(snapshot, SqlAuditSnapshot)
            with pytest.raises(psycopg.errors.DivisionByZero):
                await snapshot._driver_rows(text("SELECT 1 / 0"))
    finally:
        await database.dispose()


async def test_a_reverse_charge_codes_own_rate_leaves_no_day_without_a_tax_code_period(
    database: SqlDatabase,
) -> None:
    """ADR 0047 addendum: the tenant gives 88 a rate of its own from 1 June 2021 (its
    output code 33's low rate before). The export of 2021 lists 88 with 33's 6 % period
    cut to the day before — it was left out, so January–May had no TaxCodeDetails — and
    its own row from then; the file stays valid against the 1.30 XSD."""
    from bookkeeper.domain.rules import NORWAY, TaxRate

    factory = database.uow_factory()
    async with factory() as uow:
        await uow.rules.put_tax_rate(
            TaxRate(
                country=NORWAY,
                tax_type="low",
                direction=None,
                saft_code="88",
                rate=Decimal("10"),
                valid_from=dt.date(2021, 6, 1),
            ),
            tenant_id=ACCOUNTANT.tenant_id,
        )
        await uow.commit()
    builder = LedgerBuilder(factory, ACCOUNTANT.tenant_id)
    for day, vat in ((dt.date(2021, 3, 10), "6"), (dt.date(2021, 7, 10), "10")):
        await builder.manual(
            f"foreign {day}",
            day,
            "Tjeneste fra utlandet",
            dr("6700", "100", vat_code="88", vat_part=BASE),
            cr("2700", vat, vat_code="88", vat_part=TAX),
            dr("2713", vat, vat_code="88", vat_part=TAX),
            cr("1920", "100"),
        )

    export = _sql_export(database, tax_table=True)
    file = await export.export(ACCOUNTANT, dt.date(2021, 1, 1), dt.date(2021, 12, 31))
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    details = [
        (
            code.findtext("s:TaxPercentage", namespaces=NS),
            code.findtext("s:EffectiveDate", namespaces=NS),
            code.findtext("s:ExpirationDate", namespaces=NS),
        )
        for code in root.findall("s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails", NS)
        if code.findtext("s:TaxCode", namespaces=NS) == "88"
    ]
    assert details == [("6", "2020-04-01", "2021-05-31"), ("10", "2021-06-01", None)]
    rates = sorted(
        (
            transaction.findtext("s:TransactionDate", namespaces=NS) or "",
            tax.findtext("s:TaxPercentage", namespaces=NS) or "",
        )
        for transaction in root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS)
        for tax in transaction.findall("s:Line/s:TaxInformation", NS)
        if tax.findtext("s:TaxCode", namespaces=NS) == "88"
    )
    # The basis line and the deduction line of each, at its date's rate.
    assert rates == [("2021-03-10", "6")] * 2 + [("2021-07-10", "10")] * 2


async def test_the_import_of_goods_and_the_other_standard_codes_are_exported(
    database: SqlDatabase,
) -> None:
    """ADR 0047 addendum 3: 81–85, 51, 32, 7 and 20 each are a TaxCodeDetails of their own
    standard code, at the rate of their tax type on the dates of its rows (81: the regular
    rate's, 83: the middle rate's, 85, 51, 7, 20: 0, 32: 11.11); each basis line carries
    its rate, TaxBase and the calculated VAT, the deduction line its own amount; the file
    is valid against the 1.30 XSD."""
    factory = database.uow_factory()
    builder = LedgerBuilder(factory, ACCOUNTANT.tenant_id)
    day = dt.date(2026, 3, 12)
    for code, vat, deduction in (("81", "250", "2710"), ("82", "250", None), ("83", "150", "2711")):
        last = dr(deduction, vat, vat_code=code, vat_part=TAX) if deduction else dr("4300", vat)
        await builder.manual(
            f"customs {code}",
            day,
            f"Tolldeklarasjon {code}",
            dr("4300", "1000", vat_code=code, vat_part=BASE),
            cr("4300", "1000"),
            cr("2700", vat, vat_code=code, vat_part=TAX),
            last,
        )
    await builder.manual(
        "customs 85",
        day,
        "Tolldeklarasjon 85",
        dr("4300", "300", vat_code="85", vat_part=BASE),
        cr("4300", "300"),
    )
    await builder.manual(
        "sales",
        day,
        "Gull, råfisk og annet",
        dr("1500", "7311.10"),
        cr("3100", "5000", vat_code="51", vat_part=BASE),
        cr("3000", "1000", vat_code="32", vat_part=BASE),
        cr("2700", "111.10", vat_code="32", vat_part=TAX),
        cr("3900", "1200", vat_code="7", vat_part=BASE),
    )
    await builder.manual(
        "goods",
        day,
        "Varer fra utlandet uten mva",
        dr("4300", "80", vat_code="20", vat_part=BASE),
        cr("2400", "80"),
    )

    export = _sql_export(database, tax_table=True)
    file = await export.export(ACCOUNTANT, dt.date(2026, 3, 1), dt.date(2026, 4, 30))
    root = validate(b"".join([chunk async for chunk in file.chunks]))
    details = {
        code.findtext("s:TaxCode", namespaces=NS): (
            code.findtext("s:TaxPercentage", namespaces=NS),
            code.findtext("s:EffectiveDate", namespaces=NS),
            code.findtext("s:StandardTaxCode", namespaces=NS),
        )
        for code in root.findall("s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails", NS)
    }
    since_2005, since_2012 = "2005-01-01", "2012-01-01"
    assert details == {
        "7": ("0", since_2005, "7"),
        "20": ("0", since_2005, "20"),
        "32": ("11.11", since_2005, "32"),
        "51": ("0", since_2005, "51"),
        "81": ("25", since_2005, "81"),
        "82": ("25", since_2005, "82"),
        "83": ("15", since_2012, "83"),
        "85": ("0", since_2005, "85"),
    }
    taxed = sorted(
        (
            tax.findtext("s:TaxCode", namespaces=NS) or "",
            tax.findtext("s:TaxPercentage", namespaces=NS) or "",
            tax.findtext("s:TaxBase", namespaces=NS) or "",
            tax.findtext("s:DebitTaxAmount/s:Amount", namespaces=NS) or "",
            tax.findtext("s:CreditTaxAmount/s:Amount", namespaces=NS) or "",
        )
        for tax in root.findall(
            "s:GeneralLedgerEntries/s:Journal/s:Transaction/s:Line/s:TaxInformation", NS
        )
    )
    assert taxed == [
        ("20", "0", "80.00", "0.00", ""),
        ("32", "11.11", "1000.00", "", "111.10"),
        ("51", "0", "5000.00", "", "0.00"),
        ("7", "0", "1200.00", "", "0.00"),
        # The deduction on its own, and the basis with the calculated VAT (2700).
        ("81", "25", "", "250.00", ""),
        ("81", "25", "1000.00", "", "250.00"),
        ("82", "25", "1000.00", "", "250.00"),
        ("83", "15", "", "150.00", ""),
        ("83", "15", "1000.00", "", "150.00"),
        ("85", "0", "300.00", "0.00", ""),
    ]
