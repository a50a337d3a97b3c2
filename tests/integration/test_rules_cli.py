"""`bookkeeper rules …` on the embedded SQLite database: a rate change on a date, a
closed period that a manual posting then cannot enter, review rules without SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookkeeper.entrypoints.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["rules", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_rules_from_the_command_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tax-rates", "--on", "2020-06-01", "--country", "NO")
    assert code == 0
    low = [line for line in out.splitlines() if line.split()[1] == "13"]
    assert len(low) == 1 and "6 %" in low[0]  # the pandemic's low rate

    code, out, _ = run(capsys, "set-rate", "--code", "33", "--rate", "10", "--from", "2027-01-01")
    assert code == 0 and "10 %" in out and "2027-01-01" in out
    code, out, _ = run(capsys, "tax-rates", "--on", "2026-12-31")
    [output_low] = [line for line in out.splitlines() if line.split()[1] == "33"]
    assert "12 %" in output_low  # the day before the change keeps 12 %
    code, _, err = run(capsys, "set-rate", "--code", "33", "--rate", "11", "--from", "2026-01-01")
    assert code == 1 and "latest" in err

    # ADR 0040: --tenant changes that tenant's rate alone; the defaults stay.
    code, out, _ = run(
        capsys,
        "set-rate",
        "--tenant",
        "acme",
        "--code",
        "33",
        "--rate",
        "9",
        "--from",
        "2028-01-01",
    )
    assert code == 0 and "9 %" in out
    code, out, _ = run(capsys, "tax-rates", "--tenant", "acme", "--on", "2028-02-01")
    assert "9 %" in next(line for line in out.splitlines() if line.split()[1] == "33")
    code, out, _ = run(capsys, "tax-rates", "--on", "2028-02-01")
    assert "10 %" in next(line for line in out.splitlines() if line.split()[1] == "33")

    code, out, _ = run(
        capsys, "close", "--tenant", "acme", "--from", "2026-01-01", "--to", "2026-01-31"
    )
    assert code == 0 and out.startswith("closed period") and "2026-01" in out
    code, out, _ = run(capsys, "periods", "--tenant", "acme")
    assert "2026-01" in out
    code, _, err = run(
        capsys, "close", "--tenant", "acme", "--from", "2026-01-15", "--to", "2026-02-15"
    )
    assert code == 1 and "overlaps" in err
    code, out, _ = run(capsys, "lock-vat-term", "--tenant", "acme", "--year", "2026", "--term", "1")
    assert code == 0 and out.startswith("locked vat-term")
    code, out, _ = run(capsys, "reopen", "--tenant", "acme", "--from", "2026-01-01")
    assert code == 0 and out.startswith("reopened")

    code, out, _ = run(
        capsys, "review-rules", "--tenant", "acme", "--set", "twoApproversAbove=20000"
    )
    assert code == 0 and 'twoApproversAbove = "20000"' in out
    code, out, _ = run(capsys, "review-rules", "--tenant", "acme")
    assert 'twoApproversAbove = "20000"' in out
    code, _, err = run(capsys, "review-rules", "--tenant", "acme", "--set", "nonsense")
    assert code == 1 and "NAME=VALUE" in err

    code, out, _ = run(capsys, "currencies")
    assert "NOK 2 Norwegian Krone" in out.splitlines()
