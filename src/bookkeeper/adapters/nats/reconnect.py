"""One NATS client's connection, made again after the server closed it for good: the one
reconnect of the ledger consumers and the bus-publisher (ADR 0044, bus addendum).

nats-py reconnects by itself after a lost socket (`NatsSettings.reconnect_attempts`
tries, `reconnect_wait` apart); the client is closed for good when those run out, and
after a server's -ERR (a max-payload violation, among others). A `Reconnecting` then
makes a new connection in the background, with exponential back-off and jitter (replicas
do not knock on a restarted server in step), until it works or it is closed:

- one attempt at a time (the background task's; a caller that needs the connection
  waits for that task, never starts a second);
- an attempt is the owner's `connect()` (which opens through `open`): a connection made
  but not set up — its streams or its subscription failed, the attempt timed out or was
  cancelled — is closed there, once, and never becomes the current one;
- cancellation-safe: `close()` cancels the attempt in progress, and a half-made
  connection is still closed (the close is shielded from a second cancellation);
- `state()` is what /health shows: connected, nats-py reconnecting, closed and connecting
  again (the latest failure, how many attempts failed, when the next one is) — no round
  trip to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.connection import connection_state, failure_text
from bookkeeper.application.ports import BusConnection

log = logging.getLogger("bookkeeper.bus.nats")


def backoff(attempt: int, base: float, cap: float, draw: Callable[[], float]) -> float:
    """Seconds before attempt `attempt + 1` after `attempt` failed ones (1, 2, …): the
    exponential `base * 2**(attempt-1)`, at most `cap`, of which a random half ("equal
    jitter": never less than half of it, so a replica does not hammer the server, never
    the same for every replica)."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + delay / 2 * draw()


