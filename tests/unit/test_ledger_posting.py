"""The posting rules, the balance check, VAT terms and codes, and the chart comparison."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from bookkeeper.domain.events import (
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    JournalLine,
    LineItem,
    Party,
    PatternSuggestionData,
    ReceiptAttachmentData,
)
from bookkeeper.domain.ledger import (
    INPUT,
    OUTPUT,
    REVERSE,
    InvalidJournalEntry,
    InvalidParty,
    InvalidReportPeriod,
    UnbalancedEntry,
    check_balanced,
    check_description,
    input_vat,
    mirror,
    natural_amount,
    posting_for,
    saft_vat_code,
    unknown_accounts,
    vat_term,
    vat_term_of,
)
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxTable

D = Decimal
PROPOSAL = "0190f5e2-0000-7000-8000-000000000001"


def sides(entry: JournalEntryPostedData) -> list[tuple[str, str, str, str | None, str | None]]:
    return [
        (line.account, str(line.debit), str(line.credit), line.vat_code, line.vat_part)
        for line in entry.lines
    ]


def receipt(**changes: object) -> ReceiptAttachmentData:
    values: dict[str, object] = {
        "merchant_name": "Adobe",
        "amount": D("199.00"),
        "date": dt.date(2026, 11, 20),
        "vat_rate": D("25"),
        "vat_amount": D("39.80"),
        "account_code": "6540",
    }
    values.update(changes)
    return ReceiptAttachmentData(**values)  # type: ignore[arg-type]


# --- posting_for ------------------------------------------------------------------------


def test_a_receipt_debits_cost_and_input_vat_against_the_bank() -> None:
    entry = posting_for(receipt(), proposal_id=PROPOSAL)
    assert entry is not None
    assert sides(entry) == [
        ("6540", "159.20", "0.00", "1", "base"),
        ("2710", "39.80", "0.00", "1", "tax"),
        ("1920", "0.00", "199.00", None, None),
    ]
    assert entry.source == "execution"
    assert entry.proposal_id == PROPOSAL
    assert entry.date == dt.date(2026, 11, 20)
    assert entry.description == "Adobe 2026-11-20"


def test_a_receipt_without_a_stated_vat_amount_computes_it_from_the_rate() -> None:
    entry = posting_for(receipt(vat_amount=None, amount=D("100.00")), proposal_id=PROPOSAL)
    assert entry is not None
    assert sides(entry)[:2] == [
        ("6540", "80.00", "0.00", "1", "base"),
        ("2710", "20.00", "0.00", "1", "tax"),
    ]


def test_an_expense_at_the_food_rate_uses_2711_and_code_11() -> None:
    expense = ExpenseRegistrationData(
        employee="Kari",
        amount=D("115.00"),
        date=dt.date(2026, 3, 2),
        category="meals",
        vat_rate=D("15"),
        account_code="6860",
    )
    entry = posting_for(expense, proposal_id=PROPOSAL, payment_account="1920:10001")
    assert entry is not None
    assert sides(entry) == [
        ("6860", "100.00", "0.00", "11", "base"),
        ("2711", "15.00", "0.00", "11", "tax"),
        ("1920:10001", "0.00", "115.00", None, None),
    ]
    assert entry.description == "Kari 2026-03-02"


def test_an_invoice_with_line_items_at_mixed_rates_posts_each_against_payables() -> None:
    invoice = InvoiceRegistrationData(
        supplier="Telenor",
        amount=D("1330.00"),
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        vat_rate=D("25"),
        account_code="6900",
        invoice_number="F-1",
        line_items=(
            LineItem(description="Abonnement", amount=D("1000.00"), vat_rate=D("25")),
            LineItem(
                description="Servering", amount=D("230.00"), vat_rate=D("15"), account_code="6860"
            ),
            LineItem(description="Gebyr", amount=D("100.00"), vat_rate=D("0"), account_code="7770"),
        ),
    )
    entry = posting_for(invoice, proposal_id=PROPOSAL)
    assert entry is not None
    assert sides(entry) == [
        ("6900", "800.00", "0.00", "1", "base"),
        ("2710", "200.00", "0.00", "1", "tax"),
        ("6860", "200.00", "0.00", "11", "base"),
        ("2711", "30.00", "0.00", "11", "tax"),
        ("7770", "100.00", "0.00", "0", "base"),
        ("2400", "0.00", "1330.00", None, None),
    ]
    assert entry.description == "Telenor faktura F-1"
    assert [line.description for line in entry.lines[:1]] == ["Abonnement"]


def test_an_invoice_without_line_items_posts_its_total() -> None:
    invoice = InvoiceRegistrationData(
        supplier="Telenor",
        amount=D("1250.00"),
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        vat_rate=D("25"),
        account_code="6900",
    )
    entry = posting_for(invoice, proposal_id=PROPOSAL, payables_account="2400:20001")
    assert entry is not None
    assert sides(entry) == [
        ("6900", "1000.00", "0.00", "1", "base"),
        ("2710", "250.00", "0.00", "1", "tax"),
        ("2400:20001", "0.00", "1250.00", None, None),
    ]


@pytest.mark.parametrize("with_lines", [False, True])
def test_an_invoice_is_booked_by_the_tenants_tax_table_with_or_without_lines(
    with_lines: bool,
) -> None:
    # A tenant whose table books 25 % input VAT on a sub-account from 2026-10-01: the
    # invoice's VAT line follows the table on its date, whether it has lines or not.
    moved = [
        msgspec.structs.replace(r, account="2710:1")
        if r.direction == "input" and r.saft_code == "1"
        else r
        for r in NORWAY_TAX_RATES
    ]
    invoice = InvoiceRegistrationData(
        supplier="Telenor",
        amount=D("1250.00"),
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        vat_rate=D("25"),
        account_code="6900",
        line_items=(
            (LineItem(description="Mobil", amount=D("1250.00"), vat_rate=D("25")),)
            if with_lines
            else ()
        ),
    )
    entry = posting_for(invoice, proposal_id=PROPOSAL, rates=TaxTable(moved))
    assert entry is not None
    assert [line.account for line in entry.lines if line.vat_part == "tax"] == ["2710:1"]


def test_a_zero_rated_receipt_has_no_vat_line_even_if_a_vat_amount_was_read() -> None:
    entry = posting_for(
        receipt(vat_rate=D("0"), vat_amount=D("12.00"), amount=D("500.00")), proposal_id=PROPOSAL
    )
    assert entry is not None
    assert sides(entry) == [
        ("6540", "500.00", "0.00", "0", "base"),
        ("1920", "0.00", "500.00", None, None),
    ]


def test_patterns_post_nothing() -> None:
    suggestion = PatternSuggestionData(merchant="Adobe", account_code="6540", vat_rate=D("25"))
    assert posting_for(suggestion, proposal_id=PROPOSAL) is None


def test_a_rate_without_a_treatment_is_refused() -> None:
    with pytest.raises(UnbalancedEntry, match="no input VAT treatment"):
        input_vat(D("8"))


# --- mirror -----------------------------------------------------------------------------


def test_the_mirror_swaps_every_side_and_names_what_it_reverses() -> None:
    original = posting_for(receipt(), proposal_id=PROPOSAL)
    assert original is not None
    reversal = mirror(original, entry_id="e-1", date=dt.date(2026, 12, 1), proposal_id="p-2")
    assert sides(reversal) == [
        ("6540", "0.00", "159.20", "1", "base"),
        ("2710", "0.00", "39.80", "1", "tax"),
        ("1920", "199.00", "0.00", None, None),
    ]
    assert reversal.reverses_entry_id == "e-1"
    assert reversal.proposal_id == "p-2"
    assert reversal.date == dt.date(2026, 12, 1)
    assert reversal.description == "Reversering: Adobe 2026-11-20"
    check_balanced(reversal.lines)


# --- check_balanced ---------------------------------------------------------------------


def line(account: str = "6800", debit: str = "0", credit: str = "0", **kw: str) -> JournalLine:
    return JournalLine(account=account, debit=D(debit), credit=D(credit), **kw)  # type: ignore[arg-type]


BALANCED = [line("6800", debit="100.00"), line("1920", credit="100.00")]


def test_a_balanced_entry_passes() -> None:
    check_balanced(BALANCED)
    check_balanced([line(debit="10"), line(debit="5.5"), line("1920", credit="15.50")])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([line(debit="1")], "at least two lines"),
        ([line(debit="100.00"), line("1920", credit="99.99")], "do not equal"),
        ([line(debit="-1"), line("1920", credit="-1")], "non-negative"),
        ([line(debit="1.005"), line("1920", credit="1.005")], "in øre"),
        ([line(debit="1", credit="1"), line("1920", debit="1", credit="1")], "either a debit"),
        ([line(), line("1920")], "either a debit"),
        ([line("68 00", debit="1"), line("1920", credit="1")], "without spaces"),
        ([line("", debit="1"), line("1920", credit="1")], "without spaces"),
        ([line("x" * 33, debit="1"), line("1920", credit="1")], "without spaces"),
        ([line(debit="NaN"), line("1920", credit="1")], "non-negative"),
        ([line(debit="Infinity"), line("1920", credit="Infinity")], "non-negative"),
        ([line(debit="1e12"), line("1920", credit="1e12")], "implausibly large"),
        # More digits than the context can round to øre: still too large, not "not in øre".
        ([line(debit="1" + "0" * 40), line("1920", credit="1" + "0" * 40)], "implausibly large"),
        ([line(debit="1", vat_part="base"), line("1920", credit="1")], "vatPart"),
        ([line(debit="1", vat_code="1", vat_part="net"), line("1920", credit="1")], "vatPart"),
        ([line(debit="1", description="a\x00b"), line("1920", credit="1")], "NUL"),
        ([line(debit="1")] * 250 + [line("1920", credit="1")] * 251, "at most 500"),
    ],
)
def test_malformed_or_unbalanced_entries_are_refused(
    lines: list[JournalLine], message: str
) -> None:
    with pytest.raises(UnbalancedEntry, match=message) as refused:
        check_balanced(lines)
    assert refused.value.code == "unbalanced-entry"


@pytest.mark.parametrize("description", ["", "   ", "x" * 201, "a\x00b"])
def test_an_entry_needs_a_sane_description(description: str) -> None:
    with pytest.raises(InvalidJournalEntry):
        check_description(description)


# --- VAT terms and codes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "start", "end", "due"),
    [
        (1, "2026-01-01", "2026-02-28", "2026-04-10"),
        (2, "2026-03-01", "2026-04-30", "2026-06-10"),
        (3, "2026-05-01", "2026-06-30", "2026-08-31"),
        (4, "2026-07-01", "2026-08-31", "2026-10-12"),  # the 10th a Saturday
        (5, "2026-09-01", "2026-10-31", "2026-12-10"),
        (6, "2026-11-01", "2026-12-31", "2027-02-10"),
    ],
)
def test_the_six_terms_and_their_due_dates(term: int, start: str, end: str, due: str) -> None:
    found = vat_term(2026, term)
    assert (found.year, found.term) == (2026, term)
    assert found.start == dt.date.fromisoformat(start)
    assert found.end == dt.date.fromisoformat(end)
    assert found.due == dt.date.fromisoformat(due)


def test_the_first_term_of_a_leap_year_ends_on_the_29th() -> None:
    assert vat_term(2028, 1).end == dt.date(2028, 2, 29)


@pytest.mark.parametrize("term", [0, 7, -1])
def test_there_are_only_six_terms(term: int) -> None:
    with pytest.raises(InvalidReportPeriod):
        vat_term(2026, term)


def test_every_day_falls_in_the_term_that_contains_it() -> None:
    day = dt.date(2026, 1, 1)
    while day.year == 2026:
        term = vat_term_of(day)
        assert term.start <= day <= term.end
        day += dt.timedelta(days=1)


def test_codes_know_their_rate_and_direction() -> None:
    assert (saft_vat_code("1").rate, saft_vat_code("1").direction) == (D("25"), INPUT)
    assert (saft_vat_code("13").rate, saft_vat_code("13").direction) == (D("12"), INPUT)
    assert (saft_vat_code("3").rate, saft_vat_code("3").direction) == (D("25"), OUTPUT)
    assert (saft_vat_code("52").rate, saft_vat_code("52").direction) == (D("0"), OUTPUT)
    assert saft_vat_code("0").direction is None
    # Reverse charge (ADR 0047): both sides, at the rate of its tax type.
    assert (saft_vat_code("86").rate, saft_vat_code("86").direction) == (D("25"), REVERSE)
    assert (saft_vat_code("89").rate, saft_vat_code("89").direction) == (D("12"), REVERSE)
    # The import of goods too (ADR 0047 addendum 3); a code off Skatteetaten's list is
    # unknown.
    assert (saft_vat_code("83").rate, saft_vat_code("83").direction) == (D("15"), REVERSE)
    unknown = saft_vat_code("99")
    assert (unknown.rate, unknown.direction) == (None, None)


def test_output_vat_reads_in_the_sign_a_return_shows_it() -> None:
    assert natural_amount(saft_vat_code("1"), D("39.80")) == D("39.80")
    assert natural_amount(saft_vat_code("3"), D("-250.00")) == D("250.00")
    assert natural_amount(saft_vat_code("99"), D("-5.00")) == D("-5.00")


# --- the chart --------------------------------------------------------------------------


def test_unknown_accounts_treat_a_sub_ledger_code_as_known_by_its_main_account() -> None:
    used = ["6540", "2400:20001", "1920:10001", "9999", "9999", "7777:1", "6540"]
    chart = ["6540", "2400", "1920:10001"]
    assert unknown_accounts(used, chart) == ["7777:1", "9999"]
    assert unknown_accounts([], chart) == []


NORDLYS = Party(kind="customer", id="K-1", name="Nordlys AS", org_number="987654321")


@pytest.mark.parametrize(
    ("party", "message"),
    [
        (Party(kind="employee", id="K-1"), "kind"),
        (Party(kind="customer", id=" "), "id"),
        (Party(kind="customer", id="K" * 36), "id"),
        (Party(kind="supplier", id="a\x00"), "id"),
        (Party(kind="customer", id="K-1", name="x" * 201), "name"),
        (Party(kind="customer", id="K-1", org_number=""), "orgNumber"),
        (Party(kind="customer", id="K-1", org_number="9" * 36), "orgNumber"),
    ],
)
def test_a_line_names_a_customer_or_supplier_by_a_saft_sized_id(party: Party, message: str) -> None:
    check_balanced([line("1500", debit="1", party=NORDLYS), line("3000", credit="1")])
    with pytest.raises(InvalidParty, match=message) as refused:
        check_balanced([line("1500", debit="1", party=party), line("3000", credit="1")])
    assert refused.value.code == "invalid-party"


def test_the_mirror_keeps_the_party_of_each_line() -> None:
    sale = JournalEntryPostedData(
        date=dt.date(2026, 3, 1),
        description="Salg",
        lines=(line("1500", debit="125", party=NORDLYS), line("3000", credit="125")),
    )
    reversal = mirror(sale, entry_id="e", date=dt.date(2026, 3, 2), proposal_id=None)
    assert [(ln.account, ln.credit, ln.party) for ln in reversal.lines] == [
        ("1500", Decimal("125"), NORDLYS),
        ("3000", Decimal(0), None),
    ]
