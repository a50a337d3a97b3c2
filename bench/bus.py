"""P9 and P10: external events booked through NATS JetStream, and the ledger published.

    .venv/bin/python bench/bus.py [--messages 4000] [--duplicates 0.1] [--sqlite]

In one run, on fresh streams and a fresh PostgreSQL database (a SQLite file with
`--sqlite`), against the nats-server at BOOKKEEPER_TEST_NATS_URL (default 127.0.0.1:4222):

1. publishes `--messages` InvoiceIssued envelopes, plus a share of re-sent copies
   (`--duplicates`), to the inbound stream;
2. **reference**: a raw nats-py pull consumer of its own fetches and acks every message of
   the same stream (no booking) — the ceiling the bus itself allows here;
3. **P9**: bookkeeper's NatsConsumer (the same code `serve` runs) books them through the
   example plugin's translator into the database, with the bus-publisher publishing the
   ledger beside it as served (in order, from the log); timed until every message is
   acknowledged; then checks exactly-once (journal entries == unique messages);
4. **P10**: for each published JournalEntryPosted, JetStream's stored time minus the
   entry's commit (recorded by an after-commit reaction): p50 / p99 / max;
5. **P10 reference**: a raw nats-py publisher sends the same messages (each entry and its
   lines, with Nats-Msg-Id) at the rate P9 reached, in 10 ms ticks, pipelined
   (`publish_async`): JetStream's stored time minus the send — the lag NATS alone adds.

Prints each P row beside its raw nats-py reference measured in the same run, the ratio,
the process's CPU per entry, and PASS/MISS for P9 (≥ 2,000 entries/s, exactly once) and
P10 (p99 ≤ 100 ms). Nothing here is a test; no timing is asserted anywhere. Streams and the
database are removed at the end. The machine is usually shared: compare with the
reference of the same run, and repeat (`--repeat`) before believing a difference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import psycopg
from nats.js import api
from nats.js.errors import NotFoundError
from psycopg import sql

from bookkeeper.adapters.nats.config import NatsSettings
from bookkeeper.adapters.nats.consumer import NatsConsumer, ensure_stream
from bookkeeper.adapters.nats.publisher import NatsPublisher
from bookkeeper.adapters.sql import SqlDatabase, run_migrations
from bookkeeper.adapters.system import SystemClock, UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.bus import BusIntake
from bookkeeper.application.dispatch import Dispatcher, LogFollower, Subscriptions
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import RecordedEvent
from bookkeeper.application.translation import Ingest, Translators, bus_principal, discover
from bookkeeper.entrypoints.serve import freeze_started_heap

TENANT = "bench"
P9_TARGET = 2000.0
P10_TARGET_MS = 100.0


def envelope(n: int) -> bytes:
    net = 1000 + n % 997
    return json.dumps(
        {
            "type": "InvoiceIssued",
            "source": "invoicing",
            "tenant": TENANT,
            "data": {
                "invoice_id": f"B-{n}",
                "issue_date": "2026-03-01",
                "net_amount": f"{net}.00",
                "vat_amount": f"{net / 4:.2f}",
            },
        }
    ).encode()


async def publish_all(settings: NatsSettings, bodies: list[bytes]) -> None:
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    await ensure_stream(js, settings.stream, [settings.filter_subject])
    subject = f"{settings.subject_prefix}.invoicing.InvoiceIssued"
    for start in range(0, len(bodies), 500):
        futures = [
            await js.publish_async(subject, body, stream=settings.stream)
            for body in bodies[start : start + 500]
        ]
        await asyncio.gather(*futures)
    await nc.close()


async def raw_reference(settings: NatsSettings, count: int) -> float:
    """Messages/s of a bare pull consumer that fetches and acks (no work in between)."""
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    durable = f"raw-{secrets.token_hex(4)}"
    sub = await js.pull_subscribe(
        settings.filter_subject,
        durable=durable,
        stream=settings.stream,
        config=api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT, max_ack_pending=settings.batch * 16
        ),
    )
    seen = 0
    started = time.perf_counter()
    while seen < count:
        try:
            batch = await sub.fetch(settings.batch, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        for message in batch:
            await message.ack()
        seen += len(batch)
    await nc.flush()
    elapsed = time.perf_counter() - started
    with contextlib.suppress(Exception):
        await js.delete_consumer(settings.stream, durable)
    await nc.close()
    return count / elapsed


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of `values` (NaN when there are none)."""
    if not values:
        return float("nan"), float("nan"), float("nan")
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


