"""What a bus adapter does with one delivered message, whatever the bus (issue 10).

`BusIntake.receive(raw)` books the message through `Ingest` and says what the adapter
must do with the delivery:

    BOOKED      committed: acknowledge
    DUPLICATE   booked before (a redelivery, another replica's copy): acknowledge
    DEAD        can never succeed (Rejected): keep the raw message, its headers and the
                reason in the dead-letter stream, `dead_lettered(...)`, then acknowledge
    RETRY       transient (StorageUnavailable, anything unexpected): do not acknowledge;
                redeliver later, with back-off, a bounded number of times

`dead_lettered(raw, reason, code)` records one `AlertRaised` about the message — its
stream id derived from the tenant and the body (`event_log.dead_letter_alert_id`), so a
message dead-lettered twice raises one alert. A body with no readable tenant is alerted
under `UNKNOWN_TENANT`.

The in-process route (`POST /bus/events`) and the NATS JetStream consumer
(adapters/nats) both call it: the embedded default and the real bus book alike.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from bookkeeper.application.accounts_master import (
    AccountRecorded,
    AccountsMaster,
    is_account_message,
)
from bookkeeper.application.authorization import BUS_INGEST
from bookkeeper.application.errors import (
    ConcurrencyConflict,
    DuplicateEvent,
    Forbidden,
    StorageUnavailable,
)
from bookkeeper.application.event_log import dead_letter_alert_id, stamp
from bookkeeper.application.ledger import PostedEntry
from bookkeeper.application.ports import (
    Authorizer,
    BusPlace,
    Clock,
    Principal,
    UnitOfWorkFactory,
)
from bookkeeper.application.translation import (
    BUS_SUBJECT,
    BUS_TENANT,
    MAX_NAME,
    OFF_LOOP_BYTES,
    Ingest,
    PrincipalFor,
    Rejected,
    UnknownExternalType,
    fingerprint,
    names_a_tenant,
    nests_deeper_than,
    read_envelope,
)
from bookkeeper.domain.events import AlertRaisedData

log = logging.getLogger("bookkeeper.bus")

ALERT_RAISED: Final = "AlertRaised"
#: The tenant a dead-lettered message is alerted under when its body names none.
UNKNOWN_TENANT: Final = BUS_TENANT
#: The dead letter's code for a message naming a tenant the bus does not book for.
UNKNOWN_TENANT_CODE: Final = "unknown-tenant"
#: Longest reason kept in an alert (the dead-letter stream keeps the whole message).
MAX_REASON: Final = 1000


class Outcome(enum.Enum):
    BOOKED = "booked"
    DUPLICATE = "duplicate"
    DEAD = "dead"
    RETRY = "retry"


@dataclass(frozen=True)
class Delivery:
    """What became of one message."""

    outcome: Outcome
    reason: str = ""
    code: str = ""
    entry: PostedEntry | None = None

    @property
    def storage_down(self) -> bool:
        """Transient because the database is unreachable: wait for it rather than spend
        the message's bounded redeliveries (nothing about the message is wrong)."""
        return self.outcome is Outcome.RETRY and self.code == StorageUnavailable.code


class _TenantOnly(msgspec.Struct):
    tenant: Any = None


#: The envelope's tenant alone: the rest of the body is skipped, not built (json.loads
#: built every object of it — of a 1 MB body of small objects, on the event loop, three
#: times per message).
_tenant_only: Final = msgspec.json.Decoder(_TenantOnly)


def tenant_of(raw: bytes) -> str:
    """The tenant a message names, as far as it can be read (UNKNOWN_TENANT otherwise:
    also one nested too deep to read, which a decoder would answer with a RecursionError)."""
    if nests_deeper_than(raw):
        return UNKNOWN_TENANT
    try:
        tenant = _tenant_only.decode(raw).tenant
    except (msgspec.DecodeError, RecursionError):
        # What msgspec refuses and json reads (NaN, UTF-16, a BOM): the envelope's check
        # refuses it, and its alert goes to the tenant it names, as before — for a small
        # body (a large one would hold the GIL as long as json builds it).
        if len(raw) > OFF_LOOP_BYTES:
            return UNKNOWN_TENANT
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return UNKNOWN_TENANT
        tenant = body.get("tenant") if isinstance(body, dict) else None
    # A message naming no tenant one can be in (`*`, a list, a padded name) is alerted
    # under UNKNOWN_TENANT (and refused by the envelope's check, never booked).
    if isinstance(tenant, str) and names_a_tenant(tenant):
        return tenant
    return UNKNOWN_TENANT


