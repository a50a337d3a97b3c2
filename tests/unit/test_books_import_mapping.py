"""How a record of the books becomes imported ledger entries (application.books_import):
every entry it makes balances, ids are derived from the books' id (the same twice, never
shared), VAT lands on the right code and account, and what cannot be booked says why."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.fiken import wire
from bookkeeper.adapters.fiken.history import NotBookable, journal_entry, purchase
from bookkeeper.application.books_import import (
    PURCHASE_REVERSE_CHARGE,
    PURCHASE_VAT,
    SALE_VAT,
    NotImportable,
    journal_entry_entries,
    trade_entries,
)
from bookkeeper.application.ports import (
    HistoryJournalEntry,
    HistoryLine,
    HistoryOrderLine,
    HistoryPayment,
    HistoryTrade,
)
from bookkeeper.domain.events import JournalEntryPostedData, Party
from bookkeeper.domain.ledger import check_balanced
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxTable

TENANT = "acme"
DAY = dt.date(2026, 2, 10)
#: The shipped rates (reverse charge is calculated with the tenant's).
RATES = TaxTable(NORWAY_TAX_RATES)

ore = st.integers(min_value=-5_000_000, max_value=5_000_000).map(
    lambda n: (Decimal(n) / 100).quantize(Decimal("0.01"))
)
positive = st.integers(min_value=0, max_value=5_000_000).map(
    lambda n: (Decimal(n) / 100).quantize(Decimal("0.01"))
)
accounts = st.sampled_from(["6300", "6800", "3000", "7770", "4000", "2400:20001", "1920:10001"])


def _order_line(vat_types: list[str]) -> st.SearchStrategy[HistoryOrderLine]:
    return st.builds(
        HistoryOrderLine,
        description=st.text(max_size=250),
        account=st.one_of(st.none(), accounts),
        net=ore,
        vat=st.one_of(st.just(Decimal("0.00")), positive),
        vat_type=st.sampled_from([*vat_types, *PURCHASE_REVERSE_CHARGE]),
    )


payments = st.builds(
    HistoryPayment,
    id=st.one_of(st.none(), st.integers(1, 10**6).map(str)),
    date=st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)),
    account=st.sampled_from(["1920:10001", "1920:10002"]),
    amount=ore,
)


@st.composite
def trades(draw: st.DrawFn) -> HistoryTrade:
    what = draw(st.sampled_from(["purchase", "sale"]))
    kinds = (
        ["cash_purchase", "supplier"]
        if what == "purchase"
        else ["cash_sale", "invoice", "external_invoice"]
    )
    table = PURCHASE_VAT if what == "purchase" else SALE_VAT
    return HistoryTrade(
        what=what,
        id=str(draw(st.integers(1, 10**9))),
        date=draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1))),
        kind=draw(st.sampled_from(kinds)),
        lines=tuple(draw(st.lists(_order_line(list(table)), min_size=0, max_size=5))),
        identifier=draw(st.one_of(st.none(), st.text(max_size=30))),
        party_name=draw(st.one_of(st.none(), st.text(max_size=60))),
        party_account=draw(st.one_of(st.none(), st.sampled_from(["2400:20001", "1500:10001"]))),
        # Fiken's payment ids are unique (a payment without one is keyed by its index).
        payments=tuple(
            draw(st.lists(payments, max_size=3, unique_by=lambda p: p.id or f"index:{id(p)}"))
        ),
        deleted=draw(st.booleans()),
    )


def _balanced(entry: JournalEntryPostedData) -> None:
    check_balanced(entry.lines)
    debit = sum((line.debit for line in entry.lines), Decimal(0))
    credit = sum((line.credit for line in entry.lines), Decimal(0))
    assert debit == credit > 0
    assert entry.source == "import" and entry.external_ref


@given(trades())
def test_every_entry_imported_from_a_purchase_or_sale_balances(record: HistoryTrade) -> None:
    try:
        entries = trade_entries(TENANT, record, rates=RATES)
    except NotImportable:
        return  # what it says is tested below
    ids = [entry_id for entry_id, _ in entries]
    assert len(set(ids)) == len(ids)
    assert [i for i, _ in trade_entries(TENANT, record, rates=RATES)] == ids  # derived
    assert not set(ids) & {i for i, _ in trade_entries("other", record, rates=RATES)}
    for _, entry in entries:
        _balanced(entry)
    if (
        record.deleted
        and entries
        and entries[0][1].external_ref == f"fiken:{record.what}:{record.id}"
    ):
        posting, reversal = entries[0][1], entries[1][1]
        assert [(x.debit, x.credit) for x in posting.lines] == [
            (x.credit, x.debit) for x in reversal.lines
        ]


@st.composite
def journal_records(draw: st.DrawFn) -> tuple[HistoryJournalEntry, bool]:
    """A journal entry whose lines balance (the last one makes them), or not."""
    amounts = draw(st.lists(ore, min_size=1, max_size=8))
    balanced = draw(st.booleans())
    last = -sum(amounts, Decimal(0)) + (Decimal(0) if balanced else Decimal("0.01"))
    codes = st.one_of(st.none(), st.sampled_from(["1", "3", "11", "0"]))
    lines = [
        HistoryLine(account=draw(accounts), amount=amount, vat_code=draw(codes))
        for amount in [*amounts, last]
    ]
    record = HistoryJournalEntry(
        id=str(draw(st.integers(1, 10**9))),
        date=DAY,
        description=draw(st.text(max_size=250)),
        lines=tuple(lines),
        cancelled=draw(st.booleans()),
    )
    return record, balanced


@given(journal_records())
def test_a_journal_entry_is_imported_exactly_when_its_lines_balance(
    case: tuple[HistoryJournalEntry, bool],
) -> None:
    record, balanced = case
    nonzero = [line for line in record.lines if line.amount != 0]
    try:
        entries = journal_entry_entries(TENANT, record)
    except NotImportable:
        assert not balanced or len(nonzero) < 2
        return
    assert balanced
    assert len(entries) == (2 if record.cancelled else 1)
    for _, entry in entries:
        _balanced(entry)
        assert len(entry.description) <= 200 and entry.description.strip()


def test_a_supplier_purchase_books_cost_and_input_vat_against_the_supplier() -> None:
    record = HistoryTrade(
        what="purchase",
        id="77",
        date=DAY,
        kind="supplier",
        lines=(
            HistoryOrderLine(
                description="Kaffe",
                account="7350",
                net=Decimal("100.00"),
                vat=Decimal("15.00"),
                vat_type="MEDIUM",
            ),
            HistoryOrderLine(
                description="Porto",
                account="6800",
                net=Decimal("10.00"),
                vat=Decimal("0"),
                vat_type="NONE",
            ),
        ),
        party_name="Kafé AS",
        party_account="2400:20003",
        payments=(
            HistoryPayment(id="9", date=DAY, account="1920:10001", amount=Decimal("125.00")),
        ),
    )
    (_, posting), (_, payment) = trade_entries(TENANT, record)
    rows = [(x.account, x.debit, x.credit, x.vat_code, x.vat_part) for x in posting.lines]
    assert rows == [
        ("7350", Decimal("100.00"), Decimal(0), "11", "base"),
        ("2711", Decimal("15.00"), Decimal(0), "11", "tax"),
        ("6800", Decimal("10.00"), Decimal(0), "0", "base"),
        ("2400:20003", Decimal(0), Decimal("125.00"), None, None),
    ]
    assert posting.lines[-1].party is not None and posting.lines[-1].party.id == "20003"
    assert posting.external_ref == "fiken:purchase:77"
    assert {(x.account, x.debit, x.credit) for x in payment.lines} == {
        ("2400:20003", Decimal("125.00"), Decimal(0)),
        ("1920:10001", Decimal(0), Decimal("125.00")),
    }
    assert payment.external_ref == "fiken:purchase:77:payment:9"


def test_a_cash_sale_books_the_bank_against_revenue_and_output_vat() -> None:
    record = HistoryTrade(
        what="sale",
        id="5",
        date=DAY,
        kind="cash_sale",
        lines=(
            HistoryOrderLine(
                description="Lunsj",
                account="3000",
                net=Decimal("200.00"),
                vat=Decimal("30.00"),
                vat_type="MEDIUM",
            ),
        ),
        payments=(HistoryPayment(id="1", date=DAY, account="1920:10001", amount=Decimal("230")),),
    )
    [(_, posting)] = trade_entries(TENANT, record)  # a cash sale: no separate payment
    rows = [(x.account, x.debit, x.credit, x.vat_code, x.vat_part) for x in posting.lines]
    assert rows == [
        ("3000", Decimal(0), Decimal("200.00"), "31", "base"),
        ("2700", Decimal(0), Decimal("30.00"), "31", "tax"),
        ("1920:10001", Decimal("230.00"), Decimal(0), None, None),
    ]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (dict(kind="cash_purchase", payments=()), "without a payment account"),
        (dict(lines=()), "no lines"),
        (dict(vat_type="HIGH_BASIS"), "vatType HIGH_BASIS"),
        (dict(account=None), "no account"),
    ],
)
def test_what_cannot_be_booked_says_why(record: dict[str, object], reason: str) -> None:
    line = HistoryOrderLine(
        description="x",
        account=record.get("account", "6800"),  # type: ignore[arg-type]
        net=Decimal("10.00"),
        vat=Decimal("2.50"),
        vat_type=str(record.get("vat_type", "HIGH")),
    )
    trade = HistoryTrade(
        what="purchase",
        id="1",
        date=DAY,
        kind=str(record.get("kind", "supplier")),
        lines=record.get("lines", (line,)),  # type: ignore[arg-type]
        payments=record.get("payments", ()),  # type: ignore[arg-type]
    )
    with pytest.raises(NotImportable, match=reason):
        trade_entries(TENANT, trade)


def test_fiken_records_become_kroner_with_signs_and_our_reference() -> None:
    entry = journal_entry(
        wire.JOURNAL_ENTRY.decode(
            b'{"journalEntryId": 4, "date": "2026-02-01", "lastModifiedDate": "2026-02-02",'
            b' "description": "Fri postering registrert via API: Husleie",'
            b' "offsetTransactionId": 9, "lines": [{"account": "6300", "amount": 123456},'
            b' {"account": "1920:10001", "amount": -123456, "vatCode": ""}]}'
        )
    )
    assert entry.description == "Husleie" and entry.cancelled
    assert [(x.account, x.amount, x.vat_code) for x in entry.lines] == [
        ("6300", Decimal("1234.56"), None),
        ("1920:10001", Decimal("-1234.56"), None),
    ]
    assert entry.modified == dt.date(2026, 2, 2)
    found = purchase(
        wire.PURCHASE.decode(
            b'{"purchaseId": 8, "date": "2026-02-01", "kind": "cash_purchase", "paid": true,'
            b' "currency": "NOK", "lines": [{"description": "Kaffe [bk-0123456789abcdef]",'
            b' "vatType": "HIGH", "netPrice": 800, "vat": 200, "account": "7350"}],'
            b' "payments": [{"date": "2026-02-01", "account": "1920:10001", "amount": 1000}]}'
        )
    )
    assert found.reference == "bk-0123456789abcdef"
    assert found.lines[0].net == Decimal("8.00") and found.payments[0].amount == Decimal("10.00")
    with pytest.raises(NotBookable, match="no NOK amount"):
        purchase(
            wire.PURCHASE.decode(
                b'{"purchaseId": 9, "date": "2026-02-01", "kind": "supplier", "paid": false,'
                b' "currency": "EUR", "lines": [{"description": "SaaS", "vatType": "NONE",'
                b' "netPriceInCurrency": 1000, "account": "6800"}]}'
            )
        )


def test_sub_ledger_accounts_and_cash_purchases_name_their_counterparty() -> None:
    """ADR 0044 §5: a journal entry line on a supplier's (24xx:key) or customer's
    (15xx:key) sub-ledger account names that party by its key; a cash purchase names its
    supplier (with the organisation number) on the payment line; so SAF-T lists them."""
    entry = HistoryJournalEntry(
        id="77",
        date=DAY,
        description="Delbetaling",
        lines=(
            HistoryLine(account="2400:20001", amount=Decimal("400.00")),
            HistoryLine(account="1500:10002", amount=Decimal("100.00")),
            HistoryLine(account="1920:10001", amount=Decimal("-500.00")),
        ),
    )
    ((_, posted),) = journal_entry_entries(TENANT, entry)
    assert [line.party for line in posted.lines] == [
        Party(kind="supplier", id="20001"),
        Party(kind="customer", id="10002"),
        None,  # a bank account is nobody's sub-ledger
    ]
    cash = HistoryTrade(
        what="purchase",
        id="88",
        date=DAY,
        kind="cash_purchase",
        lines=(
            HistoryOrderLine(
                description="Kabler",
                account="6540",
                net=Decimal("80"),
                vat=Decimal("20"),
                vat_type="HIGH",
            ),
        ),
        party_name="Elektro AS",
        party_account="2400:20003",
        party_org_number="987 654 321",
        payments=(HistoryPayment(id="1", date=DAY, account="1920:10001", amount=Decimal("100")),),
    )
    ((_, bought),) = trade_entries(TENANT, cash)
    paid = [line for line in bought.lines if line.credit]
    assert [(line.account, line.party) for line in paid] == [
        (
            "1920:10001",
            Party(kind="supplier", id="20003", name="Elektro AS", org_number="987654321"),
        )
    ]


#: Every vatType integrations.md documents: (name, purchases?, sales?).
DOCUMENTED_VAT_TYPES = [
    *((name, True, True) for name in ("NONE", "HIGH", "MEDIUM", "RAW_FISH", "LOW")),
    *(
        (name, False, True)
        for name in ("EXEMPT_IMPORT_EXPORT", "EXEMPT", "OUTSIDE", "EXEMPT_REVERSE")
    ),
    *(
        (name, True, False)
        for name in (
            "HIGH_DIRECT",
            "HIGH_BASIS",
            "MEDIUM_DIRECT",
            "MEDIUM_BASIS",
            "NONE_IMPORT_BASIS",
            "HIGH_FOREIGN_SERVICE_DEDUCTIBLE",
            "HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE",
            "LOW_FOREIGN_SERVICE_DEDUCTIBLE",
            "LOW_FOREIGN_SERVICE_NONDEDUCTIBLE",
            "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_DEDUCTIBLE",
            "HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE",
        )
    ),
]


def _trade(what: str, vat_type: str, vat: str = "0") -> HistoryTrade:
    return HistoryTrade(
        what=what,
        id="501",
        date=DAY,
        kind="supplier" if what == "purchase" else "invoice",
        lines=(
            HistoryOrderLine(
                description="Vare",
                account="4000" if what == "purchase" else "3000",
                net=Decimal("100.00"),
                vat=Decimal(vat),
                vat_type=vat_type,
            ),
        ),
        party_account="2400:20001" if what == "purchase" else "1500:10001",
    )


@pytest.mark.parametrize(("vat_type", "on_purchases", "on_sales"), DOCUMENTED_VAT_TYPES)
def test_every_documented_vat_type_is_booked_or_refused_with_its_reason(
    vat_type: str, on_purchases: bool, on_sales: bool
) -> None:
    """ADR 0044 §6, ADR 0047: no documented vatType is skipped without a word: each is
    booked with its SAF-T code (reverse charge too), or the record is refused saying why
    (the wrong side)."""
    for what, valid in (("purchase", on_purchases), ("sale", on_sales)):
        record = _trade(what, vat_type)
        try:
            entries = trade_entries(TENANT, record, rates=RATES)
        except NotImportable as refused:
            reason = str(refused)
            assert vat_type in reason
            assert not valid, reason
            other = "sales" if what == "purchase" else "purchases"
            assert f"is for {other}, not {what}s" in reason
            continue
        assert valid, f"{vat_type} was booked on a {what}"
        ((_, posted),) = entries
        check_balanced(posted.lines)
        codes = {line.vat_code for line in posted.lines if line.vat_code}
        if what == "purchase" and vat_type in PURCHASE_REVERSE_CHARGE:
            assert codes == {PURCHASE_REVERSE_CHARGE[vat_type]}
            continue
        table = PURCHASE_VAT if what == "purchase" else SALE_VAT
        assert codes == {table[vat_type][0]}


def test_import_vat_paid_at_the_border_is_deducted_and_the_goods_are_its_basis() -> None:
    """HIGH_DIRECT: the import VAT on a customs invoice goes to input VAT under SAF-T 14;
    HIGH_BASIS: the goods' cost is the basis (21) and carries no VAT of its own."""
    ((_, direct),) = trade_entries(TENANT, _trade("purchase", "HIGH_DIRECT", vat="25.00"))
    assert [(line.account, line.debit, line.vat_code, line.vat_part) for line in direct.lines][
        :2
    ] == [
        ("4000", Decimal("100.00"), "14", "base"),
        ("2710", Decimal("25.00"), "14", "tax"),
    ]
    ((_, basis),) = trade_entries(TENANT, _trade("purchase", "HIGH_BASIS"))
    assert [(line.account, line.debit, line.vat_code) for line in basis.lines][:1] == [
        ("4000", Decimal("100.00"), "21")
    ]
    with pytest.raises(NotImportable, match="has VAT under vatType HIGH_BASIS"):
        trade_entries(TENANT, _trade("purchase", "HIGH_BASIS", vat="25.00"))
    with pytest.raises(NotImportable, match="not one the books document"):
        trade_entries(TENANT, _trade("purchase", "SOMETHING_NEW"))