async def raw_publish_lag(
    settings: NatsSettings, bodies: list[bytes], rate: float
) -> tuple[float, float, float]:
    """p50 / p99 / max ms from a raw nats-py publish to JetStream's stored time, for the
    messages of `bodies` entries (each entry and its three lines, as the bus-publisher
    sends them) at `rate` entries/s in 10 ms ticks, pipelined with publish_async."""
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    stream = f"{settings.out_stream}_REF"
    prefix = f"{settings.out_prefix}-ref"
    await ensure_stream(js, stream, [f"{prefix}.>"])
    sent: dict[str, float] = {}
    acks: list[asyncio.Future[Any]] = []
    per_tick = max(1, round(rate * 0.01))
    started = time.monotonic()
    try:
        for tick, first in enumerate(range(0, len(bodies), per_tick)):
            delay = started + tick * 0.01 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            for n in range(first, min(first + per_tick, len(bodies))):
                for kind in ("JournalEntryPosted", "AccountDebited", "AccountCredited", "AC"):
                    message_id = f"{n}-{kind}"
                    sent[message_id] = time.time()
                    acks.append(
                        await js.publish_async(
                            f"{prefix}.{TENANT}.{kind}",
                            bodies[n],
                            headers={"Nats-Msg-Id": message_id},
                            stream=stream,
                        )
                    )
        await asyncio.gather(*acks)
        sub = await js.pull_subscribe(f"{prefix}.>", durable="lag", stream=stream)
        lags: list[float] = []
        while len(lags) < len(sent):
            try:
                batch = await sub.fetch(1000, timeout=2.0)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for message in batch:
                stored = message.metadata.timestamp.timestamp()
                lags.append((stored - sent[message.headers["Nats-Msg-Id"]]) * 1000)
                await message.ack()
        only_entries = lags[::4]  # one per entry, as P10 counts them
        return percentiles(only_entries)
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
        await nc.close()


async def booked(database: SqlDatabase) -> int:
    async with database.engine.connect() as connection:
        result = await connection.exec_driver_sql(
            "SELECT count(*) FROM events WHERE type = 'JournalEntryPosted'"
        )
        return int(result.scalar_one())


async def stored_times(settings: NatsSettings, expected: int) -> dict[str, dt.datetime]:
    """JetStream's stored time of each published JournalEntryPosted, by event id."""
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        f"{settings.out_prefix}.*.JournalEntryPosted",
        durable=f"lag-{secrets.token_hex(4)}",
        stream=settings.out_stream,
    )
    times: dict[str, dt.datetime] = {}
    deadline = time.monotonic() + 60
    while len(times) < expected and time.monotonic() < deadline:
        try:
            batch = await sub.fetch(500, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        for message in batch:
            times[message.headers["Nats-Msg-Id"]] = message.metadata.timestamp
            await message.ack()
    await nc.close()
    return times


async def bookkeeper_run(
    url: str, settings: NatsSettings, unique: int, total: int, concurrency: int
) -> dict[str, Any]:
    database = SqlDatabase(url, pool_size=concurrency + 4, max_overflow=4)
    dispatcher = Dispatcher()
    committed: dict[str, float] = {}

    def on_commit(event: RecordedEvent) -> None:
        committed[str(event.id)] = time.time()

    dispatcher.on({"JournalEntryPosted"}, on_commit)
    factory = database.uow_factory(after_commit=dispatcher.dispatch)
    clock = SystemClock()
    ledger = LedgerService(factory, clock, UuidV7Ids(), RoleAuthorizer())
    intake = BusIntake(
        Ingest(Translators(discover()), ledger), factory, clock, bus_principal(), RoleAuthorizer()
    )
    publisher = NatsPublisher(settings)
    await publisher.connect()
    dispatcher.subscribe(publisher, in_order=True)
    follower = LogFollower(Subscriptions(factory, dispatcher), publisher)
    dispatcher.on(publisher.types, follower.wake)
    follower.start()
    consumers = [NatsConsumer(intake, settings, name=f"replica-{n}") for n in range(concurrency)]
    try:
        for consumer in consumers:
            await consumer.connect()
        freeze_started_heap()  # as start_process does once the serve has started
        started = time.perf_counter()
        cpu_started = time.process_time()
        for consumer in consumers:
            await consumer.start()
        while True:
            await asyncio.sleep(0.05)
            if await consumers[0].pending() == 0 and await booked(database) >= unique:
                break
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        entries = await booked(database)
        times = await stored_times(settings, entries)
    finally:
        for consumer in consumers:
            await consumer.close()
        await follower.stop()
        await publisher.close()
        await database.dispose()
    lags = sorted(
        (stored.timestamp() - committed[event_id]) * 1000
        for event_id, stored in times.items()
        if event_id in committed
    )
    p50, p99, most = percentiles(lags)
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "entries": entries,
        "entries_per_s": entries / elapsed,
        "messages_per_s": total / elapsed,
        "published": len(times),
        "lag_p50_ms": p50,
        "lag_p99_ms": p99,
        "lag_max_ms": most,
    }


