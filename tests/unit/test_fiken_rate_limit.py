"""Fiken's limits and retries on our side, with a fake clock and httpx.MockTransport: the
sliding window, the one-at-a-time gate, back-off and error translation, øre conversion."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from bookkeeper.adapters.fiken import FikenClient, RequestGate, RetryPolicy, SlidingWindow
from bookkeeper.adapters.fiken.ratelimit import GatePaused, process_gates, token_key
from bookkeeper.adapters.fiken.wire import (
    ACCOUNTS,
    NotWholeOre,
    from_ore,
    reference_in,
    to_ore,
    with_reference,
)
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalError,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)

TOKEN = "secret-token-" + "x" * 20


class FakeTime:
    """A monotonic clock that only moves when someone sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


# --- the sliding window ------------------------------------------------------------------


def test_four_fit_at_once_and_the_fifth_waits_for_the_first_to_leave() -> None:
    window = SlidingWindow(limit=4, window=1.0)
    for at in (0.0, 0.1, 0.2, 0.3):
        assert window.delay(at) == 0
        window.record(at)

    assert window.delay(0.3) == pytest.approx(0.7)
    assert window.delay(0.99) == pytest.approx(0.01)
    assert window.delay(1.0) == 0
    window.record(1.0)
    assert window.delay(1.0) == pytest.approx(0.1)  # now the second one must leave


def test_a_window_needs_a_positive_limit_and_length() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindow(limit=0)
    with pytest.raises(ValueError, match="window"):
        SlidingWindow(window=0)


async def test_the_gate_never_overlaps_and_never_lets_five_into_one_window() -> None:
    clock = FakeTime()
    gate = RequestGate(SlidingWindow(limit=4, window=1.0), clock=clock, sleep=clock.sleep)
    rng = random.Random(20260314)
    exchanges: list[tuple[float, float]] = []
    in_flight = 0

    async def call() -> None:
        nonlocal in_flight
        async with gate.exclusive(), gate.attempt():
            in_flight += 1
            assert in_flight == 1
            start = clock()
            await clock.sleep(rng.choice((0.0, 0.01, 0.2, 0.6)))  # the exchange
            exchanges.append((start, clock()))
            in_flight -= 1

    await asyncio.gather(*(call() for _ in range(40)))

    assert len(exchanges) == 40
    for (_, end), (start, _) in itertools.pairwise(exchanges):
        assert start >= end  # one at a time
    for (_, end), (start, _) in zip(exchanges, exchanges[4:], strict=False):
        assert start >= end + 1.0  # the fifth starts a window after the first finished


async def test_an_attempt_counts_even_when_it_fails() -> None:
    clock = FakeTime()
    gate = RequestGate(SlidingWindow(limit=1, window=1.0), clock=clock, sleep=clock.sleep)

    with pytest.raises(RuntimeError, match="boom"):
        async with gate.exclusive(), gate.attempt():
            raise RuntimeError("boom")
    async with gate.exclusive(), gate.attempt():
        pass

    assert clock.sleeps == [1.0]


async def test_an_attempt_outside_the_lock_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="exclusive"):
        async with RequestGate().attempt():
            pass


# --- the client: retries and errors (no sockets) -----------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, clock: FakeTime, **options: object) -> FikenClient:
    return FikenClient(
        "https://api.fiken.test/api/v2",
        TOKEN,
        transport=httpx.MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
        window=SlidingWindow(limit=4, window=1.0),
        **options,  # type: ignore[arg-type]
    )


