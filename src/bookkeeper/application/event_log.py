"""Building events for the log: one way to stamp a NewEvent, and every derived id.

Every event the application appends is made here — by `stamp` (one event) or `chain` (an
aggregate's pending events, each answering the one before; `following`: after a stream's
last event, in its correlation) — so that stream, version, parent, correlation, actor, time
and the schema version come out the same way everywhere.

Ids that must be the same on a retry (an idempotency key, a posting of a proposal, an
alert, a proposal read from a stored document, a pattern suggestion) are uuid5 of a fixed
namespace and a name. The namespaces and the way each name is spelled are fixed forever:
ids already in a log were derived with them, so changing one would let a retry create a
second object. They all live in `Namespaces`, and each derivation has one function here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from hashlib import sha1
from typing import Any, Final

from bookkeeper.application.ports import Ids, NewEvent, RecordedEvent, UnitOfWorkFactory
from bookkeeper.domain.events import Payload, event_type
from bookkeeper.domain.proposals import PendingEvent


class Namespaces:
    """The uuid5 namespaces of derived ids (fixed forever, see the module docstring)."""

    #: POST /events with an Idempotency-Key: (tenant, actor, key).
    IDEMPOTENCY: Final = uuid.UUID("6f1c1d2e-8a51-4a57-9d0e-3b1f0c4e2a90")
    #: The journal entry a proposal's execution posts: (proposal, purpose).
    POSTING: Final = uuid.UUID("0d5c3f0e-6a43-4f1e-8f5b-1c2a9e7d4b60")
    #: POST /journal-entries with an Idempotency-Key: (tenant, actor, key).
    MANUAL_ENTRY: Final = uuid.UUID("3b7f5a0c-2d64-4c1e-9a8f-6e0d1c5b7a42")
    #: An alert about one proposal: (proposal, code).
    ALERT: Final = uuid.UUID("3b0f8c52-5f1e-4a0e-9d7c-6a2f1e4b8c13")
    #: The proposal made from a stored document: (tenant, sha256).
    DOCUMENT_PROPOSAL: Final = uuid.UUID("3d0b7c52-6f6e-4a43-9a1e-7c2f0e9b5d11")
    #: The pattern suggested after an approval: (tenant, approved proposal).
    SUGGESTION: Final = uuid.UUID("9a7e4c1d-2b3f-4e5a-8c6d-0f1e2d3c4b5a")
    #: Sandbox books and bank objects: (tenant, path parts).
    SANDBOX: Final = uuid.UUID("2b0f7d3e-5c41-4e8a-9a57-6d1c0e9b4f21")
    #: The journal entry booked from an external event: (tenant, source, type, business key).
    EXTERNAL_ENTRY: Final = uuid.UUID("7c2e9a41-3f5d-4b8e-a1c6-5d0f2e8b9a37")
    #: The alert about a dead-lettered external message: (tenant, message fingerprint).
    DEAD_LETTER: Final = uuid.UUID("4e8b1f6a-9c2d-4a7e-b3f5-0d6c1a9e2b84")
    #: A public bus message about one line of an entry: (entry event id, line number).
    PUBLISHED_LINE: Final = uuid.UUID("a5d3c7e1-2b4f-4c9a-8e6d-1f0b3a5c7e92")
    #: A scheduled job's run for one tenant and day: (tenant, job, ISO date).
    SCHEDULED_RUN: Final = uuid.UUID("7c4e2a91-3d5b-4f60-8e1a-2b9c0d7f5e34")
    #: The notice that a scheduled run's summary was sent: (run id).
    RUN_NOTICE: Final = uuid.UUID("e1a5b3c7-9d2f-4a68-b0c4-5f7e8d9a1b26")
    #: Issue 12: what the compliance context records about one posted entry: (entry
    #: event id, purpose: "finding", "alert" or "reversal").
    COMPLIANCE: Final = uuid.UUID("5b2d8e14-7c3a-4f69-a1e0-9d4c6b2f8a57")
    #: A cost snapshot's stream: (tenant, source, UTC day, service, model).
    COST_SNAPSHOT: Final = uuid.UUID("5b2d8e14-7a3c-4f91-b6e0-9c1d4a7f2e58")
    #: A revision of a cost snapshot: (stream, revision, amount).
    COST_REVISION: Final = uuid.UUID("c8e3a1f5-2b6d-4e07-9a4c-3f5b7d1e9a62")
    #: A tenant's setting for one spending source: (tenant, kind, source).
    SPENDING_SETTING: Final = uuid.UUID("0e7a4c92-5d1b-4b3f-8e6a-2c9d0f4b7a15")
    #: A budget alert: (tenant, source, month, threshold).
    BUDGET_ALERT: Final = uuid.UUID("9d4f1b73-6e2a-4c58-a1b9-7e0c3d5f8a24")
    #: Issue 14 (P5): a journal entry imported from the books: (tenant, what, books id,
    #: purpose); and the stream of a tenant's import runs: (tenant, "runs").
    BOOKS_IMPORT: Final = uuid.UUID("e3c1a7f4-8b2d-4f5e-9a60-1d7c3b5e2f48")
    #: A period closed or reopened, a VAT term locked or unlocked: (tenant, change, kind,
    #: first day, when).
    PERIOD_CHANGE: Final = uuid.UUID("2f6a9c1e-4d7b-4e3a-8c5f-0b1d9e7a3c62")
    #: A failed execution marked resolved by a person: (tenant, proposal).
    FAILURE_RESOLVED: Final = uuid.UUID("6b0e2d94-3a7c-4f18-b5e1-9c4d7a2f0e83")


def idempotent_event_id(tenant_id: str, actor: str, key: str) -> uuid.UUID:
    """The event id of a submission retried with the same Idempotency-Key."""
    return uuid.uuid5(Namespaces.IDEMPOTENCY, f"{tenant_id}\x00{actor}\x00{key}")


def posting_id(proposal_id: uuid.UUID, purpose: str = "posting") -> uuid.UUID:
    """The entry id of a proposal's posting ("posting", or "reversal" for the mirror a
    correction posts first): derived, so a retried execution cannot post it twice."""
    return uuid.uuid5(Namespaces.POSTING, f"{proposal_id}:{purpose}")


def manual_entry_id(tenant_id: str, actor: str, key: str) -> uuid.UUID:
    """The id of a manual journal entry posted with an Idempotency-Key."""
    return uuid.uuid5(Namespaces.MANUAL_ENTRY, f"{tenant_id}\x00{actor}\x00{key}")


def alert_id(proposal_id: uuid.UUID, code: str) -> uuid.UUID:
    """The stream (and event id) of the one alert of a kind about a proposal."""
    return uuid.uuid5(Namespaces.ALERT, f"{proposal_id}:{code}")


def document_proposal_id(tenant_id: str, sha256: str) -> uuid.UUID:
    """The proposal made from a stored document: one per tenant and file content."""
    return uuid.uuid5(Namespaces.DOCUMENT_PROPOSAL, f"{tenant_id}\x00{sha256}")


def failure_resolved_id(tenant_id: str, proposal_id: uuid.UUID, version: int) -> uuid.UUID:
    """The one ExecutionFailureResolved of a failure of a proposal (its stream and event id),
    `version` the proposal's while FAILED: marking it resolved again is a duplicate, not a
    second record; after a person's retry (ADR 0009 addendum) a new failure is a new one."""
    return uuid.uuid5(Namespaces.FAILURE_RESOLVED, f"{tenant_id}\x00{proposal_id}\x00{version}")


