"""The bus-publisher: the committed ledger, published to NATS JetStream (issue 10).

An in-order Subscriber (application/dispatch.py) of `JournalEntryPosted`: fed only by the
log's catch-up from its tracking position, strictly in position order (a hole left by a
transaction that has not committed yet is waited for), woken by every commit (a
`LogFollower`) — a transactional outbox read from the log, never a publish beside the
write, and never a later entry of a tenant before an earlier one. A batch is pipelined
on one connection and its acks awaited (`flush`) before the position moves; a crash in
between re-sends the batch, and JetStream drops each re-sent message id. Per entry it
publishes

    <out_prefix>.<tenant>.JournalEntryPosted   the entry             Nats-Msg-Id: event id
    <out_prefix>.<tenant>.AccountDebited       one per debit line    Nats-Msg-Id:
    <out_prefix>.<tenant>.AccountCredited      one per credit line     published_line_id

so JetStream's duplicate window drops a re-send (after a crash between publish and the
tracking position's commit). The tenant is one subject token: characters NATS subjects
cannot hold become `_` (the body carries the tenant as it is).

Message bodies (JSON, amounts as decimal strings):

    {"type": "JournalEntryPosted", "tenant": "acme", "id": "<event id>",
     "entry_id": "...", "position": 42, "recorded_at": "...", "data": {<the entry>}}
    {"type": "AccountDebited", "tenant": "acme", "id": "<line message id>",
     "entry_id": "...", "line": 0, "date": "2026-03-01", "account": "1500",
     "amount": "1250.00", "vat_code": null, "description": null}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any, Final

import msgspec
import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import ensure_stream
from bookkeeper.application.dispatch import LogFollower
from bookkeeper.application.event_log import published_line_id
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.domain.events import JournalEntryPostedData

log = logging.getLogger("bookkeeper.bus.publisher")

PUBLISHER_NAME: Final = "bus-publisher"
JOURNAL_ENTRY_POSTED: Final = "JournalEntryPosted"
_NOT_IN_TOKEN: Final = re.compile(r"[^A-Za-z0-9_-]")
#: Seconds JetStream has to acknowledge a batch of publishes.
ACK_TIMEOUT: Final = 10.0
#: Publishes in flight at most before `handle` waits for their acks (below nats-py's own
#: window of 4,000, which would otherwise stall without a timeout).
IN_FLIGHT: Final = 2000
#: Publishes queued between two pauses that let nats-py write them to the socket.
SEND_EVERY: Final = 128


def subject_token(tenant: str) -> str:
    """The tenant as one NATS subject token."""
    return _NOT_IN_TOKEN.sub("_", tenant) or "_"


def messages(prefix: str, event: RecordedEvent) -> list[tuple[str, str, bytes]]:
    """(subject, Nats-Msg-Id, body) of everything one JournalEntryPosted publishes."""
    data = event.data
    if not isinstance(data, JournalEntryPostedData):
        return []
    base = f"{prefix}.{subject_token(event.tenant_id)}"
    common: dict[str, Any] = {"tenant": event.tenant_id, "entry_id": str(event.stream_id)}
    out = [
        (
            f"{base}.{JOURNAL_ENTRY_POSTED}",
            str(event.id),
            msgspec.json.encode(
                {
                    "type": JOURNAL_ENTRY_POSTED,
                    "id": str(event.id),
                    "position": event.position,
                    "recorded_at": event.created_at,
                    "data": data,
                    **common,
                }
            ),
        )
    ]
    for number, line in enumerate(data.lines):
        kind = "AccountDebited" if line.debit > 0 else "AccountCredited"
        message_id = str(published_line_id(event.id, number))
        body = {
            "type": kind,
            "id": message_id,
            "line": number,
            "date": data.date,
            "account": line.account,
            "amount": line.debit if line.debit > 0 else line.credit,
            "vat_code": line.vat_code,
            "description": line.description,
            **common,
        }
        out.append((f"{base}.{kind}", message_id, msgspec.json.encode(body)))
    return out


class NatsPublisher:
    """The `bus-publisher` Subscriber; `connect()` before it can publish."""

    name = PUBLISHER_NAME
    types = frozenset({JOURNAL_ENTRY_POSTED})

    def __init__(self, settings: NatsSettings, *, ack_timeout: float = ACK_TIMEOUT) -> None:
        self._settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ack_timeout = ack_timeout
        #: What runs its catch-up in the background when served (serve.start_publisher).
        self.follower: LogFollower | None = None
        #: Publishes sent and not yet acknowledged by JetStream (see flush).
        self._pending: list[asyncio.Future[Any]] = []
        #: How many of them there were at the last pause for the socket.
        self._sent_at = 0

    async def connect(self) -> None:
        """Connect and create the outbound stream when missing."""
        s = self._settings
        self._nc = await nats.connect(s.url, name="bookkeeper:bus-publisher")
        self._js = self._nc.jetstream()
        await ensure_stream(self._js, s.out_stream, [f"{s.out_prefix}.>"])
        log.info("publishing the ledger to %s.> (stream %s)", s.out_prefix, s.out_stream)

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
        self._nc = self._js = None

    async def handle(self, event: RecordedEvent) -> None:
        """Send the entry and its lines, pipelined on the one connection (so they reach
        the stream in the order sent); `flush` waits for JetStream's acks. JetStream drops
        a re-sent message id."""
        if self._js is None:
            raise RuntimeError("the bus-publisher is not connected")
        if len(self._pending) >= IN_FLIGHT:
            # Enough in flight: wait for their acks (bounded by ack_timeout) before more,
            # so that nats-py's own window never has to stall.
            await self.flush()
        elif len(self._pending) >= self._sent_at + SEND_EVERY:
            # Let nats-py's flusher write what is queued: a page of the log is handled
            # without a pause otherwise, and its first entry would wait for the last.
            self._sent_at = len(self._pending)
            await asyncio.sleep(0)
        for subject, message_id, body in messages(self._settings.out_prefix, event):
            # No wait_stall: with one, nats-py awaits its window through asyncio.wait_for,
            # which yields to the loop on every publish, so its flusher writes every
            # message to the socket alone (measured: a fifth of the process's time under
            # load). Without it a whole batch goes out in a few writes.
            self._pending.append(
                await self._js.publish_async(
                    subject,
                    body,
                    headers={"Nats-Msg-Id": message_id},
                    stream=self._settings.out_stream,
                )
            )

    async def flush(self) -> None:
        """Wait until JetStream has stored (or de-duplicated) everything sent; raises when
        it refused one or did not answer in time (the batch is sent again from the log)."""
        pending, self._pending = self._pending, []
        self._sent_at = 0
        if not pending:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*pending), self._ack_timeout)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def publisher_of(settings: NatsSettings | None) -> NatsPublisher | None:
    """The container's bus-publisher: one when NATS is configured."""
    return None if settings is None else NatsPublisher(settings)