def answers(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """A handler that answers in turn (the last one forever) and the requests it saw."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return handle, seen


async def test_429_sleeps_retry_after_and_then_succeeds() -> None:
    clock = FakeTime()
    limited = httpx.Response(429, headers={"Retry-After": "3"})
    handler, seen = answers(limited, limited, httpx.Response(200, json=[]))
    client = client_for(handler, clock)

    assert await client.get_all("/companies/x/accounts", ACCOUNTS) == []

    assert clock.sleeps == [3.0, 3.0]
    assert len(seen) == 3
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in seen)
    assert len({r.headers["X-Request-ID"] for r in seen}) == 3


async def test_429_without_retry_after_backs_off_exponentially_then_gives_up() -> None:
    clock = FakeTime()
    handler, seen = answers(httpx.Response(429))
    client = client_for(handler, clock)

    with pytest.raises(ExternalRateLimited) as limited:
        await client.request("POST", "/companies/x/purchases", body=b"{}")

    assert len(seen) == 4  # a 429 did nothing, so even a POST is sent again
    assert [s for s in clock.sleeps if s >= 0.5] == [0.5, 1.0, 2.0]
    assert limited.value.retry_after is None and limited.value.status == 429


async def test_back_off_keeps_the_window_too() -> None:
    clock = FakeTime()
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "0"}))
    client = client_for(handler, clock, retry=RetryPolicy(rate_limited_attempts=6))

    with pytest.raises(ExternalRateLimited):
        await client.request("GET", "/companies/x")

    assert len(seen) == 6
    assert clock.sleeps.count(0.0) == 5  # Retry-After: 0
    assert sum(s for s in clock.sleeps if s > 0) == pytest.approx(1.0)  # the 5th waited


async def test_a_retry_after_too_long_to_wait_is_handed_back() -> None:
    clock = FakeTime()
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "3600"}))

    with pytest.raises(ExternalRateLimited) as limited:
        await client_for(handler, clock).request("GET", "/companies/x")

    assert limited.value.retry_after == 3600
    assert len(seen) == 1 and clock.sleeps == []


async def test_a_long_retry_after_pauses_the_token_for_the_next_request_too() -> None:
    clock = FakeTime()
    handler, seen = answers(
        httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200, json={})
    )
    client = client_for(handler, clock)
    with pytest.raises(ExternalRateLimited):
        await client.request("GET", "/companies/x")
    clock.advance(600)

    # Not sent: the caller learns how much of the pause is left and schedules it later.
    with pytest.raises(ExternalRateLimited) as paused:
        await client.request("POST", "/companies/x/purchases", body=b"{}")
    assert paused.value.retry_after == pytest.approx(3000)
    assert paused.value.status is None
    assert len(seen) == 1 and clock.sleeps == []

    clock.advance(3000)
    await client.request("GET", "/companies/x")
    assert len(seen) == 2


async def test_a_pause_within_the_wait_is_slept_before_the_next_attempt() -> None:
    clock = FakeTime()
    gate = RequestGate(clock=clock, sleep=clock.sleep)
    async with gate.exclusive():
        async with gate.attempt():
            gate.pause(5.0)
        async with gate.attempt(max_wait=10.0):
            pass
    assert clock.sleeps == [5.0]
    async with gate.exclusive():
        gate.pause(20.0)
        with pytest.raises(GatePaused) as paused:
            async with gate.attempt(max_wait=10.0):
                pytest.fail("sent while paused")
    assert paused.value.seconds == pytest.approx(20.0)


def test_gates_are_keyed_on_a_hash_of_the_token() -> None:
    gates = process_gates()
    assert gates(TOKEN) is gates(TOKEN)
    assert gates(TOKEN) is not gates(TOKEN + "2")
    key = token_key(TOKEN)
    assert len(key) == 64 and TOKEN not in key and key == token_key(TOKEN)


async def test_a_5xx_read_is_retried_a_5xx_write_is_not() -> None:
    clock = FakeTime()
    handler, seen = answers(httpx.Response(503), httpx.Response(200, json={"slug": "x"}))
    client = client_for(handler, clock)
    response = await client.request("GET", "/companies/x")
    assert response.status_code == 200 and len(seen) == 2

    handler, seen = answers(httpx.Response(500))
    with pytest.raises(ExternalUnavailable) as failed:
        await client_for(handler, clock).request("POST", "/companies/x/purchases", body=b"{}")
    assert len(seen) == 1 and failed.value.status == 500

    handler, seen = answers(httpx.Response(502))
    with pytest.raises(ExternalUnavailable):
        await client_for(handler, clock).request("GET", "/companies/x")
    assert len(seen) == 3


async def test_timeouts_and_connection_errors_are_unavailable() -> None:
    clock = FakeTime()
    calls: list[str] = []

    def timeout(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ExternalUnavailable, match="timed out"):
        await client_for(timeout, clock).request("POST", "/companies/x/purchases", body=b"{}")
    assert calls == ["POST"]

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ExternalUnavailable, match="ConnectError"):
        await client_for(refused, clock).request("GET", "/companies/x")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ExternalRejected),
        (422, ExternalRejected),
        (415, ExternalRejected),
        (401, ExternalAuthFailed),
        (403, ExternalAuthFailed),
        (404, ExternalNotFound),
    ],
)
async def test_4xx_are_translated_with_the_body_but_never_the_token(
    status: int, error: type[ExternalError], caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeTime()
    body = f'{{"error": "nope", "echo": "Bearer {TOKEN}"}}' + " padding" * 100
    handler, seen = answers(httpx.Response(status, text=body))

    with pytest.raises(error) as refused:
        await client_for(handler, clock).request("GET", "/companies/x")

    assert type(refused.value) is error
    assert refused.value.status == status and not refused.value.retryable
    assert '"error": "nope"' in refused.value.message
    assert len(refused.value.message) < 600
    assert TOKEN not in refused.value.message
    assert TOKEN not in caplog.text
    assert len(seen) == 1


async def test_a_201_without_location_is_unavailable_and_garbage_is_an_error() -> None:
    clock = FakeTime()
    handler, _ = answers(httpx.Response(201))
    with pytest.raises(ExternalUnavailable, match="Location"):
        await client_for(handler, clock).create("/companies/x/purchases", b"{}")

    handler, _ = answers(
        httpx.Response(201, headers={"Location": "https://api.fiken.no/api/v2/x/purchases/77/"})
    )
    assert await client_for(handler, clock).create("/companies/x/purchases", b"{}") == "77"

    handler, _ = answers(httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(ExternalError) as garbled:
        await client_for(handler, clock).get_all("/companies/x/accounts", ACCOUNTS)
    assert not garbled.value.retryable


async def test_paging_follows_the_page_count_or_a_short_page() -> None:
    clock = FakeTime()
    full = [{"code": str(n), "name": ""} for n in range(100)]
    seen: list[httpx.Request] = []

    def by_count(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = request.url.params["page"]  # each page its own records, as Fiken's are
        rows = [{"code": f"{page}:{n}", "name": ""} for n in range(100)]
        return httpx.Response(200, json=rows, headers={"Fiken-Api-Page-Count": "3"})

    assert len(await client_for(by_count, clock).get_all("/a", ACCOUNTS)) == 300
    assert [r.url.params["page"] for r in seen] == ["0", "1", "2"]

    pages = iter([full, full[:7]])

    def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(pages))

    assert len(await client_for(short, clock).get_all("/a", ACCOUNTS)) == 107


# --- amounts and references --------------------------------------------------------------


def test_kroner_and_ore_convert_exactly_both_ways() -> None:
    assert to_ore(Decimal("1234.50")) == 123450
    assert to_ore(Decimal("1234.5")) == 123450
    assert to_ore(Decimal("-0.01")) == -1
    assert from_ore(123450) == Decimal("1234.50")
    assert str(from_ore(5)) == "0.05"
    for bad in (Decimal("10.005"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(NotWholeOre):
            to_ore(bad)


def test_the_reference_survives_any_description() -> None:
    ref = "bk-" + "a" * 32
    assert with_reference("Kontorrekvisita", ref) == f"Kontorrekvisita [{ref}]"
    assert with_reference("", ref) == f"[{ref}]"
    long = with_reference("x" * 500, ref, limit=166)
    assert len(long) == 166 and reference_in(long) == ref
    assert reference_in(f"Fri postering registrert via API: Husleie [{ref}]") == ref
    assert reference_in("Kaffe [møte]") is None
    assert reference_in("no reference") is None
    with pytest.raises(ValueError, match="reference"):
        with_reference("text", "has space")
