"""The sandbox bank: a `Bank` that behaves like Folio, kept in the local database.

Seeded per tenant on first use (see `seed.bank_seed`): an operational and a card account
and two months of events before that day. Like Folio: ids are UUIDs; `events` are every
movement including card authorisations not booked yet, `transactions` only the booked
ones (each with its own id and the id of its event); receipts attach to events as PDF,
JPEG or PNG; an attachment cannot be deleted; events are marked complete and incomplete.
Refusals are ExternalRejected, unknown ids ExternalNotFound (system "sandbox-bank").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from bookkeeper.adapters.sandbox.seed import BANK, bank_seed
from bookkeeper.adapters.sandbox.store import NewFile, SandboxStore, StoredObject, new_file_id
from bookkeeper.application.errors import ExternalNotFound, ExternalRejected
from bookkeeper.application.ports import (
    BankAccount,
    BankAttachment,
    BankBalance,
    BankTransaction,
    Clock,
)

SYSTEM: Final = "sandbox-bank"
#: The content types Folio takes for an attachment.
ATTACHMENT_TYPES: Final = frozenset({"application/pdf", "image/jpeg", "image/png"})
#: How far around the given day `find_attachment` looks for the event.
ATTACHMENT_SEARCH_DAYS: Final = 7
OSLO: Final = ZoneInfo("Europe/Oslo")


class _Event(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    transaction_id: str
    date: dt.date
    description: str
    amount: Decimal
    currency: str
    merchant_name: str | None
    account_number: str
    booked: bool
    complete: bool


def _not_found(message: str) -> ExternalNotFound:
    return ExternalNotFound(message, system=SYSTEM, status=404)


class SandboxBank:
    """One tenant's sandbox bank."""

    name = "sandbox"

    def __init__(self, store: SandboxStore, tenant_id: str, clock: Clock) -> None:
        self._store = store
        self._tenant = tenant_id
        self._clock = clock

    async def _ready(self) -> None:
        now = self._clock.now()
        today = now.astimezone(OSLO).date()
        await self._store.seed_once(self._tenant, BANK, lambda: bank_seed(self._tenant, today), now)

    async def accounts(self) -> list[BankAccount]:
        await self._ready()
        found = await self._store.find(self._tenant, BANK, "account")
        return [msgspec.convert(o.data, BankAccount, strict=False) for o in found]

    async def balance(self, account_number: str, date: dt.date) -> BankBalance:
        await self._ready()
        stored = await self._store.get(self._tenant, BANK, "account", account_number)
        if stored is None:
            raise _not_found(f"no account {account_number}")
        account = msgspec.convert(stored.data, BankAccount, strict=False)
        later = on_the_day = Decimal(0)
        for event in await self._events(None, None):
            if event.account_number != account_number:
                continue
            if event.date > date:
                later += event.amount
            elif event.date == date:
                on_the_day += event.amount
        outgoing = account.balance - later
        return BankBalance(
            account_number=account_number,
            date=date,
            incoming=outgoing - on_the_day,
            outgoing=outgoing,
        )

    async def _events(self, start: dt.date | None, end: dt.date | None) -> list[_Event]:
        found = await self._store.find(self._tenant, BANK, "event", start=start, end=end)
        events = [_event(o) for o in found]
        events.sort(key=lambda e: (e.date, e.id))
        return events

    async def _attachments(self, events: list[_Event]) -> dict[str, tuple[BankAttachment, ...]]:
        files = await self._store.files(self._tenant, BANK, "event", [e.id for e in events])
        grouped: dict[str, list[BankAttachment]] = defaultdict(list)
        for file in files:
            grouped[file.owner_id].append(
                BankAttachment(
                    id=file.id, filename=file.filename or None, mime_type=file.content_type
                )
            )
        return {owner: tuple(attachments) for owner, attachments in grouped.items()}

    async def transactions(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        await self._ready()
        events = [e for e in await self._events(start, end) if e.booked]
        attachments = await self._attachments(events)
        return [_transaction(e, e.transaction_id, attachments.get(e.id, ())) for e in events]

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        await self._ready()
        events = await self._events(start, end)
        attachments = await self._attachments(events)
        return [_transaction(e, e.id, attachments.get(e.id, ())) for e in events]

    async def attach_receipt(
        self, event_id: str, filename: str, content: bytes, content_type: str
    ) -> str:
        await self._ready()
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in ATTACHMENT_TYPES:
            raise ExternalRejected(
                f"Folio takes PDF, JPEG or PNG attachments, not {media_type or 'no type'}",
                system=SYSTEM,
                status=415,
            )
        if not content:
            raise ExternalRejected("the attachment is empty", system=SYSTEM, status=400)
        if await self._store.get(self._tenant, BANK, "event", event_id) is None:
            raise _not_found(f"no event {event_id}")
        return await self._store.add_file(
            self._tenant,
            BANK,
            NewFile(
                id=new_file_id(),
                owner_kind="event",
                owner_id=event_id,
                filename=filename,
                content_type=media_type,
                content=content,
            ),
            self._clock.now(),
        )

    async def find_attachment(
        self, event_id: str, filename: str, around: dt.date, *, size: int | None = None
    ) -> str | None:
        await self._ready()
        window = dt.timedelta(days=ATTACHMENT_SEARCH_DAYS)
        nearby = await self._events(around - window, around + window)
        if not any(e.id == event_id for e in nearby):
            return None
        for file in await self._store.files(self._tenant, BANK, "event", [event_id]):
            if file.filename == filename and (size is None or file.size == size):
                return file.id
        return None

    async def mark_complete(self, event_id: str) -> None:
        await self._set_complete(event_id, True)

    async def mark_incomplete(self, event_id: str) -> None:
        await self._set_complete(event_id, False)

    async def annotate(self, event_id: str, note: str, around: dt.date) -> None:
        """The event's note with `note` after it, once (as Folio's PATCH /events/{id})."""
        await self._ready()

        def change(data: dict[str, Any]) -> dict[str, Any]:
            existing = str(data.get("note") or "")
            if note in existing:
                return data
            return data | {"note": f"{existing.rstrip()}\n{note}" if existing.strip() else note}

        if await self._store.update(self._tenant, BANK, "event", event_id, change) is None:
            raise _not_found(f"no event {event_id}")

    async def _set_complete(self, event_id: str, complete: bool) -> None:
        await self._ready()

        def change(data: dict[str, Any]) -> dict[str, Any]:
            return data | {"complete": complete}

        if await self._store.update(self._tenant, BANK, "event", event_id, change) is None:
            raise _not_found(f"no event {event_id}")


def _event(stored: StoredObject) -> _Event:
    return msgspec.convert(stored.data, _Event, strict=False)


def _transaction(
    event: _Event, transaction_id: str, attachments: tuple[BankAttachment, ...]
) -> BankTransaction:
    return BankTransaction(
        id=transaction_id,
        event_id=event.id,
        date=event.date,
        description=event.description,
        amount=event.amount,
        currency=event.currency,
        merchant_name=event.merchant_name,
        account_number=event.account_number,
        complete=event.complete,
        attachments=attachments,
    )
