"""`python -m bookkeeper` is the `bookkeeper` command (a user following a Python habit, or a
container without the script on PATH)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bookkeeper.entrypoints.cli.main import build_parser


def test_python_m_bookkeeper_runs_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps the help to the terminal's width
    done = subprocess.run(
        [sys.executable, "-m", "bookkeeper", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == build_parser().format_help()


def test_python_m_bookkeeper_refuses_an_unknown_command_as_the_script_does() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bookkeeper", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
