"""LedgerService.record_many (the bus's batch append): per entry exactly what `record`
would answer — booked, replayed (twice in the batch, or booked before), refused by RBAC,
ABAC or balance, IdempotencyConflict for the same id with other amounts — with one commit
for the batch."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.errors import Forbidden, IdempotencyConflict
from bookkeeper.application.ledger import LedgerService, PostedEntry
from bookkeeper.application.ports import Principal
from bookkeeper.domain.approval import ApprovalLimitExceeded
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.rules import PERIOD, FiscalPeriod
from tests.unit.conftest import FixedClock, credit, debit

BUS = Principal(
    subject="system:bus",
    tenant_id="acme",
    roles=frozenset({"system"}),
    attributes={"approval_limit": "5000"},
)
NOBODY = Principal(subject="eve", tenant_id="acme", roles=frozenset({"viewer"}), attributes={})


def entry(key: int, amount: str) -> RecordJournalEntry:
    return RecordJournalEntry(
        date=dt.date(2026, 3, 1),
        description=f"Faktura {key}",
        lines=(debit("1500", amount), credit("3000", amount)),
        source="invoicing",
        entry_id=uuid.uuid5(uuid.NAMESPACE_URL, f"bench:{key}"),
    )


def service(factory: MemoryUnitOfWorkFactory) -> LedgerService:
    return LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())


async def test_each_entry_gets_what_record_would_answer() -> None:
    factory = MemoryUnitOfWorkFactory()
    ledger = service(factory)
    before = await ledger.record(BUS, entry(0, "100.00"))
    unbalanced = RecordJournalEntry(
        date=dt.date(2026, 3, 1),
        description="skjev",
        lines=(debit("1500", "100.00"), credit("3000", "90.00")),
        source="invoicing",
        entry_id=uuid.uuid4(),
    )
    results = await ledger.record_many(
        [
            (BUS, entry(1, "200.00")),  # new
            (BUS, entry(1, "200.00")),  # the same again in the batch
            (BUS, entry(0, "100.00")),  # booked before
            (BUS, entry(0, "999.00")),  # same id, other amount
            (BUS, entry(2, "9000.00")),  # above the bus's approval limit
            (NOBODY, entry(3, "10.00")),  # no bus:ingest
            (BUS, unbalanced),
        ]
    )
    first, again, old, conflict, limit, forbidden, skew = results
    assert isinstance(first, PostedEntry) and not first.replayed
    assert isinstance(again, PostedEntry) and again.replayed
    assert again.entry_id == first.entry_id and again.position == first.position
    assert isinstance(old, PostedEntry) and old.replayed and old.position == before.position
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(limit, ApprovalLimitExceeded)
    assert isinstance(forbidden, Forbidden)
    assert isinstance(skew, DomainError)
    async with factory() as uow:
        booked = [e for e in await uow.events.read_all() if e.type == "JournalEntryPosted"]
    assert sorted(e.stream_id for e in booked) == sorted([before.entry_id, first.entry_id])
    async with factory() as uow:
        event = await uow.events.get("acme", first.entry_id)
    assert event is not None and event.metadata["rule"] == "approval-limit:5000.00"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.sampled_from(["10.00", "20.00"])), max_size=20))
async def test_a_batch_books_what_one_by_one_would(items: list[tuple[int, str]]) -> None:
    """Whatever the mix of repeats and conflicts: the same entries in the log and the same
    outcome kinds as recording them one after another."""
    batch_factory, single_factory = MemoryUnitOfWorkFactory(), MemoryUnitOfWorkFactory()
    batch = await service(batch_factory).record_many([(BUS, entry(k, a)) for k, a in items])
    single: list[object] = []
    for k, a in items:
        try:
            single.append(await service(single_factory).record(BUS, entry(k, a)))
        except Exception as error:
            single.append(error)

    def kind(result: object) -> str:
        if isinstance(result, PostedEntry):
            return "replayed" if result.replayed else "booked"
        return type(result).__name__

    assert [kind(r) for r in batch] == [kind(r) for r in single]
    logs, balances = [], []
    for factory in (batch_factory, single_factory):
        async with factory() as uow:
            logs.append(sorted(str(e.stream_id) for e in await uow.events.read_all()))
            balances.append(await uow.ledger.trial_balance("acme", None, None))
    assert logs[0] == logs[1]
    assert balances[0] == balances[1]  # the batch's ledger lines folded in one go


async def closed_february() -> MemoryUnitOfWorkFactory:
    factory = MemoryUnitOfWorkFactory()
    async with factory() as uow:
        await uow.rules.add_period(
            FiscalPeriod(
                tenant_id="acme",
                kind=PERIOD,
                name="2026-02",
                start=dt.date(2026, 2, 1),
                end=dt.date(2026, 2, 28),
                closed_by="kari",
                closed_at=dt.datetime(2026, 3, 5, tzinfo=dt.UTC),
            )
        )
        await uow.commit()
    return factory


async def test_an_entry_dated_into_a_closed_period_is_booked_on_the_next_open_day() -> None:
    """A bus entry dated into a closed period is booked on the first open day after it,
    saying so, as `record` does (an invoice another service issued is a fact: refusing it
    left it out of the books, a dead letter; ADR 0040 addendum on every kind of posting).
    This test asserted PeriodClosed before; it changed deliberately with that decision.
    A manual entry is still refused (test_rules_compliance)."""
    february = msgspec.structs.replace(entry(2, "100.00"), date=dt.date(2026, 2, 27))
    alone = await service(await closed_february()).record_many([(BUS, february)])
    single = await service(await closed_february()).record(BUS, february)
    factory = await closed_february()
    results = await service(factory).record_many([(BUS, entry(1, "100.00")), (BUS, february)])
    assert isinstance(results[0], PostedEntry) and not results[0].replayed
    for posted in (results[1], alone[0], single):
        assert isinstance(posted, PostedEntry) and not posted.replayed
        assert posted.entry.date == dt.date(2026, 3, 1)
        assert posted.entry.description == (
            "Faktura 2 (dokumentdato 2026-02-27, periode 2026-02 lukket)"
        )
    async with factory() as uow:
        booked = [e for e in await uow.events.read_all() if e.type == "JournalEntryPosted"]
        february_balance = await uow.ledger.trial_balance("acme", None, dt.date(2026, 2, 28))
    assert sorted(e.stream_id for e in booked) == sorted(
        [entry(1, "100.00").entry_id, february.entry_id]
    )
    assert february_balance == []
    # The same message again is the same entry (its fingerprint is what was asked).
    [again] = await service(factory).record_many([(BUS, february)])
    assert isinstance(again, PostedEntry) and again.replayed
    assert again.entry.date == dt.date(2026, 3, 1)