class Reconnecting:
    """The connection of one NATS client (a consumer, the bus-publisher) and its
    reconnect. The owner connects through `open(setup)` inside its own `connect()`, which
    is what an attempt to connect again calls."""

    def __init__(
        self,
        settings: NatsSettings,
        name: str,
        connect: Callable[[], Awaitable[None]],
        *,
        on_lost: Callable[[], None] | None = None,
        draw: Callable[[], float] = random.random,
        attempt_timeout: float | None = None,
    ) -> None:
        self._settings = settings
        #: The client's name towards the server and in the log (`bookkeeper:<name>`).
        self.name = name
        self._connect = connect
        #: Told when the current connection is lost (its socket, or closed for good):
        #: what waits for an answer on it may never get one.
        self._on_lost = on_lost
        self._draw = draw
        #: Seconds one attempt (the connection and its set-up) may take: the settings'
        #: BOOKKEEPER_NATS_CONNECT_TIMEOUT unless a test says otherwise.
        self._attempt_timeout = (
            settings.connect_timeout if attempt_timeout is None else attempt_timeout
        )
        #: The current connection (set up completely); None before the first.
        self.nc: Client | None = None
        #: Whether the owner runs: a connection closed then is made again.
        self._running = False
        self._task: asyncio.Task[None] | None = None
        #: Why the latest attempt to connect again failed (None once one worked).
        self.failure: str | None = None
        #: Attempts failed since the connection was lost (0: none, or it is back).
        self.attempts = 0
        #: Seconds until the next attempt (while one is awaited).
        self.next_in: float | None = None
        #: Connections made again since the first (the log and the tests read it).
        self.reconnects = 0

    @property
    def lost(self) -> bool:
        """Whether the connection is closed for good (nats-py does not reconnect it)."""
        return self.nc is None or self.nc.is_closed

    @property
    def reconnecting(self) -> bool:
        """Whether the background task is making the connection again."""
        return self._task is not None and not self._task.done()

    async def open(self, setup: Callable[[Client], Awaitable[None]]) -> Client:
        """A new connection, set up by `setup` (streams, subscriptions), made the current
        one only once both worked. A connection made but not set up (an error, a timeout,
        a cancellation) is closed here, and only here."""
        s = self._settings
        nc = Client()

        async def closed() -> None:
            await self._closed(nc)

        async def disconnected() -> None:
            await self._disconnected(nc)

        options: dict[str, Any] = {
            "name": f"bookkeeper:{self.name}",
            "closed_cb": closed,
            "error_cb": self._error,
            "disconnected_cb": disconnected,
            "reconnected_cb": self._reconnected,
            "max_reconnect_attempts": s.reconnect_attempts,
            "reconnect_time_wait": s.reconnect_wait,
        }
        try:
            await nc.connect(s.url, **options)
            await setup(nc)
        except BaseException:
            await _discard(nc)
            raise
        self.nc = nc
        self._running = True
        self.failure = None
        self.attempts = 0
        self.next_in = None
        return nc

    def state(self, *, running: bool, failure: str | None) -> BusConnection:
        """What /health shows: `failure` is the owner's (its latest pull or publish)."""
        connection = connection_state(self.nc, running=running, failure=failure)
        if connection.state != "closed" or not self.attempts:
            return connection
        after = f"; next in {self.next_in:.1f}s" if self.next_in is not None else ""
        return BusConnection(
            state="closed",
            reason=f"{connection.reason} ({self.attempts} attempts failed, "
            f"latest: {self.failure}{after})",
        )

    def start(self) -> None:
        """Make the connection again in the background, unless that runs already (or the
        owner is closed, or the connection is up)."""
        if self._running and self.lost and not self.reconnecting:
            self._task = asyncio.create_task(self._reconnect(), name=f"nats-reconnect:{self.name}")

    async def first(self) -> None:
        """The owner's first connection, at the service's start. When the server cannot be
        reached within the attempt's timeout, it is made in the background as one closed
        for good is (back-off with jitter; /health says why meanwhile) and this returns:
        the service starts without its bus rather than not at all — its API, its reviews
        and its executions do not need NATS, and what the bus brings waits in JetStream
        (the ledger it publishes is caught up from the log)."""
        try:
            await asyncio.wait_for(self._connect(), self._attempt_timeout)
        except Exception as error:
            self._running = True
            self.attempts = 1
            self.failure = f"connecting failed: {failure_text(error)}"
            self.next_in = backoff(
                1,
                self._settings.reconnect_backoff_base,
                self._settings.reconnect_backoff_max,
                self._draw,
            )
            log.warning(
                "NATS %s: not reachable at start (%s); the service runs without it and "
                "connects in the background, next in %.1fs",
                self.name,
                self.failure,
                self.next_in,
            )
            self._task = asyncio.create_task(
                self._reconnect(self.next_in), name=f"nats-reconnect:{self.name}"
            )

    async def restored(self) -> None:
        """Return once the connection is up again (at once when it is, or when the owner
        is closed): waits for the background task, starting it if needed. Cancelling the
        caller (or its `asyncio.timeout`) leaves the task running."""
        self.start()
        task = self._task
        if task is not None and not task.done():
            await asyncio.shield(task)

    async def close(self) -> None:
        """Stop connecting again (an attempt in progress is cancelled, its half-made
        connection closed) and drain the current connection."""
        self._running = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        nc, self.nc = self.nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.drain()

    async def _reconnect(self, wait: float = 0.0) -> None:
        s = self._settings
        if wait > 0:
            await asyncio.sleep(wait)
        while self._running and self.lost:
            try:
                await asyncio.wait_for(self._connect(), self._attempt_timeout)
            except Exception as error:
                self.attempts += 1
                self.failure = f"connecting again failed: {failure_text(error)}"
                self.next_in = backoff(
                    self.attempts, s.reconnect_backoff_base, s.reconnect_backoff_max, self._draw
                )
                log.warning(
                    "NATS %s: %s (attempt %d); next in %.1fs",
                    self.name,
                    self.failure,
                    self.attempts,
                    self.next_in,
                )
                await asyncio.sleep(self.next_in)
            else:
                self.reconnects += 1
                log.warning("NATS %s: the connection was closed; connected again", self.name)

    async def _closed(self, nc: Client) -> None:
        """nats-py's closed callback of `nc`: when it is the current connection, what
        waits on it is told (`on_lost`) and it is made again. A half-made connection (or
        one replaced already) is not the current one: nothing to do."""
        if nc is not self.nc:
            return
        if self._on_lost is not None:
            self._on_lost()
        if self._running:
            log.warning("NATS %s: the connection was closed (%s)", self.name, _why(nc))
            self.start()

    async def _error(self, error: Exception) -> None:
        # nats-py's own logs each with a traceback: one line, no URL.
        log.warning("NATS %s: %s", self.name, failure_text(error))

    async def _disconnected(self, nc: Client) -> None:
        """nats-py lost the socket of `nc` (it reconnects by itself, or closes it): when it
        is the current connection, what waits for an answer on it is told (`on_lost`) —
        an answer the server sent as the socket went is not coming."""
        if nc is not self.nc:
            return
        if self._running:
            log.info("NATS %s: disconnected", self.name)
        if self._on_lost is not None:
            self._on_lost()

    async def _reconnected(self) -> None:
        log.warning("NATS %s: reconnected (nats-py)", self.name)


def _why(nc: Client) -> str:
    error = nc.last_error
    return failure_text(error) if error is not None else "no error"


async def _discard(nc: Client) -> None:
    """Close a half-made connection; shielded, so that a second cancellation of the
    caller does not leave it open (its close goes on in the background)."""
    if nc.is_closed:
        return
    close = asyncio.ensure_future(nc.close())
    with contextlib.suppress(Exception):
        await asyncio.shield(close)
