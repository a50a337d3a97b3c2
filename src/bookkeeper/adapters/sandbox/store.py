"""Where the sandbox books and bank keep their state: a small object-and-file store.

The sandbox behaves like a remote system, so its store is independent of the caller's unit
of work: every operation is its own short transaction (SQL) or one uninterrupted step
(memory). Objects are JSON documents addressed by (tenant, system, kind, id), with the two
attributes the adapters look things up by kept beside them: a `reference` (our reference
on a purchase, an organisation number on a contact) and a `date`. Files (receipts and
invoices) are kept with the object they are attached to.

Two backends: `SqlSandboxStore` (tables of migration 0004, on the service's own database,
so the sandbox survives restarts) and `MemorySandboxStore` (tests, and any database
stand-in without an engine).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import msgspec

#: Numbered ids (Fiken's purchases, contacts, journal entries) start here, so that they
#: look like Fiken's and never collide with the small ids of seeded objects.
FIRST_NUMBER: Final = 100_000
#: The kind and id of the row that says a tenant's system was seeded.
SEED_MARKER: Final = ("seed", "seed")

#: Turns an object's data into its new data; may raise to refuse the change.
Change = Callable[[dict[str, Any]], dict[str, Any]]


class NewObject(msgspec.Struct, frozen=True, kw_only=True):
    """An object to store; without an id, the store numbers it."""

    kind: str
    data: dict[str, Any]
    id: str | None = None
    reference: str | None = None
    date: dt.date | None = None


class NewFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file to attach to an object."""

    id: str
    owner_kind: str
    owner_id: str
    filename: str
    content_type: str
    content: bytes


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    id: str
    reference: str | None
    date: dt.date | None
    data: dict[str, Any]
    created_at: dt.datetime


class StoredFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file's metadata (its bytes come from `SandboxStore.content`)."""

    id: str
    owner_kind: str
    owner_id: str
    filename: str
    content_type: str
    size: int
    created_at: dt.datetime


class Seed(msgspec.Struct, frozen=True, kw_only=True):
    """What a tenant's system starts with."""

    objects: tuple[NewObject, ...]
    files: tuple[NewFile, ...] = ()


class SandboxStore(Protocol):
    """Objects and files of the sandbox, per tenant and system ("books" or "bank")."""

    async def seed_once(
        self, tenant_id: str, system: str, seed: Callable[[], Seed], now: dt.datetime
    ) -> None:
        """Store the tenant's seed unless it was stored before (exactly once, even when
        called concurrently, also from several processes on one database)."""
        ...

    async def add(self, tenant_id: str, system: str, new: NewObject, now: dt.datetime) -> str:
        """Store one object; its id (the given one, or a fresh number)."""
        ...

    async def get(
        self, tenant_id: str, system: str, kind: str, object_id: str
    ) -> StoredObject | None:
        """One object, if it exists."""
        ...

    async def find(
        self,
        tenant_id: str,
        system: str,
        kind: str,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        reference: str | None = None,
    ) -> list[StoredObject]:
        """Objects of a kind, dated in [start, end] and with the reference when given, in
        the order they were stored."""
        ...

    async def update(
        self, tenant_id: str, system: str, kind: str, object_id: str, change: Change
    ) -> StoredObject | None:
        """Replace an object's data by `change(data)` atomically (None if no such object);
        an exception from `change` leaves it unchanged and propagates."""
        ...

    async def add_file(self, tenant_id: str, system: str, new: NewFile, now: dt.datetime) -> str:
        """Store a file; its id."""
        ...

    async def files(
        self, tenant_id: str, system: str, owner_kind: str, owner_ids: Sequence[str]
    ) -> list[StoredFile]:
        """The files attached to any of the objects, in the order they were stored."""
        ...

    async def content(self, tenant_id: str, system: str, file_id: str) -> bytes | None:
        """A file's bytes, if it exists."""
        ...


def new_file_id() -> str:
    """A fresh file id (Folio's attachment ids are UUIDs)."""
    return str(uuid.uuid4())


