"""The EventBus consumer on NATS JetStream: external events booked exactly once.

One durable pull consumer (`NatsSettings.durable`) on the inbound stream, shared by every
replica, so N replicas split the work. Each message goes through `BusIntake.receive`:

- booked or a duplicate (a redelivery; the derived entry id makes it one entry): ack —
  only after the journal entry is committed, so a crash before the ack redelivers it
  after `ack_wait` and it is acknowledged as a duplicate;
- the database down: the message (and the rest of its batch) is kept in hand with
  `in_progress` and retried with back-off until the database answers — an outage of any
  length spends none of its redeliveries; everything behind it waits in the stream;
- other transient failures: nak with back-off (`backoff_base * 2**(delivery-1)`, capped)
  up to `max_deliver` deliveries, counted here (JetStream itself redelivers without
  limit); the last one is dead-lettered rather than dropped, and comes back if that fails;
- rejected (bad schema, unknown type, not bookable): the raw message, its headers and the
  reason are published to the dead-letter stream, an `AlertRaised` is recorded, then ack.

Streams and the consumer are created on start when missing. `pending()` is the
consumer's lag (messages not yet delivered plus delivered but unacknowledged); `lag()`
gives the two apart (/health).

A fetched batch is booked in one unit of work (`BusIntake.receive_many`); the running
loop fetches the next batch while one is booked and books two at a time, each in its own
transaction, each acked after its own commit (ADR 0034).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, Literal

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from bookkeeper.adapters.nats.config import NatsSettings, subject_token
from bookkeeper.adapters.nats.connection import failure_text
from bookkeeper.adapters.nats.reconnect import Reconnecting
from bookkeeper.application.bus import (
    MAX_REASON,
    UNKNOWN_TENANT,
    BusIntake,
    Delivery,
    Outcome,
    Reading,
    readings,
)
from bookkeeper.application.ports import BusConnection, BusConsumerStatus, BusPlace

log = logging.getLogger("bookkeeper.bus.nats")

#: Headers added to a dead-lettered message (beside the original ones).
REASON_HEADER: Final = "Bookkeeper-Reason"
CODE_HEADER: Final = "Bookkeeper-Error-Code"
SUBJECT_HEADER: Final = "Bookkeeper-Original-Subject"
DELIVERIES_HEADER: Final = "Bookkeeper-Deliveries"
#: On a dead letter too large to keep whole: the body's length and SHA-256, and where the
#: whole message stays (the inbound stream and its sequence there).
TRUNCATED_HEADER: Final = "Bookkeeper-Truncated"
#: The prefix under which a dead letter keeps the original message's JetStream headers.
ORIGINAL_HEADER_PREFIX: Final = "Bookkeeper-Original-"
#: Seconds one fetch waits for messages before polling again.
FETCH_TIMEOUT: Final = 1.0
#: Seconds to wait after an unexpected error of the loop itself (connection trouble).
LOOP_PAUSE: Final = 1.0
#: Seconds the loop waits for a connection made again before it tries a pull anyway.
RESTORE_WAIT: Final = 30.0
#: Batches being booked at once by one consumer (each in its own transaction).
IN_FLIGHT: Final = 2
#: A stored time for a message without one (not expected from JetStream).
_EPOCH: Final = dt.datetime.fromtimestamp(0, dt.UTC)
#: The dead letter's code of a message for another tenant than its subject names.
TENANT_MISMATCH: Final = "tenant-mismatch"


@dataclass(eq=False)
class _Batch:
    """One fetched batch being booked: its messages (kept in hand while the database is
    down), and whether the database answered again during it (no back-off for the rest)."""

    messages: list[Msg]
    recovered: bool = False


#: The batch the current task is booking (two may be in flight; see NatsConsumer._run).
_BATCH: Final[ContextVar[_Batch]] = ContextVar("bookkeeper_nats_batch")


#: What becomes of a message whose envelope names another tenant than its subject.
_MISMATCH: Final = Delivery(
    Outcome.DEAD,
    reason="the message names another tenant than its subject (<prefix>.<tenant>.…)",
    code=TENANT_MISMATCH,
)


def _kept_headers(original: dict[str, str] | None) -> dict[str, str]:
    """The original headers a dead letter carries: JetStream's own (`Nats-…`: a message
    id, `Nats-Expected-Last-Sequence` and the other expectations a publisher held on the
    inbound stream) are kept under `Bookkeeper-Original-<name>`, so that the dead-letter
    stream neither applies them (an expectation about another stream refused the dead
    letter on every delivery until JetStream dropped the message) nor drops a copy as a
    duplicate."""
    kept: dict[str, str] = {}
    for name, value in (original or {}).items():
        if name.lower().startswith("nats-"):
            kept[f"{ORIGINAL_HEADER_PREFIX}{name}"] = value
        else:
            kept[name] = value
    return kept


def _header_value(value: str) -> str:
    """A header value on one line (NATS headers cannot hold line breaks), in ASCII: a
    reader such as nats-py's `get_msg` parses headers as e-mail headers and garbles
    anything else ("øre" came back as "\ufffd\ufffdre"), so other characters are written as
    Python escapes ("\\xf8re"); the AlertRaised event keeps the reason as it was."""
    one_line = " ".join(value.split())[:1000]
    return one_line.encode("ascii", "backslashreplace").decode("ascii")


class NatsConsumer:
    """Pulls from the inbound stream and books through the intake (a background task)."""

    def __init__(self, intake: BusIntake, settings: NatsSettings, name: str = "") -> None:
        self._intake = intake
        self._settings = settings
        self._name = name or settings.durable
        #: The connection, made again when the server closes it for good (reconnect.py);
        #: an attempt calls `self.connect()` as it is then.
        self._link = Reconnecting(settings, self._name, lambda: self.connect())
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        #: The batches being booked (kept alive while the database is down).
        self._batches: set[_Batch] = set()
        #: The next batch, fetched while this one is booked (kept alive likewise).
        self._ahead: list[Msg] = []
        #: A second consumer that runs and stops with this one (the Accounts Master's).
        self.accounts: NatsConsumer | None = None
        #: Why the latest pull (or connecting again) failed; None once a pull works.
        self._failure: str | None = None

    @property
    def settings(self) -> NatsSettings:
        return self._settings

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def _nc(self) -> Client | None:
        return self._link.nc

    async def connect(self) -> None:
        """Connect, create the streams and the durable consumer when missing, bind to it
        (a connection whose set-up fails is closed by the link, never kept)."""
        await self._link.open(self._set_up)

    async def _set_up(self, nc: Client) -> None:
        s = self._settings
        js = nc.jetstream()
        await ensure_stream(js, s.stream, [s.filter_subject])
        await ensure_stream(js, s.dead_letter_stream, [s.dead_letter_subject])
        config = api.ConsumerConfig(
            durable_name=s.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            # Unlimited: bookkeeper counts the deliveries itself and dead-letters the last
            # one (`settle`). With JetStream's own limit, a message whose dead letter could
            # not be kept on that last delivery (or whose process died then) would never
            # come back — dropped without a trace.
            max_deliver=-1,
            ack_wait=s.ack_wait,
            filter_subject=s.filter_subject,
            max_ack_pending=max(1000, s.batch * 16),
        )
        await self._unlimit_deliveries(js, s.stream, config)
        sub = await js.pull_subscribe(
            s.filter_subject, durable=s.durable, stream=s.stream, config=config
        )
        self._js, self._sub = js, sub
        log.info(
            "NATS bus: consuming %s (stream %s) as durable %s; dead letters to %s",
            s.filter_subject,
            s.stream,
            s.durable,
            s.dead_letter_stream,
        )

    async def _unlimit_deliveries(
        self, js: JetStreamContext, stream: str, config: api.ConsumerConfig
    ) -> None:
        """A durable made by an earlier version with JetStream's own delivery limit is
        updated to none (nats-py's `pull_subscribe` binds an existing durable as it is)."""
        try:
            info = await js.consumer_info(stream, config.durable_name or "")
        except NotFoundError:
            return
        if info.config.max_deliver not in (None, -1):
            log.info("NATS bus: durable %s redelivers without limit now", config.durable_name)
            await js.add_consumer(stream, config=config)

    async def start(self) -> None:
        """Connect and run the pull loop in the background. A server not reachable now is
        connected to in the background (reconnect.py, `Reconnecting.first`): the loop
        waits for it."""
        await self._link.first()
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"nats-consumer:{self._name}")

    async def close(self) -> None:
        """Stop pulling (the message in hand is finished) and disconnect."""
        if self.accounts is not None:
            await self.accounts.close()
            self.accounts = None
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sub is not None and not self._link.lost:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        self._sub = None
        await self._link.close()

    @property
    def durable(self) -> str:
        return self._settings.durable

    def connection(self) -> BusConnection:
        """The consumer's connection as it last saw it (no round trip): `stopped` when its
        loop does not run, `closed` until it connected again, `failing` until a pull
        works again."""
        return self._link.state(running=self.running, failure=self._failure)

    async def consumers_status(self, wait_seconds: float) -> list[BusConsumerStatus]:
        """The BusStatus port (/health): this consumer (the ledger's) and the Accounts
        Master's when it runs, each with its connection and its lag (None when NATS does
        not answer within `timeout` seconds, and not asked when the connection is not up:
        /health does not wait for it); asked at the same time."""
        roles: list[tuple[NatsConsumer, Literal["ledger", "accounts-master"]]] = [(self, "ledger")]
        if self.accounts is not None:
            roles.append((self.accounts, "accounts-master"))

        async def lag(consumer: NatsConsumer) -> tuple[int, int] | None:
            if consumer._nc is None or not consumer._nc.is_connected:
                return None
            try:
                return await asyncio.wait_for(consumer.lag(), wait_seconds)
            except TimeoutError:
                return None

        lags = await asyncio.gather(*(lag(consumer) for consumer, _ in roles))
        return [
            BusConsumerStatus(
                durable=consumer.settings.durable,
                stream=consumer.settings.stream,
                role=role,
                connection=consumer.connection(),
                waiting=None if found is None else found[0],
                unacknowledged=None if found is None else found[1],
            )
            for (consumer, role), found in zip(roles, lags, strict=True)
        ]

    async def pending(self) -> int | None:
        """Messages the durable consumer has not had acknowledged yet (None if unknown)."""
        lag = await self.lag()
        return None if lag is None else lag[0] + lag[1]

    async def lag(self) -> tuple[int, int] | None:
        """(messages in the stream not yet delivered to the durable consumer, messages
        delivered and not yet acknowledged), or None when NATS does not answer."""
        if self._sub is None:
            return None
        try:
            info = await self._sub.consumer_info()
        except Exception:
            return None
        return int(info.num_pending or 0), int(info.num_ack_pending or 0)

    async def _run(self) -> None:
        # Two batches in flight: while one is booked (its transaction's round trips and
        # commit), the next is fetched and booked in a second transaction, so NATS, this
        # process and the database work at the same time. Each batch's messages are acked
        # after its own commit; the published ledger follows the log's positions (which the
        # inserts take), whatever order the two transactions commit in (ADR 0030).
        ahead: asyncio.Task[list[Msg]] | None = None
        booking: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                try:
                    if self._sub is None:  # not connected since the start (yet)
                        await self._connect_again()
                        if self._sub is None:
                            await asyncio.sleep(LOOP_PAUSE)
                        continue
                    if ahead is not None:
                        fetched, ahead = ahead, None
                        messages = await fetched
                    else:
                        messages = await self._fetch()
                    if not messages:
                        continue
                    booking.add(asyncio.create_task(self.handle_batch(messages)))
                    ahead = asyncio.create_task(self._fetch_ahead())
                    if len(booking) >= IN_FLIGHT:
                        await asyncio.wait(booking, return_when=asyncio.FIRST_COMPLETED)
                    for task in [t for t in booking if t.done()]:
                        booking.discard(task)
                        task.result()  # a failure of the batch itself: logged below
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if self._link.lost:
                        log.warning(
                            "NATS consumer %s: pulling failed: %s", self._name, failure_text(error)
                        )
                    else:
                        log.exception("NATS consumer %s: pulling failed; retrying", self._name)
                    self._failure = f"pulling failed: {failure_text(error)}"
                    await asyncio.sleep(LOOP_PAUSE)
                    await self._connect_again()
        finally:
            for task in booking:
                task.cancel()
            for task in booking:
                with contextlib.suppress(BaseException):
                    await task
            if ahead is not None:
                await self._give_back(ahead)

    async def _connect_again(self) -> None:
        """When the server closed the connection for good (nats-py reconnects after a lost
        socket, but a server's -ERR, or an outage longer than its tries, leaves the client
        closed, and every pull failed until a restart): wait for the link to make it again
        (reconnect.py: back-off with jitter). What the old connection held unacknowledged
        is redelivered after `ack_wait` (booked already: acknowledged as a duplicate)."""
        if not self._link.lost:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RESTORE_WAIT):
                await self._link.restored()

    async def _fetch(self, wait: float = FETCH_TIMEOUT) -> list[Msg]:
        """The next batch, or none within `wait` seconds."""
        assert self._sub is not None, "connect() first"
        try:
            fetched = list(await self._sub.fetch(self._settings.batch, timeout=wait))
        except (TimeoutError, nats.errors.TimeoutError):
            fetched = []
        self._failure = None
        return fetched

    async def _fetch_ahead(self) -> list[Msg]:
        """`_fetch`, keeping what it got in `_ahead` until it is booked (so that a wait for
        the database keeps those in hand too)."""
        self._ahead = await self._fetch()
        return self._ahead

    async def _give_back(self, ahead: asyncio.Task[list[Msg]]) -> None:
        """On stopping: a batch fetched ahead and not booked is nak'ed, so that another
        replica (or the next start) gets it at once rather than after ack_wait."""
        if not ahead.done():
            ahead.cancel()
        with contextlib.suppress(BaseException):
            for message in await ahead:
                with contextlib.suppress(Exception):
                    await message.nak()
        self._ahead = []

    async def pull_once(self, wait: float = FETCH_TIMEOUT) -> int:
        """Fetch one batch and handle each message; the number handled."""
        messages = await self._fetch(wait)
        if messages:
            await self.handle_batch(messages)
        return len(messages)

    async def handle_batch(self, messages: list[Msg]) -> None:
        """Book a fetched batch in one unit of work and one commit (batch append); then
        ack, wait, nak or dead-letter each message by its own outcome."""
        self._ahead = [] if self._ahead is messages else self._ahead
        batch = _Batch(list(messages))
        token = _BATCH.set(batch)
        self._batches.add(batch)
        alive = asyncio.create_task(self._keep_alive(batch))
        try:
            # Read once per delivery, off the event loop when a message is large.
            read = await readings([m.data for m in messages])
            bound = [self._bound(m, r) for m, r in zip(messages, read, strict=True)]
            for message, ok in zip(messages, bound, strict=True):
                if not ok:
                    await self.settle(message, _MISMATCH)
            read = [r for r, ok in zip(read, bound, strict=True) if ok]
            messages = [m for m, ok in zip(messages, bound, strict=True) if ok]
            try:
                if len(messages) == 1:
                    deliveries = [
                        await self._intake.receive(
                            messages[0].data, self._place(messages[0]), read[0]
                        )
                    ]
                elif messages:
                    deliveries = await self._intake.receive_many(
                        [m.data for m in messages], [self._place(m) for m in messages], read
                    )
                else:
                    deliveries = []
            except Exception as error:
                # The intake promises never to raise; should it all the same, each message
                # is a transient failure (nak with back-off, dead-lettered on its last
                # delivery) — left unacknowledged instead, JetStream would stop
                # redelivering the whole batch after max_deliver, and it would be lost
                # without a dead letter or an alert.
                log.exception("NATS consumer %s: a batch could not be booked", self._name)
                reason = f"{type(error).__name__}: {error}"[:MAX_REASON]
                deliveries = [Delivery(Outcome.RETRY, reason=reason) for _ in messages]
            for message, delivery in zip(messages, deliveries, strict=True):
                await self.settle(message, delivery)
        finally:
            alive.cancel()
            self._batches.discard(batch)
            _BATCH.reset(token)

    async def _keep_alive(self, batch: _Batch) -> None:
        """While a batch is being booked, tell JetStream every third of `ack_wait` that
        its messages not yet settled are still in hand (`in_progress`). A batch that took
        longer than ack_wait — a database slow under load, a translator given up only
        after its time limit — was delivered again to another replica while this one
        still booked it: the same work twice, on the database that was slow already."""
        interval = max(self._settings.ack_wait / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            for message in batch.messages:
                if not message.is_acked:  # acked, nak'ed or dead-lettered: settled
                    with contextlib.suppress(Exception):
                        await message.in_progress()

    async def _wait_for_storage(self, message: Msg, delivery: Delivery) -> Delivery:
        """While the database is down, keep the message (and the rest of the batch) in
        hand — `in_progress` resets their ack_wait — and try again with back-off until it
        answers or the consumer stops: an outage of any length spends no redelivery, and
        the stream holds everything behind it."""
        batch = _BATCH.get(None) or _Batch([message])
        if batch.recovered:  # the database came back for an earlier message of the batch
            delivery = await self._intake.receive(message.data, self._place(message))
        attempt = 0
        while delivery.storage_down and not self._stopping.is_set():
            delay = min(self._settings.backoff_base * 2**attempt, self._settings.backoff_max)
            attempt += 1
            log.warning("database unavailable; bus message waits %.1fs: %s", delay, delivery.reason)
            in_hand = [m for b in self._batches for m in b.messages]
            for held in {id(m): m for m in (message, *in_hand, *self._ahead)}.values():
                with contextlib.suppress(Exception):
                    await held.in_progress()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                break
            delivery = await self._intake.receive(message.data, self._place(message))
        batch.recovered = not delivery.storage_down
        return delivery

    async def handle(self, message: Msg) -> Outcome:
        """Book one message and ack, nak or dead-letter it."""
        [read] = await readings([message.data])
        if not self._bound(message, read):
            return await self.settle(message, _MISMATCH)
        return await self.settle(
            message, await self._intake.receive(message.data, self._place(message), read)
        )

    def _place(self, message: Msg) -> BusPlace:
        """The message's place in its stream — name, sequence and the time it was stored
        (a stream made again numbers from 1 again) — the same on every redelivery."""
        meta = message.metadata
        stored = meta.timestamp if meta.timestamp is not None else _EPOCH
        return BusPlace(stream=self._settings.stream, sequence=meta.sequence.stream, stored=stored)

    def _bound(self, message: Msg, read: Reading) -> bool:
        """Whether the message may be booked for the tenant its envelope names: always,
        unless subjects name tenants (`tenant_subjects`); then only when its subject names
        that tenant (its `subject_token`, as the published ledger's subjects do) — so
        that NATS's publish permissions on `<prefix>.<tenant>.>` decide which tenants a
        publisher can book for (ADR 0013 addendum)."""
        if not self._settings.tenant_subjects:
            return True
        named = self._settings.subject_tenant(message.subject)
        tenant = read.tenant
        return named is not None and tenant != UNKNOWN_TENANT and named == subject_token(tenant)

    async def settle(self, message: Msg, delivery: Delivery) -> Outcome:
        """Act on what became of one message: ack (booked, duplicate), wait while the
        database is down, nak with back-off (transient), or dead-letter and ack."""
        if delivery.storage_down:
            delivery = await self._wait_for_storage(message, delivery)
        if delivery.outcome in (Outcome.BOOKED, Outcome.DUPLICATE):
            await message.ack()
            return delivery.outcome
        deliveries = message.metadata.num_delivered or 1
        if delivery.outcome is Outcome.RETRY and deliveries < self._settings.max_deliver:
            delay = min(
                self._settings.backoff_base * 2 ** (deliveries - 1), self._settings.backoff_max
            )
            log.warning(
                "bus message redelivery %d/%d in %.1fs: %s",
                deliveries,
                self._settings.max_deliver,
                delay,
                delivery.reason,
            )
            await message.nak(delay=delay)
            return Outcome.RETRY
        reason = delivery.reason
        if delivery.outcome is Outcome.RETRY:
            reason = f"gave up after {deliveries} deliveries: {reason}"
        try:
            where = await self._dead_letter(message, reason, delivery.code, deliveries)
            # A message for another tenant than its subject: its alert goes to neither
            # (the body's tenant is the publisher's claim; `_bus` is the operator's).
            alert_in = UNKNOWN_TENANT if delivery.code == TENANT_MISMATCH else None
            await self._intake.dead_lettered(
                message.data, reason, delivery.code, where, tenant=alert_in
            )
        except Exception:
            # Not kept yet: leave it unacknowledged so that it comes back (never dropped).
            log.exception("dead-lettering a bus message failed; it will be redelivered")
            await message.nak(delay=self._settings.backoff_max)
            return Outcome.RETRY
        await message.ack()
        return Outcome.DEAD

    async def _dead_letter(self, message: Msg, reason: str, code: str, deliveries: int) -> str:
        assert self._js is not None
        headers = _kept_headers(message.headers)
        headers[REASON_HEADER] = _header_value(reason)
        headers[CODE_HEADER] = _header_value(code or "dead-letter")
        headers[SUBJECT_HEADER] = message.subject
        headers[DELIVERIES_HEADER] = str(deliveries)
        # What js.publish(stream=…) adds, set here so that the size below counts it.
        headers[api.Header.EXPECTED_STREAM] = self._settings.dead_letter_stream
        # Its place in the inbound stream: the same message dead-lettered again (its
        # process died before the ack, and it came back) is dropped as a duplicate.
        headers[api.Header.MSG_ID] = f"{self._settings.stream}:{message.metadata.sequence.stream}"
        data = message.data
        limit = self._nc.max_payload if self._nc is not None else len(data)
        if len(data) + _headers_size(headers) > limit:
            # The server counts headers and body against max_payload, nats-py only the
            # body: a body that fitted on the way in, with the reason added, made the
            # server close this connection for good (and the bus stopped booking). The
            # reason is what the dead letter is for; the whole message stays inbound.
            digest = hashlib.sha256(data).hexdigest()
            headers[TRUNCATED_HEADER] = (
                f"{len(data)} bytes, SHA-256 {digest}; whole in "
                f"{self._settings.stream} #{message.metadata.sequence.stream}"
            )
            data = data[: max(0, limit - _headers_size(headers))]
        ack = await self._js.publish(
            self._settings.dead_letter_subject,
            data,
            headers=headers,
            stream=self._settings.dead_letter_stream,
        )
        return f"{ack.stream} #{ack.seq}"


def _headers_size(headers: dict[str, str]) -> int:
    """The bytes `headers` take on the wire (NATS/1.0, one `Name: value` line each)."""
    lines = sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
    return len(b"NATS/1.0\r\n\r\n") + lines


async def ensure_stream(js: JetStreamContext, name: str, subjects: list[str]) -> Any:
    """The stream's info, creating it (file storage, limits retention) when missing."""
    try:
        return await js.stream_info(name)
    except NotFoundError:
        log.info("creating JetStream stream %s for %s", name, ", ".join(subjects))
        return await js.add_stream(name=name, subjects=subjects, storage=api.StorageType.FILE)
