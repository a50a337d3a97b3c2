"""P5: importing events recorded elsewhere, from JSON Lines (ADR 0032).

One event a line, as `RecordedEvent` encodes with msgspec (snake_case fields: id,
tenant_id, stream_id, version, type, schema_version, status, actor, data, metadata,
parent_id, correlation_id, created_at; a `position` is accepted and ignored). Blank lines
are skipped.

* **Nothing half-written.** The file is read once, each line checked (JSON, fields, a known
  event type whose data decodes, an aware `created_at`) and written in batches (one
  statement each) inside ONE transaction: the first bad line, or an event whose stream
  and version another event holds, stops the import with its line number and rolls back
  everything it wrote. (A first version checked the whole file in a pass of its own and
  committed per batch: twice the parsing, and a conflict could leave earlier batches.)
* A journal entry is held to the ledger's rule (`check_balanced`: debits equal credits,
  amounts in øre, two lines or more), as the API, the bus and the Fiken import hold it.
* **Idempotent by event id.** An event whose id the log holds is skipped, so the same file
  (or one that overlaps an earlier import) can be imported again — when it is the same
  event: one the log holds as another (other data, stream, actor, …) is a bad line.
* **No stream begins in the middle.** After each batch every stream it touched runs from
  version 1 without a hole, all of one tenant: an event at version v > 1 needs v − 1 of
  its tenant in the log or earlier in the file (`StreamGap`). A file whose first event of
  a stream is version 3 while the log holds nothing of it, or a stream 1, 2, 4, is refused
  at the line of the event after the hole, and nothing is written (the folds assume a
  stream's history is whole). A file that goes on where the log's stream ends is taken.
  A stream's events come in version order, as an export writes them.
* The read models are rebuilt afterwards (`rebuild_projections`) by the caller.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import msgspec

from bookkeeper.application.errors import ApplicationError, ConcurrencyConflict
from bookkeeper.application.json_keys import duplicate_key
from bookkeeper.application.ports import EventImport, RecordedEvent
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    JournalEntryPostedData,
    Status,
    decode_payload,
    event_type,
)
from bookkeeper.domain.ledger import check_balanced
from bookkeeper.domain.numerals import SPELLING, misspelt_decimal
from bookkeeper.domain.tenants import TENANT_RULE, is_tenant_id
from bookkeeper.domain.text import unfit_in
from bookkeeper.domain.walk import first

#: Events per transaction: large enough for PostgreSQL's bulk path to pay off, small
#: enough that a batch's JSON stays a few MB.
BATCH = 5_000


class BadImportLine(ApplicationError):
    """A line of an import file that is not an event (or conflicts with the log)."""

    code = "bad-import-line"

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number = number
        self.reason = reason


class KnownIdDiffers(ApplicationError):
    """An event of the file whose id the log holds for another event (another tenant,
    stream, version, type, actor, correlation or data): neither is taken for the other."""

    code = "import-id-differs"

    def __init__(self, event: RecordedEvent) -> None:
        super().__init__(f"event {event.id} is in the log as another event")
        self.event = event


class UnknownParent(ApplicationError):
    """An event of the file whose parent_id names an event neither in the log nor earlier
    in the file (the log's foreign key would refuse it without saying which line)."""

    code = "import-unknown-parent"

    def __init__(self, event: RecordedEvent) -> None:
        super().__init__(f"event {event.id}: no parent {event.parent_id}")
        self.event = event


def refuse_unknown_parents(batch: Sequence[RecordedEvent], held: set[uuid.UUID]) -> None:
    """UnknownParent for the batch's first event whose parent is not among `held` (the
    parent ids the log holds) nor an earlier event of the batch."""
    seen: set[uuid.UUID] = set()
    for event in batch:
        parent = event.parent_id
        if parent is not None and parent not in held and parent not in seen:
            raise UnknownParent(event)
        seen.add(event.id)


class StreamGap(ApplicationError):
    """An event of the file at version `version` > 1 whose stream holds no version − 1 of
    the same tenant, neither in the log nor earlier in the file: the stream would begin in
    the middle, have a hole, or mix tenants."""

    code = "import-stream-gap"

    def __init__(self, stream_id: uuid.UUID, version: int, tenant_id: str) -> None:
        super().__init__(f"stream {stream_id} has no version {version - 1} before {version}")
        self.stream_id = stream_id
        self.version = version
        self.tenant_id = tenant_id


#: What the log holds of an event, as the import compares it: tenant_id, stream_id,
#: version, type, schema_version, actor, correlation_id and data (decoded JSON).
StoredEvent = tuple[str, uuid.UUID, int, str, int, str, uuid.UUID, Any]


def refuse_differing(batch: Sequence[RecordedEvent], stored: dict[uuid.UUID, StoredEvent]) -> None:
    """KnownIdDiffers for the first event of the batch that the log holds (by id) as
    another event. The stored data is decoded by its type as the file's was, so an event
    exported and imported again compares equal however its JSON was spelt."""
    for event in batch:
        held = stored.get(event.id)
        if held is None:
            continue
        tenant, stream, version, type_, schema_version, actor, correlation, data = held
        if (tenant, stream, version, type_, actor, correlation) != (
            event.tenant_id,
            event.stream_id,
            event.version,
            event.type,
            event.actor,
            event.correlation_id,
        ):
            raise KnownIdDiffers(event)
        try:
            payload = decode_payload(type_, data, schema_version)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, DomainError):
            raise KnownIdDiffers(event) from None
        if payload != event.data:
            raise KnownIdDiffers(event)


class EventLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of an import file."""

    id: uuid.UUID
    tenant_id: str
    stream_id: uuid.UUID
    version: int
    type: str
    schema_version: int
    actor: str
    data: msgspec.Raw
    correlation_id: uuid.UUID
    created_at: dt.datetime
    status: Status | None = None
    metadata: dict[str, Any] = {}
    parent_id: uuid.UUID | None = None
    position: int | None = None


_decoder = msgspec.json.Decoder(EventLine)


def _unfit_text(value: Any) -> str | None:
    """Which control character (a line break or a tab aside) or bidi override a text holds:
    the API and the bus refuse both (domain.text)."""
    return unfit_in(value, breaks=True) if isinstance(value, str) else None


def parse_line(number: int, raw: bytes) -> RecordedEvent:
    """The event on one line; BadImportLine(number) when it is not one."""
    try:
        line = _decoder.decode(raw)
        if not line.tenant_id or not line.actor:
            raise ValueError("tenant_id and actor must not be empty")
        if not is_tenant_id(line.tenant_id):
            # Events filed under a tenant no token or command can name are out of
            # everyone's reach, or read as another tenant's (domain.tenants).
            raise ValueError(
                f"tenant_id {line.tenant_id[:40]!r} is no tenant a token or command can "
                f"name ({TENANT_RULE})"
            )
        if line.version < 1:
            raise ValueError("version must be 1 or more")
        if line.created_at.tzinfo is None:
            raise ValueError("created_at needs a time zone")
        known = event_type(line.type).schema_version
        if not 1 <= line.schema_version <= known:
            # 0 or less has no upcaster; a newer one than this installation knows would
            # be stored as it came and read as if it were today's.
            raise ValueError(
                f"schema_version {line.schema_version} of {line.type} is not one this "
                f"installation reads (1 to {known})"
            )
        data = bytes(line.data)
        payload = decode_payload(line.type, data, line.schema_version)
        misspelt = misspelt_decimal(payload, data, "data", stored=True)
        if misspelt is not None:
            raise ValueError(f"{misspelt} {SPELLING}")
        repeated = duplicate_key(raw)
        if repeated is not None:  # which of the two was meant? (ADR 0049, round three)
            raise ValueError(f"{repeated} appears more than once in its object")
        unfit = first(msgspec.to_builtins(payload), _unfit_text, "$.data")
        if unfit is not None:  # read otherwise than it is stored (ADR 0049, round four)
            where, what = unfit
            raise ValueError(f"{where} must not contain {what}")
        if isinstance(payload, JournalEntryPostedData):
            # The rule every entry coming in is held to (API, bus, Fiken import): one
            # that does not balance would unbalance the tenant's books.
            check_balanced(payload.lines)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, DomainError) as error:
        raise BadImportLine(number, str(error) or type(error).__name__) from None
    return RecordedEvent(
        position=0,
        id=line.id,
        tenant_id=line.tenant_id,
        stream_id=line.stream_id,
        version=line.version,
        type=line.type,
        schema_version=line.schema_version,
        status=line.status,
        actor=line.actor,
        data=payload,
        metadata=line.metadata,
        parent_id=line.parent_id,
        correlation_id=line.correlation_id,
        created_at=line.created_at.astimezone(dt.UTC),
    )


#: The longest line read: eight times the largest body the API takes (1 MB), so no event
#: it ever recorded is refused. A reader hands over at most one byte more of a line
#: (`readline(MAX_LINE_BYTES + 1)`), so a file that is not JSON Lines is not read whole.
MAX_LINE_BYTES: Final = 8 * 1024 * 1024

#: Byte order marks of the encodings a file is not in (UTF-32 before UTF-16: they share
#: the first two bytes of the little-endian mark).
_WIDE_BOMS: Final = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_UTF8_BOM: Final = b"\xef\xbb\xbf"
#: The magic number a gzip file starts with (RFC 1952): an export compressed for the move.
_GZIP: Final = b"\x1f\x8b"


def parsed(lines: Iterable[bytes]) -> Iterator[tuple[int, RecordedEvent]]:
    """(line number, event) of every non-blank line, numbered from 1. A UTF-8 byte order
    mark before the first line is ignored (RFC 8259 § 8.1 lets a reader); a file in UTF-16
    or UTF-32 is refused by name, not as 'invalid character (byte 0)'."""
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            for mark, encoding in _WIDE_BOMS:
                if raw.startswith(mark):
                    raise BadImportLine(
                        1, f"the file is {encoding}; import reads UTF-8 (one JSON event a line)"
                    )
            if raw.startswith(_GZIP):
                raise BadImportLine(
                    1, "the file is gzip-compressed; import reads it uncompressed (gunzip it)"
                )
            raw = raw.removeprefix(_UTF8_BOM)
        if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
            raise BadImportLine(
                number, f"the line is longer than {MAX_LINE_BYTES:,} bytes: no event is"
            )
        if raw.strip():
            yield number, parse_line(number, raw)


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    lines: int
    imported: int
    skipped: int


async def import_events(
    open_lines: Callable[[], Iterable[bytes]],
    sink: EventImport,
    progress: Callable[[int], None] = lambda _: None,
    batch: int = BATCH,
) -> ImportReport:
    """Read, check and write the file in one pass and one transaction: a bad line
    (BadImportLine with its number) or a taken stream slot rolls everything back, so
    nothing of the file is written. `progress` gets the number of events handled so far
    after each batch."""
    lines = 0
    #: The batches handed to the sink last (a sink may write one while the next is read,
    #: ADR 0039): a conflict is found by its line in either.
    recent: deque[list[tuple[int, RecordedEvent]]] = deque(maxlen=2)

    def batches() -> Iterator[list[RecordedEvent]]:
        nonlocal lines
        pending: list[tuple[int, RecordedEvent]] = []
        for item in parsed(open_lines()):
            pending.append(item)
            if len(pending) >= batch:
                recent.append(pending)
                lines += len(pending)
                yield [event for _, event in pending]
                pending = []
                progress(lines)
        if pending:
            recent.append(pending)
            lines += len(pending)
            yield [event for _, event in pending]
            progress(lines)

    try:
        imported = await sink.insert_all(batches())
    except KnownIdDiffers as differs:
        candidates = [item for handed in recent for item in handed]
        number = next((n for n, e in candidates if e is differs.event), 0)
        raise BadImportLine(
            number,
            f"event {differs.event.id} is in the log (or earlier in the file) as "
            "another event: same id, other content",
        ) from None
    except UnknownParent as orphan:
        candidates = [item for handed in recent for item in handed]
        number = next((n for n, e in candidates if e is orphan.event), 0)
        raise BadImportLine(
            number,
            f"parent_id {orphan.event.parent_id} is neither in the log nor earlier in the file",
        ) from None
    except StreamGap as gap:
        slot = (gap.stream_id, gap.version)
        candidates = [item for handed in recent for item in handed]
        number = next((n for n, e in candidates if (e.stream_id, e.version) == slot), 0)
        raise BadImportLine(
            number,
            f"stream {gap.stream_id} has no version {gap.version - 1} of tenant "
            f"{gap.tenant_id} (neither in the log nor earlier in the file) before this "
            f"event's version {gap.version}: a stream is one tenant's, imported from its "
            "first event, in order, without holes",
        ) from None
    except ConcurrencyConflict as conflict:
        version = conflict.expected_version + 1
        slot = (conflict.stream_id, version)
        candidates = [item for handed in recent for item in handed]
        number = next(
            (n for n, e in candidates if (e.stream_id, e.version) == slot),
            candidates[0][0] if candidates else 0,
        )
        raise BadImportLine(
            number,
            f"stream {conflict.stream_id} already holds another event at version {version}",
        ) from None
    return ImportReport(lines=lines, imported=imported, skipped=lines - imported)


def event_rows(events: Sequence[RecordedEvent]) -> list[dict[str, Any]]:
    """The events as rows of the `events` table (without position)."""
    return [
        {
            "id": e.id,
            "tenant_id": e.tenant_id,
            "stream_id": e.stream_id,
            "version": e.version,
            "type": e.type,
            "schema_version": e.schema_version,
            "status": None if e.status is None else e.status.value,
            "actor": e.actor,
            "data": msgspec.to_builtins(e.data),
            "metadata": e.metadata,
            "parent_id": e.parent_id,
            "correlation_id": e.correlation_id,
            "created_at": e.created_at,
        }
        for e in events
    ]
