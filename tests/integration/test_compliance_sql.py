"""The compliance context on memory, SQLite and PostgreSQL, driven by the catch-up that
follows the log (application/dispatch.Subscriptions): a finding recorded once per entry
however often the log is followed, an alert, and a reversal waiting for review."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.compliance import ComplianceContext
from bookkeeper.application.dispatch import Dispatcher, Subscriptions
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.events import Status, TransactionFailedComplianceData
from bookkeeper.domain.rules import RATE_NOT_VALID
from tests.unit.conftest import principal
from tests.unit.external_doubles import PDF, Harness, receipt

ADMIN = principal("ada", "admin")
ACCOUNTANT = principal("anna", "accountant")


async def test_findings_are_recorded_once_per_entry_with_a_reviewable_reversal(
    uow_factory: UnitOfWorkFactory,
) -> None:
    h = Harness(uow_factory=uow_factory)
    rules = RulesService(uow_factory, h.clock, RoleAuthorizer())
    dispatcher = Dispatcher()
    dispatcher.subscribe(ComplianceContext(uow_factory, h.handlers, h.clock))
    follow = Subscriptions(uow_factory, dispatcher)

    # Two approved receipts; then food VAT becomes 16 % from 1 November and term 6 is
    # locked as reported, before the executor posts them.
    first = await h.approved(receipt(await h.store(PDF + b"1"), amount=Decimal("1250.00")))
    second = await h.approved(
        receipt(
            await h.store(PDF + b"2"),
            date=dt.date(2026, 10, 30),
            folio_event_id="ev-2",
            vat_rate=Decimal("25"),
        )
    )
    await rules.change_tax_rate(
        ADMIN, saft_code="11", rate=Decimal("16"), valid_from=dt.date(2026, 11, 1)
    )
    await rules.lock_vat_term(ACCOUNTANT, 2026, 6)
    await h.executor.run_once()

    for _ in range(3):  # however often the log is followed
        await follow.catch_up()
    events = await h.all_events()
    findings = [e for e in events if e.type == "TransactionFailedCompliance"]
    assert len(findings) == 1
    [found] = findings
    assert isinstance(found.data, TransactionFailedComplianceData)
    # The locked term is not posted into (ADR 0040 addendum on every kind of posting): the
    # receipt is booked on 1 January 2027, where 15 % is still not the valid rate.
    assert [f.rule for f in found.data.findings] == [RATE_NOT_VALID]
    assert found.data.entry_date == dt.date(2027, 1, 1)
    assert len([e for e in events if e.type == "AlertRaised"]) == 1
    [reversal] = [e for e in events if e.type == "ReversalProposed"]
    assert reversal.data.target_proposal_id == str(first)  # type: ignore[attr-defined]
    assert (await h.view(reversal.stream_id)).status is Status.PROPOSED
    # The October receipt at 25 % in an open term breaks nothing.
    assert all(f.data.entry_id != str(second) for f in findings)  # type: ignore[attr-defined]
    positions = await follow.positions()
    assert positions["compliance"] == max(e.position for e in events)