def _lines(entry: JournalEntryPostedData) -> list[tuple[str, str, str, str | None, str | None]]:
    return [
        (line.account, str(line.debit), str(line.credit), line.vat_code, line.vat_part)
        for line in entry.lines
    ]


@pytest.mark.parametrize(
    ("vat_type", "code", "vat", "input_account"),
    [
        # Standard_Tax_Codes.csv: 86/87 services from abroad at the regular rate, 88/89 at
        # the low rate, 91/92 emissions allowances or gold at the regular rate; the odd
        # ones with deduction, the even ones without.
        ("HIGH_FOREIGN_SERVICE_DEDUCTIBLE", "86", "25.00", "2710"),
        ("HIGH_FOREIGN_SERVICE_NONDEDUCTIBLE", "87", "25.00", None),
        ("LOW_FOREIGN_SERVICE_DEDUCTIBLE", "88", "12.00", "2713"),
        ("LOW_FOREIGN_SERVICE_NONDEDUCTIBLE", "89", "12.00", None),
        ("HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_DEDUCTIBLE", "91", "25.00", "2710"),
        ("HIGH_PURCHASE_OF_EMISSIONSTRADING_OR_GOLD_NONDEDUCTIBLE", "92", "25.00", None),
    ],
)
def test_a_reverse_charge_purchase_books_the_calculated_output_and_input_vat(
    vat_type: str, code: str, vat: str, input_account: str | None
) -> None:
    """ADR 0047: the cost at the net amount (the basis), the VAT the buyer calculates on it
    credited to output VAT, and debited to input VAT when deductible — else to the cost;
    the supplier is owed the net amount (it charged no Norwegian VAT)."""
    ((_, posted),) = trade_entries(TENANT, _trade("purchase", vat_type), rates=RATES)
    deduction = (
        (input_account, vat, "0.00", code, "tax")
        if input_account
        else ("4000", vat, "0.00", None, None)
    )
    assert _lines(posted) == [
        ("4000", "100.00", "0.00", code, "base"),
        ("2700", "0.00", vat, code, "tax"),
        deduction,
        ("2400:20001", "0.00", "100.00", None, None),
    ]


