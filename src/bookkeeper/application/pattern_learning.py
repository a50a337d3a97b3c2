"""Pattern learning (story 2): a reviewer's approval teaches the agent a merchant's account.

After a reviewer (not the review rules) approves a receipt, expense or invoice — possibly
with corrections — of a merchant without an applied pattern, book-e proposes a
PatternSuggested with the effective account and VAT rate, once per merchant while one is
pending. The suggestion is reviewed like any proposal; once approved, the next document
of the merchant can be approved automatically.

`PatternLearner` is a subscriber of the log (application/dispatch.py): it is handed each
approval right after its commit and, should that fail or the process stop first, follows
the log from its tracking position. It is idempotent per approval: the suggestion's id
is derived from the approved proposal (event_log.suggestion_id).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Final

from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.event_log import suggestion_id
from bookkeeper.application.handlers import AUTO_APPROVER, Handlers
from bookkeeper.application.ports import (
    AGENT,
    Principal,
    ProposalFilter,
    ProposalView,
    RecordedEvent,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import named_counterparty
from bookkeeper.domain.events import Kind, PatternSuggestionData, Status, Step, type_name
from bookkeeper.domain.patterns import normalise_merchant, same_merchant

log = logging.getLogger("bookkeeper.patterns")

#: The kinds a reviewer's approval teaches a pattern from.
LEARNABLE: Final = frozenset(
    {
        Kind.RECEIPT_ATTACHMENT.value,
        Kind.EXPENSE_REGISTRATION.value,
        Kind.INVOICE_REGISTRATION.value,
    }
)
#: The approval events it handles.
APPROVALS: Final = frozenset(type_name(Kind(kind), Step.APPROVED) for kind in LEARNABLE)


class PatternLearner:
    """Suggests a merchant pattern after a reviewer approved one of its documents."""

    #: Its tracking record (fixed forever).
    name = "pattern-learner"
    types = APPROVALS

    def __init__(self, uow_factory: UnitOfWorkFactory, handlers: Handlers) -> None:
        self._uow = uow_factory
        self._handlers = handlers

    async def handle(self, event: RecordedEvent) -> None:
        """The Subscriber port: learn from one approval event."""
        await self.after_approval(event.tenant_id, event.stream_id)

    async def after_approval(self, tenant: str, proposal_id: uuid.UUID) -> uuid.UUID | None:
        """Propose PatternSuggested (as book-e) from an approved receipt, expense or invoice
        of a merchant with no applied pattern and no pending suggestion; its id, or None
        when there is nothing to learn. Idempotent per approved proposal."""
        async with self._uow() as uow:
            view = await uow.proposals.get(tenant, proposal_id)
            if view is None or not _learnable(view):
                return None
            merchant = named_counterparty(view) or ""
            key = normalise_merchant(merchant)
            if not key or view.account_code is None or view.vat_rate is None:
                return None
            patterns = await uow.patterns.candidates(tenant, key)
            if any(same_merchant(key, p.merchant_key) for p in patterns):
                return None
            if await _pending_suggestion(uow, tenant, key):
                return None
        data = PatternSuggestionData(
            merchant=merchant,
            account_code=view.account_code,
            vat_rate=view.vat_rate,
            reason=f"approved by {view.decided_by}",
            source_proposal_id=str(view.id),
        )
        agent = Principal(subject=AGENT, tenant_id=tenant, roles=frozenset({"agent"}))
        result = await self._handlers.submit(
            SubmitEvent(
                principal=agent,
                type=type_name(Kind.PATTERN_SUGGESTION, Step.PROPOSED),
                data=data,
                event_id=suggestion_id(tenant, view.id),
                source={"channel": "pattern-learning"},
            )
        )
        if not result.replayed:
            log.info(
                "suggested a pattern for %s (tenant %s): %s", merchant, tenant, result.stream_id
            )
        return result.stream_id


def _learnable(view: ProposalView) -> bool:
    return (
        view.kind in LEARNABLE
        and view.status in (Status.APPROVED, Status.EXECUTED)
        and view.decided_by is not None
        and view.decided_by != AUTO_APPROVER
    )


async def _pending_suggestion(uow: Any, tenant: str, key: str) -> bool:
    after = 0
    while True:
        page: list[ProposalView] = await uow.proposals.page(
            tenant,
            ProposalFilter(
                statuses=(Status.PROPOSED,),
                kinds=(Kind.PATTERN_SUGGESTION.value,),
                after_position=after,
                limit=200,
            ),
        )
        for suggestion in page:
            other = suggestion.merchant_key or normalise_merchant(
                str(suggestion.data.get("merchant") or "")
            )
            if other and same_merchant(key, other):
                return True
        if len(page) < 200:
            return False
        after = page[-1].last_position
