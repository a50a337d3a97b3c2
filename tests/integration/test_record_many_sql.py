"""The bus's batch append on SQLite and PostgreSQL: one commit books every new entry once,
folds their ledger lines in one go, and answers a repeat (in the batch or from before) as
replayed — the same books as recording one by one."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.ledger import LedgerService, PostedEntry
from bookkeeper.application.ports import Principal
from tests.unit.conftest import FixedClock, credit, debit

BUS = Principal(subject="system:bus", tenant_id="acme", roles=frozenset({"system"}))


def entry(key: int) -> RecordJournalEntry:
    amount = str(Decimal(100 + key % 7))
    return RecordJournalEntry(
        date=dt.date(2026, 3, 1 + key % 28),
        description=f"Faktura {key}",
        lines=(debit("1500", amount), credit("3000", amount)),
        source="invoicing",
        entry_id=uuid.uuid5(uuid.NAMESPACE_URL, f"sql-batch:{key}"),
    )


async def test_a_batch_books_like_one_by_one(sql_database: SqlDatabase) -> None:
    clock = FixedClock()
    ledger = LedgerService(sql_database.uow_factory(), clock, UuidV7Ids(), RoleAuthorizer())
    await ledger.record(BUS, entry(3))  # booked before the batch
    keys = [*range(40), 5, 7, 39]
    results = await ledger.record_many([(BUS, entry(k)) for k in keys])
    assert all(isinstance(r, PostedEntry) for r in results)
    replayed = [k for k, r in zip(keys, results, strict=True) if r.replayed]  # type: ignore[union-attr]
    assert sorted(replayed) == [3, 5, 7, 39]

    reference = MemoryUnitOfWorkFactory()
    single = LedgerService(reference, clock, UuidV7Ids(), RoleAuthorizer())
    for k in [3, *keys]:
        await single.record(BUS, entry(k))
    async with sql_database.uow_factory()() as uow:
        booked = await uow.ledger.trial_balance("acme", None, None)
        events = await uow.events.read_all()
    async with reference() as uow:
        expected = await uow.ledger.trial_balance("acme", None, None)
    assert len([e for e in events if e.type == "JournalEntryPosted"]) == 40
    assert booked == expected
