"""What a direct reversal of a journal entry may target (ADR 0040 §4): an entry an executed
proposal posted is reversed through its proposal (its effect in the books goes too), and
the compliance context proposes reversing a manual entry itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.compliance import ComplianceContext
from bookkeeper.application.event_log import posting_id
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.rules import RulesService
from bookkeeper.domain.errors import NotCompensable
from bookkeeper.domain.events import ReversalData, Status
from tests.unit.conftest import credit, debit, principal
from tests.unit.external_doubles import PDF, Harness, receipt

ACCOUNTANT = principal("anna", "accountant")


async def test_an_executed_proposals_entry_is_reversed_through_the_proposal() -> None:
    h = Harness()
    proposal_id = await h.approved(receipt(await h.store(PDF), amount=Decimal("250.00")))
    await h.executor.run_once()
    entry_id = posting_id(proposal_id)
    async with h.uow_factory() as uow:
        assert await uow.events.read_stream("acme", entry_id)
    command = SubmitEvent(
        principal=ACCOUNTANT,
        type="ReversalProposed",
        data=ReversalData(target_proposal_id=str(entry_id), reason="Feilført"),
    )
    with pytest.raises(NotCompensable, match=str(proposal_id)):
        await h.handlers.submit(command)
    # The proposal itself is reversed as before.
    through = SubmitEvent(
        principal=ACCOUNTANT,
        type="ReversalProposed",
        data=ReversalData(target_proposal_id=str(proposal_id), reason="Feilført"),
    )
    assert (await h.handlers.submit(through)).type == "ReversalProposed"


async def test_compliance_proposes_reversing_a_manual_entry_itself() -> None:
    h = Harness()
    rules = RulesService(h.uow_factory, h.clock, RoleAuthorizer())
    ledger = LedgerService(h.uow_factory, h.clock, UuidV7Ids(), RoleAuthorizer())
    context = ComplianceContext(h.uow_factory, h.handlers, h.clock)
    # A locked VAT term now refuses a manual entry with VAT lines and lets one without
    # them in (it changes no return, no finding): the finding here is a VAT amount that
    # is not its basis × the rate (300 on 1000 at 25 %).
    await rules.lock_vat_term(ACCOUNTANT, 2026, 6)
    posted = await ledger.post_manual(
        ACCOUNTANT,
        dt.date(2026, 10, 18),
        "Husleie",
        [
            debit("6300", "1000.00", vat_code="1", vat_part="base"),
            debit("2710", "300.00", vat_code="1", vat_part="tax"),
            credit("1920", "1300.00"),
        ],
    )
    [event] = [e for e in await h.all_events() if e.stream_id == posted.entry_id]
    found = await context.check(event)
    assert found is not None and found.reversal_proposal_id is not None
    [proposed] = [e for e in await h.all_events() if e.type == "ReversalProposed"]
    assert isinstance(proposed.data, ReversalData)
    assert proposed.data.target_proposal_id == str(posted.entry_id)
    assert str(proposed.stream_id) == found.reversal_proposal_id
    assert (await h.view(proposed.stream_id)).status is Status.PROPOSED