def suggestion_id(tenant_id: str, proposal_id: uuid.UUID) -> uuid.UUID:
    """The pattern suggestion learned from one approved proposal."""
    return uuid.uuid5(Namespaces.SUGGESTION, f"{tenant_id}\x00{proposal_id}")


def external_entry_id(tenant_id: str, source: str, type_name: str, key: str) -> uuid.UUID:
    """The journal entry booked from an external event: uuid5 of its source, type and
    business key (an invoice number, a payroll run id) — and the tenant, so two tenants of
    one invoicing service never share an entry. A redelivery derives the same id, and the
    append at version 0 makes it a duplicate (decision 15)."""
    return uuid.uuid5(Namespaces.EXTERNAL_ENTRY, "\x00".join((tenant_id, source, type_name, key)))


def dead_letter_alert_id(tenant_id: str, fingerprint: str) -> uuid.UUID:
    """The one AlertRaised about a dead-lettered message (sha256 of its body)."""
    return uuid.uuid5(Namespaces.DEAD_LETTER, f"{tenant_id}\x00{fingerprint}")


def published_line_id(event_id: uuid.UUID, line_no: int) -> uuid.UUID:
    """The Nats-Msg-Id of the AccountDebited/AccountCredited of one line of an entry."""
    return uuid.uuid5(Namespaces.PUBLISHED_LINE, f"{event_id}:{line_no}")


