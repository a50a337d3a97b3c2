"""The cost snapshot projection on SQL (migration 0019, ADR 0040 §6): the latest figure of
each snapshot stream with its UTC day, read by (tenant, day) through `ix_cost_snapshots_day`
— the cost report reads the rows of its days, whatever the log holds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, delete, insert, select, update

from bookkeeper.adapters.sql.schema import cost_snapshots
from bookkeeper.adapters.sql.session import Transaction
from bookkeeper.application.ports import CostSnapshotRow
from bookkeeper.domain.events import (
    CostSnapshotData,
    decode_payload,
    event_type,
    payload_to_builtins,
)

_TYPE = "CostSnapshotRecorded"


def between_statement(tenant_id: str, start: dt.date, end: dt.date) -> Select[Any]:
    """The rows of the tenant's UTC days [start, end] (on ix_cost_snapshots_day)."""
    c = cost_snapshots
    return select(c).where(c.c.tenant_id == tenant_id, c.c.day >= start, c.c.day <= end)


def snapshot_values(row: CostSnapshotRow) -> dict[str, Any]:
    """A snapshot's row but its key (tenant, stream), as `put` writes it (and as
    `bookkeeper verify --projections` expects it on PostgreSQL)."""
    return {
        "day": row.data.day,
        "version": row.version,
        "recorded_at": row.recorded_at,
        "schema_version": event_type(_TYPE).schema_version,
        "data": payload_to_builtins(row.data),
    }


class SqlCostSnapshots:
    """The CostSnapshotProjection port on the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def put(self, tenant_id: str, row: CostSnapshotRow) -> None:
        c = cost_snapshots
        values = snapshot_values(row)
        key = and_(c.c.tenant_id == tenant_id, c.c.stream_id == row.stream_id)
        found = await self._tx.execute(select(c.c.version).where(key))
        kept = found.first()
        if kept is None:
            await self._tx.execute(
                insert(c).values(tenant_id=tenant_id, stream_id=row.stream_id, **values)
            )
        elif kept.version < row.version:
            await self._tx.execute(update(c).where(key).values(**values))

    async def clear(self) -> None:
        await self._tx.execute(delete(cost_snapshots))

    async def between(self, tenant_id: str, start: dt.date, end: dt.date) -> list[CostSnapshotRow]:
        result = await self._tx.execute(between_statement(tenant_id, start, end))
        rows = []
        for r in result.all():
            data = decode_payload(_TYPE, r.data, r.schema_version)
            assert isinstance(data, CostSnapshotData)
            rows.append(
                CostSnapshotRow(
                    stream_id=r.stream_id, version=r.version, recorded_at=r.recorded_at, data=data
                )
            )
        return rows
