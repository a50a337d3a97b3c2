"""Which Fiken gate a process uses (BOOKKEEPER_FIKEN_GATE, ADR 0035): the database's on
PostgreSQL (shared by every replica), the process's own on SQLite, or as chosen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bookkeeper.adapters.fiken.pg_gate import PostgresGate, libpq_url
from bookkeeper.adapters.fiken.ratelimit import RequestGate, token_key
from bookkeeper.backends import fiken_gates
from bookkeeper.settings import Settings, SettingsError, load_settings

POSTGRES = "postgresql+psycopg://bk:s3cret@db.example:5432/books?sslmode=require"


def settings(tmp_path: Path, url: str | None = None, gate: str | None = None) -> Settings:
    env = {"BOOKKEEPER_DATA_DIR": str(tmp_path)}
    if url is not None:
        env["BOOKKEEPER_DATABASE_URL"] = url
    if gate is not None:
        env["BOOKKEEPER_FIKEN_GATE"] = gate
    return load_settings(env)


def test_auto_shares_the_gate_on_postgres_and_keeps_it_in_process_on_sqlite(
    tmp_path: Path,
) -> None:
    closers: list[Callable[[], Awaitable[None]]] = []
    in_process = fiken_gates(settings(tmp_path), closers)
    assert isinstance(in_process("token-a"), RequestGate) and closers == []
    assert in_process("token-a") is in_process("token-a")  # one per token in the process
    gates = fiken_gates(settings(tmp_path, POSTGRES), closers)
    assert gates is not None and len(closers) == 1
    gate = gates("token-a")
    assert isinstance(gate, PostgresGate) and gate.key == token_key("token-a")
    assert gates("token-a") is gate and gates("token-b") is not gate  # one per token
    assert "token-a" not in repr(gate)


def test_the_choice_can_be_forced_and_is_checked(tmp_path: Path) -> None:
    closers: list[Callable[[], Awaitable[None]]] = []
    process = settings(tmp_path, POSTGRES, "process")
    assert isinstance(fiken_gates(process, closers)("token-a"), RequestGate) and closers == []
    with pytest.raises(SettingsError, match="PostgreSQL"):
        fiken_gates(settings(tmp_path, gate="database"), closers)
    with pytest.raises(SettingsError, match="FIKEN_GATE"):
        settings(tmp_path, gate="redis")


def test_the_gate_connects_with_libpq_and_keeps_the_url_options() -> None:
    assert libpq_url(POSTGRES) == ("postgresql://bk:s3cret@db.example:5432/books?sslmode=require")
    assert libpq_url("postgres://u@h/d") == "postgresql://u@h/d"
