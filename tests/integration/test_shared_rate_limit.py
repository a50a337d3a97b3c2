"""Rate limits shared by replicas (issue 14, ADR 0032): with BOOKKEEPER_REDIS_URL set, two
server processes' middlewares spend one budget per principal from Redis; without it each
keeps its own; a Redis that does not answer lets requests through — also one that takes
the connection and then says nothing (a partition, a paused server), within a bound, and
without every request waiting for it while it is gone.

Needs Redis (BOOKKEEPER_TEST_REDIS_URL, default redis://127.0.0.1:6379/15): skipped when it
cannot be reached, except under CI=true, where the tests fail."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.exceptions import TooManyRequestsException

from bookkeeper.application.ports import Principal
from bookkeeper.entrypoints.http.ratelimit import RateLimitMiddleware
from bookkeeper.settings import SettingsError, load_settings
from tests.fakes.tcp_proxy import SilenceableProxy


def caller() -> Principal:
    # A fresh tenant per test: the counters of earlier runs never meet this one's.
    return Principal(
        subject="book-e", tenant_id=f"t-{secrets.token_hex(6)}", roles=frozenset({"agent"})
    )


async def request(middleware: RateLimitMiddleware, principal: Principal, method: str) -> int:
    """The status one request gets through the middleware (200 when it passes)."""
    scope: dict[str, Any] = {"type": "http", "method": method, "user": principal}

    async def app(*_: Any) -> None:
        return None

    try:
        await middleware.handle(scope, None, None, app)  # type: ignore[arg-type]
    except TooManyRequestsException:
        return 429
    return 200


async def test_replicas_spend_one_budget_per_principal_from_redis(redis_url: str) -> None:
    replicas = [RateLimitMiddleware("5/minute", "off", redis_url=redis_url) for _ in range(3)]
    me, other = caller(), caller()
    statuses = [await request(replicas[n % 3], me, "GET") for n in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    # Another principal has its own budget, on every replica.
    assert [await request(r, other, "GET") for r in replicas] == [200, 200, 200]


async def test_writes_have_their_own_shared_budget(redis_url: str) -> None:
    a, b = (RateLimitMiddleware("100/minute", "2/minute", redis_url=redis_url) for _ in "ab")
    me = caller()
    assert [await request(a, me, "POST"), await request(b, me, "POST")] == [200, 200]
    assert await request(a, me, "POST") == 429
    assert await request(b, me, "GET") == 200


async def test_without_redis_each_process_counts_alone() -> None:
    a, b = RateLimitMiddleware("2/minute", "off"), RateLimitMiddleware("2/minute", "off")
    me = caller()
    assert [await request(a, me, "GET") for _ in range(3)] == [200, 200, 429]
    assert [await request(b, me, "GET") for _ in range(2)] == [200, 200]


async def test_a_redis_that_does_not_answer_lets_requests_through() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    middleware = RateLimitMiddleware("1/minute", "off", redis_url="redis://127.0.0.1:1/0")
    me = caller()
    assert [await request(middleware, me, "GET") for _ in range(3)] == [200, 200, 200]


@contextlib.asynccontextmanager
async def proxied(redis_url: str) -> AsyncIterator[tuple[SilenceableProxy, str]]:
    """The test Redis behind a proxy that can go silent: (the proxy, its redis:// URL)."""
    url = urllib.parse.urlsplit(redis_url)
    proxy = SilenceableProxy(url.hostname or "127.0.0.1", url.port or 6379)
    async with proxy.running() as port:
        yield proxy, url._replace(netloc=f"127.0.0.1:{port}").geturl()


async def test_a_redis_that_goes_silent_lets_requests_through_and_is_asked_again_later(
    redis_url: str,
) -> None:
    """A Redis that took the connection and then said nothing (a partition, a stopped
    server) held every authenticated request without end (redis-py sets no socket
    timeout): the whole API hung. Now one request waits a bounded moment and passes; the
    next ones, while the store is taken for gone, do not ask it at all; after the pause
    the shared budget is spent again."""
    async with proxied(redis_url) as (proxy, url):
        pausing = RateLimitMiddleware("2/minute", "off", redis_url=url)
        asking = RateLimitMiddleware("2/minute", "off", redis_url=url, store_pause_seconds=0)
        me = caller()
        assert [await request(pausing, me, "GET") for _ in range(3)] == [200, 200, 429]

        proxy.silence()
        # A deadline of the test, far above the bound (a hang is what failed).
        assert await asyncio.wait_for(request(pausing, me, "GET"), 20) == 200
        asked = proxy.swallowed
        assert asked > 0  # it did ask, and got no answer
        later = [await asyncio.wait_for(request(pausing, me, "GET"), 20) for _ in range(5)]
        assert later == [200] * 5
        assert proxy.swallowed == asked, "every request asked the silent store again"
        assert await asyncio.wait_for(request(asking, me, "GET"), 20) == 200

        proxy.forward()
        # The budget was spent before the silence: back to 429 once the store answers.
        assert await asyncio.wait_for(request(asking, me, "GET"), 20) == 429


def test_the_setting_takes_redis_urls_only_and_never_shows_them() -> None:
    settings = load_settings({"BOOKKEEPER_REDIS_URL": "redis://:s3cret@cache:6379/0"})
    assert settings.redis_url == "redis://:s3cret@cache:6379/0"
    assert "s3cret" not in repr(settings)
    assert load_settings({}).redis_url is None
    with pytest.raises(SettingsError):
        load_settings({"BOOKKEEPER_REDIS_URL": "http://cache:6379"})