@dataclass(frozen=True)
class Reading:
    """What the intake reads of a message before booking it, once per delivery: the
    tenant it names and whether it is an Accounts Master message."""

    tenant: str
    account: bool


def read_message(raw: bytes) -> Reading:
    return Reading(tenant_of(raw), is_account_message(raw))


async def readings(raws: Sequence[bytes]) -> list[Reading]:
    """`read_message` of each message — off the event loop when one is large: reading a
    pathological 1 MB body held the loop (the other batch, the HTTP API, /health, the
    publisher) for a second."""
    if all(len(raw) <= OFF_LOOP_BYTES for raw in raws):
        return [read_message(raw) for raw in raws]
    return await asyncio.to_thread(lambda: [read_message(raw) for raw in raws])


async def _tenant_off_loop(raw: bytes) -> str:
    """`tenant_of`, in a worker thread for a large body."""
    if len(raw) <= OFF_LOOP_BYTES:
        return tenant_of(raw)
    return await asyncio.to_thread(tenant_of, raw)


#: The alert's code for a ledger message too large for the bus (max_payload).
TOO_LARGE_CODE: Final = "bus-message-too-large"


async def _raise_alert_once(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    tenant: str,
    alert_id: uuid.UUID,
    data: AlertRaisedData,
) -> None:
    """Record `data` as the AlertRaised `alert_id` (its own stream) in `tenant` by the bus,
    unless it is recorded already (a derived id: the same cause raises it once).
    StorageUnavailable propagates."""
    event = stamp(
        ALERT_RAISED,
        data,
        event_id=alert_id,
        actor=BUS_SUBJECT,
        at=clock.now(),
        correlation_id=alert_id,
    )
    try:
        async with uow_factory() as uow:
            await uow.events.append(tenant, alert_id, 0, [event])
            await uow.commit()
    except (DuplicateEvent, ConcurrencyConflict):
        pass


