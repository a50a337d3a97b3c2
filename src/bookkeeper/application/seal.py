"""Tamper evidence for the event log: a hash chain over every committed event, sealed in
blocks, and the check that recomputes it (ADR 0024).

The triggers of migration 0001 stop UPDATE, DELETE and TRUNCATE on `events`, but a
superuser can drop or disable them. What they cannot do without it showing is change the
log behind a chain that was computed before the change:

    h_0 = 32 zero bytes
    h_i = SHA-256(h_{i-1} || canonical(event_i))

`canonical` is every stored column of the event (position, id, tenant, stream, version,
type, schema version, status, actor, data, metadata, parent, correlation, created_at) as
JSON with sorted keys, so a change to any of them, to its position, or to the order of the
log changes every hash from there on. The chain is stored per event (`event_chain`:
position, event id, hash) and closed in blocks (`seals`: first and last position, how many
events, the positions skipped as rolled back, the head hash, the previous seal's hash and
the seal's own hash). Both tables are append-only like the log (migration 0011). The
latest seal's hash, printed by `bookkeeper seal --show`, is what is kept outside the
database: with it, even a superuser who rewrites the log AND recomputes the chain and the
seals is caught (`bookkeeper verify --expect HASH`).

The sealer follows the committed log after the fact, so writers never wait for it (P1).
Positions are allocated at insert, not at commit: an event at position p may become
visible after one at p + 1. The sealer therefore only seals up to the newest event that is
older than a safety margin; a position below that which is still missing belonged to an
append that rolled back, and is recorded in the seal as skipped (so verify accepts the
hole, and flags an event that appears there later as inserted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import msgspec

from bookkeeper.application.ports import Clock

log = logging.getLogger("bookkeeper.seal")

#: The hash before the first event, and the "previous seal" of the first seal.
GENESIS: Final = bytes(32)
#: Events younger than this are not sealed yet: an append that allocated a lower position
#: may still commit (positions are allocated at insert, not at commit).
DEFAULT_MARGIN: Final = dt.timedelta(seconds=30)
#: Events per seal (one read, one bulk insert, one transaction).
DEFAULT_BATCH: Final = 2000

Problem = Literal["changed", "missing", "inserted", "out of order", "seal"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of `events`, exactly as stored."""

    position: int
    id: uuid.UUID
    tenant_id: str
    stream_id: uuid.UUID
    version: int
    type: str
    schema_version: int
    status: str | None
    actor: str
    data: Any
    metadata: Any
    parent_id: uuid.UUID | None
    correlation_id: uuid.UUID
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One row of `event_chain`: the chain's hash after the event at `position`."""

    position: int
    event_id: uuid.UUID
    hash: bytes


@dataclass(frozen=True, slots=True)
class Seal:
    """One row of `seals`: a block of the chain, closed."""

    number: int
    first_position: int
    last_position: int
    event_count: int
    skipped: tuple[int, ...]
    head_hash: bytes
    previous_seal_hash: bytes
    sealed_at: dt.datetime
    seal_hash: bytes = field(default=b"")

    def computed_hash(self) -> bytes:
        """SHA-256 over every other field: a change to any of them changes it."""
        body = {
            "number": self.number,
            "first": self.first_position,
            "last": self.last_position,
            "count": self.event_count,
            "skipped": list(self.skipped),
            "head": self.head_hash.hex(),
            "previous": self.previous_seal_hash.hex(),
            "sealed_at": _instant(self.sealed_at),
        }
        return hashlib.sha256(msgspec.json.encode(body, order="sorted")).digest()

    def describe(self) -> str:
        """The seal in one line, fit to be printed and kept elsewhere."""
        return (
            f"seal {self.number}: positions {self.first_position}..{self.last_position} "
            f"({self.event_count} events) head {self.head_hash.hex()} "
            f"seal {self.seal_hash.hex()} at {_instant(self.sealed_at)}"
        )


#: How many findings a Verification keeps to show (the rest are only counted): a log
#: rewritten from the start has a finding at every position, and memory stays bounded.
DEFAULT_SHOWN: Final = 100


