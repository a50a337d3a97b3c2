"""The one reconnect of the NATS clients (adapters/nats/reconnect.py) against the real
nats-server: a half-made connection is closed once and never kept, also when its attempt
is cancelled; a connection closed for good is made again in the background with back-off,
and /health's state says so meanwhile. Skipped without NATS, failed under CI=true."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from nats.aio.client import Client

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.reconnect import Reconnecting, backoff
from tests.integration.test_nats_bus import nats_url  # noqa: F401 - the shared probe
from tests.polling import polls


@pytest.fixture
def settings(nats_url: str) -> NatsSettings:  # noqa: F811
    return NatsSettings(url=nats_url, reconnect_backoff_base=0.05, reconnect_backoff_max=0.2)


def counting_closes(made: list[Client], closes: list[Client]) -> Callable[[Client], None]:
    """Record `nc` as made, and every call of its close()."""

    def record(nc: Client) -> None:
        made.append(nc)
        close = nc.close

        async def counted() -> None:
            closes.append(nc)
            await close()

        nc.close = counted  # type: ignore[method-assign]

    return record


def test_the_back_off_doubles_up_to_its_cap_and_is_jittered_by_half() -> None:
    assert [backoff(n, 0.5, 4.0, lambda: 1.0) for n in (1, 2, 3, 4, 5, 9)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        4.0,
        4.0,
    ]
    assert [backoff(n, 0.5, 4.0, lambda: 0.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert backoff(3, 0.5, 4.0, lambda: 0.5) == 1.5


async def test_a_connection_whose_set_up_fails_is_closed_once_and_not_kept(
    settings: NatsSettings,
) -> None:
    made: list[Client] = []
    closes: list[Client] = []
    told: list[str] = []
    record = counting_closes(made, closes)
    link = Reconnecting(settings, "test", lambda: asyncio.sleep(0), on_lost=lambda: told.append(""))

    async def failing(nc: Client) -> None:
        record(nc)
        raise RuntimeError("no stream")

    with pytest.raises(RuntimeError, match="no stream"):
        await link.open(failing)
    [nc] = made
    assert closes == [nc] and nc.is_closed
    assert link.nc is None and not link.reconnecting
    assert told == []  # its callbacks are not the current connection's
    await link.close()
    assert closes == [nc]


async def test_a_cancelled_attempt_closes_its_half_made_connection(
    settings: NatsSettings,
) -> None:
    made: list[Client] = []
    closes: list[Client] = []
    record = counting_closes(made, closes)
    link = Reconnecting(settings, "test", lambda: asyncio.sleep(0))
    entered = asyncio.Event()

    async def hanging(nc: Client) -> None:
        record(nc)
        entered.set()
        await asyncio.Event().wait()

    attempt = asyncio.create_task(link.open(hanging))
    await entered.wait()
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    [nc] = made
    assert closes == [nc] and nc.is_closed
    assert link.nc is None
    await link.close()
    assert closes == [nc]


async def test_a_connection_closed_for_good_is_made_again_with_back_off(
    settings: NatsSettings,
) -> None:
    """The first two attempts fail: /health's state says closed, how many attempts failed
    and why (never the URL); the third makes it, and what waits for it (`restored`) goes
    on. The connection closed before is not closed a second time."""
    attempts: list[float] = []
    fail = 2
    link: Reconnecting

    async def connect() -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) <= fail:
            raise OSError("refused")
        await link.open(ready)

    async def ready(nc: Client) -> None:
        return None

    told: list[str] = []
    link = Reconnecting(settings, "test", connect, on_lost=lambda: told.append("lost"))
    first = await link.open(ready)
    try:
        await first.close()  # as nats-py does on a server's -ERR
        assert told  # disconnected, then closed: told (at least) once
        for _ in polls(10):
            if link.attempts >= 1:
                break
            await asyncio.sleep(0.01)
        state = link.state(running=True, failure=None)
        assert state.state == "closed"
        assert state.reason is not None
        assert "connecting again failed: OSError" in state.reason
        assert settings.url not in state.reason
        async with asyncio.timeout(10):
            await link.restored()
        assert link.nc is not None and link.nc is not first and link.nc.is_connected
        assert len(attempts) == fail + 1 and link.reconnects == 1
        assert link.attempts == 0 and link.failure is None
        assert link.state(running=True, failure=None).state == "connected"
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.025 and gaps[1] >= 0.05  # base 0.05 then 0.1, at least half
    finally:
        await link.close()
    assert link.nc is None


async def test_closing_stops_an_attempt_in_progress_and_closes_what_it_made(
    settings: NatsSettings,
) -> None:
    made: list[Client] = []
    closes: list[Client] = []
    record = counting_closes(made, closes)
    entered = asyncio.Event()
    link: Reconnecting

    async def hanging(nc: Client) -> None:
        record(nc)
        entered.set()
        await asyncio.Event().wait()

    async def connect() -> None:
        await link.open(hanging)

    link = Reconnecting(settings, "test", connect)

    async def ready(nc: Client) -> None:
        return None

    first = await link.open(ready)
    await first.close()
    await entered.wait()  # the background attempt is setting its connection up
    await link.close()
    [nc] = made
    assert closes == [nc] and nc.is_closed
    assert not link.reconnecting and link.nc is None
