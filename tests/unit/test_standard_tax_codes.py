"""Every SAF-T standard tax code has a rate and a direction (ADR 0047 addendum 3): the
self-assessed import of goods (81–85) posts, is checked and is reported like the other
reverse-charge codes; 51, 32, 7 and 20 have their rates; the VAT report counts each code
on the side the return shows it."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.domain import money
from bookkeeper.domain.events import JournalEntryPostedData, JournalLine
from bookkeeper.domain.ledger import (
    INPUT,
    OUTPUT,
    REVERSE,
    SAFT_VAT_CODES,
    UnbalancedEntry,
    check_balanced,
    reverse_charge_lines,
    saft_vat_code,
)
from bookkeeper.domain.rules import (
    IMPORT_SELF_ASSESSED_CODES,
    NORWAY,
    NORWAY_TAX_RATES,
    RATE_NOT_VALID,
    REVERSE_CHARGE,
    TaxRate,
    TaxTable,
    compliance_findings,
)
from tests.unit.conftest import VIEWER, FixedClock, credit, debit, principal

D = Decimal
TABLE = TaxTable(NORWAY_TAX_RATES)
TODAY = dt.date(2026, 3, 10)
ACCOUNTANT = principal("anna", "accountant")


def _standard_codes() -> dict[str, dict[str, str]]:
    """Skatteetaten's list as vendored: code → its row (Code, DescriptionENG, TaxRate …)."""
    text = (files("bookkeeper.adapters.saft") / "Standard_Tax_Codes.csv").read_text("utf-8-sig")
    return {row["Code"]: row for row in csv.DictReader(text.splitlines(), delimiter=";")}


#: The code list's TaxRate column as today's percentage (norway.md).
_RATE_OF_COLUMN = {
    "Regular rate": D("25"),
    "Reduced rate, middle": D("15"),
    "Reduced rate, low": D("12"),
    "Reduced rate, raw fish": D("11.11"),
    "Zero rate": D("0"),
}
#: Codes no VAT return reports (the mva-melding's code list has none of them): no VAT
#: treatment of purchases (0), of income (7), of the cost of imported goods (20), and
#: turnover outside the VAT Act (6). They have no direction; 6 has no rate either, the
#: others 0 (a VAT amount under them is a finding).
_IN_NO_RETURN = {"0": D("0"), "6": None, "7": D("0"), "20": D("0")}


def test_every_standard_code_has_a_rate_and_a_direction() -> None:
    """Each code of the vendored list is known: its rate is the list's TaxRate column
    (today's percentage), and its direction what the list's description says — input
    VAT, output VAT, or both for the codes on which the buyer calculates the VAT. A code
    without a direction is one no return reports (_IN_NO_RETURN says which and why)."""
    listed = _standard_codes()
    assert set(listed) <= set(SAFT_VAT_CODES)
    for code, row in listed.items():
        known = saft_vat_code(code)
        if code in _IN_NO_RETURN:
            assert (known.rate, known.direction) == (_IN_NO_RETURN[code], None), code
            continue
        assert known.rate == _RATE_OF_COLUMN[row["TaxRate"]], code
        described = row["DescriptionENG"].lower()
        if code in REVERSE_CHARGE:
            expected = REVERSE
        elif "input vat" in described or "basis on import" in described:
            expected = INPUT
        else:  # output VAT, no output VAT (5), reverse-charge sales (51), export (52)
            expected = OUTPUT
        assert known.direction == expected, code
    # The list has no 23: Fiken's code for the cost of imported goods without VAT (its
    # standard code in SAF-T is 20, application.saft.STANDARD_TAX_CODE_OF).
    assert set(SAFT_VAT_CODES) - set(listed) == {"23"}


def test_every_standard_code_is_valid_today_in_the_shipped_rates() -> None:
    """The compliance context's rate of each code on a date (rate_row): every listed code
    has one today, so an entry under 7, 20, 51, 81–85 is not "not valid"; the rate is the
    code's known one."""
    for code in _standard_codes():
        row = TABLE.rate_row(code, TODAY)
        assert row is not None, code
        assert row.rate == saft_vat_code(code).rate, code


