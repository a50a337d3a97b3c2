"""Builds the sealer for the container (ADR 0024): on a SQL database its SqlSealStore,
on an in-memory stand-in none (there is no log on disk to prove)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bookkeeper.application.ports import Clock
from bookkeeper.application.seal import DEFAULT_MARGIN, Sealer


def sealer_for(database: Any, clock: Clock, margin: dt.timedelta = DEFAULT_MARGIN) -> Sealer | None:
    """The sealer of the database, None when it is not a SQL database."""
    from bookkeeper.adapters.sql import SqlDatabase

    if not isinstance(database, SqlDatabase):
        return None
    from bookkeeper.adapters.sql.seal import SqlSealStore

    return Sealer(SqlSealStore(database), clock, margin=margin)