_PUBLISHED_LINE_BYTES: Final = Namespaces.PUBLISHED_LINE.bytes


def published_line_texts(event_id: str, lines: int) -> list[str]:
    """`str(published_line_id(event_id, n))` for n in range(lines), without building a
    UUID object per line (the bus-publisher derives one per published line): the same
    uuid5 — sha1 of namespace and name, version 5, RFC 4122 variant — spelled directly."""
    texts: list[str] = []
    for number in range(lines):
        name = _PUBLISHED_LINE_BYTES + f"{event_id}:{number}".encode()
        digest = bytearray(sha1(name, usedforsecurity=False).digest())
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        h = digest[:16].hex()
        texts.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return texts


def sandbox_id(tenant_id: str, *parts: str) -> str:
    """A sandbox object's id, stable across restarts and re-seeding."""
    return str(uuid.uuid5(Namespaces.SANDBOX, "/".join((tenant_id, *parts))))


def scheduled_run_id(tenant_id: str, job: str, day: dt.date) -> uuid.UUID:
    """The stream (and first event id) of a daily job's run for one tenant and day (the
    day in Norway): every replica derives the same, so only one run is ever appended."""
    return uuid.uuid5(Namespaces.SCHEDULED_RUN, f"{tenant_id}\x00{job}\x00{day.isoformat()}")


def run_notice_id(run_id: uuid.UUID) -> uuid.UUID:
    """The event recording that a scheduled run's summary was posted."""
    return uuid.uuid5(Namespaces.RUN_NOTICE, str(run_id))


def run_claim_id(run_id: uuid.UUID, version: int = 0) -> uuid.UUID:
    """The stream of a scheduled run's claims (version 0), and the id of its claim at
    `version` (1, 2 …): every replica derives the same, so one takes each turn."""
    return uuid.uuid5(Namespaces.RUN_NOTICE, f"claim\x00{run_id}\x00{version}")


def compliance_id(entry_event_id: uuid.UUID, purpose: str) -> uuid.UUID:
    """The compliance context's finding, alert or reversal proposal about one entry."""
    return uuid.uuid5(Namespaces.COMPLIANCE, f"{entry_event_id}:{purpose}")


def cost_snapshot_id(
    tenant_id: str, source: str, day: dt.date, service: str, model: str | None
) -> uuid.UUID:
    """The stream (and first event id) of one cost snapshot: every pull of the same source,
    day, service and model derives it, so a repeated pull records nothing new."""
    name = "\x00".join((tenant_id, source, day.isoformat(), service, model or ""))
    return uuid.uuid5(Namespaces.COST_SNAPSHOT, name)


def cost_revision_id(stream_id: uuid.UUID, revision: int, fingerprint: str) -> uuid.UUID:
    """The id of a snapshot's revision `revision` (2, 3 …) with the figure `fingerprint`."""
    return uuid.uuid5(Namespaces.COST_REVISION, f"{stream_id}:{revision}:{fingerprint}")


def period_change_id(
    tenant_id: str, change: str, kind: str, start: dt.date, end: dt.date, at: dt.datetime
) -> uuid.UUID:
    """The record of one close or reopening of a tenant's period (or VAT term); by both
    ends, since a year and its January start on the same day and may close together."""
    return uuid.uuid5(
        Namespaces.PERIOD_CHANGE,
        "\x00".join((tenant_id, change, kind, start.isoformat(), end.isoformat(), at.isoformat())),
    )


