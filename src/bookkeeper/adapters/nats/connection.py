"""What /health says of a NATS client (the consumer's, the bus-publisher's): read from
the state nats-py and the client keep, never by a round trip to the server."""

from __future__ import annotations

from typing import Final

from nats.aio.client import Client
from nats.errors import Error as NatsError

from bookkeeper.application.ports import BusConnection

#: The longest failure text /health shows (the log has the whole).
MAX_FAILURE: Final = 200


def failure_text(error: BaseException) -> str:
    """An error as /health may show it: nats-py's own messages (the server's -ERR text,
    "nats: connection closed") as they are, anything else by its type alone — an error
    of the socket or the TLS layer may name the server's address."""
    if isinstance(error, NatsError):
        return (str(error) or type(error).__name__)[:MAX_FAILURE]
    return type(error).__name__


def connection_state(nc: Client | None, *, running: bool, failure: str | None) -> BusConnection:
    """`stopped` unless running; `closed` when there is no connection or the server closed
    it for good (the client makes a new one); `reconnecting` while nats-py reconnects by
    itself after a lost socket; `failing` when the latest pull or publish failed on a
    connection that is up; `connected` otherwise."""
    if not running:
        return BusConnection(state="stopped", reason="not running")
    if nc is None or nc.is_closed:
        cause = nc.last_error if nc is not None else None
        said = f" ({failure_text(cause)})" if cause is not None else ""
        return BusConnection(
            state="closed", reason=f"the connection was closed for good{said}; connecting again"
        )
    if nc.is_reconnecting or nc.is_connecting:
        return BusConnection(state="reconnecting", reason="the connection was lost; reconnecting")
    if failure is not None:
        return BusConnection(state="failing", reason=failure)
    return BusConnection(state="connected")
