"""Replay equals live state after random command sequences (Hypothesis stateful test)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.errors import ApplicationError
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    Corrections,
    PatternSuggestionData,
    ReceiptAttachmentData,
    Status,
)
from tests.unit.conftest import AGENT, OTHER_REVIEWER, REVIEWER, FixedClock

MERCHANTS = ["Adobe", "Rema 1000", "Kiwi", "Elkjøp", "Ukjent"]


class ReplayMachine(RuleBasedStateMachine):
    proposals = Bundle("proposals")

    def __init__(self) -> None:
        super().__init__()
        self.factory = MemoryUnitOfWorkFactory()
        self.clock = FixedClock()
        self.handlers = Handlers(self.factory, self.clock, UuidV7Ids(), RoleAuthorizer())
        # One event loop for the whole sequence (each coroutine still runs to its end
        # before the next step): a new loop per call (asyncio.run) was most of the time.
        self.runner = asyncio.Runner()

    def teardown(self) -> None:
        self.runner.close()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.runner.run(coro)

    def _try(self, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            return self.run(coro)
        except (DomainError, ApplicationError):
            return None

    @rule(
        target=proposals,
        merchant=st.sampled_from(MERCHANTS),
        amount=st.decimals(min_value=1, max_value=20000, places=2),
        days=st.integers(0, 30),
        account=st.sampled_from(["6540", "6810"]),
        key=st.none() | st.sampled_from(["k1", "k2"]),
    )
    def propose_receipt(
        self, merchant: str, amount: Decimal, days: int, account: str, key: str | None
    ) -> Any:
        self.clock.advance(minutes=1)
        data = ReceiptAttachmentData(
            merchant_name=merchant,
            amount=amount,
            date=dt.date(2026, 11, 1) + dt.timedelta(days),
            vat_rate=Decimal("25"),
            account_code=account,
            folio_event_id="ev",
        )
        result = self._try(
            self.handlers.submit(
                SubmitEvent(
                    principal=AGENT,
                    type="ReceiptAttachmentProposed",
                    data=data,
                    idempotency_key=key,
                )
            )
        )
        return result.stream_id if result else None

    @rule(
        target=proposals,
        merchant=st.sampled_from(MERCHANTS),
        account=st.sampled_from(["6540", "6810"]),
    )
    def suggest_pattern(self, merchant: str, account: str) -> Any:
        result = self._try(
            self.handlers.submit(
                SubmitEvent(
                    principal=AGENT,
                    type="PatternSuggested",
                    data=PatternSuggestionData(
                        merchant=merchant, account_code=account, vat_rate=Decimal("25")
                    ),
                )
            )
        )
        return result.stream_id if result else None

    @rule(
        proposal=proposals, fix=st.none() | st.sampled_from(["6300", "6810"]), second=st.booleans()
    )
    def approve(self, proposal: Any, fix: str | None, second: bool) -> None:
        if proposal is None:
            return
        self.clock.advance(seconds=30)
        self._try(
            self.handlers.approve(
                ApproveProposal(
                    principal=OTHER_REVIEWER if second else REVIEWER,
                    proposal_id=proposal,
                    corrections=Corrections(account_code=fix) if fix else None,
                )
            )
        )

    @rule(proposal=proposals)
    def reject(self, proposal: Any) -> None:
        if proposal is not None:
            self._try(
                self.handlers.reject(
                    RejectProposal(principal=REVIEWER, proposal_id=proposal, reason="no")
                )
            )

    @invariant()
    def replay_equals_live(self) -> None:
        db = self.factory.db
        live = (dict(db.proposals), dict(db.patterns))
        self.run(rebuild_projections(self.factory))
        assert (db.proposals, db.patterns) == live
        # Pages of two events: streams cut across pages, folded once complete.
        self.run(rebuild_projections(self.factory, batch=2))
        assert (db.proposals, db.patterns) == live

    @invariant()
    def every_approved_stream_has_exactly_one_decision(self) -> None:
        for stream in self.factory.db.streams.values():
            decisions = [e for e in stream if e.status in (Status.APPROVED, Status.REJECTED)]
            assert len(decisions) <= 1


TestReplay = pytest.mark.long(ReplayMachine.TestCase)
TestReplay.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