def test_reverse_charge_takes_the_rate_valid_on_the_purchase_date() -> None:
    """The low rate was 6 % from April 2020 to September 2021 (the tax rates' history)."""
    record = msgspec.structs.replace(
        _trade("purchase", "LOW_FOREIGN_SERVICE_DEDUCTIBLE"), date=dt.date(2021, 3, 1)
    )
    ((_, posted),) = trade_entries(TENANT, record, rates=RATES)
    assert [line.debit or line.credit for line in posted.lines if line.vat_part == "tax"] == [
        Decimal("6.00"),
        Decimal("6.00"),
    ]


def test_fikens_own_figure_for_the_calculated_vat_is_kept_and_a_foreign_one_refused() -> None:
    ((_, posted),) = trade_entries(
        TENANT, _trade("purchase", "HIGH_FOREIGN_SERVICE_DEDUCTIBLE", vat="24.99"), rates=RATES
    )
    assert ("2700", "0.00", "24.99", "86", "tax") in _lines(posted)
    assert _lines(posted)[-1] == ("2400:20001", "0.00", "100.00", None, None)
    with pytest.raises(NotImportable, match=r"carries VAT 20.00, not the 25 % .* cannot be told"):
        trade_entries(
            TENANT, _trade("purchase", "HIGH_FOREIGN_SERVICE_DEDUCTIBLE", vat="20.00"), rates=RATES
        )


def test_reverse_charge_without_a_known_rate_is_refused_not_guessed() -> None:
    with pytest.raises(NotImportable, match="calculated at the regular rate, which the tax"):
        trade_entries(TENANT, _trade("purchase", "HIGH_FOREIGN_SERVICE_DEDUCTIBLE"))
    before = msgspec.structs.replace(
        _trade("purchase", "LOW_FOREIGN_SERVICE_DEDUCTIBLE"), date=dt.date(2015, 6, 1)
    )
    with pytest.raises(NotImportable, match="low rate, which the tax rates do not give for 2015"):
        trade_entries(TENANT, before, rates=RATES)
