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
    """The tenant's accounts from the Accounts Master: code → name (latest wins)."""
    found: dict[str, str] = {}
    after = 0
    while True:
        events = await uow.events.query(
            tenant_id,
            EventFilter(types=tuple(sorted(ACCOUNT_TYPES)), after_position=after, limit=_PAGE),
        )
        for event in events:
            if isinstance(event.data, AccountMasterData):
                found[event.data.code] = event.data.name
        if len(events) < _PAGE or len(found) >= MAX_ACCOUNTS:
            return found
        after = events[-1].position
