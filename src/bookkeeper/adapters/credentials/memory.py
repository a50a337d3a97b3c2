"""Per-tenant credentials in memory: the store of the in-memory unit of work (tests and the
in-memory container).

As the SQL store, it is part of its unit of work (ADR 0044 §1): changes are staged and
become visible to other units only when the unit commits — together with the events the
unit appended — and a unit that ends without committing leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from bookkeeper.application.ports import StoredCredentials

Key = tuple[str, str]


@dataclass
class MemoryCredentialsState:
    """The committed rows and revision counter, shared by every unit of one database."""

    rows: dict[Key, StoredCredentials] = field(default_factory=dict)
    revision: int = 0


class MemoryCredentialsStore:
    """The CredentialsStore port in memory, in one unit of work: writes are staged until
    `apply` (the unit's commit) or dropped by `discard` (the unit's end)."""

    def __init__(self, state: MemoryCredentialsState | None = None) -> None:
        self.state = state if state is not None else MemoryCredentialsState()
        #: Rows written in this unit (None: removed), not yet committed.
        self._staged: dict[Key, StoredCredentials | None] = {}
        self._bumps = 0

    @property
    def rows(self) -> dict[Key, StoredCredentials]:
        """The committed rows (what another unit sees)."""
        return self.state.rows

    def _view(self) -> dict[Key, StoredCredentials]:
        view = dict(self.state.rows)
        for key, row in self._staged.items():
            if row is None:
                view.pop(key, None)
            else:
                view[key] = row
        return view

    async def get(self, tenant_id: str, provider: str) -> StoredCredentials | None:
        return self._view().get((tenant_id, provider))

    async def put(self, credentials: StoredCredentials) -> StoredCredentials:
        key = (credentials.tenant_id, credentials.provider)
        previous = self._view().get(key)
        stored = msgspec.structs.replace(
            credentials, version=previous.version + 1 if previous else 1
        )
        self._staged[key] = stored
        self._bumps += 1
        return stored

    async def remove(self, tenant_id: str, provider: str) -> bool:
        key = (tenant_id, provider)
        if key not in self._view():
            return False
        self._staged[key] = None
        self._bumps += 1
        return True

    async def listing(self, tenant_id: str | None = None) -> list[StoredCredentials]:
        return [
            row
            for key, row in sorted(self._view().items())
            if tenant_id is None or key[0] == tenant_id
        ]

    async def revision(self) -> int:
        return self.state.revision + self._bumps

    async def tenant_count(self) -> int:
        return len({tenant for tenant, _ in self._view()})

    async def rewrap(self, rewrap: Callable[[str], str]) -> list[StoredCredentials]:
        rewrapped = [
            msgspec.structs.replace(row, ciphertext=rewrap(row.ciphertext))
            for _, row in sorted(self._view().items())
        ]
        for row in rewrapped:
            self._staged[(row.tenant_id, row.provider)] = row
        self._bumps += 1
        return rewrapped

    def apply(self) -> None:
        """The unit commits: its staged changes become the committed rows."""
        for key, row in self._staged.items():
            if row is None:
                self.state.rows.pop(key, None)
            else:
                self.state.rows[key] = row
        self.state.revision += self._bumps
        self.discard()

    def discard(self) -> None:
        """The unit ends (or committed): nothing staged remains."""
        self._staged = {}
        self._bumps = 0
