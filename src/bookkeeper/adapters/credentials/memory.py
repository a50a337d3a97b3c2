"""Per-tenant credentials in a dict: the store of the in-memory container and unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from bookkeeper.application.credentials import StoredCredentials


class MemoryCredentialsStore:
    """The CredentialsStore port in memory (one process)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredCredentials] = {}
        self._revision = 0
        self._lock = asyncio.Lock()

    async def get(self, tenant_id: str, provider: str) -> StoredCredentials | None:
        return self.rows.get((tenant_id, provider))

    async def put(self, credentials: StoredCredentials) -> StoredCredentials:
        async with self._lock:
            key = (credentials.tenant_id, credentials.provider)
            previous = self.rows.get(key)
            stored = msgspec.structs.replace(
                credentials, version=previous.version + 1 if previous else 1
            )
            self.rows[key] = stored
            self._revision += 1
            return stored

    async def remove(self, tenant_id: str, provider: str) -> bool:
        async with self._lock:
            if self.rows.pop((tenant_id, provider), None) is None:
                return False
            self._revision += 1
            return True

    async def listing(self, tenant_id: str | None = None) -> list[StoredCredentials]:
        return [
            row
            for key, row in sorted(self.rows.items())
            if tenant_id is None or key[0] == tenant_id
        ]

    async def revision(self) -> int:
        return self._revision

    async def tenant_count(self) -> int:
        return len({tenant for tenant, _ in self.rows})

    async def rewrap(self, rewrap: Callable[[str], str]) -> int:
        async with self._lock:
            new = {
                key: msgspec.structs.replace(row, ciphertext=rewrap(row.ciphertext))
                for key, row in self.rows.items()
            }
            self.rows = new
            return len(new)
