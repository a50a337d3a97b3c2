"""The DocumentStore contract, held by the memory and both SQL adapters alike."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator

import pytest

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.application.ports import UnitOfWorkFactory

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40  # every byte value, NUL included


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def uow_factory(request: pytest.FixtureRequest) -> AsyncIterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
    database = SqlDatabase(url, pool_size=2, max_overflow=0)
    try:
        yield database.uow_factory()
    finally:
        await database.dispose()


async def test_a_document_is_stored_once_per_tenant(uow_factory: UnitOfWorkFactory) -> None:
    sha = hashlib.sha256(PDF).hexdigest()
    async with uow_factory() as uow:
        stored, new = await uow.documents.put("acme", PDF, "application/pdf", "a.pdf", NOW)
        assert new and stored.sha256 == sha and stored.size == len(PDF)
        assert await uow.documents.content("acme", sha) == PDF  # its own write, before commit
        await uow.commit()
    later = NOW + dt.timedelta(hours=1)
    async with uow_factory() as uow:
        again, new = await uow.documents.put("acme", PDF, "application/pdf", "b.pdf", later)
        assert not new and again == stored  # the first name and time are kept
        other, new = await uow.documents.put("globex", PDF, "application/pdf", "c.pdf", later)
        assert new and other.tenant_id == "globex" and other.filename == "c.pdf"
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.documents.get("acme", sha) == stored
        assert stored.created_at == NOW and stored.created_at.tzinfo is dt.UTC
        assert await uow.documents.content("acme", sha) == PDF
        assert await uow.documents.get("initech", sha) is None
        assert await uow.documents.content("initech", sha) is None


async def test_an_uncommitted_document_is_not_stored(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.documents.put("acme", PDF, "application/pdf", "a.pdf", NOW)
    async with uow_factory() as uow:
        assert await uow.documents.get("acme", hashlib.sha256(PDF).hexdigest()) is None
