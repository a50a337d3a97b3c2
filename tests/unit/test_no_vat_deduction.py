"""ADR 0055: a cost without an input VAT deduction right (representation, mval. § 8-3 (1) c)
is booked at its gross amount on the cost account, with no input VAT line, under code 0
(Fiken vatType NONE); a journal entry that deducts VAT on it is refused; the reviewer is told
why, in Norwegian."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import msgspec
import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application import messages as m
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.execution.bank_actions import vat_note
from bookkeeper.application.execution.books_actions import purchase_lines
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.translation import (
    ExternalMessage,
    Ingest,
    NotBookable,
    Translators,
    bus_principal,
)
from bookkeeper.domain.confidence import ScoringContext, score
from bookkeeper.domain.deduction import no_deduction
from bookkeeper.domain.events import (
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    JournalLine,
    LineItem,
    ReceiptAttachmentData,
)
from bookkeeper.domain.ledger import (
    InvalidJournalEntry,
    check_deductions,
    posting_for,
    saft_vat_code,
)
from bookkeeper.domain.review import DEFAULT_RULES
from bookkeeper.domain.rules import NORWAY_TAX_RATES, TaxTable, compliance_findings
from tests.unit.conftest import FixedClock

D = Decimal
PROPOSAL = "0190f5e2-0000-7000-8000-000000000055"
TABLE = TaxTable(NORWAY_TAX_RATES)


def sides(entry: JournalEntryPostedData | None) -> list[tuple[str, str, str, str | None]]:
    assert entry is not None
    return [(x.account, str(x.debit), str(x.credit), x.vat_code) for x in entry.lines]


def restaurant(**changes: object) -> ReceiptAttachmentData:
    values: dict[str, object] = {
        "merchant_name": "Restaurant Fjord",
        "amount": D("703.00"),
        "date": dt.date(2026, 11, 20),
        "vat_rate": D("25"),
        "vat_amount": D("140.60"),
        "account_code": "7350",
    }
    values.update(changes)
    return ReceiptAttachmentData(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("rates", [None, TABLE])
@pytest.mark.parametrize("account", ["7350", "7360", "7350:1"])
def test_representation_is_booked_gross_without_input_vat(
    account: str, rates: TaxTable | None
) -> None:
    entry = posting_for(restaurant(account_code=account), proposal_id=PROPOSAL, rates=rates)
    assert sides(entry) == [
        (account, "703.00", "0.00", "0"),
        ("1920", "0.00", "703.00", None),
    ]
    assert not any(x.account.startswith("271") for x in entry.lines)  # type: ignore[union-attr]
    # code 0 is no line of the VAT return and no input VAT
    assert saft_vat_code("0").direction is None


def test_the_same_receipt_on_another_account_still_deducts() -> None:
    entry = posting_for(restaurant(account_code="6860"), proposal_id=PROPOSAL, rates=TABLE)
    assert sides(entry) == [
        ("6860", "562.40", "0.00", "1"),
        ("2710", "140.60", "0.00", "1"),
        ("1920", "0.00", "703.00", None),
    ]


def test_a_multi_rate_receipt_books_only_its_representation_parts_gross() -> None:
    receipt = restaurant(
        amount=D("1015.00"),
        vat_amount=D("160.00"),
        account_code="6860",
        line_items=(
            LineItem(description="Mat", amount=D("575.00"), vat_rate=D("15")),
            LineItem(description="Vin", amount=D("440.00"), vat_rate=D("25"), account_code="7350"),
        ),
    )
    entry = posting_for(receipt, proposal_id=PROPOSAL, rates=TABLE)
    assert sides(entry) == [
        ("6860", "500.00", "0.00", "11"),
        ("2711", "75.00", "0.00", "11"),
        ("7350", "440.00", "0.00", "0"),
        ("1920", "0.00", "1015.00", None),
    ]
    whole = restaurant(
        amount=D("1015.00"),
        line_items=(
            LineItem(description="Mat", amount=D("575.00"), vat_rate=D("15")),
            LineItem(description="Vin", amount=D("440.00"), vat_rate=D("25")),
        ),
    )
    assert sides(posting_for(whole, proposal_id=PROPOSAL)) == [
        ("7350", "575.00", "0.00", "0"),
        ("7350", "440.00", "0.00", "0"),
        ("1920", "0.00", "1015.00", None),
    ]


def test_an_invoice_on_representation_credits_payables_gross() -> None:
    invoice = InvoiceRegistrationData(
        supplier="Fjord Catering AS",
        amount=D("1250.00"),
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        vat_rate=D("25"),
        account_code="7360",
    )
    assert sides(posting_for(invoice, proposal_id=PROPOSAL, rates=TABLE)) == [
        ("7360", "1250.00", "0.00", "0"),
        ("2400", "0.00", "1250.00", None),
    ]


def test_fiken_gets_vat_type_none_and_the_gross_as_net() -> None:
    expense = ExpenseRegistrationData(
        employee="Kari",
        amount=D("703.00"),
        date=dt.date(2026, 11, 20),
        category="kundemiddag",
        vat_rate=D("25"),
        vat_amount=D("140.60"),
        account_code="7350",
    )
    [line] = purchase_lines(expense, TABLE)
    assert (line.account, line.net, line.vat, line.vat_type) == (
        "7350",
        D("703.00"),
        D(0),
        "NONE",
    )
    [other] = purchase_lines(
        ExpenseRegistrationData(**{**_fields(expense), "account_code": "6860"}), TABLE
    )
    assert (other.net, other.vat, other.vat_type) == (D("562.40"), D("140.60"), "HIGH")


def _fields(data: ExpenseRegistrationData) -> dict[str, object]:
    return {name: getattr(data, name) for name in data.__struct_fields__}


def test_a_rate_no_code_has_is_still_refused_on_representation() -> None:
    with pytest.raises(Exception, match="no input VAT treatment"):
        posting_for(restaurant(vat_rate=D("7")), proposal_id=PROPOSAL)


@pytest.mark.parametrize("code", ["1", "11", "13", "14", "86"])
def test_an_entry_deducting_vat_on_representation_is_refused(code: str) -> None:
    lines = [
        JournalLine(account="7350", debit=D("80.00"), vat_code=code, vat_part="base"),
        JournalLine(account="2710", debit=D("20.00"), vat_code=code, vat_part="tax"),
        JournalLine(account="1920", credit=D("100.00")),
    ]
    with pytest.raises(InvalidJournalEntry, match="no input VAT deduction") as caught:
        check_deductions(lines)
    norwegian = m.sentence(str(caught.value), m.NORWEGIAN)
    assert "fradragsrett" in norwegian and "konto 7350" in norwegian


@pytest.mark.parametrize("code", [None, "0", "87", "89", "92"])
def test_representation_without_a_deduction_is_accepted(code: str | None) -> None:
    check_deductions(
        [
            JournalLine(account="7350", debit=D("100.00"), vat_code=code),
            JournalLine(account="1920", credit=D("100.00")),
        ]
    )
    check_deductions(
        [
            JournalLine(account="6860", debit=D("80.00"), vat_code="1", vat_part="base"),
            JournalLine(account="2710", debit=D("20.00"), vat_code="1", vat_part="tax"),
            JournalLine(account="1920", credit=D("100.00")),
        ]
    )


def test_the_reviewer_is_told_why_in_norwegian() -> None:
    result = score(restaurant(), ScoringContext(), DEFAULT_RULES)
    [reason] = [r for r in result.reasons if r.signal == "vat-deduction"]
    assert reason.effect == 0
    assert "7350" in reason.detail
    said = m.sentence(reason.detail, m.NORWEGIAN)
    assert said.startswith("ingen fradragsrett for representasjon")
    assert "7350" in said
    plain = score(restaurant(account_code="6860"), ScoringContext(), DEFAULT_RULES)
    assert not [r for r in plain.reasons if r.signal == "vat-deduction"]
    assert plain.score == result.score


def test_only_the_default_accounts_carry_no_deduction() -> None:
    assert no_deduction("7350") and no_deduction("7360") and no_deduction("7350:42")
    assert not any(no_deduction(a) for a in ("6860", "7140", "73500", "735", None, ""))


class _Dinner(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    vat_code: str


class _DinnerTranslator:
    """A bus translator that books a customer dinner under the VAT code it is given."""

    types = frozenset({"DinnerPaid"})
    subject = "expenses.DinnerPaid"
    schema = _Dinner

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        code = message.data.vat_code
        lines = [JournalLine(account="1920", credit=D("100.00"))]
        if code == "1":
            lines[:0] = [
                JournalLine(account="7350", debit=D("80.00"), vat_code="1", vat_part="base"),
                JournalLine(account="2710", debit=D("20.00"), vat_code="1", vat_part="tax"),
            ]
        else:
            lines[:0] = [JournalLine(account="7350", debit=D("100.00"), vat_code=code)]
        return RecordJournalEntry(
            date=dt.date(2026, 3, 1),
            description="Kundemiddag",
            lines=tuple(lines),
            source="expenses",
            entry_id=message.entry_id(message.data.id),
        )


def _dinner(key: str, code: str) -> bytes:
    data = {"id": key, "vat_code": code}
    envelope = {"type": "DinnerPaid", "source": "expenses", "tenant": "acme", "data": data}
    return json.dumps(envelope).encode()


async def test_a_bus_entry_deducting_vat_on_representation_is_not_bookable(
    uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    ledger = LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())
    ingest = Ingest(Translators([_DinnerTranslator()]), ledger)
    with pytest.raises(NotBookable, match="no input VAT deduction"):
        await ingest.book(_dinner("d-1", "1"), bus_principal())
    [refused, booked] = await ingest.book_many(
        [_dinner("d-2", "1"), _dinner("d-3", "0")], bus_principal()
    )
    assert isinstance(refused, NotBookable)
    assert not isinstance(booked, Exception)
    assert [(x.account, x.debit) for x in booked.entry.lines if x.debit] == [("7350", D("100.00"))]


def test_the_gross_booking_passes_the_compliance_checks() -> None:
    multi = restaurant(
        amount=D("1015.00"),
        vat_amount=D("160.00"),
        line_items=(
            LineItem(description="Mat", amount=D("575.00"), vat_rate=D("15"), account_code="6860"),
            LineItem(description="Vin", amount=D("440.00"), vat_rate=D("25")),
        ),
    )
    for data in (restaurant(), multi):
        entry = posting_for(data, proposal_id=PROPOSAL, rates=TABLE)
        assert entry is not None
        assert compliance_findings(entry, table=TABLE, chart=("6860", "7350", "2711", "1920")) == []


def test_the_bank_note_of_a_multi_rate_receipt_says_which_part_has_no_deduction() -> None:
    receipt = restaurant(
        amount=D("1015.00"),
        vat_amount=D("160.00"),
        line_items=(
            LineItem(description="Mat", amount=D("575.00"), vat_rate=D("15"), account_code="6860"),
            LineItem(description="Vin", amount=D("440.00"), vat_rate=D("25")),
        ),
    )
    assert vat_note(receipt) == (
        "MVA per sats: 15 % av 575,00 kr (mva 75,00 kr); 25 % av 440,00 kr (ingen fradragsrett)"
    )