class MemorySandboxStore:
    """The store in process memory. No method awaits inside its critical section, so each
    one is atomic on the event loop, as a transaction would be."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str, str, str], tuple[int, StoredObject]] = {}
        self._files: dict[tuple[str, str, str], tuple[int, StoredFile, bytes]] = {}
        self._sequence = itertools.count(1)

    async def seed_once(
        self, tenant_id: str, system: str, seed: Callable[[], Seed], now: dt.datetime
    ) -> None:
        kind, marker = SEED_MARKER
        if (tenant_id, system, kind, marker) in self._objects:
            return
        planted = seed()
        self._put(tenant_id, system, NewObject(kind=kind, id=marker, data={}), now)
        for new in planted.objects:
            self._put(tenant_id, system, new, now)
        for file in planted.files:
            self._put_file(tenant_id, system, file, now)

    async def add(self, tenant_id: str, system: str, new: NewObject, now: dt.datetime) -> str:
        return self._put(tenant_id, system, new, now)

    def _put(self, tenant_id: str, system: str, new: NewObject, now: dt.datetime) -> str:
        sequence = next(self._sequence)
        object_id = new.id if new.id is not None else str(FIRST_NUMBER + sequence)
        key = (tenant_id, system, new.kind, object_id)
        if key in self._objects:
            raise ValueError(f"sandbox {system} already has {new.kind} {object_id}")
        self._objects[key] = (
            sequence,
            StoredObject(
                kind=new.kind,
                id=object_id,
                reference=new.reference,
                date=new.date,
                data=msgspec.json.decode(msgspec.json.encode(new.data)),
                created_at=now,
            ),
        )
        return object_id

    async def get(
        self, tenant_id: str, system: str, kind: str, object_id: str
    ) -> StoredObject | None:
        found = self._objects.get((tenant_id, system, kind, object_id))
        return None if found is None else found[1]

    async def find(
        self,
        tenant_id: str,
        system: str,
        kind: str,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        reference: str | None = None,
    ) -> list[StoredObject]:
        matches = [
            (sequence, stored)
            for (tenant, sys, k, _), (sequence, stored) in self._objects.items()
            if tenant == tenant_id
            and sys == system
            and k == kind
            and (reference is None or stored.reference == reference)
            and (start is None or (stored.date is not None and stored.date >= start))
            and (end is None or (stored.date is not None and stored.date <= end))
        ]
        return [stored for _, stored in sorted(matches, key=lambda m: m[0])]

    async def update(
        self, tenant_id: str, system: str, kind: str, object_id: str, change: Change
    ) -> StoredObject | None:
        key = (tenant_id, system, kind, object_id)
        found = self._objects.get(key)
        if found is None:
            return None
        sequence, stored = found
        data = change(msgspec.json.decode(msgspec.json.encode(stored.data)))
        updated = msgspec.structs.replace(
            stored, data=msgspec.json.decode(msgspec.json.encode(data))
        )
        self._objects[key] = (sequence, updated)
        return updated

    async def add_file(self, tenant_id: str, system: str, new: NewFile, now: dt.datetime) -> str:
        return self._put_file(tenant_id, system, new, now)

    def _put_file(self, tenant_id: str, system: str, new: NewFile, now: dt.datetime) -> str:
        key = (tenant_id, system, new.id)
        if key in self._files:
            raise ValueError(f"sandbox {system} already has file {new.id}")
        stored = StoredFile(
            id=new.id,
            owner_kind=new.owner_kind,
            owner_id=new.owner_id,
            filename=new.filename,
            content_type=new.content_type,
            size=len(new.content),
            created_at=now,
        )
        self._files[key] = (next(self._sequence), stored, bytes(new.content))
        return new.id

    async def files(
        self, tenant_id: str, system: str, owner_kind: str, owner_ids: Sequence[str]
    ) -> list[StoredFile]:
        wanted = set(owner_ids)
        matches = [
            (sequence, stored)
            for (tenant, sys, _), (sequence, stored, _content) in self._files.items()
            if tenant == tenant_id
            and sys == system
            and stored.owner_kind == owner_kind
            and stored.owner_id in wanted
        ]
        return [stored for _, stored in sorted(matches, key=lambda m: m[0])]

    async def content(self, tenant_id: str, system: str, file_id: str) -> bytes | None:
        found = self._files.get((tenant_id, system, file_id))
        return None if found is None else found[2]