@dataclass(frozen=True, slots=True)
class Finding:
    """One place where the log no longer matches its chain."""

    position: int
    problem: Problem
    detail: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.problem}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Verification:
    """What `verify` found: every finding counted (`problems`), the first `shown` of them
    kept in log order (`findings`); none when every sealed event matches."""

    findings: tuple[Finding, ...]
    checked: int
    seals: int
    unsealed: int
    head: Seal | None
    #: How many findings there were in all (findings holds the first of them).
    problems: int = 0

    @property
    def finding(self) -> Finding | None:
        """The first finding, if any."""
        return self.findings[0] if self.findings else None

    @property
    def ok(self) -> bool:
        return self.problems == 0

    @property
    def not_shown(self) -> int:
        """Findings counted but not kept."""
        return self.problems - len(self.findings)


class _Findings:
    """Counts every finding and keeps the first `shown`."""

    def __init__(self, shown: int) -> None:
        self.shown = max(shown, 0)
        self.kept: list[Finding] = []
        self.count = 0

    def add(self, finding: Finding) -> None:
        self.count += 1
        if len(self.kept) < self.shown:
            self.kept.append(finding)

    def replace(self, position: int, finding: Finding) -> None:
        """The finding kept at `position` was another than it said: `finding` instead
        (still one finding)."""
        for index in range(len(self.kept) - 1, -1, -1):
            if self.kept[index].position == position:
                self.kept[index] = finding
                return


@dataclass(slots=True)
class _Run:
    """Events in a row that did not match their chain rows (`positions`, at most
    DEFAULT_SHOWN), and the hash the chain has after them computed from the events alone
    (`chain`). If a later row or the seal's head is that hash, the events are what was
    sealed and the rows in between were altered."""

    positions: list[int]
    chain: bytes


def _chain_row_altered(position: int) -> Finding:
    detail = (
        f"the chain row of position {position} was altered (its event is what was sealed: "
        "a later row follows from the events' own hashes)"
    )
    return Finding(position, "seal", detail)


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def canonical(event: StoredEvent) -> bytes:
    """The bytes of an event the chain covers: every column, keys sorted."""
    return msgspec.json.encode(
        {
            "position": event.position,
            "id": str(event.id),
            "tenant": event.tenant_id,
            "stream": str(event.stream_id),
            "version": event.version,
            "type": event.type,
            "schema_version": event.schema_version,
            "status": event.status,
            "actor": event.actor,
            "data": event.data,
            "metadata": event.metadata,
            "parent": _uuid(event.parent_id),
            "correlation": str(event.correlation_id),
            "created_at": _instant(event.created_at),
        },
        order="sorted",
    )


def link(previous: bytes, event: StoredEvent) -> bytes:
    """h_i = SHA-256(h_{i-1} || canonical(event_i))."""
    return hashlib.sha256(previous + canonical(event)).digest()


class SealStore(Protocol):
    """The log, its chain and its seals, read and appended (never changed)."""

    async def latest_seal(self) -> Seal | None:
        """The newest seal, None before the first."""
        ...

    async def times_after(self, position: int, limit: int) -> Sequence[tuple[int, dt.datetime]]:
        """(position, created_at) of committed events after `position`, in order, at most
        `limit` (cheap: no payload)."""
        ...

    async def events_between(self, first: int, last: int) -> Sequence[StoredEvent]:
        """The events with first <= position <= last, in order."""
        ...

    async def append_seal(self, links: Sequence[ChainLink], seal: Seal) -> bool:
        """Store a block's links and its seal in one transaction; False when another
        sealer stored that block first (nothing is written then)."""
        ...

    def seals(self, from_position: int) -> AsyncIterator[Seal]:
        """The seals whose last position is at least `from_position`, in order."""
        ...

    async def seal_before(self, position: int) -> Seal | None:
        """The newest seal that ends before `position`."""
        ...

    async def links_between(self, first: int, last: int) -> Sequence[ChainLink]:
        """The chain's rows with first <= position <= last, in order."""
        ...

    async def link_of_event(self, event_id: uuid.UUID) -> ChainLink | None:
        """Where the chain has the event with this id, if anywhere."""
        ...

    async def position_of_event(self, event_id: uuid.UUID) -> int | None:
        """Where the log has the event with this id now, if anywhere."""
        ...

    async def count_after(self, position: int) -> int:
        """How many events the log holds after `position` (not sealed yet)."""
        ...

    async def last_link_position(self) -> int | None:
        """The highest position the chain has a row for (None: no row)."""
        ...


