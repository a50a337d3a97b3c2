"""`bookkeeper spending pull|budget|report` against the Anthropic Admin API and Norges Bank
as loopback fakes, configured through the environment as in production."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bookkeeper.entrypoints.cli.main import main
from tests.fakes.anthropic_admin import CostRow, FakeAnthropicAdmin
from tests.fakes.norges_bank import FakeNorgesBank
from tests.fakes.server import serve_in_thread


@pytest.fixture
def fakes(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeAnthropicAdmin, FakeNorgesBank]]:
    anthropic, norges = FakeAnthropicAdmin(), FakeNorgesBank()
    with serve_in_thread(anthropic.app) as a_url, serve_in_thread(norges.app) as n_url:
        monkeypatch.setenv("BOOKKEEPER_ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-cli-secret")
        monkeypatch.setenv("BOOKKEEPER_ANTHROPIC_ADMIN_BASE_URL", a_url)
        monkeypatch.setenv("BOOKKEEPER_NORGES_BANK_URL", f"{n_url}/api")
        yield anthropic, norges


def test_pull_budget_and_report_from_the_command_line(
    fakes: tuple[FakeAnthropicAdmin, FakeNorgesBank], capsys: pytest.CaptureFixture[str]
) -> None:
    anthropic, norges = fakes
    day = dt.date(2026, 11, 3)  # a Tuesday
    norges.rates[("USD", day)] = Decimal("11.00")
    anthropic.costs.append(CostRow(day=day, model="claude-haiku-4-5", amount_cents="1000"))
    tenant = ["--tenant", "acme"]
    assert main(["spending", "budget", "anthropic", "100", *tenant]) == 0
    assert capsys.readouterr().out == "anthropic: 100.00 NOK a month\n"
    pull = ["spending", "pull", "--from", "2026-11-03", "--to", "2026-11-03", *tenant]
    assert main(pull) == 0
    out = capsys.readouterr().out
    assert out.startswith("2026-11-03..2026-11-03: 1 recorded, 0 revised, 0 unchanged\n")
    assert "budget: anthropic reached 80 % in 2026-11 (110.00 of 100.00 NOK)" in out
    assert "budget: anthropic reached 100 % in 2026-11" in out
    assert main(pull) == 0
    assert "0 recorded, 0 revised, 1 unchanged" in capsys.readouterr().out
    report = ["spending", "report", "--from", "2026-11-01", "--to", "2026-11-30", *tenant]
    assert main(report) == 0
    assert capsys.readouterr().out.splitlines() == [
        "source\tcurrency\tamount\tNOK",
        "anthropic\tUSD\t10.00\t110.00",
        "total\tNOK\t\t110.00",
    ]


def test_a_failing_source_is_named_and_the_exit_status_says_so(
    fakes: tuple[FakeAnthropicAdmin, FakeNorgesBank], capsys: pytest.CaptureFixture[str]
) -> None:
    anthropic, _ = fakes
    anthropic.fail_next(5, 401)
    code = main(
        ["spending", "pull", "--tenant", "acme", "--from", "2026-11-03", "--to", "2026-11-03"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "anthropic: not read" in out and "cli-secret" not in out


def test_a_budget_for_an_unknown_source_is_refused_and_one_not_configured_warned_of(
    fakes: tuple[FakeAnthropicAdmin, FakeNorgesBank], capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = ["--tenant", "acme"]
    assert main(["spending", "budget", "nosuch", "100", *tenant]) != 0
    refused = capsys.readouterr()
    assert "unknown source 'nosuch'" in refused.err
    assert "anthropic" in refused.err and "cloudflare" in refused.err
    assert main(["spending", "budget", "cloudflare", "50", *tenant]) == 0
    kept = capsys.readouterr()
    assert kept.out == "cloudflare: 50.00 NOK a month\n"
    assert "warning: cloudflare is not configured (BOOKKEEPER_CLOUDFLARE_TOKEN unset)" in kept.err


def test_the_report_rounds_half_a_cent_up_as_the_api_and_the_morning_do(
    fakes: tuple[FakeAnthropicAdmin, FakeNorgesBank], capsys: pytest.CaptureFixture[str]
) -> None:
    # f"{amount:.2f}" rounds a Decimal half to even: 0.125 USD and 1.225 NOK showed as
    # 0.12 and 1.22 here while GET /reports/costs and the morning said 0.13 and 1.23.
    anthropic, norges = fakes
    day = dt.date(2026, 11, 3)
    norges.rates[("USD", day)] = Decimal("9.80")
    anthropic.costs.append(CostRow(day=day, model="claude-haiku-4-5", amount_cents="12.5"))
    tenant = ["--tenant", "acme"]
    assert main(["spending", "pull", "--from", "2026-11-03", "--to", "2026-11-03", *tenant]) == 0
    capsys.readouterr()
    report = ["spending", "report", "--from", "2026-11-01", "--to", "2026-11-30", *tenant]
    assert main(report) == 0
    assert capsys.readouterr().out.splitlines() == [
        "source\tcurrency\tamount\tNOK",
        "anthropic\tUSD\t0.13\t1.23",  # 0.125 USD × 9.80 = 1.225 NOK
        "total\tNOK\t\t1.23",
    ]