def spending_setting_id(tenant_id: str, kind: str, source: str) -> uuid.UUID:
    """The stream of a tenant's budget ("budget") or price table ("prices") of a source."""
    return uuid.uuid5(Namespaces.SPENDING_SETTING, "\x00".join((tenant_id, kind, source)))


def budget_alert_id(tenant_id: str, source: str, month: str, threshold: int) -> uuid.UUID:
    """The one alert that a source reached `threshold` % of its budget in `month` (YYYY-MM)."""
    return uuid.uuid5(
        Namespaces.BUDGET_ALERT, "\x00".join((tenant_id, source, month, str(threshold)))
    )


def imported_entry_id(tenant_id: str, what: str, books_id: str, purpose: str) -> uuid.UUID:
    """The journal entry imported from one record of the books ("journal entry",
    "purchase", "sale" and its Fiken id) for one purpose ("posting", "reversal",
    "payment:<id>"): a second import of the same record derives the same id."""
    return uuid.uuid5(Namespaces.BOOKS_IMPORT, "\x00".join((tenant_id, what, books_id, purpose)))


def books_import_runs_id(tenant_id: str) -> uuid.UUID:
    """The stream of a tenant's `import fiken` runs (where the last one got to)."""
    return uuid.uuid5(Namespaces.BOOKS_IMPORT, f"{tenant_id}\x00runs")


def stamp(
    type_name: str,
    data: Payload,
    *,
    event_id: uuid.UUID,
    actor: str,
    at: dt.datetime,
    correlation_id: uuid.UUID,
    parent_id: uuid.UUID | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> NewEvent:
    """One event of a known type, ready to append: its schema version and status come
    from the catalogue (an unknown type raises UnknownEventType)."""
    etype = event_type(type_name)
    return NewEvent(
        id=event_id,
        type=etype.name,
        schema_version=etype.schema_version,
        status=etype.status,
        actor=actor,
        data=data,
        metadata=dict(metadata) if metadata else {},
        parent_id=parent_id,
        correlation_id=correlation_id,
        created_at=at,
    )


def chain(
    pending: Sequence[PendingEvent],
    *,
    ids: Ids,
    parent_id: uuid.UUID | None,
    correlation_id: uuid.UUID,
    at: dt.datetime,
    first_id: uuid.UUID | None = None,
    first_metadata: Mapping[str, Any] | None = None,
) -> list[NewEvent]:
    """An aggregate's pending events as NewEvents, each answering the one before (the first
    answers `parent_id`). `first_id` and `first_metadata` go on the first event only."""
    new: list[NewEvent] = []
    parent = parent_id
    for index, event in enumerate(pending):
        first = index == 0
        event_id = first_id if first and first_id is not None else ids.new_id()
        etype = event_type(event.type)
        new.append(
            NewEvent(
                id=event_id,
                type=etype.name,
                schema_version=etype.schema_version,
                status=event.status,
                actor=event.actor,
                data=event.data,
                metadata=dict(first_metadata) if first and first_metadata else {},
                parent_id=parent,
                correlation_id=correlation_id,
                created_at=at,
            )
        )
        parent = event_id
    return new


def following(
    stream: Sequence[RecordedEvent],
    pending: Sequence[PendingEvent],
    *,
    ids: Ids,
    at: dt.datetime,
    first_metadata: Mapping[str, Any] | None = None,
) -> list[NewEvent]:
    """An aggregate's pending events as the next events of its (non-empty) stream: `chain`
    after the stream's last event, in the correlation its first event began
    (`first_metadata` on the first of them)."""
    return chain(
        pending,
        ids=ids,
        parent_id=stream[-1].id,
        correlation_id=stream[0].correlation_id,
        at=at,
        first_metadata=first_metadata,
    )


async def record_alone(uow_factory: UnitOfWorkFactory, tenant_id: str, event: NewEvent) -> None:
    """Append one event as a stream of its own (its id is the stream's) and commit: how a
    read-only query, a check or an extraction is recorded."""
    async with uow_factory() as uow:
        await uow.events.append(tenant_id, event.id, 0, [event])
        await uow.commit()
