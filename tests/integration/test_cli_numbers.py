"""Amounts and rates on the command line are written as the API takes them (domain.numerals,
ADR 0049 round two): "5000.00", not "5 000", "5e3" or "5_000"."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookkeeper.entrypoints.cli.main import main


@pytest.mark.parametrize("amount", ["5 000", "5e3", "5_000", "+5000", "٥٠٠٠"])
def test_a_budget_in_another_spelling_is_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str], amount: str
) -> None:
    assert main(["spending", "budget", "anthropic", amount, "--tenant", "acme"]) == 2
    assert "plain decimal" in capsys.readouterr().err


def test_a_plain_budget_is_kept(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spending", "budget", "anthropic", "5000.5", "--tenant", "acme"]) == 0
    assert capsys.readouterr().out == "anthropic: 5000.50 NOK a month\n"


@pytest.mark.parametrize("value", ["1e3", " 1000", "1_000", "+1000"])
def test_review_rule_amounts_in_another_spelling_are_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code = main(["rules", "review-rules", "--tenant", "acme", "--set", f"maxAutoAmount={value}"])
    assert code == 1
    assert "maxAutoAmount" in capsys.readouterr().err
    assert main(["rules", "review-rules", "--tenant", "acme"]) == 0
    assert 'maxAutoAmount = "10000"' in capsys.readouterr().out


def test_a_rate_in_another_spelling_is_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rules", "set-rate", "--code", "33", "--from", "2027-01-01", "--rate"]
    with pytest.raises(SystemExit):
        main([*args, "1e1"])
    assert "not a rate" in capsys.readouterr().err
    assert main([*args, "10"]) == 0