async def run(url: str, args: argparse.Namespace) -> None:
    tag = secrets.token_hex(5)
    settings = NatsSettings(
        url=args.nats,
        stream=f"BENCH_IN_{tag}",
        subject_prefix=f"bench.{tag}.in",
        durable=f"bench-ledger-{tag}",
        dead_letter_stream=f"BENCH_DLQ_{tag}",
        dead_letter_subject=f"bench.{tag}.dlq",
        out_stream=f"BENCH_OUT_{tag}",
        out_prefix=f"bench.{tag}.ledger",
        batch=args.batch,
    )
    unique = args.messages
    bodies = [envelope(n) for n in range(unique)]
    bodies += [envelope(n) for n in range(0, unique, max(1, round(1 / args.duplicates)))][
        : int(unique * args.duplicates)
    ]
    try:
        await publish_all(settings, bodies)
        reference = await raw_reference(settings, len(bodies))
        result = await bookkeeper_run(url, settings, unique, len(bodies), args.replicas)
        raw_lag = await raw_publish_lag(settings, bodies[:unique], result["entries_per_s"])
    finally:
        nc = await nats.connect(args.nats)
        js = nc.jetstream()
        for stream in (settings.stream, settings.dead_letter_stream, settings.out_stream):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream)
        await nc.close()
    exactly_once = result["entries"] == unique
    print(
        f"{len(bodies)} messages ({unique} unique, {len(bodies) - unique} re-sent), "
        f"{args.replicas} consumer(s), batch {args.batch}, database {url.split(':')[0]}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'name':<48}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    print(f"{'P9 raw nats-py fetch+ack (messages)':<48}{reference:>10,.0f}")
    print(f"{'P9 bookkeeper booked (journal entries)':<48}{result['entries_per_s']:>10,.0f}")
    print(f"{'P9 bookkeeper handled (messages)':<48}{result['messages_per_s']:>10,.0f}")
    print(
        f"{'P10 raw nats-py publish -> stored (same rate)':<48}{'':>10}"
        f"{raw_lag[0]:>9.1f}{raw_lag[1]:>9.1f}{raw_lag[2]:>9.1f}"
    )
    print(
        f"{'P10 bookkeeper commit -> stored':<48}{'':>10}{result['lag_p50_ms']:>9.1f}"
        f"{result['lag_p99_ms']:>9.1f}{result['lag_max_ms']:>9.1f}"
    )
    print(
        f"ratio P9 bookkeeper messages / raw = {result['messages_per_s'] / reference:.2f}; "
        f"P10 p99 bookkeeper / raw = {result['lag_p99_ms'] / max(raw_lag[1], 0.1):.1f}x; "
        f"{result['published']} entries published"
    )
    print(
        f"bookkeeper process CPU {result['cpu_seconds']:.2f} s of {result['seconds']:.2f} s "
        f"({result['cpu_seconds'] / max(result['entries'], 1) * 1e6:.0f} µs per entry)"
    )
    print(f"  [{'PASS' if result['entries_per_s'] >= P9_TARGET else 'MISS'}] P9 >= 2,000 entries/s")
    print(f"  [{'PASS' if exactly_once else 'MISS'}] P9 exactly once: {result['entries']} entries")
    p99 = result["lag_p99_ms"]
    print(f"  [{'PASS' if p99 <= P10_TARGET_MS else 'MISS'}] P10 p99 <= 100 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--duplicates", type=float, default=0.1, help="share re-sent")
    parser.add_argument("--batch", type=int, default=NatsSettings.batch, help="messages per fetch")
    parser.add_argument("--replicas", type=int, default=1, help="consumers in this process")
    parser.add_argument("--repeat", type=int, default=1, help="runs, one after the other")
    parser.add_argument(
        "--nats", default=os.environ.get("BOOKKEEPER_TEST_NATS_URL", "nats://127.0.0.1:4222")
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    args = parser.parse_args()
    for number in range(args.repeat):
        if args.repeat > 1:
            print(f"--- run {number + 1} of {args.repeat}")
        once(args)


def once(args: argparse.Namespace) -> None:
    """One run on a fresh database (SQLite file or PostgreSQL database), removed after."""
    if args.sqlite:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
            run_migrations(url)
            asyncio.run(run(url, args))
        return
    name = f"bk_bench_bus_{secrets.token_hex(4)}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = f"{args.postgres.rsplit('/', 1)[0]}/{name}"
        run_migrations(url)
        asyncio.run(run(url, args))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
