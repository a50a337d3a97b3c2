"""/health's bus section reads the bus through its port (ADR 0044 §7): any BusStatus will
do — the NATS consumer in production, this stand-in here — and nothing of an adapter's
attributes is reached into."""

from __future__ import annotations

from bookkeeper.application.ports import BusConnection, BusConsumerStatus, BusStatus
from bookkeeper.entrypoints.http.controllers.health import _bus
from bookkeeper.entrypoints.http.runtime import Runtime
from bookkeeper.entrypoints.http.wire import BusConsumerOut, BusOut

CLOSED = "the connection was closed for good; connecting again"


class StandInBus:
    """A BusStatus with two consumers; the Accounts Master's lag unknown (its connection
    closed by the server)."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    @property
    def durable(self) -> str:
        return "bookkeeper-ledger"

    async def consumers_status(self, wait_seconds: float) -> list[BusConsumerStatus]:
        self.asked.append(wait_seconds)
        return [
            BusConsumerStatus(
                durable="bookkeeper-ledger",
                stream="EXTERNAL",
                role="ledger",
                connection=BusConnection(state="connected"),
                waiting=3,
                unacknowledged=2,
            ),
            BusConsumerStatus(
                durable="bookkeeper-accounts",
                stream="ACCOUNTS",
                role="accounts-master",
                connection=BusConnection(state="closed", reason=CLOSED),
            ),
        ]


async def test_the_bus_section_comes_from_the_port() -> None:
    stand_in = StandInBus()
    bus: BusStatus = stand_in
    answer = await _bus(Runtime(bus=bus))
    assert answer == BusOut(
        kind="nats",
        consumer="bookkeeper-ledger",
        pending=5,
        consumers=[
            BusConsumerOut(
                durable="bookkeeper-ledger",
                stream="EXTERNAL",
                role="ledger",
                state="connected",
                waiting=3,
                unacknowledged=2,
            ),
            BusConsumerOut(
                durable="bookkeeper-accounts",
                stream="ACCOUNTS",
                role="accounts-master",
                state="closed",
                reason=CLOSED,
                waiting=None,
                unacknowledged=None,
            ),
        ],
        publisher=None,
    )
    assert stand_in.asked == [5.0]  # the health check's own time limit


async def test_without_an_external_bus_the_section_says_in_process() -> None:
    assert await _bus(Runtime()) == BusOut(kind="in-process")
