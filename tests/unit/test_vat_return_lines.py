"""A VAT return line's VAT against its basis × rate (Skatteetaten's rule R019, ADR 0064
addendum 3): within a krone is rounding, beyond it the line is flagged."""

from __future__ import annotations

from decimal import Decimal as D

from bookkeeper.domain.ledger import return_line_deviation


def test_rounding_within_a_krone_is_no_deviation() -> None:
    assert return_line_deviation(D("1000.00"), D("250.00"), D("25")) is None
    assert return_line_deviation(D("20000.00"), D("2222.00"), D("11.11")) is None
    assert return_line_deviation(D("0.20"), D("0.10"), D("25")) is None  # ten 0,01 of 0,02
    assert return_line_deviation(D("1000.00"), D("251.00"), D("25")) is None  # exactly one


def test_more_than_a_krone_either_way_is_said_with_its_sign() -> None:
    assert return_line_deviation(D("1599.99"), D("390.00"), D("25")) == D("-10.00")
    assert return_line_deviation(D("1000.00"), D("251.01"), D("25")) == D("1.01")
    # A credit note's negative line, off the same way.
    assert return_line_deviation(D("-400.00"), D("-60.00"), D("25")) == D("40.00")


def test_a_line_without_a_rate_is_never_flagged() -> None:
    assert return_line_deviation(D("1000.00"), D("5.00"), None) is None


def test_a_basis_below_zero_on_an_output_line_needs_a_remark_r020() -> None:
    """Skatteetaten's R020: a sale (or a reverse-charge basis) whose basis is below zero —
    a credit note or a correction of an earlier term outweighing the term — needs a
    remark (merknad) in the return."""
    from bookkeeper.domain.ledger import INPUT, OUTPUT, return_line_remark

    assert return_line_remark("3", OUTPUT, D("-400.00"), D("-100.00")) == "R020"
    assert return_line_remark("31", OUTPUT, D("-0.01"), D("0.00")) == "R020"
    assert return_line_remark("86", OUTPUT, D("-1000.00"), D("-250.00")) == "R020"
    assert return_line_remark("6", None, D("-500.00"), D("0.00")) == "R020"  # sale outside
    assert return_line_remark("3", OUTPUT, D("400.00"), D("100.00")) is None
    assert return_line_remark("3", OUTPUT, D("0.00"), D("0.00")) is None
    assert return_line_remark("5", None, D("-500.00"), D("0.00")) is None  # not in R020's list
    assert return_line_remark("1", INPUT, D("-400.00"), D("100.00")) is None  # input: R021


def test_a_deduction_that_pays_needs_a_remark_r021() -> None:
    """R021: a deduction line whose VAT, in the return's sign, is above zero (the report's
    natural sign shows a deduction positive, so below zero here)."""
    from bookkeeper.domain.ledger import INPUT, return_line_remark

    assert return_line_remark("1", INPUT, D("-400.00"), D("-100.00")) == "R021"
    assert return_line_remark("14", INPUT, D("0.00"), D("-25.00")) == "R021"
    assert return_line_remark("86", INPUT, D("0.00"), D("-250.00")) == "R021"
    assert return_line_remark("1", INPUT, D("400.00"), D("100.00")) is None
    assert return_line_remark("82", INPUT, D("0.00"), D("-25.00")) is None  # not in R021's list
