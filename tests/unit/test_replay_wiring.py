"""`bookkeeper replay` is wired by dialect (ADR 0038): PostgreSQL rebuilds into shadow
tables and swaps; SQLite refolds in place (and still produces the report)."""

from __future__ import annotations

from pathlib import Path

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.shadow_replay import ShadowReplay
from bookkeeper.application.replay import ReplayReport
from bookkeeper.container import _replay_of


async def test_postgresql_replays_into_shadow_tables() -> None:
    database = SqlDatabase("postgresql://bench@127.0.0.1:1/none")  # never connected here
    try:
        replay = _replay_of(database, database.uow_factory())
        assert isinstance(getattr(replay, "__self__", None), ShadowReplay)
    finally:
        await database.dispose()


async def test_sqlite_refolds_in_place(tmp_path: Path) -> None:
    database = SqlDatabase(f"sqlite:///{tmp_path / 'replay.sqlite3'}")
    try:
        await database.migrate()
        replay = _replay_of(database, database.uow_factory())
        heard: list[int] = []
        report = await replay(heard.append)
        assert not isinstance(getattr(replay, "__self__", None), ShadowReplay)
        assert report == ReplayReport(events=0, proposals=0, patterns=0, journal_entries=0)
        assert heard == [0]
    finally:
        await database.dispose()
