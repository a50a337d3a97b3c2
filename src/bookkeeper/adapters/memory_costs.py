"""The cost snapshot projection in memory: the reference, folded from the committed log on
every read (the latest version of each snapshot stream of the days asked), as the SQL
projection keeps it row by row (ADR 0040 §6)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final

from bookkeeper.application.ports import CostSnapshotRow, RecordedEvent
from bookkeeper.domain.events import CostSnapshotData

SNAPSHOT_TYPES: Final = frozenset({"CostSnapshotRecorded", "CostSnapshotRevised"})


class MemoryCostSnapshots:
    def __init__(self, log: list[RecordedEvent]) -> None:
        self._log = log

    async def put(self, tenant_id: str, row: CostSnapshotRow) -> None:
        """Nothing to keep: reads fold the committed log."""

    async def clear(self) -> None:
        """Nothing kept."""

    async def between(self, tenant_id: str, start: dt.date, end: dt.date) -> list[CostSnapshotRow]:
        latest: dict[uuid.UUID, CostSnapshotRow] = {}
        for event in self._log:
            data = event.data
            if event.tenant_id != tenant_id or event.type not in SNAPSHOT_TYPES:
                continue
            if not isinstance(data, CostSnapshotData) or not start <= data.day <= end:
                continue
            known = latest.get(event.stream_id)
            if known is None or event.version > known.version:
                latest[event.stream_id] = CostSnapshotRow(
                    stream_id=event.stream_id,
                    version=event.version,
                    recorded_at=event.created_at,
                    data=data,
                )
        return list(latest.values())
