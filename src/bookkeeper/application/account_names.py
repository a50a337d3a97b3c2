"""The Accounts Master's account names as the log keeps them (see accounts_master.py):
read by the ledger's reports without depending on the bus."""

from __future__ import annotations

from typing import Final

from bookkeeper.application.ports import EventFilter, UnitOfWork
from bookkeeper.domain.events import AccountMasterData

ACCOUNT_CREATED: Final = "AccountCreated"
ACCOUNT_UPDATED: Final = "AccountUpdated"
ACCOUNT_TYPES: Final = frozenset({ACCOUNT_CREATED, ACCOUNT_UPDATED})
#: Most accounts read for one tenant.
MAX_ACCOUNTS: Final = 100_000
_PAGE: Final = 1000


async def names(uow: UnitOfWork, tenant_id: str) -> dict[str, str]:
    """The tenant's accounts from the Accounts Master: code → name (latest wins).

    "Latest" is the bus's order where both events know it (the time the stream stored
    the message, then its sequence in the same stream), so that a rename committed after
    a newer one — two replicas, a nak'ed message redelivered — does not win; otherwise
    (events recorded before the bus's place was kept, the in-process route) the later
    position, as before."""
    found: dict[str, AccountMasterData] = {}
    after = 0
    while True:
        events = await uow.events.query(
            tenant_id,
            EventFilter(types=tuple(sorted(ACCOUNT_TYPES)), after_position=after, limit=_PAGE),
        )
        for event in events:
            data = event.data
            if isinstance(data, AccountMasterData):
                kept = found.get(data.code)
                if kept is None or not _older(data, kept):
                    found[data.code] = data
        if len(events) < _PAGE or len(found) >= MAX_ACCOUNTS:
            return {code: data.name for code, data in found.items()}
        after = events[-1].position


def _older(new: AccountMasterData, kept: AccountMasterData) -> bool:
    """Whether the bus took `new` before `kept` (False when either lacks its place)."""
    if new.stored is None or kept.stored is None:
        return False
    if new.stored != kept.stored:
        return new.stored < kept.stored
    return new.stream == kept.stream and new.sequence < kept.sequence