def test_the_import_of_goods_is_calculated_at_its_tax_types_output_rate() -> None:
    """81/82 at the regular rate (3), 83/84 at the middle rate (31), 85 at zero (5);
    deductible on the input VAT account of the rate (81: 2710, 83: 2711); 82, 84, 85 not.
    A change of the middle rate moves 83 with it, on the change's date."""
    assert {"81", "82", "83", "84", "85"} == IMPORT_SELF_ASSESSED_CODES
    assert {
        code: (REVERSE_CHARGE[code].rate_code, REVERSE_CHARGE[code].input_account)
        for code in IMPORT_SELF_ASSESSED_CODES
    } == {
        "81": ("3", "2710"),
        "82": ("3", None),
        "83": ("31", "2711"),
        "84": ("31", None),
        "85": ("5", None),
    }
    ended, new = TABLE.change(
        TaxRate(
            country=NORWAY,
            tax_type="middle",
            direction=OUTPUT,
            saft_code="31",
            rate=D("16"),
            valid_from=dt.date(2030, 1, 1),
        )
    )
    changed = TaxTable([*(r for r in NORWAY_TAX_RATES if r.saft_code != "31"), *ended, new])
    for day, rate in ((dt.date(2029, 12, 31), D("15")), (dt.date(2030, 1, 1), D("16"))):
        for code in ("83", "84"):
            row = changed.rate_row(code, day)
            assert row is not None and row.rate == rate, (code, day)


_AMOUNTS = st.decimals(
    min_value=D("-1000000"), max_value=D("1000000"), places=2, allow_nan=False
).filter(bool)


@given(code=st.sampled_from(sorted(REVERSE_CHARGE)), net=_AMOUNTS)
def test_a_purchase_under_a_reverse_charge_code_balances(code: str, net: Decimal) -> None:
    """For any amount (a credit note's negative too) under any reverse-charge code at its
    rate today: the entry with the supplier owed the net balances, the output VAT (2700)
    is the rate's, and the deduction equals it where the code allows one, else the cost
    carries it."""
    row = TABLE.rate_row(code, TODAY)
    assert row is not None and row.rate is not None
    vat = money.vat_of_net(net, row.rate)
    lines = reverse_charge_lines(code, "4300", net, vat, "Import")
    owed = JournalLine(
        account="2400",
        debit=-net if net < 0 else D(0),
        credit=net if net > 0 else D(0),
    )
    check_balanced([*lines, owed])
    signed = [
        (line.account, line.debit - line.credit, line.vat_code, line.vat_part) for line in lines
    ]
    assert signed[0] == ("4300", net, code, "base")
    output = sum((-a for acc, a, _, p in signed if acc == "2700" and p == "tax"), D(0))
    assert output == vat
    deducted = sum((a for acc, a, c, p in signed if acc != "2700" and p == "tax"), D(0))
    on_cost = sum((a for acc, a, c, _ in signed[1:] if acc == "4300" and c is None), D(0))
    if REVERSE_CHARGE[code].input_account is not None:
        assert (deducted, on_cost) == (vat, D(0))
        assert all(
            acc == REVERSE_CHARGE[code].input_account
            for acc, _, c, p in signed
            if p == "tax" and acc != "2700"
        )
    else:
        assert (deducted, on_cost) == (D(0), vat)


def test_only_reverse_charge_codes_have_such_lines() -> None:
    with pytest.raises(UnbalancedEntry):
        reverse_charge_lines("1", "6540", D("100"), D("25"))


def _entry(*lines: JournalLine, day: dt.date = TODAY) -> JournalEntryPostedData:
    return JournalEntryPostedData(date=day, description="Import", lines=lines)


def _customs(code: str, basis: str, vat: str, deduction: str | None) -> JournalEntryPostedData:
    """A customs declaration booked as Fiken's "fri postering" does: the cost account on
    both sides (the basis under `code`), the calculated VAT on 2700, and the deduction."""
    lines = [
        debit("4300", basis, vat_code=code, vat_part="base"),
        credit("4300", basis),
    ]
    if vat != "0":
        lines.append(credit("2700", vat, vat_code=code, vat_part="tax"))
        if deduction is not None:
            lines.append(debit(deduction, vat, vat_code=code, vat_part="tax"))
        else:
            lines.append(debit("4300", vat))
    return _entry(*lines)


