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
import datetime as dt
import logging
import re
from decimal import Decimal
from typing import Final

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError

from bookkeeper.adapters.nats.config import NatsSettings, subject_token
from bookkeeper.adapters.nats.connection import failure_text
from bookkeeper.adapters.nats.consumer import ensure_stream
from bookkeeper.adapters.nats.reconnect import Reconnecting
from bookkeeper.application.bus import PublishAlerts
from bookkeeper.application.dispatch import LogFollower
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.event_log import published_line_texts
from bookkeeper.application.ports import BusConnection, RecordedEvent
from bookkeeper.domain.events import JournalEntryPostedData

log = logging.getLogger("bookkeeper.bus.publisher")

PUBLISHER_NAME: Final = "bus-publisher"
JOURNAL_ENTRY_POSTED: Final = "JournalEntryPosted"
#: Seconds JetStream has to acknowledge a batch of publishes.
ACK_TIMEOUT: Final = 10.0
#: Publishes in flight at most before `handle` waits for their acks (below nats-py's own
#: window of 4,000, which would otherwise stall without a timeout).
IN_FLIGHT: Final = 2000
#: Publishes queued between two pauses that let nats-py write them to the socket.
SEND_EVERY: Final = 128
MSG_ID: Final = "Nats-Msg-Id"
EXPECTED_STREAM: Final = "Nats-Expected-Stream"
_MSG_ID_LINE: Final = f"NATS/1.0\r\n{MSG_ID}: ".encode()
#: A subject, stream name or message id that goes into a frame as it is (what nats-py's
#: publish would refuse or escape is left to nats-py's publish).
_PLAIN: Final = re.compile(r"[!-~]+")
#: The status header of a reply that no JetStream stream answered ("no responders").
_NO_RESPONDERS: Final = "503"

_encode = msgspec.json.Encoder().encode


class _LineMessage(msgspec.Struct, frozen=True):
    """The body of an AccountDebited / AccountCredited (a Struct: msgspec encodes it
    faster than the dict it replaced, with the same keys in the same order)."""

    type: str
    id: str
    line: int
    date: dt.date
    account: str
    amount: Decimal
    vat_code: str | None
    description: str | None
    tenant: str
    entry_id: str


