"""New proposals written together: one statement and one commit for those that wait (ADR 0053).

On PostgreSQL a new proposal is written by one statement in autocommit
(`ProposalStatements.record`, ADR 0041): its event and its view, committed when the
statement returns. Under load many of them wait for that round trip at once, each on its
own pooled connection, and each pays a statement, a commit (a WAL flush) and a socket
round trip of its own.

`GroupWriter` lets them share: at most `leaders` writes are in flight per process; a
proposal that finds a free place writes at once, alone, with the single statement, exactly
as before (so a quiet server waits for nothing). One that finds none joins a queue, and
when a write in flight returns, its writer hands the lead to the head of the queue, which
writes everything queued (up to `max_batch`) with `record_many` — one statement, one
commit — on its own connection, and gives each waiter its row. No timer, no extra
connection: a batch forms only while the database is busy anyway.

A batch is atomic like the single statement: all of it is committed or none. What one
proposal of it conflicts on (its event id or its stream's version taken, as a replayed
request) is not written and gets no row, exactly as alone, and the rest are written. If
the batch's statement fails, nothing of it was written, and every proposal in it is
written again alone by its own caller, so an error reaches only the request it belongs to.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from psycopg.types.json import Jsonb
from sqlalchemy import TextClause, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

from bookkeeper.adapters.sql.schema import events, proposals
from bookkeeper.adapters.sql.session import AnyRow, Hot, SqlSession

#: The most proposals one statement writes (its JSON parameter stays well under 1 MB).
MAX_BATCH: Final = 64
#: Writes in flight per process: one batch forms while the others are on their way.
LEADERS: Final = 2

#: Prefix of a view's columns among the batch's fields (the event's take the plain names).
_VIEW: Final = "p_"


class _Lead:
    """What a waiter is given when it is to write the next batch itself."""


class _Alone:
    """What a waiter is given when its batch failed: it writes its proposal alone."""


_LEAD: Final = _Lead()
_ALONE: Final = _Alone()


class _Waiter:
    __slots__ = ("future", "params")

    def __init__(self, params: dict[str, Any], future: asyncio.Future[Any] | None) -> None:
        self.params = params
        self.future = future


def _unwrap(value: Any) -> Any:
    """msgspec's hook for the bind values it does not know: psycopg's Jsonb holds the
    JSON value itself (a msgspec.Raw for an event's payload, encoded once)."""
    if isinstance(value, Jsonb):
        return value.obj
    raise TypeError(f"cannot put {type(value).__name__} into a batch")


_ENCODER: Final = msgspec.json.Encoder(enc_hook=_unwrap)


def record_many_statement() -> TextClause:
    """`record`'s batch form: the proposals as one JSON array of records (`rows`, each the
    event's columns, the view's with the `p_` prefix and its place `n`), typed by the
    tables' own column types; the events inserted in that order (ON CONFLICT DO NOTHING,
    as `append`), the views of the inserted ones upserted (as `record`), and for each
    proposal written its event's id and position."""
    dialect = psycopg_dialect()  # type: ignore[no-untyped-call]
    event_columns = [c for c in events.c if c.name != "position"]
    fields = [f"{c.name} {c.type.compile(dialect=dialect)}" for c in event_columns]
    fields += [f"{_VIEW}{c.name} {c.type.compile(dialect=dialect)}" for c in proposals.c]
    fields.append("n integer")
    event_names = ", ".join(c.name for c in event_columns)
    view_names = ", ".join(c.name for c in proposals.c)
    view_values = ", ".join(
        "a.position" if c.name == "last_position" else f"b.{_VIEW}{c.name}" for c in proposals.c
    )
    updates = ", ".join(f"{c.name} = excluded.{c.name}" for c in proposals.c if c.name != "id")
    return text(
        # Fixed names from the schema, never input: noqa S608.
        f"WITH b AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "  # noqa: S608
        f"AS b({', '.join(fields)})), "
        f"appended AS (INSERT INTO events ({event_names}) "
        f"SELECT {', '.join('b.' + c.name for c in event_columns)} FROM b ORDER BY b.n "
        "ON CONFLICT DO NOTHING RETURNING id, position), "
        f"viewed AS (INSERT INTO proposals ({view_names}) "
        f"SELECT {view_values} FROM b JOIN appended a ON a.id = b.id "
        f"ON CONFLICT (id) DO UPDATE SET {updates} RETURNING last_position) "
        "SELECT a.id, a.position FROM appended a JOIN viewed v ON v.last_position = a.position"
    )


class GroupWriter:
    """New proposals' writes of one process, batched while the database is busy."""

    def __init__(
        self, single: Hot, many: Hot, *, leaders: int = LEADERS, max_batch: int = MAX_BATCH
    ) -> None:
        if leaders < 1 or max_batch < 1:
            raise ValueError("leaders and max_batch must be at least 1")
        self._single = single
        self._many = many
        self._leaders = leaders
        self._max_batch = max_batch
        #: Writes in flight, and leads handed to a waiter not yet taken up.
        self._in_flight = 0
        self._queue: deque[_Waiter] = deque()
        #: For the tests and the ADR's counts: statements sent, proposals in them.
        self.batches = 0
        self.batched = 0

    async def write(self, session: SqlSession, params: dict[str, Any]) -> Sequence[AnyRow]:
        """Write one new proposal (`record`'s parameters) on `session`'s connection or in
        another's batch; its rows as `record` returns them (none: nothing was written)."""
        if self._in_flight < self._leaders and not self._queue:
            self._in_flight += 1
            return await self._lead(session, _Waiter(params, None))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(params, future)
        self._queue.append(waiter)
        try:
            outcome = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.result() is _LEAD:
                self._hand_on()  # the lead must not be lost with this request
            raise
        if outcome is _LEAD:
            return await self._lead(session, waiter)
        if outcome is _ALONE:
            return await session.write_at_once(self._single, params)
        rows: Sequence[AnyRow] = outcome
        return rows

    async def _lead(self, session: SqlSession, own: _Waiter) -> Sequence[AnyRow]:
        """Write `own` and what waits behind it, then hand the lead on."""
        batch = [own]
        queue = self._queue
        while queue and len(batch) < self._max_batch:
            waiter = queue.popleft()
            if waiter.future is not None and not waiter.future.done():
                batch.append(waiter)
        try:
            if len(batch) == 1:
                return await session.write_at_once(self._single, own.params)
            return await self._write_batch(session, own, batch)
        finally:
            self._hand_on()

    async def _write_batch(
        self, session: SqlSession, own: _Waiter, batch: list[_Waiter]
    ) -> Sequence[AnyRow]:
        rows = [waiter.params | {"n": n} for n, waiter in enumerate(batch)]
        statement = asyncio.ensure_future(
            session.write_apart(self._many, {"rows": _ENCODER.encode(rows).decode()})
        )
        # The others' answers must not depend on this request: if it is cancelled, the
        # batch is still seen through (on this request's connection) before it gives up.
        cancelled = False
        while not statement.done():
            try:
                await asyncio.wait((statement,))
            except asyncio.CancelledError:
                cancelled = True
        others = [w for w in batch if w is not own and w.future is not None]
        if statement.cancelled() or statement.exception() is not None:
            # Nothing of the batch was written: each writes its own alone, so that an
            # error reaches only the request it belongs to.
            for waiter in others:
                if waiter.future is not None and not waiter.future.done():
                    waiter.future.set_result(_ALONE)
            if cancelled or statement.cancelled():
                raise asyncio.CancelledError
            return await session.write_at_once(self._single, own.params)
        self.batches += 1
        self.batched += len(batch)
        positions: dict[uuid.UUID, int] = {}
        for event_id, position in statement.result():
            positions[event_id] = position
        mine: Sequence[AnyRow] = ()
        for waiter in batch:
            # A second proposal with the same event id (a replayed request in the same
            # batch) was not written: the first of them took the row.
            position = positions.pop(waiter.params["id"], None)
            result: Sequence[AnyRow] = () if position is None else ((position,),)
            if waiter is own:
                mine = result
            elif waiter.future is not None and not waiter.future.done():
                waiter.future.set_result(result)
        if cancelled:
            raise asyncio.CancelledError
        return mine

    def _hand_on(self) -> None:
        """Give the lead to the first live waiter, or free its place."""
        queue = self._queue
        while queue:
            waiter = queue.popleft()
            if waiter.future is not None and not waiter.future.done():
                waiter.future.set_result(_LEAD)
                return
        self._in_flight -= 1