@pytest.mark.parametrize(
    ("code", "vat", "deduction"),
    [("81", "250", "2710"), ("82", "250", None), ("83", "150", "2711"), ("84", "150", None)],
)
def test_the_import_of_goods_at_its_rate_is_no_finding(
    code: str, vat: str, deduction: str | None
) -> None:
    assert compliance_findings(_customs(code, "1000", vat, deduction), table=TABLE) == []
    wrong = compliance_findings(_customs(code, "1000", "100", deduction), table=TABLE)
    assert {f.rule for f in wrong} == {RATE_NOT_VALID}
    assert wrong[0].evidence["vatCode"] == code


def test_the_zero_rate_and_no_vat_codes_are_valid_and_carry_no_vat() -> None:
    """85, 51, 7 and 20 were "not valid" (no rate row); a basis under them is no finding,
    VAT under them is one (their rate is 0)."""
    basis_only = [
        _customs("85", "1000", "0", None),
        _entry(debit("1500", "500"), credit("3000", "500", vat_code="51", vat_part="base")),
        _entry(debit("1500", "500"), credit("3900", "500", vat_code="7", vat_part="base")),
        _entry(debit("4300", "500", vat_code="20", vat_part="base"), credit("2400", "500")),
    ]
    for entry in basis_only:
        assert compliance_findings(entry, table=TABLE) == [], entry
    with_vat = _entry(
        debit("4300", "1000", vat_code="85", vat_part="base"),
        credit("4300", "1000"),
        credit("2700", "250", vat_code="85", vat_part="tax"),
        debit("2710", "250", vat_code="85", vat_part="tax"),
    )
    assert {f.evidence["validRate"] for f in compliance_findings(with_vat, table=TABLE)} == {"0"}


async def test_the_vat_report_shows_the_import_of_goods_and_the_other_codes_as_a_return() -> None:
    """81/83: the basis with the calculated VAT as output, the deduction as input; 82/84:
    output only (the term pays it); 85 and 51: the basis at 0 %; 32: output at 11.11 %.
    The totals count each side."""
    service = LedgerService(
        MemoryUnitOfWorkFactory(),
        FixedClock(),
        UuidV7Ids(),
        RoleAuthorizer(),
        lambda tenant: None,  # type: ignore[arg-type,return-value]
    )
    day = dt.date(2026, 3, 12)
    for code, basis, vat, deduction in (
        ("81", "1000", "250", "2710"),
        ("82", "400", "100", None),
        ("83", "200", "30", "2711"),
        ("84", "100", "15", None),
        ("85", "300", "0", None),
    ):
        entry = _customs(code, basis, vat, deduction)
        await service.post_manual(ACCOUNTANT, day, f"Tolldeklarasjon {code}", list(entry.lines))
    await service.post_manual(
        ACCOUNTANT,
        day,
        "Gull til næringsdrivende",
        [debit("1500", "5000"), credit("3100", "5000", vat_code="51", vat_part="base")],
    )
    await service.post_manual(
        ACCOUNTANT,
        day,
        "Råfisk",
        [
            debit("1500", "1111.10"),
            credit("3000", "1000", vat_code="32", vat_part="base"),
            credit("2700", "111.10", vat_code="32", vat_part="tax"),
        ],
    )

    report = await service.vat_report(VIEWER, 2026, 2)

    assert [(v.vat_code, v.rate, v.direction, str(v.base), str(v.vat)) for v in report.lines] == [
        ("32", D("11.11"), "output", "1000.00", "111.10"),
        ("51", D("0"), "output", "5000.00", "0.00"),
        ("81", D("25"), "output", "1000.00", "250.00"),
        ("81", D("25"), "input", "0.00", "250.00"),
        ("82", D("25"), "output", "400.00", "100.00"),
        ("83", D("15"), "output", "200.00", "30.00"),
        ("83", D("15"), "input", "0.00", "30.00"),
        ("84", D("15"), "output", "100.00", "15.00"),
        ("85", D("0"), "output", "300.00", "0.00"),
    ]
    assert (report.output_vat, report.input_vat, report.payable) == (
        D("506.10"),
        D("280.00"),
        D("226.10"),
    )
