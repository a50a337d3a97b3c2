"""`bookkeeper check run`: the morning run from an external cron, once per tenant and day."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path

import pytest

from bookkeeper.application.event_log import scheduled_run_id
from bookkeeper.application.morning import MorningCheck
from bookkeeper.entrypoints.cli.main import main


def test_check_run_runs_a_day_once_and_reports_it_the_second_time(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "run", "--job", "morning", "--date", "2026-11-20", "--tenant", "acme"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("acme: 2026-11-20 ran\n")
    assert "Morgensjekk 20.11.2026" in first
    assert main(args) == 0
    second = capsys.readouterr().out
    assert second.startswith("acme: 2026-11-20 already ran\n")
    assert "Morgensjekk 20.11.2026" in second  # the recorded summary, not a new run
    assert main([*args[:-2], "--date", "2026-11-21", "--tenant", "acme"]) == 0
    assert "2026-11-21 ran" in capsys.readouterr().out


def test_check_run_rejects_a_bad_date(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", "run", "--date", "20.11.2026"])
    assert exit_.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_chat_shows_todays_morning_summary_once_the_check_ran(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["chat", "--tenant", "acme", "--user", "ola"]) == 0
    assert "Morgensjekk" not in capsys.readouterr().out  # nothing ran today yet
    assert main(["check", "run", "--tenant", "acme"]) == 0
    ran = capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["chat", "--tenant", "acme", "--user", "ola"]) == 0
    shown = capsys.readouterr().out
    summary = ran.split("\n", 1)[1].strip()
    assert summary.startswith("Morgensjekk") and summary in shown
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["chat", "--tenant", "beta", "--user", "ola"]) == 0
    assert "Morgensjekk" not in capsys.readouterr().out  # another tenant's is not shown


async def _claim_elsewhere(data_dir: Path, tenant: str, day: dt.date) -> None:
    """Another process takes the tenant's day (its claim) and is still at it."""
    from bookkeeper.container import Container, resolve, shutdown
    from bookkeeper.entrypoints.serve import open_services

    container = Container()
    try:
        await open_services(container)
        morning: MorningCheck = await resolve(container.morning_check)
        assert await morning._take(tenant, day, scheduled_run_id(tenant, "morning", day))
    finally:
        await shutdown(container)


def test_check_run_says_a_day_another_process_is_running_is_not_done_yet(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "already ran" (with no summary) of a day no run was recorded for.
    asyncio.run(_claim_elsewhere(data_dir, "acme", dt.date(2026, 11, 20)))
    args = ["check", "run", "--date", "2026-11-20", "--tenant", "acme", "--tenant", "beta"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "acme: 2026-11-20 is being run by another process\n" in out
    assert "acme: 2026-11-20 already ran" not in out
    assert "beta: 2026-11-20 ran\n" in out
