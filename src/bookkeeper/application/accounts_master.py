"""The Accounts Master (issue 10, decisions 12-14, stage 2): the tenant's chart of accounts
as another service owns it, consumed from the bus and kept as tenant data.

`AccountCreated` / `AccountUpdated` messages (the bus envelope; see README):

    {"type": "AccountCreated", "source": "accounts-master", "tenant": "acme",
     "id": "<message id, optional>", "data": {"code": "1920", "name": "Bankinnskudd"}}

are recorded as events of the same type in the log, each in a stream of its own whose id
is derived from tenant, source, type and the message id (or the body's SHA-256), at
version 0 — a redelivery is a harmless duplicate. The latest event names a code: by the
bus's order (the stream's stored time and sequence, kept with the event) where known, by
position otherwise. `names(uow, tenant)` reads them; the ledger's reports show these names (over the
books' chart's) and the unknown-accounts report checks against them when the tenant has
any (the books' chart otherwise).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Final

import msgspec

from bookkeeper.application.account_names import ACCOUNT_TYPES, names
from bookkeeper.application.errors import ConcurrencyConflict, DuplicateEvent
from bookkeeper.application.event_log import external_entry_id, stamp
from bookkeeper.application.ports import BusPlace, Clock, UnitOfWorkFactory
from bookkeeper.application.translation import (
    BUS_SUBJECT,
    OFF_LOOP_BYTES,
    Envelope,
    MalformedMessage,
    fingerprint,
    nests_deeper_than,
    read_envelope,
)
from bookkeeper.domain.events import AccountMasterData

#: Account codes as charts write them: "1920", "2400:20001", "3000.01".
_CODE: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z:._-]{0,31}")
MAX_ACCOUNT_NAME: Final = 200


__all__ = ["ACCOUNT_TYPES", "AccountRecorded", "AccountsMaster", "is_account_message", "names"]


class AccountMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The data of an AccountCreated / AccountUpdated message."""

    code: str
    name: str


class _TypeOnly(msgspec.Struct):
    type: str = ""


_type_only = msgspec.json.Decoder(_TypeOnly)


def is_account_message(raw: bytes) -> bool:
    """Whether the message is an AccountCreated / AccountUpdated (cheap; lenient). One
    nested too deep to read is not (read_envelope refuses it, whoever books it)."""
    if nests_deeper_than(raw):
        return False
    try:
        return _type_only.decode(raw).type in ACCOUNT_TYPES
    except (msgspec.DecodeError, RecursionError):
        return False


def _read(raw: bytes) -> tuple[Envelope, str, str]:
    """The envelope, account code and name of a message, or MalformedMessage."""
    envelope = read_envelope(raw)
    if envelope.type not in ACCOUNT_TYPES:
        raise MalformedMessage(f"{envelope.type} is not an Accounts Master message")
    try:
        data = msgspec.json.decode(envelope.data, type=AccountMessage)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise MalformedMessage(f"{envelope.type}: {error}") from None
    code, name = data.code.strip(), " ".join(data.name.split())
    if not _CODE.fullmatch(code):
        raise MalformedMessage(f"{envelope.type}: {code[:40]!r} is not an account code")
    if not name or len(name) > MAX_ACCOUNT_NAME or not name.isprintable():
        raise MalformedMessage(f"{envelope.type}: the account name is empty or too long")
    return envelope, code, name


class AccountRecorded(msgspec.Struct, frozen=True, kw_only=True):
    """What recording one Accounts Master message kept: the account as named, the event
    id, and whether it was new (False: the same message was recorded before)."""

    tenant: str
    type: str
    code: str
    name: str
    event_id: uuid.UUID
    new: bool


class AccountsMaster:
    """Records the Accounts Master's messages; reads a tenant's account names."""

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def record(self, raw: bytes, delivered_as: BusPlace | None = None) -> bool:
        """Record one message: True when new, False for a duplicate; MalformedMessage
        when it cannot be (StorageUnavailable propagates). `delivered_as`: what tells
        this message from another with the same body when it has no `id` (the bus: its
        place in its stream, the same on a redelivery)."""
        return (await self.recorded(raw, delivered_as)).new

    async def recorded(self, raw: bytes, delivered_as: BusPlace | None = None) -> AccountRecorded:
        """`record`, answering what was kept (the in-process route shows it)."""
        if len(raw) > OFF_LOOP_BYTES:  # read in a worker thread, not on the event loop
            envelope, code, name = await asyncio.to_thread(_read, raw)
        else:
            envelope, code, name = _read(raw)
        # Without an id, the body alone made a rename back ("Salg", "Salgsinntekt",
        # "Salg") a duplicate of the first message: the name stayed "Salgsinntekt".
        place = delivered_as
        message_id = envelope.id or (str(place) if place is not None else fingerprint(raw))
        event_id = external_entry_id(envelope.tenant, envelope.source, envelope.type, message_id)
        event = stamp(
            envelope.type,
            AccountMasterData(
                code=code,
                name=name,
                source=envelope.source,
                message_id=message_id,
                stream=place.stream if place is not None else "",
                sequence=place.sequence if place is not None else 0,
                stored=place.stored if place is not None else None,
            ),
            event_id=event_id,
            actor=BUS_SUBJECT,
            at=self._clock.now(),
            correlation_id=event_id,
        )
        new = True
        try:
            async with self._uow() as uow:
                await uow.events.append(envelope.tenant, event_id, 0, [event])
                await uow.commit()
        except (DuplicateEvent, ConcurrencyConflict):
            new = False
        return AccountRecorded(
            tenant=envelope.tenant,
            type=envelope.type,
            code=code,
            name=name,
            event_id=event_id,
            new=new,
        )