class PublishAlerts:
    """What the bus-publisher tells a person about an entry it cannot publish whole: one
    `AlertRaised` in the entry's tenant per message left out (derived id: a batch sent
    again raises it once)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def too_large(
        self, tenant: str, event_id: uuid.UUID, subject: str, size: int, limit: int
    ) -> uuid.UUID:
        """The message `subject` of the entry whose JournalEntryPosted is `event_id` is
        `size` bytes, over the bus's `limit`: not published. StorageUnavailable
        propagates (the publisher tries the entry again)."""
        alert_id = dead_letter_alert_id(tenant, f"too-large:{event_id}:{subject}")
        # The same entry handed to the publisher again raises it once.
        await _raise_alert_once(
            self._uow,
            self._clock,
            tenant,
            alert_id,
            AlertRaisedData(
                severity="error",
                code=TOO_LARGE_CODE,
                message=(
                    f"the ledger entry of event {event_id} was not published as {subject}: "
                    f"{size} bytes, over the bus's max_payload of {limit} (it stays in the "
                    "log: GET /events, the exports)"
                )[:MAX_REASON],
            ),
        )
        return alert_id


class BusIntake:
    """Books delivered messages and raises the alert about the dead ones."""

    def __init__(
        self,
        ingest: Ingest,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        principal_for: PrincipalFor,
        authorizer: Authorizer,
        accounts: AccountsMaster | None = None,
        tenants: frozenset[str] | None = None,
    ) -> None:
        #: The Accounts Master's messages (AccountCreated / AccountUpdated) go here.
        self._accounts = accounts
        #: The tenants messages may name (BOOKKEEPER_BUS_TENANTS; empty: none); None: any.
        self._tenants = tenants
        self._ingest = ingest
        self._authorizer = authorizer
        self._uow = uow_factory
        self._clock = clock
        self._principal_for = principal_for

    @property
    def ingest(self) -> Ingest:
        return self._ingest

    @property
    def tenants(self) -> frozenset[str] | None:
        """The tenants messages may name (empty: none); None: any."""
        return self._tenants

    async def _receive_account(
        self, accounts: AccountsMaster, raw: bytes, delivered_as: BusPlace | None
    ) -> Delivery:
        """Record an Accounts Master message (kept as tenant data, not booked)."""
        try:
            new = await accounts.record(raw, delivered_as)
        except Rejected as error:
            return Delivery(Outcome.DEAD, reason=str(error)[:MAX_REASON], code=error.code)
        except StorageUnavailable as error:
            return Delivery(Outcome.RETRY, reason=str(error), code=error.code)
        except Exception as error:
            log.exception("recording an Accounts Master message failed")
            return Delivery(Outcome.RETRY, reason=f"{type(error).__name__}: {error}")
        return Delivery(Outcome.BOOKED if new else Outcome.DUPLICATE)

    def _stranger(self, reading: Reading) -> Delivery | None:
        """DEAD (`unknown-tenant`) for a message naming a tenant the bus does not book
        for (BOOKKEEPER_BUS_TENANTS); None otherwise — also for one whose tenant cannot
        be read, which the envelope's check refuses with its own reason."""
        if self._tenants is None:
            return None
        tenant = reading.tenant
        if tenant == UNKNOWN_TENANT or tenant in self._tenants:
            return None
        named = repr(tenant[:MAX_NAME])
        return Delivery(
            Outcome.DEAD,
            reason=f"{self.binding()}, not for tenant {named}",
            code=UNKNOWN_TENANT_CODE,
        )

    def binding(self) -> str:
        """The tenants the bus books for, in words (the log at start, a dead letter's
        reason)."""
        if self._tenants is None:
            return "the bus books for every tenant a message names (BOOKKEEPER_BUS_TENANTS)"
        return f"the bus books for {', '.join(sorted(self._tenants))}"

    async def receive(
        self, raw: bytes, delivered_as: BusPlace | None = None, reading: Reading | None = None
    ) -> Delivery:
        """Book the message; never raises — the outcome says what to do with it.
        `delivered_as`: the message's place on the bus, the same on every redelivery
        (an Accounts Master message without an `id` is told apart by it); `reading`: the
        message read already (`readings`), read here otherwise."""
        if reading is None:
            [reading] = await readings([raw])
        stranger = self._stranger(reading)
        if stranger is not None:
            return stranger
        if self._accounts is not None and reading.account:
            return await self._receive_account(self._accounts, raw, delivered_as)
        try:
            posted = await self._ingest.book(raw, self._principal_for)
        except Rejected as error:
            return Delivery(Outcome.DEAD, reason=str(error)[:MAX_REASON], code=error.code)
        except StorageUnavailable as error:
            return Delivery(Outcome.RETRY, reason=str(error), code=error.code)
        except Exception as error:  # unexpected: transient until redeliveries run out
            log.exception("booking a bus message failed")
            return Delivery(Outcome.RETRY, reason=f"{type(error).__name__}: {error}")
        if posted.replayed:
            return Delivery(Outcome.DUPLICATE, entry=posted)
        return Delivery(Outcome.BOOKED, entry=posted)

    async def receive_many(
        self,
        raws: Sequence[bytes],
        delivered_as: Sequence[BusPlace | None] | None = None,
        read: Sequence[Reading] | None = None,
    ) -> list[Delivery]:
        """`receive` of a whole batch with one commit (Ingest.book_many); never raises.
        The database down: every message RETRY (storage_down). Anything unexpected about
        the batch as a whole: each message is received on its own instead. `read`: the
        messages read already (`readings`)."""
        places = list(delivered_as) if delivered_as is not None else [None] * len(raws)
        found = list(read) if read is not None else await readings(raws)
        try:
            if (self._accounts is not None and any(r.account for r in found)) or (
                self._tenants is not None and any(self._stranger(r) for r in found)
            ):
                return [
                    await self.receive(raw, place, reading)
                    for raw, place, reading in zip(raws, places, found, strict=True)
                ]
            results = await self._ingest.book_many(raws, self._principal_for)
        except StorageUnavailable as error:
            return [Delivery(Outcome.RETRY, reason=str(error), code=error.code) for _ in raws]
        except Exception:
            log.exception("booking a batch of bus messages failed; booking them one by one")
            return [
                await self.receive(raw, place, reading)
                for raw, place, reading in zip(raws, places, found, strict=True)
            ]
        deliveries: list[Delivery] = []
        for raw, place, reading, result in zip(raws, places, found, results, strict=True):
            if isinstance(result, PostedEntry):
                outcome = Outcome.DUPLICATE if result.replayed else Outcome.BOOKED
                deliveries.append(Delivery(outcome, entry=result))
            elif isinstance(result, Rejected):
                deliveries.append(
                    Delivery(Outcome.DEAD, reason=str(result)[:MAX_REASON], code=result.code)
                )
            else:  # not expected per message: book it alone (transient if it fails again)
                deliveries.append(await self.receive(raw, place, reading))
        return deliveries

    async def submit_account(self, principal: Principal, raw: bytes) -> AccountRecorded:
        """The in-process bus for the Accounts Master: record one AccountCreated /
        AccountUpdated handed in by a caller with `bus:ingest`, for its own tenant only
        (Forbidden otherwise), as the NATS consumer of the Accounts Master's subject
        does; MalformedMessage (Rejected) for one that cannot be recorded, and
        UnknownExternalType when no Accounts Master is wired."""
        self._authorizer.check(principal, BUS_INGEST)
        envelope = read_envelope(raw)
        if envelope.tenant != principal.tenant_id:
            raise Forbidden("the message names another tenant than the caller's")
        if self._accounts is None:
            raise UnknownExternalType(f"no Accounts Master here for {envelope.type}")
        return await self._accounts.recorded(raw)

    async def submit(self, principal: Principal, raw: bytes) -> PostedEntry:
        """The in-process bus (`POST /bus/events`): book one message handed in by a caller
        with `bus:ingest`, as that caller and for its own tenant only. Forbidden first
        (no permission, another tenant's message); then Rejected or StorageUnavailable as
        `Ingest.book` raises them — the caller gets the reason, nothing is dead-lettered."""
        self._authorizer.check(principal, BUS_INGEST)
        envelope = read_envelope(raw)
        if envelope.tenant != principal.tenant_id:
            raise Forbidden("the message names another tenant than the caller's")
        return await self._ingest.book(raw, lambda _tenant: principal)

    async def dead_lettered(
        self, raw: bytes, reason: str, code: str, where: str, *, tenant: str | None = None
    ) -> uuid.UUID:
        """Record the one AlertRaised about a dead-lettered message (`where`: where it is
        kept, e.g. the dead-letter stream and sequence), in `tenant`, else in the tenant the
        body names. StorageUnavailable propagates."""
        # A message for a tenant the bus does not book for is alerted apart, not in the
        # books of that tenant, which no one keeps.
        if tenant is None:
            unknown = code == UNKNOWN_TENANT_CODE
            tenant = UNKNOWN_TENANT if unknown else await _tenant_off_loop(raw)
        alert_id = dead_letter_alert_id(tenant, fingerprint(raw))
        # The same message dead-lettered again raises it once.
        await _raise_alert_once(
            self._uow,
            self._clock,
            tenant,
            alert_id,
            AlertRaisedData(
                severity="error",
                code=code or "dead-letter",
                message=f"a bus message was dead-lettered ({where}): {reason}"[:MAX_REASON],
            ),
        )
        log.warning("dead letter (%s) for tenant %s: %s", where, tenant, reason)
        return alert_id