def messages(prefix: str, event: RecordedEvent) -> list[tuple[str, str, bytes]]:
    """(subject, Nats-Msg-Id, body) of everything one JournalEntryPosted publishes."""
    data = event.data
    if not isinstance(data, JournalEntryPostedData):
        return []
    base = f"{prefix}.{subject_token(event.tenant_id)}"
    tenant = event.tenant_id
    entry_id = str(event.stream_id)
    event_id = str(event.id)
    out = [
        (
            f"{base}.{JOURNAL_ENTRY_POSTED}",
            event_id,
            _encode(
                {
                    "type": JOURNAL_ENTRY_POSTED,
                    "id": event_id,
                    "position": event.position,
                    "recorded_at": event.created_at,
                    "data": data,
                    "tenant": tenant,
                    "entry_id": entry_id,
                }
            ),
        )
    ]
    line_ids = published_line_texts(event_id, len(data.lines))
    for number, (line, message_id) in enumerate(zip(data.lines, line_ids, strict=True)):
        debit = line.debit > 0
        kind = "AccountDebited" if debit else "AccountCredited"
        body = _LineMessage(
            kind,
            message_id,
            number,
            data.date,
            line.account,
            line.debit if debit else line.credit,
            line.vat_code,
            line.description,
            tenant,
            entry_id,
        )
        out.append((f"{base}.{kind}", message_id, _encode(body)))
    return out


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct):
    """JetStream's answer to a publish (the fields this publisher reads)."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_pub_ack = msgspec.json.Decoder(_PubAck)
#: A nats-py without `_flush_queue` (which `_frames_fit` cannot see on the class): flush.
_NO_QUEUE: Final = object()


def _frames_fit(prefix: str, stream: str) -> bool:
    """Whether the publisher may build its frames itself: nats-py still has the method
    its publish ends in, and the configured prefix and stream need no validation or
    escaping (printable ASCII without spaces; tenants are made subject tokens anyway)."""
    return (
        callable(getattr(Client, "_send_command", None))
        and callable(getattr(Client, "_flush_pending", None))
        and _PLAIN.fullmatch(prefix) is not None
        and _PLAIN.fullmatch(stream) is not None
    )


class NatsPublisher:
    """The `bus-publisher` Subscriber; `connect()` before it can publish.

    Publishes through nats-py's core `publish` with a reply subject of its own inbox and
    reads JetStream's acks there itself (ADR 0046): nats-py's `publish_async` spent
    ~24 µs of CPU per message (a stall-timeout wait, a random token, a headers dict it
    copies, json.loads and a dataclass per ack); this ~13 µs. The same wire messages —
    subject, `Nats-Msg-Id`, `Nats-Expected-Stream`, body — and the same guarantees: an
    entry's position moves only after every ack of its page arrived without error."""

    name = PUBLISHER_NAME
    types = frozenset({JOURNAL_ENTRY_POSTED})
    #: Queue pre-built HPUB frames on nats-py's connection (its `_send_command`, the
    #: method its own `publish` ends in) instead of calling `publish` per message, which
    #: validates and encodes the headers dict every time. False: nats-py's publish only.
    raw_frames = True

    def __init__(
        self,
        settings: NatsSettings,
        *,
        ack_timeout: float = ACK_TIMEOUT,
        alerts: PublishAlerts | None = None,
        tenants: frozenset[str] | None = None,
    ) -> None:
        self._settings = settings
        #: The tenants whose ledger is published (BOOKKEEPER_BUS_TENANTS; empty: none);
        #: None: every tenant's. Another tenant's entries are passed over: whoever may
        #: read the outbound stream reads what is on it, and a company the bus is not
        #: bound to has no business there.
        self._tenants = tenants
        #: The tenants passed over so far (each logged once).
        self._passed: set[str] = set()
        #: Told about a message too large for the server (None: logged only).
        self._alerts = alerts
        #: The connection, made again in the background when the server closes it for
        #: good (reconnect.py); an attempt calls `self.connect()` as it is then.
        self._link = Reconnecting(
            settings, PUBLISHER_NAME, lambda: self.connect(), on_lost=self._lost
        )
        self._js: JetStreamContext | None = None
        self._ack_timeout = ack_timeout
        #: What runs its catch-up in the background when served (serve.start_publisher).
        self.follower: LogFollower | None = None
        #: Publishes sent and not yet acknowledged by JetStream (see flush).
        self._pending: list[asyncio.Future[None]] = []
        #: How many of them there were at the last pause for the socket.
        self._sent_at = 0
        #: The inbox JetStream's acks come back to (`<inbox>.<token>`), and its subscription.
        self._inbox = ""
        self._acks: Subscription | None = None
        #: The publishes waiting for their ack, by token.
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._tokens = 0
        self._stream = settings.out_stream
        #: The header block after the message id's value (built once, see connect).
        self._headers = b""
        #: Whether frames are queued on nats-py's connection directly (see connect).
        self._raw = False
        self._max_body = 0
        #: Set by close(), cleared by connect(): /health says `stopped` meanwhile.
        self._closing = True
        #: Why the latest flush failed (None: the latest one worked).
        self._failure: str | None = None

    @property
    def _nc(self) -> Client | None:
        return self._link.nc

    async def connect(self) -> None:
        """Connect, create the outbound stream when missing, listen for acks (a
        connection whose set-up fails is closed by the link, never kept)."""
        await self._link.open(self._set_up)
        self._closing = False
        self._failure = None

    async def start(self) -> None:
        """`connect` at the service's start; a server not reachable now is connected to in
        the background (reconnect.py, `Reconnecting.first`), and what is committed
        meanwhile is published from the log once it is (the follower's catch-up)."""
        self._closing = False
        await self._link.first()

    async def _set_up(self, nc: Client) -> None:
        s = self._settings
        js = nc.jetstream()
        await ensure_stream(js, s.out_stream, [f"{s.out_prefix}.>"])
        inbox = nc.new_inbox()
        acks = await nc.subscribe(f"{inbox}.*", cb=self._acked)
        self._js, self._inbox, self._acks = js, inbox, acks
        self._raw = self.raw_frames and _frames_fit(s.out_prefix, self._stream)
        self._headers = f"\r\n{EXPECTED_STREAM}: {self._stream}\r\n\r\n".encode()
        # Room for the headers and the longest reply subject; a bigger body goes through
        # nats-py's publish, which refuses it as nats-py always did (MaxPayloadError).
        self._max_body = nc.max_payload - len(self._headers) - 300
        log.info("publishing the ledger to %s.> (stream %s)", s.out_prefix, s.out_stream)

    def _lost(self) -> None:
        """The connection's socket was lost, or it closed for good: what waits for an ack
        fails at once, rather than after ack_timeout — an ack on its way when the socket
        went never comes (the page is sent again, and JetStream drops what it stored
        already by its message id). A connection closed for good the link makes again in
        the background — not only when the next entry comes, so that /health does not say
        `closed` until then."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionClosedError())
        self._waiting.clear()

    def connection(self) -> BusConnection:
        """The BusPublisherStatus port (/health): the connection as last seen, no round
        trip."""
        return self._link.state(running=not self._closing, failure=self._failure)

    async def close(self) -> None:
        self._closing = True
        await self._link.close()
        self._js = None
        self._acks = None
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    async def _acked(self, message: Msg) -> None:
        """JetStream's answer to one publish: resolve its future (an error for a refusal
        or when no stream took the subject)."""
        future = self._waiting.pop(message.subject[len(self._inbox) + 1 :], None)
        if future is None or future.done():
            return
        headers = message.headers
        if headers and headers.get("Status") == _NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
            return
        try:
            ack = _pub_ack.decode(message.data)
        except msgspec.DecodeError as error:
            future.set_exception(APIError(description=f"unreadable publish ack: {error}"))
            return
        if ack.error is not None:
            future.set_exception(
                APIError(
                    code=ack.error.code,
                    err_code=ack.error.err_code,
                    description=ack.error.description,
                )
            )
        else:
            future.set_result(None)

    async def handle(self, event: RecordedEvent) -> None:
        """Send the entry and its lines, pipelined on the one connection (so they reach
        the stream in the order sent); `flush` waits for JetStream's acks. JetStream drops
        a re-sent message id. An entry of a tenant the bus is not bound to is passed over
        (its position moves on; it stays in the log)."""
        if self._tenants is not None and event.tenant_id not in self._tenants:
            self._pass_over(event.tenant_id)
            return
        if self._link.lost and not self._closing:
            # Closed for good: wait a while for the link to make it again; raises when it
            # does not (the catch-up tries again later).
            try:
                async with asyncio.timeout(self._ack_timeout):
                    await self._link.restored()
            except TimeoutError:
                raise _not_connected("connecting again") from None
        nc = self._nc
        if nc is None or nc.is_closed:
            raise _not_connected("not connected")
        if len(self._pending) >= IN_FLIGHT:
            # Enough in flight: wait for their acks (bounded by ack_timeout) before more.
            await self.flush()
        elif len(self._pending) >= self._sent_at + SEND_EVERY:
            # Let nats-py's flusher write what is queued: a page of the log is handled
            # without a pause otherwise, and its first entry would wait for the last.
            self._sent_at = len(self._pending)
            await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        raw = self._raw and nc.is_connected
        fitting, too_large = self._fitting(nc, messages(self._settings.out_prefix, event))
        for subject, message_id, body in fitting:
            self._tokens += 1
            token = str(self._tokens)
            future: asyncio.Future[None] = loop.create_future()
            self._waiting[token] = future
            self._pending.append(future)
            reply = f"{self._inbox}.{token}"
            if raw and len(body) < self._max_body:
                # The HPUB frame nats-py's publish would build, around the headers'
                # bytes built once at connect.
                headers = b"%s%s%s" % (_MSG_ID_LINE, message_id.encode(), self._headers)
                size = len(headers)
                frame = b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
                    subject.encode(),
                    reply.encode(),
                    size,
                    size + len(body),
                    headers,
                    body,
                )
                await nc._send_command(frame)
            else:
                await nc.publish(
                    subject,
                    body,
                    reply=reply,
                    headers={MSG_ID: message_id, EXPECTED_STREAM: self._stream},
                )
        if raw:
            await self._kick_flusher(nc)
        for subject, size in too_large:
            await self._refuse(event, subject, size, nc.max_payload)

    def _pass_over(self, tenant: str) -> None:
        if tenant not in self._passed and len(self._passed) < 1000:
            self._passed.add(tenant)
            log.info(
                "the ledger of tenant %r is not published: the bus is not bound to it "
                "(BOOKKEEPER_BUS_TENANTS)",
                tenant[:100],
            )

    def _fitting(
        self, nc: Client, found: list[tuple[str, str, bytes]]
    ) -> tuple[list[tuple[str, str, bytes]], list[tuple[str, int]]]:
        """The messages the server takes, and (subject, size) of those over its
        max_payload — which counts the headers with the body. Sent, such a message was
        refused (nats-py's MaxPayloadError, or the server closing the connection): the
        entry was retried for ever and every later entry of the log waited behind it."""
        fitting: list[tuple[str, str, bytes]] = []
        too_large: list[tuple[str, int]] = []
        limit = nc.max_payload
        for subject, message_id, body in found:
            size = len(body) + len(_MSG_ID_LINE) + len(message_id.encode()) + len(self._headers)
            if size > limit:
                too_large.append((subject, size))
            else:
                fitting.append((subject, message_id, body))
        return fitting, too_large

    async def _refuse(self, event: RecordedEvent, subject: str, size: int, limit: int) -> None:
        """Leave out one message too large for the bus, with an alert (the rest of the
        entry, and the log behind it, are published)."""
        log.error(
            "entry of event %s: %s is %d bytes, over NATS max_payload %d; not published",
            event.id,
            subject,
            size,
            limit,
        )
        if self._alerts is not None:
            await self._alerts.too_large(event.tenant_id, event.id, subject, size, limit)

    async def _kick_flusher(self, nc: Client) -> None:
        """What nats-py's publish does after queueing a frame: wake its flusher task
        (which writes everything queued at its next turn) unless it is awake already."""
        queue: object = getattr(nc, "_flush_queue", _NO_QUEUE)
        if queue is _NO_QUEUE or (isinstance(queue, asyncio.Queue) and queue.empty()):
            await nc._flush_pending()

    async def flush(self) -> None:
        """Wait until JetStream has stored (or de-duplicated) everything sent; raises when
        it refused one or did not answer in time (the batch is sent again from the log)."""
        pending, self._pending = self._pending, []
        self._sent_at = 0
        if not pending:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*pending), self._ack_timeout)
        except BaseException as error:
            if isinstance(error, Exception):
                self._failure = f"publishing failed: {failure_text(error)}"
            for future in pending:
                future.cancel()
            self._waiting = {t: f for t, f in self._waiting.items() if not f.done()}
            if isinstance(error, TimeoutError | ConnectionClosedError):
                # The connection went (or no ack came): sent again from the log once it is
                # back — an outage, not a fault of this batch.
                raise _not_connected(f"publishing failed: {failure_text(error)}") from error
            raise
        self._failure = None


def _not_connected(detail: str) -> ExternalUnavailable:
    """What the catch-up is told while NATS cannot be reached: it tries again later and
    logs it as the outage it is (a warning, not a traceback per page)."""
    return ExternalUnavailable(f"the ledger is not published to NATS: {detail}", system="nats")


def publisher_of(
    settings: NatsSettings | None, alerts: PublishAlerts | None, tenants: frozenset[str] | None
) -> NatsPublisher | None:
    """The container's bus-publisher: one when NATS is configured, publishing the ledger
    of the tenants the bus is bound to (`load_bus_tenants`; None: every tenant's)."""
    return None if settings is None else NatsPublisher(settings, alerts=alerts, tenants=tenants)