class Sealer:
    """Extends the chain over the committed log, one sealed block per batch."""

    def __init__(
        self,
        store: SealStore,
        clock: Clock,
        *,
        margin: dt.timedelta = DEFAULT_MARGIN,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self._store = store
        self._clock = clock
        self.margin = margin
        self.batch = batch

    async def seal(self) -> list[Seal]:
        """Seal everything that is old enough; the seals made (none when caught up)."""
        made: list[Seal] = []
        while True:
            seal = await self.seal_once()
            if seal is None:
                return made
            made.append(seal)

    async def run(self) -> bool:
        """A scheduler job: seal what is due (never asks to run again at once)."""
        await self.seal()
        return False

    async def seal_once(self) -> Seal | None:
        """Seal one block, or None when there is nothing old enough to seal."""
        latest = await self._store.latest_seal()
        after = latest.last_position if latest is not None else 0
        previous_hash = latest.head_hash if latest is not None else GENESIS
        previous_seal = latest.seal_hash if latest is not None else GENESIS
        number = latest.number + 1 if latest is not None else 1
        now = self._clock.now()
        horizon = now - self.margin
        candidates = await self._store.times_after(after, self.batch)
        # The newest event old enough: everything up to it has either committed by now or
        # rolled back. Younger events after it wait for the next run (even a younger one
        # below it is sealed: appends stamp and insert in slightly different orders).
        old = [position for position, created_at in candidates if created_at <= horizon]
        if not old:
            return None
        last = old[-1]
        block = await self._store.events_between(after + 1, last)
        links: list[ChainLink] = []
        head = previous_hash
        for event in block:
            head = link(head, event)
            links.append(ChainLink(event.position, event.id, head))
        present = {e.position for e in block}
        skipped = tuple(p for p in range(after + 1, last + 1) if p not in present)
        draft = Seal(
            number=number,
            first_position=after + 1,
            last_position=last,
            event_count=len(block),
            skipped=skipped,
            head_hash=head,
            previous_seal_hash=previous_seal,
            sealed_at=now,
        )
        seal = _with_hash(draft)
        if not await self._store.append_seal(links, seal):
            newest = await self._store.latest_seal()
            if (newest.number if newest is not None else 0) < number:
                # No other sealer stored this block: its chain rows were already there,
                # left by a seal that is gone. Nothing can be sealed past them any more.
                log.error(
                    "cannot seal: the hash chain has rows past the newest seal, so seal "
                    "%d was deleted; run `bookkeeper verify` (nothing is sealed until the "
                    "chain is repaired)",
                    number,
                )
            return None
        return seal

    async def latest(self) -> Seal | None:
        """The newest seal (what `bookkeeper seal --show` prints)."""
        return await self._store.latest_seal()


def _with_hash(seal: Seal) -> Seal:
    return Seal(
        number=seal.number,
        first_position=seal.first_position,
        last_position=seal.last_position,
        event_count=seal.event_count,
        skipped=seal.skipped,
        head_hash=seal.head_hash,
        previous_seal_hash=seal.previous_seal_hash,
        sealed_at=seal.sealed_at,
        seal_hash=seal.computed_hash(),
    )


async def verify(
    store: SealStore,
    *,
    from_position: int = 1,
    expect: bytes | None = None,
    shown: int = DEFAULT_SHOWN,
) -> Verification:
    """Recompute the chain from `from_position` (trusting the seal before it) and compare
    it with the log: every position that no longer matches, in log order, counted, the
    first `shown` of them kept (a seal's block at a time in memory, whatever the log's
    size).

    After a finding the check goes on from the chain as it was sealed (the stored hash
    of that position), so each later event is judged on its own: a changed event is one
    finding, not one for every event after it. `expect` is a seal hash kept outside the
    database: the chain must still contain a seal with that hash, or the seals
    themselves were rewritten."""
    found = _Findings(shown)
    # Read before the seals: a block sealed meanwhile commits its rows with its seal, so
    # every row up to here belongs to a seal the walk below will see (unless deleted).
    chained_to = await store.last_link_position() or 0
    before = await store.seal_before(from_position)
    chain = before.head_hash if before is not None else GENESIS
    seal_link = before.seal_hash if before is not None else GENESIS
    checked = 0
    count = 0
    head: Seal | None = before
    expected_seen = expect is None or (before is not None and before.seal_hash == expect)
    async for seal in store.seals(from_position):
        count += 1
        number = head.number + 1 if head is not None else 1
        first = head.last_position + 1 if head is not None else 1
        gap = seal.number != number
        if gap:
            which = (
                f"seal {number} is"
                if seal.number == number + 1 or seal.number <= number
                else f"seals {number}..{seal.number - 1} are"
            )
            found.add(Finding(min(first, seal.first_position), "seal", f"{which} missing"))
        if seal.first_position > first:
            # The missing seals' events still have their chain rows: check them against
            # those (what the seals skipped as rolled back is not known any more).
            lost_block = Seal(
                number=number,
                first_position=first,
                last_position=seal.first_position - 1,
                event_count=0,
                skipped=(),
                head_hash=b"",
                previous_seal_hash=seal_link,
                sealed_at=seal.sealed_at,
            )
            chain = await _check_block(store, lost_block, chain, from_position, found, lost=True)
        # After a missing seal this one cannot link to the one before it: that is the
        # same finding, not another.
        linked = gap or seal.previous_seal_hash == seal_link
        if not linked or seal.computed_hash() != seal.seal_hash:
            found.add(Finding(seal.first_position, "seal", f"seal {seal.number} was altered"))
        chain = await _check_block(store, seal, chain, from_position, found)
        checked += seal.event_count
        seal_link = seal.seal_hash
        head = seal
        if expect is not None and seal.seal_hash == expect:
            expected_seen = True
    sealed_to = head.last_position if head is not None else 0
    if chained_to > sealed_to:
        # No later seal says so, but the chain's rows do: the newest seals are gone. Their
        # events are still checked against those rows.
        number = head.number + 1 if head is not None else 1
        detail = f"seal {number} is missing (the chain goes on to position {chained_to})"
        found.add(Finding(sealed_to + 1, "seal", detail))
        lost_block = Seal(
            number=number,
            first_position=sealed_to + 1,
            last_position=chained_to,
            event_count=0,
            skipped=(),
            head_hash=b"",
            previous_seal_hash=seal_link,
            sealed_at=dt.datetime.min.replace(tzinfo=dt.UTC),
        )
        chain = await _check_block(store, lost_block, chain, from_position, found, lost=True)
    if not expected_seen:
        position = sealed_to
        found.add(
            Finding(position, "seal", f"no seal has the hash {expect.hex() if expect else ''}")
        )
    unsealed = await store.count_after(max(sealed_to, chained_to))
    return Verification(tuple(found.kept), checked, count, unsealed, head, found.count)


async def _check_block(
    store: SealStore,
    seal: Seal,
    chain: bytes,
    start: int,
    found: _Findings,
    *,
    lost: bool = False,
) -> bytes:
    """Check one sealed block, adding what is wrong to `found`; the chain after it.
    `lost`: the block of seals that are missing (its skipped positions and head are not
    known: a position with neither event nor chain row is no finding, and there is no
    head to compare with). A block is read DEFAULT_BATCH positions at a time: a sealed
    one holds at most a batch of events, but a lost one spans every seal deleted, and a
    seal whose last position was altered whatever range it was given."""
    first, last = seal.first_position, seal.last_position
    window = DEFAULT_BATCH
    linked = 0
    # Verifying from inside this block: count its chain rows before the start, and trust
    # the stored hash of the last of them.
    for low in range(first, min(start, last + 1), window):
        earlier = await store.links_between(low, min(low + window - 1, start - 1, last))
        linked += len(earlier)
        if earlier:
            chain = earlier[-1].hash
    run: _Run | None = None
    for low in range(max(first, start), last + 1, window):
        high = min(low + window - 1, last)
        links = {x.position: x for x in await store.links_between(low, high)}
        events = {e.position: e for e in await store.events_between(low, high)}
        linked += len(links)
        chain, run = await _check_window(
            store, seal, links, events, low, high, chain, found, lost, run
        )
    if lost:
        return chain
    if run is not None and chain != seal.head_hash and run.chain == seal.head_hash:
        for position in run.positions:
            found.replace(position, _chain_row_altered(position))
        chain = seal.head_hash
    if linked != seal.event_count or chain != seal.head_hash:
        detail = f"seal {seal.number}'s chain rows do not add up to its head"
        found.add(Finding(seal.first_position, "seal", detail))
    return chain


async def _check_window(
    store: SealStore,
    seal: Seal,
    links: dict[int, ChainLink],
    events: dict[int, StoredEvent],
    low: int,
    high: int,
    chain: bytes,
    found: _Findings,
    lost: bool,
    run: _Run | None,
) -> tuple[bytes, _Run | None]:
    """Check positions low..high of a block against its chain rows; the chain after them,
    and the run of events that did not match their rows still open at `high`."""
    skipped = set(seal.skipped)
    for position in range(low, high + 1):
        chained = links.get(position)
        event = events.get(position)
        if chained is None or event is None or event.id != chained.event_id:
            run = None  # another finding here: the run's stay as they are
        if chained is None and event is None:
            if position in skipped or lost:
                continue
            detail = "the event and its chain row are gone"
            found.add(Finding(position, "missing", detail))
            continue
        if chained is None and event is not None:
            where = "a position sealed as rolled back" if position in skipped else "the chain"
            moved = await store.link_of_event(event.id)
            if moved is not None:
                detail = f"event {event.id} was sealed at position {moved.position}"
                found.add(Finding(position, "out of order", detail))
            else:
                found.add(Finding(position, "inserted", f"event {event.id} is not in {where}"))
            continue  # an event the chain does not have: the chain goes on without it
        assert chained is not None
        if position in skipped:
            detail = f"seal {seal.number} both chains and skips this position"
            found.add(Finding(position, "seal", detail))
        elif event is None:
            now_at = await store.position_of_event(chained.event_id)
            if now_at is not None:
                detail = f"event {chained.event_id} sealed here is now at position {now_at}"
                found.add(Finding(position, "out of order", detail))
            else:
                found.add(Finding(position, "missing", f"event {chained.event_id} was deleted"))
        elif event.id != chained.event_id:
            moved = await store.link_of_event(event.id)
            if moved is not None:
                detail = (
                    f"event {event.id} was sealed at position {moved.position}, "
                    f"event {chained.event_id} was sealed here"
                )
                found.add(Finding(position, "out of order", detail))
            else:
                detail = f"event {event.id} replaced event {chained.event_id}"
                found.add(Finding(position, "inserted", detail))
        else:
            recomputed = link(chain, event)
            if run is not None:
                run.chain = link(run.chain, event)
                if run.chain == chained.hash:
                    # The events' own chain meets the rows again: the events of the run
                    # are what was sealed, their rows were altered.
                    for altered in run.positions:
                        found.replace(altered, _chain_row_altered(altered))
                    run = None
                    chain = chained.hash
                    continue
            if recomputed == chained.hash:
                chain = recomputed
                continue
            detail = f"event {event.id} ({event.type}) differs from what was sealed"
            found.add(Finding(position, "changed", detail))
            if run is None:
                run = _Run([position], recomputed)
            elif len(run.positions) < DEFAULT_SHOWN:
                run.positions.append(position)
            else:
                run = None
        # Go on from the chain as sealed here, so the next event is judged on its own.
        chain = chained.hash
    return chain, run


# --- The projections (ADR 0024 addendum 2: `verify --projections`) -----------------------

ProjectionProblem = Literal["changed", "missing", "extra"]


@dataclass(frozen=True, slots=True)
class ProjectionDifference:
    """One row of a projection that is not what the log folds to: `changed` (the key is
    in both, `columns` differ: each as "name (log …, table …)"), `missing` (the log gives
    the row, the table has not got it) or `extra` (the table has a row the log does not
    give). `key` names the row: (column, value) pairs of its primary key."""

    table: str
    key: tuple[tuple[str, str], ...]
    problem: ProjectionProblem
    columns: tuple[str, ...] = ()

    def __str__(self) -> str:
        key = " ".join(f"{name}={value}" for name, value in self.key)
        detail = {
            "changed": ", ".join(self.columns),
            "missing": "the log gives this row, the table does not have it",
            "extra": "the table has this row, the log does not give it",
        }[self.problem]
        return f"{self.table} {key}: {self.problem}: {detail}"


@dataclass(frozen=True, slots=True)
class ProjectionCheck:
    """What `verify --projections` found: the log up to `head` refolded and compared with
    the projections as of the same moment; every difference counted (`problems`), the
    first `shown` kept (`differences`, table by table in key order)."""

    differences: tuple[ProjectionDifference, ...]
    problems: int
    head: int
    tables: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.problems == 0

    @property
    def not_shown(self) -> int:
        return self.problems - len(self.differences)
