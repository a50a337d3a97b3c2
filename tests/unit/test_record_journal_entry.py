"""RecordJournalEntry: one command for every source, with the ABAC rule of decision 4.

A person posts only within their `approval_limit` (else the tenant's default) and, where
the tenant uses departments, only for their own department; an entry from an external
event (a translator's) needs `bus:ingest`, which the service principal holds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.errors import Forbidden, IdempotencyConflict
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal
from bookkeeper.domain.approval import ApprovalLimitExceeded, DepartmentMismatch
from bookkeeper.domain.review import ReviewRules
from tests.unit.conftest import FixedClock, credit, debit

DAY = dt.date(2026, 3, 10)


def person(subject: str, role: str = "accountant", **attributes: str) -> Principal:
    return Principal(
        subject=subject, tenant_id="acme", roles=frozenset({role}), attributes=attributes
    )


def entry(amount: str, **fields: object) -> RecordJournalEntry:
    return RecordJournalEntry(
        date=DAY,
        description="Husleie",
        lines=(debit("6300", amount), credit("1920", amount)),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def service(uow_factory: MemoryUnitOfWorkFactory, clock: FixedClock) -> LedgerService:
    return LedgerService(uow_factory, clock, UuidV7Ids(), RoleAuthorizer())


async def test_an_accountant_posts_nothing_above_their_limit(
    service: LedgerService, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    small = person("anna", approval_limit="100")
    with pytest.raises(ApprovalLimitExceeded):
        await service.record(small, entry("10000.00"))
    async with uow_factory() as uow:
        assert await uow.events.read_all(after_position=0, limit=10) == []
    posted = await service.record(small, entry("100.00"))
    async with uow_factory() as uow:
        event = await uow.events.get("acme", posted.entry_id)
    assert event is not None and event.metadata["rule"] == "approval-limit:100.00"


@settings(max_examples=40, deadline=None)
@given(
    limit=st.decimals(min_value=0, max_value=10**7, places=2),
    amount=st.decimals(min_value=Decimal("0.01"), max_value=10**7, places=2),
)
async def test_the_limit_is_the_boundary(limit: Decimal, amount: Decimal) -> None:
    service = LedgerService(MemoryUnitOfWorkFactory(), FixedClock(), UuidV7Ids(), RoleAuthorizer())
    poster = person("anna", approval_limit=str(limit))
    if amount > limit:
        with pytest.raises(ApprovalLimitExceeded):
            await service.record(poster, entry(str(amount)))
    else:
        posted = await service.record(poster, entry(str(amount)))
        assert sum(line.debit for line in posted.entry.lines) == amount


async def test_the_tenant_default_limit_and_a_malformed_limit(
    service: LedgerService, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    uow_factory.db.rules["acme"] = ReviewRules(default_approval_limit=Decimal("500"))
    with pytest.raises(ApprovalLimitExceeded):
        await service.record(person("anna"), entry("500.01"))
    await service.record(person("anna"), entry("500.00"))
    with pytest.raises(ApprovalLimitExceeded):
        await service.record(person("ola", approval_limit="lots"), entry("1.00"))


async def test_departments_scope_what_a_person_posts(
    service: LedgerService, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    uow_factory.db.rules["acme"] = ReviewRules(departments=True)
    seller = person("per", department="sales")
    with pytest.raises(DepartmentMismatch):
        await service.record(seller, entry("10.00", department="it"))
    own = await service.record(seller, entry("10.00"))
    assert own.entry.department == "sales"  # the poster's, by default
    tenant_wide = await service.record(person("ida"), entry("10.00", department="it"))
    assert tenant_wide.entry.department == "it"
    admin = await service.record(
        person("adm", "admin", department="sales"), entry("1.00", department="it")
    )
    assert admin.entry.department == "it"


async def test_departments_do_not_apply_when_the_tenant_has_none(service: LedgerService) -> None:
    posted = await service.record(person("per", department="sales"), entry("1.00", department="it"))
    assert posted.entry.department == "it"


async def test_an_external_entry_needs_bus_ingest_and_is_exactly_once(
    service: LedgerService, uow_factory: MemoryUnitOfWorkFactory
) -> None:
    entry_id = uuid.uuid4()
    external = entry("250.00", source="invoicing", entry_id=entry_id, external_ref="X:1")
    with pytest.raises(Forbidden):
        await service.record(person("anna"), external)
    bus = Principal(subject="system:bus", tenant_id="acme", roles=frozenset({"system"}))
    first = await service.record(bus, external)
    again = await service.record(bus, external)
    assert (first.entry_id, first.replayed) == (entry_id, False)
    assert (again.entry_id, again.replayed) == (entry_id, True)
    async with uow_factory() as uow:
        assert len(await uow.events.read_all(after_position=0, limit=10)) == 1
    changed = msgspec.structs.replace(external, description="Another")
    with pytest.raises(IdempotencyConflict):
        await service.record(bus, changed)


async def test_a_service_principal_is_bounded_by_its_own_limit(service: LedgerService) -> None:
    bus = Principal(
        subject="system:bus",
        tenant_id="acme",
        roles=frozenset({"system"}),
        attributes={"approval_limit": "1000"},
    )
    with pytest.raises(ApprovalLimitExceeded):
        await service.record(bus, entry("1000.01", source="payroll", entry_id=uuid.uuid4()))
