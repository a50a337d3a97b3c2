"""One bank transaction is paid out once in the books (ADR 0051 addendum).

A receipt names the Folio event that paid it (`folioEventId`); executing it attaches the
file there and posts the payment (credit 1920). Two proposals of the same purchase (the
PDF, then a screenshot) name the same event, and both executed would post the payment
twice. The proposals that *hold* an event are the tenant's receipts and corrections
naming it that are APPROVED (due, being carried out, or waiting for a retry) or EXECUTED,
less an executed one whose reversal is executed or whose executed correction moved it to
another event. Approving another proposal naming a held event is refused (409,
BankEventTaken); at execution, an attempt whose event is held by an EXECUTED proposal
fails for good, and one whose event is held by an APPROVED proposal proposed before it
waits (a retryable failure): the order is fixed, so of two approvals that raced past the
approval check, only the first proposed ever posts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bookkeeper.application.ports import ProposalView, UnitOfWork
from bookkeeper.domain.events import (
    CorrectionData,
    Kind,
    ProposalData,
    ReceiptAttachmentData,
    Status,
)


def named_event(view: ProposalView) -> str | None:
    """The bank event a proposal's row names as it will be (or was) carried out: a
    correction's changed event, else a receipt's approval correction, else its data."""
    if view.kind == Kind.CORRECTION.value:
        changes = view.data.get("changes")
        return _text(changes.get("folioEventId")) if isinstance(changes, dict) else None
    corrected = _text((view.corrections or {}).get("folioEventId"))
    return corrected or _text(view.data.get("folioEventId"))


@dataclass(frozen=True)
class BankHold:
    """Who else holds the bank event a proposal's execution attaches to, as one read saw
    them (the executor's re-check, ADR 0051 addendum): the holders by proposal time, and
    the asking proposal's own place in that order (proposal time, id; None: unknown, so
    any approved holder comes first)."""

    event_id: str
    holders: tuple[ProposalView, ...]
    mine: tuple[dt.datetime, uuid.UUID] | None


def held_event(proposal_id: uuid.UUID, data: ProposalData) -> tuple[str, set[uuid.UUID]] | None:
    """The bank event executing `data` may attach to, and the proposals its holders' read
    leaves out (the proposal itself, a correction's target); None when it names none: a
    receipt's event, or the event a correction moves a receipt to."""
    exclude = {proposal_id}
    if isinstance(data, ReceiptAttachmentData):
        event = data.folio_event_id
    elif isinstance(data, CorrectionData):
        event = data.changes.folio_event_id
        with contextlib.suppress(ValueError):
            exclude.add(uuid.UUID(data.target_proposal_id))
    else:
        return None
    return (event, exclude) if event else None


async def read_bank_hold(
    uow: UnitOfWork,
    tenant_id: str,
    event_id: str,
    *,
    exclude: Collection[uuid.UUID],
    mine: tuple[dt.datetime, uuid.UUID] | None,
) -> BankHold:
    """The holders of `event_id` other than `exclude`, read in `uow`, with the asking
    proposal's place `mine`."""
    holders = await bank_event_holders(uow, tenant_id, event_id, exclude=exclude)
    return BankHold(event_id=event_id, holders=tuple(holders), mine=mine)


async def bank_event_holders(
    uow: UnitOfWork, tenant_id: str, folio_event_id: str, *, exclude: Collection[uuid.UUID]
) -> list[ProposalView]:
    """The proposals that hold `folio_event_id` (see the module docstring), by proposal
    time, leaving out `exclude` (the proposal asking, and a correction's target)."""
    held: list[ProposalView] = []
    for view in await uow.proposals.bank_event_claims(tenant_id, folio_event_id):
        if view.id in exclude or named_event(view) != folio_event_id:
            continue
        if view.status is Status.EXECUTED and await _released(uow, tenant_id, view):
            continue
        held.append(view)
    return held


async def _released(uow: UnitOfWork, tenant_id: str, view: ProposalView) -> bool:
    """An executed proposal whose event is free again: its reversal is executed, or an
    executed correction moved the receipt to another event."""
    mine = named_event(view)
    for compensation_id in await uow.proposals.open_compensations(tenant_id, view.id):
        compensation = await uow.proposals.get(tenant_id, compensation_id)
        if compensation is None or compensation.status is not Status.EXECUTED:
            continue
        if compensation.kind == Kind.REVERSAL.value:
            return True
        moved = named_event(compensation)
        if compensation.kind == Kind.CORRECTION.value and moved and moved != mine:
            return True
    return False


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
